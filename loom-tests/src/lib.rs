//! Helpers the models in `tests/` share. The models themselves live there,
//! one file per race; this is what several of them would otherwise write
//! again.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// What a listener raced by `disconnect_wait` counts: the calls that
/// started and finished, and whether the wait returned. All Relaxed on
/// purpose: every ordering the checks need must come from sigwire (the
/// pop of an emit's record with Release, read by the waiter with Acquire).
pub struct WaitedCalls {
    entered: AtomicUsize,
    finished: AtomicUsize,
    returned: AtomicBool,
}

impl WaitedCalls {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            entered: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            returned: AtomicBool::new(false),
        })
    }

    /// The listener's body: counts the call and checks, in between, that
    /// `disconnect_wait` has not returned yet.
    pub fn call(&self) {
        self.entered.fetch_add(1, Ordering::Relaxed);
        assert!(
            !self.returned.load(Ordering::Relaxed),
            "disconnect_wait returned while a call was running"
        );
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls once `disconnect_wait` returned: no call is running. Returns
    /// how many calls there were.
    pub fn waited(&self) -> usize {
        self.returned.store(true, Ordering::Relaxed);
        let entered = self.entered.load(Ordering::Relaxed);
        assert_eq!(
            entered,
            self.finished.load(Ordering::Relaxed),
            "a call was still running"
        );
        entered
    }

    /// Calls once the emitting threads joined: no call started after the
    /// wait returned (`seen` is what [`waited`](Self::waited) returned),
    /// and every finished one was visible to it.
    pub fn no_call_after(&self, seen: usize) {
        assert_eq!(
            self.entered.load(Ordering::Relaxed),
            seen,
            "a call started after disconnect_wait returned, or a finished one was not visible"
        );
    }

    /// How many calls started so far.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::Relaxed)
    }
}
