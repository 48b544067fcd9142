//! Reclamation of old listener lists racing emits.
//!
//! `emit` reads the current list through a raw pointer, protected only by
//! its thread's record entry; writers free a list they swapped out once a
//! scan of the records shows no emit can still read it. Under loom, freeing
//! a list writes a cell inside it and every read of a list reads that cell,
//! so loom fails these models if an emit can read a list whose reclamation
//! does not happen after the read (or reads one already reclaimed).
//!
//! Each model retires several lists (two connects, then disconnects, which
//! scan at once) while another thread emits.

#![cfg(loom)]

use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use sigwire::SyncSignal;
use sigwire_loom_tests::counting;

/// Connects two listeners (the writing thread emits between them if
/// `writer_emits`), runs `emitting` on another thread, and disconnects both
/// meanwhile: two connects that retire lists, then two disconnects that scan.
fn race(writer_emits: bool, emitting: fn(&SyncSignal<()>), max_calls: usize) {
    loom::model(move || {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let a = counting(&signal, &calls);
        if writer_emits {
            signal.emit(&());
        }
        let b = counting(&signal, &calls);

        let emitter = {
            let signal = signal.clone();
            thread::spawn(move || emitting(&signal))
        };

        assert!(a.disconnect());
        assert!(b.disconnect());
        emitter.join().unwrap();
        // Relaxed: the emitting thread was joined.
        assert!(calls.load(Ordering::Relaxed) <= max_calls);
    });
}

/// The writing thread never emitted, so it holds no record: while the
/// emitting thread has not taken one either, scans skip the heavy barrier.
#[test]
fn emit_never_reads_a_list_reclaimed_by_a_writer_without_a_record() {
    race(false, |signal| signal.emit(&()), 2);
}

/// Both threads hold records (each emitted before), so every scan takes
/// the heavy barrier; the emitting thread emits twice, reading two lists.
#[test]
fn emit_never_reads_a_list_reclaimed_by_a_writer_that_emits_too() {
    race(
        true,
        |signal| {
            signal.emit(&());
            signal.emit(&());
        },
        5,
    );
}

/// An `Emitter` holds its list by reference count: reclamation must leave a
/// list alone while an `Emitter` still holds it.
#[test]
fn emitter_never_reads_a_reclaimed_list() {
    race(
        false,
        |signal| {
            let mut emitter = signal.emitter();
            emitter.emit(&());
            emitter.emit(&());
        },
        4,
    );
}

/// A listener writes to its own signal while the emit that runs it still
/// reads the list: two disconnects retire two lists; the second scan frees
/// the first of them at once (the emit noted which list it reads), while
/// the list the emit reads stays; another thread emits meanwhile. The end
/// of every emit reads the list's cell again, so loom fails the model if a
/// write frees the list a running emit reads.
#[test]
fn writes_inside_a_long_emit_leave_its_own_list_alone() {
    loom::model(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        // Under loom a `Connection` holds its signal strongly: the listener
        // takes the connections out, so that no cycle outlives the model.
        // A std mutex: it is never held across a loom operation.
        let extras = [signal.connect(|_: &()| {}), signal.connect(|_: &()| {})];
        let extras = std::sync::Mutex::new(Some(extras));
        let _writer = signal.connect(move |_: &()| {
            let taken = extras.lock().unwrap().take();
            for extra in taken.iter().flatten() {
                extra.disconnect();
            }
        });
        let _counter = counting(&signal, &calls);

        let other = {
            let signal = signal.clone();
            thread::spawn(move || signal.emit(&()))
        };
        signal.emit(&());
        other.join().unwrap();
        // Relaxed: the other thread was joined.
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    });
}
