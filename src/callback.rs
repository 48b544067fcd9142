//! The one shape every listener is stored in (`Callback`, a boxed
//! [`Listener`]): plain, fallible and filtered listeners, and the marker a
//! filtered listener returns for an event its filter turned away. A leaf:
//! it depends only on the error alias.

use std::fmt;

use crate::error::BoxError;

/// A listener as slots store it: one vtable, two ways to call it.
///
/// `call` is for lists in which no listener can fail (`List::simple`): the
/// emit loop then calls the user's closure through one indirect call and
/// tests no result. `try_call` is for every other path (fallible listeners,
/// counters, filters, the async drainer), which needs the result.
pub(crate) trait Listener<T>: Send + Sync {
    /// Calls the listener, for a list whose listeners cannot fail.
    fn call(&self, value: &T);

    /// Calls the listener: `Ok`, a fallible listener's error, or the
    /// [`Skipped`] marker from a filtered listener that turned `value` away.
    fn try_call(&self, value: &T) -> Result<(), BoxError>;

    /// Whether `try_call` can return an error `call` would lose: a list
    /// that holds such a listener is not simple.
    fn is_fallible(&self) -> bool {
        false
    }
}

/// The one shape every listener is stored in.
pub(crate) type Callback<T> = Box<dyn Listener<T> + 'static>;

struct Plain<F>(F);

impl<T, F: Fn(&T) + Send + Sync> Listener<T> for Plain<F> {
    #[inline]
    fn call(&self, value: &T) {
        (self.0)(value);
    }

    #[inline]
    fn try_call(&self, value: &T) -> Result<(), BoxError> {
        (self.0)(value);
        Ok(())
    }
}

/// Stores a plain listener.
pub(crate) fn plain<T, F>(f: F) -> Callback<T>
where
    F: Fn(&T) + Send + Sync + 'static,
{
    Box::new(Plain(f))
}

struct Filtered<P, F> {
    filter: P,
    f: F,
}

impl<T, P, F> Listener<T> for Filtered<P, F>
where
    P: Fn(&T) -> bool + Send + Sync,
    F: Fn(&T) + Send + Sync,
{
    #[inline]
    fn call(&self, value: &T) {
        if (self.filter)(value) {
            (self.f)(value);
        }
    }

    #[inline]
    fn try_call(&self, value: &T) -> Result<(), BoxError> {
        if (self.filter)(value) {
            (self.f)(value);
            Ok(())
        } else {
            // A zero-sized box: no allocation.
            Err(Box::new(Skipped))
        }
    }
}

/// A listener that calls `f` only for the values `filter` accepts (what
/// `connect_filtered` connects). A value it filters out makes no delivery:
/// `try_call` returns the [`Skipped`] marker, which every reader of a
/// call's result takes for "not called" (see [`skipped`]).
pub(crate) fn filtered<T, P, F>(filter: P, f: F) -> Callback<T>
where
    P: Fn(&T) -> bool + Send + Sync + 'static,
    F: Fn(&T) + Send + Sync + 'static,
{
    Box::new(Filtered { filter, f })
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

struct Fallible<F>(F);

impl<T, F> Listener<T> for Fallible<F>
where
    F: Fn(&T) -> Result<(), BoxError> + Send + Sync,
{
    /// Not reached: a list that holds a fallible listener is not simple, so
    /// every path calls [`try_call`](Listener::try_call). Were it reached,
    /// the listener would still run; only its error would go unreported.
    #[inline]
    fn call(&self, value: &T) {
        drop(self.try_call(value));
    }

    #[inline]
    fn try_call(&self, value: &T) -> Result<(), BoxError> {
        (self.0)(value)
    }

    fn is_fallible(&self) -> bool {
        true
    }
}

/// Stores a fallible listener.
pub(crate) fn fallible<T, F, E>(f: F) -> Callback<T>
where
    F: Fn(&T) -> Result<(), E> + Send + Sync + 'static,
    E: Into<BoxError>,
{
    Box::new(Fallible(move |value: &T| f(value).map_err(Into::into)))
}
