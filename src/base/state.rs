//! `StateWord`: a listener's status, once flag and block count in one
//! atomic word. A signal's slots and a topic's subscribers both keep one,
//! so that every `Connection` blocks and disconnects the same way, and an
//! emit loop tests one word against 0 per listener.

use crate::sync::{AtomicUsize, Ordering};

/// The status, in the low two bits.
const STATUS: usize = 0b11;
const ACTIVE: usize = 0;
const DISCONNECTED: usize = 1;
const FIRED: usize = 2;
/// Set for the whole life of a once-listener, so that the emit loop's
/// single "is the word 0?" test sends once-listeners to the claiming path.
const ONCE: usize = 0b100;
/// Each live `BlockGuard` adds one of these.
const BLOCK: usize = 0b1000;

/// Status, once flag and block count; see the constants above. The word is
/// 0 exactly when a plain listener may be called, `ONCE` exactly when a
/// once-listener's single call may be claimed.
pub(crate) struct StateWord(AtomicUsize);

impl StateWord {
    /// An active listener; a once-listener if `once`.
    pub(crate) fn new(once: bool) -> Self {
        Self(AtomicUsize::new(if once { ONCE } else { ACTIVE }))
    }

    /// The word, for the emit loop: 0 means "call it now"; anything else
    /// means skip it, or, for a once-listener, try [`claim_once`].
    ///
    /// [`claim_once`]: Self::claim_once
    #[inline(always)]
    pub(crate) fn get(&self) -> usize {
        // Relaxed: the word carries no data; a disconnect that happens-before
        // this emit is seen by coherence, and concurrent ones are ordered by
        // the barrier pair of `record` (docs/ordering.md).
        self.0.load(Ordering::Relaxed)
    }

    /// Whether a word that read `state` (non-zero) is a once-listener's
    /// that may still be claimed. Cold and out of line: the emit loop's hot
    /// path is then one test of the word against 0.
    #[cold]
    #[inline(never)]
    pub(crate) fn is_claimable(state: usize) -> bool {
        state == ONCE
    }

    /// Tries to claim the single call of a once-listener
    /// ([`is_claimable`]); true for exactly one emit, however many race.
    ///
    /// [`is_claimable`]: Self::is_claimable
    #[cold]
    pub(crate) fn claim_once(&self) -> bool {
        self.0
            // Relaxed: the compare-exchange alone decides the single winner;
            // no data is published through it.
            .compare_exchange(ONCE, ONCE | FIRED, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Marks the listener disconnected; true if it was connected (active or
    /// blocked) before. A fired once-listener counts as already
    /// disconnected.
    pub(crate) fn mark_disconnected(&self) -> bool {
        // SeqCst: the store half of the disconnect_wait protocol; it must be
        // ordered before the scan's barrier and loads (docs/ordering.md).
        let previous = self.0.fetch_or(DISCONNECTED, Ordering::SeqCst);
        previous & STATUS == ACTIVE
    }

    /// Whether this once-listener used its single call.
    pub(crate) fn has_fired(&self) -> bool {
        // Relaxed: writers read it under their lock to drop fired slots; a
        // slot that fires just after is dropped by a later write.
        self.0.load(Ordering::Relaxed) & FIRED != 0
    }

    pub(crate) fn is_once(&self) -> bool {
        // Relaxed: the flag never changes.
        self.0.load(Ordering::Relaxed) & ONCE != 0
    }

    pub(crate) fn is_connected(&self) -> bool {
        // Relaxed: a snapshot for the caller; nothing is published through it.
        self.0.load(Ordering::Relaxed) & STATUS == ACTIVE
    }

    pub(crate) fn block(&self) {
        // Relaxed: blocking publishes no data; see `get`.
        self.0.fetch_add(BLOCK, Ordering::Relaxed);
    }

    pub(crate) fn unblock(&self) {
        // Relaxed: as in block.
        self.0.fetch_sub(BLOCK, Ordering::Relaxed);
    }

    pub(crate) fn is_blocked(&self) -> bool {
        // Relaxed: a snapshot for the caller.
        self.0.load(Ordering::Relaxed) >= BLOCK
    }
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::StateWord;

    /// The emit loop's one test: a plain active listener's word is 0; a
    /// block makes it non-zero until the guard's unblock.
    #[test]
    fn a_plain_listener_is_callable_exactly_while_its_word_is_zero() {
        let word = StateWord::new(false);
        assert_eq!(word.get(), 0);
        word.block();
        word.block();
        assert_ne!(word.get(), 0);
        assert!(word.is_blocked());
        word.unblock();
        assert!(word.is_blocked());
        word.unblock();
        assert_eq!(word.get(), 0);
        assert!(word.is_connected());
    }

    /// `mark_disconnected` reports whether the listener was connected, once.
    #[test]
    fn disconnecting_reports_the_first_time_only() {
        let word = StateWord::new(false);
        assert!(word.mark_disconnected());
        assert!(!word.mark_disconnected());
        assert!(!word.is_connected());
        assert_ne!(word.get(), 0);
    }

    /// A blocked listener is still connected, and disconnecting it reports
    /// that it was.
    #[test]
    fn a_blocked_listener_is_connected() {
        let word = StateWord::new(false);
        word.block();
        assert!(word.is_connected());
        assert!(word.mark_disconnected());
        word.unblock();
        assert_ne!(word.get(), 0, "unblocking does not reconnect");
    }

    /// A once-listener's word is exactly `ONCE` while it may be claimed; one
    /// claim wins, and it then reads as fired and disconnected.
    #[test]
    fn a_once_listener_is_claimed_once() {
        let word = StateWord::new(true);
        let state = word.get();
        assert_ne!(state, 0, "a once-listener takes the claiming path");
        assert!(word.is_once());
        assert!(StateWord::is_claimable(state));
        assert!(word.claim_once());
        assert!(!word.claim_once());
        assert!(word.has_fired());
        assert!(!word.is_connected());
        assert!(!StateWord::is_claimable(word.get()));
        assert!(
            !word.mark_disconnected(),
            "a fired listener counts as disconnected"
        );
    }

    /// A blocked once-listener cannot be claimed.
    #[test]
    fn a_blocked_once_listener_is_not_claimable() {
        let word = StateWord::new(true);
        word.block();
        assert!(!StateWord::is_claimable(word.get()));
        word.unblock();
        assert!(StateWord::is_claimable(word.get()));
    }
}
