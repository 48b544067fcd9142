//! Signal-level filters (`add_filter`: an event any filter rejects reaches
//! no listener) and per-listener filters (`connect_filtered`), on both
//! signal kinds.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sigwire::{AsyncSignal, DeliveryOrder, SyncSignal};

fn summing() -> (Arc<AtomicU64>, impl Fn(&u64) + Send + Sync + 'static) {
    let sum = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&sum);
    (sum, move |v: &u64| {
        s.fetch_add(*v, Ordering::SeqCst);
    })
}

fn load(sum: &AtomicU64) -> u64 {
    sum.load(Ordering::SeqCst)
}

/// Every emit variant consults the filters; all filters must accept; a
/// removed filter is consulted no more.
#[test]
fn sync_filters_apply_to_every_emit_variant() {
    let signal = SyncSignal::<u64>::new();
    let (sum, f) = summing();
    signal.connect(f);
    let (second, g) = summing();
    signal.connect_fallible(move |v: &u64| {
        g(v);
        Ok::<(), &str>(())
    });
    let even = signal.add_filter(|v: &u64| v % 2 == 0);
    let small = signal.add_filter(|v: &u64| *v < 100);
    for v in [1, 2, 3, 4, 200] {
        signal.emit(&v);
        signal.try_emit(&v).unwrap();
        signal.emit_collect(&v).unwrap();
        signal.emit_until(&v, AtomicBool::new(false)).unwrap();
        signal.emitter().emit(&v);
    }
    // Only 2 and 4 pass both filters: 5 variants x 6.
    assert_eq!((load(&sum), load(&second)), (30, 30));
    assert!(even.disconnect());
    assert!(!even.disconnect());
    signal.emit(&3);
    assert_eq!(load(&sum), 33);
    assert!(small.clone().disconnect());
    signal.emit(&500);
    assert_eq!(load(&sum), 533);
    drop(signal);
    assert!(!small.disconnect(), "the signal is gone");
}

#[test]
fn per_listener_filters() {
    let signal = SyncSignal::<u64>::new();
    let (all, f) = summing();
    let (big, g) = summing();
    signal.connect(f);
    let conn = signal.connect_filtered(|v: &u64| *v >= 10, g);
    for v in [1, 10, 5, 20] {
        signal.emit(&v);
    }
    assert_eq!((load(&all), load(&big)), (36, 30));
    assert!(conn.disconnect());
}

/// Async filters run once per event, before its listeners, under both
/// orderings and `emit_collect`; rejected events still count as emitted, with
/// no delivery; a panicking filter rejects its event and counts as a panic.
#[test]
fn async_filters_run_once_per_event() {
    for ordering in [DeliveryOrder::Unordered, DeliveryOrder::PerListener] {
        let signal = AsyncSignal::<u64>::builder()
            .ordering(ordering)
            .panic_handler(|_| {})
            .build()
            .unwrap();
        let (sum, f) = summing();
        signal.connect(f);
        let (other, g) = summing();
        signal.connect(g);
        let calls = Arc::new(AtomicU64::new(0));
        let c = Arc::clone(&calls);
        let _filter = signal.add_filter(move |v: &u64| {
            c.fetch_add(1, Ordering::SeqCst);
            assert!(*v != 13, "a panicking filter");
            v % 2 == 0
        });
        let _hook = quiet();
        for v in [1, 2, 3, 4, 13] {
            signal.emit(v).unwrap();
        }
        signal.flush().unwrap();
        signal.emit_collect(6).unwrap();
        signal.emit_collect(7).unwrap();
        assert_eq!((load(&sum), load(&other)), (12, 12), "{ordering:?}");
        assert_eq!(load(&calls), 7, "one filter call per event");
        let stats = signal.stats();
        // 2 listeners × the 3 events that passed (2, 4, 6).
        assert_eq!((stats.emitted, stats.delivered, stats.panicked), (7, 6, 1));
    }
}

/// Silences std's panic message for the filter's intended panic while it
/// lives.
fn quiet() -> impl Drop {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = std::panic::take_hook();
        }
    }
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("a panicking filter") {
            eprintln!("{info}");
        }
    }));
    Restore
}

#[test]
fn async_per_listener_filters() {
    let signal = AsyncSignal::<u64>::new();
    let (big, g) = summing();
    signal.connect_filtered(|v: &u64| *v >= 10, g);
    for v in [1, 10, 5, 20] {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    assert_eq!(load(&big), 30);
}
