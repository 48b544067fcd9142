//! Async waits (`src/sync/sleepers.rs`, `Ring::poll_wait`): a task that
//! registers its waker against the publish or the close that should wake
//! it, and a `recv_async` future dropped midway.
//!
//! The tasks run under `loom::future::block_on`, which parks the loom
//! thread until the task's waker is called: a lost wake-up leaves it
//! parked, and loom reports the deadlock.

#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use loom::sync::Arc;
use loom::thread;
use sigwire::{RecvError, SyncSignal, TryRecvError};

/// A task waiting in `recv_async`, against the emits that publish what it
/// waits for: it is woken for each and gets both, in order.
#[test]
fn an_async_reader_is_woken_by_each_publish() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let mut sub = signal.subscribe_with(2).unwrap();
        let emitter = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || {
                signal.emit(&1);
                signal.emit(&2);
            })
        };
        loom::future::block_on(async {
            assert_eq!(*sub.recv_async().await.unwrap(), 1);
            assert_eq!(*sub.recv_async().await.unwrap(), 2);
        });
        emitter.join().unwrap();
    });
}

/// A task waiting in `recv_async`, against an emit and the close (the
/// signal dropped): it gets the event, then `Closed`.
#[test]
fn an_async_reader_is_woken_by_the_close() {
    loom::model(|| {
        let signal = SyncSignal::<u32>::new();
        let mut sub = signal.subscribe_with(2).unwrap();
        let emitter = thread::spawn(move || {
            signal.emit(&1);
            drop(signal);
        });
        loom::future::block_on(async {
            assert_eq!(*sub.recv_async().await.unwrap(), 1);
            assert_eq!(sub.recv_async().await.unwrap_err(), RecvError::Closed);
        });
        emitter.join().unwrap();
    });
}

/// Cancel safety: a `recv_async` future polled once (it may register, or
/// find the event) and dropped, racing the emit; the event is then
/// received exactly once, and nothing else is.
#[test]
fn a_dropped_recv_async_loses_and_duplicates_nothing() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let mut sub = signal.subscribe_with(2).unwrap();
        let emitter = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.emit(&7))
        };
        let got_early = {
            let mut future = pin!(sub.recv_async());
            let mut cx = Context::from_waker(Waker::noop());
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(item) => Some(*item.unwrap()),
                Poll::Pending => None,
            }
            // Dropped here, registered or not.
        };
        let item = match got_early {
            Some(item) => item,
            None => loom::future::block_on(async { *sub.recv_async().await.unwrap() }),
        };
        assert_eq!(item, 7);
        emitter.join().unwrap();
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
    });
}

/// A task in `emit_async` waiting for room (capacity 1) against the
/// drainer's delivery that makes it, then a task in `flush_async`: both
/// are woken (a lost wake-up is a deadlock), and both events are delivered
/// once.
#[test]
fn a_waiting_emit_async_and_flush_async_are_woken_by_the_delivery() {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use sigwire::{AsyncSignal, Overflow};

    loom::model(|| {
        let signal = AsyncSignal::<usize>::builder()
            .capacity(1)
            .overflow(Overflow::Block)
            .build()
            .unwrap();
        let sum = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&sum);
        signal.connect(move |v: &usize| {
            s.fetch_add(*v, Ordering::Relaxed);
        });
        loom::future::block_on(async {
            signal.emit_async(1).await.unwrap();
            signal.emit_async(2).await.unwrap(); // waits for the first delivery
            signal.flush_async().await.unwrap();
        });
        // Relaxed: the flush ordered the deliveries before this.
        assert_eq!(sum.load(Ordering::Relaxed), 3);
    });
}
