//! `Topics<T>`: events on dot-separated topic strings, with NATS-style
//! wildcard subscriptions, each topic's listeners resolved once and cached.

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::AtomicBool;

use crate::Stats;
use crate::stats::{Counters, Counting, Outcome};
use crate::sync::{self, Arc, ArcSwap, AtomicU64, ErasedArc, Mutex, Ordering};

/// A subscriber's callback: the topic, then the event.
type Callback<T> = ErasedArc<dyn Fn(&str, &T) + Send + Sync + 'static>;

/// How many topics the cache holds before it starts over.
const MAX_CACHED: usize = 1024;

/// How many topics get counters of their own; later ones share one set.
const MAX_COUNTED: usize = 4096;

/// At most this many counter shards per topic (a signal may have up to 64):
/// topics are many, and each shard is a cache line.
const TOPIC_SHARDS: usize = 8;

/// Topic name → every subscriber whose pattern matches it.
type Cache<T> = HashMap<Box<str>, ErasedArc<Resolved<T>>, BuildHasherDefault<Fx>>;

/// One topic's subscribers, resolved once: an emit calls them in order.
struct Resolved<T: 'static> {
    /// The topic, as handed to the callbacks.
    topic: ErasedArc<str>,
    subscribers: Box<[ErasedArc<Subscriber<T>>]>,
    /// The topic's counters, once `Topics::enable_stats` was called.
    stats: Option<ErasedArc<Counters>>,
}

impl<T: 'static> Resolved<T> {
    #[inline]
    fn emit(&self, event: &T) {
        if let Some(counters) = &self.stats {
            return self.emit_counted(counters, event);
        }
        self.call(event);
    }

    #[inline]
    fn call(&self, event: &T) {
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
        if self.subscribers.is_empty() {
            counters.add(Outcome::Rejected); // nobody subscribed: dropped
            return;
        }
        let counting = Counting::new(counters);
        self.call(event);
        counting.end(Outcome::Delivered);
    }
}

/// A multiply-rotate hash over 8 bytes at a time (the scheme of rustc's
/// FxHash): topic names are short, and SipHash (std's default, built to
/// resist collision attacks) costs more than the rest of a cached emit.
/// Topic names come from the program, not from an adversary.
#[derive(Default)]
struct Fx(u64);

impl Fx {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let word = |at: usize| {
            let mut word = [0; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        if bytes.len() >= 8 {
            let mut at = 0;
            while at + 8 <= bytes.len() {
                self.mix(word(at));
                at += 8;
            }
            if at < bytes.len() {
                // The last 8 bytes, overlapping the previous word: no
                // byte-by-byte tail.
                self.mix(word(bytes.len() - 8));
            }
        } else {
            let mut tail = 0u64;
            for (i, byte) in bytes.iter().enumerate() {
                tail |= u64::from(*byte) << (8 * i);
            }
            self.mix(tail);
        }
    }

    #[inline]
    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
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
/// invalidate the cache.
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
    cache: ArcSwap<Cache<T>>,
    /// Bumped (under the subscriber lock) by every invalidation, so that a
    /// [`Publisher`] knows when its resolved signal is stale.
    generation: AtomicU64,
    /// Subscribers in subscription order, and the per-topic counters;
    /// resolving and invalidating the cache happen under this lock, so a
    /// resolved topic never misses a subscriber that was added before the
    /// cache was cleared.
    state: Mutex<State<T>>,
}

struct State<T: 'static> {
    subscribers: Vec<ErasedArc<Subscriber<T>>>,
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
                cache: ArcSwap::new(Arc::new(Cache::default())),
                generation: AtomicU64::new(0),
                state: Mutex::new(State {
                    subscribers: Vec::new(),
                    stats: None,
                }),
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
            callback: ErasedArc::new(f),
            active: AtomicBool::new(true),
        });
        let mut state = sync::lock(&self.inner.state);
        state.subscribers.push(ErasedArc::clone(&subscriber));
        let old = self.inner.invalidate();
        drop(state);
        drop(old);
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
        if let Some(resolved) = self.inner.cache.load().get(topic) {
            resolved.emit(event);
            return Ok(());
        }
        self.inner.resolve(topic)?.0.emit(event);
        Ok(())
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
        let (resolved, generation) = self.inner.resolve(topic)?;
        Ok(Publisher {
            inner: ErasedArc::clone(&self.inner),
            resolved,
            generation,
        })
    }

    /// How many topics have their listener set cached (at most 1 024).
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
        self.inner.cache.load().len()
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
        sync::lock(&self.inner.state).subscribers.len()
    }

    /// Turns on per-topic delivery counters (a second call does nothing).
    /// Off by default. Each topic counts in [`Stats`]: `delivered` emits
    /// that called its subscribers and returned, `rejected` emits that no
    /// subscriber matched (dropped), `panicked` emits a subscriber's panic
    /// unwound out of; `emitted` is their sum. The first 4 096 topics seen
    /// get counters of their own; later topics share one set, reported
    /// under the topic `"*"`.
    ///
    /// The counters are sharded by thread (one cache line per shard, at
    /// most 8 shards per topic: up to 1 KiB per counted topic), so emitting
    /// threads rarely contend on them.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Topics;
    /// let topics = Topics::<u32>::new();
    /// topics.enable_stats();
    /// topics.subscribe("orders.*", |_: &str, _: &u32| {}).unwrap();
    /// topics.emit("orders.new", &1).unwrap();
    /// topics.emit("orders.new", &2).unwrap();
    /// topics.emit("users.new", &3).unwrap(); // nobody listens
    ///
    /// assert_eq!(topics.topic_stats("orders.new").unwrap().delivered, 2);
    /// assert_eq!(topics.topic_stats("users.new").unwrap().rejected, 1);
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
            others: ErasedArc::new(Counters::new()),
        });
        // Topics resolved from now on carry their counters.
        let old = self.inner.invalidate();
        drop(state);
        drop(old);
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
    /// Empties the cache; call with the subscriber lock held, and drop what
    /// it returns after releasing the lock (the old topics' signals hold
    /// listener closures, whose drop is user code).
    #[must_use]
    fn invalidate(&self) -> Arc<Cache<T>> {
        // Release: a publisher that reads the new generation (Acquire)
        // resolves again and sees the subscriber list this lock guards.
        self.generation.fetch_add(1, Ordering::Release);
        self.cache.swap(Arc::new(Cache::default()))
    }

    /// Resolves (under the subscriber lock) the subscribers of `topic` and
    /// caches them. Also returns the generation they are current for.
    #[cold]
    fn resolve(&self, topic: &str) -> Result<(ErasedArc<Resolved<T>>, u64), TopicError> {
        check_topic(topic)?;
        let mut state = sync::lock(&self.state);
        // Relaxed: the lock orders it with every invalidation.
        let generation = self.generation.load(Ordering::Relaxed);
        let cache = self.cache.load();
        if let Some(resolved) = cache.get(topic) {
            // Another thread resolved it.
            return Ok((ErasedArc::clone(resolved), generation));
        }
        let segments: Vec<&str> = topic.split('.').collect();
        let resolved = ErasedArc::new(Resolved {
            topic: ErasedArc::from(topic),
            subscribers: state
                .subscribers
                .iter()
                .filter(|s| s.pattern.matches(&segments))
                .cloned()
                .collect(),
            stats: state.stats.as_mut().map(|stats| stats.counters(topic)),
        });
        // Past `MAX_CACHED` topics (many distinct topic names, such as one
        // per user), start over rather than grow without bound.
        let mut next = if cache.len() < MAX_CACHED {
            Cache::<T>::clone(&cache)
        } else {
            Cache::<T>::default()
        };
        next.insert(topic.into(), ErasedArc::clone(&resolved));
        let old = self.cache.swap(Arc::new(next));
        drop(state);
        drop(old); // after the lock, as in `invalidate`
        Ok((resolved, generation))
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
            state
                .subscribers
                .retain(|s| !ErasedArc::ptr_eq(s, &self.subscriber));
            let old = inner.invalidate();
            drop(state);
            drop(old);
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
    resolved: ErasedArc<Resolved<T>>,
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
        let topic = ErasedArc::clone(&self.resolved.topic);
        if let Ok((resolved, generation)) = self.inner.resolve(&topic) {
            self.resolved = resolved;
            self.generation = generation;
        }
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

    fn matches(&self, topic: &[&str]) -> bool {
        let mut at = 0;
        for segment in &self.segments {
            match segment {
                Segment::Rest => return topic.len() > at,
                Segment::One if at < topic.len() => {}
                Segment::Literal(literal) if topic.get(at) == Some(&&**literal) => {}
                _ => return false,
            }
            at += 1;
        }
        at == topic.len()
    }
}

fn check_topic(topic: &str) -> Result<(), TopicError> {
    let error = |reason| TopicError {
        topic: topic.into(),
        reason,
    };
    if topic.is_empty() {
        return Err(error("empty topic"));
    }
    if topic.split('.').any(str::is_empty) {
        return Err(error("empty segment"));
    }
    if topic.contains(['*', '>']) {
        return Err(error("wildcards belong in patterns, not in topics"));
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
        let segments: Vec<&str> = topic.split('.').collect();
        Pattern::parse(pattern).unwrap().matches(&segments)
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
