//! A signal's feed of its subscriptions: the ring, made by the first
//! subscription, and the feeder, the one internal listener that clones
//! each event into it (see `docs/architecture.md`, "Where the events come
//! from").

use super::subscription::Subscription;
use super::{DEFAULT_SUBSCRIPTION_CAPACITY, MAX_CAPACITY, Ring};
use crate::base::{BaseSignal, Options};
use crate::callback::plain;
use crate::error::SubscribeError;
use crate::sync::{self, Arc, ErasedArc};

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

/// A subscription to `base`'s events, on the ring of `capacity` (or the
/// default) that the first call makes. The ring is kept in the signal's
/// `attached` slot as an `Arc<Ring<T>>` (loom's under loom, so a model
/// sees the ring's last reference go), type-erased so that the signal's
/// `Send` and `Sync` do not come to depend on `T`'s.
pub(crate) fn subscribe<T>(
    base: &Arc<BaseSignal<T>>,
    capacity: Option<usize>,
) -> Result<Subscription<T>, SubscribeError>
where
    T: Clone + Send + Sync + 'static,
{
    let mut held = sync::lock(&base.attached);
    if let Some(ring) = held.as_ref() {
        let Some(ring) = ring.downcast_ref::<Arc<Ring<T>>>() else {
            unreachable!("a signal's ring holds the signal's type")
        };
        let ring = Arc::clone(ring);
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
    // Subscribed before the feeder exists: no event is skipped for
    // want of a subscriber once `subscribe` returns.
    let subscription = Subscription::new(Arc::clone(&ring));
    let feeder = Feeder {
        ring: Arc::clone(&ring),
    };
    let feed = move |value: &T| {
        if feeder.ring.has_subscribers() {
            // The ring closes only when this closure is dropped.
            let _ = feeder.ring.push(value.clone());
        }
    };
    let options = Options {
        key: None,
        // First: a listener that panics ends the emit, and the
        // subscriptions still have the event.
        priority: i32::MAX,
        once: false,
        internal: true,
    };
    BaseSignal::connect_unkeyed(base, options, plain(feed));
    *held = Some(ErasedArc::new(ring));
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
