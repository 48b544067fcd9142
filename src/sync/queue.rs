//! An `AsyncSignal`'s bounded queue of accepted events: crossbeam's
//! lock-free `ArrayQueue` normally, allocated fallibly first (`ArrayQueue::new`
//! cannot fail). Under loom, a `VecDeque` behind a loom `Mutex` with the same
//! `push` / `pop`: crossbeam's std atomics are invisible to loom, and a lock
//! gives a model the one property the signal relies on, that each push and
//! pop happens once, in a single order.

pub(crate) use imp::{Queue, bounded};

/// The queue's buffer could not be allocated: it needs `bytes`.
#[derive(Debug)]
pub(crate) struct NoMemory {
    pub(crate) bytes: u128,
}

/// What `capacity` values of type `E` take.
fn bytes_of<E>(capacity: usize) -> u128 {
    capacity as u128 * std::mem::size_of::<E>() as u128
}

#[cfg(not(loom))]
mod imp {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;

    use super::{NoMemory, bytes_of};

    /// The bounded lock-free queue of an `AsyncSignal`'s accepted events.
    pub(crate) type Queue<T> = crossbeam_queue::ArrayQueue<T>;

    /// One slot of the queue's buffer, declared as crossbeam-queue 0.3
    /// declares its private `Slot<T>`, for its size: the event and a stamp.
    struct Slot<T> {
        _stamp: Stamp,
        _value: UnsafeCell<MaybeUninit<T>>,
    }

    #[cfg(target_has_atomic = "64")]
    type Stamp = std::sync::atomic::AtomicU64;
    #[cfg(not(target_has_atomic = "64"))]
    type Stamp = std::sync::atomic::AtomicUsize;

    /// A queue of `capacity` slots (`capacity` ≥ 1), or [`NoMemory`] if
    /// their buffer cannot be allocated.
    ///
    /// `ArrayQueue::new` allocates infallibly (an abort, or a panic past
    /// `isize::MAX` bytes), so the same buffer is first allocated fallibly,
    /// and freed. That catches every size no process can address and every
    /// size the allocator refuses; it cannot catch memory granted lazily
    /// and missing when touched, nor memory taken by another thread between
    /// the probe and the real allocation.
    pub(crate) fn bounded<T>(capacity: usize) -> Result<Queue<T>, NoMemory> {
        Vec::<Slot<T>>::new()
            .try_reserve_exact(capacity)
            .map_err(|_| NoMemory {
                bytes: bytes_of::<Slot<T>>(capacity),
            })?;
        Ok(Queue::new(capacity))
    }
}

#[cfg(loom)]
mod imp {
    use std::collections::VecDeque;

    use super::{NoMemory, bytes_of};
    use crate::sync::{Mutex, lock};

    /// A queue of `capacity` slots, or [`NoMemory`].
    pub(crate) fn bounded<T>(capacity: usize) -> Result<Queue<T>, NoMemory> {
        let mut items = VecDeque::new();
        items.try_reserve_exact(capacity).map_err(|_| NoMemory {
            bytes: bytes_of::<T>(capacity),
        })?;
        Ok(Queue {
            items: Mutex::new(items),
            capacity,
        })
    }

    /// Loom stand-in for `crossbeam_queue::ArrayQueue` (whose std atomics
    /// loom cannot see): the same interface over a loom `Mutex`.
    pub(crate) struct Queue<T> {
        items: Mutex<VecDeque<T>>,
        capacity: usize,
    }

    impl<T> Queue<T> {
        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            let mut items = lock(&self.items);
            if items.len() == self.capacity {
                return Err(value);
            }
            items.push_back(value);
            Ok(())
        }

        pub(crate) fn pop(&self) -> Option<T> {
            lock(&self.items).pop_front()
        }

        pub(crate) fn is_empty(&self) -> bool {
            lock(&self.items).is_empty()
        }
    }
}
