//! Helpers shared by the integration tests: a `Kind` of signal that a
//! suite runs against (`tests/both_kinds.rs`), and counting listeners.

#![allow(dead_code)] // each test binary uses a part of it

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sigwire::{AsyncSignal, Listeners, SyncSignal};

/// A kind of signal, as a suite sees it: its `Listeners` (the shared API)
/// and an emit that returns once the event was delivered.
pub(crate) trait Kind: Deref<Target = Listeners<u32>> + Send + Sync + 'static {
    fn new() -> Self;
    /// Emits `value` and returns once every listener ran for it (or was
    /// skipped).
    fn deliver(&self, value: u32);
    /// Whether a listener's panic reaches the caller of the emit (sync), or
    /// is caught (async).
    const PANICS_REACH_THE_EMITTER: bool;
}

impl Kind for SyncSignal<u32> {
    fn new() -> Self {
        SyncSignal::new()
    }

    fn deliver(&self, value: u32) {
        self.emit(&value);
    }

    const PANICS_REACH_THE_EMITTER: bool = true;
}

impl Kind for AsyncSignal<u32> {
    fn new() -> Self {
        AsyncSignal::new()
    }

    fn deliver(&self, value: u32) {
        self.emit(value).expect("an open signal with room accepts");
        self.flush().expect("flushed from outside every delivery");
    }

    const PANICS_REACH_THE_EMITTER: bool = false;
}

/// A shared call counter and a listener that bumps it.
pub(crate) fn counter() -> (Arc<AtomicUsize>, impl Fn(&u32) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &u32| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

/// The count a [`counter`] reached.
pub(crate) fn count(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}
