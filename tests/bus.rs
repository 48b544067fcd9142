//! `sigwire::bus`: the type-keyed `EventBus`, the global bus, and `Topics`
//! with wildcard patterns and a cache that connecting invalidates.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use sigwire::bus::{self, EventBus, Topics};

fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

#[test]
fn bus_handles_are_send_sync_and_clone() {
    assert_send_sync_clone::<EventBus>();
    assert_send_sync_clone::<Topics<String>>();
}

/// One signal per event type: every call, on every clone, returns the same
/// signal; different types get different signals.
#[test]
fn one_signal_per_type_shared_by_clones() {
    struct A(u32);
    struct B;
    let bus = EventBus::new();
    let clone = bus.clone();
    assert!(Arc::ptr_eq(&bus.signal::<A>(), &clone.signal::<A>()));
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let _conn = clone.connect(move |a: &A| {
        c.fetch_add(a.0 as usize, Ordering::SeqCst);
    });
    bus.emit(&A(5));
    bus.emit(&B); // another type: reaches nobody
    bus.signal::<A>().emit(&A(2));
    assert_eq!(calls.load(Ordering::SeqCst), 7);
    assert_eq!(bus.len(), 2);
    assert!(
        bus.async_signal::<A>().is_empty(),
        "async signals are separate"
    );
    assert_eq!(bus.len(), 3);
    // A separate bus is separate.
    assert!(!Arc::ptr_eq(
        &EventBus::new().signal::<A>(),
        &bus.signal::<A>()
    ));
}

/// Threads racing the first use of a type all get the same signal.
#[test]
fn first_use_race_creates_one_signal() {
    let bus = EventBus::new();
    let barrier = Barrier::new(4);
    let signals: Vec<_> = thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    bus.signal::<u64>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(signals.iter().all(|s| Arc::ptr_eq(s, &signals[0])));
}

#[test]
fn global_bus_is_one_bus() {
    struct GlobalTestEvent;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let conn = bus::global().connect(move |_: &GlobalTestEvent| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    thread::spawn(|| bus::global().emit(&GlobalTestEvent))
        .join()
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(std::ptr::eq(bus::global(), bus::global()));
    conn.disconnect();
}

/// Records `(listener, topic, event)` triples.
type Log = Arc<Mutex<Vec<(&'static str, String, u32)>>>;

fn connect(
    topics: &Topics<u32>,
    log: &Log,
    name: &'static str,
    pattern: &str,
) -> sigwire::Connection {
    let log = Arc::clone(log);
    topics
        .connect(pattern, move |topic: &str, v: &u32| {
            log.lock().unwrap().push((name, topic.to_string(), *v));
        })
        .unwrap()
}

fn taken(log: &Log) -> Vec<(&'static str, String, u32)> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// Patterns select topics; listeners run in listener order with the
/// topic; connecting after a topic was cached reaches the next emit;
/// disconnecting stops the calls at once.
#[test]
fn topics_match_cache_and_invalidate() {
    let topics = Topics::<u32>::new();
    let log = Log::default();
    let all = connect(&topics, &log, "all", ">");
    let users = connect(&topics, &log, "users", "user.*");
    topics.emit("user.created", &1).unwrap();
    topics.emit("order.filled", &2).unwrap();
    topics.emit("user.created", &3).unwrap(); // from the cache
    assert_eq!(
        taken(&log),
        [
            ("all", "user.created".to_string(), 1),
            ("users", "user.created".to_string(), 1),
            ("all", "order.filled".to_string(), 2),
            ("all", "user.created".to_string(), 3),
            ("users", "user.created".to_string(), 3),
        ]
    );
    // A new listener reaches topics cached before it.
    let created = connect(&topics, &log, "created", "*.created");
    topics.emit("user.created", &4).unwrap();
    assert_eq!(
        taken(&log).iter().map(|e| e.0).collect::<Vec<_>>(),
        ["all", "users", "created"]
    );
    // Disconnected listeners are not called again.
    assert!(users.disconnect());
    assert!(!users.disconnect());
    topics.emit("user.created", &5).unwrap();
    assert_eq!(
        taken(&log).iter().map(|e| e.0).collect::<Vec<_>>(),
        ["all", "created"]
    );
    assert_eq!(topics.len(), 2);
    assert!(all.disconnect() && created.disconnect());
    topics.emit("user.created", &6).unwrap();
    assert!(taken(&log).is_empty());
}

/// A clone of `Topics` shares listeners and cache; a connection that
/// outlives its topics disconnects harmlessly, and says it did nothing, as
/// a signal's connection does.
#[test]
fn clones_share_and_listeners_outlive() {
    let topics = Topics::<u32>::new();
    let log = Log::default();
    let sub = connect(&topics.clone(), &log, "a", "a");
    topics.clone().emit("a", &1).unwrap();
    assert_eq!(taken(&log).len(), 1);
    drop(topics);
    assert!(!sub.is_connected());
    assert!(!sub.disconnect());
    assert_eq!(sub.disconnect_wait(), Ok(false));
}

#[test]
fn bad_patterns_and_topics_are_errors() {
    let topics = Topics::<u32>::new();
    for pattern in ["", "a..b", "a.>.b", "a*", ".a"] {
        let err = topics.connect(pattern, |_: &str, _: &u32| {}).unwrap_err();
        assert_eq!(err.pattern(), pattern);
        assert!(
            err.to_string().starts_with("invalid topic pattern"),
            "{err}"
        );
    }
    for topic in ["", "a..b", "a.*", "a.>", "b."] {
        let err = topics.emit(topic, &1).unwrap_err();
        assert_eq!(err.topic(), topic);
    }
    assert_eq!(topics.len(), 0);
}

/// Emitters on several topics race connects and disconnects: a
/// listener that stays active for the whole run sees every event of its
/// topics, exactly once.
#[test]
fn concurrent_emits_and_listeners_lose_nothing() {
    const EMITS: u32 = 20_000;
    let topics = Topics::<u32>::new();
    let steady = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&steady);
    let _steady = topics
        .connect("load.>", move |_: &str, _: &u32| {
            s.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    thread::scope(|scope| {
        for t in 0..2 {
            let topics = &topics;
            scope.spawn(move || {
                let topic = format!("load.{t}.x");
                for i in 0..EMITS {
                    topics.emit(&topic, &i).unwrap();
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..200 {
                let sub = topics.connect("load.*.x", |_: &str, _: &u32| {}).unwrap();
                assert!(sub.disconnect());
            }
        });
    });
    assert_eq!(steady.load(Ordering::Relaxed), 2 * EMITS as usize);
    assert_eq!(topics.len(), 1);
}

/// A publisher follows listeners made and removed after it was made,
/// and a bad topic is refused when it is made.
#[test]
fn publisher_follows_listeners() {
    let topics = Topics::<u32>::new();
    let log = Log::default();
    let mut publisher = topics.publisher("a.b").unwrap();
    publisher.emit(&1);
    let first = connect(&topics, &log, "first", "a.*");
    publisher.emit(&2);
    let _second = connect(&topics, &log, "second", "a.>");
    let _other = connect(&topics, &log, "other", "x.>");
    publisher.emit(&3);
    first.disconnect();
    publisher.emit(&4);
    let seen: Vec<(&str, u32)> = taken(&log).into_iter().map(|(n, _, v)| (n, v)).collect();
    assert_eq!(
        seen,
        [("first", 2), ("first", 3), ("second", 3), ("second", 4)]
    );
    assert_eq!(publisher.topic(), "a.b");
    assert!(topics.publisher("a.*").is_err());
}

/// Many distinct topics: the cache evicts instead of growing without bound
/// (it holds at most 2 048 topics), and every emit still reaches its
/// listeners.
#[test]
fn many_distinct_topics() {
    let topics = Topics::<u32>::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let _sub = topics
        .connect("user.*.created", move |_: &str, _: &u32| {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    for id in 0..5_000u32 {
        topics.emit(&format!("user.{id}.created"), &id).unwrap();
        topics.emit(&format!("user.{id}.created"), &id).unwrap();
    }
    assert_eq!(calls.load(Ordering::Relaxed), 10_000);
    assert!(topics.cached_topics() <= 2_048, "{topics:?}");
}

mod held {
    use super::*;
    use sigwire::RejectReason;
    use sigwire::bus::HeldSignal;

    fn recording(held: &HeldSignal<u32>) -> Arc<Mutex<Vec<u32>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        held.signal()
            .connect(move |v: &u32| s.lock().unwrap().push(*v));
        seen
    }

    /// Held events are bounded, handed back when full, and delivered in
    /// order by `start`, before later emits; a second `start` is harmless.
    #[test]
    fn holds_then_delivers_in_order() {
        let held = HeldSignal::<u32>::new(3).unwrap();
        let seen = recording(&held);
        for v in 1..=3 {
            held.emit(v).unwrap();
        }
        let rejected = held.emit(4).unwrap_err();
        assert_eq!(
            (rejected.reason(), rejected.into_inner()),
            (RejectReason::Full, 4)
        );
        assert_eq!((held.held(), seen.lock().unwrap().len()), (3, 0));
        held.start();
        held.start();
        held.emit(5).unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 5]);
        assert!(held.is_started() && held.held() == 0);
    }

    /// A listener of a queued event that emits again (and calls `start`
    /// again) does not deadlock; its event is delivered after the queue.
    #[test]
    fn listeners_may_emit_while_start_delivers() {
        let held = Arc::new(HeldSignal::<u32>::new(8).unwrap());
        let seen = recording(&held);
        let h = Arc::downgrade(&held);
        held.signal().connect(move |v: &u32| {
            if *v == 1 {
                let held = h.upgrade().unwrap();
                held.start(); // returns at once: the outer start delivers
                held.emit(10).unwrap();
            }
        });
        held.emit(1).unwrap();
        held.emit(2).unwrap();
        held.start();
        held.emit(3).unwrap();
        assert_eq!(*seen.lock().unwrap(), [1, 2, 10, 3]);
    }

    /// A listener panicking during `start` unwinds to its caller; the
    /// events after it stay queued and the next `start` delivers them and
    /// opens the signal.
    #[test]
    fn a_panic_during_start_loses_nothing_after_it() {
        let held = HeldSignal::<u32>::new(8).unwrap();
        let seen = recording(&held);
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let a = Arc::clone(&armed);
        held.signal().connect(move |v: &u32| {
            if *v == 1 && a.swap(false, Ordering::SeqCst) {
                std::panic::panic_any("intended: a listener panics during start");
            }
        });
        for v in 1..=3 {
            held.emit(v).unwrap();
        }
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| held.start()));
        std::panic::set_hook(hook);
        assert!(outcome.is_err());
        assert!(!held.is_started());
        assert_eq!(held.held(), 2, "2 and 3 stay queued");
        held.start();
        held.emit(4).unwrap();
        assert!(held.is_started());
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3, 4]);
    }

    /// Emitters race `start`: nothing accepted is lost or duplicated, and
    /// each emitter's events arrive in its order.
    #[test]
    fn start_racing_emitters_loses_and_reorders_nothing() {
        const PER_THREAD: u32 = 5_000;
        let held = HeldSignal::<u32>::new(2 * PER_THREAD as usize).unwrap();
        let seen = recording(&held);
        thread::scope(|s| {
            for t in 0..2u32 {
                let held = &held;
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        held.emit(t << 16 | i).unwrap();
                    }
                });
            }
            s.spawn(|| held.start());
        });
        held.start();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2 * PER_THREAD as usize);
        for t in 0..2u32 {
            let mine: Vec<u32> = seen
                .iter()
                .filter(|v| *v >> 16 == t)
                .map(|v| v & 0xffff)
                .collect();
            assert_eq!(mine, (0..PER_THREAD).collect::<Vec<_>>(), "emitter {t}");
        }
    }
}

mod requests {
    use super::*;
    use sigwire::bus::{Name, Requests};

    fn named<V: Copy>(answers: &[(Name, V)]) -> Vec<(&str, V)> {
        answers.iter().map(|(name, v)| (&**name, *v)).collect()
    }

    /// Every responder is asked, in registration order; answers, errors and
    /// declines are reported with the responder's name; a stopped responder
    /// is not asked again.
    #[test]
    fn scatter_gather() {
        let requests = Requests::<u32, u32>::new();
        let double = requests.respond("double", |v: &u32| Ok(Some(v * 2)));
        requests.respond("odd-only", |v: &u32| Ok((v % 2 == 1).then_some(*v)));
        requests.respond("fails", |v: &u32| {
            if *v > 10 {
                Err(format!("{v} too big").into())
            } else {
                Ok(None)
            }
        });
        let replies = requests.request(&3);
        assert_eq!(named(replies.answers()), [("double", 6), ("odd-only", 3)]);
        assert_eq!(&*replies.declined()[0], "fails");
        let replies = requests.request(&12);
        assert_eq!(named(replies.answers()), [("double", 24)]);
        assert_eq!(replies.errors().len(), 1);
        assert_eq!(replies.errors()[0].1.to_string(), "12 too big");
        assert!(double.disconnect());
        assert!(!double.disconnect());
        assert_eq!(
            named(&requests.request(&1).into_answers()),
            [("odd-only", 1)]
        );
        assert_eq!(requests.len(), 2);
    }

    /// A responder may make a request and register a responder; neither
    /// deadlocks, and the new responder is asked by later requests only.
    #[test]
    fn responders_may_request_and_register() {
        let requests = Requests::<u32, u32>::new();
        let inner = requests.clone();
        requests.respond("outer", move |v: &u32| {
            if *v == 0 {
                return Ok(None);
            }
            let below = inner.request(&(v - 1)).into_answers().len() as u32;
            if *v == 2 {
                inner.respond("late", |_: &u32| Ok(Some(100)));
            }
            Ok(Some(below))
        });
        let first = requests.request(&2).into_answers();
        assert_eq!(named(&first), [("outer", 1)]);
        let second = requests.request(&1).into_answers();
        assert_eq!(named(&second), [("outer", 1), ("late", 100)]);
    }

    /// A responder's closure is dropped after the registry's lock is
    /// released: its `Drop` may register on the same `Requests`.
    #[test]
    fn a_stopped_responders_drop_may_use_the_requests() {
        struct Reenter(Requests<u32, u32>);
        impl Drop for Reenter {
            fn drop(&mut self) {
                let _ = self.0.respond("late", |_: &u32| Ok(None));
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let requests = Requests::<u32, u32>::new();
            let guard = Reenter(requests.clone());
            let responding = requests.respond("a", move |_: &u32| {
                let _ = &guard;
                Ok(Some(1))
            });
            assert!(responding.disconnect());
            tx.send(requests.len()).unwrap();
        });
        let count = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(
            count,
            Ok(1),
            "stop deadlocked, or the drop did not register"
        );
    }

    /// Requests racing registrations: every request sees a consistent list
    /// (the steady responder answers every one of them).
    #[test]
    fn concurrent_requests_and_registrations() {
        let requests = Requests::<u32, u32>::new();
        requests.respond("steady", |v: &u32| Ok(Some(*v)));
        thread::scope(|s| {
            for _ in 0..2 {
                let requests = &requests;
                s.spawn(move || {
                    for i in 0..2_000 {
                        let answers = requests.request(&i).into_answers();
                        assert!(
                            answers
                                .iter()
                                .any(|(name, v)| &**name == "steady" && *v == i)
                        );
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..200 {
                    let r = requests.respond("churn", |_: &u32| Ok(None));
                    assert!(r.disconnect());
                }
            });
        });
        assert_eq!(requests.len(), 1);
    }
}

mod gather {
    use super::*;
    use sigwire::ListenerPanic;
    use sigwire::bus::{Name, Requests};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    fn pool_of(threads: usize) -> Arc<rayon::ThreadPool> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build();
        Arc::new(pool.expect("a rayon pool"))
    }

    fn one_thread_pool() -> Arc<rayon::ThreadPool> {
        pool_of(1)
    }

    fn names(list: &[Name]) -> Vec<&str> {
        list.iter().map(|name| &**name).collect()
    }

    /// Counts its drops: a reply (or request) is dropped exactly once,
    /// whether it was gathered or arrived late.
    struct Counted(u32, Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wait_for(count: &AtomicUsize, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while count.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} drops",
                count.load(Ordering::SeqCst)
            );
            thread::sleep(Duration::from_millis(1));
        }
        thread::sleep(Duration::from_millis(5));
        assert_eq!(count.load(Ordering::SeqCst), n, "dropped more than once");
    }

    /// `gather` returns as soon as the expected number of answers is in,
    /// without waiting for a blocked responder; that responder is reported
    /// as timed out, and its late reply is dropped once.
    #[test]
    fn returns_at_the_expected_count_and_drops_late_replies() {
        let drops = Arc::new(AtomicUsize::new(0));
        // Three threads: the blocked responder holds one.
        let requests = Requests::<u32, Counted>::with_pool(pool_of(3));
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        let d = drops.clone();
        requests.respond("slow", move |v: &u32| {
            released.lock().unwrap().recv().unwrap();
            Ok(Some(Counted(*v, d.clone())))
        });
        for name in ["a", "b"] {
            let d = drops.clone();
            requests.respond(name, move |v: &u32| Ok(Some(Counted(v + 1, d.clone()))));
        }
        let replies = requests.gather(7, 2, Duration::from_secs(60));
        let mut answered: Vec<_> = replies.answers().iter().map(|(n, c)| (&**n, c.0)).collect();
        answered.sort();
        assert_eq!(answered, [("a", 8), ("b", 8)]);
        assert_eq!(names(replies.timed_out()), ["slow"]);
        assert!(replies.errors().is_empty() && replies.declined().is_empty());
        drop(replies);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        release.send(()).unwrap();
        wait_for(&drops, 3);
    }

    /// With too few answers, `gather` returns at the timeout; the request
    /// itself is dropped once the last responder is done with it.
    #[test]
    fn times_out_and_releases_the_request() {
        let drops = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<Counted, u32>::with_pool(pool_of(3));
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        requests.respond("stuck", move |_: &Counted| {
            released.lock().unwrap().recv().unwrap();
            Ok(Some(1))
        });
        requests.respond("quick", |c: &Counted| Ok(Some(c.0)));
        let start = Instant::now();
        let replies = requests.gather(Counted(5, drops.clone()), 2, Duration::from_secs(2));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(2),
            "returned after {waited:?}"
        );
        assert_eq!(names(replies.timed_out()), ["stuck"]);
        assert_eq!(replies.answers().len(), 1);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "the stuck responder still reads the request"
        );
        release.send(()).unwrap();
        wait_for(&drops, 1);
    }

    /// Once every responder has replied, `gather` returns even though fewer
    /// answers than expected came in; declines and errors are reported.
    #[test]
    fn returns_when_everyone_replied() {
        let requests = Requests::<u32, u32>::new();
        requests.respond("declines", |_: &u32| Ok(None));
        requests.respond("fails", |v: &u32| Err(format!("no {v}").into()));
        requests.respond("answers", |v: &u32| Ok(Some(*v)));
        let start = Instant::now();
        let replies = requests.gather(3, 10, Duration::from_secs(60));
        assert!(start.elapsed() < Duration::from_secs(30));
        assert_eq!(replies.answers().len(), 1);
        assert_eq!(names(replies.declined()), ["declines"]);
        assert_eq!(replies.errors()[0].1.to_string(), "no 3");
        assert!(replies.timed_out().is_empty());
        // No responders at all: nothing to wait for.
        let none = Requests::<u32, u32>::new().gather(1, 1, Duration::from_secs(60));
        assert!(none.answers().is_empty() && none.timed_out().is_empty());
    }

    /// Declines and errors do not count towards the expected answers:
    /// `gather` waits on for the answer that comes after them.
    #[test]
    fn declines_do_not_count_as_answers() {
        let requests = Requests::<u32, u32>::with_pool(pool_of(3));
        requests.respond("declines", |_: &u32| Ok(None));
        requests.respond("fails", |_: &u32| Err("no".into()));
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        requests.respond("answers", move |v: &u32| {
            released.lock().unwrap().recv().unwrap();
            Ok(Some(*v))
        });
        let releaser = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            release.send(()).unwrap();
        });
        let replies = requests.gather(9, 1, Duration::from_secs(60));
        assert_eq!(replies.answers()[0].1, 9);
        assert!(replies.timed_out().is_empty());
        releaser.join().unwrap();
    }

    /// A panicking responder is a failure carrying a `ListenerPanic`; the
    /// pool and the other responders carry on.
    #[test]
    fn panics_are_failures() {
        let pool = one_thread_pool();
        let requests = Requests::<u32, u32>::with_pool(pool.clone());
        requests.respond("boom", |_: &u32| panic!("responder exploded"));
        requests.respond("fine", |v: &u32| Ok(Some(*v)));
        for round in 0..3 {
            let replies = requests.gather(round, 2, Duration::from_secs(60));
            assert_eq!(replies.answers()[0].1, round);
            let (name, error) = &replies.errors()[0];
            assert_eq!(&**name, "boom");
            let panic = error
                .downcast_ref::<ListenerPanic>()
                .expect("a ListenerPanic");
            assert_eq!(panic.message(), "responder exploded");
            assert_eq!(panic.key(), Some("boom"));
        }
        assert_eq!(pool.install(|| 5), 5);
    }

    /// Responders that gather in turn, nested three deep, on a one-thread
    /// pool, called from outside the pool and from its only thread: a
    /// waiting `gather` runs its responders' jobs itself.
    #[test]
    fn nested_gathers_do_not_deadlock_on_one_thread() {
        let pool = one_thread_pool();
        let requests = Requests::<u32, u32>::with_pool(pool.clone());
        let inner = requests.clone();
        requests.respond("depth", move |v: &u32| {
            if *v == 0 {
                return Ok(Some(0));
            }
            let below = inner.gather(v - 1, 1, Duration::from_secs(60));
            Ok(Some(below.answers()[0].1 + 1))
        });
        let (tx, rx) = mpsc::channel();
        let r = requests.clone();
        thread::spawn(move || {
            let outside = r.gather(3, 1, Duration::from_secs(60)).answers()[0].1;
            let inside = pool.install(|| r.gather(3, 1, Duration::from_secs(60)).answers()[0].1);
            tx.send((outside, inside)).unwrap();
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(30)),
            Ok((3, 3)),
            "deadlocked"
        );
    }

    /// On a thread of the responders' (one-thread) pool, `gather` runs its
    /// own unstarted responders in registration order, checking the
    /// deadline and the answers before each: the two fast venues answer,
    /// and the slow one is never started by it.
    #[test]
    fn on_the_pool_responders_run_in_order_until_enough() {
        let pool = one_thread_pool();
        let quotes = Requests::<&'static str, u32>::with_pool(pool.clone());
        quotes.respond("venue-a", |_: &&str| Ok(Some(1)));
        quotes.respond("venue-b", |_: &&str| Ok(Some(2)));
        quotes.respond("venue-c", |_: &&str| {
            thread::sleep(Duration::from_secs(5));
            Ok(Some(3))
        });
        let (waited, replies) = pool.install(|| {
            let start = Instant::now();
            let replies = quotes.gather("ACME", 2, Duration::from_millis(500));
            (start.elapsed(), replies)
        });
        assert!(waited < Duration::from_secs(3), "took {waited:?}");
        let mut answers: Vec<u32> = replies.answers().iter().map(|(_, a)| *a).collect();
        answers.sort();
        assert_eq!(answers, [1, 2]);
        assert_eq!(names(replies.timed_out()), ["venue-c"]);
    }

    /// The request's `Drop` panicking on a pool thread (the last, late
    /// responder drops it) is caught: rayon would abort the process.
    #[test]
    fn a_panicking_request_drop_on_the_pool_is_contained() {
        struct Explosive;
        impl Drop for Explosive {
            fn drop(&mut self) {
                panic!("request drop panicked");
            }
        }
        // Two threads, two jobs: one blocks in "slow" (whichever takes it
        // first), the other answers "fast", which completes the gathering
        // while "slow" still holds the request.
        let pool = pool_of(2);
        let requests = Requests::<Explosive, u32>::with_pool(pool.clone());
        let (release, released) = mpsc::channel::<()>();
        let (done, finished) = mpsc::channel::<()>();
        let (released, done) = (Mutex::new(released), Mutex::new(done));
        requests.respond("slow", move |_: &Explosive| {
            released.lock().unwrap().recv().unwrap();
            let _ = done.lock().unwrap().send(());
            Ok(Some(1))
        });
        requests.respond("fast", |_: &Explosive| Ok(Some(2)));
        let replies = requests.gather(Explosive, 1, Duration::from_secs(60));
        assert_eq!(names(replies.timed_out()), ["slow"]);
        release.send(()).unwrap();
        finished.recv_timeout(Duration::from_secs(10)).unwrap();
        thread::sleep(Duration::from_millis(50)); // the job's drop runs now
        // Still alive, and the pool still runs jobs.
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(1).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(1));
    }

    /// A responder that has not started when `gather` returns is never
    /// started: off the pool (the one pool thread is held by a blocked
    /// responder until after the timeout) and on it (the caller stops
    /// taking responders once enough answers are in).
    #[test]
    fn responders_not_started_in_time_never_start() {
        let pool = one_thread_pool();
        let started = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<u32, u32>::with_pool(pool.clone());
        let (release, released) = mpsc::channel::<()>();
        let released = Mutex::new(released);
        requests.respond("blocked", move |v: &u32| {
            if *v == 0 {
                released.lock().unwrap().recv().unwrap();
            }
            Ok(Some(1))
        });
        let s = started.clone();
        requests.respond("counts", move |_: &u32| {
            s.fetch_add(1, Ordering::SeqCst);
            Ok(Some(2))
        });
        let replies = requests.gather(0, 2, Duration::from_millis(100));
        assert_eq!(names(replies.timed_out()), ["blocked", "counts"]);
        release.send(()).unwrap();
        let replies = pool.install(|| requests.gather(1, 1, Duration::from_secs(60)));
        assert_eq!(names(replies.timed_out()), ["counts"]);
        // The first gather's job has finished with "blocked" (the second
        // ran on the pool's one thread after it) and found nothing left.
        assert_eq!(pool.install(|| started.load(Ordering::SeqCst)), 0);
    }

    /// Gathers made in a loop inside one pool job release each request as
    /// they return, even though the jobs they spawned stay queued behind
    /// the caller: jobs hold the gathering weakly.
    #[test]
    fn gathers_in_a_pool_job_release_their_requests() {
        let pool = pool_of(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let requests = Requests::<Counted, u32>::with_pool(pool.clone());
        requests.respond("a", |c: &Counted| Ok(Some(c.0)));
        requests.respond("b", |c: &Counted| Ok(Some(c.0 + 1)));
        let d = drops.clone();
        let released_inside = pool.install(move || {
            for i in 0..1_000 {
                let replies = requests.gather(Counted(i, d.clone()), 1, Duration::from_secs(60));
                assert!(!replies.answers().is_empty());
            }
            d.load(Ordering::SeqCst)
        });
        // A job of the other thread may still hold the last gathering.
        assert!(
            released_inside >= 999,
            "only {released_inside} of 1000 requests dropped"
        );
        wait_for(&drops, 1_000);
    }

    /// Concurrent gathers from several threads, with responders joining and
    /// leaving: every gather hears from every responder registered for its
    /// whole duration, exactly once.
    #[test]
    fn concurrent_gathers() {
        let requests = Requests::<u32, u32>::new();
        requests.respond("steady-1", |v: &u32| Ok(Some(*v)));
        requests.respond("steady-2", |v: &u32| Ok(Some(v + 1)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churn = {
            let requests = requests.clone();
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    requests.respond("churn", |_: &u32| Ok(None)).disconnect();
                }
            })
        };
        let workers: Vec<_> = (0..4u32)
            .map(|t| {
                let requests = requests.clone();
                thread::spawn(move || {
                    for i in 0..200 {
                        let v = t * 1000 + i;
                        let replies = requests.gather(v, 2, Duration::from_secs(60));
                        let mut got: Vec<_> = replies.answers().iter().map(|(_, a)| *a).collect();
                        got.sort();
                        assert_eq!(got, [v, v + 1]);
                        assert!(replies.errors().is_empty());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
    }
}

mod history {
    use super::*;
    use sigwire::bus::HistorySignal;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    fn recorder() -> (Arc<Mutex<Vec<u32>>>, impl Fn(&u32) + Send + Sync + 'static) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        (seen, move |v: &u32| s.lock().unwrap().push(*v))
    }

    /// The history keeps the last `n` events; a replaying listener gets
    /// them first, a plain one only what follows.
    #[test]
    fn keeps_the_last_n_and_replays_them() {
        assert!(HistorySignal::<u32>::new(0).is_err());
        let signal = HistorySignal::<u32>::new(3).unwrap();
        let (early, listener) = recorder();
        let _early = signal.connect_with_replay(listener); // empty history
        for v in 1..=5 {
            signal.emit(v);
        }
        assert_eq!(signal.history(), [3, 4, 5]);
        let (replayed, listener) = recorder();
        let _replayed = signal.connect_with_replay(listener);
        let (plain, listener) = recorder();
        let _plain = signal.connect(listener);
        assert_eq!(*replayed.lock().unwrap(), [3, 4, 5]);
        signal.emit(6);
        assert_eq!(*early.lock().unwrap(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(*replayed.lock().unwrap(), [3, 4, 5, 6]);
        assert_eq!(*plain.lock().unwrap(), [6]);
        assert_eq!(signal.len(), 3);
    }

    /// Events the replaying listener emits during its replay reach it
    /// after the history (and reach the other listeners at once).
    #[test]
    fn a_replaying_listener_may_emit() {
        let signal = Arc::new(HistorySignal::<u32>::new(4).unwrap());
        let (plain, listener) = recorder();
        let _plain = signal.connect(listener);
        signal.emit(1);
        signal.emit(2);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, weak) = (seen.clone(), Arc::downgrade(&signal));
        let _replaying = signal.connect_with_replay(move |v: &u32| {
            s.lock().unwrap().push(*v);
            if *v < 3 {
                weak.upgrade().unwrap().emit(v + 10);
            }
        });
        assert_eq!(*seen.lock().unwrap(), [1, 2, 11, 12]);
        assert_eq!(*plain.lock().unwrap(), [1, 2, 11, 12]);
        assert_eq!(signal.history(), [1, 2, 11, 12]);
    }

    /// A panic during the replay unwinds out of `connect_with_replay` and
    /// leaves the listener disconnected; the signal carries on.
    #[test]
    fn a_panic_during_replay_disconnects() {
        let signal = HistorySignal::<u32>::new(4).unwrap();
        signal.emit(1);
        signal.emit(2);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let result = catch_unwind(AssertUnwindSafe(|| {
            signal.connect_with_replay(move |v: &u32| {
                c.fetch_add(1, Ordering::SeqCst);
                assert!(*v != 2, "bad replay");
            })
        }));
        assert!(result.is_err());
        assert!(signal.is_empty());
        signal.emit(3);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let (seen, listener) = recorder();
        let _c = signal.connect_with_replay(listener);
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    }

    /// Runs `f` on a thread; `false` if it has not finished within 10 s.
    fn finishes(f: impl FnOnce() + Send + 'static) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok()
    }

    /// Two replays at once whose listeners each emit during their replay:
    /// neither waits for the other; each gets the history, its own event
    /// and the other's.
    #[test]
    fn concurrent_replays_that_emit_do_not_deadlock() {
        let signal = Arc::new(HistorySignal::<u32>::new(4).unwrap());
        signal.emit(0);
        let both_replaying = Arc::new(Barrier::new(2));
        let seen: Vec<Arc<Mutex<Vec<u32>>>> = (0..2).map(|_| Arc::default()).collect();
        let (signal2, seen2) = (signal.clone(), seen.clone());
        let ok = finishes(move || {
            let threads: Vec<_> = (0..2u32)
                .map(|t| {
                    let (signal, barrier) = (signal2.clone(), both_replaying.clone());
                    let seen = seen2[t as usize].clone();
                    thread::spawn(move || {
                        let weak = Arc::downgrade(&signal);
                        signal.connect_with_replay(move |v: &u32| {
                            seen.lock().unwrap().push(*v);
                            if *v == 0 {
                                barrier.wait();
                                weak.upgrade().unwrap().emit(100 + t);
                            }
                        })
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        });
        assert!(ok, "two concurrent replays deadlocked");
        for (t, seen) in seen.iter().enumerate() {
            let mut seen = seen.lock().unwrap().clone();
            assert_eq!(seen[0], 0);
            seen.sort();
            assert_eq!(seen, [0, 100, 101], "listener {t}");
        }
    }

    /// An emitter holding a lock the replaying listener needs does not wait
    /// for the replay (its event is queued for the replaying listener).
    #[test]
    fn an_emitter_holding_a_lock_does_not_wait_for_the_replay() {
        let ok = finishes(|| {
            let signal = Arc::new(HistorySignal::<u32>::new(4).unwrap());
            signal.emit(0);
            let state = Arc::new(Mutex::new(0u32));
            let (go, went) = std::sync::mpsc::channel::<()>();
            let emitter = {
                let (signal, state) = (signal.clone(), state.clone());
                thread::spawn(move || {
                    went.recv().unwrap();
                    let _held = state.lock().unwrap();
                    signal.emit(1);
                })
            };
            let (st, seen) = (state.clone(), Arc::new(Mutex::new(Vec::new())));
            let s = seen.clone();
            let _c = signal.connect_with_replay(move |v: &u32| {
                if *v == 0 {
                    go.send(()).unwrap();
                    thread::sleep(std::time::Duration::from_millis(50));
                }
                let _needed = st.lock().unwrap();
                s.lock().unwrap().push(*v);
            });
            emitter.join().unwrap();
            assert_eq!(*seen.lock().unwrap(), [0, 1]);
        });
        assert!(
            ok,
            "the replaying listener and a lock-holding emitter deadlocked"
        );
    }

    /// A panicking `Clone` while the history is copied leaves no listener
    /// behind, and the signal keeps working for every thread.
    #[test]
    fn a_panicking_clone_during_the_copy_leaves_nothing_behind() {
        use std::sync::atomic::AtomicBool;
        static PANIC_ON_CLONE: AtomicBool = AtomicBool::new(false);
        #[derive(Debug)]
        struct Touchy(u32);
        impl Clone for Touchy {
            fn clone(&self) -> Self {
                assert!(!PANIC_ON_CLONE.load(Ordering::SeqCst), "clone failed");
                Touchy(self.0)
            }
        }
        let signal = Arc::new(HistorySignal::<Touchy>::new(4).unwrap());
        signal.emit(Touchy(1));
        PANIC_ON_CLONE.store(true, Ordering::SeqCst);
        let result = catch_unwind(AssertUnwindSafe(|| {
            signal.connect_with_replay(|_: &Touchy| {})
        }));
        PANIC_ON_CLONE.store(false, Ordering::SeqCst);
        assert!(result.is_err());
        assert!(signal.is_empty());
        let (seen, listener) = recorder();
        let _c = signal.connect(move |t: &Touchy| listener(&t.0));
        let s = signal.clone();
        assert!(finishes(move || s.emit(Touchy(2))), "emit hangs");
        assert_eq!(*seen.lock().unwrap(), [2]);
    }

    /// With a history that holds everything, listeners connecting with
    /// replay while two threads emit receive every event of each emitter,
    /// from its first, once, in order.
    #[test]
    fn a_full_history_replays_everything_under_concurrent_emits() {
        const N: u32 = 5_000;
        let signal = Arc::new(HistorySignal::<u32>::new(2 * N as usize).unwrap());
        let go = Arc::new(Barrier::new(3));
        let emitters: Vec<_> = (0..2u32)
            .map(|t| {
                let (signal, go) = (signal.clone(), go.clone());
                thread::spawn(move || {
                    go.wait();
                    for i in 0..N {
                        signal.emit(t * N + i);
                    }
                })
            })
            .collect();
        go.wait();
        let mut recorders = Vec::new();
        for _ in 0..8 {
            let (seen, listener) = recorder();
            recorders.push((seen, signal.connect_with_replay(listener)));
            thread::yield_now();
        }
        for e in emitters {
            e.join().unwrap();
        }
        for (seen, _connection) in &recorders {
            let seen = seen.lock().unwrap();
            for t in 0..2u32 {
                let mine: Vec<u32> = seen.iter().copied().filter(|v| v / N == t).collect();
                let all: Vec<u32> = (t * N..(t + 1) * N).collect();
                assert_eq!(mine, all, "emitter {t}");
            }
        }
    }

    /// Two threads emit (at least 5 000 events each, and on until after
    /// every listener is connected) while listeners connect with replay, with a
    /// history of 64: each listener receives, from each emitter, a gap-free
    /// run of its events (in its order, nothing twice) that ends at its
    /// last one.
    #[test]
    fn replay_under_concurrent_emits_misses_and_repeats_nothing() {
        const STRIDE: u32 = 1 << 24;
        let signal = Arc::new(HistorySignal::<u32>::new(64).unwrap());
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let go = Arc::new(Barrier::new(3));
        let emitters: Vec<_> = (0..2u32)
            .map(|t| {
                let (signal, go, done) = (signal.clone(), go.clone(), done.clone());
                thread::spawn(move || {
                    go.wait();
                    let mut i = 0;
                    loop {
                        // The last emit starts after every listener was
                        // connected (an earlier one may have been numbered
                        // before a connect, and evicted from the history).
                        let finishing = done.load(Ordering::SeqCst);
                        signal.emit(t * STRIDE + i);
                        if finishing && i >= 5_000 {
                            return t * STRIDE + i;
                        }
                        i += 1;
                    }
                })
            })
            .collect();
        go.wait();
        let mut recorders = Vec::new();
        for _ in 0..8 {
            let (seen, listener) = recorder();
            recorders.push((seen, signal.connect_with_replay(listener)));
            thread::yield_now();
        }
        done.store(true, Ordering::SeqCst);
        let last: Vec<u32> = emitters.into_iter().map(|e| e.join().unwrap()).collect();
        for (seen, _connection) in &recorders {
            let seen = seen.lock().unwrap();
            for t in 0..2u32 {
                let mine: Vec<u32> = seen.iter().copied().filter(|v| v / STRIDE == t).collect();
                assert_eq!(
                    mine.last(),
                    Some(&last[t as usize]),
                    "emitter {t}: missed the end"
                );
                for pair in mine.windows(2) {
                    assert_eq!(pair[1], pair[0] + 1, "emitter {t}: a gap or a repeat");
                }
            }
        }
    }
}

/// A topic listener's `Connection` behaves as a signal's: ids are unique;
/// a block skips it (on a cached topic, an uncached one and a publisher)
/// until the last guard goes; `scoped` disconnects on drop.
#[test]
fn topic_connections_block_and_scope_like_signal_connections() {
    let topics = Topics::<u32>::new();
    let log = Log::default();
    let conn = connect(&topics, &log, "c", "t.*");
    let other = connect(&topics, &log, "o", "t.*");
    assert_ne!(conn.id(), other.id());
    let mut publisher = topics.publisher("t.p").unwrap();
    topics.emit("t.a", &1).unwrap(); // caches t.a
    let outer = conn.block();
    let inner = conn.block();
    assert!(conn.is_blocked() && conn.is_connected());
    topics.emit("t.a", &2).unwrap();
    publisher.emit(&3);
    drop(inner);
    topics.emit("t.b", &4).unwrap();
    drop(outer);
    assert!(!conn.is_blocked());
    topics.emit("t.a", &5).unwrap();
    let seen: Vec<_> = taken(&log)
        .into_iter()
        .map(|(who, _, v)| (who, v))
        .collect();
    assert_eq!(
        seen,
        [
            ("c", 1),
            ("o", 1),
            ("o", 2),
            ("o", 3),
            ("o", 4),
            ("c", 5),
            ("o", 5)
        ]
    );
    {
        let _scoped = other.clone().scoped();
        assert_eq!(topics.len(), 2);
    }
    assert!(!other.is_connected());
    assert_eq!(topics.len(), 1);
    assert!(!other.disconnect(), "the scoped drop disconnected it");
}

/// `disconnect_wait` on a topic listener waits for a call of it running on
/// another thread, and refuses to wait for the emit it is called from.
#[test]
fn topic_disconnect_wait_waits_for_running_calls_and_detects_its_own() {
    let topics = Topics::<u32>::new();
    let entered = Arc::new(Barrier::new(2));
    let finished = Arc::new(AtomicUsize::new(0));
    let (e, f) = (entered.clone(), finished.clone());
    let slow = topics
        .connect("slow", move |_: &str, _: &u32| {
            e.wait();
            thread::sleep(std::time::Duration::from_millis(50));
            f.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let t = topics.clone();
    let emitter = thread::spawn(move || t.emit("slow", &1).unwrap());
    entered.wait();
    assert_eq!(slow.disconnect_wait(), Ok(true));
    assert_eq!(finished.load(Ordering::SeqCst), 1, "returned mid-call");
    emitter.join().unwrap();

    let own: Arc<Mutex<Option<sigwire::Connection>>> = Arc::default();
    let result = Arc::new(Mutex::new(None));
    let (o, r) = (own.clone(), result.clone());
    let conn = topics
        .connect("self.*", move |_: &str, _: &u32| {
            let conn = o.lock().unwrap().clone().unwrap();
            *r.lock().unwrap() = Some(conn.disconnect_wait());
        })
        .unwrap();
    *own.lock().unwrap() = Some(conn.clone());
    topics.emit("self.x", &1).unwrap();
    let waited = result.lock().unwrap().take().unwrap();
    assert!(waited.is_err(), "waited for its own emit: {waited:?}");
    assert!(!conn.is_connected(), "disconnected all the same");
    topics.emit("self.x", &2).unwrap();
    assert!(result.lock().unwrap().is_none(), "called after disconnect");
}
