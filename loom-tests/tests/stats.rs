//! `SyncSignal::enable_stats` racing emits: counting starts with the
//! published list that carries the counters, so an emit counts at most once
//! and every emit that starts after `enable_stats` returned counts.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use sigwire::SyncSignal;

#[test]
fn enable_stats_races_emits() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let _c = signal.connect(|_: &u32| {});
        let enabled = Arc::new(AtomicBool::new(false));

        let emitter = {
            let (signal, enabled) = (signal.clone(), enabled.clone());
            thread::spawn(move || {
                signal.emit(&1);
                // Acquire: pairs with the Release below, so this emit starts
                // after `enable_stats` returned if it sees `true`.
                let after = enabled.load(Ordering::Acquire);
                signal.emit(&2);
                after
            })
        };
        signal.enable_stats();
        enabled.store(true, Ordering::Release);
        let second_after = emitter.join().unwrap();
        let stats = signal.stats();
        assert!(stats.delivered <= 2);
        assert_eq!(stats.emitted, stats.delivered);
        if second_after {
            assert!(
                stats.delivered >= 1,
                "an emit after enable_stats was not counted"
            );
        }
    });
}
