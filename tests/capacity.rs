//! Capacities whose memory cannot be had (issue 11, item 3): `AsyncSignal`'s
//! builder, `HeldSignal::new` and `HistorySignal::new` return
//! `BuildError::OutOfMemory`, never abort or panic, and still build what
//! can be allocated.
//!
//! Three sizes per kind: 4 TiB (the case: 1 MiB events, a capacity
//! of 2^22 - 1; Linux's default overcommit refuses an allocation larger
//! than RAM and swap), 4 PiB (more than a 64-bit process's address space),
//! and more bytes than `isize::MAX` (the arithmetic overflows).

use sigwire::bus::{HeldSignal, HistorySignal};
use sigwire::{AsyncSignal, BuildError};

/// The capacity: the largest an `AsyncSignal` can count.
const CAPACITY: usize = (1 << 22) - 1;
/// 1 MiB events: `CAPACITY` of them need 4 TiB.
const TIB: usize = 1 << 20;
/// 1 GiB events: 4 PiB.
const PIB: usize = 1 << 30;
/// 4 TiB events: more than 2^63 bytes.
const OVERFLOW: usize = 1 << 42;

/// Whether Linux grants every allocation that fits in the address space
/// (`vm.overcommit_memory = 1`): there the 4 TiB cases are "allocated" (and
/// an `AsyncSignal`'s queue then writes a stamp in each of its 4 million
/// slots, a page apiece), so they are skipped.
fn overcommits_always() -> bool {
    std::fs::read_to_string("/proc/sys/vm/overcommit_memory").is_ok_and(|mode| mode.trim() == "1")
}

/// `err` is the memory of `capacity` events of `event` bytes, and says so.
fn assert_out_of_memory(err: BuildError, capacity: usize, event: usize) {
    let BuildError::OutOfMemory {
        capacity: refused,
        bytes,
    } = err
    else {
        panic!("not OutOfMemory: {err:?}");
    };
    assert_eq!(refused, capacity);
    assert!(bytes >= capacity as u128 * event as u128, "{bytes} bytes");
    let message = err.to_string();
    assert!(message.contains(&format!("{bytes} bytes")), "{message}");
    assert!(!message.contains("AsyncSignal"), "{message}");
}

fn async_signal<const N: usize>(capacity: usize) -> Result<AsyncSignal<[u8; N]>, BuildError> {
    AsyncSignal::builder().capacity(capacity).build()
}

mod async_signal {
    use super::*;

    /// The issue's case: it aborted ("memory allocation of 4398112571376
    /// bytes failed").
    #[test]
    fn four_tib_is_an_error() {
        if overcommits_always() {
            return;
        }
        let err = async_signal::<TIB>(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, TIB);
    }

    #[test]
    fn more_than_the_address_space_is_an_error() {
        let err = async_signal::<PIB>(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, PIB);
    }

    /// It panicked: "capacity overflow".
    #[test]
    fn more_than_isize_max_bytes_is_an_error() {
        let err = async_signal::<OVERFLOW>(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, OVERFLOW);
    }

    /// `new` (no `Result` to return) panics with the error; it aborted.
    #[test]
    fn new_panics_with_the_error() {
        let outcome = std::panic::catch_unwind(AsyncSignal::<[u8; OVERFLOW]>::new);
        let payload = outcome.expect_err("a 4 PiB queue was allocated");
        let message = payload
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.contains("could not be allocated"), "{message}");
    }

    /// What can be allocated builds, and works.
    #[test]
    fn what_fits_builds() {
        let signal = async_signal::<4096>(16).unwrap();
        assert_eq!(signal.capacity(), 16);
        signal.connect(|event: &[u8; 4096]| assert_eq!(event[0], 7));
        signal.emit([7; 4096]).unwrap();
        signal.flush().unwrap();
        assert_eq!(signal.stats().delivered, 1);
    }
}

mod held {
    use super::*;

    /// It was accepted, and holding that many events would have aborted
    /// when the queue's growth failed.
    #[test]
    fn four_tib_is_an_error() {
        if overcommits_always() {
            return;
        }
        let err = HeldSignal::<[u8; TIB]>::new(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, TIB);
    }

    #[test]
    fn more_than_the_address_space_is_an_error() {
        let err = HeldSignal::<[u8; PIB]>::new(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, PIB);
        let err = HeldSignal::<u32>::new(usize::MAX >> 1).unwrap_err();
        assert_out_of_memory(err, usize::MAX >> 1, 4);
    }

    #[test]
    fn more_than_isize_max_bytes_is_an_error() {
        let err = HeldSignal::<[u8; OVERFLOW]>::new(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, OVERFLOW);
    }

    /// What can be allocated builds, holds up to its capacity, and
    /// delivers; events that take no memory have any capacity.
    #[test]
    fn what_fits_builds() {
        let held = HeldSignal::<[u8; 4096]>::new(2).unwrap();
        held.emit([1; 4096]).unwrap();
        held.emit([2; 4096]).unwrap();
        assert!(held.emit([3; 4096]).is_err());
        held.start();
        assert_eq!(held.held(), 0);
        assert_eq!(
            HeldSignal::<()>::new(usize::MAX).unwrap().capacity(),
            usize::MAX
        );
    }
}

mod history {
    use super::*;

    /// It was accepted, and emitting that many events would have aborted
    /// when the history's growth failed.
    #[test]
    fn four_tib_is_an_error() {
        if overcommits_always() {
            return;
        }
        let err = HistorySignal::<[u8; TIB]>::new(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, TIB);
    }

    #[test]
    fn more_than_the_address_space_is_an_error() {
        let err = HistorySignal::<[u8; PIB]>::new(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, PIB);
        let err = HistorySignal::<u32>::new(usize::MAX >> 1).unwrap_err();
        assert_out_of_memory(err, usize::MAX >> 1, 4);
    }

    #[test]
    fn more_than_isize_max_bytes_is_an_error() {
        let err = HistorySignal::<[u8; OVERFLOW]>::new(CAPACITY).unwrap_err();
        assert_out_of_memory(err, CAPACITY, OVERFLOW);
    }

    /// What can be allocated builds and keeps its last events; events that
    /// take no memory have any capacity.
    #[test]
    fn what_fits_builds() {
        let history = HistorySignal::<[u8; 4096]>::new(2).unwrap();
        for v in 1..=3 {
            history.emit([v; 4096]);
        }
        let kept: Vec<u8> = history.history().iter().map(|event| event[0]).collect();
        assert_eq!(kept, [2, 3]);
        assert_eq!(
            HistorySignal::<()>::new(usize::MAX).unwrap().capacity(),
            usize::MAX
        );
    }
}
