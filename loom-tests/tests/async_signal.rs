//! `AsyncSignal`'s protocols: the state word (capacity, close, the
//! drainer going idle, flush epochs, waiters), the queue and the drainer.
//! Under `--cfg loom` the drainer runs on a loom thread (sigwire's shim), so
//! every schedule of emitters, drainers, flushers and closers is explored.
//!
//! A lost wake-up (an event accepted while no drainer will ever take it, or
//! a waiter nobody wakes) leaves a thread blocked forever: loom reports it
//! as a deadlock. The test's own atomics are Relaxed: every ordering the
//! assertions need must come from sigwire.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::{AsyncSignal, Overflow, RejectReason};

/// A signal of `capacity` whose one listener adds each value to `sum` and
/// counts its calls in `calls`.
fn counting(capacity: usize, overflow: Overflow) -> (AsyncSignal<usize>, Arc<Counts>) {
    let signal = AsyncSignal::builder()
        .capacity(capacity)
        .overflow(overflow)
        .build()
        .unwrap();
    let counts = Arc::new(Counts {
        calls: AtomicUsize::new(0),
        sum: AtomicUsize::new(0),
    });
    let c = counts.clone();
    signal.connect(move |v: &usize| {
        c.calls.fetch_add(1, Ordering::Relaxed);
        c.sum.fetch_add(*v, Ordering::Relaxed);
    });
    (signal, counts)
}

struct Counts {
    calls: AtomicUsize,
    sum: AtomicUsize,
}

impl Counts {
    fn read(&self) -> (usize, usize) {
        (
            self.calls.load(Ordering::Relaxed),
            self.sum.load(Ordering::Relaxed),
        )
    }
}

/// No lost wake-up: two threads emit while the drainer may be going idle;
/// `flush` (which needs both events delivered) returns, and both were
/// delivered exactly once.
#[test]
fn concurrent_emits_are_all_delivered() {
    loom::model(|| {
        let (signal, counts) = counting(2, Overflow::Reject);
        let signal = Arc::new(signal);
        let other = {
            let signal = signal.clone();
            thread::spawn(move || signal.emit(1).unwrap())
        };
        signal.emit(2).unwrap();
        other.join().unwrap();
        signal.flush().unwrap();
        assert_eq!(counts.read(), (2, 3));
    });
}

/// `flush` returns only after every earlier emit was delivered, and what
/// the listener did is visible to the flusher. The drainer from the first
/// emit may be going idle while the second emit comes.
#[test]
fn flush_waits_for_earlier_emits() {
    loom::model(|| {
        let (signal, counts) = counting(2, Overflow::Reject);
        signal.emit(1).unwrap();
        signal.flush().unwrap();
        assert_eq!(counts.read(), (1, 1));
        signal.emit(2).unwrap();
        signal.flush().unwrap();
        assert_eq!(counts.read(), (2, 3));
    });
}

/// Two flushes race an emit: each returns only once the events accepted
/// before it are delivered; neither starves the other.
#[test]
fn concurrent_flushes() {
    loom::model(|| {
        let (signal, counts) = counting(2, Overflow::Reject);
        let signal = Arc::new(signal);
        signal.emit(1).unwrap();
        let other = {
            let (signal, counts) = (signal.clone(), counts.clone());
            thread::spawn(move || {
                signal.flush().unwrap();
                assert!(
                    counts.read().0 >= 1,
                    "flush returned before the first event"
                );
            })
        };
        signal.emit(2).unwrap();
        signal.flush().unwrap();
        assert_eq!(counts.read(), (2, 3));
        other.join().unwrap();
    });
}

/// `close` racing `emit`: the event is either delivered (emit returned Ok)
/// or handed back with `Closed` (and never delivered): never both, never
/// neither.
#[test]
fn close_races_emit() {
    loom::model(|| {
        let (signal, counts) = counting(1, Overflow::Reject);
        let signal = Arc::new(signal);
        let closer = {
            let signal = signal.clone();
            thread::spawn(move || signal.close())
        };
        let outcome = signal.emit(7);
        closer.join().unwrap();
        signal.shutdown(std::time::Duration::from_secs(60)).unwrap();
        match outcome {
            Ok(()) => assert_eq!(counts.read(), (1, 7)),
            Err(rejected) => {
                assert_eq!(rejected.reason(), RejectReason::Closed);
                assert_eq!(rejected.into_inner(), 7);
                assert_eq!(counts.read(), (0, 0));
            }
        }
        assert!(signal.emit(8).is_err(), "closed for good");
    });
}

/// A blocked emitter is woken when the drainer makes room (capacity 1):
/// no polling, so a lost wake-up would leave it blocked (a loom deadlock).
#[test]
fn blocked_emitter_is_woken() {
    loom::model(|| {
        let (signal, counts) = counting(1, Overflow::Block);
        signal.emit(1).unwrap();
        signal.emit(2).unwrap(); // waits for the first delivery
        signal.flush().unwrap();
        assert_eq!(counts.read(), (2, 3));
    });
}

/// A value sits in one queue slot until the drainer moves it out; the slot
/// is reused by the next emit (capacity 1) only after that. Each value is
/// delivered intact, once, and dropped once, after its delivery.
#[test]
fn task_slot_is_not_reused_while_read() {
    struct Tracked {
        value: usize,
        drops: Arc<AtomicUsize>,
    }
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
    }
    loom::model(|| {
        let signal = AsyncSignal::<Tracked>::builder()
            .capacity(1)
            .build()
            .unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        signal.connect(move |t: &Tracked| {
            // Each value's bit, once: a reused slot would show a value
            // twice, or one value's bit from another's delivery.
            let before = s.fetch_or(t.value, Ordering::Relaxed);
            assert_eq!(before & t.value, 0, "value {} delivered twice", t.value);
            assert_eq!(
                t.drops.load(Ordering::Relaxed),
                t.value - 1,
                "the earlier value is dropped before this one is delivered"
            );
        });
        for value in [1, 2] {
            let tracked = Tracked {
                value,
                drops: drops.clone(),
            };
            assert!(signal.emit(tracked).is_ok());
        }
        signal.flush().unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 0b11);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
    });
}

/// `PerListener`: one thread's events reach the listener in emit order,
/// also when the first drainer goes idle and a second one starts.
#[test]
fn per_listener_keeps_emit_order() {
    loom::model(|| {
        let signal = AsyncSignal::<usize>::builder()
            .capacity(2)
            .ordering(sigwire::DeliveryOrder::PerListener)
            .build()
            .unwrap();
        let last = Arc::new(AtomicUsize::new(0));
        let l = last.clone();
        signal.connect(move |v: &usize| {
            let before = l.swap(*v, Ordering::Relaxed);
            assert!(before < *v, "{v} delivered after {before}");
        });
        signal.emit(1).unwrap();
        signal.emit(2).unwrap();
        signal.flush().unwrap();
        assert_eq!(last.load(Ordering::Relaxed), 2);
    });
}
