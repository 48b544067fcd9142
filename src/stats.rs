//! Sharded delivery counters for sync signals: each thread adds to its own
//! shard (one cache line), so counting shares no cache line between
//! emitting threads that land on different shards. Reading sums the
//! shards.

use crossbeam_utils::CachePadded;

use crate::Stats;
use crate::sync::{AtomicU64, Ordering};

/// Counts a panic if dropped before [`end`](Self::end): a guard around an
/// emit, which a panic may unwind out of.
pub(crate) struct Counting<'a> {
    counters: &'a Counters,
}

impl<'a> Counting<'a> {
    pub(crate) fn new(counters: &'a Counters) -> Self {
        Self { counters }
    }

    /// The emit returned, and `outcome` is what to count.
    #[inline]
    pub(crate) fn end(self, outcome: Outcome) {
        self.counters.add(outcome);
        std::mem::forget(self);
    }
}

impl Drop for Counting<'_> {
    fn drop(&mut self) {
        self.counters.add(Outcome::Panicked);
    }
}

/// What to count.
#[derive(Clone, Copy)]
pub(crate) enum Outcome {
    Delivered,
    Rejected,
    Panicked,
    /// A listener call that returned an error.
    Failed,
}

/// The counters of one signal (or topic).
pub(crate) struct Counters {
    /// A power of two in length.
    shards: Box<[CachePadded<Shard>]>,
}

#[derive(Default)]
struct Shard {
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

    /// Counts `outcome` in this thread's shard.
    #[inline]
    pub(crate) fn add(&self, outcome: Outcome) {
        self.add_n(outcome, 1);
    }

    /// Counts `outcome` `n` times in this thread's shard.
    #[inline]
    pub(crate) fn add_n(&self, outcome: Outcome, n: u64) {
        let shard = &self.shards[thread_index() & (self.shards.len() - 1)];
        let counter = match outcome {
            Outcome::Delivered => &shard.delivered,
            Outcome::Rejected => &shard.rejected,
            Outcome::Panicked => &shard.panicked,
            Outcome::Failed => &shard.failed,
        };
        // Relaxed: a statistic, read as a snapshot.
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The sums over every shard (`emitted` is `delivered + panicked +
    /// rejected`: every counted emit ends in exactly one of them).
    pub(crate) fn read(&self) -> Stats {
        let mut stats = Stats::default();
        for shard in self.shards.iter() {
            // Relaxed: a snapshot of statistics.
            stats.delivered += shard.delivered.load(Ordering::Relaxed);
            stats.failed += shard.failed.load(Ordering::Relaxed);
            stats.panicked += shard.panicked.load(Ordering::Relaxed);
            stats.rejected += shard.rejected.load(Ordering::Relaxed);
        }
        stats.emitted = stats.delivered + stats.panicked + stats.rejected;
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
    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};

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
