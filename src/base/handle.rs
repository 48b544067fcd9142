//! The core's handle to one connected listener (`Handle`, and
//! `ConnectionHandle<T>`, its typed form): weak references to the signal
//! and the slot, erased over the event type. The public `Connection` wraps
//! one; the core hands out only this, so it knows no public handle type.

use crate::base::BaseSignal;
use crate::base::slot::Slot;
use crate::error::WouldDeadlock;
use crate::sync::{self, Arc, ErasedArc, Weak};
use crate::unwind;

/// What a `Connection` can do, erased over the signal's event type.
pub(crate) trait Handle: Send + Sync {
    fn id(&self) -> u64;
    fn disconnect(&self) -> bool;
    fn disconnect_wait(&self) -> Result<bool, WouldDeadlock>;
    fn is_connected(&self) -> bool;
    fn is_blocked(&self) -> bool;
    /// Adds a block; false if the listener no longer exists.
    fn block(&self) -> bool;
    fn unblock(&self);
}

/// The typed handle behind a `Connection`: weak references only, so a
/// connection keeps neither the signal nor the listener's closure alive.
pub(crate) struct ConnectionHandle<T> {
    id: u64,
    signal: Weak<BaseSignal<T>>,
    slot: Weak<Slot<T>>,
}

impl<T: 'static> ConnectionHandle<T> {
    /// The handle of the slot `id` of `signal`, which `connect` handed
    /// back as `slot`.
    pub(crate) fn erased(
        signal: &Arc<BaseSignal<T>>,
        id: u64,
        slot: Weak<Slot<T>>,
    ) -> ErasedArc<dyn Handle> {
        ErasedArc::new(Self {
            id,
            signal: sync::downgrade(signal),
            slot,
        })
    }
}

impl<T: 'static> Handle for ConnectionHandle<T>
where
    BaseSignal<T>: Send + Sync,
    Slot<T>: Send + Sync,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn disconnect(&self) -> bool {
        // Mark first: from here on no emit that has not reached the slot
        // calls it, even one holding an old list.
        let Some(was_connected) = self.with_slot(|s| s.state.mark_disconnected()) else {
            return false;
        };
        match self.signal.upgrade() {
            Some(signal) => {
                signal.remove(self.id);
                was_connected
            }
            None => false,
        }
    }

    fn disconnect_wait(&self) -> Result<bool, WouldDeadlock> {
        let was_connected = self.disconnect();
        match self.signal.upgrade() {
            Some(signal) => signal.wait_for_emits().map(|()| was_connected),
            // The signal is gone, so no emit of it can be running.
            None => Ok(was_connected),
        }
    }

    fn is_connected(&self) -> bool {
        self.with_slot(|s| s.state.is_connected()).unwrap_or(false)
    }

    fn is_blocked(&self) -> bool {
        self.with_slot(|s| s.state.is_blocked()).unwrap_or(false)
    }

    fn block(&self) -> bool {
        self.with_slot(|s| s.state.block()).is_some()
    }

    fn unblock(&self) {
        self.with_slot(|s| s.state.unblock());
    }
}

impl<T> ConnectionHandle<T> {
    /// Runs `f` on the slot, if it is still alive. The reference taken for
    /// it may turn out to be the slot's last (a write freed the lists that
    /// held it meanwhile): then it is released the way writes release
    /// slots, so a panicking closure `Drop` is caught and reported to the
    /// signal (`BaseSignal::release`), or, with the signal gone, caught
    /// and dropped.
    fn with_slot<R>(&self, f: impl FnOnce(&Slot<T>) -> R) -> Option<R> {
        let slot = self.slot.upgrade()?;
        let result = f(&slot);
        match self.signal.upgrade() {
            Some(signal) => signal.release(slot),
            None => {
                if let Err(payload) = unwind::drop_caught(slot) {
                    unwind::dispose(payload);
                }
            }
        }
        Some(result)
    }
}
