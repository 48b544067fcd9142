//! Subscriptions: cursors the caller drives over a signal's broadcast ring
//! (`src/ring/`). tokio's lag semantics (ported from its broadcast suite),
//! closing, waiting, and what a subscription costs the emit path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{RecvError, RecvTimeoutError, SubscribeError, SyncSignal, TryRecvError};

#[test]
fn a_new_subscription_starts_at_the_tail() {
    let signal = SyncSignal::<u32>::new();
    let mut early = signal.subscribe();
    signal.emit(&1);
    let mut late = signal.subscribe();
    signal.emit(&2);
    assert_eq!(*early.recv().unwrap(), 1);
    assert_eq!(*early.recv().unwrap(), 2);
    assert_eq!(*late.recv().unwrap(), 2, "the late one never sees 1");
    assert_eq!(late.try_recv().unwrap_err(), TryRecvError::Empty);
}

/// tokio's `lagging_rx`: capacity 2, three sends; the lagging receiver
/// reports one missed event and goes on from the oldest kept.
#[test]
fn a_lagging_subscription_recovers_from_the_oldest_event_kept() {
    let signal = SyncSignal::<&'static str>::new();
    let mut fast = signal.subscribe_with(2).unwrap();
    let mut slow = signal.subscribe();
    signal.emit(&"one");
    signal.emit(&"two");
    assert_eq!(*fast.recv().unwrap(), "one");
    signal.emit(&"three");
    assert_eq!(*fast.recv().unwrap(), "two");
    assert_eq!(*fast.recv().unwrap(), "three");

    assert_eq!(slow.recv().unwrap_err(), RecvError::Lagged(1));
    assert_eq!(*slow.recv().unwrap(), "two");
    assert_eq!(*slow.recv().unwrap(), "three");
    assert_eq!(slow.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!((fast.dropped(), slow.dropped()), (0, 1));
}

/// The lag count is the number of events overwritten before the
/// subscription read them, over many laps.
#[test]
fn the_lag_count_is_the_number_of_overwritten_events() {
    let signal = SyncSignal::<u64>::new();
    let mut sub = signal.subscribe_with(8).unwrap();
    let mut next = 0u64;
    for round in 1..50u64 {
        let burst = round * 3; // from under a lap to many laps
        for _ in 0..burst {
            signal.emit(&next);
            next += 1;
        }
        let mut received = Vec::new();
        let mut missed = 0;
        loop {
            match sub.try_recv() {
                Ok(v) => received.push(*v),
                Err(TryRecvError::Lagged(n)) => missed += n,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => unreachable!(),
            }
        }
        let kept = burst.min(8);
        assert_eq!(missed, burst - kept, "round {round}");
        assert_eq!(
            received,
            (next - kept..next).collect::<Vec<_>>(),
            "round {round}"
        );
    }
    assert_eq!(
        sub.dropped(),
        (1..50u64).map(|r| (r * 3).saturating_sub(8)).sum()
    );
}

#[test]
fn subscriptions_end_with_closed_after_the_last_event() {
    let signal = SyncSignal::<u32>::new();
    let mut sub = signal.subscribe();
    signal.emit(&1);
    signal.emit(&2);
    drop(signal);
    assert_eq!(*sub.recv().unwrap(), 1);
    assert_eq!(*sub.try_recv().unwrap(), 2);
    assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(
        sub.recv_timeout(Duration::from_secs(1)).unwrap_err(),
        RecvTimeoutError::Closed
    );
}

#[test]
fn a_lagging_subscription_reports_the_lag_then_closed() {
    let signal = SyncSignal::<u32>::new();
    let mut sub = signal.subscribe_with(1).unwrap();
    signal.emit(&1);
    signal.emit(&2);
    drop(signal);
    assert_eq!(sub.recv().unwrap_err(), RecvError::Lagged(1));
    assert_eq!(*sub.recv().unwrap(), 2);
    assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
}

#[test]
fn a_blocked_recv_wakes_for_an_event_and_for_the_close() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let mut sub = signal.subscribe();
    let waiter = thread::spawn(move || {
        let first = *sub.recv().unwrap();
        let end = sub.recv().unwrap_err();
        (first, end)
    });
    thread::sleep(Duration::from_millis(50)); // the waiter sleeps by now
    signal.emit(&7);
    thread::sleep(Duration::from_millis(50));
    drop(Arc::try_unwrap(signal).unwrap());
    assert_eq!(waiter.join().unwrap(), (7, RecvError::Closed));
}

#[test]
fn recv_timeout_waits_about_the_timeout() {
    let signal = SyncSignal::<u32>::new();
    let mut sub = signal.subscribe();
    let start = Instant::now();
    let err = sub.recv_timeout(Duration::from_millis(30)).unwrap_err();
    assert_eq!(err, RecvTimeoutError::Timeout);
    assert!(start.elapsed() >= Duration::from_millis(30));
    // A timeout too large for an `Instant` waits without one.
    let signal = Arc::new(signal);
    let emitter = thread::spawn({
        let signal = Arc::clone(&signal);
        move || {
            thread::sleep(Duration::from_millis(20));
            signal.emit(&3);
        }
    });
    assert_eq!(*sub.recv_timeout(Duration::MAX).unwrap(), 3);
    emitter.join().unwrap();
}

#[test]
fn subscriptions_are_not_listeners_and_clear_keeps_them() {
    let signal = SyncSignal::<u32>::new();
    let mut sub = signal.subscribe();
    assert_eq!(signal.len(), 0);
    assert!(signal.is_empty());
    let conn = signal.connect(|_: &u32| {});
    assert_eq!(signal.len(), 1);
    signal.clear();
    assert!(!conn.is_connected());
    assert!(signal.is_empty());
    signal.emit(&5);
    assert_eq!(*sub.recv().unwrap(), 5, "clear does not end a subscription");
}

/// An event whose `Clone` panics for the value 1.
#[derive(Debug)]
struct Fragile(u32);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        assert!(self.0 != 1, "clone refused");
        Fragile(self.0)
    }
}

/// A counted clone: how many times the feeder cloned.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::Relaxed);
        Counted(Arc::clone(&self.0))
    }
}

#[test]
fn one_clone_per_emit_whatever_the_subscribers_and_none_without_them() {
    let clones = Arc::new(AtomicUsize::new(0));
    let event = Counted(Arc::clone(&clones));
    let signal = SyncSignal::<Counted>::new();
    let subs: Vec<_> = (0..5).map(|_| signal.subscribe()).collect();
    for _ in 0..10 {
        signal.emit(&event);
    }
    assert_eq!(
        clones.load(Ordering::Relaxed),
        10,
        "one clone per emit for 5 subscriptions"
    );
    drop(subs);
    for _ in 0..10 {
        signal.emit(&event);
    }
    assert_eq!(
        clones.load(Ordering::Relaxed),
        10,
        "no clone without a subscription"
    );
    let _again = signal.subscribe();
    signal.emit(&event);
    assert_eq!(clones.load(Ordering::Relaxed), 11);
}

#[test]
fn subscribe_with_checks_its_capacity() {
    let signal = SyncSignal::<u8>::new();
    assert_eq!(
        signal.subscribe_with(0).unwrap_err(),
        SubscribeError::ZeroCapacity
    );
    assert!(matches!(
        signal.subscribe_with(usize::MAX).unwrap_err(),
        SubscribeError::CapacityTooLarge { .. }
    ));
    let first = signal.subscribe_with(5).unwrap();
    assert_eq!(first.capacity(), 8);
    assert!(
        signal.subscribe_with(7).is_ok(),
        "7 rounds up to the same 8"
    );
    assert_eq!(
        signal.subscribe().capacity(),
        8,
        "subscribe joins the ring in force"
    );
    assert_eq!(
        signal.subscribe_with(9).unwrap_err(),
        SubscribeError::CapacityFixed {
            requested: 9,
            capacity: 8
        }
    );
    assert_eq!(
        signal.subscribe_with(0).unwrap_err(),
        SubscribeError::ZeroCapacity
    );
    let other = SyncSignal::<u8>::new();
    assert_eq!(
        other.subscribe().capacity(),
        sigwire::DEFAULT_SUBSCRIPTION_CAPACITY
    );
}

/// An event whose `Drop` panics once asked to.
struct Bomb {
    armed: bool,
}

impl Clone for Bomb {
    fn clone(&self) -> Self {
        Bomb { armed: self.armed }
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed && !thread::panicking() {
            panic!("bomb");
        }
    }
}

/// A panicking `Drop` of the event a reused slot held: caught, counted in
/// `error_count`, and the emit goes on (its listeners run, the new event
/// is in the ring).
#[test]
fn a_panicking_drop_of_a_replaced_event_is_counted_and_the_emit_goes_on() {
    let signal = SyncSignal::<Bomb>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    signal.connect(move |_: &Bomb| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let mut sub = signal.subscribe_with(1).unwrap();
    let armed = Bomb { armed: true };
    signal.emit(&armed); // held by the ring
    let _ = sub.recv().unwrap(); // read and let go: the slot's `Arc` is unique again
    let unarmed = Bomb { armed: false };
    signal.emit(&unarmed); // drops the ring's armed copy: it panics, caught
    assert_eq!(signal.error_count(), 1);
    assert_eq!(calls.load(Ordering::Relaxed), 2, "the listener got both");
    assert!(
        sub.recv().is_ok(),
        "the new event was published before the drop"
    );
    std::mem::forget(armed);
}

/// A clone that panics: caught and counted, the listeners get the event,
/// and the subscriptions are told they lagged by one.
#[test]
fn a_panicking_clone_is_counted_and_reported_as_a_lag() {
    let signal = SyncSignal::<Fragile>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    signal.connect(move |_: &Fragile| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let mut sub = signal.subscribe();
    for v in 0..3 {
        signal.emit(&Fragile(v));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(signal.error_count(), 1);
    assert_eq!(sub.try_recv().unwrap().0, 0);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Lagged(1));
    assert_eq!(sub.try_recv().unwrap().0, 2);
    assert_eq!(sub.dropped(), 1);
}

#[test]
fn a_subscription_gets_the_event_even_if_a_listener_panics() {
    let signal = SyncSignal::<u32>::new();
    signal.connect(|_: &u32| panic!("listener"));
    let mut sub = signal.subscribe();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| signal.emit(&1)));
    assert!(caught.is_err());
    assert_eq!(*sub.recv().unwrap(), 1);
}

#[test]
fn signal_filters_apply_to_subscriptions() {
    let signal = SyncSignal::<u32>::new();
    let _filter = signal.add_filter(|v: &u32| v % 2 == 0);
    let mut sub = signal.subscribe();
    for v in 0..6 {
        signal.emit(&v);
    }
    let got: Vec<u32> = std::iter::from_fn(|| sub.try_recv().ok().map(|v| *v)).collect();
    assert_eq!(got, [0, 2, 4]);
}

/// Several emitting threads and subscriptions that read at different
/// paces (one never waits, one sleeps now and then), with subscriptions
/// made and dropped meanwhile: for each, received + missed = emitted since
/// it started, and each emitter's events arrive in its order.
#[test]
fn accounting_is_exact_under_concurrent_emitters_and_readers() {
    const EMITTERS: u64 = 2;
    const PER_EMITTER: u64 = 20_000;
    let signal = Arc::new(SyncSignal::<(u64, u64)>::new());
    let subs: Vec<_> = (0..3).map(|_| signal.subscribe_with(64).unwrap()).collect();
    let start = Arc::new(Barrier::new(EMITTERS as usize + subs.len() + 1));
    let readers: Vec<_> = subs
        .into_iter()
        .enumerate()
        .map(|(reader, mut sub)| {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let mut last: HashMap<u64, u64> = HashMap::new();
                let (mut received, mut missed) = (0u64, 0u64);
                loop {
                    match sub.recv() {
                        Ok(item) => {
                            let (emitter, seq) = *item;
                            if let Some(&before) = last.get(&emitter) {
                                assert!(seq > before, "emitter {emitter}: {seq} after {before}");
                            }
                            last.insert(emitter, seq);
                            received += 1;
                            if reader == 1 && received % 1000 == 0 {
                                thread::sleep(Duration::from_millis(1));
                            }
                        }
                        Err(RecvError::Lagged(n)) => missed += n,
                        Err(RecvError::Closed) => break,
                    }
                }
                assert_eq!(missed, sub.dropped());
                (received, missed)
            })
        })
        .collect();
    let churn = {
        let signal = Arc::clone(&signal);
        let start = Arc::clone(&start);
        thread::spawn(move || {
            start.wait();
            for _ in 0..200 {
                let mut sub = signal.subscribe();
                let _ = sub.try_recv();
            }
        })
    };
    let emitters: Vec<_> = (0..EMITTERS)
        .map(|emitter| {
            let signal = Arc::clone(&signal);
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                for seq in 0..PER_EMITTER {
                    signal.emit(&(emitter, seq));
                }
            })
        })
        .collect();
    for e in emitters {
        e.join().unwrap();
    }
    churn.join().unwrap();
    drop(Arc::try_unwrap(signal).unwrap());
    let mut lagged = 0;
    for (i, reader) in readers.into_iter().enumerate() {
        let (received, missed) = reader.join().unwrap();
        eprintln!("subscription {i}: {received} received, {missed} missed");
        assert_eq!(received + missed, EMITTERS * PER_EMITTER);
        lagged += missed;
    }
    assert!(
        lagged > 0,
        "the sleeping subscription lags: the lag path ran"
    );
}

mod async_signal {
    use super::*;
    use sigwire::{AsyncSignal, DeliveryOrder, Overflow};

    fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn subscriptions_see_the_emit_order_under_unordered_delivery() {
        let signal = AsyncSignal::<u64>::builder()
            .pool(pool(4))
            .ordering(DeliveryOrder::Unordered)
            .capacity(4096)
            .build()
            .unwrap();
        for _ in 0..4 {
            signal.connect(|_: &u64| {});
        }
        let mut sub = signal.subscribe();
        for v in 0..3000 {
            signal.emit(v).unwrap();
        }
        signal.flush().unwrap();
        for v in 0..3000 {
            assert_eq!(*sub.try_recv().unwrap(), v);
        }
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
    }

    #[test]
    fn close_ends_subscriptions_after_the_events_accepted_before() {
        let signal = AsyncSignal::<u32>::new();
        let mut sub = signal.subscribe();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Mutex::new(rx);
        signal.connect(move |_: &u32| {
            let _ = rx.lock().unwrap().recv_timeout(Duration::from_secs(5));
        });
        signal.emit(1).unwrap(); // held in its delivery by the listener
        signal.emit(2).unwrap();
        signal.close();
        tx.send(()).unwrap();
        tx.send(()).unwrap();
        assert_eq!(*sub.recv().unwrap(), 1);
        assert_eq!(*sub.recv().unwrap(), 2);
        assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
        // A subscription made after the close and the last delivery ends
        // at once.
        signal.flush().unwrap();
        assert_eq!(signal.subscribe().recv().unwrap_err(), RecvError::Closed);
    }

    #[test]
    fn a_first_subscription_after_close_ends_at_once() {
        let signal = AsyncSignal::<u32>::new();
        signal.close();
        let mut sub = signal.subscribe();
        assert_eq!(
            sub.recv_timeout(Duration::from_secs(5)).unwrap_err(),
            RecvTimeoutError::Closed
        );
    }

    #[test]
    fn dropping_the_signal_ends_subscriptions_after_the_pending_events() {
        let signal = AsyncSignal::<u32>::new();
        let mut sub = signal.subscribe();
        signal.connect(|_: &u32| thread::sleep(Duration::from_millis(1)));
        for v in 0..20 {
            signal.emit(v).unwrap();
        }
        drop(signal); // 20 events may still be pending
        for v in 0..20 {
            assert_eq!(*sub.recv().unwrap(), v);
        }
        assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
    }

    #[test]
    fn emit_collect_events_reach_subscriptions_too() {
        let signal = AsyncSignal::<u32>::new();
        let mut sub = signal.subscribe();
        signal.emit_collect(5).unwrap();
        assert_eq!(*sub.recv().unwrap(), 5);
    }

    #[test]
    fn a_subscription_that_never_reads_never_holds_the_signal_back() {
        let signal = AsyncSignal::<u32>::builder()
            .capacity(4)
            .overflow(Overflow::Reject)
            .build()
            .unwrap();
        let mut idle = signal.subscribe();
        for v in 0..100 {
            // Room comes back as the drainer delivers; a full queue is the
            // listeners', never the subscription's, doing.
            while signal.emit(v).is_err() {
                signal.flush().unwrap();
            }
        }
        signal.flush().unwrap();
        assert_eq!(idle.recv().unwrap_err(), RecvError::Lagged(96));
        assert_eq!(*idle.recv().unwrap(), 96);
        assert_eq!(
            signal.stats().delivered,
            0,
            "no listener: nothing delivered"
        );
        assert_eq!(signal.stats().emitted, 100);
    }

    /// The ring stores the event the queue held (moved, not cloned): a
    /// type whose `Clone` panics is never cloned, and one without `Clone`
    /// can be subscribed to.
    #[test]
    fn events_are_moved_into_the_ring_not_cloned() {
        let signal = AsyncSignal::<Fragile>::new();
        let delivered = Arc::new(AtomicUsize::new(0));
        let d = Arc::clone(&delivered);
        signal.connect(move |_: &Fragile| {
            d.fetch_add(1, Ordering::Relaxed);
        });
        let mut sub = signal.subscribe();
        for v in 0..3 {
            signal.emit(Fragile(v)).unwrap();
        }
        signal.flush().unwrap();
        assert_eq!(delivered.load(Ordering::Relaxed), 3);
        assert_eq!(signal.stats().panicked, 0, "no clone was made");
        for v in 0..3 {
            assert_eq!(sub.try_recv().unwrap().0, v);
        }

        struct NotClone(u32);
        let plain = AsyncSignal::<NotClone>::new();
        let mut sub = plain.subscribe();
        plain.emit(NotClone(7)).unwrap();
        assert_eq!(sub.recv().unwrap().0, 7);
    }
}

mod topics {
    use super::*;
    use sigwire::bus::Topics;

    #[test]
    fn a_topic_subscription_gets_the_matching_events_with_their_topics() {
        let topics = Topics::<u32>::new();
        assert!(topics.subscribe("a..b").is_err());
        let mut sub = topics.subscribe("job.>").unwrap();
        assert_eq!(topics.len(), 1, "a topic subscription is a listener");
        topics.emit("job.done", &1).unwrap();
        topics.emit("other", &2).unwrap();
        topics.emit("job.x.failed", &3).unwrap();
        let a = sub.recv().unwrap();
        let b = sub.recv().unwrap();
        assert_eq!((a.topic(), *a.event()), ("job.done", 1));
        assert_eq!((b.topic(), *b.event()), ("job.x.failed", 3));
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
        drop(sub);
        assert_eq!(topics.len(), 0, "dropping it disconnects its listener");
    }

    #[test]
    fn a_topic_subscription_lags_and_ends_with_the_topics() {
        let topics = Topics::<u32>::new();
        let mut sub = topics.subscribe("t").unwrap();
        let capacity = sub.capacity() as u32;
        for v in 0..capacity + 3 {
            topics.emit("t", &v).unwrap();
        }
        drop(topics);
        assert_eq!(sub.recv().unwrap_err(), RecvError::Lagged(3));
        assert_eq!(*sub.recv().unwrap().event(), 3);
        let rest = std::iter::from_fn(|| sub.recv().ok()).count();
        assert_eq!(rest as u32, capacity - 1);
        assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
    }
}

#[test]
fn a_topic_subscriptions_panicking_clone_leaves_the_other_listeners_their_event() {
    use sigwire::bus::Topics;
    let topics = Topics::<Fragile>::new();
    let mut sub = topics.subscribe("t").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    topics
        .connect("t", move |_: &str, _: &Fragile| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    for v in 0..3 {
        topics.emit("t", &Fragile(v)).unwrap();
    }
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(topics.error_count(), 1);
    assert_eq!(sub.try_recv().unwrap().event().0, 0);
    assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Lagged(1));
    assert_eq!(sub.try_recv().unwrap().event().0, 2);
}
