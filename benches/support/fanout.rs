//! Fan-out to several listeners on other threads: the workloads of
//! `benches/async.rs`, shared with the report (`benches/report/`).

#![allow(dead_code)] // each user takes what it needs

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;

use crossbeam_utils::CachePadded;
use sigwire::{AsyncSignal, Overflow, RecvError, SyncSignal};

pub(crate) const LISTENERS: [usize; 3] = [1, 4, 16];

/// Events per end-to-end round.
pub(crate) const BURST: u64 = 10_000;

/// Emits timed back to back in the caller-side measure; below every
/// variant's queue capacity, so no emit waits for room.
pub(crate) const CHUNK: u64 = 256;

/// Queue capacity for every bounded variant.
pub(crate) const CAPACITY: usize = 4096;

/// One listener's count of handled events, alone in its cache line.
pub(crate) type Counter = Arc<CachePadded<AtomicU64>>;

pub(crate) fn counters(n: usize) -> Vec<Counter> {
    (0..n).map(|_| Counter::default()).collect()
}

pub(crate) fn handle(counter: &AtomicU64, value: u64) {
    black_box(value);
    // Relaxed: the harness only waits for the count to reach a target.
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Waits until every counter reached `target`.
pub(crate) fn wait_all(counters: &[Counter], target: u64) {
    for counter in counters {
        while counter.load(Ordering::Relaxed) < target {
            thread::yield_now();
        }
    }
}

/// A way to deliver `u64` events to `n` listeners.
pub(crate) trait Variant {
    /// Hands one event to every listener.
    fn emit(&self, value: u64);
    /// Returns once every event emitted so far was handled everywhere.
    fn drain(&self);
}

pub(crate) struct Sigwire {
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

pub(crate) struct RayonSpawn {
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

pub(crate) struct Crossbeam {
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

pub(crate) struct Broadcast {
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

/// `SyncSignal` subscriptions, one per listener, each read by its own
/// thread with `recv` (the shape of `Broadcast`, on sigwire's ring).
pub(crate) struct Subscriptions {
    signal: SyncSignal<u64>,
    counters: Vec<Counter>,
    emitted: AtomicU64,
    /// The slowest counter's value when last looked at.
    slowest: AtomicU64,
    lagged: Arc<AtomicBool>,
}

impl Subscriptions {
    fn new(counters: &[Counter]) -> Self {
        let signal = SyncSignal::new();
        let lagged = Arc::new(AtomicBool::new(false));
        for counter in counters {
            let mut sub = signal.subscribe_with(CAPACITY).unwrap();
            let counter = counter.clone();
            let lagged = Arc::clone(&lagged);
            thread::spawn(move || {
                loop {
                    match sub.recv() {
                        Ok(value) => handle(&counter, *value),
                        Err(RecvError::Lagged(n)) => {
                            // Counted so that `drain` returns, and reported.
                            lagged.store(true, Ordering::Relaxed);
                            counter.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            });
        }
        Self {
            signal,
            counters: counters.to_vec(),
            emitted: AtomicU64::new(0),
            slowest: AtomicU64::new(0),
            lagged,
        }
    }
}

impl Variant for Subscriptions {
    fn emit(&self, value: u64) {
        // The ring never blocks the emitter: a subscription a ring behind
        // lags. Keep it from lapping the readers, as `Broadcast` does, by
        // looking at the slowest count only when it could be in the way.
        let emitted = self.emitted.load(Ordering::Relaxed);
        if emitted - self.slowest.load(Ordering::Relaxed) >= CAPACITY as u64 - 1 {
            loop {
                let slowest = self
                    .counters
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .min();
                let slowest = slowest.unwrap_or(emitted);
                self.slowest.store(slowest, Ordering::Relaxed);
                if emitted - slowest < CAPACITY as u64 - 1 {
                    break;
                }
                thread::yield_now();
            }
        }
        self.signal.emit(&value);
        self.emitted.store(emitted + 1, Ordering::Relaxed);
    }
    fn drain(&self) {
        wait_all(&self.counters, self.emitted.load(Ordering::Relaxed));
        assert!(
            !self.lagged.load(Ordering::Relaxed),
            "a subscription lagged"
        );
    }
}

pub(crate) fn variants(n: usize) -> Vec<(&'static str, Box<dyn Variant>)> {
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
        ("subscription", Box::new(Subscriptions::new(&counters(n)))),
    ]
}

/// The `disruptor` crate (the LMAX Disruptor's shape): one ring, one
/// consumer thread per listener, each spinning with a spin-loop hint while
/// it waits (its intended mode, on dedicated cores; this machine may have
/// fewer cores than consumers). Made and dropped around its own
/// measurement, since its consumers spin for as long as it lives.
pub(crate) struct Disruptor {
    producer: std::cell::RefCell<Box<dyn FnMut(u64)>>,
    counters: Vec<Counter>,
    emitted: AtomicU64,
}

impl Disruptor {
    pub(crate) fn new(n: usize) -> Self {
        use disruptor::{BusySpinWithSpinLoopHint, Producer, Sequence};
        struct Event {
            value: u64,
        }
        let counters = counters(n);
        let processor =
            |counter: Counter| move |e: &Event, _: Sequence, _: bool| handle(&counter, e.value);
        let builder = disruptor::build_single_producer(
            CAPACITY,
            || Event { value: 0 },
            BusySpinWithSpinLoopHint,
        );
        let mut producer: Box<dyn FnMut(u64)> = if n == 1 {
            let mut p = builder
                .handle_events_with(processor(counters[0].clone()))
                .build();
            Box::new(move |v| p.publish(|e| e.value = v))
        } else {
            let mut b = builder
                .handle_events_with(processor(counters[0].clone()))
                .handle_events_with(processor(counters[1].clone()));
            for counter in &counters[2..] {
                b = b.handle_events_with(processor(counter.clone()));
            }
            let mut p = b.build();
            Box::new(move |v| p.publish(|e| e.value = v))
        };
        producer(u64::MAX); // warm the threads up; counted below
        wait_all(&counters, 1);
        Self {
            producer: std::cell::RefCell::new(producer),
            counters,
            emitted: AtomicU64::new(1),
        }
    }
}

impl Variant for Disruptor {
    fn emit(&self, value: u64) {
        (self.producer.borrow_mut())(value);
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }
    fn drain(&self) {
        wait_all(&self.counters, self.emitted.load(Ordering::Relaxed));
    }
}

/// `AsyncSignal` with `fast` blocking listeners on a pool of `threads`,
/// and, with `slow`, one more listener that sleeps 1 ms per event under
/// `Policy::DropOldest`. `drain` waits for the fast ones only: the figure
/// is their throughput.
pub(crate) struct SlowBeside {
    signal: AsyncSignal<u64>,
    fast: Vec<Counter>,
    emitted: AtomicU64,
}

impl SlowBeside {
    pub(crate) fn new(fast: usize, slow: bool, threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let signal = AsyncSignal::builder()
            .pool(Arc::new(pool))
            .capacity(CAPACITY)
            .overflow(Overflow::Block)
            .build()
            .unwrap();
        let fast = counters(fast);
        for counter in &fast {
            let counter = counter.clone();
            signal.connect(move |v: &u64| handle(&counter, *v));
        }
        if slow {
            let options = sigwire::ConnectOptions::new().policy(sigwire::Policy::DropOldest);
            signal
                .connect_with(options, |_: &u64| {
                    thread::sleep(std::time::Duration::from_millis(1))
                })
                .unwrap();
        }
        Self {
            signal,
            fast,
            emitted: AtomicU64::new(0),
        }
    }
}

impl Variant for SlowBeside {
    fn emit(&self, value: u64) {
        self.signal.emit(value).unwrap();
        self.emitted.fetch_add(1, Ordering::Relaxed);
    }
    fn drain(&self) {
        wait_all(&self.fast, self.emitted.load(Ordering::Relaxed));
    }
}
