//! Delivery statistics: `SyncSignal::enable_stats`/`stats`, the bus-wide
//! aggregate, per-topic counters, and the wrappers that count rejections.
//! `emitted` and `rejected` count events; `delivered`, `failed` and
//! `panicked` count deliveries, one event to one listener (the spec,
//! "Statistics").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::thread;

use sigwire::bus::{EventBus, HeldSignal, HistorySignal, SignalKind, Topics};
use sigwire::{AsyncSignal, DeliveryOrder, Stats, SyncSignal};

fn counts(s: Stats) -> (u64, u64, u64, u64, u64) {
    (s.emitted, s.delivered, s.failed, s.panicked, s.rejected)
}

/// Off by default; once on, every outcome of every emit variant counts.
#[test]
fn sync_signal_counts_every_outcome() {
    let signal = SyncSignal::<i32>::new();
    signal.connect_fallible(|v: &i32| if *v < 0 { Err("negative") } else { Ok(()) });
    signal.emit(&1);
    assert_eq!(
        signal.stats(),
        Stats::default(),
        "counting before enable_stats"
    );

    signal.enable_stats();
    signal.enable_stats(); // a second call keeps the same counters
    signal.set_error_handler(|_| {});
    signal.emit(&1); // delivered
    signal.emit(&-1); // delivered, one failure
    assert!(signal.try_emit(&-2).is_err()); // delivered, one failure
    assert!(signal.emit_collect(&-3).is_err()); // delivered, one failure
    let filter = signal.add_filter(|v: &i32| *v != 99);
    signal.emit(&99); // emitted, delivered to no listener
    filter.disconnect();
    signal.connect(|v: &i32| assert!(*v != 7, "seven"));
    let panicked = catch_unwind(AssertUnwindSafe(|| signal.emit(&7)));
    assert!(panicked.is_err()); // one delivery returned, one panicked
    assert_eq!(counts(signal.stats()), (6, 5, 3, 1, 0));
    assert_eq!(signal.stats().pending, 0);
}

/// An emit with no listener is not counted (it costs nothing).
#[test]
fn emits_without_listeners_are_not_counted() {
    let signal = SyncSignal::<u8>::new();
    signal.enable_stats();
    signal.emit(&1);
    assert_eq!(signal.stats().emitted, 0);
    let _c = signal.connect(|_: &u8| {});
    signal.emit(&1);
    assert_eq!(signal.stats().emitted, 1);
}

/// Four threads emitting at once (each on its own shard, or sharing one):
/// the sums are exact.
#[test]
fn sharded_counts_are_exact_under_concurrency() {
    const PER_THREAD: u64 = 20_000;
    let signal = Arc::new(SyncSignal::<u64>::new());
    signal.enable_stats();
    signal.set_error_handler(|_| {});
    signal.connect_fallible(|v: &u64| if v % 10 == 0 { Err("tenth") } else { Ok(()) });
    signal.add_filter(|v: &u64| v % 100 != 1);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let signal = signal.clone();
            thread::spawn(move || {
                for v in 0..PER_THREAD {
                    signal.emit(&v);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let filtered = 4 * PER_THREAD / 100;
    let failed = 4 * PER_THREAD / 10;
    assert_eq!(
        counts(signal.stats()),
        (4 * PER_THREAD, 4 * PER_THREAD - filtered, failed, 0, 0)
    );
}

/// The bus adds up every signal's counters, sync (once enabled, including
/// signals made before the call) and async; per type too.
#[test]
fn bus_aggregate() {
    struct Early;
    struct Late;
    let bus = EventBus::new();
    bus.connect(|_: &Early| {});
    bus.emit(&Early); // before enable_stats: not counted
    bus.enable_stats();
    bus.emit(&Early);
    bus.connect(|_: &Late| {});
    bus.emit(&Late);
    bus.emit(&Late);
    let numbers = bus.async_signal::<u32>();
    numbers.connect(|_: &u32| {});
    for v in 0..5 {
        numbers.emit(v).unwrap();
    }
    numbers.flush().unwrap();

    bus.signal::<u32>().connect(|_: &u32| {});
    bus.emit(&9u32);

    let total = bus.stats();
    assert_eq!((total.emitted, total.delivered), (9, 9));
    let by_type = bus.stats_by_type();
    let delivered: Vec<(&str, SignalKind, u64)> = by_type
        .iter()
        .map(|(name, kind, s)| (name.rsplit("::").next().unwrap(), *kind, s.delivered))
        .collect();
    assert_eq!(
        delivered,
        [
            ("Early", SignalKind::Sync, 1),
            ("Late", SignalKind::Sync, 2),
            ("u32", SignalKind::Sync, 1),
            ("u32", SignalKind::Async, 5)
        ]
    );
    assert_eq!(by_type.iter().map(|(_, _, s)| *s).sum::<Stats>(), total);
}

/// Per-topic counters: delivered, emitted with no delivery (no listener:
/// not refused, so not `rejected`) and panicked;
/// counters survive the cache being rebuilt by a new listener.
#[test]
fn topic_counters() {
    let topics = Topics::<u32>::new();
    topics.emit("a.b", &0).unwrap(); // before enable_stats: not counted
    topics.enable_stats();
    let _sub = topics
        .connect("a.*", |_: &str, v: &u32| assert!(*v != 13, "thirteen"))
        .unwrap();
    let mut publisher = topics.publisher("a.b").unwrap();
    publisher.emit(&1);
    topics.emit("a.b", &2).unwrap();
    topics.emit("x.y", &3).unwrap(); // nobody connected
    let _other = topics.connect("z", |_: &str, _: &u32| {}).unwrap(); // rebuilds the cache
    publisher.emit(&4);
    let panicked = catch_unwind(AssertUnwindSafe(|| topics.emit("a.c", &13)));
    assert!(panicked.is_err());

    let of = |topic| counts(topics.topic_stats(topic).expect("counted"));
    assert_eq!(of("a.b"), (3, 3, 0, 0, 0));
    assert_eq!(of("x.y"), (1, 0, 0, 0, 0));
    assert_eq!(of("a.c"), (1, 0, 0, 1, 0));
    assert_eq!(topics.topic_stats("never"), None);
    let names: Vec<String> = topics
        .stats_by_topic()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(names, ["a.b", "a.c", "x.y"]);
    assert_eq!(counts(topics.stats()), (5, 3, 0, 1, 0));
}

/// Per-topic counters count deliveries (issue 11, item 7): an emit that
/// reaches three listeners is one event and three deliveries; a
/// listener that panics is one panicked delivery (the one before it is
/// delivered, the one after it is not called); an disconnected listener is
/// no delivery.
#[test]
fn topic_counters_count_deliveries() {
    let topics = Topics::<u32>::new();
    topics.enable_stats();
    let _first = topics.connect("a.*", |_: &str, _: &u32| {}).unwrap();
    let _second = topics
        .connect("a.>", |_: &str, v: &u32| assert!(*v != 13, "thirteen"))
        .unwrap();
    let third = topics.connect(">", |_: &str, _: &u32| {}).unwrap();
    let mut publisher = topics.publisher("a.b").unwrap();
    topics.emit("a.b", &1).unwrap();
    topics.emit("a.b", &2).unwrap();
    publisher.emit(&3);
    let panicked = catch_unwind(AssertUnwindSafe(|| topics.emit("a.c", &13)));
    assert!(panicked.is_err());
    third.disconnect();
    topics.emit("a.b", &4).unwrap();
    publisher.emit(&5);

    let of = |topic| counts(topics.topic_stats(topic).expect("counted"));
    assert_eq!(of("a.b"), (5, 3 * 3 + 2 * 2, 0, 0, 0));
    assert_eq!(of("a.c"), (1, 1, 0, 1, 0));
    assert_eq!(counts(topics.stats()), (6, 14, 0, 1, 0));
}

/// Past 4 096 counted topics, later topics share the `"*"` counters.
#[test]
fn topic_counters_are_bounded() {
    let topics = Topics::<u32>::new();
    topics.enable_stats();
    let _sub = topics.connect(">", |_: &str, _: &u32| {}).unwrap();
    for i in 0..5_000 {
        topics.emit(&format!("t.{i}"), &i).unwrap();
    }
    let by_topic = topics.stats_by_topic();
    assert_eq!(by_topic.len(), 4_097);
    assert!(topics.topic_stats("t.4095").is_some());
    assert_eq!(topics.topic_stats("t.4096"), None, "counted under \"*\"");
    let shared = by_topic.iter().find(|(t, _)| t == "*").unwrap();
    assert_eq!(shared.1.delivered, 5_000 - 4_096);
    assert_eq!(topics.stats().delivered, 5_000);
}

/// A full `HeldSignal` counts what it turns away; what it queued counts when
/// `start` delivers it.
#[test]
fn held_signal_counts_rejections() {
    let held = HeldSignal::<u8>::new(2).unwrap();
    held.signal().enable_stats();
    let _c = held.signal().connect(|_: &u8| {});
    held.emit(1).unwrap();
    held.emit(2).unwrap();
    assert!(held.emit(3).is_err());
    held.start();
    held.emit(4).unwrap();
    assert_eq!(counts(held.signal().stats()), (3, 3, 0, 0, 1));
}

/// `AsyncSignal` counts always; its stats add up with `+`.
#[test]
fn stats_add_up() {
    let signal = AsyncSignal::<u8>::new();
    signal.connect(|_: &u8| {});
    signal.emit(1).unwrap();
    signal.flush().unwrap();
    let one = signal.stats();
    assert_eq!((one + one).delivered, 2);
    let mut sum = Stats::default();
    sum += one;
    assert_eq!(sum, one);
}

/// `EventBus::enable_stats` publishes new lists, which may drop listeners
/// (a fired once-listener here) whose `Drop` uses the bus: it must not run
/// under the bus's lock.
#[test]
fn enabling_bus_stats_runs_no_user_code_under_the_bus_lock() {
    struct OnDrop(EventBus);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.emit(&"listener gone");
        }
    }
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let bus = EventBus::new();
        let guard = OnDrop(bus.clone());
        bus.signal::<u8>().connect_once(move |_: &u8| {
            let _ = &guard;
        });
        bus.emit(&1u8); // fires; the slot stays until the next write
        bus.enable_stats(); // that write drops it
        tx.send(()).unwrap();
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok(),
        "EventBus::enable_stats deadlocked on its own lock"
    );
}

/// Events per test below.
const N: u64 = 1_000;

/// Three plain listeners and one that fails on even values.
fn four_listeners<C>(
    connect: impl Fn(Box<dyn Fn(&u64) -> Result<(), &'static str> + Send + Sync>) -> C,
) -> Vec<C> {
    let mut connections: Vec<C> = (0..3)
        .map(|_| connect(Box::new(|_: &u64| Ok(()))))
        .collect();
    connections.push(connect(Box::new(|v: &u64| {
        if v % 2 == 0 { Err("even") } else { Ok(()) }
    })));
    connections
}

/// 4 listeners × N events: `delivered` is 4 N (a listener that returned an
/// error still had its delivery), `failed` counts failing deliveries.
#[test]
fn sync_signal_counts_deliveries() {
    let signal = SyncSignal::<u64>::new();
    signal.enable_stats();
    signal.set_error_handler(|_| {});
    let _c = four_listeners(|f| signal.connect_fallible(f));
    for v in 0..N {
        signal.emit(&v);
    }
    assert_eq!(counts(signal.stats()), (N, 4 * N, N / 2, 0, 0));

    let mut emitter = signal.emitter();
    for v in 0..N {
        emitter.emit(&v);
    }
    drop(emitter);
    assert_eq!(counts(signal.stats()), (2 * N, 8 * N, N, 0, 0));
}

/// `try_emit` stops at the first error: the deliveries that ran count;
/// `emit_collect` runs all; `emit_until` counts the listeners it called.
#[test]
fn sync_emit_variants_count_the_deliveries_that_ran() {
    let signal = SyncSignal::<u64>::new();
    signal.enable_stats();
    signal.connect(|_: &u64| {});
    signal.connect_fallible(|_: &u64| Err("second"));
    signal.connect(|_: &u64| {});
    signal.connect(|_: &u64| {});
    assert!(signal.try_emit(&0).is_err());
    assert_eq!(counts(signal.stats()), (1, 2, 1, 0, 0));
    assert_eq!(signal.emit_collect(&0).unwrap_err().len(), 1);
    assert_eq!(counts(signal.stats()), (2, 6, 2, 0, 0));
    let cancelled = AtomicBool::new(true);
    assert_eq!(signal.emit_until(&0, &cancelled).unwrap_err().ran(), 0);
    assert_eq!(counts(signal.stats()), (3, 6, 2, 0, 0));
}

/// A panic unwinding out of a sync emit: the deliveries before it count as
/// delivered, the panicking one as panicked, the ones after it not at all.
#[test]
fn sync_panic_counts_one_panicked_delivery() {
    let signal = SyncSignal::<u64>::new();
    signal.enable_stats();
    signal.connect(|_: &u64| {});
    signal.connect(|_: &u64| {});
    signal.connect(|v: &u64| assert!(*v != 7, "seven"));
    signal.connect(|_: &u64| {});
    let panicked = catch_unwind(AssertUnwindSafe(|| signal.emit(&7)));
    assert!(panicked.is_err());
    assert_eq!(counts(signal.stats()), (1, 2, 0, 1, 0));
}

/// A blocked listener, a `connect_filtered` listener that filters an event
/// out, and an event a signal-level filter rejects make no delivery; the
/// event still counts as emitted (it was accepted), not as rejected.
#[test]
fn sync_skipped_listeners_are_not_deliveries() {
    let signal = SyncSignal::<u64>::new();
    signal.enable_stats();
    signal.connect(|_: &u64| {});
    let blocked = signal.connect(|_: &u64| {});
    let _guard = blocked.block();
    signal.connect_filtered(|v: &u64| v % 2 == 0, |_: &u64| {});
    signal.connect(|_: &u64| {}).disconnect();
    let _small = signal.add_filter(|v: &u64| *v < N);
    for v in 0..2 * N {
        signal.emit(&v);
    }
    assert_eq!(counts(signal.stats()), (2 * N, N + N / 2, 0, 0, 0));
    // Filtered out is neither an error nor a delivery under any variant.
    assert!(signal.try_emit(&1).is_ok());
    assert!(signal.emit_collect(&1).is_ok());
    assert_eq!(counts(signal.stats()), (2 * N + 2, N + N / 2 + 2, 0, 0, 0));
    assert_eq!(signal.error_count(), 0);
}

/// 4 listeners × N events on an `AsyncSignal`, under both orderings.
#[test]
fn async_signal_counts_deliveries() {
    for ordering in [DeliveryOrder::Unordered, DeliveryOrder::PerListener] {
        let signal = AsyncSignal::<u64>::builder()
            .ordering(ordering)
            .build()
            .unwrap();
        signal.set_error_handler(|_| {});
        let _c = four_listeners(|f| signal.connect_fallible(f));
        for v in 0..N {
            signal.emit(v).unwrap();
        }
        signal.flush().unwrap();
        let stats = signal.stats();
        assert_eq!(counts(stats), (N, 4 * N, N / 2, 0, 0), "{ordering:?}");
        assert_eq!(stats.pending, 0);
    }
}

/// A caught panic is one panicked delivery, not a delivered one; the other
/// listeners' deliveries of that event count.
#[test]
fn async_panics_count_per_delivery() {
    let signal = AsyncSignal::<u64>::builder()
        .panic_handler(|_| {})
        .build()
        .unwrap();
    for _ in 0..3 {
        signal.connect(|_: &u64| {});
    }
    signal.connect(|v: &u64| assert!(v % 10 != 0, "tenth"));
    for v in 0..N {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    assert_eq!(counts(signal.stats()), (N, 4 * N - N / 10, 0, N / 10, 0));
}

/// `emit_collect` counts like `emit`: one event, one delivery per listener
/// that returned, one panic per listener that panicked.
#[test]
fn emit_collect_counts_deliveries() {
    let signal = AsyncSignal::<u64>::new();
    signal.connect(|_: &u64| {});
    signal.connect_fallible(|_: &u64| Err("no"));
    signal.connect(|_: &u64| panic!("always"));
    signal.connect(|_: &u64| {});
    assert_eq!(signal.emit_collect(1).unwrap_err().len(), 2);
    assert_eq!(counts(signal.stats()), (1, 3, 1, 1, 0));
}

/// As for `SyncSignal`: blocked and filtered-out listeners make no
/// delivery, and an event the signal's filters reject reaches none.
#[test]
fn async_skipped_listeners_are_not_deliveries() {
    let signal = AsyncSignal::<u64>::new();
    signal.connect(|_: &u64| {});
    let blocked = signal.connect(|_: &u64| {});
    let _guard = blocked.block();
    signal.connect_filtered(|v: &u64| v % 2 == 0, |_: &u64| {});
    signal.connect(|_: &u64| {}).disconnect();
    let _small = signal.add_filter(|v: &u64| *v < N);
    for v in 0..2 * N {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    assert!(signal.emit_collect(2).is_ok());
    assert_eq!(counts(signal.stats()), (2 * N + 1, N + N / 2 + 2, 0, 0, 0));
}

/// The bus adds the signals' deliveries up: 4 listeners on a sync and on
/// an async signal, N events each.
#[test]
fn bus_aggregates_count_deliveries() {
    let bus = EventBus::new();
    bus.enable_stats();
    let sync = bus.signal::<u32>();
    let numbers = bus.async_signal::<u64>();
    for _ in 0..4 {
        sync.connect(|_: &u32| {});
        numbers.connect(|_: &u64| {});
    }
    for v in 0..N {
        bus.emit(&(v as u32));
        numbers.emit(v).unwrap();
    }
    numbers.flush().unwrap();
    assert_eq!(counts(bus.stats()), (2 * N, 8 * N, 0, 0, 0));
    let delivered: Vec<(SignalKind, u64)> = bus
        .stats_by_type()
        .iter()
        .map(|(_, kind, s)| (*kind, s.delivered))
        .collect();
    assert_eq!(
        delivered,
        [(SignalKind::Sync, 4 * N), (SignalKind::Async, 4 * N)]
    );
}

/// A `HeldSignal` with 4 listeners: what it held counts 4 deliveries each
/// at `start`; what it refused is one rejected event.
#[test]
fn held_signal_counts_deliveries() {
    let held = HeldSignal::<u64>::new(2).unwrap();
    held.signal().enable_stats();
    for _ in 0..4 {
        held.signal().connect(|_: &u64| {});
    }
    held.emit(0).unwrap();
    held.emit(1).unwrap();
    assert!(held.emit(2).is_err());
    held.start();
    for v in 0..N {
        held.emit(v).unwrap();
    }
    assert_eq!(counts(held.signal().stats()), (N + 2, 4 * (N + 2), 0, 0, 1));
}

/// A `HistorySignal` with 4 listeners: 4 N deliveries; a replay to a new
/// listener is not an emit and is not counted.
#[test]
fn history_signal_counts_deliveries() {
    let history = HistorySignal::<u64>::new(8).unwrap();
    history.enable_stats();
    for _ in 0..4 {
        history.connect(|_: &u64| {});
    }
    for v in 0..N {
        history.emit(v);
    }
    history.connect_with_replay(|_: &u64| {});
    assert_eq!(counts(history.stats()), (N, 4 * N, 0, 0, 0));
}
