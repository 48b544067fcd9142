//! Blocking listeners on lanes (`src/async_signal/lane.rs`): the drainer
//! publishes batches, each blocking listener's job delivers them in order,
//! and the lane that finishes a batch restarts a drainer that went idle
//! meanwhile, or nudges a running one (the state word's `NUDGED` bit).
//! A signal's only blocking listener runs on the drainer when nothing else
//! reads its events, so the models give it company (a subscription, or a
//! second listener) to put it on a lane of its own.
//!
//! A lost wake-up on either side leaves a batch undelivered or unfinished,
//! so its events stay pending and the flush sleeps forever: loom reports
//! the deadlock. A lane reading a batch the drainer reuses is a race on its
//! cells, which loom reports too.
//!
//! Each model ends by dropping the signal and waiting until the listeners'
//! closures are freed (see `policies.rs`).

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::{AsyncSignal, TryRecvError};

fn counting(signal: &AsyncSignal<u32>) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    signal.connect(move |_: &u32| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    calls
}

/// Runs `f` with at least three preemptions: the lost wake-up of a lane
/// that goes idle needs three (the lane looks, the drainer publishes and
/// wakes it, the lane clears its flag).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.map(|bound| bound.max(3));
    builder.check(f);
}

fn settle(calls: &Arc<AtomicUsize>) {
    while Arc::strong_count(calls) > 1 {
        thread::yield_now();
    }
}

/// One lane going idle after a batch, against the drainer publishing the
/// next; the lane's finish of each batch against the drainer going idle.
/// Both events are delivered, both batches finished, and the flush
/// returns; the subscription (which keeps the listener on its lane) gets
/// both too.
#[test]
fn a_lane_going_idle_against_the_next_batch_loses_nothing() {
    model(|| {
        let signal = AsyncSignal::<u32>::builder().capacity(2).build().unwrap();
        let calls = counting(&signal);
        let mut sub = signal.subscribe();
        signal.emit(1).unwrap();
        signal.emit(2).unwrap();
        signal.flush().unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(signal.stats().pending, 0);
        assert_eq!(*sub.try_recv().unwrap(), 1);
        assert_eq!(*sub.try_recv().unwrap(), 2);
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
        drop(signal);
        settle(&calls);
    });
}

/// Two lanes finishing one batch: exactly one of them sees `remaining`
/// fall to 0 and nudges; the batch is finished once, with both calls.
#[test]
fn two_lanes_finish_a_batch_once() {
    loom::model(|| {
        let signal = AsyncSignal::<u32>::builder().capacity(2).build().unwrap();
        let a = counting(&signal);
        let b = counting(&signal);
        signal.emit(1).unwrap();
        signal.flush().unwrap();
        assert_eq!(
            (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed)),
            (1, 1)
        );
        let stats = signal.stats();
        assert_eq!((stats.emitted, stats.delivered, stats.pending), (1, 2, 0));
        drop(signal);
        settle(&a);
        settle(&b);
    });
}
