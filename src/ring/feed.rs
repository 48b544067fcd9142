//! A `SyncSignal`'s feed of its subscriptions: the ring, made by the first
//! subscription, and the feeder, the one internal listener that clones
//! each event into it (see `docs/architecture.md`, "Where the events come
//! from").

use std::any::Any;

use super::subscription::Subscription;
use super::{DEFAULT_SUBSCRIPTION_CAPACITY, MAX_CAPACITY, Ring};
use crate::base::{Attachment, BaseSignal};
use crate::callback::plain;
use crate::error::SubscribeError;
use crate::sync::{self, Arc, ErasedArc};
use crate::unwind::contain;

/// The internal listener's capture: closes the ring when the signal drops
/// it (with the signal's last list), so subscriptions end with `Closed`
/// after the last event.
struct Feeder<T> {
    ring: Arc<Ring<T>>,
}

impl<T> Drop for Feeder<T> {
    fn drop(&mut self) {
        self.ring.close();
    }
}

impl<T: Clone> Feeder<T> {
    /// Copies `value` into the ring. The event type's `Clone` and `Drop`
    /// (of the event a reused slot held) run under a catch: a subscription
    /// must not change what the signal's listeners receive, and the feeder
    /// runs before them. A panic is counted in the signal's `error_count`
    /// (its panic message is printed by the panic hook, as any); a clone
    /// that panicked leaves a hole, which readers see as a lag of one.
    fn feed(&self, value: &T) {
        if !self.ring.has_subscribers() {
            return;
        }
        match contain(|| value.clone()) {
            // The ring closes only when this feeder is dropped.
            Some(copy) => {
                if contain(|| drop(self.ring.push(copy))).is_none() {
                    self.ring.note_panic();
                }
            }
            None => {
                self.ring.note_panic();
                if contain(|| self.ring.push_hole()).is_none() {
                    self.ring.note_panic();
                }
            }
        }
    }
}

impl<T: Send + Sync + 'static> Attachment for Arc<Ring<T>> {
    fn errors(&self) -> u64 {
        self.panics()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A subscription to `base`'s events, on the ring of `capacity` (or the
/// default) that the first call makes and keeps in the signal's
/// `attached` slot (an `Arc<Ring<T>>`: loom's under loom, so a model sees
/// the ring's last reference go).
pub(crate) fn subscribe<T>(
    base: &Arc<BaseSignal<T>>,
    capacity: Option<usize>,
) -> Result<Subscription<T>, SubscribeError>
where
    T: Clone + Send + Sync + 'static,
{
    let mut held = sync::lock(&base.attached);
    if let Some(ring) = held.as_ref() {
        let Some(ring) = ring.as_any().downcast_ref::<Arc<Ring<T>>>() else {
            unreachable!("a signal's ring holds the signal's type")
        };
        let ring = Arc::clone(ring);
        drop(held);
        if let Some(requested) = capacity {
            check(requested)?;
            if requested.next_power_of_two() != ring.capacity() {
                return Err(SubscribeError::CapacityFixed {
                    requested,
                    capacity: ring.capacity(),
                });
            }
        }
        return Ok(Subscription::new(ring));
    }
    let ring = Arc::new(Ring::new(
        capacity.unwrap_or(DEFAULT_SUBSCRIPTION_CAPACITY),
    )?);
    // Subscribed before the feeder exists: no event is skipped for want of
    // a subscriber once `subscribe` returns.
    let subscription = Subscription::new(Arc::clone(&ring));
    let feeder = Feeder {
        ring: Arc::clone(&ring),
    };
    let garbage = BaseSignal::connect_internal(base, plain(move |value: &T| feeder.feed(value)));
    *held = Some(ErasedArc::new(ring));
    drop(held);
    // After the lock: a freed closure's `Drop` may subscribe too.
    base.dispose(garbage);
    Ok(subscription)
}

/// Whether a ring can have `capacity`.
pub(super) fn check(capacity: usize) -> Result<(), SubscribeError> {
    match capacity {
        0 => Err(SubscribeError::ZeroCapacity),
        _ if capacity > MAX_CAPACITY => Err(SubscribeError::CapacityTooLarge {
            requested: capacity,
            max: MAX_CAPACITY,
        }),
        _ => Ok(()),
    }
}
