//! The measurements: one run of every part, and the median of several.

use std::alloc::System;
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use indicatif::ProgressBar;
use signals2::{Connect1, Emit1};
use sigwire::SyncSignal;
use sigwire::bus::{EventBus, Topics};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use crate::Settings;
use crate::support::contention::{self, Writer};
use crate::support::{self, fanout, topics as topics_workload};

// Counts allocations for the memory figure. It adds a few atomic
// additions to each allocation; no emit measured here allocates.
#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

pub(crate) const COUNTS: [usize; 5] = [0, 1, 10, 100, 1000];
pub(crate) const EMIT_VARIANTS: [&str; 5] = [
    "direct loop",
    "RwLock",
    "signals2",
    "sigwire emit",
    "sigwire Emitter::emit",
];
pub(crate) const FANOUT_LISTENERS: [usize; 3] = [1, 4, 16];
pub(crate) const WRITERS: [Writer; 3] = [Writer::None, Writer::TightLoop, Writer::Every100us];
pub(crate) const EMITTERS: [usize; 2] = [1, 2];
pub(crate) const WRITER_LISTENERS: [usize; 2] = [10, 1000];
pub(crate) const DEPTHS: [usize; 5] = [1, 8, 9, 16, 32];
/// Progress steps per run: emit counts, fan-out sizes, contention
/// scenarios, writer sizes, memory, nested, bus.
pub(crate) const STEPS: usize = COUNTS.len()
    + FANOUT_LISTENERS.len()
    + WRITERS.len() * EMITTERS.len()
    + WRITER_LISTENERS.len()
    + 3;

pub(crate) type Listener = dyn Fn(&u64) + Send + Sync;

pub(crate) fn work(value: &u64, index: u64) {
    black_box(value.wrapping_mul(index));
}

/// Median ns per call of `f`, over samples of about `settings.sample` each.
pub(crate) fn time_per_call(mut f: impl FnMut(u64), settings: Settings) -> f64 {
    let mut batch = 1u64;
    loop {
        let start = Instant::now();
        for i in 0..batch {
            f(i);
        }
        if start.elapsed() >= settings.sample / 4 || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    batch *= 4;
    let mut per_call: Vec<f64> = (0..settings.samples)
        .map(|_| {
            let start = Instant::now();
            for i in 0..batch {
                f(i);
            }
            start.elapsed().as_nanos() as f64 / batch as f64
        })
        .collect();
    median(&mut per_call)
}

/// The middle value (the upper one of two for an even count).
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One implementation under contention: its name, M emits per second,
/// p99.9 latency in ns.
pub(crate) type Contended = (&'static str, f64, f64);

/// Everything one run measures.
pub(crate) struct Run {
    /// The timing loop alone, with the value passed through `black_box` as
    /// every emit variant does: what "no listeners" is measured above.
    pub(crate) harness: f64,
    /// ns per emit, `[variant][count]`.
    pub(crate) emit: Vec<Vec<f64>>,
    /// M events delivered per second, by listener count, then by variant.
    pub(crate) fanout: Vec<(usize, Vec<(&'static str, f64)>)>,
    /// By writer and emitter threads, then by implementation.
    pub(crate) contention: Vec<(Writer, usize, Vec<Contended>)>,
    /// ns for one connect and one disconnect: implementation, listeners
    /// already connected, connect, disconnect.
    pub(crate) writer: Vec<(&'static str, usize, f64, f64)>,
    /// Bytes held per listener.
    pub(crate) memory: f64,
    /// ns per top-level emit, by depth.
    pub(crate) nested: Vec<(usize, f64)>,
    pub(crate) bus: BusCosts,
}

/// ns per emit, `[variant][count]`.
pub(crate) fn emit_costs(settings: Settings, progress: &ProgressBar) -> Vec<Vec<f64>> {
    let mut costs = vec![Vec::new(); EMIT_VARIANTS.len()];
    for count in COUNTS {
        let n = count as u64;
        let direct: Vec<Box<Listener>> = (0..n)
            .map(|i| Box::new(move |v: &u64| work(v, i)) as Box<Listener>)
            .collect();
        let rwlock: RwLock<Vec<Arc<Listener>>> = RwLock::new(
            (0..n)
                .map(|i| Arc::new(move |v: &u64| work(v, i)) as Arc<Listener>)
                .collect(),
        );
        let signals2: signals2::Signal<(u64,)> = signals2::Signal::new();
        let _s2: Vec<_> = (0..n)
            .map(|i| signals2.connect(move |v: u64| work(&v, i)))
            .collect();
        let signal = SyncSignal::<u64>::new();
        let _conns: Vec<_> = (0..n)
            .map(|i| signal.connect(move |v: &u64| work(v, i)))
            .collect();
        let mut emitter = signal.emitter();
        progress.set_message(format!("emit, {count} listeners"));
        costs[0].push(time_per_call(
            |i| direct.iter().for_each(|f| f(&black_box(i))),
            settings,
        ));
        costs[1].push(time_per_call(
            |i| rwlock.read().unwrap().iter().for_each(|f| f(&black_box(i))),
            settings,
        ));
        costs[2].push(time_per_call(
            |i| {
                black_box(signals2.emit(black_box(i)));
            },
            settings,
        ));
        costs[3].push(time_per_call(|i| signal.emit(&black_box(i)), settings));
        costs[4].push(time_per_call(|i| emitter.emit(&black_box(i)), settings));
        progress.inc(1);
    }
    costs
}

/// Delivered M events per second, end to end, `[variant]` for `listeners`.
pub(crate) fn fanout_rates(listeners: usize, settings: Settings) -> Vec<(&'static str, f64)> {
    fanout::variants(listeners)
        .into_iter()
        .map(|(name, variant)| {
            variant.drain();
            let mut rates: Vec<f64> = (0..settings.samples)
                .map(|_| {
                    let start = Instant::now();
                    for value in 0..fanout::BURST {
                        variant.emit(value);
                    }
                    variant.drain();
                    fanout::BURST as f64 / start.elapsed().as_secs_f64() / 1e6
                })
                .collect();
            (name, median(&mut rates))
        })
        .collect()
}

/// Bytes held per listener after connecting `listeners` capture-less ones.
pub(crate) fn bytes_per_listener(listeners: usize) -> f64 {
    let signal = SyncSignal::<u64>::new();
    let region = Region::new(GLOBAL);
    for _ in 0..listeners {
        // The connection handle is dropped: the listener stays connected.
        drop(signal.connect(|v: &u64| {
            black_box(v);
        }));
    }
    let extra = signal.connect(|_: &u64| {});
    let _ = extra.disconnect_wait(); // a scan frees retired lists
    drop(extra);
    let change = region.change();
    // A realloc's growth is in `bytes_allocated` already (`bytes_reallocated`
    // is the same change again).
    let held = change.bytes_allocated as isize - change.bytes_deallocated as isize;
    held as f64 / listeners as f64
}

/// ns per emit of the bus cases, each next to its bare baseline.
pub(crate) struct BusCosts {
    /// 4 listeners: a bare `SyncSignal`, an `EventBus::signal` handle, a
    /// bare signal with its counters on.
    pub(crate) bare4: f64,
    pub(crate) handle4: f64,
    pub(crate) stats4: f64,
    /// 100 patterns connected, 10 match: a bare signal with the 10
    /// listeners, a `Publisher`, `Topics::emit`.
    pub(crate) bare10: f64,
    pub(crate) publisher: f64,
    pub(crate) topic: f64,
}

pub(crate) fn bus_costs(settings: Settings) -> BusCosts {
    let bare = SyncSignal::<u64>::new();
    let counted = SyncSignal::<u64>::new();
    counted.enable_stats();
    let bus = EventBus::new();
    let handle = bus.signal::<u64>();
    for i in 0..4 {
        for signal in [&bare, &counted, &*handle] {
            std::mem::forget(signal.connect(move |v: &u64| work(v, i)));
        }
    }
    let topics = Topics::<u64>::new();
    let matching = SyncSignal::<u64>::new();
    topics_workload::connect_100(&topics, &matching);
    let mut publisher = topics
        .publisher(topics_workload::TOPIC)
        .expect("a valid topic");
    BusCosts {
        bare4: time_per_call(|i| bare.emit(&black_box(i)), settings),
        handle4: time_per_call(|i| handle.emit(&black_box(i)), settings),
        stats4: time_per_call(|i| counted.emit(&black_box(i)), settings),
        bare10: time_per_call(|i| matching.emit(&black_box(i)), settings),
        publisher: time_per_call(|i| publisher.emit(&black_box(i)), settings),
        topic: time_per_call(
            |i| {
                let _ = topics.emit(black_box(topics_workload::TOPIC), &black_box(i));
            },
            settings,
        ),
    }
}

/// ns per top-level emit through `depth` nested signals.
pub(crate) fn nested(depth: usize, settings: Settings) -> f64 {
    let signals = support::nested::signal_chain(depth);
    time_per_call(|i| signals[0].emit(&black_box(i)), settings)
}

/// Measures every part once.
pub(crate) fn measure(settings: Settings, progress: &ProgressBar) -> Run {
    let harness = time_per_call(
        |i| {
            black_box(i);
        },
        settings,
    );
    let emit = emit_costs(settings, progress);

    let mut fanout = Vec::new();
    for listeners in FANOUT_LISTENERS {
        progress.set_message(format!("asynchronous fan-out, {listeners} listeners"));
        fanout.push((listeners, fanout_rates(listeners, settings)));
        progress.inc(1);
    }

    let targets = contention::targets();
    for (_, target) in &targets {
        for i in 0..contention::LISTENERS {
            std::mem::forget(target.connect(i as u64));
        }
    }
    let mut rows = Vec::new();
    for writer in WRITERS {
        for threads in EMITTERS {
            progress.set_message(format!("{threads} emitter(s), {}", writer.label()));
            let outcomes = targets
                .iter()
                .map(|(name, target)| {
                    let o =
                        contention::run(target.as_ref(), threads, writer, settings.contention_secs);
                    let p999 = o.latency.value_at_quantile(0.999) as f64;
                    (*name, o.emits_per_sec / 1e6, p999)
                })
                .collect();
            rows.push((writer, threads, outcomes));
            progress.inc(1);
        }
    }

    let mut writer = Vec::new();
    for existing in WRITER_LISTENERS {
        progress.set_message(format!("writer's side, {existing} listeners"));
        for (name, target) in contention::targets() {
            let (connect, disconnect) = contention::writer_cost(target.as_ref(), existing);
            writer.push((name, existing, connect, disconnect));
        }
        progress.inc(1);
    }

    progress.set_message("memory");
    let memory = bytes_per_listener(settings.memory_listeners);
    progress.inc(1);

    progress.set_message("nested emits");
    let nested = DEPTHS.map(|d| (d, nested(d, settings))).to_vec();
    progress.inc(1);

    progress.set_message("bus");
    let bus = bus_costs(settings);
    progress.inc(1);

    Run {
        harness,
        emit,
        fanout,
        contention: rows,
        writer,
        memory,
        nested,
        bus,
    }
}

/// Each figure of `runs` (all of one shape) replaced by its median over
/// the runs.
pub(crate) fn median_run(runs: &[Run]) -> Run {
    let m = |figure: &dyn Fn(&Run) -> f64| median(&mut runs.iter().map(figure).collect::<Vec<_>>());
    let first = &runs[0];
    Run {
        harness: m(&|r| r.harness),
        emit: (0..EMIT_VARIANTS.len())
            .map(|v| (0..COUNTS.len()).map(|c| m(&|r| r.emit[v][c])).collect())
            .collect(),
        fanout: (first.fanout.iter().enumerate())
            .map(|(i, (listeners, rates))| {
                let rates = (rates.iter().enumerate())
                    .map(|(j, (name, _))| (*name, m(&|r| r.fanout[i].1[j].1)))
                    .collect();
                (*listeners, rates)
            })
            .collect(),
        contention: (first.contention.iter().enumerate())
            .map(|(i, (writer, threads, outcomes))| {
                let outcomes = (outcomes.iter().enumerate())
                    .map(|(j, (name, ..))| {
                        let rate = m(&|r| r.contention[i].2[j].1);
                        (*name, rate, m(&|r| r.contention[i].2[j].2))
                    })
                    .collect();
                (*writer, *threads, outcomes)
            })
            .collect(),
        writer: (first.writer.iter().enumerate())
            .map(|(i, (name, existing, ..))| {
                let connect = m(&|r| r.writer[i].2);
                (*name, *existing, connect, m(&|r| r.writer[i].3))
            })
            .collect(),
        memory: m(&|r| r.memory),
        nested: (first.nested.iter().enumerate())
            .map(|(i, (depth, _))| (*depth, m(&|r| r.nested[i].1)))
            .collect(),
        bus: BusCosts {
            bare4: m(&|r| r.bus.bare4),
            handle4: m(&|r| r.bus.handle4),
            stats4: m(&|r| r.bus.stats4),
            bare10: m(&|r| r.bus.bare10),
            publisher: m(&|r| r.bus.publisher),
            topic: m(&|r| r.bus.topic),
        },
    }
}
