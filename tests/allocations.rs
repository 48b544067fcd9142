//! No emit variant allocates on the success path.
//!
//! `allocation-counter` replaces the global allocator for this test binary
//! and counts the allocations of the measuring thread. Everything runs in a
//! single `#[test]` so that no other test of this binary runs alongside.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allocation_counter::measure;
use sigwire::{Cancel, ConnectOptions, Connection, SyncSignal};

const EMITS: u64 = 10_000;

/// Never cancels; a user-defined `Cancel`.
struct Never;

impl Cancel for Never {
    fn is_cancelled(&self) -> bool {
        false
    }
}

/// A signal with `n` listeners, the first of them fallible (returning
/// `Ok`), one of them with a key and a priority, all counting into `calls`.
fn signal_with(n: usize, calls: &Arc<AtomicU64>) -> (SyncSignal<u64>, Vec<Connection>) {
    let signal = SyncSignal::<u64>::new();
    let mut conns = Vec::new();
    for i in 0..n {
        let c = Arc::clone(calls);
        let conn = match i {
            0 => signal.connect_fallible(move |v: &u64| {
                c.fetch_add(1, Ordering::Relaxed);
                if *v == u64::MAX { Err("never") } else { Ok(()) }
            }),
            1 => signal
                .connect_with(
                    ConnectOptions::new().key("keyed").priority(3),
                    move |_: &u64| {
                        c.fetch_add(1, Ordering::Relaxed);
                    },
                )
                .unwrap(),
            _ => signal.connect(move |_: &u64| {
                c.fetch_add(1, Ordering::Relaxed);
            }),
        };
        conns.push(conn);
    }
    (signal, conns)
}

/// Asserts that `EMITS` runs of `emit` allocate nothing and call every
/// listener each time.
fn assert_no_allocations(
    what: &str,
    listeners: usize,
    calls: &AtomicU64,
    mut emit: impl FnMut(u64),
) {
    // Warm-up: the first emit on a thread registers its per-thread record
    // (and arc-swap its per-thread node), which allocates once.
    emit(0);
    let before = calls.load(Ordering::Relaxed);
    let info = measure(|| {
        for i in 0..EMITS {
            emit(i);
        }
    });
    assert_eq!(
        info.count_total, 0,
        "{what} with {listeners} listener(s): {} allocations ({} bytes) in {EMITS} emits",
        info.count_total, info.bytes_total
    );
    assert_eq!(
        calls.load(Ordering::Relaxed) - before,
        EMITS * listeners as u64,
        "{what} with {listeners} listener(s) did not call every listener"
    );
}

#[test]
fn no_emit_variant_allocates_on_the_success_path() {
    // The counter itself works here (this would catch a misconfigured
    // allocator that counts nothing).
    let info = measure(|| drop(std::hint::black_box(Box::new(1u64))));
    assert_eq!(info.count_total, 1);

    for n in [1, 10] {
        let calls = Arc::new(AtomicU64::new(0));
        let (signal, _conns) = signal_with(n, &calls);
        let flag = AtomicBool::new(false);
        let far = Instant::now() + Duration::from_secs(3600);

        assert_no_allocations("emit", n, &calls, |i| signal.emit(&i));
        assert_no_allocations("try_emit", n, &calls, |i| signal.try_emit(&i).unwrap());
        assert_no_allocations("emit_collect", n, &calls, |i| {
            signal.emit_collect(&i).unwrap()
        });
        assert_no_allocations("emit_until(&AtomicBool)", n, &calls, |i| {
            signal.emit_until(&i, &flag).unwrap()
        });
        assert_no_allocations("emit_until(Instant)", n, &calls, |i| {
            signal.emit_until(&i, far).unwrap()
        });
        assert_no_allocations("emit_until(custom Cancel)", n, &calls, |i| {
            signal.emit_until(&i, Never).unwrap()
        });
        let mut emitter = signal.emitter();
        assert_no_allocations("Emitter::emit", n, &calls, |i| emitter.emit(&i));
        drop(emitter);

        // Creating an emitter for a loop does not allocate either.
        let info = measure(|| {
            let mut emitter = signal.emitter();
            emitter.emit(&1);
        });
        assert_eq!(info.count_total, 0, "emitter() with {n} listener(s)");
    }

    // A single fallible listener returning Ok.
    let calls = Arc::new(AtomicU64::new(0));
    let (signal, _conns) = signal_with(1, &calls);
    assert_no_allocations("emit of a fallible listener", 1, &calls, |i| {
        signal.emit(&i)
    });
    assert_no_allocations("try_emit of a fallible listener", 1, &calls, |i| {
        signal.try_emit(&i).unwrap()
    });

    // Blocked listeners are skipped without allocating.
    let calls = Arc::new(AtomicU64::new(0));
    let (signal, conns) = signal_with(10, &calls);
    let _guards: Vec<_> = conns[5..].iter().map(Connection::block).collect();
    assert_no_allocations("emit with 5 of 10 blocked", 5, &calls, |i| signal.emit(&i));

    // An empty signal.
    let empty = SyncSignal::<u64>::new();
    let info = measure(|| {
        for i in 0..EMITS {
            empty.emit(&i);
            empty.try_emit(&i).unwrap();
            empty.emit_collect(&i).unwrap();
            empty.emit_until(&i, Never).unwrap();
        }
        let mut emitter = empty.emitter();
        for i in 0..EMITS {
            emitter.emit(&i);
        }
    });
    assert_eq!(info.count_total, 0, "emits on an empty signal");

    // Nested emits, deeper than every per-thread fast path.
    let nested = Arc::new(SyncSignal::<u64>::new());
    let weak = Arc::downgrade(&nested);
    let depth_calls = Arc::new(AtomicU64::new(0));
    let d = Arc::clone(&depth_calls);
    nested.connect(move |depth: &u64| {
        d.fetch_add(1, Ordering::Relaxed);
        if *depth < 40 {
            weak.upgrade().unwrap().emit(&(depth + 1));
        }
    });
    nested.emit(&0);
    let info = measure(|| {
        for _ in 0..1_000 {
            nested.emit(&0);
        }
    });
    assert_eq!(info.count_total, 0, "nested emits, 41 levels");
    assert_eq!(depth_calls.load(Ordering::Relaxed), 41 * 1_001);

    // The emit that fires a once-listener neither allocates nor locks: the
    // fired slot stays in the list until the next write drops it.
    let once = SyncSignal::<u64>::new();
    let fired = Arc::new(AtomicU64::new(0));
    let f = Arc::clone(&fired);
    once.connect(|_: &u64| {});
    let conn = once.connect_once(move |_: &u64| {
        f.fetch_add(1, Ordering::Relaxed);
    });
    {
        // Blocking is not a write: the list stays as it is, so the measured
        // emit finds everything warm.
        let _skip = conn.block();
        once.emit(&0);
    }
    assert_eq!(once.len(), 2);
    let info = measure(|| once.emit(&1));
    assert_eq!(info.count_total, 0, "the emit that fires a once-listener");
    assert_eq!(fired.load(Ordering::Relaxed), 1);
    assert_eq!(once.len(), 1);
    assert!(!conn.is_connected());

    // Subscriptions: once the ring came round once (an `Arc` per slot),
    // emits reuse each slot's allocation in place while nobody holds its
    // event: a subscriber that reads and lets go, and one that never reads.
    let subscribed = SyncSignal::<u64>::new();
    let mut reading = subscribed.subscribe_with(8).unwrap();
    let idle = subscribed.subscribe();
    for i in 0..8 {
        subscribed.emit(&i);
        drop(reading.try_recv().unwrap());
    }
    let info = measure(|| {
        for i in 0..EMITS {
            subscribed.emit(&i);
            assert_eq!(*reading.try_recv().unwrap(), i);
        }
    });
    assert_eq!(info.count_total, 0, "emits and receives of subscriptions");
    assert_eq!(
        idle.dropped(),
        0,
        "the idle one has not read: nothing counted yet"
    );
}
