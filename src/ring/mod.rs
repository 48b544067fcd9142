//! The broadcast ring behind subscriptions: each event stored once, as an
//! `Arc<T>`, read by any number of cursors that each keep their own
//! position. The protocol is in `docs/architecture.md` ("Subscriptions: a
//! broadcast ring"), the orderings in `docs/ordering.md`; the public cursor
//! is [`Subscription`](subscription::Subscription), beside this file.

pub(crate) mod feed;
pub(crate) mod subscription;

use std::mem;
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::error::SubscribeError;
use crate::sync::{self, Arc, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, UnsafeCell};

/// The largest capacity a ring accepts (before rounding up to a power of
/// two, which it keeps within `u32`).
pub(crate) const MAX_CAPACITY: usize = 1 << 31;

/// The capacity of a signal's ring when the first subscription names none.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1024;

/// `tail`'s top bit: the ring is closed, no position is claimed any more.
const CLOSED: u64 = 1 << 63;

// A slot's word, low bits first: readers inside the slot (copying its
// `Arc` out), `WAITER`, `WRITING`, then the stamp: the position the slot
// holds, plus one (0: never written), wrapping at 2^42.
const READERS: u64 = (1 << 20) - 1;
/// A reader sleeps until this slot's next publish.
const WAITER: u64 = 1 << 20;
/// A writer is replacing the slot's value.
const WRITING: u64 = 1 << 21;
const STAMP_SHIFT: u32 = 22;
const STAMP_BITS: u32 = 64 - STAMP_SHIFT;
const STAMP_MASK: u64 = (1 << STAMP_BITS) - 1;

/// The stamp a slot holding `position` carries.
fn stamp_of(position: u64) -> u64 {
    position.wrapping_add(1) & STAMP_MASK
}

fn stamp(word: u64) -> u64 {
    word >> STAMP_SHIFT
}

/// Where a slot's stamp stands against the one a reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lap {
    /// An earlier position: the expected one is not written yet.
    Older,
    Expected,
    /// A later position: the expected one was overwritten.
    Newer,
}

fn lap(stamp: u64, expected: u64) -> Lap {
    let ahead = stamp.wrapping_sub(expected) & STAMP_MASK;
    if ahead == 0 {
        Lap::Expected
    } else if ahead < 1 << (STAMP_BITS - 1) {
        Lap::Newer
    } else {
        Lap::Older
    }
}

/// One slot: its word and the event it holds.
struct Slot<T> {
    word: AtomicU64,
    value: UnsafeCell<Option<Arc<T>>>,
}

/// What a reader found at its position.
#[derive(Debug)]
pub(crate) enum Read<T> {
    Item(Arc<T>),
    /// Nothing yet.
    Empty,
    /// The position was overwritten: go on from `oldest`.
    Lagged {
        oldest: u64,
    },
    /// Closed, and every position before the close was read.
    Closed,
}

/// A bounded broadcast ring: emitters [`push`](Self::push), cursors
/// [`read`](Self::read) at their own positions.
pub(crate) struct Ring<T> {
    /// The next position to claim; `CLOSED` on top.
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: u64,
    subscribers: AtomicUsize,
    /// Where readers with nothing to read sleep.
    sleep: Mutex<()>,
    wakeup: Condvar,
}

// SAFETY: the slots' cells are written only by the writer that set the
// slot's `WRITING` bit with no reader inside, and read only by readers
// inside the slot while `WRITING` is clear (see `push` and `read`); what
// crosses threads is `T` behind an `Arc`, shared by reference (`Sync`) and
// dropped wherever the last reference goes (`Send`).
#[allow(unsafe_code)]
unsafe impl<T: Send + Sync> Sync for Ring<T> {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl<T: Send + Sync> Send for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of at least `capacity` slots (the next power of two).
    pub(crate) fn new(capacity: usize) -> Result<Self, SubscribeError> {
        feed::check(capacity)?;
        let len = capacity.next_power_of_two();
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(len)
            .map_err(|_| SubscribeError::OutOfMemory {
                capacity: len,
                bytes: len as u128 * mem::size_of::<Slot<T>>() as u128,
            })?;
        slots.extend((0..len).map(|_| Slot {
            word: AtomicU64::new(0),
            value: UnsafeCell::new(None),
        }));
        Ok(Self {
            tail: CachePadded::new(AtomicU64::new(0)),
            slots: slots.into_boxed_slice(),
            mask: len as u64 - 1,
            subscribers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            wakeup: Condvar::new(),
        })
    }

    /// How many events the ring keeps.
    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, position: u64) -> &Slot<T> {
        // The mask keeps the index below the length (a power of two).
        &self.slots[(position & self.mask) as usize]
    }

    /// The tail without `CLOSED`, and whether it is set.
    fn tail(&self) -> (u64, bool) {
        // Relaxed: a number; what a reader reads at a position it reads
        // through that slot's word. A reader that saw a slot overwritten
        // sees at least the overwriting claim here: the writer's entry
        // (Release) follows its claim, and the reader's look (Acquire)
        // read it.
        let tail = self.tail.load(Ordering::Relaxed);
        (tail & !CLOSED, tail & CLOSED != 0)
    }

    /// The position a new cursor starts at: the next one to be claimed.
    pub(crate) fn subscribe(&self) -> u64 {
        // Relaxed (both): see `has_subscribers`.
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        self.tail().0
    }

    pub(crate) fn unsubscribe(&self) {
        // Relaxed: see `has_subscribers`.
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether a cursor exists: the feeder skips its clone while none does.
    pub(crate) fn has_subscribers(&self) -> bool {
        // Relaxed: a `subscribe` that happens before an emit is seen by
        // coherence; an emit racing one is ordered before it (the new
        // cursor starts at the tail it reads).
        self.subscribers.load(Ordering::Relaxed) != 0
    }

    /// Stores `value` at the next position; `Err(value)` once closed. The
    /// event the slot held before is dropped here, after the publish: a
    /// panic of its `Drop` unwinds to the caller, with the ring intact.
    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        let Some(position) = self.claim() else {
            return Err(value);
        };
        let slot = self.slot(position);
        let len = self.slots.len() as u64;
        let before = match position.checked_sub(len) {
            Some(previous) => stamp_of(previous),
            None => 0,
        };
        Self::enter(slot, before);
        // SAFETY: `enter` set `WRITING` with no reader inside: readers
        // enter only while it is clear and the stamp is theirs, and no other
        // writer sets it before this one's publish clears it.
        #[allow(unsafe_code)]
        let replaced = slot
            .value
            .with_mut(|value_of| store(unsafe { &mut *value_of }, value));
        let delta = ((stamp_of(position).wrapping_sub(before) & STAMP_MASK) << STAMP_SHIFT)
            .wrapping_sub(WRITING);
        // AcqRel. Release: the value stored above happens before a reader
        // that reads this stamp (Acquire). Acquire: a `WAITER` read here was
        // set under the mutex, which `wake` takes.
        let published = slot.word.fetch_add(delta, Ordering::AcqRel);
        if published & WAITER != 0 {
            self.wake(slot);
        }
        drop(replaced);
        Ok(())
    }

    /// Claims the next position, unless the ring is closed.
    fn claim(&self) -> Option<u64> {
        // Relaxed (load and exchange): a number, and `CLOSED`; every
        // value travels through a slot word.
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & CLOSED != 0 {
                return None;
            }
            match self.tail.compare_exchange_weak(
                tail,
                tail + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(tail),
                Err(now) => tail = now,
            }
        }
    }

    /// Sets `slot`'s `WRITING` once it holds the stamp `before` (the
    /// previous lap's writer has published) and no reader is inside.
    fn enter(slot: &Slot<T>, before: u64) {
        #[cfg(not(loom))]
        let backoff = crossbeam_utils::Backoff::new();
        // Relaxed: only a test; the exchange below orders.
        let mut word = slot.word.load(Ordering::Relaxed);
        loop {
            if stamp(word) == before && word & (WRITING | READERS) == 0 {
                // AcqRel. Acquire: reads the last reader's leave and the
                // previous lap's publish (both Release), so their accesses
                // of the value happen before this writer's. Release: the
                // claim happens before a reader that sees `WRITING`.
                // Failure Relaxed: the loop only tests again.
                match slot.word.compare_exchange_weak(
                    word,
                    word | WRITING,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => {
                        word = now;
                        continue;
                    }
                }
            }
            // A reader copying the old `Arc` out (a few instructions), or
            // an emitter a lap behind (it may be preempted: yield).
            #[cfg(not(loom))]
            if backoff.is_completed() {
                std::thread::yield_now();
            } else {
                backoff.snooze();
            }
            #[cfg(loom)]
            sync::spin();
            // Relaxed: as above.
            word = slot.word.load(Ordering::Relaxed);
        }
    }

    /// Wakes the readers waiting on `slot`.
    #[cold]
    fn wake(&self, slot: &Slot<T>) {
        let _guard = sync::lock(&self.sleep);
        // Relaxed: under the mutex, as every `fetch_or(WAITER)`; a reader
        // that sets it again for a later lap does so before this notify
        // (and is woken) or after it.
        slot.word.fetch_and(!WAITER, Ordering::Relaxed);
        self.wakeup.notify_all();
    }

    /// What is at `position`, for a cursor there.
    pub(crate) fn read(&self, position: u64) -> Read<T> {
        let slot = self.slot(position);
        let expected = stamp_of(position);
        // Acquire: an empty or closed decision is made on a word whose
        // writes this reader sees.
        let word = slot.word.load(Ordering::Acquire);
        match lap(stamp(word), expected) {
            Lap::Older => return self.nothing_at(position),
            Lap::Expected if word & WRITING == 0 => {
                // Acquire: the stamp re-read here was published (Release)
                // with the value in the cell.
                let entered = slot.word.fetch_add(1, Ordering::Acquire);
                let item = (stamp(entered) == expected && entered & WRITING == 0).then(|| {
                    // SAFETY: inside the slot (the reader count) with the
                    // stamp ours and `WRITING` clear: no writer can enter
                    // until this reader leaves.
                    #[allow(unsafe_code)]
                    slot.value.with(|value_of| unsafe { (*value_of).clone() })
                });
                // Release: the clone happens before the entry of a writer
                // that reads the count back at zero (Acquire).
                slot.word.fetch_sub(1, Ordering::Release);
                if let Some(Some(item)) = item {
                    return Read::Item(item);
                }
            }
            // `WRITING` over the expected stamp: the next lap is being
            // written; or a later lap is there already.
            Lap::Expected | Lap::Newer => {}
        }
        self.lagged(position)
    }

    /// `position` holds an earlier lap: empty, closed, or (past the
    /// stamp's range) overwritten.
    fn nothing_at(&self, position: u64) -> Read<T> {
        let (tail, closed) = self.tail();
        if tail.saturating_sub(position) > self.slots.len() as u64 {
            self.lagged(position)
        } else if closed && position >= tail {
            Read::Closed
        } else {
            Read::Empty
        }
    }

    /// `position` was overwritten: the oldest position kept.
    fn lagged(&self, position: u64) -> Read<T> {
        let (tail, _) = self.tail();
        let oldest = tail.saturating_sub(self.slots.len() as u64);
        Read::Lagged {
            oldest: oldest.max(position + 1),
        }
    }

    /// Whether a read at `position` would find something (an event, a lag,
    /// the close), without taking it: a subscription's spin before it
    /// sleeps (not under loom, where the wait is the one to check).
    #[cfg(not(loom))]
    pub(crate) fn ready(&self, position: u64) -> bool {
        // Acquire: as `read`'s first look.
        let word = self.slot(position).word.load(Ordering::Acquire);
        lap(stamp(word), stamp_of(position)) != Lap::Older
            || !matches!(self.nothing_at(position), Read::Empty)
    }

    /// Waits until `position` may have something to read (call after
    /// `read` found it empty), or until `deadline` (then `false`).
    pub(crate) fn wait(&self, position: u64, deadline: Option<Instant>) -> bool {
        let slot = self.slot(position);
        let mut guard = sync::lock(&self.sleep);
        loop {
            // AcqRel: a publish earlier in the word's order is seen here
            // (with its value); a later one reads `WAITER` and notifies,
            // under the mutex this thread holds until it sleeps.
            let word = slot.word.fetch_or(WAITER, Ordering::AcqRel);
            if lap(stamp(word), stamp_of(position)) != Lap::Older
                || !matches!(self.nothing_at(position), Read::Empty)
            {
                return true;
            }
            let Ok(timeout) = sync::left_until(deadline) else {
                return false;
            };
            guard = sync::wait(&self.wakeup, guard, timeout).0;
        }
    }

    /// Stops claims; readers end with `Closed` after the positions claimed
    /// before.
    pub(crate) fn close(&self) {
        // Relaxed: readers learn of it only past every position claimed
        // before it, which they read through the slot words; the mutex
        // orders it before a sleeping reader's re-test.
        self.tail.fetch_or(CLOSED, Ordering::Relaxed);
        let _guard = sync::lock(&self.sleep);
        self.wakeup.notify_all();
    }
}

/// Puts `value` in a slot's cell, reusing the allocation of an `Arc` no
/// one else holds; returns what must be dropped once the slot is
/// published (never inside it: a `Drop` is user code).
fn store<T>(cell: &mut Option<Arc<T>>, value: T) -> (Option<T>, Option<Arc<T>>) {
    if let Some(held) = cell {
        if let Some(inner) = Arc::get_mut(held) {
            return (Some(mem::replace(inner, value)), None);
        }
        return (None, Some(mem::replace(held, Arc::new(value))));
    }
    *cell = Some(Arc::new(value));
    (None, None)
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (tail, closed) = self.tail();
        f.debug_struct("Ring")
            .field("capacity", &self.slots.len())
            .field("tail", &tail)
            .field("closed", &closed)
            .finish_non_exhaustive()
    }
}

impl<T> Drop for Ring<T> {
    /// Drops the events still held, each under a catch: a second panicking
    /// `Drop` during the first one's unwinding would abort. The first
    /// panic is resumed once all are dropped, unless the thread is
    /// unwinding already.
    fn drop(&mut self) {
        let mut first = None;
        for slot in self.slots.iter_mut() {
            // SAFETY: `&mut self`: no reader or writer is left.
            #[allow(unsafe_code)]
            let held = slot
                .value
                .with_mut(|value_of| unsafe { (*value_of).take() });
            if let Err(payload) = crate::unwind::drop_caught(held) {
                match first {
                    None => first = Some(payload),
                    Some(_) => crate::unwind::dispose(payload),
                }
            }
        }
        // Not while unwinding already: a second panic would abort.
        if let Some(payload) = first {
            if std::thread::panicking() {
                crate::unwind::dispose(payload);
            } else {
                std::panic::resume_unwind(payload);
            }
        }
    }
}
