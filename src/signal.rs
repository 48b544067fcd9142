//! The `Signal<T>` trait: what generic code needs of any kind of signal.

use std::ops::Deref;

use crate::async_signal::AsyncSignal;
use crate::listeners::Listeners;
use crate::sync_signal::SyncSignal;

/// Any kind of signal: it derefs to its [`Listeners`], which carry the
/// connect family, filters, keys, `len`, `is_empty`, `clear` and the error
/// handler. Generic code takes `&impl Signal<T>` (or `&Listeners<T>`, to
/// which every signal coerces) and works with any kind.
///
/// Implemented by [`SyncSignal`] and [`AsyncSignal`].
///
/// # Examples
///
/// ```
/// use sigwire::{AsyncSignal, Connection, Signal, SyncSignal};
///
/// fn log_all<S: Signal<String>>(signal: &S) -> Connection {
///     signal.connect(|line: &String| println!("{line}"))
/// }
///
/// let signal = SyncSignal::<String>::new();
/// let _conn = log_all(&signal);
/// assert_eq!(signal.len(), 1);
/// signal.emit(&"hello".to_string());
///
/// let pooled = AsyncSignal::<String>::new();
/// let _conn = log_all(&pooled);
/// assert_eq!(pooled.len(), 1);
/// ```
pub trait Signal<T: 'static>: Deref<Target = Listeners<T>> + Send + Sync {}

impl<T: 'static> Signal<T> for SyncSignal<T> where SyncSignal<T>: Send + Sync {}

impl<T: Send + Sync + 'static> Signal<T> for AsyncSignal<T> {}
