//! Nested emits: the workload of `benches/nested.rs`, shared with
//! the report (`benches/report/`).

#![allow(dead_code)] // each user takes what it needs

use std::hint::black_box;
use std::sync::Arc;

use sigwire::SyncSignal;

/// `depth` signals, each with one listener that emits on the next; the
/// last listener does the work. Returns the signals (the first is emitted
/// on) to keep them alive.
pub(crate) fn signal_chain(depth: usize) -> Vec<Arc<SyncSignal<u64>>> {
    let signals: Vec<Arc<SyncSignal<u64>>> =
        (0..depth).map(|_| Arc::new(SyncSignal::new())).collect();
    for pair in signals.windows(2) {
        let next = Arc::clone(&pair[1]);
        pair[0].connect(move |v: &u64| next.emit(v));
    }
    signals[depth - 1].connect(|v: &u64| {
        black_box(*v);
    });
    signals
}
