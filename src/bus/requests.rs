//! `Requests<Req, Resp>`: request/response with scatter-gather. Responders
//! register a function of `&Req`; `request` asks every one of them and
//! gathers the answers.

use std::fmt;

use crate::error::BoxError;
use crate::sync::{self, Arc, ArcSwap, ErasedArc, Mutex};

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
}

/// A responder's name, shared (a reply costs no string copy).
pub type Name = std::sync::Arc<str>;

impl<Req: 'static, Resp: 'static> Requests<Req, Resp> {
    /// No responders.
    ///
    /// # Examples
    ///
    /// ```
    /// let requests = sigwire::bus::Requests::<u32, u32>::new();
    /// assert_eq!(requests.responder_count(), 0);
    /// ```
    pub fn new() -> Self {
        Self {
            inner: ErasedArc::new(Inner {
                responders: ArcSwap::new(Arc::new(Vec::new())),
                writer: Mutex::new(0),
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
    /// assert!(venue.stop());
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
        let mut replies = Replies {
            answers: Vec::new(),
            errors: Vec::new(),
            declined: Vec::new(),
        };
        for entry in responders.iter() {
            match (entry.respond)(request) {
                Ok(Some(answer)) => replies.answers.push((Name::clone(&entry.name), answer)),
                Ok(None) => replies.declined.push(Name::clone(&entry.name)),
                Err(error) => replies.errors.push((Name::clone(&entry.name), error)),
            }
        }
        replies
    }

    /// How many responders are registered.
    ///
    /// # Examples
    ///
    /// See [`new`](Self::new).
    pub fn responder_count(&self) -> usize {
        self.inner.responders.load().len()
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

impl Responding {
    /// Unregisters the responder: requests that start afterwards do not ask
    /// it. `true` if it was registered.
    ///
    /// # Examples
    ///
    /// See [`Requests::respond`].
    pub fn stop(&self) -> bool {
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
            .field("responders", &self.responder_count())
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
            .finish()
    }
}
