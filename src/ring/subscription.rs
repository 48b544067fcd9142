//! `Subscription<T>`: a cursor into a signal's broadcast ring, driven by
//! the caller.

use std::fmt;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Read, Ring};
use crate::Connection;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::sync::Arc;

/// A cursor into a signal's events, read at the caller's pace:
/// [`recv`](Self::recv) waits, [`try_recv`](Self::try_recv) does not,
/// [`recv_timeout`](Self::recv_timeout) waits at most a given time. Made
/// by [`SyncSignal::subscribe`](crate::SyncSignal::subscribe),
/// [`AsyncSignal::subscribe`](crate::AsyncSignal::subscribe) and
/// [`Topics::subscribe`](crate::bus::Topics::subscribe).
///
/// **Items are `Arc<T>`.** Each event is stored once, in the signal's ring,
/// and every subscription that reads it gets the same `Arc` (one
/// reference count each, never a clone of `T`); the item may outlive the
/// call and the subscription. A ring slot whose `Arc` nobody holds any
/// more is reused in place when the ring comes round, so a subscriber
/// that lets its items go costs no allocation per event. (Under
/// `--cfg loom`, it is loom's `Arc`.)
///
/// **Lagging.** The ring keeps the last [`capacity`](Self::capacity)
/// events. A subscription that falls further behind loses the oldest, for
/// itself only: the next call returns [`Lagged(n)`](RecvError::Lagged),
/// with `n` the events it missed, and the call after that the oldest event
/// still kept. It never holds an emitter back.
///
/// **Closing.** Once the signal is dropped (or an `AsyncSignal` closed), a
/// subscription returns the events accepted before, then
/// [`Closed`](RecvError::Closed) on every call.
///
/// **Waiting.** `recv` spins briefly, then sleeps until an emit publishes
/// the event it waits for, or the close. It is a plain blocking call: on a
/// thread that must not block (a pool thread), use `try_recv`; in an async
/// task, [`recv_async`](Self::recv_async), or the subscription as a
/// `futures_core::Stream` (feature `stream`). Both wait without a thread
/// and under any executor.
///
/// A subscription starts at the tail: it receives the events emitted after
/// `subscribe` returned. Dropping it frees its place at once; dropping the
/// signal's last one also drops the events the ring held for it (a
/// panicking `Drop` among them unwinds from that drop, after the others
/// are dropped).
///
/// **Progress.** No subscription waits for another or holds an emitter
/// back, with one bound: a reader copies an `Arc` out of a slot in a few
/// instructions, and an emit that comes round to that slot (a ring later)
/// waits for those few instructions, also if the reader's thread is
/// preempted in them.
///
/// # Examples
///
/// ```
/// use sigwire::{RecvError, SyncSignal};
///
/// let prices = SyncSignal::<u64>::new();
/// let mut sub = prices.subscribe_with(2).unwrap(); // keeps the last 2
///
/// prices.emit(&1);
/// assert_eq!(*sub.recv().unwrap(), 1);
///
/// for p in 2..=5 {
///     prices.emit(&p);
/// }
/// assert_eq!(sub.recv().unwrap_err(), RecvError::Lagged(2)); // 2 and 3
/// assert_eq!(*sub.recv().unwrap(), 4);
/// assert_eq!(*sub.recv().unwrap(), 5);
///
/// drop(prices);
/// assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
/// ```
pub struct Subscription<T> {
    ring: Arc<Ring<T>>,
    /// The next position to read.
    next: u64,
    dropped: u64,
    /// The listener that feeds this subscription alone (a topic
    /// subscription's), disconnected with it.
    feeder: Option<Connection>,
    /// The key of this subscription's task registration with the ring
    /// (`recv_async`, the `Stream`), if it made one.
    waiting: Option<u64>,
}

impl<T> Subscription<T> {
    pub(crate) fn new(ring: Arc<Ring<T>>) -> Self {
        let next = ring.subscribe();
        Self {
            ring,
            next,
            dropped: 0,
            feeder: None,
            waiting: None,
        }
    }

    /// This subscription, disconnecting `feeder` when dropped.
    pub(crate) fn disconnecting(mut self, feeder: Connection) -> Self {
        self.feeder = Some(feeder);
        self
    }

    /// The next event, without waiting.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] when no event is there yet,
    /// [`TryRecvError::Lagged`] with the number of events missed (the next
    /// call returns the oldest one kept), [`TryRecvError::Closed`] once the
    /// signal is gone and every event before was received.
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::{SyncSignal, TryRecvError};
    ///
    /// let signal = SyncSignal::<&'static str>::new();
    /// let mut sub = signal.subscribe();
    /// assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
    /// signal.emit(&"ready");
    /// assert_eq!(*sub.try_recv().unwrap(), "ready");
    /// ```
    pub fn try_recv(&mut self) -> Result<Arc<T>, TryRecvError> {
        match self.ring.read(self.next) {
            Read::Item(item) => {
                self.next += 1;
                Ok(item)
            }
            Read::Empty => Err(TryRecvError::Empty),
            Read::Lagged { oldest } => Err(TryRecvError::Lagged(self.skip_to(oldest))),
            Read::Closed => Err(TryRecvError::Closed),
        }
    }

    /// The next event, waiting for it as long as it takes.
    ///
    /// # Errors
    ///
    /// [`RecvError::Lagged`] with the number of events missed (the next
    /// call returns the oldest one kept), [`RecvError::Closed`] once the
    /// signal is gone and every event before was received.
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::SyncSignal;
    ///
    /// let signal = std::sync::Arc::new(SyncSignal::<u32>::new());
    /// let mut sub = signal.subscribe();
    /// let emitter = std::thread::spawn({
    ///     let signal = signal.clone();
    ///     move || signal.emit(&7)
    /// });
    /// assert_eq!(*sub.recv().unwrap(), 7);
    /// emitter.join().unwrap();
    /// ```
    pub fn recv(&mut self) -> Result<Arc<T>, RecvError> {
        loop {
            match self.try_recv() {
                Ok(item) => return Ok(item),
                Err(TryRecvError::Lagged(n)) => return Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => return Err(RecvError::Closed),
                Err(TryRecvError::Empty) => self.wait(None),
            };
        }
    }

    /// The next event, waiting at most `timeout` for it.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when none came in time, and
    /// `Lagged` and `Closed` as [`recv`](Self::recv).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sigwire::{RecvTimeoutError, SyncSignal};
    ///
    /// let signal = SyncSignal::<u32>::new();
    /// let mut sub = signal.subscribe();
    /// let waited = sub.recv_timeout(Duration::from_millis(1));
    /// assert_eq!(waited.unwrap_err(), RecvTimeoutError::Timeout);
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Arc<T>, RecvTimeoutError> {
        // A timeout too large for an `Instant` waits without one.
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.try_recv() {
                Ok(item) => return Ok(item),
                Err(TryRecvError::Lagged(n)) => return Err(RecvTimeoutError::Lagged(n)),
                Err(TryRecvError::Closed) => return Err(RecvTimeoutError::Closed),
                Err(TryRecvError::Empty) => {
                    if !self.wait(deadline) {
                        return Err(RecvTimeoutError::Timeout);
                    }
                }
            };
        }
    }

    /// The next event, awaited: [`recv`](Self::recv) for async code. It
    /// waits without blocking the thread, under any executor (it needs no
    /// runtime), and is woken by the emit that publishes the event, or by
    /// the close.
    ///
    /// # Cancel safety
    ///
    /// This method is cancel safe. The subscription moves past an event
    /// only when a call returns it: if the future is dropped before it
    /// completes (in a `select!` that took another branch, or on a
    /// timeout), no event is lost, and the next call returns it.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv): [`RecvError::Lagged`] and
    /// [`RecvError::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sigwire::{RecvError, SyncSignal};
    ///
    /// let signal = Arc::new(SyncSignal::<u32>::new());
    /// let mut sub = signal.subscribe();
    /// let emitter = std::thread::spawn({
    ///     let signal = Arc::clone(&signal);
    ///     move || {
    ///         signal.emit(&7);
    ///         drop(signal);
    ///     }
    /// });
    /// # let block_on = |f| futures_executor::block_on(f);
    /// block_on(async {
    ///     assert_eq!(*sub.recv_async().await.unwrap(), 7);
    ///     emitter.join().unwrap();
    ///     drop(signal);
    ///     assert_eq!(sub.recv_async().await.unwrap_err(), RecvError::Closed);
    /// });
    /// ```
    pub async fn recv_async(&mut self) -> Result<Arc<T>, RecvError> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event: `Ready` with what [`recv`](Self::recv)
    /// would return, or `Pending`, with the task registered to be woken
    /// when the event is published or the signal closes. For hand-written
    /// futures and streams; [`recv_async`](Self::recv_async) is this,
    /// awaited. Cancel safe, as `recv_async`: only a `Ready` item moves the
    /// subscription on.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::task::{Context, Poll, Waker};
    /// use sigwire::SyncSignal;
    ///
    /// let signal = SyncSignal::<u8>::new();
    /// let mut sub = signal.subscribe();
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(sub.poll_recv(&mut cx).is_pending());
    /// signal.emit(&1);
    /// assert!(matches!(sub.poll_recv(&mut cx), Poll::Ready(Ok(one)) if *one == 1));
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Arc<T>, RecvError>> {
        loop {
            match self.try_recv() {
                Ok(item) => return Poll::Ready(Ok(item)),
                Err(TryRecvError::Lagged(n)) => return Poll::Ready(Err(RecvError::Lagged(n))),
                Err(TryRecvError::Closed) => return Poll::Ready(Err(RecvError::Closed)),
                Err(TryRecvError::Empty) => {
                    if self
                        .ring
                        .poll_wait(self.next, &mut self.waiting, cx)
                        .is_pending()
                    {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Waits until the next position may be readable; `false` once
    /// `deadline` passed.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        // Spin a little first: the event is often a few instructions away
        // (an emitter between its claim and its publish), and a sleep costs
        // two context switches.
        #[cfg(not(loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() {
                if self.ring.ready(self.next) {
                    return true;
                }
                backoff.snooze();
            }
        }
        self.ring.wait(self.next, deadline)
    }

    /// The next position to read.
    pub(crate) fn position(&self) -> u64 {
        self.next
    }

    /// Whether a read would find something (an event, a lag, the close).
    pub(crate) fn is_ready(&self) -> bool {
        self.ring.ready(self.next)
    }

    /// Hands `event` back to the ring for reuse if no one else holds it
    /// (see `Ring::recycle`); otherwise returns it.
    pub(crate) fn recycle(&self, event: Arc<T>) -> Option<Arc<T>> {
        self.ring.recycle(event)
    }

    /// Whether the ring is closed and every position before the close was
    /// read.
    pub(crate) fn is_closed_at_end(&self) -> bool {
        matches!(self.ring.read_end(self.next), Some(true))
    }

    /// Moves past the events overwritten before `oldest`; returns how many.
    fn skip_to(&mut self, oldest: u64) -> u64 {
        let missed = oldest - self.next;
        self.next = oldest;
        self.dropped += missed;
        missed
    }

    /// The events this subscription missed because it lagged, in total.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u8>::new();
    /// let mut sub = signal.subscribe_with(1).unwrap();
    /// signal.emit(&1);
    /// signal.emit(&2);
    /// assert!(sub.try_recv().is_err()); // Lagged(1)
    /// assert_eq!(sub.dropped(), 1);
    /// ```
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// How many events the ring keeps for its subscriptions (the capacity
    /// asked for, rounded up to a power of two).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u8>::new();
    /// assert_eq!(signal.subscribe_with(100).unwrap().capacity(), 128);
    /// ```
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        if let Some(feeder) = self.feeder.take() {
            feeder.disconnect();
        }
        self.ring.forget_waiter(self.waiting.take());
        // Last: the last subscription drops the events the ring held, and
        // a panicking `Drop` among them unwinds from here.
        self.ring.unsubscribe();
    }
}

impl<T> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("next", &self.next)
            .field("dropped", &self.dropped)
            .field("ring", &*self.ring)
            .finish()
    }
}

/// The subscription as a stream (feature `stream`): each item is
/// [`poll_recv`](Subscription::poll_recv)'s, an event or a [`Lagged`](crate::Lagged)
/// count (after which the stream goes on with the oldest event still
/// kept); the stream ends (`None`) once the signal is closed and every
/// event before was received, and stays ended. Cancel safe, as
/// `recv_async`: an item is taken off the subscription only when it is
/// yielded.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use sigwire::{Lagged, SyncSignal};
///
/// let signal = SyncSignal::<u32>::new();
/// let sub = signal.subscribe_with(2).unwrap();
/// for v in 1..=3 {
///     signal.emit(&v);
/// }
/// drop(signal);
/// let items: Vec<_> = futures_executor::block_on(sub.map(|item| item.map(|v| *v)).collect());
/// assert_eq!(items, [Err(Lagged(1)), Ok(2), Ok(3)]);
/// ```
#[cfg(feature = "stream")]
impl<T> futures_core::Stream for Subscription<T> {
    type Item = Result<Arc<T>, crate::Lagged>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().poll_recv(cx) {
            Poll::Ready(Ok(item)) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(Err(RecvError::Lagged(n))) => Poll::Ready(Some(Err(crate::Lagged(n)))),
            Poll::Ready(Err(RecvError::Closed)) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}
