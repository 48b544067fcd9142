//! Circles of waits between two `AsyncSignal`s' deliveries
//! (`src/async_signal/waits.rs`): A's listener emits into B under
//! `Overflow::Block` and B's into A, capacity 1 each, while the main thread
//! emits into both. When both deliveries wait for room at once, no wait
//! could ever end: the second to list its wait must see the circle and be
//! refused, so that every thread finishes. Without the check, loom reports
//! the schedule where both wait (every thread blocked, or a drainer
//! spinning for room forever).

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use sigwire::{AsyncSignal, Overflow, RejectReason};

type Holder = std::sync::Mutex<Option<Arc<AsyncSignal<u32>>>>;

/// Forwards its first event to the signal in `next` (taken out, so that no
/// reference cycle outlives the model; a std mutex, never held across a
/// loom operation), counting a refusal in `refused`.
fn forward(next: Holder, refused: Arc<AtomicUsize>) -> impl Fn(&u32) + Send + Sync + 'static {
    move |v: &u32| {
        if *v != 1 {
            return;
        }
        let taken = next.lock().unwrap().take();
        if let Some(next) = taken {
            match next.emit(2) {
                Ok(()) => {}
                Err(rejected) => {
                    assert_eq!(rejected.reason(), RejectReason::Circle);
                    // Relaxed: read after both flushes.
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// One preemption: a circle needs none (both deliveries run into each
/// other's full queue as scheduled), and at two the model explores three
/// million executions (7.5 minutes) since every blocking listener runs on
/// a lane of its own; at one it explores 52 000 and still fails without
/// the circle check.
#[test]
fn blocking_emits_in_a_circle_all_end() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let build = || {
            Arc::new(
                AsyncSignal::<u32>::builder()
                    .capacity(1)
                    .overflow(Overflow::Block)
                    .build()
                    .unwrap(),
            )
        };
        let (a, b) = (build(), build());
        let refused = Arc::new(AtomicUsize::new(0));
        a.connect(forward(
            std::sync::Mutex::new(Some(b.clone())),
            refused.clone(),
        ));
        b.connect(forward(
            std::sync::Mutex::new(Some(a.clone())),
            refused.clone(),
        ));
        a.emit(1).unwrap();
        b.emit(1).unwrap();
        a.flush().unwrap();
        b.flush().unwrap();
        a.flush().unwrap();
        // Relaxed: the flushes ordered every delivery before this.
        assert!(refused.load(Ordering::Relaxed) <= 1);
    });
}
