//! Attacks from the hostile review of issue 11's topic cache and delivery
//! units, kept as regression tests: odd topics, re-entrant and racing
//! listeners, panicking listeners, and snapshots of the counters
//! taken while other threads emit (`b_sync_snapshot_consistency`,
//! `b_async_snapshot_consistency` and `b_async_emit_collect_snapshot`
//! failed before the review's fixes). The review's two other repros, a
//! closure's panicking drop in a publisher's emit and colliding topics,
//! live in `tests/topics_cache.rs`. Section C holds issue 12's review of
//! topic listeners' `Connection` (re-entrant, nested past the record,
//! across signals and topics, panicking, racing, outliving the `Topics`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use sigwire::bus::{HeldSignal, HistorySignal, Topics};
use sigwire::{AsyncSignal, SyncSignal};

fn rounds(debug: usize, release: usize) -> usize {
    if cfg!(debug_assertions) {
        debug
    } else {
        release
    }
}

fn counter() -> (
    Arc<AtomicUsize>,
    impl Fn(&str, &u32) + Send + Sync + 'static,
) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    (n, move |_: &str, _: &u32| {
        m.fetch_add(1, Ordering::SeqCst);
    })
}

// ---------------------------------------------------------------- A. cache

/// Topics of odd bytes: NUL-only topics hash to 0 (the "empty" tag),
/// long ones, non-ASCII ones, and wildcard bytes.
#[test]
fn a_odd_topics() {
    let topics = Topics::<u32>::new();
    let (all, f) = counter();
    let _s = topics.connect(">", f).unwrap();
    assert!(topics.emit("", &1).is_err());
    assert!(topics.emit("a.*", &1).is_err());
    assert!(topics.emit("a>", &1).is_err());
    assert!(topics.emit("a.", &1).is_err());
    let long = "x".repeat(100_000);
    let names = [
        "\0".to_string(),
        "\0\0".to_string(),
        "\0\0\0\0\0\0\0\0\0".to_string(),
        long.clone(),
        format!("{long}y"),
        "héllo.wörld".to_string(),
        "日本.語".to_string(),
        "a.\u{1F600}".to_string(),
    ];
    for _ in 0..3 {
        for n in &names {
            topics.emit(n, &1).unwrap();
        }
    }
    assert_eq!(all.load(Ordering::SeqCst), 3 * names.len());
    // Per-topic pattern match on non-ASCII.
    let (w, fw) = counter();
    let _w = topics.connect("日本.*", fw).unwrap();
    topics.emit("日本.語", &1).unwrap();
    topics.emit("日本.語.x", &1).unwrap();
    assert_eq!(w.load(Ordering::SeqCst), 1);
}

/// Re-entrancy: a listener connects, disconnects itself and emits on
/// the same Topics from inside its callback.
#[test]
fn a_reentrant_connect_disconnect_emit() {
    let topics = Topics::<u32>::new();
    let (late, flate) = counter();
    let flate = Arc::new(Mutex::new(Some(flate)));
    let self_sub: Arc<Mutex<Option<sigwire::Connection>>> = Arc::default();
    let calls = Arc::new(AtomicUsize::new(0));
    {
        let (t, flate, me, calls) = (
            topics.clone(),
            flate.clone(),
            self_sub.clone(),
            calls.clone(),
        );
        let sub = topics
            .connect("r.x", move |_: &str, v: &u32| {
                calls.fetch_add(1, Ordering::SeqCst);
                if *v == 0 {
                    // connect, then an emit that starts after must reach it
                    let f = flate.lock().unwrap().take().unwrap();
                    std::mem::forget(t.connect("r.*", f).unwrap());
                    t.emit("r.x", &1).unwrap();
                    // disconnect self, then an emit must not call us
                    let s = me.lock().unwrap().take().unwrap();
                    assert!(s.disconnect());
                    t.emit("r.x", &2).unwrap();
                }
            })
            .unwrap();
        *self_sub.lock().unwrap() = Some(sub);
    }
    topics.emit("r.x", &0).unwrap();
    // us: 0 and 1 (nested, before disconnecting); not 2
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // late: 1 and 2 (nested, after it connected); not 0 (the outer emit
    // resolved before)
    assert_eq!(late.load(Ordering::SeqCst), 2);
    topics.emit("r.x", &3).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(late.load(Ordering::SeqCst), 3);
}

/// A panicking listener mid-emit: later listeners not called, the
/// Topics still works, stats count one panic and the deliveries before it.
#[test]
fn a_panicking_listener() {
    let topics = Topics::<u32>::new();
    topics.enable_stats();
    let (first, f1) = counter();
    let (third, f3) = counter();
    let _a = topics.connect("p", f1).unwrap();
    let _b = topics
        .connect("p", |_: &str, v: &u32| assert!(*v != 13, "boom"))
        .unwrap();
    let _c = topics.connect("p", f3).unwrap();
    for v in [1, 13, 2, 13] {
        let _ = catch_unwind(AssertUnwindSafe(|| topics.emit("p", &v)));
    }
    assert_eq!(first.load(Ordering::SeqCst), 4);
    assert_eq!(third.load(Ordering::SeqCst), 2);
    let s = topics.topic_stats("p").unwrap();
    assert_eq!((s.emitted, s.delivered, s.panicked), (4, 2 * 3 + 2, 2));
    // still usable (no poisoned lock), connect works
    let (d, fd) = counter();
    let _d = topics.connect("p", fd).unwrap();
    topics.emit("p", &1).unwrap();
    assert_eq!(d.load(Ordering::SeqCst), 1);
}

/// Many distinct topics: the cache and the per-topic counters stay bounded.
#[test]
fn a_many_topics_stay_bounded() {
    let topics = Topics::<u32>::new();
    topics.enable_stats();
    let _s = topics.connect("m.*", |_: &str, _: &u32| {}).unwrap();
    let n = rounds(20_000, 200_000);
    for i in 0..n {
        topics.emit(&format!("m.{i}"), &1).unwrap();
    }
    assert!(topics.cached_topics() <= 2048, "{}", topics.cached_topics());
    let by = topics.stats_by_topic();
    assert!(by.len() <= 4097, "{}", by.len());
    assert_eq!(topics.stats().emitted, n as u64);
    assert_eq!(topics.stats().delivered, n as u64);
}

/// Topics whose hashes fill one bucket (all in one bucket of 8): a
/// connect on another thread, then a flag; an emit that starts after the
/// flag must reach the new listener, on hit, admitted miss and
/// unadmitted miss paths alike. Then the same for disconnect.
#[test]
fn a_connect_disconnect_race_with_cached_and_uncached_emits() {
    // Many topics so that buckets are full and most misses go uncached.
    let names: Arc<Vec<String>> = Arc::new((0..4000).map(|i| format!("q.{i}")).collect());
    for _ in 0..rounds(20, 300) {
        let topics = Topics::<u32>::new();
        let _base = topics.connect("q.*", |_: &str, _: &u32| {}).unwrap();
        for n in names.iter().take(3000) {
            topics.emit(n, &0).unwrap();
        }
        let flag = Arc::new(AtomicU64::new(0));
        let new_calls_after = Arc::new(AtomicUsize::new(0));
        let old_calls_after = Arc::new(AtomicUsize::new(0));
        let phase = Arc::new(AtomicU64::new(0));
        // new listener counts only calls made with v == 1 (emitted after
        // the flag was seen)
        let (nca, ph) = (new_calls_after.clone(), phase.clone());
        let emitter = {
            let (topics, names, flag) = (topics.clone(), names.clone(), flag.clone());
            thread::spawn(move || {
                let mut i = 0usize;
                let mut misses_after = 0;
                loop {
                    let seen = flag.load(Ordering::Acquire);
                    let name = &names[i % names.len()];
                    i = i.wrapping_mul(7).wrapping_add(13) % names.len();
                    topics.emit(name, &(seen as u32)).unwrap();
                    if seen == 1 {
                        misses_after += 1;
                        if misses_after > 2000 {
                            break;
                        }
                    }
                    if seen == 3 {
                        break;
                    }
                }
            })
        };
        let (nca2, ph2) = (nca.clone(), ph.clone());
        let sub = topics
            .connect("q.*", move |_: &str, v: &u32| {
                if *v == 1 {
                    nca2.fetch_add(1, Ordering::SeqCst);
                }
                if *v == 3 {
                    ph2.fetch_add(1, Ordering::SeqCst); // after disconnect
                }
            })
            .unwrap();
        flag.store(1, Ordering::Release);
        emitter.join().unwrap();
        assert_eq!(
            new_calls_after.load(Ordering::SeqCst),
            2001,
            "an emit that started after connect returned missed it"
        );
        // disconnect race
        let emitter = {
            let (topics, names, flag) = (topics.clone(), names.clone(), flag.clone());
            thread::spawn(move || {
                let mut i = 0usize;
                let mut after = 0;
                loop {
                    let seen = flag.load(Ordering::Acquire);
                    let name = &names[i % names.len()];
                    i = i.wrapping_mul(7).wrapping_add(13) % names.len();
                    topics.emit(name, &(seen as u32)).unwrap();
                    if seen == 3 {
                        after += 1;
                        if after > 2000 {
                            break;
                        }
                    }
                }
            })
        };
        flag.store(2, Ordering::Release);
        assert!(sub.disconnect());
        flag.store(3, Ordering::Release);
        emitter.join().unwrap();
        assert_eq!(phase.load(Ordering::SeqCst), 0, "called after disconnect");
        let _ = old_calls_after;
    }
}

// ------------------------------------------------------------ B. stats

/// Concurrent emits and reads on a SyncSignal: a snapshot never shows
/// more deliveries than emitted × listeners, and emitted never goes back.
#[test]
fn b_sync_snapshot_consistency() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    signal.enable_stats();
    signal.connect(|_: &u32| {});
    let stop = Arc::new(AtomicBool::new(false));
    let emitters: Vec<_> = (0..2)
        .map(|_| {
            let (signal, stop) = (signal.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    signal.emit(&1);
                }
            })
        })
        .collect();
    let mut last = 0;
    let mut bad = None;
    for _ in 0..rounds(200_000, 5_000_000) {
        let s = signal.stats();
        if s.delivered > s.emitted || s.emitted < last {
            bad = Some((last, s));
            break;
        }
        last = s.emitted;
    }
    stop.store(true, Ordering::Relaxed);
    for e in emitters {
        e.join().unwrap();
    }
    assert!(bad.is_none(), "inconsistent snapshot: {bad:?}");
}

/// AsyncSignal: `emitted = completed + pending` with `pending` read first.
/// A snapshot taken while a batch completes may count it twice; does a
/// later snapshot then show emitted going back? And does `emit_collect`
/// (delivered added before completed) show delivered > emitted?
#[test]
fn b_async_snapshot_consistency() {
    let signal = Arc::new(AsyncSignal::<u32>::new());
    signal.connect(|_: &u32| {});
    let stop = Arc::new(AtomicBool::new(false));
    let emitter = {
        let (signal, stop) = (signal.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = signal.emit(1);
            }
        })
    };
    let mut last = 0;
    let mut backwards = None;
    let mut over = None;
    for _ in 0..rounds(200_000, 3_000_000) {
        let s = signal.stats();
        if s.emitted < last && backwards.is_none() {
            backwards = Some((last, s));
        }
        if s.delivered > s.emitted && over.is_none() {
            over = Some(s);
        }
        last = s.emitted;
        if backwards.is_some() && over.is_some() {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    emitter.join().unwrap();
    signal.flush().unwrap();
    let s = signal.stats();
    assert_eq!(s.emitted, s.delivered);
    assert!(over.is_none(), "delivered > emitted x 1: {over:?}");
    assert!(backwards.is_none(), "emitted went back: {backwards:?}");
}

#[test]
fn b_async_emit_collect_snapshot() {
    let signal = Arc::new(AsyncSignal::<u32>::new());
    signal.connect(|_: &u32| {});
    let stop = Arc::new(AtomicBool::new(false));
    let emitter = {
        let (signal, stop) = (signal.clone(), stop.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                signal.emit_collect(1).unwrap();
            }
        })
    };
    let mut over = None;
    for _ in 0..rounds(200_000, 5_000_000) {
        let s = signal.stats();
        if s.delivered > s.emitted {
            over = Some(s);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    emitter.join().unwrap();
    assert!(over.is_none(), "delivered > emitted x 1: {over:?}");
}

/// Filtered / blocked / once / fallible listeners on the sync path.
#[test]
fn b_sync_listener_kinds() {
    let signal = SyncSignal::<i32>::new();
    signal.enable_stats();
    let errors = Arc::new(AtomicUsize::new(0));
    let e = errors.clone();
    signal.set_error_handler(move |_| {
        e.fetch_add(1, Ordering::SeqCst);
    });
    let _f = signal.connect_filtered(|v: &i32| *v > 0, |_: &i32| {});
    let blocked = signal.connect(|_: &i32| {});
    let _b = blocked.block();
    let _o = signal.connect_once(|_: &i32| {});
    let _e = signal.connect_fallible(|v: &i32| if *v < 0 { Err("neg") } else { Ok(()) });
    signal.emit(&1); // filtered ✓, once ✓, fallible ✓ = 3
    signal.emit(&-1); // filtered ✗, once fired, fallible err = 1 (failed)
    assert!(signal.try_emit(&-2).is_err()); // 1, failed, no Skipped error
    let errs = signal.emit_collect(&-3).unwrap_err(); // 1 failed
    assert_eq!(errs.len(), 1, "the filter's Skipped marker surfaced");
    let cancel = AtomicBool::new(false);
    signal.emit_until(&-4, &cancel).unwrap(); // 1 failed, reported
    assert_eq!(
        errors.load(Ordering::SeqCst),
        2,
        "Skipped reported to handler"
    );
    let s = signal.stats();
    assert_eq!((s.emitted, s.delivered, s.failed, s.panicked), (5, 7, 4, 0));
}

/// An error handler that panics: the delivery that failed is counted as
/// delivered, failed, and panicked.
#[test]
fn b_sync_panicking_error_handler() {
    let signal = SyncSignal::<i32>::new();
    signal.enable_stats();
    signal.set_error_handler(|_| panic!("handler"));
    let _e = signal.connect_fallible(|_: &i32| Err("always"));
    let _ok = signal.connect(|_: &i32| {});
    assert!(catch_unwind(AssertUnwindSafe(|| signal.emit(&1))).is_err());
    let s = signal.stats();
    eprintln!("panicking handler: {s:?}");
    assert!(
        s.delivered + s.panicked <= s.emitted * 2,
        "one delivery counted as both delivered and panicked: {s:?}"
    );
}

/// A once-listener hammered by concurrent emits: exactly one delivery.
#[test]
fn b_sync_once_concurrent() {
    for _ in 0..rounds(200, 5000) {
        let signal = Arc::new(SyncSignal::<u32>::new());
        signal.enable_stats();
        let _o = signal.connect_once(|_: &u32| {});
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let s = signal.clone();
                thread::spawn(move || {
                    for _ in 0..10 {
                        s.emit(&1)
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        let s = signal.stats();
        assert_eq!(s.delivered, 1, "{s:?}");
    }
}

/// Async: filtered, blocked, once and fallible listeners; panics.
#[test]
fn b_async_listener_kinds() {
    let signal = AsyncSignal::<i32>::new();
    signal.set_error_handler(|_| {});
    let _f = signal.connect_filtered(|v: &i32| *v > 0, |_: &i32| {});
    let blocked = signal.connect(|_: &i32| {});
    let _b = blocked.block();
    let _o = signal.connect_once(|_: &i32| {});
    let _e = signal.connect_fallible(|v: &i32| if *v < 0 { Err("neg") } else { Ok(()) });
    let _p = signal.connect(|v: &i32| assert!(*v != 7, "seven"));
    signal.emit(1).unwrap(); // f, o, e, p = 4
    signal.emit(-1).unwrap(); // e (failed), p = 2
    signal.emit(7).unwrap(); // f, e, p panicked = 2 delivered, 1 panicked
    signal.flush().unwrap();
    let errs = signal.emit_collect(-2).unwrap_err(); // e failed, p = 2
    assert_eq!(errs.len(), 1, "{errs:?}");
    let s = signal.stats();
    assert_eq!(
        (s.emitted, s.delivered, s.failed, s.panicked, s.pending),
        (4, 10, 2, 1, 0)
    );
}

/// HistorySignal: a replay is not counted; HeldSignal: queued events
/// counted at start, with their deliveries; a full queue is rejected.
#[test]
fn b_held_and_history() {
    let h = HistorySignal::<u8>::new(4).unwrap();
    h.enable_stats();
    let _a = h.connect(|_: &u8| {});
    h.emit(1);
    h.emit(2);
    let _late = h.connect_with_replay(|_: &u8| {});
    let s = h.stats();
    assert_eq!((s.emitted, s.delivered), (2, 2));

    let held = HeldSignal::<u8>::new(2).unwrap();
    held.signal().enable_stats();
    let _a = held.signal().connect(|_: &u8| {});
    let _b = held.signal().connect(|_: &u8| {});
    held.emit(1).unwrap();
    held.emit(2).unwrap();
    assert!(held.emit(3).is_err());
    held.start();
    held.emit(4).unwrap();
    let s = held.signal().stats();
    assert_eq!((s.emitted, s.delivered, s.rejected), (3, 6, 1));

    // Queued events, no listener at start: accepted, then in no counter.
    let held = HeldSignal::<u8>::new(2).unwrap();
    held.signal().enable_stats();
    held.emit(1).unwrap();
    held.start();
    eprintln!(
        "held with no listener at start: {:?}",
        held.signal().stats()
    );
}

// ------------------------------------------------- C. topic connections
//
// The attacks of issue 12's review on `Topics::connect` → `Connection`.

/// A slot other tests' listeners can reach their own connection through.
type Own = Arc<Mutex<Option<sigwire::Connection>>>;

fn own_conn(own: &Own) -> sigwire::Connection {
    own.lock()
        .unwrap()
        .clone()
        .expect("connection set before the emit")
}

/// Inside a topic emit, `disconnect_wait` on *another* listener of the
/// same topics refuses (it would wait for the emit it runs in), still
/// disconnects it, and that listener, later in this very emit, is not
/// called: on a cached topic, a first miss and through a publisher.
#[test]
fn c_disconnect_wait_on_another_listener_from_inside() {
    for path in ["cached", "publisher", "first miss"] {
        let topics = Topics::<u32>::new();
        let other: Own = Arc::default();
        let results = Arc::new(Mutex::new(Vec::new()));
        let (o, r) = (other.clone(), results.clone());
        let _first = topics
            .connect("t.*", move |_: &str, _: &u32| {
                r.lock().unwrap().push(own_conn(&o).disconnect_wait());
            })
            .unwrap();
        let (later_calls, later) = counter();
        *other.lock().unwrap() = Some(topics.connect("t.>", later).unwrap());
        match path {
            "cached" => {
                topics.emit("t.warm", &0).unwrap();
                // Warm-up called `later` once and disconnected it; connect
                // a fresh one for the measured emit.
                later_calls.store(0, Ordering::SeqCst);
                let (n, l) = counter();
                *other.lock().unwrap() = Some(topics.connect("t.>", l).unwrap());
                topics.emit("t.warm", &1).unwrap();
                assert_eq!(
                    n.load(Ordering::SeqCst),
                    0,
                    "{path}: called after its disconnect"
                );
            }
            "publisher" => {
                let mut p = topics.publisher("t.p").unwrap();
                p.emit(&1);
                assert_eq!(later_calls.load(Ordering::SeqCst), 0, "{path}");
            }
            _ => {
                topics.emit("t.u", &1).unwrap();
                assert_eq!(later_calls.load(Ordering::SeqCst), 0, "{path}");
            }
        }
        let results = results.lock().unwrap();
        assert!(!results.is_empty(), "{path}");
        assert!(results.iter().all(Result::is_err), "{path}: {results:?}");
        assert_eq!(topics.len(), 1, "{path}");
    }
}

/// Emits nested past the record's 32 entries on one thread: a
/// `disconnect_wait` at depth 40 from inside still refuses instead of
/// waiting for itself, and afterwards the thread waits fine.
#[test]
fn c_deep_nesting_past_32_detects_its_own_emit() {
    let topics = Topics::<u32>::new();
    let own: Own = Arc::default();
    let result = Arc::new(Mutex::new(None));
    let (o, r, t) = (own.clone(), result.clone(), topics.clone());
    let conn = topics
        .connect("deep", move |_: &str, depth: &u32| {
            if *depth < 40 {
                // Alternate the two emit paths.
                if depth % 2 == 0 {
                    t.emit("deep", &(depth + 1)).unwrap();
                } else {
                    t.publisher("deep").unwrap().emit(&(depth + 1));
                }
            } else {
                *r.lock().unwrap() = Some(own_conn(&o).disconnect_wait());
            }
        })
        .unwrap();
    *own.lock().unwrap() = Some(conn.clone());
    topics.emit("deep", &0).unwrap();
    let waited = result.lock().unwrap().take().expect("reached depth 40");
    assert!(waited.is_err(), "waited for itself at depth 40: {waited:?}");
    assert!(!conn.is_connected());
    assert_eq!(conn.disconnect_wait(), Ok(false), "outside every emit");
}

/// At depth 40 on one thread (past the record, in the topics' overflow
/// counter), a `disconnect_wait` on another thread must wait for that
/// emit to finish.
#[test]
fn c_disconnect_wait_waits_for_an_emit_past_the_record() {
    let topics = Topics::<u32>::new();
    let reached = Arc::new(std::sync::Barrier::new(2));
    let finished = Arc::new(AtomicBool::new(false));
    let (b, f, t) = (reached.clone(), finished.clone(), topics.clone());
    let conn = topics
        .connect("deep", move |_: &str, depth: &u32| {
            if *depth < 40 {
                t.emit("deep", &(depth + 1)).unwrap();
            } else {
                b.wait();
                for _ in 0..2000 {
                    thread::yield_now();
                }
                f.store(true, Ordering::SeqCst);
            }
        })
        .unwrap();
    let t = topics.clone();
    let emitter = thread::spawn(move || t.emit("deep", &0).unwrap());
    reached.wait();
    assert_eq!(conn.disconnect_wait(), Ok(true));
    assert!(finished.load(Ordering::SeqCst), "returned mid-call");
    emitter.join().unwrap();
}

/// Cross kinds: from inside a signal's emit, `disconnect_wait` on a
/// topic listener does not refuse (the thread is in no topic emit); from
/// inside a topic emit, on a signal listener, likewise. Nested inside
/// both, both refuse.
#[test]
fn c_disconnect_wait_across_signal_and_topics() {
    let topics = Topics::<u32>::new();
    let signal = Arc::new(SyncSignal::<u32>::new());
    let topic_conn = topics.connect("x", |_: &str, _: &u32| {}).unwrap();
    let signal_conn = signal.connect(|_: &u32| {});

    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, tc) = (got.clone(), topic_conn.clone());
    let _s = signal.connect(move |_: &u32| {
        g.lock()
            .unwrap()
            .push(("topic from signal", tc.disconnect_wait()))
    });
    signal.emit(&1);
    let (g, sc) = (got.clone(), signal_conn.clone());
    let _t = topics
        .connect("y", move |_: &str, _: &u32| {
            g.lock()
                .unwrap()
                .push(("signal from topic", sc.disconnect_wait()))
        })
        .unwrap();
    topics.emit("y", &1).unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        [
            ("topic from signal", Ok(true)),
            ("signal from topic", Ok(true))
        ]
    );

    // Both nested: signal emit → topic emit → waits on each.
    let (a, b) = (
        topics.connect("z", |_: &str, _: &u32| {}).unwrap(),
        signal.connect(|_: &u32| {}),
    );
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, a2, b2) = (got.clone(), a.clone(), b.clone());
    let _zz = topics
        .connect("zz", move |_: &str, _: &u32| {
            g.lock().unwrap().push(a2.disconnect_wait().is_err());
            g.lock().unwrap().push(b2.disconnect_wait().is_err());
        })
        .unwrap();
    let t = topics.clone();
    let outer = SyncSignal::<u32>::new();
    let _o = outer.connect(move |_: &u32| t.emit("zz", &1).unwrap());
    // b2 is a listener of `signal`, not `outer`: only the topic refuses.
    outer.emit(&1);
    assert_eq!(*got.lock().unwrap(), [true, false]);
    let _ = &signal;
}

/// A listener that panics out of an emit (both paths, counted or not)
/// leaves no record entry behind: `disconnect_wait` from the same thread
/// then returns instead of refusing or hanging.
#[test]
fn c_panicking_listener_then_disconnect_wait() {
    for counted in [false, true] {
        let topics = Topics::<u32>::new();
        if counted {
            topics.enable_stats();
        }
        let bomb = topics
            .connect("p", |_: &str, _: &u32| panic!("listener bomb"))
            .unwrap();
        assert!(catch_unwind(AssertUnwindSafe(|| topics.emit("p", &1))).is_err());
        let mut publisher = topics.publisher("p").unwrap();
        assert!(catch_unwind(AssertUnwindSafe(|| publisher.emit(&2))).is_err());
        assert_eq!(bomb.disconnect_wait(), Ok(true), "counted: {counted}");
        topics.emit("p", &3).unwrap();
        publisher.emit(&4);
    }
}

struct DropBomb;
impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("closure drop bomb");
    }
}

/// A closure whose `Drop` panics: freed by `disconnect_wait` (through the
/// handle's temporary reference, the last one once the lists are gone),
/// by a `BlockGuard`'s unblock, and by the `Topics`' own drop. None of
/// them unwinds; the topics count the first.
#[test]
fn c_panicking_closure_drop_never_unwinds_out_of_a_handle() {
    let topics = Topics::<u32>::new();
    let bomb = DropBomb;
    let conn = topics
        .connect(">", move |_: &str, _: &u32| {
            let _ = &bomb;
        })
        .unwrap();
    topics.emit("a", &1).unwrap(); // cached: two lists hold it
    assert_eq!(conn.disconnect_wait(), Ok(true));
    assert_eq!(topics.error_count(), 1);

    // Dropped with the topics, a guard and a connection outliving them.
    let topics = Topics::<u32>::new();
    let bomb = DropBomb;
    let conn = topics
        .connect(">", move |_: &str, _: &u32| {
            let _ = &bomb;
        })
        .unwrap();
    let guard = conn.block();
    topics.emit("a", &1).unwrap();
    drop(topics);
    assert!(!conn.is_connected());
    assert!(!conn.is_blocked());
    assert!(!conn.disconnect());
    assert_eq!(conn.disconnect_wait(), Ok(false));
    drop(guard);
    let _ = format!("{conn:?}");
}

/// A connection outliving its `Topics` while a `Publisher` keeps the
/// registry: still connected, disconnect works, and the publisher then
/// skips it.
#[test]
fn c_connection_with_only_a_publisher_left() {
    let topics = Topics::<u32>::new();
    let (n, f) = counter();
    let conn = topics.connect("a.*", f).unwrap();
    let mut publisher = topics.publisher("a.b").unwrap();
    drop(topics);
    publisher.emit(&1);
    assert!(conn.is_connected());
    assert_eq!(conn.disconnect_wait(), Ok(true));
    publisher.emit(&2);
    assert_eq!(n.load(Ordering::SeqCst), 1);
}

/// A listener blocks itself (the guard kept outside) and unblocks another
/// from inside an emit; a guard dropped inside the emit.
#[test]
fn c_block_from_inside() {
    let topics = Topics::<u32>::new();
    let me: Own = Arc::default();
    let guards = Arc::new(Mutex::new(Vec::new()));
    let (m, g) = (me.clone(), guards.clone());
    let (later_n, later_f) = counter();
    let conn = topics
        .connect("b", move |_: &str, _: &u32| {
            g.lock().unwrap().push(own_conn(&m).block());
        })
        .unwrap();
    *me.lock().unwrap() = Some(conn.clone());
    let later = topics.connect("b", later_f).unwrap();
    let later_guard = Arc::new(Mutex::new(Some(later.block())));
    let lg = later_guard.clone();
    let _unblocker = topics
        .connect("b", move |_: &str, _: &u32| {
            lg.lock().unwrap().take();
        })
        .unwrap();
    topics.emit("b", &1).unwrap(); // conn blocks itself; later blocked; unblocker frees later
    assert!(conn.is_blocked());
    assert!(!later.is_blocked());
    topics.emit("b", &2).unwrap(); // conn skipped, later called
    assert_eq!(guards.lock().unwrap().len(), 1);
    assert_eq!(later_n.load(Ordering::SeqCst), 1);
    guards.lock().unwrap().clear();
    assert!(!conn.is_blocked());
}

/// Races: `disconnect_wait` against emits on many topics (the cache
/// evicting), publishers refreshing, and connects invalidating. After it
/// returns, the listener is never called again.
#[test]
fn c_disconnect_wait_races_emits_publishers_and_eviction() {
    for _ in 0..rounds(20, 100) {
        let topics = Topics::<u32>::new();
        let stop = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let conn = topics
            .connect("r.>", move |_: &str, _: &u32| {
                c.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        let mut threads = Vec::new();
        for k in 0..2u32 {
            let (t, s) = (topics.clone(), stop.clone());
            threads.push(thread::spawn(move || {
                let mut p = t.publisher("r.hot").unwrap();
                let mut i = 0u32;
                while !s.load(Ordering::Relaxed) {
                    if k == 0 {
                        t.emit(&format!("r.{}", i % 3000), &i).unwrap();
                    } else {
                        p.emit(&i);
                        if i % 64 == 0 {
                            let _ = t.connect("q", |_: &str, _: &u32| {}).unwrap().disconnect();
                        }
                    }
                    i = i.wrapping_add(1);
                }
            }));
        }
        while calls.load(Ordering::SeqCst) < 50 {
            thread::yield_now();
        }
        assert_eq!(conn.disconnect_wait(), Ok(true));
        let seen = calls.load(Ordering::SeqCst);
        for _ in 0..200 {
            thread::yield_now();
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            seen,
            "called after disconnect_wait"
        );
    }
}

/// `Connection` from topics: Send, Sync, Clone, Debug, and the same id on
/// every clone; distinct from signals' ids.
#[test]
fn c_topic_connection_traits() {
    fn send_sync<X: Send + Sync + Clone + std::fmt::Debug>(_: &X) {}
    let topics = Topics::<u32>::new();
    let a = topics.connect("a", |_: &str, _: &u32| {}).unwrap();
    send_sync(&a);
    let signal = SyncSignal::<u32>::new();
    let s = signal.connect(|_: &u32| {});
    assert_ne!(a.id(), s.id());
    assert_eq!(a.clone().id(), a.id());
    let dbg = format!("{a:?}");
    assert!(dbg.contains("connected: true"), "{dbg}");
    let b = a.clone();
    thread::spawn(move || assert!(b.disconnect()))
        .join()
        .unwrap();
    assert!(!a.is_connected());
    assert!(format!("{a:?}").contains("connected: false"));
}

/// Nested emits on two `Topics`: inside A's emit, then B's, a wait on a
/// listener of either refuses, one on a third `Topics` returns; a
/// listener connected from inside and waited for from inside refuses too
/// (conservative: the thread is in an emit of its topics).
#[test]
fn c_nested_emits_on_two_topics() {
    let (a, b, c) = (
        Topics::<u32>::new(),
        Topics::<u32>::new(),
        Topics::<u32>::new(),
    );
    let on_a = a.connect("x", |_: &str, _: &u32| {}).unwrap();
    let on_c = c.connect("x", |_: &str, _: &u32| {}).unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let (g, b2) = (got.clone(), b.clone());
    let _inner = b
        .connect("in", move |_: &str, _: &u32| {
            let fresh = b2.connect("fresh", |_: &str, _: &u32| {}).unwrap();
            let mut g = g.lock().unwrap();
            g.push(("a", on_a.disconnect_wait().is_err()));
            g.push(("fresh b", fresh.disconnect_wait().is_err()));
            g.push(("c", on_c.disconnect_wait().is_err()));
        })
        .unwrap();
    let b3 = b.clone();
    let _outer = a
        .connect("out", move |_: &str, _: &u32| b3.emit("in", &1).unwrap())
        .unwrap();
    a.emit("out", &1).unwrap();
    assert_eq!(
        *got.lock().unwrap(),
        [("a", true), ("fresh b", true), ("c", false)]
    );
    assert_eq!((a.len(), b.len(), c.len()), (1, 1, 0));
}

/// The refusal a topic listener gets from inside an emit says what it
/// was inside of: its message named only "the same signal", which a
/// `Topics` user has none of.
#[test]
fn c_would_deadlock_from_topics_names_topics() {
    let topics = Topics::<u32>::new();
    let other = topics.connect("other", |_: &str, _: &u32| {}).unwrap();
    let message = Arc::new(Mutex::new(String::new()));
    let m = message.clone();
    let _l = topics
        .connect("x", move |_: &str, _: &u32| {
            *m.lock().unwrap() = other.disconnect_wait().unwrap_err().to_string();
        })
        .unwrap();
    topics.emit("x", &1).unwrap();
    let message = message.lock().unwrap();
    assert!(message.contains("Topics"), "{message}");
}
