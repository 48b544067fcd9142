//! `HeldSignal::start` racing emits: every accepted event is delivered
//! exactly once, queued events before later ones, and one emitting
//! thread's events in its order.

#![cfg(loom)]

use loom::sync::{Arc, Mutex};
use loom::thread;
use sigwire::bus::HeldSignal;

#[test]
fn start_races_emits() {
    loom::model(|| {
        let held = Arc::new(HeldSignal::<u32>::new(4).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        held.signal()
            .connect(move |v: &u32| s.lock().unwrap().push(*v));
        held.emit(1).unwrap(); // queued before anything races

        let emitter = {
            let held = held.clone();
            thread::spawn(move || {
                held.emit(2).unwrap();
                held.emit(3).unwrap();
            })
        };
        held.start();
        emitter.join().unwrap();
        assert!(held.is_started());
        assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    });
}
