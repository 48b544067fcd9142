//! `Topics<T>`: events on dot-separated topic strings, with NATS-style
//! wildcard subscriptions, each topic's listeners resolved once and cached.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;

use super::topic_cache::{self, Cache, Ledger};
use crate::Stats;
use crate::stats::{Counters, Counting};
use crate::sync::{self, Arc, ArcSwap, AtomicU64, ErasedArc, Mutex, Ordering};

/// A subscriber's callback: the topic, then the event.
type Callback<T> = Box<dyn Fn(&str, &T) + Send + Sync + 'static>;

/// How many topics get counters of their own; later ones share one set.
const MAX_COUNTED: usize = 4096;

/// At most this many counter shards per topic (a signal may have up to 64):
/// topics are many, and each shard is a cache line.
const TOPIC_SHARDS: usize = 8;

/// One topic's subscribers, resolved once: an emit calls them in order.
struct Resolved<T: 'static> {
    /// The topic, as handed to the callbacks.
    topic: Box<str>,
    subscribers: Box<[ErasedArc<Subscriber<T>>]>,
    /// The topic's counters, once `Topics::enable_stats` was called.
    stats: Option<ErasedArc<Counters>>,
}

impl<T: 'static> AsRef<str> for Resolved<T> {
    fn as_ref(&self) -> &str {
        &self.topic
    }
}

impl<T: 'static> Resolved<T> {
    #[inline]
    fn emit(&self, event: &T) {
        if let Some(counters) = &self.stats {
            return self.emit_counted(counters, event);
        }
        for subscriber in self.subscribers.iter() {
            // Acquire: pairs with `unsubscribe`'s swap. An unsubscribe that
            // happens-before this emit is seen (coherence); one racing it
            // may or may not be, like `disconnect`.
            if subscriber.active.load(Ordering::Acquire) {
                (subscriber.callback)(&self.topic, event);
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn emit_counted(&self, counters: &Counters, event: &T) {
        // An emit that no subscriber matched is emitted with no delivery,
        // as an event a signal's filter turns away: `emit` did not refuse it.
        // Dropped unfinished if a subscriber's panic unwinds out of the
        // emit: then it counts the event, the deliveries before, and one
        // panicked delivery.
        let mut counting = Counting::new(counters);
        for subscriber in self.subscribers.iter() {
            // Acquire: as in `emit`.
            if subscriber.active.load(Ordering::Acquire) {
                (subscriber.callback)(&self.topic, event);
                counting.returned();
            }
        }
        counting.finish();
    }
}

/// Events published on topic strings such as `"user.created"`, to
/// listeners subscribed with patterns: `*` matches one dot-separated
/// segment, `>` at the end matches one or more remaining segments (NATS's
/// grammar). An invalid pattern is an error at subscribe time.
///
/// The first emit on a topic matches it against every pattern and caches
/// the list of matching subscribers; later emits on that topic do one hash
/// look-up and no string matching, then call each subscriber (one flag
/// test and one indirect call each). Subscribing and unsubscribing
/// invalidate the cache. The cache holds up to 2 048 topics; past that,
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
///     .subscribe("user.*", move |topic: &str, id: &u64| s.lock().unwrap().push(format!("{topic} {id}")))
///     .unwrap();
/// topics.subscribe("audit.>", |_: &str, _: &u64| {}).unwrap();
///
/// topics.emit("user.created", &7).unwrap();
/// topics.emit("user.deleted", &8).unwrap();
/// topics.emit("user.created.twice", &9).unwrap(); // `*` is one segment only
/// assert_eq!(*seen.lock().unwrap(), ["user.created 7", "user.deleted 8"]);
/// assert!(topics.subscribe("user.>.x", |_: &str, _: &u64| {}).is_err());
/// ```
pub struct Topics<T: 'static> {
    inner: ErasedArc<Inner<T>>,
}

struct Inner<T: 'static> {
    cache: Cache<Resolved<T>>,
    /// The subscribers, published copy-on-write under the subscriber lock:
    /// a miss the cache does not admit reads them without the lock.
    subscribers: ArcSwap<Subscribers<T>>,
    /// Bumped (under the subscriber lock) by every invalidation, so that a
    /// [`Publisher`] knows when its resolved signal is stale.
    generation: AtomicU64,
    /// The cache's book-keeping and the per-topic counters; publishing
    /// subscribers, caching and invalidating happen under this lock, so a
    /// cached topic never misses a subscriber that was added before the
    /// cache was cleared.
    state: Mutex<State>,
    /// Panics caught while dropping subscribers' closures (see
    /// [`Topics::error_count`]).
    drop_panics: ErasedArc<AtomicU64>,
}

struct Subscribers<T: 'static> {
    /// In subscription order.
    list: Vec<ErasedArc<Subscriber<T>>>,
    /// Whether `enable_stats` was called: a miss then resolves under the
    /// lock, which holds the counters.
    counted: bool,
}

/// What a subscription change replaced: to be dropped after the lock is
/// released (the subscribers' closures are user code).
type Retired<T> = (Arc<Subscribers<T>>, Vec<Arc<Resolved<T>>>);

struct State {
    cached: Ledger,
    /// Topic → counters, once `enable_stats` was called; the first
    /// `MAX_COUNTED` topics each have their own, later ones share `others`.
    stats: Option<TopicStats>,
}

struct TopicStats {
    topics: HashMap<Box<str>, ErasedArc<Counters>>,
    others: ErasedArc<Counters>,
}

impl TopicStats {
    fn counters(&mut self, topic: &str) -> ErasedArc<Counters> {
        if let Some(counters) = self.topics.get(topic) {
            return ErasedArc::clone(counters);
        }
        if self.topics.len() >= MAX_COUNTED {
            return ErasedArc::clone(&self.others);
        }
        let counters = ErasedArc::new(Counters::with_at_most(TOPIC_SHARDS));
        self.topics
            .insert(topic.into(), ErasedArc::clone(&counters));
        counters
    }
}

struct Subscriber<T: 'static> {
    pattern: Pattern,
    callback: Callback<T>,
    /// Cleared by `unsubscribe`: cached signals that still hold the
    /// listener skip it from then on.
    active: AtomicBool,
    /// The topics' count of panics caught while dropping closures.
    drop_panics: ErasedArc<AtomicU64>,
}

impl<T: 'static> Drop for Subscriber<T> {
    /// The last reference to a subscriber can go on any thread that held
    /// one: a write, or an emit whose cached entry was evicted meanwhile.
    /// Its closure's `Drop` is user code, so a panic there is caught and
    /// counted, never unwinding out of that unrelated call.
    fn drop(&mut self) {
        // A no-op closure is zero-sized: boxing it allocates nothing.
        let callback = std::mem::replace(&mut self.callback, Box::new(|_: &str, _: &T| {}));
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(callback))) {
            // Relaxed: a statistic.
            self.drop_panics.fetch_add(1, Ordering::Relaxed);
            crate::async_signal::dispose(payload);
        }
    }
}

/// A subscription made by [`Topics::subscribe`]; dropping it does not
/// unsubscribe.
///
/// # Examples
///
/// ```
/// # use sigwire::bus::Topics;
/// let topics = Topics::<()>::new();
/// let sub = topics.subscribe("a.b", |_: &str, _: &()| panic!("unsubscribed")).unwrap();
/// assert!(sub.unsubscribe());
/// topics.emit("a.b", &()).unwrap();
/// ```
pub struct Subscription<T: 'static> {
    subscriber: ErasedArc<Subscriber<T>>,
    topics: std::sync::Weak<Inner<T>>,
}

impl<T: 'static> Topics<T> {
    /// No subscriptions.
    ///
    /// # Examples
    ///
    /// ```
    /// let topics = sigwire::bus::Topics::<String>::new();
    /// assert_eq!(topics.subscription_count(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            inner: ErasedArc::new(Inner {
                cache: Cache::new(),
                subscribers: ArcSwap::new(Arc::new(Subscribers {
                    list: Vec::new(),
                    counted: false,
                })),
                generation: AtomicU64::new(0),
                state: Mutex::new(State {
                    cached: Ledger::new(),
                    stats: None,
                }),
                drop_panics: ErasedArc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// Subscribes `f` to every topic `pattern` matches. It is called with
    /// the topic and the event, after the subscriptions made before it.
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
    /// assert!(topics.subscribe("orders.*.filled", |_: &str, _: &u8| {}).is_ok());
    /// let err = topics.subscribe("orders..filled", |_: &str, _: &u8| {}).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid topic pattern \"orders..filled\": empty segment");
    /// ```
    pub fn subscribe<F>(&self, pattern: &str, f: F) -> Result<Subscription<T>, PatternError>
    where
        F: Fn(&str, &T) + Send + Sync + 'static,
    {
        let pattern = Pattern::parse(pattern)?;
        let subscriber = ErasedArc::new(Subscriber {
            pattern,
            callback: Box::new(f),
            active: AtomicBool::new(true),
            drop_panics: ErasedArc::clone(&self.inner.drop_panics),
        });
        let mut state = sync::lock(&self.inner.state);
        let retired = self.inner.change(&mut state, |subscribers| {
            subscribers.list.push(ErasedArc::clone(&subscriber));
        });
        drop(state);
        drop(retired);
        Ok(Subscription {
            subscriber,
            topics: ErasedArc::downgrade(&self.inner),
        })
    }

    /// Calls every listener whose pattern matches `topic`, in subscription
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
        let hash = topic_cache::hash(topic);
        if let Some(()) = self.inner.cache.get(hash, topic, |r| r.emit(event)) {
            return Ok(());
        }
        self.inner.miss(topic, hash, event)
    }

    /// A handle for emitting on one topic from a hot loop: it keeps the
    /// topic's resolved signal and checks one counter per emit, so it costs
    /// no hash look-up. It sees subscriptions made anywhere.
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
    /// trades.emit(&1); // nobody subscribed yet
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// topics.subscribe("market.*.trade", move |_: &str, v: &u64| { s.fetch_add(*v, Ordering::Relaxed); }).unwrap();
    /// for v in 0..10 {
    ///     trades.emit(&v);
    /// }
    /// assert_eq!(sum.load(Ordering::Relaxed), 45);
    /// ```
    pub fn publisher(&self, topic: &str) -> Result<Publisher<T>, TopicError> {
        check_topic(topic)?;
        let (resolved, generation) = self.inner.resolve(topic, topic_cache::hash(topic));
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
        sync::lock(&self.inner.state).cached.len()
    }

    /// How many panics were caught while dropping subscribers' closures. A
    /// subscriber's closure is dropped where its last reference goes: its
    /// [`Subscription`]'s drop, a subscription change that published a
    /// list without it, or an emit (or a [`Publisher`] refreshing) whose
    /// cached topic was replaced while it ran. A panicking `Drop` there is
    /// caught and counted here, so it never unwinds out of that call.
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
    /// let sub = topics.subscribe(">", move |_: &str, _: &u8| { let _ = &bomb; }).unwrap();
    /// sub.unsubscribe();
    /// drop(sub); // the last reference: the closure's panic is caught
    /// assert_eq!(topics.error_count(), 1);
    /// ```
    pub fn error_count(&self) -> u64 {
        // Relaxed: a statistic.
        self.inner.drop_panics.load(Ordering::Relaxed)
    }

    /// How many subscriptions are active.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// let sub = topics.subscribe(">", |_: &str, _: &u8| {}).unwrap();
    /// assert_eq!(topics.subscription_count(), 1);
    /// sub.unsubscribe();
    /// assert_eq!(topics.subscription_count(), 0);
    /// ```
    pub fn subscription_count(&self) -> usize {
        self.inner.subscribers.load().list.len()
    }

    /// Turns on per-topic delivery counters (a second call does nothing).
    /// Off by default. Each topic counts in [`Stats`], events and
    /// deliveries (one event to one subscriber) apart: `emitted` counts its
    /// emits (an emit that no subscriber matched too: it is emitted, with
    /// no delivery, as the spec counts an event nobody receives),
    /// `delivered` the subscriber calls that returned and `panicked` those
    /// that panicked (the panic unwinds out of the emit, and the later
    /// subscribers are not called). So an emit that reaches 3 subscribers
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
    /// topics.subscribe("orders.*", |_: &str, _: &u32| {}).unwrap();
    /// topics.subscribe("orders.>", |_: &str, _: &u32| {}).unwrap();
    /// topics.emit("orders.new", &1).unwrap();
    /// topics.emit("orders.new", &2).unwrap();
    /// topics.emit("users.new", &3).unwrap(); // nobody listens
    ///
    /// let orders = topics.topic_stats("orders.new").unwrap();
    /// assert_eq!((orders.emitted, orders.delivered), (2, 4)); // 2 events, 2 subscribers each
    /// let users = topics.topic_stats("users.new").unwrap();
    /// assert_eq!((users.emitted, users.delivered, users.rejected), (1, 0, 0));
    /// assert_eq!(topics.topic_stats("never.used"), None);
    /// assert_eq!(topics.stats().emitted, 3);
    /// let by_topic = topics.stats_by_topic();
    /// assert_eq!(by_topic[0].0, "orders.new");
    /// ```
    pub fn enable_stats(&self) {
        let mut state = sync::lock(&self.inner.state);
        if state.stats.is_some() {
            return;
        }
        state.stats = Some(TopicStats {
            topics: HashMap::new(),
            others: ErasedArc::new(Counters::with_at_most(usize::MAX)),
        });
        // Topics resolved from now on carry their counters.
        let retired = self
            .inner
            .change(&mut state, |subscribers| subscribers.counted = true);
        drop(state);
        drop(retired);
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
        let state = sync::lock(&self.inner.state);
        let counters = state
            .stats
            .as_ref()
            .and_then(|s| s.topics.get(topic).cloned());
        drop(state);
        counters.map(|c| c.read())
    }

    /// Every counted topic's counters, sorted by topic (topics past the
    /// first 4 096 are added up under `"*"`).
    ///
    /// # Examples
    ///
    /// See [`enable_stats`](Self::enable_stats).
    pub fn stats_by_topic(&self) -> Vec<(String, Stats)> {
        let state = sync::lock(&self.inner.state);
        let Some(stats) = &state.stats else {
            return Vec::new();
        };
        let mut counters: Vec<(String, ErasedArc<Counters>)> = stats
            .topics
            .iter()
            .map(|(topic, c)| (topic.to_string(), ErasedArc::clone(c)))
            .collect();
        counters.push(("*".to_string(), ErasedArc::clone(&stats.others)));
        drop(state);
        let mut by_topic: Vec<(String, Stats)> = counters
            .into_iter()
            .map(|(topic, c)| (topic, c.read()))
            .filter(|(topic, s)| topic != "*" || *s != Stats::default())
            .collect();
        by_topic.sort_by(|a, b| a.0.cmp(&b.0));
        by_topic
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

impl<T: 'static> Inner<T> {
    /// Publishes the subscribers as `edit` changes them and empties the
    /// cache; call with the subscriber lock held (`state`), and drop what
    /// it returns after releasing the lock.
    #[must_use]
    fn change(&self, state: &mut State, edit: impl FnOnce(&mut Subscribers<T>)) -> Retired<T> {
        let current = self.subscribers.load();
        let mut next = Subscribers {
            list: current.list.clone(),
            counted: current.counted,
        };
        drop(current);
        edit(&mut next);
        let old = self.subscribers.swap(Arc::new(next));
        // Release: a publisher that reads the new generation (Acquire)
        // resolves again, and sees the subscribers published above.
        self.generation.fetch_add(1, Ordering::Release);
        (old, self.cache.clear(&mut state.cached))
    }

    /// An emit on `topic` (whose hash is `hash`) that missed the cache. A
    /// miss the cache admits resolves and caches the topic under the lock;
    /// another (most misses, once the topic's bucket is full) matches the
    /// published subscribers without the lock, allocating nothing.
    #[inline(never)]
    fn miss(&self, topic: &str, hash: u64, event: &T) -> Result<(), TopicError> {
        check_topic(topic)?;
        let subscribers = self.subscribers.load();
        if subscribers.counted || self.cache.admits(hash) {
            drop(subscribers);
            self.resolve(topic, hash).0.emit(event);
            return Ok(());
        }
        for subscriber in subscribers.list.iter() {
            // Acquire: as in `Resolved::emit`.
            if subscriber.pattern.matches(topic) && subscriber.active.load(Ordering::Acquire) {
                (subscriber.callback)(topic, event);
            }
        }
        Ok(())
    }

    /// Resolves (under the subscriber lock) the subscribers of `topic`
    /// (checked by `check_topic`), whose hash is `hash`, and caches them.
    /// Also returns the generation they are current for.
    #[cold]
    fn resolve(&self, topic: &str, hash: u64) -> (Arc<Resolved<T>>, u64) {
        let mut state = sync::lock(&self.state);
        // Relaxed: the lock orders it with every invalidation.
        let generation = self.generation.load(Ordering::Relaxed);
        if let Some(resolved) = self.cache.get(hash, topic, Arc::clone) {
            // Another thread resolved it.
            return (resolved, generation);
        }
        let resolved = Arc::new(Resolved {
            topic: topic.into(),
            subscribers: self
                .subscribers
                .load()
                .list
                .iter()
                .filter(|s| s.pattern.matches(topic))
                .cloned()
                .collect(),
            stats: state.stats.as_mut().map(|stats| stats.counters(topic)),
        });
        let evicted = self.cache.insert(&mut state.cached, hash, &resolved);
        drop(state);
        drop(evicted); // after the lock, as in `change`
        (resolved, generation)
    }
}

impl<T: 'static> Subscription<T> {
    /// Stops the subscription: no emit that starts afterwards calls it.
    /// `true` if it was active.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// let sub = topics.subscribe("x", |_: &str, _: &u8| {}).unwrap();
    /// assert!(sub.unsubscribe());
    /// assert!(!sub.unsubscribe());
    /// ```
    pub fn unsubscribe(&self) -> bool {
        // AcqRel: the swap decides which caller unsubscribes; Release pairs
        // with the listeners' Acquire load.
        let was_active = self.subscriber.active.swap(false, Ordering::AcqRel);
        if let Some(inner) = self.topics.upgrade() {
            let mut state = sync::lock(&inner.state);
            let retired = inner.change(&mut state, |subscribers| {
                subscribers
                    .list
                    .retain(|s| !ErasedArc::ptr_eq(s, &self.subscriber));
            });
            drop(state);
            drop(retired);
        }
        was_active
    }

    /// The pattern this subscription was made with.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u8>::new();
    /// let sub = topics.subscribe("a.*.c", |_: &str, _: &u8| {}).unwrap();
    /// assert_eq!(sub.pattern(), "a.*.c");
    /// ```
    pub fn pattern(&self) -> &str {
        &self.subscriber.pattern.text
    }
}

/// A handle for one topic's hot loop; see [`Topics::publisher`].
pub struct Publisher<T: 'static> {
    inner: ErasedArc<Inner<T>>,
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
        // Acquire: pairs with `invalidate`; a newer generation means the
        // subscriptions changed, and the resolve below sees them.
        if self.inner.generation.load(Ordering::Acquire) != self.generation {
            self.refresh();
        }
        self.resolved.emit(event);
    }

    #[cold]
    fn refresh(&mut self) {
        // The topic was checked when the publisher was made.
        let topic = &self.resolved.topic;
        (self.resolved, self.generation) = self.inner.resolve(topic, topic_cache::hash(topic));
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

/// A parsed subscription pattern.
struct Pattern {
    text: Box<str>,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(Box<str>),
    /// `*`: exactly one segment.
    One,
    /// `>`: one or more remaining segments (last only).
    Rest,
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, PatternError> {
        let error = |reason| PatternError {
            pattern: text.into(),
            reason,
        };
        if text.is_empty() {
            return Err(error("empty pattern"));
        }
        let parts: Vec<&str> = text.split('.').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (at, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "" => return Err(error("empty segment")),
                "*" => Segment::One,
                ">" if at + 1 == parts.len() => Segment::Rest,
                ">" => return Err(error("`>` must be the last segment")),
                _ if part.contains(['*', '>']) => {
                    return Err(error("a wildcard must be a whole segment"));
                }
                literal => Segment::Literal(literal.into()),
            });
        }
        Ok(Self {
            text: text.into(),
            segments,
        })
    }

    /// Whether `topic` (one that `check_topic` accepts) matches. It walks
    /// the topic's bytes without splitting them: a miss on the cache
    /// matches every pattern.
    fn matches(&self, topic: &str) -> bool {
        // The segments not matched yet; `None` once all are.
        let mut rest = Some(topic.as_bytes());
        for segment in &self.segments {
            let Some(bytes) = rest else {
                return false; // the pattern is longer
            };
            let end = match segment {
                // One or more segments remain (none is empty).
                Segment::Rest => return true,
                Segment::One => bytes.iter().position(|b| *b == b'.'),
                Segment::Literal(literal) => {
                    let literal = literal.as_bytes();
                    match bytes.get(literal.len()) {
                        _ if !bytes.starts_with(literal) => return false,
                        None => None,
                        Some(b'.') => Some(literal.len()),
                        Some(_) => return false, // a longer segment
                    }
                }
            };
            rest = end.map(|end| &bytes[end + 1..]);
        }
        rest.is_none()
    }
}

/// Why `topic` is not a topic, if it is not (an empty segment is reported
/// before a wildcard). One pass over the bytes: a miss checks every topic
/// it emits on.
fn check_topic(topic: &str) -> Result<(), TopicError> {
    let error = |reason| {
        Err(TopicError {
            topic: topic.into(),
            reason,
        })
    };
    if topic.is_empty() {
        return error("empty topic");
    }
    let (mut after_dot, mut wildcard) = (true, false);
    for byte in topic.bytes() {
        match byte {
            b'.' if after_dot => return error("empty segment"),
            b'*' | b'>' => wildcard = true,
            _ => {}
        }
        after_dot = byte == b'.';
    }
    if after_dot {
        return error("empty segment");
    }
    if wildcard {
        return error("wildcards belong in patterns, not in topics");
    }
    Ok(())
}

/// [`Topics::subscribe`] was given a pattern it cannot parse.
///
/// # Examples
///
/// ```
/// # use sigwire::bus::Topics;
/// let topics = Topics::<u8>::new();
/// let err = topics.subscribe("a.>.b", |_: &str, _: &u8| {}).unwrap_err();
/// assert_eq!(err.pattern(), "a.>.b");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pattern: Box<str>,
    reason: &'static str,
}

impl PatternError {
    /// The pattern as given.
    ///
    /// # Examples
    ///
    /// See [`PatternError`].
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid topic pattern {:?}: {}",
            self.pattern, self.reason
        )
    }
}

impl Error for PatternError {}

/// [`Topics::emit`] was given a topic that is not a plain dotted name.
///
/// # Examples
///
/// ```
/// # use sigwire::bus::Topics;
/// let topics = Topics::<u8>::new();
/// let err = topics.emit("a.*", &1).unwrap_err();
/// assert_eq!(err.topic(), "a.*");
/// assert_eq!(err.to_string(), "invalid topic \"a.*\": wildcards belong in patterns, not in topics");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    topic: Box<str>,
    reason: &'static str,
}

impl TopicError {
    /// The topic as given.
    ///
    /// # Examples
    ///
    /// See [`TopicError`].
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid topic {:?}: {}", self.topic, self.reason)
    }
}

impl Error for TopicError {}

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
            .field("subscriptions", &self.subscription_count())
            .field("cached_topics", &self.cached_topics())
            .finish()
    }
}

impl<T: 'static> fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("pattern", &self.pattern())
            .field("active", &self.subscriber.active.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::Pattern;

    fn matches(pattern: &str, topic: &str) -> bool {
        super::check_topic(topic).unwrap();
        Pattern::parse(pattern).unwrap().matches(topic)
    }

    #[test]
    fn the_nats_grammar() {
        for (pattern, topic, expected) in [
            ("a.b", "a.b", true),
            ("a.b", "a.c", false),
            ("a.b", "a.b.c", false),
            ("a.*", "a.b", true),
            ("a.*", "a", false),
            ("a.*", "a.b.c", false),
            ("*.b", "x.b", true),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c.d", true),
            ("a.>", "a", false),
            (">", "a", true),
            (">", "a.b", true),
            ("*", "a", true),
            ("*", "a.b", false),
            ("a.*.c.>", "a.x.c.d", true),
            ("a.*.c.>", "a.x.c", false),
        ] {
            assert_eq!(matches(pattern, topic), expected, "{pattern} vs {topic}");
        }
    }

    #[test]
    fn invalid_patterns() {
        for (pattern, reason) in [
            ("", "empty pattern"),
            ("a..b", "empty segment"),
            (".a", "empty segment"),
            ("a.", "empty segment"),
            ("a.>.b", "`>` must be the last segment"),
            ("a*", "a wildcard must be a whole segment"),
            ("a.b>", "a wildcard must be a whole segment"),
        ] {
            let Err(error) = Pattern::parse(pattern) else {
                panic!("{pattern:?} parsed");
            };
            assert_eq!(error.reason, reason, "{pattern:?}");
        }
    }
}
