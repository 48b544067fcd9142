//! `Sleepers`: where threads and async tasks wait for one condition, the
//! one waiting primitive of the crate. A mutex over the tasks' `Waker`s,
//! and a condvar for the threads; both std's, or loom's under `--cfg
//! loom`, so a model explores every order of a registration against a
//! notification. See `docs/architecture.md`, "Waiting without a thread".
//!
//! The protocol is the caller's: a waiter sets a bit in some word with a
//! read-modify-write while it holds the lock (from [`Sleepers::lock`]),
//! tests its condition again, and only then sleeps ([`Sleepers::sleep`])
//! or registers its task ([`Tasks::register`]); a notifier that reads the
//! bit back calls [`Sleepers::notify_all`], which takes the lock.

use std::collections::HashMap;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use smallvec::SmallVec;

use super::mutex::{Condvar, Mutex, MutexGuard, lock, wait};

/// Threads (on the condvar) and tasks (by their `Waker`) waiting for one
/// condition.
pub(crate) struct Sleepers {
    tasks: Mutex<Tasks>,
    threads: Condvar,
}

/// The tasks waiting: one entry per registration key (a map, so that a
/// task registering again after a notify, when its entry is gone, costs
/// no scan of the others).
#[derive(Default)]
pub(crate) struct Tasks {
    wakers: HashMap<u64, Waker>,
    next_key: u64,
}

impl Tasks {
    /// Registers `waker` under `key`: replaces the entry of that key if it
    /// is still there, or adds one under a new key (stored in `key`). So a
    /// future polled any number of times holds at most one entry. Returns
    /// the waker to drop once the lock is released (the one replaced, or
    /// `waker` itself if the entry already wakes the same task): a
    /// `Waker`'s drop is the executor's code, and may come back here.
    #[must_use]
    pub(crate) fn register(&mut self, key: &mut Option<u64>, waker: Waker) -> Option<Waker> {
        if let Some(held) = key.and_then(|key| self.wakers.get_mut(&key)) {
            if held.will_wake(&waker) {
                return Some(waker);
            }
            return Some(std::mem::replace(held, waker));
        }
        let new = self.next_key;
        self.next_key = self.next_key.wrapping_add(1);
        *key = Some(new);
        self.wakers.insert(new, waker)
    }
}

impl Sleepers {
    pub(crate) fn new() -> Self {
        Self {
            tasks: Mutex::new(Tasks::default()),
            threads: Condvar::new(),
        }
    }

    /// Takes the lock a waiter holds from its bit's read-modify-write to
    /// its sleep or registration.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Tasks> {
        lock(&self.tasks)
    }

    /// Sleeps on the condvar (up to `timeout`), releasing the lock
    /// meanwhile; returns it held again. May wake spuriously: the caller
    /// tests its condition again.
    pub(crate) fn sleep<'a>(
        &self,
        guard: MutexGuard<'a, Tasks>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, Tasks> {
        wait(&self.threads, guard, timeout).0
    }

    /// Runs `locked` under the lock (a notifier clears the waiters' bit
    /// there), wakes every sleeping thread, and takes every registered
    /// task, to wake once the lock is released (a `Waker` is an executor's
    /// code; a panic of one is contained, the others still woken).
    pub(crate) fn notify_all(&self, locked: impl FnOnce()) {
        let woken: SmallVec<[(u64, Waker); 4]> = {
            let mut tasks = self.lock();
            locked();
            self.threads.notify_all();
            tasks.wakers.drain().collect()
        };
        for (_, waker) in woken {
            // A panicking waker is the executor's bug: it must not unwind
            // into the emitter that published.
            let _ = crate::unwind::contain(move || waker.wake());
        }
    }

    /// The async wait's step: under the lock, `Ready` if `ready` (which
    /// sets the caller's bit and tests its condition again) says so, else
    /// registers the task's waker under `key` and returns `Pending`. The
    /// waker is cloned before the lock is taken, and whichever waker is
    /// left over is dropped after it is released.
    pub(crate) fn poll(
        &self,
        key: &mut Option<u64>,
        cx: &mut Context<'_>,
        ready: impl FnOnce() -> bool,
    ) -> Poll<()> {
        let waker = cx.waker().clone();
        let (outcome, spare) = {
            let mut tasks = self.lock();
            if ready() {
                (Poll::Ready(()), Some(waker))
            } else {
                (Poll::Pending, tasks.register(key, waker))
            }
        };
        // The executor's code: contained, as in `notify_all`.
        let _ = crate::unwind::contain(move || drop(spare));
        outcome
    }

    /// Removes the entry of `key` (a subscription dropped while its task
    /// waited).
    pub(crate) fn forget(&self, key: Option<u64>) {
        let Some(key) = key else { return };
        let removed = self.lock().wakers.remove(&key);
        // Dropped outside the lock: a `Waker`'s drop is the executor's.
        let _ = crate::unwind::contain(move || drop(removed));
    }
}

/// One async wait's registration with a [`Sleepers`]: the key of its
/// entry, removed when the wait ends or its future is dropped (a cancelled
/// wait leaves nothing behind).
pub(crate) struct Registration<'a> {
    sleepers: &'a Sleepers,
    key: Option<u64>,
}

impl<'a> Registration<'a> {
    pub(crate) fn new(sleepers: &'a Sleepers) -> Self {
        Self {
            sleepers,
            key: None,
        }
    }

    /// Under the lock: `Ready` if `ready` (the caller's bit set and its
    /// condition tested again) says so, else the task registered and
    /// `Pending`.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, ready: impl FnOnce() -> bool) -> Poll<()> {
        self.sleepers.poll(&mut self.key, cx, ready)
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.sleepers.forget(self.key.take());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (Arc::clone(&count), Waker::from(count))
    }

    /// A key polled again replaces its entry; a notify wakes each once and
    /// empties the list; `forget` removes an entry without waking it.
    #[test]
    fn one_entry_per_key_woken_once() {
        let sleepers = Sleepers::new();
        let (a, wa) = waker();
        let (b, wb) = waker();
        let (mut ka, mut kb) = (None, None);
        for _ in 0..3 {
            let _ = sleepers.lock().register(&mut ka, wa.clone());
        }
        let _ = sleepers.lock().register(&mut kb, wb.clone());
        assert_eq!(sleepers.lock().wakers.len(), 2);
        sleepers.forget(kb);
        sleepers.notify_all(|| {});
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
        assert!(sleepers.lock().wakers.is_empty());
        // After the notify the key's entry is gone: a new poll adds one.
        let _ = sleepers.lock().register(&mut ka, wa.clone());
        assert_eq!(sleepers.lock().wakers.len(), 1);
    }
}
