//! Integration tests for `Connection`, `BlockGuard` and `ScopedConnection`.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use sigwire::{Connection, SyncSignal, WouldDeadlock};

/// How long a test waits to show that a call is *still blocked*. Never used
/// to make a test pass: a correct implementation stays blocked forever.
const STILL_BLOCKED: Duration = Duration::from_millis(100);

/// A shared call counter and a listener that bumps it.
fn counter() -> (Arc<AtomicUsize>, impl Fn(&()) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &()| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

/// A listener that reports "entered" and then blocks until released, and the
/// test's ends of its two channels. `finished` is set when the call returns.
struct Gate {
    entered: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
    finished: Arc<AtomicBool>,
}

fn gated() -> (Gate, impl Fn(&()) + Send + Sync + 'static) {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let listener = move |_: &()| {
        entered_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        f.store(true, Ordering::SeqCst);
    };
    let gate = Gate {
        entered: entered_rx,
        release: release_tx,
        finished,
    };
    (gate, listener)
}

/// What a waiter thread reports: `disconnect_wait`'s result, and whether the
/// gated listener had finished when it returned.
type WaitOutcome = (Result<bool, WouldDeadlock>, bool);

/// Spawns `disconnect_wait` on a thread that reports a [`WaitOutcome`].
fn spawn_disconnect_wait(
    conn: Connection,
    finished: Arc<AtomicBool>,
) -> (mpsc::Receiver<WaitOutcome>, thread::JoinHandle<()>) {
    let (done_tx, done_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let result = conn.disconnect_wait();
        let finished_then = finished.load(Ordering::SeqCst);
        done_tx.send((result, finished_then)).unwrap();
    });
    (done_rx, handle)
}

// ---------------------------------------------------------------- disconnect

#[test]
fn disconnect_returns_true_once_then_false() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect(f);
    signal.emit(&());
    assert!(conn.disconnect());
    assert!(!conn.disconnect());
    assert!(!conn.clone().disconnect());
    signal.emit(&());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(signal.is_empty());
}

#[test]
fn clones_control_the_same_listener() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect(f);
    let clone = conn.clone();
    assert_eq!(clone.id(), conn.id());
    assert!(clone.disconnect());
    assert!(!conn.is_connected());
    assert!(!conn.disconnect());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn dropping_a_connection_does_not_disconnect() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    drop(signal.connect(f));
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(signal.len(), 1);
}

#[test]
fn disconnect_leaves_other_listeners_alone() {
    let signal = SyncSignal::<()>::new();
    let (a_calls, a) = counter();
    let (b_calls, b) = counter();
    let (c_calls, c) = counter();
    signal.connect(a);
    let middle = signal.connect(b);
    signal.connect(c);
    middle.disconnect();
    signal.emit(&());
    assert_eq!(a_calls.load(Ordering::SeqCst), 1);
    assert_eq!(b_calls.load(Ordering::SeqCst), 0);
    assert_eq!(c_calls.load(Ordering::SeqCst), 1);
    assert_eq!(signal.len(), 2);
}

thread_local! {
    /// Set by an emitting thread around each emit that started after the
    /// test's `disconnect` had returned.
    static EMIT_AFTER_DISCONNECT: Cell<bool> = const { Cell::new(false) };
}

#[test]
fn disconnect_from_another_thread_while_emits_run() {
    const EMITTERS: usize = 4;
    const EMITS_AFTER: usize = 2_000;
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let late_calls = Arc::new(AtomicUsize::new(0));
    let (c, l) = (Arc::clone(&calls), Arc::clone(&late_calls));
    let conn = signal.connect(move |_: &()| {
        c.fetch_add(1, Ordering::SeqCst);
        if EMIT_AFTER_DISCONNECT.with(Cell::get) {
            l.fetch_add(1, Ordering::SeqCst);
        }
    });
    let (others, g) = counter();
    signal.connect(g);
    let disconnected = AtomicBool::new(false);
    let start = Barrier::new(EMITTERS + 1);
    let total_emits = AtomicUsize::new(0);

    thread::scope(|s| {
        for _ in 0..EMITTERS {
            s.spawn(|| {
                start.wait();
                let mut after = 0;
                while after < EMITS_AFTER {
                    // An emit that starts after `disconnect` returned must
                    // not call the listener.
                    let is_after = disconnected.load(Ordering::SeqCst);
                    EMIT_AFTER_DISCONNECT.with(|a| a.set(is_after));
                    signal.emit(&());
                    total_emits.fetch_add(1, Ordering::SeqCst);
                    after += usize::from(is_after);
                }
            });
        }
        start.wait();
        // Disconnect while the listener is being called on every emitter.
        while calls.load(Ordering::SeqCst) < 100 {
            thread::yield_now();
        }
        assert!(conn.disconnect());
        disconnected.store(true, Ordering::SeqCst);
        assert!(!conn.is_connected());
        assert!(!conn.disconnect());
    });

    assert_eq!(late_calls.load(Ordering::SeqCst), 0);
    let total = total_emits.load(Ordering::SeqCst);
    assert!(calls.load(Ordering::SeqCst) < total);
    assert_eq!(others.load(Ordering::SeqCst), total);
    let before = calls.load(Ordering::SeqCst);
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), before);
    assert_eq!(signal.len(), 1);
}

#[test]
fn concurrent_disconnects_succeed_exactly_once() {
    const THREADS: usize = 8;
    for _ in 0..50 {
        let signal = SyncSignal::<()>::new();
        let conn = signal.connect(|_: &()| {});
        let start = Barrier::new(THREADS);
        let wins = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    let conn = conn.clone();
                    start.wait();
                    if conn.disconnect() {
                        wins.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(wins.load(Ordering::SeqCst), 1);
        assert!(signal.is_empty());
    }
}

// ---------------------------------------------------------------- is_connected, id

#[test]
fn is_connected_follows_the_listener() {
    let signal = SyncSignal::<()>::new();
    let conn = signal.connect(|_: &()| {});
    assert!(conn.is_connected());
    {
        let _guard = conn.block();
        assert!(conn.is_connected(), "a blocked listener is connected");
    }
    signal.emit(&());
    assert!(conn.is_connected());
    conn.disconnect();
    assert!(!conn.is_connected());

    let keyed = signal.connect_keyed("k", |_: &()| {}).unwrap();
    assert!(keyed.is_connected());
    signal.disconnect_key("k");
    assert!(!keyed.is_connected());

    let cleared = signal.connect(|_: &()| {});
    signal.clear();
    assert!(!cleared.is_connected());
}

#[test]
fn ids_are_unique_across_listeners_and_signals() {
    let a = SyncSignal::<()>::new();
    let b = SyncSignal::<String>::new();
    let mut ids = HashSet::new();
    let mut conns = Vec::new();
    for _ in 0..100 {
        conns.push(a.connect(|_: &()| {}));
        conns.push(b.connect(|_: &String| {}));
        conns.push(a.connect_once(|_: &()| {}));
    }
    // From other threads too.
    thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..100).map(|_| a.connect(|_: &()| {})).collect::<Vec<_>>()))
            .collect();
        for handle in handles {
            conns.extend(handle.join().unwrap());
        }
    });
    for conn in &conns {
        assert!(ids.insert(conn.id()), "duplicate id {}", conn.id());
    }
    assert_eq!(ids.len(), 700);
    // The id is stable and survives disconnecting.
    let id = conns[0].id();
    conns[0].disconnect();
    assert_eq!(conns[0].id(), id);
    assert_eq!(conns[0].clone().id(), id);
}

#[test]
fn debug_shows_id_and_state() {
    let signal = SyncSignal::<()>::new();
    let conn = signal.connect(|_: &()| {});
    let text = format!("{conn:?}");
    assert!(text.contains(&conn.id().to_string()), "{text}");
    assert!(text.contains("connected: true"), "{text}");
    let guard = conn.block();
    assert!(format!("{guard:?}").contains(&conn.id().to_string()));
    drop(guard);
    let scoped = conn.clone().scoped();
    assert!(format!("{scoped:?}").contains("ScopedConnection"));
    drop(scoped);
    assert!(format!("{conn:?}").contains("connected: false"));
}

// ---------------------------------------------------------------- block

#[test]
fn a_blocked_listener_is_skipped_while_any_guard_lives() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let (others, g) = counter();
    let conn = signal.connect(f);
    signal.connect(g);
    assert!(!conn.is_blocked());

    let outer = conn.block();
    assert!(conn.is_blocked());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(others.load(Ordering::SeqCst), 1, "others still run");

    let inner = conn.block();
    let third = conn.clone().block();
    signal.emit(&());
    drop(outer); // guards may be dropped in any order
    signal.emit(&());
    drop(third);
    assert!(conn.is_blocked());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    drop(inner);
    assert!(!conn.is_blocked());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(others.load(Ordering::SeqCst), 5);
}

#[test]
fn every_emit_variant_skips_a_blocked_listener() {
    let signal = SyncSignal::<()>::new();
    let conn = signal.connect_fallible(|_: &()| Err("blocked listener ran"));
    let _guard = conn.block();
    signal.emit(&());
    assert_eq!(signal.try_emit(&()).ok(), Some(()));
    assert_eq!(signal.emit_collect(&()).ok(), Some(()));
    assert_eq!(signal.emit_until(&(), AtomicBool::new(false)), Ok(()));
    signal.emitter().emit(&());
    assert_eq!(signal.error_count(), 0);
}

#[test]
fn a_blocked_once_listener_keeps_its_call() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect_once(f);
    {
        let _guard = conn.block();
        signal.emit(&());
        signal.emit(&());
        assert!(conn.is_connected());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    signal.emit(&());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!conn.is_connected());
}

#[test]
fn unblocking_does_not_revive_a_disconnected_listener() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect(f);
    let guard = conn.block();
    assert!(conn.disconnect(), "a blocked listener can be disconnected");
    drop(guard);
    assert!(!conn.is_connected());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Blocking a disconnected listener is harmless.
    let late = conn.block();
    drop(late);
    assert!(!conn.is_connected());
}

#[test]
fn a_block_guard_may_outlive_the_signal() {
    let signal = SyncSignal::<()>::new();
    let conn = signal.connect(|_: &()| {});
    let guard = conn.block();
    drop(signal);
    assert!(!conn.is_blocked());
    drop(guard);
    let guard = conn.block();
    drop(guard);
    assert!(!conn.is_connected());
}

#[test]
fn blocking_from_another_thread() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect(f);
    let (blocked_tx, blocked_rx) = mpsc::channel();
    let (unblock_tx, unblock_rx) = mpsc::channel::<()>();
    thread::scope(|s| {
        let conn = &conn;
        s.spawn(move || {
            let _guard = conn.block();
            blocked_tx.send(()).unwrap();
            unblock_rx.recv().unwrap();
        });
        blocked_rx.recv().unwrap();
        signal.emit(&());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        unblock_tx.send(()).unwrap();
    });
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- scoped

#[test]
fn scoped_disconnects_on_drop() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let plain = {
        let scoped = signal.connect(f).scoped();
        // Derefs to the Connection.
        assert!(scoped.is_connected());
        let plain: Connection = (*scoped).clone();
        signal.emit(&());
        plain
    };
    assert!(!plain.is_connected());
    assert!(signal.is_empty());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn release_keeps_the_listener_connected() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect(f).scoped().release();
    assert!(conn.is_connected());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(signal.len(), 1);
    assert!(conn.disconnect());
}

#[test]
fn scoped_drop_after_manual_disconnect_or_signal_drop_is_harmless() {
    let signal = SyncSignal::<()>::new();
    let scoped = signal.connect(|_: &()| {}).scoped();
    assert!(scoped.disconnect());
    drop(scoped);
    assert!(signal.is_empty());

    let scoped = signal.connect(|_: &()| {}).scoped();
    drop(signal);
    assert!(!scoped.is_connected());
    drop(scoped);
}

#[test]
fn scoped_only_disconnects_its_own_listener() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let keep = signal.connect(f);
    drop(signal.connect(|_: &()| {}).scoped());
    assert!(keep.is_connected());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- outliving

#[test]
fn a_connection_outliving_its_signal_is_harmless() {
    let signal = SyncSignal::<()>::new();
    let captured = Arc::new(());
    let c = Arc::clone(&captured);
    let conn = signal.connect(move |_: &()| {
        let _ = &c;
    });
    let id = conn.id();
    let keyed = signal.connect_keyed("k", |_: &()| {}).unwrap();
    assert_eq!(Arc::strong_count(&captured), 2);

    drop(signal);
    // The connection keeps neither the signal nor the closure alive.
    assert_eq!(Arc::strong_count(&captured), 1);
    assert!(!conn.is_connected());
    assert!(!conn.is_blocked());
    assert!(!conn.disconnect());
    assert_eq!(conn.disconnect_wait(), Ok(false));
    assert_eq!(keyed.disconnect_wait(), Ok(false));
    assert_eq!(conn.id(), id);
}

#[test]
fn a_connection_outliving_a_signal_moved_to_and_dropped_on_another_thread() {
    let signal = SyncSignal::<()>::new();
    let conn = signal.connect(|_: &()| {});
    thread::spawn(move || {
        signal.emit(&());
        drop(signal);
    })
    .join()
    .unwrap();
    assert!(!conn.is_connected());
    assert!(!conn.disconnect());
    assert_eq!(conn.disconnect_wait(), Ok(false));
}

#[test]
fn disconnect_releases_the_closure() {
    let signal = SyncSignal::<()>::new();
    let captured = Arc::new(());
    let c = Arc::clone(&captured);
    let conn = signal.connect(move |_: &()| {
        let _ = &c;
    });
    signal.emit(&());
    conn.disconnect();
    // The closure is freed by a writer once no emit holds the list it was
    // in: here no emit runs, so the next write frees it at the latest.
    signal.connect(|_: &()| {}).disconnect();
    assert_eq!(Arc::strong_count(&captured), 1);
}

// ---------------------------------------------------------------- disconnect_wait

#[test]
fn disconnect_wait_without_running_emits_returns_at_once() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect(f);
    signal.emit(&());
    assert_eq!(conn.disconnect_wait(), Ok(true));
    assert_eq!(conn.disconnect_wait(), Ok(false));
    assert!(!conn.is_connected());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn disconnect_wait_returns_only_after_a_running_call_finished() {
    let signal = Arc::new(SyncSignal::<()>::new());
    let (gate, listener) = gated();
    let conn = signal.connect(listener);

    let s = Arc::clone(&signal);
    let emitter = thread::spawn(move || s.emit(&()));
    gate.entered.recv().unwrap(); // the call is in progress

    let (done, waiter) = spawn_disconnect_wait(conn.clone(), Arc::clone(&gate.finished));
    // The waiter disconnects first, then waits.
    while conn.is_connected() {
        thread::yield_now();
    }
    assert_eq!(
        done.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "disconnect_wait returned while the call was still running"
    );

    gate.release.send(()).unwrap();
    let (result, finished_then) = done.recv().unwrap();
    assert_eq!(result, Ok(true));
    assert!(finished_then, "the listener had finished when it returned");
    emitter.join().unwrap();
    waiter.join().unwrap();

    signal.emit(&());
    assert!(gate.entered.try_recv().is_err(), "not called again");
}

#[test]
fn disconnect_wait_waits_for_a_running_once_listener() {
    let signal = Arc::new(SyncSignal::<()>::new());
    let (gate, listener) = gated();
    let conn = signal.connect_once(listener);

    let s = Arc::clone(&signal);
    let emitter = thread::spawn(move || s.emit(&()));
    gate.entered.recv().unwrap();
    // The once-listener has used its call: it is no longer connected.
    assert!(!conn.is_connected());

    let (done, waiter) = spawn_disconnect_wait(conn.clone(), Arc::clone(&gate.finished));
    assert_eq!(
        done.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "disconnect_wait returned while the once-call was still running"
    );
    gate.release.send(()).unwrap();
    let (result, finished_then) = done.recv().unwrap();
    assert_eq!(
        result,
        Ok(false),
        "already fired, so not disconnected by this call"
    );
    assert!(finished_then);
    emitter.join().unwrap();
    waiter.join().unwrap();
}

#[test]
fn disconnect_wait_waits_for_a_call_through_an_emitter_and_try_emit() {
    // The same as above for the other emit paths.
    type EmitFn = fn(&SyncSignal<()>);
    let paths: [EmitFn; 4] = [
        |s| s.emitter().emit(&()),
        |s| s.try_emit(&()).unwrap(),
        |s| s.emit_collect(&()).unwrap(),
        |s| s.emit_until(&(), AtomicBool::new(false)).unwrap(),
    ];
    for emit in paths {
        let signal = Arc::new(SyncSignal::<()>::new());
        let (gate, listener) = gated();
        let conn = signal.connect(listener);
        let s = Arc::clone(&signal);
        let emitter = thread::spawn(move || emit(&s));
        gate.entered.recv().unwrap();
        let (done, waiter) = spawn_disconnect_wait(conn, Arc::clone(&gate.finished));
        assert_eq!(
            done.recv_timeout(STILL_BLOCKED),
            Err(RecvTimeoutError::Timeout)
        );
        gate.release.send(()).unwrap();
        let (result, finished_then) = done.recv().unwrap();
        assert_eq!(result, Ok(true));
        assert!(finished_then);
        emitter.join().unwrap();
        waiter.join().unwrap();
    }
}

#[test]
fn disconnect_wait_after_a_concurrent_emit_makes_the_count_final() {
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let conn = signal.connect(move |_: &()| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let stop = AtomicBool::new(false);
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    signal.emit(&());
                }
            });
        }
        while calls.load(Ordering::SeqCst) < 1_000 {
            thread::yield_now();
        }
        assert_eq!(conn.disconnect_wait(), Ok(true));
        let seen = calls.load(Ordering::SeqCst);
        // Many more emits run; none calls the listener.
        for _ in 0..10_000 {
            signal.emit(&());
        }
        assert_eq!(calls.load(Ordering::SeqCst), seen);
        stop.store(true, Ordering::SeqCst);
    });
}

#[test]
fn disconnect_wait_from_inside_a_listener_of_the_same_signal_is_an_error() {
    let signal = SyncSignal::<()>::new();
    let me: Arc<Mutex<Option<Connection>>> = Arc::default();
    let outcome: Arc<Mutex<Vec<Result<bool, WouldDeadlock>>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (m, o, c) = (Arc::clone(&me), Arc::clone(&outcome), Arc::clone(&calls));
    let conn = signal.connect(move |_: &()| {
        c.fetch_add(1, Ordering::SeqCst);
        let conn = m.lock().unwrap().clone().unwrap();
        o.lock().unwrap().push(conn.disconnect_wait());
    });
    *me.lock().unwrap() = Some(conn.clone());
    let (after, g) = counter();
    signal.connect(g);

    signal.emit(&());
    let results = outcome.lock().unwrap().clone();
    assert_eq!(results.len(), 1);
    assert!(results[0].is_err(), "{results:?}");
    // Disconnected all the same.
    assert!(!conn.is_connected());
    assert_eq!(signal.len(), 1);
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(after.load(Ordering::SeqCst), 2);
    // Outside the emit it no longer errs.
    assert_eq!(conn.disconnect_wait(), Ok(false));
}

#[test]
fn disconnect_wait_from_a_listener_for_another_listener_of_the_same_signal_is_an_error() {
    let signal = SyncSignal::<()>::new();
    let (victim_calls, v) = counter();
    let victim_slot: Arc<Mutex<Option<Connection>>> = Arc::default();
    let outcome: Arc<Mutex<Option<Result<bool, WouldDeadlock>>>> = Arc::default();
    let (vs, o) = (Arc::clone(&victim_slot), Arc::clone(&outcome));
    signal.connect(move |_: &()| {
        if let Some(victim) = vs.lock().unwrap().take() {
            *o.lock().unwrap() = Some(victim.disconnect_wait());
        }
    });
    let victim = signal.connect(v);
    *victim_slot.lock().unwrap() = Some(victim.clone());
    signal.emit(&());
    assert!(matches!(*outcome.lock().unwrap(), Some(Err(_))));
    assert!(!victim.is_connected());
    assert_eq!(
        victim_calls.load(Ordering::SeqCst),
        0,
        "not called later in that emit"
    );
}

#[test]
fn disconnect_wait_from_a_listener_of_a_different_signal_succeeds() {
    let other = Arc::new(SyncSignal::<()>::new());
    let (target_calls, t) = counter();
    let target = other.connect(t);

    let signal = SyncSignal::<()>::new();
    let outcome: Arc<Mutex<Option<Result<bool, WouldDeadlock>>>> = Arc::default();
    let (o, tc) = (Arc::clone(&outcome), target.clone());
    signal.connect(move |_: &()| {
        *o.lock().unwrap() = Some(tc.disconnect_wait());
    });
    signal.emit(&());
    assert_eq!(*outcome.lock().unwrap(), Some(Ok(true)));
    other.emit(&());
    assert_eq!(target_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn disconnect_wait_from_a_listener_of_a_different_signal_still_waits() {
    // The target listener is running on another thread; a disconnect_wait
    // issued from inside an emit of an unrelated signal must wait for it.
    let target_signal = Arc::new(SyncSignal::<()>::new());
    let (gate, listener) = gated();
    let target = target_signal.connect(listener);
    let ts = Arc::clone(&target_signal);
    let emitter = thread::spawn(move || ts.emit(&()));
    gate.entered.recv().unwrap();

    let signal = Arc::new(SyncSignal::<()>::new());
    let (done_tx, done_rx) = mpsc::channel();
    let done_tx = Mutex::new(done_tx);
    let finished = Arc::clone(&gate.finished);
    signal.connect(move |_: &()| {
        let result = target.disconnect_wait();
        let finished_then = finished.load(Ordering::SeqCst);
        done_tx
            .lock()
            .unwrap()
            .send((result, finished_then))
            .unwrap();
    });
    let s = Arc::clone(&signal);
    let waiter = thread::spawn(move || s.emit(&()));
    assert_eq!(
        done_rx.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout)
    );
    gate.release.send(()).unwrap();
    let (result, finished_then) = done_rx.recv().unwrap();
    assert_eq!(result, Ok(true));
    assert!(finished_then);
    emitter.join().unwrap();
    waiter.join().unwrap();
}

#[test]
fn disconnect_wait_from_an_inner_signal_inside_an_outer_emit_of_the_target_is_an_error() {
    // outer's listener emits inner; inner's listener disconnect_waits a
    // listener of outer: outer's emit is on this thread's stack.
    let outer = Arc::new(SyncSignal::<()>::new());
    let inner = Arc::new(SyncSignal::<()>::new());
    let (target_calls, t) = counter();
    let target = outer
        .connect_with(sigwire::ConnectOptions::new().priority(-1), t)
        .unwrap();
    let outcome: Arc<Mutex<Option<Result<bool, WouldDeadlock>>>> = Arc::default();
    let (o, tc) = (Arc::clone(&outcome), target.clone());
    inner.connect(move |_: &()| {
        *o.lock().unwrap() = Some(tc.disconnect_wait());
    });
    let i = Arc::clone(&inner);
    outer.connect(move |_: &()| i.emit(&()));
    outer.emit(&());
    assert!(matches!(*outcome.lock().unwrap(), Some(Err(_))));
    assert!(!target.is_connected());
    assert_eq!(target_calls.load(Ordering::SeqCst), 0);
}

#[test]
fn disconnect_wait_from_inside_a_listener_under_every_emit_variant_is_an_error() {
    type EmitFn = fn(&SyncSignal<()>);
    let paths: [(&str, EmitFn); 5] = [
        ("emit", |s| s.emit(&())),
        ("Emitter::emit", |s| s.emitter().emit(&())),
        ("try_emit", |s| s.try_emit(&()).unwrap()),
        ("emit_collect", |s| s.emit_collect(&()).unwrap()),
        ("emit_until", |s| {
            s.emit_until(&(), AtomicBool::new(false)).unwrap()
        }),
    ];
    for (name, emit) in paths {
        let signal = SyncSignal::<()>::new();
        let me: Arc<Mutex<Option<Connection>>> = Arc::default();
        let outcome: Arc<Mutex<Option<Result<bool, WouldDeadlock>>>> = Arc::default();
        let (m, o) = (Arc::clone(&me), Arc::clone(&outcome));
        let conn = signal.connect(move |_: &()| {
            let conn = m.lock().unwrap().clone().unwrap();
            *o.lock().unwrap() = Some(conn.disconnect_wait());
        });
        *me.lock().unwrap() = Some(conn.clone());
        emit(&signal);
        assert!(
            matches!(*outcome.lock().unwrap(), Some(Err(_))),
            "{name}: {:?}",
            outcome.lock().unwrap()
        );
        assert!(!conn.is_connected(), "{name}");
    }
}

// ---------------------------------------------------------------- thread lifecycles

/// Runs `f` on its own thread; fails (instead of hanging) if it deadlocks.
fn within_deadline<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(result) => {
            handle.join().unwrap();
            result
        }
        Err(RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(RecvTimeoutError::Timeout) => panic!("deadlock: not finished after 30s"),
    }
}

#[test]
fn many_short_lived_threads_emit_while_disconnect_wait_runs() {
    // Each thread emits and exits, so per-thread emit records are created,
    // retired and reused; disconnect_wait keeps working throughout.
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let (calls, f) = counter();
        signal.connect(f);
        let inside = Arc::new(AtomicUsize::new(0));
        let (s, i) = (Arc::downgrade(&signal), Arc::clone(&inside));
        signal.connect(move |_: &()| {
            // Inside an emit on a thread with a fresh or reused record.
            let s = s.upgrade().unwrap();
            let conn = s.connect(|_: &()| {});
            if conn.disconnect_wait().is_err() {
                i.fetch_add(1, Ordering::SeqCst);
            }
        });
        const THREADS: usize = 200;
        for round in 0..THREADS / 8 {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let s = Arc::clone(&signal);
                    thread::spawn(move || s.emit(&()))
                })
                .collect();
            let conn = signal.connect(|_: &()| {});
            assert_eq!(conn.disconnect_wait(), Ok(true), "round {round}");
            for handle in handles {
                handle.join().unwrap();
            }
        }
        let emits = THREADS / 8 * 8;
        assert_eq!(calls.load(Ordering::SeqCst), emits);
        assert_eq!(inside.load(Ordering::SeqCst), emits);
    });
}

/// Emits `signal` when dropped, as a thread local does at thread exit.
struct EmitAtExit(Arc<SyncSignal<()>>);

impl Drop for EmitAtExit {
    fn drop(&mut self) {
        self.0.emit(&());
    }
}

thread_local! {
    static AT_EXIT: std::cell::RefCell<Option<EmitAtExit>> = const { std::cell::RefCell::new(None) };
}

/// A listener, emitted from a thread-local destructor, that calls
/// `disconnect_wait` on itself; returns what it got and the call count.
fn emit_from_thread_exit(
    register_before_first_emit: bool,
) -> (Option<Result<bool, WouldDeadlock>>, usize) {
    let signal = Arc::new(SyncSignal::<()>::new());
    let me: Arc<Mutex<Option<Connection>>> = Arc::default();
    let outcome: Arc<Mutex<Option<Result<bool, WouldDeadlock>>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    let (m, o, c) = (Arc::clone(&me), Arc::clone(&outcome), Arc::clone(&calls));
    let conn = signal.connect(move |_: &()| {
        if c.fetch_add(1, Ordering::SeqCst) == 0 {
            return; // the ordinary emit
        }
        let conn = m.lock().unwrap().clone().unwrap();
        *o.lock().unwrap() = Some(conn.disconnect_wait());
    });
    *me.lock().unwrap() = Some(conn.clone());
    let s = Arc::clone(&signal);
    thread::spawn(move || {
        // Thread-local destructors run in reverse order of registration:
        // registering ours first makes it run after sigwire's own.
        if register_before_first_emit {
            AT_EXIT.with(|at_exit| *at_exit.borrow_mut() = Some(EmitAtExit(Arc::clone(&s))));
            s.emit(&());
        } else {
            s.emit(&());
            AT_EXIT.with(|at_exit| *at_exit.borrow_mut() = Some(EmitAtExit(Arc::clone(&s))));
        }
    })
    .join()
    .unwrap();
    assert!(!conn.is_connected());
    // No emit is left running: waiting from here returns at once.
    let other = signal.connect(|_: &()| {});
    assert_eq!(other.disconnect_wait(), Ok(true));
    let result = *outcome.lock().unwrap();
    (result, calls.load(Ordering::SeqCst))
}

#[test]
fn emits_from_a_thread_local_destructor_registered_after_the_first_emit() {
    let (outcome, calls) = within_deadline(|| emit_from_thread_exit(false));
    assert_eq!(calls, 2, "the emit at thread exit called the listener");
    assert!(matches!(outcome, Some(Err(_))), "{outcome:?}");
}

#[test]
fn emits_from_a_thread_local_destructor_registered_before_the_first_emit() {
    let (outcome, calls) = within_deadline(|| emit_from_thread_exit(true));
    assert_eq!(calls, 2, "the emit at thread exit called the listener");
    assert!(matches!(outcome, Some(Err(_))), "{outcome:?}");
}

/// Threads that emitted and went idle hold no list (docs/architecture.md,
/// "Emit reads the list through a raw pointer"): a closure disconnected on
/// another thread is freed by the disconnect itself.
#[test]
fn closure_is_freed_at_once_though_another_thread_emitted_and_idles() {
    let signal = Arc::new(SyncSignal::<()>::new());
    let captured = Arc::new(());
    let c = Arc::clone(&captured);
    let conn = signal.connect(move |_: &()| {
        let _ = &c;
    });
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let s = Arc::clone(&signal);
    let emitter = std::thread::spawn(move || {
        s.emit(&());
        done_tx.send(()).unwrap();
        go_rx.recv().unwrap();
    });
    done_rx.recv().unwrap();
    conn.disconnect();
    assert_eq!(Arc::strong_count(&captured), 1);
    go_tx.send(()).unwrap();
    emitter.join().unwrap();
}

/// A closure disconnected while another thread is inside an emit of the
/// signal stays alive until that emit has ended and then a write (or a
/// `disconnect_wait`) frees it.
#[test]
fn closure_disconnected_during_a_running_emit_is_freed_by_a_later_write() {
    let signal = Arc::new(SyncSignal::<()>::new());
    let captured = Arc::new(());
    let c = Arc::clone(&captured);
    let conn = signal.connect(move |_: &()| {
        let _ = &c;
    });
    let (gate, listener) = gated();
    let gated_conn = signal.connect(listener);
    let s = Arc::clone(&signal);
    let emitter = std::thread::spawn(move || s.emit(&()));
    gate.entered.recv().unwrap();
    conn.disconnect();
    assert_eq!(
        Arc::strong_count(&captured),
        2,
        "the running emit may still read the list that holds the closure"
    );
    gate.release.send(()).unwrap();
    emitter.join().unwrap();
    gated_conn.disconnect();
    assert_eq!(Arc::strong_count(&captured), 1, "the next write freed it");
}

#[test]
fn disconnect_wait_frees_the_closure_once_running_emits_ended() {
    let signal = Arc::new(SyncSignal::<()>::new());
    let captured = Arc::new(());
    let c = Arc::clone(&captured);
    let (gate, listener) = gated();
    let conn = signal.connect(move |_: &()| {
        let _ = &c;
        listener(&());
    });
    let s = Arc::clone(&signal);
    let emitter = std::thread::spawn(move || s.emit(&()));
    gate.entered.recv().unwrap();
    let (waited, waiter) = spawn_disconnect_wait(conn, Arc::clone(&gate.finished));
    gate.release.send(()).unwrap();
    let (result, finished) = waited.recv().unwrap();
    assert_eq!(result, Ok(true));
    assert!(finished);
    assert_eq!(Arc::strong_count(&captured), 1);
    waiter.join().unwrap();
    emitter.join().unwrap();
}

/// Thread 1, 70 emits deep in signal A (past the 32-entry record and the 32
/// overflow notes), waits for a listener of signal B while thread 2 is 40
/// emits deep in B. Thread 1 is not inside B's emit: `disconnect_wait` must
/// wait for thread 2 and return `Ok`, not report `WouldDeadlock` because
/// another thread overflowed on B.
#[test]
fn disconnect_wait_deep_in_one_signal_waits_for_another_thread_deep_in_another() {
    const DEEP_A: u32 = 70;
    const DEEP_B: u32 = 40;
    let a = Arc::new(SyncSignal::<u32>::new());
    let b = Arc::new(SyncSignal::<u32>::new());

    // B's listener re-emits until DEEP_B, then waits to be released.
    let (in_b, inside_b) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let b_conn = {
        let weak = Arc::downgrade(&b);
        b.connect(move |depth: &u32| {
            if *depth < DEEP_B {
                weak.upgrade().unwrap().emit(&(depth + 1));
            } else {
                in_b.send(()).unwrap();
                released.lock().unwrap().recv().unwrap();
            }
        })
    };
    let thread_2 = {
        let b = Arc::clone(&b);
        thread::spawn(move || b.emit(&1))
    };
    inside_b.recv().unwrap();

    // A's listener re-emits until DEEP_A, then waits for B's listener.
    let (result, results) = mpsc::channel();
    {
        let weak = Arc::downgrade(&a);
        let b_conn = b_conn.clone();
        a.connect(move |depth: &u32| {
            if *depth < DEEP_A {
                weak.upgrade().unwrap().emit(&(depth + 1));
            } else {
                result.send(b_conn.disconnect_wait()).unwrap();
            }
        });
    }
    let thread_1 = {
        let a = Arc::clone(&a);
        thread::spawn(move || a.emit(&1))
    };
    assert_eq!(
        results.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout),
        "disconnect_wait returned while thread 2 was still inside B's listener"
    );
    release.send(()).unwrap();
    assert_eq!(results.recv().unwrap(), Ok(true));
    thread_2.join().unwrap();
    thread_1.join().unwrap();
    assert!(!b_conn.is_connected());
}

/// From 70 emits deep in its own signal (its notes past the record and
/// past the first 32 overflow notes), `disconnect_wait` still finds itself
/// inside the signal and reports `WouldDeadlock` instead of waiting.
#[test]
fn disconnect_wait_seventy_deep_in_its_own_signal_would_deadlock() {
    const DEEP: u32 = 70;
    let signal = Arc::new(SyncSignal::<u32>::new());
    let (result, results) = mpsc::channel();
    let conn: Arc<Mutex<Option<Connection>>> = Arc::default();
    let connected = {
        let weak = Arc::downgrade(&signal);
        let conn = Arc::clone(&conn);
        signal.connect(move |depth: &u32| {
            if *depth < DEEP {
                weak.upgrade().unwrap().emit(&(depth + 1));
            } else {
                let own = conn.lock().unwrap().clone().unwrap();
                result.send(own.disconnect_wait()).unwrap();
            }
        })
    };
    *conn.lock().unwrap() = Some(connected);
    signal.emit(&1);
    assert!(
        results.recv().unwrap().is_err(),
        "disconnect_wait from inside its own emit"
    );
}
