//! The drainer: the one job per signal that takes accepted events off the
//! queue, hands them to the lanes (`lane.rs`) and the ring, and finishes
//! the batches the lanes are done with; the calls, and the fork-join
//! fan-out that `Unordered` lanes and `emit_collect` use. See
//! `docs/architecture.md`, "AsyncSignal" and "Lanes".

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};

#[cfg(not(loom))]
use crossbeam_utils::Backoff;

use super::cursor::{self, Cursor};
use super::lane::{self, Held, Lane, Span};
use super::shared::{Drainer, Shared};
use super::{state, waits};
use crate::base::List;
use crate::base::slot::Slot;
use crate::base::state::StateWord;
use crate::callback::skipped;
use crate::connection::Policy;
use crate::error::{BoxError, EmitError, ListenerPanic};
use crate::ring::Ring;
use crate::sync::{self, Arc, Ordering, exec};
use crate::unwind::contain;

/// Events taken off the queue per delivery round: enough to spread over the
/// pool and to pay one list load, one split and one count update per round.
pub(super) const BATCH: usize = 32;

/// Starts a drainer for `shared` on its pool.
pub(super) fn spawn<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>) {
    let pool = shared.pool.clone();
    let shared = Arc::clone(shared);
    exec::spawn(&pool, move || {
        if let Some(lane) = drain(&shared, true) {
            lane::run(&shared, &lane);
        }
        // If this was the last reference (the signal was dropped), the
        // listeners' closures drop here: user code, and a panic escaping a
        // rayon job aborts the process.
        contain(move || drop(shared));
    });
}

/// Hands batches to the lanes and finishes those they are done with, in
/// order, until nothing is left to do now: then goes idle (clears
/// `SCHEDULED`), also with batches in flight (the lane that finishes one
/// starts a drainer again). The flight holds `capacity` events, so it is
/// full only while the queue is empty. See `docs/architecture.md`,
/// "Lanes".
///
/// With `adopt`, the first idle lane it wakes is not spawned but returned
/// (if this is the last batch it publishes), for the caller to run once
/// the drainer stopped: an event that finds everything idle then costs one
/// spawn fewer. Not for a drainer that a lane runs: the lane would wait
/// for the one it adopted.
pub(super) fn drain<T: Send + Sync + 'static>(
    shared: &Arc<Shared<T>>,
    adopt: bool,
) -> Option<Arc<Lane>> {
    // The one scheduled drainer locks this for its run (a new drainer
    // waits at most for the previous one to return); `emit_collect` tries
    // it, and the shared state's drop takes it.
    let mut guard = sync::lock(&shared.batch);
    let drainer = &mut *guard;
    let flight = &shared.flight;
    #[cfg(not(loom))]
    let backoff = Backoff::new();
    #[cfg(not(loom))]
    let linger = Backoff::new();
    let mut adopted = None;
    let closed = loop {
        while drainer.head < drainer.tail && flight.is_finished(drainer.head) {
            finish(shared, drainer);
        }
        let free =
            drainer.tail - drainer.head < flight.batches() && drainer.in_flight < flight.cells();
        if free && take(shared, drainer, adopt.then_some(&mut adopted)) {
            #[cfg(not(loom))]
            {
                backoff.reset();
                linger.reset();
            }
            continue;
        }
        let seen = shared.state.load();
        if seen.is_nudged() {
            // A lane finished a batch: look again. Cleared first, so that
            // a lane that finishes one after this nudges again.
            shared.state.clear_nudge();
            continue;
        }
        if seen.pending() == drainer.in_flight {
            // One lane, working elsewhere with batches in flight: more
            // events usually follow within a few microseconds, so wait
            // that long before going idle, or the next emit starts a
            // drainer again (a spawn, an allocation) while the lane works.
            // Not with several lanes (they need the pool's threads), not
            // with the lane adopted (it runs once this drainer stops), and
            // not in a drainer a lane runs (the lane waits for it).
            #[cfg(not(loom))]
            let elsewhere = adopt && adopted.is_none() && drainer.lanes.len() == 1;
            #[cfg(not(loom))]
            if elsewhere && drainer.in_flight != 0 && !linger.is_completed() {
                linger.snooze();
                continue;
            }
            if shared.state.try_idle(seen, drainer.in_flight) {
                break seen.is_closed() && drainer.in_flight == 0;
            }
            continue;
        }
        // An emit counted its event and has not pushed it yet.
        #[cfg(not(loom))]
        if backoff.is_completed() {
            std::thread::yield_now();
        } else {
            backoff.snooze();
        }
        #[cfg(loom)]
        sync::yield_now();
    };
    drop(guard);
    if closed {
        // The last event accepted before the close is delivered; the
        // `on_close` hooks run outside the drainer's lock.
        close_feed(shared);
    }
    adopted
}

/// Takes up to `BATCH` events off the queue into the flight's next cells and
/// publishes it to the lanes of the current list; `false` if the queue was
/// empty. Each event that passes the signal-level filters goes into the
/// ring first, while anything reads it: the dropping listeners and the
/// subscriptions get it at once, and the batch keeps a handle on the
/// ring's copy. With `adopted`, the first lane to start is left there
/// instead of spawned (one adopted before is spawned now: it has a batch
/// waiting).
fn take<T: Send + Sync + 'static>(
    shared: &Arc<Shared<T>>,
    drainer: &mut Drainer<T>,
    mut adopted: Option<&mut Option<Arc<Lane>>>,
) -> bool {
    // The whole batch off the queue first: an event pushed after a
    // dropping listener's `connect` returned is popped (Acquire) before the
    // count of dropping connects is read below, so its cursor is made
    // before that event goes into the ring.
    let taken = &mut drainer.taken;
    let room = BATCH.min(shared.flight.cells() - drainer.in_flight);
    while taken.len() < room {
        match shared.queue.pop() {
            Some(event) => taken.push(event),
            None => break,
        }
    }
    if taken.is_empty() {
        return false;
    }
    let missing = if shared.base.dropping() != drainer.seen {
        refresh(shared, &mut drainer.seen, &mut drainer.cursors)
    } else {
        0
    };
    let ring = ring(shared);
    let at = drainer.tail;
    let start = drainer.position;
    let Drainer {
        cursors,
        lanes,
        taken,
        ..
    } = drainer;
    // The filters and the drops of what the ring's slots held are user
    // code: part of the delivery (a `Drop` that waits for this signal is
    // refused instead of waiting for itself); recorded by `with_current`.
    let span = shared.base.with_current(|list| {
        let filters = !list.config.filters.is_empty();
        let _draining = (filters || ring.is_some()).then(|| waits::Draining::new(shared.base.id()));
        refresh_lanes(list, lanes, at);
        let mut span = Span {
            start,
            len: taken.len(),
            rejected: 0,
        };
        for (i, (value, parity)) in taken.drain(..).enumerate() {
            let passed = !filters || passes_filters(shared, list, &value);
            if !passed {
                span.rejected |= 1 << i;
            }
            // Each time: the last reader may go during the batch.
            let held = match ring
                .as_ref()
                .filter(|ring| passed && ring.has_subscribers())
            {
                Some(ring) => share(shared, ring, value, cursors),
                None => Held::Owned(value),
            };
            shared.flight.put(start + i as u64, (held, parity));
        }
        span
    });
    let count = span.len;
    if missing != 0 {
        // Relaxed: a statistic.
        let dropped = (missing * count) as u64;
        shared.dropped.fetch_add(dropped, Ordering::Relaxed);
    }
    if !drainer.cursors.is_empty() {
        wake_cursors(shared, &mut drainer.cursors);
    }
    shared.flight.publish(at, span, drainer.lanes.len());
    drainer.tail += 1;
    drainer.position += count as u64;
    drainer.in_flight += count;
    // One blocking listener and nothing else reading the events: the lane
    // this drainer adopted stays adopted (it runs once the drainer went
    // idle, on this thread) instead of being spawned, since no one else
    // waits for the events it delays. Not run here, under the drainer's
    // lock: a listener that subscribes, or connects another, and waits
    // for what it emits would wait forever for a drainer that is busy
    // running it (the review's case).
    let alone = drainer.lanes.len() == 1 && drainer.cursors.is_empty() && ring.is_none();
    if !alone {
        if let Some(lane) = adopted.as_deref_mut().and_then(Option::take) {
            lane::spawn(shared, &lane);
        }
    }
    for lane in &drainer.lanes {
        if !lane.wake() {
            continue;
        }
        match adopted.as_deref_mut().filter(|adopted| adopted.is_none()) {
            Some(adopted) => *adopted = Some(Arc::clone(lane)),
            None => lane::spawn(shared, lane),
        }
    }
    true
}

/// Moves `value` into the ring and offers the ring's handle to the
/// `DropNewest` cursors; the handle, for the batch.
fn share<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    ring: &Ring<T>,
    value: T,
    cursors: &[Arc<Cursor<T>>],
) -> Held<T> {
    match ring.push_shared(value) {
        Ok((event, replaced)) => {
            for cursor in cursors {
                cursor.offer(shared, &event);
            }
            // After the offers: a panicking `Drop` of what the slot held
            // must not cost the queues this event.
            drop_contained(shared, replaced);
            Held::Shared(event)
        }
        // Closed: the readers have ended; the blocking listeners still get
        // the event.
        Err(value) => Held::Owned(value),
    }
}

/// Makes the lanes one per blocking slot of `list`, in its order, keeping
/// those of slots already there; a new lane starts with batch `at`, and a
/// lane whose slot left ends before it.
fn refresh_lanes<T>(list: &List<T>, lanes: &mut Vec<Arc<Lane>>, at: u64) {
    let blocking = || {
        list.slots
            .iter()
            .filter(|slot| slot.policy() == Policy::Block)
            .map(|slot| slot.id)
    };
    if blocking().eq(lanes.iter().map(|lane| lane.id)) {
        return;
    }
    let mut old = std::mem::take(lanes);
    for id in blocking() {
        let lane = match old.iter().position(|lane| lane.id == id) {
            Some(kept) => old.swap_remove(kept),
            None => Arc::new(Lane::new(id, at)),
        };
        lanes.push(lane);
    }
    for lane in old {
        lane.end_at(at);
    }
}

/// Finishes the oldest batch in flight, which every lane is done with:
/// drops its events (the ring keeps its copies) and counts it completed.
fn finish<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>, drainer: &mut Drainer<T>) {
    let mut completed = [0; 2];
    let (span, deliveries) = {
        // The events' drops are user code: recorded as part of the
        // delivery, so a `Drop` that waits for this signal is refused
        // instead of waiting for itself; before the count, so a flush that
        // returns sees them done.
        let _running = shared.base.enter();
        let _draining = waits::Draining::new(shared.base.id());
        shared.flight.finish(drainer.head, |(event, parity)| {
            completed[usize::from(parity)] += 1;
            drop_contained(shared, event);
        })
    };
    let count = span.len;
    drainer.head += 1;
    drainer.in_flight -= count;
    if count_completed(shared, deliveries, count as u64, completed).has_waiters() {
        shared.wake();
    }
}

/// Drops `value`; a panicking `Drop` is caught and counted.
fn drop_contained<T, D>(shared: &Shared<T>, value: D) {
    if contain(|| drop(value)).is_none() {
        // Relaxed: a statistic.
        shared.panicked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Makes a cursor for each dropping listener of the current list that has
/// none, and lets go of those whose listener left; publishes the set.
/// Returns the number of listeners whose cursor could not be allocated:
/// the caller counts the events it is about to move in as dropped for
/// each (it is tried again with the next batch).
#[cold]
fn refresh<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    seen: &mut u64,
    cursors: &mut Vec<Arc<Cursor<T>>>,
) -> usize {
    let now = shared.base.dropping();
    let mut missing = 0;
    let mut gone = Vec::new();
    shared.base.with_current(|list| {
        cursors.retain(|cursor| {
            let keep = !cursor.is_retired() && list.slots.iter().any(|slot| slot.id == cursor.id);
            if !keep {
                gone.push(Arc::clone(cursor));
            }
            keep
        });
        for slot in list.slots.iter() {
            let policy = slot.policy();
            if policy == Policy::Block || cursors.iter().any(|cursor| cursor.id == slot.id) {
                continue;
            }
            let made = shared
                .ring()
                .ok()
                .and_then(|ring| Cursor::new(slot.id, policy, &ring, shared.capacity));
            match made {
                Some(cursor) => cursors.push(Arc::new(cursor)),
                None => missing += 1,
            }
        }
    });
    if missing == 0 {
        *seen = now;
    }
    publish_set(shared, cursors, gone);
    missing
}

/// Publishes the drainer's cursor set for `flush`, `stats` and `dropped`,
/// then lets go of the cursors it no longer holds (`gone`, and the old
/// set) outside the lock: the last handle on a cursor drops its place in
/// the ring, and with it, maybe, the ring's events (user code).
fn publish_set<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    cursors: &[Arc<Cursor<T>>],
    gone: Vec<Arc<Cursor<T>>>,
) {
    let old = std::mem::replace(&mut *sync::lock(&shared.cursors), cursors.to_vec());
    cursor::release(shared, (gone, old));
}

/// Starts the job of every cursor that is idle; lets go of retired ones.
fn wake_cursors<T: Send + Sync + 'static>(
    shared: &Arc<Shared<T>>,
    cursors: &mut Vec<Arc<Cursor<T>>>,
) {
    if cursors.iter().any(|cursor| cursor.is_retired()) {
        let (gone, kept) = std::mem::take(cursors)
            .into_iter()
            .partition(|cursor| cursor.is_retired());
        *cursors = kept;
        publish_set(shared, cursors, gone);
    }
    start_idle(shared, cursors);
}

/// Starts the job of every cursor of `cursors` that is idle (and not
/// retired).
fn start_idle<T: Send + Sync + 'static>(shared: &Arc<Shared<T>>, cursors: &[Arc<Cursor<T>>]) {
    for cursor in cursors.iter().filter(|cursor| !cursor.is_retired()) {
        if cursor.wake() {
            cursor::spawn(shared, cursor);
        }
    }
}

/// Ends the subscriptions and the dropping listeners (after what the ring
/// holds), then runs the `on_close` hooks. Called once the signal is closed
/// (or its shared state dropped) and every event accepted was delivered;
/// maybe more than once (the hooks run the first time).
pub(super) fn close_feed<T>(shared: &Shared<T>) {
    // Closed after the lock is released: the close wakes the tasks that
    // wait on the ring, an executor's code, which may subscribe. (A ring
    // made after the lock was released sees the close itself: `Shared::
    // ring` tests the state under the lock.)
    let ring = sync::lock(&shared.ring).as_ref().map(Arc::clone);
    if let Some(ring) = ring {
        ring.close();
    }
    let hooks = {
        let mut closers = sync::lock(&shared.closers);
        closers.done = true;
        std::mem::take(&mut closers.hooks)
    };
    // Outside the lock: a hook may register another.
    for hook in hooks {
        run_hook(shared, hook);
    }
}

/// Runs an `on_close` hook; a panic is caught and counted.
pub(super) fn run_hook<T>(shared: &Shared<T>, hook: Box<dyn FnOnce() + Send>) {
    if contain(hook).is_none() {
        // Relaxed: a statistic.
        shared.panicked.fetch_add(1, Ordering::Relaxed);
    }
}

/// Moves `events` into the ring, in order, while anything reads it;
/// drops them otherwise. For `emit_collect` (the drainer's own set of
/// `DropNewest` cursors is in its `Drainer`; this one offers to the
/// published set).
pub(super) fn move_in<T: Send + Sync + 'static>(
    shared: &Arc<Shared<T>>,
    events: impl Iterator<Item = T>,
) {
    // A dropping listener the drainer has not met yet gets its cursor now,
    // if the drainer is idle (its lock is free); a running drainer meets
    // it with its next batch, after this event.
    if let Some(mut drainer) = sync::try_lock(&shared.batch) {
        let Drainer { seen, cursors, .. } = &mut *drainer;
        if shared.base.dropping() != *seen {
            let missing = refresh(shared, seen, cursors);
            // Relaxed: a statistic.
            shared.dropped.fetch_add(missing as u64, Ordering::Relaxed);
        }
    }
    let mut cursors = if shared.subscribed.load(Ordering::Acquire) {
        sync::lock(&shared.cursors).clone()
    } else {
        Vec::new()
    };
    move_in_offering(shared, events, &cursors);
    start_idle(shared, &cursors);
    cursors.truncate(0);
    cursor::release(shared, cursors);
}

/// [`move_in`], offering each event to the `DropNewest` cursors of
/// `cursors`.
fn move_in_offering<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    events: impl Iterator<Item = T>,
    cursors: &[Arc<Cursor<T>>],
) {
    let ring = ring(shared);
    let offers = cursors.iter().any(|cursor| cursor.takes_offers());
    for value in events {
        // Each time: the last reader may go during the batch, and what is
        // moved in after it would be kept for no one.
        let Some(ring) = ring.as_ref().filter(|ring| ring.has_subscribers()) else {
            drop_contained(shared, value);
            continue;
        };
        // The drop of the event a reused slot held may panic (after the
        // publish: the new event is in).
        let stored = contain(|| {
            if offers {
                ring.push_shared(value).map(|(event, replaced)| {
                    for cursor in cursors {
                        cursor.offer(shared, &event);
                    }
                    // After the offers: a panicking `Drop` of what the
                    // slot held must not cost the queues this event.
                    drop(replaced);
                })
            } else {
                ring.push(value)
            }
        });
        match stored {
            Some(Ok(())) => {}
            // Closed (only `emit_collect` racing `close` gets here): the
            // readers have ended.
            Some(Err(value)) => drop_contained(shared, value),
            None => {
                // Relaxed: a statistic.
                shared.panicked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The ring, while something reads it.
fn ring<T>(shared: &Shared<T>) -> Option<Arc<crate::ring::Ring<T>>> {
    // Acquire: pairs with `Shared::ring`'s Release store, after the ring is
    // in place. An event pushed to the queue after `subscribe` returned is
    // popped after it (the queue's Release / Acquire), so its batch sees
    // the flag.
    if !shared.subscribed.load(Ordering::Acquire) {
        return None;
    }
    let ring = sync::lock(&shared.ring).clone()?;
    ring.has_subscribers().then_some(ring)
}

/// Moves a delivered batch of `count` events (`by_parity`) from `pending`
/// (the state word) to `completed`, with its `deliveries`, between two
/// stores of `stamp`, so that `AsyncSignal::stats` counts each event once:
/// it retries a read that the stamp shows overlapped this. `completed`
/// comes first, so a flush that sees the lower pending count sees the
/// batch completed too. Only the drainer runs this (under the batch lock),
/// so the stamp has one writer.
fn count_completed<T>(
    shared: &Shared<T>,
    deliveries: u64,
    count: u64,
    by_parity: [usize; 2],
) -> state::Snapshot {
    // Relaxed: only this drainer writes the stamp; an earlier drainer's
    // stores happen before (the batch lock).
    let stamp = shared.stamp.load(Ordering::Relaxed);
    // Relaxed: ordered before the counts by their Release below (a reader
    // that reads a count written after it sees it).
    shared.stamp.store(stamp + 1, Ordering::Relaxed);
    // Release (all three): a `stats` that reads one of them (Acquire) then
    // reads the odd stamp, or a later one, and retries.
    shared.delivered.fetch_add(deliveries, Ordering::Release);
    shared.completed.fetch_add(count, Ordering::Release);
    let now = shared.state.complete(by_parity);
    // Release: a `stats` that reads the even stamp (Acquire) sees the three
    // counts above.
    shared.stamp.store(stamp + 2, Ordering::Release);
    now
}

/// Whether `value` passes the signal-level filters; a panicking filter
/// rejects the event and counts as a panic.
fn passes_filters<T: Send + Sync + 'static>(shared: &Shared<T>, list: &List<T>, value: &T) -> bool {
    contain(|| list.config.passes(value)).unwrap_or_else(|| {
        // Relaxed: a statistic.
        shared.panicked.fetch_add(1, Ordering::Relaxed);
        false
    })
}

/// Calls `leaf` on pieces of `range`, as many pieces as the pool has
/// threads, split further where a piece is stolen (rayon's adaptive
/// splitting); `rayon::join` does not allocate. Returns the sum of what
/// the pieces returned (their deliveries: one counter update per batch,
/// not per call). Called inside `with_current`, whose record entry covers
/// the calling thread; `draining` when it delivers the queue (not for
/// `emit_collect`), so that stolen halves count as part of that delivery for
/// `waits`.
pub(super) fn fan_out<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    draining: bool,
    range: Range<usize>,
    leaf: &(impl Fn(Range<usize>) -> u64 + Sync),
) -> u64 {
    let threads = exec::threads(&shared.pool);
    split(shared, draining, range, threads, threads, leaf)
}

fn split<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    draining: bool,
    range: Range<usize>,
    splits: usize,
    threads: usize,
    leaf: &(impl Fn(Range<usize>) -> u64 + Sync),
) -> u64 {
    if range.len() <= 1 || splits == 0 {
        return leaf(range);
    }
    let middle = range.start + range.len() / 2;
    let (left, right) = (range.start..middle, middle..range.end);
    let (left, right) = exec::join(
        |_| split(shared, draining, left, splits / 2, threads, leaf),
        |stolen| {
            // A stolen half runs on another thread: record it there as part
            // of this delivery, so that whatever that thread runs meanwhile
            // (its listeners, or any pool job it picks up while it waits in
            // a `join` below) is refused a wait for this signal instead of
            // waiting for itself.
            let _running = stolen.then(|| shared.base.enter());
            let _draining = (stolen && draining).then(|| waits::Draining::new(shared.base.id()));
            let splits = if stolen { threads } else { splits / 2 };
            split(shared, draining, right, splits, threads, leaf)
        },
    );
    left + right
}

/// One call, as an emit makes it: skipped unless active (or a once-slot
/// this call claims); panics caught and counted; errors counted and sent to
/// the error handler. Returns 1 for a delivery (the call returned), else 0.
pub(super) fn call<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    list: &List<T>,
    slot: &Slot<T>,
    value: &T,
) -> u64 {
    let Some(result) = try_call(shared, slot, value) else {
        return 0;
    };
    if let Err(error) = result {
        // Relaxed: a statistic.
        shared.failed.fetch_add(1, Ordering::Relaxed);
        // The handler is user code too.
        if contain(|| shared.base.report(list, slot, error)).is_none() {
            // Relaxed: a statistic.
            shared.panicked.fetch_add(1, Ordering::Relaxed);
        }
    }
    1
}

/// Calls `slot` if it is active, catching a panic (counted and sent to the
/// panic handler). `None` if the slot was skipped (disconnected, blocked, a
/// fired once-slot, or filtered out by its own filter) or panicked.
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
    let state = slot.state.get();
    if state != 0 {
        if !StateWord::is_claimable(state) || !slot.state.claim_once() {
            return None; // disconnected, blocked, or a once-slot that fired
        }
        shared.base.note_fired();
    }
    match catch_unwind(AssertUnwindSafe(|| slot.try_call(value))) {
        Ok(Err(error)) if skipped(&error) => None, // filtered out: no delivery
        Ok(result) => Some(result),
        Err(payload) => {
            // Relaxed: a statistic.
            shared.panicked.fetch_add(1, Ordering::Relaxed);
            on_panic(ListenerPanic::caught(slot.id, slot.key().cloned(), payload));
            None
        }
    }
}

/// Runs every blocking listener for `value` spread over the pool and
/// waits: the body of `emit_collect`. Returns every error, panics included,
/// the number of deliveries (calls that returned), and whether the event
/// passed the signal-level filters.
pub(super) fn join_all<T: Send + Sync + 'static>(
    shared: &Shared<T>,
    value: &T,
) -> (Vec<EmitError>, u64, bool) {
    let base = &*shared.base;
    let errors = sync::Mutex::new(Vec::new());
    let mut delivered = 0;
    let mut passed = true;
    if base.len() != 0 {
        delivered = exec::install(&shared.pool, || {
            base.with_current(|list| {
                if !list.config.filters.is_empty() && !passes_filters(shared, list, value) {
                    passed = false;
                    return 0;
                }
                fan_out(shared, false, 0..list.slots.len(), &|range| {
                    let mut delivered = 0;
                    let blocking = list.slots[range]
                        .iter()
                        .filter(|slot| slot.policy() == Policy::Block);
                    for slot in blocking {
                        let mut panicked = None;
                        let result = try_call_with(shared, slot, value, |p| panicked = Some(p));
                        delivered += u64::from(result.is_some());
                        let error: BoxError = match (result, panicked) {
                            (Some(Err(error)), _) => {
                                // Relaxed: a statistic.
                                shared.failed.fetch_add(1, Ordering::Relaxed);
                                error
                            }
                            (_, Some(panic)) => Box::new(panic),
                            _ => continue,
                        };
                        sync::lock(&errors).push(EmitError::new(
                            slot.id,
                            slot.key().cloned(),
                            error,
                        ));
                    }
                    delivered
                })
            })
        });
    }
    let errors = sync::into_inner(errors);
    (errors, delivered, passed)
}
