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

use crate::base::record::{self, Readers};
use crate::sync::Arc;

/// What `Retired` keeps. Under loom, "freeing" a value writes a cell that
/// every read checks (see `List::bury`), so that a model fails on a read
/// its reclamation does not happen after.
pub(crate) trait Retirable {
    #[cfg(loom)]
    fn bury(&self);
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
    /// Scanned; running emits may still read them. One batch per distinct
    /// set of such emits, so a long emit costs a write one batch, however
    /// many writes it outlasts.
    pinned: Vec<Batch<V>>,
    /// Scanned; no emit can read them, but an `Arc` holder (an `Emitter`,
    /// a `Publisher`, an emit on the overflow path) still references them.
    held: Vec<Arc<V>>,
    /// A scan is due once this many values await one.
    scan_after: usize,
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
    pub(crate) fn new(scan_after: usize) -> Self {
        Self {
            unscanned: Vec::new(),
            pinned: Vec::new(),
            held: Vec::new(),
            scan_after,
            #[cfg(loom)]
            graveyard: Vec::new(),
        }
    }

    /// Retires `value`, which the caller has just stopped publishing; an
    /// emit that may read it notes `key` or the value's own address (see
    /// the module's opening).
    pub(crate) fn retire(&mut self, value: Arc<V>, key: usize) {
        self.unscanned.push((value, key));
    }

    /// Moves to `garbage` the retired values that no emit of `id` can read
    /// any more and no `Arc` holder references. Scans the records first if
    /// values await a scan and `scan_now` (or `scan_after` values await
    /// one).
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
    pub(crate) fn reclaim(&mut self, id: u64, scan_now: bool, garbage: &mut Vec<Arc<V>>) {
        self.pinned.retain_mut(|batch| {
            if batch.readers.done() {
                self.held.append(&mut batch.values);
                return false;
            }
            true
        });
        if !self.unscanned.is_empty() && (scan_now || self.unscanned.len() >= self.scan_after) {
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
        #[cfg(loom)]
        for value in garbage.drain(start..) {
            value.bury();
            self.graveyard.push(value);
        }
        #[cfg(not(loom))]
        let _ = start;
    }

    /// How many values are kept (awaiting a scan, pinned or held).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let pinned: usize = self.pinned.iter().map(|b| b.values.len()).sum();
        self.unscanned.len() + pinned + self.held.len()
    }

    /// Every value kept, for the owner's drop (no emit of it can run).
    pub(crate) fn take_all(&mut self) -> Vec<Arc<V>> {
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
    let mut at = 0;
    while at < values.len() {
        if Arc::strong_count(&values[at]) == 1 {
            garbage.push(values.swap_remove(at));
        } else {
            at += 1;
        }
    }
}
