//! The emit loop every emit variant of a `SyncSignal` (and its `Emitter`)
//! shares: skip what must not be called, claim once-slots, call, hand each
//! result to the variant; the out-of-line path for filters and counters.

use std::ops::ControlFlow;

use crate::base::slot::{Slot, SlotRef};
use crate::base::state::StateWord;
use crate::base::{BaseSignal, List};
use crate::callback::skipped;
use crate::error::BoxError;
use crate::stats::Counting;

/// `before` for the variants that never stop early.
#[inline(always)]
pub(super) fn go_on<B>(_ran: usize) -> ControlFlow<B> {
    ControlFlow::Continue(())
}

/// `after` for the variants whose listener errors go to the error handler.
#[inline(always)]
pub(super) fn reporting<T: 'static, B>(
    base: &BaseSignal<T>,
) -> impl FnMut(&List<T>, &Slot<T>, Result<(), BoxError>) -> ControlFlow<B> + '_ {
    move |list, slot, result| {
        if let Err(error) = result {
            report(base, list, slot, error);
        }
        ControlFlow::Continue(())
    }
}

/// Sends a listener's error to the error handler, unless it is the
/// [`Skipped`] marker. Out of line: the `Ok` path of every emit stays as it
/// was.
#[cold]
#[inline(never)]
pub(super) fn report<T: 'static>(
    base: &BaseSignal<T>,
    list: &List<T>,
    slot: &Slot<T>,
    error: BoxError,
) {
    if !skipped(&error) {
        base.report(list, slot, error);
    }
}

/// The emit loop shared by every emit variant: for each slot that would be
/// called (active, unblocked, not a fired once-slot), asks `before` (given
/// how many listeners ran) whether to go on, claims it if it is a once-slot,
/// calls it and hands the result to `after`.
///
/// A simple list (no filters, counters or fallible listeners) calls each
/// listener through [`Slot::call`]: every result is `Ok`, so once inlined
/// the loop tests none. Others call [`Slot::try_call`].
#[inline(always)]
pub(super) fn run<B, T: 'static>(
    base: &BaseSignal<T>,
    list: &List<T>,
    value: &T,
    before: impl FnMut(usize) -> ControlFlow<B>,
    after: impl FnMut(&List<T>, &Slot<T>, Result<(), BoxError>) -> ControlFlow<B>,
) -> ControlFlow<B> {
    if list.simple {
        return run_slots(base, list, &list.slots, value, before, after, call);
    }
    if list.config.observed {
        return run_observed(base, list, value, before, after);
    }
    let slots = feed(list, value);
    run_slots(base, list, slots, value, before, after, Slot::try_call)
}

/// Runs the subscriptions' feeder, first in a list that has one, and
/// returns the listeners' slots: the feeder is no listener, so the
/// variants' `before` (a cancel check), their count of listeners run and
/// the statistics leave it out. It never fails, and catches the panics of
/// the event type's `Clone` and `Drop` itself. Only lists that are not
/// `simple` can have one, so a signal without subscriptions pays nothing.
#[inline(always)]
fn feed<'a, T>(list: &'a List<T>, value: &T) -> &'a [SlotRef<T>] {
    if !list.fed {
        return &list.slots;
    }
    // `fed` says the first slot is the feeder.
    let Some((feeder, listeners)) = list.slots.split_first() else {
        return &list.slots;
    };
    feeder.call(value);
    listeners
}

/// A call in a simple list: it cannot fail.
#[inline(always)]
pub(super) fn call<T>(slot: &Slot<T>, value: &T) -> Result<(), BoxError> {
    slot.call(value);
    Ok(())
}

/// [`run`] for a signal with filters or counters: out of line, so that a
/// signal with neither pays one test of a flag for them.
#[cold]
#[inline(never)]
pub(super) fn run_observed<B, T: 'static>(
    base: &BaseSignal<T>,
    list: &List<T>,
    value: &T,
    before: impl FnMut(usize) -> ControlFlow<B>,
    mut after: impl FnMut(&List<T>, &Slot<T>, Result<(), BoxError>) -> ControlFlow<B>,
) -> ControlFlow<B> {
    let filtered = !list.config.filters.is_empty();
    let Some(counters) = list.config.stats.as_deref() else {
        if filtered && !list.config.passes(value) {
            return ControlFlow::Continue(()); // a signal-level filter said no
        }
        let slots = feed(list, value);
        if !list.fallible {
            return run_slots(base, list, slots, value, before, after, call);
        }
        return run_slots(base, list, slots, value, before, after, Slot::try_call);
    };
    // Counts the event, its deliveries, and a panic unwinding out of the
    // emit (a listener's, a filter's or an error handler's).
    let mut counting = Counting::new(counters);
    if filtered && !list.config.passes(value) {
        counting.finish(); // emitted, and delivered to no listener
        return ControlFlow::Continue(());
    }
    let slots = feed(list, value);
    let flow = run_slots(
        base,
        list,
        slots,
        value,
        before,
        |list, slot, result| {
            if !matches!(&result, Err(error) if skipped(error)) {
                counting.returned(); // before `after`, which may panic
            }
            after(list, slot, result)
        },
        Slot::try_call,
    );
    counting.finish();
    flow
}

/// The loop of [`run`], over `slots` (`list`'s, read by the caller).
#[inline(always)]
pub(super) fn run_slots<B, T: 'static>(
    base: &BaseSignal<T>,
    list: &List<T>,
    slots: &[SlotRef<T>],
    value: &T,
    mut before: impl FnMut(usize) -> ControlFlow<B>,
    mut after: impl FnMut(&List<T>, &Slot<T>, Result<(), BoxError>) -> ControlFlow<B>,
    call: impl Fn(&Slot<T>, &T) -> Result<(), BoxError>,
) -> ControlFlow<B> {
    let mut ran = 0;
    for slot in slots {
        let state = slot.state.get();
        if state != 0 {
            if !StateWord::is_claimable(state) {
                continue; // disconnected, blocked, or a once-slot that fired
            }
            before(ran)?;
            if !slot.state.claim_once() {
                continue; // another emit won the single call
            }
            // The single call is ours. The slot stays in the list, skipped
            // by every emit, until the next write drops it.
            base.note_fired();
        } else {
            before(ran)?;
        }
        ran += 1;
        after(list, slot, call(slot, value))?;
    }
    ControlFlow::Continue(())
}
