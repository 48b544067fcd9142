//! Attacks from the hostile review of issue 11's fixes, kept as regression
//! tests: circles of three signals, waits that must not be refused, exact
//! `disconnect_wait` at every nesting depth, re-entrant and panicking drops
//! of freed closures, and reclamation racing emits (every listener checks a
//! canary in its closure; run it under a sanitizer for a real
//! use-after-free check). Issue 15's section attacks the `Emitter`'s own
//! record and the "simple" lists that call listeners without a result.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use sigwire::{AsyncSignal, Connection, Overflow, SyncSignal};

const TIMEOUT: Duration = Duration::from_secs(20);

fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap(),
    )
}

fn quiet() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let old = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if !msg.starts_with("intended") {
                old(info);
            }
        }));
    });
}

/// Runs `f` on a thread, failing (instead of hanging) after TIMEOUT.
fn bounded<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(TIMEOUT)
        .unwrap_or_else(|_| panic!("hang: {what}"))
}

// ------------------------------------------------------------ item 4: circles

/// A circle of three signals X -> Y -> Z -> X (each
/// listener flushes the next while all three deliveries run). Exactly one
/// flush must be refused, and nothing may hang.
#[test]
fn three_signal_flush_circle_is_refused_once() {
    let build = || Arc::new(AsyncSignal::<u32>::builder().pool(pool(1)).build().unwrap());
    let signals = [build(), build(), build()];
    let barrier = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for at in 0..3 {
        let next = Arc::downgrade(&signals[(at + 1) % 3]);
        let barrier = Arc::clone(&barrier);
        let tx = tx.clone();
        signals[at].connect(move |_: &u32| {
            barrier.wait();
            let next = next.upgrade().unwrap();
            tx.send(next.flush().is_ok()).unwrap();
        });
    }
    for signal in &signals {
        signal.emit(1).unwrap();
    }
    let oks: Vec<bool> = (0..3)
        .map(|_| rx.recv_timeout(TIMEOUT).expect("3-circle hung"))
        .collect();
    assert_eq!(oks.iter().filter(|ok| !**ok).count(), 1, "{oks:?}");
}

/// Same with Overflow::Block emits, capacity 1 (each signal is full while
/// its own event is delivered).
#[test]
fn three_signal_block_circle_is_refused_once() {
    let build = || {
        Arc::new(
            AsyncSignal::<u32>::builder()
                .pool(pool(1))
                .capacity(1)
                .overflow(Overflow::Block)
                .build()
                .unwrap(),
        )
    };
    let signals = [build(), build(), build()];
    let barrier = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for at in 0..3 {
        let next = Arc::downgrade(&signals[(at + 1) % 3]);
        let barrier = Arc::clone(&barrier);
        let tx = tx.clone();
        signals[at].connect(move |v: &u32| {
            if *v == 1 {
                barrier.wait();
                let next = next.upgrade().unwrap();
                tx.send(next.emit(2).is_ok()).unwrap();
            }
        });
    }
    for signal in &signals {
        signal.emit(1).unwrap();
    }
    let oks: Vec<bool> = (0..3)
        .map(|_| rx.recv_timeout(TIMEOUT).expect("3-circle hung"))
        .collect();
    assert_eq!(oks.iter().filter(|ok| !**ok).count(), 1, "{oks:?}");
    for s in &signals {
        let s = Arc::clone(s);
        bounded("final flush", move || s.flush().unwrap());
    }
}

/// Concurrent unrelated waits from deliveries must not be refused: many
/// pairs X_i (listener flushes Y_i), no circle.
#[test]
fn concurrent_chains_without_circle_are_not_refused() {
    for _ in 0..20 {
        let y = Arc::new(AsyncSignal::<u32>::builder().pool(pool(1)).build().unwrap());
        let x = Arc::new(AsyncSignal::<u32>::builder().pool(pool(1)).build().unwrap());
        let gate = Arc::new(Barrier::new(2));
        {
            let gate = Arc::clone(&gate);
            y.connect(move |_: &u32| {
                gate.wait();
            });
        }
        let (tx, rx) = mpsc::channel();
        {
            let y = Arc::downgrade(&y);
            x.connect(move |_: &u32| {
                tx.send(y.upgrade().unwrap().flush().is_ok()).unwrap();
            });
        }
        y.emit(1).unwrap();
        x.emit(1).unwrap();
        // Y's listener is held until here; X's listener is waiting (or
        // about to) for Y.
        gate.wait();
        assert!(rx.recv_timeout(TIMEOUT).unwrap());
    }
}

// ------------------------------------------------- item 3: deep overflow notes

fn nest(signal: &Arc<SyncSignal<u32>>, at_bottom: impl Fn() + Send + Sync + 'static) -> Connection {
    let weak = Arc::downgrade(signal);
    signal.connect(move |depth: &u32| {
        if *depth == 0 {
            at_bottom();
        } else {
            weak.upgrade().unwrap().emit(&(depth - 1));
        }
    })
}

#[test]
fn disconnect_wait_is_exact_at_every_depth_up_to_130() {
    for depth in [31u32, 32, 33, 34, 63, 64, 65, 66, 100, 130] {
        let own = Arc::new(SyncSignal::<u32>::new());
        let other = Arc::new(SyncSignal::<u32>::new());
        let other_conn = Arc::new(other.connect(|_: &u32| {}));
        let own_probe = Arc::new(Mutex::new(None::<Connection>));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let _c = {
            let other_conn = Arc::clone(&other_conn);
            let own_probe = Arc::clone(&own_probe);
            let seen = Arc::clone(&seen);
            nest(&own, move || {
                let own_res = own_probe
                    .lock()
                    .unwrap()
                    .as_ref()
                    .unwrap()
                    .disconnect_wait()
                    .is_err();
                let other_res = other_conn.disconnect_wait().is_ok();
                seen.lock().unwrap().push((own_res, other_res));
            })
        };
        *own_probe.lock().unwrap() = Some(own.connect(|_: &u32| {}));
        let own2 = Arc::clone(&own);
        bounded("deep emit", move || own2.emit(&depth));
        assert_eq!(*seen.lock().unwrap(), vec![(true, true)], "depth {depth}");
        // After unwinding, the overflow counter must be back at 0.
        let c2 = own.connect(|_: &u32| {});
        bounded("disconnect_wait after deep emit", move || {
            c2.disconnect_wait().unwrap()
        });
    }
}

/// Two signals nested alternately past 64: each is inside, a third is not.
#[test]
fn alternating_deep_nesting_knows_both_signals() {
    let a = Arc::new(SyncSignal::<u32>::new());
    let b = Arc::new(SyncSignal::<u32>::new());
    let c = Arc::new(SyncSignal::<u32>::new());
    let probes: Arc<Mutex<Vec<Connection>>> = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Mutex::new(None));
    {
        let wb = Arc::downgrade(&b);
        a.connect(move |d: &u32| wb.upgrade().unwrap().emit(d));
    }
    {
        let wa = Arc::downgrade(&a);
        let probes = Arc::clone(&probes);
        let seen = Arc::clone(&seen);
        b.connect(move |d: &u32| {
            if *d == 0 {
                let p = probes.lock().unwrap();
                *seen.lock().unwrap() = Some((
                    p[0].disconnect_wait().is_err(),
                    p[1].disconnect_wait().is_err(),
                    p[2].disconnect_wait().is_ok(),
                ));
            } else {
                wa.upgrade().unwrap().emit(&(d - 1));
            }
        });
    }
    probes.lock().unwrap().extend([
        a.connect(|_: &u32| {}),
        b.connect(|_: &u32| {}),
        c.connect(|_: &u32| {}),
    ]);
    let a2 = Arc::clone(&a);
    bounded("alternating", move || a2.emit(&60)); // 120 deep
    assert_eq!(*seen.lock().unwrap(), Some((true, true, true)));
}

/// Emits from thread-local destructors, before and after the thread's record
/// went back: a listener's disconnect_wait on itself is refused.
#[test]
fn disconnect_wait_in_thread_local_destructor() {
    struct Late(Arc<SyncSignal<u32>>);
    impl Drop for Late {
        fn drop(&mut self) {
            self.0.emit(&0);
            self.0.emit(&70); // deep, on the overflow path
        }
    }
    thread_local! {
        static LATE: RefCell<Option<Late>> = const { RefCell::new(None) };
    }
    for late_first in [true, false] {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let me = Arc::new(Mutex::new(None::<Connection>));
        let results = Arc::new(Mutex::new(Vec::new()));
        *me.lock().unwrap() = Some(signal.connect(|_: &u32| {})); // the probe
        {
            let me2 = Arc::clone(&me);
            let results = Arc::clone(&results);
            let weak = Arc::downgrade(&signal);
            let _listener = Box::leak(Box::new(signal.connect(move |d: &u32| {
                let me = &me2;
                if *d == 0 {
                    let refused = me
                        .lock()
                        .unwrap()
                        .as_ref()
                        .unwrap()
                        .disconnect_wait()
                        .is_err();
                    results.lock().unwrap().push(refused);
                } else if let Some(s) = weak.upgrade() {
                    s.emit(&(d - 1));
                }
            })));
        }
        let s = Arc::clone(&signal);
        bounded("tls thread", move || {
            thread::spawn(move || {
                if late_first {
                    LATE.with(|l| *l.borrow_mut() = Some(Late(Arc::clone(&s))));
                    s.emit(&1);
                } else {
                    s.emit(&1);
                    LATE.with(|l| *l.borrow_mut() = Some(Late(Arc::clone(&s))));
                }
            })
            .join()
            .unwrap()
        });
        assert_eq!(
            *results.lock().unwrap(),
            vec![true, true, true],
            "late_first {late_first}"
        );
        let c = signal.connect(|_: &u32| {});
        bounded("after tls", move || c.disconnect_wait().unwrap());
    }
}

// ------------------------------------------------- item 2: drops of closures

struct OnDrop<F: FnMut()>(F);
impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// A freed closure's Drop re-enters the signal: connect, emit, disconnect
/// another, clear. Nothing may deadlock or panic.
#[test]
fn closure_drop_reenters_the_signal() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let victim = Arc::new(Mutex::new(Some(signal.connect(|_: &u32| {}))));
    let guard = {
        let weak = Arc::downgrade(&signal);
        let calls = Arc::clone(&calls);
        let victim = Arc::clone(&victim);
        OnDrop(move || {
            let s = weak.upgrade().unwrap();
            let c = Arc::clone(&calls);
            let _kept = s.connect(move |_: &u32| {
                c.fetch_add(1, Ordering::Relaxed);
            });
            s.emit(&1);
            if let Some(v) = victim.lock().unwrap().take() {
                v.disconnect();
            }
            s.clear();
            s.emit(&2);
        })
    };
    let conn = signal.connect(move |_: &u32| {
        let _ = &guard;
    });
    let s = Arc::clone(&signal);
    bounded("reentrant drop", move || {
        conn.disconnect();
        s.emit(&3);
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(signal.len(), 0);
}

/// Same, but the drop runs on a write made from inside an emit (a listener
/// disconnects another listener whose closure's Drop waits for the signal).
#[test]
fn closure_drop_inside_emit_waits_for_signal() {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let probe = Arc::new(Mutex::new(None::<Connection>));
    let outcome = Arc::new(Mutex::new(None));
    let victim = {
        let probe = Arc::clone(&probe);
        let outcome = Arc::clone(&outcome);
        let guard = OnDrop(move || {
            let r = probe
                .lock()
                .unwrap()
                .as_ref()
                .map(|p| p.disconnect_wait().is_err());
            *outcome.lock().unwrap() = r;
        });
        signal.connect(move |_: &u32| {
            let _ = &guard;
        })
    };
    *probe.lock().unwrap() = Some(signal.connect(|_: &u32| {}));
    let victim = Mutex::new(Some(victim));
    let _killer = signal.connect(move |_: &u32| {
        if let Some(v) = victim.lock().unwrap().take() {
            v.disconnect();
        }
    });
    let s = Arc::clone(&signal);
    bounded("drop in emit", move || s.emit(&1));
    // The list the emit read keeps the closure until the next write.
    assert!(outcome.lock().unwrap().is_none());
    signal.connect(|_: &u32| {}).disconnect();
    // Freed by that write, outside every emit: the wait is not refused.
    assert_eq!(*outcome.lock().unwrap(), Some(false));
}

/// A closure whose Drop panics while the error handler panics too.
#[test]
fn drop_panic_with_panicking_handler() {
    quiet();
    let signal = SyncSignal::<u32>::new();
    signal.set_error_handler(|_| panic!("intended handler panic"));
    let guard = OnDrop(|| panic!("intended drop panic"));
    let conn = signal.connect(move |_: &u32| {
        let _ = &guard;
    });
    let r = panic::catch_unwind(AssertUnwindSafe(|| conn.disconnect()));
    assert!(r.is_ok(), "disconnect unwound");
    assert_eq!(signal.error_count(), 1);
}

/// A handler whose own drop panics is replaced: reported to the new one.
#[test]
fn handler_drop_panic_goes_to_the_new_handler() {
    quiet();
    let signal = SyncSignal::<u32>::new();
    let guard = OnDrop(|| panic!("intended handler drop panic"));
    signal.set_error_handler(move |_| {
        let _ = &guard;
    });
    let got = Arc::new(AtomicUsize::new(0));
    let g = Arc::clone(&got);
    signal.set_error_handler(move |e| {
        assert!(e.source_error().is::<sigwire::ListenerPanic>());
        g.fetch_add(1, Ordering::Relaxed);
    });
    assert_eq!(signal.error_count(), 1);
    assert_eq!(got.load(Ordering::Relaxed), 1);
}

/// Dropping the signal with several panicking closures (and a panicking
/// handler whose payload's Drop panics) must not abort.
#[test]
fn drop_signal_with_many_panicking_closures() {
    quiet();
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("intended payload drop panic");
        }
    }
    let signal = SyncSignal::<u32>::new();
    signal.set_error_handler(|_| std::panic::panic_any(Bomb));
    let mut conns = Vec::new();
    for _ in 0..5 {
        let guard = OnDrop(|| std::panic::panic_any(Bomb));
        conns.push(signal.connect(move |_: &u32| {
            let _ = &guard;
        }));
    }
    // One freed by a write while the signal lives:
    conns.pop().unwrap().disconnect();
    drop(signal);
}

/// AsyncSignal: a closure freed on disconnect from inside a delivery, whose
/// Drop flushes / emits / clears the same signal.
#[test]
fn async_closure_drop_reenters() {
    quiet();
    let signal = Arc::new(AsyncSignal::<u32>::builder().pool(pool(2)).build().unwrap());
    let outcome = Arc::new(Mutex::new(Vec::new()));
    let victim = {
        let weak = Arc::downgrade(&signal);
        let outcome = Arc::clone(&outcome);
        let guard = OnDrop(move || {
            if let Some(s) = weak.upgrade() {
                let flushed = s.flush();
                let emitted = s.emit(9).is_ok();
                outcome.lock().unwrap().push((flushed.is_ok(), emitted));
                panic!("intended async drop panic");
            }
        });
        signal.connect(move |_: &u32| {
            let _ = &guard;
        })
    };
    let victim = Mutex::new(Some(victim));
    signal.connect(move |v: &u32| {
        if *v == 1 {
            if let Some(c) = victim.lock().unwrap().take() {
                c.disconnect();
            }
        }
    });
    signal.emit(1).unwrap();
    let s = Arc::clone(&signal);
    bounded("async flush", move || s.flush().unwrap());
    let s = Arc::clone(&signal);
    bounded("async flush 2", move || s.flush().unwrap());
    // Freed only by the next write (the delivery's list kept it).
    let s = Arc::clone(&signal);
    bounded("write", move || s.connect(|_: &u32| {}).disconnect());
    let s = Arc::clone(&signal);
    bounded("async flush 3", move || s.flush().unwrap());
    assert_eq!(outcome.lock().unwrap().len(), 1);
    assert_eq!(signal.error_count(), 1);
}

// ----------------------------------------------------- item 1: reclamation

/// Stress: emitting threads (plain emits, nested emits, Emitters) race
/// writers; every listener checks a canary in its closure. Run under ASan
/// for a real use-after-free check.
#[test]
fn reclamation_stress() {
    const CANARY: u64 = 0x5157_4952_4521_0001;
    let signal = Arc::new(SyncSignal::<u32>::new());
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(AtomicUsize::new(0));
    let rounds = if cfg!(debug_assertions) {
        2_000
    } else {
        20_000
    };
    let mut threads = Vec::new();
    for kind in 0..3 {
        let signal = Arc::clone(&signal);
        let stop = Arc::clone(&stop);
        threads.push(thread::spawn(move || {
            let mut emitter = signal.emitter();
            while !stop.load(Ordering::Relaxed) {
                match kind {
                    0 => signal.emit(&0),
                    1 => signal.emit(&2), // nested twice
                    _ => emitter.emit(&1),
                }
            }
        }));
    }
    let weak = Arc::downgrade(&signal);
    let nested = {
        let weak = weak.clone();
        signal.connect(move |d: &u32| {
            if *d > 0 {
                if let Some(s) = weak.upgrade() {
                    // A write inside the emit, then a nested emit.
                    let c = s.connect(|_: &u32| {});
                    s.emit(&(d - 1));
                    c.disconnect();
                }
            }
        })
    };
    for i in 0..rounds {
        let boxed = Box::new(CANARY ^ i as u64);
        let bad2 = Arc::clone(&bad);
        let c = signal.connect(move |_: &u32| {
            if *boxed != CANARY ^ i as u64 {
                bad2.fetch_add(1, Ordering::Relaxed);
            }
        });
        if i % 3 == 0 {
            signal.clear();
            drop(c);
        } else {
            c.disconnect();
        }
    }
    drop(nested);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(bad.load(Ordering::Relaxed), 0);
}

/// Async stress: writers race a drainer whose fan-out is stolen.
#[test]
fn async_reclamation_stress() {
    const CANARY: u64 = 0xA5A5_5A5A_0123_4567;
    let signal = Arc::new(
        AsyncSignal::<u32>::builder()
            .pool(pool(2))
            .capacity(64)
            .build()
            .unwrap(),
    );
    let bad = Arc::new(AtomicUsize::new(0));
    let rounds = if cfg!(debug_assertions) { 500 } else { 5_000 };
    let stop = Arc::new(AtomicBool::new(false));
    let emitter = {
        let signal = Arc::clone(&signal);
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = signal.emit(1);
                let _ = signal.emit_collect(2);
            }
        })
    };
    let mut keep = Vec::new();
    for _ in 0..8 {
        keep.push(signal.connect(|_: &u32| {}));
    }
    for i in 0..rounds {
        let boxed = Box::new(CANARY ^ i as u64);
        let bad2 = Arc::clone(&bad);
        let c = signal.connect(move |_: &u32| {
            if *boxed != CANARY ^ i as u64 {
                bad2.fetch_add(1, Ordering::Relaxed);
            }
        });
        c.disconnect();
    }
    stop.store(true, Ordering::Relaxed);
    emitter.join().unwrap();
    let s = Arc::clone(&signal);
    bounded("final", move || s.flush().unwrap());
    assert_eq!(bad.load(Ordering::Relaxed), 0);
}

// ------------------------------------------- issue 15: Emitter's own record

/// A listener that panics inside `Emitter::emit` leaves the emitter's
/// entry idle: the emitting thread is not inside an emit afterwards (its
/// own `disconnect_wait` is not refused), another thread's does not hang,
/// and the emitter keeps working.
#[test]
fn emitter_entry_is_idle_after_a_panicking_listener() {
    quiet();
    bounded("disconnect_wait after a panic in Emitter::emit", || {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let panicky = signal.connect(move |v: &u32| {
            c.fetch_add(1, Ordering::SeqCst);
            if *v == 1 {
                panic!("intended panic in an Emitter's emit");
            }
        });
        let other = signal.connect(|_: &u32| {});
        let mut emitter = signal.emitter();
        let unwound = panic::catch_unwind(AssertUnwindSafe(|| emitter.emit(&1)));
        assert!(unwound.is_err());
        let s = signal.clone();
        let from_elsewhere = thread::spawn(move || {
            let _keep = s; // the signal outlives the wait
            other.disconnect_wait()
        });
        assert_eq!(from_elsewhere.join().unwrap(), Ok(true));
        emitter.emit(&2);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(
            panicky.disconnect_wait(),
            Ok(true),
            "refused after the panic"
        );
    });
}

/// Emitters nested inside listeners — of the same signal, of another one,
/// and one inside a plain emit of the same signal — each make a
/// `disconnect_wait` from inside refused, and only there.
#[test]
fn nested_emitters_refuse_waits_from_inside_only() {
    bounded("nested emitters", || {
        let a = Arc::new(SyncSignal::<u32>::new());
        let b = Arc::new(SyncSignal::<u32>::new());
        // (depth, inside a, inside b) as the listeners see them, by asking
        // whether a wait for a throwaway listener is refused.
        let seen: Arc<Mutex<Vec<(u32, bool, bool)>>> = Arc::default();
        let s = seen.clone();
        let (a2, b2) = (a.clone(), b.clone());
        let conn_a = a.connect(move |depth: &u32| {
            let wait_a = {
                let probe = a2.connect(|_: &u32| {});
                probe.disconnect_wait().is_err()
            };
            let wait_b = {
                let probe = b2.connect(|_: &u32| {});
                probe.disconnect_wait().is_err()
            };
            s.lock().unwrap().push((*depth, wait_a, wait_b));
            match *depth {
                // An Emitter of the same signal, inside an Emitter's emit.
                0 => a2.emitter().emit(&1),
                // An Emitter of another signal.
                1 => b2.emitter().emit(&2),
                _ => {}
            }
        });
        let s = seen.clone();
        let a3 = a.clone();
        let conn_b = b.connect(move |depth: &u32| {
            let wait_a = a3.connect(|_: &u32| {}).disconnect_wait().is_err();
            s.lock().unwrap().push((*depth + 100, wait_a, true));
        });
        a.emitter().emit(&0);
        // Probes connected during the emits are gone: only the two
        // listeners remain.
        assert_eq!(a.len(), 1);
        // A plain emit of `a` whose listener emits `a` through an Emitter.
        let (a4, s) = (a.clone(), seen.clone());
        let conn_c = b.connect(move |depth: &u32| {
            if *depth == 7 {
                a4.emitter().emit(&3);
                let wait_a = a4.connect(|_: &u32| {}).disconnect_wait().is_err();
                s.lock().unwrap().push((200, wait_a, true));
            }
        });
        b.emit(&7);
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            vec![
                (0, true, false),   // in a (Emitter)
                (1, true, false),   // in a twice (two Emitters)
                (102, true, true),  // in a twice and b (Emitter of b)
                (107, false, true), // plain emit of b: not inside a
                (3, true, true),    // a's Emitter inside b's plain emit
                (200, false, true), // back in b only
            ]
        );
        assert_eq!(conn_a.disconnect_wait(), Ok(true));
        assert_eq!(conn_b.disconnect_wait(), Ok(true));
        assert_eq!(conn_c.disconnect_wait(), Ok(true));
    });
}

/// Records go back and forth between Emitters and threads through the
/// pool: an Emitter made on one thread, emitted on a second, dropped on a
/// third; threads that emit and exit in between. No wait is refused or
/// hangs, and a thread that reuses an emitter's record is not taken for
/// this thread's emitter.
#[test]
fn records_cycle_between_emitters_and_threads() {
    bounded("records cycling between emitters and threads", || {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        signal.connect(move |_: &u32| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        for round in 0..50 {
            thread::scope(|scope| {
                let mut emitter = signal.emitter();
                emitter.emit(&round); // owner: this thread
                let emitter = scope
                    .spawn(move || {
                        emitter.emit(&round);
                        emitter
                    })
                    .join()
                    .unwrap();
                scope.spawn(move || drop(emitter)).join().unwrap();
                // A thread that may take the record back, blocked inside an
                // emit of the signal while this thread waits for it.
                let entered = Arc::new(Barrier::new(2));
                let release = Arc::new(AtomicBool::new(false));
                let probe = signal.connect(|_: &u32| {});
                let (e, r) = (entered.clone(), release.clone());
                let blocker = signal.connect(move |v: &u32| {
                    if *v == u32::MAX {
                        e.wait();
                        while !r.load(Ordering::SeqCst) {
                            thread::yield_now();
                        }
                    }
                });
                let s = &signal;
                let held = scope.spawn(move || s.emit(&u32::MAX));
                entered.wait();
                // Not inside any emit here: the wait is not refused; it
                // waits for the blocked emit, so let it go first.
                let waiting = scope.spawn(move || probe.disconnect_wait());
                release.store(true, Ordering::SeqCst);
                assert_eq!(waiting.join().unwrap(), Ok(true), "round {round}");
                held.join().unwrap();
                assert_eq!(blocker.disconnect_wait(), Ok(true), "round {round}");
            });
        }
        assert_eq!(calls.load(Ordering::SeqCst), 50 * 3);
    });
}

/// An Emitter kept while the signal changes sees every change, and the
/// closures of the lists it held are freed once it moved on and a write
/// followed (see "Memory" on `SyncSignal`).
#[test]
fn a_kept_emitter_lets_old_lists_go() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let signal = SyncSignal::<u32>::new();
    let mut emitter = signal.emitter();
    let dropped = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicUsize::new(0));
    let (flag, c) = (Flag(dropped.clone()), calls.clone());
    let conn = signal.connect(move |_: &u32| {
        let _ = &flag;
        c.fetch_add(1, Ordering::SeqCst);
    });
    emitter.emit(&1); // holds the list with the closure
    assert_eq!(conn.disconnect_wait(), Ok(true));
    emitter.emit(&2); // not called; moves to the new list
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let _later = signal.connect(|_: &u32| {}); // a write sweeps
    assert!(dropped.load(Ordering::SeqCst), "the closure was kept");
    emitter.emit(&3);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Through every write that rebuilds the list (connects of each kind, a
/// filter added and removed, counters, a new handler, `clear`, fired
/// once-slots compacted away), a fallible listener's error is reported
/// by `emit` and by an `Emitter` alike: no list that holds one is
/// "simple".
#[test]
fn every_list_with_a_fallible_listener_reports_its_errors() {
    let signal = SyncSignal::<u32>::new();
    let handled = Arc::new(AtomicUsize::new(0));
    let mut emitter = signal.emitter();
    // Each step changes the list, then both paths emit once; every step
    // leaves exactly one failing listener connected.
    let mut expect = 0;
    let mut check = |signal: &SyncSignal<u32>, emitter: &mut sigwire::Emitter<'_, u32>| {
        signal.emit(&1);
        emitter.emit(&1);
        expect += 2;
        assert_eq!(signal.error_count(), expect);
    };
    let h = handled.clone();
    signal.set_error_handler(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    let failing = signal.connect_fallible(|_: &u32| Err("no"));
    check(&signal, &mut emitter);
    signal.connect(|_: &u32| {});
    signal.connect_filtered(|_: &u32| true, |_: &u32| {});
    signal.connect_keyed("k", |_: &u32| {}).unwrap();
    check(&signal, &mut emitter);
    let filter = signal.add_filter(|_: &u32| true);
    check(&signal, &mut emitter);
    drop(filter);
    check(&signal, &mut emitter);
    signal.connect_once(|_: &u32| {}); // fires at the next emit
    check(&signal, &mut emitter);
    signal.connect(|_: &u32| {}); // compacts the fired once-slot away
    check(&signal, &mut emitter);
    let h = handled.clone();
    signal.set_error_handler(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
    });
    check(&signal, &mut emitter);
    signal.enable_stats();
    check(&signal, &mut emitter);
    assert_eq!(signal.stats().failed, 2);
    failing.disconnect();
    signal.clear();
    let _failing = signal
        .connect_fallible_with(sigwire::ConnectOptions::new().key("f"), |_: &u32| Err("no"))
        .unwrap();
    check(&signal, &mut emitter);
    assert_eq!(signal.stats().failed, 4);
    assert_eq!(handled.load(Ordering::SeqCst) as u64, expect);
}
