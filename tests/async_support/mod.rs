//! Helpers shared by the `AsyncSignal` integration tests: dedicated pools,
//! bounded waits (a bug shows up as a failure, not a hang), gates that hold
//! a listener, drop-counting events.

#![allow(dead_code)] // each test file uses some of them

use std::fmt::Debug;
use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Once};
use std::thread;
use std::time::Duration;

use sigwire::{AsyncSignal, AsyncSignalBuilder, Overflow, RejectReason};

/// After this long, a wait that should end is declared a deadlock.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits to show that a call is *still blocked*.
pub(crate) const STILL_BLOCKED: Duration = Duration::from_millis(100);
/// Panic messages starting with this are expected; the hook stays quiet.
pub(crate) const INTENDED: &str = "intended panic";

// ---------------------------------------------------------------- helpers

/// A dedicated pool whose threads are named `{name}-{i}`.
pub(crate) fn pool(threads: usize, name: &'static str) -> Arc<rayon::ThreadPool> {
    let named = rayon::ThreadPoolBuilder::new().thread_name(move |i| format!("{name}-{i}"));
    Arc::new(named.num_threads(threads).build().unwrap())
}

/// What an `AsyncSignal` can carry.
pub(crate) trait Event: Send + Sync + 'static {}
impl<T: Send + Sync + 'static> Event for T {}

/// A builder on a dedicated pool.
pub(crate) fn on_pool<T: Event>(threads: usize, name: &'static str) -> AsyncSignalBuilder<T> {
    AsyncSignal::builder().pool(pool(threads, name))
}

/// A signal with default settings on a dedicated pool.
pub(crate) fn signal<T: Event>(threads: usize, name: &'static str) -> AsyncSignal<T> {
    on_pool(threads, name).build().unwrap()
}

/// `stats()` as `[emitted, delivered, failed, panicked, rejected, pending]`.
pub(crate) fn stats<T: Event>(signal: &AsyncSignal<T>) -> [u64; 6] {
    let s = signal.stats();
    let [e, d, f] = [s.emitted, s.delivered, s.failed];
    [e, d, f, s.panicked, s.rejected, s.pending as u64]
}

/// Receives from `rx`, failing after [`TIMEOUT`] with `what`.
pub(crate) fn expect<T>(rx: &Receiver<T>, what: &str) -> T {
    rx.recv_timeout(TIMEOUT)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Asserts that nothing arrives on `rx` for [`STILL_BLOCKED`].
pub(crate) fn still_blocked<T: Debug>(rx: &Receiver<T>) {
    let early = rx.recv_timeout(STILL_BLOCKED);
    assert_eq!(early.unwrap_err(), RecvTimeoutError::Timeout);
}

/// Runs `f` on its own thread; fails (instead of hanging) if it does not
/// finish within [`TIMEOUT`], and re-raises its panic.
pub(crate) fn bounded<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || drop(tx.send(f())));
    match rx.recv_timeout(TIMEOUT) {
        Ok(result) => result,
        Err(RecvTimeoutError::Disconnected) => panic::resume_unwind(handle.join().unwrap_err()),
        Err(RecvTimeoutError::Timeout) => panic!("deadlock: not finished after {TIMEOUT:?}"),
    }
}

pub(crate) fn bump(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

pub(crate) fn load(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// A call counter and a listener that bumps it.
pub(crate) fn counter<T>() -> (Arc<AtomicUsize>, impl Fn(&T) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &T| bump(&c))
}

/// Keeps std's panic hook quiet for the panics these tests cause on purpose.
pub(crate) fn quiet_intended_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let text = (payload.downcast_ref::<&str>().copied())
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
            if !text.is_some_and(|t| t.starts_with(INTENDED)) {
                default(info);
            }
        }));
    });
}

/// The listener side of a gate: `pass` reports "started", then blocks until
/// the [`Opener`] is dropped (later calls pass at once).
pub(crate) struct Gate(Mutex<(Sender<()>, Receiver<()>)>);

/// The test side of a gate; dropping it opens the gate.
pub(crate) struct Opener(Receiver<()>, #[allow(dead_code)] Sender<()>);

pub(crate) fn gate() -> (Gate, Opener) {
    let ((started_tx, started), (open_tx, open)) = (mpsc::channel(), mpsc::channel());
    (
        Gate(Mutex::new((started_tx, open))),
        Opener(started, open_tx),
    )
}

impl Gate {
    pub(crate) fn pass(&self) {
        let channels = self.0.lock().unwrap();
        let _ = channels.0.send(());
        let _ = channels.1.recv_timeout(TIMEOUT);
    }
}

impl Opener {
    /// Waits until a listener is blocked at the gate.
    pub(crate) fn wait_started(&self) {
        expect(&self.0, "the held listener never started");
    }
}

/// An event that counts its drops; deliberately neither `Debug` nor `Clone`.
pub(crate) struct Tracked(pub u64, pub Arc<AtomicUsize>);

impl Tracked {
    pub(crate) fn new(value: u64, drops: &Arc<AtomicUsize>) -> Self {
        Self(value, Arc::clone(drops))
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        bump(&self.1);
    }
}

pub(crate) type Seen = Arc<Mutex<Vec<u32>>>;

/// A capacity-1 signal on a 2-thread pool whose one listener waits at a gate
/// and records every value; event 1 is emitted and its listener is held.
pub(crate) fn held_signal(overflow: Overflow) -> (Arc<AsyncSignal<u32>>, Opener, Seen) {
    let builder = on_pool(2, "held").capacity(1).overflow(overflow);
    let signal = builder.build().unwrap();
    let ((gate, opener), seen) = (gate(), Seen::default());
    let s = Arc::clone(&seen);
    signal.connect(move |v: &u32| {
        gate.pass();
        s.lock().unwrap().push(*v);
    });
    signal.emit(1).unwrap();
    opener.wait_started();
    (Arc::new(signal), opener, seen)
}

pub(crate) type Outcome = Result<(), (RejectReason, u32)>;

/// Emits `value` on another thread and asserts that the emit stays blocked;
/// its outcome arrives on the returned channel.
pub(crate) fn blocked_emit(signal: &Arc<AsyncSignal<u32>>, value: u32) -> Receiver<Outcome> {
    let (tx, rx) = mpsc::channel();
    let s = Arc::clone(signal);
    let emit = move || s.emit(value).map_err(|r| (r.reason(), r.into_inner()));
    thread::spawn(move || tx.send(emit()));
    still_blocked(&rx);
    rx
}

pub(crate) type Where = Arc<Mutex<Vec<(u32, Option<usize>, String)>>>;

/// Connects a listener that records each value with the rayon thread index
/// and the thread name it ran on.
pub(crate) fn record_where(signal: &AsyncSignal<u32>) -> Where {
    let seen = Where::default();
    let s = Arc::clone(&seen);
    signal.connect(move |v: &u32| {
        let name = thread::current().name().unwrap_or("").to_owned();
        s.lock()
            .unwrap()
            .push((*v, rayon::current_thread_index(), name));
    });
    seen
}
