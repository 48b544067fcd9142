//! `Listeners<T>`: what every kind of signal shares — the connect family,
//! filters, keys, `len` / `is_empty` / `clear`, the error handler —
//! written and documented once. `SyncSignal<T>` and `AsyncSignal<T>` deref
//! to it, so `signal.connect(..)` reads the same on both, and generic code
//! can take `&Listeners<T>` (or `impl Signal<T>`). A front that is to come
//! (a subscription, an engine) gets the same API by holding one.

use std::fmt;

use crate::base::BaseSignal;
use crate::base::handle::ConnectionHandle;
use crate::callback::Callback;
use crate::callback::{fallible, filtered, plain};
use crate::connection::{ConnectOptions, Connection, FilterHandle};
use crate::error::{BoxError, DuplicateKey, EmitError};
use crate::sync::{Arc, ErasedArc};

/// The listeners of a signal. Every signal kind derefs to its `Listeners`,
/// so these methods are called on the signal itself:
/// `signal.connect(..)`.
///
/// How a listener runs depends on the kind: a [`SyncSignal`]'s on the
/// emitting thread, in priority order; an [`AsyncSignal`]'s on its pool,
/// where the listeners of one event may run in parallel. What is said here
/// holds for both.
///
/// [`SyncSignal`]: crate::SyncSignal
/// [`AsyncSignal`]: crate::AsyncSignal
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, Listeners, SyncSignal};
///
/// /// Generic over the kind: both deref to `Listeners`.
/// fn audit(listeners: &Listeners<String>) {
///     listeners.connect(|line: &String| assert!(!line.is_empty()));
/// }
///
/// let sync = SyncSignal::<String>::new();
/// let pooled = AsyncSignal::<String>::new();
/// audit(&sync);
/// audit(&pooled);
/// assert_eq!((sync.len(), pooled.len()), (1, 1));
/// ```
pub struct Listeners<T> {
    base: Arc<BaseSignal<T>>,
}

impl<T: 'static> Listeners<T> {
    pub(crate) fn new() -> Self {
        Self {
            base: Arc::new(BaseSignal::new()),
        }
    }

    /// The core every signal kind runs on.
    pub(crate) fn base(&self) -> &Arc<BaseSignal<T>> {
        &self.base
    }

    fn connect_callback(
        &self,
        options: ConnectOptions,
        callback: Callback<T>,
    ) -> Result<Connection, DuplicateKey> {
        let (id, slot) = BaseSignal::connect(&self.base, options.into_options(), callback)?;
        Ok(Connection::new(ConnectionHandle::erased(
            &self.base, id, slot,
        )))
    }

    fn connect_unkeyed(&self, options: ConnectOptions, callback: Callback<T>) -> Connection {
        let (id, slot) = BaseSignal::connect_unkeyed(&self.base, options.into_options(), callback);
        Connection::new(ConnectionHandle::erased(&self.base, id, slot))
    }

    /// Connects a listener. It is first called by the next event emitted
    /// (on an `AsyncSignal`: the next one delivered).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u8>::new();
    /// let conn = signal.connect(|v: &u8| assert_eq!(*v, 7));
    /// signal.emit(&7);
    /// # drop(conn);
    /// ```
    pub fn connect<F>(&self, f: F) -> Connection
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.connect_unkeyed(ConnectOptions::new(), plain(f))
    }

    /// Connects a listener that may fail. Its errors are counted and go to
    /// the [error handler](Self::set_error_handler) under plain emits;
    /// `SyncSignal::try_emit` and both kinds' `emit_collect` return them
    /// instead. An `AsyncSignal` also counts them in `Stats::failed`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{AsyncSignal, SyncSignal};
    /// let signal = SyncSignal::<i32>::new();
    /// signal.connect_fallible(|v: &i32| if *v < 0 { Err("negative") } else { Ok(()) });
    /// assert!(signal.try_emit(&1).is_ok());
    /// assert!(signal.try_emit(&-1).is_err());
    ///
    /// let pooled = AsyncSignal::<i32>::new();
    /// pooled.connect_fallible(|v: &i32| if *v < 0 { Err("negative") } else { Ok(()) });
    /// assert!(pooled.emit_collect(-1).is_err());
    /// ```
    pub fn connect_fallible<F, E>(&self, f: F) -> Connection
    where
        F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.connect_unkeyed(ConnectOptions::new(), fallible(f))
    }

    /// Connects a listener that runs at most once, even when several
    /// threads emit (or deliver) at the same time, and then removes itself.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicUsize, Ordering};
    /// # use std::sync::Arc;
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let calls = Arc::new(AtomicUsize::new(0));
    /// let c = calls.clone();
    /// signal.connect_once(move |_: &()| { c.fetch_add(1, Ordering::Relaxed); });
    /// signal.emit(&());
    /// signal.emit(&());
    /// assert_eq!(calls.load(Ordering::Relaxed), 1);
    /// assert!(signal.is_empty());
    /// ```
    pub fn connect_once<F>(&self, f: F) -> Connection
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.connect_unkeyed(ConnectOptions::new().once(), plain(f))
    }

    /// Connects a listener under `key`; at most one listener per key.
    ///
    /// # Errors
    ///
    /// [`DuplicateKey`] if a listener with this key is connected; the new
    /// listener is then not connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_keyed("logger", |_: &()| {}).unwrap();
    /// assert!(signal.connect_keyed("logger", |_: &()| {}).is_err());
    /// assert!(signal.disconnect_key("logger"));
    /// assert!(signal.connect_keyed("logger", |_: &()| {}).is_ok());
    /// ```
    pub fn connect_keyed<F>(&self, key: impl AsRef<str>, f: F) -> Result<Connection, DuplicateKey>
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.connect_callback(ConnectOptions::new().key(key), plain(f))
    }

    /// Connects a listener with [`ConnectOptions`] (priority, key, once).
    /// Priorities order the listener list: a `SyncSignal` calls higher
    /// priorities first; an `AsyncSignal`'s listeners of one event may run
    /// in parallel, so there they order starts only where calls share a
    /// thread.
    ///
    /// # Errors
    ///
    /// [`DuplicateKey`] if the options carry a key that is taken.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{ConnectOptions, SyncSignal};
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_with(ConnectOptions::new().key("k").priority(5), |_: &()| {}).unwrap();
    /// assert!(signal.contains_key("k"));
    /// ```
    pub fn connect_with<F>(&self, options: ConnectOptions, f: F) -> Result<Connection, DuplicateKey>
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.connect_callback(options, plain(f))
    }

    /// Connects a fallible listener with [`ConnectOptions`].
    ///
    /// # Errors
    ///
    /// [`DuplicateKey`] if the options carry a key that is taken.
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
    pub fn connect_fallible_with<F, E>(
        &self,
        options: ConnectOptions,
        f: F,
    ) -> Result<Connection, DuplicateKey>
    where
        F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>,
    {
        self.connect_callback(options, fallible(f))
    }

    /// Connects a listener that is called only for events `filter` accepts
    /// (a per-listener filter, run where the listener runs;
    /// [`add_filter`](Self::add_filter) filters for every listener). An
    /// event the filter turns away is no delivery for this listener.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<i32>::new();
    /// signal.connect_filtered(|v: &i32| *v > 0, |v: &i32| assert!(*v > 0));
    /// signal.emit(&-1); // filtered out for that listener
    /// signal.emit(&1);
    /// ```
    pub fn connect_filtered<P, F>(&self, filter: P, f: F) -> Connection
    where
        P: Fn(&T) -> bool + Send + Sync + 'static,
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.connect_unkeyed(ConnectOptions::new(), filtered(filter, f))
    }

    /// Adds a signal-level filter: an event it rejects reaches no listener
    /// (it is still emitted, with no delivery). Filters run once per event,
    /// in the order they were added, before the first listener: on the
    /// emitting thread for a `SyncSignal`, on the pool for an
    /// `AsyncSignal` (where a panicking filter rejects the event and counts
    /// as a panic).
    ///
    /// # Examples
    ///
    /// See [`FilterHandle`].
    pub fn add_filter<P>(&self, filter: P) -> FilterHandle
    where
        P: Fn(&T) -> bool + Send + Sync + 'static,
    {
        let id = self.base.add_filter(ErasedArc::new(filter));
        FilterHandle::new(&self.base, id)
    }

    /// Disconnects the listener connected under `key`; `true` if there was
    /// one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_keyed("k", |_: &()| {}).unwrap();
    /// assert!(signal.disconnect_key("k"));
    /// assert!(!signal.disconnect_key("k"));
    /// ```
    pub fn disconnect_key(&self, key: &str) -> bool {
        self.base.disconnect_key(key)
    }

    /// Whether a listener is connected under `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// assert!(!signal.contains_key("k"));
    /// signal.connect_keyed("k", |_: &()| {}).unwrap();
    /// assert!(signal.contains_key("k"));
    /// ```
    pub fn contains_key(&self, key: &str) -> bool {
        self.base.contains_key(key)
    }

    /// The number of connected listeners (blocked ones included).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect(|_: &()| {});
    /// assert_eq!(signal.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.base.live_len()
    }

    /// Whether no listener is connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// assert!(SyncSignal::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Disconnects every listener. An `AsyncSignal`'s pending events are
    /// still delivered, to no one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// let conn = signal.connect(|_: &()| {});
    /// signal.clear();
    /// assert!(signal.is_empty());
    /// assert!(!conn.is_connected());
    /// ```
    pub fn clear(&self) {
        self.base.clear();
    }

    /// Sends the errors of fallible listeners under plain emits to
    /// `handler` instead of the default handler (which only counts them
    /// and, with the `tracing` feature, logs them). Errors are counted in
    /// [`error_count`](Self::error_count) either way. The handler runs
    /// where the listener ran: on the emitting thread, or on the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use sigwire::SyncSignal;
    ///
    /// let signal = SyncSignal::<()>::new();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let s = seen.clone();
    /// signal.set_error_handler(move |e| s.lock().unwrap().push(e.to_string()));
    /// let conn = signal.connect_fallible(|_: &()| Err("boom"));
    /// signal.emit(&());
    /// assert_eq!(*seen.lock().unwrap(), [format!("listener {} failed: boom", conn.id())]);
    /// ```
    pub fn set_error_handler<F>(&self, handler: F)
    where
        F: Fn(EmitError) + Send + Sync + 'static,
    {
        self.base.set_error_handler(Some(ErasedArc::new(handler)));
    }

    /// How many errors went to the error handler since the signal was made:
    /// those fallible listeners returned under plain emits (`emit`,
    /// `emit_until`, `Emitter::emit`, and an `AsyncSignal`'s deliveries);
    /// `SyncSignal::try_emit` and both kinds' `emit_collect` hand theirs to
    /// the caller instead.
    ///
    /// Also counted: a panic caught while dropping the closure of a
    /// disconnected (or fired once-) listener, or a replaced filter or
    /// error handler. Writes free those (`connect`, `disconnect`, `clear`,
    /// ...), on whatever thread makes the write, so the panic is caught
    /// there and reported to the error handler as an [`EmitError`] whose
    /// source is a [`ListenerPanic`](crate::ListenerPanic) (id 0 for a
    /// handler); the write completes and returns its result.
    ///
    /// And a panic of the event type's `Clone` or `Drop` that a
    /// `SyncSignal`'s subscriptions caught while copying an event into
    /// their ring (see [`SyncSignal::subscribe`](crate::SyncSignal::subscribe)):
    /// counted here, not sent to the error handler (the feeder has no
    /// listener id to report).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("boom"));
    /// signal.emit(&());
    /// signal.emit(&());
    /// assert_eq!(signal.error_count(), 2);
    /// ```
    pub fn error_count(&self) -> u64 {
        self.base.error_count()
    }
}

impl<T: 'static> fmt::Debug for Listeners<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("signal", &self.base.id())
            .field("len", &self.len())
            .finish()
    }
}
