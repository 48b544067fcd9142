//! Regression tests from the hostile review of subscriptions (issue 13):
//! each one failed on the first version, or checks behaviour the review
//! suspected and found sound (named "control").

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
                // Only the ring's copy of event 0 panics, the second time a 0 is dropped.
                if self.0 == 0
                    && self.1.fetch_add(1, Ordering::Relaxed) == 1
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
        signal.flush().unwrap(); // original 0 dropped (count 1); ring holds a copy
        drop(sub.try_recv().unwrap()); // read and let go
        signal.emit(Bomb(1, Arc::clone(&count))).unwrap(); // replaces the copy: its Drop panics
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
        // Documented: `emit_collect` copies its event in when it runs,
        // outside the queue's order; the queued events keep theirs.
        assert_eq!(got, [0, 2, 1]);
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
