//! `Shared<T>`: what an `AsyncSignal`, its drainer and its waiters share
//! (the listener list's core, the queue, the state word, the counters),
//! and the waits on it.

use std::task::{Context, Poll};
use std::time::Instant;

use super::builder::{DeliveryOrder, Overflow, PanicHandler};
use super::cursor::Cursor;
use super::lane::{Flight, Lane};
use super::state::{Snapshot, State};
use crate::base::BaseSignal;
use crate::error::ListenerPanic;
use crate::ring::Ring;
use crate::sync::{
    self, Arc, AtomicBool, AtomicU64, AtomicUsize, Mutex, Queue, Registration, Sleepers, exec,
};

/// What the signal, its drainer and its waiters share.
pub(crate) struct Shared<T> {
    pub(super) base: Arc<BaseSignal<T>>,
    /// Accepted events not yet taken by the drainer, each with the epoch
    /// parity it is counted in.
    pub(super) queue: Queue<(T, u8)>,
    pub(super) state: State,
    pub(super) capacity: usize,
    pub(super) overflow: Overflow,
    pub(super) ordering: DeliveryOrder,
    pub(super) pool: exec::Pool,
    /// The drainer's own state (see `drain`).
    pub(super) batch: Mutex<Drainer<T>>,
    /// The batches handed to the lanes (see `lane`).
    pub(super) flight: Flight<T>,
    /// The cursors of the listeners with a dropping policy, as the drainer
    /// last made them, for `flush`, `stats` and `dropped`.
    pub(super) cursors: Mutex<Vec<Arc<Cursor<T>>>>,
    /// Flushes waiting for cursors (see `cursor::publish`).
    pub(super) flushers: AtomicUsize,
    /// Events dropped for listeners by their policies.
    pub(super) dropped: AtomicU64,
    /// Where flushers, `shutdown` and blocked emitters sleep (threads) or
    /// wait (tasks: `emit_async`, `flush_async`).
    pub(super) sleepers: Sleepers,
    pub(super) on_panic: Mutex<Option<PanicHandler>>,
    /// What `on_close` registered, and whether it already ran.
    pub(super) closers: Mutex<Closers>,
    /// The ring of the subscriptions and the dropping listeners, once the
    /// first of them made it; the drainer moves delivered events into it.
    pub(super) ring: Mutex<Option<Arc<Ring<T>>>>,
    /// Set once `ring` holds a ring: until then the drainer does not take
    /// its mutex.
    pub(super) subscribed: AtomicBool,
    /// Events whose listeners all returned (`emit_collect`'s included): with
    /// `pending`, the events emitted.
    pub(super) completed: AtomicU64,
    /// Calls of a listener that returned.
    pub(super) delivered: AtomicU64,
    /// Odd while the drainer moves a batch from `pending` to `completed`
    /// (`drain::count`), so that `stats` never counts a batch in both, or
    /// in neither: written only by the drainer, which runs alone.
    pub(super) stamp: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) panicked: AtomicU64,
    pub(super) rejected: AtomicU64,
}

/// The hooks of `AsyncSignal::on_close`.
#[derive(Default)]
pub(super) struct Closers {
    /// The feed was closed (everything accepted delivered): a hook
    /// registered now runs at once.
    pub(super) done: bool,
    pub(super) hooks: Vec<Box<dyn FnOnce() + Send>>,
}

/// The cursors a flush waits for, each with the position (or count) it
/// waits for it to reach.
type Targets<T> = Arc<Vec<(Arc<Cursor<T>>, u64)>>;

/// What only the drainer touches: the cursor set, the lanes, and where
/// the batches in flight are.
pub(super) struct Drainer<T> {
    /// The events of the batch being taken, between the queue and the
    /// flight (allocated once, reused).
    pub(super) taken: Vec<(T, u8)>,
    /// `BaseSignal::dropping` when `cursors` was last made.
    pub(super) seen: u64,
    pub(super) cursors: Vec<Arc<Cursor<T>>>,
    /// One per blocking listener of the list last published.
    pub(super) lanes: Vec<Arc<Lane>>,
    /// The oldest batch in flight (the next to finish), and the next to
    /// publish.
    pub(super) head: u64,
    pub(super) tail: u64,
    /// The flight's position for the next event taken.
    pub(super) position: u64,
    /// The events of the batches in flight (still pending).
    pub(super) in_flight: usize,
}

impl<T> Drainer<T> {
    pub(super) fn new() -> Self {
        Self {
            taken: Vec::new(),
            seen: 0,
            cursors: Vec::new(),
            lanes: Vec::new(),
            head: 0,
            tail: 0,
            position: 0,
            in_flight: 0,
        }
    }
}

impl<T> Drop for Shared<T> {
    /// The signal and its drainer are gone, and every accepted event was
    /// delivered: subscriptions end with `Closed` after the last one.
    fn drop(&mut self) {
        super::drain::close_feed(self);
        // What the ring and the cursors still hold is dropped here, under
        // the catch the listeners' closures get: a panicking `Drop` of an
        // event must not unwind out of the signal's drop (or out of a pool
        // job, an abort).
        let cursors = std::mem::take(&mut *sync::lock(&self.cursors));
        let drainer = std::mem::take(&mut sync::lock(&self.batch).cursors);
        let ring = sync::lock(&self.ring).take();
        if crate::unwind::contain(move || drop((cursors, drainer, ring))).is_none() {
            // Relaxed: a statistic, for whoever still reads it.
            self.panicked.fetch_add(1, sync::Ordering::Relaxed);
        }
    }
}

impl<T> Shared<T> {
    /// Waits until `done` holds for the state word, or until `deadline`
    /// (then `false`). A pool thread runs pool jobs meanwhile; another
    /// thread sleeps on the condvar (see `docs/ordering.md`, "Waiters").
    pub(super) fn wait_until(
        &self,
        deadline: Option<Instant>,
        done: impl Fn(Snapshot) -> bool,
    ) -> bool {
        if let Some(reached) = spin(deadline, || done(self.state.load())) {
            return reached;
        }
        let mut guard = self.sleepers.lock();
        loop {
            if done(self.state.add_waiter()) {
                return true;
            }
            let Ok(timeout) = sync::left_until(deadline) else {
                return false;
            };
            guard = self.sleepers.sleep(guard, timeout);
        }
    }

    /// [`wait_until`](Self::wait_until) for a task: `Ready` once `done`
    /// holds; else `Pending`, the task registered (`registration`) after
    /// setting `WAITERS`, so the next change that would wake a sleeping
    /// thread wakes it too.
    pub(super) fn poll_until(
        &self,
        registration: &mut Registration<'_>,
        cx: &mut Context<'_>,
        done: impl Fn(Snapshot) -> bool,
    ) -> Poll<()> {
        if done(self.state.load()) {
            return Poll::Ready(());
        }
        registration.poll(cx, || done(self.state.add_waiter()))
    }

    /// Waits until every cursor has handled what was in the ring when this
    /// was called, or until `deadline` (then `Ok(false)`). As `wait_until`,
    /// a pool thread runs pool jobs meanwhile (the cursors' jobs among
    /// them). The wait is listed (see `waits`): [`waits::Circle`] if it
    /// would close a circle of waits between deliveries.
    pub(super) fn wait_for_cursors(
        &self,
        deadline: Option<Instant>,
    ) -> Result<bool, super::waits::Circle>
    where
        T: Send + Sync + 'static,
    {
        let cursors = sync::lock(&self.cursors).clone();
        if cursors.is_empty() {
            return Ok(true);
        }
        let end = sync::lock(&self.ring).as_ref().map_or(0, |ring| ring.end());
        let targets: Targets<T> = Arc::new(
            cursors
                .iter()
                .map(|cursor| (Arc::clone(cursor), cursor.target(end)))
                .collect(),
        );
        // What the wait holds may be the last handles on cursors (and so on
        // the ring's events): let go of as a delivery's drops are.
        let reached = self.wait_for(deadline, &targets);
        super::cursor::release(self, (cursors, targets));
        reached
    }

    fn wait_for(
        &self,
        deadline: Option<Instant>,
        targets: &Targets<T>,
    ) -> Result<bool, super::waits::Circle>
    where
        T: Send + Sync + 'static,
    {
        let all_reached = |targets: &[(Arc<Cursor<T>>, u64)]| {
            targets
                .iter()
                .all(|(cursor, target)| cursor.reached(*target))
        };
        let done = || all_reached(targets);
        if done() {
            return Ok(true);
        }
        let _listed = super::waits::list(self.base.id(), {
            let targets = Arc::clone(targets);
            move || !all_reached(&targets)
        })?;
        if let Some(reached) = spin(deadline, done) {
            return Ok(reached);
        }
        let mut guard = self.sleepers.lock();
        // AcqRel: see `cursor::publish`; counted before the test below.
        self.flushers.fetch_add(1, sync::Ordering::AcqRel);
        let reached = loop {
            if done() {
                break true;
            }
            let Ok(timeout) = sync::left_until(deadline) else {
                break false;
            };
            guard = self.sleepers.sleep(guard, timeout);
        };
        // Relaxed: only a count of who wants waking.
        self.flushers.fetch_sub(1, sync::Ordering::Relaxed);
        drop(guard);
        Ok(reached)
    }

    /// [`wait_for_cursors`](Self::wait_for_cursors) for a task, without
    /// a deadline (compose with the runtime's timeout) and unlisted: a task
    /// holds no thread, so its wait closes no circle of threads.
    pub(super) async fn wait_for_cursors_async(&self, registration: &mut Registration<'_>)
    where
        T: Send + Sync + 'static,
    {
        let cursors = sync::lock(&self.cursors).clone();
        if cursors.is_empty() {
            return;
        }
        let end = sync::lock(&self.ring).as_ref().map_or(0, |ring| ring.end());
        let targets = Released {
            shared: self,
            targets: cursors
                .into_iter()
                .map(|cursor| {
                    let target = cursor.target(end);
                    (cursor, target)
                })
                .collect(),
        };
        let all_reached = || {
            targets
                .targets
                .iter()
                .all(|(cursor, target)| cursor.reached(*target))
        };
        let mut flushing = Flushing {
            flushers: &self.flushers,
            counted: false,
        };
        std::future::poll_fn(|cx| {
            if all_reached() {
                return Poll::Ready(());
            }
            if !flushing.counted {
                // AcqRel: see `cursor::publish`; counted before the test
                // that `poll` makes under the lock.
                self.flushers.fetch_add(1, sync::Ordering::AcqRel);
                flushing.counted = true;
            }
            registration.poll(cx, all_reached)
        })
        .await;
        drop(flushing);
        drop(targets);
    }

    /// Wakes every sleeping waiter, to test its condition again.
    pub(super) fn wake(&self) {
        self.sleepers.notify_all(|| self.state.clear_waiters());
    }

    /// Wakes the flushes that wait for cursors, if any (see
    /// `cursor::publish`).
    pub(super) fn wake_flushers(&self) {
        // A read-modify-write (AcqRel), not a load, after the caller's
        // write of a cursor's `done`: see `cursor::publish`.
        if self.flushers.fetch_add(0, sync::Ordering::AcqRel) != 0 {
            self.sleepers.notify_all(|| {});
        }
    }

    /// The ring, made if there is none yet.
    pub(super) fn ring(&self) -> Result<Arc<Ring<T>>, crate::SubscribeError> {
        let mut held = sync::lock(&self.ring);
        if let Some(ring) = held.as_ref() {
            return Ok(Arc::clone(ring));
        }
        // Spares, for the `Arc`s a `DropNewest` cursor held past their
        // slot's reuse: as many as such a cursor can hold (its queue has
        // the signal's capacity), so that under a steady stream the ring
        // and the queues share a fixed set of `Arc`s instead of allocating.
        let ring = Arc::new(Ring::with_spares(self.capacity, self.capacity)?);
        *held = Some(Arc::clone(&ring));
        // Release: pairs with the drainer's Acquire load (`drain::ring`).
        self.subscribed.store(true, sync::Ordering::Release);
        // Under the lock the drainer takes to end the subscriptions: if it
        // went idle after a close before this ring existed, it found none.
        let now = self.state.load();
        if now.is_closed() && !now.is_scheduled() && now.pending() == 0 {
            ring.close();
        }
        Ok(ring)
    }

    /// Hands a caught panic to the panic handler; a panic of the handler
    /// itself is caught and counted.
    pub(super) fn report_panic(&self, panic: ListenerPanic) {
        let handler = sync::lock(&self.on_panic).clone();
        let report = move || match handler {
            Some(handler) => handler(panic),
            None => default_panic_handler(panic),
        };
        if crate::unwind::contain(report).is_none() {
            // Relaxed: a statistic.
            self.panicked.fetch_add(1, sync::Ordering::Relaxed);
        }
    }
}

/// An async flush's count in `flushers`, taken back when its wait ends or
/// its future is dropped.
struct Flushing<'a> {
    flushers: &'a AtomicUsize,
    counted: bool,
}

impl Drop for Flushing<'_> {
    fn drop(&mut self) {
        if self.counted {
            // Relaxed: only a count of who wants waking.
            self.flushers.fetch_sub(1, sync::Ordering::Relaxed);
        }
    }
}

/// The cursors an async flush waits for, let go of as a delivery's drops
/// are (they may hold the last handles on the ring's events), also when
/// its future is dropped.
struct Released<'a, T: Send + Sync + 'static> {
    shared: &'a Shared<T>,
    targets: Vec<(Arc<Cursor<T>>, u64)>,
}

impl<T: Send + Sync + 'static> Drop for Released<'_, T> {
    fn drop(&mut self) {
        super::cursor::release(self.shared, std::mem::take(&mut self.targets));
    }
}

/// The first part of a wait: until `done` holds (`Some(true)`) or
/// `deadline` passes (`Some(false)`), a pool thread runs pool jobs, and
/// another spins and yields a little (what is waited for usually comes
/// within a batch's delivery, and a sleep costs two context switches);
/// `None` when it is time to sleep.
fn spin(deadline: Option<Instant>, done: impl Fn() -> bool) -> Option<bool> {
    let expired = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
    #[cfg(not(loom))]
    let backoff = crossbeam_utils::Backoff::new();
    loop {
        if done() {
            return Some(true);
        }
        if expired() {
            return Some(false);
        }
        if exec::help() {
            continue;
        }
        #[cfg(not(loom))]
        if !backoff.is_completed() {
            backoff.snooze();
            continue;
        }
        return None;
    }
}

#[cold]
fn default_panic_handler(panic: ListenerPanic) {
    #[cfg(feature = "tracing")]
    tracing::error!(listener = panic.id(), key = panic.key(), %panic, "sigwire listener panicked");
    #[cfg(not(feature = "tracing"))]
    drop(panic);
}
