//! Long-running stress tests with exact delivery accounting. Ignored by
//! default; run them in release for a bounded time:
//!
//! ```sh
//! SIGWIRE_STRESS_SECS=20 cargo test --release --test stress -- --ignored --nocapture
//! ```

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{ConnectOptions, Connection, SyncSignal};

/// How long each stress test runs: `SIGWIRE_STRESS_SECS`, default 20.
fn duration() -> Duration {
    let secs = std::env::var("SIGWIRE_STRESS_SECS")
        .ok()
        .map(|s| s.parse::<f64>().expect("SIGWIRE_STRESS_SECS is a number"))
        .unwrap_or(20.0);
    Duration::from_secs_f64(secs)
}

/// A shared call counter and a listener that bumps it.
fn counter() -> (Arc<AtomicU64>, impl Fn(&u64) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &u64| {
        c.fetch_add(1, Ordering::Relaxed);
    })
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::SeqCst)
}

/// Values divisible by this make the fallible listener fail.
const FAIL_EVERY: u64 = 7;

/// How one emitter thread emits.
#[derive(Clone, Copy, Debug)]
enum Way {
    Emit,
    Emitter,
    TryEmit,
    CollectOrUntil,
}

/// What one emitter thread did.
#[derive(Default, Debug)]
struct Tally {
    emits: u64,
    /// Errors that went to the error handler (emit, Emitter, emit_until).
    reported: u64,
    /// Emits that try_emit stopped at the fallible listener.
    stopped: u64,
    /// Errors returned by emit_collect.
    collected: u64,
}

fn emit_loop(signal: &SyncSignal<u64>, way: Way, deadline: Instant, seed: u64) -> Tally {
    let never = AtomicBool::new(false);
    let mut tally = Tally::default();
    let mut emitter = signal.emitter();
    let mut value = seed;
    while Instant::now() < deadline {
        for _ in 0..64 {
            value = value.wrapping_add(1);
            let fails = value % FAIL_EVERY == 0;
            match way {
                Way::Emit => {
                    signal.emit(&value);
                    tally.reported += u64::from(fails);
                }
                Way::Emitter => {
                    emitter.emit(&value);
                    tally.reported += u64::from(fails);
                }
                Way::TryEmit => {
                    let result = signal.try_emit(&value);
                    assert_eq!(result.is_err(), fails);
                    tally.stopped += u64::from(fails);
                }
                Way::CollectOrUntil => {
                    if value % 2 == 0 {
                        let errors = signal.emit_collect(&value).err().map_or(0, |e| e.len());
                        assert_eq!(errors, usize::from(fails));
                        tally.collected += errors as u64;
                    } else {
                        assert_eq!(signal.emit_until(&value, &never), Ok(()));
                        tally.reported += u64::from(fails);
                    }
                }
            }
            tally.emits += 1;
        }
    }
    tally
}

/// What the churn thread checks: a listener removed by `disconnect_wait`,
/// and its call count right after that returned.
struct Waited {
    calls: Arc<AtomicU64>,
    at_return: u64,
}

impl Waited {
    fn check(&self) {
        assert_eq!(
            load(&self.calls),
            self.at_return,
            "called after disconnect_wait returned"
        );
    }
}

/// Emitter threads hammer one signal (with emit, Emitter::emit, try_emit,
/// emit_collect and emit_until) while another thread connects and
/// disconnects listeners: plain ones removed with disconnect_wait, once-
/// listeners, keyed ones, blocks. Every count is checked exactly.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn emits_race_connects_and_disconnects() {
    let run_for = duration();
    let deadline = Instant::now() + run_for;
    let signal = SyncSignal::<u64>::new();

    // First: called exactly once per emit of any kind.
    let (first, f) = counter();
    signal
        .connect_with(ConnectOptions::new().priority(10), f)
        .unwrap();
    // Then a fallible listener; try_emit stops there.
    signal
        .connect_fallible_with(ConnectOptions::new().priority(5), |v: &u64| {
            if v % FAIL_EVERY == 0 {
                Err("divisible")
            } else {
                Ok(())
            }
        })
        .unwrap();
    // Last: called once per emit that try_emit did not stop.
    let (last, l) = counter();
    signal
        .connect_with(ConnectOptions::new().priority(-10), l)
        .unwrap();
    // Blocked now and then by the churn thread.
    let (sometimes, s) = counter();
    let blockable = signal.connect(s);

    // Each disconnect_wait waits for the emit running on every emitter
    // thread, so more emitters than cores slows the churn down a lot.
    let ways = [Way::Emit, Way::Emitter, Way::TryEmit, Way::CollectOrUntil];

    let (tallies, churn) = thread::scope(|scope| {
        let emitters: Vec<_> = ways
            .iter()
            .enumerate()
            .map(|(i, &way)| {
                let signal = &signal;
                scope.spawn(move || emit_loop(signal, way, deadline, i as u64 * 1_000_003))
            })
            .collect();

        let churner = scope.spawn(|| {
            let mut waited: VecDeque<Waited> = VecDeque::new();
            let mut live: Option<(Connection, Arc<AtomicU64>)> = None;
            let mut onces: VecDeque<(Connection, Arc<AtomicU64>)> = VecDeque::new();
            let mut cycles = 0u64;
            let mut once_checked = 0u64;
            let mut throwaway = 0u64;
            while Instant::now() < deadline {
                cycles += 1;
                // A plain listener lives one cycle, then is removed with
                // disconnect_wait; its count must never change afterwards.
                let (calls, f) = counter();
                let priority = (cycles % 3) as i32 - 1;
                let conn = signal
                    .connect_with(ConnectOptions::new().priority(priority), f)
                    .unwrap();
                if let Some((old, old_calls)) = live.replace((conn, calls)) {
                    assert_eq!(old.disconnect_wait(), Ok(true));
                    waited.push_back(Waited {
                        at_return: load(&old_calls),
                        calls: old_calls,
                    });
                }
                if waited.len() > 256 {
                    waited.pop_front().unwrap().check();
                }

                // Once-listeners: removed early with disconnect_wait, either
                // never called (it disconnected them) or called exactly once.
                for _ in 0..8 {
                    let (calls, f) = counter();
                    onces.push_back((signal.connect_once(f), calls));
                }
                while onces.len() > 4096 {
                    let (conn, calls) = onces.pop_front().unwrap();
                    match conn.disconnect_wait() {
                        Ok(true) => assert_eq!(load(&calls), 0),
                        Ok(false) => assert_eq!(load(&calls), 1),
                        Err(e) => panic!("{e}"),
                    }
                    once_checked += 1;
                }

                // A keyed listener replaced every cycle.
                signal.disconnect_key("churn");
                assert!(signal.connect_keyed("churn", |_: &u64| {}).is_ok());

                // Throwaway listeners, connected and disconnected at once at
                // every priority, keep the writers and the retired lists busy.
                for p in -2..=2 {
                    let conn = signal
                        .connect_with(ConnectOptions::new().priority(p * 6), |_: &u64| {})
                        .unwrap();
                    assert!(conn.disconnect());
                    throwaway += 1;
                }

                // Block a permanent listener for a moment.
                if cycles % 4 == 0 {
                    let _guard = blockable.block();
                    thread::yield_now();
                }
            }
            (waited, live, onces, cycles, once_checked, throwaway)
        });

        let tallies: Vec<Tally> = emitters.into_iter().map(|h| h.join().unwrap()).collect();
        (tallies, churner.join().unwrap())
    });
    let (waited, live, onces, cycles, once_checked, throwaway) = churn;

    // Every emitter has stopped. One last emit fires every remaining
    // once-listener.
    signal.emit(&1);
    let emits: u64 = tallies.iter().map(|t| t.emits).sum::<u64>() + 1;
    let reported: u64 = tallies.iter().map(|t| t.reported).sum();
    let stopped: u64 = tallies.iter().map(|t| t.stopped).sum();
    let collected: u64 = tallies.iter().map(|t| t.collected).sum();

    assert_eq!(load(&first), emits, "the first listener runs once per emit");
    assert_eq!(
        load(&last),
        emits - stopped,
        "the last runs unless try_emit stopped"
    );
    assert!(load(&sometimes) <= emits);
    assert_eq!(
        signal.error_count(),
        reported,
        "every handled error is counted"
    );
    for w in &waited {
        w.check();
    }
    for (conn, calls) in &onces {
        assert_eq!(load(calls), 1, "a once-listener fires exactly once");
        assert!(!conn.is_connected());
    }
    let (conn, _) = live.unwrap();
    assert!(conn.disconnect());
    assert!(signal.disconnect_key("churn"));
    assert_eq!(signal.len(), 4, "only the permanent listeners are left");

    let calls = load(&first) + load(&last) + load(&sometimes);
    println!(
        "stress emits_race_connects_and_disconnects: {:.1}s, {emits} emits, {calls} permanent-listener calls, \
         {reported} handled + {collected} collected + {stopped} try_emit errors, {cycles} churn cycles, \
         {} once-listeners ({once_checked} removed early), {throwaway} throwaway connects",
        run_for.as_secs_f64(),
        cycles * 8
    );
}

/// Rounds of one once-listener raced by every emitter thread (each with a
/// different emit variant): exactly one call per round.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn connect_once_raced_by_all_emitters() {
    const EMITTERS: usize = 4;
    const EMITS_PER_ROUND: usize = 8;
    let run_for = duration();
    let deadline = Instant::now() + run_for;
    let signal = SyncSignal::<u64>::new();
    let (permanent, p) = counter();
    signal.connect(p);
    let start = Barrier::new(EMITTERS + 1);
    let end = Barrier::new(EMITTERS + 1);
    let stop = AtomicBool::new(false);

    let rounds = thread::scope(|scope| {
        for t in 0..EMITTERS {
            let (signal, start, end, stop) = (&signal, &start, &end, &stop);
            scope.spawn(move || {
                let never = AtomicBool::new(false);
                let mut emitter = signal.emitter();
                loop {
                    start.wait();
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    for i in 0..EMITS_PER_ROUND as u64 {
                        match t {
                            0 => signal.emit(&i),
                            1 => emitter.emit(&i),
                            2 => signal.try_emit(&i).unwrap(),
                            _ => signal.emit_until(&i, &never).unwrap(),
                        }
                    }
                    end.wait();
                }
            });
        }

        let mut rounds = 0u64;
        while Instant::now() < deadline {
            rounds += 1;
            let (calls, f) = counter();
            let conn = signal.connect_once(f);
            start.wait();
            end.wait();
            assert_eq!(load(&calls), 1, "round {rounds}");
            assert!(!conn.is_connected());
            assert_eq!(signal.len(), 1, "the once-listener removed itself");
        }
        stop.store(true, Ordering::SeqCst);
        start.wait();
        rounds
    });

    let emits = rounds * (EMITTERS * EMITS_PER_ROUND) as u64;
    assert_eq!(load(&permanent), emits);
    println!(
        "stress connect_once_raced_by_all_emitters: {:.1}s, {rounds} rounds, {emits} emits, {} calls",
        run_for.as_secs_f64(),
        emits + rounds
    );
}

/// Deeply nested emits on several threads while another thread keeps
/// calling disconnect_wait: every wait returns, and the counts are exact.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn disconnect_wait_races_deeply_nested_emits() {
    const DEPTH: u64 = 40;
    const THREADS: usize = 3;
    let run_for = duration();
    let deadline = Instant::now() + run_for;
    let signal = Arc::new(SyncSignal::<u64>::new());
    let weak = Arc::downgrade(&signal);
    signal.connect(move |depth: &u64| {
        if *depth < DEPTH {
            weak.upgrade().unwrap().emit(&(depth + 1));
        }
    });
    let (calls, c) = counter();
    signal.connect(c);

    let (outer_emits, waits) = thread::scope(|scope| {
        let emitters: Vec<_> = (0..THREADS)
            .map(|_| {
                let signal = &signal;
                scope.spawn(move || {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        signal.emit(&0);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut waits = 0u64;
        while Instant::now() < deadline {
            let (calls, f) = counter();
            let conn = signal.connect(f);
            assert_eq!(conn.disconnect_wait(), Ok(true));
            let at_return = load(&calls);
            thread::yield_now();
            assert_eq!(load(&calls), at_return);
            waits += 1;
        }
        let outer: u64 = emitters.into_iter().map(|h| h.join().unwrap()).sum();
        (outer, waits)
    });
    assert_eq!(load(&calls), outer_emits * (DEPTH + 1));
    println!(
        "stress disconnect_wait_races_deeply_nested_emits: {:.1}s, {} emits, {waits} disconnect_waits",
        run_for.as_secs_f64(),
        outer_emits * (DEPTH + 1)
    );
}

/// `AsyncSignal` under load: emitters on three threads (`Block`, a small
/// capacity so they wait for room), `PerListener` ordering checked per
/// emitting thread, a fallible and a panicking listener, a thread churning a
/// listener with `disconnect_wait`, and a thread flushing and checking that
/// each flush covered every event accepted before it. Exact accounting at
/// the end.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn async_signal_under_load() {
    use sigwire::{AsyncSignal, DeliveryOrder, Overflow};

    const EMITTERS: usize = 3;
    const PANIC_EVERY: u64 = 11;
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap(),
    );
    let signal = Arc::new(
        AsyncSignal::<(usize, u64)>::builder()
            .pool(pool)
            .capacity(64)
            .overflow(Overflow::Block)
            .ordering(DeliveryOrder::PerListener)
            .panic_handler(|_| {})
            .build()
            .unwrap(),
    );
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("planned panic") {
            eprintln!("{info}");
        }
    }));

    // Three ordered listeners: each checks that every emitter's sequence
    // numbers reach it in order, and counts its calls.
    let ordered: Vec<(Arc<AtomicU64>, Connection)> = (0..3)
        .map(|_| {
            let calls = Arc::new(AtomicU64::new(0));
            let last = std::sync::Mutex::new([0u64; EMITTERS]);
            let c = Arc::clone(&calls);
            let conn = signal.connect(move |&(thread, seq): &(usize, u64)| {
                let mut last = last.lock().unwrap();
                assert!(
                    seq > last[thread],
                    "emitter {thread}: {seq} after {}",
                    last[thread]
                );
                last[thread] = seq;
                c.fetch_add(1, Ordering::Relaxed);
            });
            (calls, conn)
        })
        .collect();
    signal.connect_fallible(|&(_, seq): &(usize, u64)| {
        if seq % FAIL_EVERY == 0 {
            Err("planned failure")
        } else {
            Ok(())
        }
    });
    signal.connect(|&(_, seq): &(usize, u64)| {
        if seq % PANIC_EVERY == 0 {
            panic!("planned panic");
        }
    });

    let deadline = Instant::now() + duration();
    let accepted: Arc<Vec<AtomicU64>> =
        Arc::new((0..EMITTERS).map(|_| AtomicU64::new(0)).collect());
    let stop = AtomicBool::new(false);
    let (mut flushes, mut churned, mut churned_calls) = (0u64, 0u64, 0u64);
    thread::scope(|s| {
        for thread in 0..EMITTERS {
            let (signal, accepted) = (&signal, &accepted);
            s.spawn(move || {
                let mut seq = 0;
                while Instant::now() < deadline {
                    seq += 1;
                    signal.emit((thread, seq)).unwrap();
                    // SeqCst: read by the flusher before its flush.
                    accepted[thread].store(seq, Ordering::SeqCst);
                }
            });
        }
        // Churn: connect, let some events through, disconnect_wait, check
        // that no call comes after it.
        s.spawn(|| {
            while Instant::now() < deadline {
                let (calls, f) = counter();
                let conn = signal.connect(move |&(_, seq): &(usize, u64)| f(&seq));
                thread::yield_now();
                assert_eq!(conn.disconnect_wait(), Ok(true));
                let after = load(&calls);
                thread::yield_now();
                assert_eq!(load(&calls), after, "a call after disconnect_wait returned");
                churned += 1;
                churned_calls += after;
            }
        });
        // Flusher: every event accepted before a flush is delivered when it
        // returns.
        s.spawn(|| {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let before: u64 = accepted.iter().map(|a| a.load(Ordering::SeqCst)).sum();
                signal.flush().unwrap();
                for (calls, _) in &ordered {
                    assert!(
                        load(calls) >= before,
                        "flush returned before {before} events were delivered"
                    );
                }
                flushes += 1;
            }
        });
    });
    stop.store(true, Ordering::Relaxed);
    signal.flush().unwrap();
    std::panic::set_hook(hook);

    let total: u64 = accepted.iter().map(|a| a.load(Ordering::SeqCst)).sum();
    let per_thread: Vec<u64> = accepted.iter().map(|a| a.load(Ordering::SeqCst)).collect();
    let multiples = |every: u64| per_thread.iter().map(|n| n / every).sum::<u64>();
    for (calls, _) in &ordered {
        assert_eq!(
            load(calls),
            total,
            "every accepted event reached every listener"
        );
    }
    let stats = signal.stats();
    assert_eq!(stats.emitted, total);
    // Deliveries: 5 listeners' calls of every event, but the panicking
    // ones, and the churned listeners' calls.
    let panics = multiples(PANIC_EVERY);
    assert_eq!(stats.delivered, 5 * total - panics + churned_calls);
    assert_eq!(stats.failed, multiples(FAIL_EVERY));
    assert_eq!(stats.panicked, panics);
    assert_eq!((stats.rejected, stats.pending), (0, 0));
    println!(
        "async: {total} events through 5 listeners, {flushes} flushes, {churned} churned listeners, {} failures, {} panics caught",
        stats.failed, stats.panicked
    );
    assert!(total > 0 && flushes > 0 && churned > 0);
}

/// The bus under load, for the whole duration, in three parts at once:
///
/// - **History**: two threads emit numbered streams on a `HistorySignal`
///   (history 64) while another thread keeps connecting listeners with
///   replay, letting them run, and disconnecting them with
///   `disconnect_wait`. Every listener must have received, from each
///   emitter, consecutive numbers: nothing missed or repeated between
///   replay and live delivery.
/// - **Gather**: a thread gathers from five responders (one slow, one
///   failing, one panicking, one declining, one answering) with a short
///   timeout, while another registers and stops a responder; every reply
///   names each responder once, and every answer ever made is dropped
///   exactly once (returned or late).
/// - **Topics**: two threads emit on 50 topics with per-topic statistics on
///   while another connects and disconnects; a steady listener counts
///   every emit, the topics' `emitted` adds up to the emits and their
///   `delivered` (deliveries, one per listener called) to at least that.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn bus_under_load() {
    use sigwire::bus::{HistorySignal, Requests, Topics};

    const STRIDE: u64 = 1 << 40;
    let deadline = Instant::now() + duration();
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("planned panic") {
            eprintln!("{info}");
        }
    }));

    // History.
    let history = HistorySignal::<u64>::new(64).unwrap();
    let replays = AtomicU64::new(0);
    // Gather.
    struct Answer(u64, Arc<AtomicU64>);
    impl Drop for Answer {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    let made = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicU64::new(0));
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap(),
    );
    let requests = Requests::<u64, Answer>::with_pool(pool.clone());
    let answer = |made: &Arc<AtomicU64>, dropped: &Arc<AtomicU64>, v: u64| {
        made.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Answer(v, Arc::clone(dropped))))
    };
    let (m, d) = (made.clone(), dropped.clone());
    requests.respond("slow", move |v: &u64| {
        if v % 3 == 0 {
            thread::sleep(Duration::from_millis(2));
        }
        answer(&m, &d, *v)
    });
    requests.respond("fails", |_: &u64| Err("planned failure".into()));
    requests.respond("panics", |_: &u64| panic!("planned panic"));
    requests.respond("declines", |_: &u64| Ok(None));
    let (m, d) = (made.clone(), dropped.clone());
    requests.respond("answers", move |v: &u64| answer(&m, &d, v + 1));
    let gathers = AtomicU64::new(0);
    // Topics.
    let topics = Topics::<u64>::new();
    topics.enable_stats();
    let (steady, f) = counter();
    let _steady = topics.connect("s.>", move |_: &str, v: &u64| f(v)).unwrap();
    let topic_emits = AtomicU64::new(0);

    thread::scope(|s| {
        for t in 0..2u64 {
            let history = &history;
            s.spawn(move || {
                let mut i = 0;
                while Instant::now() < deadline {
                    history.emit(t * STRIDE + i);
                    i += 1;
                }
            });
        }
        s.spawn(|| {
            while Instant::now() < deadline {
                let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
                let s2 = Arc::clone(&seen);
                let conn = history.connect_with_replay(move |v: &u64| s2.lock().unwrap().push(*v));
                thread::sleep(Duration::from_micros(200));
                assert_eq!(conn.disconnect_wait(), Ok(true));
                let seen = seen.lock().unwrap();
                for t in 0..2 {
                    let mine: Vec<u64> = seen.iter().copied().filter(|v| v / STRIDE == t).collect();
                    for pair in mine.windows(2) {
                        assert_eq!(
                            pair[1],
                            pair[0] + 1,
                            "history, emitter {t}: a gap or a repeat"
                        );
                    }
                }
                replays.fetch_add(1, Ordering::Relaxed);
            }
        });
        s.spawn(|| {
            let mut v = 0;
            while Instant::now() < deadline {
                v += 1;
                let replies = requests.gather(v, 5, Duration::from_millis(1));
                let mut named: Vec<&str> = replies
                    .answers()
                    .iter()
                    .map(|(n, _)| &**n)
                    .chain(replies.errors().iter().map(|(n, _)| &**n))
                    .chain(replies.declined().iter().map(|n| &**n))
                    .chain(replies.timed_out().iter().map(|n| &**n))
                    .filter(|n| *n != "churn") // registered at the time, or not
                    .collect();
                named.sort_unstable();
                assert_eq!(
                    named,
                    ["answers", "declines", "fails", "panics", "slow"],
                    "gather {v}: every steady responder named once"
                );
                for (name, a) in replies.answers() {
                    let want = if &**name == "answers" { v + 1 } else { v };
                    assert!(
                        &**name == "churn" || a.0 == want,
                        "{name} answered {} to {v}",
                        a.0
                    );
                }
                gathers.fetch_add(1, Ordering::Relaxed);
            }
        });
        s.spawn(|| {
            let (m, d) = (made.clone(), dropped.clone());
            while Instant::now() < deadline {
                let (m, d) = (m.clone(), d.clone());
                let churn = requests.respond("churn", move |v: &u64| answer(&m, &d, *v));
                thread::yield_now();
                assert!(churn.disconnect());
            }
        });
        for t in 0..2u64 {
            let (topics, topic_emits) = (&topics, &topic_emits);
            s.spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    topics.emit(&format!("s.{}", (i + t) % 50), &i).unwrap();
                    topic_emits.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
        s.spawn(|| {
            while Instant::now() < deadline {
                let sub = topics.connect("s.*", |_: &str, _: &u64| {}).unwrap();
                thread::yield_now();
                assert!(sub.disconnect());
            }
        });
    });
    std::panic::set_hook(hook);

    // Every answer made is dropped: returned ones already, late ones by
    // their job once the pool is idle.
    let quiet = Instant::now() + Duration::from_secs(10);
    while load(&dropped) != load(&made) && Instant::now() < quiet {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(load(&dropped), load(&made), "answers made vs dropped");
    let emitted = load(&topic_emits);
    assert_eq!(load(&steady), emitted, "the steady listener missed emits");
    // Events and deliveries: every emit reaches the steady listener, some
    // the churned one too.
    let stats = topics.stats();
    assert_eq!(stats.emitted, emitted, "topic statistics: events");
    assert!(stats.delivered >= emitted, "topic statistics: deliveries");
    println!(
        "bus_under_load: {} replays, {} gathers ({} answers), {emitted} topic emits",
        load(&replays),
        load(&gathers),
        load(&made)
    );
    assert!(load(&replays) > 0 && load(&gathers) > 0 && emitted > 0);
}

/// An event whose payload a torn or misplaced write would break.
#[derive(Clone, Debug)]
struct Stamped {
    emitter: u64,
    seq: u64,
    text: String,
}

/// Reads `sub` until `Closed`, checking every event whole and each
/// emitter's events in order with no repeat; returns (received, missed).
fn drain_checked(mut sub: sigwire::Subscription<Stamped>, pace: u64) -> (u64, u64) {
    use sigwire::{RecvError, TryRecvError};
    let mut last = std::collections::HashMap::<u64, u64>::new();
    let (mut received, mut missed) = (0u64, 0u64);
    // Pace 3: an async reader, `recv_async` raced by a short timer under
    // `select!` on a current-thread runtime (cancelled now and then).
    let runtime = (pace == 3).then(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    });
    loop {
        let next = if let Some(runtime) = &runtime {
            let raced = runtime.block_on(async {
                tokio::select! {
                    next = sub.recv_async() => Some(next),
                    () = tokio::time::sleep(Duration::from_micros(100)) => None,
                }
            });
            match raced {
                Some(next) => next,
                None => continue,
            }
        } else if pace == 2 {
            // A poller: never sleeps in `recv`.
            match sub.try_recv() {
                Ok(item) => Ok(item),
                Err(TryRecvError::Empty) => {
                    thread::yield_now();
                    continue;
                }
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            }
        } else {
            sub.recv()
        };
        match next {
            Ok(item) => {
                assert_eq!(item.text, item.seq.to_string(), "a torn event");
                if let Some(&before) = last.get(&item.emitter) {
                    assert!(
                        item.seq > before,
                        "emitter {}: {} after {before}",
                        item.emitter,
                        item.seq
                    );
                }
                last.insert(item.emitter, item.seq);
                received += 1;
                if pace == 1 && received % 512 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }
            Err(sigwire::RecvError::Lagged(n)) => missed += n,
            Err(sigwire::RecvError::Closed) => break,
        }
    }
    assert_eq!(missed, sub.dropped());
    (received, missed)
}

/// Subscriptions of a `SyncSignal` and of an `AsyncSignal` under two
/// emitting threads (the `AsyncSignal`'s second one with `emit_async`),
/// with readers at four paces (blocking, sleepy, polling, async with
/// cancelled waits) and subscriptions made and dropped meanwhile: every long-lived
/// subscription accounts for every event exactly (received + missed =
/// emitted), reads every event whole, and each emitter's in order.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn subscriptions_under_load() {
    let half = duration() / 2;
    for kind in ["sync", "async"] {
        let sync = Arc::new(SyncSignal::<Stamped>::new());
        let pooled = Arc::new(
            sigwire::AsyncSignal::<Stamped>::builder()
                .capacity(256)
                .ordering(sigwire::DeliveryOrder::PerListener)
                .build()
                .unwrap(),
        );
        let subscribe = || match kind {
            "sync" => sync.subscribe_with(256).unwrap(),
            _ => pooled.subscribe(),
        };
        if kind == "async" {
            pooled.connect(|event: &Stamped| assert_eq!(event.text, event.seq.to_string()));
        }
        let readers: Vec<_> = (0..4)
            .map(|pace| {
                let sub = subscribe();
                thread::spawn(move || drain_checked(sub, pace))
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let churn = {
            let (sync, pooled, stop) = (Arc::clone(&sync), Arc::clone(&pooled), Arc::clone(&stop));
            thread::spawn(move || {
                let mut made = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut sub = if kind == "sync" {
                        sync.subscribe()
                    } else {
                        pooled.subscribe()
                    };
                    for _ in 0..10 {
                        if let Ok(item) = sub.try_recv() {
                            assert_eq!(item.text, item.seq.to_string());
                        }
                    }
                    made += 1;
                }
                made
            })
        };
        let deadline = Instant::now() + half;
        let emitters: Vec<_> = (0..2u64)
            .map(|emitter| {
                let (sync, pooled) = (Arc::clone(&sync), Arc::clone(&pooled));
                thread::spawn(move || {
                    let mut seq = 0u64;
                    while Instant::now() < deadline {
                        for _ in 0..100 {
                            let event = Stamped {
                                emitter,
                                seq,
                                text: seq.to_string(),
                            };
                            if kind == "sync" {
                                sync.emit(&event);
                            } else if emitter == 1 {
                                futures_executor::block_on(pooled.emit_async(event)).unwrap();
                            } else {
                                pooled.emit(event).unwrap();
                            }
                            seq += 1;
                        }
                    }
                    seq
                })
            })
            .collect();
        let emitted: u64 = emitters.into_iter().map(|e| e.join().unwrap()).sum();
        stop.store(true, Ordering::Relaxed);
        let churned = churn.join().unwrap();
        drop(sync);
        drop(pooled);
        for (pace, reader) in readers.into_iter().enumerate() {
            let (received, missed) = reader.join().unwrap();
            println!(
                "{kind} subscription, pace {pace}: {received} received + {missed} missed = {emitted} emitted ({churned} made and dropped meanwhile)"
            );
            assert_eq!(received + missed, emitted, "{kind}, pace {pace}");
        }
    }
}

/// Listeners of every policy and subscriptions, made and dropped between
/// bursts from two emitting threads, for `SIGWIRE_STRESS_SECS`: for each,
/// received + dropped (or lagged) = the events emitted while it was there,
/// exactly, and each emitter's events arrive in its order.
#[test]
#[ignore = "stress test: run with --ignored in release"]
fn policies_under_load() {
    use sigwire::{AsyncSignal, Overflow, Policy, TryRecvError};
    use std::sync::Mutex;
    const BURST: u64 = 20_000;
    struct Watched {
        policy: Policy,
        conn: Connection,
        seen: Arc<Mutex<Vec<u64>>>,
        from: u64,
    }
    let signal = Arc::new(
        AsyncSignal::<u64>::builder()
            .pool(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(4)
                    .build()
                    .unwrap(),
            ))
            .capacity(64)
            .overflow(Overflow::Block)
            .ordering(sigwire::DeliveryOrder::PerListener)
            .build()
            .unwrap(),
    );
    let check = |w: &Watched, emitted: u64| {
        let seen = w.seen.lock().unwrap();
        let (received, dropped) = (seen.len() as u64, signal.dropped(&w.conn));
        assert_eq!(received + dropped, emitted - w.from, "{:?}", w.policy);
        for emitter in 0..2 {
            let own: Vec<u64> = seen.iter().copied().filter(|v| v % 2 == emitter).collect();
            assert!(
                own.windows(2).all(|w| w[0] < w[1]),
                "{:?}: out of order",
                w.policy
            );
        }
    };
    let policies = [Policy::Block, Policy::DropOldest, Policy::DropNewest];
    let deadline = Instant::now() + duration();
    let (mut live, mut emitted, mut round, mut subscribed) = (Vec::new(), 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let policy = policies[(round % 3) as usize];
        let conn = signal
            .connect_with(ConnectOptions::new().policy(policy), move |v: &u64| {
                if v % 11 == 0 {
                    std::thread::yield_now(); // fall behind now and then
                }
                s.lock().unwrap().push(*v);
            })
            .unwrap();
        live.push(Watched {
            policy,
            conn,
            seen,
            from: emitted,
        });
        if live.len() > 5 {
            let gone = live.remove((round % 5) as usize);
            check(&gone, emitted);
            gone.conn.disconnect_wait().unwrap();
        }
        let mut sub = signal.subscribe();
        let base = round * BURST;
        let emitters: Vec<_> = (0..2)
            .map(|e| {
                let signal = Arc::clone(&signal);
                std::thread::spawn(move || {
                    for i in 0..BURST / 2 {
                        signal.emit(base + i * 2 + e).unwrap();
                    }
                })
            })
            .collect();
        emitters.into_iter().for_each(|e| e.join().unwrap());
        emitted += BURST;
        signal.flush().unwrap();
        for w in &live {
            check(w, emitted);
        }
        // The subscription, read only now, lagged: received + lagged is
        // the burst.
        let (mut received, mut lagged) = (0, 0);
        loop {
            match sub.try_recv() {
                Ok(_) => received += 1,
                Err(TryRecvError::Lagged(n)) => lagged += n,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => unreachable!("the signal is open"),
            }
        }
        assert_eq!(received + lagged, BURST);
        subscribed += received;
        round += 1;
    }
    assert_eq!(signal.stats().emitted, emitted);
    println!(
        "policies_under_load: {round} rounds, {emitted} events, {} dropped in all, {subscribed} read by subscriptions",
        signal.stats().dropped
    );
}
