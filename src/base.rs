//! `BaseSignal<T>`: the copy-on-write listener list every signal kind shares.
//!
//! Readers (emits) load the current [`List`] without a lock. Writers take
//! `writer`, build a new list, swap it in and update `len`. The writer keeps
//! lists it swapped out while readers still hold them (`retired`) and frees
//! them on a later write, so emitting threads rarely free a list and never
//! run a listener's destructor on the hot path. Nothing user-provided runs
//! while `writer` is held. See `docs/architecture.md`.

use std::collections::HashMap;
use std::fmt;

use crate::connection::{Connection, ConnectionHandle};
use crate::error::{DuplicateKey, EmitError, WouldDeadlock};
use crate::inflight;
use crate::list_cache;
use crate::slot::{Callback, Slot};
use crate::sync::{self, Arc, ArcSwap, AtomicU64, AtomicUsize, ErasedArc, Guard, Mutex, Ordering};

/// Ids for signals and slots. 0 is never handed out (it marks a free record
/// entry in `inflight`).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives.
    NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Signal ids have their own counter: `inflight` packs them into 48 bits,
/// which a process would need 2^48 signals to exhaust.
static NEXT_SIGNAL_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_signal_id() -> u64 {
    // Relaxed: only uniqueness matters, which the RMW gives.
    let id = NEXT_SIGNAL_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (id & inflight::MAX_SIGNAL_ID).max(1)
}

/// Called with every error a fallible listener returns under plain `emit`.
pub(crate) type ErrorHandler = ErasedArc<dyn Fn(EmitError) + Send + Sync + 'static>;

/// One immutable version of the listener list.
pub(crate) struct List<T> {
    /// Sorted by priority (highest first), then id (connection order).
    pub(crate) slots: Box<[Arc<Slot<T>>]>,
    pub(crate) on_error: Option<ErrorHandler>,
}

/// What writers share, under the writer lock.
struct Writer<T> {
    keys: HashMap<ErasedArc<str>, u64>,
    /// Swapped-out lists that some reader may still hold.
    retired: Vec<Arc<List<T>>>,
}

pub(crate) struct BaseSignal<T> {
    id: u64,
    list: ArcSwap<List<T>>,
    /// Number of slots in the current list; lets an empty emit return after
    /// one load.
    len: AtomicUsize,
    /// Bumped after every publication; tags the per-thread list caches.
    version: AtomicU64,
    /// Once-slots that fired but are still in the current list (the next
    /// write drops them). Wrapping: a fire's increment can land just after
    /// the write that dropped its slot, so it may briefly read as -1.
    fired: AtomicUsize,
    /// Errors of fallible listeners seen under plain `emit`.
    errors: AtomicU64,
    /// Emits nested too deep for the per-thread record (see `inflight`).
    overflow: AtomicUsize,
    writer: Mutex<Writer<T>>,
}

/// How a listener is connected.
pub(crate) struct Options {
    pub(crate) key: Option<ErasedArc<str>>,
    pub(crate) priority: i32,
    pub(crate) once: bool,
}

impl<T: 'static> BaseSignal<T> {
    pub(crate) fn new() -> Self {
        // Registering for membarrier can take milliseconds: do it when the
        // first signal is made, not on the first emit.
        #[cfg(not(loom))]
        crate::sync::init_barriers();
        Self {
            id: next_signal_id(),
            list: ArcSwap::new(Arc::new(List {
                slots: Box::new([]),
                on_error: None,
            })),
            len: AtomicUsize::new(0),
            version: AtomicU64::new(0),
            fired: AtomicUsize::new(0),
            errors: AtomicU64::new(0),
            overflow: AtomicUsize::new(0),
            writer: Mutex::new(Writer {
                keys: HashMap::new(),
                retired: Vec::new(),
            }),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The number of slots in the current list (fired once-slots included):
    /// what an emit checks to skip an empty signal.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a connect that happens-before this load is seen by
        // coherence; the list itself is published by the ArcSwap.
        self.len.load(Ordering::Relaxed)
    }

    /// The number of connected listeners: the current list without the
    /// once-slots that fired.
    pub(crate) fn live_len(&self) -> usize {
        // Relaxed (both): a snapshot for the caller; see `fired`.
        let fired = self.fired.load(Ordering::Relaxed) as isize;
        (self.len.load(Ordering::Relaxed) as isize - fired).max(0) as usize
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

    /// A counted reference to the current list.
    pub(crate) fn load_full(&self) -> Arc<List<T>> {
        Arc::clone(&self.list.load())
    }

    /// The version of the current list (see `list_cache`).
    #[inline(always)]
    pub(crate) fn version(&self) -> u64 {
        // Acquire: pairs with the Release bump in `publish`, so a list loaded
        // after reading version v is at least as new as version v.
        self.version.load(Ordering::Acquire)
    }

    pub(crate) fn swap_cell(&self) -> &ArcSwap<List<T>> {
        &self.list
    }

    /// Records an emit as running until the guard drops, for
    /// `disconnect_wait`.
    #[inline(always)]
    pub(crate) fn enter(&self) -> inflight::Recorded<'_> {
        inflight::enter(self.id, &self.overflow)
    }

    /// Connects `callback`; fails only if `options.key` is taken.
    pub(crate) fn connect(
        this: &Arc<Self>,
        options: Options,
        callback: Callback<T>,
    ) -> Result<Connection, DuplicateKey> {
        let id = next_id();
        let Options {
            key,
            priority,
            once,
        } = options;
        let slot = Arc::new(Slot::new(id, key.clone(), priority, once, callback));
        list_cache::forget(this.id);
        let handle = ConnectionHandle::erased(this, &slot);
        let mut garbage = Vec::new();
        {
            let mut writer = sync::lock(&this.writer);
            let current = this.list.load();
            if let Some(key) = &key {
                // A key whose listener fired (a once-listener) is free again.
                let taken = writer.keys.get(key).is_some_and(|&holder| {
                    current
                        .slots
                        .iter()
                        .any(|s| s.id == holder && !s.has_fired())
                });
                if taken {
                    return Err(DuplicateKey::new(ErasedArc::clone(key)));
                }
                writer.keys.insert(ErasedArc::clone(key), id);
            }
            let (mut slots, dropped) = compact(&mut writer, &current.slots, |_| false);
            // Higher priority first; equal priorities keep connection order
            // (the new slot has the largest id, so it goes after its equals).
            let at = slots.partition_point(|s| s.priority >= priority);
            slots.insert(at, slot);
            let on_error = current.on_error.clone();
            drop(current);
            this.publish(&mut writer, slots, on_error, dropped, &mut garbage);
        }
        drop(garbage);
        Ok(Connection::new(handle))
    }

    /// Removes the slot with `id` from the list (it is already marked
    /// disconnected or fired). True if it was in the list.
    pub(crate) fn remove(&self, id: u64) -> bool {
        list_cache::forget(self.id);
        let mut garbage = Vec::new();
        let removed = {
            let mut writer = sync::lock(&self.writer);
            let current = self.list.load();
            if current.slots.iter().any(|s| s.id == id) {
                let (slots, dropped) = compact(&mut writer, &current.slots, |s| s.id == id);
                let on_error = current.on_error.clone();
                drop(current);
                self.publish(&mut writer, slots, on_error, dropped, &mut garbage);
                true
            } else {
                false
            }
        };
        drop(garbage);
        removed
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
                    .cloned()
            })
        };
        match slot {
            Some(slot) => {
                let was_connected = slot.mark_disconnected();
                self.remove(slot.id);
                drop(slot);
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
                .any(|s| s.id == holder && s.is_connected())
        })
    }

    /// Disconnects every listener.
    pub(crate) fn clear(&self) {
        list_cache::forget(self.id);
        let mut garbage = Vec::new();
        {
            let mut writer = sync::lock(&self.writer);
            let current = self.list.load();
            for slot in current.slots.iter() {
                slot.mark_disconnected();
            }
            let (slots, dropped) = compact(&mut writer, &current.slots, |_| true);
            let on_error = current.on_error.clone();
            drop(current);
            self.publish(&mut writer, slots, on_error, dropped, &mut garbage);
        }
        drop(garbage);
    }

    pub(crate) fn set_error_handler(&self, handler: Option<ErrorHandler>) {
        list_cache::forget(self.id);
        let mut garbage = Vec::new();
        {
            let mut writer = sync::lock(&self.writer);
            let current = self.list.load();
            let (slots, dropped) = compact(&mut writer, &current.slots, |_| false);
            drop(current);
            self.publish(&mut writer, slots, handler, dropped, &mut garbage);
        }
        drop(garbage);
    }

    /// Frees the retired lists no reader holds any more, if the writer lock
    /// is free; never waits. Called by an emitting thread after its cache let
    /// go of a list of this signal (once per write, per thread).
    #[cold]
    pub(crate) fn sweep_retired(&self) {
        let garbage = match sync::try_lock(&self.writer) {
            Some(mut writer) => sweep(&mut writer.retired),
            None => return,
        };
        drop(garbage);
    }

    /// Waits for running emits of this signal (see `inflight::wait_for`).
    pub(crate) fn wait_for_emits(&self) -> Result<(), WouldDeadlock> {
        inflight::wait_for(self.id, &self.overflow)
    }

    /// Reports an error a fallible listener returned under plain `emit`.
    #[cold]
    pub(crate) fn report(&self, list: &List<T>, slot: &Slot<T>, error: crate::error::BoxError) {
        // Relaxed: a statistic; nothing is published through it.
        self.errors.fetch_add(1, Ordering::Relaxed);
        let error = EmitError::new(slot.id, slot.key.clone(), error);
        match &list.on_error {
            Some(handler) => handler(error),
            None => default_error_handler(error),
        }
    }

    pub(crate) fn error_count(&self) -> u64 {
        // Relaxed: a statistic.
        self.errors.load(Ordering::Relaxed)
    }

    /// Publishes a new list and retires the old one. Lists (and so slots and
    /// their closures) that are no longer referenced go to `garbage`, which
    /// the caller drops after releasing the writer lock.
    fn publish(
        &self,
        writer: &mut Writer<T>,
        slots: Vec<Arc<Slot<T>>>,
        on_error: Option<ErrorHandler>,
        fired_dropped: usize,
        garbage: &mut Vec<Arc<List<T>>>,
    ) {
        // Relaxed: see `note_fired`.
        self.fired.fetch_sub(fired_dropped, Ordering::Relaxed);
        let len = slots.len();
        let old = self.list.swap(Arc::new(List {
            slots: slots.into_boxed_slice(),
            on_error,
        }));
        // Relaxed: see `len`.
        self.len.store(len, Ordering::Relaxed);
        // Release: a reader that sees the new version (Acquire) then loads
        // this list or a later one. Writers are serialised by the lock, so a
        // plain load-and-store increments.
        let version = self.version.load(Ordering::Relaxed);
        self.version.store(version + 1, Ordering::Release);
        writer.retired.push(old);
        garbage.extend(sweep(&mut writer.retired));
    }
}

/// Takes out of `retired` the lists only it references: they are not the
/// current list, so no reader can load them again; they are garbage.
fn sweep<T>(retired: &mut Vec<Arc<List<T>>>) -> Vec<Arc<List<T>>> {
    let mut garbage = Vec::new();
    let mut at = 0;
    while at < retired.len() {
        if Arc::strong_count(&retired[at]) == 1 {
            garbage.push(retired.swap_remove(at));
        } else {
            at += 1;
        }
    }
    garbage
}

/// The slots of `current` a new list keeps: all but those `drop` selects
/// and the once-slots that fired. Forgets the keys of the slots it leaves
/// out, and returns how many of those had fired (they were counted in
/// `fired`). Each slot's fate and its count are decided by one read of its
/// state word, so a slot that fires later stays, and is counted once it does.
fn compact<T>(
    writer: &mut Writer<T>,
    current: &[Arc<Slot<T>>],
    drop: impl Fn(&Slot<T>) -> bool,
) -> (Vec<Arc<Slot<T>>>, usize) {
    let mut kept = Vec::with_capacity(current.len() + 1);
    let mut fired = 0;
    for slot in current {
        let has_fired = slot.has_fired();
        if has_fired || drop(slot) {
            fired += usize::from(has_fired);
            if let Some(key) = &slot.key {
                // Only if the key still names this slot: a new listener may
                // have taken it over from a fired one.
                if writer.keys.get(key) == Some(&slot.id) {
                    writer.keys.remove(key);
                }
            }
        } else {
            kept.push(Arc::clone(slot));
        }
    }
    (kept, fired)
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
        // Connections that outlive the signal must see their listener as
        // disconnected.
        for slot in self.list.load().slots.iter() {
            slot.mark_disconnected();
        }
        list_cache::forget(self.id);
    }
}

impl<T> fmt::Debug for BaseSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseSignal")
            .field("id", &self.id)
            .field("len", &self.len.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
