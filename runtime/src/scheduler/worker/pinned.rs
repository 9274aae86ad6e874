//! A worker's queue of its own started processes, in turn with the new ones.
//!
//! Two queues feed a worker: `pinned` (started processes: only this worker may
//! run them) and the stealable local queue of processes not started yet. Their
//! common order is FIFO: a process queued here (a yield, a wake-up) runs after
//! the new processes that were already queued when it came. Each entry records
//! how many new processes the worker must take before it (its *turn*, counted
//! in new processes taken here since the worker started); stolen ones are not
//! counted, so an entry may wait a little longer than its place, never more
//! than until the local queue is empty.

use std::collections::VecDeque;

use crate::scheduler::ProcRef;

/// See the module docs.
#[derive(Default)]
pub(super) struct Pinned {
    queue: VecDeque<(ProcRef, u64)>,
    /// New processes taken from the local queue so far.
    new_taken: u64,
}

impl Pinned {
    /// Queues `process` behind the `new_queued` new processes queued now.
    pub(super) fn push(&mut self, process: ProcRef, new_queued: usize) {
        self.queue.push_back((process, self.new_taken + new_queued as u64));
    }

    /// Queues processes woken from elsewhere; their turn is now.
    pub(super) fn extend(&mut self, processes: impl Iterator<Item = ProcRef>) {
        let turn = self.new_taken;
        self.queue.extend(processes.map(|process| (process, turn)));
    }

    /// Whether the oldest entry's turn has come.
    pub(super) fn front_is_due(&self) -> bool {
        self.queue.front().is_some_and(|&(_, turn)| turn <= self.new_taken)
    }

    /// Notes that a new process was taken from the local queue.
    pub(super) fn took_new(&mut self) {
        self.new_taken += 1;
    }

    pub(super) fn pop_front(&mut self) -> Option<ProcRef> {
        self.queue.pop_front().map(|(process, _)| process)
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(super) fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::ptr::NonNull;

    use super::*;

    fn process(n: usize) -> ProcRef {
        ProcRef(NonNull::new(std::ptr::without_provenance_mut(8 * (n + 1))).unwrap())
    }

    #[test]
    fn an_entry_waits_for_the_new_processes_queued_before_it_and_no_more() {
        let mut pinned = Pinned::default();
        pinned.push(process(0), 2);
        assert!(!pinned.front_is_due());
        pinned.took_new();
        assert!(!pinned.front_is_due());
        pinned.took_new();
        assert!(pinned.front_is_due());
        pinned.extend([process(1)].into_iter());
        assert_eq!(pinned.pop_front(), Some(process(0)));
        assert!(pinned.front_is_due(), "woken from elsewhere: due at once");
        assert_eq!(pinned.len(), 1);
    }
}
