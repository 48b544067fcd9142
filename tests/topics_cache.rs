//! The `Topics` cache past its capacity (issue 11, item 2): a miss costs
//! O(1) memory traffic, not a copy of every cached topic, and a set of
//! topics just past 1 024 stays cached instead of thrashing.
//!
//! `allocation-counter` replaces the global allocator for this test binary
//! and counts the allocations of the measuring thread only.

use allocation_counter::measure;
use sigwire::bus::Topics;

/// Topics subscribed to by one pattern that matches all of `names`.
fn topics() -> Topics<u64> {
    let topics = Topics::<u64>::new();
    std::mem::forget(topics.subscribe("user.*.created", |_: &str, _: &u64| {}));
    topics
}

fn names(range: std::ops::Range<u64>) -> Vec<String> {
    range.map(|i| format!("user.{i}.created")).collect()
}

/// With 1 000 topics cached, each new topic allocates a few small blocks
/// (its resolved subscriber list), not a copy of the cache: before the fix,
/// every miss cloned the whole map (about 36 bytes per cached topic).
#[test]
fn a_miss_allocates_o1_bytes_not_a_copy_of_the_cache() {
    let topics = topics();
    for name in names(0..1_000) {
        topics.emit(&name, &0).unwrap();
    }
    let fresh = names(1_000_000..1_000_100);
    let info = measure(|| {
        for name in &fresh {
            topics.emit(name, &1).unwrap();
        }
    });
    let per_miss = info.bytes_total / fresh.len() as u64;
    assert!(
        per_miss <= 256,
        "{per_miss} bytes allocated per miss ({} allocations in {} misses)",
        info.count_total,
        fresh.len()
    );
}

/// 1 025 topics emitted on in turn stay cached: after two rounds a third
/// round resolves (allocates for) almost none of them. Before the fix, the
/// cache started over at 1 024 entries and every emit of the third round
/// missed.
#[test]
fn just_past_1024_topics_the_cache_does_not_thrash() {
    let topics = topics();
    let names = names(0..1_025);
    for _ in 0..2 {
        for name in &names {
            topics.emit(name, &0).unwrap();
        }
    }
    assert!(topics.cached_topics() >= 1_000, "{topics:?}");
    let info = measure(|| {
        for name in &names {
            topics.emit(name, &1).unwrap();
        }
    });
    assert!(
        info.count_total <= 100,
        "{} allocations in a round of {} cached topics",
        info.count_total,
        names.len()
    );
}
