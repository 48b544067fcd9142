//! `Emitter`: a handle for one hot loop that holds a `SyncSignal`'s
//! listener list and owns its record entry.

use std::fmt;

use super::run::{call, go_on, reporting, run, run_slots};
use crate::base::record::Owned;
use crate::base::{BaseSignal, List};
use crate::sync::Arc;

/// An emitting handle for one hot loop; see
/// [`SyncSignal::emitter`](crate::SyncSignal::emitter).
///
/// It holds the listener list it last saw by reference count and checks,
/// per `emit`, that it is still current (one load and a compare); it sees
/// every connect and disconnect made elsewhere. It owns its entry in the
/// records of running emits, so an `emit` is recorded with two stores
/// instead of the per-thread record's push and pop. `disconnect_wait`
/// waits for its emits and refuses to wait from inside one, as for any
/// emit. It is `Send`: it may move to another thread between emits. Its
/// record (under 1 KiB) comes from the pool the threads' records come from
/// and goes back there when the `Emitter` is dropped. The
/// list it holds (and the closures in it) stays alive until the next
/// `emit` or until the `Emitter` is dropped; see "Memory" on
/// [`SyncSignal`](crate::SyncSignal).
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
    base: &'a BaseSignal<T>,
    /// The list the last `emit` saw.
    list: Arc<List<T>>,
    record: Owned,
}

impl<'a, T: 'static> Emitter<'a, T> {
    pub(super) fn new(base: &'a BaseSignal<T>) -> Self {
        Self {
            base,
            list: base.load_full(),
            record: Owned::new(),
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
        if !self.base.is_current(&self.list) {
            self.refresh();
        }
        // Read before the light barrier (a compiler fence), after which
        // memory would be read again.
        let (base, list) = (self.base, &*self.list);
        let (slots, simple) = (&*list.slots, list.simple);
        if slots.is_empty() {
            return;
        }
        #[cfg(loom)]
        list.check_live();
        let _running = self.record.enter(base.id());
        if simple {
            let _ = run_slots(base, list, slots, value, go_on::<()>, reporting(base), call);
        } else {
            let _ = run(base, list, value, go_on::<()>, reporting(base));
        }
    }

    #[cold]
    #[inline(never)]
    fn refresh(&mut self) {
        // Only this reference to the old list is dropped here: a retired
        // list stays with the writer until its sweep finds no other holder,
        // so the list and its closures are freed by a later write, a
        // `disconnect_wait` or the signal's drop (see "Memory"), never
        // on the emitting thread.
        self.list = self.base.load_full();
    }
}

impl<T: 'static> fmt::Debug for Emitter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("signal", &self.base.id())
            .finish_non_exhaustive()
    }
}
