//! [`Cx`]: what a process body gets to act as a process.
//!
//! A `Cx` lives on the process's own stack for as long as the process runs, and
//! holds what only the process touches: its mailbox, its reduction budget, its
//! links and monitors, its process-local storage. It is neither `Send` nor
//! `Clone`: runtime calls can only be made by the process itself, through it.
//!
//! `Cx` is a face: each method passes the gate (`gate`) and hands the call to
//! the part that owns its invariant: the budget (`budget`), the receive
//! engine and its timer (`receive`), signal intake (`intake`), links and
//! monitors (`watch`); the kernel does spawning and delivery. Field table
//! (every field is touched only by the process's own thread, its home
//! worker's, while it runs or is torn down there):
//!
//! | field | written | read | valid |
//! |---|---|---|---|
//! | `pcb` | at creation | every call | until the coroutine finished (the block outlives it) |
//! | `kernel` | at creation | calls through the gate | while the home worker's thread runs (it holds the kernel's `Arc`) |
//! | `worker` | at every resume | calls with an `Open` | while this process runs on it (never in teardown) |
//! | `yielder` | at creation | at every suspension | for the coroutine's life |
//! | `exit_prefetch` | when it is told to die | at its exit | during the run that set it (cleared at every suspension) |

use std::any::{Any, TypeId};
use std::ptr::NonNull;
use std::time::Duration;

use corosensei::Yielder;

mod blocking;
mod budget;
mod call;
mod gate;
mod inspect;
mod intake;
mod receive;
mod root;
mod timers;
mod watch;

pub use call::{ReplyTo, Request};
pub(crate) use root::{ExitUnwind, Starting, process_main};
pub use timers::TimerRef;

use budget::Budget;
use gate::{Call, Open};
use receive::ReceiveTimer;
use watch::Watch;

use crate::alias::Aliases;
use crate::error::SpawnError;
use crate::kernel::spawn::Watchers;
use crate::kernel::{Handle, Kernel, SpawnOptions};
use crate::mailbox::{Mailbox, Message};
use crate::monitor::Down;
use crate::pid::{Pid, Ref};
use crate::process::{Outcome, Pcb, Signal, Suspend, WorkerPtr};
use crate::reason::Reason;
use crate::registry::Name;
use crate::signal_queue::SignalQueue;
use crate::sync::epoch::Guard;
use crate::worker::WorkerCore;

/// What [`Cx::spawn_opt`] started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    /// The new process.
    pub pid: Pid,
    /// Its monitor, if [`SpawnOptions::monitor`] asked for one.
    pub monitor: Option<Ref>,
}

/// The context of the running process: its handle to the runtime.
///
/// Every runtime call is a method here. Blocking calls (`receive*`, `sleep`,
/// `yield_now`) return `Err(reason)` when the process must end, so a body leaves
/// with `?` and its destructors run as plain returns; a body that ignores the
/// error ends with that reason anyway, and any further runtime call unwinds it.
// `repr(C, align(64))`: what every runtime call and suspension touches comes
// first, in one cache line, then the mailbox (every receive); a waiting
// process's lines are cold when it resumes, and each line is a miss (ring,
// link rows). The assertions below keep it so.
#[repr(C, align(64))]
pub struct Cx {
    pcb: NonNull<Pcb>,
    kernel: NonNull<Kernel>,
    worker: WorkerPtr,
    yielder: NonNull<Yielder<WorkerPtr, Suspend>>,
    budget: Budget,
    /// Set when it must end (told to die, or torn down); stays set.
    exit_reason: Option<Reason>,
    mailbox: Mailbox,
    timer: ReceiveTimer,
    watch: Watch,
    aliases: Aliases,
    locals: Vec<(TypeId, Box<dyn Any>)>,
    /// The first link of a process told to die, whose stack to prefetch at
    /// its exit (see `prefetch_first_link_stack`).
    exit_prefetch: Option<NonNull<Pcb>>,
}

const _: () = {
    use std::mem::offset_of;
    // The gate and `suspend` read and write the budget on every call.
    assert!(offset_of!(Cx, budget) + size_of::<Budget>() <= 64);
    // `check_alive` reads whether it is set: it starts in that line (the
    // whole of it does not fit).
    assert!(offset_of!(Cx, exit_reason) + size_of::<usize>() <= 64);
};

/// What a call the gate let through may use: the kernel, the worker this
/// process runs on, and the process's own signal queue (for notices it sends
/// itself). Made only by [`Cx::post`], used within that call.
#[derive(Clone, Copy)]
pub(super) struct Post<'a> {
    kernel: &'a Kernel,
    worker: &'a WorkerCore,
    own: &'a SignalQueue<Signal, Message>,
}

impl<'a> Post<'a> {
    /// Delivers `signal` to `to` (see `Kernel::deliver`): `false` if `to` is gone.
    pub(super) fn deliver(self, to: Pid, signal: Signal) -> bool {
        self.kernel.deliver(to, signal, Some(self.worker))
    }

    /// Queues `signal` to this process itself, behind what has arrived. No
    /// wake-up is needed: it is running, and it takes in its queue before it
    /// next waits (`match_or_wait`). Never refused: the queue is sealed only
    /// at exit step 6, after the coroutine has finished (an ending process's
    /// deferred questions rely on that).
    pub(super) fn to_self(self, signal: Signal) {
        let pushed = self.own.push(signal);
        debug_assert!(pushed.is_ok(), "a running process's own queue is open");
        if let Err(refused) = pushed {
            crate::crash::drop_contained(refused);
        }
    }

    /// Whether `pid` is a process that is there and not exiting (a snapshot).
    pub(super) fn is_live(self, pid: Pid) -> bool {
        self.kernel.is_live(pid, Some(self.worker))
    }

    /// The runtime's reserved pid: never a process.
    pub(super) fn nobody(self) -> Pid {
        self.kernel.reserved_pid()
    }

    /// The worker's epoch pin.
    pub(super) fn pin(self) -> Guard {
        self.worker.pin()
    }

    pub(super) fn worker(self) -> &'a WorkerCore {
        self.worker
    }
}

impl Cx {
    /// A `Cx` with no links or monitors yet (see `Cx::start_watching`).
    /// Returned as built, never changed before: so it is built in its caller's
    /// place instead of being copied there.
    pub(crate) fn new(
        pcb: NonNull<Pcb>,
        kernel: NonNull<Kernel>,
        worker: WorkerPtr,
        yielder: &Yielder<WorkerPtr, Suspend>,
    ) -> Cx {
        Cx {
            pcb,
            kernel,
            worker,
            yielder: NonNull::from(yielder),
            budget: Budget::new(),
            exit_reason: None,
            mailbox: Mailbox::default(),
            timer: ReceiveTimer::default(),
            watch: Watch::default(),
            aliases: Aliases::default(),
            locals: Vec::new(),
            exit_prefetch: None,
        }
    }

    /// Starts linked to the parent of a `spawn_link`, monitored by that of a
    /// `spawn_monitor` (set up at spawn, before this process could run).
    pub(crate) fn start_watching(&mut self, starting: root::Starting) {
        self.watch.start(starting.link, starting.monitor);
        self.watch.trap_exit = starting.trap_exit;
    }

    fn pcb(&self) -> &Pcb {
        // SAFETY: the pcb is freed only after this process's coroutine finished,
        // and `Cx` lives on that coroutine's stack.
        unsafe { self.pcb.as_ref() }
    }

    pub(crate) fn kernel(&self) -> &Kernel {
        // SAFETY: this code runs on the process's stack, which only its home
        // worker's thread runs (and, at shutdown, unwinds: `scheduler::teardown`);
        // that worker holds an `Arc<Kernel>` until its thread ends.
        unsafe { self.kernel.as_ref() }
    }

    /// What a call the gate let through may use. It borrows `self`, so it
    /// cannot be kept across a suspension (which needs `&mut self`): `worker`
    /// is valid only until then.
    fn post(&self, open: Open) -> Post<'_> {
        // SAFETY: see `post_parts`; the result borrows `self`.
        unsafe { self.post_parts(open) }
    }

    /// [`Cx::post`] beside the part that links and monitors, for a call that
    /// needs both.
    fn watch_and_post(&mut self, open: Open) -> (&mut Watch, Post<'_>) {
        // SAFETY: see `post_parts`; the result borrows `self` (mutably), and
        // `Post` points only outside the `Cx`.
        let post = unsafe { self.post_parts(open) };
        (&mut self.watch, post)
    }

    /// # Safety
    /// The caller bounds `'a` by a borrow of `self` (so the `Post` is gone
    /// before the process can suspend).
    unsafe fn post_parts<'a>(&self, _open: Open) -> Post<'a> {
        // SAFETY: `kernel`: see `Cx::kernel`. `worker` is refreshed on every
        // resume and always names the home worker (a process never changes
        // thread), whose `WorkerCore` lives until its thread ends, which is
        // after this process's last run there; `Open` is only given while the
        // process runs there normally (never in teardown, see `gate`), and the
        // caller keeps the result no longer than a borrow of `self`, which ends
        // before any suspension. `pcb`: see `Cx::pcb`.
        unsafe {
            Post { kernel: self.kernel.as_ref(), worker: self.worker.0.as_ref(), own: &self.pcb.as_ref().signals }
        }
    }

    /// This process's pid (Erlang's `self()`).
    ///
    /// ```
    /// # use lariat::{Pid, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     // A child learns its parent's pid by capturing it.
    ///     let parent = cx.pid();
    ///     let child = cx.spawn(move |cx| {
    ///         cx.send(parent, cx.pid());
    ///         Ok(())
    ///     })?;
    ///     assert_eq!(cx.receive::<Pid>()?, child);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pcb().pid
    }

    /// A handle to the runtime, for code that must outlive this process or run outside it.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let text = runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let handle = cx.handle();
    ///     // An OS thread that is no process sends through the handle.
    ///     std::thread::spawn(move || handle.send(me, "from a thread"));
    ///     cx.receive::<&str>()
    /// })?;
    /// assert_eq!(text, "from a thread");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle(&self) -> Handle {
        self.kernel().handle()
    }

    /// Reductions this process has spent so far.
    ///
    /// Every runtime call costs reductions; a process's time slice is a budget of
    /// them.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let before = cx.reductions();
    ///     for n in 0..10u32 {
    ///         cx.send(me, n);
    ///     }
    ///     assert!(cx.reductions() >= before + 10, "each send costs at least one");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reductions(&self) -> u64 {
        self.budget.spent()
    }

    /// Messages waiting in the mailbox (after taking in what has arrived).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.send(me, 1u32);
    ///     cx.send(me, "two");
    ///     assert_eq!(cx.mailbox_len(), 2);
    ///     cx.receive::<&str>()?;
    ///     assert_eq!(cx.mailbox_len(), 1);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mailbox_len(&mut self) -> usize {
        self.take_in_if_allowed();
        self.mailbox.len()
    }
    /// Spawns a process running `body`, on this worker (an idle worker may
    /// take it before it first runs).
    ///
    /// # Threads
    /// A process runs on one OS thread for its whole life: the worker that
    /// first runs it. Only the body, before it starts, can move (it is `Send`).
    /// So a process may hold thread-bound values across `receive` and the
    /// other calls that suspend — a lock guard, a thread-local's reference, an
    /// entered `tracing` span, an `Rc` — without harm, though a lock held
    /// across a wait stalls every other thread that wants it, and processes
    /// sharing a thread take turns on it (see [`Cx::put_local`] for state of
    /// one process).
    ///
    /// # Errors
    ///
    /// - [`SpawnError::TableFull`] if every slot of the process table is in use
    ///   ([`Builder::max_processes`](crate::Builder::max_processes)): wait for
    ///   processes to end, or build the runtime with a bigger table;
    /// - [`SpawnError::ShuttingDown`] if the runtime is shutting down: nothing new
    ///   starts, and this process is about to end too.
    ///
    /// `?` in a body turns either into the process's exit reason.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let sum = runtime.block_on(|cx| {
    ///     let parent = cx.pid();
    ///     for n in 1..=3u64 {
    ///         cx.spawn(move |cx| {
    ///             cx.send(parent, n * n);
    ///             Ok(())
    ///         })?;
    ///     }
    ///     let mut sum = 0;
    ///     for _ in 0..3 {
    ///         sum += cx.receive::<u64>()?;
    ///     }
    ///     Ok::<_, Reason>(sum)
    /// })?;
    /// assert_eq!(sum, 1 + 4 + 9);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// With a table of one slot, which the `block_on` process holds, a spawn fails:
    ///
    /// ```
    /// # use lariat::{Reason, Runtime, SpawnError};
    /// let runtime = Runtime::builder().max_processes(1).build()?;
    /// let refused = runtime.block_on(|cx| Ok::<_, Reason>(cx.spawn(|_| Ok(()))))?;
    /// assert_eq!(refused, Err(SpawnError::TableFull { capacity: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(&mut self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.spawn_opt(SpawnOptions::new(), body).map(|spawned| spawned.pid)
    }

    /// Spawns a process linked to this one, atomically: the link exists before
    /// the child runs, so a child that ends at once still reports its real reason.
    ///
    /// # Errors
    ///
    /// As [`Cx::spawn`].
    ///
    /// ```
    /// # use lariat::{Exit, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let exit = runtime.block_on(|cx| {
    ///     // Trapping, the child's failure comes as a message instead of ending this process.
    ///     cx.trap_exit(true);
    ///     let child = cx.spawn_link(|_| Err(Reason::error("crashed")))?;
    ///     assert_eq!(cx.links(), vec![child]);
    ///     let exit = cx.receive::<Exit>()?;
    ///     assert_eq!(exit.from, child);
    ///     Ok::<_, Reason>(exit.reason)
    /// })?;
    /// assert_eq!(exit, Reason::error("crashed"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_link<F>(&mut self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.spawn_opt(SpawnOptions::new().link(), body).map(|spawned| spawned.pid)
    }

    /// Spawns a process monitored by this one, atomically (a child that ends at
    /// once still reports its real reason in the `Down`).
    ///
    /// # Errors
    ///
    /// As [`Cx::spawn`].
    ///
    /// ```
    /// # use lariat::{Down, Monitored, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let (child, monitor) = cx.spawn_monitor(|_| Err(Reason::error("crashed")))?;
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!(down.monitor, monitor);
    ///     assert_eq!(down.object, Monitored::Pid(child));
    ///     assert_eq!(down.reason, Reason::error("crashed"));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_monitor<F>(&mut self, body: F) -> Result<(Pid, Ref), SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        let spawned = self.spawn_opt(SpawnOptions::new().monitor(), body)?;
        Ok((spawned.pid, spawned.monitor.expect("asked for a monitor")))
    }

    /// Spawns a process with `options` (Erlang's `spawn_opt`): linked and/or
    /// monitored (both set up before the child can run), with its own stack size.
    ///
    /// # Errors
    ///
    /// As [`Cx::spawn`], and [`SpawnError::StackSize`] if
    /// [`SpawnOptions::stack_size`] is out of range.
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime, SpawnError, SpawnOptions};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let options = SpawnOptions::new().monitor().stack_size(64 * 1024);
    ///     let spawned = cx.spawn_opt(options, |cx| {
    ///         let _ = cx.pid(); // a small body needs only a small stack
    ///         Ok(())
    ///     })?;
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!(Some(down.monitor), spawned.monitor);
    ///     assert_eq!(down.reason, Reason::Normal);
    ///
    ///     let too_big = cx.spawn_opt(SpawnOptions::new().stack_size(usize::MAX), |_| Ok(()));
    ///     assert!(matches!(too_big, Err(SpawnError::StackSize { .. })));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_opt<F>(&mut self, options: SpawnOptions, body: F) -> Result<Spawned, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        let Ok(open) = self.gate(Call::Act(4)) else {
            // Ending, already unwinding: nothing new starts.
            return Err(SpawnError::ShuttingDown);
        };
        let me = self.pid();
        let monitor = options.monitor.then(|| self.kernel().make_ref());
        let watchers = Watchers {
            link_to: options.link.then_some(me),
            monitor_by: monitor.map(|monitor| (monitor, me)),
            exit_waiter: None,
            trap_exit: options.trap_exit,
            near: None,
            watching: None,
        };
        let post = self.post(open);
        let child = self.kernel().spawn(Box::new(body), options.stack_size, watchers, Some(post.worker()))?;
        self.watch.spawned(child, options.link, monitor);
        Ok(Spawned { pid: child, monitor })
    }

    /// Monitors `pid` (Erlang's `monitor(process, Pid)`): when it ends, this
    /// process gets one [`Down`] message naming the returned ref. Every call is a
    /// separate monitor. A pid that is already gone gives `Down` with `NoProc` at
    /// once; monitoring oneself creates no monitor (no `Down` ever comes).
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| {
    ///         cx.receive::<()>()?; // works until told to stop
    ///         Err(Reason::error("tired"))
    ///     })?;
    ///     let monitor = cx.monitor(worker);
    ///     cx.send(worker, ());
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!((down.monitor, down.reason), (monitor, Reason::error("tired")));
    ///
    ///     // The worker is gone now: a new monitor reports `NoProc` at once.
    ///     let late = cx.monitor(worker);
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!((down.monitor, down.reason), (late, Reason::NoProc));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monitor(&mut self, pid: Pid) -> Ref {
        self.monitor_resolved(Some(pid), None)
    }

    /// Monitors the process registered as `name` (Erlang's `monitor(process,
    /// Name)`). The name is resolved once, now; the [`Down`] names `name`, not the
    /// pid. A name nobody holds gives `Down` with `NoProc` at once.
    ///
    /// ```
    /// # use lariat::{Down, Monitored, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     cx.register("worker", worker)?;
    ///     let monitor = cx.monitor_named("worker");
    ///     cx.send_named("worker", ())?;
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!(down.monitor, monitor);
    ///     assert_eq!(down.object, Monitored::Name("worker".into()));
    ///     assert_eq!(down.reason, Reason::Normal);
    ///
    ///     // Nobody holds the name now.
    ///     cx.monitor_named("worker");
    ///     assert_eq!(cx.receive::<Down>()?.reason, Reason::NoProc);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monitor_named(&mut self, name: impl Into<Name>) -> Ref {
        let name = name.into();
        let pid = self.whereis(&name);
        self.monitor_resolved(pid, Some(name))
    }

    fn monitor_resolved(&mut self, pid: Option<Pid>, name: Option<Name>) -> Ref {
        let monitor = self.kernel().make_ref();
        let Ok(open) = self.gate(Call::Act(1)) else { return monitor };
        let me = self.pid();
        let (watch, post) = self.watch_and_post(open);
        watch.monitor(me, pid, name, monitor, post);
        monitor
    }

    /// Drops a monitor (Erlang's `demonitor/1`). Always succeeds; once it returns
    /// no `Down` for it will be added (one may already be in the mailbox). Returns
    /// whether the monitor was still active (`demonitor(Ref, [info])`).
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     let dropped = cx.monitor(worker);
    ///     let kept = cx.monitor(worker);
    ///     assert!(cx.demonitor(dropped));
    ///     assert!(!cx.demonitor(dropped), "no longer active");
    ///     cx.send(worker, ());
    ///     // Only the monitor still held reports the end.
    ///     assert_eq!(cx.receive::<Down>()?.monitor, kept);
    ///     assert_eq!(cx.mailbox_len(), 0);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn demonitor(&mut self, monitor: Ref) -> bool {
        let Ok(open) = self.gate(Call::Act(1)) else { return false };
        let (watch, post) = self.watch_and_post(open);
        watch.demonitor(monitor, post)
    }

    /// [`Cx::demonitor`], and also removes its `Down` from the mailbox if one is
    /// there (`demonitor(Ref, [flush, info])`).
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let (gone, _) = cx.spawn_monitor(|_| Ok(()))?;
    ///     cx.receive::<Down>()?;
    ///     // A monitor of a process that is gone: its `Down` is in the mailbox at once.
    ///     let monitor = cx.monitor(gone);
    ///     assert_eq!(cx.mailbox_len(), 1);
    ///     // Its `Down` came, so it was no longer active; the `Down` goes all the same.
    ///     assert!(!cx.demonitor_flush(monitor));
    ///     assert_eq!(cx.mailbox_len(), 0);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn demonitor_flush(&mut self, monitor: Ref) -> bool {
        let active = self.demonitor(monitor);
        self.take_in_if_allowed();
        // A `Down` is made by taking in its signal, so it is in the buffered
        // part: no need to look through (and buffer) a backlog that arrived.
        let _ = self.mailbox.take_first_buffered(|message| {
            message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
        });
        active
    }

    /// Links this process to `pid` (Erlang's `link/1`): when one of them ends,
    /// the other gets its exit signal. Linking again to a live linked process,
    /// or to itself, does nothing.
    ///
    /// If `pid` is already gone: `Err(Reason::NoProc)` when this process does not
    /// trap exits (propagate it with `?` to end with `noproc`, as Erlang does);
    /// when it traps exits, `Ok` and an [`Exit`](crate::Exit) message with reason `NoProc`.
    ///
    /// # Errors
    ///
    /// [`Reason::NoProc`] if `pid` is gone or exiting and this process does not
    /// trap exits (above); `Shutdown` if the runtime is tearing this process down.
    ///
    /// ```
    /// # use lariat::{Down, Exit, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     cx.trap_exit(true);
    ///     let worker = cx.spawn(|cx| {
    ///         cx.receive::<()>()?;
    ///         Err(Reason::error("failed"))
    ///     })?;
    ///     cx.link(worker)?;
    ///     cx.send(worker, ());
    ///     assert_eq!(cx.receive::<Exit>()?, Exit { from: worker, reason: Reason::error("failed") });
    ///
    ///     // Linking to a process that is gone, not trapping: `Err(NoProc)`.
    ///     cx.trap_exit(false);
    ///     let (gone, _) = cx.spawn_monitor(|_| Ok(()))?;
    ///     cx.receive::<Down>()?;
    ///     assert_eq!(cx.link(gone), Err(Reason::NoProc));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link(&mut self, pid: Pid) -> Result<(), Reason> {
        let open = self.gate(Call::Act(1))?;
        let me = self.pid();
        let (watch, post) = self.watch_and_post(open);
        watch.link(me, pid, post)
    }

    /// Removes the link to `pid`, if any (Erlang's `unlink/1`). Always succeeds;
    /// once it returns, that link can no longer affect this process (an `Exit`
    /// message already in the mailbox stays).
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn_link(|cx| {
    ///         cx.receive::<()>()?;
    ///         Err(Reason::error("failed"))
    ///     })?;
    ///     cx.unlink(worker);
    ///     assert!(cx.links().is_empty());
    ///     let monitor = cx.monitor(worker);
    ///     cx.send(worker, ());
    ///     let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
    ///     assert_eq!(down.reason, Reason::error("failed"));
    ///     // Still here: without the link, the failure did not reach this process.
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unlink(&mut self, pid: Pid) {
        let Ok(open) = self.gate(Call::Act(1)) else { return };
        let me = self.pid();
        let (watch, post) = self.watch_and_post(open);
        watch.unlink(me, pid, post);
    }

    /// Turns trapping of exit signals on or off; returns the previous setting
    /// (`false` at start). Affects the exit signals handled from now on.
    ///
    /// ```
    /// # use lariat::{Exit, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert!(!cx.trap_exit(true), "off at start");
    ///     let child = cx.spawn_link(|_| Err(Reason::error("crashed")))?;
    ///     // Not killed: the exit signal became a message.
    ///     let exit = cx.receive::<Exit>()?;
    ///     assert_eq!((exit.from, exit.reason), (child, Reason::error("crashed")));
    ///     assert!(cx.trap_exit(false));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trap_exit(&mut self, trap: bool) -> bool {
        std::mem::replace(&mut self.watch.trap_exit, trap)
    }

    /// Whether this process traps exit signals.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert!(!cx.is_trapping_exits());
    ///     cx.trap_exit(true);
    ///     assert!(cx.is_trapping_exits());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_trapping_exits(&self) -> bool {
        self.watch.trap_exit
    }

    /// Sends an exit signal to `pid` (Erlang's `exit/2`); docs/semantics.md
    /// says what it does. To itself it takes effect before this returns:
    /// `Err(reason)` if this process must now end (leave with `?`).
    ///
    /// # Errors
    ///
    /// `Err(reason)` when `pid` is this process and the signal ends it: always
    /// for `kill` (`Err(Killed)`), and for any other reason, `normal` included,
    /// when this process does not trap exits. Return it with `?`. A signal to
    /// another process never fails here (one to a process that is gone is
    /// dropped), except with `Shutdown` while the runtime tears this process down.
    ///
    /// ```
    /// # use lariat::{Down, Exit, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     // `kill` ends a process even if it traps exits.
    ///     let (worker, _) = cx.spawn_monitor(|cx| {
    ///         cx.trap_exit(true);
    ///         loop {
    ///             cx.receive::<Exit>()?;
    ///         }
    ///     })?;
    ///     cx.exit(worker, Reason::Kill)?;
    ///     assert_eq!(cx.receive::<Down>()?.reason, Reason::Killed);
    ///
    ///     // To itself, not trapping: `Err` at once, and the process ends with it.
    ///     let (_, _) = cx.spawn_monitor(|cx| {
    ///         let me = cx.pid();
    ///         cx.exit(me, Reason::error("done"))?;
    ///         Ok(())
    ///     })?;
    ///     assert_eq!(cx.receive::<Down>()?.reason, Reason::error("done"));
    ///
    ///     // To itself, trapping: a message.
    ///     cx.trap_exit(true);
    ///     let me = cx.pid();
    ///     cx.exit(me, Reason::error("note"))?;
    ///     assert_eq!(cx.receive::<Exit>()?, Exit { from: me, reason: Reason::error("note") });
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exit(&mut self, pid: Pid, reason: Reason) -> Result<(), Reason> {
        let open = self.gate(Call::Act(1))?;
        let me = self.pid();
        let signal = Signal::Exit { from: me, reason, linked: false };
        if pid == me {
            return self.signal_self(open, signal);
        }
        self.post(open).deliver(pid, signal);
        Ok(())
    }

    /// The processes linked to this one now.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert!(cx.links().is_empty());
    ///     let worker = cx.spawn_link(|cx| cx.receive::<()>())?;
    ///     assert_eq!(cx.links(), vec![worker]);
    ///     cx.unlink(worker);
    ///     assert!(cx.links().is_empty());
    ///     cx.send(worker, ());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn links(&mut self) -> Vec<Pid> {
        self.take_in_if_allowed();
        self.watch.links.active().collect()
    }

    /// Sends `message` to `to`. A dead or unknown pid drops it silently, as in Erlang.
    /// Messages from one process to another arrive in the order they were sent.
    ///
    /// When this returns, the message is in the receiver's queue (or was
    /// dropped because the receiver is gone): nothing is held back in the
    /// sender, so what this process does next — compute, block its thread on
    /// something outside the runtime — cannot delay it. A receiver that is
    /// waiting is woken; one that is busy finds it when it next looks.
    ///
    /// ```
    /// # use lariat::{Pid, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let replies = runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let echo = cx.spawn(|cx| loop {
    ///         let (from, n) = cx.receive::<(Pid, u32)>()?;
    ///         cx.send(from, n);
    ///     })?;
    ///     for n in 1..=3u32 {
    ///         cx.send(echo, (me, n));
    ///     }
    ///     // In the order they were sent.
    ///     let replies = [cx.receive::<u32>()?, cx.receive::<u32>()?, cx.receive::<u32>()?];
    ///     Ok::<_, Reason>(replies)
    /// })?;
    /// assert_eq!(replies, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<T: Send + 'static>(&mut self, to: Pid, message: T) {
        let Ok(open) = self.gate(Call::Act(1)) else {
            // Ending, already unwinding: dropped, as to a dead pid (and
            // contained the same way).
            crate::crash::drop_contained(message);
            return;
        };
        self.post(open).deliver(to, Signal::Message(Message::new(message)));
    }

    /// Waits for the first message of type `T` (others stay in the mailbox, in order).
    ///
    /// # Errors
    ///
    /// `Err(reason)` when this process must end while it waits (or was told to
    /// before): an exit signal it does not trap (its reason), `exit(pid, kill)`
    /// (`Killed`), or the runtime shutting down (`Shutdown`). Return it with `?`:
    /// the process then ends with that reason whatever the body returns.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.send(me, "first");
    ///     cx.send(me, 2u32);
    ///     // The `u32`, though the text came first; the text stays.
    ///     assert_eq!(cx.receive::<u32>()?, 2);
    ///     assert_eq!(cx.receive::<&str>()?, "first");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive<T: Send + 'static>(&mut self) -> Result<T, Reason> {
        self.receive_map(|message| take::<T>(message))
    }

    /// Like [`Cx::receive`], giving up after `timeout`: `Ok(None)` then.
    ///
    /// # Errors
    ///
    /// As [`Cx::receive`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert_eq!(cx.receive_timeout::<u32>(Duration::from_millis(10))?, None);
    ///     let me = cx.pid();
    ///     cx.send(me, 7u32);
    ///     // A message already there is taken at once.
    ///     assert_eq!(cx.receive_timeout::<u32>(Duration::from_secs(5))?, Some(7));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_timeout<T: Send + 'static>(&mut self, timeout: Duration) -> Result<Option<T>, Reason> {
        self.receive_map_timeout(timeout, |message| take::<T>(message))
    }

    /// Waits for the first `T` for which `accept` is true (others stay, in order).
    ///
    /// # Errors
    ///
    /// As [`Cx::receive`].
    ///
    /// # Panics
    ///
    /// If `accept` panics: the panic unwinds this process, as one in its body does.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     for n in [1u32, 3, 4, 5] {
    ///         cx.send(me, n);
    ///     }
    ///     assert_eq!(cx.receive_if::<u32>(|n| n % 2 == 0)?, 4);
    ///     // The others stay, in order.
    ///     assert_eq!(cx.receive::<u32>()?, 1);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_if<T: Send + 'static>(&mut self, mut accept: impl FnMut(&T) -> bool) -> Result<T, Reason> {
        self.receive_map(|message| match message.downcast_ref::<T>() {
            Some(value) if accept(value) => take::<T>(message),
            _ => None,
        })
    }

    /// Waits for the first message of any type.
    ///
    /// # Errors
    ///
    /// As [`Cx::receive`].
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.send(me, String::from("hello"));
    ///     let message = cx.receive_any()?;
    ///     assert!(message.is::<String>());
    ///     assert_eq!(message.downcast::<String>().ok().as_deref(), Some("hello"));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_any(&mut self) -> Result<Message, Reason> {
        self.receive_map(|message| Some(std::mem::replace(message, Message::new(()))))
    }

    /// Selective receive: `matcher` looks at each message, oldest first, and
    /// returns `Some(result)` for the first one it wants (that message is then
    /// removed; the matcher may move out of it). Messages it declines stay, in
    /// order. While waiting, only newly arrived messages are looked at.
    ///
    /// # Errors
    ///
    /// As [`Cx::receive`].
    ///
    /// # Panics
    ///
    /// If `matcher` panics: the panic unwinds this process, as one in its body does.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// struct Tick;
    /// #[derive(Debug, PartialEq)]
    /// enum Event {
    ///     Tick,
    ///     Text(String),
    /// }
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.send(me, 1u8); // neither: stays
    ///     cx.send(me, String::from("hi"));
    ///     cx.send(me, Tick);
    ///     let next_event = |cx: &mut lariat::Cx| {
    ///         cx.receive_map(|message| {
    ///             if message.is::<Tick>() {
    ///                 return Some(Event::Tick);
    ///             }
    ///             // Moves the text out: the message is removed anyway.
    ///             message.downcast_mut::<String>().map(|text| Event::Text(std::mem::take(text)))
    ///         })
    ///     };
    ///     assert_eq!(next_event(cx)?, Event::Text("hi".into()));
    ///     assert_eq!(next_event(cx)?, Event::Tick);
    ///     assert_eq!(cx.mailbox_len(), 1);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_map<R>(&mut self, matcher: impl FnMut(&mut Message) -> Option<R>) -> Result<R, Reason> {
        match self.receive_inner(None, matcher)? {
            Some(result) => Ok(result),
            None => unreachable!("a receive without timeout returns only on a match"),
        }
    }

    /// [`Cx::receive_map`] with a timeout: `Ok(None)` when it expires first. A
    /// message that arrives as the timer fires is still matched, never lost.
    ///
    /// # Errors
    ///
    /// As [`Cx::receive`].
    ///
    /// # Panics
    ///
    /// If `matcher` panics: the panic unwinds this process, as one in its body does.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let small = |message: &mut lariat::Message| message.downcast_ref::<u32>().copied().filter(|n| *n < 10);
    ///     let me = cx.pid();
    ///     cx.send(me, 100u32);
    ///     assert_eq!(cx.receive_map_timeout(Duration::from_millis(10), small)?, None);
    ///     cx.send(me, 5u32);
    ///     assert_eq!(cx.receive_map_timeout(Duration::from_secs(5), small)?, Some(5));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_map_timeout<R>(
        &mut self,
        timeout: Duration,
        matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        self.receive_inner(Some(timeout), matcher)
    }

    /// Suspends this process for `duration` (messages keep arriving meanwhile).
    ///
    /// # Errors
    ///
    /// As [`Cx::receive`]: a process told to end while it sleeps wakes with
    /// `Err(reason)`.
    ///
    /// ```
    /// # use std::time::{Duration, Instant};
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let start = Instant::now();
    ///     cx.send(me, "kept");
    ///     cx.sleep(Duration::from_millis(10))?;
    ///     assert!(start.elapsed() >= Duration::from_millis(10));
    ///     assert_eq!(cx.receive::<&str>()?, "kept");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sleep(&mut self, duration: Duration) -> Result<(), Reason> {
        self.receive_inner(Some(duration), |_| None::<()>).map(|_| ())
    }

    /// Lets other processes run; this one is queued again at once.
    ///
    /// A long computation that makes no other runtime call should yield now and
    /// then: processes are not preempted.
    ///
    /// # Errors
    ///
    /// `Err(reason)` if this process was told to end (it takes in its signals when
    /// it runs again); return it with `?`.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let sum = runtime.block_on(|cx| {
    ///     let mut sum = 0u64;
    ///     for n in 0..100_000u64 {
    ///         sum += n;
    ///         if n % 10_000 == 0 {
    ///             cx.yield_now()?;
    ///         }
    ///     }
    ///     Ok::<_, Reason>(sum)
    /// })?;
    /// assert_eq!(sum, 4_999_950_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn yield_now(&mut self) -> Result<(), Reason> {
        let open = self.gate(Call::Block(0))?;
        self.end_slice(open)
    }

    /// Stores a per-process value of type `T`, returning the previous one
    /// (process-local storage: use it instead of thread-locals).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// struct RequestCount(u32);
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert!(cx.put_local(RequestCount(0)).is_none());
    ///     let previous = cx.put_local(RequestCount(5)).map(|count| count.0);
    ///     assert_eq!(previous, Some(0));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put_local<T: 'static>(&mut self, value: T) -> Option<T> {
        let old = self.take_local::<T>();
        self.locals.push((TypeId::of::<T>(), Box::new(value)));
        old
    }

    /// The per-process value of type `T`, if one was stored.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// struct RequestCount(u32);
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert!(cx.local::<RequestCount>().is_none());
    ///     cx.put_local(RequestCount(0));
    ///     for _ in 0..3 {
    ///         if let Some(count) = cx.local::<RequestCount>() {
    ///             count.0 += 1;
    ///         }
    ///     }
    ///     assert_eq!(cx.local::<RequestCount>().map(|count| count.0), Some(3));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local<T: 'static>(&mut self) -> Option<&mut T> {
        self.locals.iter_mut().find(|(id, _)| *id == TypeId::of::<T>()).and_then(|(_, value)| value.downcast_mut())
    }

    /// Removes and returns the per-process value of type `T`.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     cx.put_local(String::from("session"));
    ///     assert_eq!(cx.take_local::<String>().as_deref(), Some("session"));
    ///     assert_eq!(cx.take_local::<String>(), None);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take_local<T: 'static>(&mut self) -> Option<T> {
        let index = self.locals.iter().position(|(id, _)| *id == TypeId::of::<T>())?;
        self.locals.swap_remove(index).1.downcast().ok().map(|value| *value)
    }

    // ---- for the coroutine's root ----

    /// Takes in what arrived, for a read that wants to be current; nothing in
    /// teardown.
    fn take_in_if_allowed(&mut self) {
        if let Ok(open) = self.gate(Call::Ask) {
            self.take_in_signals(open);
        }
    }

    /// Takes in what arrived before the first run; `true` if it was told to die.
    pub(crate) fn killed_before_start(&mut self) -> bool {
        self.take_in_if_allowed();
        self.exit_reason.is_some()
    }

    pub(crate) fn take_exit_reason(&mut self) -> Option<Reason> {
        self.exit_reason.take()
    }

    /// The last act on the process's own stack: drop what it owns, report how it ended.
    pub(crate) fn finish(&mut self, reason: Reason) -> Outcome {
        self.prefetch_first_link_stack();
        // Left by a receive whose matcher panicked (the panic ended the process).
        self.disarm_timer();
        let outcome = Outcome::new(reason, &mut self.watch.links, &mut self.watch.monitors, self.budget.lowest_sp());
        // User destructors of messages and process-local values may panic:
        // each is contained on its own.
        if self.mailbox.len() != 0 {
            self.mailbox.drop_each_contained();
        }
        if !self.locals.is_empty() {
            crate::crash::drop_each_contained(std::mem::take(&mut self.locals));
        }
        outcome
    }
}

fn take<T: Send + 'static>(message: &mut Message) -> Option<T> {
    if !message.is::<T>() {
        return None;
    }
    std::mem::replace(message, Message::new(())).downcast::<T>().ok()
}
