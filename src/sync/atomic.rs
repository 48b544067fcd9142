//! Atomics, std's or loom's: the same types and `Ordering`, so every
//! ordering the crate writes is the one loom checks.
//!
//! loom's atomics cannot be built in a `const`, so a `static` that must
//! exist before any model runs (the id counters in `base/mod.rs`) uses std's
//! directly and says why. loom has no `compiler_fence`: it is exported
//! only outside loom, for the membarrier fast path, which loom replaces.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, compiler_fence, fence,
};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};
