//! The one place sigwire gets its synchronisation primitives from.
//!
//! Normally these are `std`'s atomics, `Arc` and `Mutex`, and `arc-swap`.
//! Under `--cfg loom` they are loom's, plus a loom-visible stand-in for
//! `ArcSwap` (arc-swap's internal std atomics are invisible to loom, so a
//! model over the real `ArcSwap` would explore nothing). Code elsewhere in the
//! crate imports from here, never from `std::sync` directly.
//!
//! The pair [`light_barrier`] / [`heavy_barrier`] is an asymmetric fence: see
//! `docs/ordering.md`.

#[cfg(not(loom))]
pub(crate) use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, Weak,
    atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
};

#[cfg(loom)]
pub(crate) use loom::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering},
};

/// A reference-counted handle used only for ownership and type erasure
/// (`Connection`'s `dyn` handle, the error handler), never as part of a
/// concurrency protocol: loom's `Arc` cannot be unsized to a trait object, so
/// these stay std's under loom too.
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

/// Locks `mutex`, ignoring poisoning: sigwire never runs user code while it
/// holds one of its own locks (except an `AsyncSignal`'s batch buffer, which
/// its one drainer holds while it delivers, and whose contents a panic
/// cannot leave inconsistent), so a poisoned lock still guards consistent
/// data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Lets the model switch threads.
#[cfg(loom)]
pub(crate) fn yield_now() {
    loom::thread::yield_now();
}

/// One turn of a short spin wait: a CPU hint; under loom, a switch to
/// another thread of the model.
pub(crate) fn spin() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// What is left of a wait until `deadline` (`None`: no deadline, wait
/// without a timeout); `Err` once the deadline has passed.
pub(crate) fn left_until(
    deadline: Option<std::time::Instant>,
) -> Result<Option<std::time::Duration>, ()> {
    match deadline {
        None => Ok(None),
        Some(deadline) => match deadline.checked_duration_since(std::time::Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(()),
        },
    }
}

/// Waits on `condvar` (up to `timeout`, if given), ignoring poisoning as
/// [`lock`] does. Returns the guard and whether the wait timed out.
pub(crate) fn wait<'a, T>(
    condvar: &Condvar,
    guard: MutexGuard<'a, T>,
    timeout: Option<std::time::Duration>,
) -> (MutexGuard<'a, T>, bool) {
    match timeout {
        None => (
            condvar
                .wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            false,
        ),
        Some(timeout) => {
            let (guard, result) = condvar
                .wait_timeout(guard, timeout)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (guard, result.timed_out())
        }
    }
}

pub(crate) use swap::{ArcSwap, ArcSwapOption, Cache, Guard};

pub(crate) use queue::{Queue, bounded as bounded_queue};

#[cfg(not(loom))]
mod queue {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;

    use crate::error::BuildError;

    /// The bounded lock-free queue of an `AsyncSignal`'s accepted events.
    pub(crate) type Queue<T> = crossbeam_queue::ArrayQueue<T>;

    /// One slot of the queue's buffer, declared as crossbeam-queue 0.3
    /// declares its private `Slot<T>`, for its size: the event and a stamp.
    struct Slot<T> {
        _stamp: Stamp,
        _value: UnsafeCell<MaybeUninit<T>>,
    }

    #[cfg(target_has_atomic = "64")]
    type Stamp = std::sync::atomic::AtomicU64;
    #[cfg(not(target_has_atomic = "64"))]
    type Stamp = std::sync::atomic::AtomicUsize;

    /// A queue of `capacity` slots (`capacity` ≥ 1), or
    /// [`BuildError::OutOfMemory`] if their buffer cannot be allocated.
    ///
    /// `ArrayQueue::new` allocates infallibly (an abort, or a panic past
    /// `isize::MAX` bytes), so the same buffer is first allocated fallibly,
    /// and freed. That catches every size no process can address and every
    /// size the allocator refuses; it cannot catch memory granted lazily
    /// and missing when touched, nor memory taken by another thread between
    /// the probe and the real allocation.
    pub(crate) fn bounded<T>(capacity: usize) -> Result<Queue<T>, BuildError> {
        Vec::<Slot<T>>::new()
            .try_reserve_exact(capacity)
            .map_err(|_| BuildError::out_of_memory::<Slot<T>>(capacity))?;
        Ok(Queue::new(capacity))
    }
}

#[cfg(loom)]
mod queue {
    use std::collections::VecDeque;

    use super::{Mutex, lock};
    use crate::error::BuildError;

    /// A queue of `capacity` slots, or [`BuildError::OutOfMemory`].
    pub(crate) fn bounded<T>(capacity: usize) -> Result<Queue<T>, BuildError> {
        let mut items = VecDeque::new();
        items
            .try_reserve_exact(capacity)
            .map_err(|_| BuildError::out_of_memory::<T>(capacity))?;
        Ok(Queue {
            items: Mutex::new(items),
            capacity,
        })
    }

    /// Loom stand-in for `crossbeam_queue::ArrayQueue` (whose std atomics
    /// loom cannot see): the same interface over a loom `Mutex`.
    pub(crate) struct Queue<T> {
        items: Mutex<VecDeque<T>>,
        capacity: usize,
    }

    impl<T> Queue<T> {
        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            let mut items = lock(&self.items);
            if items.len() == self.capacity {
                return Err(value);
            }
            items.push_back(value);
            Ok(())
        }

        pub(crate) fn pop(&self) -> Option<T> {
            lock(&self.items).pop_front()
        }
    }
}

/// Where an `AsyncSignal` runs its listeners: rayon normally; under loom,
/// loom threads (and `join` in order on the calling thread).
pub(crate) mod exec {
    /// A pool: a rayon pool of the user's, or `None` for rayon's global one.
    pub(crate) type Pool = Option<std::sync::Arc<rayon::ThreadPool>>;

    /// Runs `job` on the pool, in the background.
    #[cfg(not(loom))]
    pub(crate) fn spawn(pool: &Pool, job: impl FnOnce() + Send + 'static) {
        match pool {
            Some(pool) => pool.spawn(job),
            None => rayon::spawn(job),
        }
    }

    #[cfg(loom)]
    pub(crate) fn spawn(_pool: &Pool, job: impl FnOnce() + Send + 'static) {
        loom::thread::spawn(job);
    }

    /// Runs `job` on the pool and waits for it.
    #[cfg(not(loom))]
    pub(crate) fn install<R: Send>(pool: &Pool, job: impl FnOnce() -> R + Send) -> R {
        match pool {
            Some(pool) => pool.install(job),
            None => rayon::scope(|_| job()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn install<R: Send>(_pool: &Pool, job: impl FnOnce() -> R + Send) -> R {
        job()
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results;
    /// each learns whether it was stolen by another thread (so it may split
    /// further).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn join<A: Send, B: Send>(
        a: impl FnOnce(bool) -> A + Send,
        b: impl FnOnce(bool) -> B + Send,
    ) -> (A, B) {
        rayon::join_context(|ctx| a(ctx.migrated()), |ctx| b(ctx.migrated()))
    }

    #[cfg(loom)]
    pub(crate) fn join<A: Send, B: Send>(
        a: impl FnOnce(bool) -> A + Send,
        b: impl FnOnce(bool) -> B + Send,
    ) -> (A, B) {
        (a(false), b(false))
    }

    /// How many threads the pool has (how many pieces to split work into).
    #[cfg(not(loom))]
    pub(crate) fn threads(pool: &Pool) -> usize {
        match pool {
            Some(pool) => pool.current_num_threads(),
            None => rayon::current_num_threads(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn threads(_pool: &Pool) -> usize {
        2
    }

    /// Whether this thread is a worker of `pool`: for `None`, of any rayon
    /// pool, since `rayon::spawn` from a worker spawns into that worker's
    /// own pool. Under loom, `true`: the model's threads stand in for the
    /// pool's, so that models explore the caller running jobs itself.
    #[cfg(not(loom))]
    pub(crate) fn on_pool(pool: &Pool) -> bool {
        match pool {
            Some(pool) => pool.current_thread_index().is_some(),
            None => rayon::current_thread_index().is_some(),
        }
    }

    #[cfg(loom)]
    pub(crate) fn on_pool(_pool: &Pool) -> bool {
        true
    }

    /// On a rayon worker thread, runs one pending job (or sleeps a moment
    /// when there is none) and returns `true`; elsewhere returns `false`
    /// without doing anything, and the caller should block instead.
    #[cfg(not(loom))]
    pub(crate) fn help() -> bool {
        match rayon::yield_now() {
            None => false,
            Some(rayon::Yield::Executed) => true,
            Some(rayon::Yield::Idle) => {
                std::thread::sleep(std::time::Duration::from_micros(20));
                true
            }
        }
    }

    #[cfg(loom)]
    pub(crate) fn help() -> bool {
        false
    }
}

#[cfg(not(loom))]
mod swap {
    use super::Arc;

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

    /// An [`ArcSwap`] that may be empty: a `Topics` cache entry.
    pub(crate) struct ArcSwapOption<T>(arc_swap::ArcSwapOption<T>);

    /// What [`ArcSwapOption::load`] returns: derefs to the `Option<Arc<T>>`.
    pub(crate) type OptionGuard<T> = arc_swap::Guard<Option<Arc<T>>>;

    impl<T> ArcSwapOption<T> {
        pub(crate) fn empty() -> Self {
            Self(arc_swap::ArcSwapOption::empty())
        }

        /// Lock-free load of the current value.
        #[inline]
        pub(crate) fn load(&self) -> OptionGuard<T> {
            self.0.load()
        }

        /// Publishes `value`, returning the previous one.
        pub(crate) fn swap(&self, value: Option<Arc<T>>) -> Option<Arc<T>> {
            self.0.swap(value)
        }
    }

    /// A per-thread cache of an [`ArcSwap`]: `load` costs one relaxed load
    /// and a compare while the value is unchanged.
    pub(crate) struct Cache<'a, T>(arc_swap::Cache<&'a arc_swap::ArcSwap<T>, Arc<T>>);

    impl<'a, T> Cache<'a, T> {
        pub(crate) fn new(swap: &'a ArcSwap<T>) -> Self {
            Self(arc_swap::Cache::new(&swap.0))
        }

        #[inline]
        pub(crate) fn load(&mut self) -> &Arc<T> {
            self.0.load()
        }
    }
}

#[cfg(loom)]
mod swap {
    use super::Arc;
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

    /// Loom stand-in for `arc_swap::ArcSwapOption`, as [`ArcSwap`].
    pub(crate) struct ArcSwapOption<T>(RwLock<Option<Arc<T>>>);

    pub(crate) type OptionGuard<T> = Option<Arc<T>>;

    impl<T> ArcSwapOption<T> {
        pub(crate) fn empty() -> Self {
            Self(RwLock::new(None))
        }

        pub(crate) fn load(&self) -> OptionGuard<T> {
            self.0.read().unwrap().clone()
        }

        pub(crate) fn swap(&self, value: Option<Arc<T>>) -> Option<Arc<T>> {
            std::mem::replace(&mut *self.0.write().unwrap(), value)
        }
    }

    /// Loom stand-in for `arc_swap::Cache`: revalidates on every load.
    pub(crate) struct Cache<'a, T> {
        swap: &'a ArcSwap<T>,
        current: Arc<T>,
    }

    impl<'a, T> Cache<'a, T> {
        pub(crate) fn new(swap: &'a ArcSwap<T>) -> Self {
            Self {
                swap,
                current: swap.load(),
            }
        }

        pub(crate) fn load(&mut self) -> &Arc<T> {
            let latest = self.swap.load();
            if !Arc::ptr_eq(&latest, &self.current) {
                self.current = latest;
            }
            &self.current
        }
    }
}

pub(crate) use barrier::{full_fence, heavy_barrier, light_barrier};

/// The asymmetric barrier pair. See `docs/ordering.md`, "disconnect_wait".
#[cfg(not(loom))]
mod barrier {
    use std::sync::atomic::{AtomicU8, Ordering, compiler_fence, fence};

    const UNKNOWN: u8 = 0;
    const MEMBARRIER: u8 = 1;
    const FENCES: u8 = 2;

    /// Which implementation the process uses; decided once, then constant.
    static MODE: AtomicU8 = AtomicU8::new(UNKNOWN);

    /// Decides (once) whether the kernel's expedited membarrier is usable.
    /// Called before a thread first publishes a record, and by every heavy
    /// barrier, so a heavy barrier always sees the final mode.
    pub(crate) fn init() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let mode = if register() { MEMBARRIER } else { FENCES };
            // Relaxed: `Once` orders this store before every return from
            // `call_once`, which is how heavy barriers read it; light
            // barriers that read a stale UNKNOWN simply use a real fence.
            MODE.store(mode, Ordering::Relaxed);
        });
    }

    #[cfg(target_os = "linux")]
    fn register() -> bool {
        use rustix::thread::{MembarrierCommand, membarrier, membarrier_query};
        membarrier_query().contains_command(MembarrierCommand::PrivateExpedited)
            && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
    }

    #[cfg(not(target_os = "linux"))]
    fn register() -> bool {
        false
    }

    /// The emitter's side: a compiler fence when the heavy side uses
    /// membarrier, a full fence otherwise.
    #[inline(always)]
    pub(crate) fn light_barrier() {
        // Relaxed: the mode is written once; reading a stale UNKNOWN only
        // makes this barrier stronger than needed.
        if MODE.load(Ordering::Relaxed) == MEMBARRIER {
            compiler_fence(Ordering::SeqCst);
        } else {
            fence(Ordering::SeqCst);
        }
    }

    /// A full fence on this thread only, whatever the mode: for the rare
    /// paths whose partner may skip the heavy barrier (see
    /// `inflight::overflowed` and `inflight::scan`).
    pub(crate) fn full_fence() {
        fence(Ordering::SeqCst);
    }

    /// Whether the process registered for membarrier, so that a light
    /// barrier is a compiler fence. Call after `init`.
    pub(crate) fn membarrier_registered() -> bool {
        // Relaxed: see `init`; callers called `init` first on this thread.
        MODE.load(Ordering::Relaxed) == MEMBARRIER
    }

    /// The waiter's side: makes every thread of the process execute a full
    /// fence (membarrier), or a full fence of our own when every emitter
    /// already pays one.
    pub(crate) fn heavy_barrier() {
        init();
        #[cfg(target_os = "linux")]
        if MODE.load(Ordering::Relaxed) == MEMBARRIER {
            use rustix::thread::{MembarrierCommand, membarrier};
            // Emitters pay only a compiler fence in this mode, so a local
            // fence would not do: retry until the kernel performs a barrier.
            // The expedited command fails only transiently (ENOMEM); the
            // global one, slower, gives the same guarantee where available.
            let backoff = crossbeam_utils::Backoff::new();
            while membarrier(MembarrierCommand::PrivateExpedited).is_err()
                && membarrier(MembarrierCommand::Global).is_err()
            {
                backoff.snooze();
            }
            return;
        }
        fence(Ordering::SeqCst);
    }
}

#[cfg(loom)]
mod barrier {
    use loom::sync::atomic::{AtomicUsize, Ordering};

    loom::lazy_static! {
        static ref BARRIER: AtomicUsize = AtomicUsize::new(0);
    }

    /// Both sides are read-modify-writes of one location: they are totally
    /// ordered and the later one acquires the earlier one's release, which
    /// is the guarantee the real pair gives, expressed so loom can check it.
    pub(crate) fn light_barrier() {
        BARRIER.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn heavy_barrier() {
        BARRIER.fetch_add(1, Ordering::AcqRel);
    }

    /// Under loom every barrier is the same read-modify-write.
    pub(crate) fn full_fence() {
        BARRIER.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(not(loom))]
pub(crate) use barrier::{init as init_barriers, membarrier_registered};
