//! A fixed emit loop for counting instructions with callgrind, which is
//! repeatable where wall-clock timings on a shared machine are not.
//!
//! ```sh
//! cargo bench --bench instructions --no-run   # prints the binary's path
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/instructions-<hash> emitter 100000 1
//! ```
//!
//! Arguments: the variant, the number of emits and the number of listeners.
//! The variants: `direct` (a loop over boxed closures), `emit`, `emitter`
//! (`Emitter::emit`), `stats` (`emit` with the signal's counters on),
//! `filter` (`emit` with one signal-level filter that lets every event
//! through), `fallible` (`emit` to `connect_fallible` listeners that return
//! `Ok`), `writer` (one connect and one disconnect per iteration on a
//! signal with the given listeners, no emit),
//! `held` (`emit` through an `EventBus::signal` handle), `topic`
//! (`Topics::emit` on a cached topic every listener's pattern matches) and
//! `publisher` (the same through a `Publisher`); also `cycle`, `Topics::emit`
//! cycling over as many distinct topics as the listener count, 2 of 4
//! patterns matching each (the `topic cache` group of `benches/bus.rs`),
//! which `instructions.sh` does not run. Run it with two emit counts
//! and divide the difference of the two totals by the difference of the
//! counts: that is the instructions per emit, free of start-up costs.
//! `cargo bench` itself runs it once with small defaults, so the target
//! stays working.

use std::hint::black_box;

use sigwire::bus::{EventBus, Publisher, Topics};
use sigwire::{Emitter, SyncSignal};

type Listener = Box<dyn Fn(&u64) + Send + Sync>;

#[inline(never)]
fn direct(listeners: &[Listener], n: u64) {
    for i in 0..n {
        for f in listeners {
            f(&black_box(i));
        }
    }
}

#[inline(never)]
fn emit(signal: &SyncSignal<u64>, n: u64) {
    for i in 0..n {
        signal.emit(&black_box(i));
    }
}

#[inline(never)]
fn emitter(emitter: &mut Emitter<'_, u64>, n: u64) {
    for i in 0..n {
        emitter.emit(&black_box(i));
    }
}

#[inline(never)]
fn topic(topics: &Topics<u64>, n: u64) {
    for i in 0..n {
        let _ = topics.emit(black_box("market.AAPL.trade"), &black_box(i));
    }
}

#[inline(never)]
fn cycle(topics: &Topics<u64>, names: &[String], n: u64) {
    for i in 0..n {
        let name = &names[i as usize % names.len()];
        let _ = topics.emit(black_box(name), &black_box(i));
    }
}

#[inline(never)]
fn publisher(publisher: &mut Publisher<u64>, n: u64) {
    for i in 0..n {
        publisher.emit(&black_box(i));
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let variant = args.first().map_or("emit", String::as_str);
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let count: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);

    let signal = SyncSignal::<u64>::new();
    let mut listeners: Vec<Listener> = Vec::new();
    for _ in 0..count {
        signal.connect(|v: &u64| {
            black_box(*v);
        });
        listeners.push(Box::new(|v: &u64| {
            black_box(*v);
        }));
    }
    match variant {
        "direct" => direct(&listeners, n),
        "emitter" => emitter(&mut signal.emitter(), n),
        "stats" => {
            signal.enable_stats();
            emit(&signal, n);
        }
        "filter" => {
            let _filter = signal.add_filter(|v: &u64| black_box(*v) != u64::MAX);
            emit(&signal, n);
        }
        "writer" => {
            // One connect and one disconnect per iteration, no emit.
            for _ in 0..n {
                let conn = signal.connect(|v: &u64| {
                    black_box(*v);
                });
                conn.disconnect();
            }
        }
        "fallible" => {
            let fallible = SyncSignal::<u64>::new();
            for _ in 0..count {
                fallible.connect_fallible(|v: &u64| {
                    black_box(*v);
                    Ok::<(), std::fmt::Error>(())
                });
            }
            emit(&fallible, n);
        }
        "held" => {
            let bus = EventBus::new();
            let held = bus.signal::<u64>();
            for _ in 0..count {
                held.connect(|v: &u64| {
                    black_box(*v);
                });
            }
            emit(&held, n);
        }
        "topic" | "publisher" => {
            let topics = Topics::<u64>::new();
            for _ in 0..count {
                let _ = topics.connect("market.*.trade", |_: &str, v: &u64| {
                    black_box(*v);
                });
            }
            if variant == "topic" {
                topic(&topics, n);
            } else {
                publisher(&mut topics.publisher("market.AAPL.trade").unwrap(), n);
            }
        }
        "cycle" => {
            let topics = Topics::<u64>::new();
            for pattern in ["user.*.created", "user.>", "order.>", "audit.*"] {
                let _ = topics.connect(pattern, |_: &str, v: &u64| {
                    black_box(*v);
                });
            }
            let names: Vec<String> = (0..count).map(|i| format!("user.{i}.created")).collect();
            cycle(&topics, &names, n);
        }
        "subscribed" => {
            // A subscription read after every emit: the feeder's clone into
            // the ring (the slot's `Arc` reused in place), and `try_recv`.
            let mut sub = signal.subscribe_with(64).unwrap();
            for i in 0..n {
                signal.emit(&black_box(i));
                black_box(sub.try_recv().unwrap());
            }
        }
        "subscribed_idle" => {
            // A subscription that never reads: the ring laps it.
            let _sub = signal.subscribe_with(64).unwrap();
            emit(&signal, n);
        }
        _ => emit(&signal, n),
    }
}
