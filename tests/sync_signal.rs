//! Integration tests for `SyncSignal<T>`: the connect family, every emit
//! variant, the emitter, the `Signal<T>` trait and the error types.

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{
    Cancel, Cancelled, ConnectOptions, Connection, DuplicateKey, EmitError, EmitErrors, Signal,
    SyncSignal, WouldDeadlock,
};

/// A shared call counter and a listener that bumps it.
fn counter<T>() -> (Arc<AtomicUsize>, impl Fn(&T) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &T| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

/// A shared log of names, in call order.
type Log = Arc<Mutex<Vec<&'static str>>>;

/// A listener that appends `name` to `log`.
fn logger<T>(log: &Log, name: &'static str) -> impl Fn(&T) + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |_: &T| log.lock().unwrap().push(name)
}

fn taken(log: &Log) -> Vec<&'static str> {
    std::mem::take(&mut *log.lock().unwrap())
}

// ---------------------------------------------------------------- connect

#[test]
fn connect_calls_the_listener_with_the_value_on_every_emit() {
    let signal = SyncSignal::<u32>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let conn = signal.connect(move |v: &u32| s.lock().unwrap().push(*v));
    assert!(conn.is_connected());
    assert_eq!(signal.len(), 1);

    signal.emit(&1);
    signal.emit(&2);
    signal.emit(&3);
    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
}

#[test]
fn listeners_run_in_connection_order() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    signal.connect(logger(&log, "a"));
    signal.connect(logger(&log, "b"));
    signal.connect(logger(&log, "c"));
    signal.emit(&());
    assert_eq!(taken(&log), ["a", "b", "c"]);
}

#[test]
fn connect_fallible_ok_runs_and_err_is_reported() {
    let signal = SyncSignal::<i32>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let conn = signal.connect_fallible(move |v: &i32| {
        c.fetch_add(1, Ordering::SeqCst);
        if *v < 0 { Err("negative") } else { Ok(()) }
    });
    assert!(conn.is_connected());
    assert_eq!(signal.try_emit(&1).ok(), Some(()));
    let err = signal.try_emit(&-1).unwrap_err();
    assert_eq!(err.id(), conn.id());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn connect_fallible_accepts_any_error_convertible_to_box_error() {
    #[derive(Debug)]
    struct MyError(u32);
    impl std::fmt::Display for MyError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "my error {}", self.0)
        }
    }
    impl Error for MyError {}

    let signal = SyncSignal::<u32>::new();
    signal.connect_fallible(|v: &u32| Err(MyError(*v)));
    signal.connect_fallible(|v: &u32| Err(format!("string {v}")));
    let errors = signal.emit_collect(&7).unwrap_err();
    let messages: Vec<String> = errors
        .iter()
        .map(|e| e.source_error().to_string())
        .collect();
    assert_eq!(messages, ["my error 7", "string 7"]);
    // The concrete error type survives the boxing.
    let first = errors.into_vec().remove(0).into_source();
    assert_eq!(first.downcast_ref::<MyError>().map(|e| e.0), Some(7));
}

// ---------------------------------------------------------------- connect_once

#[test]
fn connect_once_runs_at_most_once_and_removes_itself() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let (others, g) = counter();
    let once = signal.connect_once(f);
    signal.connect(g);
    assert_eq!(signal.len(), 2);
    assert!(once.is_connected());

    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!once.is_connected());
    assert_eq!(signal.len(), 1);
    // A fired once-listener counts as already disconnected.
    assert!(!once.disconnect());

    signal.emit(&());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(others.load(Ordering::SeqCst), 3);
}

#[test]
fn connect_once_fires_once_under_every_emit_variant() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    signal.connect_once(f);
    assert_eq!(signal.try_emit(&()).ok(), Some(()));
    assert_eq!(signal.emit_collect(&()).ok(), Some(()));
    assert_eq!(signal.emit_until(&(), AtomicBool::new(false)), Ok(()));
    signal.emitter().emit(&());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(signal.is_empty());
}

#[test]
fn connect_once_disconnected_before_emit_never_runs() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let once = signal.connect_once(f);
    assert!(once.disconnect());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert!(signal.is_empty());
}

#[test]
fn connect_once_runs_exactly_once_under_concurrent_emits() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let signal = SyncSignal::<()>::new();
    let (permanent, p) = counter();
    signal.connect(p);
    for round in 0..ROUNDS {
        let (calls, f) = counter();
        let once = signal.connect_once(f);
        let start = Barrier::new(THREADS);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    start.wait();
                    for _ in 0..4 {
                        signal.emit(&());
                    }
                });
            }
        });
        assert_eq!(calls.load(Ordering::SeqCst), 1, "round {round}");
        assert!(!once.is_connected());
        assert_eq!(signal.len(), 1, "the once-listener removed itself");
    }
    assert_eq!(permanent.load(Ordering::SeqCst), ROUNDS * THREADS * 4);
}

// ---------------------------------------------------------------- keys

#[test]
fn connect_keyed_allows_one_listener_per_key() {
    let signal = SyncSignal::<()>::new();
    let (first, f) = counter();
    let (second, g) = counter();
    assert!(!signal.contains_key("audit"));
    let conn = signal.connect_keyed("audit", f).unwrap();
    assert!(signal.contains_key("audit"));

    let err: DuplicateKey = signal.connect_keyed("audit", g).unwrap_err();
    assert_eq!(err.key(), "audit");
    assert_eq!(signal.len(), 1, "the duplicate was not connected");

    signal.emit(&());
    assert_eq!(first.load(Ordering::SeqCst), 1);
    assert_eq!(second.load(Ordering::SeqCst), 0);

    // Other keys are independent.
    let _other = signal.connect_keyed("other", |_: &()| {}).unwrap();
    assert_eq!(signal.len(), 2);
    assert!(conn.is_connected());
}

#[test]
fn disconnect_key_disconnects_and_frees_the_key() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let conn = signal.connect_keyed("k", f).unwrap();
    assert!(signal.disconnect_key("k"));
    assert!(!conn.is_connected());
    assert!(!signal.contains_key("k"));
    assert!(!signal.disconnect_key("k"));
    assert!(!signal.disconnect_key("never-used"));
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // The key can be taken again.
    let (again, g) = counter();
    signal.connect_keyed("k", g).unwrap();
    signal.emit(&());
    assert_eq!(again.load(Ordering::SeqCst), 1);
}

#[test]
fn disconnecting_a_keyed_connection_frees_the_key() {
    let signal = SyncSignal::<()>::new();
    let conn = signal.connect_keyed("k", |_: &()| {}).unwrap();
    assert!(conn.disconnect());
    assert!(!signal.contains_key("k"));
    assert!(signal.connect_keyed("k", |_: &()| {}).is_ok());
}

#[test]
fn clear_frees_every_key() {
    let signal = SyncSignal::<()>::new();
    signal.connect_keyed("a", |_: &()| {}).unwrap();
    signal.connect_keyed("b", |_: &()| {}).unwrap();
    signal.clear();
    assert!(!signal.contains_key("a"));
    assert!(!signal.contains_key("b"));
    assert!(signal.connect_keyed("a", |_: &()| {}).is_ok());
}

#[test]
fn a_fired_keyed_once_listener_frees_its_key() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    signal
        .connect_with(ConnectOptions::new().key("k").once(), f)
        .unwrap();
    assert!(signal.contains_key("k"));
    signal.emit(&());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!signal.contains_key("k"));
    assert!(signal.connect_keyed("k", |_: &()| {}).is_ok());
}

#[test]
fn concurrent_keyed_connects_admit_exactly_one() {
    const THREADS: usize = 8;
    let signal = SyncSignal::<()>::new();
    let start = Barrier::new(THREADS);
    let winners = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                if signal.connect_keyed("only", |_: &()| {}).is_ok() {
                    winners.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(winners.load(Ordering::SeqCst), 1);
    assert_eq!(signal.len(), 1);
}

// ---------------------------------------------------------------- options

#[test]
fn priority_higher_runs_first_and_equal_priorities_keep_connection_order() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    let opts = |p| ConnectOptions::new().priority(p);
    signal.connect_with(opts(0), logger(&log, "0a")).unwrap();
    signal.connect_with(opts(-5), logger(&log, "-5a")).unwrap();
    signal.connect_with(opts(10), logger(&log, "10a")).unwrap();
    signal.connect(logger(&log, "0b")); // default priority is 0
    signal.connect_with(opts(10), logger(&log, "10b")).unwrap();
    signal.connect_with(opts(-5), logger(&log, "-5b")).unwrap();
    signal
        .connect_with(opts(i32::MAX), logger(&log, "max"))
        .unwrap();
    signal
        .connect_with(opts(i32::MIN), logger(&log, "min"))
        .unwrap();
    signal.connect_with(opts(0), logger(&log, "0c")).unwrap();

    signal.emit(&());
    assert_eq!(
        taken(&log),
        ["max", "10a", "10b", "0a", "0b", "0c", "-5a", "-5b", "min"]
    );
}

#[test]
fn priority_order_survives_disconnects_in_the_middle() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    let opts = |p| ConnectOptions::new().priority(p);
    signal.connect_with(opts(1), logger(&log, "1a")).unwrap();
    let gone = signal.connect_with(opts(1), logger(&log, "1b")).unwrap();
    signal.connect_with(opts(2), logger(&log, "2")).unwrap();
    gone.disconnect();
    signal.connect_with(opts(1), logger(&log, "1c")).unwrap();
    signal.emit(&());
    assert_eq!(taken(&log), ["2", "1a", "1c"]);
}

#[test]
fn fallible_listeners_obey_priority() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    let l = Arc::clone(&log);
    signal.connect(logger(&log, "plain"));
    signal
        .connect_fallible_with(ConnectOptions::new().priority(3), move |_: &()| {
            l.lock().unwrap().push("fallible");
            Ok::<(), &str>(())
        })
        .unwrap();
    signal.emit(&());
    assert_eq!(taken(&log), ["fallible", "plain"]);
}

#[test]
fn options_key_alone_behaves_like_connect_keyed() {
    let signal = SyncSignal::<()>::new();
    signal
        .connect_with(ConnectOptions::new().key("k"), |_: &()| {})
        .unwrap();
    assert!(signal.contains_key("k"));
    assert_eq!(
        signal.connect_keyed("k", |_: &()| {}).unwrap_err().key(),
        "k"
    );
    assert_eq!(
        signal
            .connect_fallible_with(ConnectOptions::new().key("k"), |_: &()| Ok::<(), &str>(()))
            .unwrap_err()
            .key(),
        "k"
    );
    assert_eq!(signal.len(), 1);
}

#[test]
fn options_once_alone_behaves_like_connect_once() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    signal
        .connect_with(ConnectOptions::new().once(), f)
        .unwrap();
    signal.emit(&());
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(signal.is_empty());
}

#[test]
fn options_combine_priority_key_and_once() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    signal.connect(logger(&log, "normal"));
    signal
        .connect_with(
            ConnectOptions::new().priority(10).key("audit").once(),
            logger(&log, "audit"),
        )
        .unwrap();
    signal
        .connect_with(
            ConnectOptions::new().once().priority(-1),
            logger(&log, "late-once"),
        )
        .unwrap();
    assert!(signal.contains_key("audit"));
    assert_eq!(
        signal
            .connect_with(ConnectOptions::new().key("audit"), |_: &()| {})
            .unwrap_err()
            .key(),
        "audit"
    );

    signal.emit(&());
    signal.emit(&());
    assert_eq!(taken(&log), ["audit", "normal", "late-once", "normal"]);
    assert!(!signal.contains_key("audit"));
    assert_eq!(signal.len(), 1);
}

#[test]
fn fallible_once_with_key_reports_its_key() {
    let signal = SyncSignal::<()>::new();
    let conn = signal
        .connect_fallible_with(ConnectOptions::new().key("db").once(), |_: &()| Err("down"))
        .unwrap();
    let err = signal.try_emit(&()).unwrap_err();
    assert_eq!(err.key(), Some("db"));
    assert_eq!(err.id(), conn.id());
    assert_eq!(
        signal.try_emit(&()).ok(),
        Some(()),
        "the once-listener is gone"
    );
}

// ---------------------------------------------------------------- emit

#[test]
fn emit_on_an_empty_signal_does_nothing() {
    let signal = SyncSignal::<u64>::new();
    signal.emit(&1);
    assert_eq!(signal.try_emit(&1).ok(), Some(()));
    assert_eq!(signal.emit_collect(&1).ok(), Some(()));
    assert_eq!(signal.emit_until(&1, AtomicBool::new(true)), Ok(()));
    signal.emitter().emit(&1);
    assert_eq!(signal.error_count(), 0);
}

#[test]
fn emit_runs_every_listener_even_after_errors() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    let l = Arc::clone(&log);
    signal.connect_fallible(move |_: &()| {
        l.lock().unwrap().push("failing");
        Err("boom")
    });
    signal.connect(logger(&log, "after"));
    signal.emit(&());
    assert_eq!(taken(&log), ["failing", "after"]);
}

#[test]
fn emit_counts_listener_errors_by_default() {
    let signal = SyncSignal::<u32>::new();
    signal.connect_fallible(|v: &u32| if v % 2 == 0 { Err("even") } else { Ok(()) });
    signal.connect_fallible(|_: &u32| Err("always"));
    assert_eq!(signal.error_count(), 0);
    signal.emit(&1); // one error
    signal.emit(&2); // two errors
    assert_eq!(signal.error_count(), 3);
    // emit_until reports to the handler too.
    assert_eq!(signal.emit_until(&2, AtomicBool::new(false)), Ok(()));
    assert_eq!(signal.error_count(), 5);
}

#[test]
fn set_error_handler_receives_every_error_of_emit() {
    let signal = SyncSignal::<u32>::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    signal.set_error_handler(move |e: EmitError| {
        s.lock().unwrap().push((
            e.id(),
            e.key().map(str::to_owned),
            e.source_error().to_string(),
        ));
    });
    let a = signal.connect_fallible(|v: &u32| Err(format!("a{v}")));
    signal.connect(|_: &u32| {});
    let b = signal
        .connect_fallible_with(ConnectOptions::new().key("bk"), |v: &u32| {
            Err(format!("b{v}"))
        })
        .unwrap();

    signal.emit(&1);
    signal.emit(&2);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (a.id(), None, "a1".to_owned()),
            (b.id(), Some("bk".to_owned()), "b1".to_owned()),
            (a.id(), None, "a2".to_owned()),
            (b.id(), Some("bk".to_owned()), "b2".to_owned()),
        ]
    );
    // Counted with a custom handler too.
    assert_eq!(signal.error_count(), 4);
}

#[test]
fn set_error_handler_replaces_the_previous_handler() {
    let signal = SyncSignal::<()>::new();
    let first = Arc::new(AtomicUsize::new(0));
    let second = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&first);
    signal.set_error_handler(move |_| {
        f.fetch_add(1, Ordering::SeqCst);
    });
    signal.connect_fallible(|_: &()| Err("x"));
    signal.emit(&());
    let s = Arc::clone(&second);
    signal.set_error_handler(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    });
    signal.emit(&());
    signal.emit(&());
    assert_eq!(first.load(Ordering::SeqCst), 1);
    assert_eq!(second.load(Ordering::SeqCst), 2);
    // The handler survives later connects.
    signal.connect_fallible(|_: &()| Err("y"));
    signal.emit(&());
    assert_eq!(second.load(Ordering::SeqCst), 4);
    assert_eq!(signal.error_count(), 5);
}

#[test]
fn the_error_handler_is_not_called_by_try_emit_or_emit_collect() {
    let signal = SyncSignal::<()>::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    signal.set_error_handler(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    signal.connect_fallible(|_: &()| Err("x"));
    assert!(signal.try_emit(&()).is_err());
    assert!(signal.emit_collect(&()).is_err());
    assert_eq!(handled.load(Ordering::SeqCst), 0);
    // Those errors reach the caller instead; none is lost.
    signal.emit(&());
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- try_emit

#[test]
fn try_emit_stops_at_the_first_error() {
    let signal = SyncSignal::<()>::new();
    let log = Log::default();
    let l1 = Arc::clone(&log);
    let l2 = Arc::clone(&log);
    signal.connect(logger(&log, "first"));
    let failing = signal.connect_fallible(move |_: &()| {
        l1.lock().unwrap().push("failing");
        Err("stop here")
    });
    signal.connect_fallible(move |_: &()| {
        l2.lock().unwrap().push("not reached");
        Err("second")
    });
    signal.connect(logger(&log, "not reached either"));

    let err = signal.try_emit(&()).unwrap_err();
    assert_eq!(taken(&log), ["first", "failing"]);
    assert_eq!(err.id(), failing.id());
    assert_eq!(err.key(), None);
    assert_eq!(err.source_error().to_string(), "stop here");
    // Display shows the listener's error, so source() skips to its source
    // (none for a plain message): chain printers show each message once.
    assert!(err.source().is_none());
    assert_eq!(err.into_source().to_string(), "stop here");
    // try_emit does not go through the error handler.
    assert_eq!(signal.error_count(), 0);
}

#[test]
fn try_emit_names_the_key_of_a_keyed_listener() {
    let signal = SyncSignal::<()>::new();
    let conn = signal
        .connect_fallible_with(ConnectOptions::new().key("risk"), |_: &()| Err("limit"))
        .unwrap();
    let err = signal.try_emit(&()).unwrap_err();
    assert_eq!(err.key(), Some("risk"));
    assert_eq!(err.id(), conn.id());
}

#[test]
fn try_emit_succeeds_when_every_listener_succeeds() {
    let signal = SyncSignal::<u32>::new();
    let (calls, f) = counter();
    signal.connect(f);
    signal.connect_fallible(|_: &u32| Ok::<(), &str>(()));
    assert_eq!(signal.try_emit(&0).ok(), Some(()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- emit_collect

#[test]
fn emit_collect_runs_all_and_returns_every_error_in_order() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let a = signal.connect_fallible(|_: &()| Err("a"));
    signal.connect(f);
    let b = signal
        .connect_fallible_with(ConnectOptions::new().key("b"), |_: &()| Err("b"))
        .unwrap();
    signal.connect_fallible(|_: &()| Ok::<(), &str>(()));
    let c = signal
        .connect_fallible_with(ConnectOptions::new().priority(1), |_: &()| Err("c"))
        .unwrap();

    let errors: EmitErrors = signal.emit_collect(&()).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(errors.len(), 3);
    let summary: Vec<(u64, Option<&str>, String)> = errors
        .iter()
        .map(|e| (e.id(), e.key(), e.source_error().to_string()))
        .collect();
    assert_eq!(
        summary,
        [
            (c.id(), None, "c".to_owned()),
            (a.id(), None, "a".to_owned()),
            (b.id(), Some("b"), "b".to_owned()),
        ]
    );
    // Display lists every error, so there is no single source().
    assert!(errors.source().is_none());
    // Both IntoIterator impls visit the same errors.
    assert_eq!((&errors).into_iter().count(), 3);
    let ids: Vec<u64> = errors.into_iter().map(|e| e.id()).collect();
    assert_eq!(ids, [c.id(), a.id(), b.id()]);
    assert_eq!(signal.error_count(), 0);
}

#[test]
fn emit_collect_succeeds_when_every_listener_succeeds() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    signal.connect(f);
    signal.connect_fallible(|_: &()| Ok::<(), &str>(()));
    assert_eq!(signal.emit_collect(&()).ok(), Some(()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------- emit_until

/// Three listeners, the second of which raises `flag`.
fn three_with_flag_raised_by_second(flag: &Arc<AtomicBool>) -> (SyncSignal<()>, Arc<AtomicUsize>) {
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    for i in 0..3 {
        let c = Arc::clone(&calls);
        let f = Arc::clone(flag);
        signal.connect(move |_: &()| {
            c.fetch_add(1, Ordering::SeqCst);
            if i == 1 {
                f.store(true, Ordering::SeqCst);
            }
        });
    }
    (signal, calls)
}

#[test]
fn emit_until_with_an_atomic_bool_stops_once_it_is_set() {
    let flag = Arc::new(AtomicBool::new(false));
    let (signal, calls) = three_with_flag_raised_by_second(&flag);
    let err: Cancelled = signal.emit_until(&(), &*flag).unwrap_err();
    assert_eq!(err.ran(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Already set: nothing runs.
    assert_eq!(signal.emit_until(&(), &*flag).unwrap_err().ran(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // A flag nobody raises lets every listener run.
    let never = AtomicBool::new(false);
    let (signal, calls) = three_with_flag_raised_by_second(&Arc::new(AtomicBool::new(false)));
    assert_eq!(signal.emit_until(&(), &never), Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn emit_until_with_a_flag_set_by_another_thread() {
    let signal = SyncSignal::<()>::new();
    let flag = AtomicBool::new(false);
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let go_rx = Mutex::new(go_rx);
    let (after, f) = counter();
    signal.connect(move |_: &()| {
        entered_tx.lock().unwrap().send(()).unwrap();
        go_rx.lock().unwrap().recv().unwrap();
    });
    signal.connect(f);
    thread::scope(|s| {
        let emitting = s.spawn(|| signal.emit_until(&(), &flag));
        entered_rx.recv().unwrap();
        flag.store(true, Ordering::SeqCst);
        go_tx.send(()).unwrap();
        assert_eq!(emitting.join().unwrap().unwrap_err().ran(), 1);
    });
    assert_eq!(after.load(Ordering::SeqCst), 0);
}

#[test]
fn emit_until_with_a_deadline() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    signal.connect(f);
    signal.connect(|_: &()| {});

    // A deadline in the past cancels before the first listener.
    let past = Instant::now();
    assert_eq!(signal.emit_until(&(), past).unwrap_err().ran(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // A far deadline lets every listener run.
    let far = Instant::now() + Duration::from_secs(3600);
    assert_eq!(signal.emit_until(&(), far), Ok(()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A deadline passed while the first listener runs stops before the
    // second. The listener waits until the deadline has passed, so this
    // does not depend on timing.
    let deadline = Instant::now() + Duration::from_millis(5);
    let signal = SyncSignal::<()>::new();
    let (second, g) = counter();
    signal.connect(move |_: &()| {
        while Instant::now() < deadline {
            thread::yield_now();
        }
    });
    signal.connect(g);
    assert_eq!(signal.emit_until(&(), deadline).unwrap_err().ran(), 1);
    assert_eq!(second.load(Ordering::SeqCst), 0);
}

/// Cancels after a fixed number of checks, and counts the checks.
struct Budget {
    left: std::cell::Cell<usize>,
    checks: std::cell::Cell<usize>,
}

impl Budget {
    fn new(left: usize) -> Self {
        Self {
            left: std::cell::Cell::new(left),
            checks: std::cell::Cell::new(0),
        }
    }
}

impl Cancel for Budget {
    fn is_cancelled(&self) -> bool {
        self.checks.set(self.checks.get() + 1);
        let left = self.left.get();
        self.left.set(left.saturating_sub(1));
        left == 0
    }
}

#[test]
fn emit_until_with_a_custom_cancel() {
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    for _ in 0..5 {
        let c = Arc::clone(&calls);
        signal.connect(move |_: &()| {
            c.fetch_add(1, Ordering::SeqCst);
        });
    }

    let budget = Budget::new(3);
    let err = signal.emit_until(&(), &budget).unwrap_err();
    assert_eq!(err.ran(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(budget.checks.get(), 4, "checked before each listener");

    // By value, with enough budget: checked once per listener, no more.
    let budget = Budget::new(5);
    assert_eq!(signal.emit_until(&(), &budget), Ok(()));
    assert_eq!(budget.checks.get(), 5);
    assert_eq!(calls.load(Ordering::SeqCst), 8);

    // Taken by value too.
    assert_eq!(signal.emit_until(&(), Budget::new(0)).unwrap_err().ran(), 0);
}

#[test]
fn cancelled_ran_counts_only_listeners_that_ran() {
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let bump = || {
        let c = Arc::clone(&calls);
        move |_: &()| {
            c.fetch_add(1, Ordering::SeqCst);
        }
    };
    let victim: Arc<Mutex<Option<Connection>>> = Arc::default();
    let v = Arc::clone(&victim);
    let a = bump();
    // The first listener disconnects the third during the emit, so the emit's
    // snapshot still holds it but must skip it.
    signal.connect(move |x: &()| {
        a(x);
        v.lock().unwrap().take().unwrap().disconnect();
    });
    let blocked = signal.connect(|_: &()| panic!("blocked listener ran"));
    *victim.lock().unwrap() = Some(signal.connect(|_: &()| panic!("disconnected listener ran")));
    signal.connect(bump());
    signal.connect(bump());
    let _guard = blocked.block();

    // `cancel` is checked only before listeners that would run: check 1
    // passes and the first listener runs; the blocked and the disconnected
    // ones are skipped without a check; check 2 passes and the fourth runs;
    // check 3 cancels before the fifth.
    let budget = Budget::new(2);
    let err = signal.emit_until(&(), &budget).unwrap_err();
    assert_eq!(err.ran(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(budget.checks.get(), 3);
}

#[test]
fn emit_until_reports_listener_errors_to_the_handler() {
    let signal = SyncSignal::<()>::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    signal.set_error_handler(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let (calls, f) = counter();
    signal.connect_fallible(|_: &()| Err("x"));
    signal.connect(f);
    assert_eq!(signal.emit_until(&(), AtomicBool::new(false)), Ok(()));
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "errors do not stop emit_until"
    );
}

// ---------------------------------------------------------------- emitter

#[test]
fn emitter_calls_every_listener() {
    let signal = SyncSignal::<u64>::new();
    let sum = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&sum);
    signal.connect(move |v: &u64| {
        s.fetch_add(*v as usize, Ordering::SeqCst);
    });
    let mut emitter = signal.emitter();
    for i in 0..100 {
        emitter.emit(&i);
    }
    assert_eq!(sum.load(Ordering::SeqCst), 4950);
}

#[test]
fn emitter_sees_connects_and_disconnects_made_after_it_was_created() {
    let signal = SyncSignal::<()>::new();
    let mut emitter = signal.emitter();
    emitter.emit(&()); // nothing connected yet

    let (a_calls, a) = counter();
    let conn_a = signal.connect(a);
    emitter.emit(&());
    assert_eq!(a_calls.load(Ordering::SeqCst), 1);

    let (b_calls, b) = counter();
    let conn_b = signal.connect(b);
    emitter.emit(&());
    assert_eq!(a_calls.load(Ordering::SeqCst), 2);
    assert_eq!(b_calls.load(Ordering::SeqCst), 1);

    conn_a.disconnect();
    emitter.emit(&());
    assert_eq!(a_calls.load(Ordering::SeqCst), 2);
    assert_eq!(b_calls.load(Ordering::SeqCst), 2);

    {
        let _guard = conn_b.block();
        emitter.emit(&());
    }
    assert_eq!(b_calls.load(Ordering::SeqCst), 2);

    signal.clear();
    emitter.emit(&());
    assert_eq!(b_calls.load(Ordering::SeqCst), 2);

    let (c_calls, c) = counter();
    signal.connect(c);
    emitter.emit(&());
    assert_eq!(c_calls.load(Ordering::SeqCst), 1);
}

#[test]
fn emitter_sees_connects_and_disconnects_made_on_another_thread() {
    let signal = SyncSignal::<()>::new();
    let mut emitter = signal.emitter();
    emitter.emit(&());

    let (calls, f) = counter();
    let conn = thread::scope(|s| s.spawn(|| signal.connect(f)).join().unwrap());
    emitter.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    thread::scope(|s| s.spawn(|| assert!(conn.disconnect())).join().unwrap());
    emitter.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // An emitter created on another thread, while this one lives.
    let (other, g) = counter();
    signal.connect(g);
    thread::scope(|s| {
        s.spawn(|| {
            let mut remote = signal.emitter();
            remote.emit(&());
            remote.emit(&());
        });
    });
    emitter.emit(&());
    assert_eq!(other.load(Ordering::SeqCst), 3);
}

#[test]
fn emitter_reports_errors_to_the_handler() {
    let signal = SyncSignal::<()>::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    signal.set_error_handler(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    signal.connect_fallible(|_: &()| Err("x"));
    let mut emitter = signal.emitter();
    emitter.emit(&());
    emitter.emit(&());
    assert_eq!(handled.load(Ordering::SeqCst), 2);
    assert_eq!(signal.error_count(), 2);
}

#[test]
fn emitter_runs_once_listeners_once() {
    let signal = SyncSignal::<()>::new();
    let (calls, f) = counter();
    let mut emitter = signal.emitter();
    signal.connect_once(f);
    emitter.emit(&());
    emitter.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(signal.is_empty());
}

// ---------------------------------------------------------------- len, clear

#[test]
fn len_is_empty_and_clear() {
    let signal = SyncSignal::<()>::new();
    assert!(signal.is_empty());
    assert_eq!(signal.len(), 0);
    let (calls, f) = counter();
    let a = signal.connect(f);
    let b = signal.connect_fallible(|_: &()| Ok::<(), &str>(()));
    let c = signal.connect_keyed("k", |_: &()| {}).unwrap();
    assert_eq!(signal.len(), 3);
    assert!(!signal.is_empty());

    // Blocked listeners still count.
    let guard = a.block();
    assert_eq!(signal.len(), 3);
    drop(guard);

    assert!(b.disconnect());
    assert_eq!(signal.len(), 2);

    signal.clear();
    assert!(signal.is_empty());
    assert_eq!(signal.len(), 0);
    for conn in [&a, &b, &c] {
        assert!(!conn.is_connected());
        assert!(!conn.disconnect());
    }
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Usable after clear.
    let (again, g) = counter();
    signal.connect(g);
    signal.emit(&());
    assert_eq!(again.load(Ordering::SeqCst), 1);
    assert_eq!(signal.len(), 1);
}

#[test]
fn default_and_debug() {
    let signal: SyncSignal<String> = SyncSignal::default();
    assert!(signal.is_empty());
    signal.connect(|_: &String| {});
    let text = format!("{signal:?}");
    assert!(
        text.contains("SyncSignal") && text.contains("len: 1"),
        "{text}"
    );
    let emitter = signal.emitter();
    assert!(format!("{emitter:?}").contains("Emitter"));
}

// ---------------------------------------------------------------- Signal<T>

/// Generic code that uses only the trait.
fn exercise_generically<S: Signal<u32>>(signal: &S, log: &Log) -> Vec<Connection> {
    assert!(signal.is_empty());
    let plain = signal.connect(logger(log, "plain"));
    let l = Arc::clone(log);
    let fallible = signal.connect_fallible(move |_: &u32| {
        l.lock().unwrap().push("fallible");
        Ok::<(), &str>(())
    });
    let once = signal.connect_once(logger(log, "once"));
    let keyed = signal.connect_keyed("k", logger(log, "keyed")).unwrap();
    assert_eq!(
        signal.connect_keyed("k", |_: &u32| {}).unwrap_err().key(),
        "k"
    );
    let first = signal
        .connect_with(ConnectOptions::new().priority(5), logger(log, "first"))
        .unwrap();
    let l = Arc::clone(log);
    let fk = signal
        .connect_fallible_with(ConnectOptions::new().key("fk"), move |_: &u32| {
            l.lock().unwrap().push("fk");
            Ok::<(), &str>(())
        })
        .unwrap();
    assert_eq!(signal.len(), 6);
    assert!(!signal.is_empty());
    assert!(signal.contains_key("k"));
    assert!(signal.contains_key("fk"));
    vec![plain, fallible, once, keyed, first, fk]
}

#[test]
fn signal_trait_works_from_generic_code() {
    let signal = SyncSignal::<u32>::new();
    let log = Log::default();
    let conns = exercise_generically(&signal, &log);
    signal.emit(&0);
    assert_eq!(
        taken(&log),
        ["first", "plain", "fallible", "once", "keyed", "fk"]
    );
    signal.emit(&0);
    assert_eq!(taken(&log), ["first", "plain", "fallible", "keyed", "fk"]);

    fn remove_key<S: Signal<u32>>(s: &S, key: &str) -> bool {
        s.disconnect_key(key)
    }
    assert!(remove_key(&signal, "k"));
    assert!(!remove_key(&signal, "k"));
    assert!(!conns[3].is_connected());

    fn clear_all<S: Signal<u32>>(s: &S) -> (usize, bool) {
        s.clear();
        (s.len(), s.is_empty())
    }
    assert_eq!(clear_all(&signal), (0, true));
    signal.emit(&0);
    assert!(taken(&log).is_empty());
    assert!(conns.iter().all(|c| !c.is_connected()));
}

#[test]
fn signal_trait_generic_code_can_move_a_signal_to_another_thread() {
    fn spawn_connects<S: Signal<u32> + 'static>(signal: Arc<S>) -> thread::JoinHandle<Connection> {
        thread::spawn(move || signal.connect(|_: &u32| {}))
    }
    let signal = Arc::new(SyncSignal::<u32>::new());
    let conn = spawn_connects(Arc::clone(&signal)).join().unwrap();
    assert_eq!(signal.len(), 1);
    assert!(conn.is_connected());
}

// ---------------------------------------------------------------- errors

#[test]
fn display_of_emit_error_names_listener_key_and_cause() {
    let signal = SyncSignal::<()>::new();
    let plain = signal.connect_fallible(|_: &()| Err("disk full"));
    let err = signal.try_emit(&()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("listener {} failed: disk full", plain.id())
    );
    plain.disconnect();

    let keyed = signal
        .connect_fallible_with(ConnectOptions::new().key("db"), |_: &()| Err("down"))
        .unwrap();
    let err = signal.try_emit(&()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&keyed.id().to_string()), "{text}");
    assert!(text.contains("\"db\""), "{text}");
    assert!(text.contains("down"), "{text}");
    assert!(format!("{err:?}").contains("EmitError"));
}

#[test]
fn display_of_emit_errors_counts_and_lists_every_error() {
    let signal = SyncSignal::<()>::new();
    let a = signal.connect_fallible(|_: &()| Err("alpha"));
    let one = signal.emit_collect(&()).unwrap_err().to_string();
    assert!(one.starts_with("1 listener failed"), "{one}");
    assert!(
        one.contains("alpha") && one.contains(&a.id().to_string()),
        "{one}"
    );

    let b = signal.connect_fallible(|_: &()| Err("beta"));
    let two = signal.emit_collect(&()).unwrap_err().to_string();
    assert!(two.starts_with("2 listeners failed"), "{two}");
    let (at_a, at_b) = (two.find("alpha").unwrap(), two.find("beta").unwrap());
    assert!(at_a < at_b, "in order: {two}");
    assert!(two.contains(&b.id().to_string()), "{two}");
}

#[test]
fn display_of_cancelled_says_how_many_ran() {
    let signal = SyncSignal::<()>::new();
    for _ in 0..3 {
        signal.connect(|_: &()| {});
    }
    let zero = signal.emit_until(&(), Budget::new(0)).unwrap_err();
    assert_eq!(zero.to_string(), "emit cancelled after 0 listeners ran");
    let one = signal.emit_until(&(), Budget::new(1)).unwrap_err();
    assert_eq!(one.to_string(), "emit cancelled after 1 listener ran");
    let two = signal.emit_until(&(), Budget::new(2)).unwrap_err();
    assert_eq!(two.to_string(), "emit cancelled after 2 listeners ran");
    assert!(two.source().is_none());
    assert_eq!(one, one.clone());
    assert_ne!(one, two);
}

#[test]
fn display_of_duplicate_key_names_the_key() {
    let signal = SyncSignal::<()>::new();
    signal.connect_keyed("audit", |_: &()| {}).unwrap();
    let err = signal.connect_keyed("audit", |_: &()| {}).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\"audit\""), "{text}");
    assert!(text.contains("already connected"), "{text}");
    assert!(err.source().is_none());
    assert_eq!(err.clone(), err);
}

#[test]
fn display_of_would_deadlock_explains_what_happened() {
    let signal = SyncSignal::<()>::new();
    let me: Arc<Mutex<Option<Connection>>> = Arc::default();
    let outcome: Arc<Mutex<Option<Result<bool, WouldDeadlock>>>> = Arc::default();
    let (m, o) = (Arc::clone(&me), Arc::clone(&outcome));
    let conn = signal.connect(move |_: &()| {
        let conn = m.lock().unwrap().clone().unwrap();
        *o.lock().unwrap() = Some(conn.disconnect_wait());
    });
    *me.lock().unwrap() = Some(conn);
    signal.emit(&());
    let err = outcome.lock().unwrap().unwrap().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("disconnect_wait"), "{text}");
    assert!(text.contains("same signal"), "{text}");
    assert!(err.source().is_none());
}

// ---------------------------------------------------------------- threads

#[test]
fn signals_and_connections_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SyncSignal<u32>>();
    assert_send_sync::<SyncSignal<String>>();
    assert_send_sync::<Connection>();
    assert_send_sync::<sigwire::ScopedConnection>();
    assert_send_sync::<sigwire::BlockGuard>();
    assert_send_sync::<EmitError>();
    assert_send_sync::<EmitErrors>();
    assert_send_sync::<Cancelled>();
    assert_send_sync::<DuplicateKey>();
    assert_send_sync::<WouldDeadlock>();
    assert_send_sync::<sigwire::Emitter<'static, u32>>();
}

/// An `Emitter` owns its record entry, so it may move between threads:
/// moved to another thread, its emit is waited for by `disconnect_wait` on
/// this one, and a wait from inside its emit is refused there.
#[test]
fn an_emitter_moved_to_another_thread_is_waited_for() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let entered = Arc::new(std::sync::Barrier::new(2));
    let finished = Arc::new(AtomicUsize::new(0));
    let (e, f) = (entered.clone(), finished.clone());
    let slow = signal.connect(move |v: &u32| {
        if *v == 1 {
            e.wait();
            thread::sleep(std::time::Duration::from_millis(50));
            f.fetch_add(1, Ordering::SeqCst);
        }
    });
    let me: Arc<Mutex<Option<Connection>>> = Arc::default();
    let refused = Arc::new(AtomicUsize::new(0));
    let (m, r) = (me.clone(), refused.clone());
    let own = signal.connect(move |v: &u32| {
        if *v == 2 {
            let conn = m.lock().unwrap().clone().unwrap();
            if conn.disconnect_wait().is_err() {
                r.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    *me.lock().unwrap() = Some(own.clone());
    thread::scope(|scope| {
        let mut emitter = signal.emitter();
        emitter.emit(&0); // made and used here, then moved
        let worker = scope.spawn(move || {
            emitter.emit(&1);
            emitter.emit(&2);
        });
        entered.wait();
        assert_eq!(slow.disconnect_wait(), Ok(true));
        assert_eq!(finished.load(Ordering::SeqCst), 1, "returned mid-call");
        worker.join().unwrap();
    });
    assert_eq!(refused.load(Ordering::SeqCst), 1, "waited for its own emit");
    assert!(!own.is_connected());
}

#[test]
fn a_shared_signal_is_used_from_many_threads() {
    const THREADS: usize = 8;
    const EMITS: usize = 1_000;
    let signal = SyncSignal::<usize>::new();
    let sum = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&sum);
    signal.connect(move |v: &usize| {
        s.fetch_add(*v, Ordering::SeqCst);
    });
    let start = Barrier::new(THREADS);
    thread::scope(|scope| {
        for t in 0..THREADS {
            let signal = &signal;
            let start = &start;
            scope.spawn(move || {
                start.wait();
                let mut emitter = signal.emitter();
                for i in 0..EMITS {
                    if t % 2 == 0 {
                        signal.emit(&1);
                    } else {
                        emitter.emit(&1);
                    }
                    // Connect and disconnect a throwaway listener now and then.
                    if i % 100 == 0 {
                        signal.connect(|_: &usize| {}).disconnect();
                    }
                }
            });
        }
    });
    assert_eq!(sum.load(Ordering::SeqCst), THREADS * EMITS);
    assert_eq!(signal.len(), 1);
}

#[test]
fn an_arc_signal_moves_to_other_threads() {
    let signal = Arc::new(SyncSignal::<String>::new());
    let (calls, f) = counter::<String>();
    signal.connect(f);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.emit(&format!("from {i}")))
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

/// A keyed once-listener that fired frees its key at once, even though its
/// slot stays in the list until the next write; the key's new holder is the
/// one `disconnect_key` and `contains_key` see.
#[test]
fn key_of_a_fired_once_listener_is_free_again() {
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    signal
        .connect_with(ConnectOptions::new().key("k").once(), |_: &()| {})
        .unwrap();
    signal.emit(&());
    assert!(!signal.contains_key("k"));
    assert!(signal.is_empty());

    let c = Arc::clone(&calls);
    let holder = signal
        .connect_keyed("k", move |_: &()| {
            c.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    assert!(signal.contains_key("k"));
    assert_eq!(signal.len(), 1);
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    assert!(signal.disconnect_key("k"));
    assert!(!holder.is_connected());
    assert!(!signal.contains_key("k"));
    signal.emit(&());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A keyed once-listener fires, then a new listener takes its key (that
/// connect also drops the fired slot from the list): `disconnect_key`
/// reaches the live holder.
#[test]
fn disconnect_key_reaches_the_live_holder_past_a_fired_one() {
    let signal = SyncSignal::<()>::new();
    signal
        .connect_with(
            ConnectOptions::new().key("k").once().priority(5),
            |_: &()| {},
        )
        .unwrap();
    signal.emit(&()); // fires; the slot stays until the next write
    let live = signal
        .connect_with(ConnectOptions::new().key("k").priority(10), |_: &()| {})
        .unwrap();
    assert!(signal.disconnect_key("k"));
    assert!(!live.is_connected());
    assert!(signal.is_empty());
}
