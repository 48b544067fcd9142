//! Hostile review of the async waits (issue 14): `Sleepers`, `recv_async`,
//! the `Stream`, `emit_async`, `flush_async`. The five tests named
//! `finding_*` failed on eb64b47, each on a defect, and pass since the
//! fixes (a waker dropped under the sleepers' lock; the ring closed under
//! the signal's `ring` lock; a circle of waits hidden by an async flush
//! under `block_on`; re-registration quadratic in the waiters; `BlockFor`
//! testing its deadline before the room). The `control_*` tests passed
//! then and pass now. Every test is bounded: a hang fails, it does not
//! hang the run.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use sigwire::{
    AsyncSignal, ConnectOptions, FlushError, Overflow, Policy, RecvError, RecvTimeoutError,
    RejectReason, Subscription, SyncSignal,
};

const LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on its own thread; fails (instead of hanging) if it does not
/// return within `limit`. A hung thread is left behind (the harness exits).
fn bounded<R: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::Builder::new()
        .name(what.to_owned())
        .spawn(move || {
            let r = f();
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        // Returned, or panicked (the sender dropped): join says which.
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: hung for {limit:?} (deadlock or lost wake-up)")
        }
    }
}

fn multi(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}

fn current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn small(capacity: usize, overflow: Overflow) -> AsyncSignal<u64> {
    AsyncSignal::<u64>::builder()
        .capacity(capacity)
        .overflow(overflow)
        .build()
        .unwrap()
}

/// A listener that waits for a permit per event.
fn gated(signal: &AsyncSignal<u64>) -> (mpsc::Sender<()>, Arc<AtomicUsize>) {
    let (tx, rx) = mpsc::channel::<()>();
    let rx = Mutex::new(rx);
    let handled = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&handled);
    signal.connect(move |_: &u64| {
        let _ = rx.lock().unwrap().recv_timeout(LIMIT);
        h.fetch_add(1, Ordering::SeqCst);
    });
    (tx, handled)
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> Arc<Count> {
    Arc::new(Count(AtomicUsize::new(0)))
}

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

// ---------------------------------------------------------------------
// Findings (expected to fail on the current code)
// ---------------------------------------------------------------------

/// `Tasks::register` replaces a held waker with `clone_from` *under the
/// Sleepers mutex*: the old `Waker`'s drop (executor code) runs with the
/// lock held. `Sleepers::forget` says of the same drop "Dropped outside
/// the lock: a `Waker`'s drop is the executor's". When that drop is the
/// last handle on a task that owns another subscription of the same ring
/// (an abandoned task kept alive only by its waker), the subscription's
/// drop calls `forget`, which takes the same mutex: self-deadlock.
#[test]
fn finding_a_replaced_wakers_drop_runs_under_the_sleepers_lock() {
    struct TaskOwningASubscription(#[allow(dead_code)] Mutex<Option<Subscription<u8>>>);
    impl Wake for TaskOwningASubscription {
        fn wake(self: Arc<Self>) {}
    }
    bounded(
        "register drops a waker under the lock",
        Duration::from_secs(5),
        || {
            let signal = SyncSignal::<u8>::new();
            let mut a = signal.subscribe();
            let mut b = signal.subscribe();
            // `b` is registered: its drop must take the Sleepers lock.
            assert!(
                b.poll_recv(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
            let task = Waker::from(Arc::new(TaskOwningASubscription(Mutex::new(Some(b)))));
            assert!(a.poll_recv(&mut Context::from_waker(&task)).is_pending());
            drop(task); // the ring's entry is now the last handle on the "task"
            // Polled again by another task: `clone_from` drops the old waker
            // under the lock -> `b` dropped -> `forget` -> lock -> deadlock.
            let _ = a.poll_recv(&mut Context::from_waker(Waker::noop()));
        },
    );
}

/// `drain::close_feed` calls `ring.close()` while it holds `shared.ring`;
/// `Ring::close` now runs the tasks' `Waker::wake` (user code) there. A
/// waker that runs its task inline (or any wake that touches the signal)
/// and subscribes deadlocks on `shared.ring`. The design note says the
/// wakers are woken "after releasing" the lock; here another lock is held.
#[test]
fn finding_close_wakes_tasks_while_holding_the_signals_ring_lock() {
    struct InlineTask(Mutex<Option<Arc<AsyncSignal<u8>>>>);
    impl Wake for InlineTask {
        fn wake(self: Arc<Self>) {
            // An executor that polls the woken task at once; the task,
            // seeing `Closed`, subscribes again (any call that needs the
            // signal's ring lock does the same).
            if let Some(signal) = self.0.lock().unwrap().take() {
                drop(signal.subscribe());
            }
        }
    }
    bounded(
        "close wakes under shared.ring",
        Duration::from_secs(5),
        || {
            let signal = Arc::new(AsyncSignal::<u8>::new());
            let mut sub = signal.subscribe();
            let waker = Waker::from(Arc::new(InlineTask(Mutex::new(Some(Arc::clone(&signal))))));
            assert!(sub.poll_recv(&mut Context::from_waker(&waker)).is_pending());
            signal.close(); // nothing pending: close_feed runs here, inline
            assert!(matches!(
                sub.poll_recv(&mut Context::from_waker(Waker::noop())),
                Poll::Ready(Err(RecvError::Closed))
            ));
        },
    );
}

/// `flush_async` / `emit_async` are unlisted ("a task holds no thread, so
/// the circles ... cannot form through it"). Inside a listener, under
/// `block_on`, a task does hold a thread: A's listener awaits
/// `B.flush_async()` while B's listener calls the *blocking* `A.flush()`.
/// The blocking flush documents `FlushError::Circle` for exactly this
/// circle (see the control below, where both sides are blocking), but it
/// cannot see A's unlisted wait: both hang. (The guard below ends A's wait
/// after 4 s so the pool recovers.)
#[test]
fn finding_flush_async_under_block_on_hides_a_circle_from_flush() {
    let (a_result, b_result) = flush_circle(true);
    eprintln!("async circle: A={a_result} B={b_result}");
    assert!(
        a_result != "timed out",
        "A: block_on(B.flush_async()) hung (B: blocking A.flush() -> {b_result}); \
         the circle that blocking flushes refuse with Circle went undetected"
    );
}

/// `Overflow::BlockFor(d)` under `emit_async`: the poll tests the deadline
/// *before* the room. A task woken by the delivery that made room well
/// before `d`, but polled after `d` (a busy executor), is refused with
/// `TimedOut` although room was there in time (the blocking `emit` would
/// have taken it: `wait_until` tests the condition first). Documented
/// ("woken (or polled) after d"), but avoidable by testing room first.
#[test]
fn finding_block_for_rejects_a_task_woken_in_time_but_polled_late() {
    let signal = small(1, Overflow::BlockFor(Duration::from_millis(200)));
    let (permits, _) = gated(&signal);
    signal.emit(0).unwrap();
    let count = counter();
    let waker = Waker::from(Arc::clone(&count));
    let mut fut = pin!(signal.emit_async(1));
    let start = Instant::now();
    assert!(poll_once(fut.as_mut(), &waker).is_pending());
    permits.send(()).unwrap(); // room at once
    while count.0.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "never woken");
        thread::yield_now();
    }
    let woken_after = start.elapsed();
    assert!(
        woken_after < Duration::from_millis(150),
        "woken late: {woken_after:?}"
    );
    thread::sleep(Duration::from_millis(250).saturating_sub(start.elapsed()));
    let outcome = poll_once(fut.as_mut(), &waker);
    let _ = permits.send(());
    let ok = matches!(outcome, Poll::Ready(Ok(())));
    assert!(
        ok,
        "woken after {woken_after:?} with room, polled after the deadline: {:?}",
        outcome.map(|r| r.map_err(|e| e.reason()))
    );
    signal.flush().unwrap();
}

/// Every notify empties the list; each task polled again then registers
/// with a stale key, and `register` scans the whole list for it
/// (`iter_mut().find`) before pushing: re-registering N waiters costs
/// O(N^2) under the one mutex, once per notify (each publish of a waited
/// slot, each completion with emitters waiting). The first registration
/// (key `None`) skips the scan, so the two rounds below differ only by
/// that scan.
#[test]
fn finding_reregistering_after_a_notify_is_quadratic() {
    const N: usize = 20_000;
    bounded(
        "quadratic re-registration",
        Duration::from_secs(120),
        || {
            let signal = SyncSignal::<u8>::new();
            let mut subs: Vec<_> = (0..N).map(|_| signal.subscribe()).collect();
            let mut cx = Context::from_waker(Waker::noop());
            let t = Instant::now();
            for sub in &mut subs {
                assert!(sub.poll_recv(&mut cx).is_pending());
            }
            let first = t.elapsed();
            signal.emit(&1); // wakes (and unregisters) all N
            for sub in &mut subs {
                assert!(sub.poll_recv(&mut cx).is_ready()); // the event
            }
            let t = Instant::now();
            for sub in &mut subs {
                assert!(sub.poll_recv(&mut cx).is_pending()); // stale key: a scan
            }
            let second = t.elapsed();
            assert!(
                second < first * 10 + Duration::from_millis(50),
                "{N} waiters: first registration {first:?}, re-registration after one notify {second:?}"
            );
        },
    );
}

// ---------------------------------------------------------------------
// Controls (expected to pass)
// ---------------------------------------------------------------------

/// The futures are `Send` (spawnable on a multi-thread runtime).
#[test]
fn control_the_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let signal = AsyncSignal::<u8>::new();
    let mut sub = signal.subscribe();
    {
        let f = sub.recv_async();
        assert_send(&f);
    }
    let e = signal.emit_async(1);
    assert_send(&e);
    let f = signal.flush_async();
    assert_send(&f);
}

/// Both blocking: the circle is refused (one side gets `Circle`).
#[test]
fn control_a_circle_of_blocking_flushes_is_refused() {
    let (a_result, b_result) = flush_circle(false);
    eprintln!("blocking circle: A={a_result} B={b_result}");
    assert!(
        a_result.contains("Circle") || b_result.contains("Circle"),
        "A: {a_result}, B: {b_result}"
    );
}

/// A and B on a pool of their own; each one's listener, once both are in
/// their deliveries, flushes the other. With `async_a`, A's listener
/// awaits `B.flush_async()` under a 4 s guard (`block_on` of a runtime).
fn flush_circle(async_a: bool) -> (String, String) {
    bounded("flush circle", LIMIT, move || {
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(4)
                .build()
                .unwrap(),
        );
        let build = || {
            Arc::new(
                AsyncSignal::<u8>::builder()
                    .pool(Arc::clone(&pool))
                    .build()
                    .unwrap(),
            )
        };
        let (a, b) = (build(), build());
        let barrier = Arc::new(Barrier::new(2));
        let results: Arc<Mutex<(String, String)>> = Arc::default();
        {
            let (b, barrier, results) = (
                Arc::downgrade(&b),
                Arc::clone(&barrier),
                Arc::clone(&results),
            );
            a.connect(move |_: &u8| {
                barrier.wait();
                let Some(b) = b.upgrade() else { return };
                let r = if async_a {
                    let rt = current();
                    match rt.block_on(async {
                        tokio::time::timeout(Duration::from_secs(4), b.flush_async()).await
                    }) {
                        Ok(r) => format!("{r:?}"),
                        Err(_) => "timed out".to_owned(),
                    }
                } else {
                    format!("{:?}", b.flush())
                };
                results.lock().unwrap().0 = r;
            });
        }
        {
            let (a, barrier, results) = (
                Arc::downgrade(&a),
                Arc::clone(&barrier),
                Arc::clone(&results),
            );
            b.connect(move |_: &u8| {
                barrier.wait();
                let Some(a) = a.upgrade() else { return };
                let r = format!("{:?}", a.flush());
                results.lock().unwrap().1 = r;
            });
        }
        a.emit(1).unwrap();
        b.emit(1).unwrap();
        a.flush().unwrap();
        b.flush().unwrap();
        results.lock().unwrap().clone()
    })
}

/// Many tasks and two threads on one ring's Sleepers (one entry per
/// subscription, every slot): every reader gets every event, in order,
/// while the emitter races their registrations.
#[test]
fn control_many_readers_on_one_ring_lose_no_wakeup() {
    const N: u64 = 20_000;
    const TASKS: usize = 32;
    bounded("many readers", LIMIT, || {
        let signal = Arc::new(SyncSignal::<u64>::new());
        let mut subs: Vec<_> = (0..TASKS + 2)
            .map(|_| signal.subscribe_with(1 << 16).unwrap())
            .collect();
        let threads: Vec<_> = subs
            .drain(TASKS..)
            .enumerate()
            .map(|(i, mut sub)| {
                thread::spawn(move || {
                    for v in 0..N {
                        let got = if i == 0 {
                            sub.recv().unwrap()
                        } else {
                            loop {
                                match sub.recv_timeout(Duration::from_millis(1)) {
                                    Ok(got) => break got,
                                    Err(RecvTimeoutError::Timeout) => continue,
                                    Err(e) => panic!("{e:?}"),
                                }
                            }
                        };
                        assert_eq!(*got, v);
                    }
                    assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);
                })
            })
            .collect();
        let rt = multi(2);
        let tasks: Vec<_> = subs
            .into_iter()
            .map(|mut sub| {
                rt.spawn(async move {
                    for v in 0..N {
                        assert_eq!(*sub.recv_async().await.unwrap(), v);
                    }
                    assert_eq!(sub.recv_async().await.unwrap_err(), RecvError::Closed);
                })
            })
            .collect();
        let emitter = thread::spawn(move || {
            for v in 0..N {
                signal.emit(&v);
                if v % 64 == 0 {
                    thread::yield_now();
                }
            }
        });
        emitter.join().unwrap();
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
    });
}

/// Emitters (tasks and threads) and flushers (tasks and a thread) on one
/// AsyncSignal's Sleepers, capacity 1, `Block`: nothing lost, nothing
/// doubled, nobody left waiting.
#[test]
fn control_emitters_and_flushers_share_one_sleepers() {
    const PER: u64 = 300;
    const TASKS: u64 = 8;
    const THREADS: u64 = 2;
    bounded("emitters and flushers", LIMIT, || {
        let signal = Arc::new(small(1, Overflow::Block));
        let sum = Arc::new(AtomicU64::new(0));
        let s = Arc::clone(&sum);
        signal.connect(move |v: &u64| {
            s.fetch_add(*v, Ordering::Relaxed);
        });
        let rt = multi(2);
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let signal = Arc::clone(&signal);
            tasks.push(rt.spawn(async move {
                for i in 0..PER {
                    signal.emit_async(t * PER + i + 1).await.unwrap();
                }
            }));
        }
        for _ in 0..2 {
            let signal = Arc::clone(&signal);
            tasks.push(rt.spawn(async move {
                for _ in 0..50 {
                    signal.flush_async().await.unwrap();
                }
            }));
        }
        let mut threads = Vec::new();
        for t in TASKS..TASKS + THREADS {
            let signal = Arc::clone(&signal);
            threads.push(thread::spawn(move || {
                for i in 0..PER {
                    signal.emit(t * PER + i + 1).unwrap();
                }
            }));
        }
        {
            let signal = Arc::clone(&signal);
            threads.push(thread::spawn(move || {
                for _ in 0..50 {
                    signal.flush().unwrap();
                }
            }));
        }
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        signal.flush().unwrap();
        let n = (TASKS + THREADS) * PER;
        assert_eq!(sum.load(Ordering::Relaxed), n * (n + 1) / 2);
        let stats = signal.stats();
        assert_eq!((stats.emitted, stats.delivered, stats.rejected), (n, n, 0));
    });
}

/// `close` racing tasks waiting in `emit_async`: every task ends (Ok if it
/// got in before the close, else `Closed`), and what was accepted is
/// exactly what is delivered.
#[test]
fn control_close_races_waiting_emit_async() {
    bounded("close race", LIMIT, || {
        let rt = multi(2);
        for round in 0..100u64 {
            let signal = Arc::new(small(1, Overflow::Block));
            let (permits, handled) = gated(&signal);
            signal.emit(0).unwrap();
            let tasks: Vec<_> = (1..=4u64)
                .map(|v| {
                    let signal = Arc::clone(&signal);
                    rt.spawn(async move { signal.emit_async(v).await.map_err(|r| r.reason()) })
                })
                .collect();
            if round % 2 == 0 {
                for _ in 0..5 {
                    permits.send(()).unwrap();
                }
            }
            thread::sleep(Duration::from_micros(200 * (round % 5)));
            signal.close();
            for _ in 0..5 {
                let _ = permits.send(());
            }
            let mut accepted = 1;
            rt.block_on(async {
                for t in tasks {
                    match t.await.unwrap() {
                        Ok(()) => accepted += 1,
                        Err(RejectReason::Closed) => {}
                        Err(other) => panic!("{other:?}"),
                    }
                }
            });
            signal.flush().unwrap();
            assert_eq!(handled.load(Ordering::SeqCst), accepted);
            assert_eq!(signal.stats().delivered, accepted as u64);
        }
    });
}

/// A `recv_async` polled and dropped 1000 times, each time with another
/// waker, holds only the last waker; only it is woken.
#[test]
fn control_dropped_recv_async_futures_leave_one_entry() {
    let signal = SyncSignal::<u8>::new();
    let mut sub = signal.subscribe();
    let counts: Vec<_> = (0..1000).map(|_| counter()).collect();
    for c in &counts {
        let waker = Waker::from(Arc::clone(c));
        let fut = pin!(sub.recv_async());
        assert!(poll_once(fut, &waker).is_pending());
    }
    for c in &counts[..999] {
        assert_eq!(Arc::strong_count(c), 1, "a replaced waker is still held");
    }
    assert_eq!(Arc::strong_count(&counts[999]), 2);
    signal.emit(&1);
    assert!(
        counts[..999]
            .iter()
            .all(|c| c.0.load(Ordering::SeqCst) == 0)
    );
    assert_eq!(counts[999].0.load(Ordering::SeqCst), 1);
    assert_eq!(*sub.try_recv().unwrap(), 1);
}

/// `emit_async` and `flush_async` futures polled once (Pending) and
/// dropped, 1000 times each: no waker is kept, nothing is emitted, and
/// the signal still flushes.
#[test]
fn control_dropped_emit_and_flush_futures_leave_nothing() {
    let signal = small(1, Overflow::Block);
    let (permits, handled) = gated(&signal);
    signal.emit(0).unwrap();
    let counts: Vec<_> = (0..1000).map(|_| counter()).collect();
    for (i, c) in counts.iter().enumerate() {
        let waker = Waker::from(Arc::clone(c));
        if i % 2 == 0 {
            let fut = pin!(signal.emit_async(i as u64));
            assert!(poll_once(fut, &waker).is_pending());
        } else {
            let fut = pin!(signal.flush_async());
            assert!(poll_once(fut, &waker).is_pending());
        }
        drop(waker);
        assert_eq!(Arc::strong_count(c), 1, "future {i}'s waker is still held");
    }
    permits.send(()).unwrap();
    bounded("flush after cancels", Duration::from_secs(10), {
        let signal = Arc::new(signal);
        move || {
            futures_executor::block_on(signal.flush_async()).unwrap();
            signal.stats()
        }
    });
    assert_eq!(handled.load(Ordering::SeqCst), 1);
}

/// A flush_async cancelled while it waits for a dropping listener's
/// cursor, many times; then one completes.
#[test]
fn control_cancelled_flush_async_on_cursors() {
    bounded("cursor flush", LIMIT, || {
        let signal = Arc::new(AsyncSignal::<u64>::builder().capacity(64).build().unwrap());
        let done = Arc::new(AtomicUsize::new(0));
        let d = Arc::clone(&done);
        signal
            .connect_with(
                ConnectOptions::new().policy(Policy::DropOldest),
                move |_: &u64| {
                    thread::sleep(Duration::from_millis(1));
                    d.fetch_add(1, Ordering::SeqCst);
                },
            )
            .unwrap();
        let rt = current();
        rt.block_on(async {
            for v in 0..50 {
                signal.emit_async(v).await.unwrap();
                let _ =
                    tokio::time::timeout(Duration::from_micros(300), signal.flush_async()).await;
            }
            tokio::time::timeout(LIMIT, signal.flush_async())
                .await
                .expect("hung")
                .unwrap();
        });
        assert_eq!(
            done.load(Ordering::SeqCst) as u64 + signal.stats().dropped,
            50
        );
    });
}

#[cfg(feature = "stream")]
#[test]
fn control_stream_after_lagged_and_after_none() {
    use futures_core::Stream;
    use sigwire::Lagged;
    let signal = SyncSignal::<u32>::new();
    let mut sub = signal.subscribe_with(2).unwrap();
    for v in 1..=5 {
        signal.emit(&v);
    }
    let mut cx = Context::from_waker(Waker::noop());
    let mut next = |sub: &mut Subscription<u32>| match std::pin::Pin::new(sub).poll_next(&mut cx) {
        Poll::Ready(Some(Ok(v))) => format!("{v}"),
        Poll::Ready(Some(Err(Lagged(n)))) => format!("lag{n}"),
        Poll::Ready(None) => "none".into(),
        Poll::Pending => "pending".into(),
    };
    assert_eq!(next(&mut sub), "lag3");
    assert_eq!(next(&mut sub), "4");
    assert_eq!(next(&mut sub), "5");
    assert_eq!(next(&mut sub), "pending");
    signal.emit(&6);
    drop(signal);
    assert_eq!(next(&mut sub), "6");
    assert_eq!(next(&mut sub), "none");
    assert_eq!(next(&mut sub), "none");
    assert_eq!(next(&mut sub), "none");
}

/// Re-entrant wakers: one that emits into the same signal from `wake`,
/// one that drops its subscription from `wake`, one that panics. The
/// emitter neither deadlocks nor panics, and the others are still woken.
#[test]
fn control_reentrant_wakers() {
    struct EmitOnWake(Mutex<Option<Arc<SyncSignal<u8>>>>);
    impl Wake for EmitOnWake {
        fn wake(self: Arc<Self>) {
            if let Some(s) = self.0.lock().unwrap().take() {
                s.emit(&99);
            }
        }
    }
    struct DropOnWake(Mutex<Option<Subscription<u8>>>);
    impl Wake for DropOnWake {
        fn wake(self: Arc<Self>) {
            drop(self.0.lock().unwrap().take());
        }
    }
    struct PanicOnWake;
    impl Wake for PanicOnWake {
        fn wake(self: Arc<Self>) {
            panic!("hostile waker");
        }
    }
    bounded("re-entrant wakers", Duration::from_secs(10), || {
        let signal = Arc::new(SyncSignal::<u8>::new());
        let mut a = signal.subscribe();
        let mut b = signal.subscribe();
        let mut c = signal.subscribe();
        let mut d = signal.subscribe();
        let emit = Arc::new(EmitOnWake(Mutex::new(Some(Arc::clone(&signal)))));
        assert!(
            a.poll_recv(&mut Context::from_waker(&Waker::from(emit)))
                .is_pending()
        );
        let dropper = Arc::new(DropOnWake(Mutex::new(None)));
        assert!(
            b.poll_recv(&mut Context::from_waker(&Waker::from(Arc::clone(&dropper))))
                .is_pending()
        );
        *dropper.0.lock().unwrap() = Some(b);
        drop(dropper);
        assert!(
            c.poll_recv(&mut Context::from_waker(&Waker::from(Arc::new(
                PanicOnWake
            ))))
            .is_pending()
        );
        let count = counter();
        assert!(
            d.poll_recv(&mut Context::from_waker(&Waker::from(Arc::clone(&count))))
                .is_pending()
        );
        signal.emit(&1);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        for sub in [&mut a, &mut c, &mut d] {
            assert_eq!(*sub.try_recv().unwrap(), 1);
            assert_eq!(*sub.try_recv().unwrap(), 99);
        }
    });
}

/// A listener that `block_on`s `emit_async` into its own full signal under
/// `Block` gets `Full` (not a hang); `flush_async` gets `InsideDelivery`.
#[test]
fn control_block_on_inside_own_delivery() {
    bounded("inside own delivery", Duration::from_secs(10), || {
        let signal = Arc::new(small(1, Overflow::Block));
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (weak, s) = (Arc::downgrade(&signal), Arc::clone(&seen));
        let once = AtomicBool::new(false);
        signal.connect(move |_: &u64| {
            if once.swap(true, Ordering::SeqCst) {
                return;
            }
            let Some(signal) = weak.upgrade() else { return };
            let e = futures_executor::block_on(signal.emit_async(7)).map_err(|r| r.reason());
            let f = futures_executor::block_on(signal.flush_async());
            s.lock().unwrap().push(format!("{e:?} {f:?}"));
        });
        signal.emit(1).unwrap();
        signal.flush().unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            [format!(
                "{:?} {:?}",
                Err::<(), _>(RejectReason::Full),
                Err::<(), _>(FlushError::InsideDelivery)
            )]
        );
    });
}

/// The blocking paths still behave: `recv` woken by a thread's emit,
/// `recv_timeout` times out, `emit` under `Block` waits for room, `flush`.
#[test]
fn control_blocking_paths() {
    bounded("blocking paths", LIMIT, || {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let mut sub = signal.subscribe();
        let t0 = Instant::now();
        assert_eq!(
            sub.recv_timeout(Duration::from_millis(30)).unwrap_err(),
            RecvTimeoutError::Timeout
        );
        assert!(t0.elapsed() >= Duration::from_millis(30));
        let emitter = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                signal.emit(&5);
            })
        };
        assert_eq!(*sub.recv().unwrap(), 5);
        emitter.join().unwrap();
        drop(signal);
        assert_eq!(sub.recv().unwrap_err(), RecvError::Closed);

        let signal = Arc::new(small(1, Overflow::Block));
        let (permits, handled) = gated(&signal);
        signal.emit(1).unwrap();
        let blocked = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.emit(2).map_err(|r| r.reason()))
        };
        thread::sleep(Duration::from_millis(20));
        assert!(!blocked.is_finished(), "emit under Block did not wait");
        permits.send(()).unwrap();
        permits.send(()).unwrap();
        blocked.join().unwrap().unwrap();
        signal.flush().unwrap();
        assert_eq!(handled.load(Ordering::SeqCst), 2);
    });
}

/// `BlockFor(20ms)` under `emit_async`, nothing else waking it: sigwire's
/// timer thread wakes it at the deadline, and it ends with `TimedOut`, as
/// `emit` under the same policy does. (On eb64b47, before the timer, it
/// was still waiting at 300 ms: documented then, fixed since.)
#[test]
fn control_block_for_under_emit_async_times_out_at_its_deadline() {
    let signal = small(1, Overflow::BlockFor(Duration::from_millis(20)));
    let (permits, _) = gated(&signal);
    signal.emit(1).unwrap();
    let t = Instant::now();
    assert_eq!(signal.emit(2).unwrap_err().reason(), RejectReason::TimedOut);
    assert!(t.elapsed() < Duration::from_millis(200));
    let outcome = current().block_on(async {
        tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_secs(5)) => "still waiting after 5 s".to_owned(),
            r = signal.emit_async(3) => format!("{:?}", r.map_err(|r| r.reason())),
        }
    });
    assert_eq!(
        outcome,
        format!("{:?}", Err::<(), _>(RejectReason::TimedOut))
    );
    permits.send(()).unwrap();
    signal.flush().unwrap();
    assert_eq!(signal.stats().emitted, 1);
}
