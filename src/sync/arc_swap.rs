//! Lock-free publication of an `Arc`: `arc-swap`'s `ArcSwap` normally (a
//! signal's listener list, a topic registry's subscriber list). Under
//! loom, a stand-in with the same interface over a loom `RwLock`: arc-swap's internal std atomics are invisible to loom, so a
//! model over the real `ArcSwap` would explore nothing, while a lock makes
//! every publication and load a point where the model can switch threads.

pub(crate) use imp::{ArcSwap, Guard};

#[cfg(not(loom))]
mod imp {
    use crate::sync::Arc;

    /// The published listener list: a thin wrapper over `arc_swap::ArcSwap`.
    pub(crate) struct ArcSwap<T>(arc_swap::ArcSwap<T>);

    /// What [`ArcSwap::load`] returns: derefs to the `Arc<T>`.
    pub(crate) type Guard<T> = arc_swap::Guard<Arc<T>>;

    impl<T> ArcSwap<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            Self(arc_swap::ArcSwap::new(value))
        }

        /// Lock-free load of the current value.
        #[inline]
        pub(crate) fn load(&self) -> Guard<T> {
            self.0.load()
        }

        /// Publishes `value`, returning the previous one.
        pub(crate) fn swap(&self, value: Arc<T>) -> Arc<T> {
            self.0.swap(value)
        }
    }
}

#[cfg(loom)]
mod imp {
    use crate::sync::Arc;
    use loom::sync::RwLock;

    /// Loom stand-in for `arc_swap::ArcSwap`: the same interface over a loom
    /// `RwLock<Arc<T>>`, so that loom sees every publication and load.
    pub(crate) struct ArcSwap<T>(RwLock<Arc<T>>);

    pub(crate) type Guard<T> = Arc<T>;

    impl<T> ArcSwap<T> {
        pub(crate) fn new(value: Arc<T>) -> Self {
            Self(RwLock::new(value))
        }

        pub(crate) fn load(&self) -> Guard<T> {
            Arc::clone(&self.0.read().unwrap())
        }

        pub(crate) fn swap(&self, value: Arc<T>) -> Arc<T> {
            std::mem::replace(&mut *self.0.write().unwrap(), value)
        }
    }
}
