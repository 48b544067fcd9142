//! The state word of an `AsyncSignal`: every decision that emitters, the
//! drainer, flushers and closers must agree on is a read-modify-write of
//! this one `AtomicU64` (see `docs/architecture.md` and `docs/ordering.md`).
//!
//! Layout, low bits first: `SCHEDULED`, `CLOSED`, `WAITERS`, `NUDGED`, a
//! 16-bit flush epoch, then two 22-bit counts of pending events (accepted,
//! not yet delivered), one per epoch parity.

use crate::sync::{AtomicU64, Ordering};

/// A drainer is running or spawned.
const SCHEDULED: u64 = 1;
/// `close` was called: emits are refused.
const CLOSED: u64 = 1 << 1;
/// A thread sleeps on the condvar and wants the next decrement to wake it.
const WAITERS: u64 = 1 << 2;
/// A lane finished a batch while the drainer ran: the drainer looks again
/// before it goes idle (see [`State::nudge`]).
const NUDGED: u64 = 1 << 3;

const EPOCH_SHIFT: u32 = 4;
const EPOCH_BITS: u32 = 16;
const EPOCH_MASK: u64 = ((1 << EPOCH_BITS) - 1) << EPOCH_SHIFT;

const COUNT_BITS: u32 = 22;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const COUNT_SHIFT: [u32; 2] = [
    EPOCH_SHIFT + EPOCH_BITS,
    EPOCH_SHIFT + EPOCH_BITS + COUNT_BITS,
];

/// The largest capacity the counts can hold (all pending events may sit in
/// one parity).
pub(crate) const MAX_CAPACITY: usize = COUNT_MASK as usize;

/// One reading of the state word.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot(u64);

impl Snapshot {
    pub(crate) fn is_scheduled(self) -> bool {
        self.0 & SCHEDULED != 0
    }

    pub(crate) fn is_closed(self) -> bool {
        self.0 & CLOSED != 0
    }

    pub(crate) fn has_waiters(self) -> bool {
        self.0 & WAITERS != 0
    }

    /// A lane finished a batch since the drainer last cleared the bit.
    pub(crate) fn is_nudged(self) -> bool {
        self.0 & NUDGED != 0
    }

    fn epoch(self) -> u64 {
        (self.0 & EPOCH_MASK) >> EPOCH_SHIFT
    }

    /// The parity new emits are counted in.
    pub(crate) fn parity(self) -> u8 {
        (self.epoch() & 1) as u8
    }

    pub(crate) fn count(self, parity: u8) -> usize {
        ((self.0 >> COUNT_SHIFT[usize::from(parity)]) & COUNT_MASK) as usize
    }

    /// Events accepted and not yet delivered.
    pub(crate) fn pending(self) -> usize {
        self.count(0) + self.count(1)
    }
}

fn unit(parity: u8) -> u64 {
    1 << COUNT_SHIFT[usize::from(parity)]
}

/// Why `try_accept` refused an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Closed,
    Full,
}

/// An accepted event: the parity it was counted in, and whether a drainer
/// was already scheduled (if not, the emitter must spawn one).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Accepted {
    pub(crate) parity: u8,
    pub(crate) drainer_scheduled: bool,
}

/// A flush, from the epoch it started in. Events accepted before it are in
/// that epoch's parity, or in the other one (left from an earlier epoch).
/// A flip from epoch `e` requires the parity the next epoch reuses to be
/// empty, so once the epoch has moved on by two, both were empty after the
/// flush started; once it has moved on by one, the other parity was, and
/// the flush's parity only has to empty once (it takes no new events until
/// the next flip).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flush {
    epoch: u64,
    parity: u8,
}

impl Flush {
    /// How many flips happened since the flush started (wrapping: after
    /// half the epoch range it reads as "none yet", which only makes the
    /// flush wait longer).
    fn flips(self, now: Snapshot) -> u64 {
        let flips = now.epoch().wrapping_sub(self.epoch) & ((1 << EPOCH_BITS) - 1);
        if flips < 1 << (EPOCH_BITS - 1) {
            flips
        } else {
            0
        }
    }

    /// Every event accepted before the flush started has been delivered.
    pub(crate) fn is_done(self, now: Snapshot) -> bool {
        match self.flips(now) {
            0 => false,
            1 => now.count(self.parity) == 0,
            _ => true,
        }
    }

    /// The flush may flip the epoch itself: nobody has yet, and the other
    /// parity is empty.
    pub(crate) fn can_flip(self, now: Snapshot) -> bool {
        self.flips(now) == 0 && now.count(1 - self.parity) == 0
    }
}

pub(crate) struct State(AtomicU64);

impl State {
    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub(crate) fn load(&self) -> Snapshot {
        // Acquire: a reader that sees a count drop (or `CLOSED`) also sees
        // what the decrementing drainer (or the closer) did before.
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// Counts one more pending event in the current epoch and marks a
    /// drainer scheduled, unless the signal is closed or `capacity` events
    /// are pending.
    #[inline]
    pub(crate) fn try_accept(&self, capacity: usize) -> Result<Accepted, Refusal> {
        // Acquire, like the failure ordering below: a refusal decided on
        // this value comes after the `close()` (or the state) it read.
        let mut current = Snapshot(self.0.load(Ordering::Acquire));
        loop {
            if current.is_closed() {
                return Err(Refusal::Closed);
            }
            if current.pending() >= capacity {
                return Err(Refusal::Full);
            }
            let parity = current.parity();
            let next = (current.0 + unit(parity)) | SCHEDULED;
            // Acquire on success and failure: an acceptance or a refusal
            // decided on a value comes after the close or the decrement
            // that produced it. Nothing is published by the increment (the
            // value travels through the queue).
            match self.0.compare_exchange_weak(
                current.0,
                next,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Ok(Accepted {
                        parity,
                        drainer_scheduled: current.is_scheduled(),
                    });
                }
                Err(actual) => current = Snapshot(actual),
            }
        }
    }

    /// The drainer delivered (and dropped) `delivered[p]` events of each
    /// parity `p`. Returns the word before the subtraction.
    pub(crate) fn complete(&self, delivered: [usize; 2]) -> Snapshot {
        let amount = delivered[0] as u64 * unit(0) + delivered[1] as u64 * unit(1);
        // AcqRel. Release: the listener calls (and the values' drops) happen
        // before whatever a thread that reads the lower count does next (a
        // flush returning, an emit taking the room). Acquire: the `WAITERS`
        // bit read here was set under the condvar's mutex.
        Snapshot(self.0.fetch_sub(amount, Ordering::AcqRel))
    }

    /// Clears `SCHEDULED` if no event is pending but the `in_flight` ones
    /// (handed to lanes), and no lane nudged; `false` if one is (or the
    /// word changed), and the drainer must go on.
    pub(crate) fn try_idle(&self, seen: Snapshot, in_flight: usize) -> bool {
        if seen.pending() != in_flight || seen.is_nudged() {
            return false;
        }
        // AcqRel: an emit's increment, or a lane's nudge, is either before
        // this in the word's order (the exchange fails) or after (it reads
        // `SCHEDULED` clear and starts a drainer); Release so a new
        // drainer's Acquire spawn path sees this one's last effects.
        // Acquire on failure: the caller goes on draining with what it read.
        self.0
            .compare_exchange(
                seen.0,
                seen.0 & !SCHEDULED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// Clears `NUDGED`, before the drainer looks at its batches in flight.
    pub(crate) fn clear_nudge(&self) {
        // AcqRel: reads the nudging lane's RMW (Acquire: with the batch it
        // finished before it) and orders the drainer's later test of
        // `try_idle` after this clear.
        self.0.fetch_and(!NUDGED, Ordering::AcqRel);
    }

    /// A lane finished a batch (its `remaining` fell to 0). If the drainer
    /// is idle, marks it scheduled again and returns `true`: the caller
    /// must run it. Otherwise sets `NUDGED`, so that the running drainer
    /// looks again before it goes idle.
    pub(crate) fn nudge(&self) -> bool {
        // Relaxed first read: the exchange below decides.
        let mut current = Snapshot(self.0.load(Ordering::Relaxed));
        loop {
            let (next, start) = if !current.is_scheduled() {
                (current.0 | SCHEDULED, true)
            } else {
                (current.0 | NUDGED, false)
            };
            // AcqRel: Release, the lane's batch (its `remaining` decrement
            // came first) is seen by the drainer that reads this; Acquire,
            // a drainer started here sees the last one's effects.
            match self
                .0
                .compare_exchange(current.0, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return start,
                Err(actual) => current = Snapshot(actual),
            }
        }
    }

    /// Sets `WAITERS`; returns the word as it was, for the caller to test
    /// its condition on. Call with the condvar's mutex held.
    pub(crate) fn add_waiter(&self) -> Snapshot {
        // AcqRel: a decrement ordered before this RMW is seen in the value
        // it returns (Acquire: with its effects); one ordered after reads
        // `WAITERS` and notifies under the mutex (Release).
        Snapshot(self.0.fetch_or(WAITERS, Ordering::AcqRel))
    }

    /// Clears `WAITERS`; call with the condvar's mutex held, just before
    /// `notify_all`.
    pub(crate) fn clear_waiters(&self) {
        // Relaxed: the mutex orders it with every waiter's `add_waiter`.
        self.0.fetch_and(!WAITERS, Ordering::Relaxed);
    }

    /// Sets `CLOSED`; returns the word as it was.
    pub(crate) fn close(&self) -> Snapshot {
        // AcqRel: an emit refused because of this (its Acquire exchange
        // reads it) comes after everything the closer did before.
        Snapshot(self.0.fetch_or(CLOSED, Ordering::AcqRel))
    }

    /// Starts a flush: notes the epoch.
    pub(crate) fn begin_flush(&self) -> Flush {
        let now = self.load();
        Flush {
            epoch: now.epoch(),
            parity: now.parity(),
        }
    }

    /// Moves new emits to the other parity, if the word is still `seen` and
    /// `flush` may flip (see [`Flush::can_flip`]).
    pub(crate) fn flip(&self, flush: Flush, seen: Snapshot) -> bool {
        if !flush.can_flip(seen) {
            return false;
        }
        let epoch = (seen.epoch() + 1) & ((1 << EPOCH_BITS) - 1);
        let next = (seen.0 & !EPOCH_MASK) | epoch << EPOCH_SHIFT;
        // AcqRel: every emit counted before this flip (in the flush's
        // parity) is ordered before it in the word; Acquire on failure, as
        // `load`.
        self.0
            .compare_exchange(seen.0, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::*;

    #[test]
    fn counts_and_flags_do_not_overlap() {
        let state = State::new();
        for _ in 0..3 {
            state.try_accept(10).unwrap();
        }
        let flush = state.begin_flush();
        assert!(state.flip(flush, state.load()));
        state.try_accept(10).unwrap();
        let now = state.load();
        assert_eq!((now.count(0), now.count(1)), (3, 1));
        assert!(now.is_scheduled() && !now.is_closed() && !now.has_waiters());
        assert!(!flush.is_done(now));
        // The other parity holds an event: a second flush cannot flip yet.
        let second = state.begin_flush();
        assert!(!state.flip(second, state.load()));
        state.complete([3, 0]);
        assert!(flush.is_done(state.load()));
        state.add_waiter();
        state.close();
        let now = state.load();
        assert!(now.has_waiters() && now.is_closed());
        assert_eq!(state.try_accept(10).unwrap_err(), Refusal::Closed);
        state.complete([0, 1]);
        assert!(state.try_idle(state.load(), 0));
        assert!(!state.load().is_scheduled());
    }

    #[test]
    fn full_at_capacity_and_max_capacity_fits() {
        let state = State::new();
        state.try_accept(2).unwrap();
        state.try_accept(2).unwrap();
        assert_eq!(state.try_accept(2).unwrap_err(), Refusal::Full);
        let state = State::new();
        // A full count in one parity leaves the other and the flags intact.
        let full = (MAX_CAPACITY as u64) << COUNT_SHIFT[1];
        state.0.store(full, Ordering::Relaxed);
        assert_eq!(state.load().count(1), MAX_CAPACITY);
        assert_eq!(state.load().count(0), 0);
        assert_eq!(state.try_accept(MAX_CAPACITY).unwrap_err(), Refusal::Full);
        assert!(!state.load().is_scheduled());
    }

    #[test]
    fn flush_waits_for_earlier_events_only() {
        let state = State::new();
        state.try_accept(10).unwrap(); // a, before the first flush
        let first = state.begin_flush();
        assert!(state.flip(first, state.load()));
        state.try_accept(10).unwrap(); // b, after it
        state.complete([1, 0]); // a delivered
        assert!(
            first.is_done(state.load()),
            "b does not delay the first flush"
        );
        let second = state.begin_flush();
        assert!(state.flip(second, state.load()));
        state.try_accept(10).unwrap(); // c, after the second flush
        assert!(!second.is_done(state.load()), "b is still pending");
        assert!(first.is_done(state.load()));
        state.complete([0, 1]); // b delivered
        assert!(second.is_done(state.load()), "c does not delay the second");
    }

    #[test]
    fn a_flush_that_never_flips_is_done_after_two_flips() {
        let state = State::new();
        state.try_accept(10).unwrap();
        let late = state.begin_flush();
        let first = state.begin_flush();
        assert!(state.flip(first, state.load()));
        // Someone else flipped: `late` may not, and waits for its parity.
        assert!(!late.can_flip(state.load()) && !late.is_done(state.load()));
        state.complete([1, 0]);
        assert!(late.is_done(state.load()));
    }
}
