//! The `Signal<T>` trait: what every kind of signal shares.

use crate::async_signal::AsyncSignal;
use crate::connection::{ConnectOptions, Connection};
use crate::error::{BoxError, DuplicateKey};
use crate::sync_signal::SyncSignal;

/// What every kind of signal shares: the connect family, `len`, `is_empty`
/// and `clear`. Generic code takes `&impl Signal<T>` and works with any kind.
///
/// Implemented by [`SyncSignal`] and [`AsyncSignal`]; each method behaves
/// as the inherent method of the same name documents.
///
/// # Examples
///
/// ```
/// use sigwire::{Connection, Signal, SyncSignal};
///
/// fn log_all<S: Signal<String>>(signal: &S) -> Connection {
///     signal.connect(|line: &String| println!("{line}"))
/// }
///
/// let signal = SyncSignal::<String>::new();
/// let _conn = log_all(&signal);
/// assert_eq!(Signal::len(&signal), 1);
/// signal.emit(&"hello".to_string());
/// ```
pub trait Signal<T: 'static>: Send + Sync {
    /// Connects a listener; see [`SyncSignal::connect`].
    fn connect<F>(&self, f: F) -> Connection
    where
        F: Fn(&T) + Send + Sync + 'static;

    /// Connects a fallible listener; see [`SyncSignal::connect_fallible`].
    fn connect_fallible<F, E>(&self, f: F) -> Connection
    where
        F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>;

    /// Connects a listener that runs at most once; see
    /// [`SyncSignal::connect_once`].
    fn connect_once<F>(&self, f: F) -> Connection
    where
        F: Fn(&T) + Send + Sync + 'static;

    /// Connects a listener under a unique key; see
    /// [`SyncSignal::connect_keyed`].
    ///
    /// # Errors
    ///
    /// [`DuplicateKey`] if the key is taken.
    fn connect_keyed<F>(&self, key: impl AsRef<str>, f: F) -> Result<Connection, DuplicateKey>
    where
        F: Fn(&T) + Send + Sync + 'static;

    /// Connects a listener with options; see [`SyncSignal::connect_with`].
    ///
    /// # Errors
    ///
    /// [`DuplicateKey`] if the options carry a key that is taken.
    fn connect_with<F>(&self, options: ConnectOptions, f: F) -> Result<Connection, DuplicateKey>
    where
        F: Fn(&T) + Send + Sync + 'static;

    /// Connects a fallible listener with options; see
    /// [`SyncSignal::connect_fallible_with`].
    ///
    /// # Errors
    ///
    /// [`DuplicateKey`] if the options carry a key that is taken.
    fn connect_fallible_with<F, E>(
        &self,
        options: ConnectOptions,
        f: F,
    ) -> Result<Connection, DuplicateKey>
    where
        F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
        E: Into<BoxError>;

    /// Disconnects the listener under `key`; see
    /// [`SyncSignal::disconnect_key`].
    fn disconnect_key(&self, key: &str) -> bool;

    /// Whether a listener is connected under `key`.
    fn contains_key(&self, key: &str) -> bool;

    /// The number of connected listeners.
    fn len(&self) -> usize;

    /// Whether no listener is connected.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Disconnects every listener.
    fn clear(&self);
}

/// Implements [`Signal`] for a signal type by delegating to its inherent
/// methods of the same names.
macro_rules! delegate_signal {
    ($signal:ident, $($bound:tt)+) => {
        impl<T: $($bound)+> Signal<T> for $signal<T> {
            fn connect<F>(&self, f: F) -> Connection
            where
                F: Fn(&T) + Send + Sync + 'static,
            {
                $signal::connect(self, f)
            }

            fn connect_fallible<F, E>(&self, f: F) -> Connection
            where
                F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
                E: Into<BoxError>,
            {
                $signal::connect_fallible(self, f)
            }

            fn connect_once<F>(&self, f: F) -> Connection
            where
                F: Fn(&T) + Send + Sync + 'static,
            {
                $signal::connect_once(self, f)
            }

            fn connect_keyed<F>(
                &self,
                key: impl AsRef<str>,
                f: F,
            ) -> Result<Connection, DuplicateKey>
            where
                F: Fn(&T) + Send + Sync + 'static,
            {
                $signal::connect_keyed(self, key, f)
            }

            fn connect_with<F>(
                &self,
                options: ConnectOptions,
                f: F,
            ) -> Result<Connection, DuplicateKey>
            where
                F: Fn(&T) + Send + Sync + 'static,
            {
                $signal::connect_with(self, options, f)
            }

            fn connect_fallible_with<F, E>(
                &self,
                options: ConnectOptions,
                f: F,
            ) -> Result<Connection, DuplicateKey>
            where
                F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
                E: Into<BoxError>,
            {
                $signal::connect_fallible_with(self, options, f)
            }

            fn disconnect_key(&self, key: &str) -> bool {
                $signal::disconnect_key(self, key)
            }

            fn contains_key(&self, key: &str) -> bool {
                $signal::contains_key(self, key)
            }

            fn len(&self) -> usize {
                $signal::len(self)
            }

            fn clear(&self) {
                $signal::clear(self);
            }
        }
    };
}

delegate_signal!(SyncSignal, 'static);
delegate_signal!(AsyncSignal, Send + Sync + 'static);
