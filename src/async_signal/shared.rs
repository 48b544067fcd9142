//! `Shared<T>`: what an `AsyncSignal`, its drainer and its waiters share
//! (the listener list's core, the queue, the state word, the counters),
//! and the waits on it.

use std::time::Instant;

use super::builder::{DeliveryOrder, Overflow, PanicHandler};
use super::state::{Snapshot, State};
use crate::base::BaseSignal;
use crate::error::ListenerPanic;
use crate::ring::Ring;
use crate::sync::{self, Arc, AtomicBool, AtomicU64, Condvar, Mutex, Queue, exec};

/// What the signal, its drainer and its waiters share.
pub(crate) struct Shared<T> {
    pub(super) base: Arc<BaseSignal<T>>,
    /// Accepted events not yet taken by the drainer, each with the epoch
    /// parity it is counted in.
    pub(super) queue: Queue<(T, u8)>,
    pub(super) state: State,
    pub(super) capacity: usize,
    pub(super) overflow: Overflow,
    pub(super) ordering: DeliveryOrder,
    pub(super) pool: exec::Pool,
    /// The drainer's batch buffer (see `drain`).
    pub(super) batch: Mutex<Vec<(T, u8)>>,
    /// Where flushers, `shutdown` and blocked emitters sleep.
    pub(super) sleep: Mutex<()>,
    pub(super) wakeup: Condvar,
    pub(super) on_panic: Mutex<Option<PanicHandler>>,
    /// The subscriptions' ring and how to copy an event into it, once
    /// `subscribe` made them; the drainer fills it, a batch at a time.
    pub(super) feed: Mutex<Option<Feed<T>>>,
    /// Set once `feed` holds a ring: until then the drainer does not take
    /// the feed's mutex.
    pub(super) subscribed: AtomicBool,
    /// Events whose listeners all returned (`emit_collect`'s included): with
    /// `pending`, the events emitted.
    pub(super) completed: AtomicU64,
    /// Calls of a listener that returned.
    pub(super) delivered: AtomicU64,
    /// Odd while the drainer moves a batch from `pending` to `completed`
    /// (`drain::count`), so that `stats` never counts a batch in both, or
    /// in neither: written only by the drainer, which runs alone.
    pub(super) stamp: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) panicked: AtomicU64,
    pub(super) rejected: AtomicU64,
}

/// The ring of an `AsyncSignal`'s subscriptions and the clone that fills
/// it (`subscribe` is the one place that knows `T: Clone`).
pub(super) struct Feed<T> {
    pub(super) ring: Arc<Ring<T>>,
    pub(super) copy: fn(&T) -> T,
}

impl<T> Clone for Feed<T> {
    fn clone(&self) -> Self {
        Self {
            ring: Arc::clone(&self.ring),
            copy: self.copy,
        }
    }
}

impl<T> Drop for Shared<T> {
    /// The signal and its drainer are gone, and every accepted event was
    /// delivered: subscriptions end with `Closed` after the last one.
    fn drop(&mut self) {
        super::drain::close_feed(self);
    }
}

impl<T> Shared<T> {
    /// Waits until `done` holds for the state word, or until `deadline`
    /// (then `false`). A pool thread runs pool jobs meanwhile; another
    /// thread sleeps on the condvar (see `docs/ordering.md`, "Waiters").
    pub(super) fn wait_until(
        &self,
        deadline: Option<Instant>,
        done: impl Fn(Snapshot) -> bool,
    ) -> bool {
        let expired = || deadline.is_some_and(|deadline| Instant::now() >= deadline);
        // Spin and yield a little first: room usually appears within a
        // batch's delivery, and a sleep costs two context switches.
        #[cfg(not(loom))]
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            if done(self.state.load()) {
                return true;
            }
            if expired() {
                return false;
            }
            if exec::help() {
                continue;
            }
            #[cfg(not(loom))]
            if !backoff.is_completed() {
                backoff.snooze();
                continue;
            }
            break;
        }
        let mut guard = sync::lock(&self.sleep);
        loop {
            if done(self.state.add_waiter()) {
                return true;
            }
            let Ok(timeout) = sync::left_until(deadline) else {
                return false;
            };
            guard = sync::wait(&self.wakeup, guard, timeout).0;
        }
    }

    /// Wakes every sleeping waiter, to test its condition again.
    pub(super) fn wake(&self) {
        let _guard = sync::lock(&self.sleep);
        self.state.clear_waiters();
        self.wakeup.notify_all();
    }

    /// Hands a caught panic to the panic handler; a panic of the handler
    /// itself is caught and counted.
    pub(super) fn report_panic(&self, panic: ListenerPanic) {
        let handler = sync::lock(&self.on_panic).clone();
        let report = move || match handler {
            Some(handler) => handler(panic),
            None => default_panic_handler(panic),
        };
        if crate::unwind::contain(report).is_none() {
            // Relaxed: a statistic.
            self.panicked.fetch_add(1, sync::Ordering::Relaxed);
        }
    }
}

#[cold]
fn default_panic_handler(panic: ListenerPanic) {
    #[cfg(feature = "tracing")]
    tracing::error!(listener = panic.id(), key = panic.key(), %panic, "sigwire listener panicked");
    #[cfg(not(feature = "tracing"))]
    drop(panic);
}
