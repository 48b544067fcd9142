//! `Emitter`: a per-thread handle that keeps a `SyncSignal`'s listener list
//! cached.

use std::fmt;

use super::run::{go_on, reporting, run_recorded};
use crate::base::{BaseSignal, List};
use crate::sync::{Arc, Cache};

/// A per-thread emitting handle with the listener list cached; see
/// [`SyncSignal::emitter`](crate::SyncSignal::emitter).
///
/// `emit` revalidates the cache (an `arc_swap::Cache`) with one load and a
/// compare, and sees every connect and disconnect made elsewhere. It costs
/// about what [`SyncSignal::emit`](crate::SyncSignal::emit) costs; use it where holding the list by
/// reference count suits better. The cache keeps the list it last saw alive
/// (and the closures in it) until the next `emit` or until the `Emitter` is
/// dropped; see "Memory" on [`SyncSignal`](crate::SyncSignal).
///
/// # Examples
///
/// ```
/// # use sigwire::SyncSignal;
/// let signal = SyncSignal::<u32>::new();
/// let mut emitter = signal.emitter();
/// emitter.emit(&1); // no listeners yet
/// let conn = signal.connect(|v: &u32| assert_eq!(*v, 2));
/// emitter.emit(&2); // sees the new listener
/// # drop(conn);
/// ```
pub struct Emitter<'a, T> {
    base: &'a Arc<BaseSignal<T>>,
    cache: Cache<'a, List<T>>,
}

impl<'a, T: 'static> Emitter<'a, T> {
    pub(super) fn new(base: &'a Arc<BaseSignal<T>>) -> Self {
        Self {
            base,
            cache: Cache::new(base.swap_cell()),
        }
    }
}

impl<T: 'static> Emitter<'_, T> {
    /// Calls every active listener with `value`, like [`SyncSignal::emit`](crate::SyncSignal::emit).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u32>::new();
    /// signal.connect(|v: &u32| assert!(*v < 10));
    /// let mut emitter = signal.emitter();
    /// for i in 0..10 {
    ///     emitter.emit(&i);
    /// }
    /// ```
    #[inline]
    pub fn emit(&mut self, value: &T) {
        // The cached list answers "empty?" as cheaply as `len` would.
        let list = self.cache.load();
        if list.slots.is_empty() {
            return;
        }
        #[cfg(loom)]
        list.check_live();
        let _ = run_recorded(self.base, list, value, go_on::<()>, reporting(self.base));
    }
}

impl<T: 'static> fmt::Debug for Emitter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("signal", &self.base.id())
            .finish_non_exhaustive()
    }
}
