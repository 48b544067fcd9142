//! `Requests::gather` racing its responders: a reply is either gathered or,
//! arriving after the caller stopped waiting, dropped by the responder's
//! job; never both, never neither, never twice. The caller's report
//! accounts for every responder exactly once.

#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
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
/// deadline passed"), racing the one responder: its reply is gathered or
/// discarded late, dropped exactly once either way.
#[test]
fn timeout_races_a_late_reply() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<u32, Reply>::new();
        let d = drops.clone();
        requests.respond("only", move |_: &u32| Ok(Some(Reply(d.clone()))));

        let replies = requests.gather(1, 1, Duration::ZERO);
        let gathered = replies.answers().len();
        assert_eq!(gathered + replies.timed_out().len(), 1);
        drop(replies);
        // A gathered reply has just been dropped by `replies`; a late one
        // is dropped by the job when it finds the gathering closed (maybe
        // already). The `Drop` assertion catches a second drop.
        assert!(drops.load(Ordering::SeqCst) >= gathered);
        while drops.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
    });
}

/// Two responders, one answer expected, no timeout: `gather` returns after
/// the first answer; the other is gathered too or dropped late.
#[test]
fn first_answer_completes_the_gathering() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<u32, Reply>::new();
        for name in ["a", "b"] {
            let d = Arc::new(AtomicUsize::new(0));
            let total = drops.clone();
            requests.respond(name, move |_: &u32| {
                // Each reply counts into its own counter, and the total.
                total.fetch_add(1, Ordering::SeqCst);
                Ok(Some(Reply(d.clone())))
            });
        }
        let replies = requests.gather(1, 1, Duration::MAX);
        let answered = replies.answers().len();
        assert!(answered >= 1, "returned before the first answer");
        assert_eq!(answered + replies.timed_out().len(), 2);
        drop(replies);
        // Wait for both jobs to have replied, so the model ends with every
        // reply dropped (loom checks that nothing leaks).
        while drops.load(Ordering::SeqCst) < 2 {
            thread::yield_now();
        }
    });
}
