//! The scheduler: N workers, each with a local FIFO queue and a LIFO slot, a
//! global injector, stealing from a random victim, and parking with one
//! notification per new job (see [`idle`]).
//!
//! Invariants: a process is in at most one queue or slot at a time, and only the
//! worker that took it from there runs it (the state word decides who queues it:
//! `process::state`); no wake-up is lost (`idle`).

pub(crate) mod idle;
pub(crate) mod queue;
pub(crate) mod watchdog;
pub(crate) mod worker;

use std::ptr::NonNull;

use crate::process::Pcb;

/// A queued process. Raw, because the queues do not own processes: the table
/// does, and the state word guarantees a queued process is alive (it is never
/// freed before it has run to its end on a worker).
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

/// The runtime-wide part of the scheduler.
pub(crate) struct Scheduler {
    pub(crate) injector: queue::Injector<ProcRef>,
    pub(crate) stealers: Vec<queue::Stealer<ProcRef>>,
    pub(crate) idle: idle::Idle,
    pub(crate) parkers: Vec<idle::Parker>,
    pub(crate) beats: Vec<watchdog::Beat>,
}

impl Scheduler {
    /// Wakes one parked worker if the protocol says one should look for new work.
    pub(crate) fn notify_one(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.parkers[worker].unpark();
        }
    }

    /// Whether any queue visible to all workers holds work.
    pub(crate) fn has_visible_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }
}
