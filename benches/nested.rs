//! Nested emits: a listener that emits on the next signal, `depth` levels
//! deep, against the same chain of plain boxed closures. arc-swap keeps 8
//! fast slots per thread, so a design that loads through `ArcSwap` on every
//! emit slows down past 8 levels; sigwire's emit reads the list through its
//! per-thread record (32 entries deep before it falls back to a shared
//! counter), so the cost per level should stay flat up to 32 and rise a
//! little after.
//!
//! ```sh
//! cargo bench --bench nested
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

mod support;

use support::nested::signal_chain;

const DEPTHS: [usize; 9] = [1, 2, 4, 8, 9, 12, 16, 32, 40];

type Link = Box<dyn Fn(&u64) + Send + Sync>;

/// `depth` boxed closures, each calling the next; the last does the work.
fn direct_chain(depth: usize) -> Link {
    let mut next: Link = Box::new(|v: &u64| {
        black_box(*v);
    });
    for _ in 1..depth {
        let inner = next;
        next = Box::new(move |v: &u64| inner(v));
    }
    next
}

fn nested(c: &mut Criterion) {
    let mut group = c.benchmark_group("nested");
    for depth in DEPTHS {
        let chain = direct_chain(depth);
        group.bench_with_input(BenchmarkId::new("direct", depth), &depth, |b, _| {
            let mut n = 0u64;
            b.iter(|| {
                n = n.wrapping_add(1);
                chain(black_box(&n));
            })
        });
        let signals = signal_chain(depth);
        group.bench_with_input(BenchmarkId::new("sigwire", depth), &depth, |b, _| {
            let mut n = 0u64;
            b.iter(|| {
                n = n.wrapping_add(1);
                signals[0].emit(black_box(&n));
            })
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = nested
}
criterion_main!(benches);
