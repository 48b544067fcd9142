//! Subscriptions read from async code: `recv_async`, `poll_recv` and (with
//! the `stream` feature) the `Stream`, under a current-thread and a
//! multi-thread tokio runtime and under `futures-executor` (no tokio
//! assumed); cancel safety; the close waking a waiting task.
//!
//! Every test is bounded: a lost wake-up fails instead of hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use sigwire::{AsyncSignal, RecvError, SyncSignal};

const LIMIT: Duration = Duration::from_secs(20);

/// Emits `0..n` from a thread of its own, pausing now and then so that the
/// readers catch up and wait (the path under test), then drops its handle.
fn emit_from_thread(signal: Arc<SyncSignal<u64>>, n: u64) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        for v in 0..n {
            signal.emit(&v);
            if v % 64 == 0 {
                thread::sleep(Duration::from_micros(200));
            }
        }
    })
}

/// Reads until `Closed`; every event once, in order (the ring is larger
/// than the stream, so no lag).
async fn read_all(mut sub: sigwire::Subscription<u64>, n: u64) {
    let mut next = 0;
    loop {
        match sub.recv_async().await {
            Ok(v) => {
                assert_eq!(*v, next, "out of order or duplicated");
                next += 1;
            }
            Err(RecvError::Closed) => break,
            Err(RecvError::Lagged(missed)) => panic!("lagged by {missed}"),
        }
    }
    assert_eq!(next, n, "lost events");
}

fn tokio_current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn tokio_multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Three subscribers as tasks of one current-thread runtime, fed by a
/// thread: each receives every event once, in order, then `Closed`.
#[test]
fn recv_async_on_a_current_thread_runtime() {
    const N: u64 = 20_000;
    let signal = Arc::new(SyncSignal::<u64>::new());
    let subs: Vec<_> = (0..3)
        .map(|_| signal.subscribe_with(1 << 15).unwrap())
        .collect();
    let emitter = emit_from_thread(signal, N);
    tokio_current().block_on(async {
        let tasks: Vec<_> = subs
            .into_iter()
            .map(|sub| tokio::spawn(read_all(sub, N)))
            .collect();
        for task in tasks {
            tokio::time::timeout(LIMIT, task)
                .await
                .expect("hung")
                .unwrap();
        }
    });
    emitter.join().unwrap();
}

/// The same on a multi-thread runtime, with an `AsyncSignal` whose
/// listeners run on rayon while the subscribers are tokio tasks.
#[test]
fn recv_async_on_a_multi_thread_runtime_from_an_async_signal() {
    const N: u64 = 20_000;
    let signal = AsyncSignal::<u64>::builder()
        .capacity(1 << 15)
        .build()
        .unwrap();
    let counted = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&counted);
    signal.connect(move |_: &u64| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    let subs: Vec<_> = (0..3).map(|_| signal.subscribe()).collect();
    let runtime = tokio_multi();
    let tasks: Vec<_> = subs
        .into_iter()
        .map(|sub| runtime.spawn(read_all(sub, N)))
        .collect();
    let emitter = thread::spawn(move || {
        for v in 0..N {
            signal.emit(v).unwrap();
            if v % 64 == 0 {
                thread::sleep(Duration::from_micros(200));
            }
        }
        signal.flush().unwrap();
        // Dropping the signal closes it: the subscriptions end.
    });
    runtime.block_on(async {
        for task in tasks {
            tokio::time::timeout(LIMIT, task)
                .await
                .expect("hung")
                .unwrap();
        }
    });
    emitter.join().unwrap();
    assert_eq!(counted.load(Ordering::Relaxed), N as usize);
}

/// No tokio: `futures-executor`'s `block_on`, on a plain thread.
#[test]
fn recv_async_under_futures_executor() {
    const N: u64 = 10_000;
    let signal = Arc::new(SyncSignal::<u64>::new());
    let sub = signal.subscribe_with(1 << 14).unwrap();
    let emitter = emit_from_thread(signal, N);
    let reader = thread::spawn(move || futures_executor::block_on(read_all(sub, N)));
    let deadline = std::time::Instant::now() + LIMIT;
    while !reader.is_finished() {
        assert!(std::time::Instant::now() < deadline, "hung");
        thread::sleep(Duration::from_millis(5));
    }
    reader.join().unwrap();
    emitter.join().unwrap();
}

/// Cancel safety: a `recv_async` raced against a short timer, again and
/// again, under `select!`; every event is received exactly once, in order.
#[test]
fn a_cancelled_recv_async_loses_nothing() {
    const N: u64 = 3_000;
    let signal = Arc::new(SyncSignal::<u64>::new());
    let mut sub = signal.subscribe_with(1 << 12).unwrap();
    let emitter = thread::spawn(move || {
        for v in 0..N {
            signal.emit(&v);
            if v % 16 == 0 {
                thread::sleep(Duration::from_micros(300));
            }
        }
    });
    let cancelled = tokio_current().block_on(async {
        let mut next = 0;
        let mut cancelled = 0u64;
        let deadline = tokio::time::Instant::now() + LIMIT;
        while next < N {
            assert!(tokio::time::Instant::now() < deadline, "hung at {next}");
            tokio::select! {
                item = sub.recv_async() => {
                    assert_eq!(*item.unwrap(), next);
                    next += 1;
                }
                () = tokio::time::sleep(Duration::from_micros(50)) => cancelled += 1,
            }
        }
        cancelled
    });
    emitter.join().unwrap();
    assert_eq!(sub.try_recv().unwrap_err(), sigwire::TryRecvError::Closed);
    // The timer won some races (else the test did not test cancellation).
    assert!(cancelled > 0, "no recv_async was ever cancelled");
}

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A pending poll registers the task: the emit that publishes the event
/// wakes it, once; a poll dropped before it (a cancelled future) is
/// replaced by the next one, so only the last waker is woken.
#[test]
fn the_publish_wakes_the_last_registered_task() {
    let signal = SyncSignal::<u8>::new();
    let mut sub = signal.subscribe();
    let first = Arc::new(Count(AtomicUsize::new(0)));
    let second = Arc::new(Count(AtomicUsize::new(0)));
    let (w1, w2) = (
        Waker::from(Arc::clone(&first)),
        Waker::from(Arc::clone(&second)),
    );
    assert!(sub.poll_recv(&mut Context::from_waker(&w1)).is_pending());
    assert!(sub.poll_recv(&mut Context::from_waker(&w2)).is_pending());
    signal.emit(&5);
    assert_eq!(
        first.0.load(Ordering::SeqCst),
        0,
        "a replaced waker was woken"
    );
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
    match sub.poll_recv(&mut Context::from_waker(&w2)) {
        Poll::Ready(Ok(v)) => assert_eq!(*v, 5),
        other => panic!("expected the event, got {other:?}"),
    }
}

/// The close wakes a waiting task, which then reads `Closed`.
#[test]
fn the_close_wakes_a_waiting_task() {
    let signal = AsyncSignal::<u8>::builder().build().unwrap();
    let mut sub = signal.subscribe();
    let woken = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    assert!(sub.poll_recv(&mut Context::from_waker(&waker)).is_pending());
    signal.emit(1).unwrap();
    signal.close();
    signal.flush().unwrap();
    assert!(
        woken.0.load(Ordering::SeqCst) >= 1,
        "the task was never woken"
    );
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(matches!(sub.poll_recv(&mut cx), Poll::Ready(Ok(v)) if *v == 1));
    assert!(matches!(
        sub.poll_recv(&mut cx),
        Poll::Ready(Err(RecvError::Closed))
    ));
}

/// Dropping a subscription whose task waits removes its registration: the
/// next publish wakes no one (and does not touch a dropped waker).
#[test]
fn a_dropped_subscription_leaves_no_registration() {
    let signal = SyncSignal::<u8>::new();
    let _keep = signal.subscribe(); // the ring stays
    let mut sub = signal.subscribe();
    let woken = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&woken));
    assert!(sub.poll_recv(&mut Context::from_waker(&waker)).is_pending());
    drop(sub);
    drop(waker);
    signal.emit(&1);
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);
    assert_eq!(
        Arc::strong_count(&woken),
        1,
        "the ring still holds the waker"
    );
}

#[cfg(feature = "stream")]
mod stream {
    use super::*;
    use futures_util::StreamExt;
    use sigwire::Lagged;

    /// The stream yields every event, a `Lagged` count where it fell
    /// behind, and ends after the close; it stays ended.
    #[test]
    fn the_stream_yields_lags_and_ends() {
        let signal = SyncSignal::<u32>::new();
        let mut sub = signal.subscribe_with(4).unwrap();
        for v in 0..10 {
            signal.emit(&v);
        }
        drop(signal);
        let items = futures_executor::block_on(async {
            let mut items = Vec::new();
            while let Some(item) = sub.next().await {
                items.push(item.map(|v| *v));
            }
            assert!(sub.next().await.is_none(), "the stream did not stay ended");
            items
        });
        assert_eq!(items, [Err(Lagged(6)), Ok(6), Ok(7), Ok(8), Ok(9)]);
    }

    /// Under a multi-thread runtime, an `AsyncSignal`'s subscription as a
    /// stream, with `StreamExt` combinators: exact sum.
    #[test]
    fn the_stream_of_an_async_signal_under_tokio() {
        const N: u64 = 10_000;
        let signal = AsyncSignal::<u64>::builder()
            .capacity(1 << 14)
            .build()
            .unwrap();
        let sub = signal.subscribe();
        let runtime = tokio_multi();
        let sum = runtime.spawn(async move {
            sub.map(|item| *item.expect("no lag: the ring holds them all"))
                .fold(0u64, |sum, v| async move { sum + v })
                .await
        });
        let emitter = thread::spawn(move || {
            for v in 0..N {
                signal.emit(v).unwrap();
            }
        });
        let sum = runtime
            .block_on(async { tokio::time::timeout(LIMIT, sum).await })
            .expect("hung")
            .unwrap();
        emitter.join().unwrap();
        assert_eq!(sum, N * (N - 1) / 2);
    }
}
