//! `Cancel`: what `emit_until` checks before each listener.

use std::time::Instant;

/// A cancellation condition, checked by
/// [`emit_until`](crate::SyncSignal::emit_until) before each listener it is
/// about to call.
///
/// Implemented for [`AtomicBool`](std::sync::atomic::AtomicBool) (cancelled
/// once it is `true`), for a deadline [`Instant`] (cancelled once it has
/// passed), and for references to any `Cancel`. Implement it for your own
/// cancellation tokens.
///
/// # Examples
///
/// ```
/// use sigwire::{Cancel, SyncSignal};
///
/// /// Cancels after a fixed number of checks.
/// struct Budget(std::cell::Cell<u32>);
///
/// impl Cancel for Budget {
///     fn is_cancelled(&self) -> bool {
///         let left = self.0.get();
///         self.0.set(left.saturating_sub(1));
///         left == 0
///     }
/// }
///
/// let signal = SyncSignal::<()>::new();
/// for _ in 0..5 {
///     signal.connect(|_: &()| {});
/// }
/// let err = signal.emit_until(&(), Budget(std::cell::Cell::new(3))).unwrap_err();
/// assert_eq!(err.ran(), 3);
/// ```
pub trait Cancel {
    /// True once the emit should stop before the next listener.
    fn is_cancelled(&self) -> bool;
}

impl<C: Cancel + ?Sized> Cancel for &C {
    fn is_cancelled(&self) -> bool {
        (**self).is_cancelled()
    }
}

impl Cancel for std::sync::atomic::AtomicBool {
    fn is_cancelled(&self) -> bool {
        // Acquire: whatever the canceller wrote before raising the flag is
        // visible to the code that handles the cancellation.
        self.load(std::sync::atomic::Ordering::Acquire)
    }
}

#[cfg(loom)]
impl Cancel for loom::sync::atomic::AtomicBool {
    fn is_cancelled(&self) -> bool {
        // Acquire: as for std's AtomicBool.
        self.load(std::sync::atomic::Ordering::Acquire)
    }
}

impl Cancel for Instant {
    fn is_cancelled(&self) -> bool {
        Instant::now() >= *self
    }
}
