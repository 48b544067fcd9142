//! `disconnect_wait` racing a running call.
//!
//! The listener counts `entered` when it starts and `finished` when it ends,
//! and checks in between that `disconnect_wait` has not returned yet. After
//! `disconnect_wait` returns: no call is running (`entered == finished`, and
//! no running call sees the "returned" flag), the counts of finished calls
//! are visible to the waiter, and no call starts later.
//!
//! All the test's own atomics are Relaxed on purpose: every ordering the
//! assertions need must come from sigwire (the pop of an emit's record with
//! Release, read by the waiter with Acquire).

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::{SyncSignal, WouldDeadlock};
use sigwire_loom_tests::{WaitedCalls, counting};

/// Runs a two-thread model with at least three preemptions. The cheapest
/// schedule that shows a missing Release on the record push (the emitting
/// thread runs its call, pops, and pushes an emit of another signal while
/// the waiter spins) needs three; these models stay well under a second.
fn check(f: impl Fn() + Send + Sync + 'static) {
    let mut builder = loom::model::Builder::new();
    // None (LOOM_MAX_PREEMPTIONS unset) means unbounded: keep it.
    builder.preemption_bound = builder.preemption_bound.map(|bound| bound.max(3));
    builder.check(f);
}

/// `threads` emitting threads, each emitting `emits` times, race one
/// `disconnect_wait` on the main thread.
fn model(threads: usize, emits: usize) {
    let run = move || {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = WaitedCalls::new();
        let conn = {
            let calls = calls.clone();
            signal.connect(move |_: &()| calls.call())
        };

        let emitters: Vec<_> = (0..threads)
            .map(|_| {
                let signal = signal.clone();
                thread::spawn(move || {
                    for _ in 0..emits {
                        signal.emit(&());
                    }
                })
            })
            .collect();

        assert_eq!(conn.disconnect_wait(), Ok(true));
        let seen = calls.waited();
        for emitter in emitters {
            emitter.join().unwrap();
        }
        calls.no_call_after(seen);
        assert!(signal.is_empty());
    };
    if threads == 1 {
        check(run);
    } else {
        // Three threads: LOOM_MAX_PREEMPTIONS as given.
        loom::model(run);
    }
}

#[test]
fn disconnect_wait_waits_for_a_running_call() {
    model(1, 1);
}

/// The second emit may start after `disconnect_wait` returned: it must not
/// call the listener.
#[test]
fn disconnect_wait_then_no_new_call() {
    model(1, 2);
}

/// Two emitting threads: `disconnect_wait` must find and wait for whichever
/// of them is inside the call (three threads in all).
#[test]
fn disconnect_wait_waits_for_two_emitting_threads() {
    model(2, 1);
}

/// The emitting thread finishes its emit of `signal` and reuses the same
/// record entry for an emit of another signal. A waiter that finds the entry
/// holding the other signal must still see the finished call's effects.
#[test]
fn disconnect_wait_sees_a_call_finished_before_the_entry_was_reused() {
    check(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let other = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let conn = counting(&signal, &calls);
        // A listener, so that emits of `other` are recorded too.
        let _other = other.connect(|_: &()| {});

        let emitter = {
            let (signal, other) = (signal.clone(), other.clone());
            thread::spawn(move || {
                signal.emit(&());
                other.emit(&());
            })
        };

        conn.disconnect_wait().unwrap();
        // Relaxed: disconnect_wait must order the finished call before this.
        let seen = calls.load(Ordering::Relaxed);
        emitter.join().unwrap();
        assert_eq!(
            calls.load(Ordering::Relaxed),
            seen,
            "a call that finished before disconnect_wait returned was not visible"
        );
    });
}

/// Called from inside an emit of the same signal, `disconnect_wait` does not
/// wait for itself: it disconnects and reports `WouldDeadlock`, while another
/// thread emits concurrently.
#[test]
fn disconnect_wait_from_inside_the_emit_does_not_deadlock() {
    check(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(loom::sync::Mutex::new(None::<sigwire::Connection>));
        let conn = {
            let (calls, slot) = (calls.clone(), slot.clone());
            signal.connect(move |_: &()| {
                calls.fetch_add(1, Ordering::Relaxed);
                let me = slot.lock().unwrap().take();
                if let Some(me) = me {
                    let outcome: Result<bool, WouldDeadlock> = me.disconnect_wait();
                    assert!(outcome.is_err(), "waited for its own emit");
                    assert!(!me.is_connected());
                }
            })
        };
        *slot.lock().unwrap() = Some(conn.clone());

        let other = {
            let signal = signal.clone();
            thread::spawn(move || signal.emit(&()))
        };
        signal.emit(&());
        other.join().unwrap();
        assert!(!conn.is_connected());
        assert!(signal.is_empty());
        let calls_before = calls.load(Ordering::Relaxed);
        assert!((1..=2).contains(&calls_before));
        signal.emit(&());
        assert_eq!(calls.load(Ordering::Relaxed), calls_before);
    });
}

/// An `Emitter` records its emits in an entry of its own (two stores, no
/// per-thread push): `disconnect_wait` must find a running one and wait
/// for it, and a call that finished must be visible.
#[test]
fn disconnect_wait_waits_for_an_emitter() {
    check(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = WaitedCalls::new();
        let conn = {
            let calls = calls.clone();
            signal.connect(move |_: &()| calls.call())
        };
        let emitter = {
            let signal = signal.clone();
            thread::spawn(move || {
                let mut emitter = signal.emitter();
                emitter.emit(&());
                emitter.emit(&());
            })
        };
        assert_eq!(conn.disconnect_wait(), Ok(true));
        let seen = calls.waited();
        emitter.join().unwrap();
        calls.no_call_after(seen);
    });
}

/// From inside an `Emitter`'s emit, `disconnect_wait` refuses to wait for
/// itself (the emitter's entry names the thread it runs on), while another
/// thread emits through an `Emitter` of its own.
#[test]
fn disconnect_wait_from_inside_an_emitter_does_not_deadlock() {
    check(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let slot = Arc::new(loom::sync::Mutex::new(None::<sigwire::Connection>));
        let conn = {
            let slot = slot.clone();
            signal.connect(move |_: &()| {
                let me = slot.lock().unwrap().take();
                if let Some(me) = me {
                    assert!(me.disconnect_wait().is_err(), "waited for its own emit");
                }
            })
        };
        *slot.lock().unwrap() = Some(conn.clone());
        let other = {
            let signal = signal.clone();
            thread::spawn(move || signal.emitter().emit(&()))
        };
        signal.emitter().emit(&());
        other.join().unwrap();
        assert!(!conn.is_connected());
    });
}

/// An `Emitter` that emitted on this thread and then moved to another one:
/// while it emits there, a `disconnect_wait` on this thread is not inside
/// any emit and must wait, not refuse. `is_inside` must not pair this
/// thread's stale owner token with the other thread's running entry.
#[test]
fn disconnect_wait_after_an_emitter_moved_away_is_not_refused() {
    check(|| {
        // The emitter borrows the signal and moves to a spawned thread,
        // which needs `'static`; loom fails a leaked signal, so the box is
        // freed once that thread is joined.
        let boxed = Box::into_raw(Box::new(SyncSignal::<()>::new()));
        #[allow(unsafe_code)]
        // SAFETY: `boxed` is freed below, after the only other user (the
        // spawned thread, which owns the emitter) was joined.
        let signal: &'static SyncSignal<()> = unsafe { &*boxed };
        let conn = signal.connect(|_: &()| {});
        let mut emitter = signal.emitter();
        emitter.emit(&()); // the record's owner token is this thread's
        let other = thread::spawn(move || emitter.emit(&()));
        let waited = conn.disconnect_wait();
        other.join().unwrap();
        drop(conn);
        #[allow(unsafe_code)]
        // SAFETY: the emitter was dropped with its thread; nothing borrows
        // the signal any more.
        drop(unsafe { Box::from_raw(boxed) });
        assert_eq!(
            waited,
            Ok(true),
            "refused as if this thread were inside the moved emitter's emit"
        );
    });
}
