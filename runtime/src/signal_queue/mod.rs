//! The lock-free MPSC signal queue: everything sent to a process goes through one.
//!
//! Senders push with one CAS onto an intrusive stack; the owner takes the whole
//! stack with one swap and reverses it, so a batch comes out in push order. The
//! CAS on one head linearises all pushes, hence per-sender FIFO (semantics.md §1:
//! if A sends M and then exits, B sees M before A's exit signal).
//!
//! A push reports whether it found the queue empty. Only such a first push
//! must wake the owner: a push that lands on queued signals is taken together
//! with them, by the take that the first of them woke the owner for (a take
//! swaps the whole list, so a node that was seen as the head is not yet taken,
//! and its sender wakes the owner after pushing it). Under a burst of sends
//! this saves the wake-up's read-modify-write on the owner's state word. The
//! loom model `wake_up` checks it. It relies on two rules kept elsewhere: every
//! push by another thread goes through `Kernel::deliver`, which wakes on
//! `First`; and the owner takes in its queue after every resume, before it
//! next waits (a run that cleared `NOTIFIED` then sees what was queued).
//!
//! At exit the owner *seals* the queue (swaps in a sentinel): it gets what was
//! queued, to answer it, and every later push is refused and handed back to its
//! sender. A push racing the seal therefore lands on exactly one side, never lost.
//! The loom model `signal_queue` checks both properties.

use std::marker::PhantomData;
use std::ptr;

use crate::sync::{AtomicPtr, Ordering, UnsafeCell, mutated};

mod batch;

pub use batch::{Batch, SmallList};

/// The part every node starts with. A pointer to a node (the queue head, a
/// `next`) carries a tag bit saying which of the two node types it points to.
#[repr(C)]
struct Link {
    next: *mut Link,
}

#[repr(C)]
struct Node<V> {
    link: Link,
    /// In a (loom-checkable) cell: the owner reads it only after the Acquire
    /// that pairs with the push's Release, and loom verifies exactly that.
    value: UnsafeCell<Option<V>>,
}

/// Ownership of nodes of both kinds (for drop check and auto traits).
type OwnsNodes<T, S> = PhantomData<(Box<Node<T>>, Box<Node<S>>)>;

/// The tag bit of a pointer to a node holding the small form (`S`). Nodes are
/// 8-aligned, so the low bits of their addresses are free.
const SMALL: usize = 2;

fn tagged<V>(node: *mut Node<V>, small: bool) -> *mut Link {
    node.cast::<Link>().map_addr(|address| if small { address | SMALL } else { address })
}

fn untagged(link: *mut Link) -> *mut Link {
    link.map_addr(|address| address & !SMALL)
}

fn is_small(link: *mut Link) -> bool {
    link.addr() & SMALL != 0
}

/// The success ordering of the push CAS. The mutation `signal_push_relaxed`
/// weakens it, for the loom model to show that it is needed.
#[inline(always)]
fn push_publish_ordering() -> Ordering {
    if mutated("signal_push_relaxed") { Ordering::Relaxed } else { Ordering::Release }
}

/// The sentinel head of a sealed queue. Nodes are 8-aligned, so address 1 is none.
fn sealed() -> *mut Link {
    ptr::without_provenance_mut(1)
}

/// Where a push landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a push onto an empty queue must wake its owner"]
pub enum Pushed {
    /// The queue was empty: the caller must make sure the owner looks (wake it).
    First,
    /// Behind signals still queued: whoever pushed the first of them wakes the
    /// owner, and the owner takes this one with them.
    Behind,
}

/// The mutation `push_first_from_stale_load` decides
/// `First`/`Behind` from the head read before the CAS loop instead of the value
/// the successful CAS replaced; the loom model `wake_up` must catch it.
#[inline(always)]
fn first_from_stale_load() -> bool {
    mutated("push_first_from_stale_load")
}

/// A multi-producer, single-consumer queue of `T` that can be sealed once.
///
/// `S` is a small form of `T` (a process's queue: a message, of all its
/// signals): pushed with [`SignalQueue::push_small`], it takes a node of its own
/// size (24 bytes for a message instead of 56; a backlog of messages is that
/// much less fresh memory), and comes out as a `T`.
pub struct SignalQueue<T, S = T> {
    head: AtomicPtr<Link>,
    _owns: OwnsNodes<T, S>,
}

// SAFETY: values move from senders to the owner; the queue hands each value to
// exactly one thread, so `Send` values suffice for both.
unsafe impl<T: Send, S: Send> Send for SignalQueue<T, S> {}
// SAFETY: shared access only pushes (any thread) or takes (the owner); see above.
unsafe impl<T: Send, S: Send> Sync for SignalQueue<T, S> {}

impl<T, S> Default for SignalQueue<T, S> {
    fn default() -> Self {
        Self::with_small_form()
    }
}

impl<T> SignalQueue<T> {
    /// An empty, open queue (no small form; the tests and loom models use it).
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    pub fn new() -> Self {
        Self::with_small_form()
    }
}

impl<T, S> SignalQueue<T, S> {
    /// An empty, open queue whose values can also be pushed in the small form `S`.
    pub fn with_small_form() -> Self {
        SignalQueue { head: AtomicPtr::new(ptr::null_mut()), _owns: PhantomData }
    }

    /// Appends `value`; `Err(value)` if the queue was sealed (its owner has exited).
    pub fn push(&self, value: T) -> Result<Pushed, T> {
        self.push_node(value, false)
    }

    /// Appends the small form of a value, in a node of its size.
    pub fn push_small(&self, value: S) -> Result<Pushed, S> {
        self.push_node(value, true)
    }

    fn push_node<V>(&self, value: V, small: bool) -> Result<Pushed, V> {
        let node =
            Box::into_raw(Box::new(Node { link: Link { next: ptr::null_mut() }, value: UnsafeCell::new(Some(value)) }));
        let link = tagged(node, small);
        // SAFETY: `node` came from Box::into_raw above and is private to this thread.
        match unsafe { self.publish(link, node.cast::<Link>()) } {
            Some(pushed) => Ok(pushed),
            None => {
                // SAFETY: `node` came from Box::into_raw above and was never published.
                let node = unsafe { Box::from_raw(node) };
                Err(node.value.into_inner().expect("a node holds its value until taken"))
            }
        }
    }

    /// Links the private chain `newest` … `oldest` (newest tagged, linked
    /// towards `oldest`; today always one node) in front of the queue with one
    /// CAS: where it landed, or `None` if the queue is sealed (the chain stays
    /// the caller's, with `oldest`'s `next` null).
    ///
    /// # Safety
    /// The nodes of the chain are the caller's alone and unpublished; `oldest`
    /// is the untagged link of its last node.
    #[inline(always)]
    unsafe fn publish(&self, newest: *mut Link, oldest: *mut Link) -> Option<Pushed> {
        // Relaxed: the head is only compared here; what it points to is read by the owner.
        let mut head = self.head.load(Ordering::Relaxed);
        let stale_head = head;
        loop {
            if head == sealed() {
                // SAFETY: the chain is still private to this thread (see the contract).
                unsafe { (*oldest).next = ptr::null_mut() };
                return None;
            }
            // SAFETY: the chain is private to this thread until the CAS publishes it.
            unsafe { (*oldest).next = head };
            // Release pairs with the Acquire swap in `take_all`/`seal`: the owner
            // sees the nodes' contents (and everything the sender did before).
            match self.head.compare_exchange_weak(head, newest, push_publish_ordering(), Ordering::Relaxed) {
                // `head` is what the CAS replaced: the queue's state at the instant
                // the chain joined it (a take in between would have failed the CAS).
                Ok(_) => {
                    let replaced = if first_from_stale_load() { stale_head } else { head };
                    return Some(if replaced.is_null() { Pushed::First } else { Pushed::Behind });
                }
                Err(current) => head = current,
            }
        }
    }

    /// Takes everything queued so far, oldest first. Owner only.
    pub fn take_all(&self) -> Batch<T, S> {
        // Relaxed pre-check keeps the empty case free of a read-modify-write.
        let head = self.head.load(Ordering::Relaxed);
        if head.is_null() || head == sealed() {
            return Batch::empty();
        }
        // Acquire pairs with the Release CAS of every push in the taken list.
        let head = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: the swap made this thread the only owner of the list it returned.
        unsafe { Batch::reversed(head) }
    }

    /// Seals the queue for good and returns what was still queued, oldest first.
    pub fn seal(&self) -> Batch<T, S> {
        // Acquire pairs with the Release CAS of every push in the taken list.
        let head = self.head.swap(sealed(), Ordering::Acquire);
        if head == sealed() {
            return Batch::empty();
        }
        // SAFETY: the swap made this thread the only owner of the list it returned.
        unsafe { Batch::reversed(head) }
    }

    #[cfg_attr(not(loom), allow(dead_code))]
    /// Whether nothing is queued (a hint: a push may land right after).
    pub fn is_empty(&self) -> bool {
        // Acquire pairs with a push's Release so a caller that sees "not empty"
        // and then takes finds the node; used only as a hint otherwise.
        let head = self.head.load(Ordering::Acquire);
        head.is_null() || head == sealed()
    }

    #[cfg_attr(not(loom), allow(dead_code))]
    /// Whether `seal` has been called.
    pub fn is_sealed(&self) -> bool {
        // Acquire pairs with the swap in `seal`.
        self.head.load(Ordering::Acquire) == sealed()
    }
}

impl<T, S> Drop for SignalQueue<T, S> {
    fn drop(&mut self) {
        // Relaxed: `&mut self` rules out other threads; what handed this thread
        // the queue (the epoch collector, a join) ordered their pushes before.
        // A queue sealed at exit (the usual case) needs no read-modify-write.
        if self.head.load(Ordering::Relaxed) != sealed() {
            // Frees the nodes (and drops their values) without converting them.
            let mut batch = self.seal();
            while batch.free_next() {}
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_batch_comes_out_in_push_order() {
        let queue = SignalQueue::new();
        for i in 0..5 {
            assert!(queue.push(i).is_ok());
        }
        assert_eq!(queue.take_all().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert!(queue.is_empty());
        assert!(queue.push(9).is_ok());
        assert_eq!(queue.take_all().collect::<Vec<_>>(), vec![9]);
    }

    #[derive(Debug, PartialEq)]
    enum Form {
        Small(u16),
        Big(String, [u64; 4]),
    }

    impl From<u16> for Form {
        fn from(small: u16) -> Form {
            Form::Small(small)
        }
    }

    /// Small and big nodes mixed in one queue come out in push order, the
    /// small ones as the big type; sealing and dropping free both kinds (Miri
    /// checks the node types and the tag arithmetic).
    #[test]
    fn a_batch_of_small_and_big_nodes_comes_out_in_push_order() {
        let queue: SignalQueue<Form, u16> = SignalQueue::with_small_form();
        let big = |i: u64| Form::Big(format!("big {i}"), [i; 4]);
        assert_eq!(queue.push_small(1), Ok(Pushed::First));
        assert!(queue.push(big(2)).is_ok());
        assert!(queue.push_small(3).is_ok());
        assert!(queue.push(big(4)).is_ok());
        assert_eq!(queue.take_all().collect::<Vec<_>>(), vec![Form::Small(1), big(2), Form::Small(3), big(4)]);
        assert!(queue.push(big(5)).is_ok());
        assert!(queue.push_small(6).is_ok());
        let mut sealed = queue.seal();
        assert_eq!(sealed.next(), Some(big(5)));
        drop(sealed);
        assert_eq!(queue.push_small(7), Err(7));
        assert_eq!(queue.push(big(8)), Err(big(8)));
        let unsealed: SignalQueue<Form, u16> = SignalQueue::with_small_form();
        assert!(unsealed.push(big(9)).is_ok());
        assert!(unsealed.push_small(10).is_ok());
        drop(unsealed);
    }

    /// A batch of small forms only stays in its nodes; later batches go on
    /// behind it in order; what is left is freed with the list (Miri checks the
    /// relinking and that every node is freed once). A batch holding a big
    /// node is refused whole.
    #[test]
    fn a_batch_of_small_values_only_becomes_a_list_that_appends_in_order() {
        let token = Arc::new(());
        let queue: SignalQueue<Form, Arc<()>> = SignalQueue::with_small_form();
        let mut list = SmallList::default();
        for batch in 0..3 {
            for _ in 0..=batch {
                assert!(queue.push_small(Arc::clone(&token)).is_ok());
            }
            list.append(queue.take_all().into_small_only().ok().expect("only small values were pushed"));
        }
        assert_eq!(list.len(), 6);
        assert_eq!(Arc::strong_count(&token), 7);
        drop(list.pop_front());
        drop(list.pop_front());
        assert_eq!((list.len(), Arc::strong_count(&token)), (4, 5));
        list.append(SmallList::default());
        assert!(queue.push_small(Arc::clone(&token)).is_ok());
        list.append(queue.take_all().into_small_only().ok().unwrap());
        drop(list);
        assert_eq!(Arc::strong_count(&token), 1, "every value dropped with the list");

        let mut emptied = SmallList::default();
        assert!(queue.push_small(Arc::clone(&token)).is_ok());
        emptied.append(queue.take_all().into_small_only().ok().unwrap());
        assert!(emptied.pop_front().is_some() && emptied.is_empty());
        assert!(queue.push_small(Arc::clone(&token)).is_ok());
        emptied.append(queue.take_all().into_small_only().ok().unwrap());
        assert_eq!(emptied.len(), 1, "an emptied list takes a new batch as its head");
        drop(emptied);

        let mixed: SignalQueue<Form, u16> = SignalQueue::with_small_form();
        assert!(mixed.push_small(1).is_ok());
        assert!(mixed.push(Form::Big("big".into(), [2; 4])).is_ok());
        assert!(mixed.push_small(3).is_ok());
        let refused = mixed.take_all().into_small_only().err().expect("a big node is in it");
        assert_eq!(refused.collect::<Vec<_>>(), vec![Form::Small(1), Form::Big("big".into(), [2; 4]), Form::Small(3)]);
        assert_eq!(Arc::strong_count(&token), 1);
    }

    /// A value whose destructor panics does not keep the rest of a list (or
    /// batch) from being dropped.
    #[test]
    fn a_batch_or_list_dropped_past_a_panicking_destructor_drops_the_rest() {
        struct Explosive(Option<Arc<()>>);
        impl Drop for Explosive {
            fn drop(&mut self) {
                if self.0.is_none() {
                    panic!("a destructor that panics");
                }
            }
        }
        let token = Arc::new(());
        for small_only in [true, false] {
            let queue: SignalQueue<Explosive, Explosive> = SignalQueue::with_small_form();
            assert!(queue.push_small(Explosive(Some(Arc::clone(&token)))).is_ok());
            assert!(queue.push_small(Explosive(None)).is_ok());
            for _ in 0..3 {
                assert!(queue.push_small(Explosive(Some(Arc::clone(&token)))).is_ok());
            }
            let batch = queue.take_all();
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                if small_only {
                    drop(batch.into_small_only().ok().unwrap());
                } else {
                    drop(batch);
                }
            }));
            assert!(dropped.is_err());
            assert_eq!(Arc::strong_count(&token), 1, "all four others dropped");
        }
    }

    #[test]
    fn only_a_push_onto_an_empty_queue_is_first() {
        let queue = SignalQueue::new();
        assert_eq!(queue.push(1), Ok(Pushed::First));
        assert_eq!(queue.push(2), Ok(Pushed::Behind));
        assert_eq!(queue.push(3), Ok(Pushed::Behind));
        assert_eq!(queue.take_all().count(), 3);
        assert_eq!(queue.push(4), Ok(Pushed::First), "the queue was emptied by the take");
        assert_eq!(queue.seal().count(), 1);
        assert_eq!(queue.push(5), Err(5));
    }

    #[test]
    fn a_sealed_queue_refuses_pushes_and_hands_them_back() {
        let queue = SignalQueue::new();
        assert!(queue.push("before").is_ok());
        assert_eq!(queue.seal().collect::<Vec<_>>(), vec!["before"]);
        assert_eq!(queue.push("after"), Err("after"));
        assert!(queue.is_sealed());
    }

    #[test]
    fn concurrent_senders_keep_their_own_order() {
        let queue = Arc::new(SignalQueue::new());
        let senders: Vec<_> = (0..4u64)
            .map(|sender| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    for seq in 0..10_000u64 {
                        assert!(queue.push((sender, seq)).is_ok());
                    }
                })
            })
            .collect();
        let mut next_expected = [0u64; 4];
        let mut received = 0;
        while received < 40_000 {
            for (sender, seq) in queue.take_all() {
                assert_eq!(seq, next_expected[sender as usize]);
                next_expected[sender as usize] += 1;
                received += 1;
            }
        }
        for sender in senders {
            sender.join().unwrap();
        }
    }

    #[test]
    fn dropping_a_queue_drops_what_it_holds() {
        let token = Arc::new(());
        let queue = SignalQueue::new();
        assert!(queue.push(Arc::clone(&token)).is_ok());
        assert!(queue.push(Arc::clone(&token)).is_ok());
        drop(queue);
        assert_eq!(Arc::strong_count(&token), 1);
    }
}
