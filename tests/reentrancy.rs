//! Connect, disconnect, clear and emit from inside listeners, on the same
//! signal and on others, at any depth: no deadlock, exact call counts.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use sigwire::{ConnectOptions, Connection, SyncSignal, WouldDeadlock};

/// Deeper than arc-swap's 8 fast debt slots per thread and than sigwire's
/// 32-entry per-thread emit record.
const DEEP: u32 = 40;

/// Generous bound after which a test that should finish at once is declared
/// deadlocked (it fails instead of hanging the whole run).
const DEADLOCK: Duration = Duration::from_secs(30);

/// How long a test waits to show that a call is *still blocked*.
const STILL_BLOCKED: Duration = Duration::from_millis(100);

/// Runs `f` on its own thread and fails if it does not finish in time.
fn within_deadline<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(DEADLOCK) {
        Ok(result) => {
            handle.join().unwrap();
            result
        }
        Err(RecvTimeoutError::Disconnected) => {
            // The closure panicked: surface its panic.
            std::panic::resume_unwind(handle.join().unwrap_err())
        }
        Err(RecvTimeoutError::Timeout) => panic!("deadlock: not finished after {DEADLOCK:?}"),
    }
}

fn counter<T>() -> (Arc<AtomicUsize>, impl Fn(&T) + Send + Sync + 'static) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    (calls, move |_: &T| {
        c.fetch_add(1, Ordering::SeqCst);
    })
}

fn load(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

/// A connection slot a listener fills in after connecting itself.
type Slot = Arc<Mutex<Option<Connection>>>;

// ---------------------------------------------------------------- connect

#[test]
fn a_listener_connected_during_an_emit_is_first_called_by_the_next() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let added = Arc::new(AtomicUsize::new(0));
        let (new_calls, _) = counter::<()>();
        let (s, a, n) = (
            Arc::downgrade(&signal),
            Arc::clone(&added),
            Arc::clone(&new_calls),
        );
        // Connects one new listener (with the highest priority, so it would
        // run next if the emit saw it) on each of the first two emits.
        signal.connect(move |_: &()| {
            if a.fetch_add(1, Ordering::SeqCst) < 2 {
                let n = Arc::clone(&n);
                s.upgrade()
                    .unwrap()
                    .connect_with(ConnectOptions::new().priority(100), move |_: &()| {
                        n.fetch_add(1, Ordering::SeqCst);
                    })
                    .unwrap();
            }
        });
        signal.emit(&());
        assert_eq!(
            load(&new_calls),
            0,
            "not called by the emit that connected it"
        );
        assert_eq!(signal.len(), 2);
        signal.emit(&()); // first new one runs; a second one is connected
        assert_eq!(load(&new_calls), 1);
        signal.emit(&());
        assert_eq!(load(&new_calls), 3);
        assert_eq!(signal.len(), 3);
    });
}

#[test]
fn a_listener_connected_during_an_emit_on_another_thread_does_not_deadlock() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let s = Arc::downgrade(&signal);
        let conn_slot: Slot = Arc::default();
        let c = Arc::clone(&conn_slot);
        signal.connect(move |_: &()| {
            // The writer lock is not held while listeners run.
            let s = s.upgrade().unwrap();
            let conn =
                thread::scope(|scope| scope.spawn(|| s.connect(|_: &()| {})).join().unwrap());
            *c.lock().unwrap() = Some(conn);
        });
        signal.emit(&());
        assert_eq!(signal.len(), 2);
        assert!(conn_slot.lock().unwrap().as_ref().unwrap().is_connected());
    });
}

// ---------------------------------------------------------------- disconnect

#[test]
fn a_listener_disconnects_itself() {
    within_deadline(|| {
        let signal = SyncSignal::<()>::new();
        let me: Slot = Arc::default();
        let (calls, _) = counter::<()>();
        let (m, c) = (Arc::clone(&me), Arc::clone(&calls));
        let conn = signal.connect(move |_: &()| {
            c.fetch_add(1, Ordering::SeqCst);
            assert!(m.lock().unwrap().as_ref().unwrap().disconnect());
        });
        *me.lock().unwrap() = Some(conn.clone());
        let (after, g) = counter();
        signal.connect(g);
        signal.emit(&());
        signal.emit(&());
        assert_eq!(load(&calls), 1);
        assert_eq!(load(&after), 2, "the listener after it still runs");
        assert!(!conn.is_connected());
        assert_eq!(signal.len(), 1);
    });
}

#[test]
fn a_listener_disconnects_the_next_listener() {
    within_deadline(|| {
        let signal = SyncSignal::<()>::new();
        let next: Slot = Arc::default();
        let n = Arc::clone(&next);
        signal.connect(move |_: &()| {
            if let Some(next) = n.lock().unwrap().take() {
                assert!(next.disconnect());
            }
        });
        let (victim_calls, v) = counter();
        let (last_calls, l) = counter();
        *next.lock().unwrap() = Some(signal.connect(v));
        signal.connect(l);
        signal.emit(&());
        signal.emit(&());
        assert_eq!(load(&victim_calls), 0, "not called later in that emit");
        assert_eq!(load(&last_calls), 2);
        assert_eq!(signal.len(), 2);
    });
}

#[test]
fn a_listener_disconnects_the_next_by_key_or_blocks_it() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let s = Arc::downgrade(&signal);
        let guard = Arc::new(Mutex::new(None));
        let blocked_slot: Slot = Arc::default();
        let (g, b) = (Arc::clone(&guard), Arc::clone(&blocked_slot));
        signal.connect(move |_: &()| {
            s.upgrade().unwrap().disconnect_key("victim");
            let conn = b.lock().unwrap().clone().unwrap();
            *g.lock().unwrap() = Some(conn.block());
        });
        let (victim_calls, v) = counter();
        let (blocked_calls, bl) = counter();
        signal.connect_keyed("victim", v).unwrap();
        *blocked_slot.lock().unwrap() = Some(signal.connect(bl));
        signal.emit(&());
        assert_eq!(load(&victim_calls), 0);
        assert_eq!(load(&blocked_calls), 0, "blocked during the emit: skipped");
        guard.lock().unwrap().take();
        // The first listener blocks it again on every emit.
        signal.emit(&());
        assert_eq!(load(&blocked_calls), 0);
    });
}

#[test]
fn a_listener_clears_the_signal() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let (before, b) = counter();
        let (after, a) = counter();
        let (clears, _) = counter::<()>();
        signal.connect(b);
        let (s, c) = (Arc::downgrade(&signal), Arc::clone(&clears));
        let clearer = signal.connect(move |_: &()| {
            c.fetch_add(1, Ordering::SeqCst);
            let s = s.upgrade().unwrap();
            s.clear();
            assert!(s.is_empty());
            // Connecting right after the clear works; first called next emit.
            s.connect(|_: &()| {});
        });
        let later = signal.connect(a);
        signal.emit(&());
        assert_eq!(load(&before), 1);
        assert_eq!(load(&clears), 1);
        assert_eq!(load(&after), 0, "cleared before it was reached");
        assert!(!clearer.is_connected());
        assert!(!later.is_connected());
        assert_eq!(signal.len(), 1);
        signal.emit(&());
        assert_eq!(load(&clears), 1);
    });
}

#[test]
fn a_listener_disconnect_waits_the_next_listener() {
    within_deadline(|| {
        let signal = SyncSignal::<()>::new();
        let next: Slot = Arc::default();
        let outcome = Arc::new(Mutex::new(None));
        let (n, o) = (Arc::clone(&next), Arc::clone(&outcome));
        signal.connect(move |_: &()| {
            if let Some(next) = n.lock().unwrap().take() {
                *o.lock().unwrap() = Some(next.disconnect_wait());
            }
        });
        let (victim_calls, v) = counter();
        let victim = signal.connect(v);
        *next.lock().unwrap() = Some(victim.clone());
        signal.emit(&());
        assert!(matches!(
            *outcome.lock().unwrap(),
            Some(Err(WouldDeadlock { .. }))
        ));
        assert!(!victim.is_connected());
        assert_eq!(load(&victim_calls), 0);
    });
}

// ---------------------------------------------------------------- recursion

/// A signal whose first listener re-emits `depth + 1` until `limit`, and a
/// log of every depth the second listener saw.
fn recursive(limit: u32) -> (Arc<SyncSignal<u32>>, Arc<Mutex<Vec<u32>>>) {
    let signal = Arc::new(SyncSignal::<u32>::new());
    let s: Weak<SyncSignal<u32>> = Arc::downgrade(&signal);
    signal.connect(move |depth: &u32| {
        if *depth < limit {
            s.upgrade().unwrap().emit(&(depth + 1));
        }
    });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    signal.connect(move |depth: &u32| log.lock().unwrap().push(*depth));
    (signal, seen)
}

#[test]
fn a_listener_emits_recursively_on_the_same_signal() {
    within_deadline(|| {
        let (signal, seen) = recursive(3);
        signal.emit(&0);
        // The inner emits finish before the outer ones reach the logger.
        assert_eq!(*seen.lock().unwrap(), [3, 2, 1, 0]);
    });
}

#[test]
fn recursion_deeper_than_every_per_thread_fast_path() {
    within_deadline(|| {
        let (signal, seen) = recursive(DEEP);
        for _ in 0..3 {
            signal.emit(&0);
        }
        let expected: Vec<u32> = (0..=DEEP)
            .rev()
            .cycle()
            .take(3 * (DEEP as usize + 1))
            .collect();
        assert_eq!(*seen.lock().unwrap(), expected);
        // Afterwards the signal is fully usable, including disconnect_wait
        // from this thread (no stale record entry) and from another
        // (no stale overflow count).
        let conn = signal.connect(|_: &u32| {});
        assert_eq!(conn.disconnect_wait(), Ok(true));
        let conn = signal.connect(|_: &u32| {});
        assert_eq!(
            thread::spawn(move || conn.disconnect_wait())
                .join()
                .unwrap(),
            Ok(true)
        );
    });
}

#[test]
fn deep_recursion_through_every_emit_variant() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let s = Arc::downgrade(&signal);
        let (calls, count) = counter::<u32>();
        signal.connect(move |depth: &u32| {
            let s = s.upgrade().unwrap();
            let next = depth + 1;
            if *depth < DEEP * 2 {
                match depth % 5 {
                    0 => s.emit(&next),
                    1 => s.try_emit(&next).unwrap(),
                    2 => s.emit_collect(&next).unwrap(),
                    3 => s.emit_until(&next, AtomicBool::new(false)).unwrap(),
                    _ => s.emitter().emit(&next),
                }
            }
        });
        signal.connect(count);
        signal.emit(&0);
        assert_eq!(load(&calls), DEEP as usize * 2 + 1);
    });
}

#[test]
fn deep_recursion_with_connects_and_disconnects_at_every_level() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let s = Arc::downgrade(&signal);
        let added = Arc::new(AtomicUsize::new(0));
        let (a, a_calls) = (Arc::clone(&added), Arc::new(AtomicUsize::new(0)));
        let ac = Arc::clone(&a_calls);
        signal.connect(move |depth: &u32| {
            let s = s.upgrade().unwrap();
            // Connect one listener and disconnect it at once, then connect
            // one that stays; neither may run in any emit already started.
            s.connect(|_: &u32| panic!("disconnected before any emit"))
                .disconnect();
            let ac = Arc::clone(&ac);
            s.connect(move |_: &u32| {
                ac.fetch_add(1, Ordering::SeqCst);
            });
            a.fetch_add(1, Ordering::SeqCst);
            if *depth < DEEP {
                s.emit(&(depth + 1));
            }
        });
        signal.emit(&0);
        // Each level connected one listener after its own emit had started,
        // but before the nested emit loaded the list: level k's nested emit
        // (k < DEEP) sees the k + 1 listeners connected by levels 0..=k.
        let levels = DEEP as usize + 1;
        assert_eq!(load(&added), levels);
        assert_eq!(signal.len(), 1 + levels);
        let expected: usize = (1..levels).sum();
        assert_eq!(load(&a_calls), expected);
    });
}

#[test]
fn a_listener_emits_on_another_signal() {
    within_deadline(|| {
        let a = Arc::new(SyncSignal::<u32>::new());
        let b = Arc::new(SyncSignal::<u32>::new());
        let (a_calls, ac) = counter::<u32>();
        let (b_calls, bc) = counter::<u32>();
        let wb = Arc::downgrade(&b);
        a.connect(ac);
        a.connect(move |v: &u32| wb.upgrade().unwrap().emit(&(v + 1)));
        b.connect(bc);
        a.emit(&0);
        assert_eq!((load(&a_calls), load(&b_calls)), (1, 1));

        // Ping-pong between the two, deeper than every fast path.
        let wa = Arc::downgrade(&a);
        b.connect(move |v: &u32| {
            if *v < 2 * DEEP {
                wa.upgrade().unwrap().emit(&(v + 1));
            }
        });
        a.emit(&0);
        // a sees 0, 2, ..., 2 * DEEP; b sees 1, 3, ..., 2 * DEEP + 1.
        assert_eq!(load(&a_calls), 1 + DEEP as usize + 1);
        assert_eq!(load(&b_calls), 1 + DEEP as usize + 1);
    });
}

#[test]
fn emits_nested_on_many_threads_at_once() {
    within_deadline(|| {
        let (signal, seen) = recursive(DEEP);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20 {
                        signal.emit(&0);
                    }
                });
            }
            // Waiting for running emits while others recurse deeply finishes.
            for _ in 0..20 {
                let conn = signal.connect(|_: &u32| {});
                assert_eq!(conn.disconnect_wait(), Ok(true));
            }
        });
        assert_eq!(seen.lock().unwrap().len(), 4 * 20 * (DEEP as usize + 1));
    });
}

// ---------------------------------------------------------------- disconnect_wait, deep

#[test]
fn disconnect_wait_from_a_nested_emit_deeper_than_the_record_is_an_error() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<u32>::new());
        let target: Slot = Arc::default();
        let outcome = Arc::new(Mutex::new(None));
        let (s, t, o) = (
            Arc::downgrade(&signal),
            Arc::clone(&target),
            Arc::clone(&outcome),
        );
        signal.connect(move |depth: &u32| {
            if *depth < DEEP {
                s.upgrade().unwrap().emit(&(depth + 1));
            } else {
                let conn = t.lock().unwrap().clone().unwrap();
                *o.lock().unwrap() = Some(conn.disconnect_wait());
            }
        });
        let (calls, c) = counter::<u32>();
        let conn = signal.connect(c);
        *target.lock().unwrap() = Some(conn.clone());
        signal.emit(&0);
        assert!(matches!(*outcome.lock().unwrap(), Some(Err(_))));
        assert!(!conn.is_connected());
        assert_eq!(load(&calls), 0, "disconnected before any level reached it");
        // Afterwards disconnect_wait works normally, here and elsewhere.
        let conn = signal.connect(|_: &u32| {});
        assert_eq!(conn.disconnect_wait(), Ok(true));
        let conn = signal.connect(|_: &u32| {});
        assert_eq!(
            thread::spawn(move || conn.disconnect_wait())
                .join()
                .unwrap(),
            Ok(true)
        );
    });
}

#[test]
fn disconnect_wait_when_only_the_levels_past_the_record_are_the_same_signal() {
    // Levels 0..32 emit `outer`; the levels past the record emit `signal`,
    // whose listener then calls disconnect_wait on one of `signal`'s own
    // listeners: it is inside an emit of `signal`, so it must not wait.
    within_deadline(|| {
        let outer = Arc::new(SyncSignal::<u32>::new());
        let signal = Arc::new(SyncSignal::<u32>::new());
        let target: Slot = Arc::default();
        let outcome = Arc::new(Mutex::new(None));

        let (t, o, ws) = (
            Arc::clone(&target),
            Arc::clone(&outcome),
            Arc::downgrade(&signal),
        );
        signal.connect(move |depth: &u32| {
            if *depth < DEEP {
                ws.upgrade().unwrap().emit(&(depth + 1));
            } else {
                let conn = t.lock().unwrap().clone().unwrap();
                *o.lock().unwrap() = Some(conn.disconnect_wait());
            }
        });
        let conn = signal.connect(|_: &u32| {});
        *target.lock().unwrap() = Some(conn.clone());

        let (wo, ws) = (Arc::downgrade(&outer), Arc::downgrade(&signal));
        outer.connect(move |depth: &u32| {
            if *depth < 33 {
                wo.upgrade().unwrap().emit(&(depth + 1));
            } else {
                ws.upgrade().unwrap().emit(depth);
            }
        });
        outer.emit(&0);
        assert!(matches!(*outcome.lock().unwrap(), Some(Err(_))));
        assert!(!conn.is_connected());
    });
}

#[test]
fn disconnect_wait_deep_inside_another_signal_does_not_error() {
    within_deadline(|| {
        let outer = Arc::new(SyncSignal::<u32>::new());
        let target_signal = SyncSignal::<u32>::new();
        let (calls, c) = counter::<u32>();
        let target = target_signal.connect(c);
        let outcome = Arc::new(Mutex::new(None));
        let (wo, t, o) = (Arc::downgrade(&outer), target.clone(), Arc::clone(&outcome));
        outer.connect(move |depth: &u32| {
            if *depth < DEEP {
                wo.upgrade().unwrap().emit(&(depth + 1));
            } else {
                *o.lock().unwrap() = Some(t.disconnect_wait());
            }
        });
        outer.emit(&0);
        assert_eq!(*outcome.lock().unwrap(), Some(Ok(true)));
        target_signal.emit(&0);
        assert_eq!(load(&calls), 0);
    });
}

/// Thread B runs an emit of the target signal past its per-thread record
/// (33 levels of padding first) and blocks inside its listener; thread A,
/// 40 levels deep in an unrelated signal, calls `disconnect_wait` on that
/// listener. A is not inside any emit of the target, so it must wait for B.
#[test]
fn disconnect_wait_deep_inside_another_signal_waits_for_a_deep_emit_elsewhere() {
    let target_signal = Arc::new(SyncSignal::<u32>::new());
    // Thread B: 33 levels of `padding`, then an emit of `target_signal` (so
    // it is counted in the target's overflow counter) whose listener blocks.
    let padding = Arc::new(SyncSignal::<u32>::new());
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let target = target_signal.connect(move |_: &u32| {
        entered_tx.send(()).unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        f.store(true, Ordering::SeqCst);
    });
    let (wp, wt) = (Arc::downgrade(&padding), Arc::downgrade(&target_signal));
    padding.connect(move |depth: &u32| {
        if *depth < 33 {
            wp.upgrade().unwrap().emit(&(depth + 1));
        } else {
            wt.upgrade().unwrap().emit(&0);
        }
    });
    let p = Arc::clone(&padding);
    let emitter = thread::spawn(move || p.emit(&0));
    entered_rx.recv().unwrap();

    // Thread A: 40 levels of an unrelated signal, then disconnect_wait on
    // the target's listener. It is not inside any emit of the target, so it
    // must wait for thread B's running call.
    let unrelated = Arc::new(SyncSignal::<u32>::new());
    let (done_tx, done_rx) = mpsc::channel();
    let done_tx = Mutex::new(done_tx);
    let (wu, t, fin) = (
        Arc::downgrade(&unrelated),
        target.clone(),
        Arc::clone(&finished),
    );
    unrelated.connect(move |depth: &u32| {
        if *depth < DEEP {
            wu.upgrade().unwrap().emit(&(depth + 1));
        } else {
            let result = t.disconnect_wait();
            let finished_then = fin.load(Ordering::SeqCst);
            done_tx
                .lock()
                .unwrap()
                .send((result, finished_then))
                .unwrap();
        }
    });
    let u = Arc::clone(&unrelated);
    let waiter = thread::spawn(move || u.emit(&0));

    let early = done_rx.recv_timeout(STILL_BLOCKED);
    release_tx.send(()).unwrap();
    emitter.join().unwrap();
    waiter.join().unwrap();
    assert_eq!(
        early,
        Err(RecvTimeoutError::Timeout),
        "disconnect_wait returned while the call was still running on another thread"
    );
    let (result, finished_then) = done_rx.recv().unwrap();
    assert_eq!(result, Ok(true));
    assert!(finished_then);
}

// ---------------------------------------------------------------- drops

/// Runs `action` on the signal when dropped: a listener's closure that
/// touches its signal from its destructor.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn a_closure_whose_destructor_uses_the_signal_does_not_deadlock() {
    within_deadline(|| {
        let signal = Arc::new(SyncSignal::<()>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let make = |signal: &Arc<SyncSignal<()>>| {
            let s = Arc::downgrade(signal);
            let d = Arc::clone(&drops);
            let guard = OnDrop(move || {
                d.fetch_add(1, Ordering::SeqCst);
                if let Some(s) = s.upgrade() {
                    // Every writer operation, from a destructor.
                    let conn = s.connect(|_: &()| {});
                    let _ = s.len();
                    let _ = s.contains_key("k");
                    conn.disconnect();
                }
            });
            move |_: &()| {
                let _ = &guard;
            }
        };

        // Freed by disconnect (and the next write).
        let conn = signal.connect(make(&signal));
        signal.emit(&());
        conn.disconnect();
        signal.connect(|_: &()| {}).disconnect();
        assert_eq!(load(&drops), 1);

        // Freed by clear.
        signal.connect(make(&signal));
        signal.connect(make(&signal));
        signal.clear();
        signal.connect(|_: &()| {}).disconnect();
        assert_eq!(load(&drops), 3);

        // Freed because its key was taken.
        signal.connect_keyed("k", |_: &()| {}).unwrap();
        assert!(signal.connect_keyed("k", make(&signal)).is_err());
        assert_eq!(load(&drops), 4);

        // Freed after a once-listener fired.
        signal.connect_once(make(&signal));
        signal.emit(&());
        signal.connect(|_: &()| {}).disconnect();
        assert_eq!(load(&drops), 5);

        // Freed by disconnect_key.
        signal.disconnect_key("k");
        signal.connect_keyed("k2", make(&signal)).unwrap();
        assert!(signal.disconnect_key("k2"));
        signal.connect(|_: &()| {}).disconnect();
        assert_eq!(load(&drops), 6);
    });
}
