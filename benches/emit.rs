//! Cost of one emit, by listener count, against hand-written baselines.
//!
//! One criterion group per listener count (`emit/0`, `emit/1`, ...), each
//! with the same five variants side by side:
//!
//! - `direct`: a loop over `Vec<Box<dyn Fn(&Tick) + Send + Sync>>`, the floor;
//! - `rwlock`: `RwLock<Vec<Arc<dyn Fn(&Tick) + Send + Sync>>>`, read lock,
//!   iterate, call;
//! - `signals2`: `signals2::Signal<(Tick,)>::emit`;
//! - `sigwire_emit`: [`SyncSignal::emit`];
//! - `sigwire_emitter`: [`sigwire::Emitter::emit`], the emitter made once,
//!   outside the timed loop.
//!
//! Every listener does the same work, [`work`]. Run with
//! `cargo bench --bench emit`; criterion prints each median. The report
//! (`cargo bench --bench report`) measures the same variants, shorter, and
//! turns them into the tables and goals of `docs/benchmarks.md`.

use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use signals2::{Connect1, Emit1};
use sigwire::SyncSignal;

/// The event: small and `Copy`, since signals2 clones its arguments.
#[derive(Clone, Copy, Debug)]
struct Tick {
    price: u64,
    qty: u64,
}

/// What every listener does, in every variant: a little arithmetic on the
/// event and the listener's own index, kept alive by `black_box`.
#[inline(always)]
fn work(tick: &Tick, index: u64) {
    black_box(tick.price.wrapping_mul(index) ^ tick.qty);
}

const COUNTS: [u64; 5] = [0, 1, 10, 100, 1000];

type Listener = dyn Fn(&Tick) + Send + Sync;

/// Times `emit` on a fresh event each iteration, so nothing is hoisted.
/// Whatever `emit` returns (signals2 returns its combiner's `Option<()>`) is
/// handed to criterion, which black-boxes it.
fn bench_variant<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    mut emit: impl FnMut(&Tick) -> R,
) {
    let mut n = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let tick = Tick {
                price: n,
                qty: n >> 1,
            };
            emit(black_box(&tick))
        })
    });
}

fn emit(c: &mut Criterion) {
    for count in COUNTS {
        let mut group = c.benchmark_group(format!("emit/{count}"));

        let direct: Vec<Box<Listener>> = (0..count)
            .map(|i| Box::new(move |t: &Tick| work(t, i)) as Box<Listener>)
            .collect();
        bench_variant(&mut group, "direct", |tick| {
            for listener in &direct {
                listener(tick);
            }
        });

        let rwlock: RwLock<Vec<Arc<Listener>>> = RwLock::new(
            (0..count)
                .map(|i| Arc::new(move |t: &Tick| work(t, i)) as Arc<Listener>)
                .collect(),
        );
        bench_variant(&mut group, "rwlock", |tick| {
            let listeners = rwlock.read().unwrap();
            for listener in listeners.iter() {
                listener(tick);
            }
        });

        let signals2: signals2::Signal<(Tick,)> = signals2::Signal::new();
        let _signals2_connections: Vec<_> = (0..count)
            .map(|i| signals2.connect(move |t: Tick| work(&t, i)))
            .collect();
        bench_variant(&mut group, "signals2", |tick| signals2.emit(*tick));

        let signal = SyncSignal::<Tick>::new();
        let _connections: Vec<_> = (0..count)
            .map(|i| signal.connect(move |t: &Tick| work(t, i)))
            .collect();
        bench_variant(&mut group, "sigwire_emit", |tick| signal.emit(tick));

        let mut emitter = signal.emitter();
        bench_variant(&mut group, "sigwire_emitter", |tick| emitter.emit(tick));

        group.finish();
    }
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
    targets = emit
}
criterion_main!(benches);
