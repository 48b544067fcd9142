//! `AsyncSignal::emit_async` and `flush_async`: waiting for room and for
//! delivery without blocking a thread, under tokio (current-thread and
//! multi-thread) and `futures-executor`; cancel safety; the overflow
//! policies; a wait woken by `close`.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use sigwire::{AsyncSignal, ConnectOptions, FlushError, Overflow, Policy, RejectReason};

const LIMIT: Duration = Duration::from_secs(20);

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

/// A listener that waits for a permit per event; returns the permits'
/// sender and the count of events handled.
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

/// Many emits through a queue of 2 under `Block`, each awaited, on one
/// current-thread runtime: all delivered, exactly.
#[test]
fn emit_async_waits_for_room_under_block() {
    const N: u64 = 5_000;
    let signal = small(2, Overflow::Block);
    let sum = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&sum);
    signal.connect(move |v: &u64| {
        s.fetch_add(*v, Ordering::Relaxed);
    });
    current().block_on(async {
        tokio::time::timeout(LIMIT, async {
            for v in 0..N {
                signal.emit_async(v).await.unwrap();
            }
            signal.flush_async().await.unwrap();
        })
        .await
        .expect("hung");
    });
    assert_eq!(sum.load(Ordering::Relaxed), N * (N - 1) / 2);
    let stats = signal.stats();
    assert_eq!((stats.emitted, stats.delivered, stats.rejected), (N, N, 0));
}

/// A task waiting in `emit_async` does not hold its thread: on a
/// current-thread runtime, the task that lets the listener go runs while
/// the emit waits (a blocking wait would hang here).
#[test]
fn a_waiting_emit_async_leaves_the_thread_to_other_tasks() {
    let signal = Arc::new(small(1, Overflow::Block));
    let (permits, handled) = gated(&signal);
    current().block_on(async {
        tokio::time::timeout(LIMIT, async {
            // The capacity counts the event the listener holds: one at a
            // time. The releaser runs only if the waits leave the thread.
            signal.emit_async(1).await.unwrap();
            let releaser = tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    permits.send(()).unwrap();
                }
            });
            signal.emit_async(2).await.unwrap(); // waits for room
            signal.emit_async(3).await.unwrap(); // waits for room
            signal.flush_async().await.unwrap();
            releaser.await.unwrap();
        })
        .await
        .expect("hung: the wait blocked the runtime's thread");
    });
    assert_eq!(handled.load(Ordering::SeqCst), 3);
}

/// Cancel safety: an `emit_async` that waits for room, dropped (a timeout
/// won the `select!`), emitted nothing: the signal counts only what was
/// accepted, and delivers exactly that.
#[test]
fn a_cancelled_emit_async_emits_nothing() {
    let signal = small(1, Overflow::Block);
    let (permits, handled) = gated(&signal);
    current().block_on(async {
        signal.emit_async(1).await.unwrap(); // the one pending event
        let mut cancelled = 0;
        for v in 10..20 {
            tokio::select! {
                done = signal.emit_async(v) => panic!("accepted with no room: {done:?}"),
                () = tokio::time::sleep(Duration::from_millis(2)) => cancelled += 1,
            }
        }
        assert_eq!(cancelled, 10);
    });
    permits.send(()).unwrap();
    signal.flush().unwrap();
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    let stats = signal.stats();
    assert_eq!((stats.emitted, stats.delivered, stats.rejected), (1, 1, 0));
}

/// `Reject` refuses at once; `BlockFor` refuses with `TimedOut` once
/// polled after its duration (sigwire has no timer: the documented rule).
#[test]
fn the_overflow_policies_under_emit_async() {
    let reject = small(1, Overflow::Reject);
    let (permits, _) = gated(&reject);
    futures_executor::block_on(async {
        reject.emit_async(1).await.unwrap();
        let refused = reject.emit_async(2).await.unwrap_err();
        assert_eq!(refused.reason(), RejectReason::Full);
        assert_eq!(refused.into_inner(), 2);
    });
    permits.send(()).unwrap();
    reject.flush().unwrap();

    let bounded = small(1, Overflow::BlockFor(Duration::from_millis(1)));
    let (permits, _) = gated(&bounded);
    futures_executor::block_on(async {
        bounded.emit_async(1).await.unwrap();
    });
    let mut future = pin!(bounded.emit_async(2));
    let mut cx = Context::from_waker(Waker::noop());
    assert!(future.as_mut().poll(&mut cx).is_pending());
    thread::sleep(Duration::from_millis(5));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(Err(refused)) => assert_eq!(refused.reason(), RejectReason::TimedOut),
        other => panic!("expected TimedOut, got {other:?}"),
    }
    permits.send(()).unwrap();
    bounded.flush().unwrap();
    assert_eq!(bounded.stats().rejected, 1);
}

/// A task waiting for room is woken by `close`, and refused with `Closed`.
#[test]
fn close_wakes_a_waiting_emit_async() {
    let signal = Arc::new(small(1, Overflow::Block));
    let (permits, _) = gated(&signal);
    current().block_on(async {
        signal.emit_async(1).await.unwrap();
        let closer = {
            let signal = Arc::clone(&signal);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                signal.close();
            })
        };
        let refused = tokio::time::timeout(LIMIT, signal.emit_async(2))
            .await
            .expect("hung: close did not wake the emit")
            .unwrap_err();
        assert_eq!(refused.reason(), RejectReason::Closed);
        closer.await.unwrap();
    });
    permits.send(()).unwrap();
    signal.flush().unwrap();
}

/// `flush_async` waits for the blocking listeners and for the dropping
/// ones (their cursors), on a multi-thread runtime.
#[test]
fn flush_async_waits_for_every_listener_and_cursor() {
    const N: u64 = 2_000;
    let signal = Arc::new(
        AsyncSignal::<u64>::builder()
            .capacity(N as usize)
            .build()
            .unwrap(),
    );
    let blocking = Arc::new(AtomicUsize::new(0));
    let dropping = Arc::new(AtomicUsize::new(0));
    let b = Arc::clone(&blocking);
    signal.connect(move |_: &u64| {
        b.fetch_add(1, Ordering::SeqCst);
    });
    let d = Arc::clone(&dropping);
    let options = ConnectOptions::new().policy(Policy::DropOldest);
    signal
        .connect_with(options, move |_: &u64| {
            thread::sleep(Duration::from_micros(20));
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        for v in 0..N {
            signal.emit_async(v).await.unwrap();
        }
        tokio::time::timeout(LIMIT, signal.flush_async())
            .await
            .expect("hung")
            .unwrap();
    });
    assert_eq!(blocking.load(Ordering::SeqCst), N as usize);
    // The ring holds them all: the dropping listener dropped none.
    assert_eq!(dropping.load(Ordering::SeqCst), N as usize);
    assert_eq!(signal.stats().dropped, 0);
}

/// `flush_async` polled inside a delivery of its own signal is refused.
#[test]
fn flush_async_inside_a_delivery_is_refused() {
    let signal = Arc::new(AsyncSignal::<u64>::new());
    let seen: Arc<OnceLock<Result<(), FlushError>>> = Arc::new(OnceLock::new());
    let weak: Weak<AsyncSignal<u64>> = Arc::downgrade(&signal);
    let s = Arc::clone(&seen);
    signal.connect(move |_: &u64| {
        if let Some(signal) = weak.upgrade() {
            let _ = s.set(futures_executor::block_on(signal.flush_async()));
        }
    });
    signal.emit(1).unwrap();
    signal.flush().unwrap();
    assert_eq!(seen.get(), Some(&Err(FlushError::InsideDelivery)));
}
