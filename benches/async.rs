//! `AsyncSignal` against what a user would write instead, in one run:
//!
//! - `rayon_spawn`: one `rayon::spawn` per listener, sharing an `Arc<T>`;
//! - `crossbeam`: `crossbeam-channel` fan-out, one bounded channel and one
//!   worker thread per listener;
//! - `broadcast`: `tokio::sync::broadcast`, one receiver per listener, each
//!   on its own thread (`blocking_recv`);
//! - `sigwire`: `AsyncSignal::emit` (rayon's global pool, `Unordered`);
//! - `subscription`: `SyncSignal` subscriptions, one thread each;
//! - `disruptor`: the `disruptor` crate, one spinning consumer thread per
//!   listener, made and dropped around its own group (`async_disruptor/<n>`)
//!   so that its spinning does not slow the others.
//!
//! And `async_slow/4`: three blocking listeners on a pool of 4 threads,
//! alone (`fast_only`) and beside a fourth, `Policy::DropOldest`, that
//! sleeps 1 ms per event (`with_slow`); the figure is the fast ones'
//! throughput.
//!
//! Two measures, for 1, 4 and 16 listeners:
//!
//! - `async_e2e/<n>`: delivered events per second, end to end: `BURST`
//!   events emitted, timed until every listener has handled every one;
//! - `async_emit/<n>`: what `emit` costs the caller, with room in the queue:
//!   emits are timed in chunks of `CHUNK`, and the chunk is drained (not
//!   timed) before the next.
//!
//! Every listener does the same small work: a `black_box`, and a count in
//! its own cache line (which is how the harness knows delivery finished).
//!
//! ```sh
//! cargo bench --bench async
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};

mod support;

use support::fanout::{BURST, CHUNK, Disruptor, LISTENERS, SlowBeside, Variant, variants};

fn end_to_end(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, variant: &dyn Variant) {
    group.bench_function(name, |b| {
        b.iter_custom(|rounds| {
            let start = Instant::now();
            for _ in 0..rounds {
                for value in 0..BURST {
                    variant.emit(value);
                }
                variant.drain();
            }
            start.elapsed()
        })
    });
}

fn caller_side(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, variant: &dyn Variant) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(CHUNK);
                let start = Instant::now();
                for value in 0..chunk {
                    variant.emit(black_box(value));
                }
                timed += start.elapsed();
                variant.drain();
                left -= chunk;
            }
            timed
        })
    });
}

fn bench(c: &mut Criterion) {
    for n in LISTENERS {
        let variants = variants(n);
        let mut group = c.benchmark_group(format!("async_e2e/{n}"));
        group.throughput(Throughput::Elements(BURST));
        for (name, variant) in &variants {
            end_to_end(&mut group, name, variant.as_ref());
        }
        group.finish();

        let mut group = c.benchmark_group(format!("async_emit/{n}"));
        for (name, variant) in &variants {
            caller_side(&mut group, name, variant.as_ref());
        }
        group.finish();
        drop(variants);

        let mut group = c.benchmark_group(format!("async_disruptor/{n}"));
        group.throughput(Throughput::Elements(BURST));
        end_to_end(&mut group, "disruptor", &Disruptor::new(n));
        group.finish();
    }

    let mut group = c.benchmark_group("async_slow/4");
    group.throughput(Throughput::Elements(BURST));
    for (name, slow) in [("fast_only", false), ("with_slow", true)] {
        end_to_end(&mut group, name, &SlowBeside::new(3, slow, 4));
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
