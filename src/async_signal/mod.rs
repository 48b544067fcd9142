//! `AsyncSignal<T>`: listeners run on a rayon pool. The design is in
//! `docs/architecture.md` ("AsyncSignal"), the orderings in
//! `docs/ordering.md`. The parts are beside this file (builder, shared
//! state, state word, drainer, waits); this one is the public front, over
//! 600 lines for its docs: the emit, flush and shutdown contracts, with
//! their "Deadlocks" sections and examples.

mod builder;
mod cursor;
mod drain;
mod lane;
mod shared;
mod state;
mod waits;

use std::fmt;
use std::ops::Deref;
use std::task::Poll;
use std::time::{Duration, Instant};

pub use builder::{AsyncSignalBuilder, DEFAULT_CAPACITY, DeliveryOrder, Overflow};

use crate::error::{
    BuildError, EmitErrors, FlushError, ListenerPanic, RejectReason, Rejected, ShutdownTimeout,
};
use crate::listeners::Listeners;
use crate::ring::subscription::Subscription;
use crate::stats::Stats;
use crate::sync::{self, Arc, AtomicBool, AtomicU64, AtomicUsize, ErasedArc, Mutex, Queue};
use crate::unwind::contain;
use shared::Shared;
use state::{Accepted, MAX_CAPACITY, Refusal, Snapshot, State};

/// A signal whose listeners run on a rayon pool, so that `emit` returns at
/// once.
///
/// **Which pool.** The one given to [`AsyncSignalBuilder::pool`]; otherwise
/// rayon's global pool, with `rayon::spawn`'s rule: an emit made on a thread
/// of another rayon pool starts the drainer on that pool (and
/// [`emit_collect`](Self::emit_collect) runs there too). rayon offers no handle
/// to its global pool to do otherwise; give the signal a pool of its own
/// where that matters.
///
/// Each emitted value is moved once into a slot of a bounded queue
/// (allocated when the signal is built) and read by reference by every
/// listener; a single drainer job per signal takes events off the queue in
/// batches and hands each batch to every blocking listener's own job (its
/// *lane*), which delivers the batches in order: a slow listener falls
/// behind the others instead of holding them back, until `capacity`
/// events are pending. Under [`DeliveryOrder::Unordered`] the lane of a
/// signal's only listener spreads its batches over the pool with
/// `rayon::join`. The steady state allocates
/// nothing per emit (`rayon::spawn` boxes a job only when a drainer or a
/// lane starts after it went idle).
///
/// # Guarantees
///
/// * **Nothing accepted is lost.** An `emit` that returns `Ok` is delivered
///   to the listeners connected when the drainer takes it off the queue:
///   also after
///   [`close`](Self::close), and after the signal is dropped (the drainer
///   keeps the shared state alive until the queue is empty). The process
///   exiting is another matter: [`flush`](Self::flush) or
///   [`shutdown`](Self::shutdown) first.
/// * **Bounded.** At most [`capacity`](AsyncSignalBuilder::capacity)
///   events are pending; beyond that [`Overflow`] decides.
/// * **Panics are contained.** A panicking listener is caught, counted in
///   [`Stats::panicked`] and handed to the panic handler; the pool, the
///   signal and the other listeners carry on. Errors of fallible listeners
///   are counted in [`Stats::failed`] and go to the error handler.
/// * Under [`DeliveryOrder::PerListener`], each listener sees one emitting
///   thread's events in emit order and never runs concurrently with itself
///   (this covers `emit`; [`emit_collect`](Self::emit_collect) runs at once,
///   outside the queue).
///
/// A listener connected after an emit but before the drainer took the
/// event off the queue receives it (one taken already does not); a listener
/// disconnected before the delivery reaches it does not receive it. [`Connection::disconnect_wait`](crate::Connection::disconnect_wait) waits for running deliveries too.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use sigwire::AsyncSignal;
///
/// struct Fill { qty: u64 }
///
/// let fills = AsyncSignal::<Fill>::new();
/// let booked = Arc::new(AtomicU64::new(0));
/// let b = booked.clone();
/// fills.connect(move |fill: &Fill| { b.fetch_add(fill.qty, Ordering::Relaxed); });
///
/// for qty in 1..=100 {
///     fills.emit(Fill { qty }).unwrap();
/// }
/// fills.flush().unwrap();
/// assert_eq!(booked.load(Ordering::Relaxed), 5050);
/// assert_eq!(fills.stats().delivered, 100); // 100 events × 1 listener
/// ```
pub struct AsyncSignal<T: Send + Sync + 'static> {
    listeners: Listeners<T>,
    shared: Arc<Shared<T>>,
}

/// The connect family, filters, keys, `len` / `is_empty` / `clear` and the
/// error handler: shared by every signal kind, documented on
/// [`Listeners`]. An `AsyncSignal`'s listeners run on its pool: a listener
/// receives the events the drainer takes off the queue after it connected
/// (one emitted before but still queued, too; one already taken, even if
/// no listener has run with it yet, not).
impl<T: Send + Sync + 'static> Deref for AsyncSignal<T> {
    type Target = Listeners<T>;

    fn deref(&self) -> &Listeners<T> {
        &self.listeners
    }
}

impl<T: Send + Sync + 'static> AsyncSignalBuilder<T> {
    /// The signal.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroCapacity`] for a capacity of 0,
    /// [`BuildError::CapacityTooLarge`] above the largest capacity the
    /// signal can count (about four million events), and
    /// [`BuildError::OutOfMemory`] when the queue, or the flight beside it
    /// (where the drainer keeps the events the listeners are working on:
    /// `capacity` events and as many batch entries of 40 bytes), cannot be
    /// allocated: more
    /// bytes than a process can address, or more than the allocator grants
    /// (on Linux's default overcommit, more than RAM and swap). Memory the
    /// system grants lazily and cannot supply when the queue first touches
    /// it (a stamp per slot, at `build`) is beyond the reach of any error:
    /// the system's out-of-memory handling decides.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, BuildError};
    /// assert!(AsyncSignal::<u8>::builder().build().is_ok());
    /// assert!(matches!(
    ///     AsyncSignal::<u8>::builder().capacity(usize::MAX).build(),
    ///     Err(BuildError::CapacityTooLarge { .. })
    /// ));
    /// assert!(matches!(
    ///     AsyncSignal::<[u8; 1 << 40]>::builder().capacity(1 << 20).build(),
    ///     Err(BuildError::OutOfMemory { .. })
    /// ));
    /// ```
    pub fn build(self) -> Result<AsyncSignal<T>, BuildError> {
        if self.capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        if self.capacity > MAX_CAPACITY {
            return Err(BuildError::CapacityTooLarge {
                requested: self.capacity,
                max: MAX_CAPACITY,
            });
        }
        let capacity = self.capacity;
        let queue = sync::bounded_queue(capacity).map_err(|no| BuildError::OutOfMemory {
            capacity,
            bytes: no.bytes,
        })?;
        let flight = lane::Flight::new(capacity)
            .map_err(|bytes| BuildError::OutOfMemory { capacity, bytes })?;
        Ok(AsyncSignal::from_builder(self, queue, flight))
    }
}

impl<T: Send + Sync + 'static> AsyncSignal<T> {
    /// A signal on rayon's global pool, with the default settings:
    /// capacity [`DEFAULT_CAPACITY`], [`Overflow::Block`],
    /// [`DeliveryOrder::Unordered`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<String>::new();
    /// assert!(signal.is_empty());
    /// ```
    ///
    /// # Panics
    ///
    /// If the queue of [`DEFAULT_CAPACITY`] events cannot be allocated
    /// (events of many megabytes each); [`builder`](Self::builder)'s
    /// `build` returns that as
    /// [`BuildError::OutOfMemory`](crate::BuildError::OutOfMemory) instead.
    #[track_caller]
    pub fn new() -> Self {
        match Self::builder().build() {
            Ok(signal) => signal,
            Err(error) => panic!("AsyncSignal::new: {error}"),
        }
    }

    /// Settings for a new signal: pool, capacity, overflow, ordering, panic
    /// handler.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, Overflow};
    /// let signal = AsyncSignal::<u8>::builder()
    ///     .capacity(64)
    ///     .overflow(Overflow::Reject)
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(signal.capacity(), 64);
    /// ```
    pub fn builder() -> AsyncSignalBuilder<T> {
        AsyncSignalBuilder::new()
    }

    /// The signal of `builder`'s settings, with its `queue` of
    /// `builder.capacity` slots, already allocated.
    fn from_builder(
        builder: AsyncSignalBuilder<T>,
        queue: Queue<(T, u8)>,
        flight: lane::Flight<T>,
    ) -> Self {
        let AsyncSignalBuilder {
            pool,
            capacity,
            overflow,
            ordering,
            on_panic,
            ..
        } = builder;
        let listeners = Listeners::new();
        Self {
            shared: Arc::new(Shared {
                base: Arc::clone(listeners.base()),
                queue,
                state: State::new(),
                capacity,
                overflow,
                ordering,
                pool,
                batch: Mutex::new(shared::Drainer::new()),
                flight,
                cursors: Mutex::new(Vec::new()),
                flushers: AtomicUsize::new(0),
                dropped: AtomicU64::new(0),
                sleepers: sync::Sleepers::new(),
                on_panic: Mutex::new(on_panic),
                closers: Mutex::new(shared::Closers::default()),
                ring: Mutex::new(None),
                subscribed: AtomicBool::new(false),
                completed: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                stamp: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                panicked: AtomicU64::new(0),
                rejected: AtomicU64::new(0),
            }),
            listeners,
        }
    }

    /// Sends caught listener panics to `handler` (see
    /// [`AsyncSignalBuilder::panic_handler`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sigwire::AsyncSignal;
    ///
    /// let signal = AsyncSignal::<u32>::new();
    /// let ids = Arc::new(Mutex::new(Vec::new()));
    /// let i = ids.clone();
    /// signal.set_panic_handler(move |p| i.lock().unwrap().push(p.id()));
    /// let conn = signal.connect(|_: &u32| panic!("boom"));
    /// signal.emit(1).unwrap();
    /// signal.flush().unwrap();
    /// assert_eq!(*ids.lock().unwrap(), [conn.id()]);
    /// ```
    pub fn set_panic_handler<F>(&self, handler: F)
    where
        F: Fn(ListenerPanic) + Send + Sync + 'static,
    {
        *sync::lock(&self.shared.on_panic) = Some(ErasedArc::new(handler));
    }

    /// Queues `value` for delivery to every listener on the pool and
    /// returns; the listeners read it by reference, and it is dropped (on
    /// the pool) after the last one.
    ///
    /// # Errors
    ///
    /// The value comes back in a [`Rejected`] with the reason:
    /// [`Closed`](RejectReason::Closed) after [`close`](Self::close);
    /// [`Full`](RejectReason::Full) when `capacity` events are pending under
    /// [`Overflow::Reject`] (and under `Block` or `BlockFor` when the
    /// calling thread is inside a delivery of this signal, as
    /// [`flush`](Self::flush) describes, where waiting for room could never
    /// end);
    /// [`TimedOut`](RejectReason::TimedOut) under [`Overflow::BlockFor`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::{AsyncSignal, Overflow, RejectReason};
    ///
    /// let signal = AsyncSignal::<u32>::builder()
    ///     .capacity(1)
    ///     .overflow(Overflow::Reject)
    ///     .build()
    ///     .unwrap();
    /// let (tx, rx) = std::sync::mpsc::channel::<()>();
    /// let rx = std::sync::Mutex::new(rx);
    /// signal.connect(move |_: &u32| { let _ = rx.lock().unwrap().recv(); });
    ///
    /// signal.emit(1).unwrap(); // pending until the listener returns
    /// let rejected = signal.emit(2).unwrap_err();
    /// assert_eq!(rejected.reason(), RejectReason::Full);
    /// assert_eq!(rejected.into_inner(), 2);
    /// tx.send(()).unwrap();
    /// signal.flush().unwrap();
    /// ```
    #[inline]
    pub fn emit(&self, value: T) -> Result<(), Rejected<T>> {
        let accepted = match self.shared.state.try_accept(self.shared.capacity) {
            Ok(accepted) => accepted,
            Err(refusal) => match self.wait_for_room(refusal) {
                Ok(accepted) => accepted,
                Err(reason) => {
                    // Relaxed: a statistic.
                    self.shared.rejected.fetch_add(1, sync::Ordering::Relaxed);
                    return Err(Rejected::new(value, reason));
                }
            },
        };
        self.push(value, accepted)
    }

    /// Queues an accepted event and starts a drainer if none runs.
    #[inline]
    fn push(&self, value: T, accepted: Accepted) -> Result<(), Rejected<T>> {
        // The queue has room: its events are all counted as pending, and so
        // is this one, and pending stays within its capacity.
        let pushed = self.shared.queue.push((value, accepted.parity));
        if !accepted.drainer_scheduled {
            // Even if the push failed: `SCHEDULED` is set, and only a
            // drainer clears it.
            drain::spawn(&self.shared);
        }
        match pushed {
            Ok(()) => Ok(()),
            Err((value, parity)) => Err(self.undo(value, parity)),
        }
    }

    /// [`emit`](Self::emit) for async code: where `emit` would block the
    /// thread for room (`Overflow::Block`, `BlockFor`), this waits without
    /// blocking it, under any executor, and is woken as soon as a delivery
    /// makes room. With room, it costs what `emit` costs.
    ///
    /// Under `BlockFor(d)` the wait ends with `TimedOut` at `d`: a thread
    /// of sigwire's, started the first time an async wait has a deadline,
    /// wakes the task then (it runs no task; under `--cfg loom` there is
    /// none, and the deadline is seen when the task is next polled). A
    /// task polled after `d` still takes room that came in time.
    /// Wrapping the future in the runtime's timeout works as well;
    /// dropping it is safe (below).
    ///
    /// # Cancel safety
    ///
    /// The event is accepted, and queued, in the one poll that returns
    /// `Ready(Ok(()))`. A future dropped before that has not emitted: the
    /// value is dropped with it, nothing was counted, and nothing is
    /// delivered. So a cancelled `emit_async` neither loses an accepted
    /// event nor emits one twice.
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit): the value back in a [`Rejected`], with
    /// `Closed`, `Full` (under `Reject`, or when polled inside a delivery
    /// of this signal) or `TimedOut`. Polled inside a delivery of another
    /// signal (a listener that blocks its thread on this future), it is
    /// the blocking `emit`, with its `Circle`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::{AsyncSignal, Overflow};
    ///
    /// let signal = AsyncSignal::<u32>::builder()
    ///     .capacity(2)
    ///     .overflow(Overflow::Block)
    ///     .build()
    ///     .unwrap();
    /// signal.connect(|v: &u32| std::thread::sleep(std::time::Duration::from_micros(u64::from(*v))));
    /// futures_executor::block_on(async {
    ///     for v in 0..100 {
    ///         signal.emit_async(v).await.unwrap(); // waits for room, no thread blocked
    ///     }
    ///     signal.flush_async().await.unwrap();
    /// });
    /// assert_eq!(signal.stats().delivered, 100);
    /// ```
    pub async fn emit_async(&self, value: T) -> Result<(), Rejected<T>> {
        if waits::is_draining() {
            // Polled inside a delivery (a listener that blocks on this
            // future): the thread is held either way, so the wait is the
            // blocking one, which sees a circle of waits through it.
            return self.emit(value);
        }
        let accepted = match self.shared.state.try_accept(self.shared.capacity) {
            Ok(accepted) => accepted,
            Err(refusal) => match self.room_async(refusal).await {
                Ok(accepted) => accepted,
                Err(reason) => {
                    // Relaxed: a statistic.
                    self.shared.rejected.fetch_add(1, sync::Ordering::Relaxed);
                    return Err(Rejected::new(value, reason));
                }
            },
        };
        self.push(value, accepted)
    }

    /// `wait_for_room`, awaited: the same policy, without a thread.
    async fn room_async(&self, refusal: Refusal) -> Result<Accepted, RejectReason> {
        let shared = &*self.shared;
        let deadline = match (refusal, shared.overflow) {
            (Refusal::Closed, _) => return Err(RejectReason::Closed),
            (Refusal::Full, Overflow::Reject) => return Err(RejectReason::Full),
            (Refusal::Full, Overflow::Block) => None,
            (Refusal::Full, Overflow::BlockFor(timeout)) => Instant::now().checked_add(timeout),
        };
        let capacity = shared.capacity;
        let room = move |now: Snapshot| now.is_closed() || now.pending() < capacity;
        let mut registration = sync::Registration::new(&shared.sleepers);
        // The deadline handed to the timer once, at the first `Pending`.
        let mut timed = false;
        loop {
            let timed_out = std::future::poll_fn(|cx| {
                if shared.base.is_emitting_here() {
                    // Polled inside a delivery of this signal: room appears
                    // only when it ends.
                    return Poll::Ready(Err(RejectReason::Full));
                }
                // Room first: a task woken in time but polled late still
                // takes the room that came before its deadline.
                match shared.poll_until(&mut registration, cx, room) {
                    Poll::Ready(()) => Poll::Ready(Ok(())),
                    Poll::Pending if deadline.is_some_and(|d| Instant::now() >= d) => {
                        Poll::Ready(Err(RejectReason::TimedOut))
                    }
                    Poll::Pending => {
                        if let Some(deadline) = deadline.filter(|_| !timed) {
                            sync::timer::wake_at(deadline, cx.waker());
                            timed = true;
                        }
                        Poll::Pending
                    }
                }
            })
            .await;
            timed_out?;
            match shared.state.try_accept(capacity) {
                Ok(accepted) => return Ok(accepted),
                Err(Refusal::Closed) => return Err(RejectReason::Closed),
                Err(Refusal::Full) => {} // another emitter took the room
            }
        }
    }

    /// The overflow policy, once `try_accept` refused.
    #[cold]
    fn wait_for_room(&self, refusal: Refusal) -> Result<Accepted, RejectReason> {
        let shared = &*self.shared;
        let deadline = match (refusal, shared.overflow) {
            (Refusal::Closed, _) => return Err(RejectReason::Closed),
            (Refusal::Full, Overflow::Reject) => return Err(RejectReason::Full),
            (Refusal::Full, Overflow::Block) => None,
            (Refusal::Full, Overflow::BlockFor(timeout)) => Instant::now().checked_add(timeout),
        };
        if shared.base.is_emitting_here() {
            // Room appears only when this delivery ends, after we return.
            return Err(RejectReason::Full);
        }
        let capacity = shared.capacity;
        let room = move |now: Snapshot| now.is_closed() || now.pending() < capacity;
        loop {
            let listed = self
                .list_wait(room)
                .map_err(|waits::Circle| RejectReason::Circle)?;
            let room = shared.wait_until(deadline, room);
            // Off the list before taking the room: once taken, the test
            // would read as waiting again.
            drop(listed);
            if !room {
                return Err(RejectReason::TimedOut);
            }
            match shared.state.try_accept(shared.capacity) {
                Ok(accepted) => return Ok(accepted),
                Err(Refusal::Closed) => return Err(RejectReason::Closed),
                Err(Refusal::Full) => {} // another emitter took the room
            }
        }
    }

    /// Uncounts an event the queue refused (it cannot, while the counts
    /// bound it; kept so that a broken invariant hands the value back
    /// instead of losing it).
    #[cold]
    fn undo(&self, value: T, parity: u8) -> Rejected<T> {
        let mut counts = [0; 2];
        counts[usize::from(parity)] = 1;
        if self.shared.state.complete(counts).has_waiters() {
            self.shared.wake();
        }
        self.shared.rejected.fetch_add(1, sync::Ordering::Relaxed);
        Rejected::new(value, RejectReason::Full)
    }

    /// Runs every blocking listener ([`Policy::Block`](crate::Policy), the
    /// default) with `value` in parallel on the pool (fork-join) and returns
    /// when all have returned; then the event goes into the signal's ring
    /// for the subscriptions and the listeners with a dropping policy, which
    /// get it on their own jobs, as any event (their errors go to the error
    /// handler; see [`Policy`](crate::Policy) for one the drainer has not
    /// met yet). It does not go through the queue,
    /// so it is neither bounded by the capacity nor refused after `close`,
    /// and it is outside [`DeliveryOrder::PerListener`]'s promise: its calls may
    /// run while queued events are delivered, and before events emitted
    /// earlier.
    ///
    /// # Errors
    ///
    /// [`EmitErrors`] with every error of a fallible listener and every
    /// panic (as an [`EmitError`](crate::EmitError) whose source is a [`ListenerPanic`]).
    /// These go to the caller, not to the handlers; they are counted in
    /// [`Stats::failed`] and [`Stats::panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::{AsyncSignal, ListenerPanic};
    ///
    /// let signal = AsyncSignal::<u32>::new();
    /// signal.connect_fallible(|v: &u32| if *v > 5 { Err("too big") } else { Ok(()) });
    /// signal.connect(|v: &u32| if *v > 8 { panic!("way too big") });
    ///
    /// assert!(signal.emit_collect(1).is_ok());
    /// let errors = signal.emit_collect(9).unwrap_err();
    /// assert_eq!(errors.len(), 2);
    /// assert!(errors.iter().any(|e| e.source_error().is::<ListenerPanic>()));
    /// ```
    pub fn emit_collect(&self, value: T) -> Result<(), EmitErrors> {
        let (errors, delivered, passed) = drain::join_all(&self.shared, &value);
        // Not after `close`: the subscriptions and the dropping listeners
        // end with the events accepted before it.
        if passed && !self.shared.state.load().is_closed() {
            drain::move_in(&self.shared, std::iter::once(value));
        } else if contain(move || drop(value)).is_none() {
            // Relaxed: a statistic.
            self.shared.panicked.fetch_add(1, sync::Ordering::Relaxed);
        }
        // Release (both), the event first: a `stats` that reads these
        // deliveries (Acquire) reads their event in `completed` too.
        self.shared.completed.fetch_add(1, sync::Ordering::Release);
        self.shared
            .delivered
            .fetch_add(delivered, sync::Ordering::Release);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EmitErrors::new(errors))
        }
    }

    /// Waits until every event accepted before the call has been delivered
    /// (every listener returned). Events emitted after the call delay it
    /// only while an earlier flush is still waiting. Called on a pool
    /// thread, it runs pool jobs while it waits; that does not make every
    /// wait safe (see "Deadlocks").
    ///
    /// # Errors
    ///
    /// [`FlushError::InsideDelivery`] when the calling thread is inside a delivery of
    /// this signal: in one of its listeners (under [`emit`](Self::emit) or
    /// [`emit_collect`](Self::emit_collect)), in the drop of one of its events,
    /// or in any pool job that the thread runs while it waits inside such a
    /// delivery. The delivery can only complete after the caller returns.
    /// [`FlushError::Circle`] when the wait would close a circle of waits between deliveries
    /// of different signals (below).
    ///
    /// # Deadlocks
    ///
    /// A wait for room, a a `flush` and a
    /// [`shutdown`](Self::shutdown) wait for this signal's
    /// deliveries. They are refused instead of waiting when no wait could
    /// ever end:
    ///
    /// * inside a delivery of the same signal (`Full`, or
    ///   [`FlushError`](crate::FlushError) from `flush`): room and the
    ///   flushed events only come once that delivery returns;
    /// * inside a delivery of another `AsyncSignal` X, when a delivery of
    ///   this signal is itself waiting in one of these three calls, directly
    ///   or through a chain of them across other signals, for X
    ///   ([`RejectReason::Circle`](crate::RejectReason::Circle),
    ///   [`FlushError::Circle`](crate::FlushError::Circle) from `flush`, and `shutdown` returns at once with
    ///   the pending count): A's listener emitting into B while B's emits
    ///   into A, both full; or A's listener flushing B while B's flushes A.
    ///
    /// A circle that passes through anything else is not seen, and hangs
    /// under `Block` (times out under `BlockFor`): a lock, a channel, a
    /// `disconnect_wait`, a thread outside every delivery that a listener
    /// waits for; and a pool whose every thread is blocked in listeners
    /// (of any signal), so that no thread is left to run the delivery that
    /// would make room. Only deliveries of a signal's queue count: a wait
    /// from inside an `emit_collect` or a sync emit holds no queue up.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # use std::sync::Arc;
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u64>::new();
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// signal.connect(move |v: &u64| { s.fetch_add(*v, Ordering::Relaxed); });
    /// signal.emit(40).unwrap();
    /// signal.emit(2).unwrap();
    /// signal.flush().unwrap();
    /// assert_eq!(sum.load(Ordering::Relaxed), 42);
    /// ```
    pub fn flush(&self) -> Result<(), FlushError> {
        let shared = &*self.shared;
        if shared.base.is_emitting_here() {
            return Err(FlushError::InsideDelivery);
        }
        let flush = shared.state.begin_flush();
        let mut listed = None;
        loop {
            let now = shared.state.load();
            if flush.is_done(now) {
                if now.is_closed() && now.pending() == 0 {
                    // Everything accepted is delivered: the subscriptions
                    // end now, not when the drainer next goes idle.
                    drain::close_feed(shared);
                }
                return match shared.wait_for_cursors(None) {
                    Ok(_) => Ok(()),
                    Err(waits::Circle) => Err(FlushError::Circle),
                };
            }
            if listed.is_none() {
                let listed_now = self
                    .list_wait(move |now| flush.is_done(now))
                    .map_err(|waits::Circle| FlushError::Circle)?;
                listed = Some(listed_now);
            }
            if !shared.state.flip(flush, now) {
                // Wait for the other parity to empty (then flip), or for
                // the flush's parity to empty after someone else's flip.
                shared.wait_until(None, |now| flush.is_done(now) || flush.can_flip(now));
            }
        }
    }

    /// [`flush`](Self::flush) for async code: waits, without blocking the
    /// thread and under any executor, until every event accepted before
    /// the call was delivered to every listener. No deadline of its own:
    /// compose it with the runtime's timeout.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the wait and changes nothing else.
    ///
    /// # Errors
    ///
    /// [`FlushError::InsideDelivery`] when polled inside a delivery of
    /// this signal (a listener's events are delivered only after it
    /// returns). Polled inside a delivery of another signal (a listener
    /// that blocks its thread on this future), it is the blocking `flush`,
    /// with its [`FlushError::Circle`]; elsewhere a task holds no thread,
    /// and no circle of waits forms through it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # use std::sync::Arc;
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u64>::new();
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// signal.connect(move |v: &u64| { s.fetch_add(*v, Ordering::Relaxed); });
    /// signal.emit(40).unwrap();
    /// signal.emit(2).unwrap();
    /// futures_executor::block_on(signal.flush_async()).unwrap();
    /// assert_eq!(sum.load(Ordering::Relaxed), 42);
    /// ```
    pub async fn flush_async(&self) -> Result<(), FlushError> {
        let shared = &*self.shared;
        if shared.base.is_emitting_here() {
            return Err(FlushError::InsideDelivery);
        }
        if waits::is_draining() {
            // Polled inside a delivery of another signal: as in
            // `emit_async`, the blocking wait, which sees circles.
            return self.flush();
        }
        let flush = shared.state.begin_flush();
        let mut registration = sync::Registration::new(&shared.sleepers);
        loop {
            let now = shared.state.load();
            if flush.is_done(now) {
                if now.is_closed() && now.pending() == 0 {
                    // As in `flush`: the subscriptions end now.
                    drain::close_feed(shared);
                }
                shared.wait_for_cursors_async(&mut registration).await;
                return Ok(());
            }
            if !shared.state.flip(flush, now) {
                let test = |now| flush.is_done(now) || flush.can_flip(now);
                std::future::poll_fn(|cx| shared.poll_until(&mut registration, cx, test)).await;
            }
        }
    }

    /// Stops accepting events: later emits are handed back with
    /// [`RejectReason::Closed`] (blocked ones too). Events accepted before
    /// are still delivered. Closing twice is harmless.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u8>::new();
    /// signal.emit(1).unwrap();
    /// signal.close();
    /// assert!(signal.is_closed());
    /// assert!(signal.emit(2).is_err());
    /// ```
    pub fn close(&self) {
        let was = self.shared.state.close();
        if !was.is_scheduled() && was.pending() == 0 {
            // No drainer runs, so none is left to end the subscriptions
            // once it has delivered the last event: nothing is pending.
            drain::close_feed(&self.shared);
        }
        self.shared.wake();
    }

    /// Runs `hook` once, when the signal has closed and every event
    /// accepted before was delivered: after [`close`](Self::close) (or
    /// [`shutdown`](Self::shutdown)) once the blocking listeners returned
    /// for the last event, or when the signal is dropped and its drainer
    /// is done. This is how a listener's owner learns that no event will
    /// come. Registered after that, it runs at once, on the calling thread.
    ///
    /// It runs on the thread that finds the last event delivered (the
    /// signal's drainer on the pool, or the caller of `close`, `flush` or
    /// `shutdown`), so it should be short. The subscriptions' ring is
    /// closed by then (they get [`Closed`](crate::RecvError::Closed) after
    /// the events they still hold); listeners with a dropping
    /// [`Policy`](crate::Policy) may still be working through the ring's
    /// last events (a `flush` waits for them). Hooks run in the order they
    /// were registered (one registered while they run, from a hook or
    /// another thread, runs at once and may overtake them); a panic in one
    /// is caught and counted in [`Stats::panicked`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use sigwire::AsyncSignal;
    ///
    /// let signal = AsyncSignal::<u32>::new();
    /// signal.connect(|_: &u32| {});
    /// let (tx, rx) = mpsc::channel();
    /// signal.on_close(move || tx.send("closed").unwrap());
    /// signal.emit(1).unwrap();
    /// signal.close();
    /// assert_eq!(rx.recv().unwrap(), "closed");
    /// assert_eq!(signal.stats().delivered, 1);
    /// ```
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        let hook: Box<dyn FnOnce() + Send> = Box::new(hook);
        let mut closers = sync::lock(&self.shared.closers);
        if closers.done {
            drop(closers);
            drain::run_hook(&self.shared, hook);
        } else {
            closers.hooks.push(hook);
        }
    }

    /// Whether [`close`](Self::close) (or [`shutdown`](Self::shutdown)) was
    /// called.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u8>::new();
    /// assert!(!signal.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.state.load().is_closed()
    }

    /// Closes the signal and waits up to `timeout` for every accepted event
    /// to be delivered. Called on a thread inside a delivery of this signal
    /// (as [`flush`](Self::flush) describes), it closes and returns at once:
    /// that delivery can only complete after the caller returns.
    ///
    /// # Errors
    ///
    /// [`ShutdownTimeout`] with the number of events still pending; they
    /// are still delivered, later. A pending count of 0 means every event
    /// is past the queue and listeners with a dropping policy are still
    /// working through theirs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u8>::new();
    /// signal.connect(|_: &u8| {});
    /// signal.emit(1).unwrap();
    /// signal.shutdown(Duration::from_secs(5)).unwrap();
    /// assert_eq!(signal.stats().delivered, 1);
    /// ```
    pub fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownTimeout> {
        self.close();
        let shared = &*self.shared;
        if shared.base.is_emitting_here() {
            return Err(ShutdownTimeout::new(shared.state.load().pending()));
        }
        let deadline = Instant::now().checked_add(timeout);
        let Ok(_listed) = self.list_wait(|now| now.pending() == 0) else {
            return Err(ShutdownTimeout::new(shared.state.load().pending()));
        };
        if shared.wait_until(deadline, |now| now.pending() == 0) {
            // As in `flush`: every accepted event is delivered.
            drain::close_feed(shared);
            match shared.wait_for_cursors(deadline) {
                Ok(true) => Ok(()),
                // Every event is past the queue (pending 0); dropping
                // listeners are still at work.
                Ok(false) | Err(waits::Circle) => Err(ShutdownTimeout::new(0)),
            }
        } else {
            Err(ShutdownTimeout::new(shared.state.load().pending()))
        }
    }

    /// The signal's counters.
    ///
    /// # Examples
    ///
    /// See [`Stats`].
    pub fn stats(&self) -> Stats {
        let shared = &*self.shared;
        // Acquire (all four): pairs with the drainer's and `emit_collect`'s
        // Release writes (`drain::count`, `docs/ordering.md`): reading a
        // value one of them wrote makes the stamp it changed before that
        // visible to the second read of the stamp.
        let read = |counter: &AtomicU64| counter.load(sync::Ordering::Acquire);
        let (delivered, completed, pending) = loop {
            let stamp = read(&shared.stamp);
            if stamp % 2 == 1 {
                sync::spin(); // the drainer is between the two counts
                continue;
            }
            // `delivered` before `completed`: `emit_collect` adds its event
            // to `completed` before its deliveries to `delivered`.
            let delivered = read(&shared.delivered);
            let completed = read(&shared.completed);
            let pending = shared.state.load().pending();
            if read(&shared.stamp) == stamp {
                break (delivered, completed, pending);
            }
        };
        // Relaxed: statistics.
        let relaxed = |counter: &AtomicU64| counter.load(sync::Ordering::Relaxed);
        Stats {
            emitted: completed + pending as u64,
            delivered,
            failed: relaxed(&shared.failed),
            panicked: relaxed(&shared.panicked),
            rejected: relaxed(&shared.rejected),
            pending,
            dropped: relaxed(&shared.dropped),
        }
    }

    /// Lists the calling thread's wait for this signal until `done` holds
    /// (see `waits`); `Err` if the wait would close a circle of waits
    /// between deliveries.
    fn list_wait(
        &self,
        done: impl Fn(Snapshot) -> bool + Send + Sync + 'static,
    ) -> Result<waits::Listed, waits::Circle> {
        let shared = Arc::clone(&self.shared);
        waits::list(self.shared.base.id(), move || !done(shared.state.load()))
    }

    /// How many events may be pending at once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, DEFAULT_CAPACITY};
    /// assert_eq!(AsyncSignal::<u8>::new().capacity(), DEFAULT_CAPACITY);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

/// Subscriptions, and what the dropping policies drop.
impl<T: Send + Sync + 'static> AsyncSignal<T> {
    /// A [`Subscription`] to this signal's events: those the drainer takes
    /// from the queue after this call (an event emitted before it and
    /// still queued is received; one the drainer already took is not, as
    /// for a listener connected then), and
    /// those of [`emit_collect`](Self::emit_collect) calls made after it and
    /// before [`close`](Self::close) (one racing `close` may or may not
    /// reach them).
    /// The ring keeps up to [`capacity`](Self::capacity) events (rounded up
    /// to a power of two) for a subscriber that reads late; one further
    /// behind is told it [lagged](crate::RecvError::Lagged). A subscription
    /// never holds the signal back.
    ///
    /// All subscriptions of a signal, and its listeners with a dropping
    /// [`Policy`](crate::Policy), share one ring: each event is stored
    /// once, as an `Arc<T>` (no `T: Clone`). The drainer moves each event
    /// that passed the signal's filters into it when it takes the event
    /// off the queue (before the blocking listeners run: they read the
    /// ring's copy), in emit order (also under
    /// [`DeliveryOrder::Unordered`]), and leaves it out while nothing
    /// reads the ring. An `emit_collect` moves its event in when its
    /// listeners returned, which is outside that order, as its listener
    /// calls are. A panicking `Drop` of the event a reused ring slot held
    /// is caught and counted in [`Stats::panicked`]. After
    /// `close`, or once the signal is dropped, subscriptions receive every
    /// event accepted before, then [`Closed`](crate::RecvError::Closed):
    /// at the latest once [`flush`](Self::flush) or
    /// [`shutdown`](Self::shutdown) returns `Ok` after the close.
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::{AsyncSignal, RecvError};
    ///
    /// let quotes = AsyncSignal::<u64>::new();
    /// let mut sub = quotes.subscribe();
    /// quotes.emit(10).unwrap();
    /// quotes.emit(11).unwrap();
    /// quotes.close();
    /// assert_eq!(*sub.recv().unwrap(), 10);
    /// assert_eq!(*sub.recv().unwrap(), 11);
    /// assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
    /// ```
    ///
    /// # Panics
    ///
    /// If this call makes the ring (the signal's first subscription) and
    /// its slots, 16 bytes per event of capacity, cannot be allocated.
    #[track_caller]
    pub fn subscribe(&self) -> Subscription<T> {
        match self.shared.ring() {
            Ok(ring) => Subscription::new(ring),
            Err(error) => panic!("AsyncSignal::subscribe: {error}"),
        }
    }

    /// The events the listener of `connection` missed because of its
    /// [`Policy`](crate::Policy): 0 for a `Block` listener, for a
    /// connection of another signal, and for a listener the drainer has
    /// not met yet (it meets a new one with the next events it takes).
    /// A listener that left (disconnected, or a once-listener that fired)
    /// stops counting; its count is kept until the drainer lets go of its
    /// cursor, and [`Stats::dropped`] keeps the total.
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::{AsyncSignal, ConnectOptions, Policy};
    ///
    /// let signal = AsyncSignal::<u32>::builder().capacity(1).build().unwrap();
    /// let (release, wait) = std::sync::mpsc::channel::<()>();
    /// let wait = std::sync::Mutex::new(wait);
    /// let slow = signal
    ///     .connect_with(ConnectOptions::new().policy(Policy::DropNewest), move |_: &u32| {
    ///         let _ = wait.lock().unwrap().recv();
    ///     })
    ///     .unwrap();
    /// for v in 0..10 {
    ///     signal.emit(v).unwrap(); // never waits for the slow listener
    ///     while signal.stats().pending > 0 {}
    /// }
    /// assert!(signal.dropped(&slow) > 0);
    /// # for _ in 0..10 { let _ = release.send(()); }
    /// ```
    pub fn dropped(&self, connection: &crate::Connection) -> u64 {
        let id = connection.id();
        sync::lock(&self.shared.cursors)
            .iter()
            .find(|cursor| cursor.id == id)
            .map_or(0, |cursor| cursor.dropped())
    }
}

/// [`AsyncSignal::new`]: it panics where `new` does.
impl<T: Send + Sync + 'static> Default for AsyncSignal<T> {
    #[track_caller]
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for AsyncSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("AsyncSignal")
            .field("id", &shared.base.id())
            .field("len", &shared.base.live_len())
            .field("capacity", &shared.capacity)
            .field("overflow", &shared.overflow)
            .field("ordering", &shared.ordering)
            .field("stats", &self.stats())
            .finish()
    }
}
