//! Listeners that progress on their own: `Policy::DropOldest` and
//! `Policy::DropNewest` on an `AsyncSignal`, beside `Block` listeners and
//! subscriptions. Ported from tokio's broadcast suite where one applies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{
    AsyncSignal, ConnectOptions, Connection, DeliveryOrder, FlushError, Overflow, Policy,
    SyncSignal,
};

const LONG: Duration = Duration::from_secs(10);

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap(),
    )
}

/// A listener that, on its first call, reports the event and waits until
/// released; later calls are recorded without waiting.
struct Slow {
    seen: Arc<Mutex<Vec<u32>>>,
    started: mpsc::Receiver<u32>,
    release: mpsc::Sender<()>,
}

fn connect_slow(signal: &AsyncSignal<u32>, policy: Policy) -> (Connection, Slow) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let gate = Mutex::new(Some((started_tx, release_rx)));
    let s = Arc::clone(&seen);
    let conn = signal
        .connect_with(ConnectOptions::new().policy(policy), move |v: &u32| {
            let first = gate.lock().unwrap().take();
            if let Some((started, release)) = first {
                started.send(*v).unwrap();
                release.recv_timeout(LONG).unwrap();
            }
            s.lock().unwrap().push(*v);
        })
        .unwrap();
    (
        conn,
        Slow {
            seen,
            started,
            release,
        },
    )
}

/// A listener that sends each event to a channel.
fn connect_fast(signal: &AsyncSignal<u32>, policy: Policy) -> (Connection, mpsc::Receiver<u32>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let conn = signal
        .connect_with(ConnectOptions::new().policy(policy), move |v: &u32| {
            let _ = tx.lock().unwrap().send(*v);
        })
        .unwrap();
    (conn, rx)
}

/// Waits until the drainer has taken every accepted event (they are in
/// the ring), without waiting for the cursors as `flush` does.
fn drained(signal: &AsyncSignal<u32>) {
    let deadline = Instant::now() + LONG;
    while signal.stats().pending > 0 {
        assert!(Instant::now() < deadline, "the drainer did not drain");
        thread::yield_now();
    }
}

/// tokio's `send_slow_rx`, as a user would port it: one slow listener busy
/// with the first event does not hold back a fast one, under `PerListener`
/// on a 4-thread pool, whatever the policies of the two (a slow blocking
/// listener holds the emitter back once the capacity is pending, and only
/// then the others).
#[test]
fn a_slow_listener_does_not_hold_back_a_fast_one() {
    let policies = [Policy::Block, Policy::DropOldest, Policy::DropNewest];
    for fast_policy in policies {
        for slow_policy in policies {
            let signal = AsyncSignal::<u32>::builder()
                .pool(pool(4))
                .ordering(DeliveryOrder::PerListener)
                .capacity(16)
                .build()
                .unwrap();
            let (_slow_conn, slow) = connect_slow(&signal, slow_policy);
            let (_fast_conn, fast) = connect_fast(&signal, fast_policy);
            signal.emit(1).unwrap();
            assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 1);
            signal.emit(2).unwrap();
            signal.emit(3).unwrap();
            for v in 1..=3 {
                assert_eq!(
                    fast.recv_timeout(LONG),
                    Ok(v),
                    "fast {fast_policy:?} beside slow {slow_policy:?}"
                );
            }
            slow.release.send(()).unwrap();
            signal.flush().unwrap();
            assert_eq!(*slow.seen.lock().unwrap(), [1, 2, 3]);
        }
    }
}

/// A slow listener of `policy` on a signal of capacity 4, busy with event
/// 0 while 1..=10 are taken: what it got, its drop count and the signal's.
fn after_a_lap(policy: Policy) -> (Vec<u32>, u64, u64) {
    let signal = AsyncSignal::<u32>::builder()
        .capacity(4)
        .overflow(Overflow::Block)
        .build()
        .unwrap();
    let (conn, slow) = connect_slow(&signal, policy);
    signal.emit(0).unwrap();
    assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 0);
    for v in 1..=10 {
        signal.emit(v).unwrap();
    }
    drained(&signal);
    slow.release.send(()).unwrap();
    signal.flush().unwrap();
    let seen = slow.seen.lock().unwrap().clone();
    (seen, signal.dropped(&conn), signal.stats().dropped)
}

/// tokio's lag semantics for a listener: a `DropOldest` listener a ring
/// behind recovers from the oldest event kept, and its drop count is the
/// number overwritten; received + dropped = emitted.
#[test]
fn drop_oldest_skips_to_the_oldest_event_kept_and_counts_the_rest() {
    // The ring (4 slots) kept 7..=10; 1..=6 were overwritten.
    assert_eq!(
        after_a_lap(Policy::DropOldest),
        (vec![0, 7, 8, 9, 10], 6, 6)
    );
}

/// A `DropNewest` listener keeps what it had and misses what came while
/// it was full.
#[test]
fn drop_newest_keeps_the_oldest_events_and_counts_the_newer() {
    // Its queue (4) kept 1..=4; 5..=10 came while it was full.
    assert_eq!(after_a_lap(Policy::DropNewest), (vec![0, 1, 2, 3, 4], 6, 6));
}

/// A dropping listener never makes the emitter wait, whatever its pace,
/// and a `Block` listener beside it gets every event.
#[test]
fn a_dropping_listener_never_blocks_the_emitter() {
    let signal = AsyncSignal::<u32>::builder()
        .capacity(2)
        .overflow(Overflow::Reject)
        .build()
        .unwrap();
    let (_slow_conn, slow) = connect_slow(&signal, Policy::DropNewest);
    signal.emit(0).unwrap();
    assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 0);
    let mut accepted = 1;
    for v in 1..200 {
        // Rejected only while the drainer has two events in hand.
        while signal.emit(v).is_err() {
            thread::yield_now();
        }
        accepted += 1;
    }
    drained(&signal);
    assert_eq!(signal.stats().emitted, accepted);
    slow.release.send(()).unwrap();
    signal.flush().unwrap();
    let stats = signal.stats();
    assert_eq!(
        slow.seen.lock().unwrap().len() as u64 + stats.dropped,
        accepted
    );
}

/// `flush` waits for the dropping listeners too.
#[test]
fn flush_waits_for_the_dropping_listeners() {
    for policy in [Policy::DropOldest, Policy::DropNewest] {
        let signal = AsyncSignal::<u32>::new();
        let seen = Arc::new(AtomicU64::new(0));
        let s = Arc::clone(&seen);
        signal
            .connect_with(ConnectOptions::new().policy(policy), move |_: &u32| {
                thread::sleep(Duration::from_millis(5));
                s.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        for v in 0..5 {
            signal.emit(v).unwrap();
        }
        signal.flush().unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 5, "{policy:?}");
        assert_eq!(signal.stats().delivered, 5, "{policy:?}");
    }
}

/// `shutdown` waits for them within its deadline, and says so when they
/// are not done.
#[test]
fn shutdown_waits_for_the_dropping_listeners_within_its_deadline() {
    let signal = AsyncSignal::<u32>::new();
    let (_conn, slow) = connect_slow(&signal, Policy::DropOldest);
    signal.emit(0).unwrap();
    assert_eq!(slow.started.recv_timeout(LONG).unwrap(), 0);
    assert!(signal.shutdown(Duration::from_millis(20)).is_err());
    slow.release.send(()).unwrap();
    assert!(signal.shutdown(LONG).is_ok());
    assert_eq!(*slow.seen.lock().unwrap(), [0]);
}

/// After `close`, a dropping listener receives every event accepted before
/// it, as a blocking one does.
#[test]
fn close_delivers_everything_accepted_to_the_dropping_listeners() {
    let signal = AsyncSignal::<u32>::builder().capacity(64).build().unwrap();
    let (_a, oldest) = connect_fast(&signal, Policy::DropOldest);
    let (_b, newest) = connect_fast(&signal, Policy::DropNewest);
    for v in 0..50 {
        signal.emit(v).unwrap();
    }
    signal.close();
    assert!(signal.emit(99).is_err());
    signal.flush().unwrap();
    let all = |rx: &mpsc::Receiver<u32>| rx.try_iter().collect::<Vec<_>>();
    assert_eq!(all(&oldest), (0..50).collect::<Vec<_>>());
    assert_eq!(all(&newest), (0..50).collect::<Vec<_>>());
}

/// A disconnected dropping listener is not called again once
/// `disconnect_wait` returned, and its cursor lets go of the ring.
#[test]
fn a_disconnected_dropping_listener_stops() {
    let signal = AsyncSignal::<u32>::new();
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let conn = signal
        .connect_with(
            ConnectOptions::new().policy(Policy::DropOldest),
            move |_: &u32| {
                c.fetch_add(1, Ordering::Relaxed);
            },
        )
        .unwrap();
    signal.emit(1).unwrap();
    signal.flush().unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    conn.disconnect_wait().unwrap();
    for v in 0..100 {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(signal.dropped(&conn), 0);
    assert!(signal.is_empty());
}

/// A dropping listener's panics and errors are counted and reported as any
/// listener's, and the signal goes on.
#[test]
fn a_dropping_listeners_panics_and_errors_are_counted() {
    let signal = AsyncSignal::<u32>::new();
    let errors = Arc::new(AtomicU64::new(0));
    let e = Arc::clone(&errors);
    signal.set_error_handler(move |_| {
        e.fetch_add(1, Ordering::Relaxed);
    });
    signal.set_panic_handler(|_| {});
    signal
        .connect_with(
            ConnectOptions::new().policy(Policy::DropOldest),
            |v: &u32| assert!(*v != 1, "one"),
        )
        .unwrap();
    signal
        .connect_fallible_with(
            ConnectOptions::new().policy(Policy::DropNewest),
            |v: &u32| if *v == 2 { Err("two") } else { Ok(()) },
        )
        .unwrap();
    for v in 0..4 {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    let stats = signal.stats();
    assert_eq!(stats.panicked, 1);
    assert_eq!(stats.failed, 1);
    assert_eq!(stats.delivered, 7, "8 calls, one panicked");
    assert_eq!(errors.load(Ordering::Relaxed), 1);
}

/// A dropping listener that waits for its own signal is refused, as any
/// listener is: it runs inside a delivery of the signal.
#[test]
fn a_dropping_listener_cannot_flush_its_own_signal() {
    let signal = Arc::new(AsyncSignal::<u32>::new());
    let result = Arc::new(Mutex::new(None));
    let weak = Arc::downgrade(&signal);
    let r = Arc::clone(&result);
    signal
        .connect_with(
            ConnectOptions::new().policy(Policy::DropOldest),
            move |_: &u32| {
                if let Some(signal) = weak.upgrade() {
                    *r.lock().unwrap() = Some(signal.flush());
                }
            },
        )
        .unwrap();
    signal.emit(1).unwrap();
    signal.flush().unwrap();
    assert_eq!(
        *result.lock().unwrap(),
        Some(Err(FlushError::InsideDelivery))
    );
}

/// Signal-level filters apply to dropping listeners as to blocking ones;
/// a listener's own filter applies to it alone.
#[test]
fn filters_apply_to_dropping_listeners() {
    let signal = AsyncSignal::<u32>::new();
    let _even = signal.add_filter(|v: &u32| v % 2 == 0);
    let (_conn, rx) = connect_fast(&signal, Policy::DropOldest);
    let mut sub = signal.subscribe();
    for v in 0..6 {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [0, 2, 4]);
    let got: Vec<u32> = std::iter::from_fn(|| sub.try_recv().ok().map(|v| *v)).collect();
    assert_eq!(got, [0, 2, 4]);
}

/// A listener connected with a dropping policy gets the events the drainer
/// takes after `connect` returned, as a blocking listener does.
#[test]
fn a_new_dropping_listener_starts_with_the_next_events() {
    let signal = AsyncSignal::<u32>::new();
    signal.emit(1).unwrap();
    signal.flush().unwrap();
    let (_conn, rx) = connect_fast(&signal, Policy::DropNewest);
    signal.emit(2).unwrap();
    signal.flush().unwrap();
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), [2]);
}

/// `emit_collect` returns the blocking listeners' errors; the dropping ones
/// get the event through the ring, after.
#[test]
fn emit_collect_waits_for_blocking_listeners_only() {
    let signal = AsyncSignal::<u32>::new();
    signal.connect_fallible(|_: &u32| Err("blocking"));
    signal
        .connect_fallible_with(
            ConnectOptions::new().policy(Policy::DropOldest),
            |_: &u32| Err("dropping"),
        )
        .unwrap();
    signal.set_error_handler(|_| {});
    // The first emit makes the dropping listener's cursor.
    signal.emit(0).unwrap();
    signal.flush().unwrap();
    let errors = signal.emit_collect(1).unwrap_err();
    assert_eq!(errors.len(), 1);
    signal.flush().unwrap();
    assert_eq!(signal.stats().failed, 4);
}

/// A `SyncSignal` ignores policies: its listeners run inside `emit`.
#[test]
fn a_sync_signal_ignores_policies() {
    let signal = SyncSignal::<u32>::new();
    let seen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    signal
        .connect_with(
            ConnectOptions::new().policy(Policy::DropNewest),
            move |_: &u32| {
                s.fetch_add(1, Ordering::Relaxed);
            },
        )
        .unwrap();
    signal.emit(&1);
    assert_eq!(seen.load(Ordering::Relaxed), 1);
}

/// Under a saturating emitter no listener starves: every dropping listener
/// (each on its own job) receives a share, and received + dropped =
/// emitted for each; the blocking listener receives everything.
#[test]
fn no_listener_starves_under_a_saturating_emitter() {
    const EVENTS: u32 = 200_000;
    let signal = AsyncSignal::<u32>::builder()
        .pool(pool(4))
        .capacity(256)
        .overflow(Overflow::Block)
        .build()
        .unwrap();
    let counters: Vec<_> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let policies = [
        Policy::Block,
        Policy::DropOldest,
        Policy::DropOldest,
        Policy::DropNewest,
    ];
    let conns: Vec<_> = policies
        .iter()
        .zip(&counters)
        .map(|(&policy, counter)| {
            let counter = Arc::clone(counter);
            signal
                .connect_with(ConnectOptions::new().policy(policy), move |_: &u32| {
                    counter.fetch_add(1, Ordering::Relaxed);
                })
                .unwrap()
        })
        .collect();
    for v in 0..EVENTS {
        signal.emit(v).unwrap();
    }
    signal.flush().unwrap();
    for ((policy, counter), conn) in policies.iter().zip(&counters).zip(&conns) {
        let received = counter.load(Ordering::Relaxed);
        let dropped = signal.dropped(conn);
        println!("{policy:?}: received {received}, dropped {dropped}");
        assert_eq!(received + dropped, u64::from(EVENTS), "{policy:?}");
        assert!(
            received >= u64::from(EVENTS) / 100,
            "{policy:?} starved: {received} of {EVENTS}"
        );
    }
}

/// Listeners of every policy connected and disconnected between bursts of
/// events from two emitting threads: for each, received + dropped = the
/// events emitted while it was connected, exactly, and each emitter's
/// events reach it in that emitter's order.
#[test]
fn accounting_is_exact_with_listeners_coming_and_going() {
    const ROUNDS: usize = 30;
    const BURST: u32 = 4_000;
    let signal = Arc::new(
        AsyncSignal::<u32>::builder()
            .pool(pool(4))
            .capacity(64)
            .overflow(Overflow::Block)
            .ordering(DeliveryOrder::PerListener)
            .build()
            .unwrap(),
    );
    struct Watched {
        policy: Policy,
        conn: Connection,
        seen: Arc<Mutex<Vec<u32>>>,
        from: u64,
    }
    let policies = [Policy::Block, Policy::DropOldest, Policy::DropNewest];
    let mut live: Vec<Watched> = Vec::new();
    let mut emitted = 0u64;
    let check = |w: &Watched, emitted: u64| {
        let seen = w.seen.lock().unwrap();
        let received = seen.len() as u64;
        let dropped = signal.dropped(&w.conn);
        assert_eq!(
            received + dropped,
            emitted - w.from,
            "{:?}: received {received} + dropped {dropped}",
            w.policy
        );
        for emitter in 0..2 {
            let own: Vec<u32> = seen.iter().copied().filter(|v| v % 2 == emitter).collect();
            assert!(
                own.windows(2).all(|w| w[0] < w[1]),
                "{:?}: out of order",
                w.policy
            );
        }
        if w.policy == Policy::Block {
            assert_eq!(dropped, 0);
        }
    };
    for round in 0..ROUNDS {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let policy = policies[round % 3];
        let conn = signal
            .connect_with(ConnectOptions::new().policy(policy), move |v: &u32| {
                if v % 5 == 0 {
                    thread::yield_now(); // fall behind now and then
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
        if live.len() > 4 {
            let gone = live.remove(round % 4);
            check(&gone, emitted);
            gone.conn.disconnect_wait().unwrap();
        }
        let emitters: Vec<_> = (0..2)
            .map(|e| {
                let signal = Arc::clone(&signal);
                let base = round as u32 * BURST;
                thread::spawn(move || {
                    for i in 0..BURST / 2 {
                        signal.emit(base + i * 2 + e).unwrap();
                    }
                })
            })
            .collect();
        for emitter in emitters {
            emitter.join().unwrap();
        }
        emitted += u64::from(BURST);
        signal.flush().unwrap();
        for w in &live {
            check(w, emitted);
        }
    }
    assert_eq!(signal.stats().emitted, emitted);
}
