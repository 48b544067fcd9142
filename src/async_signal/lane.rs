//! Lanes: the blocking listeners of an `AsyncSignal`, each delivered by a
//! job of its own (or by the drainer's job, once it stopped) from the
//! batches in flight, so that a slow one delays the
//! others only once the signal's capacity is pending. See
//! `docs/architecture.md`, "Lanes", and `docs/ordering.md`, "Lanes".

use super::builder::DeliveryOrder;
use super::drain::{self, BATCH};
use super::shared::Shared;
use super::waits;
use crate::base::List;
use crate::base::slot::Slot;
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell, exec};

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

/// What the drainer handed to the lanes and has not finished: a ring of
/// events (event `p` in cell `p % cells`) and a ring of batches over them
/// (batch `s` in `batches[s % batches]`), each `capacity` long. Every event
/// in flight is pending, and at most `capacity` are, so neither ring can
/// fill while events wait in the queue: a slow lane holds the others back
/// only through the capacity.
pub(super) struct Flight<T> {
    cells: Box<[Cell<T>]>,
    batches: Box<[Batch]>,
    /// How many batches were published: lanes read the batches below it.
    published: AtomicU64,
}

/// An event in flight, with its epoch parity; `None` while free.
type Cell<T> = UnsafeCell<Option<(Held<T>, u8)>>;

/// Where a batch's events are, and which of them the signal-level filters
/// turned away.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Span {
    pub(super) start: u64,
    pub(super) len: usize,
    /// Bit `i`: event `start + i` did not pass the filters.
    pub(super) rejected: u32,
}

const _: () = assert!(
    BATCH <= 32,
    "a batch's filter verdicts are the bits of a u32"
);

impl Span {
    fn passes(&self, i: usize) -> bool {
        self.rejected & (1 << i) == 0
    }
}

/// One batch in flight.
///
/// The drainer alone writes `span` and the cells it covers, while the batch
/// and the cells are free (before it publishes the batch, after its
/// `remaining` fell to 0); lanes read them between the publication
/// (`Flight::published`, Release / Acquire) and their decrement of
/// `remaining` (AcqRel: the drainer's Acquire load of 0 comes after every
/// lane's reads).
struct Batch {
    span: UnsafeCell<Span>,
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
unsafe impl<T: Send + Sync> Sync for Flight<T> {}

/// `len` values made by `make`, allocated fallibly: `Err` with the bytes
/// that could not be had.
fn try_boxed<E>(len: usize, make: impl FnMut() -> E) -> Result<Box<[E]>, u128> {
    let mut values = Vec::new();
    values
        .try_reserve_exact(len)
        .map_err(|_| len as u128 * std::mem::size_of::<E>() as u128)?;
    values.extend(std::iter::repeat_with(make).take(len));
    Ok(values.into_boxed_slice())
}

impl<T> Flight<T> {
    /// Room for `capacity` events in as many batches; `Err` with the bytes
    /// that could not be allocated.
    pub(super) fn new(capacity: usize) -> Result<Self, u128> {
        let cells = try_boxed(capacity, || UnsafeCell::new(None))?;
        let batches = try_boxed(capacity, || Batch {
            span: UnsafeCell::new(Span::default()),
            remaining: AtomicUsize::new(0),
            deliveries: AtomicU64::new(0),
        })?;
        Ok(Self {
            cells,
            batches,
            published: AtomicU64::new(0),
        })
    }

    /// How many batches can be in flight at once.
    pub(super) fn batches(&self) -> u64 {
        self.batches.len() as u64
    }

    /// How many events can be in flight at once.
    pub(super) fn cells(&self) -> usize {
        self.cells.len()
    }

    fn batch(&self, at: u64) -> &Batch {
        &self.batches[(at % self.batches()) as usize]
    }

    fn cell(&self, at: u64) -> &Cell<T> {
        &self.cells[(at % self.cells.len() as u64) as usize]
    }

    /// Stores the event at position `at`. The drainer only, for a free
    /// cell: fewer than `cells()` events are in flight, and `at` is the
    /// next position.
    pub(super) fn put(&self, at: u64, event: (Held<T>, u8)) {
        #[allow(unsafe_code)]
        // SAFETY: the cell is free (see `Batch`): no lane reads it until
        // the batch that covers it is published, and only the drainer runs
        // this.
        self.cell(at)
            .with_mut(|cell| unsafe { *cell = Some(event) });
    }

    /// Publishes batch `at`, over `span` (whose events are `put`), for
    /// `lanes` lanes. The drainer only, for a free batch.
    pub(super) fn publish(&self, at: u64, span: Span, lanes: usize) {
        let batch = self.batch(at);
        #[allow(unsafe_code)]
        // SAFETY: as in `put`.
        batch.span.with_mut(|slot| unsafe { *slot = span });
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

    /// Takes back the finished batch `at`: `with` gets each of its events,
    /// in order. Returns the batch's span and its deliveries.
    pub(super) fn finish(&self, at: u64, mut with: impl FnMut((Held<T>, u8))) -> (Span, u64) {
        let batch = self.batch(at);
        #[allow(unsafe_code)]
        // SAFETY: `is_finished(at)` returned true: every lane is done with
        // the batch, and the drainer alone touches it and its cells until
        // it publishes them again.
        let span = batch.span.with(|span| unsafe { *span });
        for position in span.start..span.start + span.len as u64 {
            #[allow(unsafe_code)]
            // SAFETY: as above.
            let event = self
                .cell(position)
                .with_mut(|cell| unsafe { (*cell).take() });
            if let Some(event) = event {
                with(event);
            }
        }
        // Relaxed: the Acquire load of `is_finished` ordered the lanes'
        // additions before this.
        (span, batch.deliveries.swap(0, Ordering::Relaxed))
    }

    /// The span of batch `at`, for a lane it counts that has not finished
    /// it.
    fn span(&self, at: u64) -> Span {
        #[allow(unsafe_code)]
        // SAFETY: batch `at` is published and counts the caller's lane,
        // which has not decremented its `remaining` yet (see `Batch`).
        self.batch(at).span.with(|span| unsafe { *span })
    }

    /// Runs `f` on the event at `position`, for a lane counted by the
    /// published batch that covers it, before it finished the batch.
    fn with_event<R>(&self, position: u64, f: impl FnOnce(&T) -> R) -> Option<R> {
        #[allow(unsafe_code)]
        // SAFETY: as in `span`: the drainer writes the cell again only
        // after the lane's decrement.
        self.cell(position)
            .with(|cell| unsafe { (*cell).as_ref() }.map(|(event, _)| f(event)))
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
    /// Under `Unordered`, for a signal's only listener: whether its
    /// batches are spread over the pool (see `paced`). Only rounds touch
    /// it, as `hint`.
    #[cfg(not(loom))]
    pace: UnsafeCell<Pace>,
}

/// Whether an `Unordered` lane's batches are worth spreading over the
/// pool: a listener slow enough that a batch takes `SPREAD_AFTER` gains
/// from running on several threads; a quick one loses (a `join` per
/// level, a wake-up of a sleeping thread, costs more than its calls).
#[cfg(not(loom))]
#[derive(Clone, Copy, Default)]
struct Pace {
    spread: bool,
    /// Rounds before the next timed one.
    untimed: u32,
}

/// A batch that took this long, unsplit, is spread from then on.
#[cfg(not(loom))]
const SPREAD_AFTER: std::time::Duration = std::time::Duration::from_micros(20);

/// One round in this many is timed unsplit, to see whether the listener's
/// pace changed.
#[cfg(not(loom))]
const TIME_EVERY: u32 = 16;

#[allow(unsafe_code)]
// SAFETY: `hint` and `pace` are accessed only by rounds, one at a time
// (see `hint`); the rest are atomics.
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
            #[cfg(not(loom))]
            pace: UnsafeCell::new(Pace::default()),
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
    super::cursor::spawn_job(shared, lane, |shared, lane| run(shared, lane));
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
    let flight = &shared.flight;
    let span = flight.span(at);
    // One recorded delivery of the signal's queue, on the list of the
    // moment (a listener that left is in no list: it is not called).
    let delivered = shared.base.with_current(|list| {
        let _draining = waits::Draining::new(shared.base.id());
        match find(list, lane) {
            Some(slot) => deliver(shared, lane, list, slot, span),
            None => 0,
        }
    });
    let batch = flight.batch(at);
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
/// it is the signal's only listener and a slow one (see `Pace`). Returns
/// the calls that returned.
fn deliver<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    lane: &Lane,
    list: &List<T>,
    slot: &Slot<T>,
    span: Span,
) -> u64 {
    let leaf = |range: std::ops::Range<usize>| {
        let mut delivered = 0;
        for i in range.filter(|i| span.passes(*i)) {
            let position = span.start + i as u64;
            let call = |value: &T| drain::call(shared, list, slot, value);
            delivered += shared.flight.with_event(position, call).unwrap_or(0);
        }
        delivered
    };
    // Only for a signal's one listener, on a pool of several threads: with
    // several listeners, the lanes already run in parallel, and a split
    // costs more than a small listener's call (`benches/async.rs`'s
    // `async_slow/4`: three listeners on a pool of four ran 1.6 times
    // slower split than not). `slots` counts every listener of the list.
    let may_spread = shared.ordering == DeliveryOrder::Unordered
        && list.slots.len() == 1
        && exec::threads(&shared.pool) > 1;
    if !may_spread {
        return leaf(0..span.len);
    }
    // Under loom every such batch is spread: the models keep the fork-join.
    #[cfg(loom)]
    let _ = lane;
    #[cfg(loom)]
    return drain::fan_out(shared, true, 0..span.len, &leaf);
    #[cfg(not(loom))]
    paced(
        lane,
        span,
        || leaf(0..span.len),
        || drain::fan_out(shared, true, 0..span.len, &leaf),
    )
}

/// Delivers a batch of a lane that may spread: `spread` if the last timed
/// round was slow, else `unsplit`; one round in `TIME_EVERY` (the first
/// among them) is timed unsplit, so the clock is read once per that many
/// rounds.
#[cfg(not(loom))]
fn paced(
    lane: &Lane,
    span: Span,
    unsplit: impl FnOnce() -> u64,
    spread: impl FnOnce() -> u64,
) -> u64 {
    #[allow(unsafe_code)]
    // SAFETY: only rounds touch `pace`, one at a time (see `Lane::hint`).
    let mut pace = lane.pace.with(|pace| unsafe { *pace });
    let delivered = if pace.untimed == 0 {
        pace.untimed = TIME_EVERY - 1;
        let start = std::time::Instant::now();
        let delivered = unsplit();
        pace.spread = span.len > 1 && start.elapsed() >= SPREAD_AFTER;
        delivered
    } else {
        pace.untimed -= 1;
        if pace.spread { spread() } else { unsplit() }
    };
    #[allow(unsafe_code)]
    // SAFETY: as above.
    lane.pace.with_mut(|cell| unsafe { *cell = pace });
    delivered
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
