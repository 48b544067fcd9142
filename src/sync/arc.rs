//! Reference counting: `Arc` and `Weak`, std's or loom's.
//!
//! loom's `Arc` tracks its count, so a model sees a value freed too early;
//! loom has no `Weak`, so under loom a "weak" reference is a strong one.
//! [`ErasedArc`] is std's `Arc` in both builds, for the handles that must be
//! unsized to a trait object, which loom's `Arc` cannot be.

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Weak};

/// A reference-counted handle used only for ownership and type erasure
/// (`Connection`'s `dyn` handle, the error handler, the bus's registry),
/// never as part of a concurrency protocol: loom's `Arc` cannot be unsized
/// to a trait object, so these stay std's under loom too.
pub(crate) use std::sync::Arc as ErasedArc;

/// loom has no `Weak`: under loom a "weak" reference is a strong one. Models
/// never depend on a signal being freed while a `Connection` exists.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Weak<T>(Arc<T>);

#[cfg(loom)]
impl<T> Weak<T> {
    pub(crate) fn upgrade(&self) -> Option<Arc<T>> {
        Some(Arc::clone(&self.0))
    }
}

#[cfg(loom)]
impl<T> Clone for Weak<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// `Arc::downgrade` for the shim's `Weak`.
pub(crate) fn downgrade<T>(this: &Arc<T>) -> Weak<T> {
    #[cfg(not(loom))]
    {
        Arc::downgrade(this)
    }
    #[cfg(loom)]
    {
        Weak(Arc::clone(this))
    }
}
