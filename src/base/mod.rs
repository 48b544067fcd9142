//! `BaseSignal<T>`: the copy-on-write listener list every signal kind shares.
//!
//! Readers (emits) read the current [`List`] without a lock and without a
//! reference count: through the raw `current` pointer, while their thread's
//! record (`record`) shows them running. Writers take `writer`, build a new
//! list, swap it in (`ArcSwap`, then `current`) and update `len`. The writer
//! keeps the lists it swapped out until a scan of the records shows that no
//! emit can read them and no `Arc` holder is left, then frees them after
//! releasing the lock, so emitting threads never free a list and never run a
//! listener's destructor on the hot path. Nothing user-provided runs while
//! `writer` is held. See `docs/architecture.md`, "Emit reads the list
//! through a raw pointer".
//!
//! The core's parts: `list` (one version of the list), `slot` (one
//! listener), `state` (a listener's state word, which topic listeners keep
//! too), `record` (the per-thread records of
//! running emits), `handle` (the erased handle a `Connection` wraps),
//! `dispose` (dropping what writes free). This file is the writers'
//! protocol, one concept, and is over 600 lines because its every step
//! (connect, remove, compact, publish, scan, reclaim) reads against the
//! others.

use std::collections::HashMap;
use std::fmt;

use crossbeam_utils::CachePadded;
use smallvec::SmallVec;

use crate::error::{DuplicateKey, EmitError, WouldDeadlock};

mod dispose;
pub(crate) mod handle;
mod list;
pub(crate) mod record;
pub(crate) mod retire;
pub(crate) mod slot;
pub(crate) mod state;

pub(crate) use list::{Config, ErrorHandler, Filter, List};

use crate::base::retire::{Retired, Scan};
use crate::base::slot::{Callback, Slot, SlotRef};
use crate::stats::Counters;
use crate::sync::{
    self, Arc, ArcSwap, AtomicPtr, AtomicU64, AtomicUsize, ErasedArc, Guard, Mutex, Ordering, Weak,
};

/// Ids for signals and slots. 0 is never handed out (it marks a free record
/// entry in `record`).
///
/// This counter and the next are std's atomics under loom too, not the
/// shim's: a `static` needs a `const` constructor, which loom's atomics lack,
/// and an id is only ever unique, never ordered with anything, so a model
/// would have nothing to explore in it.
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives.
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Signal ids have their own counter: `record` packs them into 40 bits,
/// which a process would need 2^40 signals to exhaust (two signals sharing
/// an id after that only make waits and scans more conservative).
static NEXT_SIGNAL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_signal_id() -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives.
    let id = NEXT_SIGNAL_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (id & record::MAX_SIGNAL_ID).max(1)
}

/// After this many retired lists await a scan, a `connect` scans too.
const SCAN_AFTER: usize = 4;

/// What writers share, under the writer lock.
struct Writer<T> {
    keys: HashMap<ErasedArc<str>, u64>,
    /// Swapped-out lists, until no emit can read them.
    retired: Retired<List<T>>,
    /// Slots that left the current list, owned here until no retired list
    /// points to them (see `SlotRef`).
    dying: Vec<Dying<T>>,
    /// Under loom, freed slots, kept allocated until the signal drops (see
    /// `Slot::bury`).
    #[cfg(loom)]
    buried: Vec<Arc<Slot<T>>>,
}

impl<T> Writer<T> {
    fn new() -> Self {
        Self {
            keys: HashMap::new(),
            retired: Retired::new(SCAN_AFTER, true),
            dying: Vec::new(),
            #[cfg(loom)]
            buried: Vec::new(),
        }
    }

    /// Frees what can be freed (`Retired::reclaim`), then the dying slots
    /// that only the lists it freed pointed to.
    fn reclaim(&mut self, id: u64, scan: Scan, garbage: &mut Garbage<T>) {
        if self.retired.reclaim(id, scan, &mut garbage.lists) > 0 {
            self.free_dying(garbage);
        }
    }

    /// Moves to `garbage` the dying slots that no retired list points to.
    /// Call after a reclaim that freed lists: only freeing a list can
    /// release a slot. A list the reclaim freed was read by no emit and
    /// held by no `Arc` holder (`Retired::reclaim`), and no list built
    /// later points to a slot that had left the current list, so a slot
    /// that no retired list points to can be read by nobody.
    ///
    /// Each dying slot remembers a retired list found pointing to it (its
    /// `blocker`); while that list is still retired, the slot is kept
    /// without a search. So when an idle `Emitter` or a long emit holds a
    /// large list, and every slot removed since waits for it, a write costs
    /// one lookup per waiting slot, not a walk of the large list for each.
    fn free_dying(&mut self, garbage: &mut Garbage<T>) {
        if self.dying.is_empty() {
            return;
        }
        let start = garbage.slots.len();
        let mut lists = Vec::new();
        self.retired.any(|list| {
            lists.push(std::ptr::from_ref(list).addr());
            false
        });
        lists.sort_unstable();
        let mut at = 0;
        while at < self.dying.len() {
            let dying = &mut self.dying[at];
            // A blocker freed by this reclaim is not in `lists` (its address
            // cannot be reused yet: the freed list lives on in `garbage`),
            // so the slot is searched again.
            let blocked = dying.blocker != 0 && lists.binary_search(&dying.blocker).is_ok();
            if !blocked {
                let slot = &dying.slot;
                let mut blocker = 0;
                self.retired.any(|list| {
                    let points = list.slots.iter().any(|s| s.is(slot));
                    if points {
                        blocker = std::ptr::from_ref(list).addr();
                    }
                    points
                });
                dying.blocker = blocker;
            }
            if self.dying[at].blocker != 0 {
                at += 1;
            } else {
                garbage.slots.push(self.dying.swap_remove(at).slot);
            }
        }
        #[cfg(loom)]
        for slot in garbage.slots.drain(start..) {
            slot.bury();
            self.buried.push(slot);
        }
        #[cfg(not(loom))]
        let _ = start;
    }
}

/// A slot that left the current list, and a retired list last found
/// pointing to it (its address; 0 for none yet).
struct Dying<T> {
    slot: Arc<Slot<T>>,
    blocker: usize,
}

/// What a write frees, dropped after the writer lock is released
/// (`BaseSignal::dispose`).
pub(crate) struct Garbage<T> {
    lists: Vec<Arc<List<T>>>,
    slots: Vec<Arc<Slot<T>>>,
}

impl<T> Garbage<T> {
    fn new() -> Self {
        Self {
            lists: Vec::new(),
            slots: Vec::new(),
        }
    }
}

pub(crate) struct BaseSignal<T> {
    /// What every emit reads, on cache lines of its own.
    hot: CachePadded<Hot<T>>,
    list: ArcSwap<List<T>>,
    /// Once-slots that fired but are still in the current list (the next
    /// write drops them). Wrapping: a fire's increment can land just after
    /// the write that dropped its slot, so it may briefly read as -1.
    fired: AtomicUsize,
    /// Errors of fallible listeners seen under plain `emit`.
    errors: AtomicU64,
    /// Listeners connected with a policy other than `Block`: an
    /// `AsyncSignal`'s drainer makes their cursors when this moves.
    dropping: AtomicU64,
    writer: Mutex<Writer<T>>,
    /// What a front keeps beside the list: a `SyncSignal`'s subscription
    /// ring (`ring/feed.rs`), made by its first subscription.
    pub(crate) attached: Mutex<Option<ErasedArc<dyn Attachment>>>,
}

/// The fields every emit reads. Kept off the lines of the fields only
/// writers touch (the lock word, the `ArcSwap`, the counters): sharing a
/// line, each write's stores there took it away from the emitting cores,
/// and writers under load ran at two thirds of the rate (`docs/benchmarks.md`,
/// issue 15).
struct Hot<T> {
    id: u64,
    /// The list `list` holds, for emits that read it without a reference
    /// count (see [`BaseSignal::with_current`]).
    current: AtomicPtr<List<T>>,
    /// Number of slots in the current list; lets an empty emit return after
    /// one load.
    len: AtomicUsize,
    /// Emits nested too deep for the per-thread record (see `record`).
    overflow: AtomicUsize,
}

/// What a write publishes: the new list's slots and config, the slots of
/// the current list it left out (and how many of those were fired
/// once-slots), and whether to scan at once (it removed closures).
struct Next<T> {
    slots: Vec<SlotRef<T>>,
    removed: Removed<T>,
    config: Config<T>,
    fired: usize,
    scan_now: bool,
}

impl<T> Next<T> {
    /// A write that keeps the config: `compacted` from `current`.
    fn compacted(compacted: Compacted<T>, current: &List<T>, scan_now: bool) -> Self {
        Self {
            slots: compacted.kept,
            removed: compacted.removed,
            config: current.config.clone(),
            fired: compacted.fired,
            scan_now,
        }
    }
}

/// How a listener is connected.
pub(crate) struct Options {
    pub(crate) key: Option<ErasedArc<str>>,
    pub(crate) priority: i32,
    pub(crate) once: bool,
    pub(crate) policy: crate::connection::Policy,
}

/// What a front keeps beside the list (`BaseSignal::attached`): a
/// `SyncSignal`'s subscription ring. Type-erased, so that the signal's
/// `Send` and `Sync` do not come to depend on `T`'s.
pub(crate) trait Attachment: Send + Sync + 'static {
    /// Panics it caught in user code (the event type's `Clone` or `Drop`),
    /// counted in the signal's `error_count`.
    fn errors(&self) -> u64;
    fn as_any(&self) -> &dyn std::any::Any;
}

impl<T: 'static> BaseSignal<T> {
    pub(crate) fn new() -> Self {
        // Registering for membarrier can take milliseconds: do it when the
        // first signal is made, not on the first emit.
        #[cfg(not(loom))]
        crate::sync::init_barriers();
        let list = Arc::new(List::new(Box::new([]), Config::empty()));
        Self {
            hot: CachePadded::new(Hot {
                id: next_signal_id(),
                current: AtomicPtr::new(raw(&list)),
                len: AtomicUsize::new(0),
                overflow: AtomicUsize::new(0),
            }),
            list: ArcSwap::new(list),
            fired: AtomicUsize::new(0),
            errors: AtomicU64::new(0),
            dropping: AtomicU64::new(0),
            writer: Mutex::new(Writer::new()),
            attached: Mutex::new(None),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.hot.id
    }

    /// The number of slots in the current list (fired once-slots included):
    /// what an emit checks to skip an empty signal.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a connect that happens-before this load is seen by
        // coherence; the list itself is published by the ArcSwap.
        self.hot.len.load(Ordering::Relaxed)
    }

    /// The number of connected listeners: the current list without the
    /// once-slots that fired.
    pub(crate) fn live_len(&self) -> usize {
        // One list for both counts, so that a write between two loads
        // cannot count the feeder (first, when there is one) or miss a
        // listener.
        let list = self.list.load();
        let internal = list.slots.first().is_some_and(|slot| slot.is_internal());
        // Relaxed: a snapshot for the caller; see `fired`.
        let fired = self.fired.load(Ordering::Relaxed) as isize;
        (list.slots.len() as isize - isize::from(internal) - fired).max(0) as usize
    }

    /// Counts a once-slot that just fired; it stays in the list (every emit
    /// skips it) until the next write drops it.
    #[cold]
    pub(crate) fn note_fired(&self) {
        // Relaxed: a count for `live_len`; nothing is published through it.
        self.fired.fetch_add(1, Ordering::Relaxed);
    }

    /// The current list, without a lock.
    #[inline]
    pub(crate) fn load(&self) -> Guard<List<T>> {
        self.list.load()
    }

    /// Runs `f` on the current list, as one emit: recorded as running (for
    /// `disconnect_wait` and for reclamation) until `f` returns.
    #[inline(always)]
    pub(crate) fn with_current<R>(&self, f: impl FnOnce(&List<T>) -> R) -> R {
        let running = record::enter(self.hot.id, &self.hot.overflow, record::READS_UNKNOWN);
        if !running.has_entry() {
            // Nested deeper than the record, or the thread is exiting: no
            // entry protects the list, so hold it by reference count.
            return f(&self.load());
        }
        // Acquire: pairs with the Release store in `publish`, so the list's
        // contents are visible. Loaded after `enter`'s light barrier.
        let list = self.hot.current.load(Ordering::Acquire);
        // Tells scans that this emit reads this list and no other, so that
        // writers can free the lists they retire while it runs.
        running.reads(list.addr());
        #[allow(unsafe_code)]
        // SAFETY: `current` only ever holds a pointer to a list that `list`
        // or the writer's retired lists own (`publish` swaps the `Arc` into
        // `list` before storing its pointer here, and retires the old `Arc`).
        // A retired list is freed only once every emit of this signal that a
        // scan taken after the swap found running, and that may read it, has
        // popped, and no `Arc` holder is left (`reclaim`). This emit pushed
        // its record entry (`running`, which lives until `f` returns, with
        // `reads` unknown) before loading the pointer, with the light barrier
        // between, and the scan issues the heavy barrier after the swap: so
        // either the scan sees the entry (showing this list's address, or
        // unknown, both of which keep the list) and waits for it to pop, or
        // this load returns a newer list. A scan that
        // skips the heavy barrier does so only when no other thread holds a
        // record; a thread that takes one later does so through the pool's
        // mutex, after the swap, and loads a newer list. The signal's own
        // drop cannot happen while `&self` is borrowed. Lists are immutable.
        let list = unsafe { &*list };
        #[cfg(loom)]
        list.check_live();
        let result = f(list);
        // Read again at the end, so that loom also fails a reclamation that
        // happens after the first read but before the emit is done.
        #[cfg(loom)]
        list.check_live();
        result
    }

    /// The current list, by reference count (what an `Emitter` holds).
    pub(crate) fn load_full(&self) -> Arc<List<T>> {
        Arc::clone(&self.load())
    }

    /// Whether `list` is still the current list: one load and a compare.
    #[inline(always)]
    pub(crate) fn is_current(&self, list: &Arc<List<T>>) -> bool {
        // Relaxed: nothing is read through the pointer; the caller holds
        // `list` by reference count, so its address cannot be reused while
        // it compares. A publish that happens-before the caller is seen
        // (coherence); the caller then loads the new list with `load_full`
        // (Acquire). A publish racing it may be seen or not, as with
        // `with_current`.
        std::ptr::eq(self.hot.current.load(Ordering::Relaxed), raw(list))
    }

    /// Records an emit that reads no list through `current` (it holds its
    /// list by reference count, or reads one another record entry covers)
    /// as running until the guard drops, for `disconnect_wait`.
    #[inline(always)]
    pub(crate) fn enter(&self) -> record::Recorded<'_> {
        record::enter(self.hot.id, &self.hot.overflow, record::READS_NONE)
    }

    /// Connects `callback` with options that carry no key, which cannot
    /// collide.
    pub(crate) fn connect_unkeyed(
        this: &Arc<Self>,
        options: Options,
        callback: Callback<T>,
    ) -> (u64, Weak<Slot<T>>) {
        match Self::connect(this, options, callback) {
            Ok(connection) => connection,
            // Only a keyed connect can collide, and these options have no key.
            Err(_) => unreachable!("a connect without a key cannot fail"),
        }
    }

    /// Connects `callback`; fails only if `options.key` is taken.
    pub(crate) fn connect(
        this: &Arc<Self>,
        options: Options,
        callback: Callback<T>,
    ) -> Result<(u64, Weak<Slot<T>>), DuplicateKey> {
        let id = next_id();
        let Options {
            key,
            priority,
            once,
            policy,
        } = options;
        let slot =
            Arc::new(Slot::new(id, key.clone(), priority, once, callback).with_policy(policy));
        // Taken before the slot is published: a write on another thread may
        // remove it at once, and the caller's handle must still name it.
        let weak = sync::downgrade(&slot);
        let connected = this.write(|writer, current| {
            if let Some(key) = &key {
                // A key whose listener fired (a once-listener) is free again.
                let taken = writer.keys.get(key).is_some_and(|&holder| {
                    current
                        .slots
                        .iter()
                        .any(|s| s.id == holder && !s.state.has_fired())
                });
                if taken {
                    // The slot goes back out: its closure is dropped after
                    // the lock is released, as any write's garbage.
                    return (None, Err((DuplicateKey::new(ErasedArc::clone(key)), slot)));
                }
                writer.keys.insert(ErasedArc::clone(key), id);
            }
            let mut compacted = compact(writer, &current.slots, |_| false);
            // Higher priority first; equal priorities keep connection order
            // (the new slot has the largest id, so it goes after its equals).
            let at = compacted.kept.partition_point(|s| s.priority() >= priority);
            compacted.kept.insert(at, SlotRef::new(slot));
            // Fired once-slots leave: free their closures.
            let scan_now = compacted.fired > 0;
            let next = Next::compacted(compacted, current, scan_now);
            (Some(next), Ok((id, weak)))
        });
        if connected.is_ok() && policy != crate::connection::Policy::Block {
            // Release: with the list's publish before it, for a drainer
            // that reads the new count (Acquire) and then the list.
            this.dropping.fetch_add(1, Ordering::Release);
        }
        connected.map_err(|(duplicate, slot)| {
            this.release(slot);
            duplicate
        })
    }

    /// How many listeners were connected with a dropping policy, ever: a
    /// change tells an `AsyncSignal`'s drainer to look for new ones.
    pub(crate) fn dropping(&self) -> u64 {
        // Acquire: pairs with `connect`'s Release increment. An event
        // emitted after `connect` returned is taken from the queue after it
        // (the queue's Release / Acquire), so the drainer sees the count.
        self.dropping.load(Ordering::Acquire)
    }

    /// Connects the signal's own listener (the subscriptions' feeder): first
    /// in the list, whatever the priorities (it reports the highest, so
    /// later connects of that priority go after it); `len` does not count
    /// it, `clear` keeps it, and it stays until the signal drops. Returns
    /// what the write freed, for the caller to [`dispose`](Self::dispose)
    /// once it holds no lock of its own: a freed closure's `Drop` may call
    /// back into the signal.
    pub(crate) fn connect_internal(this: &Arc<Self>, callback: Callback<T>) -> Garbage<T> {
        let mut slot = Slot::new(next_id(), None, 0, false, callback);
        slot.set_internal();
        let slot = Arc::new(slot);
        let ((), garbage) = this.write_deferring(|writer, current| {
            let mut compacted = compact(writer, &current.slots, |_| false);
            compacted.kept.insert(0, SlotRef::new(slot));
            let scan_now = compacted.fired > 0;
            (Some(Next::compacted(compacted, current, scan_now)), ())
        });
        garbage
    }

    /// Removes the slot with `id` from the list (it is already marked
    /// disconnected or fired). True if it was in the list.
    pub(crate) fn remove(&self, id: u64) -> bool {
        self.write(|writer, current| {
            if !current.slots.iter().any(|s| s.id == id) {
                return (None, false);
            }
            let compacted = compact(writer, &current.slots, |s| s.id == id);
            (Some(Next::compacted(compacted, current, true)), true)
        })
    }

    /// Disconnects the listener with `key`; true if there was one.
    pub(crate) fn disconnect_key(&self, key: &str) -> bool {
        let slot = {
            let writer = sync::lock(&self.writer);
            // The map names the key's newest holder; a once-listener that
            // fired under the same key may still sit in the list.
            writer.keys.get(key).and_then(|&holder| {
                self.list
                    .load()
                    .slots
                    .iter()
                    .find(|s| s.id == holder)
                    // SAFETY: the slot is in the current list and the writer
                    // lock is held.
                    .map(|s| {
                        #[allow(unsafe_code)]
                        unsafe {
                            s.to_arc()
                        }
                    })
            })
        };
        match slot {
            Some(slot) => {
                let was_connected = slot.state.mark_disconnected();
                self.remove(slot.id);
                // The write may have freed every list holding the slot.
                self.release(slot);
                was_connected
            }
            None => false,
        }
    }

    pub(crate) fn contains_key(&self, key: &str) -> bool {
        let writer = sync::lock(&self.writer);
        writer.keys.get(key).is_some_and(|&holder| {
            self.list
                .load()
                .slots
                .iter()
                .any(|s| s.id == holder && s.state.is_connected())
        })
    }

    /// Disconnects every listener.
    pub(crate) fn clear(&self) {
        self.write(|writer, current| {
            // The signal's own slots stay (the subscriptions' feeder).
            for slot in current.slots.iter().filter(|s| !s.is_internal()) {
                slot.state.mark_disconnected();
            }
            let compacted = compact(writer, &current.slots, |s| !s.is_internal());
            (Some(Next::compacted(compacted, current, true)), ())
        });
    }

    pub(crate) fn set_error_handler(&self, handler: Option<ErrorHandler>) {
        self.update_config(|config| {
            config.on_error = handler;
            true
        });
    }

    /// Adds a signal-level filter; returns its id for `remove_filter`.
    pub(crate) fn add_filter(&self, filter: Filter<T>) -> u64 {
        let id = next_id();
        self.update_config(|config| {
            let mut filters = config.filters.to_vec();
            filters.push((id, filter));
            config.filters = filters.into_boxed_slice();
            true
        });
        id
    }

    /// The counters of the sync emit path, made and published on first
    /// call.
    pub(crate) fn enable_stats(&self) -> ErasedArc<Counters> {
        if let Some(counters) = &self.list.load().config.stats {
            return ErasedArc::clone(counters);
        }
        let fresh = ErasedArc::new(Counters::new());
        let mut counters = ErasedArc::clone(&fresh);
        self.update_config(|config| match &config.stats {
            Some(won) => {
                counters = ErasedArc::clone(won); // a racing call was first
                false
            }
            None => {
                config.stats = Some(fresh);
                true
            }
        });
        counters
    }

    /// The counters, if `enable_stats` was called.
    pub(crate) fn counters(&self) -> Option<ErasedArc<Counters>> {
        self.list.load().config.stats.clone()
    }

    /// Removes the filter added under `id`; `true` if it was there.
    pub(crate) fn remove_filter(&self, id: u64) -> bool {
        self.update_config(|config| {
            let before = config.filters.len();
            let filters: Vec<_> = config
                .filters
                .iter()
                .filter(|(f, _)| *f != id)
                .cloned()
                .collect();
            config.filters = filters.into_boxed_slice();
            config.filters.len() != before
        })
    }

    /// Publishes the current slots with `change` applied to the config, if
    /// it reports a change; returns what it reported.
    fn update_config(&self, change: impl FnOnce(&mut Config<T>) -> bool) -> bool {
        self.write(|writer, current| {
            let mut config = current.config.clone();
            if !change(&mut config) {
                return (None, false);
            }
            config.observed = !config.filters.is_empty() || config.stats.is_some();
            let compacted = compact(writer, &current.slots, |_| false);
            // A scan now: a replaced handler or filter may hold closures.
            let mut next = Next::compacted(compacted, current, true);
            next.config = config;
            (Some(next), true)
        })
    }

    /// One write: under the writer lock, `edit` sees the writer's state and
    /// the current list, and returns the list to publish (`None`: nothing
    /// changed) with its result. The lists, closures and handlers the write
    /// frees are dropped after the lock is released (`dispose`), so a `Drop`
    /// that uses the signal cannot deadlock and one that panics reaches
    /// nobody.
    fn write<R>(&self, edit: impl FnOnce(&mut Writer<T>, &List<T>) -> (Option<Next<T>>, R)) -> R {
        let (result, garbage) = self.write_deferring(edit);
        self.dispose(garbage);
        result
    }

    /// [`write`](Self::write), handing what it freed to the caller.
    fn write_deferring<R>(
        &self,
        edit: impl FnOnce(&mut Writer<T>, &List<T>) -> (Option<Next<T>>, R),
    ) -> (R, Garbage<T>) {
        let mut garbage = Garbage::new();
        let result = {
            let mut writer = sync::lock(&self.writer);
            let current = self.list.load();
            let (next, result) = edit(&mut writer, &current);
            // Before the swap: a guard still held makes the swap pay its
            // debt.
            drop(current);
            if let Some(next) = next {
                self.publish(&mut writer, next, &mut garbage);
            }
            result
        };
        (result, garbage)
    }

    /// Waits for running emits of this signal (see `record::wait_for`),
    /// then frees the retired lists the wait made free.
    pub(crate) fn wait_for_emits(&self) -> Result<(), WouldDeadlock> {
        record::wait_for(self.hot.id, &self.hot.overflow)?;
        let mut garbage = Garbage::new();
        sync::lock(&self.writer).reclaim(self.hot.id, Scan::Now, &mut garbage);
        self.dispose(garbage);
        Ok(())
    }

    /// Whether the calling thread is inside an emit (or a delivery) of this
    /// signal.
    pub(crate) fn is_emitting_here(&self) -> bool {
        record::is_inside(self.hot.id, &self.hot.overflow)
    }

    /// Reports an error a fallible listener returned under plain `emit`.
    #[cold]
    pub(crate) fn report(&self, list: &List<T>, slot: &Slot<T>, error: crate::error::BoxError) {
        // Relaxed: a statistic; nothing is published through it.
        self.errors.fetch_add(1, Ordering::Relaxed);
        list.note_failed();
        let error = EmitError::new(slot.id, slot.key().cloned(), error);
        match &list.config.on_error {
            Some(handler) => handler(error),
            None => default_error_handler(error),
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        let attached = sync::lock(&self.attached)
            .as_ref()
            .map_or(0, |attached| attached.errors());
        // Relaxed: a statistic.
        self.errors.load(Ordering::Relaxed) + attached
    }

    /// Publishes a new list and retires the old one, then frees what can be
    /// freed (see `Retired::reclaim`); `scan_now` when the write
    /// removed closures (or the error handler). The slots the write removed
    /// become dying; lists and dying slots that nothing can read any more go
    /// to `garbage`, which the caller drops after releasing the writer lock.
    fn publish(&self, writer: &mut Writer<T>, next: Next<T>, garbage: &mut Garbage<T>) {
        let Next {
            slots,
            removed,
            config,
            fired: fired_dropped,
            scan_now,
        } = next;
        // Relaxed: see `note_fired`.
        self.fired.fetch_sub(fired_dropped, Ordering::Relaxed);
        let len = slots.len();
        let new = Arc::new(List::new(slots.into_boxed_slice(), config));
        let new_raw = raw(&new);
        let old = self.list.swap(new);
        // Release: an emit that loads this pointer (Acquire) sees the list's
        // contents. `list` owns the list from now until a later `publish`
        // retires it.
        self.hot.current.store(new_raw, Ordering::Release);
        // Relaxed: see `len`.
        self.hot.len.store(len, Ordering::Relaxed);
        // The key emits note is the address of the list they loaded.
        let key = raw(&old).addr();
        writer.retired.retire(old, key);
        for slot in removed {
            #[allow(unsafe_code)]
            // SAFETY: `compact` hands out each slot of the current list once,
            // as kept or removed; a removed slot left the current list with
            // this publish, so this is its one hand-back.
            writer.dying.push(Dying {
                slot: unsafe { slot.into_arc() },
                blocker: 0,
            });
        }
        let scan = if scan_now { Scan::Soon } else { Scan::WhenDue };
        writer.reclaim(self.hot.id, scan, garbage);
    }
}

/// The pointer `BaseSignal::current` holds for `list`.
fn raw<T>(list: &Arc<List<T>>) -> *mut List<T> {
    let list: &List<T> = list;
    std::ptr::from_ref(list).cast_mut()
}

/// The slots a write removes: most remove none or one, so no allocation.
type Removed<T> = SmallVec<[SlotRef<T>; 2]>;

/// The slots of the current list, split by a write.
struct Compacted<T> {
    kept: Vec<SlotRef<T>>,
    removed: Removed<T>,
    /// How many of `removed` had fired (they were counted in `fired`).
    fired: usize,
}

/// The slots of `current` a new list keeps: all but those `drop` selects
/// and the once-slots that fired, which it returns as removed. Forgets the
/// keys of the removed slots, and counts those that had fired. Each slot's
/// fate and its count are decided by one read of its state word, so a slot
/// that fires later stays, and is counted once it does. Every slot is in
/// exactly one of `kept` and `removed`.
fn compact<T>(
    writer: &mut Writer<T>,
    current: &[SlotRef<T>],
    drop: impl Fn(&Slot<T>) -> bool,
) -> Compacted<T> {
    let mut kept = Vec::with_capacity(current.len() + 1);
    let mut removed = Removed::new();
    let mut fired = 0;
    for slot in current {
        let has_fired = slot.state.has_fired();
        if has_fired || drop(slot) {
            fired += usize::from(has_fired);
            if let Some(key) = slot.key() {
                // Only if the key still names this slot: a new listener may
                // have taken it over from a fired one.
                if writer.keys.get(key) == Some(&slot.id) {
                    writer.keys.remove(key);
                }
            }
            removed.push(slot.copy());
        } else {
            kept.push(slot.copy());
        }
    }
    Compacted {
        kept,
        removed,
        fired,
    }
}

#[cold]
fn default_error_handler(error: EmitError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(listener = error.id(), key = error.key(), %error, "sigwire listener failed");
    #[cfg(not(feature = "tracing"))]
    drop(error);
}

impl<T> Drop for BaseSignal<T> {
    fn drop(&mut self) {
        // Every list is dropped here, under `dispose`'s catches, rather than
        // by the fields' drop glue, where a second panicking closure would
        // abort the process.
        let old = self
            .list
            .swap(Arc::new(List::new(Box::new([]), Config::empty())));
        let mut garbage = Garbage::new();
        // Connections that outlive the signal must see their listener as
        // disconnected.
        for slot in old.slots.iter() {
            slot.state.mark_disconnected();
            #[allow(unsafe_code)]
            // SAFETY: the current list's slots are the signal's, each
            // handed back once, here, as the list stops being current; no
            // emit can run (the signal is being dropped).
            garbage.slots.push(unsafe { slot.copy().into_arc() });
        }
        garbage.lists.push(old);
        {
            let mut writer = sync::lock(&self.writer);
            garbage.lists.append(&mut writer.retired.take_all());
            garbage
                .slots
                .extend(writer.dying.drain(..).map(|dying| dying.slot));
            #[cfg(loom)]
            garbage.slots.append(&mut writer.buried);
        }
        self.dispose(garbage);
        // The subscriptions' ring, under the same catch: an event left in it
        // (see `Ring::unsubscribe`) drops here, and its `Drop` is user code.
        let attached = sync::lock(&self.attached).take();
        self.release_with(0, None, attached);
    }
}

impl<T> fmt::Debug for BaseSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseSignal")
            .field("id", &self.hot.id)
            .field("len", &self.hot.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::{Compacted, Writer, compact};
    use crate::base::slot::{Slot, SlotRef};
    use crate::sync::{Arc, ErasedArc};

    fn writer<T>() -> Writer<T> {
        Writer::new()
    }

    fn slot(id: u64, key: Option<&str>, once: bool) -> SlotRef<u32> {
        let key = key.map(ErasedArc::from);
        SlotRef::new(Arc::new(Slot::new(
            id,
            key,
            0,
            once,
            crate::callback::plain(|_: &u32| {}),
        )))
    }

    /// Hands every slot back, once, as the signal does.
    fn free(slots: impl IntoIterator<Item = SlotRef<u32>>) {
        for slot in slots {
            #[allow(unsafe_code)]
            // SAFETY: each test slot is handed back once, here.
            drop(unsafe { slot.into_arc() });
        }
    }

    fn ids(slots: &[SlotRef<u32>]) -> Vec<u64> {
        slots.iter().map(|s| s.id).collect()
    }

    /// A compacted list keeps every slot but those the write drops and the
    /// once-slots that fired, in order; it forgets their keys and counts
    /// the fired ones.
    #[test]
    fn compact_drops_the_selected_and_the_fired_and_frees_their_keys() {
        let mut writer = writer();
        let slots = [
            slot(1, Some("a"), false),
            slot(2, Some("b"), true),
            slot(3, None, false),
            slot(4, Some("d"), false),
        ];
        for (key, id) in [("a", 1), ("b", 2), ("d", 4)] {
            writer.keys.insert(ErasedArc::from(key), id);
        }
        assert!(slots[1].state.claim_once());
        let Compacted {
            kept,
            removed,
            fired,
        } = compact(&mut writer, &slots, |s| s.id == 4);
        assert_eq!(ids(&kept), [1, 3]);
        assert_eq!(ids(&removed), [2, 4], "each slot is kept or removed");
        assert_eq!(fired, 1);
        let mut keys: Vec<&str> = writer.keys.keys().map(|k| &**k).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["a"]);
        free(slots);
    }

    /// A key taken over by a newer listener stays with it when the fired
    /// slot that held it before leaves.
    #[test]
    fn compact_leaves_a_key_that_a_newer_listener_took_over() {
        let mut writer = writer();
        let old = slot(1, Some("k"), true);
        assert!(old.state.claim_once());
        let new = slot(2, Some("k"), false);
        writer.keys.insert(ErasedArc::from("k"), 2);
        let slots = [old, new];
        let compacted = compact(&mut writer, &slots, |_| false);
        assert_eq!(ids(&compacted.kept), [2]);
        assert_eq!(ids(&compacted.removed), [1]);
        assert_eq!(compacted.fired, 1);
        assert_eq!(writer.keys.get("k"), Some(&2));
        free(slots);
    }
}
