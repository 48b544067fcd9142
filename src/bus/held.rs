//! `HeldSignal<T>`: a signal that holds what is emitted before `start()`
//! (components wire themselves up first), then delivers it in order before
//! any later emit.

use std::collections::VecDeque;
use std::fmt;

use crate::SyncSignal;
use crate::error::{BuildError, RejectReason, Rejected};
use crate::sync::{self, AtomicBool, Mutex, Ordering};

/// A [`SyncSignal`] that is *held* until [`start`](Self::start): events
/// emitted before it are queued (up to a capacity, allocated by
/// [`new`](Self::new); beyond it the emitter gets its event back, never a
/// silent drop), and `start` delivers the queue
/// in emit order before any later emit reaches a listener. After `start`,
/// `emit` is one atomic load plus [`SyncSignal::emit`].
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::bus::HeldSignal;
///
/// let config = HeldSignal::<String>::new(16).unwrap();
/// config.emit("early".to_string()).unwrap(); // held: no listener yet
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// config.signal().connect(move |v: &String| s.lock().unwrap().push(v.clone()));
///
/// config.start(); // delivers "early"
/// config.emit("late".to_string()).unwrap();
/// assert_eq!(*seen.lock().unwrap(), ["early", "late"]);
/// ```
pub struct HeldSignal<T: 'static> {
    signal: SyncSignal<T>,
    /// Set (under the lock) once the queue is delivered and gone.
    started: AtomicBool,
    state: Mutex<State<T>>,
    capacity: usize,
}

enum State<T> {
    Held {
        queue: VecDeque<T>,
        /// A `start` is delivering (outside the lock): later emits still
        /// queue, and it delivers them too before it opens the signal.
        draining: bool,
    },
    Started,
}

impl<T: 'static> HeldSignal<T> {
    /// A held signal that queues up to `capacity` events before `start`.
    /// The queue's memory (`capacity` times the size of `T`) is allocated
    /// here, so that emits before `start` never allocate; `start` frees it.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroCapacity`] for a capacity of 0, and
    /// [`BuildError::OutOfMemory`] when the queue cannot be allocated (see
    /// [`AsyncSignalBuilder::build`](crate::AsyncSignalBuilder::build) for
    /// what that does and does not catch).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{BuildError, bus::HeldSignal};
    /// assert!(HeldSignal::<u8>::new(0).is_err());
    /// assert_eq!(HeldSignal::<u8>::new(4).unwrap().capacity(), 4);
    /// assert!(matches!(
    ///     HeldSignal::<u64>::new(usize::MAX),
    ///     Err(BuildError::OutOfMemory { .. })
    /// ));
    /// ```
    pub fn new(capacity: usize) -> Result<Self, BuildError> {
        if capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        Ok(Self {
            signal: SyncSignal::new(),
            started: AtomicBool::new(false),
            state: Mutex::new(State::Held {
                queue: super::reserved(capacity)?,
                draining: false,
            }),
            capacity,
        })
    }

    /// The signal itself: connect listeners through it (and emit through it
    /// directly only if holding does not matter to that emit).
    ///
    /// # Examples
    ///
    /// See [`HeldSignal`].
    pub fn signal(&self) -> &SyncSignal<T> {
        &self.signal
    }

    /// Emits `value`: delivered now if the signal was started, queued
    /// otherwise. With the signal's counters on
    /// ([`SyncSignal::enable_stats`]), an event turned away counts as
    /// `rejected` (and not as `emitted`), and a queued one is counted, with
    /// its deliveries, when `start` delivers it.
    ///
    /// # Errors
    ///
    /// Before `start`, with `capacity` events queued: the value comes back
    /// in a [`Rejected`] with [`RejectReason::Full`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{RejectReason, bus::HeldSignal};
    /// let held = HeldSignal::<u8>::new(1).unwrap();
    /// held.emit(1).unwrap();
    /// assert_eq!(held.emit(2).unwrap_err().reason(), RejectReason::Full);
    /// held.start();
    /// held.emit(3).unwrap();
    /// ```
    pub fn emit(&self, value: T) -> Result<(), Rejected<T>> {
        // Acquire: pairs with `start`'s Release, after which every queued
        // event has been delivered; this emit comes after them.
        if !self.started.load(Ordering::Acquire) {
            let mut state = sync::lock(&self.state);
            if let State::Held { queue, .. } = &mut *state {
                if queue.len() >= self.capacity {
                    drop(state);
                    self.signal.note_rejected();
                    return Err(Rejected::new(value, RejectReason::Full));
                }
                queue.push_back(value);
                return Ok(());
            }
        }
        self.signal.emit(&value);
        Ok(())
    }

    /// Delivers every queued event, in emit order, then lets later emits
    /// through. Emits made meanwhile (by other threads, or by listeners of
    /// the queued events) queue behind and are delivered first too; the
    /// capacity bounds them together with the events not yet delivered. A
    /// second call returns at once (while the first still delivers, or
    /// after).
    ///
    /// # Panics
    ///
    /// A panicking listener unwinds out of `start`, as out of
    /// [`SyncSignal::emit`]. The events after the one it panicked on stay
    /// queued, the signal stays held, and the next `start` delivers them.
    ///
    /// # Examples
    ///
    /// See [`HeldSignal`].
    pub fn start(&self) {
        match &mut *sync::lock(&self.state) {
            // Started, or another `start` (perhaps further up this
            // thread's stack) is delivering, and will open the signal.
            State::Started | State::Held { draining: true, .. } => return,
            State::Held { draining, .. } => *draining = true,
        }
        // If a listener panics, the guard clears `draining`.
        let _delivering = Delivering(self);
        // Each event is taken off the queue under the lock and delivered
        // outside it: listeners may emit on this signal (their events
        // queue behind, in the same buffer) without deadlocking.
        while let Some(value) = self.next_held() {
            self.signal.emit(&value);
        }
    }

    /// The next queued event for `start`; with none left, opens the signal
    /// (and frees the queue).
    fn next_held(&self) -> Option<T> {
        let mut state = sync::lock(&self.state);
        let State::Held { queue, .. } = &mut *state else {
            return None;
        };
        let next = queue.pop_front();
        if next.is_none() {
            *state = State::Started;
            // Release: an emit that sees it (Acquire) comes after every
            // queued event's delivery.
            self.started.store(true, Ordering::Release);
        }
        next
    }

    /// Whether [`start`](Self::start) has delivered the queue.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::HeldSignal;
    /// let held = HeldSignal::<u8>::new(4).unwrap();
    /// assert!(!held.is_started());
    /// held.start();
    /// assert!(held.is_started());
    /// ```
    pub fn is_started(&self) -> bool {
        // Acquire: as in `emit`.
        self.started.load(Ordering::Acquire)
    }

    /// How many events wait for `start`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::HeldSignal;
    /// let held = HeldSignal::<u8>::new(4).unwrap();
    /// held.emit(1).unwrap();
    /// assert_eq!(held.held(), 1);
    /// ```
    pub fn held(&self) -> usize {
        match &*sync::lock(&self.state) {
            State::Held { queue, .. } => queue.len(),
            State::Started => 0,
        }
    }

    /// How many events may wait for `start`.
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// A `start` delivering. If a listener panics, the panic goes on to
/// `start`'s caller (as it does from `SyncSignal::emit`), and this guard
/// clears `draining`: the events not yet delivered are still queued, and a
/// later `start` delivers them and opens the signal. The event whose
/// delivery panicked is not retried: some listeners saw it already.
struct Delivering<'a, T: 'static>(&'a HeldSignal<T>);

impl<T: 'static> Drop for Delivering<'_, T> {
    fn drop(&mut self) {
        // Delivered (the signal is open), or a listener panicked.
        if let State::Held { draining, .. } = &mut *sync::lock(&self.0.state) {
            *draining = false;
        }
    }
}

impl<T: 'static> fmt::Debug for HeldSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldSignal")
            .field("started", &self.is_started())
            .field("held", &self.held())
            .field("capacity", &self.capacity)
            .field("listeners", &self.signal.len())
            .finish()
    }
}
