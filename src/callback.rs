//! The one shape every listener is stored in (`Callback`): wrappers for
//! plain, fallible and filtered listeners, and the marker a filtered
//! listener returns for an event its filter turned away. A leaf: it
//! depends only on the error alias.

use std::fmt;

/// Every callback is stored in this one shape; plain listeners are wrapped
/// and always return `Ok`, so emit has a single call path.
pub(crate) type Callback<T> = Box<dyn Fn(&T) -> Result<(), BoxError> + Send + Sync + 'static>;
use crate::error::BoxError;

/// Wraps a plain listener in the one callback shape slots store.
pub(crate) fn plain<T, F>(f: F) -> Callback<T>
where
    F: Fn(&T) + Send + Sync + 'static,
{
    Box::new(move |value: &T| {
        f(value);
        Ok(())
    })
}

/// A listener that calls `f` only for the values `filter` accepts (what
/// `connect_filtered` connects). A value it filters out makes no delivery:
/// the call returns the [`Skipped`] marker, which every reader of a call's
/// result takes for "not called" (see [`skipped`]).
pub(crate) fn filtered<T, P, F>(filter: P, f: F) -> Callback<T>
where
    P: Fn(&T) -> bool + Send + Sync + 'static,
    F: Fn(&T) + Send + Sync + 'static,
{
    Box::new(move |value: &T| {
        if filter(value) {
            f(value);
            Ok(())
        } else {
            // A zero-sized box: no allocation.
            Err(Box::new(Skipped))
        }
    })
}

/// What a `connect_filtered` listener returns for a value its filter
/// rejected; private, so no user listener can return it.
#[derive(Debug)]
pub(crate) struct Skipped;

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the listener's filter rejected the event")
    }
}

impl std::error::Error for Skipped {}

/// Whether `error` is the [`Skipped`] marker: the listener's own filter
/// turned the event away, so there was no delivery and no error. Tested
/// on error paths only.
#[cold]
pub(crate) fn skipped(error: &BoxError) -> bool {
    error.is::<Skipped>()
}

/// Wraps a fallible listener in the one callback shape slots store.
pub(crate) fn fallible<T, F, E>(f: F) -> Callback<T>
where
    F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    Box::new(move |value: &T| f(value).map_err(Into::into))
}
