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
