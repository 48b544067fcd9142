//! The drainer: the one job per signal that takes accepted events off the
//! queue and delivers them, and the fork-join fan-out it (and `emit_join`)
//! uses. See `docs/architecture.md`, "AsyncSignal".

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

#[cfg(not(loom))]
use crossbeam_utils::Backoff;

use super::{Ordering, Shared};
use crate::base::List;
use crate::error::{BoxError, EmitError, ListenerPanic};
use crate::slot::Slot;
use crate::sync::{self, Arc, Ordering as Memory, exec};

/// Events taken off the queue per delivery round: enough to spread over the
/// pool and to pay one list load, one split and one count update per round.
const BATCH: usize = 32;

/// Starts a drainer for `shared` on its pool.
pub(super) fn spawn<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>) {
    let pool = shared.pool.clone();
    let shared = Arc::clone(shared);
    exec::spawn(&pool, move || drain(&shared));
}

/// Delivers batches until no event is pending, then clears `SCHEDULED`.
fn drain<T: Send + Sync + 'static>(shared: &Shared<T>) {
    // Only the one scheduled drainer ever locks the buffer, so this never
    // waits; it lives in the signal so that rounds do not allocate.
    let mut batch = sync::lock(&shared.batch);
    #[cfg(not(loom))]
    let backoff = Backoff::new();
    loop {
        while batch.len() < BATCH {
            match shared.queue.pop() {
                Some(event) => batch.push(event),
                None => break,
            }
        }
        if batch.is_empty() {
            let seen = shared.state.load();
            if shared.state.try_idle(seen) {
                return;
            }
            if seen.pending() != 0 {
                // An emit counted its event and has not pushed it yet.
                #[cfg(not(loom))]
                if backoff.is_completed() {
                    std::thread::yield_now();
                } else {
                    backoff.snooze();
                }
                #[cfg(loom)]
                sync::yield_now();
            }
            continue;
        }
        #[cfg(not(loom))]
        backoff.reset();

        deliver(shared, &batch);
        let mut delivered = [0; 2];
        for (_, parity) in batch.iter() {
            delivered[usize::from(*parity)] += 1;
        }
        let count = batch.len() as u64;
        // The values are dropped before they count as delivered, so a flush
        // that returns has seen them dropped. Each drop on its own: a
        // panicking drop is caught and counted, and a second one in the same
        // batch does not panic during the first one's unwinding (an abort).
        for event in batch.drain(..) {
            if catch_unwind(AssertUnwindSafe(|| drop(event))).is_err() {
                // Relaxed: a statistic.
                shared.panicked.fetch_add(1, Memory::Relaxed);
            }
        }
        // Relaxed: a statistic.
        shared.delivered.fetch_add(count, Memory::Relaxed);
        if shared.state.complete(delivered).has_waiters() {
            shared.wake();
        }
    }
}

/// Runs every listener for every event of `batch`, spread over the pool.
fn deliver<T: Send + Sync + 'static>(shared: &Shared<T>, batch: &[(T, u8)]) {
    let base = &*shared.base;
    if base.len() == 0 {
        return;
    }
    base.with_current(|list| {
        let listeners = list.slots.len();
        match shared.ordering {
            // Every (event, listener) pair is independent.
            Ordering::Unordered => fan_out(&shared.pool, 0..batch.len() * listeners, &|range| {
                let _running = base.enter();
                for at in range {
                    let (value, _) = &batch[at / listeners];
                    call(shared, list, &list.slots[at % listeners], value);
                }
            }),
            // Each listener takes the batch in order, on one thread.
            Ordering::PerListener => fan_out(&shared.pool, 0..listeners, &|range| {
                let _running = base.enter();
                for slot in &list.slots[range] {
                    for (value, _) in batch {
                        call(shared, list, slot, value);
                    }
                }
            }),
        }
    });
}

/// Calls `leaf` on pieces of `range`, as many pieces as the pool has
/// threads, split further where a piece is stolen (rayon's adaptive
/// splitting); `rayon::join` does not allocate.
pub(super) fn fan_out(
    pool: &exec::Pool,
    range: Range<usize>,
    leaf: &(impl Fn(Range<usize>) + Sync),
) {
    let threads = exec::threads(pool);
    split(range, threads, threads, leaf);
}

fn split(
    range: Range<usize>,
    splits: usize,
    threads: usize,
    leaf: &(impl Fn(Range<usize>) + Sync),
) {
    if range.len() <= 1 || splits == 0 {
        leaf(range);
        return;
    }
    let middle = range.start + range.len() / 2;
    let (left, right) = (range.start..middle, middle..range.end);
    exec::join(
        |_| split(left, splits / 2, threads, leaf),
        |stolen| {
            let splits = if stolen { threads } else { splits / 2 };
            split(right, splits, threads, leaf);
        },
    );
}

/// One call, as an emit makes it: skipped unless active (or a once-slot
/// this call claims); panics caught and counted; errors counted and sent to
/// the error handler.
fn call<T: Send + Sync + 'static>(shared: &Shared<T>, list: &List<T>, slot: &Slot<T>, value: &T) {
    let Some(result) = try_call(shared, slot, value) else {
        return;
    };
    if let Err(error) = result {
        // Relaxed: a statistic.
        shared.failed.fetch_add(1, Memory::Relaxed);
        // The handler is user code too.
        if catch_unwind(AssertUnwindSafe(|| shared.base.report(list, slot, error))).is_err() {
            shared.panicked.fetch_add(1, Memory::Relaxed);
        }
    }
}

/// Calls `slot` if it is active, catching a panic (counted and sent to the
/// panic handler). `None` if the slot was skipped or panicked.
fn try_call<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    slot: &Slot<T>,
    value: &T,
) -> Option<Result<(), BoxError>> {
    try_call_with(shared, slot, value, |panic| shared.report_panic(panic))
}

/// The call of [`try_call`], with what to do with a panic left to the caller.
pub(super) fn try_call_with<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    slot: &Slot<T>,
    value: &T,
    on_panic: impl FnOnce(ListenerPanic),
) -> Option<Result<(), BoxError>> {
    let state = slot.state();
    if state != 0 {
        if !slot.is_claimable(state) || !slot.claim_once() {
            return None; // disconnected, blocked, or a once-slot that fired
        }
        shared.base.note_fired();
    }
    match catch_unwind(AssertUnwindSafe(|| slot.call(value))) {
        Ok(result) => Some(result),
        Err(payload) => {
            // Relaxed: a statistic.
            shared.panicked.fetch_add(1, Memory::Relaxed);
            on_panic(ListenerPanic::new(slot.id, slot.key.clone(), &*payload));
            None
        }
    }
}

/// Runs every listener for `value` spread over the pool and waits: the body
/// of `emit_join`. Returns every error, panics included.
pub(super) fn join_all<T: Send + Sync + 'static>(shared: &Shared<T>, value: &T) -> Vec<EmitError> {
    let base = &*shared.base;
    let errors = sync::Mutex::new(Vec::new());
    if base.len() != 0 {
        exec::install(&shared.pool, || {
            base.with_current(|list| {
                fan_out(&shared.pool, 0..list.slots.len(), &|range| {
                    let _running = base.enter();
                    for slot in &list.slots[range] {
                        let mut panicked = None;
                        let result = try_call_with(shared, slot, value, |p| panicked = Some(p));
                        let error: BoxError = match (result, panicked) {
                            (Some(Err(error)), _) => {
                                // Relaxed: a statistic.
                                shared.failed.fetch_add(1, Memory::Relaxed);
                                error
                            }
                            (_, Some(panic)) => Box::new(panic),
                            _ => continue,
                        };
                        sync::lock(&errors).push(EmitError::new(slot.id, slot.key.clone(), error));
                    }
                });
            });
        });
    }
    errors
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
