//! The cache of `Topics`: a fixed table of topic → resolved subscribers,
//! set-associative (a topic's hash, from `hash.rs`, picks a bucket of
//! [`WAYS`] entries), each entry published on its own, evicted by CLOCK
//! within its bucket.
//!
//! A hit takes no lock and writes nothing shared but a reference bit (and
//! only when it is clear). A miss resolves the topic under the subscriber
//! lock and replaces one entry: no copy of the other entries, so its cost
//! does not grow with the number of topics cached. The protocol is in
//! `docs/ordering.md` ("The bus", `Topics`).

use crate::sync::{Arc, ArcSwapOption, AtomicBool, AtomicU64, Ordering};

/// Entries per bucket.
#[cfg(not(loom))]
const WAYS: usize = 8;
/// Buckets (a power of two, at most 2^24): the table caches at most
/// `BUCKETS × WAYS` topics.
#[cfg(not(loom))]
const BUCKETS: usize = 256;
/// In a full bucket, one miss in `ADMIT_ONE_IN` (counted per thread) is
/// cached, in place of an entry; the others are resolved without the lock
/// and not cached. When more topics share a bucket than it holds and come
/// round in turn (as in a scan), evicting on every miss would evict each
/// entry before its next use, so that none ever hits, and every miss would
/// pay for an entry; this way most misses allocate nothing, the cached
/// entries stay long enough to be hit, and a topic that keeps coming still
/// gets in after a few misses.
#[cfg(not(loom))]
const ADMIT_ONE_IN: u32 = 16;

// Under loom: one small bucket, so that a third topic evicts, and every
// other miss on a full bucket goes uncached.
#[cfg(loom)]
const WAYS: usize = 2;
#[cfg(loom)]
const BUCKETS: usize = 1;
#[cfg(loom)]
const ADMIT_ONE_IN: u32 = 2;

/// The table shared by emitting threads; its writers hold the subscriber
/// lock and pass the [`Ledger`] it guards.
pub(super) struct Cache<E> {
    buckets: Box<[Bucket<E>]>,
}

struct Bucket<E> {
    /// Each entry's topic hash (0 if empty): a hint that saves loading the
    /// entries of other topics; the entry's own topic decides.
    tags: [AtomicU64; WAYS],
    /// CLOCK's reference bits: set by a hit, cleared by the hand.
    referenced: [AtomicBool; WAYS],
    entries: [ArcSwapOption<E>; WAYS],
}

/// The writers' book-keeping, kept under the subscriber lock.
pub(super) struct Ledger {
    clocks: Box<[Clock]>,
    /// Entries in use.
    len: usize,
}

#[derive(Clone, Copy, Default)]
struct Clock {
    /// Entries in use: always the first `used` of the bucket.
    used: u8,
    /// The next entry CLOCK looks at.
    hand: u8,
}

impl<E: AsRef<str>> Cache<E> {
    pub(super) fn new() -> Self {
        Self {
            buckets: (0..BUCKETS)
                .map(|_| Bucket {
                    tags: std::array::from_fn(|_| AtomicU64::new(0)),
                    referenced: std::array::from_fn(|_| AtomicBool::new(false)),
                    entries: std::array::from_fn(|_| ArcSwapOption::empty()),
                })
                .collect(),
        }
    }

    /// Calls `hit` with the entry of `topic` (whose [`hash`](super::hash::hash) is `hash`), if
    /// it is cached.
    #[inline]
    pub(super) fn get<R>(
        &self,
        hash: u64,
        topic: &str,
        hit: impl FnOnce(&Arc<E>) -> R,
    ) -> Option<R> {
        let bucket = &self.buckets[bucket_of(hash)];
        for way in 0..WAYS {
            // Relaxed: a hint; the entry is published by its ArcSwap, and
            // its topic is compared below.
            if bucket.tags[way].load(Ordering::Relaxed) != hash {
                continue;
            }
            let entry = bucket.entries[way].load();
            // (`Option::as_ref` derefs the guard, and takes loom's plain `Option`.)
            if let Some(entry) = Option::as_ref(&entry) {
                if (**entry).as_ref() == topic {
                    let referenced = &bucket.referenced[way];
                    // Relaxed (both): a hint for eviction, guarding no data;
                    // a hit that finds it set writes nothing shared.
                    if !referenced.load(Ordering::Relaxed) {
                        referenced.store(true, Ordering::Relaxed);
                    }
                    return Some(hit(entry));
                }
            }
        }
        None
    }

    /// Whether a miss on `hash` is to be cached: while its bucket has a
    /// free entry, yes; once it is full, one miss in [`ADMIT_ONE_IN`] of
    /// this thread's.
    #[inline]
    pub(super) fn admits(&self, hash: u64) -> bool {
        let bucket = &self.buckets[bucket_of(hash)];
        // Relaxed: a hint; a bucket that filled up meanwhile is found full
        // under the lock, and then CLOCK evicts.
        bucket.tags[WAYS - 1].load(Ordering::Relaxed) == 0
            || MISSES.with(|misses| {
                let n = misses.get().wrapping_add(1);
                misses.set(n);
                n % ADMIT_ONE_IN == 0
            })
    }

    /// Caches `entry` (its topic's hash is `hash`, and it is not cached)
    /// in its bucket: in a free entry, or in place of the entry CLOCK
    /// evicts. Returns the evicted entry, to be dropped after the lock is
    /// released (its subscribers' closures are user code).
    #[must_use]
    pub(super) fn insert(&self, ledger: &mut Ledger, hash: u64, entry: &Arc<E>) -> Option<Arc<E>> {
        let index = bucket_of(hash);
        let (bucket, clock) = (&self.buckets[index], &mut ledger.clocks[index]);
        let way = if usize::from(clock.used) < WAYS {
            clock.used += 1;
            ledger.len += 1;
            usize::from(clock.used - 1)
        } else {
            loop {
                let way = usize::from(clock.hand);
                clock.hand = ((way + 1) % WAYS) as u8;
                // Relaxed: a hint (see `get`); a hit racing this swap may
                // keep its entry a turn longer or not.
                if !bucket.referenced[way].swap(false, Ordering::Relaxed) {
                    break way;
                }
            }
        };
        let evicted = bucket.entries[way].swap(Some(Arc::clone(entry)));
        // Relaxed (both): hints (see `get`), stored after the entry so that
        // a hit that sees the tag most likely finds the entry.
        bucket.tags[way].store(hash, Ordering::Relaxed);
        bucket.referenced[way].store(false, Ordering::Relaxed);
        evicted
    }

    /// Empties the cache, returning the entries it held (to be dropped
    /// after the lock is released, as in [`insert`](Self::insert)). Costs
    /// one store per bucket and per cached topic.
    #[must_use]
    pub(super) fn clear(&self, ledger: &mut Ledger) -> Vec<Arc<E>> {
        let mut cleared = Vec::with_capacity(ledger.len);
        for (bucket, clock) in self.buckets.iter().zip(ledger.clocks.iter_mut()) {
            for way in 0..usize::from(clock.used) {
                // Relaxed: a hint (see `get`); the swap below is what a
                // later hit sees.
                bucket.tags[way].store(0, Ordering::Relaxed);
                cleared.extend(bucket.entries[way].swap(None));
            }
            *clock = Clock::default();
        }
        ledger.len = 0;
        cleared
    }
}

impl Ledger {
    pub(super) fn new() -> Self {
        Self {
            clocks: vec![Clock::default(); BUCKETS].into_boxed_slice(),
            len: 0,
        }
    }

    /// How many topics are cached.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(not(loom))]
std::thread_local! {
    /// This thread's misses on full buckets, for [`Cache::admits`].
    static MISSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

#[cfg(loom)]
loom::thread_local! {
    static MISSES: std::cell::Cell<u32> = std::cell::Cell::new(0);
}

/// The bucket a hash picks. FxHash mixes poorly across the words of
/// similar names (`user.1.created`, `user.2.created`: 1 025 of them left 48
/// of 256 buckets empty), so the hash is mixed again (a xor-shift and a
/// multiply, as in SplitMix64) and the bucket taken from the top bits.
#[inline]
fn bucket_of(hash: u64) -> usize {
    const SHIFT: u32 = 64 - BUCKETS.trailing_zeros();
    let mixed = (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    // `wrapping_shr`: with one bucket (under loom) the shift is 64.
    mixed.wrapping_shr(SHIFT) as usize & (BUCKETS - 1)
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::super::hash::hash;
    use super::{Cache, Ledger};
    use crate::sync::Arc;

    /// A hit is decided by the entry's own topic, not by the hash: two
    /// topics forced onto one hash each find only their own entry.
    #[test]
    fn a_hash_collision_never_returns_another_topics_entry() {
        let cache = Cache::<String>::new();
        let mut ledger = Ledger::new();
        let shared = hash("a");
        assert!(
            cache
                .insert(&mut ledger, shared, &Arc::new("a".to_string()))
                .is_none()
        );
        assert_eq!(cache.get(shared, "b", |e| e.to_string()), None);
        assert!(
            cache
                .insert(&mut ledger, shared, &Arc::new("b".to_string()))
                .is_none()
        );
        assert_eq!(
            cache.get(shared, "a", |e| e.to_string()).as_deref(),
            Some("a")
        );
        assert_eq!(
            cache.get(shared, "b", |e| e.to_string()).as_deref(),
            Some("b")
        );
    }
}
