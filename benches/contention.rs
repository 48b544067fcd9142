//! Emitters under contention, and the writer's side, next to the same
//! workload on `std::sync::RwLock<Vec<Arc<dyn Fn>>>`, `parking_lot::RwLock`
//! and `signals2`, all in one run. Prints markdown tables.
//!
//! ```sh
//! cargo bench --bench contention
//! SIGWIRE_BENCH_THREADS=1,2,4,8,16 SIGWIRE_BENCH_SECS=2 cargo bench --bench contention
//! SIGWIRE_BENCH_ONLY=writers cargo bench --bench contention   # the writers table alone
//! ```
//!
//! - **Throughput**: `threads` emitting threads (default 1 and 2; set
//!   `SIGWIRE_BENCH_THREADS` to scale), each emitting on one shared signal
//!   with 4 listeners for `SIGWIRE_BENCH_SECS` seconds (default 1); alone,
//!   with a writer thread connecting and disconnecting a listener in a tight
//!   loop, and with a writer doing so every 100 µs.
//! - **Latency**: in the same runs, every 16th emit is timed on its own
//!   (`Instant` before and after) into an `hdrhistogram`; p50, p99 and
//!   p99.9 in ns. The `timer` row is the same measurement around nothing:
//!   the floor every figure includes.
//! - **Counting**: the same emitters (no writer) on sigwire without
//!   counters, with its sharded counters on (`enable_stats`), and with one
//!   shared `AtomicU64` incremented per emit instead.
//! - **Writer's side**: one connect followed by one disconnect on a signal
//!   that already has 10, 1 000 or 100 000 listeners.
//! - **Writers under load**: connect + disconnect pairs per second on a
//!   signal with 10 listeners while 0, 1 or 2 threads emit on it (issue
//!   15's goal: 1 000 000 and 200 000).
//! - **Writes under a long emit**: blocks of 10 000 connect + disconnect
//!   pairs on a signal with 10 listeners, with no emit running and while
//!   another thread sits inside an emit of it (issue 11: each block used to
//!   take longer than the one before).

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use sigwire::SyncSignal;

use support::contention::{
    LISTENERS, Writer, counting_targets, run, targets, timer_floor, writer_cost,
};

fn threads() -> Vec<usize> {
    std::env::var("SIGWIRE_BENCH_THREADS")
        .ok()
        .map(|list| {
            list.split(',')
                .map(|n| {
                    n.trim()
                        .parse()
                        .expect("SIGWIRE_BENCH_THREADS: numbers, comma-separated")
                })
                .collect()
        })
        .unwrap_or_else(|| vec![1, 2])
}

fn secs() -> f64 {
    std::env::var("SIGWIRE_BENCH_SECS")
        .ok()
        .map(|s| s.parse().expect("SIGWIRE_BENCH_SECS: a number"))
        .unwrap_or(1.0)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too:
    // keep that short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let secs = if quick { 0.05 } else { secs() };
    if std::env::var("SIGWIRE_BENCH_ONLY").as_deref() == Ok("writers") {
        writers_under_load(secs);
        return;
    }
    let emitting = targets();
    for (_, target) in &emitting {
        for i in 0..LISTENERS {
            std::mem::forget(target.connect(i as u64)); // connected for good
        }
    }

    println!("## Emit throughput and latency ({LISTENERS} listeners, {secs} s per cell)\n");
    let floor = timer_floor();
    println!(
        "timer floor (Instant before and after nothing): p50 {} ns, p99 {} ns, p99.9 {} ns\n",
        floor.value_at_quantile(0.5),
        floor.value_at_quantile(0.99),
        floor.value_at_quantile(0.999)
    );
    for writer in [Writer::None, Writer::TightLoop, Writer::Every100us] {
        for &threads in &threads() {
            println!("### {threads} emitting thread(s), {}\n", writer.label());
            println!(
                "| implementation | M emits/s | vs std RwLock | p50 ns | p99 ns | p99.9 ns | writes |"
            );
            println!("|---|---:|---:|---:|---:|---:|---:|");
            let mut baseline = None;
            for (name, target) in &emitting {
                let outcome = run(target.as_ref(), threads, writer, secs);
                let base = *baseline.get_or_insert(outcome.emits_per_sec);
                let q = |q: f64| outcome.latency.value_at_quantile(q);
                println!(
                    "| {name} | {:.1} | {:.2} × | {} | {} | {} | {} |",
                    outcome.emits_per_sec / 1e6,
                    outcome.emits_per_sec / base,
                    q(0.5),
                    q(0.99),
                    q(0.999),
                    outcome.writes
                );
            }
            println!();
        }
    }

    println!("## Counting under contention (no writer, {LISTENERS} listeners)\n");
    println!("| implementation | emitting threads | M emits/s | vs sigwire | p99.9 ns |");
    println!("|---|---:|---:|---:|---:|");
    let counting = counting_targets();
    for (_, target) in &counting {
        for i in 0..LISTENERS {
            std::mem::forget(target.connect(i as u64));
        }
    }
    for &threads in &threads() {
        let mut baseline = None;
        for (name, target) in &counting {
            let outcome = run(target.as_ref(), threads, Writer::None, secs);
            let base = *baseline.get_or_insert(outcome.emits_per_sec);
            println!(
                "| {name} | {threads} | {:.1} | {:.2} × | {} |",
                outcome.emits_per_sec / 1e6,
                outcome.emits_per_sec / base,
                outcome.latency.value_at_quantile(0.999)
            );
        }
    }
    println!();

    println!("## Writer's side: one connect, then one disconnect (ns)\n");
    println!("| implementation | existing listeners | connect ns | disconnect ns |");
    println!("|---|---:|---:|---:|");
    let sizes: &[usize] = if quick {
        &[10, 1_000]
    } else {
        &[10, 1_000, 100_000]
    };
    for &existing in sizes {
        for (name, target) in targets() {
            let (connect, disconnect) = writer_cost(target.as_ref(), existing);
            println!("| {name} | {existing} | {connect:.0} | {disconnect:.0} |");
        }
    }
    println!();

    writers_under_load(secs);
    writes_under_a_long_emit(if quick { 2 } else { 6 });
}

/// Issue 15's writer goal: connect + disconnect pairs per second on a
/// signal with 10 listeners, while 0, 1 or 2 threads emit on it.
fn writers_under_load(secs: f64) {
    println!("## Writers under load (connect + disconnect pairs per second, 10 listeners)\n");
    println!("| implementation | no emitter | 1 emitting thread | 2 emitting threads |");
    println!("|---|---:|---:|---:|");
    for (name, target) in targets() {
        for i in 0..10 {
            std::mem::forget(target.connect(i)); // connected for good
        }
        let pairs: Vec<String> = [0, 1, 2]
            .iter()
            .map(|&threads| {
                let outcome = run(target.as_ref(), threads, Writer::TightLoop, secs);
                format!("{:.0}", outcome.writes as f64 / secs)
            })
            .collect();
        println!("| {name} | {} |", pairs.join(" | "));
    }
    println!();
}

/// Times `blocks` blocks of 10 000 connect + disconnect pairs on a signal
/// with 10 listeners, with no emit running, then while another thread is
/// inside an emit of the signal for the whole run.
fn writes_under_a_long_emit(blocks: usize) {
    const PAIRS: usize = 10_000;
    println!(
        "## Writes under a long emit ({PAIRS} connect + disconnect pairs a block, 10 listeners)\n"
    );
    println!(
        "| emit running | first block ms | last block ms | last / first | pairs/s (last block) |"
    );
    println!("|---|---:|---:|---:|---:|");
    for pinned in [false, true] {
        let signal = Arc::new(SyncSignal::<u64>::new());
        for _ in 0..9 {
            std::mem::forget(signal.connect(|v: &u64| {
                std::hint::black_box(v);
            }));
        }
        let hold = Arc::new(AtomicBool::new(pinned));
        let (entered, inside) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        {
            let hold = Arc::clone(&hold);
            std::mem::forget(signal.connect(move |_: &u64| {
                // Relaxed: set before the emitting thread was spawned.
                if hold.load(Ordering::Relaxed) {
                    entered.send(()).unwrap();
                    released.lock().unwrap().recv().unwrap();
                }
            }));
        }
        let emitter = pinned.then(|| {
            let signal = Arc::clone(&signal);
            let emitter = std::thread::spawn(move || signal.emit(&0));
            inside.recv().unwrap();
            emitter
        });
        let mut times = Vec::with_capacity(blocks);
        for _ in 0..blocks {
            let start = Instant::now();
            for _ in 0..PAIRS {
                let conn = signal.connect(|v: &u64| {
                    std::hint::black_box(v);
                });
                conn.disconnect();
            }
            times.push(start.elapsed().as_secs_f64());
        }
        if let Some(emitter) = emitter {
            release.send(()).unwrap();
            emitter.join().unwrap();
        }
        let (first, last) = (times[0], times[blocks - 1]);
        println!(
            "| {} | {:.1} | {:.1} | {:.2} × | {:.0} |",
            if pinned { "yes" } else { "no" },
            first * 1e3,
            last * 1e3,
            last / first,
            PAIRS as f64 / last
        );
    }
}
