//! Hostile review of the lanes change (b833150, e72b490): each blocking
//! listener of an `AsyncSignal` on a lane of its own, fed from a flight of
//! batches.
//!
//! Every test is bounded by `within`: a hang fails instead of hanging.
//! Tests marked FINDING failed on e72b490, whose flight had `capacity / 32`
//! (2 to 64) batch slots: one slow listener stopped every other after as
//! few events as slots when events came one at a time. The flight holds
//! `capacity` events in as many batches now, and they pass. FINDING 2's
//! two tests pinned an old promise the lanes dropped; they now pin the
//! documented rule instead (a listener or a subscription gets the events
//! the drainer takes after it came). The others are controls.

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{
    AsyncSignal, ConnectOptions, DeliveryOrder, FlushError, Overflow, Policy, RecvTimeoutError,
    RejectReason, TryRecvError,
};

const LONG: Duration = Duration::from_secs(3);
/// How long a listener that should keep up may take to see one event.
const PROMPT: Duration = Duration::from_millis(300);

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap(),
    )
}

/// Runs `f` on a thread of its own; fails if it panics or takes longer
/// than `limit` (the thread is left behind: the test fails, not hangs).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let result = std::panic::catch_unwind(AssertUnwindSafe(f));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("hung: did not finish within {limit:?}"),
    }
}

/// A blocking listener that, on its first call, reports the event and
/// waits until released (or `LONG`); later calls return at once.
struct Slow {
    started: mpsc::Receiver<u32>,
    release: mpsc::Sender<()>,
    seen: Arc<Mutex<Vec<u32>>>,
}

fn connect_slow(signal: &AsyncSignal<u32>) -> Slow {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let gate = Mutex::new(Some((started_tx, release_rx)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    signal.connect(move |v: &u32| {
        let first = gate.lock().unwrap().take();
        if let Some((started, release)) = first {
            started.send(*v).unwrap();
            let _ = release.recv_timeout(LONG);
        }
        s.lock().unwrap().push(*v);
    });
    Slow {
        started,
        release,
        seen,
    }
}

/// A blocking listener that sends each event to a channel.
fn connect_fast(signal: &AsyncSignal<u32>) -> mpsc::Receiver<u32> {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    signal.connect(move |v: &u32| {
        let _ = tx.lock().unwrap().send(*v);
    });
    rx
}

fn per_listener(capacity: usize, threads: usize) -> AsyncSignal<u32> {
    AsyncSignal::<u32>::builder()
        .pool(pool(threads))
        .ordering(DeliveryOrder::PerListener)
        .capacity(capacity)
        .overflow(Overflow::Reject)
        .build()
        .unwrap()
}

/// Emits 0..n one at a time while a slow blocking listener is stuck in
/// event 0, each emit waiting (up to `PROMPT`) for `next` to yield it; the
/// events that came in order, and the pending count when it stopped.
fn trickle(
    signal: &AsyncSignal<u32>,
    n: u32,
    mut next: impl FnMut() -> Option<u32>,
) -> (Vec<u32>, usize) {
    let mut got = Vec::new();
    for v in 0..n {
        signal.emit(v).unwrap();
        match next() {
            Some(x) => got.push(x),
            None => break,
        }
    }
    (got, signal.stats().pending)
}

// ------------------------------------------------------------ FINDING 1
// The flight's slots, not the capacity, bound how far a slow blocking
// listener may fall behind: events emitted one at a time make one batch
// each, so with `capacity(64)` (2 slots) the third event waits in the queue
// (the drainer parks) and every other listener and subscription starves,
// with 3 of 64 pending. `Policy::Block`'s, `AsyncSignal`'s and the
// CHANGELOG's "until the signal's capacity is pending" is false.

/// FINDING: a fast blocking listener beside a slow one gets 2 events of 8
/// with 64 of room (capacity 64, so 2 flight slots).
#[test]
fn trickled_events_reach_a_fast_listener_beside_a_slow_one_below_capacity() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(64, 4);
        let slow = connect_slow(&signal);
        let fast = connect_fast(&signal);
        signal.emit(100).unwrap();
        assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 100);
        assert_eq!(fast.recv_timeout(LONG).unwrap(), 100);
        let (got, pending) = trickle(&signal, 8, || fast.recv_timeout(PROMPT).ok());
        slow.release.send(()).unwrap();
        signal.shutdown(LONG).unwrap();
        assert_eq!(
            got,
            (0..8).collect::<Vec<_>>(),
            "the fast listener stalled with {pending} of 64 events pending"
        );
    });
}

/// FINDING: the same with the default capacity (1024: 32 slots): the fast
/// listener stalls after 32 trickled events, 33 of 1024 pending.
#[test]
fn trickled_events_reach_a_fast_listener_at_the_default_capacity() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(sigwire::DEFAULT_CAPACITY, 4);
        let slow = connect_slow(&signal);
        let fast = connect_fast(&signal);
        signal.emit(100).unwrap();
        assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 100);
        assert_eq!(fast.recv_timeout(LONG).unwrap(), 100);
        let (got, pending) = trickle(&signal, 40, || fast.recv_timeout(PROMPT).ok());
        slow.release.send(()).unwrap();
        signal.shutdown(LONG).unwrap();
        assert_eq!(
            got.len(),
            40,
            "the fast listener stalled after {} events, {pending} of 1024 pending",
            got.len()
        );
    });
}

/// FINDING: docs/async.md: a dropping listener / subscription "gets each
/// event as soon as the drainer took it, whatever the blocking listeners
/// are doing: a slow blocking listener holds it back only by holding the
/// emitter back, once capacity events are pending". A subscription beside
/// a slow blocking listener starves after 2 trickled events (capacity 64).
#[test]
fn trickled_events_reach_a_subscription_beside_a_slow_blocking_listener() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(64, 4);
        let mut sub = signal.subscribe();
        let slow = connect_slow(&signal);
        signal.emit(100).unwrap();
        assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 100);
        assert_eq!(*sub.recv_timeout(LONG).unwrap(), 100);
        let (got, pending) = trickle(&signal, 8, || sub.recv_timeout(PROMPT).ok().map(|v| *v));
        slow.release.send(()).unwrap();
        signal.shutdown(LONG).unwrap();
        assert_eq!(
            got,
            (0..8).collect::<Vec<_>>(),
            "the subscription stalled with {pending} of 64 events pending"
        );
    });
}

/// FINDING (as a hang): a slow listener that waits for the others to see
/// a few later events (a pipeline stage waiting for its peers, well within
/// the capacity) never sees them: the flight is full, the drainer parked.
#[test]
fn a_blocking_listener_waiting_for_its_peers_to_see_three_more_events_is_not_starved() {
    within(Duration::from_secs(6), || {
        let signal = Arc::new(per_listener(64, 4));
        let fast_seen = Arc::new(AtomicUsize::new(0));
        let waited = Arc::new(Mutex::new(None));
        let (f, w) = (Arc::clone(&fast_seen), Arc::clone(&waited));
        let once = AtomicBool::new(true);
        signal.connect(move |_: &u32| {
            if once.swap(false, Ordering::SeqCst) {
                let deadline = Instant::now() + Duration::from_secs(1);
                while f.load(Ordering::SeqCst) < 4 && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                *w.lock().unwrap() = Some(f.load(Ordering::SeqCst));
            }
        });
        let f = Arc::clone(&fast_seen);
        signal.connect(move |_: &u32| {
            f.fetch_add(1, Ordering::SeqCst);
        });
        for v in 0..4 {
            signal.emit(v).unwrap();
            // One batch per event.
            let deadline = Instant::now() + PROMPT;
            while fast_seen.load(Ordering::SeqCst) <= v as usize && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
        }
        signal.shutdown(LONG).unwrap();
        assert_eq!(
            *waited.lock().unwrap(),
            Some(4),
            "the peers saw too few events before the wait gave up"
        );
    });
}

// ------------------------------------------------------------ FINDING 2
// "A listener connected after an emit but before that event's delivery
// receives it" (`AsyncSignal`'s docs, the `Deref` impl's, and `subscribe`'s
// "an event emitted before it but not yet delivered is received, as by a
// listener connected then") is no longer true: an event the drainer took
// into a batch while every listener is still busy with an older one has
// been delivered to no one, yet a listener connected now never gets it.

/// The rule (was FINDING 2): the only blocking listener is stuck in event
/// 0; event 1 has been taken (it is in the ring) but delivered to no
/// listener; a listener connected now does not receive it: the event
/// belongs to the listeners of the moment the drainer took it.
#[test]
fn a_listener_connected_after_the_drainer_took_an_event_does_not_get_it() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(64, 4);
        let mut probe = signal.subscribe();
        let slow = connect_slow(&signal);
        signal.emit(0).unwrap();
        assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 0);
        signal.emit(1).unwrap();
        assert_eq!(*probe.recv_timeout(LONG).unwrap(), 0);
        assert_eq!(*probe.recv_timeout(LONG).unwrap(), 1); // taken, not delivered
        assert!(
            slow.seen.lock().unwrap().is_empty(),
            "no listener has seen 0 or 1"
        );
        let late = connect_fast(&signal);
        slow.release.send(()).unwrap();
        signal.shutdown(LONG).unwrap();
        let got: Vec<u32> = late.try_iter().collect();
        assert!(got.is_empty(), "connected after 1 was taken: {got:?}");
    });
}

/// The rule, for `subscribe`: a subscription starts at the ring's tail,
/// after every event the drainer took.
#[test]
fn a_subscription_made_after_the_drainer_took_an_event_does_not_get_it() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(64, 4);
        let mut probe = signal.subscribe();
        let slow = connect_slow(&signal);
        signal.emit(0).unwrap();
        assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 0);
        signal.emit(1).unwrap();
        assert_eq!(*probe.recv_timeout(LONG).unwrap(), 0);
        assert_eq!(*probe.recv_timeout(LONG).unwrap(), 1);
        let mut late = signal.subscribe();
        slow.release.send(()).unwrap();
        signal.close();
        signal.shutdown(LONG).unwrap();
        let got = late.try_recv().map(|v| *v);
        assert_eq!(got, Err(TryRecvError::Closed), "made after 1 was taken");
    });
}

// ------------------------------------------------------------ controls

/// Control: `close` while batches are in flight: the `on_close` hook waits
/// for the slow blocking listener, subscriptions get every event, then
/// `Closed`; pending 0 at the end.
#[test]
fn close_with_batches_in_flight_ends_after_the_last_event() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(64, 4);
        let mut sub = signal.subscribe();
        let slow = connect_slow(&signal);
        let _fast = connect_fast(&signal);
        signal.emit(0).unwrap();
        assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 0);
        for v in 1..40 {
            signal.emit(v).unwrap();
        }
        signal.close();
        thread::sleep(Duration::from_millis(50));
        slow.release.send(()).unwrap();
        signal.shutdown(LONG).unwrap();
        let mut got = Vec::new();
        loop {
            match sub.recv_timeout(LONG) {
                Ok(v) => got.push(*v),
                Err(RecvTimeoutError::Closed) => break,
                Err(e) => panic!("{e:?} after {got:?}"),
            }
        }
        assert_eq!(got, (0..40).collect::<Vec<_>>());
        assert_eq!(*slow.seen.lock().unwrap(), (0..40).collect::<Vec<_>>());
        let stats = signal.stats();
        assert_eq!((stats.pending, stats.emitted, stats.delivered), (0, 40, 80));
    });
}

/// Control: exact accounting under churn, for odd capacities and tiny
/// pools: two emitters; three listeners connected throughout get every
/// event once (under `PerListener` in each emitter's order, never
/// overlapping themselves); listeners connected, disconnected and fired
/// once meanwhile never see an event twice; `Stats` adds up.
#[test]
fn exact_delivery_under_churn_for_odd_capacities_and_small_pools() {
    within(Duration::from_secs(20), || {
        for capacity in [1, 2, 31, 32, 33, 4096] {
            for threads in [1, 2] {
                for ordering in [DeliveryOrder::PerListener, DeliveryOrder::Unordered] {
                    churn(capacity, threads, ordering);
                }
            }
        }
    });
}

fn churn(capacity: usize, threads: usize, ordering: DeliveryOrder) {
    const PER_EMITTER: u32 = 150;
    let signal = Arc::new(
        AsyncSignal::<u32>::builder()
            .pool(pool(threads))
            .ordering(ordering)
            .capacity(capacity)
            .overflow(Overflow::Block)
            .build()
            .unwrap(),
    );
    let calls = Arc::new(AtomicU64::new(0));
    let label = format!("capacity {capacity}, {threads} thread(s), {ordering:?}");
    let mut steady = Vec::new();
    for _ in 0..3 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let busy = Arc::new(AtomicBool::new(false));
        let (s, b, c) = (Arc::clone(&seen), Arc::clone(&busy), Arc::clone(&calls));
        signal.connect(move |v: &u32| {
            c.fetch_add(1, Ordering::Relaxed);
            let overlapping = b.swap(true, Ordering::SeqCst);
            s.lock().unwrap().push((*v, overlapping));
            b.store(false, Ordering::SeqCst);
        });
        steady.push(seen);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (signal, calls, stop) = (Arc::clone(&signal), Arc::clone(&calls), Arc::clone(&stop));
        thread::spawn(move || {
            let mut dups = Vec::new();
            let mut once_calls = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let seen = Arc::new(Mutex::new(HashSet::new()));
                let dup = Arc::new(AtomicBool::new(false));
                let (s, d, c) = (Arc::clone(&seen), Arc::clone(&dup), Arc::clone(&calls));
                let conn = signal.connect(move |v: &u32| {
                    c.fetch_add(1, Ordering::Relaxed);
                    if !s.lock().unwrap().insert(*v) {
                        d.store(true, Ordering::SeqCst);
                    }
                });
                let fired = Arc::new(AtomicU64::new(0));
                let (f, c) = (Arc::clone(&fired), Arc::clone(&calls));
                let once = signal.connect_once(move |_: &u32| {
                    c.fetch_add(1, Ordering::Relaxed);
                    f.fetch_add(1, Ordering::SeqCst);
                });
                thread::yield_now();
                conn.disconnect();
                if fired.load(Ordering::SeqCst) == 0 {
                    once.disconnect();
                }
                dups.push(dup);
                once_calls.push(fired);
            }
            (dups, once_calls)
        })
    };
    let emitters: Vec<_> = (0..2u32)
        .map(|e| {
            let signal = Arc::clone(&signal);
            thread::spawn(move || {
                for i in 0..PER_EMITTER {
                    signal.emit(e * 10_000 + i).unwrap();
                }
            })
        })
        .collect();
    for emitter in emitters {
        emitter.join().unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let (dups, once_calls) = churner.join().unwrap();
    signal
        .shutdown(LONG)
        .unwrap_or_else(|e| panic!("{label}: {e}"));
    let total = 2 * PER_EMITTER as usize;
    for seen in &steady {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), total, "{label}: a steady listener's count");
        let values: HashSet<u32> = seen.iter().map(|(v, _)| *v).collect();
        assert_eq!(values.len(), total, "{label}: duplicates");
        if ordering == DeliveryOrder::PerListener {
            assert!(
                seen.iter().all(|(_, o)| !o),
                "{label}: a listener overlapped itself"
            );
            for e in 0..2 {
                let mine: Vec<u32> = seen
                    .iter()
                    .map(|(v, _)| *v)
                    .filter(|v| v / 10_000 == e)
                    .collect();
                assert!(mine.windows(2).all(|w| w[0] < w[1]), "{label}: order");
            }
        }
    }
    assert!(
        dups.iter().all(|d| !d.load(Ordering::SeqCst)),
        "{label}: a churned listener saw an event twice"
    );
    assert!(
        once_calls.iter().all(|f| f.load(Ordering::SeqCst) <= 1),
        "{label}: a once-listener fired twice"
    );
    let stats = signal.stats();
    assert_eq!(stats.pending, 0, "{label}");
    assert_eq!(stats.emitted, total as u64, "{label}");
    assert_eq!(
        stats.delivered,
        calls.load(Ordering::Relaxed),
        "{label}: delivered vs calls"
    );
}

/// Control: re-entrancy from a blocking listener on its lane: emitting
/// into its own full signal (Block, BlockFor) is refused, not hung; flush
/// is refused; disconnect_wait on itself is refused; connecting another
/// listener and subscribing work; shutdown from inside returns at once.
#[test]
fn reentrant_calls_from_a_lane_are_refused_or_work() {
    within(Duration::from_secs(6), || {
        for overflow in [
            Overflow::Block,
            Overflow::BlockFor(Duration::from_secs(2)),
            Overflow::Reject,
        ] {
            let signal = Arc::new(
                AsyncSignal::<u32>::builder()
                    .pool(pool(2))
                    .ordering(DeliveryOrder::PerListener)
                    .capacity(1)
                    .overflow(overflow)
                    .build()
                    .unwrap(),
            );
            let weak: Weak<AsyncSignal<u32>> = Arc::downgrade(&signal);
            let report = Arc::new(Mutex::new(Vec::new()));
            let r = Arc::clone(&report);
            let own = Arc::new(Mutex::new(None::<sigwire::Connection>));
            let o = Arc::clone(&own);
            let late_calls = Arc::new(AtomicU64::new(0));
            let l = Arc::clone(&late_calls);
            let conn = signal.connect(move |v: &u32| {
                let Some(signal) = weak.upgrade() else { return };
                if *v != 0 {
                    return;
                }
                let emitted = signal.emit(1).map_err(|e| e.reason());
                let flushed = signal.flush();
                let waited = o
                    .lock()
                    .unwrap()
                    .as_ref()
                    .map(|c| c.disconnect_wait().is_err());
                let l = Arc::clone(&l);
                signal.connect(move |_: &u32| {
                    l.fetch_add(1, Ordering::SeqCst);
                });
                let _sub = signal.subscribe();
                let shut = signal.shutdown(Duration::from_secs(5)).is_err();
                r.lock().unwrap().push((emitted, flushed, waited, shut));
            });
            *own.lock().unwrap() = Some(conn);
            signal.emit(0).unwrap();
            let deadline = Instant::now() + LONG;
            while report.lock().unwrap().is_empty() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            signal.shutdown(LONG).unwrap();
            let report = report.lock().unwrap();
            assert_eq!(report.len(), 1, "{overflow:?}");
            let (emitted, flushed, waited, shut) = &report[0];
            assert!(
                matches!(emitted, Err(RejectReason::Full)),
                "{overflow:?}: {emitted:?}"
            );
            assert_eq!(*flushed, Err(FlushError::InsideDelivery), "{overflow:?}");
            assert_eq!(*waited, Some(true), "{overflow:?}");
            assert!(*shut, "{overflow:?}");
        }
    });
}

/// An event whose `Drop` emits a child into its own signal (and tries a
/// flush, which must be refused, not wait for itself).
struct Chain {
    depth: u32,
    signal: Arc<Mutex<Option<Weak<AsyncSignal<Chain>>>>>,
    flushes: Arc<Mutex<Vec<Result<(), FlushError>>>>,
}

impl Drop for Chain {
    fn drop(&mut self) {
        if self.depth == 0 {
            return;
        }
        let Some(signal) = self.signal.lock().unwrap().as_ref().and_then(Weak::upgrade) else {
            return;
        };
        self.flushes.lock().unwrap().push(signal.flush());
        let _ = signal.emit(Chain {
            depth: self.depth - 1,
            signal: Arc::clone(&self.signal),
            flushes: Arc::clone(&self.flushes),
        });
    }
}

/// Control: event `Drop`s that emit a child into their own signal and try
/// a flush (refused: the drop runs inside a delivery), 20 deep.
#[test]
fn event_drops_that_emit_and_flush_do_not_hang() {
    within(Duration::from_secs(6), || {
        let signal = Arc::new(
            AsyncSignal::<Chain>::builder()
                .pool(pool(2))
                .ordering(DeliveryOrder::PerListener)
                .capacity(2)
                .build()
                .unwrap(),
        );
        let cell = Arc::new(Mutex::new(Some(Arc::downgrade(&signal))));
        let flushes = Arc::new(Mutex::new(Vec::new()));
        let calls = Arc::new(AtomicU64::new(0));
        for _ in 0..2 {
            let c = Arc::clone(&calls);
            signal.connect(move |_: &Chain| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        signal
            .emit(Chain {
                depth: 20,
                signal: Arc::clone(&cell),
                flushes: Arc::clone(&flushes),
            })
            .ok()
            .unwrap();
        let deadline = Instant::now() + LONG;
        while calls.load(Ordering::SeqCst) < 42 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        signal.flush().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 42);
        let flushes = flushes.lock().unwrap();
        assert_eq!(flushes.len(), 20);
        assert!(
            flushes
                .iter()
                .all(|f| *f == Err(FlushError::InsideDelivery)),
            "{flushes:?}"
        );
        *cell.lock().unwrap() = None;
    });
}

/// Control: panicking listeners, filters, error handlers and event drops
/// on a 1-thread pool with several lanes: counted, nothing lost.
#[test]
fn panics_everywhere_on_one_thread_with_several_lanes() {
    struct Boom(u32);
    impl Drop for Boom {
        fn drop(&mut self) {
            if self.0 % 7 == 0 && !thread::panicking() {
                panic!("drop {}", self.0);
            }
        }
    }
    within(Duration::from_secs(6), || {
        let signal = AsyncSignal::<Boom>::builder()
            .pool(pool(1))
            .ordering(DeliveryOrder::PerListener)
            .capacity(33)
            .build()
            .unwrap();
        signal.set_panic_handler(|_| panic!("handler"));
        signal.set_error_handler(|_| panic!("error handler"));
        let _filter = signal.add_filter(|b: &Boom| {
            assert!(b.0 % 11 != 5, "filter");
            true
        });
        let ok = Arc::new(AtomicU64::new(0));
        let o = Arc::clone(&ok);
        signal.connect(move |_: &Boom| {
            o.fetch_add(1, Ordering::SeqCst);
        });
        signal.connect(|b: &Boom| assert!(b.0 % 3 != 0, "listener"));
        signal.connect_fallible(|b: &Boom| if b.0 % 5 == 0 { Err("no") } else { Ok(()) });
        let n = 200u32;
        for v in 0..n {
            assert!(signal.emit(Boom(v)).is_ok());
        }
        signal.shutdown(LONG).unwrap();
        let rejected = (0..n).filter(|v| v % 11 == 5).count() as u64;
        assert_eq!(ok.load(Ordering::SeqCst), n as u64 - rejected);
        let stats = signal.stats();
        assert_eq!((stats.emitted, stats.pending), (n as u64, 0));
    });
}

/// Control: `emit_collect` mixed with `emit` on a small signal: every
/// event counted once, `emitted == completed + pending`.
#[test]
fn emit_collect_mixed_with_emit_adds_up() {
    within(Duration::from_secs(6), || {
        let signal = Arc::new(per_listener(2, 2));
        let calls = Arc::new(AtomicU64::new(0));
        for _ in 0..3 {
            let c = Arc::clone(&calls);
            signal.connect(move |_: &u32| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        let s = Arc::clone(&signal);
        let collector = thread::spawn(move || {
            for v in 0..200 {
                s.emit_collect(v).unwrap();
            }
        });
        let mut accepted = 0;
        for v in 0..2000 {
            if signal.emit(v).is_ok() {
                accepted += 1;
            }
        }
        collector.join().unwrap();
        signal.shutdown(LONG).unwrap();
        let stats = signal.stats();
        assert_eq!(stats.emitted, accepted + 200);
        assert_eq!(stats.delivered, 3 * (accepted + 200));
        assert_eq!(calls.load(Ordering::SeqCst), stats.delivered);
    });
}

/// Control: a listener disconnected while its batches are in flight is
/// not called for them (it is stuck in event 0 meanwhile); flush does not
/// hang; a `DropOldest` listener beside it gets everything.
#[test]
fn disconnect_while_batches_are_in_flight() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(256, 4);
        let (started_tx, started) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let gate = Mutex::new(Some((started_tx, release_rx)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let conn = signal.connect(move |v: &u32| {
            s.lock().unwrap().push(*v);
            let first = gate.lock().unwrap().take();
            if let Some((started, release)) = first {
                started.send(()).unwrap();
                let _ = release.recv_timeout(LONG);
            }
        });
        let dropping = Arc::new(AtomicU64::new(0));
        let d = Arc::clone(&dropping);
        signal
            .connect_with(
                ConnectOptions::new().policy(Policy::DropOldest),
                move |_: &u32| {
                    d.fetch_add(1, Ordering::SeqCst);
                },
            )
            .unwrap();
        signal.emit(0).unwrap();
        started.recv_timeout(LONG).unwrap();
        for v in 1..100 {
            signal.emit(v).unwrap();
        }
        thread::sleep(Duration::from_millis(20));
        assert!(conn.disconnect());
        release.send(()).unwrap();
        signal.shutdown(LONG).unwrap();
        assert_eq!(*seen.lock().unwrap(), [0]);
        assert_eq!(dropping.load(Ordering::SeqCst), 100);
    });
}

/// Control: a subscription made before anything, on a signal whose only
/// blocking listener is slow, ends with `Closed` after `shutdown` and not
/// before its events.
#[test]
fn subscription_gets_closed_only_after_its_events() {
    within(Duration::from_secs(6), || {
        let signal = per_listener(4, 2);
        let mut sub = signal.subscribe();
        let slow = connect_slow(&signal);
        signal.emit(0).unwrap();
        slow.started.recv_timeout(LONG).unwrap();
        signal.emit(1).unwrap();
        signal.close();
        assert_eq!(*sub.recv_timeout(LONG).unwrap(), 0);
        assert_eq!(*sub.recv_timeout(LONG).unwrap(), 1);
        assert_eq!(sub.try_recv().map(|v| *v), Err(TryRecvError::Empty));
        slow.release.send(()).unwrap();
        assert_eq!(
            sub.recv_timeout(LONG).map(|v| *v),
            Err(RecvTimeoutError::Closed)
        );
    });
}

/// Control: after each emitter's `flush`, every blocking listener has seen
/// that emitter's last event (flush waits for every lane, with batches in
/// flight and the drainer idle or parked).
#[test]
fn flush_waits_for_every_lane() {
    within(Duration::from_secs(10), || {
        for capacity in [2, 33, 64] {
            for threads in [1, 2] {
                const EMITTERS: usize = 3;
                let signal = Arc::new(
                    AsyncSignal::<(usize, u64)>::builder()
                        .pool(pool(threads))
                        .ordering(DeliveryOrder::PerListener)
                        .capacity(capacity)
                        .build()
                        .unwrap(),
                );
                let mut lasts = Vec::new();
                for l in 0..3 {
                    let last: Arc<Vec<AtomicU64>> =
                        Arc::new((0..EMITTERS).map(|_| AtomicU64::new(0)).collect());
                    let seen = Arc::clone(&last);
                    signal.connect(move |&(e, i): &(usize, u64)| {
                        if l == 0 && i % 16 == 0 {
                            thread::sleep(Duration::from_micros(200)); // a slower lane
                        }
                        seen[e].store(i, Ordering::SeqCst);
                    });
                    lasts.push(last);
                }
                let lasts = Arc::new(lasts);
                let handles: Vec<_> = (0..EMITTERS)
                    .map(|e| {
                        let (signal, lasts) = (Arc::clone(&signal), Arc::clone(&lasts));
                        thread::spawn(move || {
                            for i in 1..=150u64 {
                                signal.emit((e, i)).unwrap();
                                if i % 10 == 0 {
                                    signal.flush().unwrap();
                                    for last in lasts.iter() {
                                        let got = last[e].load(Ordering::SeqCst);
                                        assert_eq!(
                                            got, i,
                                            "capacity {capacity}, {threads} thread(s)"
                                        );
                                    }
                                }
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
                let stats = signal.stats();
                assert_eq!(
                    (stats.pending, stats.emitted, stats.delivered),
                    (0, 450, 1350)
                );
            }
        }
    });
}

/// Control: `stats()` read while lanes deliver: `emitted` and `delivered`
/// never go down, `pending <= capacity`, `delivered <= completed * 3`.
#[test]
fn stats_stay_consistent_while_lanes_deliver() {
    within(Duration::from_secs(6), || {
        let signal = Arc::new(
            AsyncSignal::<u32>::builder()
                .pool(pool(2))
                .capacity(33)
                .build()
                .unwrap(),
        );
        for _ in 0..3 {
            signal.connect(|_: &u32| {});
        }
        let s = Arc::clone(&signal);
        let emitter = thread::spawn(move || {
            for v in 0..20_000 {
                s.emit(v).unwrap();
            }
        });
        let (mut emitted, mut delivered) = (0, 0);
        while !emitter.is_finished() {
            let stats = signal.stats();
            assert!(
                stats.emitted >= emitted && stats.delivered >= delivered,
                "{stats:?}"
            );
            assert!(stats.pending <= 33, "{stats:?}");
            let completed = stats.emitted - stats.pending as u64;
            assert!(stats.delivered <= completed * 3, "{stats:?}");
            (emitted, delivered) = (stats.emitted, stats.delivered);
        }
        emitter.join().unwrap();
        signal.shutdown(LONG).unwrap();
        let stats = signal.stats();
        assert_eq!(
            (stats.emitted, stats.delivered, stats.pending),
            (20_000, 60_000, 0)
        );
    });
}

/// Control: once `disconnect_wait` returns (from outside), the listener is
/// never called again, while its lane has batches in flight.
#[test]
fn disconnect_wait_from_outside_is_final() {
    within(Duration::from_secs(6), || {
        let signal = Arc::new(per_listener(256, 2));
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let conn = signal.connect(move |_: &u32| {
            c.fetch_add(1, Ordering::SeqCst);
            thread::sleep(Duration::from_micros(50));
        });
        signal.connect(|_: &u32| {});
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&signal), Arc::clone(&stop));
        let emitter = thread::spawn(move || {
            let mut v = 0;
            while !st.load(Ordering::SeqCst) {
                let _ = s.emit(v);
                v += 1;
            }
        });
        thread::sleep(Duration::from_millis(30));
        assert_eq!(conn.disconnect_wait(), Ok(true));
        let seen = calls.load(Ordering::SeqCst);
        thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::SeqCst);
        emitter.join().unwrap();
        signal.shutdown(LONG).unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), seen);
    });
}

/// Second review: a signal's only listener that subscribes (or connects a
/// second listener) and waits for an event it emits itself gets it. When
/// the lone listener ran inside the drainer, nothing took the event off
/// the queue while it waited, and this hung.
#[test]
fn a_lone_listener_waiting_for_a_reader_it_made_does_not_hang() {
    within(Duration::from_secs(6), || {
        let signal = Arc::new(per_listener(64, 2));
        let (tx, rx) = mpsc::channel();
        let weak = Arc::downgrade(&signal);
        let tx = Mutex::new(tx);
        signal.connect(move |v: &u32| {
            if *v != 0 {
                return;
            }
            let Some(signal) = weak.upgrade() else { return };
            let mut sub = signal.subscribe();
            let (seen_tx, seen_rx) = mpsc::channel();
            let seen_tx = Mutex::new(seen_tx);
            let _conn = signal.connect(move |v: &u32| {
                let _ = seen_tx.lock().unwrap().send(*v);
            });
            signal.emit(1).unwrap();
            let got = sub.recv_timeout(LONG).map(|v| *v).ok();
            let seen = seen_rx.recv_timeout(LONG).ok();
            let _ = tx.lock().unwrap().send((got, seen));
        });
        signal.emit(0).unwrap();
        assert_eq!(rx.recv_timeout(LONG).unwrap(), (Some(1), Some(1)));
        signal.flush().unwrap();
    });
}
