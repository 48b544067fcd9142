//! What a connected listener costs in memory, beyond its closure: counted
//! by `stats_alloc` (this test binary's global allocator), for listeners
//! whose closures capture nothing (so the closure itself is 0 bytes).
//! Prints the figures `docs/benchmarks.md` quotes, and checks them against
//! the layout they should have, so a regression shows up here.

use std::alloc::System;

use sigwire::{Connection, SyncSignal};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes held now, counted from `region`'s start. `stats_alloc` already
/// counts a realloc's growth in `bytes_allocated` (and a shrink in
/// `bytes_deallocated`); `bytes_reallocated` is the same change again.
fn held(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

/// Connects `listeners` listeners, keeping their `Connection`s or not;
/// returns (bytes per listener held once retired lists are freed, bytes per
/// listener before that, peak bytes while connecting).
fn measure(listeners: usize, keep: bool) -> (f64, f64, isize) {
    let signal = SyncSignal::<u64>::new();
    let mut connections: Vec<Connection> = Vec::with_capacity(listeners);
    let region = Region::new(GLOBAL);
    let mut peak = 0;
    for _ in 0..listeners {
        let conn = signal.connect(|v: &u64| {
            std::hint::black_box(v);
        });
        if keep {
            connections.push(conn);
        }
        peak = peak.max(held(&region));
    }
    let before = held(&region) as f64 / listeners as f64;
    // A write that scans frees the retired copies of the list.
    let extra = signal.connect(|_: &u64| {});
    assert_eq!(extra.disconnect_wait(), Ok(true));
    drop(extra);
    let settled = held(&region) as f64 / listeners as f64;
    (settled, before, peak)
}

#[test]
fn bytes_per_listener_and_peak() {
    check(&[1_000, 10_000]);
}

/// The same at 100 000 listeners: about a minute in release, since each
/// connect copies the list (`cargo test --release --test memory --
/// --ignored --nocapture`).
#[test]
#[ignore = "slow: 100 000 connects, each copying the list"]
fn bytes_per_listener_and_peak_at_100_000() {
    check(&[100_000]);
}

fn check(sizes: &[usize]) {
    for &listeners in sizes {
        let (settled, before, peak) = measure(listeners, false);
        let (kept, _, _) = measure(listeners, true);
        println!(
            "{listeners} listeners: {settled:.1} bytes per listener ({before:.1} before the \
             retired lists are freed), {kept:.1} with its Connection kept; peak {:.2} MB \
             while connecting",
            peak as f64 / 1e6
        );
        // The slot (state word, callback, id, and a pointer to the key and
        // priority, null here: 40 bytes) in an `Arc` (16 more), and its
        // pointer in the published list (8).
        assert!(
            (64.0..=65.0).contains(&settled),
            "{settled} bytes per listener, expected 64"
        );
        // Up to four retired copies of the list (8 bytes per listener each)
        // wait for a scan (`SCAN_AFTER`).
        assert!(
            before <= settled + 4.0 * 8.0 + 1.0,
            "{before} before the scan"
        );
        // A kept `Connection` is a handle of its own (an `Arc` of the
        // signal's `Weak`, the slot's `Arc` and the id).
        assert!(
            (settled + 39.0..=settled + 41.0).contains(&kept),
            "{kept} bytes per listener with its Connection kept"
        );
    }
}
