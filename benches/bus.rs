//! The bus against bare signals, in one criterion run:
//!
//! - `handle`: emit through a held `bus.signal::<E>()` handle vs a bare
//!   `SyncSignal<E>`, 4 listeners (goal: ≤ 1.05 ×);
//! - `bus_emit`: `bus.emit(&e)`, which looks the signal up per emit;
//! - `topics`: emit on a cached topic with 100 patterns connected (10 of
//!   them match), through `Topics::emit` (a hash look-up) and through a
//!   `Publisher` (a counter check), vs a bare signal with the 10 matching
//!   listeners (goal: ≤ 1.5 ×);
//! - `stats`: the same bare signal with its delivery counters on;
//! - `topic cache`: `Topics::emit` cycling over N distinct topics (4
//!   patterns connected, 2 of which match each topic), N = 1 000 (every
//!   topic cached: the baseline), 1 025 (just past the 1 024 the cache was
//!   first built for) and 10 240 (10 × that; goal: ≤ 3 × the baseline);
//! - `requests`: a scatter-gather request answered by 4 responders, on the
//!   calling thread (`request`) and on rayon's pool (`gather`).
//!
//! ```sh
//! cargo bench --bench bus
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

mod support;

use sigwire::SyncSignal;
use sigwire::bus::{EventBus, Requests, Topics};
use support::topics::{TOPIC, connect_100};

struct Tick(u64);

fn work(v: u64, i: u64) {
    black_box(v.wrapping_mul(i));
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bus/4 listeners");
    let bare = SyncSignal::<Tick>::new();
    let counted = SyncSignal::<Tick>::new();
    counted.enable_stats();
    let bus = EventBus::new();
    let _conns: Vec<_> = (0..4)
        .flat_map(|i| {
            [
                bare.connect(move |t: &Tick| work(t.0, i)),
                counted.connect(move |t: &Tick| work(t.0, i)),
                bus.connect(move |t: &Tick| work(t.0, i)),
            ]
        })
        .collect();
    let handle = bus.signal::<Tick>();
    let mut n = 0u64;
    group.bench_function("bare signal", |b| {
        b.iter(|| {
            n += 1;
            bare.emit(black_box(&Tick(n)));
        })
    });
    group.bench_function("held handle", |b| {
        b.iter(|| {
            n += 1;
            handle.emit(black_box(&Tick(n)));
        })
    });
    group.bench_function("stats on", |b| {
        b.iter(|| {
            n += 1;
            counted.emit(black_box(&Tick(n)));
        })
    });
    group.bench_function("bus.emit", |b| {
        b.iter(|| {
            n += 1;
            bus.emit(black_box(&Tick(n)));
        })
    });
    group.finish();

    let mut group = c.benchmark_group("topics/100 patterns, 10 match");
    let topics = Topics::<u64>::new();
    let matching = SyncSignal::<u64>::new();
    connect_100(&topics, &matching);
    group.bench_function("bare signal", |b| {
        b.iter(|| {
            n += 1;
            matching.emit(black_box(&n));
        })
    });
    let mut publisher = topics.publisher(TOPIC).unwrap();
    group.bench_function("publisher", |b| {
        b.iter(|| {
            n += 1;
            publisher.emit(black_box(&n));
        })
    });
    group.bench_function("cached topic", |b| {
        b.iter(|| {
            n += 1;
            topics.emit(black_box(TOPIC), black_box(&n)).unwrap();
        })
    });
    group.finish();

    topic_cache(c);

    let mut group = c.benchmark_group("requests/4 responders");
    let requests = Requests::<u64, u64>::new();
    for i in 0..4u64 {
        requests.respond(format!("r{i}"), move |v: &u64| Ok(Some(v.wrapping_mul(i))));
    }
    group.bench_function("request", |b| {
        b.iter(|| {
            n += 1;
            black_box(requests.request(black_box(&n)));
        })
    });
    group.bench_function("gather", |b| {
        b.iter(|| {
            n += 1;
            black_box(requests.gather(black_box(n), 4, Duration::from_secs(10)));
        })
    });
    group.finish();
}

/// `Topics::emit` cycling over N distinct topics, each matched by 2 of the
/// 4 connected patterns.
fn topic_cache(c: &mut Criterion) {
    let mut group = c.benchmark_group("topic cache/cycling N topics");
    let topics = Topics::<u64>::new();
    for (i, pattern) in ["user.*.created", "user.>", "order.>", "audit.*"]
        .into_iter()
        .enumerate()
    {
        let i = i as u64;
        let listener = topics.connect(pattern, move |_: &str, v: &u64| work(*v, i));
        std::mem::forget(listener.expect("a valid pattern"));
    }
    for n in [1_000, 1_025, 10_240] {
        let names: Vec<String> = (0..n).map(|i| format!("user.{i}.created")).collect();
        let mut at = 0;
        group.bench_function(format!("N = {n}"), |b| {
            b.iter(|| {
                at = (at + 1) % names.len();
                topics
                    .emit(black_box(&names[at]), black_box(&(at as u64)))
                    .unwrap();
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
