//! `Slot<T>`: one connected listener.

use std::fmt;

use crate::error::BoxError;
use crate::sync::{AtomicUsize, ErasedArc, Ordering};

pub(crate) use crate::callback::Callback;

/// The state word's status, in its low two bits.
const STATUS: usize = 0b11;
const ACTIVE: usize = 0;
const DISCONNECTED: usize = 1;
const FIRED: usize = 2;
/// Set for the whole life of a once-slot, so that the emit loop's single
/// "is the word 0?" test sends once-slots to the claiming path.
const ONCE: usize = 0b100;
/// Each live `BlockGuard` adds one of these.
const BLOCK: usize = 0b1000;

/// A listener: its state word, callback and identity (40 bytes; 56 in
/// its `Arc`, so 64 with its pointer in the list).
pub(crate) struct Slot<T> {
    /// Status, once flag and block count; see the constants above. The word
    /// is 0 exactly when a plain listener may be called, `ONCE` exactly when
    /// a once-listener's single call may be claimed.
    state: AtomicUsize,
    callback: Callback<T>,
    pub(crate) id: u64,
    /// Key and priority, boxed only for a listener that has either: most
    /// have neither, and every byte here is paid per listener.
    extra: Option<Box<Extra>>,
}

/// The rarely set parts of a slot.
struct Extra {
    key: Option<ErasedArc<str>>,
    priority: i32,
}

impl<T> Slot<T> {
    pub(crate) fn new(
        id: u64,
        key: Option<ErasedArc<str>>,
        priority: i32,
        once: bool,
        callback: Callback<T>,
    ) -> Self {
        let extra = (key.is_some() || priority != 0).then(|| Box::new(Extra { key, priority }));
        Self {
            state: AtomicUsize::new(if once { ONCE } else { ACTIVE }),
            callback,
            id,
            extra,
        }
    }

    /// The key the listener was connected under, if any.
    pub(crate) fn key(&self) -> Option<&ErasedArc<str>> {
        self.extra.as_ref().and_then(|extra| extra.key.as_ref())
    }

    /// Higher runs first; 0 unless set.
    pub(crate) fn priority(&self) -> i32 {
        self.extra.as_ref().map_or(0, |extra| extra.priority)
    }

    /// The state word, for the emit loop: 0 means "call it now"; anything
    /// else means skip it, or, for a once-slot, try [`claim_once`].
    ///
    /// [`claim_once`]: Self::claim_once
    #[inline(always)]
    pub(crate) fn state(&self) -> usize {
        // Relaxed: the word carries no data; a disconnect that happens-before
        // this emit is seen by coherence, and concurrent ones are ordered by
        // the barrier pair of `record` (docs/ordering.md).
        self.state.load(Ordering::Relaxed)
    }

    /// Whether a slot whose word read `state` (non-zero) is a once-slot that
    /// may still be claimed. Cold and out of line: the emit loop's hot path is then one test of
    /// the word against 0.
    #[cold]
    #[inline(never)]
    pub(crate) fn is_claimable(&self, state: usize) -> bool {
        state == ONCE
    }

    /// Tries to claim the single call of a once-slot ([`is_claimable`]);
    /// true for exactly one emit, however many race.
    ///
    /// [`is_claimable`]: Self::is_claimable
    #[cold]
    pub(crate) fn claim_once(&self) -> bool {
        self.state
            // Relaxed: the compare-exchange alone decides the single winner;
            // no data is published through it.
            .compare_exchange(ONCE, ONCE | FIRED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    pub(crate) fn call(&self, value: &T) -> Result<(), BoxError> {
        (self.callback)(value)
    }

    /// Marks the slot disconnected; true if it was connected (active or
    /// blocked) before. A fired once-slot counts as already disconnected.
    pub(crate) fn mark_disconnected(&self) -> bool {
        // SeqCst: the store half of the disconnect_wait protocol; it must be
        // ordered before the scan's barrier and loads (docs/ordering.md).
        let previous = self.state.fetch_or(DISCONNECTED, Ordering::SeqCst);
        previous & STATUS == ACTIVE
    }

    /// Whether this once-slot used its single call.
    pub(crate) fn has_fired(&self) -> bool {
        // Relaxed: writers read it under their lock to drop fired slots; a
        // slot that fires just after is dropped by a later write.
        self.state.load(Ordering::Relaxed) & FIRED != 0
    }

    pub(crate) fn is_connected(&self) -> bool {
        // Relaxed: a snapshot for the caller; nothing is published through it.
        self.state.load(Ordering::Relaxed) & STATUS == ACTIVE
    }

    pub(crate) fn block(&self) {
        // Relaxed: blocking publishes no data; see `state`.
        self.state.fetch_add(BLOCK, Ordering::Relaxed);
    }

    pub(crate) fn unblock(&self) {
        // Relaxed: as in block.
        self.state.fetch_sub(BLOCK, Ordering::Relaxed);
    }

    pub(crate) fn is_blocked(&self) -> bool {
        // Relaxed: a snapshot for the caller.
        self.state.load(Ordering::Relaxed) >= BLOCK
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("key", &self.key())
            .field("priority", &self.priority())
            .field("once", &(self.state() & ONCE != 0))
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::Slot;

    fn slot(once: bool) -> Slot<u32> {
        Slot::new(7, None, 0, once, Box::new(|_: &u32| Ok(())))
    }

    /// The emit loop's one test: a plain active listener's word is 0; a
    /// block makes it non-zero until the guard's unblock.
    #[test]
    fn a_plain_slot_is_callable_exactly_while_its_word_is_zero() {
        let slot = slot(false);
        assert_eq!(slot.state(), 0);
        slot.block();
        slot.block();
        assert_ne!(slot.state(), 0);
        assert!(slot.is_blocked());
        slot.unblock();
        assert!(slot.is_blocked());
        slot.unblock();
        assert_eq!(slot.state(), 0);
        assert!(slot.is_connected());
    }

    /// `mark_disconnected` reports whether the slot was connected, once.
    #[test]
    fn disconnecting_reports_the_first_time_only() {
        let slot = slot(false);
        assert!(slot.mark_disconnected());
        assert!(!slot.mark_disconnected());
        assert!(!slot.is_connected());
        assert_ne!(slot.state(), 0);
    }

    /// A once-slot's word is exactly `ONCE` while it may be claimed; one
    /// claim wins, and the slot then reads as fired and disconnected.
    #[test]
    fn a_once_slot_is_claimed_once() {
        let slot = slot(true);
        let word = slot.state();
        assert_ne!(word, 0, "a once-slot takes the claiming path");
        assert!(slot.is_claimable(word));
        assert!(slot.claim_once());
        assert!(!slot.claim_once());
        assert!(slot.has_fired());
        assert!(!slot.is_connected());
        assert!(!slot.is_claimable(slot.state()));
        assert!(
            !slot.mark_disconnected(),
            "a fired slot counts as disconnected"
        );
    }

    /// A blocked once-slot cannot be claimed.
    #[test]
    fn a_blocked_once_slot_is_not_claimable() {
        let slot = slot(true);
        slot.block();
        assert!(!slot.is_claimable(slot.state()));
        slot.unblock();
        assert!(slot.is_claimable(slot.state()));
    }
}
