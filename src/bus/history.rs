//! `HistorySignal<T>`: a signal that keeps its last `n` events, and lets a
//! listener connect with replay: it first receives that history, in order,
//! then every later event, with none missed or repeated in between.

use std::collections::VecDeque;
use std::fmt;

use crate::SyncSignal;
use crate::connection::Connection;
use crate::error::BuildError;
use crate::sync::{self, Arc, AtomicBool, Mutex, Ordering};

/// A [`SyncSignal`] that keeps the last `n` events it emitted. A listener
/// connected with [`connect_with_replay`](Self::connect_with_replay) first
/// receives those events, oldest first, then every event emitted after
/// them: none is missed and none is delivered twice, however the replay
/// races emits on other threads.
///
/// Each emit clones the event once into the history (outside any lock) and
/// takes a short lock to append it and number it; delivery is then
/// [`SyncSignal::emit`].
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sigwire::bus::HistorySignal;
///
/// let prices = HistorySignal::<u32>::new(2).unwrap();
/// prices.emit(100);
/// prices.emit(101);
/// prices.emit(102); // the history keeps the last 2
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let s = seen.clone();
/// let _late = prices.connect_with_replay(move |p: &u32| s.lock().unwrap().push(*p));
/// prices.emit(103);
/// assert_eq!(*seen.lock().unwrap(), [101, 102, 103]);
/// ```
pub struct HistorySignal<T: 'static> {
    signal: SyncSignal<Stamped<T>>,
    log: Mutex<Log<T>>,
    capacity: usize,
}

/// An event with its number: the emit order, as decided under the log's
/// lock. A replaying listener skips live events numbered below its
/// watermark (its replay had them).
struct Stamped<T> {
    seq: u64,
    value: T,
}

struct Log<T> {
    /// The last `capacity` events, numbered `next - events.len()` to
    /// `next - 1`.
    events: VecDeque<T>,
    /// The number the next emit takes.
    next: u64,
}

/// A replaying listener's gate: live events queue behind the replay.
struct Gate<T> {
    /// Set (under `queue`'s lock) by the replaying thread once the history
    /// and every queued event are delivered; from then on live events pass
    /// straight through.
    open: AtomicBool,
    queue: Mutex<Queued<T>>,
}

struct Queued<T> {
    /// Live events that arrived during the replay, in arrival order.
    events: Vec<T>,
    /// The replay panicked: the listener is gone, later arrivals are
    /// dropped.
    abandoned: bool,
}

impl<T: Clone + Send + Sync + 'static> HistorySignal<T> {
    /// A signal that keeps its last `capacity` events. The history's
    /// memory (`capacity` times the size of `T`) is allocated here, so that
    /// emits never allocate it.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroCapacity`] for a capacity of 0 (a history of
    /// nothing: use a [`SyncSignal`]), and [`BuildError::OutOfMemory`] when
    /// the history cannot be allocated (see
    /// [`AsyncSignalBuilder::build`](crate::AsyncSignalBuilder::build) for
    /// what that does and does not catch).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::{BuildError, bus::HistorySignal};
    /// assert!(HistorySignal::<u8>::new(0).is_err());
    /// assert_eq!(HistorySignal::<u8>::new(8).unwrap().capacity(), 8);
    /// assert!(matches!(
    ///     HistorySignal::<u64>::new(usize::MAX),
    ///     Err(BuildError::OutOfMemory { .. })
    /// ));
    /// ```
    pub fn new(capacity: usize) -> Result<Self, BuildError> {
        if capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        Ok(Self {
            signal: SyncSignal::new(),
            log: Mutex::new(Log {
                events: super::reserved(capacity)?,
                next: 0,
            }),
            capacity,
        })
    }

    /// Records `value` in the history and delivers it to every listener,
    /// on this thread, as [`SyncSignal::emit`] does.
    ///
    /// # Panics
    ///
    /// A panicking listener unwinds out of `emit`, as out of
    /// [`SyncSignal::emit`]; the event stays in the history. A panicking
    /// `Clone` unwinds before anything is recorded.
    ///
    /// # Examples
    ///
    /// See [`HistorySignal`].
    pub fn emit(&self, value: T) {
        let copy = value.clone();
        let (seq, evicted) = {
            let mut log = sync::lock(&self.log);
            let seq = log.next;
            log.next += 1;
            let evicted = if log.events.len() == self.capacity {
                log.events.pop_front()
            } else {
                None
            };
            log.events.push_back(copy);
            (seq, evicted)
        };
        // Outside the lock: the drop is user code.
        drop(evicted);
        self.signal.emit(&Stamped { seq, value });
    }

    /// Connects a listener for events emitted from now on (no replay).
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::atomic::{AtomicU32, Ordering};
    /// # use std::sync::Arc;
    /// # use sigwire::bus::HistorySignal;
    /// let signal = HistorySignal::<u32>::new(4).unwrap();
    /// signal.emit(1);
    /// let sum = Arc::new(AtomicU32::new(0));
    /// let s = sum.clone();
    /// let conn = signal.connect(move |v: &u32| { s.fetch_add(*v, Ordering::Relaxed); });
    /// signal.emit(2);
    /// assert_eq!(sum.load(Ordering::Relaxed), 2);
    /// assert!(conn.disconnect());
    /// ```
    pub fn connect<F>(&self, f: F) -> Connection
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        self.signal
            .connect(move |event: &Stamped<T>| f(&event.value))
    }

    /// Connects a listener that first receives the history (oldest first),
    /// on this thread before this call returns, then every later event.
    /// Each event reaches it exactly once, and the history before any
    /// event emitted after it.
    ///
    /// No emit waits for the replay. A live event that reaches this
    /// listener while the replay runs (from any thread, the listener's own
    /// emits included) is cloned into a queue, and the replaying thread
    /// delivers the queue right after the history, in arrival order; such
    /// an event may reach this listener after the emit that sent it
    /// returned. One emitting thread's events keep their order. The queue
    /// holds what is emitted while the replay runs: a slow replay under a
    /// fast emitter makes it grow. A `T::clone` that panics while an event
    /// is queued unwinds out of that emit, and this listener misses that
    /// event.
    ///
    /// # Panics
    ///
    /// A panic in the listener during the replay, or in `T::clone` while
    /// the history is copied, unwinds out of this call; the listener is
    /// disconnected (or was never connected), and what was queued for it is
    /// dropped.
    ///
    /// # Examples
    ///
    /// See [`HistorySignal`].
    pub fn connect_with_replay<F>(&self, f: F) -> Connection
    where
        F: Fn(&T) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let gate = Arc::new(Gate {
            open: AtomicBool::new(false),
            queue: Mutex::new(Queued {
                events: Vec::new(),
                abandoned: false,
            }),
        });
        let (history, connection) = {
            let log = sync::lock(&self.log);
            // The copy runs `Clone` (user code) under the lock, before the
            // listener exists: a panic leaves nothing behind (a `Clone` that
            // emits on this signal would deadlock).
            let history = log.events.clone();
            let watermark = log.next;
            let (listener, gate) = (Arc::clone(&f), Arc::clone(&gate));
            // Connected under the log's lock: an emit numbered from
            // `watermark` on takes the lock after this, so it loads a list
            // with this listener; an earlier-numbered emit is in the
            // history (or was evicted before we came), and the listener
            // skips it if it sees it live.
            let connection = self.signal.connect(move |event: &Stamped<T>| {
                if event.seq >= watermark && gate.pass(&event.value) {
                    (*listener)(&event.value);
                }
            });
            (history, connection)
        };
        let abandon = Abandon {
            gate: &gate,
            connection: &connection,
        };
        for event in &history {
            f(event);
        }
        drop(history);
        loop {
            let queued = {
                let mut queue = sync::lock(&gate.queue);
                if queue.events.is_empty() {
                    // Release: the replay's calls happen before any live call
                    // that sees the gate open (Acquire in `pass`).
                    gate.open.store(true, Ordering::Release);
                    break;
                }
                std::mem::take(&mut queue.events)
            };
            for event in &queued {
                f(event);
            }
        }
        std::mem::forget(abandon);
        connection
    }

    /// A copy of the history, oldest first. The copy runs `T::clone` under
    /// the history's lock (a `Clone` that emits on this signal would
    /// deadlock).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::HistorySignal;
    /// let s = HistorySignal::<&str>::new(2).unwrap();
    /// s.emit("a");
    /// s.emit("b");
    /// s.emit("c");
    /// assert_eq!(s.history(), ["b", "c"]);
    /// ```
    pub fn history(&self) -> Vec<T> {
        sync::lock(&self.log).events.iter().cloned().collect()
    }

    /// Turns on the delivery counters; see [`SyncSignal::enable_stats`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::HistorySignal;
    /// let s = HistorySignal::<u8>::new(4).unwrap();
    /// s.enable_stats();
    /// let _a = s.connect(|_: &u8| {});
    /// let _b = s.connect(|_: &u8| {});
    /// s.emit(1);
    /// let _late = s.connect_with_replay(|_: &u8| {}); // a replay: not counted
    /// assert_eq!((s.stats().emitted, s.stats().delivered), (1, 2));
    /// ```
    pub fn enable_stats(&self) {
        self.signal.enable_stats();
    }

    /// The delivery counters; see [`SyncSignal::stats`]. Replays are not
    /// counted (they are not emits).
    ///
    /// # Examples
    ///
    /// See [`enable_stats`](Self::enable_stats).
    pub fn stats(&self) -> crate::Stats {
        self.signal.stats()
    }

    /// How many events the history keeps.
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many listeners are connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::HistorySignal;
    /// let s = HistorySignal::<u8>::new(1).unwrap();
    /// let _c = s.connect(|_: &u8| {});
    /// assert_eq!(s.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.signal.len()
    }

    /// Whether no listener is connected.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::HistorySignal;
    /// assert!(HistorySignal::<u8>::new(1).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.signal.is_empty()
    }
}

impl<T: Clone> Gate<T> {
    /// Whether a live event may go to the listener now; before the gate
    /// opens, queues a copy for the replaying thread instead (or drops it
    /// if the replay was abandoned).
    fn pass(&self, value: &T) -> bool {
        // Acquire: pairs with the opening store's Release; the replay's
        // calls happen before this one.
        if self.open.load(Ordering::Acquire) {
            return true;
        }
        let copy = value.clone(); // user code: outside the lock
        let mut queue = sync::lock(&self.queue);
        // Relaxed: stored under this lock, which orders it.
        if self.open.load(Ordering::Relaxed) {
            // Opened meanwhile, after the queue (with this thread's earlier
            // events) was delivered: deliver this one now.
            drop(queue);
            drop(copy);
            return true;
        }
        let dropped = if queue.abandoned {
            Some(copy)
        } else {
            queue.events.push(copy);
            None
        };
        drop(queue);
        drop(dropped);
        false
    }
}

/// While armed (the replay runs), a panic disconnects the listener and
/// drops what was queued for it.
struct Abandon<'a, T> {
    gate: &'a Gate<T>,
    connection: &'a Connection,
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        self.connection.disconnect();
        let queued = {
            let mut queue = sync::lock(&self.gate.queue);
            queue.abandoned = true;
            std::mem::take(&mut queue.events)
        };
        drop(queued);
    }
}

impl<T: Send + Sync + 'static> fmt::Debug for HistorySignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let log = sync::lock(&self.log);
        f.debug_struct("HistorySignal")
            .field("listeners", &self.signal.len())
            .field("kept", &log.events.len())
            .field("capacity", &self.capacity)
            .field("emitted", &log.next)
            .finish()
    }
}
