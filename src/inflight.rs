//! Which emits are running, per thread: what `disconnect_wait` waits for.
//!
//! Every thread that emits owns a [`Record`], registered once in a global
//! registry: a fixed stack of `(signal id, sequence)` entries, one per emit
//! running on that thread. Only the owning thread writes its record, with
//! relaxed stores; a light barrier (a compiler fence when membarrier is
//! available) separates the push from the emit's state-word loads. A waiter
//! marks the slot disconnected, issues the heavy barrier and scans the
//! records. The protocol is described in `docs/ordering.md`.

use std::cell::Cell;

use crossbeam_utils::{Backoff, CachePadded};

use crate::error::WouldDeadlock;
use crate::sync::{self, Arc, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Emits nested deeper than this on one thread use the per-signal overflow
/// counter instead of the record.
const DEPTH: usize = 32;

/// No signal has id 0: an entry holding 0 is free.
const FREE: u64 = 0;

#[derive(Default)]
struct Entry {
    signal: AtomicU64,
    seq: AtomicU64,
}

/// One thread's running emits, readable by every thread.
struct Record {
    entries: [Entry; DEPTH],
}

/// The owning thread's view of its record.
struct Local {
    record: Arc<CachePadded<Record>>,
    /// How many emits are running on this thread (may exceed `DEPTH`).
    depth: Cell<usize>,
    /// Distinguishes successive emits at the same depth.
    seq: Cell<u64>,
}

#[cfg(not(loom))]
static REGISTRY: Mutex<Vec<Arc<CachePadded<Record>>>> = Mutex::new(Vec::new());

#[cfg(loom)]
loom::lazy_static! {
    static ref REGISTRY: Mutex<Vec<Arc<CachePadded<Record>>>> = Mutex::new(Vec::new());
}

#[cfg(not(loom))]
std::thread_local! {
    static LOCAL: Local = Local::register();
}

#[cfg(loom)]
loom::thread_local! {
    static LOCAL: Local = Local::register();
}

impl Local {
    fn register() -> Self {
        sync::init_barriers();
        let record = Arc::new(CachePadded::new(Record {
            entries: Default::default(),
        }));
        sync::lock(&REGISTRY).push(Arc::clone(&record));
        Local {
            record,
            depth: Cell::new(0),
            seq: Cell::new(0),
        }
    }

    fn is_emitting(&self, signal: u64) -> bool {
        let depth = self.depth.get().min(DEPTH);
        self.record.entries[..depth]
            .iter()
            // Relaxed: these are this thread's own stores.
            .any(|entry| entry.signal.load(Ordering::Relaxed) == signal)
    }
}

impl Drop for Local {
    // Under loom the registry lives only as long as one model execution and
    // cannot be touched while its threads shut down; a finished thread's
    // record stays in it, all entries free, which the scan ignores.
    #[cfg(not(loom))]
    fn drop(&mut self) {
        let mut registry = sync::lock(&REGISTRY);
        if let Some(at) = registry.iter().position(|r| Arc::ptr_eq(r, &self.record)) {
            registry.swap_remove(at);
        }
    }

    #[cfg(loom)]
    fn drop(&mut self) {}
}

/// Pops the entry (or the overflow count) when the emit ends, even by panic.
struct Pop<'a> {
    local: Option<&'a Local>,
    overflow: &'a AtomicUsize,
}

impl Drop for Pop<'_> {
    fn drop(&mut self) {
        match self.local {
            Some(local) => {
                let depth = local.depth.get() - 1;
                local.depth.set(depth);
                if depth < DEPTH {
                    // Release: a waiter that reads FREE (Acquire) sees every
                    // effect of the listeners this emit ran.
                    local.record.entries[depth]
                        .signal
                        .store(FREE, Ordering::Release);
                } else {
                    // Release: as above, for overflowed emits.
                    self.overflow.fetch_sub(1, Ordering::Release);
                }
            }
            // Release: as above.
            None => drop(self.overflow.fetch_sub(1, Ordering::Release)),
        }
    }
}

/// Runs `body` (an emit of signal `signal`) recorded as running on this
/// thread, so that `disconnect_wait` can wait for it.
#[inline]
pub(crate) fn record<R>(signal: u64, overflow: &AtomicUsize, body: impl FnOnce() -> R) -> R {
    let mut body = Some(body);
    let recorded = LOCAL.try_with(|local| {
        let depth = local.depth.get();
        local.depth.set(depth + 1);
        let _pop = Pop {
            local: Some(local),
            overflow,
        };
        if depth < DEPTH {
            let seq = local.seq.get().wrapping_add(1);
            local.seq.set(seq);
            let entry = &local.record.entries[depth];
            // Release: a waiter that reads this new sequence (Acquire) also
            // sees the pop of the emit that used the entry before.
            entry.seq.store(seq, Ordering::Release);
            // Relaxed: ordered before the state-word loads by the light
            // barrier below; see docs/ordering.md.
            entry.signal.store(signal, Ordering::Relaxed);
        } else {
            // Relaxed: ordered by the light barrier below.
            overflow.fetch_add(1, Ordering::Relaxed);
        }
        sync::light_barrier();
        (body.take().expect("body runs once"))()
    });
    match recorded {
        Ok(result) => result,
        // The thread is being torn down and its record is gone.
        Err(_) => {
            // Relaxed: ordered by the light barrier below.
            overflow.fetch_add(1, Ordering::Relaxed);
            let _pop = Pop {
                local: None,
                overflow,
            };
            sync::light_barrier();
            (body.take().expect("body runs once"))()
        }
    }
}

/// Waits until no emit of `signal` that was running when this function was
/// called is still running. The caller has already made the listener's state
/// word say "disconnected", so no emit that starts later can call it.
///
/// Returns `Err(WouldDeadlock)` without waiting when the calling thread is
/// itself inside an emit of `signal`.
pub(crate) fn wait_for(signal: u64, overflow: &AtomicUsize) -> Result<(), WouldDeadlock> {
    // Relaxed: a non-zero count only makes this conservative check fail.
    let in_overflow = overflow.load(Ordering::Relaxed) != 0;
    let inside = LOCAL
        .try_with(|local| {
            local.is_emitting(signal) || (local.depth.get() >= DEPTH && in_overflow)
        })
        .unwrap_or(in_overflow);
    if inside {
        return Err(WouldDeadlock::new());
    }

    sync::heavy_barrier();

    let running: Vec<(Arc<CachePadded<Record>>, usize, u64)> = {
        let registry = sync::lock(&REGISTRY);
        let mut running = Vec::new();
        for record in registry.iter() {
            for (at, entry) in record.entries.iter().enumerate() {
                // After the heavy barrier every entry pushed by an emit that
                // could still call the listener is visible and stays
                // unchanged until that emit pops it. Acquire: reading a pop
                // (or a later push) makes the finished emit's effects
                // visible to our caller.
                if entry.signal.load(Ordering::Acquire) == signal {
                    // Relaxed: only compared with later reads of the entry.
                    let seq = entry.seq.load(Ordering::Relaxed);
                    running.push((Arc::clone(record), at, seq));
                }
            }
        }
        running
    };

    for (record, at, seq) in running {
        let entry = &record.entries[at];
        wait_until(|| {
            // Acquire: pairs with the Release pop, so the listener's effects
            // are visible once we return.
            entry.signal.load(Ordering::Acquire) != signal
                // Acquire: a changed sequence means a later emit reuses the
                // entry, so the one we waited for has popped; pairs with the
                // push's Release so that pop is visible too.
                || entry.seq.load(Ordering::Acquire) != seq
        });
    }
    // Acquire: pairs with the overflowed emits' Release decrement.
    wait_until(|| overflow.load(Ordering::Acquire) == 0);
    Ok(())
}

/// Spins, then yields, then sleeps briefly between checks of `done`.
fn wait_until(mut done: impl FnMut() -> bool) {
    let backoff = Backoff::new();
    while !done() {
        if backoff.is_completed() {
            #[cfg(not(loom))]
            std::thread::sleep(std::time::Duration::from_micros(50));
            #[cfg(loom)]
            sync::yield_now();
        } else {
            #[cfg(not(loom))]
            backoff.snooze();
            #[cfg(loom)]
            sync::yield_now();
        }
    }
}
