//! One immutable version of a signal's listener list (`List`), with what
//! it carries besides its slots (`Config`: the error handler, filters,
//! counters). Writers build a new one per change; emits read it without a
//! lock (see the parent module).

#[cfg(loom)]
use crate::base::retire::Liveness;
use crate::base::retire::Retirable;
use crate::base::slot::SlotRef;
use crate::error::EmitError;
use crate::stats::Counters;
use crate::sync::ErasedArc;

/// Called with every error a fallible listener returns under plain `emit`.
pub(crate) type ErrorHandler = ErasedArc<dyn Fn(EmitError) + Send + Sync + 'static>;

/// A signal-level filter: an event it returns `false` for reaches no
/// listener.
pub(crate) type Filter<T> = ErasedArc<dyn Fn(&T) -> bool + Send + Sync + 'static>;

/// What a list carries besides its slots; copied by every write.
pub(crate) struct Config<T> {
    pub(crate) on_error: Option<ErrorHandler>,
    /// With the id each was added under.
    pub(crate) filters: Box<[(u64, Filter<T>)]>,
    /// The sync emit path's counters, once `enable_stats` was called.
    pub(crate) stats: Option<ErasedArc<Counters>>,
    /// `filters` is not empty or `stats` is set: the one flag the sync emit
    /// path tests before taking its out-of-line path.
    pub(crate) observed: bool,
}

impl<T> Clone for Config<T> {
    fn clone(&self) -> Self {
        Self {
            on_error: self.on_error.clone(),
            filters: self.filters.clone(),
            stats: self.stats.clone(),
            observed: self.observed,
        }
    }
}

impl<T> Config<T> {
    /// No error handler, filter or counters.
    pub(crate) fn empty() -> Self {
        Self {
            on_error: None,
            filters: Box::new([]),
            stats: None,
            observed: false,
        }
    }

    /// Whether every filter lets `value` through. Out of line: most
    /// signals have none, and the emit path only tests for that.
    #[cold]
    #[inline(never)]
    pub(crate) fn passes(&self, value: &T) -> bool {
        self.filters.iter().all(|(_, filter)| filter(value))
    }
}

/// One immutable version of the listener list.
pub(crate) struct List<T> {
    /// Sorted by priority (highest first), then id (connection order).
    pub(crate) slots: Box<[SlotRef<T>]>,
    pub(crate) config: Config<T>,
    /// Some listener can fail (`Slot::is_fallible`).
    pub(crate) fallible: bool,
    /// The first slot is the subscriptions' feeder (`Slot::is_internal`).
    pub(crate) fed: bool,
    /// Not `config.observed`, no listener can fail, and no feeder: the sync
    /// emit loop then calls each listener without testing a result (and
    /// without setting the feeder apart from the listeners).
    pub(crate) simple: bool,
    /// Under loom, "freeing" a list writes this cell (the list itself is
    /// kept until the signal drops) and every emit reads it, so loom
    /// reports an emit that can read a list its reclamation does not
    /// happen after.
    #[cfg(loom)]
    live: Liveness,
}

impl<T> List<T> {
    /// Counts a listener call that returned an error, if the counters are
    /// on. Called on error paths only.
    #[cold]
    pub(crate) fn note_failed(&self) {
        if let Some(counters) = &self.config.stats {
            counters.fail();
        }
    }
}

impl<T> List<T> {
    pub(crate) fn new(slots: Box<[SlotRef<T>]>, config: Config<T>) -> Self {
        let fallible = slots.iter().any(|slot| slot.is_fallible());
        let fed = slots.first().is_some_and(|slot| slot.is_internal());
        let simple = !config.observed && !fallible && !fed;
        Self {
            slots,
            config,
            fallible,
            fed,
            simple,
            #[cfg(loom)]
            live: Liveness::new(),
        }
    }

    /// Fails the model if this list was reclaimed, or if its reclamation
    /// can race this read.
    #[cfg(loom)]
    pub(crate) fn check_live(&self) {
        self.live
            .check("an emit read a list after it was reclaimed");
    }
}

impl<T> Retirable for List<T> {
    fn weight(&self) -> usize {
        self.slots.len() + 1
    }

    #[cfg(loom)]
    fn bury(&self) {
        self.live.bury();
    }
}
