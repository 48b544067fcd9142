//! disconnect racing emit.
//!
//! `disconnect` never blocks, and after it returns no emit that has not yet
//! reached the listener calls it, even an emit that loaded the listener list
//! before the disconnect. The emitting thread learns that `disconnect`
//! returned through a flag (Release after `disconnect`, Acquire in the emit):
//!
//! * read before the emit starts: the emit must not call the listener;
//! * read by an earlier listener of the same emit (a probe): the emit has
//!   not reached the target yet, so it must not call it either.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use sigwire::{ConnectOptions, SyncSignal};
use sigwire_loom_tests::counting;

#[test]
fn emit_started_after_disconnect_returned_skips_the_listener() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let disconnected = Arc::new(AtomicBool::new(false));
        let conn = counting(&signal, &calls);

        let disconnector = {
            let disconnected = disconnected.clone();
            thread::spawn(move || {
                assert!(conn.disconnect(), "the first disconnect reports it");
                // Release: an emit that reads `true` starts after disconnect returned.
                disconnected.store(true, Ordering::Release);
            })
        };

        // Acquire: pairs with the store above.
        let after = disconnected.load(Ordering::Acquire);
        signal.emit(&());
        // Relaxed: the listener ran (if at all) on this thread.
        let called = calls.load(Ordering::Relaxed);
        assert!(called <= 1);
        if after {
            assert_eq!(
                called, 0,
                "an emit started after disconnect returned called it"
            );
        }

        disconnector.join().unwrap();
        assert!(signal.is_empty());
        signal.emit(&());
        assert_eq!(
            calls.load(Ordering::Relaxed),
            called,
            "called after disconnect"
        );
    });
}

#[test]
fn emit_holding_an_old_list_skips_a_listener_disconnected_before_it_got_there() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let disconnected = Arc::new(AtomicBool::new(false));
        // Set by the probe, on the emitting thread: the disconnect of the
        // target had returned before this emit reached the target.
        let reached_after = Arc::new(AtomicBool::new(false));
        let target_calls = Arc::new(AtomicUsize::new(0));

        // The probe runs first (higher priority), then the target.
        let _probe = {
            let (disconnected, reached_after) = (disconnected.clone(), reached_after.clone());
            signal
                .connect_with(ConnectOptions::new().priority(1), move |_: &()| {
                    // Acquire: pairs with the Release after disconnect.
                    let after = disconnected.load(Ordering::Acquire);
                    // Relaxed: read back on this thread only.
                    reached_after.store(after, Ordering::Relaxed);
                })
                .unwrap()
        };
        let target = {
            let (reached_after, target_calls) = (reached_after.clone(), target_calls.clone());
            signal.connect(move |_: &()| {
                assert!(
                    !reached_after.load(Ordering::Relaxed),
                    "called by an emit that reached it after disconnect returned"
                );
                target_calls.fetch_add(1, Ordering::Relaxed);
            })
        };

        let disconnector = {
            let disconnected = disconnected.clone();
            thread::spawn(move || {
                target.disconnect();
                // Release: see the probe.
                disconnected.store(true, Ordering::Release);
            })
        };

        signal.emit(&());
        disconnector.join().unwrap();
        assert_eq!(signal.len(), 1, "only the probe is left");
        let before = target_calls.load(Ordering::Relaxed);
        signal.emit(&());
        assert_eq!(target_calls.load(Ordering::Relaxed), before);
    });
}
