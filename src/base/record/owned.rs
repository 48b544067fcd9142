//! Records that `Emitter`s own ([`Owned`]): an emitter takes a record from
//! the pool for its life and records its emits in the first entry, on
//! whatever thread it runs; `is_inside` finds them through the owner token
//! ([`owned_inside`]). The protocol is in `docs/ordering.md` ("An
//! `Emitter`'s own record").

#[cfg(not(loom))]
use super::LOCAL;
use super::{Entry, MAX_SIGNAL_ID, READS_NONE, RecordRef, SEQ_ONE, signal_of, storage};
use crate::sync::{self, AtomicUsize, Ordering};

/// How many records `Emitter`s own: while none does, `is_inside` looks at
/// none. It only spares a search: an emitter's thread counted its own
/// record, or received the emitter through a hand-over that ordered the
/// count before it. Under loom, one per model execution (a process-wide
/// one would make executions depend on each other).
#[cfg(not(loom))]
static OWNED: AtomicUsize = AtomicUsize::new(0);

#[cfg(loom)]
loom::lazy_static! {
    static ref OWNED: AtomicUsize = AtomicUsize::new(0);
}

/// Whether an `Emitter` is running an emit of `signal` on this thread.
#[cold]
pub(super) fn owned_inside(signal: u64) -> bool {
    // Relaxed: see `OWNED`.
    if OWNED.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let me = token();
    storage::any(|record| {
        // The word first, Acquire: an emit running on another thread
        // stored its own token before its word (Release), so the owner
        // read next is that token (or a later one), never this thread's
        // stale one from an emit before the emitter moved away. An emit
        // running on this thread stored both itself.
        signal_of(record.entries[0].word.load(Ordering::Acquire)) == signal
            // Relaxed: ordered after the word by its Acquire load.
            && record.owner.load(Ordering::Relaxed) == me
    })
}

/// This thread's token: the address of its `Local`, unique among running
/// threads (never 0).
#[cfg(not(loom))]
#[inline(always)]
fn token() -> usize {
    LOCAL
        .try_with(|local| std::ptr::from_ref(local).addr())
        // Fails only while the thread's storage is torn down: then any
        // non-zero value other threads cannot have would do.
        .unwrap_or(usize::MAX)
}

/// Under loom, a number per model thread: loom's thread locals can share
/// an address between two threads of one execution (a model saw an
/// emitter's token equal to the waiting thread's), so addresses are not
/// tokens there. A std counter, as for ids: uniqueness is all that matters.
#[cfg(loom)]
fn token() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    loom::thread_local! {
        static TOKEN: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    TOKEN.try_with(|token| *token).unwrap_or(usize::MAX)
}

/// A record an `Emitter` owns: its first entry records the emitter's emits,
/// which are never nested (`emit` takes `&mut self`) and may run on any
/// thread, one at a time. An emit costs two stores to the entry and one to
/// the owner, instead of the thread record's push and pop. Scans see the
/// record as any other (it is listed with the threads' records, and counted
/// in use, so a scan never skips the heavy barrier while it exists).
pub(crate) struct Owned {
    record: RecordRef,
    /// The entry's word between emits: the last sequence, no signal.
    idle: u64,
    /// membarrier is registered: the light barrier is a compiler fence.
    /// Read once, here: the mode never changes once the first record was
    /// taken.
    #[cfg(not(loom))]
    fenced_by_membarrier: bool,
}

impl Owned {
    pub(crate) fn new() -> Self {
        let record = storage::take();
        // Relaxed: see `OWNED`.
        OWNED.fetch_add(1, Ordering::Relaxed);
        let entry = &record.entries[0];
        // Relaxed: nothing reads this record's entries for this emitter yet;
        // whoever had it last is ordered before us by the pool's lock. The
        // emitter holds its list by reference count, so its emits read no
        // list through the raw pointer.
        entry.reads.store(READS_NONE, Ordering::Relaxed);
        // The entry is free (its signal bits 0); keep its sequence.
        let idle = entry.word.load(Ordering::Relaxed) & !MAX_SIGNAL_ID;
        Self {
            record,
            idle,
            #[cfg(not(loom))]
            fenced_by_membarrier: sync::membarrier_registered(),
        }
    }

    /// Records an emit of `signal` as running until the guard drops.
    #[inline(always)]
    pub(crate) fn enter(&mut self, signal: u64) -> OwnedEmit<'_> {
        // In a local: the fence below would make `self.idle` be read again.
        let idle = self.idle.wrapping_add(SEQ_ONE);
        self.idle = idle;
        let entry = &self.record.entries[0];
        // Relaxed: the Release push below orders it first for an
        // `is_inside` on another thread that reads the push (Acquire).
        self.record.owner.store(token(), Ordering::Relaxed);
        // As a push (`Local::push`): Release, and ordered before the emit's
        // loads by the light barrier that follows.
        entry.word.store(idle | signal, Ordering::Release);
        #[cfg(not(loom))]
        if self.fenced_by_membarrier {
            sync::compiler_fence(Ordering::SeqCst);
        } else {
            sync::light_barrier();
        }
        #[cfg(loom)]
        sync::light_barrier();
        OwnedEmit { entry, idle }
    }
}

impl Drop for Owned {
    fn drop(&mut self) {
        // Relaxed: the pool's lock orders it before the record's next owner.
        self.record.owner.store(0, Ordering::Relaxed);
        // Relaxed: see `OWNED`.
        OWNED.fetch_sub(1, Ordering::Relaxed);
        storage::release(RecordRef::clone(&self.record));
    }
}

/// An `Emitter`'s emit recorded as running; dropping it (at the end of the
/// emit, even by panic) stores the idle word back.
pub(crate) struct OwnedEmit<'a> {
    entry: &'a Entry,
    idle: u64,
}

impl Drop for OwnedEmit<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Release: as a pop; a waiter that reads it (Acquire) sees every
        // effect of the emit. The word changed, so `Readers::done` sees it.
        self.entry.word.store(self.idle, Ordering::Release);
    }
}
