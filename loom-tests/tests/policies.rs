//! Listeners with a dropping policy: each reads the signal's ring on a job
//! of its own (`src/async_signal/cursor.rs`).
//!
//! A job that goes idle while the drainer moves an event in must either see
//! the event or be restarted by the drainer; a flush that waits for the
//! cursors must be woken by the job's progress. A lost wake-up leaves the
//! event undelivered and the flush asleep: loom reports the deadlock.
//!
//! Each model ends by dropping the signal and waiting until the listener's
//! closure is freed, which happens only once every job let go of the
//! signal: loom tears a model's thread-local records down when its main
//! thread returns, and a job still retiring would touch them.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::{AsyncSignal, ConnectOptions, Policy};

fn counting(signal: &AsyncSignal<u32>, policy: Policy) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    signal
        .connect_with(ConnectOptions::new().policy(policy), move |_: &u32| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    calls
}

/// Waits until the listener's closure (the other holder of `calls`) is
/// freed: every job is done with the signal.
fn settle(calls: &Arc<AtomicUsize>) {
    while Arc::strong_count(calls) > 1 {
        thread::yield_now();
    }
}

/// The cursor's job going idle after the first event, against the
/// drainer moving the second in and waking it; then a flush that waits for
/// the cursor. Both events are delivered and the flush returns.
#[test]
fn a_job_going_idle_against_the_next_event_leaves_no_event_behind() {
    for policy in [Policy::DropOldest, Policy::DropNewest] {
        loom::model(move || {
            let signal = AsyncSignal::<u32>::builder().capacity(2).build().unwrap();
            let calls = counting(&signal, policy);
            signal.emit(1).unwrap();
            signal.emit(2).unwrap();
            signal.flush().unwrap();
            assert_eq!(calls.load(Ordering::Relaxed), 2);
            drop(signal);
            settle(&calls);
        });
    }
}

/// `close` against the drainer and the cursor's job: the event accepted
/// before the close is delivered, and a flush after it returns.
#[test]
fn close_against_the_jobs_loses_nothing_accepted() {
    loom::model(|| {
        let signal = AsyncSignal::<u32>::builder().capacity(2).build().unwrap();
        let calls = counting(&signal, Policy::DropOldest);
        signal.emit(1).unwrap();
        signal.close();
        signal.flush().unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        drop(signal);
        settle(&calls);
    });
}
