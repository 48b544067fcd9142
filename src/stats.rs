//! Sharded counters for sync signals and topics: each thread adds to its
//! own shard (one cache line), so counting shares no cache line between
//! emitting threads that land on different shards. Reading sums the
//! shards.
//!
//! The units are the spec's (`API.md`, "Statistics"): `emitted` and
//! `rejected` count events; `delivered`, `failed` and `panicked` count
//! deliveries, one event to one listener.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

/// Delivery counters, from [`AsyncSignal::stats`](crate::AsyncSignal::stats), [`SyncSignal::stats`]
/// (once [`enable_stats`](crate::SyncSignal::enable_stats) was called) and the
/// bus's aggregates. Stats add up with `+`.
///
/// Every kind counts in the same units: `emitted` and `rejected` count
/// events; `delivered`, `failed` and `panicked` count deliveries, one event
/// handed to one listener. With 4 listeners and 50 000 events all
/// delivered, `delivered` is 200 000. A listener that is not called for an
/// event (blocked, disconnected, a once-listener that fired, or filtered
/// out by its own `connect_filtered` filter) makes no delivery, and an
/// event a signal-level filter turns away makes none at all.
///
/// A snapshot: while events flow, the fields are read at slightly different
/// moments. The field docs give the `AsyncSignal` meaning; for a
/// `SyncSignal` see [`SyncSignal::stats`].
///
/// [`SyncSignal::stats`]: crate::SyncSignal::stats
/// [`SyncSignal`]: crate::SyncSignal
///
/// # Examples
///
/// ```
/// use sigwire::AsyncSignal;
///
/// let signal = AsyncSignal::<u32>::new();
/// signal.set_error_handler(|_| {});
/// signal.connect(|_: &u32| {});
/// signal.connect_fallible(|v: &u32| if *v % 2 == 0 { Ok(()) } else { Err("odd") });
/// for v in 0..10 {
///     signal.emit(v).unwrap();
/// }
/// signal.flush().unwrap();
/// let stats = signal.stats();
/// // 10 events, each handed to 2 listeners; 5 of the calls failed.
/// assert_eq!((stats.emitted, stats.delivered, stats.failed, stats.pending), (10, 20, 5, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events accepted by `emit`, plus calls of `emit_collect`: the events
    /// the drainer completed (every listener done), plus `pending` (counting
    /// each emit would cost it an atomic increment), read so that each
    /// event counts once, in one or the other.
    pub emitted: u64,
    /// Deliveries: one event handed to one listener whose call returned,
    /// with or without an error.
    pub delivered: u64,
    /// Deliveries whose listener returned an error.
    pub failed: u64,
    /// Deliveries whose listener panicked (caught), plus, one each, caught
    /// panics of the code around the deliveries: a signal-level filter, an
    /// error or panic handler, an event's drop.
    pub panicked: u64,
    /// Events handed back by `emit`.
    pub rejected: u64,
    /// Events accepted and not yet delivered to every listener.
    pub pending: usize,
    /// Events that listeners with a dropping [`Policy`](crate::Policy)
    /// missed because they fell behind, summed over them (an
    /// [`AsyncSignal`](crate::AsyncSignal)'s; 0 for a `SyncSignal`). Such a
    /// listener is not waited for by `pending`: an event counts as
    /// delivered once the blocking listeners returned (it is in the
    /// signal's ring from when the drainer took it).
    pub dropped: u64,
}

impl std::ops::Add for Stats {
    type Output = Stats;

    /// Field by field.
    fn add(self, other: Stats) -> Stats {
        Stats {
            emitted: self.emitted + other.emitted,
            delivered: self.delivered + other.delivered,
            failed: self.failed + other.failed,
            panicked: self.panicked + other.panicked,
            rejected: self.rejected + other.rejected,
            pending: self.pending + other.pending,
            dropped: self.dropped + other.dropped,
        }
    }
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), |a, b| a + b)
    }
}

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
