//! One turn of a wait: a CPU hint normally; under loom a yield, since a
//! model only switches threads where it is told it may, and a spin that
//! never yields would explore one thread spinning forever.

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
