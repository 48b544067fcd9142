//! The error types of sigwire, one per fallible operation, each with its
//! hand-written `Display` (as crossbeam-channel keeps its errors in one
//! `err.rs`). Over 600 lines because each type carries the docs and
//! doctest every public item gets; the code is a few lines per type.

use std::error::Error;
use std::fmt;

use crate::sync::ErasedArc;

/// The error a fallible listener returns, boxed.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// A fallible listener failed during an emit.
///
/// Names the listener by [`id`](Self::id) (the same as
/// [`Connection::id`](crate::Connection::id)) and [`key`](Self::key), and holds
/// the listener's own error ([`source_error`](Self::source_error)). `Display`
/// shows both: `listener 7 (key "risk") failed: notional limit`.
///
/// # Examples
///
/// ```
/// use sigwire::SyncSignal;
///
/// let signal = SyncSignal::<u32>::new();
/// let conn = signal
///     .connect_keyed("validator", |_: &u32| {})
///     .unwrap();
/// let failing = signal.connect_fallible(|v: &u32| {
///     if *v > 10 { Err(format!("{v} is too large")) } else { Ok(()) }
/// });
///
/// let err = signal.try_emit(&11).unwrap_err();
/// assert_eq!(err.id(), failing.id());
/// assert_eq!(err.key(), None);
/// assert_eq!(err.source_error().to_string(), "11 is too large");
/// # drop(conn);
/// ```
#[derive(Debug)]
pub struct EmitError {
    id: u64,
    key: Option<ErasedArc<str>>,
    source: BoxError,
}

impl EmitError {
    pub(crate) fn new(id: u64, key: Option<ErasedArc<str>>, source: BoxError) -> Self {
        Self { id, key, source }
    }

    /// The id of the listener that failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let conn = signal.connect_fallible(|_: &()| Err("no"));
    /// assert_eq!(signal.try_emit(&()).unwrap_err().id(), conn.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The key of the listener that failed, if it was connected with one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{ConnectOptions, SyncSignal};
    /// let signal = SyncSignal::<()>::new();
    /// signal
    ///     .connect_fallible_with(ConnectOptions::new().key("db"), |_: &()| Err("down"))
    ///     .unwrap();
    /// assert_eq!(signal.try_emit(&()).unwrap_err().key(), Some("db"));
    /// ```
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The listener's own error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("disk full"));
    /// let err = signal.try_emit(&()).unwrap_err();
    /// assert_eq!(err.source_error().to_string(), "disk full");
    /// ```
    pub fn source_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.source
    }

    /// Takes the listener's own error out.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("disk full"));
    /// let source = signal.try_emit(&()).unwrap_err().into_source();
    /// assert_eq!(source.to_string(), "disk full");
    /// ```
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "listener {} (key {key:?}) failed", self.id)?,
            None => write!(f, "listener {} failed", self.id)?,
        }
        write!(f, ": {}", self.source)
    }
}

/// `Display` already shows the listener's error, so `source` skips it and
/// goes on with *its* source: error-chain printers show each message once.
/// The listener's error itself is [`EmitError::source_error`].
impl Error for EmitError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.source()
    }
}

/// Every error of one [`emit_collect`](crate::SyncSignal::emit_collect), in
/// the order the listeners ran. Never empty.
///
/// # Examples
///
/// ```
/// use sigwire::SyncSignal;
///
/// let signal = SyncSignal::<i32>::new();
/// signal.connect_fallible(|_: &i32| Err("first"));
/// signal.connect(|_: &i32| {});
/// signal.connect_fallible(|_: &i32| Err("second"));
///
/// let errors = signal.emit_collect(&1).unwrap_err();
/// assert_eq!(errors.len(), 2);
/// let messages: Vec<String> = errors.iter().map(|e| e.source_error().to_string()).collect();
/// assert_eq!(messages, ["first", "second"]);
/// ```
#[derive(Debug)]
pub struct EmitErrors {
    errors: Vec<EmitError>,
}

impl EmitErrors {
    pub(crate) fn new(errors: Vec<EmitError>) -> Self {
        debug_assert!(!errors.is_empty());
        Self { errors }
    }

    /// How many listeners failed (at least one).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("x"));
    /// assert_eq!(signal.emit_collect(&()).unwrap_err().len(), 1);
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The errors, in the order the listeners ran.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("x"));
    /// for error in signal.emit_collect(&()).unwrap_err().iter() {
    ///     assert_eq!(error.source_error().to_string(), "x");
    /// }
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, EmitError> {
        self.errors.iter()
    }

    /// The errors as a vector.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("x"));
    /// let errors = signal.emit_collect(&()).unwrap_err().into_vec();
    /// assert_eq!(errors.len(), 1);
    /// ```
    pub fn into_vec(self) -> Vec<EmitError> {
        self.errors
    }
}

impl<'a> IntoIterator for &'a EmitErrors {
    type Item = &'a EmitError;
    type IntoIter = std::slice::Iter<'a, EmitError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl IntoIterator for EmitErrors {
    type Item = EmitError;
    type IntoIter = std::vec::IntoIter<EmitError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl fmt::Display for EmitErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "{n} listener{} failed", if n == 1 { "" } else { "s" })?;
        for error in &self.errors {
            write!(f, "; {error}")?;
        }
        Ok(())
    }
}

/// `Display` lists every error, so there is no single `source`.
impl Error for EmitErrors {}

/// An [`emit_until`](crate::SyncSignal::emit_until) stopped because its
/// cancellation fired before every listener ran.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::AtomicBool;
/// use sigwire::SyncSignal;
///
/// let signal = SyncSignal::<()>::new();
/// signal.connect(|_: &()| {});
/// let cancelled = AtomicBool::new(true);
/// let err = signal.emit_until(&(), &cancelled).unwrap_err();
/// assert_eq!(err.ran(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled {
    ran: usize,
}

impl Cancelled {
    pub(crate) fn new(ran: usize) -> Self {
        Self { ran }
    }

    /// How many listeners ran before the cancellation was seen.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let stop = AtomicBool::new(false);
    /// signal.connect(|_: &()| {});
    /// assert_eq!(signal.emit_until(&(), &stop), Ok(()));
    /// stop.store(true, Ordering::Relaxed);
    /// assert_eq!(signal.emit_until(&(), &stop).unwrap_err().ran(), 0);
    /// ```
    pub fn ran(&self) -> usize {
        self.ran
    }
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.ran;
        write!(
            f,
            "emit cancelled after {n} listener{} ran",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl Error for Cancelled {}

/// [`connect_keyed`](crate::Listeners::connect_keyed) found a listener with the
/// same key already connected. The new listener was not connected.
///
/// # Examples
///
/// ```
/// use sigwire::SyncSignal;
///
/// let signal = SyncSignal::<()>::new();
/// let _first = signal.connect_keyed("audit", |_: &()| {}).unwrap();
/// let err = signal.connect_keyed("audit", |_: &()| {}).unwrap_err();
/// assert_eq!(err.key(), "audit");
/// assert_eq!(signal.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    key: ErasedArc<str>,
}

impl DuplicateKey {
    pub(crate) fn new(key: ErasedArc<str>) -> Self {
        Self { key }
    }

    /// The key that is already taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_keyed("k", |_: &()| {}).unwrap();
    /// assert_eq!(signal.connect_keyed("k", |_: &()| {}).unwrap_err().key(), "k");
    /// ```
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for DuplicateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a listener with key {:?} is already connected to this signal",
            self.key
        )
    }
}

impl Error for DuplicateKey {}

/// [`Connection::disconnect_wait`](crate::Connection::disconnect_wait) was
/// called from inside an emit (or an asynchronous delivery) of the same
/// signal, or for a topic listener of the same `Topics`, where waiting for
/// running calls would wait for the caller itself.
///
/// The listener *is* disconnected: no emit that has not yet reached it
/// will call it. Calls already running (the caller's own, perhaps others)
/// may still be finishing.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::{Connection, SyncSignal};
///
/// let signal = SyncSignal::<()>::new();
/// let me: Arc<Mutex<Option<Connection>>> = Arc::default();
/// let outcome: Arc<Mutex<Option<bool>>> = Arc::default();
/// let (m, o) = (me.clone(), outcome.clone());
/// let conn = signal.connect(move |_: &()| {
///     let conn = m.lock().unwrap().clone().unwrap();
///     *o.lock().unwrap() = Some(conn.disconnect_wait().is_err());
/// });
/// *me.lock().unwrap() = Some(conn.clone());
///
/// signal.emit(&());
/// assert_eq!(*outcome.lock().unwrap(), Some(true)); // WouldDeadlock
/// assert!(!conn.is_connected());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WouldDeadlock {
    _private: (),
}

impl WouldDeadlock {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }
}

impl fmt::Display for WouldDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "disconnect_wait called from inside an emit of the same signal \
             (or Topics): the listener is disconnected, but waiting for running \
             calls would wait for this thread itself",
        )
    }
}

impl Error for WouldDeadlock {}

/// [`AsyncSignal::flush`](crate::AsyncSignal::flush) refused a wait that
/// could never end. Nothing changed: the pending events are delivered as
/// usual.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::{AsyncSignal, FlushError};
///
/// let signal = Arc::new(AsyncSignal::<u32>::new());
/// let outcome: Arc<Mutex<Option<Result<(), FlushError>>>> = Arc::default();
/// let (weak, o) = (Arc::downgrade(&signal), outcome.clone());
/// signal.connect(move |_: &u32| {
///     *o.lock().unwrap() = Some(weak.upgrade().unwrap().flush());
/// });
/// signal.emit(1).unwrap();
/// signal.flush().unwrap();
/// assert_eq!(*outcome.lock().unwrap(), Some(Err(FlushError::InsideDelivery)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// Called from inside a delivery of the same signal (a listener, an
    /// event's drop, or a pool job run while waiting inside one): the
    /// event being delivered can only complete after the caller returns.
    InsideDelivery,
    /// Called from inside a delivery of another signal, while a delivery
    /// of the flushed signal waits, directly or through other signals, for
    /// that one (see the "Deadlocks" section of `flush`).
    Circle,
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InsideDelivery => {
                "flush called from inside a delivery of the same signal: \
                 the event being delivered can only complete after this call \
                 returns, so waiting for it would wait for this thread itself"
            }
            Self::Circle => {
                "flush called from inside a delivery of another signal, while a \
                 delivery of the flushed signal waits, directly or through other \
                 signals, for that delivery: neither wait could ever end"
            }
        })
    }
}

impl Error for FlushError {}

/// Why [`AsyncSignal::emit`](crate::AsyncSignal::emit) handed an event back.
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, RejectReason};
///
/// let signal = AsyncSignal::<u32>::new();
/// signal.close();
/// assert_eq!(signal.emit(1).unwrap_err().reason(), RejectReason::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectReason {
    /// `capacity` events were pending and the overflow policy is
    /// [`Overflow::Reject`](crate::Overflow::Reject) (or waiting could never
    /// end: an emit under `Block` from inside a listener of the same signal).
    Full,
    /// Under [`Overflow::BlockFor`](crate::Overflow::BlockFor), no room
    /// appeared in time.
    TimedOut,
    /// The signal was closed ([`close`](crate::AsyncSignal::close) or
    /// [`shutdown`](crate::AsyncSignal::shutdown)).
    Closed,
    /// Under `Block` or `BlockFor`, waiting for room would never end (a
    /// circle of waits): the
    /// calling thread is inside a delivery of another signal, and a
    /// delivery of this one is waiting, directly or through other
    /// signals' deliveries, for that one (see the "Deadlocks" section of
    /// [`Overflow::Block`](crate::Overflow::Block)).
    Circle,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the signal's queue is full",
            Self::TimedOut => "no room appeared in the signal's queue in time",
            Self::Closed => "the signal is closed",
            Self::Circle => {
                "waiting for room would deadlock: a delivery of the signal waits, \
                 directly or through other signals, for the delivery this thread is in"
            }
        })
    }
}

/// An event [`AsyncSignal::emit`](crate::AsyncSignal::emit) did not accept,
/// handed back with the [`reason`](Self::reason).
///
/// Like crossbeam's `SendError`, its `Debug` does not require `T: Debug`.
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, RejectReason};
///
/// let signal = AsyncSignal::<String>::new();
/// signal.close();
/// let rejected = signal.emit("order 42".to_string()).unwrap_err();
/// assert_eq!(rejected.reason(), RejectReason::Closed);
/// assert_eq!(rejected.to_string(), "event rejected: the signal is closed");
/// assert_eq!(rejected.into_inner(), "order 42");
/// ```
pub struct Rejected<T> {
    value: T,
    reason: RejectReason,
}

impl<T> Rejected<T> {
    pub(crate) fn new(value: T, reason: RejectReason) -> Self {
        Self { value, reason }
    }

    /// Why the event was not accepted.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, RejectReason};
    /// let signal = AsyncSignal::<u8>::new();
    /// signal.close();
    /// assert_eq!(signal.emit(0).unwrap_err().reason(), RejectReason::Closed);
    /// ```
    pub fn reason(&self) -> RejectReason {
        self.reason
    }

    /// The event, by reference.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<u8>::new();
    /// signal.close();
    /// assert_eq!(*signal.emit(7).unwrap_err().value(), 7);
    /// ```
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The event, back to the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::AsyncSignal;
    /// let signal = AsyncSignal::<Vec<u8>>::new();
    /// signal.close();
    /// assert_eq!(signal.emit(vec![1, 2]).unwrap_err().into_inner(), [1, 2]);
    /// ```
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event rejected: {}", self.reason)
    }
}

impl<T> Error for Rejected<T> {}

/// [`AsyncSignalBuilder::build`](crate::AsyncSignalBuilder::build),
/// [`HeldSignal::new`](crate::bus::HeldSignal::new) or
/// [`HistorySignal::new`](crate::bus::HistorySignal::new) was given settings
/// it cannot honour.
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, BuildError};
///
/// let err = AsyncSignal::<u32>::builder().capacity(0).build().unwrap_err();
/// assert_eq!(err, BuildError::ZeroCapacity);
/// assert_eq!(err.to_string(), "a capacity of 0 can hold no event: it must be at least 1");
///
/// // A million 1 GiB events: more memory than a process can address.
/// let err = AsyncSignal::<[u8; 1 << 30]>::builder().capacity(1 << 20).build().unwrap_err();
/// let BuildError::OutOfMemory { capacity, bytes } = err else { unreachable!() };
/// assert_eq!(capacity, 1 << 20);
/// assert!(bytes > 1 << 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A capacity of 0 could accept no event at all.
    ZeroCapacity,
    /// The capacity is larger than the signal can count.
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity supported.
        max: usize,
    },
    /// The memory for `capacity` events, allocated when the signal is
    /// made, could not be had: more bytes than a process can address, or
    /// the allocator refused them.
    OutOfMemory {
        /// The capacity asked for.
        capacity: usize,
        /// The bytes it needs (a `u128`: it may exceed `usize::MAX`).
        bytes: u128,
    },
}

impl BuildError {
    /// The memory of `capacity` elements of type `E` could not be had.
    pub(crate) fn out_of_memory<E>(capacity: usize) -> Self {
        Self::OutOfMemory {
            capacity,
            bytes: capacity as u128 * std::mem::size_of::<E>() as u128,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => {
                f.write_str("a capacity of 0 can hold no event: it must be at least 1")
            }
            Self::CapacityTooLarge { requested, max } => write!(
                f,
                "a capacity of {requested} events is more than the signal can count (at most {max})"
            ),
            Self::OutOfMemory { capacity, bytes } => write!(
                f,
                "a capacity of {capacity} events needs {bytes} bytes, which could \
                 not be allocated"
            ),
        }
    }
}

impl Error for BuildError {}

/// [`AsyncSignal::shutdown`](crate::AsyncSignal::shutdown) timed out with
/// events still pending. The signal is closed; those events are still
/// delivered, later.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sigwire::AsyncSignal;
///
/// let signal = AsyncSignal::<u32>::new();
/// let (tx, rx) = std::sync::mpsc::channel::<()>();
/// let rx = std::sync::Mutex::new(rx);
/// signal.connect(move |_: &u32| { let _ = rx.lock().unwrap().recv(); });
/// signal.emit(1).unwrap();
/// let err = signal.shutdown(Duration::from_millis(10)).unwrap_err();
/// assert_eq!(err.pending(), 1);
/// tx.send(()).unwrap(); // let the listener finish
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownTimeout {
    pending: usize,
}

impl ShutdownTimeout {
    pub(crate) fn new(pending: usize) -> Self {
        Self { pending }
    }

    /// How many events were still pending when the timeout passed.
    ///
    /// # Examples
    ///
    /// See [`ShutdownTimeout`].
    pub fn pending(&self) -> usize {
        self.pending
    }
}

impl fmt::Display for ShutdownTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shutdown timed out with {} event(s) still pending; the signal is \
             closed and they will still be delivered",
            self.pending
        )
    }
}

impl Error for ShutdownTimeout {}

/// A listener of an [`AsyncSignal`](crate::AsyncSignal) panicked. The panic
/// was caught: the pool, the signal and the other listeners carry on.
///
/// Handed to the signal's panic handler, and returned inside an
/// [`EmitError`] by [`emit_collect`](crate::AsyncSignal::emit_collect).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::{AsyncSignal, ListenerPanic};
///
/// let seen: Arc<Mutex<Vec<String>>> = Arc::default();
/// let s = seen.clone();
/// let signal = AsyncSignal::<u32>::builder()
///     .panic_handler(move |p: ListenerPanic| s.lock().unwrap().push(p.message().to_string()))
///     .build()
///     .unwrap();
/// signal.connect(|v: &u32| if *v == 13 { panic!("unlucky") });
/// signal.emit(13).unwrap();
/// signal.flush().unwrap();
/// assert_eq!(*seen.lock().unwrap(), ["unlucky"]);
/// assert_eq!(signal.stats().panicked, 1);
/// ```
#[derive(Debug, Clone)]
pub struct ListenerPanic {
    id: u64,
    key: Option<ErasedArc<str>>,
    message: String,
}

impl ListenerPanic {
    /// The panic of listener `id`, from its caught `payload`, which is then
    /// dropped (under a catch: its `Drop` is user code).
    pub(crate) fn caught(
        id: u64,
        key: Option<ErasedArc<str>>,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Self {
        let panic = Self::new(id, key, &*payload);
        crate::unwind::dispose(payload);
        panic
    }

    fn new(id: u64, key: Option<ErasedArc<str>>, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(text) = payload.downcast_ref::<&str>() {
            (*text).to_string()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "a panic payload that is not a string".to_string()
        };
        Self { id, key, message }
    }

    pub(crate) fn key_arc(&self) -> Option<ErasedArc<str>> {
        self.key.clone()
    }

    /// The id of the listener that panicked (its
    /// [`Connection::id`](crate::Connection::id)).
    ///
    /// # Examples
    ///
    /// See [`ListenerPanic`].
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The key of the listener that panicked, if it has one.
    ///
    /// # Examples
    ///
    /// See [`ListenerPanic`].
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The panic's message (its payload, when that is a string).
    ///
    /// # Examples
    ///
    /// See [`ListenerPanic`].
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ListenerPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listener {}", self.id)?;
        if let Some(key) = &self.key {
            write!(f, " (key {key:?})")?;
        }
        write!(f, " panicked: {}", self.message)
    }
}

impl Error for ListenerPanic {}

/// [`Subscription::recv`](crate::Subscription::recv) could not return an
/// event.
///
/// # Examples
///
/// ```
/// use sigwire::{RecvError, SyncSignal};
///
/// let signal = SyncSignal::<u8>::new();
/// let mut sub = signal.subscribe_with(1).unwrap();
/// signal.emit(&1);
/// signal.emit(&2);
/// let lagged = sub.recv().unwrap_err();
/// assert_eq!(lagged, RecvError::Lagged(1));
/// assert_eq!(lagged.to_string(), "the subscription fell behind and missed 1 event");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// The subscription fell more than its ring behind: this many events
    /// were overwritten before it read them. The next call returns the
    /// oldest event still kept.
    Lagged(u64),
    /// The signal is gone (dropped) and every event emitted before was
    /// received.
    Closed,
}

/// [`Subscription::try_recv`](crate::Subscription::try_recv) could not
/// return an event.
///
/// # Examples
///
/// ```
/// use sigwire::{SyncSignal, TryRecvError};
///
/// let signal = SyncSignal::<u8>::new();
/// let mut sub = signal.subscribe();
/// assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
/// drop(signal);
/// assert_eq!(sub.try_recv().unwrap_err().to_string(), "the signal is closed and every event was received");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No event is there yet.
    Empty,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
    /// As [`RecvError::Closed`].
    Closed,
}

/// [`Subscription::recv_timeout`](crate::Subscription::recv_timeout) could
/// not return an event.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sigwire::{RecvTimeoutError, SyncSignal};
///
/// let signal = SyncSignal::<u8>::new();
/// let mut sub = signal.subscribe();
/// let err = sub.recv_timeout(Duration::ZERO).unwrap_err();
/// assert_eq!(err, RecvTimeoutError::Timeout);
/// assert_eq!(err.to_string(), "no event came before the timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// No event came in time.
    Timeout,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
    /// As [`RecvError::Closed`].
    Closed,
}

fn lagged(f: &mut fmt::Formatter<'_>, missed: u64) -> fmt::Result {
    let s = if missed == 1 { "" } else { "s" };
    write!(
        f,
        "the subscription fell behind and missed {missed} event{s}"
    )
}

const CLOSED: &str = "the signal is closed and every event was received";

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Lagged(missed) => lagged(f, *missed),
            Self::Closed => f.write_str(CLOSED),
        }
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no event is there yet"),
            Self::Lagged(missed) => lagged(f, *missed),
            Self::Closed => f.write_str(CLOSED),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("no event came before the timeout"),
            Self::Lagged(missed) => lagged(f, *missed),
            Self::Closed => f.write_str(CLOSED),
        }
    }
}

/// The error a [`Subscription`](crate::Subscription) read as a `Stream`
/// yields (feature `stream`): it fell behind and missed this many events;
/// the next item is the oldest event still kept. The stream ends (`None`)
/// where [`recv`](crate::Subscription::recv) would return `Closed`.
///
/// # Examples
///
/// ```
/// use sigwire::{Lagged, RecvError};
///
/// let lagged = Lagged(3);
/// assert_eq!(lagged.to_string(), "the subscription fell behind and missed 3 events");
/// assert_eq!(RecvError::from(lagged), RecvError::Lagged(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lagged(pub u64);

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        lagged(f, self.0)
    }
}

impl Error for Lagged {}

impl From<Lagged> for RecvError {
    fn from(lagged: Lagged) -> Self {
        Self::Lagged(lagged.0)
    }
}

impl Error for RecvError {}
impl Error for TryRecvError {}
impl Error for RecvTimeoutError {}

/// [`SyncSignal::subscribe_with`](crate::SyncSignal::subscribe_with) was
/// given a capacity it cannot honour.
///
/// # Examples
///
/// ```
/// use sigwire::{SubscribeError, SyncSignal};
///
/// let signal = SyncSignal::<u8>::new();
/// assert_eq!(signal.subscribe_with(0).unwrap_err(), SubscribeError::ZeroCapacity);
/// let _first = signal.subscribe_with(64).unwrap();
/// let err = signal.subscribe_with(1000).unwrap_err();
/// assert_eq!(err, SubscribeError::CapacityFixed { requested: 1000, capacity: 64 });
/// assert_eq!(
///     err.to_string(),
///     "the signal's subscriptions share a ring of 64 events, made by the first \
///      subscription; 1000 were asked for"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubscribeError {
    /// A capacity of 0 could keep no event.
    ZeroCapacity,
    /// More than the largest capacity a ring supports.
    CapacityTooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity supported.
        max: usize,
    },
    /// The ring's slots could not be allocated.
    OutOfMemory {
        /// The slots asked for (the capacity rounded up to a power of two).
        capacity: usize,
        /// The bytes they need.
        bytes: u128,
    },
    /// The signal's ring was made, with another capacity, by an earlier
    /// subscription: all subscriptions of a signal share it.
    CapacityFixed {
        /// The capacity asked for.
        requested: usize,
        /// The ring's capacity.
        capacity: usize,
    },
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroCapacity => {
                f.write_str("a capacity of 0 can keep no event: it must be at least 1")
            }
            Self::CapacityTooLarge { requested, max } => write!(
                f,
                "a subscription capacity of {requested} events is more than a ring supports (at most {max})"
            ),
            Self::OutOfMemory { capacity, bytes } => write!(
                f,
                "a ring of {capacity} events needs {bytes} bytes, which could not be allocated"
            ),
            Self::CapacityFixed {
                requested,
                capacity,
            } => write!(
                f,
                "the signal's subscriptions share a ring of {capacity} events, made by the first \
                 subscription; {requested} were asked for"
            ),
        }
    }
}

impl Error for SubscribeError {}
