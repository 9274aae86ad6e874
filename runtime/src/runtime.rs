//! [`Runtime`] and its [`Builder`]: starting, using and stopping a runtime.
//!
//! A runtime is a value: several can live in one OS process, each with its own
//! workers, process table, epoch collector and stack pools. Dropping it stops
//! its workers, ends every remaining process (their destructors run) and frees
//! everything. Pids carry the runtime's id, which is not reused until 4096 other
//! runtimes have been created, so a Pid never resolves in another live runtime.

use std::collections::BTreeSet;
use std::ptr::NonNull;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::error::{BlockOnError, BuildError, SpawnError};
use crate::kernel::spawn::Watchers;
use crate::kernel::{Handle, Kernel, OUTSIDE, WorkerStats};
use crate::pid::{MAX_PROCESSES, Pid, RUNTIME_MASK};
use crate::process::{Body, Cx, ExitWaiter};
use crate::reason::Reason;
use crate::scheduler::inbox::Inbox;
use crate::scheduler::spawn_slot::SpawnSlot;
use crate::scheduler::{ProcRef, Scheduler, idle, queue, watchdog};
use crate::stack;
use crate::sync::{Ordering, lock};
use crate::worker::WorkerCore;

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
    blocking_threads: usize,
}

impl Builder {
    /// Worker threads (default: one per core).
    ///
    /// ```
    /// # use lariat::{BuildError, Runtime, MAX_WORKERS};
    /// let runtime = Runtime::builder().workers(2).build()?;
    /// assert_eq!(runtime.workers(), 2);
    /// let none = Runtime::builder().workers(0).build();
    /// assert!(matches!(none, Err(BuildError::Workers { requested: 0, max: MAX_WORKERS })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// Usable stack bytes per process (default [`DEFAULT_STACK_SIZE`](crate::DEFAULT_STACK_SIZE):
    /// 256 KiB in every build; rounded up to whole pages).
    /// A process that overflows its stack aborts the OS process with a report.
    ///
    /// A process's own [`SpawnOptions::stack_size`](crate::SpawnOptions::stack_size)
    /// overrides it.
    ///
    /// ```
    /// # use lariat::{BuildError, Reason, Runtime};
    /// // Small stacks, for many small processes.
    /// let runtime = Runtime::builder().stack_size(64 * 1024).build()?;
    /// let sum = runtime.block_on(|cx| Ok::<_, Reason>((1..=10u32).sum::<u32>()))?;
    /// assert_eq!(sum, 55);
    /// assert!(matches!(Runtime::builder().stack_size(1).build(), Err(BuildError::StackSize { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Capacity of the process table (default 2^24; at most [`MAX_PROCESSES`]).
    ///
    /// ```
    /// # use lariat::{BuildError, Reason, Runtime, SpawnError};
    /// let runtime = Runtime::builder().max_processes(2).build()?;
    /// let third = runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?; // the second process
    ///     let third = cx.spawn(|_| Ok(()));
    ///     cx.send(worker, ());
    ///     Ok::<_, Reason>(third)
    /// })?;
    /// assert_eq!(third, Err(SpawnError::TableFull { capacity: 2 }));
    /// assert!(matches!(Runtime::builder().max_processes(0).build(), Err(BuildError::MaxProcesses { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_processes(mut self, count: usize) -> Self {
        self.max_processes = count;
        self
    }

    /// The most threads that run [`Cx::blocking`](crate::Cx::blocking) work at
    /// once (default [`DEFAULT_BLOCKING_THREADS`](crate::DEFAULT_BLOCKING_THREADS)).
    /// They start when needed and end after 10 s without work; calls beyond
    /// the bound wait their turn.
    ///
    /// ```
    /// # use lariat::{BuildError, Reason, Runtime};
    /// let runtime = Runtime::builder().blocking_threads(2).build()?;
    /// let text = runtime.block_on(|cx| cx.blocking(|| String::from("read from disk")))?;
    /// assert_eq!(text, "read from disk");
    /// assert!(runtime.blocking_threads() <= 2);
    /// assert_eq!(Runtime::builder().blocking_threads(0).build().err(), Some(BuildError::BlockingThreads));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_threads(mut self, threads: usize) -> Self {
        self.blocking_threads = threads;
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    ///
    /// - [`BuildError::Workers`], [`BuildError::StackSize`],
    ///   [`BuildError::MaxProcesses`], [`BuildError::BlockingThreads`]: a setting
    ///   is out of range (the error says which range is allowed);
    /// - [`BuildError::TooManyRuntimes`]: 4096 runtimes are alive in this OS
    ///   process; drop one first;
    /// - [`BuildError::Os`]: the OS refused a thread or another resource.
    ///
    /// ```
    /// # use lariat::{BuildError, Runtime};
    /// let runtime = Runtime::builder().workers(2).stack_size(128 * 1024).build()?;
    /// assert_eq!(runtime.workers(), 2);
    /// let error = Runtime::builder().workers(0).build().err().expect("zero workers is refused");
    /// assert!(matches!(error, BuildError::Workers { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
            spawn_slots: (0..workers).map(|_| CachePadded::new(SpawnSlot::default())).collect(),
            stealers: locals.iter().map(queue::LocalQueue::stealer).collect(),
            idle: idle::Idle::new(workers),
            parkers: (0..workers).map(|_| idle::Parker::default()).collect(),
            beats: (0..workers).map(|_| watchdog::Beat::default()).collect(),
            alarm: watchdog::Alarm::default(),
        };
        if self.blocking_threads == 0 {
            return Err(BuildError::BlockingThreads);
        }
        let kernel = Kernel::new(id.0, workers, self.max_processes, stack_size, self.blocking_threads, scheduler);
        let mut threads = Vec::with_capacity(workers);
        for (index, local) in locals.into_iter().enumerate() {
            let worker_kernel = Arc::clone(&kernel);
            let spawned = std::thread::Builder::new()
                .name(format!("lariat-{}-w{index}", id.0))
                .spawn(move || WorkerCore::new(index, worker_kernel, local).run());
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    let runtime = Runtime { kernel, threads, id: Some(id) };
                    drop(runtime);
                    return Err(BuildError::Os { what: "a worker thread", error: error.to_string() });
                }
            }
        }
        let watchdog_kernel = Arc::clone(&kernel);
        let watchdog =
            std::thread::Builder::new().name(format!("lariat-{}-watch", id.0)).spawn(move || watch(&watchdog_kernel));
        match watchdog {
            Ok(thread) => threads.push(thread),
            Err(error) => {
                drop(Runtime { kernel, threads, id: Some(id) });
                return Err(BuildError::Os { what: "the watchdog thread", error: error.to_string() });
            }
        }
        Ok(Runtime { kernel, threads, id: Some(id) })
    }
}

/// How many watchdog periods a stack pool must go untouched before it gives
/// the memory of its free stacks back (about a second).
const STACKS_IDLE_PERIODS: u32 = 4;
/// Free chunks of process blocks an idle runtime keeps resident (21 blocks
/// each): spawns after a pause find them without a page fault.
const WARM_BLOCK_CHUNKS: usize = 64;

/// The watchdog thread: moves spawned processes held up behind their spawner
/// to where any worker starts them, reports processes stuck in one slice, and
/// has idle stack pools give memory back, until shutdown.
fn watch(kernel: &Kernel) {
    let scheduler = &kernel.scheduler;
    let mut seen = vec![watchdog::Seen::default(); kernel.workers];
    let mut last_beats = vec![0; kernel.workers];
    let mut idle_trim = IdleTrim::default();
    let epoch = kernel.collector.register();
    let mut next_look = Instant::now();
    let mut last_rescue_look = Instant::now();
    let mut held = scheduler.alarm.hold();
    loop {
        // Relaxed: the flag is also signalled through the alarm's mutex.
        if kernel.shutdown.load(Ordering::Relaxed) {
            return;
        }
        // Only beats at least a rescue period apart say a worker is held up (a
        // worker that unparks may wake the watchdog sooner).
        if last_rescue_look.elapsed() >= watchdog::RESCUE_PERIOD {
            last_rescue_look = Instant::now();
            watchdog::look_for_held_up(&scheduler.beats, &mut last_beats, |worker| {
                scheduler.rescue_spawned(worker);
            });
        }
        if Instant::now() >= next_look {
            next_look = Instant::now() + watchdog::PERIOD;
            watchdog::look(&scheduler.beats, &mut seen, &mut watchdog::report_stuck);
            drop(held);
            idle_trim.look(kernel, &epoch);
            held = scheduler.alarm.hold();
            // Relaxed: as above; a shutdown signalled while the lock was free is seen here.
            if kernel.shutdown.load(Ordering::Relaxed) {
                return;
            }
        }
        let until_look = next_look.saturating_duration_since(Instant::now());
        held = scheduler.alarm.sleep(held, &scheduler.idle, until_look);
    }
}

/// Epoch advances an idle look drives (each frees a few bags of garbage).
const IDLE_COLLECT_ROUNDS: usize = 4096;
/// Epoch advances at shutdown, so the blocks of the runtime's processes are
/// freed now and not when the last `Handle` lets the kernel go.
const SHUTDOWN_COLLECT_ROUNDS: usize = 65_536;

/// Advances the epoch `rounds` times from a participant that holds nothing
/// pinned, freeing garbage that waited for it.
fn collect_garbage(epoch: &crate::sync::epoch::LocalHandle, rounds: usize) {
    for _ in 0..rounds {
        epoch.pin().flush();
    }
}

/// What the watchdog remembers of the default stack pool's activity between
/// looks, to give memory back once the runtime idles.
#[derive(Default)]
struct IdleTrim {
    activity: u64,
    unchanged: u32,
    /// The activity at which the last trim found nothing left to trim.
    done_at: Option<u64>,
}

impl IdleTrim {
    /// Once the default pool has been idle for a while: frees the blocks of
    /// ended processes that wait for the epoch to advance (workers that park
    /// stop pinning it), gives back the pages of free block chunks (all but
    /// a few) and trims the stack pools.
    fn look(&mut self, kernel: &Kernel, epoch: &crate::sync::epoch::LocalHandle) {
        let activity = kernel.stacks.activity();
        if activity != self.activity {
            *self = IdleTrim { activity, unchanged: 0, done_at: None };
            return;
        }
        self.unchanged = self.unchanged.saturating_add(1);
        if self.unchanged < STACKS_IDLE_PERIODS || self.done_at == Some(activity) {
            return;
        }
        collect_garbage(epoch, IDLE_COLLECT_ROUNDS);
        let mut trimmed = kernel.blocks.give_back(WARM_BLOCK_CHUNKS);
        kernel.each_stack_pool(|pool| trimmed += pool.give_back_idle());
        if trimmed == 0 {
            self.done_at = Some(activity);
        }
    }
}

/// What [`Runtime::shutdown`] sends each top-level process: stop what you
/// hold, then end.
pub(crate) struct StopTopLevel;

/// Why [`Runtime::shutdown`] was not graceful all the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownError {
    /// This many top-level supervisors had not stopped within the timeout;
    /// what was left was ended by force.
    Timeout {
        /// Supervisors not stopped in time.
        left: usize,
    },
    /// Called inside a process, which cannot wait for the others: everything
    /// was ended by force, as a drop does.
    InsideProcess,
}

impl std::fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShutdownError::Timeout { left } => write!(
                f,
                "{left} top-level supervisors had not stopped within the timeout (their rest was ended by force); \
                 give shutdown a longer timeout, or shorter child shutdown timeouts"
            ),
            ShutdownError::InsideProcess => f.write_str(
                "Runtime::shutdown was called inside a process, which cannot wait for the others: everything was \
                 ended by force; call it from a thread that is no worker",
            ),
        }
    }
}

impl std::error::Error for ShutdownError {}

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
///
/// # Memory
///
/// Each process holds a stack (pages touched as it goes deeper) and a
/// control block. When processes end, both are pooled for the next spawns;
/// once the runtime has been idle for about a second, it gives the pages of
/// its free stacks and free control blocks back to the OS (keeping a few
/// warm). Dropping the runtime gives back all of them, even while a
/// [`Handle`] still lives; what stays until the last `Handle` goes is the
/// process table at its high-water size (about 16 bytes per process of the
/// largest count it held) and what the global allocator keeps of the
/// messages it freed.
pub struct Runtime {
    kernel: Arc<Kernel>,
    threads: Vec<JoinHandle<()>>,
    /// Released when the runtime has stopped (`None` once handed to the stopper).
    id: Option<RuntimeId>,
}

impl Runtime {
    /// A runtime with default settings (one worker per core, 256 KiB stacks).
    ///
    /// # Errors
    ///
    /// As [`Builder::build`]: with the default settings only
    /// [`BuildError::TooManyRuntimes`] or [`BuildError::Os`].
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let answer = runtime.block_on(|_| Ok::<_, Reason>(42))?;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<Runtime, BuildError> {
        Runtime::builder().build()
    }

    /// Settings for a new runtime.
    ///
    /// ```
    /// # use lariat::Runtime;
    /// let runtime = Runtime::builder().workers(2).max_processes(10_000).build()?;
    /// assert_eq!(runtime.workers(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> Builder {
        Builder {
            workers: None,
            stack_size: stack::DEFAULT_STACK_SIZE,
            max_processes: DEFAULT_MAX_PROCESSES,
            blocking_threads: crate::blocking::DEFAULT_BLOCKING_THREADS,
        }
    }

    /// A clonable, `Send` handle for spawning and sending from any thread.
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let (results, answers) = mpsc::channel();
    /// let doubler = runtime.spawn(move |cx| loop {
    ///     let n: u32 = cx.receive()?;
    ///     let _ = results.send(n * 2);
    /// })?;
    /// let handle = runtime.handle();
    /// std::thread::spawn(move || handle.send(doubler, 21u32));
    /// assert_eq!(answers.recv_timeout(Duration::from_secs(5))?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.kernel.handle()
    }

    /// Spawns a process from outside the runtime: it runs, for its whole life,
    /// on the first worker that takes it (see [`Cx::spawn`]).
    ///
    /// # Errors
    ///
    /// [`SpawnError::TableFull`] if every slot of the process table is in use
    /// ([`Builder::max_processes`]); [`SpawnError::ShuttingDown`] if the runtime is
    /// shutting down.
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let (results, answers) = mpsc::channel();
    /// let worker = runtime.spawn(move |cx| {
    ///     let text: String = cx.receive()?;
    ///     let _ = results.send(text.to_uppercase());
    ///     Ok(())
    /// })?;
    /// runtime.send(worker, String::from("hello"));
    /// assert_eq!(answers.recv_timeout(Duration::from_secs(5))?, "HELLO");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.kernel.spawn(Box::new(body), None, Watchers::default(), OUTSIDE)
    }

    /// Sends an exit signal to `pid` from outside any process (Erlang's `exit/2`;
    /// the signal comes from the runtime's reserved pid). See `Cx::exit`.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let worker = runtime.spawn(|cx| loop {
    ///     cx.receive::<()>()?;
    /// })?;
    /// runtime.exit(worker, Reason::Shutdown);
    /// // Asked after the exit signal, which it handles first.
    /// assert!(!runtime.handle().is_alive(worker));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exit(&self, pid: Pid, reason: Reason) {
        self.kernel.exit_from_outside(pid, reason)
    }

    /// Sends `message` to `to` from outside any process (dropped if `to` is gone).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let (results, answers) = mpsc::channel();
    /// let adder = runtime.spawn(move |cx| {
    ///     let (a, b): (u32, u32) = cx.receive()?;
    ///     let _ = results.send(a + b);
    ///     Ok(())
    /// })?;
    /// runtime.send(adder, (40u32, 2u32));
    /// assert_eq!(answers.recv_timeout(Duration::from_secs(5))?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<T: Send + 'static>(&self, to: Pid, message: T) {
        self.kernel.send_from_outside(to, message)
    }

    /// Runs `body` as a process and blocks this thread until it ends; returns its
    /// value, or why it ended without one.
    ///
    /// # Errors
    ///
    /// - [`BlockOnError::Exited`] with the process's reason if it ended without a
    ///   value: `body` returned `Err`, panicked ([`Reason::Panic`]), or was killed;
    /// - [`BlockOnError::Spawn`] if the process could not be spawned (table full,
    ///   shutting down);
    /// - [`BlockOnError::InsideProcess`] if called inside a process, where waiting
    ///   would stall a worker: spawn a process and receive its answer there instead.
    ///
    /// ```
    /// # use lariat::{BlockOnError, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let answer = runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.spawn(move |cx| {
    ///         cx.send(me, 42u32);
    ///         Ok(())
    ///     })?;
    ///     cx.receive::<u32>()
    /// })?;
    /// assert_eq!(answer, 42);
    ///
    /// let failed = runtime.block_on(|_| Err::<u32, _>(Reason::error("no answer")));
    /// assert_eq!(failed, Err(BlockOnError::Exited(Reason::error("no answer"))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        self.kernel
            .spawn(body, None, Watchers { exit_waiter: Some(Arc::clone(&waiter)), ..Watchers::default() }, OUTSIDE)
            .map_err(BlockOnError::Spawn)?;
        let reason = waiter.wait();
        let value = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        match (reason, value) {
            (Reason::Normal, Some(value)) => Ok(value),
            (reason, _) => Err(BlockOnError::Exited(reason)),
        }
    }

    /// Stops the runtime gracefully: the top-level supervisors
    /// ([`supervisor::start_top_level`](crate::supervisor::start_top_level)),
    /// the last started first, each stopping its children in reverse order
    /// (each gets `shutdown`, servers run `terminate`), all within `timeout`;
    /// then ends whatever is left as dropping the runtime does.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] if some top-level supervisors had not
    /// finished stopping in time (what was left was then ended by force);
    /// [`ShutdownError::InsideProcess`] if called inside a process (it can
    /// only end everything by force there).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// use lariat::{Cx, Reason, Runtime};
    ///
    /// let runtime = Runtime::new()?;
    /// let (started, has_started) = mpsc::channel();
    /// let (ended, how_it_ended) = mpsc::channel();
    /// let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", move || {
    ///     let (started, ended) = (started.clone(), ended.clone());
    ///     move |cx: &mut Cx| {
    ///         let _ = started.send(());
    ///         let reason = cx.receive::<()>().err().unwrap_or(Reason::Normal);
    ///         let _ = ended.send(reason.clone());
    ///         Err(reason)
    ///     }
    /// }));
    /// supervisor::start_top_level(&runtime, spec)?;
    /// // A worker told to stop before its body first runs ends without running it.
    /// has_started.recv_timeout(Duration::from_secs(5))?;
    /// runtime.shutdown(Duration::from_secs(5))?;
    /// // Its supervisor stopped it with `shutdown`.
    /// assert_eq!(how_it_ended.try_recv()?, Reason::Shutdown);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(self, timeout: Duration) -> Result<(), ShutdownError> {
        if crate::crash::on_worker_thread() {
            // A process cannot wait for the others here: ended as a drop would.
            drop(self);
            return Err(ShutdownError::InsideProcess);
        }
        // No deadline past what an `Instant` can hold (`Duration::MAX`: wait as long as it takes).
        let deadline = Instant::now().checked_add(timeout);
        let top_level = std::mem::take(&mut *lock(&self.kernel.top_level));
        let total = top_level.len();
        let stopped = self.block_on(move |cx| {
            let mut stopped = 0;
            for holder in top_level.into_iter().rev() {
                let monitor = cx.monitor(holder);
                cx.send(holder, StopTopLevel);
                let left =
                    deadline.map_or(Duration::MAX, |deadline| deadline.saturating_duration_since(Instant::now()));
                let down = cx.receive_map_timeout(left, |message| {
                    message.downcast_ref::<crate::monitor::Down>().filter(|down| down.monitor == monitor).map(|_| ())
                })?;
                stopped += usize::from(down.is_some());
            }
            Ok::<_, Reason>(stopped)
        });
        drop(self);
        match stopped {
            Ok(stopped) if stopped == total => Ok(()),
            Ok(stopped) => Err(ShutdownError::Timeout { left: total - stopped }),
            Err(_) => Err(ShutdownError::Timeout { left: total }),
        }
    }

    /// Records a top-level process that [`Runtime::shutdown`] stops with
    /// [`StopTopLevel`], after those recorded later.
    pub(crate) fn add_top_level(&self, holder: Pid) {
        lock(&self.kernel.top_level).push(holder);
    }

    /// Threads of the blocking pool alive now (see [`Cx::blocking`](crate::Cx::blocking)):
    /// started when needed, ended after 10 s without work.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// assert_eq!(runtime.blocking_threads(), 0, "none until needed");
    /// runtime.block_on(|cx| cx.blocking(|| std::fs::metadata(".").is_ok()))?;
    /// assert_eq!(runtime.blocking_threads(), 1, "kept for a while after its work");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking_threads(&self) -> usize {
        self.kernel.blocking.threads()
    }

    /// Processes alive now (spawned and not yet ended).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let worker = runtime.spawn(|cx| cx.receive::<()>())?;
    /// assert_eq!(runtime.live_processes(), 1);
    /// runtime.block_on(|cx| Ok::<_, Reason>(assert_eq!(cx.live_processes(), 2)))?;
    /// // `block_on`'s process is no longer counted once it has returned.
    /// assert_eq!(runtime.live_processes(), 1);
    /// runtime.send(worker, ());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn live_processes(&self) -> usize {
        self.kernel.live_processes()
    }

    /// Timers armed now: receive timeouts and sleeps (one per process waiting
    /// with a timeout; a receive that ends early disarms its timer), and
    /// message timers (`send_after`, `send_interval`) not yet fired or
    /// cancelled. A message timer cancelled by the end of the process it is
    /// aimed at is counted until its deadline, or until it is read or
    /// cancelled (see [`Cx::send_after`](crate::Cx::send_after)).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// assert_eq!(runtime.pending_timers(), 0);
    /// let (armed, is_armed) = mpsc::channel();
    /// let worker = runtime.spawn(move |cx| {
    ///     let me = cx.pid();
    ///     let timer = cx.send_after(Duration::from_secs(3600), me, "reminder");
    ///     let _ = armed.send(());
    ///     cx.receive::<()>()?;
    ///     cx.cancel_timer(timer);
    ///     let _ = armed.send(());
    ///     Ok(())
    /// })?;
    /// is_armed.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(runtime.pending_timers(), 1);
    /// runtime.send(worker, ());
    /// is_armed.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(runtime.pending_timers(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending_timers(&self) -> usize {
        self.kernel.timers.pending()
    }

    /// Per worker thread, in order: processes spawned and ended there (spawns
    /// from outside the runtime are not in any worker's count).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::builder().workers(2).build()?;
    /// runtime.block_on(|cx| {
    ///     for _ in 0..3 {
    ///         cx.spawn(|_| Ok(()))?;
    ///     }
    ///     Ok::<_, Reason>(())
    /// })?;
    /// let stats = runtime.worker_stats();
    /// assert_eq!(stats.len(), 2);
    /// assert_eq!(stats.iter().map(|worker| worker.spawned).sum::<u64>(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.kernel.worker_stats()
    }

    /// Worker threads of this runtime.
    ///
    /// ```
    /// # use lariat::Runtime;
    /// let runtime = Runtime::builder().workers(3).build()?;
    /// assert_eq!(runtime.workers(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn workers(&self) -> usize {
        self.kernel.workers
    }

    /// This runtime's id: the first field of its Pids, and the `<id>` in its
    /// worker threads' names (`lariat-<id>-w<n>`).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let pid = runtime.block_on(|cx| Ok::<_, Reason>(cx.pid()))?;
    /// assert_eq!(pid.runtime_id(), runtime.id());
    /// let other = Runtime::new()?;
    /// assert_ne!(other.id(), runtime.id(), "two live runtimes never share an id");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn id(&self) -> u32 {
        self.kernel.id
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let threads = std::mem::take(&mut self.threads);
        let kernel = Arc::clone(&self.kernel);
        let id = self.id.take();
        let current = std::thread::current().id();
        let own_thread = threads.iter().any(|thread| thread.thread().id() == current)
            || crate::blocking::is_pool_thread_of(kernel.id);
        if own_thread {
            // Dropped by one of its own processes: a worker cannot join itself
            // (nor can a `Cx::blocking` job wait for its own process's teardown,
            // which waits for the job).
            // Stop on a thread of its own; this worker stops once the process
            // that dropped the runtime returns or waits.
            let handed = Arc::new(std::sync::Mutex::new(id));
            let for_stopper = Arc::clone(&handed);
            let stopper = std::thread::Builder::new().name(format!("lariat-{}-stop", kernel.id)).spawn(move || {
                let id = for_stopper.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
                shut_down(&kernel, threads, id)
            });
            if stopper.is_err() {
                // No thread for it: everything stays allocated (and running)
                // rather than hang, and the id stays taken, so no later
                // runtime's pids can resolve here.
                std::mem::forget(handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
            }
            return;
        }
        shut_down(&kernel, threads, id);
    }
}

/// Stops the workers, ends every remaining process (running its destructors,
/// each started one on its own worker's thread: `scheduler::teardown`) and
/// frees the runtime's id.
fn shut_down(kernel: &Kernel, threads: Vec<JoinHandle<()>>, id: Option<RuntimeId>) {
    // SeqCst: pairs with the SeqCst increment/check in `Kernel::spawn`, so
    // either a spawn sees the flag or the teardown sees it in flight.
    kernel.shutdown.store(true, Ordering::SeqCst);
    for parker in &kernel.scheduler.parkers {
        parker.unpark();
    }
    kernel.scheduler.alarm.ring();
    let workers = &threads[..kernel.workers.min(threads.len())];
    kernel.teardown.wait_until_stopped(workers.len(), || workers.iter().filter(|thread| thread.is_finished()).count());
    // SeqCst: see above.
    while kernel.spawns_in_flight.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
    let handle = kernel.collector.register();
    let guard = handle.pin();
    let entries = kernel.table.drain_all(&guard);
    let mut own: Vec<Vec<ProcRef>> = vec![Vec::new(); kernel.workers];
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
    kernel.teardown.hand_out(own);
    for thread in threads {
        let _ = thread.join();
    }
    // Every process is torn down, so no `blocking` job is running or queued
    // (each one's process waited for it); idle pool threads end now.
    kernel.blocking.close();
    // No coroutine is left: the stacks' memory goes back now, not when the
    // last `Handle` lets the kernel go. Unless a worker thread died before it
    // took its processes: those stay allocated (a `blocking` job of theirs may
    // still write to its stack).
    if (0..kernel.workers).all(|worker| kernel.teardown.was_taken(worker)) {
        kernel.each_stack_pool(stack::StackPool::release_all);
    }
    for entry in entries {
        // SAFETY: as above; the workers have torn their processes down and ended.
        let home = unsafe { entry.deref() }.home();
        if home.is_none_or(|home| kernel.teardown.was_taken(home)) {
            let block = NonNull::new(entry.as_raw().cast_mut()).expect("a drained entry is not null");
            let pool = Arc::clone(&kernel.blocks);
            // SAFETY: out of the table and torn down; nothing refers to it now
            // but threads pinned before this guard, which the collector waits
            // out. It came from `pool` and is freed once, here.
            unsafe { guard.defer_unchecked(move || pool.free(block)) };
        }
        kernel.process_ended(None);
    }
    drop(guard);
    collect_garbage(&handle, SHUTDOWN_COLLECT_ROUNDS);
    // The blocks' memory goes back now, not when the last `Handle` lets the
    // kernel go.
    kernel.blocks.give_back(0);
    drop(id);
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
