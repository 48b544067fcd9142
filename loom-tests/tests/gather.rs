//! `Requests::gather` racing its pool job: each responder is started at
//! most once, by the job or by the caller (under loom the caller counts as
//! a pool thread, so it takes responders too); a reply is either gathered
//! or, arriving after the caller stopped waiting, dropped by the job; never
//! both, never neither (a reply never dropped is a loom `Arc` leak, which
//! fails the model), never twice. The caller's report names every
//! responder exactly once.

#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use sigwire::bus::Requests;

/// Counts its drops, and fails on a second one.
struct Reply(Arc<AtomicUsize>);

impl Drop for Reply {
    fn drop(&mut self) {
        // SeqCst: the test's own bookkeeping.
        assert_eq!(
            self.0.fetch_add(1, Ordering::SeqCst),
            0,
            "reply dropped twice"
        );
    }
}

/// The timeout passes at once (a zero timeout stands for "the caller's
/// deadline passed"), racing the job that starts the one responder: its
/// reply is gathered, dropped late, or never made (the responder was not
/// started before the caller closed the gathering).
#[test]
fn timeout_races_the_job() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<u32, Reply>::new();
        let (d, c) = (drops.clone(), calls.clone());
        requests.respond("only", move |_: &u32| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(Some(Reply(d.clone())))
        });

        let replies = requests.gather(1, 1, Duration::ZERO);
        let gathered = replies.answers().len();
        assert_eq!(gathered + replies.timed_out().len(), 1);
        drop(replies);
        // A gathered reply has just been dropped by `replies`.
        assert!(drops.load(Ordering::SeqCst) >= gathered);
        assert!(calls.load(Ordering::SeqCst) <= 1, "the responder ran twice");
    });
}

/// Two responders, one answer expected, no timeout: `gather` returns after
/// the first answer; the other responder is gathered, dropped late, or
/// never started; none runs twice.
#[test]
fn first_answer_completes_the_gathering() {
    loom::model(|| {
        let calls = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<u32, Reply>::new();
        for name in ["a", "b"] {
            let drops = Arc::new(AtomicUsize::new(0));
            let calls = calls.clone();
            requests.respond(name, move |_: &u32| {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(Some(Reply(drops.clone())))
            });
        }
        let replies = requests.gather(1, 1, Duration::MAX);
        let answered = replies.answers().len();
        assert!(answered >= 1, "returned before the first answer");
        assert_eq!(answered + replies.timed_out().len(), 2);
        drop(replies);
        assert!(calls.load(Ordering::SeqCst) <= 2);
    });
}
