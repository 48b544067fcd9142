//! `HistorySignal::connect_with_replay` racing emits on another thread: the
//! replaying listener receives a gap-free run of events ending at the last
//! one, each exactly once, its replayed history before any live event.

#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;
use sigwire::bus::HistorySignal;

/// Checks what a replaying listener saw: consecutive events ending at
/// `last` (nothing missed, nothing twice, in order), and at least the
/// history that was there before the race started.
fn check(seen: &[u32], last: u32, at_least: usize) {
    assert!(seen.len() >= at_least, "{seen:?}");
    assert_eq!(seen.last(), Some(&last), "{seen:?}");
    for pair in seen.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "{seen:?}");
    }
}

/// A history of 2 (so the emits also evict), one event in it before the
/// race, two emitted by another thread while the listener connects.
#[test]
fn replay_races_emits() {
    loom::model(|| {
        let signal = Arc::new(HistorySignal::<u32>::new(2).unwrap());
        signal.emit(1);

        let emitter = {
            let signal = signal.clone();
            thread::spawn(move || {
                signal.emit(2);
                signal.emit(3);
            })
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let _connection = signal.connect_with_replay(move |v: &u32| s.lock().unwrap().push(*v));
        emitter.join().unwrap();
        check(&seen.lock().unwrap(), 3, 1);
    });
}

/// The replaying listener emits during its replay (once, on the first
/// replayed event) while another thread emits: its own event reaches it
/// after the history, every event once.
#[test]
fn replaying_listener_emits() {
    loom::model(|| {
        let signal = Arc::new(HistorySignal::<u32>::new(4).unwrap());
        signal.emit(1);

        let emitter = {
            let signal = signal.clone();
            thread::spawn(move || signal.emit(2))
        };
        let seen = Arc::new(Mutex::new(Vec::new()));
        // The listener reaches the signal through a slot emptied at the end
        // (holding it directly would be a reference cycle, a leak).
        let slot = Arc::new(Mutex::new(Some(signal.clone())));
        let (s, inner) = (seen.clone(), slot.clone());
        let _connection = signal.connect_with_replay(move |v: &u32| {
            s.lock().unwrap().push(*v);
            if *v == 1 {
                let signal = inner.lock().unwrap().clone();
                signal.unwrap().emit(10);
            }
        });
        emitter.join().unwrap();
        slot.lock().unwrap().take();
        let mut seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0], 1, "{seen:?}");
        // 2 and 10 come from two threads, in either order.
        seen.sort();
        assert_eq!(seen, [1, 2, 10]);
    });
}

/// Two replays at once, each listener emitting during its own replay:
/// neither waits for the other (a deadlock fails the model), and each
/// listener gets the history first, then both emitted events, once each.
#[test]
fn two_replays_that_emit() {
    loom::model(|| {
        let signal = Arc::new(HistorySignal::<u32>::new(4).unwrap());
        signal.emit(1);
        let slot = Arc::new(Mutex::new(Some(signal.clone())));

        let replay = |event: u32, slot: Arc<Mutex<Option<Arc<HistorySignal<u32>>>>>| {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let s = seen.clone();
            let signal = slot.lock().unwrap().clone().unwrap();
            let connection = signal.connect_with_replay(move |v: &u32| {
                s.lock().unwrap().push(*v);
                if *v == 1 {
                    let signal = slot.lock().unwrap().clone();
                    signal.unwrap().emit(event);
                }
            });
            (seen, connection)
        };
        let other = {
            let slot = slot.clone();
            thread::spawn(move || replay(20, slot))
        };
        let (mine, _c1) = replay(10, slot.clone());
        let (theirs, _c2) = other.join().unwrap();
        slot.lock().unwrap().take();
        for seen in [mine, theirs] {
            let mut seen = seen.lock().unwrap().clone();
            assert_eq!(seen[0], 1, "{seen:?}");
            seen.sort();
            assert_eq!(seen, [1, 10, 20]);
        }
    });
}
