//! One suite for the API every signal kind shares (`Listeners<T>`: the
//! connect family, keys, filters, blocks, the error handler, `len` /
//! `clear`), run against `SyncSignal` and `AsyncSignal` through the `t!`
//! macro (as arc-swap's tests run against each of its strategies). What
//! differs between the kinds (where listeners run, what a panic does) is
//! tested in each kind's own file.

mod common;

use std::sync::{Arc, Mutex};

use common::{Kind, count, counter};
use sigwire::{AsyncSignal, ConnectOptions, SyncSignal};

/// Runs `$body` (a generic function over `K: Kind`) once per kind.
macro_rules! t {
    ($name:ident) => {
        mod $name {
            #[test]
            fn sync() {
                super::$name::<sigwire::SyncSignal<u32>>();
            }

            #[test]
            fn pooled() {
                super::$name::<sigwire::AsyncSignal<u32>>();
            }
        }
    };
}

t!(a_listener_is_called_until_disconnected);
fn a_listener_is_called_until_disconnected<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    let conn = signal.connect(listener);
    signal.deliver(1);
    assert!(conn.is_connected());
    assert!(conn.disconnect());
    assert!(
        !conn.disconnect(),
        "a second disconnect reports nothing to do"
    );
    signal.deliver(2);
    assert_eq!(count(&calls), 1);
    assert!(signal.is_empty());
}

t!(a_once_listener_runs_once_and_leaves);
fn a_once_listener_runs_once_and_leaves<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    signal.connect_once(listener);
    assert_eq!(signal.len(), 1);
    for v in 0..3 {
        signal.deliver(v);
    }
    assert_eq!(count(&calls), 1);
    assert_eq!(signal.len(), 0);
}

t!(keys_are_unique_and_free_again_after_disconnect);
fn keys_are_unique_and_free_again_after_disconnect<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    signal.connect_keyed("audit", listener).unwrap();
    let duplicate = signal.connect_keyed("audit", |_: &u32| {}).unwrap_err();
    assert_eq!(duplicate.key(), "audit");
    assert!(signal.contains_key("audit"));
    signal.deliver(1);
    assert!(signal.disconnect_key("audit"));
    assert!(!signal.contains_key("audit"));
    assert!(signal.connect_keyed("audit", |_: &u32| {}).is_ok());
    assert_eq!(count(&calls), 1);
}

t!(a_once_keyed_listener_frees_its_key_when_it_fires);
fn a_once_keyed_listener_frees_its_key_when_it_fires<K: Kind>() {
    let signal = K::new();
    signal
        .connect_with(ConnectOptions::new().key("k").once(), |_: &u32| {})
        .unwrap();
    signal.deliver(1);
    assert!(signal.connect_keyed("k", |_: &u32| {}).is_ok());
}

t!(a_blocked_listener_is_skipped_until_the_guard_drops);
fn a_blocked_listener_is_skipped_until_the_guard_drops<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    let conn = signal.connect(listener);
    let guard = conn.block();
    assert!(conn.is_blocked());
    signal.deliver(1);
    drop(guard);
    signal.deliver(2);
    assert_eq!(count(&calls), 1);
}

t!(a_scoped_connection_disconnects_on_drop);
fn a_scoped_connection_disconnects_on_drop<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    let scoped = signal.connect(listener).scoped();
    signal.deliver(1);
    drop(scoped);
    signal.deliver(2);
    assert_eq!(count(&calls), 1);
}

t!(clear_disconnects_every_listener);
fn clear_disconnects_every_listener<K: Kind>() {
    let signal = K::new();
    let conns: Vec<_> = (0..3).map(|_| signal.connect(|_: &u32| {})).collect();
    assert_eq!(signal.len(), 3);
    signal.clear();
    assert!(signal.is_empty());
    assert!(conns.iter().all(|c| !c.is_connected()));
}

t!(filters_turn_events_away_for_everyone_or_for_one);
fn filters_turn_events_away_for_everyone_or_for_one<K: Kind>() {
    let signal = K::new();
    let seen: Arc<Mutex<Vec<u32>>> = Arc::default();
    let evens: Arc<Mutex<Vec<u32>>> = Arc::default();
    let (s, e) = (Arc::clone(&seen), Arc::clone(&evens));
    signal.connect(move |v: &u32| s.lock().unwrap().push(*v));
    signal.connect_filtered(
        |v: &u32| v % 2 == 0,
        move |v: &u32| e.lock().unwrap().push(*v),
    );
    let small = signal.add_filter(|v: &u32| *v < 10);
    for v in [1, 2, 20, 4] {
        signal.deliver(v);
    }
    assert!(small.disconnect());
    signal.deliver(30);
    assert_eq!(*seen.lock().unwrap(), [1, 2, 4, 30]);
    assert_eq!(*evens.lock().unwrap(), [2, 4, 30]);
}

/// An error the handler received: the listener's key, the error's text.
type Reported = (Option<String>, String);

t!(errors_go_to_the_handler_and_are_counted);
fn errors_go_to_the_handler_and_are_counted<K: Kind>() {
    let signal = K::new();
    let errors: Arc<Mutex<Vec<Reported>>> = Arc::default();
    let e = Arc::clone(&errors);
    signal.set_error_handler(move |error| {
        let key = error.key().map(str::to_string);
        e.lock()
            .unwrap()
            .push((key, error.source_error().to_string()));
    });
    signal
        .connect_fallible_with(ConnectOptions::new().key("db"), |v: &u32| {
            if *v == 0 { Err("zero") } else { Ok(()) }
        })
        .unwrap();
    for v in [0, 1, 0] {
        signal.deliver(v);
    }
    assert_eq!(signal.error_count(), 2);
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 2);
    assert!(
        errors
            .iter()
            .all(|(key, text)| key.as_deref() == Some("db") && text == "zero")
    );
}

t!(a_listener_connected_by_a_listener_is_called_from_the_next_event);
fn a_listener_connected_by_a_listener_is_called_from_the_next_event<K: Kind>() {
    let signal = Arc::new(K::new());
    let (calls, listener) = counter();
    let listener = Arc::new(listener);
    let weak = Arc::downgrade(&signal);
    signal.connect_once(move |_: &u32| {
        let listener = Arc::clone(&listener);
        weak.upgrade().unwrap().connect(move |v: &u32| listener(v));
    });
    signal.deliver(1);
    assert_eq!(count(&calls), 0, "called by the event that connected it");
    signal.deliver(2);
    assert_eq!(count(&calls), 1);
}

t!(a_listener_disconnected_by_a_listener_is_not_called_again);
fn a_listener_disconnected_by_a_listener_is_not_called_again<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    let victim = signal.connect(listener);
    signal.connect(move |_: &u32| {
        victim.disconnect();
    });
    signal.deliver(1); // may or may not reach the victim first
    let before = count(&calls);
    signal.deliver(2);
    assert_eq!(count(&calls), before);
    assert_eq!(signal.len(), 1);
}

t!(disconnect_wait_from_inside_its_own_signal_would_deadlock);
fn disconnect_wait_from_inside_its_own_signal_would_deadlock<K: Kind>() {
    let signal = K::new();
    let me: Arc<Mutex<Option<sigwire::Connection>>> = Arc::default();
    let outcome: Arc<Mutex<Option<bool>>> = Arc::default();
    let (m, o) = (Arc::clone(&me), Arc::clone(&outcome));
    let conn = signal.connect(move |_: &u32| {
        let own = m.lock().unwrap().clone().unwrap();
        *o.lock().unwrap() = Some(own.disconnect_wait().is_err());
    });
    *me.lock().unwrap() = Some(conn.clone());
    signal.deliver(1);
    assert_eq!(*outcome.lock().unwrap(), Some(true));
    assert!(!conn.is_connected());
    assert_eq!(
        conn.disconnect_wait(),
        Ok(false),
        "from outside it returns at once"
    );
}

t!(a_connection_outliving_its_signal_is_harmless);
fn a_connection_outliving_its_signal_is_harmless<K: Kind>() {
    let signal = K::new();
    let conn = signal.connect(|_: &u32| {});
    drop(signal);
    assert!(!conn.is_connected());
    assert!(!conn.disconnect());
    assert_eq!(conn.disconnect_wait(), Ok(false));
}

t!(panics_leave_the_signal_usable);
fn panics_leave_the_signal_usable<K: Kind>() {
    let signal = K::new();
    let (calls, listener) = counter();
    signal.connect(|v: &u32| assert_ne!(*v, 13, "intended: thirteen"));
    signal.connect(listener);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| signal.deliver(13)));
    assert_eq!(outcome.is_err(), K::PANICS_REACH_THE_EMITTER);
    signal.deliver(1);
    assert!(count(&calls) >= 1);
    assert_eq!(signal.len(), 2);
}

/// Both kinds deref to `Listeners`, so code written against it takes either.
#[test]
fn generic_code_takes_either_kind() {
    fn wire(listeners: &sigwire::Listeners<u32>) -> sigwire::Connection {
        listeners.connect(|_: &u32| {})
    }
    let (sync, pooled) = (SyncSignal::<u32>::new(), AsyncSignal::<u32>::new());
    let _a = wire(&sync);
    let _b = wire(&pooled);
    assert_eq!((sync.len(), pooled.len()), (1, 1));
}
