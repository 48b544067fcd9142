//! Emitters under contention and the writer's side: the workloads of
//! `benches/contention.rs`, shared with the report (`benches/report/`).

#![allow(dead_code)] // each user takes what it needs

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use signals2::{Connect1, Emit1};

/// Listeners every signal has while emitters run.
pub(crate) const LISTENERS: usize = 4;

/// One emit in `SAMPLE_EVERY` is timed on its own.
pub(crate) const SAMPLE_EVERY: u64 = 16;

pub(crate) type Listener = dyn Fn(&u64) + Send + Sync;

pub(crate) fn work(value: &u64, index: u64) {
    black_box(value.wrapping_mul(index));
}

/// A signal implementation under test.
pub(crate) trait Target: Send + Sync {
    /// Calls every listener with `value`.
    fn emit(&self, value: u64);
    /// Connects a listener; returns a handle for `disconnect`.
    fn connect(&self, index: u64) -> Handle;
    fn disconnect(&self, handle: Handle);
}

/// What `connect` hands back: a sigwire or signals2 connection, or an id.
pub(crate) enum Handle {
    Sigwire(sigwire::Connection),
    Signals2(signals2::Connection),
    Id(u64),
}

pub(crate) struct Sigwire(sigwire::SyncSignal<u64>);

impl Target for Sigwire {
    fn emit(&self, value: u64) {
        self.0.emit(&value);
    }
    fn connect(&self, index: u64) -> Handle {
        Handle::Sigwire(self.0.connect(move |v: &u64| work(v, index)))
    }
    fn disconnect(&self, handle: Handle) {
        if let Handle::Sigwire(conn) = handle {
            conn.disconnect();
        }
    }
}

/// The hand-written alternative: a list of `(id, listener)` behind a lock.
#[derive(Default)]
pub(crate) struct Locked<L> {
    list: L,
    next_id: std::sync::atomic::AtomicU64,
}

pub(crate) type Entries = Vec<(u64, Arc<Listener>)>;

macro_rules! locked_target {
    ($lock:ty, $read:ident, $write:ident $(, $unwrap:ident)?) => {
        impl Target for Locked<$lock> {
            fn emit(&self, value: u64) {
                let list = self.list.$read()$(.$unwrap())?;
                for (_, listener) in list.iter() {
                    listener(&value);
                }
            }
            fn connect(&self, index: u64) -> Handle {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let listener: Arc<Listener> = Arc::new(move |v: &u64| work(v, index));
                self.list.$write()$(.$unwrap())?.push((id, listener));
                Handle::Id(id)
            }
            fn disconnect(&self, handle: Handle) {
                if let Handle::Id(id) = handle {
                    self.list.$write()$(.$unwrap())?.retain(|(i, _)| *i != id);
                }
            }
        }
    };
}

locked_target!(std::sync::RwLock<Entries>, read, write, unwrap);
locked_target!(parking_lot::RwLock<Entries>, read, write);

pub(crate) struct Signals2(signals2::Signal<(u64,)>);

impl Target for Signals2 {
    fn emit(&self, value: u64) {
        black_box(self.0.emit(value));
    }
    fn connect(&self, index: u64) -> Handle {
        Handle::Signals2(self.0.connect(move |v: u64| work(&v, index)))
    }
    fn disconnect(&self, handle: Handle) {
        if let Handle::Signals2(conn) = handle {
            conn.disconnect();
        }
    }
}

/// sigwire with a shared-counter per emit: what counting without shards
/// would cost (one cache line every emitting thread writes).
pub(crate) struct SharedCounter(sigwire::SyncSignal<u64>, std::sync::atomic::AtomicU64);

impl Target for SharedCounter {
    fn emit(&self, value: u64) {
        self.0.emit(&value);
        self.1.fetch_add(1, Ordering::Relaxed);
    }
    fn connect(&self, index: u64) -> Handle {
        Handle::Sigwire(self.0.connect(move |v: &u64| work(v, index)))
    }
    fn disconnect(&self, handle: Handle) {
        if let Handle::Sigwire(conn) = handle {
            conn.disconnect();
        }
    }
}

/// sigwire without counters, with its sharded counters on, and with one
/// shared counter instead.
pub(crate) fn counting_targets() -> Vec<(&'static str, Box<dyn Target>)> {
    let counted = sigwire::SyncSignal::new();
    counted.enable_stats();
    vec![
        (
            "sigwire",
            Box::new(Sigwire(sigwire::SyncSignal::new())) as Box<dyn Target>,
        ),
        ("sigwire, stats on (sharded)", Box::new(Sigwire(counted))),
        (
            "sigwire + one shared AtomicU64",
            Box::new(SharedCounter(
                sigwire::SyncSignal::new(),
                Default::default(),
            )),
        ),
    ]
}

pub(crate) fn targets() -> Vec<(&'static str, Box<dyn Target>)> {
    vec![
        (
            "std RwLock",
            Box::new(Locked::<std::sync::RwLock<Entries>>::default()) as Box<dyn Target>,
        ),
        (
            "parking_lot RwLock",
            Box::new(Locked::<parking_lot::RwLock<Entries>>::default()),
        ),
        ("signals2", Box::new(Signals2(signals2::Signal::new()))),
        ("sigwire", Box::new(Sigwire(sigwire::SyncSignal::new()))),
    ]
}

/// What the writer thread does while the emitters run.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Writer {
    None,
    TightLoop,
    Every100us,
}

impl Writer {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Writer::None => "no writer",
            Writer::TightLoop => "writer churning (tight loop)",
            Writer::Every100us => "writer churning every 100 µs",
        }
    }
}

pub(crate) struct Outcome {
    pub(crate) emits_per_sec: f64,
    pub(crate) latency: Histogram<u64>,
    pub(crate) writes: u64,
}

/// Runs `threads` emitters (and the writer) on `target` for `secs`.
pub(crate) fn run(target: &dyn Target, threads: usize, writer: Writer, secs: f64) -> Outcome {
    let stop = AtomicBool::new(false);
    let duration = Duration::from_secs_f64(secs);
    thread::scope(|s| {
        let writes = s.spawn(|| {
            let mut writes = 0u64;
            while writer != Writer::None && !stop.load(Ordering::Relaxed) {
                let handle = target.connect(99);
                target.disconnect(handle);
                writes += 1;
                if writer == Writer::Every100us {
                    let until = Instant::now() + Duration::from_micros(100);
                    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                        thread::yield_now();
                    }
                }
            }
            writes
        });
        let emitters: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut latency = Histogram::<u64>::new(3).unwrap();
                    let mut emits = 0u64;
                    let start = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..SAMPLE_EVERY - 1 {
                            target.emit(black_box(emits));
                            emits += 1;
                        }
                        let before = Instant::now();
                        target.emit(black_box(emits));
                        let took = before.elapsed();
                        emits += 1;
                        latency.saturating_record(took.as_nanos() as u64);
                    }
                    (emits, start.elapsed(), latency)
                })
            })
            .collect();
        thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let mut latency = Histogram::<u64>::new(3).unwrap();
        let mut emits_per_sec = 0.0;
        for emitter in emitters {
            let (emits, took, histogram) = emitter.join().unwrap();
            emits_per_sec += emits as f64 / took.as_secs_f64();
            latency.add(histogram).unwrap();
        }
        Outcome {
            emits_per_sec,
            latency,
            writes: writes.join().unwrap(),
        }
    })
}

/// The timer's own cost, measured as the latencies are.
pub(crate) fn timer_floor() -> Histogram<u64> {
    let mut latency = Histogram::<u64>::new(3).unwrap();
    for _ in 0..1_000_000 {
        let before = Instant::now();
        let took = before.elapsed();
        latency.saturating_record(took.as_nanos() as u64);
    }
    latency
}

/// Average cost of one connect and one disconnect with `existing` listeners.
pub(crate) fn writer_cost(target: &dyn Target, existing: usize) -> (f64, f64) {
    let handles: Vec<Handle> = (0..existing).map(|i| target.connect(i as u64)).collect();
    let rounds = (2_000_000 / existing.max(1)).clamp(20, 20_000);
    let (mut connect, mut disconnect) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = Instant::now();
        let handle = target.connect(7);
        let middle = Instant::now();
        target.disconnect(handle);
        disconnect += middle.elapsed();
        connect += middle - start;
    }
    for handle in handles {
        target.disconnect(handle);
    }
    let per = |total: Duration| total.as_secs_f64() * 1e9 / rounds as f64;
    (per(connect), per(disconnect))
}
