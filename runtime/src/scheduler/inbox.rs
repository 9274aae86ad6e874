//! A worker's inbox: the processes of this worker woken by other threads, and
//! new processes that a thread outside the runtime starts beside one of this
//! worker's (a call's mailbox beside its server: `Watchers::near`), which this
//! worker then starts and keeps.
//!
//! A started process runs on its home worker for the rest of its life (see the
//! scheduler's module docs for why), so a thread that wakes it elsewhere — a
//! process on another worker, a `Handle`, a timer fired by another worker —
//! cannot queue it locally: it pushes it here, and unparks the home worker if
//! that one sleeps (`Idle::wake_worker`).
//!
//! The inbox is an intrusive lock-free stack: each node carries its own link,
//! so a push allocates nothing. Many threads push (one CAS); only the owning
//! worker takes, all at once (one swap), and reverses what it took so the
//! processes run in the order they were woken.
//!
//! Invariant: a node is in at most one inbox at a time and at most once (its
//! state word lets exactly one waker queue it: `process::state`); it stays
//! alive until the owner has taken it.
//!
//! No lost wake-up: a pusher publishes the node (SeqCst CAS), then looks for the
//! worker among the parked (`Idle::wake_worker`, behind a SeqCst fence); the
//! worker going to park publishes that (a SeqCst RMW and fence in
//! `Idle::transition_to_parked`), then looks at its inbox once more. One of
//! the two sees the other (loom model `inbox_wake_up`).

use std::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering};

/// What can sit in an inbox: a type with a link field of its own.
///
/// # Safety
/// `inbox_next` must return the same field for the life of the value, used by
/// nothing but [`Inbox`].
pub unsafe trait InboxNode: Sized {
    /// The node's link to the one pushed before it.
    fn inbox_next(&self) -> &AtomicPtr<Self>;
}

/// See the module docs.
pub struct Inbox<T: InboxNode> {
    head: AtomicPtr<T>,
}

// SAFETY: the inbox only moves pointers between threads; what they point to is
// shared by the rules of `push` (the caller hands it over, the owner takes it).
unsafe impl<T: InboxNode + Sync> Send for Inbox<T> {}
// SAFETY: as above; every access to `head` is atomic.
unsafe impl<T: InboxNode + Sync> Sync for Inbox<T> {}

impl<T: InboxNode> Default for Inbox<T> {
    fn default() -> Self {
        Inbox { head: AtomicPtr::new(ptr::null_mut()) }
    }
}

impl<T: InboxNode> Inbox<T> {
    /// Pushes `node` (any thread).
    ///
    /// # Safety
    /// `node` is in no inbox now and stays alive until the owner has taken it.
    pub unsafe fn push(&self, node: NonNull<T>) {
        // SAFETY: passed on from the caller; a lone node is a chain of one.
        unsafe { self.push_chain(node, node) }
    }

    /// Pushes a chain of nodes with one CAS (any thread): `newest` links
    /// through `inbox_next` down to `oldest`, whose link this overwrites. They
    /// come out oldest first, together.
    ///
    /// # Safety
    /// As for [`Inbox::push`], for every node of the chain; the chain's links
    /// are the caller's own until this returns.
    pub unsafe fn push_chain(&self, newest: NonNull<T>, oldest: NonNull<T>) {
        // SAFETY: the caller keeps the node alive, and no other inbox uses its link.
        let link = unsafe { oldest.as_ref() }.inbox_next();
        // Relaxed: the CAS below publishes the head it read, by Release.
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // Relaxed: published by the CAS that follows (its Release part).
            link.store(head, Ordering::Relaxed);
            // SeqCst: its Release part pairs with the owner's Acquire swap (the
            // link travels with it); SeqCst places it in the single order before
            // the fence of `Idle::wake_worker`, which the parking worker's SeqCst
            // RMW and fence pair with.
            match self.head.compare_exchange_weak(head, newest.as_ptr(), Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Whether anything waits (a snapshot, for the parking re-check).
    pub fn is_empty(&self) -> bool {
        // SeqCst: the parking worker's re-check, after its SeqCst fence, must see
        // a push that the pusher's fence did not see it parked for (module docs).
        self.head.load(Ordering::SeqCst).is_null()
    }

    /// Takes everything pushed so far, oldest first (the owning worker only).
    pub fn take_all(&self) -> Taken<T> {
        if self.head.load(Ordering::Relaxed).is_null() {
            // Relaxed: a cheap look; nothing is read through a null head.
            return Taken { next: ptr::null_mut() };
        }
        // Acquire: pairs with the pushes' Release (each node's link, and what the
        // pusher wrote before pushing, are visible when it is walked).
        let mut newest = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        let mut oldest_first: *mut T = ptr::null_mut();
        while let Some(node) = NonNull::new(newest) {
            // SAFETY: a pushed node stays alive until taken, which is now, by this
            // thread only; its link was published by its push.
            let link = unsafe { node.as_ref() }.inbox_next();
            // Relaxed: this thread owns the taken chain (see above).
            newest = link.load(Ordering::Relaxed);
            link.store(oldest_first, Ordering::Relaxed);
            oldest_first = node.as_ptr();
        }
        Taken { next: oldest_first }
    }
}

/// Nodes taken from an inbox, oldest first.
pub struct Taken<T: InboxNode> {
    next: *mut T,
}

impl<T: InboxNode> Iterator for Taken<T> {
    type Item = NonNull<T>;

    fn next(&mut self) -> Option<NonNull<T>> {
        let node = NonNull::new(self.next)?;
        // SAFETY: taken by this thread (`take_all`) and alive until handed on;
        // the link was rewritten by this thread while reversing.
        // Relaxed: written by this thread.
        self.next = unsafe { node.as_ref() }.inbox_next().load(Ordering::Relaxed);
        Some(node)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    struct Node {
        value: u32,
        next: AtomicPtr<Node>,
    }

    // SAFETY: `next` is used by the inbox only.
    unsafe impl InboxNode for Node {
        fn inbox_next(&self) -> &AtomicPtr<Node> {
            &self.next
        }
    }

    #[test]
    fn nodes_come_out_in_the_order_they_were_pushed_and_only_once() {
        let nodes: Vec<Node> = (0..5).map(|value| Node { value, next: AtomicPtr::default() }).collect();
        let inbox = Inbox::default();
        assert!(inbox.is_empty());
        for node in &nodes[..3] {
            // SAFETY: each node is pushed once and outlives the inbox's use of it.
            unsafe { inbox.push(NonNull::from(node)) };
        }
        assert!(!inbox.is_empty());
        // SAFETY: nodes outlive the iteration.
        let values: Vec<u32> = inbox.take_all().map(|node| unsafe { node.as_ref() }.value).collect();
        assert_eq!(values, [0, 1, 2]);
        assert!(inbox.is_empty());
        assert_eq!(inbox.take_all().count(), 0);
        for node in &nodes[3..] {
            // SAFETY: as above.
            unsafe { inbox.push(NonNull::from(node)) };
        }
        // SAFETY: as above.
        let values: Vec<u32> = inbox.take_all().map(|node| unsafe { node.as_ref() }.value).collect();
        assert_eq!(values, [3, 4]);
    }

    #[test]
    fn a_chain_comes_out_oldest_first_after_what_was_there() {
        let nodes: Vec<Node> = (0..4).map(|value| Node { value, next: AtomicPtr::default() }).collect();
        let inbox = Inbox::default();
        // SAFETY: each node is pushed once and outlives the inbox's use of it.
        unsafe { inbox.push(NonNull::from(&nodes[0])) };
        // A chain 3 -> 2 -> 1 (newest first), linked by hand.
        nodes[3].next.store(NonNull::from(&nodes[2]).as_ptr(), Ordering::Relaxed);
        nodes[2].next.store(NonNull::from(&nodes[1]).as_ptr(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { inbox.push_chain(NonNull::from(&nodes[3]), NonNull::from(&nodes[1])) };
        // SAFETY: nodes outlive the iteration.
        let values: Vec<u32> = inbox.take_all().map(|node| unsafe { node.as_ref() }.value).collect();
        assert_eq!(values, [0, 1, 2, 3]);
    }
}
