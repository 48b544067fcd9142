//! The topics workload of `benches/bus.rs`, shared with
//! the report (`benches/report/`): 100 patterns connected, 10 of which match
//! [`TOPIC`], and a bare signal holding the same 10 listeners.

#![allow(dead_code)] // each user takes what it needs

use std::hint::black_box;

use sigwire::SyncSignal;
use sigwire::bus::Topics;

/// The topic emitted on.
pub(crate) const TOPIC: &str = "market.AAPL.trade";

fn work(value: &u64, index: u64) {
    black_box(value.wrapping_mul(index));
}

/// Connects 100 patterns to `topics` (every tenth matches [`TOPIC`], in
/// five different ways) and connects the matching ten's twins to
/// `matching`; both stay connected for good. Resolves and caches
/// [`TOPIC`].
pub(crate) fn connect_100(topics: &Topics<u64>, matching: &SyncSignal<u64>) {
    for i in 0..100u64 {
        let pattern = match i % 10 {
            0 => [TOPIC, "market.*.trade", "market.>", "*.AAPL.*", ">"][(i / 10 % 5) as usize]
                .to_string(),
            _ => format!("other.{i}.>"),
        };
        let listener = topics.connect(&pattern, move |_: &str, v: &u64| work(v, i));
        std::mem::forget(listener.expect("a valid pattern"));
        if i % 10 == 0 {
            std::mem::forget(matching.connect(move |v: &u64| work(v, i)));
        }
    }
    topics.emit(TOPIC, &0).expect("a valid topic");
}
