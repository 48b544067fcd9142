//! `Slot<T>`: one connected listener, and `SlotRef<T>`, a list's pointer
//! to one.

use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;

use super::state::StateWord;
#[cfg(loom)]
use crate::base::retire::Liveness;
use crate::error::BoxError;
use crate::sync::{Arc, ErasedArc};

pub(crate) use crate::callback::Callback;
use crate::connection::Policy;

/// A listener: its state word, callback and identity (40 bytes; 56 in
/// its `Arc`, so 64 with its pointer in the list).
pub(crate) struct Slot<T> {
    /// 0 exactly when the listener may be called; see `StateWord`.
    pub(crate) state: StateWord,
    callback: Callback<T>,
    pub(crate) id: u64,
    /// Key and priority, boxed only for a listener that has either: most
    /// have neither, and every byte here is paid per listener.
    extra: Option<Box<Extra>>,
    /// Under loom, freeing the slot writes this cell (the slot itself is
    /// kept until the signal drops) and every emit's read of the slot reads
    /// it (`SlotRef::deref`), as for lists.
    #[cfg(loom)]
    live: Liveness,
}

/// The rarely set parts of a slot.
struct Extra {
    key: Option<ErasedArc<str>>,
    priority: i32,
    /// The signal's own slot (the subscriptions' feeder), which `clear`
    /// keeps and `len` does not count.
    internal: bool,
    /// An `AsyncSignal`'s: `Block` is delivered by the drainer, the others
    /// by a cursor of their own.
    policy: Policy,
}

impl<T> Slot<T> {
    pub(crate) fn new(
        id: u64,
        key: Option<ErasedArc<str>>,
        priority: i32,
        once: bool,
        callback: Callback<T>,
    ) -> Self {
        let extra = (key.is_some() || priority != 0).then(|| {
            Box::new(Extra {
                key,
                priority,
                internal: false,
                policy: Policy::Block,
            })
        });
        Self {
            state: StateWord::new(once),
            callback,
            id,
            extra,
            #[cfg(loom)]
            live: Liveness::new(),
        }
    }

    /// Under loom, marks the slot freed: a later (or racing) read through a
    /// `SlotRef` fails the model.
    #[cfg(loom)]
    pub(crate) fn bury(&self) {
        self.live.bury();
    }

    /// The key the listener was connected under, if any.
    pub(crate) fn key(&self) -> Option<&ErasedArc<str>> {
        self.extra.as_ref().and_then(|extra| extra.key.as_ref())
    }

    /// Makes this the signal's own slot (see `Extra::internal`), first in
    /// its list: it reports the highest priority.
    pub(crate) fn set_internal(&mut self) {
        self.extra = Some(Box::new(Extra {
            key: None,
            priority: i32::MAX,
            internal: true,
            policy: Policy::Block,
        }));
    }

    /// This slot, with `policy` (an `AsyncSignal`'s; see `Policy`).
    pub(crate) fn with_policy(mut self, policy: Policy) -> Self {
        if policy != Policy::Block {
            let extra = self.extra.get_or_insert_with(|| {
                Box::new(Extra {
                    key: None,
                    priority: 0,
                    internal: false,
                    policy,
                })
            });
            extra.policy = policy;
        }
        self
    }

    /// What the listener does when it falls behind.
    pub(crate) fn policy(&self) -> Policy {
        self.extra
            .as_ref()
            .map_or(Policy::Block, |extra| extra.policy)
    }

    /// Whether this is the signal's own slot.
    pub(crate) fn is_internal(&self) -> bool {
        self.extra.as_ref().is_some_and(|extra| extra.internal)
    }

    /// Higher runs first; 0 unless set.
    pub(crate) fn priority(&self) -> i32 {
        self.extra.as_ref().map_or(0, |extra| extra.priority)
    }

    /// Calls the listener, in a list that is `simple` (no listener in it
    /// can fail).
    #[inline]
    pub(crate) fn call(&self, value: &T) {
        self.callback.call(value);
    }

    /// Calls the listener and returns its result (see `Listener::try_call`).
    #[inline]
    pub(crate) fn try_call(&self, value: &T) -> Result<(), BoxError> {
        self.callback.try_call(value)
    }

    /// Whether the listener can return an error.
    pub(crate) fn is_fallible(&self) -> bool {
        self.callback.is_fallible()
    }
}

impl<T> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("id", &self.id)
            .field("key", &self.key())
            .field("priority", &self.priority())
            .field("once", &self.state.is_once())
            .finish_non_exhaustive()
    }
}

/// A list's pointer to a slot. Lists do not own their slots: the signal's
/// writer does (the current list's pointers stand for that ownership, and
/// removed slots wait in `BaseSignal`'s `dying` until no list that points
/// to them is left), so building a list copies pointers and changes no
/// reference count. A count per list made every write touch, twice per
/// listener, the cache line every emit reads (the state word and the
/// callback). See `docs/architecture.md`, "Slots belong to the signal".
pub(crate) struct SlotRef<T>(NonNull<Slot<T>>);

impl<T> SlotRef<T> {
    /// Takes over `slot`'s reference: from now on the signal owns the slot
    /// through this pointer and its copies, until [`into_arc`](Self::into_arc)
    /// hands the reference back.
    pub(crate) fn new(slot: Arc<Slot<T>>) -> Self {
        let raw = Arc::into_raw(slot).cast_mut();
        #[allow(unsafe_code)]
        // SAFETY: `Arc::into_raw` returns the (non-null) address of the
        // value; keeping its own pointer keeps the provenance `from_raw`
        // needs.
        Self(unsafe { NonNull::new_unchecked(raw) })
    }

    /// Another pointer to the same slot, for a new list: no count changes.
    pub(crate) fn copy(&self) -> Self {
        Self(self.0)
    }

    /// Whether this points to `slot`.
    pub(crate) fn is(&self, slot: &Slot<T>) -> bool {
        std::ptr::eq(self.0.as_ptr(), slot)
    }

    /// Hands back the reference [`new`](Self::new) took over.
    ///
    /// # Safety
    ///
    /// Called once per slot `new` took over, by the writer, when the slot
    /// leaves the current list (or the signal drops); no other copy may be
    /// turned back.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn into_arc(self) -> Arc<Slot<T>> {
        // SAFETY: the pointer came from `Arc::into_raw` in `new`, and the
        // caller turns it back once.
        unsafe { Arc::from_raw(self.0.as_ptr()) }
    }

    /// A new counted reference to the slot.
    ///
    /// # Safety
    ///
    /// The slot must be alive: in the current list, with the writer lock
    /// held (no write can take it out meanwhile).
    #[allow(unsafe_code)]
    pub(crate) unsafe fn to_arc(&self) -> Arc<Slot<T>> {
        let raw = self.0.as_ptr().cast_const();
        // SAFETY: the slot is alive (the caller's contract), so the `Arc`
        // `new` took over still counts it; the increment gives the new
        // reference that `from_raw` wraps.
        unsafe {
            Arc::increment_strong_count(raw);
            Arc::from_raw(raw)
        }
    }
}

impl<T> Deref for SlotRef<T> {
    type Target = Slot<T>;

    #[inline(always)]
    fn deref(&self) -> &Slot<T> {
        #[allow(unsafe_code)]
        // SAFETY: a `SlotRef` lives only in a list (`List::slots`) or in the
        // writer's vectors while it builds one, under the writer lock, and
        // is reached only through them. The writer frees a slot only once
        // it has left the current list and no list still pointing to it is
        // left (`BaseSignal::free_dying`, after a reclaim: every list freed
        // was read by no emit and held by no `Arc` holder, see `retire`).
        // So while the list that holds this pointer can be read, the slot
        // is alive. Slots are never mutated through it but by atomics.
        let slot = unsafe { self.0.as_ref() };
        #[cfg(loom)]
        slot.live.check("an emit read a slot after it was freed");
        slot
    }
}

#[allow(unsafe_code)]
// SAFETY: a `SlotRef` is a shared reference to a slot that another thread
// may free after it (as an `Arc<Slot<T>>` is), so it is `Send` and `Sync`
// exactly when such an `Arc` is.
unsafe impl<T> Send for SlotRef<T> where Slot<T>: Send + Sync {}

#[allow(unsafe_code)]
// SAFETY: as for `Send`.
unsafe impl<T> Sync for SlotRef<T> where Slot<T>: Send + Sync {}

impl<T> fmt::Debug for SlotRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
