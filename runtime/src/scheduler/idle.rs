//! Parking idle workers, and waking exactly one when work appears.
//!
//! One word counts the *unparked* workers and, among them, the *searching* ones
//! (looking for work to steal). A producer that queued work wakes a parked worker
//! only if nobody is searching (a searcher will find the work) and some worker is
//! parked. A searcher that finds work while it was the last searcher wakes one
//! more, so a burst spreads over the pool one worker at a time.
//!
//! No lost wake-up: a worker going to park first publishes that it is parked
//! (SeqCst RMW), then looks at every queue once more; a producer first publishes
//! its work, then (SeqCst fence) reads the counts. Whatever the interleaving, one
//! of them sees the other (loom model `worker_parking`).

use crate::sync::{AtomicUsize, Condvar, Mutex, Ordering, fence, lock, mutated};

const SEARCHING_MASK: usize = 0xFFFF;
const UNPARKED_ONE: usize = 1 << 16;

/// The counts and the list of parked workers.
pub struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Sleepers>,
    workers: usize,
}

/// Who is parked, and how each was last woken.
struct Sleepers {
    parked: Vec<usize>,
    /// Per worker: woken for its own inbox (`wake_worker`), so not counted
    /// as searching (see `transition_from_parked`).
    woken_for_inbox: Vec<bool>,
}

impl Idle {
    /// All `workers` start unparked and not searching.
    pub fn new(workers: usize) -> Self {
        Idle {
            state: AtomicUsize::new(workers * UNPARKED_ONE),
            sleepers: Mutex::new(Sleepers { parked: Vec::new(), woken_for_inbox: vec![false; workers] }),
            workers,
        }
    }

    /// After queuing work (or, for a direct hand-over to the worker it
    /// returns, before: see `WorkerCore::offer_new`): the worker to wake, if one
    /// should be (it is then counted as unparked and searching; the caller must
    /// unpark it).
    pub fn worker_to_notify(&self) -> Option<usize> {
        // SeqCst fence pairs with the SeqCst RMW in `transition_to_parked`: either
        // this sees the parked worker, or that worker's re-check sees our work.
        if !mutated("notify_without_fence") {
            fence(Ordering::SeqCst);
        }
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = lock(&self.sleepers);
        if !self.should_notify() {
            return None;
        }
        let worker = sleepers.parked.pop()?;
        // SeqCst: part of the single order the parking protocol relies on.
        self.state.fetch_add(UNPARKED_ONE + 1, Ordering::SeqCst);
        Some(worker)
    }

    /// After pushing to `worker`'s inbox: `true` if that worker was parked and
    /// is now counted as unparked (the caller must unpark it). Not as
    /// searching: it has work of its own, and a searcher that finds work wakes
    /// another one, which here would find nothing (other workers cannot run
    /// what its inbox holds).
    pub fn wake_worker(&self, worker: usize) -> bool {
        // SeqCst fence pairs with the SeqCst RMW and fence of `transition_to_parked`:
        // either this sees the worker parked, or its re-check of the inbox sees
        // the push (scheduler::inbox).
        if !mutated("home_wake_without_fence") {
            fence(Ordering::SeqCst);
        }
        // SeqCst: see above. Nobody parked: nothing to do, and no lock taken.
        if self.state.load(Ordering::SeqCst) / UNPARKED_ONE >= self.workers {
            return false;
        }
        let mut sleepers = lock(&self.sleepers);
        let Some(position) = sleepers.parked.iter().position(|&w| w == worker) else { return false };
        sleepers.parked.swap_remove(position);
        sleepers.woken_for_inbox[worker] = true;
        // SeqCst: see `worker_to_notify`.
        self.state.fetch_add(UNPARKED_ONE, Ordering::SeqCst);
        true
    }

    /// Wakes any one parked worker regardless of searchers (a new earliest timer).
    pub fn any_sleeper(&self) -> Option<usize> {
        let mut sleepers = lock(&self.sleepers);
        let worker = sleepers.parked.pop()?;
        // SeqCst: see `worker_to_notify`.
        self.state.fetch_add(UNPARKED_ONE + 1, Ordering::SeqCst);
        Some(worker)
    }

    fn should_notify(&self) -> bool {
        // SeqCst: see `worker_to_notify`.
        let state = self.state.load(Ordering::SeqCst);
        state & SEARCHING_MASK == 0 && state / UNPARKED_ONE < self.workers
    }

    /// Whether every worker is parked (SeqCst: the watchdog's rest relies on
    /// it; see `watchdog::Alarm`).
    pub fn all_parked(&self) -> bool {
        self.state.load(Ordering::SeqCst) / UNPARKED_ONE == 0
    }

    /// A worker with no local work wants to search. `false`: enough are searching.
    pub fn transition_to_searching(&self) -> bool {
        // SeqCst: see `worker_to_notify`.
        let state = self.state.load(Ordering::SeqCst);
        if 2 * (state & SEARCHING_MASK) >= self.workers.max(2) {
            return false;
        }
        self.state.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// A searching worker found work. `true`: it was the last searcher (it should
    /// wake another so that someone keeps looking).
    pub fn transition_from_searching(&self) -> bool {
        // SeqCst: see `worker_to_notify`.
        self.state.fetch_sub(1, Ordering::SeqCst) & SEARCHING_MASK == 1
    }

    /// A worker is about to park. `true`: it was the last searcher, so it must look
    /// at the queues once more (and wake someone if there is work). Either way it
    /// must then look at its own inbox once more, and not sleep if it holds work.
    pub fn transition_to_parked(&self, worker: usize, searching: bool) -> bool {
        let mut sleepers = lock(&self.sleepers);
        // SeqCst: pairs with the fence in `worker_to_notify`.
        let before = self.state.fetch_sub(UNPARKED_ONE + usize::from(searching), Ordering::SeqCst);
        sleepers.parked.push(worker);
        // SeqCst fence: the caller's re-check of the queues comes after it, so with
        // the producer's fence in `worker_to_notify` one of the two sees the other
        // (fences make it hold without relying on SeqCst accesses alone).
        fence(Ordering::SeqCst);
        searching && before & SEARCHING_MASK == 1
    }

    /// A worker woke up. If nobody woke it (a timeout), it takes itself off the
    /// parked list. Either way it is now unparked; the result says whether it
    /// is counted as searching (it is, unless it was woken for its own inbox).
    #[must_use]
    pub fn transition_from_parked(&self, worker: usize) -> bool {
        let mut sleepers = lock(&self.sleepers);
        if let Some(position) = sleepers.parked.iter().position(|&w| w == worker) {
            sleepers.parked.swap_remove(position);
            // SeqCst: see `worker_to_notify`.
            self.state.fetch_add(UNPARKED_ONE + 1, Ordering::SeqCst);
            return true;
        }
        !std::mem::take(&mut sleepers.woken_for_inbox[worker])
    }
}

/// Where one worker sleeps.
#[derive(Default)]
pub struct Parker {
    notified: Mutex<bool>,
    wakeup: Condvar,
}

impl Parker {
    /// Sleeps until `unpark` (which may have come first) or `timeout`.
    pub fn park(&self, timeout: Option<std::time::Duration>) {
        let mut notified = lock(&self.notified);
        while !*notified {
            match timeout {
                Some(timeout) => {
                    #[cfg(not(loom))]
                    {
                        let (guard, result) = self
                            .wakeup
                            .wait_timeout(notified, timeout)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        notified = guard;
                        if result.timed_out() {
                            break;
                        }
                    }
                    #[cfg(loom)]
                    {
                        let _ = timeout;
                        notified = self.wakeup.wait(notified).unwrap();
                    }
                }
                None => {
                    #[cfg(not(loom))]
                    {
                        notified = self.wakeup.wait(notified).unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    #[cfg(loom)]
                    {
                        notified = self.wakeup.wait(notified).unwrap();
                    }
                }
            }
        }
        *notified = false;
    }

    /// Wakes the worker (or makes its next `park` return at once).
    pub fn unpark(&self) {
        *lock(&self.notified) = true;
        self.wakeup.notify_one();
    }
}
