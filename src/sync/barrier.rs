//! The asymmetric barrier pair (see `docs/ordering.md`, "disconnect_wait"):
//! an emitter pays [`light_barrier`], a compiler fence when the kernel's
//! expedited membarrier is registered, and `disconnect_wait` pays
//! [`heavy_barrier`], which makes every thread of the process execute a full
//! fence. loom cannot model membarrier, nor a fence that another thread's
//! barrier upgrades; under loom every barrier is a read-modify-write of one
//! location, which gives the same guarantee in a form loom can check.

pub(crate) use imp::{full_fence, heavy_barrier, light_barrier};
#[cfg(not(loom))]
pub(crate) use imp::{init, membarrier_registered};

#[cfg(not(loom))]
mod imp {
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
    /// `base::record::overflowed` and `base::record::scan`).
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
mod imp {
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
