//! Dropping what writes free — retired lists, their closures, filters and
//! error handlers — where a panicking `Drop` (user code) must not reach
//! the unrelated caller that happened to free it: each is dropped on its
//! own under a catch, counted, and reported to the error handler.

use super::list::{Config, List};
use super::{BaseSignal, Garbage, default_error_handler};
use crate::base::slot::Slot;
use crate::error::{EmitError, ListenerPanic};
use crate::sync::{Arc, ErasedArc, Ordering};
use crate::unwind;

impl<T> BaseSignal<T> {
    /// Drops what a write took out of use, after the writer lock was
    /// released: lists (their filters and handlers) and slots (their
    /// closures). User code, so each is dropped on its own under a catch. A
    /// panic is counted in `errors` and reported to the error handler as an
    /// `EmitError` holding a `ListenerPanic`, so that the write that
    /// happened to free them (on any thread) still completes and returns its
    /// result, and two panicking closures in one write cannot abort.
    pub(crate) fn dispose(&self, garbage: Garbage<T>) {
        let Garbage { lists, slots } = garbage;
        for list in lists {
            let List { config, .. } = match Arc::try_unwrap(list) {
                Ok(list) => list,
                // Still referenced: only at the signal's drop, by a holder
                // that leaked its reference (a forgotten `Emitter`), which
                // can never read it again. A reclaimed list was held by
                // nobody. Dropping ours touches no slot.
                Err(list) => {
                    self.release_with(0, None, list);
                    continue;
                }
            };
            let Config {
                on_error, filters, ..
            } = config;
            self.release_with(0, None, on_error);
            for (id, filter) in filters.into_vec() {
                self.release_with(id, None, filter);
            }
        }
        for slot in slots {
            self.release(slot);
        }
    }

    /// Drops `slot`, which may hold the last reference to its closure, as
    /// [`dispose`](Self::dispose) does.
    pub(crate) fn release(&self, slot: Arc<Slot<T>>) {
        let (id, key) = (slot.id, slot.key().cloned());
        self.release_with(id, key, slot);
    }

    /// Drops `value` under a catch; a panic is reported as listener `id`'s.
    pub(super) fn release_with<V>(&self, id: u64, key: Option<ErasedArc<str>>, value: V) {
        if let Err(payload) = unwind::drop_caught(value) {
            self.report_drop_panic(ListenerPanic::caught(id, key, payload));
        }
    }

    /// Reports a panic caught while dropping a listener's closure (or a
    /// filter, or an error handler: id 0 for a handler).
    #[cold]
    pub(crate) fn report_drop_panic(&self, panic: ListenerPanic) {
        // Relaxed: a statistic; nothing is published through it.
        self.errors.fetch_add(1, Ordering::Relaxed);
        let error = EmitError::new(panic.id(), panic.key_arc(), Box::new(panic));
        let handler = self.list.load().config.on_error.clone();
        // A panicking handler has nobody left to report to.
        unwind::contain(move || match handler {
            Some(handler) => handler(error),
            None => default_error_handler(error),
        });
    }
}
