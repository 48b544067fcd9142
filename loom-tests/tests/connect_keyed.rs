//! Two `connect_keyed` with the same key racing: exactly one wins, the other
//! gets `DuplicateKey`, and the signal ends with exactly one listener — the
//! winner's.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::{Connection, DuplicateKey, SyncSignal};

#[test]
fn same_key_race_has_exactly_one_winner() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        // Which listener ran: bit 0 for the spawned thread's, bit 1 for main's.
        let ran = Arc::new(AtomicUsize::new(0));

        let connect = |bit: usize| -> Result<Connection, DuplicateKey> {
            let ran = ran.clone();
            signal.connect_keyed("config", move |_: &()| {
                ran.fetch_add(bit, Ordering::Relaxed);
            })
        };
        let other = {
            let (signal, ran) = (signal.clone(), ran.clone());
            thread::spawn(move || {
                signal.connect_keyed("config", move |_: &()| {
                    ran.fetch_add(1, Ordering::Relaxed);
                })
            })
        };
        let mine = connect(2);
        let theirs = other.join().unwrap();

        let winner_bit = match (&mine, &theirs) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) => {
                assert_eq!(e.key(), "config");
                if mine.is_ok() { 2 } else { 1 }
            }
            (Ok(_), Ok(_)) => panic!("both connects with the same key won"),
            (Err(_), Err(_)) => panic!("both connects with the same key lost"),
        };
        assert_eq!(signal.len(), 1, "exactly one listener");
        assert!(signal.contains_key("config"));

        signal.emit(&());
        // Relaxed: the listener ran on this thread.
        assert_eq!(
            ran.load(Ordering::Relaxed),
            winner_bit,
            "the winner's listener runs, alone"
        );

        assert!(signal.disconnect_key("config"));
        assert!(signal.is_empty());
        assert!(!signal.contains_key("config"));
    });
}
