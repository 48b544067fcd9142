//! Locks and waits: `Mutex` and `Condvar`, std's or loom's, and the helpers
//! that take and wait on them ignoring poisoning.
//!
//! loom's `Mutex` and `Condvar` have std's interface (their results carry
//! std's `PoisonError`), so the helpers below have one body for both
//! builds; a model explores every order in which threads take a lock and
//! every wake-up a `Condvar` may deliver, spurious ones included.

#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// Locks `mutex`, ignoring poisoning: sigwire never runs user code while it
/// holds one of its own locks (except an `AsyncSignal`'s drainer state,
/// which its one drainer holds while it runs filters, drops events and
/// pushes into the ring, and
/// a cursor's place in the
/// ring, which its one job holds while it delivers; a panic cannot leave
/// either inconsistent), so a poisoned lock still guards consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`], unless another thread holds the lock (then `None`).
pub(crate) fn try_lock<T>(mutex: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match mutex.try_lock() {
        Ok(guard) => Some(guard),
        Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Takes the value out of `mutex`, ignoring poisoning as [`lock`] does.
pub(crate) fn into_inner<T>(mutex: Mutex<T>) -> T {
    mutex.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// What is left of a wait until `deadline` (`None`: no deadline, wait
/// without a timeout); `Err` once the deadline has passed.
pub(crate) fn left_until(deadline: Option<Instant>) -> Result<Option<Duration>, ()> {
    match deadline {
        None => Ok(None),
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(()),
        },
    }
}

/// Waits on `condvar` (up to `timeout`, if given), ignoring poisoning as
/// [`lock`] does. Returns the guard and whether the wait timed out.
pub(crate) fn wait<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Option<Duration>,
) -> (MutexGuard<'a, T>, bool) {
    match timeout {
        None => (
            condvar.wait(guard).unwrap_or_else(PoisonError::into_inner),
            false,
        ),
        Some(timeout) => {
            let (guard, result) = condvar
                .wait_timeout(guard, timeout)
                .unwrap_or_else(PoisonError::into_inner);
            (guard, result.timed_out())
        }
    }
}
