//! `AsyncSignal` against what a user would write instead, in one run:
//!
//! - `rayon_spawn`: one `rayon::spawn` per listener, sharing an `Arc<T>`;
//! - `crossbeam`: `crossbeam-channel` fan-out, one bounded channel and one
//!   worker thread per listener;
//! - `broadcast`: `tokio::sync::broadcast`, one receiver per listener, each
//!   on its own thread (`blocking_recv`);
//! - `sigwire`: `AsyncSignal::emit` (rayon's global pool, `Unordered`).
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
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_utils::CachePadded;
use sigwire::{AsyncSignal, Overflow};

const LISTENERS: [usize; 3] = [1, 4, 16];

/// Events per end-to-end round.
const BURST: u64 = 10_000;

/// Emits timed back to back in the caller-side measure; below every
/// variant's queue capacity, so no emit waits for room.
const CHUNK: u64 = 256;

/// Queue capacity for every bounded variant.
const CAPACITY: usize = 4096;

/// One listener's count of handled events, alone in its cache line.
type Counter = Arc<CachePadded<AtomicU64>>;

fn counters(n: usize) -> Vec<Counter> {
    (0..n).map(|_| Counter::default()).collect()
}

fn handle(counter: &AtomicU64, value: u64) {
    black_box(value);
    // Relaxed: the harness only waits for the count to reach a target.
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Waits until every counter reached `target`.
fn wait_all(counters: &[Counter], target: u64) {
    for counter in counters {
        while counter.load(Ordering::Relaxed) < target {
            thread::yield_now();
        }
    }
}

/// A way to deliver `u64` events to `n` listeners.
trait Variant {
    /// Hands one event to every listener.
    fn emit(&self, value: u64);
    /// Returns once every event emitted so far was handled everywhere.
    fn drain(&self);
}

struct Sigwire {
    signal: AsyncSignal<u64>,
}

impl Sigwire {
    fn new(counters: &[Counter]) -> Self {
        let signal = AsyncSignal::builder()
            .capacity(CAPACITY)
            .overflow(Overflow::Block)
            .build()
            .unwrap();
        for counter in counters {
            let counter = counter.clone();
            signal.connect(move |v: &u64| handle(&counter, *v));
        }
        Self { signal }
    }
}

impl Variant for Sigwire {
    fn emit(&self, value: u64) {
        self.signal.emit(value).unwrap();
    }
    fn drain(&self) {
        self.signal.flush().unwrap();
    }
}

struct RayonSpawn {
    counters: Vec<Counter>,
    emitted: AtomicU64,
}

impl Variant for RayonSpawn {
    fn emit(&self, value: u64) {
        let shared = Arc::new(value);
        for counter in &self.counters {
            let (shared, counter) = (shared.clone(), counter.clone());
            rayon::spawn(move || handle(&counter, *shared));
        }
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }
    fn drain(&self) {
        wait_all(&self.counters, self.emitted.load(Ordering::Relaxed));
    }
}

struct Crossbeam {
    senders: Vec<crossbeam_channel::Sender<u64>>,
    counters: Vec<Counter>,
    emitted: AtomicU64,
}

impl Crossbeam {
    fn new(counters: &[Counter]) -> Self {
        let senders = counters
            .iter()
            .map(|counter| {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
                let counter = counter.clone();
                thread::spawn(move || {
                    for value in rx {
                        handle(&counter, value);
                    }
                });
                tx
            })
            .collect();
        Self {
            senders,
            counters: counters.to_vec(),
            emitted: AtomicU64::new(0),
        }
    }
}

impl Variant for Crossbeam {
    fn emit(&self, value: u64) {
        for tx in &self.senders {
            tx.send(value).unwrap();
        }
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }
    fn drain(&self) {
        wait_all(&self.counters, self.emitted.load(Ordering::Relaxed));
    }
}

struct Broadcast {
    tx: tokio::sync::broadcast::Sender<u64>,
    counters: Vec<Counter>,
    emitted: AtomicU64,
}

impl Broadcast {
    fn new(counters: &[Counter]) -> Self {
        let (tx, _) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
        for counter in counters {
            let mut rx = tx.subscribe();
            let counter = counter.clone();
            thread::spawn(move || {
                while let Ok(value) = rx.blocking_recv() {
                    handle(&counter, value);
                }
            });
        }
        Self {
            tx,
            counters: counters.to_vec(),
            emitted: AtomicU64::new(0),
        }
    }
}

impl Variant for Broadcast {
    fn emit(&self, value: u64) {
        // broadcast never blocks the sender: it overwrites the oldest
        // value and receivers lag. Keep it from lapping the receivers, as
        // a user who must not lose events would.
        while self.tx.len() >= CAPACITY - 1 {
            thread::yield_now();
        }
        self.tx.send(value).unwrap();
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }
    fn drain(&self) {
        wait_all(&self.counters, self.emitted.load(Ordering::Relaxed));
    }
}

fn variants(n: usize) -> Vec<(&'static str, Box<dyn Variant>)> {
    vec![
        (
            "rayon_spawn",
            Box::new(RayonSpawn {
                counters: counters(n),
                emitted: AtomicU64::new(0),
            }) as Box<dyn Variant>,
        ),
        ("crossbeam", Box::new(Crossbeam::new(&counters(n)))),
        ("broadcast", Box::new(Broadcast::new(&counters(n)))),
        ("sigwire", Box::new(Sigwire::new(&counters(n)))),
    ]
}

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
    }
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
