//! connect_once under two concurrent emits: the listener fires exactly once
//! and removes itself.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::SyncSignal;

#[test]
fn once_listener_fires_exactly_once_under_two_emits() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let conn = {
            let calls = calls.clone();
            signal.connect_once(move |_: &u32| {
                calls.fetch_add(1, Ordering::Relaxed);
            })
        };

        let other = {
            let signal = signal.clone();
            thread::spawn(move || signal.emit(&1))
        };
        signal.emit(&2);
        other.join().unwrap();

        // Relaxed: the join orders both emits before this load.
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "a once-listener fires exactly once"
        );
        assert!(signal.is_empty(), "the winner removed it");
        assert!(!conn.is_connected());
        assert!(
            !conn.disconnect(),
            "a fired once-listener is already disconnected"
        );
        signal.emit(&3);
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    });
}
