//! Receive timeouts and `sleep`: a runtime-wide deadline queue.
//!
//! An entry names a process by Pid and by the *wait generation* of the receive
//! that armed it. Firing an entry stores that generation in the process's
//! `timeout` word and wakes it like a message would; the receive compares the
//! word with its own generation, so a stale timer (its receive already matched a
//! message) can only cause a spurious wake-up, never a timeout of a later receive.
//! A receive matches the mailbox once more after the timeout fired, so a message
//! racing the timer is never lost (the loom model `timer_vs_message`).
//!
//! Cancelling is lazy (the generation check); entries of finished receives drop
//! out when due. Any worker fires every due entry (a parked worker sleeps until
//! the earliest deadline), so one busy worker cannot stall another's timeouts.
//! A binary heap behind a mutex: receives with a timeout are not the hot path of
//! any workload; timing wheels would cut the lock if they become one.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::pid::Pid;
use crate::sync::{AtomicU64, Mutex, Ordering, lock};

/// No deadline pending.
const NONE: u64 = u64::MAX;

/// The highest wait generation whose timer has fired for one process (timers of
/// older waits may fire late, in any order: hence a maximum).
pub struct FiredTimer(AtomicU64);

impl Default for FiredTimer {
    fn default() -> Self {
        FiredTimer(AtomicU64::new(0))
    }
}

impl FiredTimer {
    /// The timer of wait `generation` fired. The caller then wakes the process
    /// (`StateWord::wake`), whose Release carries this store to the run it queues.
    pub fn fire(&self, generation: u64) {
        // Release pairs with the Acquire in `has_fired`, for a run that was not
        // queued by this timer's wake-up (a message woke it) yet reads this value.
        // A maximum: a late timer of an older wait must not hide this one.
        self.0.fetch_max(generation, Ordering::Release);
    }

    /// Whether the timer of wait `generation` has fired.
    pub fn has_fired(&self, generation: u64) -> bool {
        // Acquire pairs with the Release of `fire`.
        self.0.load(Ordering::Acquire) >= generation
    }
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: u64,
    pid: Pid,
    generation: u64,
}

/// Deadlines of one runtime, in nanoseconds since it started.
pub(crate) struct Timers {
    origin: Instant,
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    /// The earliest deadline in the heap, for a lock-free "anything due?" check.
    earliest: AtomicU64,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers { origin: Instant::now(), heap: Mutex::new(BinaryHeap::new()), earliest: AtomicU64::new(NONE) }
    }

    /// Now, on this runtime's clock.
    pub(crate) fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos().min(NONE as u128 - 1) as u64
    }

    /// The deadline `after` from now.
    pub(crate) fn deadline_after(&self, after: Duration) -> u64 {
        self.now().saturating_add(after.as_nanos().min(NONE as u128 - 2) as u64).min(NONE - 1)
    }

    /// Arms a timer for `pid`'s wait `generation`.
    pub(crate) fn arm(&self, deadline: u64, pid: Pid, generation: u64) {
        let mut heap = lock(&self.heap);
        heap.push(Reverse(Entry { deadline, pid, generation }));
        // Relaxed: `earliest` is a hint read before taking the lock; the heap under
        // the mutex is the truth, and a worker about to park re-reads it locked.
        self.earliest.fetch_min(deadline, Ordering::Relaxed);
    }

    /// How long until the earliest deadline (`None`: no timer pending).
    pub(crate) fn until_next(&self) -> Option<Duration> {
        // Relaxed: see `arm`.
        let earliest = self.earliest.load(Ordering::Relaxed);
        (earliest != NONE).then(|| Duration::from_nanos(earliest.saturating_sub(self.now())))
    }

    /// Fires every entry due by now: `fire(pid, generation)` for each, outside the lock.
    pub(crate) fn fire_due(&self, mut fire: impl FnMut(Pid, u64)) {
        // Relaxed: see `arm`; a miss here is caught at the next check.
        if self.earliest.load(Ordering::Relaxed) > self.now() {
            return;
        }
        let now = self.now();
        let mut due = Vec::new();
        {
            let mut heap = lock(&self.heap);
            while let Some(Reverse(entry)) = heap.peek() {
                if entry.deadline > now {
                    break;
                }
                let Some(Reverse(entry)) = heap.pop() else { break };
                due.push((entry.pid, entry.generation));
            }
            let next = heap.peek().map_or(NONE, |Reverse(entry)| entry.deadline);
            // Relaxed: written under the lock; see `arm`.
            self.earliest.store(next, Ordering::Relaxed);
        }
        for (pid, generation) in due {
            fire(pid, generation);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_due_entries_fire_in_deadline_order() {
        let timers = Timers::new();
        let a = Pid::new(0, 1, 0);
        let b = Pid::new(0, 2, 0);
        let now = timers.now();
        timers.arm(now + 2, b, 7);
        timers.arm(now + 1, a, 3);
        timers.arm(now + 60_000_000_000, a, 4);
        std::thread::sleep(Duration::from_millis(1));
        let mut fired = Vec::new();
        timers.fire_due(|pid, generation| fired.push((pid, generation)));
        assert_eq!(fired, vec![(a, 3), (b, 7)]);
        assert!(timers.until_next().unwrap() > Duration::from_secs(50));
    }
}
