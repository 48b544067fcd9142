//! Catching panics of user code where one must not escape: a panic that
//! leaves a rayon job aborts the process, and one that leaves the drop of
//! a freed closure would reach a caller that has nothing to do with it. A
//! leaf: it depends on nothing else in the crate.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// A caught panic's payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// Runs `f`, catching a panic; the panic's payload is dropped under a
/// catch too (its `Drop` is user code). `None` if `f` panicked.
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Option<R> {
    catch_unwind(AssertUnwindSafe(f)).map_err(dispose).ok()
}

/// Drops `value` (whose `Drop` is user code), handing back the payload if
/// that panicked.
pub(crate) fn drop_caught<V>(value: V) -> Result<(), Payload> {
    catch_unwind(AssertUnwindSafe(move || drop(value)))
}

/// Drops a panic payload whose `Drop` may itself panic; a second payload is
/// leaked rather than dropped (it could panic again, without end).
pub(crate) fn dispose(payload: Payload) {
    if let Err(again) = drop_caught(payload) {
        std::mem::forget(again);
    }
}
