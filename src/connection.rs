//! `Connection`, its guards, and `ConnectOptions`.

use std::fmt;

use crate::base::handle::Handle;
use crate::base::{BaseSignal, Options};
use crate::error::WouldDeadlock;
use crate::sync::{self, Arc, ErasedArc};

/// A handle to one connected listener. Cheap to clone; every clone controls
/// the same listener.
///
/// Dropping a `Connection` does **not** disconnect (use
/// [`scoped`](Self::scoped) for that). A `Connection` holds no strong
/// reference to its signal or to the listener's closure, so it may outlive
/// both: then [`disconnect`](Self::disconnect) returns `false`.
///
/// # Examples
///
/// ```
/// use sigwire::SyncSignal;
///
/// let signal = SyncSignal::<u32>::new();
/// let conn = signal.connect(|v: &u32| println!("got {v}"));
/// assert!(conn.is_connected());
/// assert!(conn.disconnect());
/// assert!(!conn.is_connected());
/// assert!(signal.is_empty());
/// ```
#[derive(Clone)]
pub struct Connection {
    handle: ErasedArc<dyn Handle>,
}

impl Connection {
    pub(crate) fn new(handle: ErasedArc<dyn Handle>) -> Self {
        Self { handle }
    }

    /// The listener's id, unique in the process.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let a = signal.connect(|_: &()| {});
    /// let b = signal.connect(|_: &()| {});
    /// assert_ne!(a.id(), b.id());
    /// assert_eq!(a.id(), a.clone().id());
    /// ```
    pub fn id(&self) -> u64 {
        self.handle.id()
    }

    /// Disconnects the listener without waiting for running calls (it takes
    /// the signal's writer lock for as long as building the new list takes).
    /// Returns `true` if this call disconnected it, `false` if it was already
    /// disconnected (or fired, for a once-listener) or the signal is gone.
    ///
    /// After it returns, no emit that has not yet reached this listener will
    /// call it. A call already running on another thread may still be
    /// finishing; use [`disconnect_wait`](Self::disconnect_wait) to wait for it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let conn = signal.connect(|_: &()| panic!("never called"));
    /// assert!(conn.disconnect());
    /// assert!(!conn.disconnect());
    /// signal.emit(&());
    /// ```
    pub fn disconnect(&self) -> bool {
        self.handle.disconnect()
    }

    /// Disconnects the listener, then waits until no call of it is running
    /// or can start, on any thread. Returns what
    /// [`disconnect`](Self::disconnect) would.
    ///
    /// The wait is conservative: it waits for every emit of this signal that
    /// was running when it was called, so it can also wait for the other
    /// listeners of those emits (for a topic listener: every emit of its
    /// `Topics`, on any topic). It spins briefly, then yields, then sleeps in
    /// short steps. It does not wait for emits that start later, except emits
    /// nested more than 32 deep on one thread or made from thread-local
    /// destructors, which share one counter per signal: continuous emission of
    /// that kind can keep it waiting.
    ///
    /// # Deadlocks
    ///
    /// Because it waits for whole emits, `disconnect_wait` deadlocks whenever
    /// a running emit of this signal waits for the caller, even through a
    /// listener other than this one:
    ///
    /// * a listener hands work to another thread (a thread pool, `rayon`,
    ///   a spawned thread it joins) and that work calls `disconnect_wait` on
    ///   a listener of the same signal;
    /// * thread A, inside an emit of signal S1, waits for a listener of S2,
    ///   while thread B, inside an emit of S2, waits for a listener of S1;
    /// * the caller holds a lock that some listener of this signal takes.
    ///
    /// Only the first case on the *same* thread is detected (see Errors).
    ///
    /// # Errors
    ///
    /// Called on a thread that is itself inside an emit of the same signal
    /// (from a listener; for a topic listener, an emit of the same
    /// [`Topics`](crate::bus::Topics), on any topic), it returns
    /// [`WouldDeadlock`] instead of waiting for itself. The listener is
    /// disconnected all the same.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use sigwire::SyncSignal;
    ///
    /// let signal = Arc::new(SyncSignal::<()>::new());
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let c = calls.clone();
    /// let conn = signal.connect(move |_: &()| { c.fetch_add(1, Ordering::SeqCst); });
    ///
    /// let s = signal.clone();
    /// let emitter = std::thread::spawn(move || for _ in 0..1000 { s.emit(&()) });
    /// conn.disconnect_wait().unwrap();
    /// // No call is running and none can start: the count is final.
    /// let seen = calls.load(Ordering::SeqCst);
    /// emitter.join().unwrap();
    /// assert_eq!(calls.load(Ordering::SeqCst), seen);
    /// ```
    pub fn disconnect_wait(&self) -> Result<bool, WouldDeadlock> {
        self.handle.disconnect_wait()
    }

    /// Whether the listener is still connected (blocked listeners are
    /// connected).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let conn = signal.connect_once(|_: &()| {});
    /// assert!(conn.is_connected());
    /// signal.emit(&());
    /// assert!(!conn.is_connected()); // a once-listener removes itself
    /// ```
    pub fn is_connected(&self) -> bool {
        self.handle.is_connected()
    }

    /// Whether at least one [`BlockGuard`] of this listener is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let conn = signal.connect(|_: &()| {});
    /// let guard = conn.block();
    /// assert!(conn.is_blocked());
    /// drop(guard);
    /// assert!(!conn.is_blocked());
    /// ```
    pub fn is_blocked(&self) -> bool {
        self.handle.is_blocked()
    }

    /// Blocks the listener: emits skip it while any guard lives. Guards nest;
    /// the listener runs again when the last one is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use sigwire::SyncSignal;
    ///
    /// let signal = SyncSignal::<()>::new();
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let c = calls.clone();
    /// let conn = signal.connect(move |_: &()| { c.fetch_add(1, Ordering::Relaxed); });
    /// {
    ///     let _guard = conn.block();
    ///     signal.emit(&()); // skipped
    /// }
    /// signal.emit(&());
    /// assert_eq!(calls.load(Ordering::Relaxed), 1);
    /// ```
    pub fn block(&self) -> BlockGuard {
        let active = self.handle.block();
        BlockGuard {
            handle: ErasedArc::clone(&self.handle),
            active,
        }
    }

    /// Wraps the connection so that dropping the wrapper disconnects.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// {
    ///     let _scoped = signal.connect(|_: &()| {}).scoped();
    ///     assert_eq!(signal.len(), 1);
    /// }
    /// assert!(signal.is_empty());
    /// ```
    pub fn scoped(self) -> ScopedConnection {
        ScopedConnection {
            connection: self,
            released: false,
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id())
            .field("connected", &self.is_connected())
            .finish()
    }
}

/// Keeps a listener blocked while it lives; see [`Connection::block`].
///
/// # Examples
///
/// ```
/// # use sigwire::SyncSignal;
/// let signal = SyncSignal::<()>::new();
/// let conn = signal.connect(|_: &()| panic!("blocked"));
/// let _guard = conn.block();
/// signal.emit(&());
/// ```
#[must_use = "the listener is unblocked as soon as the guard is dropped"]
pub struct BlockGuard {
    handle: ErasedArc<dyn Handle>,
    /// False if the listener was already gone when the guard was made.
    active: bool,
}

impl Drop for BlockGuard {
    fn drop(&mut self) {
        if self.active {
            self.handle.unblock();
        }
    }
}

impl fmt::Debug for BlockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockGuard")
            .field("id", &self.handle.id())
            .finish()
    }
}

/// A [`Connection`] that disconnects when dropped; see
/// [`Connection::scoped`]. Derefs to the `Connection`.
///
/// # Examples
///
/// ```
/// # use sigwire::SyncSignal;
/// let signal = SyncSignal::<()>::new();
/// let scoped = signal.connect(|_: &()| {}).scoped();
/// assert!(scoped.is_connected());
/// drop(scoped);
/// assert!(signal.is_empty());
/// ```
#[must_use = "the listener is disconnected as soon as this is dropped"]
#[derive(Debug)]
pub struct ScopedConnection {
    connection: Connection,
    /// Set by `release`: the drop must not disconnect.
    released: bool,
}

impl ScopedConnection {
    /// Gives the plain `Connection` back; the listener stays connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let conn = signal.connect(|_: &()| {}).scoped().release();
    /// assert!(conn.is_connected());
    /// ```
    pub fn release(mut self) -> Connection {
        self.released = true;
        self.connection.clone()
    }
}

impl std::ops::Deref for ScopedConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

impl Drop for ScopedConnection {
    fn drop(&mut self) {
        if !self.released {
            self.connection.disconnect();
        }
    }
}

/// How to connect a listener: priority, key and once, combined freely.
///
/// Listeners with a higher priority run first; equal priorities run in
/// connection order. The default priority is 0.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::{ConnectOptions, SyncSignal};
///
/// let signal = SyncSignal::<()>::new();
/// let order = Arc::new(Mutex::new(Vec::new()));
/// let (a, b) = (order.clone(), order.clone());
/// signal.connect(move |_: &()| a.lock().unwrap().push("normal"));
/// signal
///     .connect_with(ConnectOptions::new().priority(10).key("audit").once(), move |_: &()| {
///         b.lock().unwrap().push("audit")
///     })
///     .unwrap();
/// signal.emit(&());
/// signal.emit(&());
/// assert_eq!(*order.lock().unwrap(), ["audit", "normal", "normal"]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    key: Option<ErasedArc<str>>,
    priority: i32,
    once: bool,
    policy: Policy,
}

/// What an [`AsyncSignal`](crate::AsyncSignal) listener does when it falls
/// behind: chosen per listener, with [`ConnectOptions::policy`]. A
/// [`SyncSignal`](crate::SyncSignal) ignores it (its listeners run inside
/// `emit` and never fall behind).
///
/// | policy | a slow listener… | the emitter | the others |
/// |---|---|---|---|
/// | `Block` | gets every event | waits (the signal's [`Overflow`](crate::Overflow)) once the queue is full | other `Block` listeners wait with it |
/// | `DropOldest` | skips to the oldest event kept, a ring behind | never waits for it | never wait for it |
/// | `DropNewest` | keeps the events it has, misses new ones while full | never waits for it | never wait for it |
///
/// What a policy drops is counted, per listener
/// ([`AsyncSignal::dropped`](crate::AsyncSignal::dropped)) and per signal
/// ([`Stats::dropped`](crate::Stats::dropped)). See `docs/async.md`.
///
/// A dropping listener is met by the signal's drainer with the next event
/// it takes after `connect` (or by an `emit_collect` while the drainer is
/// idle); an `emit_collect` while the drainer is busy does not reach a
/// listener it has not met yet. A disconnected dropping listener lets go of
/// the events the signal's ring keeps for it with the next event.
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, ConnectOptions, Policy};
///
/// let ticks = AsyncSignal::<u64>::new();
/// // A dashboard that only needs recent ticks never slows the others.
/// let dashboard = ticks
///     .connect_with(ConnectOptions::new().policy(Policy::DropOldest), |_: &u64| {})
///     .unwrap();
/// ticks.emit(1).unwrap();
/// ticks.flush().unwrap();
/// assert_eq!(ticks.dropped(&dashboard), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Every event reaches the listener, on a job of its own that takes
    /// the signal's batches in order. A slow one falls behind the other
    /// listeners, which go on, until the signal's capacity is pending;
    /// then the emitter waits or is turned away, as the signal's
    /// [`Overflow`](crate::Overflow) says.
    #[default]
    Block,
    /// The listener reads the signal's ring at its own pace, on a job of
    /// its own; a ring behind (the signal's capacity, rounded up to a power
    /// of two), it skips to the oldest event kept, and the skipped events
    /// are counted as dropped.
    DropOldest,
    /// The listener keeps up to the signal's capacity of events waiting
    /// for it, on a job of its own; an event that comes while that is full
    /// is dropped for it (and counted).
    DropNewest,
}

impl ConnectOptions {
    /// Priority 0, no key, not once.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{ConnectOptions, SyncSignal};
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_with(ConnectOptions::new(), |_: &()| {}).unwrap();
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the priority: higher runs first.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::ConnectOptions;
    /// let _background = ConnectOptions::new().priority(-5);
    /// ```
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Sets a key: at most one listener per key is connected to a signal.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{ConnectOptions, SyncSignal};
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_with(ConnectOptions::new().key("k"), |_: &()| {}).unwrap();
    /// assert!(signal.contains_key("k"));
    /// ```
    pub fn key(mut self, key: impl AsRef<str>) -> Self {
        self.key = Some(ErasedArc::from(key.as_ref()));
        self
    }

    /// Makes the listener run at most once, then remove itself.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{ConnectOptions, SyncSignal};
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_with(ConnectOptions::new().once(), |_: &()| {}).unwrap();
    /// signal.emit(&());
    /// assert!(signal.is_empty());
    /// ```
    pub fn once(mut self) -> Self {
        self.once = true;
        self
    }

    /// Sets what the listener does when it falls behind (on an
    /// [`AsyncSignal`](crate::AsyncSignal); a `SyncSignal` ignores it). The
    /// default is [`Policy::Block`].
    ///
    /// # Examples
    ///
    /// See [`Policy`].
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    pub(crate) fn into_options(self) -> Options {
        Options {
            key: self.key,
            priority: self.priority,
            once: self.once,
            policy: self.policy,
        }
    }
}

/// A signal-level filter added by
/// [`add_filter`](crate::Listeners::add_filter) (on any kind of signal); it
/// stays until [`disconnect`](Self::disconnect) (dropping the handle does not
/// remove it).
///
/// # Examples
///
/// ```
/// # use std::sync::Arc;
/// # use std::sync::atomic::{AtomicU32, Ordering};
/// # use sigwire::SyncSignal;
/// let signal = SyncSignal::<u32>::new();
/// let seen = Arc::new(AtomicU32::new(0));
/// let s = seen.clone();
/// signal.connect(move |v: &u32| { s.fetch_add(*v, Ordering::Relaxed); });
/// let even_only = signal.add_filter(|v: &u32| v % 2 == 0);
/// (1..=4).for_each(|v| signal.emit(&v)); // 2 + 4
/// assert!(even_only.disconnect());
/// signal.emit(&5);
/// assert_eq!(seen.load(Ordering::Relaxed), 11);
/// ```
#[derive(Clone)]
pub struct FilterHandle {
    remove: ErasedArc<dyn Fn() -> bool + Send + Sync>,
}

impl FilterHandle {
    pub(crate) fn new<T: 'static>(signal: &Arc<BaseSignal<T>>, id: u64) -> Self
    where
        BaseSignal<T>: Send + Sync,
    {
        let signal = sync::downgrade(signal);
        Self {
            remove: ErasedArc::new(move || signal.upgrade().is_some_and(|s| s.remove_filter(id))),
        }
    }

    /// Removes the filter: emits that start afterwards no longer consult
    /// it. `true` if it was still there.
    ///
    /// # Examples
    ///
    /// See [`FilterHandle`].
    pub fn disconnect(&self) -> bool {
        (self.remove)()
    }
}

impl fmt::Debug for FilterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterHandle").finish_non_exhaustive()
    }
}
