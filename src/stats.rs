//! Sharded counters for sync signals and topics: each thread adds to its
//! own shard (one cache line), so counting shares no cache line between
//! emitting threads that land on different shards. Reading sums the
//! shards.
//!
//! The units are the spec's (`API.md`, "Statistics"): `emitted` and
//! `rejected` count events; `delivered`, `failed` and `panicked` count
//! deliveries, one event to one listener.

use crossbeam_utils::CachePadded;

use crate::Stats;
use crate::sync::{AtomicU64, Ordering};

/// One emit of an event, being counted: the emit counts its deliveries
/// here as they return, and [`end`](Self::end) adds them up. Dropped before
/// `end` (a panic unwound out of the emit), it counts the event, the
/// deliveries that returned before the panic, and one panic.
pub(crate) struct Counting<'a> {
    counters: &'a Counters,
    delivered: u64,
}

impl<'a> Counting<'a> {
    pub(crate) fn new(counters: &'a Counters) -> Self {
        Self {
            counters,
            delivered: 0,
        }
    }

    /// A listener's call returned (with or without an error).
    #[inline(always)]
    pub(crate) fn returned(&mut self) {
        self.delivered += 1;
    }

    /// The emit returned: counts the event and its deliveries.
    #[inline]
    pub(crate) fn finish(self) {
        self.counters.add_event(self.delivered, false);
        std::mem::forget(self);
    }
}

impl Drop for Counting<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.counters.add_event(self.delivered, true);
    }
}

/// The counters of one signal (or topic).
pub(crate) struct Counters {
    /// A power of two in length.
    shards: Box<[CachePadded<Shard>]>,
}

#[derive(Default)]
struct Shard {
    emitted: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    rejected: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self::with_at_most(usize::MAX)
    }

    /// With at most `limit` shards (a power of two).
    pub(crate) fn with_at_most(limit: usize) -> Self {
        let shards = shard_count().min(limit);
        Self {
            shards: (0..shards)
                .map(|_| CachePadded::new(Shard::default()))
                .collect(),
        }
    }

    /// This thread's shard.
    #[inline]
    fn shard(&self) -> &Shard {
        &self.shards[thread_index() & (self.shards.len() - 1)]
    }

    /// Counts one event that reached the listener list, `delivered`
    /// deliveries of it, and a panic if `panicked`.
    #[inline]
    fn add_event(&self, delivered: u64, panicked: bool) {
        let shard = self.shard();
        // Relaxed: a statistic; counted before its deliveries (below).
        shard.emitted.fetch_add(1, Ordering::Relaxed);
        if delivered != 0 {
            // Release: a `read` that sees these deliveries (Acquire) sees
            // their event in `emitted` too, so no snapshot shows more
            // deliveries than its events had listeners.
            shard.delivered.fetch_add(delivered, Ordering::Release);
        }
        if panicked {
            // Release: as for `delivered`.
            shard.panicked.fetch_add(1, Ordering::Release);
        }
    }

    /// Counts an event refused to its emitter (a full `HeldSignal`).
    #[cold]
    pub(crate) fn reject(&self) {
        // Relaxed: a statistic, read as a snapshot.
        self.shard().rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a delivery whose listener returned an error (it also counts
    /// in `delivered`, when its emit finishes).
    #[cold]
    pub(crate) fn fail(&self) {
        // Relaxed: a statistic, read as a snapshot.
        self.shard().failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The sums over every shard.
    pub(crate) fn read(&self) -> Stats {
        let mut stats = Stats::default();
        for shard in self.shards.iter() {
            // Acquire (both): pairs with `add_event`'s Release, so the
            // events of the deliveries read here are in the `emitted` read
            // after them.
            stats.delivered += shard.delivered.load(Ordering::Acquire);
            stats.panicked += shard.panicked.load(Ordering::Acquire);
            // Relaxed (the rest): a snapshot of statistics.
            stats.emitted += shard.emitted.load(Ordering::Relaxed);
            stats.failed += shard.failed.load(Ordering::Relaxed);
            stats.rejected += shard.rejected.load(Ordering::Relaxed);
        }
        stats
    }
}

/// Twice the hardware threads (so that two threads rarely share a shard),
/// as a power of two, at most 64; one under loom.
fn shard_count() -> usize {
    #[cfg(loom)]
    {
        1
    }
    #[cfg(not(loom))]
    {
        let threads = std::thread::available_parallelism().map_or(4, usize::from);
        (threads * 2).next_power_of_two().min(64)
    }
}

/// A small number per thread, handed out in order of first use.
#[cfg(not(loom))]
#[inline]
fn thread_index() -> usize {
    use crate::sync::{AtomicUsize, Ordering};
    use std::cell::Cell;

    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::thread_local! {
        static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    INDEX.with(|index| {
        if index.get() == usize::MAX {
            // Relaxed: only distinctness matters.
            index.set(NEXT.fetch_add(1, Ordering::Relaxed));
        }
        index.get()
    })
}

#[cfg(loom)]
fn thread_index() -> usize {
    0
}
