//! What the owner takes from its signal queue: a [`Batch`], oldest first,
//! and, when every signal in it is a message, a [`SmallList`] of messages
//! still in their queue nodes.
//!
//! Invariant: a batch or list owns its nodes outright (no other thread keeps
//! a pointer to a taken node); dropping it drops the values not taken.

use std::marker::PhantomData;
use std::ptr;

use super::{Link, Node, OwnsNodes, is_small, untagged};

/// Signals taken from a queue, oldest first; dropping it drops the rest.
pub struct Batch<T, S = T> {
    /// Tagged (see `SMALL`).
    next: *mut Link,
    /// The newest node (tagged) as taken, null for an empty batch; only
    /// meaningful while nothing has been taken off.
    last: *mut Link,
    remaining: usize,
    /// How many of the nodes hold the full form `T`.
    full_form: usize,
    _owns: OwnsNodes<T, S>,
}

impl<T, S> Batch<T, S> {
    pub(super) fn empty() -> Self {
        Batch { next: ptr::null_mut(), last: ptr::null_mut(), remaining: 0, full_form: 0, _owns: PhantomData }
    }

    /// The batch as a list of small forms, if every value in it was pushed as
    /// one (no full-form node): the values then stay in their nodes until
    /// taken. `Err(self)` otherwise.
    pub fn into_small_only(self) -> Result<SmallList<S>, Self> {
        if self.full_form != 0 {
            return Err(self);
        }
        let batch = std::mem::ManuallyDrop::new(self);
        Ok(SmallList { next: batch.next, last: batch.last, len: batch.remaining, _owns: PhantomData })
    }

    /// # Safety
    /// `head` must be a null-terminated list of tagged node pointers from
    /// `Box::into_raw` that the caller owns exclusively.
    pub(super) unsafe fn reversed(mut head: *mut Link) -> Self {
        let last = head;
        let mut reversed = ptr::null_mut();
        let mut count = 0;
        let mut full_form = 0;
        while !head.is_null() {
            count += 1;
            full_form += usize::from(!is_small(head));
            let link = untagged(head);
            // SAFETY: the caller owns every node of the list.
            let next = unsafe { (*link).next };
            // SAFETY: as above; relinking nodes this thread owns (each pointer
            // keeps the tag of the node it points to).
            unsafe { (*link).next = reversed };
            reversed = head;
            head = next;
        }
        Batch { next: reversed, last, remaining: count, full_form, _owns: PhantomData }
    }

    /// Takes the first node off the batch: its value, in whichever form it
    /// was pushed (`Err` for the small one).
    fn take_next(&mut self) -> Option<Result<T, S>> {
        if self.next.is_null() {
            return None;
        }
        let small = is_small(self.next);
        let link = untagged(self.next);
        // SAFETY: every node in a batch is exclusively owned by it.
        self.next = unsafe { (*link).next };
        self.remaining -= 1;
        if !small {
            self.full_form -= 1;
        }
        Some(if small {
            // SAFETY: the tag says this node is a `Node<S>` from Box::into_raw;
            // taking it out of the list made this the last use.
            Err(unsafe { take_value(link.cast::<Node<S>>()) })
        } else {
            // SAFETY: as above, a `Node<T>`.
            Ok(unsafe { take_value(link.cast::<Node<T>>()) })
        })
    }

    /// Drops the first value and frees its node; `false` once empty.
    pub(super) fn free_next(&mut self) -> bool {
        self.take_next().is_some()
    }
}

/// Values taken from a queue that were all pushed in the small form, oldest
/// first, still in their queue nodes: a backlog costs no memory beyond the
/// nodes it already has, and taking a value frees its node. Dropping the list
/// drops the rest.
pub struct SmallList<S> {
    /// Tagged small (see `SMALL`), or null.
    next: *mut Link,
    /// The newest node, meaningful only while `len > 0`.
    last: *mut Link,
    len: usize,
    _owns: PhantomData<Box<Node<S>>>,
}

// SAFETY: the list owns its nodes and their values outright (no other thread
// keeps a pointer to a taken node), like a `Vec<S>`.
unsafe impl<S: Send> Send for SmallList<S> {}

impl<S> Default for SmallList<S> {
    fn default() -> Self {
        SmallList { next: ptr::null_mut(), last: ptr::null_mut(), len: 0, _owns: PhantomData }
    }
}

impl<S> SmallList<S> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Puts `later` (taken after everything in this list) behind it.
    pub fn append(&mut self, later: SmallList<S>) {
        let later = std::mem::ManuallyDrop::new(later);
        if later.len == 0 {
            return;
        }
        if self.len == 0 {
            self.next = later.next;
        } else {
            // SAFETY: `last` is the newest node of this non-empty list, which
            // owns it; its `next` is null until linked here.
            unsafe { (*untagged(self.last)).next = later.next };
        }
        self.last = later.last;
        self.len += later.len;
    }

    /// The oldest value, in place (it stays in the list).
    pub fn front_mut(&mut self) -> Option<&mut S> {
        if self.len == 0 {
            return None;
        }
        let node = untagged(self.next).cast::<Node<S>>();
        // SAFETY: the list owns its nodes exclusively, the first one holds a
        // value until popped, and `&mut self` keeps the list (and so the node)
        // unchanged for as long as the returned borrow lives.
        let value = unsafe { (*node).value.with_mut(|value| value) };
        // SAFETY: as above; the pointer is to the node's `Option<S>`.
        unsafe { (*value).as_mut() }
    }

    /// Takes the oldest value out and frees its node.
    pub fn pop_front(&mut self) -> Option<S> {
        if self.len == 0 {
            return None;
        }
        let link = untagged(self.next);
        // SAFETY: every node in the list is exclusively owned by it.
        self.next = unsafe { (*link).next };
        self.len -= 1;
        // SAFETY: the list holds only `Node<S>`s from Box::into_raw (checked by
        // `into_small_only`, published by pushes the taking swap acquired);
        // unlinking it made this the last use.
        Some(unsafe { take_value(link.cast::<Node<S>>()) })
    }
}

impl<S> Drop for SmallList<S> {
    fn drop(&mut self) {
        if self.len != 0 {
            drain(self, |list| list.pop_front().is_some());
        }
    }
}

/// Calls `free_one` until it returns `false`, and goes on with the rest if a
/// value's destructor panics (as dropping a `Vec` does), so nothing leaks.
fn drain<L>(list: &mut L, free_one: fn(&mut L) -> bool) {
    struct Rest<'a, L>(&'a mut L, fn(&mut L) -> bool);
    impl<L> Drop for Rest<'_, L> {
        fn drop(&mut self) {
            while (self.1)(self.0) {}
        }
    }
    let rest = Rest(list, free_one);
    while (rest.1)(rest.0) {}
}

/// # Safety
/// `node` came from `Box::into_raw`, is owned by the caller alone, and was
/// either never published or published by a push whose Release the caller has
/// acquired.
unsafe fn take_value<V>(node: *mut Node<V>) -> V {
    // SAFETY: see the function's contract.
    let node = unsafe { Box::from_raw(node) };
    // SAFETY: this batch owns the node; reading through the cell lets loom check
    // that the read is ordered after the sender's write (the push's Release).
    node.value.with_mut(|value| unsafe { (*value).take() }).expect("a node holds its value until taken")
}

impl<T, S: Into<T>> Iterator for Batch<T, S> {
    type Item = T;

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }

    fn next(&mut self) -> Option<T> {
        self.take_next().map(|value| value.unwrap_or_else(Into::into))
    }
}

impl<T, S: Into<T>> ExactSizeIterator for Batch<T, S> {}

impl<T, S> Drop for Batch<T, S> {
    fn drop(&mut self) {
        // Most batches are dropped emptied: skip setting up the drain.
        if self.remaining != 0 {
            drain(self, Batch::free_next);
        }
    }
}
