//! `Topics<T>`: events on dot-separated topic strings, to listeners
//! connected with NATS-style wildcard patterns, each topic's listeners
//! resolved once and cached.
//!
//! This file holds the public fronts (`Topics`, `Publisher`) and their
//! docs; the parts are:
//!
//! - `registry.rs`: who listens to what. The subscriber list
//!   (copy-on-write), resolving a topic's subscribers, the generation a
//!   `Publisher` checks, the per-topic counters, and the handle behind a
//!   listener's `Connection`.
//! - `cache.rs`: the cache of resolved topics, a fixed set-associative
//!   table with CLOCK eviction.
//! - `pattern.rs`: the grammar of topics and patterns, matching, and the
//!   errors `PatternError` and `TopicError`.
//! - `hash.rs`: the topic hash that keys the cache.
//!
//! The design is in `docs/bus.md`, the orderings in `docs/ordering.md`
//! ("The bus", `Topics`).

mod cache;
mod hash;
mod pattern;
mod registry;

use std::fmt;

pub use pattern::{PatternError, TopicError};

use crate::base::record::READS_NONE;
use crate::ring::subscription::Subscription;
use crate::ring::{DEFAULT_SUBSCRIPTION_CAPACITY, Ring};
use crate::sync::{Arc, ErasedArc, Ordering};
use crate::unwind::contain;
use crate::{Connection, Stats};
use hash::hash;
use pattern::{Pattern, check_topic};
use registry::{Registry, Resolved, SubscriberHandle};

/// Events published on topic strings such as `"user.created"`, to
/// listeners connected with patterns: `*` matches one dot-separated
/// segment, `>` at the end matches one or more remaining segments (NATS's
/// grammar). An invalid pattern is an error at connect time. Each listener
/// gets a [`Connection`], the handle a signal's listener gets.
///
/// The first emit on a topic matches it against every pattern and caches
/// the list of matching listeners; later emits on that topic do one hash
/// look-up and no string matching, then call each listener (one test of
/// its state word and one indirect call each). Connecting and
/// disconnecting invalidate the cache. The cache holds up to 2 048 topics; past that,
/// new topics replace cached ones (CLOCK eviction), and a miss copies
/// nothing, so the cost of an emit grows gently with the number of topics.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::bus::Topics;
///
/// let topics = Topics::<u64>::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// topics
///     .connect("user.*", move |topic: &str, id: &u64| s.lock().unwrap().push(format!("{topic} {id}")))
///     .unwrap();
/// topics.connect("audit.>", |_: &str, _: &u64| {}).unwrap();
///
/// topics.emit("user.created", &7).unwrap();
/// topics.emit("user.deleted", &8).unwrap();
/// topics.emit("user.created.twice", &9).unwrap(); // `*` is one segment only
/// assert_eq!(*seen.lock().unwrap(), ["user.created 7", "user.deleted 8"]);
/// assert!(topics.connect("user.>.x", |_: &str, _: &u64| {}).is_err());
/// ```
pub struct Topics<T: 'static> {
    inner: ErasedArc<Registry<T>>,
}

/// An event a topic subscription received, with its topic.
///
/// # Examples
///
/// ```
/// use sigwire::bus::Topics;
///
/// let topics = Topics::<u32>::new();
/// let mut sub = topics.subscribe("job.*").unwrap();
/// topics.emit("job.done", &7).unwrap();
/// let item = sub.recv().unwrap();
/// assert_eq!((item.topic(), *item.event()), ("job.done", 7));
/// ```
#[derive(Debug, Clone)]
pub struct TopicEvent<T> {
    topic: std::sync::Arc<str>,
    event: T,
}

impl<T> TopicEvent<T> {
    /// The topic it was emitted on.
    ///
    /// # Examples
    ///
    /// See [`TopicEvent`].
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The event.
    ///
    /// # Examples
    ///
    /// See [`TopicEvent`].
    pub fn event(&self) -> &T {
        &self.event
    }
}

impl<T: Clone + Send + Sync + 'static> Topics<T> {
    /// A [`Subscription`] to the events of every topic `pattern` matches
    /// (the grammar of [`connect`](Self::connect)), each with its topic,
    /// from the next emit on. It keeps up to 1 024 events for a subscriber
    /// that reads late; one further behind is told it
    /// [lagged](crate::RecvError::Lagged), and no emit waits for it.
    ///
    /// Each subscription is a listener of its own ([`len`](Self::len)
    /// counts it; dropping the subscription disconnects it), which copies
    /// the event and the topic into the subscription's ring: a clone of `T`
    /// and an allocation for the topic per event and subscription (a
    /// `Topics<Arc<E>>` makes the clone a reference count). A panic in
    /// `T`'s `Clone` (or in the `Drop` of the event a reused slot held) is
    /// caught and counted in [`error_count`](Self::error_count), so the
    /// other listeners still get the event; the subscription is told of an
    /// event it could not copy as a [lag](crate::RecvError::Lagged) of one. Once the `Topics` and every
    /// [`Publisher`] made from it are dropped, the subscription returns the
    /// events emitted before, then [`Closed`](crate::RecvError::Closed).
    ///
    /// # Errors
    ///
    /// [`PatternError`], as [`connect`](Self::connect).
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::RecvError;
    /// use sigwire::bus::Topics;
    ///
    /// let topics = Topics::<u64>::new();
    /// let mut fills = topics.subscribe("orders.*.filled").unwrap();
    /// topics.emit("orders.7.filled", &70).unwrap();
    /// topics.emit("orders.7.placed", &1).unwrap();
    /// topics.emit("orders.8.filled", &80).unwrap();
    /// drop(topics);
    ///
    /// let got: Vec<(String, u64)> = std::iter::from_fn(|| fills.recv().ok())
    ///     .map(|item| (item.topic().to_string(), *item.event()))
    ///     .collect();
    /// assert_eq!(got, [("orders.7.filled".into(), 70), ("orders.8.filled".into(), 80)]);
    /// assert_eq!(fills.recv().unwrap_err(), RecvError::Closed);
    /// ```
    pub fn subscribe(&self, pattern: &str) -> Result<Subscription<TopicEvent<T>>, PatternError> {
        let pattern = Pattern::parse(pattern)?;
        let ring = match Ring::new(DEFAULT_SUBSCRIPTION_CAPACITY) {
            Ok(ring) => Arc::new(ring),
            // 1 024 slots of 16 bytes: only a broken allocator refuses them.
            Err(error) => panic!("Topics::subscribe: {error}"),
        };
        let feeder = TopicFeeder {
            ring: Arc::clone(&ring),
        };
        // Panics of `T`'s `Clone` and `Drop` here count in `error_count`.
        let panics = ErasedArc::clone(&self.inner.drop_panics);
        let feed = move |topic: &str, event: &T| {
            let copy = contain(|| TopicEvent {
                topic: topic.into(),
                event: event.clone(),
            });
            let copied = copy.is_some();
            // The ring closes only when this closure is dropped.
            let stored = contain(|| match copy {
                Some(copy) => drop(feeder.ring.push(copy)),
                None => feeder.ring.push_hole(),
            });
            let caught = u64::from(!copied) + u64::from(stored.is_none());
            if caught != 0 {
                // Relaxed: a statistic.
                panics.fetch_add(caught, Ordering::Relaxed);
            }
        };
        let subscription = Subscription::new(ring);
        let subscriber = self.inner.connect(pattern, Box::new(feed));
        let connection = Connection::new(SubscriberHandle::erased(&self.inner, &subscriber));
        Ok(subscription.disconnecting(connection))
    }
}

/// A topic subscription's listener capture: closes the ring when the
/// listener is dropped (with the `Topics`), so the subscription ends with
/// `Closed` after the last event.
struct TopicFeeder<T> {
    ring: Arc<Ring<TopicEvent<T>>>,
}

impl<T> Drop for TopicFeeder<T> {
    fn drop(&mut self) {
        self.ring.close();
    }
}

impl<T: 'static> Topics<T> {
    /// No listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// let topics = sigwire::bus::Topics::<String>::new();
    /// assert_eq!(topics.len(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            inner: ErasedArc::new(Registry::new()),
        }
    }

    /// Connects `f` to every topic `pattern` matches. It is called with
    /// the topic and the event, after the listeners connected before it.
    /// The [`Connection`] disconnects, blocks and waits for running emits
    /// as a signal's does; dropping it does not disconnect.
    ///
    /// # Errors
    ///
    /// [`PatternError`] for an empty pattern, an empty segment (`a..b`), a
    /// wildcard inside a segment (`a*`), or `>` anywhere but last.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// let fills = topics.connect("orders.*.filled", |_: &str, _: &u8| {}).unwrap();
    /// let err = topics.connect("orders..filled", |_: &str, _: &u8| {}).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid topic pattern \"orders..filled\": empty segment");
    ///
    /// let guard = fills.block(); // emits skip it while the guard lives
    /// topics.emit("orders.7.filled", &1).unwrap();
    /// drop(guard);
    /// assert!(fills.disconnect_wait().unwrap()); // no call of it is running now
    /// assert!(topics.is_empty());
    /// ```
    pub fn connect<F>(&self, pattern: &str, f: F) -> Result<Connection, PatternError>
    where
        F: Fn(&str, &T) + Send + Sync + 'static,
    {
        let pattern = Pattern::parse(pattern)?;
        let subscriber = self.inner.connect(pattern, Box::new(f));
        Ok(Connection::new(SubscriberHandle::erased(
            &self.inner,
            &subscriber,
        )))
    }

    /// Calls every listener whose pattern matches `topic`, in connection
    /// order. A topic seen before costs one hash look-up, then an emit.
    ///
    /// # Errors
    ///
    /// [`TopicError`] for a topic that is empty, has an empty segment, or
    /// contains a wildcard (topics name one thing; patterns match many).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// assert!(topics.emit("orders.new", &1).is_ok());
    /// assert!(topics.emit("orders.*", &1).is_err());
    /// ```
    pub fn emit(&self, topic: &str, event: &T) -> Result<(), TopicError> {
        let running = self.inner.enter();
        let hash = hash(topic);
        if let Some(resolved) = self.inner.cache.get(hash, topic, &running) {
            resolved.emit_outlined(event);
            return Ok(());
        }
        // The miss holds what it reads by reference count: a long miss
        // (its listeners run) then keeps no retired cache entry alive.
        // Release (in `reads`): the probe's reads of the bucket come first.
        running.reads(READS_NONE);
        self.inner.miss(topic, hash, event)
    }

    /// A handle for emitting on one topic from a hot loop: it keeps the
    /// topic's resolved signal and checks one counter per emit, so it costs
    /// no hash look-up. It sees listeners connected and disconnected anywhere.
    ///
    /// # Errors
    ///
    /// [`TopicError`] for an invalid topic, as [`emit`](Self::emit).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u64>::new();
    /// let mut trades = topics.publisher("market.AAPL.trade").unwrap();
    /// trades.emit(&1); // nobody listens yet
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// topics.connect("market.*.trade", move |_: &str, v: &u64| { s.fetch_add(*v, Ordering::Relaxed); }).unwrap();
    /// for v in 0..10 {
    ///     trades.emit(&v);
    /// }
    /// assert_eq!(sum.load(Ordering::Relaxed), 45);
    /// ```
    pub fn publisher(&self, topic: &str) -> Result<Publisher<T>, TopicError> {
        check_topic(topic)?;
        let (resolved, generation) = self.inner.resolve(topic, hash(topic));
        Ok(Publisher {
            inner: ErasedArc::clone(&self.inner),
            resolved,
            generation,
        })
    }

    /// How many topics have their listener set cached (at most 2 048).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// topics.emit("a", &1).unwrap();
    /// topics.emit("b", &1).unwrap();
    /// assert_eq!(topics.cached_topics(), 2);
    /// ```
    pub fn cached_topics(&self) -> usize {
        self.inner.cached_topics()
    }

    /// How many panics were caught while dropping listeners' closures. A
    /// listener's closure is dropped where its last reference goes: the
    /// disconnect (or other change of listeners) that published a list
    /// without it, a later write (connect, disconnect, a cache miss) once
    /// no emit reads a cached topic that held it and no [`Publisher`]
    /// holds it, a [`Connection`] call that held it meanwhile, or the drop
    /// of the `Topics`. A panicking `Drop` there is caught and counted
    /// here, so it never unwinds out of that call.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// struct Bomb;
    /// impl Drop for Bomb {
    ///     fn drop(&mut self) { panic!("bomb") }
    /// }
    /// let topics = Topics::<u8>::new();
    /// let bomb = Bomb;
    /// let conn = topics.connect(">", move |_: &str, _: &u8| { let _ = &bomb; }).unwrap();
    /// conn.disconnect(); // frees the closure: its panic is caught
    /// assert_eq!(topics.error_count(), 1);
    /// ```
    pub fn error_count(&self) -> u64 {
        self.inner.error_count()
    }

    /// How many listeners are connected (blocked ones included).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// let conn = topics.connect(">", |_: &str, _: &u8| {}).unwrap();
    /// assert_eq!(topics.len(), 1);
    /// conn.disconnect();
    /// assert_eq!(topics.len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no listener is connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// assert!(Topics::<u8>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turns on per-topic delivery counters (a second call does nothing).
    /// Off by default. Each topic counts in [`Stats`], events and
    /// deliveries (one event to one listener) apart: `emitted` counts its
    /// emits (an emit that no listener matched too: it is emitted, with
    /// no delivery, as the spec counts an event nobody receives),
    /// `delivered` the listener calls that returned and `panicked` those
    /// that panicked (the panic unwinds out of the emit, and the later
    /// listeners are not called). So an emit that reaches 3 listeners
    /// adds 1 to `emitted` and 3 to `delivered`. The first 4 096 topics seen
    /// get counters of their own; later topics share one set, reported
    /// under the topic `"*"`.
    ///
    /// The counters are sharded by thread (one cache line per shard, at
    /// most 8 shards: up to 1 KiB per counted topic), so emitting threads
    /// rarely contend on them.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u32>::new();
    /// topics.enable_stats();
    /// topics.connect("orders.*", |_: &str, _: &u32| {}).unwrap();
    /// topics.connect("orders.>", |_: &str, _: &u32| {}).unwrap();
    /// topics.emit("orders.new", &1).unwrap();
    /// topics.emit("orders.new", &2).unwrap();
    /// topics.emit("users.new", &3).unwrap(); // nobody listens
    ///
    /// let orders = topics.topic_stats("orders.new").unwrap();
    /// assert_eq!((orders.emitted, orders.delivered), (2, 4)); // 2 events, 2 listeners each
    /// let users = topics.topic_stats("users.new").unwrap();
    /// assert_eq!((users.emitted, users.delivered, users.rejected), (1, 0, 0));
    /// assert_eq!(topics.topic_stats("never.used"), None);
    /// assert_eq!(topics.stats().emitted, 3);
    /// let by_topic = topics.stats_by_topic();
    /// assert_eq!(by_topic[0].0, "orders.new");
    /// ```
    pub fn enable_stats(&self) {
        self.inner.enable_stats();
    }

    /// The counters of one topic: `None` if it has none of its own (it was
    /// not emitted on since [`enable_stats`](Self::enable_stats), or it
    /// came after the first 4 096 counted topics and counts under `"*"` in
    /// [`stats_by_topic`](Self::stats_by_topic)).
    ///
    /// # Examples
    ///
    /// See [`enable_stats`](Self::enable_stats).
    pub fn topic_stats(&self, topic: &str) -> Option<Stats> {
        self.inner.topic_stats(topic)
    }

    /// Every counted topic's counters, sorted by topic (topics past the
    /// first 4 096 are added up under `"*"`).
    ///
    /// # Examples
    ///
    /// See [`enable_stats`](Self::enable_stats).
    pub fn stats_by_topic(&self) -> Vec<(String, Stats)> {
        self.inner.stats_by_topic()
    }

    /// Every topic's counters, added up.
    ///
    /// # Examples
    ///
    /// See [`enable_stats`](Self::enable_stats).
    pub fn stats(&self) -> Stats {
        self.stats_by_topic().into_iter().map(|(_, s)| s).sum()
    }
}

/// A handle for one topic's hot loop; see [`Topics::publisher`].
pub struct Publisher<T: 'static> {
    inner: ErasedArc<Registry<T>>,
    resolved: Arc<Resolved<T>>,
    /// The generation `resolved` was resolved for.
    generation: u64,
}

impl<T: 'static> Publisher<T> {
    /// Calls every listener whose pattern matches the topic, like
    /// [`Topics::emit`].
    ///
    /// # Examples
    ///
    /// See [`Topics::publisher`].
    #[inline]
    pub fn emit(&mut self, event: &T) {
        // Acquire: pairs with `Registry::change`; a newer generation means the
        // listeners changed, and the resolve below sees them.
        if self.inner.generation.load(Ordering::Acquire) != self.generation {
            self.refresh();
        }
        // Recorded after the refresh: `disconnect_wait` needs only the
        // state words to be read inside the record, and they are.
        let _running = self.inner.enter_holding();
        self.resolved.emit(event);
    }

    #[cold]
    fn refresh(&mut self) {
        // The topic was checked when the publisher was made.
        let topic = &self.resolved.topic;
        (self.resolved, self.generation) = self.inner.resolve(topic, hash(topic));
    }

    /// The topic this publisher emits on.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// assert_eq!(topics.publisher("a.b").unwrap().topic(), "a.b");
    /// ```
    pub fn topic(&self) -> &str {
        &self.resolved.topic
    }
}

impl<T: 'static> fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("topic", &self.resolved.topic)
            .field("listeners", &self.resolved.subscribers.len())
            .finish()
    }
}

impl<T: 'static> Default for Topics<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Clone for Topics<T> {
    /// Another handle to the same topics.
    fn clone(&self) -> Self {
        Self {
            inner: ErasedArc::clone(&self.inner),
        }
    }
}

impl<T: 'static> fmt::Debug for Topics<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topics")
            .field("listeners", &self.len())
            .field("cached_topics", &self.cached_topics())
            .finish()
    }
}
