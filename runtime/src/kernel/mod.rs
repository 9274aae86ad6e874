//! The kernel: what happens to processes, whoever asks. It spawns them,
//! delivers signals to them and wakes them, answers for the ones that are gone,
//! and holds what every worker, process and handle of one runtime shares (the
//! process table, the scheduler's shared queues, timers, names, stacks).
//!
//! It sits below the code that runs processes (`worker`, `cx`) and reaches it
//! through one narrow port, [`Port`]: a caller running on a worker hands the
//! kernel its worker as a `Port` (where to queue a process it woke or spawned,
//! its epoch pin, its free table slots); a caller on any other thread hands
//! [`OUTSIDE`], and the kernel uses the shared queues instead.
//!
//! Invariants: a delivered signal is in the receiver's queue when `deliver`
//! returns, or was dropped (its destructor contained) because the receiver is
//! gone; a receiver woken by a delivery is queued exactly once, on its home
//! worker once it has started (`scheduler`); a spawn is either refused or its
//! process is in the table and queued before `spawn` returns.

mod deliver;
mod handle;
pub(crate) mod spawn;

use std::sync::{Arc, Weak};
use std::time::Duration;

pub use handle::Handle;
pub use spawn::SpawnOptions;

use crate::blocking::BlockingPool;
use crate::mailbox::Message;
use crate::pid::{Pid, Ref};
use crate::process::{BlockPool, Carver, Pcb, Status};
use crate::registry::{Name, RegisterError, Registry};
use crate::scheduler::teardown::Teardown;
use crate::scheduler::{ProcRef, Scheduler};
use crate::stack::StackPool;
use crate::sync::epoch::{Collector, Guard};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, Ordering, fence, lock};
use crate::table::{FreeSlots, Table};
use crate::timer::{MakeMessage, TimerKey, Timers};
use crossbeam_utils::CachePadded;

/// What the kernel needs from the worker a call runs on: the one way it
/// reaches the layer above (see the module's doc).
pub(crate) trait Port {
    /// The worker's index.
    fn index(&self) -> usize;
    /// An epoch pin (cheap: nested in the running slice's).
    fn pin(&self) -> Guard;
    /// Runs `f` with the worker's own free table slots.
    fn with_free_slots<R>(&self, f: impl FnOnce(&mut FreeSlots) -> R) -> R;
    /// Runs `f` with the worker's own carver of process blocks.
    fn with_carver<R>(&self, f: impl FnOnce(&mut Carver) -> R) -> R;
    /// Queues a process just spawned by the process running here.
    fn queue_spawned(&self, process: ProcRef);
    /// Queues a process woken by the one running here, whose home is here.
    fn queue_woken_here(&self, process: ProcRef);
    /// Queues a process woken by the one running here that lives on another
    /// worker (`home`), or has not started (`None`).
    fn queue_woken_elsewhere(&self, process: ProcRef, home: Option<usize>);
}

/// The [`Port`] of a caller on a thread that is no worker: there is none.
pub(crate) enum Outside {}

/// Passed by callers on threads that are no worker of this runtime.
pub(crate) const OUTSIDE: Option<&Outside> = None;

impl Port for Outside {
    fn index(&self) -> usize {
        match *self {}
    }
    fn pin(&self) -> Guard {
        match *self {}
    }
    fn with_free_slots<R>(&self, _: impl FnOnce(&mut FreeSlots) -> R) -> R {
        match *self {}
    }
    fn with_carver<R>(&self, _: impl FnOnce(&mut Carver) -> R) -> R {
        match *self {}
    }
    fn queue_spawned(&self, _: ProcRef) {
        match *self {}
    }
    fn queue_woken_here(&self, _: ProcRef) {
        match *self {}
    }
    fn queue_woken_elsewhere(&self, _: ProcRef, _: Option<usize>) {
        match *self {}
    }
}

/// Everything of one runtime that its workers, processes and handles share.
pub(crate) struct Kernel {
    pub(crate) id: u32,
    this: Weak<Kernel>,
    pub(crate) table: Table<Pcb>,
    pub(crate) scheduler: Scheduler,
    pub(crate) timers: Timers,
    /// Stacks of the runtime's default size.
    pub(crate) stacks: StackPool,
    other_stacks: Mutex<Vec<Arc<StackPool>>>,
    pub(crate) collector: Collector,
    /// Where process blocks live (shared with the epoch's deferred frees,
    /// which may run after the kernel is gone).
    pub(crate) blocks: Arc<BlockPool<Pcb>>,
    pub(crate) shutdown: AtomicBool,
    /// Spawns from threads that are no worker, under way (see `Kernel::spawn`).
    pub(crate) spawns_in_flight: AtomicUsize,
    next_ref: AtomicU64,
    pub(crate) registry: Registry,
    /// Threads for `Cx::blocking`.
    pub(crate) blocking: BlockingPool,
    /// Spawned and ended processes, counted per worker (the last entry for other
    /// threads) so the hot path never contends on one counter.
    counts: Box<[CachePadded<LiveCount>]>,
    /// Top-level supervisors' holders, in start order (`Runtime::shutdown`).
    pub(crate) top_level: Mutex<Vec<Pid>>,
    /// Where the stopper hands each worker its processes to tear down.
    pub(crate) teardown: Teardown,
    pub(crate) workers: usize,
}

impl Kernel {
    /// A kernel for runtime `id` with `workers` workers.
    pub(crate) fn new(
        id: u32,
        workers: usize,
        max_processes: usize,
        stack_size: usize,
        blocking_threads: usize,
        scheduler: Scheduler,
    ) -> Arc<Kernel> {
        Arc::new_cyclic(|this| Kernel {
            id,
            this: this.clone(),
            table: Table::new(id, max_processes, workers),
            scheduler,
            timers: Timers::new(),
            stacks: StackPool::new(stack_size),
            other_stacks: Mutex::new(Vec::new()),
            collector: Collector::new(),
            blocks: Arc::new(BlockPool::default()),
            shutdown: AtomicBool::new(false),
            spawns_in_flight: AtomicUsize::new(0),
            next_ref: AtomicU64::new(1),
            registry: Registry::default(),
            blocking: BlockingPool::new(blocking_threads, id),
            counts: (0..=workers).map(|_| CachePadded::new(LiveCount::default())).collect(),
            top_level: Mutex::new(Vec::new()),
            teardown: Teardown::new(workers),
            workers,
        })
    }

    /// Runs `f` on every stack pool of this runtime: the default one, then
    /// those of custom sizes.
    pub(crate) fn each_stack_pool(&self, mut f: impl FnMut(&StackPool)) {
        f(&self.stacks);
        for pool in lock(&self.other_stacks).clone() {
            f(&pool);
        }
    }

    /// A reference that does not keep the kernel alive (for threads that may
    /// outlive the runtime, such as the blocking pool's).
    pub(crate) fn weak(&self) -> Weak<Kernel> {
        self.this.clone()
    }

    pub(crate) fn handle(&self) -> Handle {
        Handle::new(self.this.upgrade().expect("a runtime's kernel is alive while anything can call it"))
    }

    pub(crate) fn status(&self, pid: Pid, port: Option<&impl Port>) -> Option<Status> {
        let guard = self.pin(port);
        self.table.get(pid, &guard).map(|pcb| pcb.state.status())
    }

    /// Whether `pid` is a process that is there and not exiting: a snapshot,
    /// not ordered with any signal (see `Cx::is_alive` for the ordered answer).
    pub(crate) fn is_live(&self, pid: Pid, port: Option<&impl Port>) -> bool {
        self.status(pid, port).is_some_and(|status| status != Status::Exiting)
    }

    /// Registers `pid` as `name` (docs/semantics.md, names).
    pub(crate) fn register(&self, name: Name, pid: Pid, port: Option<&impl Port>) -> Result<(), RegisterError> {
        let guard = self.pin(port);
        let pcb = self.table.get(pid, &guard);
        self.registry.register(name, pid, || {
            let Some(pcb) = pcb else { return false };
            // SeqCst store and fence: pair with the SeqCst EXITED RMW and the
            // SeqCst load of `named` in the worker's `finish`.
            pcb.named.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            !pcb.state.is_exited()
        })
    }

    /// A reference unique in this runtime (Erlang's `make_ref()`).
    pub(crate) fn make_ref(&self) -> Ref {
        // Relaxed: only uniqueness matters, which the RMW gives.
        Ref(self.next_ref.fetch_add(1, Ordering::Relaxed))
    }

    /// The pid signals from outside any process come from.
    pub(crate) fn reserved_pid(&self) -> Pid {
        Pid::reserved(self.id)
    }

    pub(crate) fn live_processes(&self) -> usize {
        // Relaxed: counts for display and tests; no data is published through them.
        // Ended first: a process counted as ended was spawned before, so reading
        // the spawned counts last never shows more ended than spawned.
        let ended: usize = self.counts.iter().map(|c| c.ended.load(Ordering::Relaxed)).sum();
        let spawned: usize = self.counts.iter().map(|c| c.spawned.load(Ordering::Relaxed)).sum();
        spawned.saturating_sub(ended)
    }

    pub(crate) fn worker_stats(&self) -> Vec<WorkerStats> {
        // Relaxed: counts for display and tests, as in `live_processes`.
        self.counts[..self.workers]
            .iter()
            .map(|count| WorkerStats {
                spawned: count.spawned.load(Ordering::Relaxed) as u64,
                ended: count.ended.load(Ordering::Relaxed) as u64,
            })
            .collect()
    }

    /// Counts an ended process on `worker`'s counter (or the shared one).
    pub(crate) fn process_ended(&self, worker: Option<usize>) {
        self.count(worker, |count| &count.ended);
    }

    fn count(&self, worker: Option<usize>, which: impl Fn(&LiveCount) -> &AtomicUsize) {
        match worker {
            Some(index) => {
                let counter = which(&self.counts[index]);
                // Relaxed load + store: only worker `index` writes its counters.
                counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            // Relaxed: see `live_processes`; other threads share the last entry.
            None => {
                which(&self.counts[self.workers]).fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A pool for stacks of a non-default size (created on first use).
    pub(crate) fn stack_pool_for(&self, size: usize) -> Arc<StackPool> {
        let mut pools = lock(&self.other_stacks);
        if let Some(pool) = pools.iter().find(|pool| pool.stack_size() == size) {
            return Arc::clone(pool);
        }
        let pool = Arc::new(StackPool::new(size));
        pools.push(Arc::clone(&pool));
        pool
    }

    /// An epoch pin: the worker's (cheap, nested in its slice's) or, from
    /// another thread, a fresh registration with the runtime's collector.
    fn pin(&self, port: Option<&impl Port>) -> Guard {
        match port {
            Some(port) => port.pin(),
            None => self.pin_outside(),
        }
    }

    /// Arms a receive timer; wakes a parked worker if it is now the earliest, so
    /// that some worker sleeps no longer than the deadline.
    pub(crate) fn arm_timer(&self, deadline: u64, pid: Pid, generation: u64) -> TimerKey {
        self.arm_waking_a_sleeper(|| self.timers.arm(deadline, pid, generation))
    }

    /// Arms a timer that sends `message` to `pid` at `deadline` (as `arm_timer`).
    pub(crate) fn arm_message_timer(&self, deadline: u64, pid: Pid, message: Message) -> TimerKey {
        self.arm_waking_a_sleeper(|| self.timers.arm_message(deadline, pid, message))
    }

    /// Arms an interval timer (as `arm_timer`).
    pub(crate) fn arm_interval_timer(&self, period: Duration, pid: Pid, make: MakeMessage) -> TimerKey {
        self.arm_waking_a_sleeper(|| self.timers.arm_interval(period, pid, make))
    }

    /// Runs `arm`; if it armed the earliest deadline, wakes a parked worker, so
    /// that some worker sleeps no longer than it.
    fn arm_waking_a_sleeper(&self, arm: impl FnOnce() -> (TimerKey, bool)) -> TimerKey {
        let (key, earlier) = arm();
        if earlier && let Some(worker) = self.scheduler.idle.any_sleeper() {
            self.scheduler.parkers[worker].unpark();
        }
        key
    }
}

/// How many runtimes a thread that is no worker keeps an epoch participant
/// for at most (each one keeps its runtime's collector alive).
#[cfg(not(loom))]
const OUTSIDE_PARTICIPANTS: usize = 4;

#[cfg(not(loom))]
thread_local! {
    /// This thread's epoch participants, newest first, each with the kernel
    /// it is for: registering one is an allocation and a push onto the
    /// collector's list, too dear for every `Handle` call.
    static PARTICIPANTS: std::cell::RefCell<Vec<(Weak<Kernel>, crate::sync::epoch::LocalHandle)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Kernel {
    /// An epoch pin for a thread that is no worker of this runtime, through a
    /// participant kept for this thread (registered at its first call here).
    /// Participants of runtimes that are gone are dropped on the way, so they
    /// do not keep those runtimes' collectors (and garbage) alive.
    fn pin_outside(&self) -> Guard {
        #[cfg(not(loom))]
        {
            let cached = PARTICIPANTS.try_with(|participants| {
                let mut participants = participants.try_borrow_mut().ok()?;
                participants.retain(|(kernel, _)| kernel.strong_count() > 0);
                let position = match participants.iter().position(|(kernel, _)| std::ptr::eq(kernel.as_ptr(), self)) {
                    Some(position) => {
                        // Most recently used first: the one evicted is the least recent.
                        participants[..=position].rotate_right(1);
                        0
                    }
                    None => {
                        participants.truncate(OUTSIDE_PARTICIPANTS - 1);
                        participants.insert(0, (self.this.clone(), self.collector.register()));
                        0
                    }
                };
                Some(participants[position].1.pin())
            });
            // A thread being torn down (its thread-locals gone), or a nested
            // call while the cache is borrowed: a participant of its own.
            cached.ok().flatten().unwrap_or_else(|| self.collector.register().pin())
        }
        #[cfg(loom)]
        {
            self.collector.register().pin()
        }
    }
}

/// Processes spawned and ended on one worker.
#[derive(Default)]
struct LiveCount {
    spawned: AtomicUsize,
    ended: AtomicUsize,
}

/// What one worker thread has done since the runtime started: where load went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerStats {
    /// Processes spawned by processes running on this worker.
    pub spawned: u64,
    /// Processes that ended on this worker (ran their exit there).
    pub ended: u64,
}
