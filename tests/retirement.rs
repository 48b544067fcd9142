//! What a long emit holds back: the lists and closures that writes retire
//! while another thread sits inside an emit, counted by `stats_alloc` (this
//! test binary's global allocator, so it has a binary of its own: the
//! counts cover every thread).

use std::alloc::System;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use sigwire::SyncSignal;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes held now, counted from `region`'s start. `stats_alloc` already
/// counts a realloc's growth in `bytes_allocated` (and a shrink in
/// `bytes_deallocated`); `bytes_reallocated` is the same change again.
fn held(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

/// Bumps its counter when dropped: shows when a closure that captured it
/// was freed.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// An emit that runs for a long time on another thread (its listener waits)
/// holds back only the list it reads. Listeners connected and disconnected
/// meanwhile are freed by the writes (while the emit is seen running, a
/// write leaves its lists to a later write's scan, so the last few dozen
/// wait for the next write), and the memory held stays flat.
/// Before issue 11 nothing was freed until the emit ended (about 530 bytes
/// a pair were held) and each write walked every batch retired since it
/// began.
#[test]
fn a_long_emit_holds_back_only_the_list_it_reads() {
    const PAIRS: usize = 10_000;
    let signal = Arc::new(SyncSignal::<()>::new());
    let (entered, inside) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    signal.connect(move |_: &()| {
        entered.send(()).unwrap();
        released.lock().unwrap().recv().unwrap();
    });
    let emitter = {
        let signal = Arc::clone(&signal);
        thread::spawn(move || signal.emit(&()))
    };
    inside.recv().unwrap();

    let freed = Arc::new(AtomicUsize::new(0));
    let mut region = None;
    let mut at_start = 0;
    for pair in 0..PAIRS {
        if pair == 100 {
            // Measured from here: the writer's vectors have their capacity.
            let measured = Region::new(GLOBAL);
            at_start = held(&measured);
            region = Some(measured);
        }
        let counted = Counted(Arc::clone(&freed));
        let conn = signal.connect(move |_: &()| {
            let _ = &counted;
        });
        assert!(conn.disconnect());
    }
    let grown = held(region.as_ref().unwrap()) - at_start;
    let freed_while_pinned = freed.load(Ordering::SeqCst);
    release.send(()).unwrap();
    emitter.join().unwrap();
    // The emit is over: the next write scans at once and frees the rest.
    signal.connect(|_: &()| {}).disconnect();
    let freed_after = freed.load(Ordering::SeqCst);
    println!(
        "{PAIRS} pairs under a long emit: {freed_while_pinned} closures freed before it \
         ended, {freed_after} after one more write; {grown} bytes more held over the \
         last {} pairs",
        PAIRS - 100
    );
    // Two lists a pair; at most 1 024 lists wait for a scan while an emit
    // is seen running (`retire::DEFER_UP_TO`).
    assert!(
        freed_while_pinned >= PAIRS - 512,
        "closures of disconnected listeners were held back by an emit that cannot read \
         them: {freed_while_pinned} of {PAIRS} freed"
    );
    assert_eq!(
        freed_after, PAIRS,
        "the write after the emit freed the rest"
    );
    // Unbounded, this would be about 5 MB; the lists waiting for a scan
    // (at most 1 024, with half as many closures: about 150 bytes a list)
    // vary between the two points measured.
    assert!(
        grown <= 256 * 1024,
        "{grown} bytes held back by the long emit"
    );
}
