//! Deadlines for async waits: one process-wide thread, started the first
//! time a wait with a deadline registers, that wakes each registered task
//! at its deadline (the task then polls, sees the deadline passed, and
//! ends its wait). Not a runtime: it runs no task, only calls `wake`.
//!
//! Under `--cfg loom` there is no timer thread (a model has no clock):
//! [`wake_at`] does nothing, and a deadline is seen only when polled.

use std::task::Waker;
use std::time::Instant;

/// Wakes `waker` at `deadline` (or soon after). A wait that ends before it
/// leaves the entry to expire: it holds a clone of the waker until then.
#[cfg(not(loom))]
pub(crate) fn wake_at(deadline: Instant, waker: &Waker) {
    imp::wake_at(deadline, waker);
}

/// No clock under loom: nothing wakes at a deadline.
#[cfg(loom)]
pub(crate) fn wake_at(_deadline: Instant, _waker: &Waker) {}

#[cfg(not(loom))]
mod imp {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
    use std::task::Waker;
    use std::time::Instant;

    /// One deadline: ordered by its instant, then by arrival.
    struct Due {
        at: Instant,
        seq: u64,
        waker: Waker,
    }

    impl PartialEq for Due {
        fn eq(&self, other: &Self) -> bool {
            (self.at, self.seq) == (other.at, other.seq)
        }
    }
    impl Eq for Due {}
    impl PartialOrd for Due {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Due {
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            (self.at, self.seq).cmp(&(other.at, other.seq))
        }
    }

    #[derive(Default)]
    struct Queue {
        due: BinaryHeap<Reverse<Due>>,
        seq: u64,
    }

    struct Timer {
        queue: Mutex<Queue>,
        changed: Condvar,
    }

    // std's primitives, not the shim's: a `static` needs `const`
    // constructors, and loom never sees this thread (see the module docs).
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();

    /// The timer, its thread started on first use; `None` if the thread
    /// could not be started (then deadlines are seen only when polled).
    fn timer() -> Option<&'static Timer> {
        *TIMER.get_or_init(|| {
            let timer: &'static Timer = Box::leak(Box::new(Timer {
                queue: Mutex::new(Queue::default()),
                changed: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("sigwire-timer".into())
                .spawn(move || run(timer))
                .ok()
                .map(|_| timer)
        })
    }

    pub(super) fn wake_at(at: Instant, waker: &Waker) {
        let Some(timer) = timer() else { return };
        let waker = waker.clone();
        let mut queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let earliest = queue.due.peek().is_none_or(|Reverse(first)| at < first.at);
        let seq = queue.seq;
        queue.seq += 1;
        queue.due.push(Reverse(Due { at, seq, waker }));
        drop(queue);
        if earliest {
            timer.changed.notify_one();
        }
    }

    fn run(timer: &'static Timer) {
        let mut queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            let mut woken = Vec::new();
            while queue
                .due
                .peek()
                .is_some_and(|Reverse(first)| first.at <= now)
            {
                if let Some(Reverse(due)) = queue.due.pop() {
                    woken.push(due.waker);
                }
            }
            if !woken.is_empty() {
                // Outside the lock: a `Waker` is an executor's code (and a
                // panic in one must not end this thread).
                drop(queue);
                for waker in woken {
                    let _ = crate::unwind::contain(move || waker.wake());
                }
                queue = timer.queue.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let left = queue
                .due
                .peek()
                .map(|Reverse(first)| first.at.saturating_duration_since(now));
            queue = match left {
                None => timer
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(left) => {
                    let waited = timer.changed.wait_timeout(queue, left);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};
    use std::time::{Duration, Instant};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Each waker is woken once, after its deadline, the later ones after
    /// the earlier ones, whatever the order they were registered in.
    #[test]
    fn wakes_each_at_its_deadline() {
        let start = Instant::now();
        let late = Arc::new(Count(AtomicUsize::new(0)));
        let soon = Arc::new(Count(AtomicUsize::new(0)));
        super::wake_at(
            start + Duration::from_millis(60),
            &Waker::from(Arc::clone(&late)),
        );
        super::wake_at(
            start + Duration::from_millis(20),
            &Waker::from(Arc::clone(&soon)),
        );
        while soon.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "never woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(start.elapsed() >= Duration::from_millis(20));
        while late.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "never woken");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(start.elapsed() >= Duration::from_millis(60));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(soon.0.load(Ordering::SeqCst), 1);
        assert_eq!(late.0.load(Ordering::SeqCst), 1);
    }
}
