//! Panicking listeners: the panic reaches the caller of the emit, and the
//! signal stays fully usable (nothing poisoned, no stale emit record).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use sigwire::{Connection, SyncSignal};

/// Deeper than every per-thread fast path (arc-swap's 8 debt slots,
/// sigwire's 32-entry emit record).
const DEEP: u32 = 40;

/// After this long a `disconnect_wait` that should return at once is
/// declared stuck (it fails instead of hanging the run).
const STUCK: Duration = Duration::from_secs(30);

/// How long a test waits to show that a call is *still blocked*.
const STILL_BLOCKED: Duration = Duration::from_millis(100);

fn counter<T>() -> (Arc<AtomicUsize>, impl Fn(&T) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &T| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

fn load(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// The panic message of a caught panic.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs `f` and returns its panic message; fails if it does not panic.
fn panic_message(f: impl FnOnce()) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a panic"),
        Err(payload) => message(&*payload),
    }
}

/// Checks that `disconnect_wait` returns normally both on this thread and on
/// another: no emit record is left behind by the panic.
fn assert_disconnect_wait_works<T: Send + Sync + 'static>(signal: &SyncSignal<T>) {
    let here = signal.connect(|_: &T| {});
    assert_eq!(
        here.disconnect_wait(),
        Ok(true),
        "stale record on this thread"
    );
    let there = signal.connect(|_: &T| {});
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(there.disconnect_wait()).unwrap());
    assert_eq!(
        rx.recv_timeout(STUCK)
            .expect("disconnect_wait is stuck: a stale emit record"),
        Ok(true)
    );
}

/// Panics whenever `armed` is set.
fn panicking(armed: &Arc<AtomicBool>) -> impl Fn(&u32) + Send + Sync + 'static {
    let armed = Arc::clone(armed);
    move |v: &u32| {
        if armed.load(Ordering::SeqCst) {
            panic!("listener panicked on {v}");
        }
    }
}

#[test]
fn the_panic_reaches_the_caller_of_emit() {
    let signal = SyncSignal::<u32>::new();
    let armed = Arc::new(AtomicBool::new(true));
    let (before, b) = counter();
    let (after, a) = counter();
    signal.connect(b);
    let culprit = signal.connect(panicking(&armed));
    signal.connect(a);

    assert_eq!(panic_message(|| signal.emit(&7)), "listener panicked on 7");
    assert_eq!(load(&before), 1);
    assert_eq!(
        load(&after),
        0,
        "the listeners after it are not called by that emit"
    );

    // Fully usable afterwards.
    assert!(
        culprit.is_connected(),
        "a panicking listener stays connected"
    );
    assert_eq!(signal.len(), 3);
    armed.store(false, Ordering::SeqCst);
    signal.emit(&8);
    assert_eq!(load(&before), 2);
    assert_eq!(load(&after), 1, "the other listeners run on the next emit");

    let (new_calls, n) = counter();
    let new = signal.connect(n);
    signal.emit(&9);
    assert_eq!(load(&new_calls), 1);
    assert!(new.disconnect());
    assert_eq!(culprit.disconnect_wait(), Ok(true));
    assert_eq!(signal.len(), 2);
    assert_disconnect_wait_works(&signal);
    signal.clear();
    assert!(signal.is_empty());
}

#[test]
fn every_emit_variant_propagates_the_panic_and_recovers() {
    let signal = SyncSignal::<u32>::new();
    let armed = Arc::new(AtomicBool::new(true));
    let (calls, c) = counter();
    signal.connect(c);
    signal.connect(panicking(&armed));
    signal.connect_fallible(|_: &u32| Err("after the panic"));

    assert!(panic_message(|| signal.emit(&1)).contains("panicked on 1"));
    assert!(panic_message(|| drop(signal.try_emit(&2))).contains("panicked on 2"));
    assert!(panic_message(|| drop(signal.emit_collect(&3))).contains("panicked on 3"));
    assert!(
        panic_message(|| {
            let _ = signal.emit_until(&4, AtomicBool::new(false));
        })
        .contains("panicked on 4")
    );
    let mut emitter = signal.emitter();
    assert!(panic_message(|| emitter.emit(&5)).contains("panicked on 5"));
    assert_eq!(load(&calls), 5);
    assert_eq!(
        signal.error_count(),
        0,
        "the fallible listener was never reached"
    );
    assert_disconnect_wait_works(&signal);

    armed.store(false, Ordering::SeqCst);
    emitter.emit(&6);
    assert_eq!(
        signal.try_emit(&7).unwrap_err().source_error().to_string(),
        "after the panic"
    );
    assert_eq!(signal.emit_collect(&8).unwrap_err().len(), 1);
    signal.emit(&9);
    assert_eq!(load(&calls), 9);
    assert_eq!(signal.error_count(), 2);
}

#[test]
fn a_panicking_once_listener_has_used_its_call() {
    let signal = SyncSignal::<()>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let once = signal.connect_once(move |_: &()| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("once and never again");
    });
    let (others, o) = counter();
    signal.connect(o);

    assert_eq!(panic_message(|| signal.emit(&())), "once and never again");
    assert_eq!(load(&calls), 1);
    assert!(!once.is_connected());
    assert!(!once.disconnect());
    assert_eq!(signal.len(), 1, "removed from the list");
    assert_eq!(once.disconnect_wait(), Ok(false));

    signal.emit(&());
    signal.emit(&());
    assert_eq!(load(&calls), 1);
    assert_eq!(load(&others), 2);
}

#[test]
fn a_panicking_keyed_once_listener_frees_its_key() {
    let signal = SyncSignal::<()>::new();
    signal
        .connect_with(sigwire::ConnectOptions::new().key("k").once(), |_: &()| {
            panic!("keyed once")
        })
        .unwrap();
    assert_eq!(panic_message(|| signal.emit(&())), "keyed once");
    assert!(!signal.contains_key("k"));
    assert!(signal.connect_keyed("k", |_: &()| {}).is_ok());
}

#[test]
fn a_block_guard_held_by_a_panicking_listener_is_released() {
    let signal = SyncSignal::<()>::new();
    let (calls, c) = counter();
    let target = signal.connect(c);
    let t = target.clone();
    let blocker = signal
        .connect_with(sigwire::ConnectOptions::new().priority(1), move |_: &()| {
            let _guard = t.block();
            panic!("while blocking");
        })
        .unwrap();
    assert_eq!(panic_message(|| signal.emit(&())), "while blocking");
    assert_eq!(load(&calls), 0);
    assert!(!target.is_blocked(), "the guard was dropped by the unwind");
    blocker.disconnect();
    signal.emit(&());
    assert_eq!(load(&calls), 1);
}

#[test]
fn a_panicking_error_handler_reaches_the_caller() {
    let signal = SyncSignal::<()>::new();
    let (calls, c) = counter();
    signal.connect_fallible(|_: &()| Err("x"));
    signal.connect(c);
    signal.set_error_handler(|e| panic!("handler saw: {e}"));
    assert!(panic_message(|| signal.emit(&())).contains("handler saw"));
    assert_eq!(load(&calls), 0);
    assert_eq!(signal.error_count(), 1);
    signal.set_error_handler(|_| {});
    signal.emit(&());
    assert_eq!(load(&calls), 1);
    assert_disconnect_wait_works(&signal);
}

/// A signal whose first listener re-emits `depth + 1` up to `DEEP` and
/// panics at `DEEP` when armed; the second listener counts its calls.
fn deep_panicking(armed: &Arc<AtomicBool>) -> (Arc<SyncSignal<u32>>, Arc<AtomicUsize>) {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let s: Weak<SyncSignal<u32>> = Arc::downgrade(&signal);
    let armed = Arc::clone(armed);
    signal.connect(move |depth: &u32| {
        if *depth < DEEP {
            s.upgrade().unwrap().emit(&(depth + 1));
        } else if armed.load(Ordering::SeqCst) {
            panic!("deep panic");
        }
    });
    let (calls, c) = counter();
    signal.connect(c);
    (signal, calls)
}

#[test]
fn a_panic_deep_inside_nested_emits_leaves_everything_usable() {
    let armed = Arc::new(AtomicBool::new(true));
    let (signal, calls) = deep_panicking(&armed);
    for _ in 0..3 {
        assert_eq!(panic_message(|| signal.emit(&0)), "deep panic");
    }
    assert_eq!(load(&calls), 0, "every level unwound before its counter");
    assert_disconnect_wait_works(&signal);

    armed.store(false, Ordering::SeqCst);
    signal.emit(&0);
    assert_eq!(load(&calls), DEEP as usize + 1);
    assert_disconnect_wait_works(&signal);
}

#[test]
fn a_panic_caught_half_way_down_nested_emits() {
    // Level 10 catches the panic of level DEEP and carries on; the levels
    // above it finish normally.
    let signal = Arc::new(SyncSignal::<u32>::new());
    let s = Arc::downgrade(&signal);
    let caught = Arc::new(AtomicUsize::new(0));
    let k = Arc::clone(&caught);
    signal.connect(move |depth: &u32| {
        let s = s.upgrade().unwrap();
        if *depth == 10 {
            let result = catch_unwind(AssertUnwindSafe(|| s.emit(&(depth + 1))));
            assert_eq!(message(&*result.unwrap_err()), "bottom");
            k.fetch_add(1, Ordering::SeqCst);
            // Still inside an emit of this signal: disconnect_wait must say
            // so, not wait for this thread and not miss the emit.
            let conn = s.connect(|_: &u32| {});
            assert!(conn.disconnect_wait().is_err());
        } else if *depth < DEEP {
            s.emit(&(depth + 1));
        } else {
            panic!("bottom");
        }
    });
    let (calls, c) = counter();
    signal.connect(c);
    signal.emit(&0);
    assert_eq!(load(&caught), 1);
    assert_eq!(load(&calls), 11, "levels 0..=10 ran their counter");
    assert_disconnect_wait_works(&signal);
}

#[test]
fn a_panic_past_the_record_with_another_signal_below() {
    // Levels 0..33 emit `outer`, then `signal` nests to DEEP and panics.
    let armed = Arc::new(AtomicBool::new(true));
    let (signal, calls) = deep_panicking(&armed);
    let outer = Arc::new(SyncSignal::<u32>::new());
    let (wo, inner) = (Arc::downgrade(&outer), Arc::clone(&signal));
    outer.connect(move |depth: &u32| {
        if *depth < 33 {
            wo.upgrade().unwrap().emit(&(depth + 1));
        } else {
            inner.emit(&0);
        }
    });
    assert_eq!(panic_message(|| outer.emit(&0)), "deep panic");
    assert_disconnect_wait_works(&signal);
    assert_disconnect_wait_works(&outer);
    armed.store(false, Ordering::SeqCst);
    outer.emit(&0);
    assert_eq!(load(&calls), DEEP as usize + 1);
}

#[test]
fn a_panic_on_another_thread_leaves_the_signal_usable() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let armed = Arc::new(AtomicBool::new(true));
    let (calls, c) = counter();
    signal.connect(panicking(&armed));
    signal.connect(c);
    let s = Arc::clone(&signal);
    let err = thread::spawn(move || s.emit(&1)).join().unwrap_err();
    assert_eq!(message(&*err), "listener panicked on 1");
    assert_disconnect_wait_works(&*signal);
    armed.store(false, Ordering::SeqCst);
    signal.emit(&2);
    assert_eq!(load(&calls), 1);
}

#[test]
fn disconnect_wait_returns_once_a_running_call_has_panicked() {
    let signal = Arc::new(SyncSignal::<()>::new());
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let conn = signal.connect(move |_: &()| {
        entered_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        panic!("panicked while waited for");
    });
    let s = Arc::clone(&signal);
    let emitter = thread::spawn(move || catch_unwind(AssertUnwindSafe(|| s.emit(&()))).is_err());
    entered_rx.recv().unwrap();

    let (done_tx, done_rx) = mpsc::channel();
    let c: Connection = conn.clone();
    let waiter = thread::spawn(move || done_tx.send(c.disconnect_wait()).unwrap());
    assert_eq!(
        done_rx.recv_timeout(STILL_BLOCKED),
        Err(RecvTimeoutError::Timeout)
    );
    release_tx.send(()).unwrap();
    assert_eq!(done_rx.recv_timeout(STUCK), Ok(Ok(true)));
    assert!(emitter.join().unwrap(), "the emit panicked");
    waiter.join().unwrap();
    assert!(signal.is_empty());
}

#[test]
fn panics_under_concurrent_emits_keep_exact_counts() {
    // Half of the emits panic (odd values); every listener before the
    // panicking one runs exactly once per emit, every one after it exactly
    // once per non-panicking emit.
    const THREADS: usize = 4;
    const EMITS: u32 = 500;
    let signal = SyncSignal::<u32>::new();
    let (before, b) = counter();
    let (after, a) = counter();
    signal.connect(b);
    signal.connect(|v: &u32| {
        if v % 2 == 1 {
            panic!("odd");
        }
    });
    signal.connect(a);
    let panics = AtomicUsize::new(0);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for v in 0..EMITS {
                    if catch_unwind(AssertUnwindSafe(|| signal.emit(&v))).is_err() {
                        panics.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let total = THREADS * EMITS as usize;
    assert_eq!(load(&panics), total / 2);
    assert_eq!(load(&before), total);
    assert_eq!(load(&after), total / 2);
    assert_disconnect_wait_works(&signal);
}

#[test]
fn resume_unwind_payloads_pass_through_unchanged() {
    #[derive(Debug, PartialEq)]
    struct Payload(u32);
    let signal = SyncSignal::<()>::new();
    signal.connect(|_: &()| resume_unwind(Box::new(Payload(42))));
    let payload = catch_unwind(AssertUnwindSafe(|| signal.emit(&()))).unwrap_err();
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(42)));
}

/// Panics when dropped: a listener's captured state with a hostile `Drop`.
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// The messages the error handler received.
fn collect_errors(signal: &SyncSignal<u32>) -> Arc<Mutex<Vec<String>>> {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = Arc::clone(&seen);
    signal.set_error_handler(move |error| s.lock().unwrap().push(error.to_string()));
    seen
}

/// A fired once-listener stays in the list until the next write frees it;
/// its captured value panics when dropped. That write (a `connect`, on
/// another thread) completes and returns its `Connection`; the panic is
/// counted and reaches the error handler.
#[test]
fn a_panicking_drop_does_not_reach_the_write_that_frees_it() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let seen = collect_errors(&signal);
    let bomb = PanicsOnDrop("bomb went off");
    let once = signal.connect_once(move |_: &u32| {
        let _ = &bomb;
    });
    signal.emit(&1);

    let (calls, count) = counter::<u32>();
    let conn = {
        let signal = Arc::clone(&signal);
        thread::spawn(move || signal.connect(count))
            .join()
            .expect("the connect that freed the fired listener unwound")
    };
    assert!(conn.is_connected());
    signal.emit(&2);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(conn.disconnect());
    assert_eq!(signal.error_count(), 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].contains("bomb went off") && seen[0].contains(&once.id().to_string()),
        "{seen:?}"
    );
}

/// The same with a key: the keyed connect that frees the fired holder of
/// the key gets the key and its `Connection`.
#[test]
fn a_panicking_drop_does_not_keep_a_key_taken() {
    let signal = SyncSignal::<u32>::new();
    let seen = collect_errors(&signal);
    let bomb = PanicsOnDrop("keyed bomb");
    signal
        .connect_with(
            sigwire::ConnectOptions::new().key("k").once(),
            move |_: &u32| {
                let _ = &bomb;
            },
        )
        .unwrap();
    signal.emit(&1);
    let (calls, count) = counter::<u32>();
    let conn = catch_unwind(AssertUnwindSafe(|| signal.connect_keyed("k", count)))
        .expect("the keyed connect unwound")
        .expect("the key is free once its once-listener fired");
    assert!(signal.contains_key("k"));
    signal.emit(&2);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(signal.disconnect_key("k"));
    assert!(!conn.is_connected());
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// Two panicking closures freed by one write: both are caught (a second
/// panic while the first unwinds would abort the process), and both are
/// reported. The same when the signal itself is dropped.
#[test]
fn two_panicking_drops_in_one_write_are_both_reported() {
    let signal = SyncSignal::<u32>::new();
    let seen = collect_errors(&signal);
    for name in ["first bomb", "second bomb"] {
        let bomb = PanicsOnDrop(name);
        signal.connect(move |_: &u32| {
            let _ = &bomb;
        });
    }
    signal.clear();
    assert_eq!(signal.error_count(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);

    let dropped = SyncSignal::<u32>::new();
    for name in ["third bomb", "fourth bomb"] {
        let bomb = PanicsOnDrop(name);
        dropped.connect(move |_: &u32| {
            let _ = &bomb;
        });
    }
    catch_unwind(AssertUnwindSafe(move || drop(dropped))).expect("dropping the signal unwound");
}

/// An `AsyncSignal`'s fired once-listener, freed by a connect on another
/// thread: the same containment.
#[test]
fn a_panicking_drop_on_an_async_signal_is_contained_too() {
    let signal = Arc::new(sigwire::AsyncSignal::<u32>::new());
    let bomb = PanicsOnDrop("async bomb");
    signal.connect_once(move |_: &u32| {
        let _ = &bomb;
    });
    signal.emit(1).unwrap();
    signal.flush().unwrap();
    let (calls, count) = counter::<u32>();
    let conn = {
        let signal = Arc::clone(&signal);
        thread::spawn(move || signal.connect(count))
            .join()
            .expect("the connect unwound")
    };
    signal.emit(2).unwrap();
    signal.flush().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(conn.is_connected());
    assert_eq!(signal.error_count(), 1);
}
