//! The broadcast ring behind subscriptions: each event stored once, as an
//! `Arc<T>`, read by any number of cursors that each keep their own
//! position. The protocol is in `docs/architecture.md` ("Subscriptions: a
//! broadcast ring"), the orderings in `docs/ordering.md`; the public cursor
//! is [`Subscription`](subscription::Subscription), beside this file.

pub(crate) mod feed;
pub(crate) mod subscription;

use std::mem;
use std::task::{Context, Poll};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::error::SubscribeError;
use crate::sync::{self, Arc, AtomicU64, AtomicUsize, Ordering, Queue, Sleepers, UnsafeCell};

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

/// What a write took out of its slot (the event it held, or a spare's
/// stale one, and `Arc`s), and an orphaned copy it took back: dropped only
/// after the publish, never inside the slot (a `Drop` is user code).
pub(crate) type Replaced<T> = ((Option<T>, Option<Arc<T>>, Option<Arc<T>>), Option<Arc<T>>);

/// A write's handle to what it stored (when asked for), and what it
/// replaced.
pub(crate) type Written<T> = (Option<Arc<T>>, Replaced<T>);

/// A bounded broadcast ring: emitters [`push`](Self::push), cursors
/// [`read`](Self::read) at their own positions.
pub(crate) struct Ring<T> {
    /// The next position to claim; `CLOSED` on top.
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    /// `slots.len() - 1`; the length is a power of two.
    mask: u64,
    subscribers: AtomicUsize,
    /// Panics the feeder caught in the event type's `Clone` or `Drop`.
    panics: AtomicU64,
    /// Where readers with nothing to read sleep (threads) or wait (tasks).
    sleepers: Sleepers,
    /// `Arc`s handed back by readers that held an event past its slot's
    /// reuse (an `AsyncSignal`'s `DropNewest` cursors), for a writer that
    /// finds its slot's `Arc` still held: it reuses one instead of
    /// allocating. Their stale events are dropped when they are reused.
    spares: Option<Queue<Arc<T>>>,
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
        Self::with_spares(capacity, 0)
    }

    /// [`new`](Self::new), keeping up to `spares` handed-back `Arc`s for
    /// reuse (see [`recycle`](Self::recycle)).
    pub(crate) fn with_spares(capacity: usize, spares: usize) -> Result<Self, SubscribeError> {
        feed::check(capacity)?;
        let spares = match spares {
            0 => None,
            n => Some(
                sync::bounded_queue(n).map_err(|no| SubscribeError::OutOfMemory {
                    capacity: n,
                    bytes: no.bytes,
                })?,
            ),
        };
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
            panics: AtomicU64::new(0),
            sleepers: Sleepers::new(),
            spares,
        })
    }

    /// Takes back `event` for reuse if no one else holds it and there is
    /// room among the spares; otherwise hands it back, to be dropped.
    pub(crate) fn recycle(&self, mut event: Arc<T>) -> Option<Arc<T>> {
        let Some(spares) = &self.spares else {
            return Some(event);
        };
        if Arc::get_mut(&mut event).is_none() {
            return Some(event);
        }
        spares.push(event).err()
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
        // SeqCst (both): see `unsubscribe`; for the feeder, see
        // `has_subscribers`. The load is not `tail()`'s Relaxed one.
        self.subscribers.fetch_add(1, Ordering::SeqCst);
        self.tail.load(Ordering::SeqCst) & !CLOSED
    }

    /// A cursor is gone. The last one's going drops the events the ring
    /// holds at positions before the tail read just before: a cursor made
    /// later starts at or past that tail, so none can read them. An event
    /// whose write is still under way is left, as are slots a writer or a
    /// reader is in. Each drop runs under a catch; the first panic is
    /// resumed after, unless the thread is unwinding already.
    pub(crate) fn unsubscribe(&self) {
        // SeqCst (this load, the decrement, and `subscribe`'s increment and
        // load): in the single order of these operations, a `subscribe`
        // that finds the count this decrement leaves (or a later one) comes
        // after it, so its load of `tail` comes after this one and reads
        // no earlier claim. Loaded *before* the decrement: a `subscribe`
        // and an emit may run between the decrement and a later load.
        let end = self.tail.load(Ordering::SeqCst) & !CLOSED;
        if self.subscribers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.empty_before(end);
        }
    }

    /// Drops the events at positions before `end`.
    fn empty_before(&self, end: u64) {
        let Some(last) = end.checked_sub(1) else {
            return; // nothing was claimed
        };
        let held: Vec<Arc<T>> = self
            .slots
            .iter()
            .filter_map(|slot| Self::empty(slot, stamp_of(last)))
            // The spares' stale events too: kept for no one otherwise.
            .chain(std::iter::from_fn(|| self.spares.as_ref()?.pop()))
            .collect();
        drop_all(held);
    }

    /// Takes the event out of `slot` if it holds a position at or before
    /// the one whose stamp is `last`, entering it as a writer does; the
    /// stamp stays, so a reader of that position finds no value (a lag).
    fn empty(slot: &Slot<T>, last: u64) -> Option<Arc<T>> {
        // Relaxed: only a test; the exchange orders.
        let mut word = slot.word.load(Ordering::Relaxed);
        loop {
            let held = stamp(word) != 0 && lap(stamp(word), last) != Lap::Newer;
            if !held || word & (WRITING | READERS) != 0 {
                return None;
            }
            // Acquire: as a writer's entry (`enter`), after the last
            // reader's leave and the publish. Failure Relaxed: tested again.
            match slot.word.compare_exchange_weak(
                word,
                word | WRITING,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        // SAFETY: `WRITING` set with no reader inside, as in `push`.
        #[allow(unsafe_code)]
        let held = slot
            .value
            .with_mut(|value_of| unsafe { (*value_of).take() });
        // Release: the take happens before the next writer's entry.
        slot.word.fetch_sub(WRITING, Ordering::Release);
        held
    }

    /// Counts a panic the feeder caught in the event type's `Clone` or
    /// `Drop`.
    pub(crate) fn note_panic(&self) {
        // Relaxed: a statistic.
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// The panics [`note_panic`](Self::note_panic) counted.
    pub(crate) fn panics(&self) -> u64 {
        // Relaxed: a statistic.
        self.panics.load(Ordering::Relaxed)
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
        match self.write::<false>(Some(value)) {
            Ok((_, replaced)) => {
                drop(replaced);
                Ok(())
            }
            Err(value) => Err(value.unwrap_or_else(|| unreachable!())),
        }
    }

    /// [`push`](Self::push), returning a handle to the stored event (for
    /// an `AsyncSignal`'s `DropNewest` queues), taken before the publish,
    /// and what the write replaced, for the caller to drop (after it used
    /// the handle: a panicking `Drop` must not cost the handle).
    pub(crate) fn push_shared(&self, value: T) -> Result<(Arc<T>, Replaced<T>), T> {
        match self.write::<true>(Some(value)) {
            // A shared write of an event always hands back its handle.
            Ok((event, replaced)) => Ok((event.unwrap_or_else(|| unreachable!()), replaced)),
            Err(value) => Err(value.unwrap_or_else(|| unreachable!())),
        }
    }

    /// Stores *no* event at the next position: an event that could not be
    /// copied (its `Clone` panicked). Readers of that position are told they
    /// lagged by one, so the loss is counted, never silent.
    pub(crate) fn push_hole(&self) {
        // Once closed, no reader is owed this position.
        if let Ok((_, replaced)) = self.write::<false>(None) {
            drop(replaced);
        }
    }

    /// [`push`](Self::push) of an event or a hole; with `SHARE`, a handle
    /// to what was stored (a constant: `push` pays nothing for it).
    fn write<const SHARE: bool>(&self, value: Option<T>) -> Result<Written<T>, Option<T>> {
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
        let (replaced, shared) = slot.value.with_mut(|value_of| {
            let cell = unsafe { &mut *value_of };
            let replaced = store(cell, value, self.spares.as_ref());
            (replaced, if SHARE { cell.clone() } else { None })
        });
        let delta = ((stamp_of(position).wrapping_sub(before) & STAMP_MASK) << STAMP_SHIFT)
            .wrapping_sub(WRITING);
        // AcqRel. Release: the value stored above happens before a reader
        // that reads this stamp (Acquire). Acquire: a `WAITER` read here was
        // set under the mutex, which `wake` takes.
        let published = slot.word.fetch_add(delta, Ordering::AcqRel);
        if published & WAITER != 0 {
            self.wake(slot);
        }
        // The last cursor may have gone since the caller looked, and
        // emptied the ring before this write: take the event back out, or
        // it would be kept for no one. SeqCst, as the claim: either this
        // load sees a `subscribe` that wants this position, or that
        // `subscribe`'s load of `tail` sees the claim, and it starts past it.
        let orphan = if self.subscribers.load(Ordering::SeqCst) == 0 {
            Self::empty(slot, stamp_of(position))
        } else {
            None
        };
        Ok((shared, (replaced, orphan)))
    }

    /// Claims the next position, unless the ring is closed.
    fn claim(&self) -> Option<u64> {
        // Relaxed (the load, and the exchange's failure): a number, and
        // `CLOSED`; every value travels through a slot word. SeqCst on
        // success: with `write`'s SeqCst load of the subscriber count and
        // `subscribe`'s SeqCst increment and load of `tail`, a store-load
        // pair each way, so one side sees the other (a lock-prefixed
        // exchange on x86 either way).
        let mut tail = self.tail.load(Ordering::Relaxed);
        loop {
            if tail & CLOSED != 0 {
                return None;
            }
            match self.tail.compare_exchange_weak(
                tail,
                tail + 1,
                Ordering::SeqCst,
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
        self.sleepers.notify_all(|| {
            // Relaxed: under the mutex, as every `fetch_or(WAITER)`; a
            // reader that sets it again for a later lap does so before
            // this notify (and is woken) or after it.
            slot.word.fetch_and(!WAITER, Ordering::Relaxed);
        });
    }

    /// The next position to claim (the close left out).
    pub(crate) fn end(&self) -> u64 {
        self.tail().0
    }

    /// `Some(true)` when the ring is closed and `position` is at or past
    /// its last position, `Some(false)` when it is closed short of that,
    /// `None` while it is open.
    pub(crate) fn read_end(&self, position: u64) -> Option<bool> {
        let (tail, closed) = self.tail();
        closed.then_some(position >= tail)
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
    /// sleeps, and an `AsyncSignal` cursor's look before its job goes idle.
    pub(crate) fn ready(&self, position: u64) -> bool {
        // Acquire: as `read`'s first look.
        let word = self.slot(position).word.load(Ordering::Acquire);
        lap(stamp(word), stamp_of(position)) != Lap::Older
            || !matches!(self.nothing_at(position), Read::Empty)
    }

    /// Waits until `position` may have something to read (call after
    /// `read` found it empty), or until `deadline` (then `false`).
    pub(crate) fn wait(&self, position: u64, deadline: Option<Instant>) -> bool {
        let mut guard = self.sleepers.lock();
        loop {
            if self.mark_waiter(position) {
                return true;
            }
            let Ok(timeout) = sync::left_until(deadline) else {
                return false;
            };
            guard = self.sleepers.sleep(guard, timeout);
        }
    }

    /// [`wait`](Self::wait) for a task: `Ready` if `position` may have
    /// something to read, else registers the task's waker under `key` (see
    /// `Sleepers`) and returns `Pending`; the next publish of that slot,
    /// or the close, wakes it.
    pub(crate) fn poll_wait(
        &self,
        position: u64,
        key: &mut Option<u64>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.sleepers.poll(key, cx, || self.mark_waiter(position))
    }

    /// Sets `WAITER` on the slot of `position`; `true` if there is
    /// something to read after all. Under the sleepers' lock.
    fn mark_waiter(&self, position: u64) -> bool {
        // AcqRel: a publish earlier in the word's order is seen here (with
        // its value); a later one reads `WAITER` and notifies, under the
        // mutex this waiter holds until it sleeps or has registered.
        let word = self.slot(position).word.fetch_or(WAITER, Ordering::AcqRel);
        lap(stamp(word), stamp_of(position)) != Lap::Older
            || !matches!(self.nothing_at(position), Read::Empty)
    }

    /// Removes a task's registration (its subscription is dropped).
    pub(crate) fn forget_waiter(&self, key: Option<u64>) {
        self.sleepers.forget(key);
    }

    /// Stops claims; readers end with `Closed` after the positions claimed
    /// before.
    pub(crate) fn close(&self) {
        // Relaxed: readers learn of it only past every position claimed
        // before it, which they read through the slot words; the mutex
        // orders it before a sleeping reader's re-test.
        self.tail.fetch_or(CLOSED, Ordering::Relaxed);
        self.sleepers.notify_all(|| {});
    }
}

/// Puts `value` in a slot's cell (or empties it, for a hole), reusing the
/// allocation of an `Arc` no one else holds; returns what must be dropped
/// once the slot is published (never inside it: a `Drop` is user code).
fn store<T>(
    cell: &mut Option<Arc<T>>,
    value: Option<T>,
    spares: Option<&Queue<Arc<T>>>,
) -> (Option<T>, Option<Arc<T>>, Option<Arc<T>>) {
    let Some(value) = value else {
        return (None, cell.take(), None);
    };
    if let Some(held) = cell {
        if let Some(inner) = Arc::get_mut(held) {
            return (Some(mem::replace(inner, value)), None, None);
        }
        // Someone still holds the event: reuse a spare, or allocate.
        if let Some(mut spare) = spares.and_then(Queue::pop) {
            return match Arc::get_mut(&mut spare) {
                Some(inner) => {
                    let stale = mem::replace(inner, value);
                    (Some(stale), Some(mem::replace(held, spare)), None)
                }
                // Never (the spares alone hold a spare): dropped after the
                // publish, as anything replaced.
                None => (None, Some(mem::replace(held, Arc::new(value))), Some(spare)),
            };
        }
        return (None, Some(mem::replace(held, Arc::new(value))), None);
    }
    *cell = Some(Arc::new(value));
    (None, None, None)
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
    fn drop(&mut self) {
        let held: Vec<Arc<T>> = self
            .slots
            .iter_mut()
            // SAFETY: `&mut self`: no reader or writer is left.
            .filter_map(|slot| {
                #[allow(unsafe_code)]
                slot.value
                    .with_mut(|value_of| unsafe { (*value_of).take() })
            })
            .chain(std::iter::from_fn(|| self.spares.as_ref()?.pop()))
            .collect();
        drop_all(held);
    }
}

/// Drops `held`, each under a catch: a second panicking `Drop` during the
/// first one's unwinding would abort. The first panic is resumed once all
/// are dropped, unless the thread is unwinding already.
fn drop_all<T>(held: Vec<Arc<T>>) {
    let mut first = None;
    for event in held {
        if let Err(payload) = crate::unwind::drop_caught(event) {
            match first {
                None => first = Some(payload),
                Some(_) => crate::unwind::dispose(payload),
            }
        }
    }
    if let Some(payload) = first {
        if std::thread::panicking() {
            crate::unwind::dispose(payload);
        } else {
            std::panic::resume_unwind(payload);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::*;

    /// The last cursor's drop racing a new cursor and an emit, in the order
    /// that lost an event when the tail was read after the decrement: the
    /// decrement, then the new cursor and the emit, then the emptying.
    #[test]
    fn the_last_cursor_empties_only_what_came_before_it_left() {
        let ring = Ring::<u32>::new(2).unwrap();
        ring.subscribe();
        ring.push(0).unwrap();
        // The leaving cursor reads the tail (1), then decrements.
        let end = ring.tail.load(Ordering::SeqCst) & !CLOSED;
        assert_eq!(ring.subscribers.fetch_sub(1, Ordering::SeqCst), 1);
        // A new cursor and an emit come in between.
        let start = ring.subscribe();
        assert_eq!(start, 1);
        ring.push(1).unwrap();
        ring.empty_before(end);
        let Read::Item(item) = ring.read(start) else {
            panic!("the new cursor's event was dropped");
        };
        assert_eq!(*item, 1);
        // The one before it was dropped: a reader there finds a lag.
        assert!(matches!(ring.read(0), Read::Lagged { .. }));
    }

    #[test]
    fn the_stamp_compare_wraps() {
        let top = STAMP_MASK;
        assert_eq!(lap(0, top), Lap::Newer, "0 follows the largest stamp");
        assert_eq!(lap(top, 0), Lap::Older);
        assert_eq!(lap(5, 5), Lap::Expected);
        assert_eq!(stamp_of(STAMP_MASK), 0);
    }
}
