//! The hostile review of listener policies (a helper agent, 2026-12-02): one
//! test per defect it found, each failing before its fix; items 9 and 10
//! are documented limitations, pinned as such; the controls passed from
//! the start.

//! Hostile review of the per-listener policies (`Policy::DropOldest`,
//! `Policy::DropNewest`) of `AsyncSignal`: each test names the defect it
//! shows in its doc comment. Hangs are turned into failures with timeouts
//! (the body runs on a thread of its own; a hung thread is leaked), and a
//! process abort is caught by running the body in a child process.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{
    AsyncSignal, ConnectOptions, Connection, FlushError, Overflow, Policy, RejectReason,
};

/// How long a body may take before it counts as hung.
const HANG: Duration = Duration::from_secs(10);
const LONG: Duration = Duration::from_secs(10);

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap(),
    )
}

fn opts(policy: Policy) -> ConnectOptions {
    ConnectOptions::new().policy(policy)
}

/// Runs `body` on a thread of its own and returns its result, or fails the
/// test if it has not returned within `limit` (the thread is leaked).
fn within<R: Send + 'static>(
    limit: Duration,
    what: &str,
    body: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(body());
    });
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("HANG: {what} did not return within {limit:?}")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked (see above)"),
    }
}

/// Runs `body` in a child process (this test binary, filtered to `name`),
/// so that an abort fails the test instead of killing the harness.
fn in_child(name: &str, body: fn()) {
    const ROLE: &str = "SIGWIRE_POLICIES_REVIEW_CHILD";
    if std::env::var(ROLE).as_deref() == Ok(name) {
        body();
        return;
    }
    let child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(ROLE, name)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The pipes are read while the child runs (a full pipe would block it).
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(HANG) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("HANG: the child running {name} did not exit within {HANG:?}");
        }
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the child running {name} died: {:?}\n--- child stderr (tail) ---\n{}",
        out.status,
        stderr
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn drained<T: Send + Sync + 'static>(signal: &AsyncSignal<T>) {
    let deadline = Instant::now() + LONG;
    while signal.stats().pending > 0 {
        assert!(Instant::now() < deadline, "the drainer did not drain");
        thread::yield_now();
    }
}

/// Counts live instances, so that a test sees which events are still kept.
#[derive(Default)]
struct Live(AtomicI64);

struct Counted {
    v: u32,
    live: Arc<Live>,
}

impl Counted {
    fn new(v: u32, live: &Arc<Live>) -> Self {
        live.0.fetch_add(1, Ordering::SeqCst);
        Self {
            v,
            live: Arc::clone(live),
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.live.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An event whose `Drop` panics when armed (and not already unwinding).
struct Bomb {
    v: u32,
    armed: bool,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.armed && !thread::panicking() {
            panic!("Bomb {} went off in Drop", self.v);
        }
    }
}

// ---------------------------------------------------------------------------
// 1. Abort: an event's Drop run, uncaught, by the drainer's `refresh`.
// ---------------------------------------------------------------------------

fn refresh_abort_body() {
    let signal = AsyncSignal::<Bomb>::builder()
        .pool(pool(2))
        .capacity(4)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let first = signal
        .connect_with(opts(Policy::DropOldest), move |b: &Bomb| {
            let _ = tx.lock().unwrap().send(b.v);
        })
        .unwrap();
    signal.emit(Bomb { v: 1, armed: true }).unwrap();
    signal.flush().unwrap();
    assert_eq!(rx.recv_timeout(LONG), Ok(1));
    // The job lingers a few microseconds after its last round; let it end,
    // so that the drainer's set holds the cursor's last references.
    thread::sleep(Duration::from_millis(200));
    first.disconnect_wait().unwrap();
    // Any dropping connect makes the drainer refresh its set at the next
    // batch; this one is gone again before that.
    let second = signal
        .connect_with(opts(Policy::DropNewest), |_: &Bomb| {})
        .unwrap();
    second.disconnect_wait().unwrap();
    // The refresh lets go of the first cursor: its subscription is the
    // ring's last, whose drop empties the ring and drops the armed event on
    // the drainer's pool job, outside any catch (and under the `cursors`
    // mutex). A panic leaving a rayon job aborts the process.
    signal.emit(Bomb { v: 2, armed: false }).unwrap();
    signal.flush().unwrap();
    thread::sleep(Duration::from_millis(200));
    assert!(
        signal.stats().panicked >= 1,
        "the Drop's panic was caught and counted"
    );
}

/// DEFECT (abort): `drain::refresh` drops the cursors it lets go of (through
/// `*lock(&shared.cursors) = cursors.clone()`) on the drainer's job without
/// a catch. When that cursor's subscription is the ring's last, its drop
/// empties the ring and runs the events' `Drop`s there: a panicking `Drop`
/// unwinds out of `drain` and out of the rayon job, which aborts the
/// process. The normal retire path (`cursor::retire`) catches it; this one
/// is reached by a dropping listener that left while idle, followed by any
/// dropping connect before the next emit.
#[test]
fn a_panicking_event_drop_in_the_drainers_refresh_aborts_the_process() {
    in_child(
        "a_panicking_event_drop_in_the_drainers_refresh_aborts_the_process",
        refresh_abort_body,
    );
}

// ---------------------------------------------------------------------------
// 2. Deadlock: the same drop runs under the `cursors` mutex.
// ---------------------------------------------------------------------------

static LOCK_SIGNAL: OnceLock<Weak<AsyncSignal<Probe>>> = OnceLock::new();
static LOCK_CONN: OnceLock<Connection> = OnceLock::new();

/// An event whose `Drop` asks its signal for a listener's drop count.
struct Probe {
    asks: bool,
}

impl Drop for Probe {
    fn drop(&mut self) {
        if !self.asks {
            return;
        }
        if let (Some(signal), Some(conn)) =
            (LOCK_SIGNAL.get().and_then(Weak::upgrade), LOCK_CONN.get())
        {
            let _ = signal.dropped(conn);
        }
    }
}

/// DEFECT (deadlock, user code under a lock): the drainer's `refresh` drops
/// a let-go cursor while it holds `Shared::cursors`; the ring's events are
/// dropped there, and an event whose `Drop` calls `AsyncSignal::dropped`
/// (or `flush`, which also locks `cursors`) relocks that mutex on the same
/// thread: the drainer hangs for good, and so does every later `flush`.
#[test]
fn an_event_drop_run_by_refresh_runs_under_the_cursors_lock() {
    let signal = Arc::new(
        AsyncSignal::<Probe>::builder()
            .pool(pool(2))
            .capacity(4)
            .build()
            .unwrap(),
    );
    LOCK_SIGNAL.set(Arc::downgrade(&signal)).ok().unwrap();
    let first = signal
        .connect_with(opts(Policy::DropOldest), |_: &Probe| {})
        .unwrap();
    LOCK_CONN.set(signal.connect(|_: &Probe| {})).ok().unwrap();
    signal.emit(Probe { asks: true }).unwrap();
    signal.flush().unwrap();
    thread::sleep(Duration::from_millis(200));
    first.disconnect_wait().unwrap();
    let second = signal
        .connect_with(opts(Policy::DropNewest), |_: &Probe| {})
        .unwrap();
    second.disconnect_wait().unwrap();
    let s = Arc::clone(&signal);
    within(HANG, "emit + flush after a refresh", move || {
        s.emit(Probe { asks: false }).unwrap();
        s.flush().unwrap();
    });
}

// ---------------------------------------------------------------------------
// 3. Circle of flushes through dropping listeners: a hang, not `Circle`.
// ---------------------------------------------------------------------------

/// DEFECT (deadlock; doc claim false): `flush` promises
/// `FlushError::Circle` when a wait would close a circle of waits between
/// deliveries of different signals. A dropping listener of A that flushes B
/// while a dropping listener of B flushes A hangs both for ever: once each
/// queue is drained, `flush` skips `list_wait` (the only circle check) and
/// goes straight to `wait_for_cursors`, which waits, unchecked and without
/// a deadline, for the other cursor, itself waiting in the other flush.
/// (The same shape with `Block` listeners is detected.)
#[test]
fn a_circle_of_flushes_between_dropping_listeners_is_not_detected() {
    let a = Arc::new(AsyncSignal::<u32>::builder().pool(pool(2)).build().unwrap());
    let b = Arc::new(AsyncSignal::<u32>::builder().pool(pool(2)).build().unwrap());
    let gate = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel::<(&'static str, Result<(), FlushError>)>();
    for (name, this, other) in [("A flushes B", &a, &b), ("B flushes A", &b, &a)] {
        let other = Arc::downgrade(other);
        let gate = Arc::clone(&gate);
        let tx = Mutex::new(tx.clone());
        this.connect_with(opts(Policy::DropOldest), move |_: &u32| {
            gate.wait();
            if let Some(other) = other.upgrade() {
                let result = other.flush();
                let _ = tx.lock().unwrap().send((name, result));
            }
        })
        .unwrap();
    }
    a.emit(1).unwrap();
    b.emit(1).unwrap();
    // Both queues drained (the events are in the rings), both listeners
    // inside their calls: now each flushes the other.
    drained(&a);
    drained(&b);
    gate.wait();
    let mut results = Vec::new();
    for _ in 0..2 {
        match rx.recv_timeout(HANG) {
            Ok(result) => results.push(result),
            Err(_) => panic!(
                "HANG: a circle of flushes between two dropping listeners; got only {results:?}, \
                 expected one FlushError::Circle"
            ),
        }
    }
    assert!(
        results.iter().any(|(_, r)| *r == Err(FlushError::Circle)),
        "{results:?}"
    );
}

// ---------------------------------------------------------------------------
// 4. A flush from an event's Drop in a retiring cursor waits for itself.
// ---------------------------------------------------------------------------

static RETIRE_SIGNAL: OnceLock<Weak<AsyncSignal<Flusher>>> = OnceLock::new();
static RETIRE_RESULT: Mutex<Option<mpsc::Sender<Result<(), FlushError>>>> = Mutex::new(None);

/// An event whose `Drop` flushes its signal when `flushes`.
struct Flusher {
    v: u32,
    flushes: bool,
}

impl Drop for Flusher {
    fn drop(&mut self) {
        if !self.flushes {
            return;
        }
        if let Some(signal) = RETIRE_SIGNAL.get().and_then(Weak::upgrade) {
            let result = signal.flush();
            if let Some(tx) = RETIRE_RESULT.lock().unwrap().as_ref() {
                let _ = tx.send(result);
            }
        }
    }
}

/// DEFECT (hang; doc claim false): `flush` documents
/// `FlushError::InsideDelivery` for a call "in the drop of one of its
/// events". `cursor::retire` drops the cursor's subscription (the ring's
/// last, so the ring's events are dropped) *outside* the recorded delivery
/// and *before* it sets `done = u64::MAX`. An event whose `Drop` flushes
/// the signal there is not refused: its `wait_for_cursors` waits for this
/// very cursor, whose `done` is short of the ring's end (the listener left
/// with events unread, more than one round of 32), and never returns; every
/// other `flush` of the signal hangs behind it.
#[test]
fn a_flush_from_an_event_drop_in_a_retiring_cursor_waits_for_itself() {
    let signal = Arc::new(
        AsyncSignal::<Flusher>::builder()
            .pool(pool(2))
            .capacity(64)
            .build()
            .unwrap(),
    );
    RETIRE_SIGNAL.set(Arc::downgrade(&signal)).ok().unwrap();
    let (result_tx, result_rx) = mpsc::channel();
    *RETIRE_RESULT.lock().unwrap() = Some(result_tx);
    let (started_tx, started) = mpsc::channel::<u32>();
    let (release, release_rx) = mpsc::channel::<()>();
    let gate = Mutex::new(Some((started_tx, release_rx)));
    let conn = signal
        .connect_with(opts(Policy::DropOldest), move |f: &Flusher| {
            if let Some((started, release)) = gate.lock().unwrap().take() {
                started.send(f.v).unwrap();
                let _ = release.recv_timeout(LONG);
            }
        })
        .unwrap();
    for v in 0..40 {
        signal
            .emit(Flusher {
                v,
                flushes: v == 39,
            })
            .unwrap();
    }
    assert_eq!(started.recv_timeout(LONG), Ok(0));
    drained(&signal);
    // Gone with 39 events unread: the next round (past the first 32) finds
    // the slot gone and retires the cursor, dropping the ring's events.
    conn.disconnect();
    release.send(()).unwrap();
    let inner = result_rx.recv_timeout(HANG);
    let s = Arc::clone(&signal);
    within(HANG, "a flush after the retire", move || s.flush().unwrap());
    assert_eq!(
        inner.expect("HANG: the flush inside the event's Drop never returned"),
        Err(FlushError::InsideDelivery)
    );
}

// ---------------------------------------------------------------------------
// 5. DropNewest loses an event, uncounted, when a reused slot's Drop panics.
// ---------------------------------------------------------------------------

fn reuse_after_panicking_drop(policy: Policy) -> (u64, u64) {
    let signal = AsyncSignal::<Bomb>::builder()
        .pool(pool(2))
        .capacity(1)
        .build()
        .unwrap();
    signal.set_panic_handler(|_| {});
    let received = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&received);
    let conn = signal
        .connect_with(opts(policy), move |_: &Bomb| {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    // Its slot's `Arc` is the ring's alone once the cursor handled it.
    signal.emit(Bomb { v: 0, armed: true }).unwrap();
    signal.flush().unwrap();
    // Reuses that slot in place: the armed value is dropped after the
    // publish, and panics.
    signal.emit(Bomb { v: 1, armed: false }).unwrap();
    signal.flush().unwrap();
    thread::sleep(Duration::from_millis(100));
    (received.load(Ordering::SeqCst), signal.dropped(&conn))
}

/// DEFECT (accounting, silent loss): `Ring::write` drops the value a
/// reused slot held *before* it returns the shared handle; when that `Drop`
/// panics, `push_shared` unwinds, `move_in_offering` catches it, and the
/// `offer` loop to the `DropNewest` queues never runs. The event is in the
/// ring (a `DropOldest` listener gets it, see the control below) but every
/// `DropNewest` listener misses it without a drop counted:
/// received + dropped = 1 of 2 events accepted.
#[test]
fn drop_newest_silently_misses_an_event_whose_slot_predecessor_panicked_in_drop() {
    let (received, dropped) = within(HANG, "the scenario", || {
        reuse_after_panicking_drop(Policy::DropNewest)
    });
    assert_eq!(
        received + dropped,
        2,
        "received {received} + dropped {dropped} of 2 accepted events"
    );
}

/// CONTROL (passes): the same scenario with a `DropOldest` listener, which
/// reads the ring, gets both events.
#[test]
fn control_drop_oldest_gets_the_event_whose_slot_predecessor_panicked_in_drop() {
    let (received, dropped) = within(HANG, "the scenario", || {
        reuse_after_panicking_drop(Policy::DropOldest)
    });
    assert_eq!((received, dropped), (2, 0));
}

// ---------------------------------------------------------------------------
// 6. emit_collect skips dropping listeners the drainer has not met.
// ---------------------------------------------------------------------------

/// DEFECT (lost events, uncounted; doc claim false): `emit_collect` "moves
/// its event into the ring for the subscriptions and the dropping
/// listeners" (AsyncSignal docs, docs/async.md), but the cursors are made
/// only by the drainer, at its next batch. A dropping listener connected
/// before an `emit_collect` on a signal whose drainer has not run since
/// never gets the event, and nothing is counted as dropped (with no
/// subscription the ring does not even exist, so the event is dropped).
/// `tests/policies.rs` works around it ("The first emit makes the dropping
/// listener's cursor").
#[test]
fn emit_collect_skips_a_dropping_listener_the_drainer_has_not_met() {
    let mut got = Vec::new();
    for policy in [Policy::DropOldest, Policy::DropNewest] {
        let received = within(HANG, "emit_collect + flush", move || {
            let signal = AsyncSignal::<u32>::builder().pool(pool(2)).build().unwrap();
            let (tx, rx) = mpsc::channel();
            let tx = Mutex::new(tx);
            let conn = signal
                .connect_with(opts(policy), move |v: &u32| {
                    let _ = tx.lock().unwrap().send(*v);
                })
                .unwrap();
            signal.emit_collect(7).unwrap();
            signal.flush().unwrap();
            thread::sleep(Duration::from_millis(100));
            (
                rx.try_iter().collect::<Vec<_>>(),
                signal.dropped(&conn),
                signal.stats().dropped,
            )
        });
        got.push((policy, received));
    }
    assert_eq!(
        got,
        [
            (Policy::DropOldest, (vec![7], 0, 0)),
            (Policy::DropNewest, (vec![7], 0, 0))
        ],
        "(policy, (received, dropped(&conn), Stats::dropped))"
    );
}

// ---------------------------------------------------------------------------
// 7. Memory: spares keep stale events alive after every reader left.
// ---------------------------------------------------------------------------

/// DEFECT (memory kept for no one): the ring's spares (`Ring::recycle`)
/// keep the `Arc`s a `DropNewest` cursor handed back *with their stale
/// events inside* ("dropped when the spare is reused"). The last reader's
/// leaving empties the slots (`empty_before`) but not the spares, so those
/// events stay alive with no listener and no subscription left, until the
/// signal itself is dropped. (Architecture: "so events are not kept alive
/// for no one".)
#[test]
fn spares_keep_stale_events_alive_after_every_reader_left() {
    let live = within(HANG, "the scenario", || {
        let live = Arc::new(Live::default());
        let signal = AsyncSignal::<Counted>::builder()
            .pool(pool(2))
            .capacity(2)
            .build()
            .unwrap();
        let (started_tx, started) = mpsc::channel::<u32>();
        let (release, release_rx) = mpsc::channel::<()>();
        let gate = Mutex::new(Some((started_tx, release_rx)));
        let conn = signal
            .connect_with(opts(Policy::DropNewest), move |c: &Counted| {
                if let Some((started, release)) = gate.lock().unwrap().take() {
                    started.send(c.v).unwrap();
                    let _ = release.recv_timeout(LONG);
                }
            })
            .unwrap();
        signal.emit(Counted::new(0, &live)).unwrap();
        assert_eq!(started.recv_timeout(LONG), Ok(0));
        // While the listener holds event 0: 1 and 2 fill its queue, 3 is
        // dropped for it; the ring's slots are reused under held `Arc`s.
        for v in 1..=3 {
            signal.emit(Counted::new(v, &live)).unwrap();
            drained(&signal);
        }
        release.send(()).unwrap();
        signal.flush().unwrap();
        // Every reader goes: the listener, and with the next event its
        // cursor (the only reader of the ring).
        conn.disconnect_wait().unwrap();
        signal.emit(Counted::new(4, &live)).unwrap();
        signal.flush().unwrap();
        thread::sleep(Duration::from_millis(200));
        signal.flush().unwrap();
        let n = live.0.load(Ordering::SeqCst);
        drop(signal);
        (n, live.0.load(Ordering::SeqCst))
    });
    assert_eq!(
        live,
        (0, 0),
        "(events alive with no reader left, alive after the signal's drop)"
    );
}

// ---------------------------------------------------------------------------
// 8. Memory: a gone dropping listener's cursor keeps the ring's events.
// ---------------------------------------------------------------------------

/// KNOWN LIMITATION (documented on `Policy`; review item 9): a dropping
/// listener's cursor retires only when its job next runs, which takes
/// another event. After the only dropping listener is disconnected
/// (`disconnect_wait` returned, no subscription exists), its cursor still
/// holds its place, so the ring keeps the events it holds alive until the
/// next event. A `Subscription`'s drop, by contrast, empties the ring at
/// once. This test pins the documented behaviour and the release at the
/// next event.
#[test]
fn a_gone_dropping_listeners_cursor_keeps_the_rings_events_alive() {
    let live = within(HANG, "the scenario", || {
        let live = Arc::new(Live::default());
        let signal = AsyncSignal::<Counted>::builder()
            .pool(pool(2))
            .capacity(8)
            .build()
            .unwrap();
        let conn = signal
            .connect_with(opts(Policy::DropOldest), |_: &Counted| {})
            .unwrap();
        for v in 0..3 {
            signal.emit(Counted::new(v, &live)).unwrap();
        }
        signal.flush().unwrap();
        conn.disconnect_wait().unwrap();
        signal.flush().unwrap();
        thread::sleep(Duration::from_millis(200));
        let n = live.0.load(Ordering::SeqCst);
        drop(signal);
        n
    });
    assert_eq!(live, 3, "kept until the next event, as documented");
}

/// CONTROL (passes): the same with a `Subscription` instead: its drop
/// empties the ring at once.
#[test]
fn control_a_dropped_subscription_releases_the_rings_events() {
    let live = within(HANG, "the scenario", || {
        let live = Arc::new(Live::default());
        let signal = AsyncSignal::<Counted>::builder()
            .pool(pool(2))
            .capacity(8)
            .build()
            .unwrap();
        let sub = signal.subscribe();
        for v in 0..3 {
            signal.emit(Counted::new(v, &live)).unwrap();
        }
        signal.flush().unwrap();
        drop(sub);
        let n = live.0.load(Ordering::SeqCst);
        drop(signal);
        n
    });
    assert_eq!(live, 0);
}

// ---------------------------------------------------------------------------
// 9. A fired once-listener with a dropping policy keeps counting drops.
// ---------------------------------------------------------------------------

/// DEFECT (accounting): a once-listener leaves the list only at the next
/// write, so its cursor keeps reading the ring after the one call, and a
/// `DropOldest` one counts the events it skips as dropped for a listener
/// that is no longer connected (`is_connected()` is false) and could never
/// have received them: `Stats::dropped` (and `dropped(&conn)`) report 8
/// drops for a listener that got the one event it asked for. Its job also
/// keeps running for every event until some unrelated connect or
/// disconnect.
#[test]
fn a_fired_once_listener_keeps_counting_drops() {
    let (connected, dropped, total, received) = within(HANG, "the scenario", || {
        let signal = AsyncSignal::<u32>::builder()
            .pool(pool(2))
            .capacity(2)
            .build()
            .unwrap();
        let (started_tx, started) = mpsc::channel::<u32>();
        let (release, release_rx) = mpsc::channel::<()>();
        let gate = Mutex::new(Some((started_tx, release_rx)));
        let received = Arc::new(AtomicU64::new(0));
        let r = Arc::clone(&received);
        let conn = signal
            .connect_with(opts(Policy::DropOldest).once(), move |v: &u32| {
                r.fetch_add(1, Ordering::SeqCst);
                if let Some((started, release)) = gate.lock().unwrap().take() {
                    started.send(*v).unwrap();
                    let _ = release.recv_timeout(LONG);
                }
            })
            .unwrap();
        signal.emit(0).unwrap();
        assert_eq!(started.recv_timeout(LONG), Ok(0));
        for v in 1..=10 {
            signal.emit(v).unwrap();
        }
        drained(&signal);
        release.send(()).unwrap();
        signal.flush().unwrap();
        (
            conn.is_connected(),
            signal.dropped(&conn),
            signal.stats().dropped,
            received.load(Ordering::SeqCst),
        )
    });
    assert_eq!(received, 1);
    assert!(!connected);
    assert_eq!(
        (dropped, total),
        (0, 0),
        "drops counted for a once-listener after its one call"
    );
}

// ---------------------------------------------------------------------------
// 10. A dropping listener's emit into its own full signal is refused.
// ---------------------------------------------------------------------------

/// KNOWN LIMITATION (documented on `Overflow::Block`; review item 10):
/// under `Overflow::Block`, `emit` answers `Full` at once when the calling
/// thread is inside a delivery of this signal. A dropping listener's job
/// is recorded as such a delivery (so that `disconnect_wait`, `flush` and
/// the circle check see it), although the drainer never waits for it: its
/// emit into its own full signal is turned away instead of waiting. This
/// test pins that.
#[test]
fn a_dropping_listeners_emit_into_its_full_signal_is_refused_though_room_comes() {
    let result = within(HANG, "the scenario", || {
        let signal = Arc::new(
            AsyncSignal::<u32>::builder()
                .pool(pool(3))
                .capacity(1)
                .overflow(Overflow::Block)
                .build()
                .unwrap(),
        );
        // A blocking listener that holds event 1 until released.
        let (b_started_tx, b_started) = mpsc::channel::<()>();
        let (b_release, b_release_rx) = mpsc::channel::<()>();
        let b_gate = Mutex::new((b_started_tx, b_release_rx));
        signal.connect(move |v: &u32| {
            if *v == 1 {
                let gate = b_gate.lock().unwrap();
                gate.0.send(()).unwrap();
                let _ = gate.1.recv_timeout(LONG);
            }
        });
        // A dropping listener that, on event 0, emits once more when told.
        let (l_started_tx, l_started) = mpsc::channel::<()>();
        let (l_go, l_go_rx) = mpsc::channel::<()>();
        let (result_tx, result_rx) = mpsc::channel::<Result<(), RejectReason>>();
        let weak = Arc::downgrade(&signal);
        let l_gate = Mutex::new((l_started_tx, l_go_rx, result_tx));
        signal
            .connect_with(opts(Policy::DropOldest), move |v: &u32| {
                if *v == 0 {
                    let gate = l_gate.lock().unwrap();
                    gate.0.send(()).unwrap();
                    let _ = gate.1.recv_timeout(LONG);
                    let result = weak
                        .upgrade()
                        .unwrap()
                        .emit(100)
                        .map_err(|rejected| rejected.reason());
                    let _ = gate.2.send(result);
                }
            })
            .unwrap();
        signal.emit(0).unwrap();
        l_started.recv_timeout(LONG).unwrap();
        signal.emit(1).unwrap();
        b_started.recv_timeout(LONG).unwrap(); // the queue is full now
        l_go.send(()).unwrap();
        thread::sleep(Duration::from_millis(200));
        b_release.send(()).unwrap();
        let result = result_rx.recv_timeout(LONG).unwrap();
        signal.flush().unwrap();
        result
    });
    assert!(
        matches!(result, Err(RejectReason::Full)),
        "documented: refused as Full; got {result:?}"
    );
}

// ---------------------------------------------------------------------------
// Controls (pass): re-entrancy and panics on the cursor path.
// ---------------------------------------------------------------------------

fn reentrant_body() {
    let signal = Arc::new(
        AsyncSignal::<Bomb>::builder()
            .pool(pool(2))
            .capacity(8)
            .build()
            .unwrap(),
    );
    signal.set_panic_handler(|_| panic!("the panic handler panics too"));
    signal.set_error_handler(|_| panic!("the error handler panics too"));
    let holder: Arc<Mutex<Option<Arc<AsyncSignal<Bomb>>>>> =
        Arc::new(Mutex::new(Some(Arc::clone(&signal))));
    let weak = Arc::downgrade(&signal);
    let h = Arc::clone(&holder);
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    for policy in [Policy::DropOldest, Policy::DropNewest] {
        let weak = weak.clone();
        let h = Arc::clone(&h);
        let c = Arc::clone(&c);
        let subs_done = AtomicBool::new(false);
        signal
            .connect_fallible_with(opts(policy), move |b: &Bomb| {
                c.fetch_add(1, Ordering::SeqCst);
                if let Some(signal) = weak.upgrade() {
                    let _ = signal.stats();
                    let _ = signal.flush(); // refused
                    if !subs_done.swap(true, Ordering::SeqCst) {
                        let _sub = signal.subscribe();
                        signal
                            .connect_with(opts(Policy::DropNewest), |_: &Bomb| panic!("inner"))
                            .unwrap();
                        let _ = signal.emit(Bomb { v: 99, armed: true });
                    }
                }
                match b.v % 3 {
                    0 => panic!("listener {}", b.v),
                    1 => Err("error"),
                    _ => {
                        if b.v == 5 {
                            // Drops the signal from inside its own listener.
                            drop(h.lock().unwrap().take());
                        }
                        Ok(())
                    }
                }
            })
            .unwrap();
    }
    for v in 0..8 {
        let _ = signal.emit(Bomb {
            v,
            armed: v % 2 == 0,
        });
    }
    let _ = signal.shutdown(LONG);
    drop(signal);
    thread::sleep(Duration::from_millis(300));
    assert!(calls.load(Ordering::SeqCst) > 0);
}

/// CONTROL (passes): dropping listeners that read stats, try to flush,
/// subscribe, connect panicking listeners, emit into their own signal and
/// drop the signal from inside a call, with panicking listeners, events'
/// `Drop`s, panic handler and error handler, do not abort the process.
#[test]
fn control_reentrant_panicking_dropping_listeners_do_not_abort() {
    in_child(
        "control_reentrant_panicking_dropping_listeners_do_not_abort",
        reentrant_body,
    );
}

/// CONTROL (passes): events left in a `DropNewest` queue when its listener
/// is disconnected are dropped by the retiring job under a catch, also
/// when their `Drop`s panic, and the flush completes.
#[test]
fn control_retire_catches_panicking_drops_of_queued_events() {
    in_child(
        "control_retire_catches_panicking_drops_of_queued_events",
        || {
            let signal = AsyncSignal::<Bomb>::builder()
                .pool(pool(2))
                .capacity(8)
                .build()
                .unwrap();
            let (started_tx, started) = mpsc::channel::<u32>();
            let (release, release_rx) = mpsc::channel::<()>();
            let gate = Mutex::new(Some((started_tx, release_rx)));
            let conn = signal
                .connect_with(opts(Policy::DropNewest), move |b: &Bomb| {
                    if let Some((started, release)) = gate.lock().unwrap().take() {
                        started.send(b.v).unwrap();
                        let _ = release.recv_timeout(LONG);
                    }
                })
                .unwrap();
            for v in 0..6 {
                signal.emit(Bomb { v, armed: true }).unwrap();
            }
            assert_eq!(started.recv_timeout(LONG), Ok(0));
            drained(&signal);
            conn.disconnect();
            release.send(()).unwrap();
            signal.flush().unwrap();
            signal.shutdown(LONG).unwrap();
            drop(signal);
            thread::sleep(Duration::from_millis(200));
        },
    );
}

// ---------------------------------------------------------------------------
// Races (controls unless they fail).
// ---------------------------------------------------------------------------

/// CONTROL (race): `shutdown` racing two emitting threads, with a listener
/// of each dropping policy: once `shutdown` returns `Ok`, each listener has
/// received or counted as dropped exactly the events accepted (`emit`
/// returned `Ok`), and nothing comes after.
#[test]
fn control_shutdown_racing_emitters_accounts_for_every_accepted_event() {
    within(Duration::from_secs(30), "the race", || {
        for round in 0..20 {
            let signal = Arc::new(
                AsyncSignal::<u32>::builder()
                    .pool(pool(2))
                    .capacity(64)
                    .build()
                    .unwrap(),
            );
            let mut listeners = Vec::new();
            for policy in [Policy::DropOldest, Policy::DropNewest] {
                let got = Arc::new(AtomicU64::new(0));
                let g = Arc::clone(&got);
                let conn = signal
                    .connect_with(opts(policy), move |_: &u32| {
                        g.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                listeners.push((policy, conn, got));
            }
            // The first emit makes the cursors (see the emit_collect defect).
            signal.emit(0).unwrap();
            signal.flush().unwrap();
            let accepted = Arc::new(AtomicU64::new(1));
            let emitters: Vec<_> = (0..2)
                .map(|_| {
                    let (s, a) = (Arc::clone(&signal), Arc::clone(&accepted));
                    thread::spawn(move || {
                        for v in 0..2000 {
                            match s.emit(v) {
                                Ok(()) => {
                                    a.fetch_add(1, Ordering::SeqCst);
                                }
                                Err(_) => return,
                            }
                        }
                    })
                })
                .collect();
            thread::sleep(Duration::from_micros(200 * (round % 5)));
            signal.shutdown(LONG).unwrap();
            for e in emitters {
                e.join().unwrap();
            }
            let accepted = accepted.load(Ordering::SeqCst);
            for (policy, conn, got) in &listeners {
                let got = got.load(Ordering::SeqCst);
                let dropped = signal.dropped(conn);
                assert_eq!(
                    got + dropped,
                    accepted,
                    "round {round} {policy:?}: received {got} + dropped {dropped}"
                );
            }
            thread::sleep(Duration::from_millis(5));
            for (policy, conn, got) in &listeners {
                assert_eq!(
                    got.load(Ordering::SeqCst) + signal.dropped(conn),
                    accepted,
                    "round {round} {policy:?}: a call after shutdown returned"
                );
            }
        }
    });
}

/// CONTROL (race): a dropping listener connected while two threads emit
/// receives, or counts as dropped, every event whose `emit` began after
/// `connect` returned; after `disconnect_wait` returns it is never called
/// again; a once-listener with a dropping policy runs exactly once.
#[test]
fn control_connect_and_disconnect_racing_emitters() {
    within(Duration::from_secs(30), "the race", || {
        for policy in [Policy::DropOldest, Policy::DropNewest] {
            for _ in 0..10 {
                let signal = Arc::new(
                    AsyncSignal::<(u32, bool)>::builder()
                        .pool(pool(2))
                        .capacity(32)
                        .build()
                        .unwrap(),
                );
                let connected = Arc::new(AtomicBool::new(false));
                let stop = Arc::new(AtomicBool::new(false));
                let emitters: Vec<_> = (0..2)
                    .map(|_| {
                        let (s, c, stop) = (
                            Arc::clone(&signal),
                            Arc::clone(&connected),
                            Arc::clone(&stop),
                        );
                        thread::spawn(move || {
                            let mut after = 0u64;
                            let mut v = 0;
                            while !stop.load(Ordering::SeqCst) {
                                let flag = c.load(Ordering::SeqCst);
                                if s.emit((v, flag)).is_ok() && flag {
                                    after += 1;
                                }
                                v += 1;
                            }
                            after
                        })
                    })
                    .collect();
                thread::sleep(Duration::from_millis(2));
                let seen_after = Arc::new(AtomicU64::new(0));
                let calls = Arc::new(AtomicU64::new(0));
                let once_calls = Arc::new(AtomicU64::new(0));
                let (sa, ca, oc) = (
                    Arc::clone(&seen_after),
                    Arc::clone(&calls),
                    Arc::clone(&once_calls),
                );
                let conn = signal
                    .connect_with(opts(policy), move |e: &(u32, bool)| {
                        ca.fetch_add(1, Ordering::SeqCst);
                        if e.1 {
                            sa.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                    .unwrap();
                let once = signal
                    .connect_with(opts(policy).once(), move |_: &(u32, bool)| {
                        oc.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
                connected.store(true, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
                stop.store(true, Ordering::SeqCst);
                let after: u64 = emitters.into_iter().map(|e| e.join().unwrap()).sum();
                signal.flush().unwrap();
                let seen = seen_after.load(Ordering::SeqCst);
                let dropped = signal.dropped(&conn);
                assert!(
                    seen + dropped >= after,
                    "{policy:?}: {seen} received + {dropped} dropped of {after} emitted after connect"
                );
                assert_eq!(once_calls.load(Ordering::SeqCst), 1, "{policy:?} once");
                // disconnect_wait under a running stream.
                let s = Arc::clone(&signal);
                let stop = Arc::new(AtomicBool::new(false));
                let st = Arc::clone(&stop);
                let emitter = thread::spawn(move || {
                    let mut v = 0;
                    while !st.load(Ordering::SeqCst) {
                        let _ = s.emit((v, false));
                        v += 1;
                    }
                });
                thread::sleep(Duration::from_millis(2));
                conn.disconnect_wait().unwrap();
                let at = calls.load(Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
                stop.store(true, Ordering::SeqCst);
                emitter.join().unwrap();
                signal.flush().unwrap();
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    at,
                    "{policy:?}: called after disconnect_wait"
                );
                drop(once);
            }
        }
    });
}

/// CONTROL (passes): dropping the signal while a slow dropping listener is
/// inside its first call and more events wait for it loses nothing (the
/// jobs keep the shared state), and the events are all dropped after.
#[test]
fn control_dropping_the_signal_under_a_slow_dropping_listener_loses_nothing() {
    for policy in [Policy::DropOldest, Policy::DropNewest] {
        let (got, live) = within(HANG, "the scenario", move || {
            let live = Arc::new(Live::default());
            let signal = AsyncSignal::<Counted>::builder()
                .pool(pool(2))
                .capacity(16)
                .build()
                .unwrap();
            let (started_tx, started) = mpsc::channel::<u32>();
            let (release, release_rx) = mpsc::channel::<()>();
            let gate = Mutex::new(Some((started_tx, release_rx)));
            let (tx, rx) = mpsc::channel();
            let tx = Mutex::new(tx);
            signal
                .connect_with(opts(policy), move |c: &Counted| {
                    if let Some((started, release)) = gate.lock().unwrap().take() {
                        started.send(c.v).unwrap();
                        let _ = release.recv_timeout(LONG);
                    }
                    let _ = tx.lock().unwrap().send(c.v);
                })
                .unwrap();
            for v in 0..10 {
                signal.emit(Counted::new(v, &live)).unwrap();
            }
            assert_eq!(started.recv_timeout(LONG), Ok(0));
            drained(&signal);
            drop(signal);
            release.send(()).unwrap();
            let got: Vec<u32> = (0..10).filter_map(|_| rx.recv_timeout(LONG).ok()).collect();
            let deadline = Instant::now() + LONG;
            while live.0.load(Ordering::SeqCst) != 0 && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(5));
            }
            (got, live.0.load(Ordering::SeqCst))
        });
        assert_eq!((got, live), ((0..10).collect::<Vec<_>>(), 0), "{policy:?}");
    }
}
