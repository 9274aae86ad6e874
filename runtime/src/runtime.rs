//! `Runtime`, its builder, and `Handle`: starting, using and stopping a runtime.
//!
//! A runtime is a value: several can live in one OS process, each with its own
//! workers, process table, epoch collector and stack pools. Dropping it stops
//! its workers, ends every remaining process (their destructors run) and frees
//! everything. Pids carry the runtime's id, which is not reused until 4096 other
//! runtimes have been created, so a Pid never resolves in another live runtime.

use std::collections::BTreeSet;
use std::ptr::NonNull;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use crate::error::{BlockOnError, BuildError, InsideProcess, SpawnError};
use crate::pid::{MAX_PROCESSES, Pid, RUNTIME_MASK, Ref};
use crate::process::{
    Body, Cx, ExitWaiter, InfoRequest, Pcb, ProcessInfo, ReplyTo, Signal, SpawnOptions, Status, Waiter,
};
use crate::reason::Reason;
use crate::scheduler::inbox::Inbox;
use crate::scheduler::teardown::Teardown;
use crate::scheduler::worker::WorkerCore;
use crate::scheduler::{ProcRef, Scheduler, idle, queue, watchdog};
use crate::signal::Pushed;
use crate::stack::{self, StackPool};
use crate::sync::epoch::{Collector, Guard, Owned};
use crate::timer::TimerKey;
use crossbeam_utils::CachePadded;

use crate::registry::{Name, RegisterError, Registry};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, Ordering, fence, lock};
use crate::table::Table;
use crate::timer::Timers;

/// The most worker threads a runtime can have.
pub const MAX_WORKERS: usize = 1024;
/// Default capacity of the process table.
pub const DEFAULT_MAX_PROCESSES: usize = 1 << 24;

/// Settings for a [`Runtime`]; see [`Runtime::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    max_processes: usize,
}

impl Builder {
    /// Worker threads (default: one per core).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Usable stack bytes per process (default [`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE):
    /// 32 KiB, 256 KiB in a build with debug assertions; rounded up to whole pages).
    /// A process that overflows its stack aborts the OS process with a report.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Capacity of the process table (default 2^24; at most [`MAX_PROCESSES`]).
    pub fn max_processes(mut self, count: usize) -> Self {
        self.max_processes = count;
        self
    }

    /// Starts the runtime.
    pub fn build(self) -> Result<Runtime, BuildError> {
        let workers = match self.workers {
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(BuildError::Workers { requested: workers, max: MAX_WORKERS });
        }
        let stack_size = stack::checked_size(self.stack_size).ok_or(BuildError::StackSize {
            requested: self.stack_size,
            min: stack::MIN_STACK_SIZE,
            max: stack::MAX_STACK_SIZE,
        })?;
        if !(1..=MAX_PROCESSES).contains(&self.max_processes) {
            return Err(BuildError::MaxProcesses { requested: self.max_processes, max: MAX_PROCESSES });
        }
        let id = RuntimeId::acquire()?;
        crate::crash::install_panic_hook();
        stack::overflow::install_handler();

        let locals: Vec<_> = (0..workers).map(|_| queue::LocalQueue::new()).collect();
        let scheduler = Scheduler {
            injector: queue::Injector::new(),
            inboxes: (0..workers).map(|_| CachePadded::new(Inbox::default())).collect(),
            stealers: locals.iter().map(queue::LocalQueue::stealer).collect(),
            idle: idle::Idle::new(workers),
            parkers: (0..workers).map(|_| idle::Parker::default()).collect(),
            beats: (0..workers).map(|_| watchdog::Beat::default()).collect(),
        };
        let shared = Arc::new_cyclic(|this| Shared {
            id: id.0,
            this: this.clone(),
            table: Table::new(id.0, self.max_processes, workers),
            scheduler,
            timers: Timers::new(),
            stacks: StackPool::new(stack_size),
            other_stacks: Mutex::new(Vec::new()),
            collector: Collector::new(),
            shutdown: AtomicBool::new(false),
            spawns_in_flight: AtomicUsize::new(0),
            next_ref: AtomicU64::new(1),
            registry: Registry::default(),
            watchdog_sleep: Mutex::new(()),
            watchdog_wakeup: Condvar::new(),
            counts: (0..=workers).map(|_| CachePadded::new(LiveCount::default())).collect(),
            teardown: Teardown::new(workers),
            workers,
        });
        let mut threads = Vec::with_capacity(workers);
        for (index, local) in locals.into_iter().enumerate() {
            let worker_shared = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("lariat-{}-w{index}", id.0))
                .spawn(move || WorkerCore::new(index, worker_shared, local).run());
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    let runtime = Runtime { shared, threads, id: Some(id) };
                    drop(runtime);
                    return Err(BuildError::Os { what: "a worker thread", error: error.to_string() });
                }
            }
        }
        let watchdog_shared = Arc::clone(&shared);
        let watchdog =
            std::thread::Builder::new().name(format!("lariat-{}-watch", id.0)).spawn(move || watch(&watchdog_shared));
        match watchdog {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                drop(Runtime { shared, threads, id: Some(id) });
                return Err(BuildError::Os { what: "the watchdog thread", error: error.to_string() });
            }
        }
        Ok(Runtime { shared, threads, id: Some(id) })
    }
}

/// The watchdog thread: reports processes stuck in one slice until shutdown.
fn watch(shared: &Shared) {
    let mut seen = vec![watchdog::Seen::default(); shared.workers];
    let mut sleep = lock(&shared.watchdog_sleep);
    loop {
        // Relaxed: the flag is also signalled through this mutex and condvar.
        if shared.shutdown.load(Ordering::Relaxed) {
            return;
        }
        watchdog::look(&shared.scheduler.beats, &mut seen, &mut watchdog::report_stuck);
        sleep = shared
            .watchdog_wakeup
            .wait_timeout(sleep, watchdog::PERIOD)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// A runtime of lightweight processes.
///
/// ```
/// use lariat::{Reason, Runtime};
/// let runtime = Runtime::builder().workers(2).build()?;
/// let answer = runtime.block_on(|cx| {
///     let me = cx.pid();
///     cx.spawn(move |cx| {
///         cx.send(me, 42u32);
///         Ok(())
///     })?;
///     let n: u32 = cx.receive()?;
///     Ok::<_, Reason>(n)
/// })?;
/// assert_eq!(answer, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    /// Released when the runtime has stopped (`None` once handed to the stopper).
    id: Option<RuntimeId>,
}

impl Runtime {
    /// A runtime with default settings (one worker per core, 32 KiB stacks;
    /// 256 KiB with debug assertions).
    pub fn new() -> Result<Runtime, BuildError> {
        Runtime::builder().build()
    }

    /// Settings for a new runtime.
    pub fn builder() -> Builder {
        Builder { workers: None, stack_size: stack::DEFAULT_STACK_SIZE, max_processes: DEFAULT_MAX_PROCESSES }
    }

    /// A clonable, `Send` handle for spawning and sending from any thread.
    pub fn handle(&self) -> Handle {
        self.shared.handle()
    }

    /// Spawns a process from outside the runtime: it runs, for its whole life,
    /// on the first worker that takes it (see [`Cx::spawn`]).
    pub fn spawn<F>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.shared.spawn(Box::new(body), &SpawnOptions::default(), None, None, None, None).map(|(pid, _)| pid)
    }

    /// Sends an exit signal to `pid` from outside any process (Erlang's `exit/2`;
    /// the signal comes from the runtime's reserved pid). See `Cx::exit`.
    pub fn exit(&self, pid: Pid, reason: Reason) {
        self.shared.exit_from_outside(pid, reason)
    }

    /// Sends `message` to `to` from outside any process (dropped if `to` is gone).
    pub fn send<T: Send + 'static>(&self, to: Pid, message: T) {
        self.shared.send_from_outside(to, message)
    }

    /// Runs `body` as a process and blocks this thread until it ends; returns its
    /// value, or why it ended without one.
    pub fn block_on<T, F>(&self, body: F) -> Result<T, BlockOnError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Cx) -> Result<T, Reason> + Send + 'static,
    {
        if crate::crash::on_worker_thread() {
            return Err(BlockOnError::InsideProcess);
        }
        let slot = Arc::new(std::sync::Mutex::new(None));
        let result_slot = Arc::clone(&slot);
        let waiter = Arc::new(ExitWaiter::default());
        let body: Body = Box::new(move |cx| {
            let value = body(cx)?;
            *result_slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
            Ok(())
        });
        self.shared
            .spawn(body, &SpawnOptions::default(), None, Some(Arc::clone(&waiter)), None, None)
            .map_err(BlockOnError::Spawn)?;
        let reason = waiter.wait();
        let value = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match (reason, value) {
            (Reason::Normal, Some(value)) => Ok(value),
            (reason, _) => Err(BlockOnError::Exited(reason)),
        }
    }

    /// Processes alive now (spawned and not yet ended).
    pub fn live_processes(&self) -> usize {
        self.shared.live_processes()
    }

    /// Receive timeouts and sleeps armed now: one per process waiting with a
    /// timeout (a receive that ends early disarms its timer).
    pub fn pending_timers(&self) -> usize {
        self.shared.timers.pending()
    }

    /// Per worker thread, in order: processes spawned and ended there (spawns
    /// from outside the runtime are not in any worker's count).
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.shared.worker_stats()
    }

    /// Worker threads of this runtime.
    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// This runtime's id: the first field of its Pids, and the `<id>` in its
    /// worker threads' names (`lariat-<id>-w<n>`).
    pub fn id(&self) -> u32 {
        self.shared.id
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let threads = std::mem::take(&mut self.threads);
        let shared = Arc::clone(&self.shared);
        let id = self.id.take();
        let current = std::thread::current().id();
        if threads.iter().any(|thread| thread.thread().id() == current) {
            // Dropped by one of its own processes: a worker cannot join itself.
            // Stop on a thread of its own; this worker stops once the process
            // that dropped the runtime returns or waits.
            let handed = Arc::new(std::sync::Mutex::new(id));
            let for_stopper = Arc::clone(&handed);
            let stopper = std::thread::Builder::new().name(format!("lariat-{}-stop", shared.id)).spawn(move || {
                let id = for_stopper.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                shut_down(&shared, threads, id)
            });
            if stopper.is_err() {
                // No thread for it: everything stays allocated (and running)
                // rather than hang, and the id stays taken, so no later
                // runtime's pids can resolve here.
                std::mem::forget(handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
            }
            return;
        }
        shut_down(&shared, threads, id);
    }
}

/// Stops the workers, ends every remaining process (running its destructors,
/// each started one on its own worker's thread: `scheduler::teardown`) and
/// frees the runtime's id.
fn shut_down(shared: &Shared, threads: Vec<JoinHandle<()>>, id: Option<RuntimeId>) {
    // SeqCst: pairs with the SeqCst increment/check in `Shared::spawn`, so
    // either a spawn sees the flag or the teardown sees it in flight.
    shared.shutdown.store(true, Ordering::SeqCst);
    for parker in &shared.scheduler.parkers {
        parker.unpark();
    }
    drop(lock(&shared.watchdog_sleep));
    shared.watchdog_wakeup.notify_all();
    let workers = &threads[..shared.workers.min(threads.len())];
    shared.teardown.wait_until_stopped(workers.len(), || workers.iter().filter(|thread| thread.is_finished()).count());
    // SeqCst: see above.
    while shared.spawns_in_flight.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    let handle = shared.collector.register();
    let guard = handle.pin();
    let entries = shared.table.drain_all(&guard);
    let mut own: Vec<Vec<ProcRef>> = vec![Vec::new(); shared.workers];
    for entry in &entries {
        // SAFETY: drained entries are valid (the guard keeps them), and no
        // worker runs processes any more, so this thread owns every one.
        let pcb = unsafe { entry.deref() };
        match pcb.home() {
            Some(home) => own[home].push(ProcRef(NonNull::from(pcb))),
            // SAFETY: as above; never started, so nothing is tied to a thread.
            None => unsafe { pcb.tear_down() },
        }
    }
    shared.teardown.hand_out(own);
    for thread in threads {
        let _ = thread.join();
    }
    for entry in entries {
        // SAFETY: as above; the workers have torn their processes down and ended.
        let home = unsafe { entry.deref() }.home();
        if home.is_none_or(|home| shared.teardown.was_taken(home)) {
            // SAFETY: out of the table and torn down; nothing refers to it now.
            unsafe { guard.defer_destroy(entry) };
        }
        shared.process_ended(None);
    }
    drop(guard);
    handle.pin().flush();
    drop(id);
}

/// A clonable handle to a runtime, usable from any thread (and inside processes).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    /// Spawns a process (see [`Runtime::spawn`]).
    pub fn spawn<F>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.shared.spawn(Box::new(body), &SpawnOptions::default(), None, None, None, None).map(|(pid, _)| pid)
    }

    /// Registers `pid` under `name` (Erlang's `register/2`).
    pub fn register(&self, name: impl Into<Name>, pid: Pid) -> Result<(), RegisterError> {
        self.shared.register(name.into(), pid, None)
    }

    /// Removes a registered name (Erlang's `unregister/1`).
    pub fn unregister(&self, name: &str) -> Result<(), RegisterError> {
        self.shared.registry.unregister(name).map(|_| ())
    }

    /// The process registered as `name`, if any (Erlang's `whereis/1`).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.shared.registry.whereis(name)
    }

    /// Sends to the process registered as `name`; an error if nobody is.
    pub fn send_named<T: Send + 'static>(&self, name: &str, message: T) -> Result<(), RegisterError> {
        let pid = self.whereis(name).ok_or_else(|| RegisterError::NotRegistered { name: name.into() })?;
        self.shared.send_from_outside(pid, message);
        Ok(())
    }

    /// Sends an exit signal from outside any process (see [`Runtime::exit`]).
    pub fn exit(&self, pid: Pid, reason: Reason) {
        self.shared.exit_from_outside(pid, reason)
    }

    /// Sends a message from outside any process (see [`Runtime::send`]).
    pub fn send<T: Send + 'static>(&self, to: Pid, message: T) {
        self.shared.send_from_outside(to, message)
    }

    /// Processes alive now.
    pub fn live_processes(&self) -> usize {
        self.shared.live_processes()
    }

    /// Receive timeouts and sleeps armed now (see [`Runtime::pending_timers`]).
    pub fn pending_timers(&self) -> usize {
        self.shared.timers.pending()
    }

    /// Per worker thread: processes spawned and ended there (see [`Runtime::worker_stats`]).
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.shared.worker_stats()
    }

    /// Whether `pid` names a process of this runtime that has not begun to exit.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.status(pid).is_some_and(|status| status != Status::Exiting)
    }

    /// Where `pid` is (running, runnable, waiting, exiting); `None` once it is gone.
    pub fn status(&self, pid: Pid) -> Option<Status> {
        self.shared.status(pid, None)
    }

    /// Asks `pid` for its [`ProcessInfo`] and blocks this thread until it answers
    /// (see [`Cx::process_info`]); `Ok(None)` if it is gone or ends first.
    /// Inside a process this would stall a worker: use `Cx::process_info` there.
    pub fn process_info(&self, pid: Pid) -> Result<Option<ProcessInfo>, InsideProcess> {
        if crate::crash::on_worker_thread() {
            return Err(InsideProcess { call: "process_info" });
        }
        let waiter = Arc::new(Waiter::default());
        let request = InfoRequest::new(ReplyTo::Thread(Arc::clone(&waiter)));
        if !self.shared.deliver(pid, Signal::Info(Box::new(request)), None) {
            return Ok(None);
        }
        Ok(waiter.wait())
    }
}

/// Everything of a runtime that workers, processes and handles share.
pub(crate) struct Shared {
    pub(crate) id: u32,
    this: Weak<Shared>,
    pub(crate) table: Table<Pcb>,
    pub(crate) scheduler: Scheduler,
    pub(crate) timers: Timers,
    /// Stacks of the runtime's default size.
    pub(crate) stacks: StackPool,
    other_stacks: Mutex<Vec<Arc<StackPool>>>,
    pub(crate) collector: Collector,
    pub(crate) shutdown: AtomicBool,
    spawns_in_flight: AtomicUsize,
    next_ref: AtomicU64,
    pub(crate) registry: Registry,
    watchdog_sleep: Mutex<()>,
    watchdog_wakeup: Condvar,
    /// Spawned and ended processes, counted per worker (the last entry for other
    /// threads) so the hot path never contends on one counter.
    counts: Box<[CachePadded<LiveCount>]>,
    /// Where the stopper hands each worker its processes to tear down.
    pub(crate) teardown: Teardown,
    pub(crate) workers: usize,
}

impl Shared {
    pub(crate) fn handle(&self) -> Handle {
        Handle { shared: self.this.upgrade().expect("a runtime's Shared is alive while anything can call it") }
    }

    pub(crate) fn status(&self, pid: Pid, worker: Option<&WorkerCore>) -> Option<Status> {
        let guard = self.pin(worker);
        self.table.get(pid, &guard).map(|pcb| pcb.state.status())
    }

    /// Registers `pid` as `name` (semantics.md §7).
    pub(crate) fn register(&self, name: Name, pid: Pid, worker: Option<&WorkerCore>) -> Result<(), RegisterError> {
        let guard = self.pin(worker);
        let pcb = self.table.get(pid, &guard);
        self.registry.register(name, pid, || {
            let Some(pcb) = pcb else { return false };
            // SeqCst store and fence: pair with the SeqCst EXITED RMW and the
            // SeqCst load of `named` in `WorkerCore::finish`.
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
    fn pin(&self, worker: Option<&WorkerCore>) -> Guard {
        match worker {
            Some(worker) => worker.pin(),
            None => self.collector.register().pin(),
        }
    }

    pub(crate) fn spawn(
        &self,
        body: Body,
        options: &SpawnOptions,
        worker: Option<&WorkerCore>,
        exit_waiter: Option<Arc<ExitWaiter>>,
        link_to: Option<Pid>,
        monitor_by: Option<(Ref, Pid)>,
    ) -> Result<(Pid, NonNull<Pcb>), SpawnError> {
        let stack_size = match options.stack_size {
            None => 0,
            Some(requested) => match stack::checked_size(requested) {
                Some(size) if size == self.stacks.stack_size() => 0,
                Some(size) => size,
                None => {
                    return Err(SpawnError::StackSize {
                        requested,
                        min: stack::MIN_STACK_SIZE,
                        max: stack::MAX_STACK_SIZE,
                    });
                }
            },
        };
        if worker.is_some() {
            // A worker's processes spawn only while it runs them, before it
            // reports stopped; in teardown the gate refuses spawns.
            return self.spawn_admitted(body, stack_size, worker, exit_waiter, link_to, monitor_by);
        }
        // SeqCst: pairs with the SeqCst flag store and counter load in `Runtime::drop`.
        self.spawns_in_flight.fetch_add(1, Ordering::SeqCst);
        let result = self.spawn_admitted(body, stack_size, worker, exit_waiter, link_to, monitor_by);
        // Release: the teardown's SeqCst load sees the publication before the decrement.
        self.spawns_in_flight.fetch_sub(1, Ordering::Release);
        result
    }

    fn spawn_admitted(
        &self,
        body: Body,
        stack_size: usize,
        worker: Option<&WorkerCore>,
        exit_waiter: Option<Arc<ExitWaiter>>,
        link_to: Option<Pid>,
        monitor_by: Option<(Ref, Pid)>,
    ) -> Result<(Pid, NonNull<Pcb>), SpawnError> {
        // SeqCst: see `spawn`.
        if self.shutdown.load(Ordering::SeqCst) {
            return Err(SpawnError::ShuttingDown);
        }
        let pid = match worker {
            Some(worker) => worker.with_free_slots(|slots| self.table.reserve(Some(slots))),
            None => self.table.reserve(None),
        }
        .ok_or(SpawnError::TableFull { capacity: self.table.capacity() })?;
        let guard = self.pin(worker);
        let pcb = Owned::new(Pcb::new(pid, body, stack_size, exit_waiter, link_to, monitor_by)).into_shared(&guard);
        self.count(worker.map(|w| w.index), |count| &count.spawned);
        self.table.publish(pcb);
        let block = NonNull::new(pcb.as_raw().cast_mut()).expect("a fresh allocation is not null");
        match worker {
            Some(worker) => worker.push_spawned(ProcRef(block)),
            None => {
                self.scheduler.injector.push(ProcRef(block));
                self.scheduler.notify_one();
            }
        }
        Ok((pid, block))
    }

    /// Pushes `signal` to `to` and wakes it. `false` if `to` is gone (not in the
    /// table, or its queue sealed at exit): the signal was dropped.
    pub(crate) fn deliver(&self, to: Pid, signal: Signal, worker: Option<&WorkerCore>) -> bool {
        let guard = self.pin(worker);
        let Some(pcb) = self.table.get(to, &guard) else {
            // A user destructor (a message's) may panic: the sender must not.
            crate::crash::drop_contained(signal);
            return false;
        };
        // An exit signal with a `normal` reason kills nobody (§2): not worth
        // the deeper prefetch.
        let exit = matches!(&signal, Signal::Exit { reason, .. } if !reason.is_normal());
        let pushed = match signal {
            // A message takes a node of its own size (see `SignalQueue`).
            Signal::Message(message) => pcb.signals.push_small(message).map_err(Signal::Message),
            signal => pcb.signals.push(signal),
        };
        match pushed {
            Err(refused) => {
                // Sealed at its exit: dropped, contained as above.
                crate::crash::drop_contained(refused);
                false
            }
            Ok(pushed) => {
                self.wake_if_first(pcb, pushed, exit, worker);
                true
            }
        }
    }

    /// After a push: a push onto an empty queue wakes its owner (see `signal`).
    fn wake_if_first(&self, pcb: &Pcb, pushed: Pushed, exit: bool, worker: Option<&WorkerCore>) {
        if pushed == Pushed::Behind || !pcb.state.wake() {
            return;
        }
        // Relaxed: a prefetch hint for whoever runs it (see `Pcb::prefetch_for_wake`).
        pcb.woken_to_exit.store(exit, Ordering::Relaxed);
        let process = ProcRef(NonNull::from(pcb));
        // A process woken from waiting has run, so it has a home (`Pcb::home`).
        let home = pcb.home();
        match worker {
            Some(worker) if home == Some(worker.index) => worker.push_woken(process),
            Some(worker) => worker.wake_elsewhere(process, home),
            None => self.scheduler.push_woken_elsewhere(process, home),
        }
    }

    /// Answers a signal that reached a process which has ended (semantics.md §3
    /// step 6): a link gets an exit signal `noproc` back, an unlink its
    /// acknowledgement; messages and exit signals are dropped.
    pub(crate) fn answer_for_the_dead(&self, dead: Pid, signal: Signal, worker: Option<&WorkerCore>) {
        match signal {
            Signal::Link { from } => {
                self.deliver(from, Signal::Exit { from: dead, reason: Reason::NoProc, linked: true }, worker);
            }
            Signal::Unlink { from, id } => {
                self.deliver(from, Signal::UnlinkAck { from: dead, id }, worker);
            }
            Signal::Monitor { from, monitor } => {
                self.deliver(from, Signal::Down { monitor, reason: Reason::NoProc }, worker);
            }
            Signal::Info(request) => {
                if let Some((asker, answer)) = request.answer(None) {
                    self.deliver(asker, Signal::Message(crate::mailbox::Message::new(answer)), worker);
                }
            }
            // A message's destructor is the user's: contained.
            Signal::Message(message) => crate::crash::drop_contained(message),
            Signal::UnlinkAck { .. } | Signal::Exit { .. } | Signal::Demonitor { .. } | Signal::Down { .. } => {}
        }
    }

    fn exit_from_outside(&self, pid: Pid, reason: Reason) {
        self.deliver(pid, Signal::Exit { from: self.reserved_pid(), reason, linked: false }, None);
    }

    fn send_from_outside<T: Send + 'static>(&self, to: Pid, message: T) {
        self.deliver(to, Signal::Message(crate::mailbox::Message::new(message)), None);
    }

    /// Arms a receive timer; wakes a parked worker if it is now the earliest, so
    /// that some worker sleeps no longer than the deadline.
    pub(crate) fn arm_timer(&self, deadline: u64, pid: Pid, generation: u64) -> TimerKey {
        let earlier = self.timers.until_next().is_none_or(|next| {
            let now = self.timers.now();
            deadline < now.saturating_add(next.as_nanos() as u64)
        });
        let key = self.timers.arm(deadline, pid, generation);
        if earlier && let Some(worker) = self.scheduler.idle.any_sleeper() {
            self.scheduler.parkers[worker].unpark();
        }
        key
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

/// This runtime's id among the live runtimes of the OS process.
struct RuntimeId(u32);

struct RuntimeIds {
    in_use: BTreeSet<u32>,
    next: u32,
}

static RUNTIME_IDS: std::sync::Mutex<RuntimeIds> =
    std::sync::Mutex::new(RuntimeIds { in_use: BTreeSet::new(), next: 0 });

impl RuntimeId {
    fn acquire() -> Result<RuntimeId, BuildError> {
        let mut ids = RUNTIME_IDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = RUNTIME_MASK as u32 + 1;
        for step in 0..count {
            let candidate = (ids.next + step) % count;
            if ids.in_use.insert(candidate) {
                ids.next = (candidate + 1) % count;
                return Ok(RuntimeId(candidate));
            }
        }
        Err(BuildError::TooManyRuntimes { max: count as usize })
    }
}

impl Drop for RuntimeId {
    fn drop(&mut self) {
        RUNTIME_IDS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).in_use.remove(&self.0);
    }
}
