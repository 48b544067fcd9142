//! Typed signals for Rust: signal/slot, observer, in-process events, with a
//! lock-free, allocation-free emit path.
//!
//! Declare one signal per event type as a struct field, connect listeners,
//! emit from hot loops:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use sigwire::{ConnectOptions, SyncSignal};
//!
//! #[derive(Debug)]
//! struct Fill { qty: u64, price: u64 }
//!
//! #[derive(Default)]
//! struct Engine {
//!     fills: SyncSignal<Fill>,
//! }
//!
//! let engine = Engine::default();
//! let volume = Arc::new(AtomicU64::new(0));
//! let v = volume.clone();
//! let _volume = engine.fills.connect(move |f: &Fill| { v.fetch_add(f.qty, Ordering::Relaxed); });
//! // A fallible, keyed, high-priority risk check.
//! engine.fills.connect_fallible_with(ConnectOptions::new().key("risk").priority(10), |f: &Fill| {
//!     if f.qty * f.price > 1_000_000 { Err("notional limit") } else { Ok(()) }
//! }).unwrap();
//!
//! engine.fills.emit(&Fill { qty: 10, price: 100 });
//! assert_eq!(engine.fills.try_emit(&Fill { qty: 10_000, price: 1_000 }).unwrap_err().key(), Some("risk"));
//!
//! // Hot loops keep an emitter: the listener list stays cached.
//! let mut emitter = engine.fills.emitter();
//! for qty in 1..=100 {
//!     emitter.emit(&Fill { qty, price: 1 });
//! }
//! // try_emit stopped at the risk check, which runs first (priority 10).
//! assert_eq!(volume.load(Ordering::Relaxed), 10 + 5050);
//! ```
//!
//! Listeners must be `Send + Sync + 'static`, since any thread may emit:
//!
//! ```compile_fail
//! let signal = sigwire::SyncSignal::<()>::new();
//! let counter = std::rc::Rc::new(std::cell::Cell::new(0));
//! signal.connect(move |_: &()| counter.set(counter.get() + 1));
//! ```
//!
//! [`AsyncSignal`] runs the listeners on a rayon pool instead; `emit` takes
//! the value and returns at once:
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use sigwire::AsyncSignal;
//!
//! let fills = AsyncSignal::<u64>::new();
//! let booked = Arc::new(AtomicU64::new(0));
//! let b = booked.clone();
//! fills.connect(move |qty: &u64| { b.fetch_add(*qty, Ordering::Relaxed); });
//! for qty in 1..=10 {
//!     fills.emit(qty).unwrap();
//! }
//! fills.flush().unwrap();
//! assert_eq!(booked.load(Ordering::Relaxed), 55);
//! ```
//!
//! See the [`SyncSignal`] and [`AsyncSignal`] types for the emit families
//! and their guarantees, [`Connection`] for disconnecting, blocking and
//! waiting, and `docs/architecture.md` in the repository for how it works.
//!
//! # Model checking with loom
//!
//! Built with `RUSTFLAGS="--cfg loom"`, sigwire takes every atomic, lock and
//! thread local from [loom](https://docs.rs/loom), so crates that use sigwire
//! can model-check their own code through its signals (see `docs/testing.md`).

#![deny(unsafe_code)]
#![doc(test(attr(deny(warnings))))]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod async_signal;
mod base;
pub mod bus;
mod callback;
mod cancel;
mod connection;
mod error;
mod listeners;
mod ring;
mod signal;
mod stats;
mod sync;
mod sync_signal;
mod unwind;

pub use async_signal::{
    AsyncSignal, AsyncSignalBuilder, DEFAULT_CAPACITY, DeliveryOrder, Overflow,
};
pub use cancel::Cancel;
pub use connection::{
    BlockGuard, ConnectOptions, Connection, FilterHandle, Policy, ScopedConnection,
};
pub use error::{
    BoxError, BuildError, Cancelled, DuplicateKey, EmitError, EmitErrors, FlushError, Lagged,
    ListenerPanic, RecvError, RecvTimeoutError, RejectReason, Rejected, ShutdownTimeout,
    SubscribeError, TryRecvError, WouldDeadlock,
};
pub use listeners::Listeners;
pub use ring::DEFAULT_SUBSCRIPTION_CAPACITY;
pub use ring::subscription::Subscription;
pub use signal::Signal;
pub use stats::Stats;
pub use sync_signal::{Emitter, SyncSignal};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The async guide's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/async.md")]
struct AsyncGuideDoctests;

/// The bus guide's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/bus.md")]
struct BusGuideDoctests;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<SyncSignal<String>>();
        assert_send_sync::<Connection>();
        assert_send_sync::<ScopedConnection>();
        assert_send_sync::<BlockGuard>();
        assert_send_sync::<EmitError>();
        assert_send_sync::<EmitErrors>();
        assert_send_sync::<AsyncSignal<String>>();
        assert_send_sync::<AsyncSignalBuilder<String>>();
        assert_send_sync::<Rejected<String>>();
        assert_send_sync::<ListenerPanic>();
        assert_send_sync::<Stats>();
        assert_send_sync::<Listeners<String>>();
        assert_send_sync::<FilterHandle>();
        assert_send_sync::<FlushError>();
        assert_send_sync::<BuildError>();
        assert_send_sync::<ShutdownTimeout>();
        assert_send_sync::<WouldDeadlock>();
        assert_send_sync::<Subscription<String>>();
        assert_send_sync::<SubscribeError>();
        assert_send_sync::<RecvError>();
    }
}
