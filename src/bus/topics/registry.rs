//! Who is subscribed to what: the subscriber list (published copy-on-write),
//! each topic's subscribers resolved from it and cached, the generation a
//! [`Publisher`](super::Publisher) checks, and the per-topic counters. The
//! cache table itself is in `cache.rs`; the orderings are in
//! `docs/ordering.md` ("The bus", `Topics`).

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::cache::{self, Cache, Ledger};
use super::pattern::{Pattern, TopicError, check_topic};
use crate::Stats;
use crate::base::handle::Handle;
use crate::base::record::{self, READS_NONE, READS_UNKNOWN, Recorded};
#[cfg(loom)]
use crate::base::retire::Liveness;
use crate::base::retire::{Retirable, Retired, Scan};
use crate::base::state::StateWord;
use crate::base::{next_id, next_signal_id};
use crate::error::WouldDeadlock;
use crate::stats::{Counters, Counting};
use crate::sync::{self, Arc, ArcSwap, AtomicU64, AtomicUsize, ErasedArc, Mutex, Ordering};

/// A subscriber's callback: the topic, then the event.
pub(super) type Callback<T> = Box<dyn Fn(&str, &T) + Send + Sync + 'static>;

/// How many topics get counters of their own; later ones share one set.
const MAX_COUNTED: usize = 4096;

/// At most this many counter shards per topic (a signal may have up to 64):
/// topics are many, and each shard is a cache line.
const TOPIC_SHARDS: usize = 8;

/// One topic's subscribers, resolved once: an emit calls them in order.
pub(super) struct Resolved<T: 'static> {
    /// The topic, as handed to the callbacks.
    pub(super) topic: Box<str>,
    pub(super) subscribers: Box<[ErasedArc<Subscriber<T>>]>,
    /// The topic's counters, once `Topics::enable_stats` was called.
    stats: Option<ErasedArc<Counters>>,
    /// Under loom, written when the entry is reclaimed (see `Liveness`).
    #[cfg(loom)]
    live: Liveness,
}

impl<T: 'static> Retirable for Resolved<T> {
    #[cfg(loom)]
    fn bury(&self) {
        self.live.bury();
    }
}

impl<T: 'static> cache::Entry for Resolved<T> {
    #[cfg(loom)]
    fn check_live(&self) {
        self.live
            .check("an emit read a cached topic after it was reclaimed");
    }
}

impl<T: 'static> AsRef<str> for Resolved<T> {
    fn as_ref(&self) -> &str {
        &self.topic
    }
}

impl<T: 'static> Resolved<T> {
    /// [`emit`](Self::emit), out of line: inlined into `Topics::emit`, the
    /// loop loses a register to the look-up around it and costs 2 more
    /// instructions per listener.
    #[inline(never)]
    pub(super) fn emit_outlined(&self, event: &T) {
        self.emit(event);
    }

    #[inline]
    pub(super) fn emit(&self, event: &T) {
        if let Some(counters) = &self.stats {
            return self.emit_counted(counters, event);
        }
        for subscriber in self.subscribers.iter() {
            // The word is 0 while the subscriber is connected and not
            // blocked; the caller recorded this emit (`Registry::enter`),
            // which orders the load with `disconnect_wait` as a signal's.
            if subscriber.state.get() == 0 {
                (subscriber.callback)(&self.topic, event);
            }
        }
        // Under loom, the entry must still be live after its listeners ran
        // (a hit reads it raw until it returns).
        #[cfg(loom)]
        cache::Entry::check_live(self);
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
            // As in `emit`.
            if subscriber.state.get() == 0 {
                (subscriber.callback)(&self.topic, event);
                counting.returned();
            }
        }
        counting.finish();
    }
}

/// What a `Topics` and its handles share.
pub(super) struct Registry<T: 'static> {
    pub(super) cache: Cache<Resolved<T>>,
    /// The subscribers, published copy-on-write under the subscriber lock:
    /// a miss the cache does not admit reads them without the lock.
    subscribers: ArcSwap<Subscribers<T>>,
    /// Bumped (under the subscriber lock) by every invalidation, so that a
    /// [`Publisher`] knows when its resolved signal is stale.
    pub(super) generation: AtomicU64,
    /// The cache's book-keeping and the per-topic counters; publishing
    /// subscribers, caching and invalidating happen under this lock, so a
    /// cached topic never misses a subscriber that was added before the
    /// cache was cleared.
    state: Mutex<State<T>>,
    /// Panics caught while dropping subscribers' closures, and in a topic
    /// subscription's copy of an event (see [`Topics::error_count`]).
    pub(super) drop_panics: ErasedArc<AtomicU64>,
    /// The id under which emits are recorded as running (`record`), so that
    /// `disconnect_wait` can wait for them, as a signal's id.
    id: u64,
    /// Emits nested too deep for the thread's record (`record::enter`).
    overflow: AtomicUsize,
}

struct Subscribers<T: 'static> {
    /// In subscription order.
    list: Vec<ErasedArc<Subscriber<T>>>,
    /// Whether `enable_stats` was called: a miss then resolves under the
    /// lock, which holds the counters.
    counted: bool,
}

/// What a subscription change freed: to be dropped after the lock is
/// released (the subscribers' closures are user code).
type Garbage<T> = (Arc<Subscribers<T>>, Vec<Arc<Resolved<T>>>);

/// Evicted entries await a scan once this many did (a scan costs a heavy
/// barrier; an eviction frees no closure the program waits for). Under
/// loom, every eviction scans, so that the models reclaim evicted entries
/// while emits may read them.
#[cfg(not(loom))]
const EVICTED_SCAN_AFTER: usize = 64;
#[cfg(loom)]
const EVICTED_SCAN_AFTER: usize = 1;

struct State<T: 'static> {
    cached: Ledger<Resolved<T>>,
    /// Cache entries replaced or cleared, until no emit can read them.
    retired: Retired<Resolved<T>>,
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

pub(super) struct Subscriber<T: 'static> {
    /// The `Connection`'s id.
    id: u64,
    pub(super) pattern: Pattern,
    callback: Callback<T>,
    /// 0 while connected and not blocked, as a signal's slot; set
    /// disconnected first, so that cached resolved topics that still hold
    /// the subscriber skip it from then on.
    state: StateWord,
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
            crate::unwind::dispose(payload);
        }
    }
}

impl<T: 'static> Registry<T> {
    pub(super) fn new() -> Self {
        Self {
            cache: Cache::new(),
            subscribers: ArcSwap::new(Arc::new(Subscribers {
                list: Vec::new(),
                counted: false,
            })),
            generation: AtomicU64::new(0),
            state: Mutex::new(State {
                cached: Ledger::new(),
                // Scans never wait for a later write here: a disconnect frees
                // the entries (and closures) no running emit reads at once,
                // as `tests/topics_cache.rs` checks; topic writes are rarer
                // than a signal's churn.
                retired: Retired::new(EVICTED_SCAN_AFTER, false),
                stats: None,
            }),
            drop_panics: ErasedArc::new(AtomicU64::new(0)),
            id: next_signal_id(),
            overflow: AtomicUsize::new(0),
        }
    }

    /// Records an emit as running on this thread until the guard drops;
    /// it may read a cache entry through its raw pointer (`Cache::get`).
    #[inline(always)]
    pub(super) fn enter(&self) -> Recorded<'_> {
        record::enter(self.id, &self.overflow, READS_UNKNOWN)
    }

    /// Records an emit that holds what it reads by reference count (a
    /// `Publisher`'s).
    #[inline(always)]
    pub(super) fn enter_holding(&self) -> Recorded<'_> {
        record::enter(self.id, &self.overflow, READS_NONE)
    }

    /// Adds a subscriber after the others, and returns it.
    pub(super) fn connect(
        &self,
        pattern: Pattern,
        callback: Callback<T>,
    ) -> ErasedArc<Subscriber<T>> {
        let subscriber = ErasedArc::new(Subscriber {
            id: next_id(),
            pattern,
            callback,
            state: StateWord::new(false),
            drop_panics: ErasedArc::clone(&self.drop_panics),
        });
        let mut state = sync::lock(&self.state);
        let retired = self.change(&mut state, |subscribers| {
            subscribers.list.push(ErasedArc::clone(&subscriber));
        });
        drop(state);
        drop(retired);
        subscriber
    }

    /// Removes `subscriber` from the list (its state word is the caller's).
    pub(super) fn remove(&self, subscriber: &ErasedArc<Subscriber<T>>) {
        let mut state = sync::lock(&self.state);
        let retired = self.change(&mut state, |subscribers| {
            subscribers
                .list
                .retain(|s| !ErasedArc::ptr_eq(s, subscriber));
        });
        drop(state);
        drop(retired);
    }

    pub(super) fn len(&self) -> usize {
        self.subscribers.load().list.len()
    }

    pub(super) fn cached_topics(&self) -> usize {
        sync::lock(&self.state).cached.len()
    }

    pub(super) fn error_count(&self) -> u64 {
        // Relaxed: a statistic.
        self.drop_panics.load(Ordering::Relaxed)
    }

    /// Publishes the subscribers as `edit` changes them and empties the
    /// cache (retiring its entries, and freeing those no emit can read);
    /// call with the subscriber lock held (`state`), and drop what it
    /// returns after releasing the lock.
    #[must_use]
    fn change(&self, state: &mut State<T>, edit: impl FnOnce(&mut Subscribers<T>)) -> Garbage<T> {
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
        for (entry, key) in self.cache.clear(&mut state.cached) {
            state.retired.retire(entry, key);
        }
        let mut garbage = Vec::new();
        // A scan now: the change may have removed closures.
        state.retired.reclaim(self.id, Scan::Soon, &mut garbage);
        (old, garbage)
    }

    /// An emit on `topic` (whose hash is `hash`) that missed the cache. A
    /// miss the cache admits resolves and caches the topic under the lock;
    /// another (most misses, once the topic's bucket is full) matches the
    /// published subscribers without the lock, allocating nothing.
    #[inline(never)]
    pub(super) fn miss(&self, topic: &str, hash: u64, event: &T) -> Result<(), TopicError> {
        check_topic(topic)?;
        let subscribers = self.subscribers.load();
        if subscribers.counted || self.cache.admits(hash) {
            drop(subscribers);
            self.resolve(topic, hash).0.emit(event);
            return Ok(());
        }
        for subscriber in subscribers.list.iter() {
            // As in `Resolved::emit`.
            if subscriber.pattern.matches(topic) && subscriber.state.get() == 0 {
                (subscriber.callback)(topic, event);
            }
        }
        Ok(())
    }

    /// Resolves (under the subscriber lock) the subscribers of `topic`
    /// (checked by `check_topic`), whose hash is `hash`, and caches them.
    /// Also returns the generation they are current for.
    #[cold]
    pub(super) fn resolve(&self, topic: &str, hash: u64) -> (Arc<Resolved<T>>, u64) {
        let mut state = sync::lock(&self.state);
        // Relaxed: the lock orders it with every invalidation.
        let generation = self.generation.load(Ordering::Relaxed);
        if let Some(resolved) = self.cache.owned(&state.cached, hash, topic) {
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
            #[cfg(loom)]
            live: Liveness::new(),
        });
        let mut garbage = Vec::new();
        if let Some((evicted, key)) = self.cache.insert(&mut state.cached, hash, &resolved) {
            state.retired.retire(evicted, key);
            state.retired.reclaim(self.id, Scan::WhenDue, &mut garbage);
        }
        drop(state);
        drop(garbage); // after the lock, as in `change`
        (resolved, generation)
    }
}

impl<T: 'static> Registry<T> {
    /// Waits for the emits of these topics running on any thread (see
    /// `record::wait_for`).
    fn wait_for_emits(&self) -> Result<(), WouldDeadlock> {
        record::wait_for(self.id, &self.overflow)
    }
}

/// The handle behind a subscriber's `Connection`: weak references only, as
/// a signal's (`base::handle`), so a connection keeps neither the topics
/// nor the subscriber's closure alive. The references are std's in both
/// builds, as the `ErasedArc`s they come from.
pub(super) struct SubscriberHandle<T: 'static> {
    id: u64,
    registry: std::sync::Weak<Registry<T>>,
    subscriber: std::sync::Weak<Subscriber<T>>,
}

impl<T: 'static> SubscriberHandle<T> {
    pub(super) fn erased(
        registry: &ErasedArc<Registry<T>>,
        subscriber: &ErasedArc<Subscriber<T>>,
    ) -> ErasedArc<dyn Handle>
    where
        Self: Handle,
    {
        ErasedArc::new(Self {
            id: subscriber.id,
            registry: ErasedArc::downgrade(registry),
            subscriber: ErasedArc::downgrade(subscriber),
        })
    }

    /// Runs `f` on the subscriber, if it is still alive. The reference
    /// taken for it may turn out to be the last: `Subscriber`'s drop then
    /// catches and counts a panicking closure `Drop`.
    fn with_subscriber<R>(&self, f: impl FnOnce(&ErasedArc<Subscriber<T>>) -> R) -> Option<R> {
        self.subscriber.upgrade().map(|subscriber| f(&subscriber))
    }
}

impl<T: 'static> Handle for SubscriberHandle<T>
where
    Registry<T>: Send + Sync,
    Subscriber<T>: Send + Sync,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn disconnect(&self) -> bool {
        self.with_subscriber(|subscriber| {
            // Mark first: from here on no emit that has not reached the
            // subscriber calls it, even one holding an old resolved list.
            let was_connected = subscriber.state.mark_disconnected();
            match self.registry.upgrade() {
                Some(registry) => {
                    registry.remove(subscriber);
                    was_connected
                }
                None => false,
            }
        })
        .unwrap_or(false)
    }

    fn disconnect_wait(&self) -> Result<bool, WouldDeadlock> {
        let was_connected = self.disconnect();
        match self.registry.upgrade() {
            Some(registry) => registry.wait_for_emits().map(|()| was_connected),
            // The topics are gone, so no emit of them can be running.
            None => Ok(was_connected),
        }
    }

    fn is_connected(&self) -> bool {
        self.with_subscriber(|s| s.state.is_connected())
            .unwrap_or(false)
    }

    fn is_blocked(&self) -> bool {
        self.with_subscriber(|s| s.state.is_blocked())
            .unwrap_or(false)
    }

    fn block(&self) -> bool {
        self.with_subscriber(|s| s.state.block()).is_some()
    }

    fn unblock(&self) {
        self.with_subscriber(|s| s.state.unblock());
    }
}

// The per-topic counters (see `Topics::enable_stats`).
impl<T: 'static> Registry<T> {
    pub(super) fn enable_stats(&self) {
        let mut state = sync::lock(&self.state);
        if state.stats.is_some() {
            return;
        }
        state.stats = Some(TopicStats {
            topics: HashMap::new(),
            others: ErasedArc::new(Counters::with_at_most(usize::MAX)),
        });
        // Topics resolved from now on carry their counters.
        let retired = self.change(&mut state, |subscribers| subscribers.counted = true);
        drop(state);
        drop(retired);
    }

    pub(super) fn topic_stats(&self, topic: &str) -> Option<Stats> {
        let state = sync::lock(&self.state);
        let counters = state
            .stats
            .as_ref()
            .and_then(|s| s.topics.get(topic).cloned());
        drop(state);
        counters.map(|c| c.read())
    }

    /// Sorted by topic; the topics past the first `MAX_COUNTED` are added
    /// up under `"*"` (left out while they count nothing).
    pub(super) fn stats_by_topic(&self) -> Vec<(String, Stats)> {
        let state = sync::lock(&self.state);
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
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::super::Topics;
    use super::super::cache::{WAYS, bucket_of};
    use super::super::hash::hash;
    use super::EVICTED_SCAN_AFTER;
    use crate::sync;

    /// A hit whose listener runs for a long time keeps alive the entry it
    /// reads, not every entry evicted from its bucket meanwhile: a thread
    /// missing on many topics of that bucket (each admitted miss evicts
    /// one) leaves at most a scan's worth of retired entries. Found by
    /// review: the hit noted only its bucket, so every eviction there was
    /// pinned until the hit returned (memory and write cost unbounded).
    #[test]
    fn a_long_hit_pins_only_the_entry_it_reads() {
        let topics = Topics::<u32>::new();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = std::sync::Mutex::new(release_rx);
        let _slow = topics
            .connect("slow", move |_: &str, v: &u32| {
                if *v == 1 {
                    entered_tx.send(()).unwrap();
                    release_rx.lock().unwrap().recv().unwrap();
                }
            })
            .unwrap();
        let _all = topics.connect(">", |_: &str, _: &u32| {}).unwrap();
        topics.emit("slow", &0).unwrap(); // cached
        let bucket = bucket_of(hash("slow"));
        let same_bucket: Vec<String> = (0..)
            .map(|i| format!("c.{i}"))
            .filter(|topic| bucket_of(hash(topic)) == bucket)
            .take(8_000)
            .collect();
        std::thread::scope(|scope| {
            let t = &topics;
            let slow = scope.spawn(move || t.emit("slow", &1).unwrap()); // a hit
            entered.recv().unwrap();
            for topic in &same_bucket {
                topics.emit(topic, &0).unwrap();
            }
            let kept = sync::lock(&topics.inner.state).retired.len();
            release.send(()).unwrap();
            slow.join().unwrap();
            assert!(
                kept <= EVICTED_SCAN_AFTER + WAYS,
                "a running hit kept {kept} retired entries of its bucket alive"
            );
        });
    }
}
