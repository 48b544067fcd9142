//! connect racing emit.
//!
//! The emit either calls the new listener or not, never anything broken
//! (never twice, never a torn list); an emit that starts after `connect`
//! returned (happens-after, through a Release/Acquire flag) calls it.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use sigwire::SyncSignal;

#[test]
fn emit_after_connect_returned_calls_the_new_listener() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let connected = Arc::new(AtomicBool::new(false));

        let connector = {
            let (signal, calls, connected) = (signal.clone(), calls.clone(), connected.clone());
            thread::spawn(move || {
                let conn = signal.connect(move |v: &u32| {
                    assert_eq!(*v, 7, "the listener sees the emitted value");
                    calls.fetch_add(1, Ordering::Relaxed);
                });
                // Release: an emit that reads `true` starts after connect returned.
                connected.store(true, Ordering::Release);
                conn
            })
        };

        // Acquire: pairs with the store above.
        let after = connected.load(Ordering::Acquire);
        signal.emit(&7);
        // Relaxed: the listener ran (if at all) on this thread.
        let called = calls.load(Ordering::Relaxed);
        assert!(called <= 1, "one emit calls a listener at most once");
        if after {
            assert_eq!(
                called, 1,
                "an emit that starts after connect returned calls it"
            );
        }

        let conn = connector.join().unwrap();
        assert!(conn.is_connected());
        assert_eq!(signal.len(), 1);
        // Once everything has joined, the next emit calls the listener.
        signal.emit(&7);
        assert_eq!(calls.load(Ordering::Relaxed), called + 1);
    });
}

/// The same race through an `Emitter`, whose cached list must notice the
/// connect.
#[test]
fn emitter_after_connect_returned_calls_the_new_listener() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let connected = Arc::new(AtomicBool::new(false));
        // The emitter caches the (empty) list before the connect.
        let mut emitter = signal.emitter();

        let connector = {
            let (signal, calls, connected) = (signal.clone(), calls.clone(), connected.clone());
            thread::spawn(move || {
                let conn = signal.connect(move |_: &u32| {
                    calls.fetch_add(1, Ordering::Relaxed);
                });
                // Release: see above.
                connected.store(true, Ordering::Release);
                conn
            })
        };

        // Acquire: pairs with the store above.
        let after = connected.load(Ordering::Acquire);
        emitter.emit(&1);
        let called = calls.load(Ordering::Relaxed);
        assert!(called <= 1);
        if after {
            assert_eq!(called, 1, "the emitter's cache must see a finished connect");
        }
        drop(connector.join().unwrap());
        emitter.emit(&2);
        assert_eq!(calls.load(Ordering::Relaxed), called + 1);
    });
}
