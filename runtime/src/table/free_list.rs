//! A FIFO of freed slot Pids kept in fixed-size segments.
//!
//! A mass exit frees a slot per process, so these lists can grow by a hundred
//! thousand entries in a few milliseconds. A `VecDeque` grows by reallocating
//! and copying onto fresh memory, whose first touch is costly (D20); segments
//! never move once written,
//! and whole segments pass between a worker's list and the shared one by pointer.
//!
//! Invariants: `len` is the number of Pids not yet taken, summed over the
//! segments; only the last segment can be empty (kept so a list that drains
//! and fills again reuses its buffer).

use std::collections::VecDeque;

use crate::pid::Pid;

/// Pids a segment holds: 4 KiB of them.
const SEGMENT: usize = 512;

struct Segment {
    pids: Vec<Pid>,
    /// Pids before this index have been taken.
    taken: usize,
}

impl Segment {
    fn remaining(&self) -> usize {
        self.pids.len() - self.taken
    }
}

/// Freed slots, oldest first.
#[derive(Default)]
pub struct FreeList {
    segments: VecDeque<Segment>,
    len: usize,
}

impl FreeList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn push_back(&mut self, pid: Pid) {
        match self.segments.back_mut() {
            Some(last) if last.pids.len() < SEGMENT => last.pids.push(pid),
            _ => {
                let mut pids = Vec::with_capacity(SEGMENT);
                pids.push(pid);
                self.segments.push_back(Segment { pids, taken: 0 });
            }
        }
        self.len += 1;
    }

    pub fn pop_front(&mut self) -> Option<Pid> {
        let only_one = self.segments.len() == 1;
        let first = self.segments.front_mut()?;
        let pid = *first.pids.get(first.taken)?;
        first.taken += 1;
        if first.remaining() == 0 {
            if only_one {
                first.pids.clear();
                first.taken = 0;
            } else {
                self.segments.pop_front();
            }
        }
        self.len -= 1;
        Some(pid)
    }

    /// Moves the oldest Pids of `self` to the back of `to`, whole segments at a
    /// time, until at least `at_least` have moved or `self` is empty.
    pub fn move_oldest(&mut self, at_least: usize, to: &mut FreeList) {
        let mut moved = 0;
        while moved < at_least {
            let Some(segment) = self.segments.pop_front() else { break };
            let count = segment.remaining();
            if count == 0 {
                continue;
            }
            moved += count;
            self.len -= count;
            to.len += count;
            if to.segments.back().is_some_and(|last| last.remaining() == 0) {
                to.segments.pop_back();
            }
            to.segments.push_back(segment);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push,
        Pop,
        /// Move at least this many to the other list, then that many back.
        MoveAway(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => Just(Op::Push),
            3 => Just(Op::Pop),
            1 => (0..2 * SEGMENT).prop_map(Op::MoveAway),
        ]
    }

    proptest! {
        /// Two lists passing segments back and forth give out every Pid once,
        /// oldest first within each list, like two `VecDeque`s would.
        #[test]
        fn two_lists_behave_like_two_queues(ops in proptest::collection::vec((op(), any::<bool>()), 0..3000)) {
            let mut lists = [FreeList::default(), FreeList::default()];
            let mut models: [VecDeque<Pid>; 2] = Default::default();
            let mut next = 0u32;
            for (op, which) in ops {
                let (this, other) = (usize::from(which), usize::from(!which));
                match op {
                    Op::Push => {
                        let pid = Pid::new(0, next, 0);
                        next += 1;
                        lists[this].push_back(pid);
                        models[this].push_back(pid);
                    }
                    Op::Pop => prop_assert_eq!(lists[this].pop_front(), models[this].pop_front()),
                    Op::MoveAway(at_least) => {
                        let [a, b] = &mut lists;
                        let (from, to) = if which { (b, a) } else { (a, b) };
                        let before = from.len();
                        from.move_oldest(at_least, to);
                        let moved = before - from.len();
                        prop_assert!(moved >= at_least.min(before), "moved {} of {} asked", moved, at_least);
                        prop_assert!(moved < at_least + SEGMENT, "moved {} for {} asked", moved, at_least);
                        let taken: Vec<Pid> = models[this].drain(..moved).collect();
                        models[other].extend(taken);
                    }
                }
                for i in 0..2 {
                    prop_assert_eq!(lists[i].len(), models[i].len());
                }
            }
            for i in 0..2 {
                while let Some(pid) = models[i].pop_front() {
                    prop_assert_eq!(lists[i].pop_front(), Some(pid));
                }
                prop_assert_eq!(lists[i].pop_front(), None);
            }
        }
    }
}
