//! The one place sigwire gets its synchronisation primitives from.
//!
//! Normally these are `std`'s atomics, `Arc`, `Mutex` and `Condvar`,
//! `arc-swap`, crossbeam's bounded queue and rayon. Under `--cfg loom` every
//! primitive comes from loom instead, or from a stand-in built on loom's
//! (a library's internal std atomics are invisible to loom, so a model over
//! the real `ArcSwap` or `ArrayQueue` would explore nothing). Code elsewhere
//! in the crate imports from here, never from `std::sync` directly.
//!
//! One file per concern, each holding the std version and its loom
//! stand-in side by side:
//!
//! * [`arc`]: `Arc`, `Weak` and [`downgrade`]; `ErasedArc`, std's `Arc`
//!   in both builds, for `dyn` handles.
//! * [`atomic`]: the atomic integers, `AtomicBool`, `AtomicPtr`, `Ordering`.
//! * [`cell`]: `UnsafeCell` with loom's interface (`with`, `with_mut`), for
//!   the broadcast ring's slots.
//! * [`mutex`]: `Mutex`, `Condvar`, and [`lock`] / [`wait`] /
//!   [`into_inner`], which ignore poisoning; [`left_until`] for timed waits.
//! * [`arc_swap`]: `ArcSwap`, `Guard` (the published listener lists and
//!   topic subscriber lists).
//! * [`barrier`]: the asymmetric barrier pair [`light_barrier`] /
//!   [`heavy_barrier`] (membarrier), and [`full_fence`]; see
//!   `docs/ordering.md`.
//! * [`exec`]: where an `AsyncSignal` runs its listeners (rayon; loom
//!   threads).
//! * [`queue`]: an `AsyncSignal`'s bounded queue, allocated fallibly.
//! * [`sleepers`]: [`Sleepers`], where threads and async tasks wait (the
//!   one waiting primitive, on the mutex and condvar above).
//! * [`thread`]: [`spin`], one turn of a wait, and `yield_now` (loom only).
//! * [`timer`]: one thread that wakes async waits at their deadlines (none
//!   under loom).

mod arc;
mod arc_swap;
mod atomic;
mod barrier;
mod cell;
pub(crate) mod exec;
mod mutex;
mod queue;
mod sleepers;
mod thread;
pub(crate) mod timer;

pub(crate) use arc::{Arc, ErasedArc, Weak, downgrade};
pub(crate) use arc_swap::{ArcSwap, Guard};
#[cfg(not(loom))]
pub(crate) use atomic::compiler_fence;
pub(crate) use atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};
pub(crate) use barrier::{full_fence, heavy_barrier, light_barrier};
#[cfg(not(loom))]
pub(crate) use barrier::{init as init_barriers, membarrier_registered};
pub(crate) use cell::UnsafeCell;
pub(crate) use mutex::{Condvar, Mutex, into_inner, left_until, lock, try_lock, wait};
pub(crate) use queue::{Queue, bounded as bounded_queue};
pub(crate) use sleepers::{Registration, Sleepers};
pub(crate) use thread::spin;
#[cfg(loom)]
pub(crate) use thread::yield_now;
