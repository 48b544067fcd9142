//! Subscriptions: the broadcast ring's protocol (`src/ring/`).
//!
//! Each slot's value is a loom `UnsafeCell`, so loom fails a model whose
//! reader can copy the `Arc` out of a slot while a writer replaces it, or
//! whose two writers can write one slot at once; the items are loom
//! `Arc`s, so an `Arc` reused in place (`Arc::get_mut`) while a reader
//! still holds it is a race too. A lost wake-up leaves `recv` blocked: loom
//! reports the deadlock.

#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use sigwire::{RecvError, SyncSignal, TryRecvError};

/// An emit publishing a slot, against a reader waiting for it: the reader
/// gets both events, whole and in order, and is woken for each.
#[test]
fn a_blocked_reader_gets_each_published_event() {
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
        assert_eq!(*sub.recv().unwrap(), 1);
        assert_eq!(*sub.recv().unwrap(), 2);
        emitter.join().unwrap();
    });
}

/// A reader copying an event out against the writer that overwrites its
/// slot (one slot): it gets the first event whole and then the second, or
/// is told it lagged by one and gets the second; and the first event's
/// `Arc`, once the reader let it go, is reused in place by a later write.
#[test]
fn a_reader_racing_the_overwrite_of_its_slot_gets_the_event_or_a_lag() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let mut sub = signal.subscribe_with(1).unwrap();
        signal.emit(&1);
        let emitter = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.emit(&2))
        };
        match sub.recv() {
            Ok(first) => {
                assert_eq!(*first, 1);
                drop(first);
                assert_eq!(*sub.recv().unwrap(), 2);
            }
            Err(lagged) => {
                assert_eq!(lagged, RecvError::Lagged(1));
                assert_eq!(*sub.recv().unwrap(), 2);
            }
        }
        emitter.join().unwrap();
        signal.emit(&3);
        assert_eq!(*sub.try_recv().unwrap(), 3);
    });
}

/// Two emitters whose claims land on one slot a lap apart (two slots,
/// three events): a write waits for the previous lap's, so the ring ends
/// holding the last two claims' events. If the later lap could be written
/// first, the earlier write would land over it: `2` lost and `1` read in
/// its place, an order no claim sequence gives.
#[test]
fn a_write_waits_for_the_previous_lap_of_its_slot() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let mut sub = signal.subscribe_with(2).unwrap();
        let other = {
            let signal = Arc::clone(&signal);
            thread::spawn(move || signal.emit(&1))
        };
        signal.emit(&2);
        signal.emit(&3);
        other.join().unwrap();
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Lagged(1));
        let kept = (*sub.try_recv().unwrap(), *sub.try_recv().unwrap());
        // The claim orders 1 2 3, 2 1 3 and 2 3 1 keep these.
        assert!(matches!(kept, (2, 3) | (1, 3) | (3, 1)), "kept {kept:?}");
        assert_eq!(sub.try_recv().unwrap_err(), TryRecvError::Empty);
    });
}

/// The close (the signal dropped) against a reader that waits: it gets the
/// event emitted before the drop, then `Closed`, and is never left asleep.
#[test]
fn closing_wakes_a_blocked_reader_after_the_last_event() {
    loom::model(|| {
        let signal = SyncSignal::<u32>::new();
        let mut sub = signal.subscribe_with(2).unwrap();
        let reader = thread::spawn(move || {
            let first = sub.recv().map(|item| *item);
            (first, sub.recv().unwrap_err())
        });
        signal.emit(&1);
        drop(signal);
        assert_eq!(reader.join().unwrap(), (Ok(1), RecvError::Closed));
    });
}

/// An `AsyncSignal`'s `close` against its drainer going idle: whichever
/// sees the other last ends the subscriptions, after the event accepted
/// before the close (a close that neither ends leaves `recv` asleep: a
/// loom deadlock).
#[test]
fn an_async_close_racing_the_drainer_ends_the_subscription_after_the_event() {
    loom::model(|| {
        let signal = sigwire::AsyncSignal::<u32>::builder()
            .capacity(2)
            .build()
            .unwrap();
        let mut sub = signal.subscribe();
        let reader = thread::spawn(move || {
            let first = sub.recv().map(|item| *item);
            (first, sub.recv().unwrap_err())
        });
        signal.emit(1).unwrap();
        signal.close();
        assert_eq!(reader.join().unwrap(), (Ok(1), RecvError::Closed));
    });
}

/// The last subscription dropped (which drops the events the ring held)
/// against a new subscription and the emit after it on another thread:
/// the new one gets that event whole, whichever comes first.
#[test]
fn the_last_unsubscribe_leaves_a_new_subscriptions_events_alone() {
    loom::model(|| {
        let signal = SyncSignal::<u32>::new();
        let old = signal.subscribe_with(2).unwrap();
        signal.emit(&0);
        let dropper = thread::spawn(move || drop(old));
        let mut new = signal.subscribe();
        signal.emit(&1);
        dropper.join().unwrap();
        assert_eq!(*new.try_recv().unwrap(), 1);
        assert_eq!(new.try_recv().unwrap_err(), TryRecvError::Empty);
    });
}
