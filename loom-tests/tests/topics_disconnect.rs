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
use loom::thread;
use sigwire::bus::Topics;
use sigwire_loom_tests::WaitedCalls;

/// One thread emits twice on `t.a` (through a publisher if `publisher`)
/// while the main thread calls `disconnect_wait`.
fn model(publisher: bool) {
    let mut builder = loom::model::Builder::new();
    // As in `disconnect_wait.rs`: three preemptions show a missing Release
    // on the record's pop; None (unset) means unbounded.
    builder.preemption_bound = builder.preemption_bound.map(|bound| bound.max(3));
    builder.check(move || {
        let topics = Arc::new(Topics::<()>::new());
        let calls = WaitedCalls::new();
        let conn = {
            let calls = calls.clone();
            topics
                .connect("t.*", move |_: &str, _: &()| calls.call())
                .unwrap()
        };
        let mut publisher = publisher.then(|| topics.publisher("t.a").unwrap());
        topics.emit("t.a", &()).unwrap(); // cached before the race
        let before = calls.entered();

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
        let seen = calls.waited();
        emitter.join().unwrap();
        calls.no_call_after(seen);
        assert!((before..=before + 2).contains(&seen));
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
