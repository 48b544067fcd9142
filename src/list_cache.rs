//! A per-thread cache of listener lists, so that `SyncSignal::emit(&self)`
//! does not pay for an `ArcSwap::load` on every call.
//!
//! Each thread keeps up to [`WAYS`] lists, direct-mapped by signal id, each
//! tagged with the signal's id and the list *version* it was loaded at.
//! Writers bump a signal's version after every publication (Release); an emit
//! reads it (Acquire) and uses the cached list while the version matches. A
//! writer that happens-before the emit has bumped the version, so the emit
//! reloads; a cached list is therefore never older than what the emit must
//! see. (Listeners disconnected since are still skipped by their state word.)
//!
//! On a hit an emit reads the list through a shared `RefCell` borrow: no
//! atomic read-modify-write, no reference count. A nested emit that needs to
//! replace a way that an outer emit on this thread is reading falls back to
//! `ArcSwap::load` instead of waiting or failing.
//!
//! The price: a thread keeps the lists it cached (and the closures in them)
//! alive until it emits on that signal again while it has listeners,
//! another signal takes the way, it writes to that signal, or it exits. A
//! refill that lets go of an older list of the same signal sweeps the
//! signal's retired lists (if the writer lock is free), so a list whose last
//! holder was a cache is freed then. See `docs/architecture.md`.

use std::any::Any;
use std::cell::{Cell, RefCell};

use crate::base::{BaseSignal, List};

/// How many lists one thread caches.
#[cfg(not(loom))]
const WAYS: usize = 8;
/// Signal ids differ between loom executions (they come from a process-wide
/// counter), so with several ways two signals would share one in some
/// executions and not in others, and loom requires a model to behave the
/// same way every time. One way makes every signal share it.
#[cfg(loom)]
const WAYS: usize = 1;

/// A cached list, its concrete type erased (the signal id says which it is).
#[cfg(not(loom))]
type Erased = std::sync::Arc<dyn Any + Send + Sync>;
/// Under loom the list is behind loom's `Arc`, which cannot be unsized, so it
/// is boxed instead; the protocol (version, fill, hit) is the same.
#[cfg(loom)]
type Erased = Box<dyn Any>;

struct Way {
    /// Signal id; 0 (no signal has it) marks an empty way.
    signal: Cell<u64>,
    version: Cell<u64>,
    list: RefCell<Option<Erased>>,
}

impl Way {
    const fn new() -> Self {
        Self {
            signal: Cell::new(0),
            version: Cell::new(0),
            list: RefCell::new(None),
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static CACHE: [Way; WAYS] = const { [const { Way::new() }; WAYS] };
}

#[cfg(loom)]
loom::thread_local! {
    static CACHE: [Way; WAYS] = [const { Way::new() }; WAYS];
}

#[cfg(not(loom))]
fn erase<T: 'static>(base: &BaseSignal<T>) -> Erased {
    base.load_full()
}

#[cfg(not(loom))]
fn downcast<T: 'static>(erased: &Erased) -> Option<&List<T>> {
    erased.downcast_ref::<List<T>>()
}

#[cfg(loom)]
fn erase<T: 'static>(base: &BaseSignal<T>) -> Erased {
    Box::new(base.load_full())
}

#[cfg(loom)]
fn downcast<T: 'static>(erased: &Erased) -> Option<&List<T>> {
    erased
        .downcast_ref::<crate::sync::Arc<List<T>>>()
        .map(|list| &**list)
}

/// Runs `f` on the current list of `base`, from this thread's cache when it
/// is up to date.
#[inline(always)]
pub(crate) fn with_list<T: 'static, R>(base: &BaseSignal<T>, f: impl FnOnce(&List<T>) -> R) -> R {
    let version = base.version();
    let mut f = Some(f);
    let cached = CACHE.try_with(|ways| {
        let way = &ways[(base.id() % WAYS as u64) as usize];
        let fresh = |way: &Way| way.signal.get() == base.id() && way.version.get() == version;
        if !fresh(way) {
            refill(way, base, version);
            if !fresh(way) {
                return None; // an outer emit is reading the way
            }
        }
        let list = way.list.try_borrow().ok()?;
        let list = downcast::<T>(list.as_ref()?)?;
        f.take().map(|f| f(list))
    });
    match (cached, f) {
        (Ok(Some(result)), _) => result,
        // No cache (the thread is exiting) or the way is busy: load directly.
        (_, Some(f)) => f(&base.load()),
        (_, None) => unreachable!("`f` ran, so the cache returned its result"),
    }
}

/// Replaces `way`'s list with the current list of `base`, tagged `version`,
/// unless an outer emit on this thread is reading the way.
#[cold]
#[inline(never)]
fn refill<T: 'static>(way: &Way, base: &BaseSignal<T>, version: u64) {
    let Ok(mut list) = way.list.try_borrow_mut() else {
        return;
    };
    let same_signal = way.signal.get() == base.id();
    // Loaded after `version` was read (Acquire), so at least that new.
    let old = list.replace(erase(base));
    way.signal.set(base.id());
    way.version.set(version);
    drop(list);
    // Dropped after the borrow ends: it may hold the last reference to
    // closures whose `Drop` emits.
    drop(old);
    if same_signal {
        // This thread just let go of an older list of this signal; if it was
        // the last reader, free it now rather than at the next write, so that
        // disconnected closures do not outlive the caches that held them.
        base.sweep_retired();
    }
}

/// Drops this thread's cached list of signal `id`, if it has one and no emit
/// on this thread is reading it. Writers call it first, so that the list they
/// retire is not held by their own thread's cache, and a closure
/// disconnected on the thread that also emits is freed at once.
pub(crate) fn forget(id: u64) {
    let _ = CACHE.try_with(|ways| {
        let way = &ways[(id % WAYS as u64) as usize];
        if way.signal.get() != id {
            return;
        }
        if let Ok(mut list) = way.list.try_borrow_mut() {
            let old = list.take();
            way.signal.set(0);
            drop(list);
            drop(old);
        }
    });
}
