//! Handing each worker, at shutdown, the started processes it must unwind.
//!
//! A started process's stack may hold references into its worker thread's
//! thread-locals (or a lock guard, or anything else tied to that thread), so
//! its forced unwind must run on that thread, before the thread ends and its
//! thread-locals are freed. The runtime's stopper and the workers meet here:
//!
//! 1. every worker, once it has stopped running processes, says so and waits;
//! 2. the stopper, once all have, takes every process out of the table, tears
//!    down the unstarted ones itself (only a `Send` body to drop) and hands each
//!    worker the started ones whose home it is;
//! 3. each worker tears down its own, then ends; the stopper joins the threads
//!    and only then frees the blocks.
//!
//! A worker whose thread died (a bug in the runtime) never takes its list: the
//! stopper then leaks those processes rather than unwind them elsewhere.

use crate::scheduler::ProcRef;
use crate::sync::{Condvar, Mutex, lock};

/// See the module docs.
pub(crate) struct Teardown {
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    stopped: usize,
    /// Per worker: `Some` once the stopper has handed it its processes.
    lists: Vec<Option<Vec<ProcRef>>>,
    /// Per worker: whether it has taken its list.
    taken: Vec<bool>,
}

impl Teardown {
    pub(crate) fn new(workers: usize) -> Teardown {
        Teardown {
            state: Mutex::new(State { stopped: 0, lists: vec![None; workers], taken: vec![false; workers] }),
            changed: Condvar::new(),
        }
    }

    /// A worker stopped running processes: waits for the ones it must tear down.
    pub(crate) fn stopped_and_wait(&self, worker: usize) -> Vec<ProcRef> {
        let mut state = lock(&self.state);
        state.stopped += 1;
        self.changed.notify_all();
        loop {
            if let Some(list) = state.lists[worker].take() {
                state.taken[worker] = true;
                return list;
            }
            state = wait(&self.changed, state);
        }
    }

    /// The stopper: waits until each of `workers` has either stopped or ended
    /// (`ended` counts the threads that are gone: a worker that died never
    /// reports, and a stopped one waits here, alive, for its list).
    pub(crate) fn wait_until_stopped(&self, workers: usize, ended: impl Fn() -> usize) {
        let mut state = lock(&self.state);
        while state.stopped + ended() < workers {
            state = wait_timeout(&self.changed, state);
        }
    }

    /// The stopper: hands every worker its list.
    pub(crate) fn hand_out(&self, lists: Vec<Vec<ProcRef>>) {
        let mut state = lock(&self.state);
        for (slot, list) in state.lists.iter_mut().zip(lists) {
            *slot = Some(list);
        }
        self.changed.notify_all();
    }

    /// After joining the workers: whether `worker` took its list (if not, its
    /// processes were not torn down and must not be freed).
    pub(crate) fn was_taken(&self, worker: usize) -> bool {
        lock(&self.state).taken[worker]
    }
}

fn wait<'a>(condvar: &Condvar, guard: crate::sync::MutexGuard<'a, State>) -> crate::sync::MutexGuard<'a, State> {
    #[cfg(not(loom))]
    {
        condvar.wait(guard).unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        condvar.wait(guard).unwrap()
    }
}

fn wait_timeout<'a>(
    condvar: &Condvar,
    guard: crate::sync::MutexGuard<'a, State>,
) -> crate::sync::MutexGuard<'a, State> {
    #[cfg(not(loom))]
    {
        condvar
            .wait_timeout(guard, std::time::Duration::from_millis(10))
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }
    #[cfg(loom)]
    {
        condvar.wait(guard).unwrap()
    }
}
