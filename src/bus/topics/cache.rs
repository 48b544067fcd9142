//! The cache of `Topics`: a fixed table of topic → resolved subscribers,
//! set-associative (a topic's hash, from `hash.rs`, picks a bucket of
//! [`WAYS`] entries), each entry published on its own, evicted by CLOCK
//! within its bucket.
//!
//! A hit takes no lock, no reference count and writes nothing shared but a
//! reference bit (and only when it is clear): it reads the entry through a
//! raw pointer, protected by the emit's record entry, as an emit reads a
//! signal's list (`base::retire`). A miss resolves the topic under the
//! subscriber lock and replaces one entry: no copy of the other entries, so
//! its cost does not grow with the number of topics cached. The writers own
//! the entries (`Ledger::owners`) and retire the ones they replace. The
//! protocol is in `docs/ordering.md` ("The bus", `Topics`).

use crate::base::record::Recorded;
use crate::base::retire::Retirable;
use crate::sync::{Arc, AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// Entries per bucket.
#[cfg(not(loom))]
pub(super) const WAYS: usize = 8;
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
pub(super) const WAYS: usize = 2;
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
    /// What hits read: null, or the value the ledger owns for the same way
    /// (or, once replaced, one retired and not yet freed).
    entries: [AtomicPtr<E>; WAYS],
}

impl<E> Bucket<E> {
    /// The key an emit notes before it reads this bucket's entries (its
    /// address), under which writers retire the entries they replace.
    fn key(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }
}

/// The writers' book-keeping, kept under the subscriber lock.
pub(super) struct Ledger<E> {
    clocks: Box<[Clock]>,
    /// The values the entries point to, by bucket and way.
    owners: Box<[[Option<Arc<E>>; WAYS]]>,
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

/// What the cache holds: a topic's resolved value, which under loom can
/// tell a read after its reclamation (`Retirable`).
pub(super) trait Entry: AsRef<str> + Retirable {
    /// Fails a loom model if the entry was reclaimed.
    #[cfg(loom)]
    fn check_live(&self);
}

impl<E: Entry> Cache<E> {
    pub(super) fn new() -> Self {
        Self {
            buckets: (0..BUCKETS)
                .map(|_| Bucket {
                    tags: std::array::from_fn(|_| AtomicU64::new(0)),
                    referenced: std::array::from_fn(|_| AtomicBool::new(false)),
                    entries: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
                })
                .collect(),
        }
    }

    /// The entry of `topic` (whose [`hash`](super::hash::hash) is `hash`),
    /// if it is cached, for the emit `running` (which must have pushed its
    /// record entry with `reads` unknown, and reads no other entry or list
    /// through a raw pointer while it runs).
    #[inline]
    pub(super) fn get<'r>(
        &self,
        hash: u64,
        topic: &str,
        running: &'r Recorded<'_>,
    ) -> Option<&'r E> {
        if !running.has_entry() {
            // Nested deeper than the record: nothing protects a raw read.
            return None;
        }
        let bucket = &self.buckets[bucket_of(hash)];
        // Tells scans that this emit reads entries of this bucket and no
        // other, before it loads one: the key writers retire them under.
        running.reads(bucket.key());
        for way in 0..WAYS {
            // Relaxed: a hint; the entry is published by its pointer, and
            // its topic is compared below.
            if bucket.tags[way].load(Ordering::Relaxed) != hash {
                continue;
            }
            // Acquire: pairs with the Release store in `insert`, so the
            // entry's contents are visible. Loaded after the record's light
            // barrier (`running` was pushed before).
            let entry = bucket.entries[way].load(Ordering::Acquire);
            if entry.is_null() {
                return None; // cleared meanwhile
            }
            #[allow(unsafe_code)]
            // SAFETY: a non-null entry points to a value that the ledger
            // owns (`insert` stores the pointer of the `Arc` it keeps in
            // `owners`), or that a writer replaced and retired after
            // storing the new pointer (`insert`, `clear`, then
            // `Retired::retire` under the same lock). A retired value is
            // freed only once every emit of these topics that a scan taken
            // after its replacement found running, and that may read it,
            // has popped, and no `Arc` holder (a `Publisher`) is left
            // (`Retired::reclaim`; writers retire it under its bucket's
            // key). This emit pushed its record entry (`running`, borrowed
            // for the returned reference's life, with `reads` unknown)
            // before loading the pointer, with the light barrier between,
            // and noted this bucket's key before loading any entry of it
            // (and, once it found its topic, that entry's address): so
            // either the scan sees the entry (showing this bucket's key,
            // unknown, or this value's address, each of which keeps the
            // value) and waits for it to pop, or this load returns a newer
            // pointer. A scan
            // that skips the heavy barrier does so only when no other
            // thread holds a record. The ledger and the retired values are
            // dropped only with the `Registry`, which the caller borrows.
            // Entries are immutable.
            let entry = unsafe { &*entry };
            #[cfg(loom)]
            entry.check_live();
            if entry.as_ref() != topic {
                continue; // another topic with the same hash
            }
            // Tells scans that this emit reads this entry and no other
            // from here on, so that a long hit keeps alive this entry, not
            // every entry evicted from its bucket while it runs. Release (in
            // `reads`): the probe's reads of the bucket come first.
            running.reads(std::ptr::from_ref(entry).addr());
            let referenced = &bucket.referenced[way];
            // Relaxed (both): a hint for eviction, guarding no data; a hit
            // that finds it set writes nothing shared.
            if !referenced.load(Ordering::Relaxed) {
                referenced.store(true, Ordering::Relaxed);
            }
            return Some(entry);
        }
        None
    }

    /// The value cached for `topic` (whose hash is `hash`), by reference
    /// count; for writers, under the subscriber lock.
    pub(super) fn owned(&self, ledger: &Ledger<E>, hash: u64, topic: &str) -> Option<Arc<E>> {
        ledger.owners[bucket_of(hash)]
            .iter()
            .flatten()
            .find(|owner| (***owner).as_ref() == topic)
            .cloned()
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
    /// evicts. Returns the evicted entry, for the caller to retire (emits
    /// may still read it) under the key it comes with.
    #[must_use]
    pub(super) fn insert(
        &self,
        ledger: &mut Ledger<E>,
        hash: u64,
        entry: &Arc<E>,
    ) -> Option<(Arc<E>, usize)> {
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
        let evicted = ledger.owners[index][way].replace(Arc::clone(entry));
        let value: &E = entry;
        // Release: a hit that loads this pointer (Acquire) sees the entry's
        // contents. The ledger owns the value from now until a later
        // `insert` or `clear` replaces it and the caller retires it.
        bucket.entries[way].store(std::ptr::from_ref(value).cast_mut(), Ordering::Release);
        // Relaxed (both): hints (see `get`), stored after the entry so that
        // a hit that sees the tag most likely finds the entry.
        bucket.tags[way].store(hash, Ordering::Relaxed);
        bucket.referenced[way].store(false, Ordering::Relaxed);
        evicted.map(|evicted| (evicted, bucket.key()))
    }

    /// Empties the cache, returning the entries it held (for the caller to
    /// retire, as in [`insert`](Self::insert)). Costs one store per bucket
    /// and per cached topic.
    #[must_use]
    pub(super) fn clear(&self, ledger: &mut Ledger<E>) -> Vec<(Arc<E>, usize)> {
        let mut cleared = Vec::with_capacity(ledger.len);
        let rows = self.buckets.iter().zip(ledger.owners.iter_mut());
        for ((bucket, owners), clock) in rows.zip(ledger.clocks.iter_mut()) {
            let ways = bucket
                .tags
                .iter()
                .zip(&bucket.entries)
                .zip(owners.iter_mut());
            for ((tag, entry), owner) in ways.take(usize::from(clock.used)) {
                // Relaxed: a hint (see `get`); the store below is what a
                // later hit sees.
                tag.store(0, Ordering::Relaxed);
                // Relaxed: null publishes nothing; a hit that loads it
                // misses. The value stays readable until it is reclaimed.
                entry.store(std::ptr::null_mut(), Ordering::Relaxed);
                cleared.extend(owner.take().map(|owner| (owner, bucket.key())));
            }
            *clock = Clock::default();
        }
        ledger.len = 0;
        cleared
    }
}

impl<E> Ledger<E> {
    pub(super) fn new() -> Self {
        Self {
            clocks: vec![Clock::default(); BUCKETS].into_boxed_slice(),
            owners: (0..BUCKETS)
                .map(|_| std::array::from_fn(|_| None))
                .collect(),
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
pub(super) fn bucket_of(hash: u64) -> usize {
    const SHIFT: u32 = 64 - BUCKETS.trailing_zeros();
    let mixed = (hash ^ (hash >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    // `wrapping_shr`: with one bucket (under loom) the shift is 64.
    mixed.wrapping_shr(SHIFT) as usize & (BUCKETS - 1)
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::super::hash::hash;
    use super::{Cache, Entry, Ledger};
    use crate::base::record::{self, READS_UNKNOWN};
    use crate::base::retire::Retirable;
    use crate::sync::{Arc, AtomicUsize};

    struct Topic(&'static str);

    impl AsRef<str> for Topic {
        fn as_ref(&self) -> &str {
            self.0
        }
    }

    impl Retirable for Topic {}
    impl Entry for Topic {}

    /// A hit is decided by the entry's own topic, not by the hash: two
    /// topics forced onto one hash each find only their own entry.
    #[test]
    fn a_hash_collision_never_returns_another_topics_entry() {
        let cache = Cache::<Topic>::new();
        let mut ledger = Ledger::new();
        let overflow = AtomicUsize::new(0);
        let running = record::enter(crate::base::next_signal_id(), &overflow, READS_UNKNOWN);
        let get = |topic| cache.get(shared(), topic, &running).map(|e: &Topic| e.0);
        fn shared() -> u64 {
            hash("a")
        }
        assert!(
            cache
                .insert(&mut ledger, shared(), &Arc::new(Topic("a")))
                .is_none()
        );
        assert_eq!(get("b"), None);
        assert!(
            cache
                .insert(&mut ledger, shared(), &Arc::new(Topic("b")))
                .is_none()
        );
        assert_eq!(get("a"), Some("a"));
        assert_eq!(get("b"), Some("b"));
        assert_eq!(cache.owned(&ledger, shared(), "b").map(|e| e.0), Some("b"));
        let cleared = cache.clear(&mut ledger);
        assert_eq!(cleared.len(), 2);
        assert_eq!(get("a"), None);
    }
}
