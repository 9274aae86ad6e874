//! Free stacks linked through their own memory.
//!
//! A mass exit returns a stack per process: a list that needed memory of its
//! own would allocate on the exit path, and fresh memory here costs ~2 ms per
//! 2 MiB huge page the allocator first touches (that was ~10 % of link_chain).
//! Each free stack instead holds a two-word record at its top, in the warm page
//! that its last process used (and that trimming never gives back): the next
//! stack of the list and its own bottom. Pushing writes a line the worker just
//! used; popping reads a line the next process is about to use anyway.
//!
//! Invariant: a `StackList` owns exactly the `len` stacks reachable from
//! `head`, each free (no coroutine runs on it) and carrying a valid record.

use super::PooledStack;

/// Bytes reserved at the top of a free stack for its record.
const RECORD: usize = 2 * size_of::<usize>();

/// A LIFO list of free stacks (most recently used first: the warmest).
#[derive(Default)]
pub(crate) struct StackList {
    /// The `top` of the first stack, 0 if empty.
    head: usize,
    len: usize,
}

impl StackList {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn push(&mut self, stack: PooledStack) {
        // The slab's addresses were exposed when the pool mapped it.
        let record = std::ptr::with_exposed_provenance_mut::<[usize; 2]>(stack.top - RECORD);
        // SAFETY: `stack` is free and owned by this call; the RECORD bytes below
        // its top lie in its mapped, writable usable area (which is far larger),
        // and no coroutine uses them while it is free; the address is
        // usize-aligned (`top` is page-aligned).
        unsafe { record.write([self.head, stack.bottom]) };
        self.head = stack.top;
        self.len += 1;
    }

    pub(crate) fn pop(&mut self) -> Option<PooledStack> {
        if self.head == 0 {
            return None;
        }
        let top = self.head;
        // SAFETY: `head` is the top of a free stack this list owns; `push` wrote
        // its record there and nothing has written to it since.
        let [next, bottom] = unsafe { std::ptr::with_exposed_provenance::<[usize; 2]>(top - RECORD).read() };
        self.head = next;
        self.len -= 1;
        Some(PooledStack { bottom, top })
    }
}
