//! Where an `AsyncSignal` runs its listeners: rayon normally; under loom,
//! loom threads (and `join` in order on the calling thread). A model
//! cannot run rayon's pool (its std atomics and parking are invisible to
//! loom); `spawn` on a loom thread keeps what matters, that a job runs
//! concurrently with its spawner, and `on_pool` answering `true` makes
//! models explore the caller running jobs itself.

/// A pool: a rayon pool of the user's, or `None` for rayon's global one.
/// std's `Arc` in both builds: the user hands it over (`AsyncSignalBuilder::pool`,
/// `Requests::with_pool`), and under loom the pool is never used.
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
