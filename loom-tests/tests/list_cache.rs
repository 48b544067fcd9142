//! The per-thread list cache behind `SyncSignal::emit` racing a connect.
//!
//! The emitting thread has the signal's list cached (it emitted before);
//! another thread connects a second listener. An emit that starts after
//! connect returned must call it: the cache must notice the new version.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use sigwire::SyncSignal;

#[test]
fn cached_list_is_refreshed_after_a_connect_elsewhere() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let first = Arc::new(AtomicUsize::new(0));
        let second = Arc::new(AtomicUsize::new(0));
        let connected = Arc::new(AtomicBool::new(false));

        let f = first.clone();
        let _first = signal.connect(move |_: &u32| {
            f.fetch_add(1, Ordering::Relaxed);
        });
        // Fills this thread's cache with the one-listener list.
        signal.emit(&1);

        let connector = {
            let (signal, second, connected) = (signal.clone(), second.clone(), connected.clone());
            thread::spawn(move || {
                let conn = signal.connect(move |_: &u32| {
                    second.fetch_add(1, Ordering::Relaxed);
                });
                // Release: an emit that reads `true` starts after connect returned.
                connected.store(true, Ordering::Release);
                conn
            })
        };

        // Acquire: pairs with the store above.
        let after = connected.load(Ordering::Acquire);
        signal.emit(&2);
        // Relaxed: the listeners ran (if at all) on this thread.
        assert_eq!(first.load(Ordering::Relaxed), 2, "the cached listener runs");
        let called = second.load(Ordering::Relaxed);
        assert!(called <= 1);
        if after {
            assert_eq!(
                called, 1,
                "an emit after connect returned sees the new listener"
            );
        }

        let _second = connector.join().unwrap();
        signal.emit(&3);
        assert_eq!(second.load(Ordering::Relaxed), called + 1);
    });
}
