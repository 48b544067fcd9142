//! `sigwire::bus`: an event bus on sigwire's typed signals.
//!
//! - [`EventBus`]: one signal per event type, created on first use; code on
//!   a hot path keeps the signal's handle and pays no look-up per emit.
//! - [`Topics`]: events on dot-separated topic strings, listened to with
//!   NATS-style wildcard patterns (`*` for one segment, `>` for the rest);
//!   each topic's listeners are resolved once and cached.
//! - [`HeldSignal`]: holds what is emitted before `start()`, then delivers
//!   it in order before any later emit.
//! - [`HistorySignal`]: keeps its last `n` events; a listener connected
//!   with replay receives them first, then every later event, none missed
//!   or repeated.
//! - [`Requests`]: request/response, gathering the replies of every
//!   responder (scatter-gather), on the calling thread or on the pool with
//!   an expected count and a timeout.
//! - [`global`]: a process-wide default bus.
//!
//! The guide is `docs/bus.md`.

mod held;
mod history;
mod requests;
mod topics;

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

pub use held::HeldSignal;
pub use history::HistorySignal;
pub use requests::{Name, Replies, Reply, Requests, Responding};
pub use topics::{PatternError, Publisher, TopicError, TopicEvent, Topics};

use crate::connection::Connection;
use crate::sync::{self, AtomicBool, ErasedArc, Mutex, Ordering};
use crate::{AsyncSignal, Stats, SyncSignal};

/// A registered signal, type-erased: what the registry and the bus-wide
/// statistics need of it.
trait Registered: Any + Send + Sync {
    fn stats(&self) -> Stats;
    /// Turns its counters on (an `AsyncSignal` counts always).
    fn enable_stats(&self);
}

impl<E: Send + Sync + 'static> Registered for SyncSignal<E> {
    fn stats(&self) -> Stats {
        SyncSignal::stats(self)
    }

    fn enable_stats(&self) {
        SyncSignal::enable_stats(self);
    }
}

impl<E: Send + Sync + 'static> Registered for AsyncSignal<E> {
    fn stats(&self) -> Stats {
        AsyncSignal::stats(self)
    }

    fn enable_stats(&self) {}
}

/// Which kind of signal a [`EventBus::stats_by_type`] entry is.
///
/// # Examples
///
/// See [`EventBus::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SignalKind {
    /// The bus's `SyncSignal<E>` ([`EventBus::signal`]).
    Sync,
    /// The bus's `AsyncSignal<E>` ([`EventBus::async_signal`]).
    Async,
}

/// Signals by event type, each with its event type's name.
/// `ErasedArc`: the entries are `dyn`, and they are the `Arc`s the public
/// `EventBus::signal` hands out, std's by contract.
type Map = Mutex<HashMap<TypeId, (&'static str, ErasedArc<dyn Registered>)>>;

/// A registry of signals keyed by event type: [`signal::<E>()`] returns
/// the one `SyncSignal<E>` of this bus, created on first use (and
/// [`async_signal::<E>()`] the one `AsyncSignal<E>`). `Send + Sync`, and a
/// clone is another handle to the same bus.
///
/// [`signal::<E>()`]: Self::signal
/// [`async_signal::<E>()`]: Self::async_signal
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use sigwire::bus::EventBus;
///
/// struct UserCreated { id: u64 }
///
/// let bus = EventBus::new();
/// let seen = Arc::new(AtomicU64::new(0));
/// let s = seen.clone();
/// let _conn = bus.connect(move |e: &UserCreated| { s.store(e.id, Ordering::Relaxed); });
///
/// bus.emit(&UserCreated { id: 7 });
/// assert_eq!(seen.load(Ordering::Relaxed), 7);
///
/// // A hot path keeps the handle: no look-up per emit.
/// let users = bus.signal::<UserCreated>();
/// for id in 0..1000 {
///     users.emit(&UserCreated { id });
/// }
/// assert_eq!(seen.load(Ordering::Relaxed), 999);
/// ```
#[derive(Clone)]
pub struct EventBus {
    inner: ErasedArc<Registry>,
}

struct Registry {
    signals: Map,
    async_signals: Map,
    /// Set by [`EventBus::enable_stats`]: sync signals made later count too.
    stats: AtomicBool,
}

/// The signal `V` of event type `E` in `map`, made by `make` on first use.
fn entry<E: 'static, V: Registered>(map: &Map, make: impl FnOnce() -> V) -> ErasedArc<V> {
    let registered = sync::lock(map)
        .entry(TypeId::of::<V>())
        .or_insert_with(|| (std::any::type_name::<E>(), ErasedArc::new(make())))
        .1
        .clone();
    let any: ErasedArc<dyn Any + Send + Sync> = registered;
    match any.downcast::<V>() {
        Ok(signal) => signal,
        // Entries are keyed by the `TypeId` of the value they hold.
        Err(_) => unreachable!(
            "the registry holds a {} under its own type",
            std::any::type_name::<V>()
        ),
    }
}

impl EventBus {
    /// An empty bus.
    ///
    /// # Examples
    ///
    /// ```
    /// let bus = sigwire::bus::EventBus::new();
    /// # drop(bus);
    /// ```
    pub fn new() -> Self {
        Self {
            inner: ErasedArc::new(Registry {
                signals: Mutex::new(HashMap::new()),
                async_signals: Mutex::new(HashMap::new()),
                stats: AtomicBool::new(false),
            }),
        }
    }

    /// The bus's `SyncSignal<E>`, created on first use. Every call (on any
    /// clone of the bus) returns the same signal; keep the handle where
    /// emits are frequent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::EventBus;
    /// let bus = EventBus::new();
    /// let a = bus.signal::<u32>();
    /// let b = bus.clone().signal::<u32>();
    /// assert!(std::sync::Arc::ptr_eq(&a, &b));
    /// ```
    pub fn signal<E: Send + Sync + 'static>(&self) -> std::sync::Arc<SyncSignal<E>> {
        entry::<E, _>(&self.inner.signals, || {
            let signal = SyncSignal::<E>::new();
            // Relaxed: read under this map's lock, under which
            // `enable_stats` stores the flag and collects the signals: a
            // signal made here either sees the flag or is collected.
            // (A new signal has no listener: enabling runs no user code.)
            if self.inner.stats.load(Ordering::Relaxed) {
                signal.enable_stats();
            }
            signal
        })
    }

    /// The bus's `AsyncSignal<E>` (rayon's global pool, default settings),
    /// created on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # use sigwire::bus::EventBus;
    /// let bus = EventBus::new();
    /// let total = Arc::new(AtomicU64::new(0));
    /// let t = total.clone();
    /// bus.async_signal::<u64>().connect(move |v: &u64| { t.fetch_add(*v, Ordering::Relaxed); });
    /// bus.async_signal::<u64>().emit(5).unwrap();
    /// bus.async_signal::<u64>().flush().unwrap();
    /// assert_eq!(total.load(Ordering::Relaxed), 5);
    /// ```
    pub fn async_signal<E: Send + Sync + 'static>(&self) -> std::sync::Arc<AsyncSignal<E>> {
        entry::<E, _>(&self.inner.async_signals, AsyncSignal::<E>::new)
    }

    /// Emits `event` on the bus's `SyncSignal<E>` (one map look-up, then
    /// [`SyncSignal::emit`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::EventBus;
    /// let bus = EventBus::new();
    /// bus.emit(&"no listeners yet"); // creates the signal, calls nobody
    /// ```
    pub fn emit<E: Send + Sync + 'static>(&self, event: &E) {
        self.signal::<E>().emit(event);
    }

    /// Connects `f` to the bus's `SyncSignal<E>`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::EventBus;
    /// let bus = EventBus::new();
    /// let conn = bus.connect(|s: &String| assert_eq!(s, "hi"));
    /// bus.emit(&"hi".to_string());
    /// assert!(conn.disconnect());
    /// ```
    pub fn connect<E, F>(&self, f: F) -> Connection
    where
        E: Send + Sync + 'static,
        F: Fn(&E) + Send + Sync + 'static,
    {
        self.signal::<E>().connect(f)
    }

    /// How many event types have a signal on this bus (sync and async).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::EventBus;
    /// let bus = EventBus::new();
    /// bus.signal::<u8>();
    /// bus.async_signal::<u16>();
    /// assert_eq!(bus.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        sync::lock(&self.inner.signals).len() + sync::lock(&self.inner.async_signals).len()
    }

    /// Whether no event type has a signal on this bus yet.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::EventBus;
    /// assert!(EventBus::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turns on the delivery counters of every `SyncSignal` of this bus,
    /// those that exist and those made later (see
    /// [`SyncSignal::enable_stats`]; an `AsyncSignal` counts always).
    ///
    /// # Examples
    ///
    /// See [`stats`](Self::stats).
    pub fn enable_stats(&self) {
        let signals: Vec<_> = {
            let signals = sync::lock(&self.inner.signals);
            // Relaxed: read under this lock (see `signal`).
            self.inner.stats.store(true, Ordering::Relaxed);
            signals.values().map(|(_, signal)| signal.clone()).collect()
        };
        // Outside the lock: publishing a list may drop listeners (user code
        // that may use this bus). A signal made meanwhile saw the flag.
        for signal in signals {
            signal.enable_stats();
        }
    }

    /// The counters of every signal of this bus, added up field by field
    /// (sync signals count only once [`enable_stats`](Self::enable_stats)
    /// was called). Both kinds count in the units of [`Stats`]: `emitted`
    /// and `rejected` are events, `delivered`, `failed` and `panicked` are
    /// deliveries (one event to one listener), so the sums mean what each
    /// signal's counters mean; see `docs/bus.md`, "Statistics".
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::bus::{EventBus, SignalKind};
    ///
    /// struct Order(u32);
    /// struct Audit;
    ///
    /// let bus = EventBus::new();
    /// bus.enable_stats();
    /// bus.connect(|_: &Order| {});
    /// bus.connect(|o: &Order| assert!(o.0 != 13, "unlucky order"));
    /// bus.connect(|_: &Audit| {});
    /// bus.emit(&Order(1)); // 2 deliveries
    /// bus.emit(&Audit); // 1
    /// let unlucky = std::panic::catch_unwind(|| bus.emit(&Order(13)));
    /// assert!(unlucky.is_err()); // 1 delivery, then 1 that panicked
    ///
    /// let total = bus.stats();
    /// assert_eq!((total.emitted, total.delivered, total.panicked), (3, 4, 1));
    /// let by_type = bus.stats_by_type();
    /// let (event, kind, audit) = &by_type[0];
    /// assert!(event.ends_with("Audit"));
    /// assert_eq!((*kind, audit.delivered), (SignalKind::Sync, 1));
    /// assert_eq!((by_type[1].2.delivered, by_type[1].2.panicked), (3, 1)); // Order
    /// ```
    pub fn stats(&self) -> Stats {
        self.stats_by_type()
            .into_iter()
            .map(|(_, _, stats)| stats)
            .sum()
    }

    /// The counters of each signal: its event type's name (from
    /// `std::any::type_name`), its kind, and its counters; sorted by name,
    /// a type's sync signal before its async one.
    ///
    /// # Examples
    ///
    /// See [`stats`](Self::stats).
    pub fn stats_by_type(&self) -> Vec<(&'static str, SignalKind, Stats)> {
        let mut signals: Vec<_> = sync::lock(&self.inner.signals)
            .values()
            .map(|(event, signal)| (*event, SignalKind::Sync, signal.clone()))
            .collect();
        signals.extend(
            sync::lock(&self.inner.async_signals)
                .values()
                .map(|(event, signal)| (*event, SignalKind::Async, signal.clone())),
        );
        signals.sort_by_key(|(event, kind, _)| (*event, *kind));
        // Read outside the locks.
        signals
            .into_iter()
            .map(|(event, kind, signal)| (event, kind, signal.stats()))
            .collect()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBus")
            .field("signals", &sync::lock(&self.inner.signals).len())
            .field(
                "async_signals",
                &sync::lock(&self.inner.async_signals).len(),
            )
            .finish()
    }
}

/// The process-wide default bus, created on first use.
///
/// # Examples
///
/// ```
/// use sigwire::bus;
///
/// struct Shutdown;
/// let conn = bus::global().connect(|_: &Shutdown| {});
/// bus::global().emit(&Shutdown);
/// # drop(conn);
/// ```
pub fn global() -> &'static EventBus {
    // std's `OnceLock` under loom too: a `static` needs a `const`
    // constructor, and loom has no `OnceLock`. No model uses the global bus
    // (a loom object cannot outlive the model run that made it; each model
    // makes its own `EventBus`).
    static GLOBAL: std::sync::OnceLock<EventBus> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(EventBus::new)
}

/// An empty queue with room for `capacity` events, allocated now, or
/// [`BuildError::OutOfMemory`](crate::BuildError::OutOfMemory) if that
/// memory cannot be had (for `HeldSignal` and `HistorySignal`, which then
/// never grow it).
fn reserved<T>(capacity: usize) -> Result<std::collections::VecDeque<T>, crate::BuildError> {
    let mut queue = std::collections::VecDeque::new();
    queue
        .try_reserve_exact(capacity)
        .map_err(|_| crate::BuildError::out_of_memory::<T>(capacity))?;
    Ok(queue)
}
