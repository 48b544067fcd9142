//! Cursors: the listeners of an `AsyncSignal` with a dropping policy, each
//! reading the signal's ring at its own pace on a job of its own. See
//! `docs/architecture.md`, "Policies", and `docs/ordering.md`, "Cursors".

use super::drain::{self, BATCH};
use super::shared::Shared;
use super::waits;
use crate::base::List;
use crate::base::slot::Slot;
use crate::connection::Policy;
use crate::error::TryRecvError;
use crate::ring::Ring;
use crate::ring::subscription::Subscription;
use crate::sync::{self, Arc, AtomicBool, AtomicU64, Mutex, Ordering, Queue, exec};
use crate::unwind::contain;

/// A dropping listener's progress.
pub(super) struct Cursor<T> {
    /// The listener's slot.
    pub(super) id: u64,
    /// Its place in the ring: where a `DropOldest` cursor reads, and what
    /// keeps the ring's values (and their allocations, for reuse) while a
    /// `DropNewest` cursor's queue holds them. Taken out when the cursor
    /// retires. Only the cursor's one job locks it.
    place: Mutex<Option<Subscription<T>>>,
    /// `DropNewest`: the events waiting for the listener.
    queue: Option<Queue<Arc<T>>>,
    /// A job runs, or is spawned, for this cursor.
    scheduled: AtomicBool,
    /// What the cursor has handled (delivered, skipped or dropped): the
    /// next ring position (`DropOldest`), or a count of the events offered
    /// (`DropNewest`).
    done: AtomicU64,
    /// The cursor left: flushes do not wait for it, nothing is offered to
    /// it (a drop's count on a retired cursor could pass any target).
    retired: AtomicBool,
    /// `DropNewest`: the events offered to the queue (kept or dropped).
    offered: AtomicU64,
    dropped: AtomicU64,
}

/// How a job's round ended.
#[derive(PartialEq)]
enum Round {
    /// `BATCH` events handled: go on.
    More,
    /// Nothing left for now.
    Idle,
    /// The listener left the list, or the ring closed and was read: retire.
    Over,
}

impl<T> Cursor<T> {
    /// A cursor for the slot `id` with `policy`, at the ring's tail: it
    /// gets the events moved in from now on. `None` if a `DropNewest`
    /// queue of `capacity` cannot be allocated.
    pub(super) fn new(
        id: u64,
        policy: Policy,
        ring: &Arc<Ring<T>>,
        capacity: usize,
    ) -> Option<Self> {
        let queue = match policy {
            Policy::DropNewest => Some(sync::bounded_queue(capacity).ok()?),
            _ => None,
        };
        let place = Subscription::new(Arc::clone(ring));
        let done = if queue.is_some() { 0 } else { place.position() };
        Some(Self {
            id,
            place: Mutex::new(Some(place)),
            queue,
            scheduled: AtomicBool::new(false),
            done: AtomicU64::new(done),
            retired: AtomicBool::new(false),
            offered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        })
    }

    /// Whether it has a `DropNewest` queue to be offered each event.
    pub(super) fn takes_offers(&self) -> bool {
        self.queue.is_some()
    }

    /// Offers `event` to a `DropNewest` cursor: kept, or dropped (counted)
    /// when its queue is full.
    pub(super) fn offer(&self, shared: &Shared<T>, event: &Arc<T>) {
        let Some(queue) = self.queue.as_ref().filter(|_| !self.is_retired()) else {
            return;
        };
        // Relaxed: a flush reads `offered` as its target after the state
        // word showed this batch completed (Release / Acquire there).
        self.offered.fetch_add(1, Ordering::Relaxed);
        if queue.push(Arc::clone(event)).is_err() {
            // Relaxed (both): statistics.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            // A drop is handled at once. Release: see `publish`.
            self.done.fetch_add(1, Ordering::Release);
            shared.wake_flushers();
        }
    }

    /// Marks the cursor scheduled; `true` if the caller must spawn its job
    /// (it was idle). The drainer calls it after moving events in.
    pub(super) fn wake(&self) -> bool {
        // AcqRel: a job that goes idle swaps after this (reading it) sees
        // the events moved in before; if its swap came first, this reads
        // `false` and the caller spawns (see `go_idle`).
        !self.scheduled.swap(true, Ordering::AcqRel)
    }

    /// Whether the cursor left (its listener is gone, or the ring closed).
    pub(super) fn is_retired(&self) -> bool {
        // Acquire: pairs with `retire`'s Release store, for a flush that
        // stops waiting on it (see `publish`).
        self.retired.load(Ordering::Acquire)
    }

    /// The events dropped for this listener.
    pub(super) fn dropped(&self) -> u64 {
        // Relaxed: a statistic.
        self.dropped.load(Ordering::Relaxed)
    }

    /// What a flush that read the ring's `end` waits for `done` to reach.
    pub(super) fn target(&self, end: u64) -> u64 {
        match self.queue {
            // Relaxed: see `offer`.
            Some(_) => self.offered.load(Ordering::Relaxed),
            None => end,
        }
    }

    /// Whether the cursor has handled everything up to `target`.
    pub(super) fn reached(&self, target: u64) -> bool {
        // Acquire: see `publish`.
        self.is_retired() || self.done.load(Ordering::Acquire) >= target
    }
}

/// Starts the job of `cursor` on the pool.
pub(super) fn spawn<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>, cursor: &Arc<Cursor<T>>) {
    spawn_job(shared, cursor, |shared, cursor| run(shared, cursor));
}

/// Spawns `run(shared, job)` on the signal's pool: the job of a cursor or
/// of a lane.
pub(super) fn spawn_job<T, J>(
    shared: &Arc<Shared<T>>,
    job: &Arc<J>,
    run: impl FnOnce(&Arc<Shared<T>>, &J) + Send + 'static,
) where
    T: Send + Sync + 'static,
    J: Send + Sync + 'static,
{
    let pool = shared.pool.clone();
    let shared = Arc::clone(shared);
    let job = Arc::clone(job);
    exec::spawn(&pool, move || {
        run(&shared, &job);
        // The last references may free the listeners' closures and the
        // ring's events: user code, and a panic escaping a rayon job aborts.
        contain(move || {
            drop(job);
            drop(shared);
        });
    });
}

/// The job: rounds of up to `BATCH` events, each as one recorded delivery
/// of the signal, until nothing is left. It looks before each round, so a
/// job started for events an earlier round already took ends without one.
fn run<T: Send + Sync + 'static>(shared: &Shared<T>, cursor: &Cursor<T>) {
    loop {
        if !has_more(cursor) && !linger(cursor) && !go_idle(cursor) {
            return;
        }
        if is_over(cursor) {
            // The ring closed and was read to its end: no round (and no
            // recorded delivery) is needed to see that.
            retire(shared, cursor);
            return;
        }
        let round = shared.base.with_current(|list| {
            let _draining = waits::Draining::new(shared.base.id());
            match list.slots.iter().find(|slot| slot.id == cursor.id) {
                Some(slot) => one_round(shared, cursor, list, slot),
                None => Round::Over,
            }
        });
        if round == Round::Over {
            retire(shared, cursor);
            return;
        }
        publish(shared);
    }
}

/// Delivers up to `BATCH` events to `slot`.
fn one_round<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    cursor: &Cursor<T>,
    list: &List<T>,
    slot: &Slot<T>,
) -> Round {
    let mut place = sync::lock(&cursor.place);
    let Some(place) = place.as_mut() else {
        return Round::Over;
    };
    let mut delivered = 0;
    let mut round = Round::More;
    for _ in 0..BATCH {
        if !slot.state.is_connected() {
            // Disconnected, or a once-listener that fired, still in the
            // list until the next write: it gets no more events, and what
            // it would skip is not its loss.
            round = Round::Over;
            break;
        }
        let event = match &cursor.queue {
            Some(queue) => match queue.pop() {
                Some(event) => event,
                None => {
                    round = Round::Idle;
                    break;
                }
            },
            None => match place.try_recv() {
                Ok(event) => event,
                Err(TryRecvError::Lagged(missed)) => {
                    // Relaxed (both): statistics.
                    cursor.dropped.fetch_add(missed, Ordering::Relaxed);
                    shared.dropped.fetch_add(missed, Ordering::Relaxed);
                    continue;
                }
                Err(TryRecvError::Empty) => {
                    round = Round::Idle;
                    break;
                }
                Err(TryRecvError::Closed) => {
                    round = Round::Over;
                    break;
                }
            },
        };
        delivered += drain::call(shared, list, slot, &event);
        // The last handle may be this one (the ring reused the slot): the
        // ring takes it back for reuse, or it is dropped here, and the
        // event's `Drop` is user code.
        let left = place.recycle(event);
        if contain(|| drop(left)).is_none() {
            // Relaxed: a statistic.
            shared.panicked.fetch_add(1, Ordering::Relaxed);
        }
        if cursor.queue.is_some() {
            // Release: see `publish`. Counted as handled once its call
            // returned.
            cursor.done.fetch_add(1, Ordering::Release);
        }
    }
    if cursor.queue.is_none() {
        // Release: see `publish`.
        cursor.done.store(place.position(), Ordering::Release);
    }
    // Relaxed: a statistic.
    shared.delivered.fetch_add(delivered, Ordering::Relaxed);
    round
}

/// After a round: wakes the flushes that wait for cursors.
///
/// The round wrote `done` (Release), then `wake_flushers` reads the
/// flushers' count with a read-modify-write (AcqRel). A flush counts itself
/// with a read-modify-write of that count (AcqRel), then reads `done`
/// (Acquire), all under the mutex it sleeps on. The two read-modify-writes
/// are ordered in the count's modification order: if the job's comes
/// second, it reads the flush's count and notifies (under the mutex, so
/// only once the flush sleeps); if it comes first, the flush's reads it,
/// so the `done` written before it is seen. A load instead of the job's
/// read-modify-write needs SeqCst on all four (a store-load pattern),
/// which loom cannot check: it models SeqCst accesses as AcqRel.
fn publish<T>(shared: &Shared<T>) {
    shared.wake_flushers();
}

/// Spins a little while nothing is there: under a steady stream the next
/// event is usually a few microseconds away, and a job that goes idle costs
/// a spawn (an allocation) to start again. `true` if something came.
fn linger<T>(cursor: &Cursor<T>) -> bool {
    #[cfg(not(loom))]
    {
        let backoff = crossbeam_utils::Backoff::new();
        while !backoff.is_completed() {
            backoff.snooze();
            if has_more(cursor) {
                return true;
            }
        }
    }
    #[cfg(loom)]
    let _ = cursor;
    false
}

/// Whether the cursor has something to handle (an event, a lag, the close).
fn has_more<T>(cursor: &Cursor<T>) -> bool {
    match &cursor.queue {
        Some(queue) => !queue.is_empty(),
        None => sync::lock(&cursor.place)
            .as_ref()
            .is_some_and(Subscription::is_ready),
    }
}

/// Whether a `DropOldest` cursor has read everything of a closed ring.
fn is_over<T>(cursor: &Cursor<T>) -> bool {
    cursor.queue.is_none()
        && sync::lock(&cursor.place)
            .as_ref()
            .is_some_and(Subscription::is_closed_at_end)
}

/// Clears `scheduled`; `true` if the job must go on (an event came in the
/// meantime and no other job was started for it).
fn go_idle<T>(cursor: &Cursor<T>) -> bool {
    // AcqRel: reads the drainer's latest `wake` (Release), after which the
    // events it moved in are seen below; see `Cursor::wake`.
    cursor.scheduled.swap(false, Ordering::AcqRel);
    let more = has_more(cursor);
    // AcqRel: as in `wake`; `true` read back means the drainer started a
    // job meanwhile, which goes on instead.
    more && !cursor.scheduled.swap(true, Ordering::AcqRel)
}

/// Retires the cursor: it stops holding the ring's events, and flushes stop
/// waiting for it.
fn retire<T: Send + Sync + 'static>(shared: &Shared<T>, cursor: &Cursor<T>) {
    let place = sync::lock(&cursor.place).take();
    let queued: Vec<_> = cursor
        .queue
        .iter()
        .flat_map(|queue| std::iter::from_fn(|| queue.pop()))
        .collect();
    // The last cursor's place empties the ring: events' `Drop`s run, as
    // part of a delivery, so a `Drop` that flushes is refused instead of
    // waiting for this cursor.
    release(shared, (place, queued));
    // Release: see `is_retired`.
    cursor.retired.store(true, Ordering::Release);
    shared.wake_flushers();
}

/// Drops `what` (cursors let go of, or what one held, which may hold the
/// last handles on events) as part of a delivery of the signal, so that a
/// `Drop` that waits for the signal is refused instead of waiting for
/// itself, and under a catch (counted), so that it unwinds out of no pool
/// job and no lock holder.
pub(super) fn release<T: Send + Sync + 'static, D>(shared: &Shared<T>, what: D) {
    let _running = shared.base.enter();
    let _draining = waits::Draining::new(shared.base.id());
    if contain(move || drop(what)).is_none() {
        // Relaxed: a statistic.
        shared.panicked.fetch_add(1, Ordering::Relaxed);
    }
}
