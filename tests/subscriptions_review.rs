//! Regression tests from the two hostile reviews of subscriptions (issue
//! 13): each one failed on the version it reviewed, or checks behaviour the
//! review suspected and found sound (named "control"). The second review's
//! are in the `second` module.

mod sync_signal {

    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;

    use sigwire::{ConnectOptions, SyncSignal, TryRecvError};

    /// An event whose `Drop` panics while armed, and counts its drops.
    struct Bomb {
        armed: bool,
        drops: Arc<AtomicUsize>,
    }

    impl Clone for Bomb {
        fn clone(&self) -> Self {
            Bomb {
                armed: self.armed,
                drops: Arc::clone(&self.drops),
            }
        }
    }

    impl Drop for Bomb {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::Relaxed);
            if self.armed && !thread::panicking() {
                panic!("bomb");
            }
        }
    }

    /// F1. The feeder runs first and drops the event its slot held *inside the
    /// emit of a later event*. A panicking `Drop` of an OLD event (one the
    /// user's listeners already handled long ago) unwinds out of the feeder
    /// before any user listener runs, so every listener misses the NEW event.
    /// Without a subscription the same program delivers every event.
    #[test]
    fn f1_old_event_drop_panic_makes_listeners_miss_the_current_event() {
        let drops = Arc::new(AtomicUsize::new(0));
        let signal = SyncSignal::<Bomb>::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&seen);
        signal.connect(move |_: &Bomb| {
            s.fetch_add(1, Ordering::Relaxed);
        });
        let mut sub = signal.subscribe_with(1).unwrap();
        let armed = Bomb {
            armed: true,
            drops: Arc::clone(&drops),
        };
        signal.emit(&armed); // listener sees it (1); the ring keeps a clone
        drop(sub.recv().unwrap());
        let fine = Bomb {
            armed: false,
            drops: Arc::clone(&drops),
        };
        let caught = catch_unwind(AssertUnwindSafe(|| signal.emit(&fine)));
        std::mem::forget(armed);
        assert_eq!(
            seen.load(Ordering::Relaxed),
            2,
            "the user listener missed the fine event (emit unwound: {})",
            caught.is_err()
        );
    }

    /// F2. A panicking `Clone` (only ever called because a subscription
    /// exists) ends the emit before any user listener runs: adding a
    /// subscription changes what plain listeners receive.
    #[test]
    fn f2_panicking_clone_makes_listeners_miss_the_event() {
        #[derive(Debug)]
        struct Fragile(bool);
        impl Clone for Fragile {
            fn clone(&self) -> Self {
                assert!(!self.0, "clone refused");
                Fragile(false)
            }
        }
        let signal = SyncSignal::<Fragile>::new();
        let seen = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&seen);
        signal.connect(move |_: &Fragile| {
            s.fetch_add(1, Ordering::Relaxed);
        });
        let _sub = signal.subscribe();
        let _ = catch_unwind(AssertUnwindSafe(|| signal.emit(&Fragile(true))));
        assert_eq!(
            seen.load(Ordering::Relaxed),
            1,
            "the listener never got the event"
        );
    }

    /// F3. Docs: the feeder "runs first (highest priority)" and the code
    /// comment says "a listener that panics ends the emit, and the
    /// subscriptions still have the event". A user listener with priority
    /// i32::MAX connected before the first subscribe runs before the feeder
    /// (ties keep connection order), so its panic loses the event for every
    /// subscription.
    #[test]
    fn f3_feeder_is_not_first_against_an_equal_priority_listener() {
        let signal = SyncSignal::<u32>::new();
        signal
            .connect_with(ConnectOptions::new().priority(i32::MAX), |v: &u32| {
                if *v == 1 {
                    panic!("listener");
                }
            })
            .unwrap();
        let mut sub = signal.subscribe();
        let _ = catch_unwind(AssertUnwindSafe(|| signal.emit(&1)));
        assert_eq!(
            sub.try_recv().map(|v| *v),
            Ok(1),
            "the subscription lost the event"
        );
    }

    /// F4. After every subscription is dropped the ring keeps its last
    /// `capacity` events alive until the signal itself is dropped (the feeder
    /// stops cloning, so the slots are never reused). Docs: "Dropping it
    /// frees its place at once." An event holding a large buffer or a
    /// resource (file, socket, sender) is retained indefinitely.
    #[test]
    fn f4_ring_retains_events_after_every_subscription_is_gone() {
        let drops = Arc::new(AtomicUsize::new(0));
        let signal = SyncSignal::<Bomb>::new();
        let sub = signal.subscribe();
        let ev = Bomb {
            armed: false,
            drops: Arc::clone(&drops),
        };
        for _ in 0..3 {
            signal.emit(&ev);
        }
        drop(sub);
        // Keep emitting: nothing will ever reuse or free the three clones.
        for _ in 0..10_000 {
            signal.emit(&ev);
        }
        assert_eq!(
            drops.load(Ordering::Relaxed),
            3,
            "the 3 clones made for the (now dropped) subscription were never dropped"
        );
        drop(ev);
    }

    /// F5. `stats()` counts the feeder as a listener and every emit as a
    /// delivery to it, even after every subscription is gone and `len() == 0`:
    /// `delivered` grows for events nobody received.
    #[test]
    fn f5_stats_count_deliveries_to_nobody() {
        let signal = SyncSignal::<u32>::new();
        signal.enable_stats();
        drop(signal.subscribe());
        assert_eq!(signal.len(), 0);
        for v in 0..5 {
            signal.emit(&v);
        }
        let stats = signal.stats();
        assert_eq!(
            stats.delivered, 0,
            "deliveries counted with no listener and no subscription: {stats:?}"
        );
    }

    /// F7. `try_recv` after the signal is dropped while a lagging subscription
    /// still has events: Lagged, then the events, then Closed (control).
    #[test]
    fn f7_control_lag_then_closed() {
        let signal = SyncSignal::<u32>::new();
        let mut sub = signal.subscribe_with(2).unwrap();
        for v in 0..5 {
            signal.emit(&v);
        }
        drop(signal);
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Lagged(3));
        assert_eq!(*sub.try_recv().unwrap(), 3);
        assert_eq!(*sub.try_recv().unwrap(), 4);
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
    }
}

mod async_signal {

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, mpsc};
    use std::thread;
    use std::time::Duration;

    use sigwire::{AsyncSignal, RecvError, TryRecvError};

    /// A1. After `shutdown` returned Ok (every accepted event delivered, the
    /// signal closed), a subscription should hold every event and then say
    /// Closed. The drainer closes the ring only after it has gone idle, which
    /// is after `pending` reached 0 (what shutdown waits for), so `try_recv`
    /// right after `shutdown` can say `Empty` for a subscription that will
    /// never receive anything again.
    #[test]
    fn a1_after_shutdown_ok_try_recv_says_empty_not_closed() {
        let mut empties = 0;
        for _ in 0..2000 {
            let signal = AsyncSignal::<u32>::new();
            signal.connect(|_: &u32| {});
            let mut sub = signal.subscribe();
            signal.emit(1).unwrap();
            signal.shutdown(Duration::from_secs(5)).unwrap();
            assert_eq!(
                *sub.try_recv().unwrap(),
                1,
                "shutdown returned before the ring had the event"
            );
            match sub.try_recv() {
                Err(TryRecvError::Closed) => {}
                Err(TryRecvError::Empty) => empties += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(
            empties, 0,
            "try_recv said Empty after shutdown returned Ok, {empties} times in 2000"
        );
    }

    /// A2. The docs: after close, subscriptions "receive every event accepted
    /// before, then Closed". An `emit_collect` made after `close` reaches the
    /// subscription when the drainer happens to be still busy, and is dropped
    /// when it is idle: the same call sequence gives different results.
    #[test]
    fn a2_emit_collect_after_close_reaches_subscriptions_only_if_the_drainer_is_busy() {
        // Busy drainer: a listener holds event 1 until we say so.
        let signal = AsyncSignal::<u32>::new();
        let (tx, rx) = mpsc::channel::<()>();
        let rx = std::sync::Mutex::new(rx);
        signal.connect(move |v: &u32| {
            if *v == 1 {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
        });
        let mut sub = signal.subscribe();
        signal.emit(1).unwrap();
        thread::sleep(Duration::from_millis(50)); // the drainer is inside the listener
        signal.close();
        signal.emit_collect(2).unwrap(); // after close
        tx.send(()).unwrap();
        let mut busy = Vec::new();
        loop {
            match sub.recv() {
                Ok(v) => busy.push(*v),
                Err(RecvError::Closed) => break,
                Err(e) => panic!("{e:?}"),
            }
        }

        // Idle drainer: same calls, nothing pending at close.
        let signal = AsyncSignal::<u32>::new();
        signal.connect(|_: &u32| {});
        let mut sub = signal.subscribe();
        signal.emit(1).unwrap();
        signal.flush().unwrap();
        signal.close();
        signal.emit_collect(2).unwrap();
        let mut idle = Vec::new();
        loop {
            match sub.recv() {
                Ok(v) => idle.push(*v),
                Err(RecvError::Closed) => break,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(busy, idle, "busy drainer: {busy:?}, idle drainer: {idle:?}");
    }

    /// A3. Docs of `AsyncSignal::subscribe`: "a panicking `Drop` of the event
    /// a ring slot held is caught and counted in `Stats::panicked`; the
    /// subscriptions miss that event." They do not miss it: the ring publishes
    /// before it drops the old event. (Doc inaccuracy; the test asserts the
    /// documented behaviour.)
    #[test]
    fn a3_a_panicking_drop_of_a_replaced_copy_is_counted_and_nothing_is_missed() {
        struct Bomb(u32, Arc<AtomicUsize>);
        impl Clone for Bomb {
            fn clone(&self) -> Self {
                Bomb(self.0, Arc::clone(&self.1))
            }
        }
        impl Drop for Bomb {
            fn drop(&mut self) {
                // Event 0 panics when dropped (once: it is moved into the
                // ring, not cloned).
                if self.0 == 0
                    && self.1.fetch_add(1, Ordering::Relaxed) == 0
                    && !thread::panicking()
                {
                    panic!("bomb");
                }
            }
        }
        let signal = AsyncSignal::<Bomb>::builder().capacity(1).build().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let mut sub = signal.subscribe();
        signal.emit(Bomb(0, Arc::clone(&count))).unwrap();
        signal.flush().unwrap(); // 0 is in the ring
        drop(sub.try_recv().unwrap()); // read and let go
        signal.emit(Bomb(1, Arc::clone(&count))).unwrap(); // replaces 0: its Drop panics
        signal.flush().unwrap();
        assert_eq!(signal.stats().panicked, 1);
        // The ring publishes event 1 before it drops the copy of 0: nothing is
        // missed, and the panic is counted.
        assert_eq!(sub.try_recv().unwrap().0, 1);
    }

    /// A4. A blocked recv on another thread wakes with Closed when the signal
    /// is dropped with nothing pending (control).
    #[test]
    fn a4_control_blocked_recv_wakes_on_drop() {
        let signal = AsyncSignal::<u32>::new();
        let mut sub = signal.subscribe();
        let h = thread::spawn(move || sub.recv());
        thread::sleep(Duration::from_millis(50));
        drop(signal);
        assert_eq!(h.join().unwrap().unwrap_err(), RecvError::Closed);
    }

    /// A5. Docs of `AsyncSignal::subscribe`: "The drainer clones each event
    /// into it once, in emit order". `emit_collect` writes into the ring from
    /// the caller, so one thread's `emit(1); emit_collect(2)` reaches a
    /// subscription as 2, 1 whenever 1 is still queued. (emit_collect's own
    /// docs say its *listener calls* may run before earlier events; the
    /// subscription docs promise emit order without that exception.)
    #[test]
    fn a5_emit_collect_reaches_subscriptions_when_it_runs() {
        let signal = AsyncSignal::<u32>::new();
        let (tx, rx) = mpsc::channel::<()>();
        let rx = std::sync::Mutex::new(rx);
        signal.connect(move |v: &u32| {
            if *v == 0 {
                let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
            }
        });
        let mut sub = signal.subscribe();
        signal.emit(0).unwrap();
        thread::sleep(Duration::from_millis(50)); // the drainer holds 0
        signal.emit(1).unwrap(); // queued
        signal.emit_collect(2).unwrap();
        tx.send(()).unwrap();
        signal.flush().unwrap();
        let got: Vec<u32> = std::iter::from_fn(|| sub.try_recv().ok().map(|v| *v)).collect();
        // Documented: `emit_collect` moves its event in when its listeners
        // returned, outside the queue's order; the queued events keep
        // theirs, and 0 went in when the drainer took it, while its
        // listener was still blocked.
        let at = |v: u32| got.iter().position(|&g| g == v).unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(at(0) == 0 && at(0) < at(1), "{got:?}");
    }

    /// A6. Emitters racing `close`: every event `emit` accepted is received,
    /// then Closed (control; passes here).
    #[test]
    fn a6_control_close_racing_emitters_loses_nothing_accepted() {
        for _ in 0..50 {
            let signal = Arc::new(
                AsyncSignal::<u64>::builder()
                    .capacity(1 << 16)
                    .build()
                    .unwrap(),
            );
            signal.connect(|_: &u64| {});
            let mut sub = signal.subscribe();
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let s = Arc::clone(&signal);
                    thread::spawn(move || (0..5000).filter(|&v| s.emit(v).is_ok()).count())
                })
                .collect();
            thread::sleep(Duration::from_micros(300));
            signal.close();
            let accepted: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
            let mut received = 0;
            loop {
                match sub.recv() {
                    Ok(_) => received += 1,
                    Err(RecvError::Closed) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(received, accepted);
        }
    }
}

mod topics {

    use std::time::Duration;

    use sigwire::RecvTimeoutError;
    use sigwire::bus::Topics;

    /// T1. Docs of `Topics::subscribe`: "Once the `Topics` is dropped, the
    /// subscription returns the events emitted before, then Closed." A
    /// `Publisher` (or a clone of the `Topics`) keeps the registry alive, so
    /// the subscription never closes; a thread blocked in `recv` stays asleep.
    #[test]
    fn t1_a_publisher_keeps_a_topic_subscription_open_until_it_drops() {
        let topics = Topics::<u32>::new();
        let mut sub = topics.subscribe("a.*").unwrap();
        let mut publisher = topics.publisher("a.b").unwrap();
        drop(topics);
        // Documented: a `Publisher` keeps the topics (and the subscription's
        // listener) alive, and still reaches the subscription.
        publisher.emit(&5);
        assert_eq!(*sub.recv().unwrap().event(), 5);
        drop(publisher);
        assert_eq!(
            sub.recv_timeout(Duration::from_millis(500)).unwrap_err(),
            RecvTimeoutError::Closed
        );
    }
}

mod reentrancy {

    use std::sync::OnceLock;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use sigwire::SyncSignal;

    static SIG: OnceLock<SyncSignal<u32>> = OnceLock::new();

    /// A listener capture whose `Drop` subscribes to the signal (for example a
    /// guard that "hands over to a subscription" when its listener goes).
    struct Hook;

    impl Drop for Hook {
        fn drop(&mut self) {
            let _late = SIG.get().unwrap().subscribe();
        }
    }

    /// R1. The first `subscribe` holds the feed's mutex while it connects the
    /// feeder; that connect is a write, and a write frees the closures of the
    /// listeners it drops (here a once-listener that fired) before it returns.
    /// A closure `Drop` that calls `subscribe` on the same signal then locks
    /// the same (non-reentrant) mutex: the thread hangs forever. The signal's
    /// own writes are careful to run such drops after releasing their locks
    /// ("a `Drop` that uses the signal cannot deadlock"); `subscribe` is not.
    #[test]
    fn r1_subscribe_from_a_closure_drop_freed_by_the_first_subscribe_hangs() {
        let signal = SIG.get_or_init(SyncSignal::new);
        let hook = Hook;
        signal.connect_once(move |_: &u32| {
            let _keep = &hook;
        });
        signal.emit(&1); // the once-listener fires; its slot stays until the next write
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let sub = SIG.get().unwrap().subscribe(); // its connect drops the fired slot
            drop(sub);
            tx.send(()).unwrap();
        });
        assert!(
            rx.recv_timeout(Duration::from_secs(5)).is_ok(),
            "subscribe() did not return within 5 s: self-deadlock on the feed mutex"
        );
    }
}

mod second {
    mod sync_signal {

        use std::cell::Cell;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, mpsc};
        use std::thread;

        use sigwire::{Cancel, SyncSignal};

        /// Cancels after a fixed number of checks (the `Cancel` doc's own example).
        struct Budget(Cell<u32>);

        impl Cancel for Budget {
            fn is_cancelled(&self) -> bool {
                let left = self.0.get();
                self.0.set(left.saturating_sub(1));
                left == 0
            }
        }

        fn counting_listeners(signal: &SyncSignal<u32>, n: usize) -> Arc<AtomicUsize> {
            let calls = Arc::new(AtomicUsize::new(0));
            for _ in 0..n {
                let c = Arc::clone(&calls);
                signal.connect(move |_: &u32| {
                    c.fetch_add(1, Ordering::Relaxed);
                });
            }
            calls
        }

        /// R2-1. `emit_until` checks `cancel` before the internal feeder too and
        /// counts it in `Cancelled::ran()`: with a subscription, a budget of 3
        /// checks lets only 2 listeners run, and `ran()` says 3.
        #[test]
        fn r2_1_emit_until_counts_the_feeder_as_a_listener() {
            // Control: without a subscription, 3 listeners run and ran() == 3.
            let plain = SyncSignal::<u32>::new();
            let plain_calls = counting_listeners(&plain, 5);
            let err = plain.emit_until(&1, Budget(Cell::new(3))).unwrap_err();
            assert_eq!((plain_calls.load(Ordering::Relaxed), err.ran()), (3, 3));

            let signal = SyncSignal::<u32>::new();
            let calls = counting_listeners(&signal, 5);
            let _sub = signal.subscribe();
            let err = signal.emit_until(&1, Budget(Cell::new(3))).unwrap_err();
            assert_eq!(
                (calls.load(Ordering::Relaxed), err.ran()),
                (3, 3),
                "a subscription changed what the listeners receive under emit_until \
                 (listener calls, Cancelled::ran)"
            );
        }

        /// An event that shares `payload`, so the test can see whether a copy is
        /// still alive; its `Clone` can be made to wait on the test.
        struct Ev {
            payload: Arc<()>,
            gate: Option<Arc<Gate>>,
        }

        struct Gate {
            in_clone: std::sync::Mutex<Option<mpsc::Sender<()>>>,
            go_on: std::sync::Mutex<Option<mpsc::Receiver<()>>>,
        }

        impl Clone for Ev {
            fn clone(&self) -> Self {
                if let Some(gate) = &self.gate {
                    if let Some(tx) = gate.in_clone.lock().unwrap().take() {
                        tx.send(()).unwrap();
                        gate.go_on.lock().unwrap().take().unwrap().recv().unwrap();
                    }
                }
                Ev {
                    payload: Arc::clone(&self.payload),
                    gate: None,
                }
            }
        }

        /// R2-2. The last subscription's drop empties the ring "so events are not
        /// kept alive for no one" (docs/architecture.md). An emit whose feeder saw
        /// the subscription (has_subscribers) and is cloning when the last
        /// subscription drops pushes its copy *after* the emptying: the copy stays
        /// in the ring, with no subscription, until the signal drops (or a future
        /// subscription's ring comes round to that slot). No re-entrancy: two
        /// threads, an emitter and the thread that drops the subscription.
        #[test]
        fn r2_2_an_event_pushed_after_the_last_drop_is_kept_alive_for_no_one() {
            let signal = Arc::new(SyncSignal::<Ev>::new());
            let payload = Arc::new(());
            let sub = signal.subscribe();

            let (in_tx, in_rx) = mpsc::channel();
            let (go_tx, go_rx) = mpsc::channel();
            let gate = Arc::new(Gate {
                in_clone: std::sync::Mutex::new(Some(in_tx)),
                go_on: std::sync::Mutex::new(Some(go_rx)),
            });
            let ev = Ev {
                payload: Arc::clone(&payload),
                gate: Some(gate),
            };
            let emitter = thread::spawn({
                let signal = Arc::clone(&signal);
                move || signal.emit(&ev)
            });
            in_rx.recv().unwrap(); // the feeder is in T::clone
            drop(sub); // the last subscription: empties the ring
            go_tx.send(()).unwrap();
            emitter.join().unwrap();

            assert_eq!(
                Arc::strong_count(&payload),
                1,
                "no subscription exists, yet the ring keeps a copy of the event alive"
            );
        }

        /// R2-2b. The same through re-entrancy: the event's `Clone` drops the last
        /// subscription (say, a consumer that gives up on a condition it sees in
        /// the event).
        #[test]
        fn r2_2b_the_same_when_clone_drops_the_last_subscription() {
            thread_local! {
                static SUB: std::cell::RefCell<Option<sigwire::Subscription<Quit>>> =
                    const { std::cell::RefCell::new(None) };
            }
            struct Quit(Arc<()>, bool);
            impl Clone for Quit {
                fn clone(&self) -> Self {
                    if self.1 {
                        SUB.with(|s| drop(s.borrow_mut().take()));
                    }
                    Quit(Arc::clone(&self.0), false)
                }
            }
            let signal = SyncSignal::<Quit>::new();
            let payload = Arc::new(());
            SUB.with(|s| *s.borrow_mut() = Some(signal.subscribe()));
            signal.emit(&Quit(Arc::clone(&payload), true));
            assert!(SUB.with(|s| s.borrow().is_none()));
            assert_eq!(
                Arc::strong_count(&payload),
                1,
                "no subscription exists, yet the ring keeps a copy alive"
            );
            // It is freed only with the signal.
            drop(signal);
            assert_eq!(Arc::strong_count(&payload), 1);
        }

        /// R2-3. Stats: a subscription that has come and gone leaves the feeder in
        /// the list, so an emit to a signal with no listener and no subscription is
        /// counted as `emitted`, where the same signal before its first subscribe
        /// counted none ("not counted ... by the statistics").
        #[test]
        fn r2_3_a_subscription_feed_counts_emits_with_no_listener() {
            let signal = SyncSignal::<u32>::new();
            signal.enable_stats();
            signal.emit(&1);
            let before = signal.stats();
            drop(signal.subscribe());
            signal.emit(&2);
            let after = signal.stats();
            assert!(signal.is_empty());
            // Left as it is (the closing note says why): an emit on a signal
            // with no listener counts nothing, but once the signal has a
            // subscription feed, its emits are counted as events.
            assert_eq!((before.emitted, after.emitted), (0, 1));
            assert_eq!(after.delivered, 0, "the feeder is no delivery");
        }

        /// R2-4. `live_len` is three separate relaxed loads (`fired`, `internal`,
        /// then the list length), and `connect_internal` increments `internal`
        /// before it publishes the list with the feeder. A `len` racing the first
        /// `subscribe` of a signal with one listener reads 2 (its `internal` load
        /// before the increment, its length load after the publish: the feeder
        /// counted as a listener) or 0 (the other way round), never a value any
        /// state of the signal had.
        #[test]
        fn r2_4_len_races_the_first_subscribe() {
            let mut seen_empty = 0u32;
            let mut wrong = usize::MAX;
            for _ in 0..20_000 {
                let signal = Arc::new(SyncSignal::<u32>::new());
                signal.connect(|_: &u32| {});
                let done = Arc::new(AtomicBool::new(false));
                let t = thread::spawn({
                    let signal = Arc::clone(&signal);
                    let done = Arc::clone(&done);
                    move || {
                        let sub = signal.subscribe();
                        done.store(true, Ordering::Release);
                        sub
                    }
                });
                while !done.load(Ordering::Acquire) {
                    let len = signal.len();
                    if len != 1 {
                        wrong = len;
                        seen_empty += 1;
                        break;
                    }
                }
                drop(t.join().unwrap());
                if seen_empty > 0 {
                    break;
                }
            }
            assert_eq!(
                seen_empty, 0,
                "len() read {wrong} with one listener connected (and no other)"
            );
        }

        /// R2-2c. A consequence of R2-2: the copy left in the ring is dropped by
        /// the ring's own drop, in the drop glue of the signal's core (not under
        /// the catches `BaseSignal::drop` uses for every list and closure). A
        /// panicking `Drop` of that copy unwinds out of `drop(signal)`, counted
        /// nowhere ("`SyncSignal` never panics by itself"; the subscribe doc says
        /// the event type's `Drop` panics are caught and counted).
        #[test]
        fn r2_2c_a_left_copy_with_a_panicking_drop_unwinds_out_of_the_signal_drop() {
            thread_local! {
                static SUB: std::cell::RefCell<Option<sigwire::Subscription<Bomb>>> =
                    const { std::cell::RefCell::new(None) };
            }
            struct Bomb {
                armed: bool,
                quit: bool,
            }
            impl Clone for Bomb {
                fn clone(&self) -> Self {
                    if self.quit {
                        SUB.with(|s| drop(s.borrow_mut().take()));
                    }
                    Bomb {
                        armed: true,
                        quit: false,
                    }
                }
            }
            impl Drop for Bomb {
                fn drop(&mut self) {
                    if self.armed && !thread::panicking() {
                        panic!("event drop");
                    }
                }
            }
            let signal = SyncSignal::<Bomb>::new();
            SUB.with(|s| *s.borrow_mut() = Some(signal.subscribe()));
            signal.emit(&Bomb {
                armed: false,
                quit: true,
            });
            let errors_before = signal.error_count();
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(signal)));
            assert!(
                dropped.is_ok(),
                "drop(SyncSignal) unwound with the Drop panic of an event no subscription could read \
                 (error_count before the drop: {errors_before})"
            );
        }

        /// R2-7. `error_count`'s doc: "How many errors went to the error handler
        /// ... Also counted: a panic caught while dropping the closure ...
        /// reported to the error handler". The feeder's caught `Clone` panic is
        /// counted in `error_count` but never reaches the error handler: the count
        /// and the handler disagree, and the doc of `error_count` does not say so.
        #[test]
        fn r2_7_a_feeder_panic_is_counted_not_sent_to_the_error_handler() {
            #[derive(Debug)]
            struct BadClone;
            impl Clone for BadClone {
                fn clone(&self) -> Self {
                    panic!("clone");
                }
            }
            let signal = SyncSignal::<BadClone>::new();
            let handled = Arc::new(AtomicUsize::new(0));
            let h = Arc::clone(&handled);
            signal.set_error_handler(move |_| {
                h.fetch_add(1, Ordering::Relaxed);
            });
            let _sub = signal.subscribe();
            signal.emit(&BadClone);
            // Documented on `error_count`: counted, not sent to the handler.
            assert_eq!(
                (signal.error_count(), handled.load(Ordering::Relaxed) as u64),
                (1, 0)
            );
        }

        /// R2-8. A subscription made inside the event type's `Clone` (run by the
        /// feeder during an emit) receives the very event of that emit, though
        /// "it receives the events emitted after `subscribe` returned" (a listener
        /// connected during an emit does not get that emit's event).
        #[test]
        fn r2_8_a_subscription_made_in_clone_may_get_the_current_event() {
            thread_local! {
                static SIGNAL: std::cell::RefCell<std::sync::Weak<SyncSignal<Late>>> =
                    const { std::cell::RefCell::new(std::sync::Weak::new()) };
                static LATE: std::cell::RefCell<Option<sigwire::Subscription<Late>>> =
                    const { std::cell::RefCell::new(None) };
            }
            struct Late(bool);
            impl Clone for Late {
                fn clone(&self) -> Self {
                    if self.0 {
                        let signal = SIGNAL.with(|s| s.borrow().upgrade().unwrap());
                        LATE.with(|l| *l.borrow_mut() = Some(signal.subscribe()));
                    }
                    Late(false)
                }
            }
            let signal = Arc::new(SyncSignal::<Late>::new());
            SIGNAL.with(|s| *s.borrow_mut() = Arc::downgrade(&signal));
            let _first = signal.subscribe();
            signal.emit(&Late(true));
            let got = LATE.with(|l| l.borrow_mut().as_mut().unwrap().try_recv().is_ok());
            // Documented on `subscribe`: one made during an emit may
            // receive that emit's event.
            assert!(
                got,
                "a subscription made in the emit's Clone did not get its event"
            );
            LATE.with(|l| l.borrow_mut().take());
        }
    }

    mod async_signal {

        use std::sync::{Arc, Mutex, mpsc};
        use std::thread;

        use sigwire::{AsyncSignal, TryRecvError};

        /// An event that holds `payload`, to see whether a copy is kept.
        struct Ev {
            _payload: Arc<()>,
        }

        /// A listener that, on its first call, says so and waits to be let
        /// go: the moment before the event moves into the ring (the
        /// `AsyncSignal` moves it in once its blocking listeners returned;
        /// before, it cloned it in, and these tests gated the clone).
        fn gate_listener(signal: &AsyncSignal<Ev>) -> (mpsc::Receiver<()>, mpsc::Sender<()>) {
            let (in_tx, in_rx) = mpsc::channel();
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let gate = Mutex::new(Some((in_tx, go_rx)));
            signal.connect(move |_: &Ev| {
                let taken = gate.lock().unwrap().take();
                if let Some((in_tx, go_rx)) = taken {
                    in_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                }
            });
            (in_rx, go_tx)
        }

        fn plain(payload: &Arc<()>) -> Ev {
            Ev {
                _payload: Arc::clone(payload),
            }
        }

        /// R2-5. An `emit_collect` called before `close` (its listener is
        /// running) races a `close` + `flush`: the flush closes the ring,
        /// and the event is dropped, not moved in. The subscription ends
        /// with `Closed`.
        #[test]
        fn r2_5_an_emit_collect_racing_close_may_or_may_not_reach_subscriptions() {
            let signal = Arc::new(AsyncSignal::<Ev>::new());
            let mut sub = signal.subscribe();
            let payload = Arc::new(());
            let (in_listener, go_on) = gate_listener(&signal);
            let ev = plain(&payload);
            let caller = thread::spawn({
                let signal = Arc::clone(&signal);
                move || signal.emit_collect(ev).is_ok()
            });
            in_listener.recv().unwrap();
            signal.close();
            signal.flush().unwrap();
            go_on.send(()).unwrap();
            assert!(caller.join().unwrap(), "emit_collect returned Ok");
            let got = sub.try_recv().map(|_| ());
            // Documented on `subscribe`: an `emit_collect` racing `close`
            // may or may not reach the subscriptions. Either way the event
            // is dropped, not kept.
            assert!(matches!(got, Ok(()) | Err(TryRecvError::Closed)), "{got:?}");
            assert_eq!(Arc::strong_count(&payload), 1);
        }

        /// R2-6. As R2-2 for the AsyncSignal: the last subscription is
        /// dropped while the event is being delivered; the drainer must
        /// not move it into a ring that no one reads.
        #[test]
        fn r2_6_async_copy_pushed_after_the_last_drop_is_kept_alive() {
            let signal = AsyncSignal::<Ev>::new();
            let sub = signal.subscribe();
            let payload = Arc::new(());
            let (in_listener, go_on) = gate_listener(&signal);
            signal.emit(plain(&payload)).unwrap();
            in_listener.recv().unwrap(); // the event is being delivered
            drop(sub); // the last subscription: empties the ring
            go_on.send(()).unwrap();
            signal.flush().unwrap();
            assert_eq!(
                Arc::strong_count(&payload),
                1,
                "no subscription exists, yet the ring keeps a copy of the event alive"
            );
        }
    }

    mod topics {

        use std::sync::Arc;
        use std::sync::mpsc;
        use std::thread;
        use std::time::Duration;

        use sigwire::bus::{TopicEvent, Topics};

        thread_local! {
            static SUB: std::cell::RefCell<Option<sigwire::Subscription<TopicEvent<Quit>>>> =
                const { std::cell::RefCell::new(None) };
        }

        struct Quit(Arc<()>, bool);

        impl Clone for Quit {
            fn clone(&self) -> Self {
                if self.1 {
                    SUB.with(|s| drop(s.borrow_mut().take()));
                }
                Quit(Arc::clone(&self.0), false)
            }
        }

        /// Control: a topic subscription dropped from inside its own feeder (the
        /// event's `Clone`) neither hangs nor keeps the copy alive past the next
        /// write of the registry.
        #[test]
        fn control_topic_subscription_dropped_from_its_own_clone() {
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                let topics = Topics::<Quit>::new();
                let payload = Arc::new(());
                SUB.with(|s| *s.borrow_mut() = Some(topics.subscribe("a.*").unwrap()));
                topics
                    .emit("a.b", &Quit(Arc::clone(&payload), true))
                    .unwrap();
                let after_emit = Arc::strong_count(&payload);
                // A later write frees the disconnected closure and its ring.
                drop(topics.connect("x", |_: &str, _: &Quit| {}).unwrap());
                drop(topics);
                tx.send((after_emit, Arc::strong_count(&payload))).unwrap();
            });
            let (after_emit, at_end) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("hung: a topic subscription dropped from its own clone");
            assert_eq!(at_end, 1, "after_emit {after_emit}");
        }
    }
}
