//! Where a worker keeps its runnable processes, and the order it takes them:
//! the LIFO slot, the spawn slot, the two-deep run-ahead, the queue of its started processes
//! (`pinned`, never stolen), the stealable queue of processes not started yet,
//! its inbox (processes of its own woken by other threads), stealing.
//!
//! Invariants: a process is in at most one slot or queue; a started process
//! is only ever queued on its home worker; only processes that have not
//! started are offered to other workers (stolen, or handed to a parked one).

use std::ptr::NonNull;

use super::{GLOBAL_CHECK_INTERVAL, WorkerCore};
use crate::kernel::Port;
use crate::process::{Carver, Pcb};
use crate::scheduler::ProcRef;
use crate::scheduler::spawn_slot::SpawnSlot;
use crate::sync::Ordering;
use crate::sync::epoch::Guard;
use crate::table::FreeSlots;

/// Runs from the LIFO slot in a row before the local queue gets a turn.
const LIFO_STREAK_MAX: u32 = 3;
/// New processes run in a row while started ones wait (see `pop_queued`).
const NEW_FIRST_MAX: u32 = 16;
/// New processes queued here from which they all run before a started one.
const NEW_BACKLOG: usize = 4096;
/// Processes in a local queue from which a woken process no longer takes the
/// LIFO slot (see `queue_woken_here`).
const BUSY_QUEUE: usize = 32;
/// Run-ahead starts at this local queue length: below a steal's batch (at most
/// 32), so a worker that stole part of a mass wake-up prefetches too.
const RUN_AHEAD_QUEUE: usize = 8;

/// Processes woken for one other worker during a fan-out, linked through
/// `Pcb::inbox_next` from the newest down to the oldest.
#[derive(Clone, Copy)]
pub(super) struct Chain {
    newest: NonNull<Pcb>,
    oldest: NonNull<Pcb>,
}

/// The kernel reaches the worker a call runs on through this port only.
impl Port for WorkerCore {
    fn index(&self) -> usize {
        self.index
    }

    fn pin(&self) -> Guard {
        WorkerCore::pin(self)
    }

    fn with_free_slots<R>(&self, f: impl FnOnce(&mut FreeSlots) -> R) -> R {
        WorkerCore::with_free_slots(self, f)
    }

    fn with_carver<R>(&self, f: impl FnOnce(&mut Carver) -> R) -> R {
        f(&mut self.carver.borrow_mut())
    }

    /// Queues a newly spawned process here: it runs next, from the spawn
    /// slot (the one it displaces is offered to idle workers). If its spawner
    /// holds this worker instead, the watchdog moves it to where another
    /// worker starts it (`scheduler::spawn_slot`).
    fn queue_spawned(&self, process: ProcRef) {
        // SAFETY: this is the slot's owning worker; a new process is in no queue
        // and alive until it has run.
        if let Some(displaced) = unsafe { self.spawn_slot().put(process.0) } {
            self.offer_new(ProcRef(displaced));
        }
    }

    /// Queues a process of this worker woken by the one running here: it runs
    /// next (LIFO slot), since it likely works on what was just sent.
    fn queue_woken_here(&self, process: ProcRef) {
        if self.pinned.borrow().len() >= BUSY_QUEUE {
            // Under load, a woken process queues behind the others (FIFO) rather
            // than running next: a process woken once per message (a collector
            // of replies, a monitor's Downs) then finds many in one run instead
            // of running once per message.
            self.pinned.borrow_mut().push_back(process);
            return;
        }
        // The usual case (one process woken per slice: a message chain): it
        // runs next. (Prefetching its resume here won on Zen 4 only, so it is
        // not done: decision log D64.)
        self.take_lifo_slot(process);
    }

    /// Queues a process that lives on another worker (or has not started),
    /// woken by code running on this one. During a fan-out (`batch_wakes`) the
    /// ones for each worker are chained and pushed together when the batch
    /// ends: one CAS on that worker's inbox and one look at whether it sleeps
    /// for the lot, instead of one each.
    fn queue_woken_elsewhere(&self, process: ProcRef, home: Option<usize>) {
        if let Some(home) = home
            && let Some(batch) = self.wake_batch.borrow_mut().as_mut()
        {
            let chain = &mut batch[home];
            match chain {
                Some(chain) => {
                    // SAFETY: the caller won its wake-up, so it is in no inbox and
                    // alive until it has run; the chain is this thread's own.
                    unsafe { process.pcb() }.inbox_next.store(chain.newest.as_ptr(), Ordering::Relaxed);
                    chain.newest = process.0;
                }
                None => *chain = Some(Chain { newest: process.0, oldest: process.0 }),
            }
            return;
        }
        self.kernel.scheduler.push_woken_elsewhere(process, home);
    }
}

impl WorkerCore {
    /// Puts `process` in the LIFO slot; the one it displaces is queued here.
    fn take_lifo_slot(&self, process: ProcRef) {
        if let Some(previous) = self.lifo.replace(Some(process)) {
            self.queue_here(previous);
        }
    }

    /// Queues one of this worker's processes behind the others: a started one
    /// where only this worker looks, one not yet started where idle workers
    /// may steal it (and one is told).
    fn queue_here(&self, process: ProcRef) {
        // SAFETY: a process queued by this thread is alive until it has run.
        let pcb = unsafe { process.pcb() };
        match pcb.home() {
            Some(home) => {
                debug_assert_eq!(home, self.index, "a started process queued away from its home worker");
                self.pinned.borrow_mut().push_back(process);
            }
            None => self.offer_new(process),
        }
    }

    /// Queues a process that has not started where it can spread: straight to
    /// a parked worker if the idle protocol says one should be woken (it would
    /// otherwise often arrive only after this worker has started the process,
    /// which then stays here for life), else in the stealable local queue.
    fn offer_new(&self, process: ProcRef) {
        let scheduler = &self.kernel.scheduler;
        match scheduler.idle.worker_to_notify() {
            Some(idle) => {
                // SAFETY: an unstarted process queued by this thread is in no
                // queue or inbox now, and alive until it has run.
                unsafe { scheduler.inboxes[idle].push(process.0) };
                scheduler.parkers[idle].unpark();
            }
            None => {
                // The idle protocol's order: publish the work, then look for a
                // worker to tell (one may have parked since the look above).
                self.local.push(process);
                scheduler.notify_one();
            }
        }
    }

    /// This worker's spawn slot.
    pub(super) fn spawn_slot(&self) -> &SpawnSlot<Pcb> {
        &self.kernel.scheduler.spawn_slots[self.index]
    }

    /// Processes queued here, not counting the LIFO and run-ahead slots.
    pub(super) fn queued_len(&self) -> usize {
        self.pinned.borrow().len() + self.local.len()
    }

    /// Runs `send`, gathering the wake-ups it causes on other workers (see
    /// `queue_woken_elsewhere`) and pushing them when it returns.
    pub(super) fn batch_wakes<R>(&self, send: impl FnOnce() -> R) -> R {
        let outer = self.wake_batch.replace(Some(vec![None; self.kernel.workers]));
        let result = send();
        let batch = std::mem::replace(&mut *self.wake_batch.borrow_mut(), outer);
        let scheduler = &self.kernel.scheduler;
        for (home, chain) in batch.into_iter().flatten().enumerate() {
            if let Some(chain) = chain {
                // SAFETY: every process of the chain was won by this thread's
                // wake-ups (in no inbox, alive until it has run) and linked here.
                unsafe { scheduler.inboxes[home].push_chain(chain.newest, chain.oldest) };
                scheduler.wake_home_worker(home);
            }
        }
        result
    }

    /// Moves what other threads woke for this worker into its own queue.
    pub(super) fn take_inbox(&self) {
        let taken = self.kernel.scheduler.inboxes[self.index].take_all();
        let mut pinned = self.pinned.borrow_mut();
        pinned.extend(taken.map(ProcRef));
    }

    pub(super) fn next_local(&self) -> Option<ProcRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick.is_multiple_of(GLOBAL_CHECK_INTERVAL) {
            self.fire_timers();
            if let Some(process) = self.kernel.scheduler.injector.pop() {
                return Some(process);
            }
        }
        self.take_inbox();
        if self.lifo_streak.get() < LIFO_STREAK_MAX {
            if let Some(process) = self.lifo.take().or_else(|| self.spawn_slot().take().map(ProcRef)) {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(process);
            }
        } else {
            // Fairness: the slots' processes go behind what is already queued.
            if let Some(process) = self.lifo.take() {
                self.queue_here(process);
            }
            if let Some(process) = self.spawn_slot().take() {
                self.offer_new(ProcRef(process));
            }
        }
        self.lifo_streak.set(0);
        let process = self.ahead.take().or_else(|| self.pop_queued())?;
        // Run ahead only in a mass wake-up (a long queue): processes taken off
        // the queue early cannot be stolen, and with a short queue an idle
        // worker must be able to take what waits here.
        let mass = self.queued_len() >= RUN_AHEAD_QUEUE;
        let next = match self.ahead_far.take() {
            Some(far) => Some(far),
            None if mass => self.pop_queued(),
            None => None,
        };
        if let Some(next) = next {
            // SAFETY: a queued process is alive until it has run.
            unsafe { next.pcb() }.prefetch_for_wake();
            self.ahead.set(Some(next));
            if mass && let Some(far) = self.pop_queued() {
                // SAFETY: as above.
                unsafe { far.pcb() }.prefetch_block();
                self.ahead_far.set(Some(far));
            }
        }
        Some(process)
    }

    /// The next queued process. New ones first: they were queued before any
    /// started one that yielded since (a yield goes behind what is queued). But
    /// never more than `NEW_FIRST_MAX` in a row while started ones wait, so a
    /// storm of spawns cannot starve them. (Strict FIFO between the two, each
    /// yielded process behind every new one queued before it, made a spawning
    /// process wait behind its whole burst: D19-6.)
    fn pop_queued(&self) -> Option<ProcRef> {
        let streak = self.new_streak.get();
        // A backlog of new processes is worked off first: otherwise a spawning
        // process, back after every `NEW_FIRST_MAX`, outruns what it spawns and
        // the backlog (and its memory) grows for as long as it spawns.
        if (streak < NEW_FIRST_MAX || self.local.len() >= NEW_BACKLOG)
            && let Some(process) = self.local.pop()
        {
            self.new_streak.set(streak + 1);
            return Some(process);
        }
        self.new_streak.set(0);
        let started = self.pinned.borrow_mut().pop_front();
        started.or_else(|| self.local.pop())
    }

    pub(super) fn steal(&self) -> Option<ProcRef> {
        let scheduler = &self.kernel.scheduler;
        if let Some(process) = scheduler.injector.steal_into(&self.local) {
            return Some(process);
        }
        let workers = scheduler.stealers.len();
        let start = self.next_random() as usize % workers;
        (0..workers)
            .map(|offset| (start + offset) % workers)
            .filter(|&victim| victim != self.index)
            .find_map(|victim| scheduler.stealers[victim].steal_into(&self.local))
    }
}
