//! `Requests<Req, Resp>`: request/response with scatter-gather. Responders
//! register a function of `&Req`; `request` asks every one of them and
//! gathers the answers; `gather` asks them on the pool and waits for a
//! number of answers or a timeout.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::error::{BoxError, ListenerPanic};
use crate::sync::{
    self, Arc, ArcSwap, AtomicUsize, Condvar, ErasedArc, Mutex, Ordering, Sleepers, exec,
};
use crate::unwind::contain;

/// What a responder returns: an answer, no answer (the request is not for
/// it), or an error.
pub type Reply<Resp> = Result<Option<Resp>, BoxError>;

type Responder<Req, Resp> = ErasedArc<dyn Fn(&Req) -> Reply<Resp> + Send + Sync + 'static>;

/// Scatter-gather request/response: [`request`](Self::request) asks every
/// registered responder, in registration order on the calling thread, and
/// returns every answer and every error, each with the responder's name.
/// Responders that return `Ok(None)` decline.
///
/// The responder list is copy-on-write, like a signal's: a request takes
/// no lock, and responders may register, unregister or make requests from
/// inside a responder.
///
/// # Examples
///
/// ```
/// use sigwire::bus::Requests;
///
/// struct Change { key: &'static str, value: i64 }
///
/// let validators = Requests::<Change, &'static str>::new();
/// validators.respond("range", |c: &Change| {
///     Ok((c.value < 0).then_some("negative values are not allowed"))
/// });
/// validators.respond("keys", |c: &Change| {
///     if c.key.is_empty() { Err("empty key".into()) } else { Ok(None) }
/// });
///
/// let replies = validators.request(&Change { key: "timeout", value: -1 });
/// assert_eq!(&*replies.answers()[0].0, "range");
/// assert_eq!(replies.answers()[0].1, "negative values are not allowed");
/// assert!(replies.errors().is_empty());
/// assert_eq!(&*replies.declined()[0], "keys");
/// ```
pub struct Requests<Req: 'static, Resp: 'static> {
    inner: ErasedArc<Inner<Req, Resp>>,
}

struct Inner<Req: 'static, Resp: 'static> {
    responders: ArcSwap<Vec<Entry<Req, Resp>>>,
    /// Serialises registrations; requests never take it.
    writer: Mutex<u64>,
    /// Where [`Requests::gather`] runs the responders.
    pool: exec::Pool,
}

/// One [`Requests::gather`] in flight, shared by the caller and the jobs
/// it spawned on the pool (which hold it weakly: a job that runs after
/// the caller is done finds nothing to do).
struct Gathering<Req: 'static, Resp: 'static> {
    request: Req,
    /// The responders as `gather` found them.
    responders: Arc<Vec<Entry<Req, Resp>>>,
    expected: usize,
    /// The next responder to start, in registration order: the jobs and
    /// (on a pool thread) the caller take them one by one. Set to the end
    /// when the caller stops waiting, so that nothing starts later.
    next: AtomicUsize,
    outcomes: Mutex<Outcomes<Resp>>,
    /// Signalled when the gathering is complete (enough answers, or every
    /// responder replied); the caller waits on it.
    complete: Condvar,
    /// Where a `gather_async` caller's task waits for the same.
    tasks: Sleepers,
}

struct Outcomes<Resp> {
    /// One per responder, in registration order: `None` until it replies.
    replies: Vec<Option<Outcome<Resp>>>,
    answered: usize,
    replied: usize,
    /// Set by the caller when it stops waiting; a reply that finds it set
    /// is late, and is dropped instead of recorded.
    closed: bool,
}

enum Outcome<Resp> {
    Answer(Resp),
    Declined,
    Failed(BoxError),
}

impl<Resp> Outcomes<Resp> {
    fn is_complete(&self, expected: usize) -> bool {
        self.answered >= expected || self.replied == self.replies.len()
    }
}

struct Entry<Req: 'static, Resp: 'static> {
    id: u64,
    name: Name,
    respond: Responder<Req, Resp>,
}

impl<Req, Resp> Clone for Entry<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            name: Name::clone(&self.name),
            respond: ErasedArc::clone(&self.respond),
        }
    }
}

/// A responder's registration; see [`Requests::respond`]. Dropping it does
/// not unregister.
pub struct Responding {
    remove: ErasedArc<dyn Fn() -> bool + Send + Sync>,
}

/// Everything one [`Requests::request`] gathered.
///
/// # Examples
///
/// See [`Requests`].
pub struct Replies<Resp> {
    answers: Vec<(Name, Resp)>,
    errors: Vec<(Name, BoxError)>,
    declined: Vec<Name>,
    timed_out: Vec<Name>,
}

/// A responder's name, shared (a reply costs no string copy).
// std's `Arc` (not the shim's): a public type, and never part of a protocol.
pub type Name = std::sync::Arc<str>;

impl<Req: 'static, Resp: 'static> Requests<Req, Resp> {
    /// No responders.
    ///
    /// # Examples
    ///
    /// ```
    /// let requests = sigwire::bus::Requests::<u32, u32>::new();
    /// assert_eq!(requests.len(), 0);
    /// ```
    pub fn new() -> Self {
        Self::on(None)
    }

    /// No responders; [`gather`](Self::gather) runs them on `pool`. (A
    /// `Requests` made with [`new`](Self::new) runs them where
    /// `rayon::spawn` does: on the calling thread's pool if it is a rayon
    /// worker, else on rayon's global pool.)
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// # use sigwire::bus::Requests;
    /// let pool = Arc::new(rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap());
    /// let requests = Requests::<u32, u32>::with_pool(pool);
    /// requests.respond("double", |n: &u32| Ok(Some(n * 2)));
    /// let replies = requests.gather(21, 1, Duration::from_secs(5));
    /// assert_eq!(replies.answers()[0].1, 42);
    /// ```
    pub fn with_pool(pool: std::sync::Arc<rayon::ThreadPool>) -> Self {
        Self::on(Some(pool))
    }

    fn on(pool: exec::Pool) -> Self {
        Self {
            inner: ErasedArc::new(Inner {
                responders: ArcSwap::new(Arc::new(Vec::new())),
                writer: Mutex::new(0),
                pool,
            }),
        }
    }

    /// Registers a responder under `name` (names need not be unique; they
    /// label the replies).
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Requests;
    /// let prices = Requests::<&str, f64>::new();
    /// let venue = prices.respond("venue-a", |symbol: &&str| Ok((*symbol == "AAPL").then_some(187.5)));
    /// assert_eq!(prices.request(&"AAPL").answers()[0].1, 187.5);
    /// assert!(venue.disconnect());
    /// assert!(prices.request(&"AAPL").answers().is_empty());
    /// ```
    pub fn respond<F>(&self, name: impl AsRef<str>, f: F) -> Responding
    where
        F: Fn(&Req) -> Reply<Resp> + Send + Sync + 'static,
        Req: Send + Sync,
        Resp: Send,
    {
        let id = {
            let mut next = sync::lock(&self.inner.writer);
            *next += 1;
            let entry = Entry {
                id: *next,
                name: Name::from(name.as_ref()),
                respond: ErasedArc::new(f),
            };
            let mut list = Vec::clone(&self.inner.responders.load());
            list.push(entry);
            drop(self.inner.responders.swap(Arc::new(list)));
            *next
        };
        let inner = ErasedArc::downgrade(&self.inner);
        Responding {
            remove: ErasedArc::new(move || inner.upgrade().is_some_and(|inner| inner.remove(id))),
        }
    }

    /// Asks every responder (in registration order, on this thread) and
    /// gathers their replies. A responder registered or removed during the
    /// request is asked or not, depending on whether the change came first.
    ///
    /// # Examples
    ///
    /// See [`Requests`].
    pub fn request(&self, request: &Req) -> Replies<Resp> {
        let responders = self.inner.responders.load();
        let mut replies = Replies::default();
        for entry in responders.iter() {
            match (entry.respond)(request) {
                Ok(Some(answer)) => replies.answers.push((Name::clone(&entry.name), answer)),
                Ok(None) => replies.declined.push(Name::clone(&entry.name)),
                Err(error) => replies.errors.push((Name::clone(&entry.name), error)),
            }
        }
        replies
    }

    /// Asks every responder on the pool, in parallel, and returns once
    /// `expected` answers have arrived, every responder has replied, or
    /// `timeout` has passed, whichever comes first. The [`Replies`] say
    /// which responders answered, declined, failed (a panic is caught and
    /// reported as a failure whose error is a [`ListenerPanic`]) and which
    /// had not replied when `gather` returned
    /// ([`timed_out`](Replies::timed_out): the timeout passed, or enough
    /// answers came first). Declines and errors do not count towards
    /// `expected`.
    ///
    /// The responders are started in registration order by up to one pool
    /// job per pool thread, each taking the next responder not yet started
    /// until none is left. A responder not started when `gather` returns is
    /// never started. One already running finishes, and its reply is
    /// dropped on the pool thread that made it (a panic from that drop is
    /// caught); the request is dropped when the last running responder is
    /// done with it. Jobs still queued when `gather` returns hold nothing
    /// but a weak reference and find nothing to do.
    ///
    /// # On a thread of the pool
    ///
    /// A responder may itself call `gather` (or `request`), and nested
    /// requests complete even on a one-thread pool: a `gather` called on a
    /// thread of the responders' pool does not just wait. It takes
    /// responders too, one by one on the calling thread, checking the
    /// deadline and the answers so far before each; then it waits for the
    /// rest (and spawns one job fewer). So on a pool thread:
    ///
    /// - `gather` may return up to one responder's run time after the
    ///   timeout;
    /// - the caller must not hold a lock (or a `RefCell` borrow) that a
    ///   responder needs: the responder may run beneath it, on the same
    ///   thread, and wait for it forever.
    ///
    /// Off the pool, `gather` only waits, and returns at the timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sigwire::bus::Requests;
    ///
    /// let quotes = Requests::<&'static str, f64>::new();
    /// quotes.respond("venue-a", |_: &&str| Ok(Some(101.5)));
    /// quotes.respond("venue-b", |_: &&str| Ok(Some(101.25)));
    /// quotes.respond("venue-c", |_: &&str| {
    ///     std::thread::sleep(Duration::from_secs(10)); // far too slow
    ///     Ok(Some(99.0))
    /// });
    ///
    /// // Two answers are enough; wait at most 1 s for them.
    /// let replies = quotes.gather("ACME", 2, Duration::from_secs(1));
    /// let mut best: Vec<f64> = replies.answers().iter().map(|(_, q)| *q).collect();
    /// best.sort_by(f64::total_cmp);
    /// assert_eq!(best, [101.25, 101.5]);
    /// assert_eq!(&*replies.timed_out()[0], "venue-c");
    /// ```
    pub fn gather(&self, request: Req, expected: usize, timeout: Duration) -> Replies<Resp>
    where
        Req: Send + Sync,
        Resp: Send,
    {
        let on_pool = exec::on_pool(&self.inner.pool);
        let gathering = self.start(request, expected, on_pool);
        let deadline = Instant::now().checked_add(timeout);
        let mut outcomes = sync::lock(&gathering.outcomes);
        loop {
            if outcomes.is_complete(expected) {
                break;
            }
            let Ok(left) = sync::left_until(deadline) else {
                break;
            };
            let taken = if on_pool { gathering.take() } else { None };
            match taken {
                Some(index) => {
                    drop(outcomes);
                    gathering.reply(index);
                    outcomes = sync::lock(&gathering.outcomes);
                }
                None => outcomes = sync::wait(&gathering.complete, outcomes, left).0,
            }
        }
        drop(outcomes);
        gathering.finish()
    }

    /// [`gather`](Self::gather) for async code: the same replies, awaited
    /// without blocking a thread, under any executor. The responders run
    /// on the pool as `gather`'s do. The timeout is kept by a thread of
    /// sigwire's, started the first time an async wait has a deadline,
    /// which wakes the task at it (under `--cfg loom` there is none: the
    /// deadline is seen when the task is next polled).
    ///
    /// Called on a thread of the responders' pool, it is `gather` (which
    /// takes responders on that thread so that nested requests complete),
    /// and returns a ready future.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the gathering as `gather` returning
    /// does: responders not started are never started, replies that come
    /// later are dropped on the pool.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sigwire::bus::Requests;
    ///
    /// let quotes = Requests::<&'static str, f64>::new();
    /// quotes.respond("venue-a", |_: &&str| Ok(Some(101.5)));
    /// quotes.respond("venue-b", |_: &&str| Ok(Some(101.25)));
    /// let replies = futures_executor::block_on(
    ///     quotes.gather_async("ACME", 2, Duration::from_secs(1)),
    /// );
    /// assert_eq!(replies.answers().len(), 2);
    /// ```
    pub async fn gather_async(
        &self,
        request: Req,
        expected: usize,
        timeout: Duration,
    ) -> Replies<Resp>
    where
        Req: Send + Sync,
        Resp: Send,
    {
        if exec::on_pool(&self.inner.pool) {
            return self.gather(request, expected, timeout);
        }
        let gathering = self.start(request, expected, false);
        // Closes the gathering if the future is dropped before it ends.
        let closing = Closing(Some(Arc::clone(&gathering)));
        let deadline = Instant::now().checked_add(timeout);
        let mut registration = sync::Registration::new(&gathering.tasks);
        let mut timed = false;
        let complete = || sync::lock(&gathering.outcomes).is_complete(expected);
        std::future::poll_fn(|cx| {
            if complete() {
                return Poll::Ready(());
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Poll::Ready(());
            }
            if let Some(deadline) = deadline.filter(|_| !timed) {
                sync::timer::wake_at(deadline, cx.waker());
                timed = true;
            }
            // Tested again under the tasks' lock: a reply that completes
            // the gathering after this notifies under it, so after the
            // registration.
            registration.poll(cx, complete)
        })
        .await;
        drop(registration);
        closing.finish()
    }

    /// Starts a gathering: spawns up to one job per pool thread (one
    /// fewer `on_pool`, where the caller takes responders too).
    fn start(&self, request: Req, expected: usize, on_pool: bool) -> Arc<Gathering<Req, Resp>>
    where
        Req: Send + Sync,
        Resp: Send,
    {
        let responders = Arc::clone(&self.inner.responders.load());
        let count = responders.len();
        let gathering = Arc::new(Gathering {
            request,
            responders,
            expected,
            next: AtomicUsize::new(0),
            outcomes: Mutex::new(Outcomes {
                replies: (0..count).map(|_| None).collect(),
                answered: 0,
                replied: 0,
                closed: false,
            }),
            complete: Condvar::new(),
            tasks: Sleepers::new(),
        });
        // On a thread of the responders' pool, waiting could starve the
        // jobs (on a one-thread pool, or when every thread waits in a
        // nested gather), so the caller takes responders too; it is one of
        // the pool's threads, so one job fewer.
        let threads = exec::threads(&self.inner.pool);
        let jobs = count.min(if on_pool { threads - 1 } else { threads });
        for _ in 0..jobs {
            let gathering = sync::downgrade(&gathering);
            exec::spawn(&self.inner.pool, move || {
                // A user's `Drop` (the request's, a stopped responder's) may
                // run here: a panic must not reach rayon (it would abort).
                contain(move || {
                    if let Some(gathering) = gathering.upgrade() {
                        while let Some(index) = gathering.take() {
                            gathering.reply(index);
                        }
                    }
                });
            });
        }
        gathering
    }

    /// How many responders are registered.
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn len(&self) -> usize {
        self.inner.responders.load().len()
    }

    /// Whether no responder is registered.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Requests;
    /// assert!(Requests::<u32, u32>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<Req: 'static, Resp: 'static> Inner<Req, Resp> {
    fn remove(&self, id: u64) -> bool {
        let old = {
            let _writer = sync::lock(&self.writer);
            let current = self.responders.load();
            if !current.iter().any(|e| e.id == id) {
                return false;
            }
            let list: Vec<_> = current.iter().filter(|e| e.id != id).cloned().collect();
            drop(current);
            self.responders.swap(Arc::new(list))
        };
        // After the lock: the old list may hold the last reference to the
        // removed closure, whose drop is user code (it may use `self`).
        drop(old);
        true
    }
}

impl<Req, Resp> Gathering<Req, Resp> {
    /// Ends the gathering: no responder starts after this, a reply that
    /// comes later is dropped on the pool; returns what came.
    fn finish(&self) -> Replies<Resp> {
        // Relaxed: only `take`'s read-modify-writes read it; from here on
        // they see the end (a responder taken before runs, and its reply
        // finds the gathering closed).
        let count = self.responders.len();
        let mut outcomes = sync::lock(&self.outcomes);
        self.next.store(count, Ordering::Relaxed);
        outcomes.closed = true;
        let replies = std::mem::take(&mut outcomes.replies);
        drop(outcomes);
        let mut gathered = Replies::default();
        for (entry, reply) in self.responders.iter().zip(replies) {
            let name = Name::clone(&entry.name);
            match reply {
                Some(Outcome::Answer(answer)) => gathered.answers.push((name, answer)),
                Some(Outcome::Declined) => gathered.declined.push(name),
                Some(Outcome::Failed(error)) => gathered.errors.push((name, error)),
                None => gathered.timed_out.push(name),
            }
        }
        gathered
    }

    /// The next responder to start, if any is left.
    fn take(&self) -> Option<usize> {
        // Relaxed: the read-modify-write alone hands each index out once;
        // the request and the responders are shared through the `Arc`, the
        // replies through the mutex.
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        (index < self.responders.len()).then_some(index)
    }

    /// Asks responder `index`, then records its reply, or drops it if the
    /// caller has stopped waiting.
    fn reply(&self, index: usize) {
        let entry = &self.responders[index];
        let expected = self.expected;
        let outcome = match catch_unwind(AssertUnwindSafe(|| (entry.respond)(&self.request))) {
            Ok(Ok(Some(answer))) => Outcome::Answer(answer),
            Ok(Ok(None)) => Outcome::Declined,
            Ok(Err(error)) => Outcome::Failed(error),
            Err(payload) => Outcome::Failed(Box::new(ListenerPanic::caught(
                entry.id,
                Some(Name::clone(&entry.name)),
                payload,
            ))),
        };
        let mut outcomes = sync::lock(&self.outcomes);
        if outcomes.closed {
            drop(outcomes);
            // Late: the caller has returned. The reply's drop is user code,
            // and this runs on a pool thread: contain a panic.
            contain(move || drop(outcome));
            return;
        }
        outcomes.answered += usize::from(matches!(outcome, Outcome::Answer(_)));
        outcomes.replied += 1;
        outcomes.replies[index] = Some(outcome);
        if outcomes.is_complete(expected) {
            self.complete.notify_all();
            drop(outcomes);
            // After the outcomes' lock: a `gather_async` caller tests them
            // under the tasks' lock (see `gather_async`).
            self.tasks.notify_all(|| {});
        }
    }
}

/// A gathering closed when dropped: a `gather_async` future dropped before
/// it ended stops the gathering, as `gather` returning does.
struct Closing<Req: 'static, Resp: 'static>(Option<Arc<Gathering<Req, Resp>>>);

impl<Req, Resp> Closing<Req, Resp> {
    fn finish(mut self) -> Replies<Resp> {
        match self.0.take() {
            Some(gathering) => gathering.finish(),
            None => Replies::default(),
        }
    }
}

impl<Req, Resp> Drop for Closing<Req, Resp> {
    fn drop(&mut self) {
        if let Some(gathering) = self.0.take() {
            // The replies gathered so far are the user's values: their
            // drops are contained, as a late reply's are.
            contain(move || drop(gathering.finish()));
        }
    }
}

impl Responding {
    /// Unregisters the responder: requests that start afterwards do not ask
    /// it. `true` if it was registered.
    ///
    /// # Examples
    ///
    /// See [`Requests::respond`].
    pub fn disconnect(&self) -> bool {
        (self.remove)()
    }
}

impl<Resp> Replies<Resp> {
    /// The answers, each with its responder's name, in registration order.
    ///
    /// # Examples
    ///
    /// See [`Requests`].
    pub fn answers(&self) -> &[(Name, Resp)] {
        &self.answers
    }

    /// The answers, by value.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Requests;
    /// let r = Requests::<(), u8>::new();
    /// r.respond("one", |_: &()| Ok(Some(1)));
    /// let answers = r.request(&()).into_answers();
    /// assert_eq!((&*answers[0].0, answers[0].1), ("one", 1));
    /// ```
    pub fn into_answers(self) -> Vec<(Name, Resp)> {
        self.answers
    }

    /// The responders that failed, with their errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sigwire::bus::Requests;
    /// let r = Requests::<(), u8>::new();
    /// r.respond("db", |_: &()| Err("unreachable".into()));
    /// let replies = r.request(&());
    /// assert_eq!(&*replies.errors()[0].0, "db");
    /// assert_eq!(replies.errors()[0].1.to_string(), "unreachable");
    /// ```
    pub fn errors(&self) -> &[(Name, BoxError)] {
        &self.errors
    }

    /// The responders that declined (returned `Ok(None)`).
    ///
    /// # Examples
    ///
    /// See [`Requests`].
    pub fn declined(&self) -> &[Name] {
        &self.declined
    }

    /// The responders that had not replied when [`Requests::gather`]
    /// returned (always empty for [`Requests::request`]).
    ///
    /// # Examples
    ///
    /// See [`Requests::gather`].
    pub fn timed_out(&self) -> &[Name] {
        &self.timed_out
    }
}

impl<Resp> Default for Replies<Resp> {
    /// No replies.
    fn default() -> Self {
        Self {
            answers: Vec::new(),
            errors: Vec::new(),
            declined: Vec::new(),
            timed_out: Vec::new(),
        }
    }
}

impl<Req: 'static, Resp: 'static> Default for Requests<Req, Resp> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Req: 'static, Resp: 'static> Clone for Requests<Req, Resp> {
    /// Another handle to the same responders.
    fn clone(&self) -> Self {
        Self {
            inner: ErasedArc::clone(&self.inner),
        }
    }
}

impl<Req: 'static, Resp: 'static> fmt::Debug for Requests<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Requests")
            .field("responders", &self.len())
            .finish()
    }
}

impl fmt::Debug for Responding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responding").finish_non_exhaustive()
    }
}

impl<Resp: fmt::Debug> fmt::Debug for Replies<Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replies")
            .field("answers", &self.answers)
            .field("errors", &self.errors)
            .field("declined", &self.declined)
            .field("timed_out", &self.timed_out)
            .finish()
    }
}
