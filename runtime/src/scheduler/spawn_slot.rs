//! A worker's spawn slot: the process its running process spawned last, not
//! started yet. The worker runs it next (a child often works on what its
//! parent just handed it), like a LIFO slot; but unlike the LIFO slot, which
//! only its owner touches, another thread may take it: if the spawning
//! process then holds the worker (blocked in a system call outside
//! `Cx::blocking`, or computing), the watchdog moves the child to where any
//! worker can start it. A process that has not started holds nothing on a
//! stack, so it may start on any thread.
//!
//! Invariant: a node sits in one slot at most once and is handed out by
//! exactly one swap (the owner's `put` or `take`, or the rescuer's `rescue`).
//!
//! Ordering: the owner publishes a node with a Release swap; the rescuer's
//! Acquire swap pairs with it, so the rescuer (and whoever it hands the node
//! to) sees the node as its spawner built it (loom model `spawn_slot_rescue`).
//! The owner's own `take` and the displaced node `put` returns need no
//! ordering: the slot only ever holds nodes the owner put there itself.

use std::ptr::{self, NonNull};

use crate::sync::{AtomicPtr, Ordering, mutated};

/// See the module docs.
pub struct SpawnSlot<T> {
    node: AtomicPtr<T>,
}

// SAFETY: the slot only moves pointers between threads; the node they point to
// is handed over whole (see `put`), so it is shared as a `T: Sync` is.
unsafe impl<T: Sync> Send for SpawnSlot<T> {}
// SAFETY: as above; every access to `node` is atomic.
unsafe impl<T: Sync> Sync for SpawnSlot<T> {}

impl<T> Default for SpawnSlot<T> {
    fn default() -> Self {
        SpawnSlot { node: AtomicPtr::new(ptr::null_mut()) }
    }
}

impl<T> SpawnSlot<T> {
    /// The owner puts `node` in the slot; returns the node it displaces (the
    /// owner queues that one elsewhere).
    ///
    /// # Safety
    /// Only the owning worker calls `put`. `node` is in no queue or slot and
    /// stays alive until whoever takes it from here has run it.
    pub unsafe fn put(&self, node: NonNull<T>) -> Option<NonNull<T>> {
        let publish = if mutated("spawn_slot_put_relaxed") { Ordering::Relaxed } else { Ordering::Release };
        // Release: pairs with the Acquire swap of `rescue`. The displaced node
        // was put by this thread, so reading it needs nothing more.
        NonNull::new(self.node.swap(node.as_ptr(), publish))
    }

    /// The owner takes the node, if the rescuer has not.
    pub fn take(&self) -> Option<NonNull<T>> {
        // Relaxed: only the owner puts nodes here, so a node read here is its
        // own; the look first keeps the usual empty case free of an RMW.
        if self.node.load(Ordering::Relaxed).is_null() {
            return None;
        }
        NonNull::new(self.node.swap(ptr::null_mut(), Ordering::Relaxed))
    }

    /// Any thread takes the node (the watchdog, from a worker held up).
    pub fn rescue(&self) -> Option<NonNull<T>> {
        // Relaxed look: nothing is read through a null.
        if self.node.load(Ordering::Relaxed).is_null() {
            return None;
        }
        // Acquire: pairs with the Release swap of `put`.
        NonNull::new(self.node.swap(ptr::null_mut(), Ordering::Acquire))
    }

    /// Whether a node sits here (a sample: the rescuer may take it meanwhile).
    pub fn is_occupied(&self) -> bool {
        // Relaxed: a sample, nothing is read through it.
        !self.node.load(Ordering::Relaxed).is_null()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_owner_gets_back_what_it_displaces_and_a_rescued_node_is_gone() {
        let (mut a, mut b) = (1u32, 2u32);
        let (a, b) = (NonNull::from(&mut a), NonNull::from(&mut b));
        let slot = SpawnSlot::default();
        // SAFETY: this test is the owner; the nodes outlive the slot's use.
        unsafe {
            assert_eq!(slot.put(a), None);
            assert_eq!(slot.put(b), Some(a));
        }
        assert!(slot.is_occupied());
        assert_eq!(slot.rescue(), Some(b));
        assert_eq!(slot.take(), None, "rescued: the owner no longer finds it");
        assert_eq!(slot.rescue(), None);
        // SAFETY: as above.
        unsafe { assert_eq!(slot.put(a), None) };
        assert_eq!(slot.take(), Some(a));
        assert!(!slot.is_occupied());
    }
}
