//! Unit tests of the records: packing, scans and `reads`, `done` across
//! entry reuse, notes past the record.

use super::{DEPTH, READS_NONE, READS_UNKNOWN, enter, is_inside, scan, signal_of};
use crate::sync::AtomicUsize;

/// Signal ids that no real signal of this test binary has, one per
/// test: tests run on threads at once, and a scan sees every thread's
/// records.
const SIGNAL: u64 = (1 << 39) + 12_345;
const REUSED: u64 = SIGNAL + 100;
const DEEP: u64 = SIGNAL + 200;

/// An entry word packs the signal above the sequence; a running emit is
/// found by its own thread and by a scan, with the list it reads, and
/// is gone once its guard drops.
#[test]
fn an_emit_is_recorded_until_its_guard_drops() {
    let overflow = AtomicUsize::new(0);
    assert!(!is_inside(SIGNAL, &overflow));
    {
        let running = enter(SIGNAL, &overflow, READS_UNKNOWN);
        assert!(running.has_entry());
        assert!(is_inside(SIGNAL, &overflow));
        assert!(!is_inside(SIGNAL + 1, &overflow));
        let found = scan(SIGNAL);
        assert_eq!(found.running.len(), 1);
        assert_eq!(signal_of(found.running[0].word), SIGNAL);
        assert_eq!(found.running[0].reads, READS_UNKNOWN);
        running.reads(0x1000);
        let found = scan(SIGNAL);
        assert_eq!(found.running[0].reads, 0x1000);
        // `of`: the emit reads its own list only.
        assert!(!found.of(0x1000, 0x1000).is_empty());
        assert!(found.of(0x2000, 0x2000).is_empty());
    }
    assert!(!is_inside(SIGNAL, &overflow));
    assert!(scan(SIGNAL).is_empty());
}

/// An emit that reads no list through the pointer protects none, and
/// `done` sees a popped emit even when a later one reuses its entry.
#[test]
fn done_tells_a_finished_emit_from_a_later_one_in_its_entry() {
    let overflow = AtomicUsize::new(0);
    let first = enter(REUSED, &overflow, READS_NONE);
    let mut found = scan(REUSED);
    assert!(
        found.of(0x1000, 0x1000).is_empty(),
        "reads no list through the pointer"
    );
    assert!(!found.done());
    drop(first);
    let _second = enter(REUSED, &overflow, READS_NONE);
    assert!(found.done(), "the entry holds a later emit's word");
}

/// Past the record's depth, emits count in the overflow counter and in
/// the thread's notes, which keep answering exactly for this thread.
#[test]
fn emits_past_the_record_are_noted_exactly() {
    let overflow = AtomicUsize::new(0);
    let other = AtomicUsize::new(0);
    let mut guards = Vec::new();
    for _ in 0..DEPTH {
        guards.push(enter(DEEP + 2, &other, READS_NONE));
    }
    for _ in 0..(2 * DEPTH) {
        let running = enter(DEEP, &overflow, READS_NONE);
        assert!(!running.has_entry());
        guards.push(running);
    }
    assert_eq!(overflow.load(crate::sync::Ordering::Relaxed), 2 * DEPTH);
    assert!(is_inside(DEEP, &overflow));
    assert!(
        !is_inside(DEEP + 3, &overflow),
        "another signal is not inside"
    );
    drop(guards);
    assert_eq!(overflow.load(crate::sync::Ordering::Relaxed), 0);
    assert!(!is_inside(DEEP, &overflow));
}
