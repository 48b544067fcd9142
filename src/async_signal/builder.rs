//! `AsyncSignalBuilder`: the settings of an `AsyncSignal`.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::error::ListenerPanic;
use crate::sync::{ErasedArc, exec};

/// Called with every caught listener panic.
pub(crate) type PanicHandler = ErasedArc<dyn Fn(ListenerPanic) + Send + Sync + 'static>;

/// The capacity of [`AsyncSignal::new`](crate::AsyncSignal::new), and of a builder not told otherwise.
pub const DEFAULT_CAPACITY: usize = 1024;

/// What [`AsyncSignal::emit`](crate::AsyncSignal::emit) does when `capacity` events are pending.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sigwire::{AsyncSignal, Overflow};
///
/// let signal = AsyncSignal::<u64>::builder()
///     .overflow(Overflow::BlockFor(Duration::from_millis(5)))
///     .build()
///     .unwrap();
/// # drop(signal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Hand the event back at once, with [`RejectReason::Full`](crate::RejectReason::Full).
    Reject,
    /// Wait until there is room (the default). The emitter sleeps and is
    /// woken by the delivery that makes room; on a pool thread it runs
    /// pool jobs while it waits.
    ///
    /// # Deadlocks
    ///
    /// A wait for room, a [`flush`](crate::AsyncSignal::flush) and a
    /// [`shutdown`](crate::AsyncSignal::shutdown) wait for this signal's
    /// deliveries. They are refused instead of waiting when no wait could
    /// ever end:
    ///
    /// * inside a delivery of the same signal (`Full`, or
    ///   [`FlushError`](crate::FlushError) from `flush`): room and the
    ///   flushed events only come once that delivery returns. A listener
    ///   with a dropping [`Policy`](crate::Policy) counts as inside a
    ///   delivery too, although room does not wait for it: its emit into
    ///   its own full signal is refused with `Full`, not waited for;
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
    #[default]
    Block,
    /// Wait up to the given time, then hand the event back with
    /// [`RejectReason::TimedOut`](crate::RejectReason::TimedOut).
    BlockFor(Duration),
}

/// In what order an [`AsyncSignal`](crate::AsyncSignal)'s listeners see its events.
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, DeliveryOrder};
///
/// let journal = AsyncSignal::<u64>::builder()
///     .ordering(DeliveryOrder::PerListener)
///     .build()
///     .unwrap();
/// # drop(journal);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeliveryOrder {
    /// Any order: a listener may run for several events at once (the
    /// default, and the most parallel).
    #[default]
    Unordered,
    /// Each listener sees the events of one emitting thread in emit order,
    /// and never runs concurrently with itself; different listeners run in
    /// parallel. This covers events sent with `emit`, not `emit_collect`, which
    /// runs at once, outside the queue.
    PerListener,
}

/// Settings for an [`AsyncSignal`](crate::AsyncSignal): its pool, capacity, overflow policy,
/// ordering and panic handler. Made by [`AsyncSignal::builder`](crate::AsyncSignal::builder).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use sigwire::{AsyncSignal, DeliveryOrder, Overflow};
///
/// let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
/// let fills = AsyncSignal::<u64>::builder()
///     .pool(pool)
///     .capacity(4096)
///     .overflow(Overflow::Reject)
///     .ordering(DeliveryOrder::PerListener)
///     .build()
///     .unwrap();
/// assert_eq!(fills.capacity(), 4096);
/// ```
pub struct AsyncSignalBuilder<T> {
    pub(super) pool: exec::Pool,
    pub(super) capacity: usize,
    pub(super) overflow: Overflow,
    pub(super) ordering: DeliveryOrder,
    pub(super) on_panic: Option<PanicHandler>,
    _event: PhantomData<fn(T)>,
}

impl<T: Send + Sync + 'static> AsyncSignalBuilder<T> {
    pub(super) fn new() -> Self {
        Self {
            pool: None,
            capacity: DEFAULT_CAPACITY,
            overflow: Overflow::default(),
            ordering: DeliveryOrder::default(),
            on_panic: None,
            _event: PhantomData,
        }
    }

    /// Runs the listeners on `pool` instead of rayon's global pool.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use sigwire::AsyncSignal;
    /// let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap());
    /// let signal = AsyncSignal::<u8>::builder().pool(pool).build().unwrap();
    /// # drop(signal);
    /// ```
    pub fn pool(mut self, pool: std::sync::Arc<rayon::ThreadPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// How many events may be pending (accepted, not yet delivered) at once;
    /// default [`DEFAULT_CAPACITY`]. The queue for them is allocated once,
    /// by [`build`](Self::build): `capacity` slots of the event's size plus
    /// 8 bytes (a stamp), rounded up to the event's alignment.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u8>::builder().capacity(16).build().unwrap();
    /// assert_eq!(signal.capacity(), 16);
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// What `emit` does when the signal is full; default [`Overflow::Block`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, Overflow};
    /// let signal = AsyncSignal::<u8>::builder().overflow(Overflow::Reject).build().unwrap();
    /// # drop(signal);
    /// ```
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The delivery order; default [`DeliveryOrder::Unordered`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, DeliveryOrder};
    /// let signal = AsyncSignal::<u8>::builder().ordering(DeliveryOrder::PerListener).build().unwrap();
    /// # drop(signal);
    /// ```
    pub fn ordering(mut self, ordering: DeliveryOrder) -> Self {
        self.ordering = ordering;
        self
    }

    /// Calls `handler` (on the pool thread) for every listener panic, after
    /// counting it in [`Stats::panicked`](crate::Stats::panicked). The
    /// default handler logs it through `tracing` when that feature is on;
    /// std's panic hook has already printed it either way.
    ///
    /// # Examples
    ///
    /// See [`ListenerPanic`].
    pub fn panic_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(ListenerPanic) + Send + Sync + 'static,
    {
        self.on_panic = Some(ErasedArc::new(handler));
        self
    }
}

impl<T> fmt::Debug for AsyncSignalBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncSignalBuilder")
            .field("custom_pool", &self.pool.is_some())
            .field("capacity", &self.capacity)
            .field("overflow", &self.overflow)
            .field("ordering", &self.ordering)
            .field("panic_handler", &self.on_panic.is_some())
            .finish()
    }
}
