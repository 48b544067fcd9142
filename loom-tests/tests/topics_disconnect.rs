//! `disconnect_wait` on a topic listener racing its running calls, through
//! `Topics::emit` (a cached topic) and through a `Publisher`: the same
//! protocol as a signal's (`disconnect_wait.rs`), with the emits recorded
//! under the topics' own id.
//!
//! After `disconnect_wait` returns, no call is running (no running call sees
//! the "returned" flag), the finished calls' effects are visible, and no
//! call starts later. The test's own atomics are Relaxed on purpose: every
//! ordering the assertions need must come from sigwire.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;
use sigwire::bus::Topics;

struct Counters {
    entered: AtomicUsize,
    finished: AtomicUsize,
    returned: AtomicBool,
}

/// One thread emits twice on `t.a` (through a publisher if `publisher`)
/// while the main thread calls `disconnect_wait`.
fn model(publisher: bool) {
    let mut builder = loom::model::Builder::new();
    // As in `disconnect_wait.rs`: three preemptions show a missing Release
    // on the record's pop; None (unset) means unbounded.
    builder.preemption_bound = builder.preemption_bound.map(|bound| bound.max(3));
    builder.check(move || {
        let topics = Arc::new(Topics::<()>::new());
        let counters = Arc::new(Counters {
            entered: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            returned: AtomicBool::new(false),
        });
        let conn = {
            let counters = counters.clone();
            topics
                .connect("t.*", move |_: &str, _: &()| {
                    counters.entered.fetch_add(1, Ordering::Relaxed);
                    assert!(
                        !counters.returned.load(Ordering::Relaxed),
                        "disconnect_wait returned while a call was running"
                    );
                    counters.finished.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap()
        };
        let mut publisher = publisher.then(|| topics.publisher("t.a").unwrap());
        topics.emit("t.a", &()).unwrap(); // cached before the race
        let before = counters.entered.load(Ordering::Relaxed);

        let emitter = {
            let topics = topics.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    match &mut publisher {
                        Some(publisher) => publisher.emit(&()),
                        None => topics.emit("t.a", &()).unwrap(),
                    }
                }
            })
        };

        assert_eq!(conn.disconnect_wait(), Ok(true));
        counters.returned.store(true, Ordering::Relaxed);
        let entered = counters.entered.load(Ordering::Relaxed);
        assert_eq!(
            entered,
            counters.finished.load(Ordering::Relaxed),
            "a call was still running"
        );
        emitter.join().unwrap();
        assert_eq!(
            counters.entered.load(Ordering::Relaxed),
            entered,
            "a call started after disconnect_wait returned, or a finished one was not visible"
        );
        assert!((before..=before + 2).contains(&entered));
        assert!(topics.is_empty());
    });
}

#[test]
fn topic_disconnect_wait_waits_for_a_running_emit() {
    model(false);
}

#[test]
fn topic_disconnect_wait_waits_for_a_running_publisher() {
    model(true);
}
