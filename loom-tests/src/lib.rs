//! Helpers the models in `tests/` share. The models themselves live there,
//! one file per race; this is what several of them would otherwise write
//! again.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use sigwire::{Connection, SyncSignal};

/// Connects to `signal` a listener that counts its calls in `calls`
/// (relaxed: the models read it after joining, or order it themselves).
pub fn counting<T: 'static>(signal: &SyncSignal<T>, calls: &Arc<AtomicUsize>) -> Connection {
    let calls = Arc::clone(calls);
    signal.connect(move |_: &T| {
        // Relaxed: read after join (or ordered by the model).
        calls.fetch_add(1, Ordering::Relaxed);
    })
}
