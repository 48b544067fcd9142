//! Lanes: the blocking listeners of an `AsyncSignal`, each delivered by a
//! job of its own from the batches in flight, so that a slow one delays the
//! others only once every batch slot waits for it. See
//! `docs/architecture.md`, "Lanes", and `docs/ordering.md`, "Lanes".

use smallvec::SmallVec;

use super::builder::DeliveryOrder;
use super::drain::{self, BATCH};
use super::shared::Shared;
use super::waits;
use crate::base::List;
use crate::base::slot::Slot;
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell, exec};
use crate::unwind::contain;

/// An event of a batch in flight: owned by the batch, or, once it is in
/// the ring, a handle on the ring's copy (an event is stored once).
pub(super) enum Held<T> {
    Owned(T),
    Shared(Arc<T>),
}

impl<T> std::ops::Deref for Held<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Self::Owned(value) => value,
            Self::Shared(event) => event,
        }
    }
}

/// The batches the drainer handed to the lanes and has not finished: a
/// ring of `slots`, batch `s` in slot `s % slots.len()`.
pub(super) struct Flight<T> {
    slots: Box<[Batch<T>]>,
    /// How many batches were published: lanes read the batches below it.
    published: AtomicU64,
}

/// One batch in flight.
///
/// The drainer alone writes `events` and `passes`, while the batch
/// is free (before it publishes it, after `remaining` fell to 0); lanes
/// read them between its publication (`Flight::published`, Release /
/// Acquire) and their decrement of `remaining` (AcqRel: the drainer's
/// Acquire load of 0 comes after every lane's reads).
pub(super) struct Batch<T> {
    events: UnsafeCell<Vec<(Held<T>, u8)>>,
    /// Whether each event passed the signal-level filters (empty: all).
    passes: UnsafeCell<SmallVec<[bool; BATCH]>>,
    /// Lanes that have not handled the batch yet.
    remaining: AtomicUsize,
    /// Calls of the batch that returned, summed by the lanes.
    deliveries: AtomicU64,
}

#[allow(unsafe_code)]
// SAFETY: the cells are accessed as `Batch`'s documentation says: written
// by the drainer only while no lane may read them, read by lanes only
// between the Release / Acquire pairs around that (`T: Send + Sync`: lanes
// on several threads read `&T`, and the drainer moves `T` between threads).
unsafe impl<T: Send + Sync> Sync for Batch<T> {}

impl<T> Flight<T> {
    /// Room for enough batches to hold `capacity` events (at least two, so
    /// that the drainer fills one while lanes read another; at most 64).
    pub(super) fn new(capacity: usize) -> Self {
        let slots = capacity.div_ceil(BATCH).clamp(2, 64);
        Self {
            slots: (0..slots)
                .map(|_| Batch {
                    events: UnsafeCell::new(Vec::new()),
                    passes: UnsafeCell::new(SmallVec::new()),
                    remaining: AtomicUsize::new(0),
                    deliveries: AtomicU64::new(0),
                })
                .collect(),
            published: AtomicU64::new(0),
        }
    }

    /// How many batches can be in flight at once.
    pub(super) fn slots(&self) -> u64 {
        self.slots.len() as u64
    }

    fn batch(&self, at: u64) -> &Batch<T> {
        &self.slots[(at % self.slots()) as usize]
    }

    /// Runs `fill` on the events buffer of the free batch `at`. The
    /// drainer only, for a batch that is free: `at` is the next to publish
    /// and fewer than `slots()` are in flight.
    pub(super) fn fill<R>(&self, at: u64, fill: impl FnOnce(&mut Vec<(Held<T>, u8)>) -> R) -> R {
        #[allow(unsafe_code)]
        // SAFETY: the batch is free (see `Batch`): no lane reads it until
        // `publish`, and only the drainer runs this.
        self.batch(at)
            .events
            .with_mut(|events| fill(unsafe { &mut *events }))
    }

    /// Publishes the filled batch `at` for `lanes` lanes, with the
    /// filters' verdicts (`passes`).
    pub(super) fn publish(&self, at: u64, passes: SmallVec<[bool; BATCH]>, lanes: usize) {
        let batch = self.batch(at);
        #[allow(unsafe_code)]
        // SAFETY: as in `fill`.
        batch.passes.with_mut(|slot| unsafe { *slot = passes });
        // Relaxed: published by the Release store below.
        batch.remaining.store(lanes, Ordering::Relaxed);
        // Release: a lane that reads `at + 1` (Acquire) sees the batch.
        self.published.store(at + 1, Ordering::Release);
    }

    /// Whether every lane of batch `at` is done with it.
    pub(super) fn is_finished(&self, at: u64) -> bool {
        // Acquire: pairs with the lanes' AcqRel decrements, after their
        // reads of the batch and their deliveries' count.
        self.batch(at).remaining.load(Ordering::Acquire) == 0
    }

    /// Takes back the finished batch `at`: `with` gets its events (to
    /// drain; the buffer keeps its capacity). Returns its deliveries.
    pub(super) fn finish(&self, at: u64, with: impl FnOnce(&mut Vec<(Held<T>, u8)>)) -> u64 {
        let batch = self.batch(at);
        #[allow(unsafe_code)]
        // SAFETY: `is_finished(at)` returned true: every lane is done with
        // the batch, and the drainer alone touches it until it publishes it
        // again.
        unsafe {
            batch.events.with_mut(|events| with(&mut *events));
            batch.passes.with_mut(|passes| (*passes).clear());
            // Relaxed: the Acquire load of `is_finished` ordered the lanes'
            // additions before this.
            batch.deliveries.swap(0, Ordering::Relaxed)
        }
    }
}

/// A blocking listener's progress through the batches in flight.
pub(super) struct Lane {
    /// The listener's slot.
    pub(super) id: u64,
    /// A job runs, or is spawned, for this lane.
    scheduled: AtomicBool,
    /// The next batch to handle. Only the lane's job writes it (one job at
    /// a time; `scheduled`'s swaps order one job after the last). An
    /// atomic, not a cell: a job that goes idle looks at it once more
    /// after clearing `scheduled`, while the next job may be writing it.
    next: AtomicU64,
    /// The first batch that does not count this lane: the drainer sets it
    /// (before publishing that batch) when the listener left the list.
    end: AtomicU64,
    /// Where the slot was in the last list (a hint for the search). Only
    /// rounds touch it, and they run one at a time (a job that goes idle
    /// makes no round after clearing `scheduled`).
    hint: UnsafeCell<usize>,
}

#[allow(unsafe_code)]
// SAFETY: `hint` is accessed only by rounds, one at a time (see `hint`);
// the rest are atomics.
unsafe impl Sync for Lane {}

impl Lane {
    /// A lane for the slot `id`, from batch `start` on.
    pub(super) fn new(id: u64, start: u64) -> Self {
        Self {
            id,
            scheduled: AtomicBool::new(false),
            next: AtomicU64::new(start),
            end: AtomicU64::new(u64::MAX),
            hint: UnsafeCell::new(0),
        }
    }

    /// The listener left: batches from `at` on do not count it.
    pub(super) fn end_at(&self, at: u64) {
        // Relaxed: published with batch `at` (`Flight::publish`'s Release);
        // a lane that has not seen that batch does not need it.
        self.end.store(at, Ordering::Relaxed);
    }

    /// Marks the lane scheduled; `true` if the caller must spawn its job.
    pub(super) fn wake(&self) -> bool {
        // AcqRel: as `Cursor::wake` (a job that goes idle swaps after this
        // and sees the batch published before, or this reads `false`).
        !self.scheduled.swap(true, Ordering::AcqRel)
    }

    /// The next batch, if it is published and counts this lane. The
    /// lane's job only.
    fn ready<T>(&self, flight: &Flight<T>) -> Option<u64> {
        // Relaxed: written by this job, or by an earlier one that handed
        // over through `scheduled`.
        let next = self.next.load(Ordering::Relaxed);
        // Acquire: see `Flight::publish`; then `end` (Relaxed) is as fresh
        // as the batch read: see `end_at`.
        let published = flight.published.load(Ordering::Acquire);
        (next < published && next < self.end.load(Ordering::Relaxed)).then_some(next)
    }

    /// Moves the lane past batch `at`. The lane's job only.
    fn advance(&self, at: u64) {
        // Relaxed: see `ready`.
        self.next.store(at + 1, Ordering::Relaxed);
    }

    /// Clears `scheduled`; `true` if the job must go on (see `Cursor`'s).
    fn go_idle<T>(&self, flight: &Flight<T>) -> bool {
        // AcqRel: see `wake`.
        self.scheduled.swap(false, Ordering::AcqRel);
        self.ready(flight).is_some() && !self.scheduled.swap(true, Ordering::AcqRel)
    }
}

/// Starts the job of `lane` on the pool.
pub(super) fn spawn<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>, lane: &Arc<Lane>) {
    let pool = shared.pool.clone();
    let shared = Arc::clone(shared);
    let lane = Arc::clone(lane);
    exec::spawn(&pool, move || {
        run(&shared, &lane);
        // The last references may free the listeners' closures: user code,
        // and a panic escaping a rayon job aborts.
        contain(move || {
            drop(lane);
            drop(shared);
        });
    });
}

/// The job: one batch per round, in order, while the lane has any.
pub(super) fn run<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>, lane: &Lane) {
    let flight = &shared.flight;
    loop {
        let at = match lane.ready(flight) {
            Some(at) => at,
            None if linger(flight, lane) || lane.go_idle(flight) => continue,
            None => return,
        };
        round(shared, lane, at);
        lane.advance(at);
    }
}

/// Delivers batch `at` to the lane's listener, then counts the lane done
/// with it; the lane that finishes a batch restarts a stopped drainer, on
/// this thread (a spawn would allocate).
fn round<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>, lane: &Lane, at: u64) {
    let batch = shared.flight.batch(at);
    // One recorded delivery of the signal's queue, on the list of the
    // moment (a listener that left is in no list: it is not called).
    let delivered = shared.base.with_current(|list| {
        let _draining = waits::Draining::new(shared.base.id());
        let Some(slot) = find(list, lane) else {
            return 0;
        };
        batch.events.with(|events| {
            batch.passes.with(|passes| {
                #[allow(unsafe_code)]
                // SAFETY: batch `at` is published and counts this lane,
                // which has not decremented its `remaining` yet (see
                // `Batch`).
                let (events, passes) = unsafe { (&*events, &*passes) };
                deliver(shared, list, slot, events, passes)
            })
        })
    });
    // Relaxed: read after the drainer's Acquire of `remaining` (below).
    batch.deliveries.fetch_add(delivered, Ordering::Relaxed);
    // AcqRel: Release, the reads above and the count come before the
    // drainer reuses the batch; Acquire, the last lane's nudge carries
    // every lane's.
    if batch.remaining.fetch_sub(1, Ordering::AcqRel) == 1 && shared.state.nudge() {
        drain::drain(shared, false);
    }
}

/// The lane's slot in `list`. Rounds only.
fn find<'l, T>(list: &'l List<T>, lane: &Lane) -> Option<&'l Slot<T>> {
    #[allow(unsafe_code)]
    // SAFETY: only rounds touch `hint`, one at a time (see `Lane::hint`).
    let hint = lane.hint.with(|hint| unsafe { *hint });
    if let Some(slot) = list.slots.get(hint).filter(|slot| slot.id == lane.id) {
        return Some(slot);
    }
    let (at, slot) = list
        .slots
        .iter()
        .enumerate()
        .find(|(_, slot)| slot.id == lane.id)?;
    #[allow(unsafe_code)]
    // SAFETY: as above.
    lane.hint.with_mut(|hint| unsafe { *hint = at });
    Some(slot)
}

/// Calls `slot` with every event of the batch that passed the filters: in
/// order under `PerListener`; under `Unordered`, spread over the pool when
/// it has more threads than the signal has listeners.
/// Returns the calls that returned.
fn deliver<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    list: &List<T>,
    slot: &Slot<T>,
    events: &[(Held<T>, u8)],
    passes: &[bool],
) -> u64 {
    let passes = |at: usize| passes.get(at).copied().unwrap_or(true);
    let leaf = |range: std::ops::Range<usize>| {
        let mut delivered = 0;
        for at in range.filter(|at| passes(*at)) {
            delivered += drain::call(shared, list, slot, &events[at].0);
        }
        delivered
    };
    // Spread over the pool only where it has threads to spare: with at
    // least as many listeners as threads, the lanes already keep every
    // thread busy, and a split costs more than a small listener's call.
    let spread = list.slots.len() < exec::threads(&shared.pool);
    match shared.ordering {
        DeliveryOrder::Unordered if spread => drain::fan_out(shared, true, 0..events.len(), &leaf),
        _ => leaf(0..events.len()),
    }
}

/// Spins a little for the next batch: under a steady stream it is a few
/// microseconds away, and a job that goes idle costs a spawn (an
/// allocation) to start again. It does not run other pool jobs meanwhile:
/// one of them may be a listener that blocks, and this lane would wait
/// for it. `true` if a batch came.
fn linger<T>(flight: &Flight<T>, lane: &Lane) -> bool {
    #[cfg(not(loom))]
    {
        let backoff = crossbeam_utils::Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if lane.ready(flight).is_some() {
                return true;
            }
        }
    }
    #[cfg(loom)]
    let _ = (flight, lane);
    false
}
