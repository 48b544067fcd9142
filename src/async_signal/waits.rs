//! Waits between deliveries, so that a wait that closes a circle is refused
//! instead of hanging.
//!
//! A thread inside deliveries of the queues of signals `X1..Xn` (their
//! drainers' batches, the stolen halves of their fan-outs, the drops of
//! their events: see [`Draining`]) that waits for an `AsyncSignal` `Y` (for room under
//! `Overflow::Block` / `BlockFor`, in `flush`, in `shutdown`) holds those
//! deliveries up until `Y` makes progress: edges `Xi -> Y`. `Y` makes
//! progress only when its running delivery completes. If a thread inside a
//! delivery of `Y` is itself waiting, directly or through a chain of such
//! waits, for one of the `Xi`, no wait of the circle can ever end.
//!
//! Each such wait is listed here, with a test of whether it is still
//! waiting (its condition does not hold yet), for as long as it waits.
//! Before waiting, a thread follows the edges of the waits that are still
//! waiting from `Y`; if they lead back to a signal it is inside, it refuses.
//! The list is one process-wide mutex, taken only by a thread that is
//! about to wait inside a delivery, so the emit path never sees it.
//!
//! What this cannot see: waits through anything else than these three
//! calls (a lock, a channel, `disconnect_wait`, a thread outside every
//! delivery), and a pool whose threads are all busy elsewhere. Those are
//! listed in the "Deadlocks" sections of `flush` and `Overflow::Block`.

use std::cell::RefCell;

use crate::sync::{self, Mutex};

/// The test of whether a listed wait still waits.
type Waiting = Box<dyn Fn() -> bool + Send + Sync>;

/// One thread's wait for signal `to`, holding up the signals in `from`.
struct Wait {
    token: u64,
    from: Vec<u64>,
    to: u64,
    waiting: Waiting,
}

#[cfg(not(loom))]
static WAITS: Mutex<Vec<Wait>> = Mutex::new(Vec::new());

#[cfg(not(loom))]
std::thread_local! {
    /// The signals whose queue deliveries run on this thread, outermost
    /// first. Not the record: an `emit_collect` or a sync emit holds up no
    /// queue, and counting them would refuse waits that end.
    static DRAINING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

#[cfg(loom)]
loom::lazy_static! {
    static ref WAITS: Mutex<Vec<Wait>> = Mutex::new(Vec::new());
}

#[cfg(loom)]
loom::thread_local! {
    static DRAINING: RefCell<Vec<u64>> = RefCell::new(Vec::new());
}

/// A part of a delivery of a signal's queue running on this thread, until
/// dropped: what a wait of this thread holds up.
#[derive(Debug)]
pub(crate) struct Draining {
    noted: bool,
}

impl Draining {
    pub(crate) fn new(signal: u64) -> Self {
        // The first delivery on a thread allocates the stack; it keeps its
        // capacity for the thread's life.
        let noted = DRAINING
            .try_with(|draining| draining.borrow_mut().push(signal))
            .is_ok();
        Self { noted }
    }
}

impl Drop for Draining {
    fn drop(&mut self) {
        if self.noted {
            let _ = DRAINING.try_with(|draining| draining.borrow_mut().pop());
        }
    }
}

/// Whether a delivery of some signal's queue runs on this thread: an async
/// wait polled here holds the thread like a blocking one, and is made as a
/// blocking one (listed), so that a circle through it is seen.
pub(crate) fn is_draining() -> bool {
    DRAINING
        .try_with(|draining| !draining.borrow().is_empty())
        .unwrap_or(false)
}

/// A wait would close a circle of waits between deliveries.
#[derive(Debug)]
pub(crate) struct Circle;

/// A listed wait; dropping it takes it off the list.
#[derive(Debug)]
#[must_use]
pub(crate) struct Listed {
    token: Option<u64>,
}

/// Lists the calling thread's wait for signal `to` while `waiting()` holds;
/// [`Circle`] instead if the waits still waiting lead from `to` back to a
/// signal the thread is delivering. A thread inside no delivery holds
/// nothing up: its wait is not listed.
pub(crate) fn list(
    to: u64,
    waiting: impl Fn() -> bool + Send + Sync + 'static,
) -> Result<Listed, Circle> {
    let from = DRAINING
        .try_with(|draining| draining.borrow().clone())
        .unwrap_or_default();
    if from.is_empty() {
        return Ok(Listed { token: None });
    }
    let mut waits = sync::lock(&WAITS);
    if leads_back(&waits, to, &from) {
        return Err(Circle);
    }
    let token = crate::base::next_id();
    waits.push(Wait {
        token,
        from,
        to,
        waiting: Box::new(waiting),
    });
    Ok(Listed { token: Some(token) })
}

/// Whether the edges of the waits still waiting lead from `start` to one
/// of `targets`.
fn leads_back(waits: &[Wait], start: u64, targets: &[u64]) -> bool {
    let live: Vec<&Wait> = waits.iter().filter(|wait| (wait.waiting)()).collect();
    let mut reached = vec![start];
    let mut next = 0;
    while let Some(&signal) = reached.get(next) {
        next += 1;
        if targets.contains(&signal) {
            return true;
        }
        for wait in &live {
            if wait.from.contains(&signal) && !reached.contains(&wait.to) {
                reached.push(wait.to);
            }
        }
    }
    false
}

impl Drop for Listed {
    fn drop(&mut self) {
        if let Some(token) = self.token {
            let taken: Vec<Wait> = {
                let mut waits = sync::lock(&WAITS);
                let (taken, kept) = std::mem::take(&mut *waits)
                    .into_iter()
                    .partition(|wait| wait.token == token);
                *waits = kept;
                taken
            };
            // The test holds a reference to the signal: dropped after the
            // lock is released.
            drop(taken);
        }
    }
}
