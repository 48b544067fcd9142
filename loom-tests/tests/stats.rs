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

/// A snapshot taken while another thread emits never shows more
/// deliveries than its events had listeners (the deliveries' increment is
/// Release, `read` loads them with Acquire before `emitted`).
#[test]
fn a_sync_snapshot_never_shows_a_delivery_before_its_event() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let _a = signal.connect(|_: &u32| {});
        let _b = signal.connect(|_: &u32| {});
        signal.enable_stats();
        let emitter = {
            let signal = signal.clone();
            thread::spawn(move || signal.emit(&1))
        };
        let seen = signal.stats();
        assert!(seen.delivered <= 2 * seen.emitted, "{seen:?}");
        emitter.join().unwrap();
        assert_eq!((signal.stats().emitted, signal.stats().delivered), (1, 2));
    });
}

/// An `AsyncSignal`'s snapshots, taken while its drainer completes a batch:
/// `emitted` counts each accepted event once (never a batch in both
/// `pending` and `completed`), so it never exceeds the events emitted and
/// never goes down, and no snapshot shows more deliveries than events.
#[test]
fn async_snapshots_count_each_event_once() {
    loom::model(|| {
        let signal = Arc::new(
            sigwire::AsyncSignal::<u32>::builder()
                .capacity(2)
                .build()
                .unwrap(),
        );
        let _a = signal.connect(|_: &u32| {});
        signal.emit(1).unwrap();
        let reader = {
            let signal = signal.clone();
            thread::spawn(move || {
                let first = signal.stats();
                let second = signal.stats();
                (first, second)
            })
        };
        signal.flush().unwrap();
        let (first, second) = reader.join().unwrap();
        for seen in [first, second] {
            assert_eq!(seen.emitted, 1, "{seen:?}");
            assert!(seen.delivered <= seen.emitted, "{seen:?}");
        }
        assert!(second.delivered >= first.delivered);
        let last = signal.stats();
        assert_eq!((last.emitted, last.delivered, last.pending), (1, 1, 0));
    });
}

/// `EventBus::enable_stats` racing the first `EventBus::signal` of a type
/// on another thread: the bus stores its flag under the registry's lock and
/// a new signal reads it under the same lock, so the signal either sees the
/// flag or is among those `enable_stats` collects. Either way, an emit
/// after both returned is counted.
#[test]
fn bus_enable_stats_races_a_new_signal() {
    loom::model(|| {
        let bus = sigwire::bus::EventBus::new();
        let maker = {
            let bus = bus.clone();
            thread::spawn(move || drop(bus.signal::<u32>()))
        };
        bus.enable_stats();
        maker.join().unwrap();
        let _c = bus.connect(|_: &u32| {});
        bus.emit(&1u32);
        assert_eq!(
            bus.stats().delivered,
            1,
            "a signal made meanwhile missed enable_stats"
        );
    });
}
