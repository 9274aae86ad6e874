//! One worker thread: takes processes from its queues (or steals: `queues`),
//! resumes their coroutines, handles what they suspend with, and finishes the
//! ones that end (`exit`).
//!
//! Invariants: only this thread touches a `WorkerCore` (processes running here
//! reach it through the `WorkerPtr` they are resumed with); a process it runs
//! is in state `RUNNING` and in no queue; it parks only when it has no work,
//! no pending exit, and found its inbox empty after announcing it parks.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corosensei::CoroutineResult;

mod exit;
mod queues;

use exit::{EndedBlocks, PendingExits};
use queues::Chain;

use crate::cx::{Starting, process_main};
use crate::kernel::{Kernel, Port};
use crate::link::LinkTable;
use crate::monitor::Monitors;
use crate::process::{
    Carver, Outcome, Pcb, ProcessCoroutine, Signal, Suspend, WorkerPtr, add_starting_links_and_monitors,
};
use crate::reason::Reason;
use crate::scheduler::ProcRef;
use crate::scheduler::queue::LocalQueue;
use crate::stack::{self, LocalStacks, PooledStack, overflow};
use crate::sync::Ordering;
use crate::sync::epoch::{Guard, LocalHandle};
use crate::table::FreeSlots;
use crate::timer::Fired;

/// Every this many scheduling ticks the injector and timers are looked at first.
const GLOBAL_CHECK_INTERVAL: u32 = 61;
/// How long an idle worker looks for new work before it parks.
const SPIN_BEFORE_PARKING: Duration = Duration::from_micros(50);
/// How long an idle worker spins before it also yields its core between looks.
const SPIN_BEFORE_YIELDING: Duration = Duration::from_micros(10);
/// Looks at the inbox between two reads of the clock while spinning.
const SPIN_CHECKS_PER_CLOCK_READ: u32 = 32;

/// The port timers deliver through: this worker, except that a process woken
/// here goes to its queue rather than the LIFO slot (`queue_woken_by_timer`).
struct TimerPort<'a>(&'a WorkerCore);

impl Port for TimerPort<'_> {
    fn index(&self) -> usize {
        self.0.index
    }

    fn pin(&self) -> Guard {
        self.0.pin()
    }

    fn with_free_slots<R>(&self, f: impl FnOnce(&mut FreeSlots) -> R) -> R {
        self.0.with_free_slots(f)
    }

    fn with_carver<R>(&self, f: impl FnOnce(&mut Carver) -> R) -> R {
        f(&mut self.0.carver.borrow_mut())
    }

    /// A timer spawns nothing; were it to, the process would go where any worker takes it.
    fn queue_spawned(&self, process: ProcRef) {
        self.0.kernel.scheduler.push_woken_elsewhere(process, None);
    }

    fn queue_woken_here(&self, process: ProcRef) {
        self.0.queue_woken_by_timer(process, Some(self.0.index));
    }

    fn queue_woken_elsewhere(&self, process: ProcRef, home: Option<usize>) {
        self.0.kernel.scheduler.push_woken_elsewhere(process, home);
    }
}

/// The state of one worker, owned by its thread; processes running on it reach
/// it through the `WorkerPtr` they are resumed with.
pub(crate) struct WorkerCore {
    pub(crate) index: usize,
    pub(crate) kernel: Arc<Kernel>,
    /// Processes that have not run yet: the only ones another worker may steal.
    local: LocalQueue<ProcRef>,
    /// Started processes of this worker, ready to run: never stolen (a started
    /// process stays on its home worker's thread; see the scheduler's docs).
    pinned: RefCell<VecDeque<ProcRef>>,
    lifo: Cell<Option<ProcRef>>,
    lifo_streak: Cell<u32>,
    /// New processes taken from the local queue in a row (see `pop_queued`).
    new_streak: Cell<u32>,
    /// While an exit's fan-out is being sent: the processes it woke on other
    /// workers, a chain per home worker (see `queue_woken_elsewhere`).
    wake_batch: RefCell<Option<Vec<Option<Chain>>>>,
    /// The process to run after the current one, taken off the local queue
    /// early so that its block and stack can be prefetched meanwhile (a mass
    /// wake-up leaves thousands of cold processes queued; without this each
    /// resume stalls on memory).
    ahead: Cell<Option<ProcRef>>,
    /// The one after it: only its block is prefetched, because finding its
    /// stack means reading the block (a load that would stall if still cold).
    ahead_far: Cell<Option<ProcRef>>,
    epoch: LocalHandle,
    free_slots: RefCell<FreeSlots>,
    /// Where this worker's spawns get their blocks (from `kernel.blocks` only).
    carver: RefCell<Carver>,
    stacks: RefCell<LocalStacks>,
    /// Blocks of ended processes, out of the table, not yet handed to the epoch.
    ended: RefCell<EndedBlocks>,
    /// Exits whose big fan-out is being sent a chunk at a time (see `exit`).
    exits: RefCell<PendingExits>,
    rng: Cell<u64>,
    tick: Cell<u32>,
}

impl WorkerCore {
    pub(crate) fn new(index: usize, kernel: Arc<Kernel>, local: LocalQueue<ProcRef>) -> WorkerCore {
        let epoch = kernel.collector.register();
        WorkerCore {
            index,
            kernel,
            local,
            pinned: RefCell::new(VecDeque::new()),
            lifo: Cell::new(None),
            lifo_streak: Cell::new(0),
            new_streak: Cell::new(0),
            wake_batch: RefCell::new(None),
            ahead: Cell::new(None),
            ahead_far: Cell::new(None),
            epoch,
            free_slots: RefCell::new(FreeSlots::default()),
            carver: RefCell::new(Carver::default()),
            stacks: RefCell::new(LocalStacks::default()),
            ended: RefCell::new(EndedBlocks::default()),
            exits: RefCell::new(PendingExits::new()),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)),
            tick: Cell::new(0),
        }
    }

    /// Pins the epoch (cheap when already pinned by the running slice).
    pub(crate) fn pin(&self) -> Guard {
        self.epoch.pin()
    }

    pub(crate) fn with_free_slots<R>(&self, f: impl FnOnce(&mut FreeSlots) -> R) -> R {
        f(&mut self.free_slots.borrow_mut())
    }

    /// The worker thread's body.
    pub(crate) fn run(&self) {
        let _alt_stack = overflow::AltStack::ensure();
        self.kernel.scheduler.beats[self.index].set_thread();
        crate::crash::mark_worker_thread(true);
        let scheduler = &self.kernel.scheduler;
        let mut searching = false;
        loop {
            // Relaxed: shutdown is also signalled through each parker's mutex.
            if self.kernel.shutdown.load(Ordering::Relaxed) {
                break;
            }
            if self.has_pending_exits() {
                self.advance_exits(false);
            }
            if let Some(process) = self.next_local() {
                if searching {
                    searching = false;
                    if scheduler.idle.transition_from_searching() {
                        scheduler.notify_one();
                    }
                }
                self.run_process(process);
                continue;
            }
            self.fire_timers();
            if !searching {
                searching = scheduler.idle.transition_to_searching();
            }
            if searching && let Some(process) = self.steal() {
                searching = false;
                if scheduler.idle.transition_from_searching() {
                    scheduler.notify_one();
                }
                self.run_process(process);
                continue;
            }
            if self.has_pending_exits() || self.has_own_work() {
                continue; // sending a pending exit's next chunk is work too
            }
            if self.spin_for_work() {
                continue;
            }
            searching = self.park(searching);
        }
        self.complete_exits();
        // Leftover LIFO/ahead/queued entries are still in the table; the
        // runtime hands this worker its started ones to tear down below.
        self.lifo.set(None);
        let _ = self.spawn_slot().take();
        self.ahead.set(None);
        self.ahead_far.set(None);
        self.pinned.borrow_mut().clear();
        let _ = self.kernel.scheduler.inboxes[self.index].take_all().count();
        self.tear_down_own_processes();
        self.kernel.table.give_back(&mut self.free_slots.borrow_mut());
        self.stacks.borrow_mut().give_all_back(&self.kernel.stacks);
        // SAFETY: this worker's carver carves from its kernel's pool only.
        unsafe { self.kernel.blocks.retire(&mut self.carver.borrow_mut()) };
        self.ended.borrow_mut().defer_all(&self.kernel.blocks, &self.pin());
        crate::crash::mark_worker_thread(false);
    }

    /// At shutdown: tells the runtime this worker runs nothing any more, then
    /// tears down, on this thread, the started processes whose home it is (a
    /// suspended stack is unwound on the thread it ran on: see the scheduler's docs).
    fn tear_down_own_processes(&self) {
        let own = self.kernel.teardown.stopped_and_wait(self.index);
        for process in own {
            // SAFETY: the runtime took it out of the table after every worker
            // stopped running processes, and frees it only after this thread
            // has ended: this thread owns it until then.
            unsafe { process.pcb().tear_down() };
        }
    }

    /// Whether this worker's own queues (or its inbox) hold work.
    fn has_own_work(&self) -> bool {
        !self.pinned.borrow().is_empty()
            || !self.local.is_empty()
            || self.spawn_slot().is_occupied()
            || !self.kernel.scheduler.inboxes[self.index].is_empty()
    }

    /// Before parking: looks for new work for a short while. A started process
    /// woken by another worker can only run here, and a woken worker pays a
    /// futex round trip; a token passed between processes of two workers (a
    /// ring) would pay it at every crossing. `true`: work appeared.
    fn spin_for_work(&self) -> bool {
        let scheduler = &self.kernel.scheduler;
        let start = Instant::now();
        let (deadline, polite) = (start + SPIN_BEFORE_PARKING, start + SPIN_BEFORE_YIELDING);
        loop {
            for _ in 0..SPIN_CHECKS_PER_CLOCK_READ {
                if !scheduler.inboxes[self.index].is_empty() {
                    return true;
                }
                std::hint::spin_loop();
            }
            // Relaxed: shutdown is also signalled through each parker's mutex.
            if scheduler.has_visible_work() || self.kernel.shutdown.load(Ordering::Relaxed) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            if now >= polite {
                // Past the first stretch, a spinning worker gives its core to
                // any other thread ready to run (a tokio worker its process
                // just answered, on a machine with fewer cores than busy
                // threads); with none, this returns at once and the spin goes
                // on.
                std::thread::yield_now();
            }
        }
    }

    /// Parks until woken; returns whether this worker is now counted as searching.
    fn park(&self, searching: bool) -> bool {
        // Ended blocks gathered here must not wait for this worker to be busy
        // again: hand them, and this thread's garbage bag, to the collector.
        let guard = self.pin();
        self.ended.borrow_mut().defer_all(&self.kernel.blocks, &guard);
        guard.flush();
        drop(guard);
        let scheduler = &self.kernel.scheduler;
        let was_last_searcher = scheduler.idle.transition_to_parked(self.index, searching);
        if was_last_searcher && scheduler.has_visible_work() {
            scheduler.notify_one();
        }
        // Relaxed: a shutdown after this load is seen via the parker's notification.
        if !self.kernel.shutdown.load(Ordering::Relaxed) {
            self.fire_timers();
            // The inbox's re-check after `transition_to_parked` (its SeqCst
            // fence): a push this misses found this worker parked and unparks it.
            if !self.has_own_work() {
                scheduler.parkers[self.index].park(self.kernel.timers.until_next());
            }
        }
        let searching = scheduler.idle.transition_from_parked(self.index);
        scheduler.alarm.worker_unparked();
        searching
    }

    fn fire_timers(&self) {
        let kernel = &self.kernel;
        kernel.timers.fire_due(|pid, fired| match fired {
            Fired::Wake(generation) => {
                let guard = self.pin();
                if let Some(pcb) = kernel.table.get(pid, &guard) {
                    pcb.fired_timer.fire(generation);
                    if pcb.state.wake() {
                        // A timeout resumes it in its receive, not into an exit.
                        pcb.hints.woken(false);
                        self.queue_woken_by_timer(ProcRef(NonNull::from(pcb)), pcb.home());
                    }
                }
            }
            // A timer to a process that is gone is dropped by the delivery.
            Fired::Send(message) => {
                kernel.deliver(pid, Signal::Message(message), Some(&TimerPort(self)));
            }
            Fired::Interval { make, key } => {
                let guard = self.pin();
                let destination_lives = kernel.table.get(pid, &guard).is_some();
                drop(guard);
                if destination_lives {
                    // The message is the user's: made (and, if undeliverable, dropped) contained.
                    if let Some(message) = crate::crash::contain(|| make()) {
                        kernel.deliver(pid, Signal::Message(message), Some(&TimerPort(self)));
                    }
                } else {
                    // Tied to its destination's life.
                    kernel.timers.cancel(key);
                }
                // Possibly the last reference to the user's value: dropped contained.
                crate::crash::drop_contained(make);
            }
        });
    }

    /// Queues a process a timer woke: in its own queue, not the LIFO slot
    /// (timers fire when the worker is about to look for work or park, and a
    /// parking worker's re-check sees only the queues).
    fn queue_woken_by_timer(&self, process: ProcRef, home: Option<usize>) {
        match home {
            Some(home) if home == self.index => self.pinned.borrow_mut().push_back(process),
            home => self.kernel.scheduler.push_woken_elsewhere(process, home),
        }
    }

    fn next_random(&self) -> u64 {
        // xorshift64*: only spreads steal victims.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn take_stack(&self, size: usize) -> Result<PooledStack, stack::StackError> {
        if size != self.kernel.stacks.stack_size() {
            return self.kernel.stack_pool_for(size).take_one();
        }
        self.stacks.borrow_mut().take(&self.kernel.stacks)
    }

    fn return_stack(&self, stack: PooledStack, lowest_sp: usize, panicked: bool) {
        let custom = stack.size() != self.kernel.stacks.stack_size();
        // The deepest point seen is sampled at runtime calls and suspensions
        // only, so a custom (possibly huge) stack is always trimmed: its
        // process may have gone deep in between.
        if panicked || custom || stack.is_deep(lowest_sp) {
            stack.trim();
        }
        if custom {
            self.kernel.stack_pool_for(stack.size()).give_back_one(stack);
            return;
        }
        self.stacks.borrow_mut().put(stack, &self.kernel.stacks);
    }

    /// Runs one process for one time slice.
    fn run_process(&self, process: ProcRef) {
        // SAFETY: a queued process is alive until it has run to its end here.
        let pcb = unsafe { process.pcb() };
        pcb.state.start_running();
        let guard = self.pin();
        let worker = WorkerPtr(NonNull::from(self));
        loop {
            // SAFETY: state RUNNING makes this worker the only one touching `run`.
            let resumed = pcb.run.with_mut(|run| unsafe { self.resume(pcb, &mut *run, worker) });
            match resumed {
                Err(reason) => {
                    // No stack could be had: the process ends without running,
                    // and what its body captured is dropped now, not with its block.
                    pcb.state.exit();
                    // SAFETY: state RUNNING makes this worker the only one touching `run`.
                    let body = pcb.run.with_mut(|run| unsafe { (*run).body.take() });
                    crate::crash::contain(move || drop(body));
                    let (link, monitor) = pcb.run.with_mut(|run| {
                        // SAFETY: state RUNNING makes this worker the only one touching `run`.
                        unsafe { ((*run).initial_link.take(), (*run).initial_monitor.take()) }
                    });
                    let (mut links, mut monitors) = (LinkTable::default(), Monitors::default());
                    add_starting_links_and_monitors(&mut links, &mut monitors, link, monitor);
                    let outcome = Outcome::new(reason, &mut links, &mut monitors, usize::MAX);
                    self.finish(pcb, None, outcome, &guard);
                    return;
                }
                Ok(CoroutineResult::Yield(Suspend::Wait)) => {
                    if pcb.state.try_wait() {
                        return;
                    }
                }
                Ok(CoroutineResult::Yield(Suspend::Yield)) => {
                    pcb.state.yield_queued();
                    self.pinned.borrow_mut().push_back(process);
                    return;
                }
                Ok(CoroutineResult::Return(outcome)) => {
                    // SAFETY: as above; the coroutine has finished.
                    let coroutine = pcb.run.with_mut(|run| unsafe { (*run).coroutine.take() });
                    self.finish(pcb, coroutine, outcome, &guard);
                    return;
                }
            }
        }
    }

    /// Resumes `pcb`'s coroutine, creating it on a fresh stack at its first run.
    ///
    /// # Safety
    /// The caller holds `pcb` in state RUNNING; `run` is its owner part.
    unsafe fn resume(
        &self,
        pcb: &Pcb,
        run: &mut crate::process::RunState,
        worker: WorkerPtr,
    ) -> Result<CoroutineResult<Suspend, Outcome>, Reason> {
        if run.coroutine.is_none() {
            // From now on this process runs on this thread only (see `Pcb::home`).
            // Relaxed: published to wakers through the state word (see there).
            pcb.home.store(self.index as u32, Ordering::Relaxed);
            let size = if run.stack_size == 0 { self.kernel.stacks.stack_size() } else { run.stack_size };
            let stack = self.take_stack(size).map_err(|error| Reason::error(error.to_string()))?;
            stack.forget_previous_use();
            run.stack_guard = stack.guard().0;
            run.stack_bytes = u32::try_from(stack.size()).expect("stacks are at most MAX_STACK_SIZE");
            let body = run.body.take().expect("a process without coroutine still has its body");
            let initial_link = run.initial_link.take();
            let initial_monitor = run.initial_monitor.take();
            let starting = Starting { link: initial_link, monitor: initial_monitor, trap_exit: run.initial_trap };
            let pcb_ptr = NonNull::from(pcb);
            let kernel = NonNull::from(&*self.kernel);
            run.coroutine = Some(ProcessCoroutine::with_stack(stack, move |yielder, worker| {
                process_main(yielder, worker, pcb_ptr, kernel, body, starting)
            }));
        }
        let coroutine = run.coroutine.as_mut().expect("created above");
        overflow::set_running(Some(pcb.pid), run.stack_guard, run.stack_bytes as usize);
        let beat = &self.kernel.scheduler.beats[self.index];
        beat.enter(pcb.pid, self.pinned.borrow().len());
        let result = coroutine.resume(worker);
        beat.leave();
        overflow::set_running(None, 0, 0);
        Ok(result)
    }
}
