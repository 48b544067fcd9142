//! `Requests::gather_async`: the replies of `gather`, awaited; its timeout
//! kept without the caller's thread; a dropped future stopping the
//! gathering; on a pool thread, the blocking `gather`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sigwire::bus::Requests;

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap(),
    )
}

/// Enough answers end the wait; each reply is where `gather` puts it.
#[test]
fn gather_async_returns_the_replies() {
    let requests = Requests::<u32, u32>::with_pool(pool(2));
    requests.respond("double", |n: &u32| Ok(Some(n * 2)));
    requests.respond("none", |_: &u32| Ok(None));
    requests.respond("fails", |_: &u32| Err("down".into()));
    let replies = futures_executor::block_on(requests.gather_async(21, 1, Duration::from_secs(10)));
    assert_eq!(replies.answers()[0].1, 42);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let replies = runtime.block_on(requests.gather_async(1, 5, Duration::from_secs(10)));
    assert_eq!(replies.answers().len(), 1);
    assert_eq!(replies.declined().len(), 1);
    assert_eq!(replies.errors().len(), 1);
    assert!(replies.timed_out().is_empty());
}

/// A responder that never answers in time: the wait ends at the timeout
/// (sigwire's timer wakes the task; nothing else would), with the slow
/// one timed out, and a single-thread runtime's other task ran meanwhile.
#[test]
fn gather_async_ends_at_its_timeout() {
    let requests = Requests::<u32, u32>::with_pool(pool(2));
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    requests.respond("fast", |n: &u32| Ok(Some(*n)));
    requests.respond("stuck", move |n: &u32| {
        let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
        Ok(Some(*n))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let started = Instant::now();
    let (replies, ticks) = runtime.block_on(async {
        let ticker = tokio::spawn(async {
            let mut ticks = 0;
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                ticks += 1;
            }
            ticks
        });
        let replies = requests
            .gather_async(7, 2, Duration::from_millis(100))
            .await;
        (replies, ticker.await.unwrap())
    });
    let took = started.elapsed();
    release.send(()).unwrap();
    assert!(
        took >= Duration::from_millis(100),
        "returned before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "the timeout did not end the wait: {took:?}"
    );
    assert_eq!(replies.answers().len(), 1);
    assert_eq!(&*replies.timed_out()[0], "stuck");
    assert_eq!(ticks, 5, "the runtime's thread was blocked");
}

/// Dropping the future stops the gathering: on a one-thread pool busy with
/// the first responder, the second is never started.
#[test]
fn a_dropped_gather_async_starts_no_more_responders() {
    let requests = Requests::<u32, u32>::with_pool(pool(1));
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let (entered_tx, entered) = mpsc::channel::<()>();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    let second = Arc::new(AtomicUsize::new(0));
    requests.respond("first", move |n: &u32| {
        let _ = entered_tx.lock().unwrap().send(());
        let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
        Ok(Some(*n))
    });
    let s = Arc::clone(&second);
    requests.respond("second", move |n: &u32| {
        s.fetch_add(1, Ordering::SeqCst);
        Ok(Some(*n))
    });
    {
        let mut future = std::pin::pin!(requests.gather_async(1, 2, Duration::from_secs(10)));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(std::future::Future::poll(future.as_mut(), &mut cx).is_pending());
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        // Dropped here, while the first responder runs.
    }
    release.send(()).unwrap();
    // The pool's one thread finishes the first, and would take the second
    // next if the gathering were still open.
    thread::sleep(Duration::from_millis(100));
    assert_eq!(
        second.load(Ordering::SeqCst),
        0,
        "a dropped gathering started a responder"
    );
}
