//! Which emits are running, per thread: what `disconnect_wait` waits for,
//! and what writers check before freeing an old listener list.
//!
//! Every thread that emits owns a [`Record`]: a fixed stack of entry words,
//! one per emit running on that thread (nested emits push deeper entries).
//! An entry packs the signal's id with a per-thread sequence number. Only the
//! owning thread writes its record, with plain stores; a light barrier (a
//! compiler fence when membarrier is available) separates the push from the
//! emit's loads (state words, the list pointer). A waiter marks the slot
//! disconnected (a writer swaps the list), then [`scan`]s: the heavy barrier
//! (or, when no other thread holds a record, a local fence) and a read of
//! every record. Records are pooled: a thread that
//! exits hands its record to the next thread that emits. The protocol is
//! described in `docs/ordering.md`. This file is over 600 lines because
//! the record's storage comes twice (std's, and loom's per-execution one)
//! beside the one protocol both serve. `owned.rs` holds the records
//! `Emitter`s own; `test.rs` the unit tests.

use std::cell::Cell;

#[cfg(not(loom))]
use crossbeam_utils::Backoff;
use crossbeam_utils::CachePadded;

use crate::error::WouldDeadlock;
use crate::sync::{self, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Emits nested deeper than this on one thread use the per-signal overflow
/// counter instead of the record.
const DEPTH: usize = 32;

/// An entry holding 0 is free; no signal has id 0.
const FREE: u64 = 0;

/// Bits of an entry word that hold the signal's id, below the sequence
/// number: the push then adds the sequence to the id as it is, and the
/// sequence wraps out of the word by itself.
const SIGNAL_BITS: u32 = 40;

/// Signal ids must fit below the sequence bits.
pub(crate) const MAX_SIGNAL_ID: u64 = (1 << SIGNAL_BITS) - 1;

/// One step of the sequence number, in place in the word.
const SEQ_ONE: u64 = 1 << SIGNAL_BITS;

/// The signal an entry word names (`FREE` names none).
#[inline(always)]
fn signal_of(word: u64) -> u64 {
    word & MAX_SIGNAL_ID
}

/// What an entry's `reads` holds before its emit loaded the list pointer:
/// the emit may read any list that is current until it does.
pub(crate) const READS_UNKNOWN: usize = 0;

/// What an entry's `reads` holds for an emit that reads no list through
/// the raw pointer (an `Emitter` holds its list by reference count; a
/// stolen half of an async fan-out reads the list of the entry that
/// stole it).
pub(crate) const READS_NONE: usize = 1;

/// One thread's running emits, readable by every thread; or, taken by an
/// `Emitter` ([`Owned`]), that emitter's, in its first entry.
pub(crate) struct Record {
    entries: [Entry; DEPTH],
    /// For a record an `Emitter` owns: the thread its running emit runs on
    /// ([`token`]), so that `is_inside` finds it. 0 for a thread's record.
    owner: AtomicUsize,
}

/// One running emit: which signal (and which emit of it), and which list
/// it reads.
struct Entry {
    /// `sequence << 40 | signal id`, or `FREE`.
    word: AtomicU64,
    /// The address of the list the emit reads through the raw pointer,
    /// `READS_UNKNOWN` until it loaded it, or `READS_NONE`. Lets a writer free
    /// the lists a long emit cannot be reading (see `Readers::of`).
    reads: AtomicUsize,
}

impl Record {
    fn new() -> Self {
        Self {
            entries: std::array::from_fn(|_| Entry {
                word: AtomicU64::new(FREE),
                reads: AtomicUsize::new(READS_UNKNOWN),
            }),
            owner: AtomicUsize::new(0),
        }
    }
}

/// The owning thread's view of its record.
struct Local {
    record: Cell<Option<RecordRef>>,
    /// How many emits are running on this thread.
    depth: Cell<usize>,
    /// Distinguishes successive emits at the same depth: a multiple of
    /// `SEQ_ONE`, so that it lies above the signal's id in the word.
    seq: Cell<u64>,
    /// Signals of the running emits that have no record entry (nested
    /// deeper than `DEPTH`, or run while the thread exits) and count in their
    /// signal's overflow counter instead: only this thread needs to know
    /// them, to refuse a `disconnect_wait` that would wait for itself. The
    /// first `DEPTH` are noted here, the rest in `storage::DEEPER`.
    overflowed: [Cell<u64>; DEPTH],
    overflowed_len: Cell<usize>,
    /// Notes that found `DEEPER` gone (the thread is exiting): for these
    /// only the signals' overflow counters answer, conservatively.
    lost: Cell<usize>,
    /// Set when the thread's record went back to the pool at thread exit:
    /// later emits (from other thread-local destructors) go straight to the
    /// overflow path instead of trying to register again.
    exiting: Cell<bool>,
    /// The thread's record again, but only where the light barrier is a
    /// compiler fence (membarrier is registered; never under loom): then
    /// the emit path's one check of this field covers both questions.
    #[cfg(not(loom))]
    fast: Cell<Option<RecordRef>>,
}

#[cfg(not(loom))]
mod storage {
    //! Records live for the whole process (`&'static`), are listed in
    //! `ALL`, and are handed from exiting threads to new ones through `FREE`.

    use super::{CachePadded, Cell, Local, Mutex, Record, sync};

    pub(super) type RecordRef = &'static CachePadded<Record>;

    /// A pushed entry: records live forever, so a plain reference.
    pub(super) type EntryRef = &'static super::Entry;

    #[inline(always)]
    pub(super) fn entry(record: RecordRef, at: usize) -> EntryRef {
        &record.entries[at]
    }

    #[inline(always)]
    pub(super) fn get(entry: &EntryRef) -> &super::Entry {
        entry
    }

    /// Whether two references name the same record.
    pub(super) fn same(a: &RecordRef, b: &RecordRef) -> bool {
        std::ptr::eq(*a, *b)
    }

    static ALL: Mutex<Vec<RecordRef>> = Mutex::new(Vec::new());
    static POOL: Mutex<Pool> = Mutex::new(Pool {
        free: Vec::new(),
        in_use: 0,
    });

    /// Records of exited threads, and how many records threads hold now.
    /// Every registration goes through this lock, so a writer that finds
    /// `in_use` counting only its own thread knows that any thread taking a
    /// record later sees the writer's earlier stores (see [`records`]).
    struct Pool {
        free: Vec<RecordRef>,
        in_use: usize,
    }

    std::thread_local! {
        // Const-initialised and without a destructor: reaching it costs one
        // thread-pointer-relative address computation.
        pub(super) static LOCAL: Local = const { Local::new() };
        // Returns the record to the pool when the thread exits.
        static OWNER: Owner = const { Owner(Cell::new(None)) };
    }

    struct Owner(Cell<Option<RecordRef>>);

    impl Drop for Owner {
        fn drop(&mut self) {
            if let Some(record) = self.0.take() {
                // The LOCAL thread local has no destructor, so it is still
                // reachable; later emits on this thread use the overflow path.
                let _ = LOCAL.try_with(|local| {
                    local.record.set(None);
                    local.fast.set(None);
                    local.exiting.set(true);
                });
                release(record);
            }
        }
    }

    std::thread_local! {
        /// Overflow notes past the first `DEPTH` (see `Local::overflowed`):
        /// only emits nested more than `2 * DEPTH` deep reach it, and the
        /// first such emit on a thread allocates its buffer.
        pub(super) static DEEPER: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Hands a record back to the pool.
    pub(super) fn release(record: RecordRef) {
        let mut pool = sync::lock(&POOL);
        pool.free.push(record);
        pool.in_use -= 1;
    }

    /// A record from the pool, or a new one, counted as in use.
    pub(super) fn take() -> RecordRef {
        sync::init_barriers();
        let pooled = {
            let mut pool = sync::lock(&POOL);
            pool.in_use += 1;
            pool.free.pop()
        };
        pooled.unwrap_or_else(|| {
            let record: RecordRef = Box::leak(Box::new(CachePadded::new(Record::new())));
            sync::lock(&ALL).push(record);
            record
        })
    }

    /// Whether `f` holds for some record; looked at under the list's lock,
    /// so nothing is copied.
    pub(super) fn any(f: impl FnMut(&RecordRef) -> bool) -> bool {
        sync::lock(&ALL).iter().any(f)
    }

    /// Gives this thread a record; `None` while the thread is exiting.
    #[cold]
    pub(super) fn register(local: &Local) -> Option<RecordRef> {
        let record = take();
        if OWNER.try_with(|owner| owner.0.set(Some(record))).is_err() {
            // The thread is exiting: later emits go straight to the overflow
            // path instead of trying again.
            local.exiting.set(true);
            release(record);
            return None;
        }
        local.record.set(Some(record));
        if sync::membarrier_registered() {
            local.fast.set(Some(record));
        }
        Some(record)
    }

    /// The calling thread's record (without taking one), and whether a
    /// thread other than the caller holds a record.
    pub(super) fn mine() -> (Option<RecordRef>, bool) {
        let in_use = sync::lock(&POOL).in_use;
        let mine = LOCAL.try_with(|local| local.record.get()).ok().flatten();
        (mine, in_use > usize::from(mine.is_some()))
    }

    /// Every record, and whether a thread other than the caller holds one.
    pub(super) fn records() -> (Vec<RecordRef>, bool) {
        let (_, others) = mine();
        (sync::lock(&ALL).clone(), others)
    }
}

#[cfg(loom)]
mod storage {
    //! Under loom, records belong to one model execution: reference-counted,
    //! listed in a per-execution registry, never pooled.

    use super::{CachePadded, Local, Mutex, Record, sync};
    use crate::sync::ErasedArc;

    /// A std `Arc`, not loom's: loom drops thread locals outside the
    /// execution when a model fails, and dropping a loom `Arc` there would
    /// abort the whole test binary instead of reporting the failure. The
    /// reference count is not part of any protocol being checked.
    pub(super) type RecordRef = ErasedArc<CachePadded<Record>>;

    /// A pushed entry: the record, kept alive, and the entry's index.
    pub(super) type EntryRef = (RecordRef, usize);

    pub(super) fn entry(record: RecordRef, at: usize) -> EntryRef {
        (record, at)
    }

    pub(super) fn get(entry: &EntryRef) -> &super::Entry {
        &entry.0.entries[entry.1]
    }

    /// Whether two references name the same record.
    pub(super) fn same(a: &RecordRef, b: &RecordRef) -> bool {
        ErasedArc::ptr_eq(a, b)
    }

    loom::lazy_static! {
        static ref ALL: Mutex<Vec<RecordRef>> = Mutex::new(Vec::new());
    }

    loom::thread_local! {
        pub(super) static LOCAL: Local = Local::new();
        pub(super) static DEEPER: std::cell::RefCell<Vec<u64>> = std::cell::RefCell::new(Vec::new());
    }

    pub(super) fn register(local: &Local) -> Option<RecordRef> {
        let record = take();
        local.record.set(Some(ErasedArc::clone(&record)));
        Some(record)
    }

    /// A new record, listed for the execution.
    pub(super) fn take() -> RecordRef {
        let record = ErasedArc::new(CachePadded::new(Record::new()));
        sync::lock(&ALL).push(ErasedArc::clone(&record));
        record
    }

    /// Records are not pooled under loom.
    pub(super) fn release(record: RecordRef) {
        drop(record);
    }

    /// Whether `f` holds for some record; looked at under the list's lock,
    /// so nothing is copied.
    pub(super) fn any(f: impl FnMut(&RecordRef) -> bool) -> bool {
        sync::lock(&ALL).iter().any(f)
    }

    /// The calling thread's record (without taking one), and whether
    /// another record exists (as `records`).
    pub(super) fn mine() -> (Option<RecordRef>, bool) {
        let mine = LOCAL
            .try_with(|local| {
                let record = local.record.take();
                local.record.set(record.clone());
                record
            })
            .ok()
            .flatten();
        let others = sync::lock(&ALL).iter().any(|record| {
            !mine
                .as_ref()
                .is_some_and(|mine| ErasedArc::ptr_eq(mine, record))
        });
        (mine, others)
    }

    /// Every record, and whether a thread other than the caller holds one
    /// (under loom records are never handed back, so "ever held one").
    pub(super) fn records() -> (Vec<RecordRef>, bool) {
        let (_, others) = mine();
        (sync::lock(&ALL).clone(), others)
    }
}

use storage::{EntryRef, LOCAL, RecordRef};

mod owned;

pub(crate) use owned::Owned;
use owned::owned_inside;

/// Notes `signal` past the first `DEPTH` overflow notes (in
/// `storage::DEEPER`); false if the thread's storage is gone (it is
/// exiting).
fn deeper_push(signal: u64) -> bool {
    storage::DEEPER
        .try_with(|deeper| deeper.borrow_mut().push(signal))
        .is_ok()
}

fn deeper_pop() {
    let _ = storage::DEEPER.try_with(|deeper| deeper.borrow_mut().pop());
}

/// Whether the notes past the first `DEPTH` name `signal`; `None` if the
/// thread's storage is gone.
fn deeper_contains(signal: u64) -> Option<bool> {
    storage::DEEPER
        .try_with(|deeper| deeper.borrow().contains(&signal))
        .ok()
}

impl Local {
    const fn new() -> Self {
        Self {
            record: Cell::new(None),
            depth: Cell::new(0),
            seq: Cell::new(0),
            overflowed: [const { Cell::new(FREE) }; DEPTH],
            overflowed_len: Cell::new(0),
            lost: Cell::new(0),
            exiting: Cell::new(false),
            #[cfg(not(loom))]
            fast: Cell::new(None),
        }
    }

    #[inline(always)]
    fn record(&self) -> Option<RecordRef> {
        #[cfg(not(loom))]
        let record = self.record.get();
        #[cfg(loom)]
        let record = {
            let record = self.record.take();
            self.record.set(record.clone());
            record
        };
        match record {
            Some(record) => Some(record),
            None if self.exiting.get() => None,
            None => storage::register(self),
        }
    }

    /// Whether this thread is inside an emit of `signal`. Only this
    /// thread's own record and notes answer, so another thread's emits of
    /// `signal` never count; `in_overflow` (the signal's overflow counter is
    /// non-zero) answers only for notes this thread could not keep.
    fn is_emitting(&self, signal: u64, in_overflow: bool) -> bool {
        let recorded = self.depth.get().min(DEPTH);
        let in_record = recorded > 0
            && self.record().is_some_and(|record| {
                record.entries[..recorded]
                    .iter()
                    // Relaxed: these are this thread's own stores.
                    .any(|entry| signal_of(entry.word.load(Ordering::Relaxed)) == signal)
            });
        let noted = self.overflowed_len.get();
        in_record
            || self.overflowed[..noted.min(DEPTH)]
                .iter()
                .any(|note| note.get() == signal)
            || (noted > DEPTH && deeper_contains(signal).unwrap_or(in_overflow))
            || (self.lost.get() > 0 && in_overflow)
    }

    /// Stores the word of a new emit of `signal` into `entry`; `reads` is
    /// `READS_UNKNOWN` for an emit that loads the list pointer next, `READS_NONE`
    /// for one that does not.
    #[inline(always)]
    fn push(&self, entry: &Entry, signal: u64, reads: usize) {
        let seq = self.seq.get().wrapping_add(SEQ_ONE);
        self.seq.set(seq);
        // Ordered before the word by the Release store below, so a scan
        // that reads the word never sees an earlier emit's `reads`. Release:
        // a scan that reads this value (Acquire) although it read the
        // previous emit's word then sees that emit's pop too (`scan`).
        entry.reads.store(reads, Ordering::Release);
        // Ordered before the emit's loads (state words, `current`) by the
        // light barrier that follows (docs/ordering.md). Release: a waiter
        // that reads this push (Acquire) also sees the pop of the previous
        // emit of this entry, and the `reads` just stored.
        entry.word.store(seq | signal, Ordering::Release);
    }

    fn note_overflowed(&self, signal: u64) {
        let len = self.overflowed_len.get();
        match self.overflowed.get(len) {
            Some(note) => note.set(signal),
            None if deeper_push(signal) => {}
            None => self.lost.set(self.lost.get() + 1),
        }
        self.overflowed_len.set(len + 1);
    }

    fn pop_overflowed(&self) {
        let len = self.overflowed_len.get() - 1;
        self.overflowed_len.set(len);
        if len >= DEPTH {
            // Notes are lost only once `DEEPER` is gone, after every note it
            // holds: the newest note is a lost one while any is.
            match self.lost.get() {
                0 => deeper_pop(),
                lost => self.lost.set(lost - 1),
            }
        }
    }
}

/// An emit recorded as running on this thread; dropping it (at the end of
/// the emit, even by panic) pops the record entry or the overflow count.
pub(crate) struct Recorded<'a> {
    /// The entry this emit pushed; `None` if it is counted in `overflow`.
    entry: Option<EntryRef>,
    overflow: &'a AtomicUsize,
}

/// Records an emit of signal `signal` as running on this thread, so that
/// `disconnect_wait` can wait for it, until the returned guard is dropped.
/// `reads` is `READS_UNKNOWN` for an emit that loads the list pointer next (it
/// then calls [`Recorded::reads`]), `READS_NONE` for one that does not.
#[inline(always)]
pub(crate) fn enter(signal: u64, overflow: &AtomicUsize, reads: usize) -> Recorded<'_> {
    let pushed = LOCAL.try_with(|local| {
        let depth = local.depth.get();
        local.depth.set(depth + 1);
        if depth < DEPTH {
            #[cfg(not(loom))]
            if let Some(record) = local.fast.get() {
                local.push(&record.entries[depth], signal, reads);
                // membarrier is registered: the light barrier is a
                // compiler fence.
                sync::compiler_fence(Ordering::SeqCst);
                return Some(storage::entry(record, depth));
            }
            if let Some(entry) = push_slow(local, signal, depth, reads) {
                return Some(entry);
            }
        }
        local.note_overflowed(signal);
        None
    });
    match pushed {
        Ok(Some(entry)) => Recorded {
            entry: Some(entry),
            overflow,
        },
        // Only under loom can the thread local be gone (std's has no
        // destructor); then the thread's depth was not raised either, and
        // `Drop` finds the thread local gone too.
        Ok(None) | Err(_) => overflowed(overflow),
    }
}

/// `enter` on a thread without a fast record: the thread's first emit, a
/// process without membarrier (a real fence), loom, or an exiting thread
/// (`None`).
#[cold]
#[inline(never)]
fn push_slow(local: &Local, signal: u64, depth: usize, reads: usize) -> Option<EntryRef> {
    let record = local.record()?;
    local.push(&record.entries[depth], signal, reads);
    sync::light_barrier();
    Some(storage::entry(record, depth))
}

/// Counts an emit in the signal's overflow counter: nested deeper than
/// `DEPTH`, or on a thread whose record is gone.
#[cold]
#[inline(never)]
fn overflowed(overflow: &AtomicUsize) -> Recorded<'_> {
    // Relaxed: ordered by the full fence that follows. A full fence, not the
    // light barrier: this emit may run on a thread that no longer holds a
    // record (it is exiting), and a scan that finds no other thread holding
    // one skips the heavy barrier and relies on a fence of its own.
    overflow.fetch_add(1, Ordering::Relaxed);
    sync::full_fence();
    Recorded {
        entry: None,
        overflow,
    }
}

impl Drop for Recorded<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        match &self.entry {
            Some(entry) => {
                let _ = LOCAL.try_with(|local| local.depth.set(local.depth.get() - 1));
                // Release: a waiter that reads FREE (Acquire) sees every
                // effect of the listeners this emit ran.
                storage::get(entry).word.store(FREE, Ordering::Release);
            }
            None => self.pop_overflowed(),
        }
    }
}

impl Recorded<'_> {
    /// Whether this emit has a record entry (the usual case), rather than
    /// being counted in the signal's overflow counter.
    #[inline(always)]
    pub(crate) fn has_entry(&self) -> bool {
        self.entry.is_some()
    }

    /// Notes that this emit reads `list` (the address it loaded from the
    /// list pointer, or the key of what it reads; see `base::retire`), and
    /// no other, until it pops or notes again. Noting `READS_NONE` once it
    /// is done with what it read raw frees that for writers.
    #[inline(always)]
    pub(crate) fn reads(&self, list: usize) {
        if let Some(entry) = &self.entry {
            // Release: as for the store of `push` (a scan may read it for
            // the previous emit of this entry, and must then see its pop).
            // What it tells is only which list this emit's own load returned.
            storage::get(entry).reads.store(list, Ordering::Release);
        }
    }

    #[cold]
    #[inline(never)]
    fn pop_overflowed(&self) {
        let _ = LOCAL.try_with(|local| {
            local.depth.set(local.depth.get() - 1);
            local.pop_overflowed();
        });
        // Release: as for a pop of an entry.
        self.overflow.fetch_sub(1, Ordering::Release);
    }
}

/// The emits of one signal that were running at a [`scan`], each known by
/// its record entry, the word the entry held and the list it read.
pub(crate) struct Readers {
    running: Vec<Reader>,
}

struct Reader {
    record: RecordRef,
    at: usize,
    word: u64,
    /// The entry's `reads` at the scan.
    reads: usize,
}

/// What a writer sees of the emits of `signal` running on other threads,
/// without a barrier: `None` if it sees none, else a fingerprint of those
/// it sees (their entry words, each with its sequence number), so that the
/// caller can tell emits that come and go from the same emits still
/// running. A hint for a writer deciding when to scan
/// (`retire::Retired::reclaim`), proof of nothing: it only ever decides
/// when a scan happens. Allocates nothing.
///
/// The calling thread's own record is left out (its emits are not "on
/// another thread", and a scan handles them exactly). A thread emitting in
/// a loop spends most of its time inside emits, but one look can fall
/// between two: this looks up to `LOOKS` times, a short spin apart, before
/// it reports nothing. It looks only when another thread holds a record,
/// which is also when a scan costs a heavy barrier.
pub(crate) fn seen_running(signal: u64) -> Option<u64> {
    #[cfg(not(loom))]
    const LOOKS: usize = 4;
    #[cfg(loom)]
    const LOOKS: usize = 1;
    let (mine, others) = storage::mine();
    if !others {
        return None;
    }
    (0..LOOKS).find_map(|look| {
        if look > 0 {
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
        let mut seen = None::<u64>;
        storage::any(|record| {
            if mine
                .as_ref()
                .is_some_and(|mine| storage::same(mine, record))
            {
                return false;
            }
            for entry in &record.entries {
                // Relaxed: a hint; a stale or missed entry only decides
                // whether a write scans now or leaves its values to a later
                // scan, and every scan orders itself (`scan`). An emit that
                // popped before the caller's write happened-before it (a
                // thread the caller synchronised with) shows its pop here.
                let word = entry.word.load(Ordering::Relaxed);
                if word == FREE {
                    // Entries are pushed in order: none in use past a free
                    // one (as far as a hint can tell).
                    break;
                }
                if signal_of(word) == signal {
                    seen = Some(seen.unwrap_or(0).wrapping_add(word));
                }
            }
            false
        });
        seen
    })
}

/// Finds every emit of `signal` that may still read something the caller
/// stopped publishing before calling this: the caller's earlier stores (a
/// list pointer, a state word) are visible to every emit that pushes its
/// entry later, and every emit that pushed earlier is in the result.
///
/// Costs a heavy barrier, unless no other thread holds a record (then no
/// other thread can be inside an emit, and any thread that takes a record
/// later does so through the pool's lock, after the caller's stores).
pub(crate) fn scan(signal: u64) -> Readers {
    let (records, others) = storage::records();
    if others {
        sync::heavy_barrier();
    } else {
        // No other thread holds a record, but an exiting thread may still
        // emit through the overflow counter, behind a full fence; this fence
        // pairs with it (the caller's next loads of the counter and state
        // words are then ordered after its stores, as with the heavy one).
        sync::full_fence();
    }
    let mut running = Vec::new();
    for record in &records {
        for at in 0..DEPTH {
            let entry = &record.entries[at];
            // After the heavy barrier every entry pushed by an emit that
            // could still read the caller's old values is visible and stays
            // unchanged until that emit pops it. Acquire: reading a pop (or
            // a later push) makes the finished emit's reads and effects
            // happen before whatever the caller does next; reading a push
            // makes the `reads` it stored first visible.
            let word = entry.word.load(Ordering::Acquire);
            if signal_of(word) == signal {
                // Read after the word, so it is this emit's `READS_UNKNOWN`
                // or `READS_NONE`, or the list it loaded; or, if it popped
                // meanwhile, a later emit's value (`Readers::of`). Acquire:
                // pairs with the Release stores of `reads`, so reading a
                // later emit's value makes this emit's pop, and so all its
                // reads of the list, happen before the caller frees it.
                let reads = entry.reads.load(Ordering::Acquire);
                running.push(Reader {
                    record: RecordRef::clone(record),
                    at,
                    word,
                    reads,
                });
            }
        }
    }
    Readers { running }
}

impl Readers {
    /// Whether every emit found by the scan has finished. Forgets those that
    /// have, so each entry is read until it changes, not after.
    pub(crate) fn done(&mut self) -> bool {
        // Acquire: pairs with the Release pop, so everything the emit did
        // (its reads of the list included) happens before our caller's next
        // step. A different word means the emit we saw has popped (perhaps a
        // later emit reuses the entry).
        self.running.retain(|reader| {
            reader.record.entries[reader.at]
                .word
                .load(Ordering::Acquire)
                == reader.word
        });
        self.running.is_empty()
    }

    /// The emits that may read the value at address `value`, retired under
    /// `key` (for a list, its address too) and swapped out before the scan:
    /// those that noted the key or the value, and those that had not noted
    /// one yet (`READS_UNKNOWN`). An emit that noted another reads only
    /// that. An emit that popped and whose entry was pushed again after the
    /// scan's barrier may show the new emit's key here: that emit loaded
    /// the pointer after the barrier, so it reads no value swapped out
    /// before it, and the key it shows is not `key` (nor `value`, which is
    /// still allocated).
    pub(crate) fn of(&self, key: usize, value: usize) -> Readers {
        let running = self
            .running
            .iter()
            .filter(|reader| {
                reader.reads == READS_UNKNOWN || reader.reads == key || reader.reads == value
            })
            .map(|reader| Reader {
                record: RecordRef::clone(&reader.record),
                at: reader.at,
                word: reader.word,
                reads: reader.reads,
            })
            .collect();
        Readers { running }
    }

    /// Whether no emit is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Whether both name the same emits (scans list them in one order).
    pub(crate) fn same_as(&self, other: &Readers) -> bool {
        self.running.len() == other.running.len()
            && self.running.iter().zip(&other.running).all(|(a, b)| {
                storage::same(&a.record, &b.record) && a.at == b.at && a.word == b.word
            })
    }
}

/// Waits until no emit of `signal` that was running when this function was
/// called is still running. The caller has already made the listener's state
/// word say "disconnected", so no emit that starts later can call it.
///
/// Returns `Err(WouldDeadlock)` without waiting when the calling thread is
/// itself inside an emit of `signal`.
pub(crate) fn wait_for(signal: u64, overflow: &AtomicUsize) -> Result<(), WouldDeadlock> {
    if is_inside(signal, overflow) {
        return Err(WouldDeadlock::new());
    }
    let mut readers = scan(signal);
    wait_until(|| readers.done());
    // Acquire: pairs with the overflowed emits' Release decrement.
    wait_until(|| overflow.load(Ordering::Acquire) == 0);
    Ok(())
}

/// Whether the calling thread is inside an emit of `signal` (`overflow` is
/// the signal's overflow counter), so that waiting for the signal's emits
/// would wait for itself.
pub(crate) fn is_inside(signal: u64, overflow: &AtomicUsize) -> bool {
    // Relaxed: a non-zero count only makes this conservative check fail.
    let in_overflow = overflow.load(Ordering::Relaxed) != 0;
    LOCAL
        .try_with(|local| local.is_emitting(signal, in_overflow))
        // Only under loom can the thread local be gone; be conservative.
        .unwrap_or(in_overflow)
        || owned_inside(signal)
}

/// Spins, then yields, then sleeps briefly between checks of `done`.
#[cfg(not(loom))]
fn wait_until(mut done: impl FnMut() -> bool) {
    let backoff = Backoff::new();
    while !done() {
        if backoff.is_completed() {
            std::thread::sleep(std::time::Duration::from_micros(50));
        } else {
            backoff.snooze();
        }
    }
}

/// Lets the model run other threads between checks of `done`.
#[cfg(loom)]
fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        sync::yield_now();
    }
}

#[cfg(all(test, not(loom)))]
mod test;
