//! `SyncSignal<T>`: listeners run inline, on the emitting thread.

use std::fmt;
use std::ops::{ControlFlow, Deref};

mod emitter;
mod run;

pub use emitter::Emitter;

use crate::base::List;
use crate::base::slot::Slot;
use crate::callback::skipped;
use crate::cancel::Cancel;
use crate::error::SubscribeError;
use crate::error::{BoxError, Cancelled, EmitError, EmitErrors};
use crate::listeners::Listeners;
use crate::ring::feed;
use crate::ring::subscription::Subscription;
use run::{go_on, reporting, run};

/// A signal whose listeners run inline, on the thread that emits.
///
/// Emitting never takes a lock, never allocates and never waits for
/// connects or disconnects; those never wait for a running emit. Listeners
/// run in priority order (higher first), then connection order.
///
/// # Re-entrancy
///
/// A listener may connect, disconnect, clear and emit, on this signal or any
/// other. A listener connected during an emit is first called by the next
/// emit; a listener disconnected during an emit is not called later in it.
///
/// # Memory
///
/// A disconnected listener is never called again, but its closure (and what
/// it captured) is dropped only once no emit can still be reading a list that
/// contains it. The disconnect itself frees it when no other thread is inside
/// an emit of the signal at that moment; otherwise a later write to the
/// signal (connect, disconnect, clear), a `disconnect_wait`, or the signal's
/// drop frees it. While other threads emit in a loop, writes leave that
/// work to a later write (at most 1 024 lists later), so that a writer
/// under load does not interrupt every core once per write. An [`Emitter`]
/// holds the list it last used until its next `emit` or its drop, and a
/// later write then frees it. Threads that emitted and went idle hold
/// nothing (see `docs/architecture.md`).
/// [`Connection::disconnect_wait`](crate::Connection::disconnect_wait) frees
/// what its wait made free, whatever else runs.
///
/// # Panics
///
/// `SyncSignal` never panics by itself. A panicking listener unwinds to the
/// caller of the emit: the listeners after it are not called by that emit,
/// and the signal stays fully usable (nothing is poisoned). A once-listener
/// that panics has still used its single call.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use sigwire::SyncSignal;
///
/// struct Tick { price: u64 }
///
/// let ticks = SyncSignal::<Tick>::new();
/// let total = Arc::new(AtomicU64::new(0));
/// let t = total.clone();
/// let conn = ticks.connect(move |tick: &Tick| { t.fetch_add(tick.price, Ordering::Relaxed); });
///
/// ticks.emit(&Tick { price: 10 });
/// ticks.emit(&Tick { price: 32 });
/// assert_eq!(total.load(Ordering::Relaxed), 42);
///
/// conn.disconnect();
/// ticks.emit(&Tick { price: 1000 });
/// assert_eq!(total.load(Ordering::Relaxed), 42);
/// ```
pub struct SyncSignal<T> {
    listeners: Listeners<T>,
}

/// The connect family, filters, keys, `len` / `is_empty` / `clear` and the
/// error handler: shared by every signal kind, documented on
/// [`Listeners`].
impl<T> Deref for SyncSignal<T> {
    type Target = Listeners<T>;

    fn deref(&self) -> &Listeners<T> {
        &self.listeners
    }
}

impl<T: 'static> SyncSignal<T> {
    /// A signal with no listeners.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<String>::new();
    /// assert!(signal.is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            listeners: Listeners::new(),
        }
    }

    /// Turns on this signal's delivery counters (read them with
    /// [`stats`](Self::stats)); a second call does nothing. Off by default:
    /// a signal without counters pays nothing for them.
    ///
    /// The counters are sharded by thread, one cache line per shard, so
    /// emitting threads do not contend on them. With counters on, each emit
    /// that reaches a listener list adds two increments to its thread's
    /// shard (the event and its deliveries, counted on the stack as the
    /// listeners return), plus one per listener that failed. An emit that
    /// finds the listener list empty is not counted (a fired once-listener
    /// stays in the list until the next change to it).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u32>::new();
    /// signal.enable_stats();
    /// signal.set_error_handler(|_| {});
    /// signal.connect(|_: &u32| {});
    /// signal.connect_fallible(|v: &u32| if *v == 0 { Err("zero") } else { Ok(()) });
    /// signal.add_filter(|v: &u32| *v < 100);
    /// for v in [0, 1, 2, 500] {
    ///     signal.emit(&v);
    /// }
    /// // 4 events; 3 passed the filter, each delivered to 2 listeners.
    /// let stats = signal.stats();
    /// assert_eq!((stats.emitted, stats.delivered, stats.failed), (4, 6, 1));
    /// ```
    pub fn enable_stats(&self) {
        self.listeners.base().enable_stats();
    }

    /// The delivery counters: all zero unless
    /// [`enable_stats`](Self::enable_stats) was called; the units of
    /// [`Stats`](crate::Stats). For a `SyncSignal`: `emitted` counts emits
    /// that reached a listener list, those whose event a signal-level filter
    /// turned away included (they make no delivery); `delivered` the
    /// listener calls that returned, `failed` those that returned an error;
    /// `panicked` the panics that unwound out of an emit (a listener's, or a
    /// filter's or error handler's), one each: the listeners before it in
    /// that emit count as delivered, those after it are not called.
    /// `rejected` counts only what a full [`HeldSignal`](crate::bus::HeldSignal)
    /// turned away, and `pending` is 0.
    ///
    /// # Examples
    ///
    /// See [`enable_stats`](Self::enable_stats).
    pub fn stats(&self) -> crate::Stats {
        self.listeners
            .base()
            .counters()
            .map(|c| c.read())
            .unwrap_or_default()
    }

    /// Counts an event that a wrapper (a `HeldSignal` that is full) turned
    /// away, if the counters are on.
    pub(crate) fn note_rejected(&self) {
        if let Some(counters) = self.listeners.base().counters() {
            counters.reject();
        }
    }

    /// Calls every active listener with `value`, in order. Errors of fallible
    /// listeners go to the error handler; every listener runs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<&str>::new();
    /// signal.connect(|s: &&str| assert_eq!(*s, "hello"));
    /// signal.emit(&"hello");
    /// ```
    #[inline]
    pub fn emit(&self, value: &T) {
        let _ = self.emit_with(value, go_on::<()>, reporting(self.listeners.base()));
    }

    /// Calls the listeners in order until one fails.
    ///
    /// # Errors
    ///
    /// The first [`EmitError`]; the listeners after it are not called.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("first"));
    /// signal.connect(|_: &()| unreachable!("not called after an error"));
    /// let err = signal.try_emit(&()).unwrap_err();
    /// assert_eq!(err.source_error().to_string(), "first");
    /// ```
    pub fn try_emit(&self, value: &T) -> Result<(), EmitError> {
        let flow = self.emit_with(value, go_on, |list, slot, result| match result {
            Err(error) if !skipped(&error) => {
                list.note_failed();
                ControlFlow::Break(EmitError::new(slot.id, slot.key().cloned(), error))
            }
            _ => ControlFlow::Continue(()),
        });
        match flow {
            ControlFlow::Continue(_) => Ok(()),
            ControlFlow::Break(error) => Err(error),
        }
    }

    /// Calls every listener and returns every error.
    ///
    /// # Errors
    ///
    /// [`EmitErrors`], in the order the listeners ran, if any failed.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect_fallible(|_: &()| Err("a"));
    /// signal.connect_fallible(|_: &()| Err("b"));
    /// assert_eq!(signal.emit_collect(&()).unwrap_err().len(), 2);
    /// ```
    pub fn emit_collect(&self, value: &T) -> Result<(), EmitErrors> {
        let mut errors = Vec::new();
        let _ = self.emit_with(value, go_on, |list, slot, result| {
            match result {
                Err(error) if !skipped(&error) => {
                    list.note_failed();
                    errors.push(EmitError::new(slot.id, slot.key().cloned(), error));
                }
                _ => {}
            }
            ControlFlow::<()>::Continue(())
        });
        if errors.is_empty() {
            Ok(())
        } else {
            Err(EmitErrors::new(errors))
        }
    }

    /// Calls the listeners in order, checking `cancel` before each one it is
    /// about to call (blocked and disconnected listeners are skipped without
    /// a check). Errors of fallible listeners go to the error handler, as
    /// under [`emit`](Self::emit).
    ///
    /// # Errors
    ///
    /// [`Cancelled`], with how many listeners ran, once `cancel` fires before
    /// a listener.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use sigwire::SyncSignal;
    ///
    /// let signal = SyncSignal::<()>::new();
    /// signal.connect(|_: &()| std::thread::sleep(Duration::from_millis(20)));
    /// signal.connect(|_: &()| {});
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert_eq!(signal.emit_until(&(), deadline).unwrap_err().ran(), 1);
    /// ```
    pub fn emit_until<C: Cancel>(&self, value: &T, cancel: C) -> Result<(), Cancelled> {
        let before = |ran| {
            if cancel.is_cancelled() {
                ControlFlow::Break(Cancelled::new(ran))
            } else {
                ControlFlow::Continue(())
            }
        };
        let flow = self.emit_with(value, before, reporting(self.listeners.base()));
        match flow {
            ControlFlow::Continue(_) => Ok(()),
            ControlFlow::Break(cancelled) => Err(cancelled),
        }
    }

    /// The frame every emit variant shares: skip an empty signal, record
    /// the emit (for `disconnect_wait` and list reclamation), read the
    /// current list, run the loop.
    #[inline(always)]
    fn emit_with<B>(
        &self,
        value: &T,
        before: impl FnMut(usize) -> ControlFlow<B>,
        after: impl FnMut(&List<T>, &Slot<T>, Result<(), BoxError>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        if self.listeners.base().len() == 0 {
            return ControlFlow::Continue(());
        }
        let base = &**self.listeners.base();
        base.with_current(
            #[inline(always)]
            move |list| run(base, list, value, before, after),
        )
    }

    /// A handle for a hot loop: its [`emit`](Emitter::emit) holds the
    /// listener list and checks it with one compare, and records itself
    /// with two stores, so it costs less than [`emit`](Self::emit). It sees
    /// connects and disconnects made anywhere, and may move between
    /// threads.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::sync::atomic::{AtomicU64, Ordering};
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u64>::new();
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let s = sum.clone();
    /// signal.connect(move |v: &u64| { s.fetch_add(*v, Ordering::Relaxed); });
    ///
    /// let mut emitter = signal.emitter();
    /// for i in 0..100 {
    ///     emitter.emit(&i);
    /// }
    /// assert_eq!(sum.load(Ordering::Relaxed), 4950);
    /// ```
    pub fn emitter(&self) -> Emitter<'_, T> {
        Emitter::new(self.listeners.base())
    }
}

/// Subscriptions: cursors the caller drives, fed with a clone of each
/// event (one per emit, shared by every subscription of the signal).
impl<T: Clone + Send + Sync + 'static> SyncSignal<T> {
    /// A [`Subscription`] to this signal's events, from the next emit on,
    /// keeping up to 1 024 events for a subscriber that reads late (or the
    /// capacity of the first [`subscribe_with`](Self::subscribe_with)).
    ///
    /// All subscriptions of a signal share one ring, filled by one listener
    /// the signal keeps for them: it runs before every listener, clones
    /// each event that passes the signal's filters into the ring once, and
    /// skips the clone while no subscription exists. [`len`](Listeners::len)
    /// does not count it, [`clear`](Listeners::clear) keeps it, and
    /// [`stats`](Self::stats) counts no delivery to it. A subscription never
    /// changes what the listeners receive: a panic in `T`'s `Clone` (or in
    /// the `Drop` of the event a reused slot held, which the emit that
    /// reuses it drops) is caught and counted in
    /// [`error_count`](Listeners::error_count), and the emit goes on; the
    /// subscriptions are told of an event whose clone panicked as a
    /// [lag](crate::RecvError::Lagged) of one. The ring holds the last
    /// `capacity` events while a subscription exists; the last one's drop
    /// drops them (an emit copying one in at that moment takes it back out
    /// itself). A subscription made during an emit
    /// (in a listener, or in `T`'s `Clone`) may receive that emit's event.
    ///
    /// # Examples
    ///
    /// ```
    /// use sigwire::SyncSignal;
    ///
    /// let orders = SyncSignal::<String>::new();
    /// let mut audit = orders.subscribe();
    /// let mut billing = orders.subscribe();
    /// orders.emit(&"order 1".to_string());
    ///
    /// // One clone of the event, shared: both get the same `Arc`.
    /// let a = audit.recv().unwrap();
    /// let b = billing.recv().unwrap();
    /// assert!(std::sync::Arc::ptr_eq(&a, &b));
    /// assert!(orders.is_empty()); // subscriptions are not listeners
    /// ```
    ///
    /// # Panics
    ///
    /// If this call makes the ring and its 1 024 slots (16 bytes each)
    /// cannot be allocated; [`subscribe_with`](Self::subscribe_with)
    /// returns that as an error.
    #[track_caller]
    pub fn subscribe(&self) -> Subscription<T> {
        match feed::subscribe(self.listeners.base(), None) {
            Ok(subscription) => subscription,
            Err(error) => panic!("SyncSignal::subscribe: {error}"),
        }
    }

    /// A [`Subscription`] as [`subscribe`](Self::subscribe), on a ring of
    /// `capacity` events (rounded up to a power of two) if this is the
    /// signal's first.
    ///
    /// # Errors
    ///
    /// [`SubscribeError::ZeroCapacity`], [`SubscribeError::CapacityTooLarge`]
    /// (above 2^31), [`SubscribeError::OutOfMemory`];
    /// [`SubscribeError::CapacityFixed`] when an earlier subscription made
    /// the ring with another capacity (all share one).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::SyncSignal;
    /// let signal = SyncSignal::<u8>::new();
    /// let sub = signal.subscribe_with(10).unwrap();
    /// assert_eq!(sub.capacity(), 16);
    /// assert!(signal.subscribe_with(16).is_ok()); // the same ring
    /// assert!(signal.subscribe_with(32).is_err());
    /// ```
    pub fn subscribe_with(&self, capacity: usize) -> Result<Subscription<T>, SubscribeError> {
        feed::subscribe(self.listeners.base(), Some(capacity))
    }
}

impl<T: 'static> Default for SyncSignal<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> fmt::Debug for SyncSignal<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSignal")
            .field("id", &self.listeners.base().id())
            .field("len", &self.len())
            .finish()
    }
}
