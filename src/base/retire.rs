//! `Retired<V>`: values a writer stopped publishing through a raw pointer
//! that emits read without a reference count (a signal's listener lists,
//! a topic cache's entries), kept until no recorded emit may still read
//! them, then handed back to be dropped after the writer's lock.
//!
//! The protocol (docs/ordering.md, "Reading `current` safely"): an emit
//! pushes its record entry, then, after the light barrier, notes a key
//! (`record::Recorded::reads`) that names what it may read: the address of
//! the list it loaded, or of the cache bucket it probes and then of the
//! entry it found there. A writer swaps the pointer and retires the old
//! value here under the key emits note for it, and a later scan (heavy
//! barrier, then every record) keeps each retired value only for the emits
//! that noted its key or its address, or had not noted one yet.
//!
//! A scan's heavy barrier interrupts every core that runs a thread of the
//! process (15–160 µs on the 2-core VM the benchmarks run on, where a write
//! is under 1 µs). When a scan is asked for while emits of the owner come
//! and go on other threads (as a look at the records shows), it would most
//! likely keep what it covers anyway, so, if the owner chose so (signals'
//! lists do; the topic cache does not), the values wait for a later write's
//! scan instead, up to a bound ([`DEFER_UP_TO`], [`DEFER_UP_TO_WEIGHT`]).
//! That is what the documented "freed by a later write when an emit is
//! running" allows, and it lets a writer under load pay one barrier per
//! many writes. See `docs/architecture.md`, "Scans wait while emits run".

use crate::base::record::{self, Readers};
use crate::sync::{Arc, Ordering, fence};

/// What `Retired` keeps. Under loom, "freeing" a value writes a cell that
/// every read checks (see `List::bury`), so that a model fails on a read
/// its reclamation does not happen after.
pub(crate) trait Retirable {
    /// Roughly how many pointers the value holds (a list: its slots), so
    /// that deferred scans keep a bounded amount of memory waiting.
    fn weight(&self) -> usize {
        1
    }

    #[cfg(loom)]
    fn bury(&self);
}

/// At most this many values wait for a later write's scan while emits run.
/// Under loom, 2: a model then covers both a scan left for later and one
/// that happens while its emit still runs.
#[cfg(not(loom))]
pub(crate) const DEFER_UP_TO: usize = 1024;
#[cfg(loom)]
pub(crate) const DEFER_UP_TO: usize = 2;

/// And at most this much weight (about 32 KiB of slot pointers): a write
/// to a large list pays a barrier per write, which its copy dwarfs anyway.
pub(crate) const DEFER_UP_TO_WEIGHT: usize = 4096;

/// After this many looks in a row that saw the same emits running (and
/// left values for later), the next such look scans: those are long emits,
/// not emits coming and going. More than one: an emitting thread that the
/// scheduler preempted inside an emit looks frozen too, and a look that
/// misses the other emitting threads (between two of their emits) would
/// take it for a long emit.
const SAME_LOOKS: usize = 3;

/// When [`Retired::reclaim`] scans the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// Once `scan_after` values await one.
    WhenDue,
    /// Now, since the write removed closures, unless an emit of the owner
    /// is seen running: then, as for a due scan, the values wait for a
    /// later write (within [`DEFER_UP_TO`] and [`DEFER_UP_TO_WEIGHT`]).
    Soon,
    /// Now, whatever runs (`disconnect_wait`, after its wait).
    Now,
}

/// Under loom, a cell that "freeing" a value writes and every read of it
/// reads (the value itself is kept until its owner drops): loom then
/// reports a read that its reclamation does not happen after.
#[cfg(loom)]
pub(crate) struct Liveness(loom::cell::UnsafeCell<bool>);

#[cfg(loom)]
#[allow(unsafe_code)]
// SAFETY: the cell is only accessed through loom's `with`/`with_mut`, and
// loom fails the model on any pair of accesses that race.
unsafe impl Sync for Liveness {}

#[cfg(loom)]
impl Liveness {
    pub(crate) fn new() -> Self {
        Self(loom::cell::UnsafeCell::new(true))
    }

    /// Fails the model, with `message`, if the value was reclaimed or its
    /// reclamation can race this read.
    pub(crate) fn check(&self, message: &str) {
        #[allow(unsafe_code)]
        // SAFETY: loom checks that this read does not race with the write in
        // `bury`; that check is what the models are for.
        let live = self.0.with(|live| unsafe { *live });
        assert!(live, "{message}");
    }

    pub(crate) fn bury(&self) {
        #[allow(unsafe_code)]
        // SAFETY: as in `check`, loom checks the access.
        self.0.with_mut(|live| unsafe { *live = false });
    }
}

/// Retired values, by how far their reclamation got.
pub(crate) struct Retired<V> {
    /// Swapped out, with the key emits note to read them; no scan covers
    /// them yet.
    unscanned: Vec<(Arc<V>, usize)>,
    /// The weight of `unscanned` (see [`Retirable::weight`]).
    unscanned_weight: usize,
    /// Scanned; running emits may still read them. One batch per distinct
    /// set of such emits, so a long emit costs a write one batch, however
    /// many writes it outlasts.
    pinned: Vec<Batch<V>>,
    /// Scanned; no emit can read them, but an `Arc` holder (an `Emitter`,
    /// a `Publisher`, an emit on the overflow path) still references them.
    held: Vec<Arc<V>>,
    /// A scan is due once this many values await one.
    scan_after: usize,
    /// Whether scans wait while emits run (see [`Scan::Soon`]).
    defers: bool,
    /// What the last look saw of the owner's emits on other threads, when
    /// it left its values to a later scan, and how many looks in a row saw
    /// the same since (see `scan_due`).
    deferred_for: Option<(u64, usize)>,
    /// A scan asked for at once ([`Scan::Soon`]) was left for later: the
    /// next write scans as if it asked the same, whatever it asks.
    soon_left: bool,
    /// Under loom, reclaimed values stay allocated until the owner drops
    /// (see [`Retirable`]).
    #[cfg(loom)]
    graveyard: Vec<Arc<V>>,
}

/// Retired values, and the emits found running that may read them.
struct Batch<V> {
    values: Vec<Arc<V>>,
    readers: Readers,
}

impl<V: Retirable> Retired<V> {
    /// Nothing retired; a scan is due once `scan_after` values await one.
    /// If `defers`, scans asked for while emits run wait for a later one
    /// (see [`Scan`]); otherwise every scan asked for happens.
    pub(crate) fn new(scan_after: usize, defers: bool) -> Self {
        Self {
            unscanned: Vec::new(),
            unscanned_weight: 0,
            pinned: Vec::new(),
            held: Vec::new(),
            scan_after,
            defers,
            deferred_for: None,
            soon_left: false,
            #[cfg(loom)]
            graveyard: Vec::new(),
        }
    }

    /// Retires `value`, which the caller has just stopped publishing; an
    /// emit that may read it notes `key` or the value's own address (see
    /// the module's opening).
    pub(crate) fn retire(&mut self, value: Arc<V>, key: usize) {
        self.unscanned_weight += value.weight();
        self.unscanned.push((value, key));
    }

    /// Moves to `garbage` the retired values that no emit of `id` can read
    /// any more and no `Arc` holder references, and returns how many.
    /// Scans the records first if values await a scan and `scan` asks for
    /// one (see [`Scan`]). (Under loom the values go to the graveyard
    /// instead, and are counted all the same.)
    ///
    /// A scan keeps a value only for the emits it found that may read it:
    /// those that noted its key or its address, and those that had not
    /// noted one yet (see
    /// `record::Readers::of`). So an emit that runs for a
    /// long time holds back the value it reads (plus, if a scan caught it
    /// between its push and its load, the values that scan covered), not
    /// every value retired while it runs; and the values it holds back
    /// share one batch, so the cost of a write does not grow with their
    /// number.
    pub(crate) fn reclaim(&mut self, id: u64, scan: Scan, garbage: &mut Vec<Arc<V>>) -> usize {
        self.pinned.retain_mut(|batch| {
            if batch.readers.done() {
                self.held.append(&mut batch.values);
                return false;
            }
            true
        });
        if self.scan_due(id, scan) {
            self.unscanned_weight = 0;
            // Every value in `unscanned` was swapped out before this scan,
            // so the scan covers them all.
            let found = record::scan(id);
            for (value, key) in std::mem::take(&mut self.unscanned) {
                let address = std::ptr::from_ref::<V>(&value).addr();
                let readers = found.of(key, address);
                if readers.is_empty() {
                    self.held.push(value);
                } else if let Some(batch) =
                    self.pinned.iter_mut().find(|b| b.readers.same_as(&readers))
                {
                    batch.values.push(value);
                } else {
                    self.pinned.push(Batch {
                        values: vec![value],
                        readers,
                    });
                }
            }
        }
        let start = garbage.len();
        sweep(&mut self.held, garbage);
        let freed = garbage.len() - start;
        #[cfg(loom)]
        for value in garbage.drain(start..) {
            value.bury();
            self.graveyard.push(value);
        }
        freed
    }

    /// Whether `reclaim` scans now: values await a scan, `scan` asks for
    /// one, and it is not left for later. It is left for later (within
    /// the bounds) when a look sees emits of `id` on other threads, unless
    /// the last [`SAME_LOOKS`] looks saw exactly the same: emits coming and
    /// going, which a scan now would most likely find too, wait; the same
    /// emits seen again and again are long emits (a listener that waits),
    /// and then the scan happens, keeping only what they read.
    fn scan_due(&mut self, id: u64, scan: Scan) -> bool {
        if self.unscanned.is_empty() {
            return false;
        }
        let asked = match scan {
            Scan::Now => return true,
            Scan::Soon => true,
            Scan::WhenDue => self.soon_left || self.unscanned.len() >= self.scan_after,
        };
        let bounded = self.defers
            && self.unscanned.len() < DEFER_UP_TO
            && self.unscanned_weight < DEFER_UP_TO_WEIGHT;
        if !(asked && bounded) {
            self.soon_left &= !asked;
            return asked;
        }
        let Some(seen) = record::seen_running(id) else {
            self.soon_left = false;
            return true;
        };
        let same = match self.deferred_for {
            Some((before, same)) if before == seen => same + 1,
            _ => 0,
        };
        self.deferred_for = Some((seen, same));
        let now = same >= SAME_LOOKS;
        self.soon_left = !now;
        now
    }

    /// Whether `f` holds for some value kept (awaiting a scan, pinned or
    /// held; not those reclaimed).
    pub(crate) fn any(&self, mut f: impl FnMut(&V) -> bool) -> bool {
        self.unscanned.iter().any(|(value, _)| f(value))
            || self
                .pinned
                .iter()
                .any(|batch| batch.values.iter().any(|value| f(value)))
            || self.held.iter().any(|value| f(value))
    }

    /// How many values are kept (awaiting a scan, pinned or held).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let pinned: usize = self.pinned.iter().map(|b| b.values.len()).sum();
        self.unscanned.len() + pinned + self.held.len()
    }

    /// Every value kept, for the owner's drop (no emit of it can run).
    pub(crate) fn take_all(&mut self) -> Vec<Arc<V>> {
        self.unscanned_weight = 0;
        let mut all: Vec<Arc<V>> = self.unscanned.drain(..).map(|(value, _)| value).collect();
        for mut batch in self.pinned.drain(..) {
            all.append(&mut batch.values);
        }
        all.append(&mut self.held);
        #[cfg(loom)]
        all.append(&mut self.graveyard);
        all
    }
}

/// Moves to `garbage` the values only `values` references: no emit reads
/// them, and no holder is left.
fn sweep<V>(values: &mut Vec<Arc<V>>, garbage: &mut Vec<Arc<V>>) {
    let start = garbage.len();
    let mut at = 0;
    while at < values.len() {
        if Arc::strong_count(&values[at]) == 1 {
            garbage.push(values.swap_remove(at));
        } else {
            at += 1;
        }
    }
    if garbage.len() > start {
        // Acquire: `strong_count` is a relaxed load. Reading a count of 1
        // that an `Emitter` (or an overflowed emit) left when it dropped its
        // reference (a Release decrement) makes its reads of the value, and
        // of the slots a list points to, happen before whatever the caller
        // frees next: the value, and the slots only it still pointed to
        // (`BaseSignal`'s `free_dying`).
        fence(Ordering::Acquire);
    }
}
