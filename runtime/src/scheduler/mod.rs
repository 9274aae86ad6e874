//! The scheduler: N workers, each with a LIFO slot, a [`spawn_slot`], a queue
//! of its started processes, a stealable queue of processes not started yet
//! and an inbox for its processes woken by other threads; a global injector
//! for spawns from outside; stealing from a random victim; parking with one
//! notification per new job (see [`idle`]).
//!
//! **A process runs on one OS thread for its whole life.** The first worker to
//! run it becomes its home (`Pcb::home`); from then on it is queued only there:
//! woken by a process of that worker, in its LIFO slot or queue; woken by any
//! other thread, in that worker's [`inbox`], which unparks it if it sleeps.
//! Stealing, the injector and the watchdog's rescue from a spawn slot move only
//! processes that have not started (their stack holds nothing yet; the body is
//! `Send`), so none of them waits behind a worker its spawner holds up. Rust cannot see what a
//! suspended stack holds — a reference into a thread-local, a `MutexGuard`, an
//! `Rc` also kept in a thread-local, an entered `tracing` span — and the
//! compiler assumes a thread-local's address does not change within a
//! function, so resuming a started process on another thread would let safe
//! code cause undefined behaviour. At shutdown too, each worker unwinds its own
//! processes on its own thread before it ends.
//!
//! Invariants: a process is in at most one queue or slot at a time, and only the
//! worker that took it from there runs it (the state word decides who queues it:
//! `process::state`); a started process is only ever in its home worker's slots
//! and queues; no wake-up is lost (`idle`, `inbox`).

pub(crate) mod idle;
pub(crate) mod inbox;
pub(crate) mod queue;
pub(crate) mod spawn_slot;
pub(crate) mod teardown;
pub(crate) mod watchdog;

use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use crate::process::Pcb;
use crate::sync::AtomicPtr;

/// A queued process. Raw, because the queues do not own processes: the table
/// does, and the state word guarantees a queued process is alive (it is never
/// freed before it has run to its end on a worker). At shutdown the blocks are
/// freed while stale references may remain in the injector, stopped workers'
/// queues and inboxes: nothing reads those after the workers stopped, and
/// nothing may (no `Drop` that walks them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ProcRef(pub(crate) NonNull<Pcb>);

// SAFETY: a ProcRef is handed between threads only through queues, which
// synchronise; the pcb it points to is Sync and outlives its time in any queue.
unsafe impl Send for ProcRef {}

impl ProcRef {
    /// # Safety
    /// The process must not have been freed (true while it is queued or running).
    pub(crate) unsafe fn pcb<'a>(self) -> &'a Pcb {
        // SAFETY: guaranteed by the caller.
        unsafe { self.0.as_ref() }
    }
}

// SAFETY: `inbox_next` is used by the inbox alone.
unsafe impl inbox::InboxNode for Pcb {
    fn inbox_next(&self) -> &AtomicPtr<Pcb> {
        &self.inbox_next
    }
}

/// The runtime-wide part of the scheduler.
pub(crate) struct Scheduler {
    pub(crate) injector: queue::Injector<ProcRef>,
    /// Per worker: its started processes woken by other threads.
    pub(crate) inboxes: Vec<CachePadded<inbox::Inbox<Pcb>>>,
    /// Per worker: the process it spawned last, not started yet.
    pub(crate) spawn_slots: Vec<CachePadded<spawn_slot::SpawnSlot<Pcb>>>,
    pub(crate) stealers: Vec<queue::Stealer<ProcRef>>,
    pub(crate) idle: idle::Idle,
    pub(crate) parkers: Vec<idle::Parker>,
    pub(crate) beats: Vec<watchdog::Beat>,
    pub(crate) alarm: watchdog::Alarm,
}

impl Scheduler {
    /// Wakes one parked worker if the protocol says one should look for new work.
    pub(crate) fn notify_one(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.parkers[worker].unpark();
        }
    }

    /// Queues a process woken by a thread that is not its home worker: in its
    /// home worker's inbox (unparking that worker if it sleeps), or, if it has
    /// not started yet (`home` is `None`), where any worker may take it.
    pub(crate) fn push_woken_elsewhere(&self, process: ProcRef, home: Option<usize>) {
        let Some(home) = home else {
            self.injector.push(process);
            self.notify_one();
            return;
        };
        // SAFETY: the caller won the process's wake-up (`StateWord::wake`), so
        // it is in no queue or inbox, and it stays alive until it has run.
        unsafe { self.inboxes[home].push(process.0) };
        self.wake_home_worker(home);
    }

    /// After a push to `home`'s inbox: unparks that worker if it sleeps.
    pub(crate) fn wake_home_worker(&self, home: usize) {
        if self.idle.wake_worker(home) {
            self.parkers[home].unpark();
        }
    }

    /// Moves the process waiting in `worker`'s spawn slot, if any, to the
    /// injector, where any worker may start it (`worker` is held up by the
    /// process that spawned it). `true` if there was one.
    pub(crate) fn rescue_spawned(&self, worker: usize) -> bool {
        let Some(process) = self.spawn_slots[worker].rescue() else { return false };
        self.injector.push(ProcRef(process));
        self.notify_one();
        true
    }

    /// Whether any queue visible to all workers holds work.
    pub(crate) fn has_visible_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}
