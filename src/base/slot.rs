//! `Slot<T>`: one connected listener.

use std::fmt;

use super::state::StateWord;
use crate::error::BoxError;
use crate::sync::ErasedArc;

pub(crate) use crate::callback::Callback;

/// A listener: its state word, callback and identity (40 bytes; 56 in
/// its `Arc`, so 64 with its pointer in the list).
pub(crate) struct Slot<T> {
    /// 0 exactly when the listener may be called; see `StateWord`.
    pub(crate) state: StateWord,
    callback: Callback<T>,
    pub(crate) id: u64,
    /// Key and priority, boxed only for a listener that has either: most
    /// have neither, and every byte here is paid per listener.
    extra: Option<Box<Extra>>,
}

/// The rarely set parts of a slot.
struct Extra {
    key: Option<ErasedArc<str>>,
    priority: i32,
}

impl<T> Slot<T> {
    pub(crate) fn new(
        id: u64,
        key: Option<ErasedArc<str>>,
        priority: i32,
        once: bool,
        callback: Callback<T>,
    ) -> Self {
        let extra = (key.is_some() || priority != 0).then(|| Box::new(Extra { key, priority }));
        Self {
            state: StateWord::new(once),
            callback,
            id,
            extra,
        }
    }

    /// The key the listener was connected under, if any.
    pub(crate) fn key(&self) -> Option<&ErasedArc<str>> {
        self.extra.as_ref().and_then(|extra| extra.key.as_ref())
    }

    /// Higher runs first; 0 unless set.
    pub(crate) fn priority(&self) -> i32 {
        self.extra.as_ref().map_or(0, |extra| extra.priority)
    }

    /// Calls the listener, in a list that is `simple` (no listener in it
    /// can fail).
    #[inline]
    pub(crate) fn call(&self, value: &T) {
        self.callback.call(value);
    }

    /// Calls the listener and returns its result (see `Listener::try_call`).
    #[inline]
    pub(crate) fn try_call(&self, value: &T) -> Result<(), BoxError> {
        self.callback.try_call(value)
    }

    /// Whether the listener can return an error.
    pub(crate) fn is_fallible(&self) -> bool {
        self.callback.is_fallible()
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("key", &self.key())
            .field("priority", &self.priority())
            .field("once", &self.state.is_once())
            .finish_non_exhaustive()
    }
}
