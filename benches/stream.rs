//! sigwire from async code against what an async user would pick instead,
//! in one run (issue 14's goals):
//!
//! - `stream/4/*`: 4 subscribers, each a task on one tokio multi-thread
//!   runtime (2 workers), fed from the bench thread: sigwire's
//!   `Subscription` read as a `Stream` (`sigwire_stream`) and with
//!   `recv_async` (`sigwire_recv_async`), `tokio::sync::broadcast`
//!   receivers (`tokio_broadcast`), and `async-broadcast` receivers
//!   (`async_broadcast`). Delivered events per second, end to end: `BURST`
//!   events, timed until every subscriber handled every one. No variant
//!   may lose one: the emitter keeps from lapping the slowest reader.
//! - `emit_async/4/*`: what an `AsyncSignal` emit costs the caller with
//!   room (4 listeners), `emit` against `emit_async` awaited in a loop
//!   under `futures_executor::block_on`, timed in chunks of `CHUNK` as in
//!   `benches/async.rs`.
//!
//! ```sh
//! cargo bench --bench stream --features stream
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use sigwire::{AsyncSignal, Overflow, SyncSignal};

mod support;

use support::fanout::{BURST, CAPACITY, CHUNK, Counter, counters, handle, wait_all};

const READERS: usize = 4;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Waits until no reader is more than a ring behind `emitted` (the
/// keep-from-lapping rule every variant follows).
fn keep_within(counters: &[Counter], emitted: u64, slowest: &AtomicU64) {
    if emitted - slowest.load(Ordering::Relaxed) < CAPACITY as u64 - 1 {
        return;
    }
    loop {
        let now = counters.iter().map(|c| c.load(Ordering::Relaxed)).min();
        let now = now.unwrap_or(emitted);
        slowest.store(now, Ordering::Relaxed);
        if emitted - now < CAPACITY as u64 - 1 {
            return;
        }
        thread::yield_now();
    }
}

/// One way to feed `READERS` async readers.
trait Feed {
    fn emit(&self, value: u64);
    fn counters(&self) -> &[Counter];
}

struct Sigwire {
    signal: SyncSignal<u64>,
    counters: Vec<Counter>,
    emitted: AtomicU64,
    slowest: AtomicU64,
}

impl Sigwire {
    fn new(runtime: &tokio::runtime::Runtime, as_stream: bool) -> Self {
        let signal = SyncSignal::new();
        let counters = counters(READERS);
        for counter in &counters {
            let mut sub = signal.subscribe_with(CAPACITY).unwrap();
            let counter = counter.clone();
            runtime.spawn(async move {
                if as_stream {
                    while let Some(item) = sub.next().await {
                        handle(&counter, *item.expect("lagged"));
                    }
                } else {
                    while let Ok(item) = sub.recv_async().await {
                        handle(&counter, *item);
                    }
                }
            });
        }
        Self {
            signal,
            counters,
            emitted: AtomicU64::new(0),
            slowest: AtomicU64::new(0),
        }
    }
}

impl Feed for Sigwire {
    fn emit(&self, value: u64) {
        let emitted = self.emitted.load(Ordering::Relaxed);
        keep_within(&self.counters, emitted, &self.slowest);
        self.signal.emit(&value);
        self.emitted.store(emitted + 1, Ordering::Relaxed);
    }
    fn counters(&self) -> &[Counter] {
        &self.counters
    }
}

struct TokioBroadcast {
    tx: tokio::sync::broadcast::Sender<u64>,
    counters: Vec<Counter>,
}

impl TokioBroadcast {
    fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let (tx, _) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        let counters = counters(READERS);
        for counter in &counters {
            let mut rx = tx.subscribe();
            let counter = counter.clone();
            runtime.spawn(async move {
                while let Ok(value) = rx.recv().await {
                    handle(&counter, value);
                }
            });
        }
        Self { tx, counters }
    }
}

impl Feed for TokioBroadcast {
    fn emit(&self, value: u64) {
        // Never overwrites unread values: as in `benches/async.rs`.
        while self.tx.len() >= CAPACITY - 1 {
            thread::yield_now();
        }
        self.tx.send(value).unwrap();
    }
    fn counters(&self) -> &[Counter] {
        &self.counters
    }
}

struct AsyncBroadcast {
    tx: async_broadcast::Sender<u64>,
    counters: Vec<Counter>,
}

impl AsyncBroadcast {
    fn new(runtime: &tokio::runtime::Runtime) -> Self {
        let (tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
        let counters = counters(READERS);
        for counter in &counters {
            let mut rx = rx.clone();
            let counter = counter.clone();
            runtime.spawn(async move {
                while let Ok(value) = rx.recv().await {
                    handle(&counter, value);
                }
            });
        }
        drop(rx);
        Self { tx, counters }
    }
}

impl Feed for AsyncBroadcast {
    fn emit(&self, value: u64) {
        // Full: waits for the slowest receiver (its default), here on the
        // bench thread.
        self.tx.broadcast_blocking(value).unwrap();
    }
    fn counters(&self) -> &[Counter] {
        &self.counters
    }
}

fn bench(c: &mut Criterion) {
    let runtime = runtime();
    let feeds: Vec<(&str, Box<dyn Feed>)> = vec![
        ("sigwire_stream", Box::new(Sigwire::new(&runtime, true))),
        (
            "sigwire_recv_async",
            Box::new(Sigwire::new(&runtime, false)),
        ),
        ("tokio_broadcast", Box::new(TokioBroadcast::new(&runtime))),
        ("async_broadcast", Box::new(AsyncBroadcast::new(&runtime))),
    ];
    let mut group = c.benchmark_group(format!("stream/{READERS}"));
    group.throughput(Throughput::Elements(BURST));
    for (name, feed) in &feeds {
        let sent = AtomicU64::new(0);
        group.bench_function(*name, |b| {
            b.iter_custom(|rounds| {
                let start = Instant::now();
                for _ in 0..rounds {
                    for value in 0..BURST {
                        feed.emit(value);
                    }
                    let target = sent.fetch_add(BURST, Ordering::Relaxed) + BURST;
                    wait_all(feed.counters(), target);
                }
                start.elapsed()
            })
        });
    }
    group.finish();
    drop(feeds);
    drop(runtime);

    let signal = AsyncSignal::<u64>::builder()
        .capacity(CAPACITY)
        .overflow(Overflow::Block)
        .build()
        .unwrap();
    let handled = counters(READERS);
    for counter in &handled {
        let counter = counter.clone();
        signal.connect(move |v: &u64| handle(&counter, *v));
    }
    let signal = Arc::new(signal);
    let mut group = c.benchmark_group(format!("emit_async/{READERS}"));
    for (name, awaited) in [("emit", false), ("emit_async", true)] {
        let signal = Arc::clone(&signal);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(CHUNK);
                    let start = Instant::now();
                    if awaited {
                        futures_executor::block_on(async {
                            for value in 0..chunk {
                                signal
                                    .emit_async(std::hint::black_box(value))
                                    .await
                                    .unwrap();
                            }
                        });
                    } else {
                        for value in 0..chunk {
                            signal.emit(std::hint::black_box(value)).unwrap();
                        }
                    }
                    timed += start.elapsed();
                    signal.flush().unwrap();
                    left -= chunk;
                }
                timed
            })
        });
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
