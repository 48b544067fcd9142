//! A `BlockGuard` racing emit.
//!
//! * An emit that starts after `block()` returned (happens-after, through a
//!   Release/Acquire flag) skips the listener while the guard lives.
//! * An emit that starts after the guard was dropped calls it again.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use sigwire::SyncSignal;
use sigwire_loom_tests::counting;

#[test]
fn emit_started_after_block_returned_skips_the_listener() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let blocked = Arc::new(AtomicBool::new(false));
        let conn = counting(&signal, &calls);

        let blocker = {
            let (conn, blocked) = (conn.clone(), blocked.clone());
            thread::spawn(move || {
                let guard = conn.block();
                // Release: an emit that reads `true` starts after block returned.
                blocked.store(true, Ordering::Release);
                // The guard lives until the main thread drops it.
                guard
            })
        };

        // Acquire: pairs with the store above.
        let after = blocked.load(Ordering::Acquire);
        signal.emit(&());
        // Relaxed: the listener ran (if at all) on this thread.
        let called = calls.load(Ordering::Relaxed);
        assert!(called <= 1);
        if after {
            assert_eq!(called, 0, "an emit started after block returned called it");
        }

        let guard = blocker.join().unwrap();
        assert!(conn.is_blocked());
        signal.emit(&());
        assert_eq!(
            calls.load(Ordering::Relaxed),
            called,
            "called while blocked"
        );
        drop(guard);
        assert!(!conn.is_blocked());
        signal.emit(&());
        assert_eq!(
            calls.load(Ordering::Relaxed),
            called + 1,
            "not called after unblock"
        );
    });
}

#[test]
fn emit_started_after_guard_dropped_calls_the_listener() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let unblocked = Arc::new(AtomicBool::new(false));
        let conn = counting(&signal, &calls);
        let guard = conn.block();

        let unblocker = {
            let unblocked = unblocked.clone();
            thread::spawn(move || {
                drop(guard);
                // Release: an emit that reads `true` starts after the drop.
                unblocked.store(true, Ordering::Release);
            })
        };

        // Acquire: pairs with the store above.
        let after = unblocked.load(Ordering::Acquire);
        signal.emit(&());
        let called = calls.load(Ordering::Relaxed);
        assert!(called <= 1);
        if after {
            assert_eq!(
                called, 1,
                "an emit started after the guard was dropped skipped it"
            );
        }

        unblocker.join().unwrap();
        assert!(!conn.is_blocked());
        signal.emit(&());
        assert_eq!(calls.load(Ordering::Relaxed), called + 1);
    });
}
