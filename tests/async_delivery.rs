//! `AsyncSignal<T>`, continued from `async_signal.rs`: emit_collect, panic and
//! error isolation, both orderings, drop with pending deliveries,
//! connections, stats and Debug.

use std::collections::HashSet;
use std::panic;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use sigwire::{
    AsyncSignal, ConnectOptions, Connection, DeliveryOrder, EmitError, ListenerPanic, Overflow,
    RejectReason, Signal,
};

mod async_support;
use async_support::*;

// ---------------------------------------------------------------- emit_collect

/// `emit_collect` runs every listener on the pool and returns `Ok` when all
/// succeed, and otherwise every error: fallible errors and panics (as
/// `EmitError`s whose source is a `ListenerPanic`), bypassing the handlers.
/// All are counted in `stats`.
#[test]
fn emit_collect_returns_every_error_and_panic() {
    quiet_intended_panics();
    let signal = signal(2, "join");
    let handled = Arc::new(AtomicUsize::new(0));
    let (h1, h2) = (Arc::clone(&handled), Arc::clone(&handled));
    signal.set_error_handler(move |_| bump(&h1));
    signal.set_panic_handler(move |_| bump(&h2));
    let seen = record_where(&signal);
    let db = ConnectOptions::new().key("db");
    let fails = |v: &u32| if *v > 0 { Err("down") } else { Ok(()) };
    let db = signal.connect_fallible_with(db, fails).unwrap();
    let bomb = |v: &u32| assert!(*v < 2, "{INTENDED}: join {v}");
    let bomb = signal.connect(bomb);

    assert!(signal.emit_collect(0).is_ok());
    let errors = signal.emit_collect(1).unwrap_err();
    assert_eq!(errors.len(), 1);
    let error = errors.iter().next().unwrap();
    assert_eq!((error.id(), error.key()), (db.id(), Some("db")));
    assert_eq!(error.source_error().to_string(), "down");

    let errors = signal.emit_collect(2).unwrap_err().into_vec();
    let ids: HashSet<u64> = errors.iter().map(|e| e.id()).collect();
    assert_eq!(ids, HashSet::from([db.id(), bomb.id()]));
    fn as_panic(e: &EmitError) -> Option<&ListenerPanic> {
        e.source_error().downcast_ref()
    }
    let panics: Vec<&ListenerPanic> = errors.iter().filter_map(as_panic).collect();
    assert_eq!((errors.len(), panics.len()), (2, 1));
    assert_eq!((panics[0].id(), panics[0].key()), (bomb.id(), None));
    assert_eq!(panics[0].message(), format!("{INTENDED}: join 2"));

    let seen = seen.lock().unwrap();
    let values: Vec<u32> = seen.iter().map(|(v, ..)| *v).collect();
    assert_eq!(values, [0, 1, 2]);
    assert!(seen.iter().all(|(_, i, _)| i.is_some()), "off the pool");
    assert_eq!(load(&handled), 0, "emit_collect errors reached a handler");
    // Deliveries: 3 calls for 0 and for 1, 2 for 2 (the bomb panicked).
    assert_eq!(stats(&signal), [3, 8, 2, 1, 0, 0]);
}

// ---------------------------------------------------------------- panics and errors

type Report = (u64, Option<String>, String);

/// Collects (id, key, message) of each panic or error a handler sees.
fn reports() -> (Arc<Mutex<Vec<Report>>>, impl Fn(Report) + Send + Sync) {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&reports);
    (reports, move |report| r.lock().unwrap().push(report))
}

/// Asserts the reports came from `conn` (with `key`) and carry `messages`.
fn check(reports: &Mutex<Vec<Report>>, conn: &Connection, key: &str, messages: HashSet<String>) {
    let reports = std::mem::take(&mut *reports.lock().unwrap());
    let got: HashSet<String> = reports.iter().map(|(.., m)| m.clone()).collect();
    assert_eq!((reports.len(), got), (messages.len(), messages));
    let from = |(id, k, _): &Report| *id == conn.id() && k.as_deref() == Some(key);
    assert!(reports.iter().all(from), "{reports:?}");
}

/// A panicking listener under `emit` is caught, counted, and reported to the
/// builder's handler (id, key, message); the others get every event; the
/// signal keeps working; `set_panic_handler` replaces the handler.
#[test]
fn panicking_listener_is_isolated_and_reported() {
    quiet_intended_panics();
    let (reports, report) = reports();
    let builder = on_pool(4, "panic").panic_handler(move |p: ListenerPanic| {
        report((p.id(), p.key().map(str::to_owned), p.message().to_owned()));
    });
    let signal = builder.build().unwrap();
    let (before, l1) = counter();
    signal.connect(l1);
    let bomb = |v: &u32| assert!(v % 2 == 0, "{INTENDED}: odd {v}");
    let bomb = signal.connect_with(ConnectOptions::new().key("bomb"), bomb);
    let bomb = bomb.unwrap();
    let (after, l2) = counter();
    signal.connect(l2);
    (0..100).for_each(|v| signal.emit(v).unwrap());
    signal.flush().unwrap();
    assert_eq!((load(&before), load(&after)), (100, 100));
    assert_eq!(stats(&signal), [100, 3 * 100 - 50, 0, 50, 0, 0]);
    let odd = (0..100).filter(|v| v % 2 == 1);
    let expected = odd.map(|v| format!("{INTENDED}: odd {v}"));
    check(&reports, &bomb, "bomb", expected.collect());

    let replaced = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&replaced);
    signal.set_panic_handler(move |_| bump(&r));
    (0..10).for_each(|v| signal.emit(v).unwrap());
    signal.flush().unwrap();
    assert_eq!((load(&before), load(&after)), (110, 110));
    assert_eq!(load(&replaced), 5);
    assert!(reports.lock().unwrap().is_empty(), "old handler called");
    assert_eq!(stats(&signal), [110, 3 * 110 - 55, 0, 55, 0, 0]);
}

/// A value whose `Drop` panics is caught and counted (the drainer's comment,
/// and `Stats::panicked`: "or event drops"). Two such values in one delivery
/// batch are checked in a child process, since the failure is an abort.
#[test]
fn panicking_drops_are_contained() {
    const CHILD: &str = "SIGWIRE_TEST_PANICKING_DROPS";
    if std::env::var_os(CHILD).is_none() {
        let mut child = Command::new(std::env::current_exe().unwrap());
        let args = ["--exact", "panicking_drops_are_contained"];
        let out = child.args(args).env(CHILD, "1").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "child: {}\n{stderr}", out.status);
        return;
    }
    quiet_intended_panics();
    struct Bomb(u32);
    impl Drop for Bomb {
        fn drop(&mut self) {
            assert!(self.0 % 2 == 0, "{INTENDED}: drop {}", self.0);
        }
    }
    let signal = signal::<Bomb>(1, "bomb");
    let (gate, opener) = gate();
    signal.connect(move |b: &Bomb| {
        if b.0 == 0 {
            gate.pass()
        }
    });
    assert!(signal.emit(Bomb(0)).is_ok());
    opener.wait_started();
    // Queued while the batch [0] is held: the next batch is [1, 2, 3, 4].
    (1..=4).for_each(|v| assert!(signal.emit(Bomb(v)).is_ok()));
    drop(opener);
    signal.flush().unwrap();
    assert_eq!(stats(&signal), [5, 5, 0, 2, 0, 0]);
}

/// A panic whose payload panics again when dropped stays contained: the
/// payload is dropped under a catch of its own (a panic escaping into rayon
/// would abort the process), and the signal goes on delivering.
#[test]
fn a_panic_payload_that_panics_on_drop_is_contained() {
    quiet_intended_panics();
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("{INTENDED}: payload drop");
        }
    }
    let signal = signal::<u32>(2, "payload");
    let (calls, count) = counter();
    signal.connect(count);
    signal.connect(|v: &u32| {
        if *v == 0 {
            panic::panic_any(Bomb);
        }
    });
    (0..3).for_each(|v| signal.emit(v).unwrap());
    signal.flush().unwrap();
    assert_eq!(load(&calls), 3);
    assert_eq!(stats(&signal), [3, 2 * 3 - 1, 0, 1, 0, 0]);
}

/// An event whose `Drop` flushes its own signal is refused (`FlushError::InsideDelivery`)
/// instead of waiting for the delivery it is part of.
#[test]
fn an_event_dropped_during_delivery_cannot_wait_for_it() {
    type Outcomes = Arc<Mutex<Vec<bool>>>;
    struct Event {
        signal: Arc<OnceLock<std::sync::Weak<AsyncSignal<Event>>>>,
        outcomes: Outcomes,
    }
    impl Drop for Event {
        fn drop(&mut self) {
            if let Some(signal) = self.signal.get().and_then(std::sync::Weak::upgrade) {
                let refused = signal.flush() == Err(sigwire::FlushError::InsideDelivery);
                self.outcomes.lock().unwrap().push(refused);
            }
        }
    }
    let signal = Arc::new(signal::<Event>(2, "drop-flush"));
    let slot = Arc::new(OnceLock::new());
    slot.set(Arc::downgrade(&signal)).unwrap();
    let outcomes = Outcomes::default();
    signal.connect(|_: &Event| {});
    let s = Arc::clone(&signal);
    let (slot2, outcomes2) = (Arc::clone(&slot), Arc::clone(&outcomes));
    bounded(move || {
        for _ in 0..3 {
            let event = Event {
                signal: Arc::clone(&slot2),
                outcomes: Arc::clone(&outcomes2),
            };
            assert!(s.emit(event).is_ok());
        }
        s.flush().unwrap();
    });
    assert_eq!(*outcomes.lock().unwrap(), [true, true, true]);
}

/// Errors of fallible listeners under `emit` go to the error handler (id,
/// key, source) and are counted in `failed`.
#[test]
fn fallible_errors_go_to_the_error_handler() {
    let signal = signal(2, "errors");
    let (reports, report) = reports();
    signal.set_error_handler(move |e| {
        let key = e.key().map(str::to_owned);
        report((e.id(), key, e.source_error().to_string()));
    });
    let risk = ConnectOptions::new().key("risk");
    let fails = |v: &u32| (v % 3 != 0).then_some(()).ok_or(format!("bad {v}"));
    let risk = signal.connect_fallible_with(risk, fails).unwrap();
    (0..30).for_each(|v| signal.emit(v).unwrap());
    signal.flush().unwrap();
    let bad = (0..30).filter(|v| v % 3 == 0).map(|v| format!("bad {v}"));
    check(&reports, &risk, "risk", bad.collect());
    assert_eq!(stats(&signal), [30, 30, 10, 0, 0, 0]);
}

// ---------------------------------------------------------------- ordering

const EMITTERS: usize = 4;
const PER: u64 = 5_000;

/// What a listener observes about its own calls.
#[derive(Default)]
struct Probe {
    inside: AtomicUsize,
    max_inside: AtomicUsize,
    /// Per emitting thread: the next sequence number expected.
    next: [AtomicU64; EMITTERS],
    out_of_order: AtomicUsize,
    calls: AtomicUsize,
}

impl Probe {
    fn observe(&self, (thread, seq): (usize, u64)) {
        let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_inside.fetch_max(now, Ordering::SeqCst);
        if self.next[thread].swap(seq + 1, Ordering::SeqCst) != seq {
            bump(&self.out_of_order);
        }
        (0..50).for_each(|_| std::hint::spin_loop());
        bump(&self.calls);
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Emits `(thread, seq)` for `seq in 0..PER` from each of 4 threads into a
/// signal with 3 probe listeners on a 4-thread pool, then flushes.
fn run_ordering(ordering: DeliveryOrder) -> (Vec<Arc<Probe>>, [u64; 6]) {
    let signal = on_pool(4, "order").ordering(ordering).build().unwrap();
    let probes: Vec<Arc<Probe>> = (0..3).map(|_| Arc::default()).collect();
    for probe in &probes {
        let p = Arc::clone(probe);
        signal.connect(move |event: &(usize, u64)| p.observe(*event));
    }
    thread::scope(|scope| {
        for thread in 0..EMITTERS {
            let signal = &signal;
            scope.spawn(move || (0..PER).for_each(|seq| signal.emit((thread, seq)).unwrap()));
        }
    });
    signal.flush().unwrap();
    (probes, stats(&signal))
}

/// `PerListener`: each listener sees each emitting thread's events in emit
/// order, without gaps, and never runs concurrently with itself.
#[test]
fn per_listener_keeps_emit_order_and_never_overlaps() {
    let (probes, stats) = bounded(|| run_ordering(DeliveryOrder::PerListener));
    for (l, probe) in probes.iter().enumerate() {
        assert_eq!(load(&probe.calls), EMITTERS * PER as usize, "{l}");
        assert_eq!(load(&probe.out_of_order), 0, "{l}: out of order");
        assert_eq!(load(&probe.max_inside), 1, "{l}: ran concurrently");
        assert!(probe.next.iter().all(|n| n.load(Ordering::SeqCst) == PER));
    }
    let total = EMITTERS as u64 * PER;
    assert_eq!(stats, [total, 3 * total, 0, 0, 0, 0]);
}

/// `Unordered`: exact delivery counts with several emitters.
#[test]
fn unordered_delivers_exact_counts() {
    let (probes, stats) = bounded(|| run_ordering(DeliveryOrder::Unordered));
    for probe in &probes {
        assert_eq!(load(&probe.calls), EMITTERS * PER as usize);
    }
    let total = EMITTERS as u64 * PER;
    assert_eq!(stats, [total, 3 * total, 0, 0, 0, 0]);
}

/// `Unordered`, one slow listener: its batches are spread over the pool
/// (it runs concurrently with itself), once a batch showed it slow. A
/// quick one is not (a split costs more than its calls: see
/// `docs/architecture.md`, "Lanes").
#[test]
fn a_slow_only_listener_is_spread_over_the_pool() {
    let (calls, max_inside) = bounded(|| {
        let signal = on_pool(4, "spread")
            .ordering(DeliveryOrder::Unordered)
            .build()
            .unwrap();
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));
        let calls = Arc::new(AtomicUsize::new(0));
        let (i, m, c) = (
            Arc::clone(&inside),
            Arc::clone(&max_inside),
            Arc::clone(&calls),
        );
        signal.connect(move |_: &u32| {
            let now = i.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(now, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(1));
            i.fetch_sub(1, Ordering::SeqCst);
            bump(&c);
        });
        (0..160).for_each(|v| signal.emit(v).unwrap());
        signal.flush().unwrap();
        (load(&calls), load(&max_inside))
    });
    assert_eq!(calls, 160);
    assert!(
        max_inside >= 2,
        "never ran concurrently (at most {max_inside} at once)"
    );
}

// ---------------------------------------------------------------- drop

/// Dropping the signal with a held listener and queued events loses nothing:
/// every accepted event is delivered after the release, then the shared
/// state (and with it the listener) is freed.
#[test]
fn drop_with_pending_deliveries_delivers_everything() {
    let signal = signal(2, "drop");
    let (gate, opener) = gate();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    signal.connect(move |v: &u32| {
        if *v == 0 {
            gate.pass();
        }
        tx.lock().unwrap().send(*v).unwrap();
    });
    (0..10).for_each(|v| signal.emit(v).unwrap());
    opener.wait_started();
    drop(signal);
    drop(opener);
    let mut got: Vec<u32> = (0..10).map(|_| expect(&rx, "lost")).collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let end = rx.recv_timeout(TIMEOUT).unwrap_err();
    assert_eq!(end, RecvTimeoutError::Disconnected, "never freed");
}

// ---------------------------------------------------------------- connections

/// A listener disconnected before the delivery reaches it is not called:
/// the pool's only thread is held by a job of the test's while three events
/// are emitted, so no listener has run when the second one disconnects.
#[test]
fn disconnect_before_delivery_skips_the_listener() {
    let pool = pool(1, "disc");
    let signal = AsyncSignal::<u32>::builder()
        .pool(Arc::clone(&pool))
        .build()
        .unwrap();
    let (gate, opener) = gate();
    pool.spawn(move || gate.pass());
    opener.wait_started();
    let (first, l1) = counter();
    signal.connect(l1);
    let (second, l2) = counter();
    let conn = signal.connect(l2);
    (0..3).for_each(|v| signal.emit(v).unwrap());
    assert!(conn.disconnect());
    assert!(!conn.is_connected() && !conn.disconnect());
    drop(opener);
    signal.flush().unwrap();
    assert_eq!((load(&first), load(&second)), (3, 0));
    assert_eq!(signal.len(), 1);
}

/// `connect_once` fires exactly once although events are delivered in
/// parallel, then counts as disconnected.
#[test]
fn connect_once_fires_once_under_parallel_delivery() {
    let signal = signal(4, "once");
    let (always, listener) = counter();
    signal.connect(listener);
    let once = |_| {
        let (calls, listener) = counter();
        (calls, signal.connect_once(listener))
    };
    let onces: Vec<(Arc<AtomicUsize>, Connection)> = (0..8).map(once).collect();
    assert_eq!(signal.len(), 9);
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| (0..1000).for_each(|v: u32| signal.emit(v).unwrap()));
        }
    });
    signal.flush().unwrap();
    assert_eq!((load(&always), signal.len()), (2000, 1));
    for (calls, conn) in &onces {
        assert_eq!(load(calls), 1);
        assert!(!conn.is_connected());
    }
}

/// Keyed connects: one listener per key, `contains_key`, `disconnect_key`,
/// and the key is free again afterwards.
#[test]
fn keyed_connects() {
    let signal = signal(2, "keyed");
    let (calls, listener) = counter();
    let audit = signal.connect_keyed("audit", listener).unwrap();
    let again = signal.connect_keyed("audit", |_: &u32| {});
    assert_eq!(again.unwrap_err().key(), "audit");
    let with = ConnectOptions::new().key("audit").priority(3);
    assert!(signal.connect_with(with, |_: &u32| {}).is_err());
    let has = |key| signal.contains_key(key);
    assert_eq!((has("audit"), has("other"), signal.len()), (true, false, 1));
    let emit_five = || {
        (0..5).for_each(|v| signal.emit(v).unwrap());
        signal.flush().unwrap();
        load(&calls)
    };
    assert_eq!(emit_five(), 5);
    assert!(signal.disconnect_key("audit") && !audit.is_connected());
    assert!(!signal.disconnect_key("audit") && !has("audit"));
    assert_eq!(emit_five(), 5);
    assert!(signal.connect_keyed("audit", |_: &u32| {}).is_ok());
}

/// Generic code over `Signal<T>` works with an `AsyncSignal`.
#[test]
fn signal_trait_works_generically() {
    fn wire<S: Signal<u32>>(signal: &S) -> (Arc<AtomicUsize>, [Connection; 4]) {
        let (calls, listener) = counter();
        let listener = Arc::new(listener);
        let [a, b, c] = [0; 3].map(|_| Arc::clone(&listener));
        let conns = [
            signal.connect(move |v| a(v)),
            signal.connect_once(move |v| b(v)),
            signal.connect_keyed("k", move |v| c(v)).unwrap(),
            signal.connect_fallible(|_: &u32| Err::<(), _>("no")),
        ];
        (calls, conns)
    }
    fn unwire<S: Signal<u32>>(signal: &S) -> (usize, bool, bool) {
        let before = signal.len();
        signal.clear();
        (before, signal.is_empty(), signal.contains_key("k"))
    }
    let signal = signal(2, "trait");
    let (calls, conns) = wire(&signal);
    (0..2).for_each(|v| signal.emit(v).unwrap());
    signal.flush().unwrap();
    assert_eq!(load(&calls), 2 + 1 + 2);
    assert_eq!(stats(&signal), [2, 2 + 1 + 2 + 2, 2, 0, 0, 0]);
    assert_eq!(unwire(&signal), (3, true, false));
    assert!(conns.iter().all(|c| !c.is_connected()));
}

/// `disconnect_wait` from inside the listener's own delivery returns
/// `WouldDeadlock` (and still disconnects); from outside it waits for the
/// running call.
#[test]
fn disconnect_wait_inside_and_outside_a_delivery() {
    let signal = signal(2, "dw");
    let slot: Arc<OnceLock<Connection>> = Arc::default();
    let (tx, rx) = mpsc::channel();
    let (s, tx) = (Arc::clone(&slot), Mutex::new(tx));
    let conn = signal.connect(move |_: &u32| {
        let result = s.get().unwrap().disconnect_wait();
        tx.lock().unwrap().send(result).unwrap();
    });
    slot.set(conn.clone()).unwrap();
    signal.emit(1).unwrap();
    let error = expect(&rx, "deadlock").unwrap_err();
    assert!(error.to_string().contains("disconnect_wait"));
    assert!(!conn.is_connected());

    let (gate, opener) = gate();
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let held = signal.connect(move |_: &u32| {
        gate.pass();
        f.store(true, Ordering::SeqCst);
    });
    signal.emit(2).unwrap();
    opener.wait_started();
    let (tx, rx) = mpsc::channel();
    let finished = move || finished.load(Ordering::SeqCst);
    let waited = move || held.disconnect_wait().map(|c| (c, finished()));
    thread::spawn(move || tx.send(waited()));
    still_blocked(&rx);
    drop(opener);
    assert_eq!(expect(&rx, "never returned"), Ok((true, true)));
    signal.flush().unwrap();
}

// ---------------------------------------------------------------- stats and Debug

/// `stats` is exact after `flush`: emitted, delivered, failed, panicked
/// (listeners and a panicking panic handler), rejected, pending.
#[test]
fn stats_are_exact_after_flush() {
    quiet_intended_panics();
    let builder = on_pool(3, "stats").capacity(4).overflow(Overflow::Reject);
    let handler = |p: ListenerPanic| panic!("{INTENDED}: handler, {p}");
    let signal = builder.panic_handler(handler).build().unwrap();
    signal.set_error_handler(|_| {});
    let odd = |v: &u32| if v % 2 == 1 { Err("odd") } else { Ok(()) };
    signal.connect_fallible(odd);
    signal.connect(|v: &u32| assert!(v % 3 != 0, "{INTENDED}: {v}"));
    for v in 0..12 {
        signal.emit(v).unwrap();
        if v % 4 == 3 {
            signal.flush().unwrap();
        }
    }
    // 4 listener panics (0, 3, 6, 9), each also panicking in the handler;
    // 2 × 12 calls, of which 4 panicked.
    assert_eq!(stats(&signal), [12, 20, 6, 8, 0, 0]);
    signal.close();
    assert!(signal.emit(12).is_err());
    assert_eq!(stats(&signal), [12, 20, 6, 8, 1, 0]);
}

/// `Debug` impls do not panic; `Rejected` is `Display`, `Debug` and an
/// `Error` without `T: Debug`.
#[test]
fn debug_impls_and_rejected_without_debug() {
    fn is_error<E: std::error::Error>(_: &E) {}
    let builder = AsyncSignal::<Tracked>::builder().capacity(3);
    assert!(format!("{builder:?}").contains("AsyncSignalBuilder"));
    let signal = builder.build().unwrap();
    let conn = signal.connect(|_: &Tracked| {});
    let text = format!("{signal:?} {:?} {conn:?}", signal.stats());
    assert!(text.contains("AsyncSignal") && text.contains("capacity"));
    signal.close();
    let drops = Arc::new(AtomicUsize::new(0));
    let rejected = signal.emit(Tracked::new(1, &drops)).unwrap_err();
    is_error(&rejected);
    let text = "event rejected: the signal is closed";
    assert_eq!(rejected.to_string(), text);
    assert!(format!("{rejected:?}").contains("Closed"));
    let block_for = Overflow::BlockFor(Duration::from_millis(1));
    let timed_out = RejectReason::TimedOut;
    let shutdown = AsyncSignal::<u8>::new().shutdown(TIMEOUT);
    let others = format!(
        "{block_for:?} {:?} {timed_out:?}",
        DeliveryOrder::PerListener
    );
    let others = format!("{others} {} {shutdown:?}", RejectReason::Full);
    assert!(others.contains("BlockFor") && others.contains("Ok(())"));
}

// ---------------------------------------------------------------- on_close

/// A listener that takes `pause` per event and counts its calls.
fn slow_counter(signal: &AsyncSignal<u32>, pause: Duration) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    signal.connect(move |_: &u32| {
        thread::sleep(pause);
        c.fetch_add(1, Ordering::SeqCst);
    });
    calls
}

/// The hook runs once, after the blocking listeners returned for the last
/// event accepted before `close`, and a later flush returns at once.
#[test]
fn on_close_runs_after_the_last_accepted_event() {
    let signal = signal(2, "onclose");
    let calls = slow_counter(&signal, Duration::from_millis(10));
    let (tx, rx) = mpsc::channel();
    let seen = Arc::clone(&calls);
    signal.on_close(move || tx.send(seen.load(Ordering::SeqCst)).unwrap());
    (0..3).for_each(|v| signal.emit(v).unwrap());
    signal.close();
    assert_eq!(expect(&rx, "hook"), 3);
    assert!(
        rx.recv_timeout(Duration::from_millis(50)).is_err(),
        "ran twice"
    );
    signal.flush().unwrap();
}

/// Registered once the signal is closed and drained, the hook runs at once,
/// on the caller's thread.
#[test]
fn on_close_after_the_close_runs_at_once() {
    let signal: AsyncSignal<u32> = signal(1, "onclose-late");
    signal.emit(1).unwrap();
    signal.shutdown(TIMEOUT).unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&ran);
    let caller = thread::current().id();
    signal.on_close(move || {
        assert_eq!(thread::current().id(), caller);
        r.store(true, Ordering::SeqCst);
    });
    assert!(ran.load(Ordering::SeqCst));
}

/// Dropping the signal without `close` runs the hooks once its drainer has
/// delivered everything; a panicking hook is counted and the next still
/// runs.
#[test]
fn on_close_runs_when_the_signal_is_dropped() {
    quiet_intended_panics();
    let signal = signal(2, "onclose-drop");
    let calls = slow_counter(&signal, Duration::from_millis(5));
    signal.on_close(|| panic!("{INTENDED}: a closing hook"));
    let (tx, rx) = mpsc::channel();
    let seen = Arc::clone(&calls);
    signal.on_close(move || tx.send(seen.load(Ordering::SeqCst)).unwrap());
    (0..4).for_each(|v| signal.emit(v).unwrap());
    drop(signal);
    assert_eq!(expect(&rx, "hook after the drop"), 4);
}

/// A panicking hook is counted in `panicked`.
#[test]
fn a_panicking_on_close_hook_is_counted() {
    quiet_intended_panics();
    let signal: AsyncSignal<u32> = signal(1, "onclose-panic");
    signal.on_close(|| panic!("{INTENDED}: a closing hook"));
    signal.close();
    assert_eq!(signal.stats().panicked, 1);
}
