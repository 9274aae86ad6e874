//! [`Cx`]: what a process body gets to act as a process.
//!
//! A `Cx` lives on the process's own stack for as long as the process runs, and
//! holds what only the process touches: its mailbox, its reduction budget, its
//! process-local storage. It is neither `Send` nor `Clone`: runtime calls can only
//! be made by the process itself, through it.

use std::any::{Any, TypeId};
use std::panic::resume_unwind;
use std::ptr::NonNull;
use std::time::Duration;

use corosensei::Yielder;

mod root;

pub(crate) use root::{ExitUnwind, process_main};

use crate::error::SpawnError;
use crate::kernel::spawn::Watchers;
use crate::kernel::{Handle, Kernel, SpawnOptions};
use crate::link::{ExitAction, LinkTable, handle_exit_signal};
use crate::mailbox::{Mailbox, Message, ScanPosition};
use crate::monitor::{Down, Monitored, Monitors};
use crate::pid::Pid;
use crate::pid::Ref;
use crate::process::{
    Exit, InfoAnswer, InfoRequest, Outcome, Pcb, ProcessInfo, ReplyTo, Signal, Status, Suspend, WorkerPtr,
};
use crate::reason::Reason;
use crate::registry::{Name, RegisterError};
use crate::signal::Batch;
use crate::sync::Ordering;
use crate::timer::TimerKey;
use crate::worker::WorkerCore;

/// Reductions in one time slice (ERTS uses 4000 function calls; ours are coarser).
pub(crate) const SLICE_REDUCTIONS: u32 = 2000;
/// A batch of more signals than this reserves mailbox room for all of them at once.
const RESERVE_ABOVE: usize = 8;
/// Messages scanned by a receive that cost one reduction.
const SCANNED_PER_REDUCTION: usize = 64;

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
    reductions_total: u64,
    lowest_sp: usize,
    reductions_left: u32,
    trap_exit: bool,
    exit_reason: Option<Reason>,
    mailbox: Mailbox,
    wait_generation: u64,
    /// The timer of the receive in progress (or of one whose matcher panicked,
    /// disarmed by the next receive or at exit).
    armed_timer: Option<TimerKey>,
    links: LinkTable,
    monitors: Monitors,
    locals: Vec<(TypeId, Box<dyn Any>)>,
    /// The first link of a process told to die, whose stack to prefetch at
    /// its exit (see `prefetch_links`); valid during this run only.
    exit_prefetch: Option<NonNull<Pcb>>,
}

/// Proof that the gate ([`Cx::gate`]) let a runtime call through: the only
/// way for a call to reach the worker (see [`Cx::worker`]).
#[derive(Clone, Copy)]
struct Open(());

/// What kind of runtime call asks the gate.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Acts on other processes or the runtime (send, spawn, link...): charged
    /// `cost` reductions; a process that must end is unwound here (it ignored
    /// the `Err` of a blocking call), or refused if it is already unwinding.
    Act(u32),
    /// May suspend (receive, sleep, yield): a process that must end gets
    /// `Err(reason)` back.
    Block(u32),
    /// Only reads (status, whereis...): refused only in teardown.
    Ask,
}

const _: () = {
    use std::mem::offset_of;
    // `enter`/`suspend` read and write these on every call.
    assert!(offset_of!(Cx, reductions_left) + size_of::<u32>() <= 64);
    assert!(offset_of!(Cx, lowest_sp) + size_of::<usize>() <= 64);
    // `check_alive` reads whether it is set: it starts in that line (the
    // whole of it does not fit).
    assert!(offset_of!(Cx, exit_reason) + size_of::<usize>() <= 64);
};

impl Cx {
    pub(crate) fn new(
        pcb: NonNull<Pcb>,
        kernel: NonNull<Kernel>,
        worker: WorkerPtr,
        yielder: &Yielder<WorkerPtr, Suspend>,
        initial_link: Option<Pid>,
        initial_monitor: Option<(Ref, Pid)>,
    ) -> Cx {
        let mut links = LinkTable::default();
        if let Some(parent) = initial_link {
            links.link(parent);
        }
        let mut monitors = Monitors::default();
        if let Some((monitor, watcher)) = initial_monitor {
            monitors.on_monitor(monitor, watcher);
        }
        Cx {
            pcb,
            kernel,
            worker,
            yielder: NonNull::from(yielder),
            mailbox: Mailbox::default(),
            reductions_left: SLICE_REDUCTIONS,
            reductions_total: 0,
            wait_generation: 0,
            armed_timer: None,
            lowest_sp: usize::MAX,
            exit_reason: None,
            links,
            monitors,
            trap_exit: false,
            locals: Vec::new(),
            exit_prefetch: None,
        }
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

    /// The worker this process runs on, for a call the gate let through.
    fn worker(&self, _open: Open) -> &WorkerCore {
        // SAFETY: `worker` is refreshed on every resume and always names the home
        // worker (a process never changes thread), whose `WorkerCore` lives until
        // its thread ends; `Open` is only given while the process runs there
        // normally (never in teardown, see `gate`).
        unsafe { self.worker.0.as_ref() }
    }

    /// This process's pid (Erlang's `self()`).
    pub fn pid(&self) -> Pid {
        self.pcb().pid
    }

    /// A handle to the runtime, for code that must outlive this process or run outside it.
    pub fn handle(&self) -> Handle {
        self.kernel().handle()
    }

    /// Reductions this process has spent so far.
    pub fn reductions(&self) -> u64 {
        self.reductions_total + u64::from(SLICE_REDUCTIONS - self.reductions_left)
    }

    /// Messages waiting in the mailbox (after taking in what has arrived).
    pub fn mailbox_len(&mut self) -> usize {
        if let Ok(open) = self.gate(Call::Ask) {
            self.take_in_signals(open);
        }
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
    pub fn spawn<F>(&mut self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.spawn_opt(SpawnOptions::new(), body).map(|spawned| spawned.pid)
    }

    /// Spawns a process linked to this one, atomically: the link exists before
    /// the child runs, so a child that ends at once still reports its real reason.
    pub fn spawn_link<F>(&mut self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.spawn_opt(SpawnOptions::new().link(), body).map(|spawned| spawned.pid)
    }

    /// Spawns a process monitored by this one, atomically (a child that ends at
    /// once still reports its real reason in the `Down`).
    pub fn spawn_monitor<F>(&mut self, body: F) -> Result<(Pid, Ref), SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        let spawned = self.spawn_opt(SpawnOptions::new().monitor(), body)?;
        Ok((spawned.pid, spawned.monitor.expect("asked for a monitor")))
    }

    /// Spawns a process with `options` (Erlang's `spawn_opt`): linked and/or
    /// monitored (both set up before the child can run), with its own stack size.
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
        };
        let (child, block) =
            self.kernel().spawn(Box::new(body), options.stack_size, watchers, Some(self.worker(open)))?;
        if options.link {
            self.links.link(child);
            // Relaxed: a prefetch hint (see `Pcb::link_hint`).
            self.pcb().link_hint.store(block.as_ptr() as usize, Ordering::Relaxed);
        }
        if let Some(monitor) = monitor {
            self.monitors.hold(monitor, child, None);
        }
        Ok(Spawned { pid: child, monitor })
    }

    /// Monitors `pid` (Erlang's `monitor(process, Pid)`): when it ends, this
    /// process gets one [`Down`] message naming the returned ref. Every call is a
    /// separate monitor. A pid that is already gone gives `Down` with `NoProc` at
    /// once; monitoring oneself creates no monitor (no `Down` ever comes).
    pub fn monitor(&mut self, pid: Pid) -> Ref {
        self.monitor_resolved(Some(pid), None)
    }

    /// Monitors the process registered as `name` (Erlang's `monitor(process,
    /// Name)`). The name is resolved once, now; the [`Down`] names `name`, not the
    /// pid. A name nobody holds gives `Down` with `NoProc` at once.
    pub fn monitor_named(&mut self, name: impl Into<Name>) -> Ref {
        let name = name.into();
        let pid = self.whereis(&name);
        self.monitor_resolved(pid, Some(name))
    }

    fn monitor_resolved(&mut self, pid: Option<Pid>, name: Option<Name>) -> Ref {
        let monitor = self.kernel().make_ref();
        let Ok(open) = self.gate(Call::Act(1)) else { return monitor };
        let me = self.pid();
        if pid == Some(me) {
            return monitor;
        }
        let object = match (&name, pid) {
            (Some(name), _) => Monitored::Name(name.clone()),
            (None, Some(pid)) => Monitored::Pid(pid),
            (None, None) => unreachable!("a monitor by pid always has its pid"),
        };
        if let Some(pid) = pid {
            self.monitors.hold(monitor, pid, name);
            if self.kernel().deliver(pid, Signal::Monitor { from: me, monitor }, Some(self.worker(open))) {
                return monitor;
            }
            self.monitors.release(monitor);
        }
        self.mailbox.push(Message::new(Down { monitor, object, reason: Reason::NoProc }));
        monitor
    }

    /// Drops a monitor (Erlang's `demonitor/1`). Always succeeds; once it returns
    /// no `Down` for it will be added (one may already be in the mailbox). Returns
    /// whether the monitor was still active (`demonitor(Ref, [info])`).
    pub fn demonitor(&mut self, monitor: Ref) -> bool {
        let Ok(open) = self.gate(Call::Act(1)) else { return false };
        let Some(target) = self.monitors.release(monitor) else { return false };
        self.kernel().deliver(target, Signal::Demonitor { monitor }, Some(self.worker(open)));
        true
    }

    /// [`Cx::demonitor`], and also removes its `Down` from the mailbox if one is
    /// there (`demonitor(Ref, [flush, info])`).
    pub fn demonitor_flush(&mut self, monitor: Ref) -> bool {
        let active = self.demonitor(monitor);
        if let Ok(open) = self.gate(Call::Ask) {
            self.take_in_signals(open);
        }
        // A `Down` is made by taking in its signal, so it is in the buffered
        // part: no need to look through (and buffer) a backlog that arrived.
        let _ = self.mailbox.take_first_buffered(|message| {
            message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
        });
        active
    }

    /// Registers `pid` (often `cx.pid()`) under `name` (Erlang's `register/2`).
    /// Fails if the name is taken, the process already has a name, or it is not
    /// alive. The name is freed when the process ends.
    pub fn register(&mut self, name: impl Into<Name>, pid: Pid) -> Result<(), RegisterError> {
        let Ok(open) = self.gate(Call::Act(1)) else {
            // Ending: at shutdown no process is alive to hold a name.
            return Err(RegisterError::NoProc { pid });
        };
        self.kernel().register(name.into(), pid, Some(self.worker(open)))
    }

    /// Removes a registered name (Erlang's `unregister/1`); an error if nobody holds it.
    pub fn unregister(&mut self, name: &str) -> Result<(), RegisterError> {
        if self.gate(Call::Act(1)).is_err() {
            return Err(RegisterError::NotRegistered { name: name.into() });
        }
        self.kernel().registry.unregister(name).map(|_| ())
    }

    /// The process registered as `name`, if any (Erlang's `whereis/1`).
    pub fn whereis(&mut self, name: &str) -> Option<Pid> {
        self.gate(Call::Ask).ok()?;
        self.kernel().registry.whereis(name)
    }

    /// Sends to the process registered as `name` (Erlang's `Name ! Msg`): an
    /// error if nobody holds the name.
    pub fn send_named<T: Send + 'static>(&mut self, name: &str, message: T) -> Result<(), RegisterError> {
        let pid = self.whereis(name).ok_or_else(|| RegisterError::NotRegistered { name: name.into() })?;
        self.send(pid, message);
        Ok(())
    }

    /// The monitors this process holds now: (ref, what it watches).
    pub fn monitors(&mut self) -> Vec<(Ref, Monitored)> {
        if let Ok(open) = self.gate(Call::Ask) {
            self.take_in_signals(open);
        }
        self.monitors.held()
    }

    /// What `pid` is doing (running, runnable, waiting, exiting); `None` once it
    /// is gone (and at shutdown, when every process is). Read at once, without
    /// asking the process.
    pub fn status(&mut self, pid: Pid) -> Option<Status> {
        let open = self.gate(Call::Ask).ok()?;
        self.kernel().status(pid, Some(self.worker(open)))
    }

    /// Whether `pid` is a process that has not begun to exit (Erlang's
    /// `is_process_alive/1`); `false` at shutdown.
    pub fn is_alive(&mut self, pid: Pid) -> bool {
        self.status(pid).is_some_and(|status| status != Status::Exiting)
    }

    /// Processes alive in this runtime now.
    pub fn live_processes(&mut self) -> usize {
        match self.gate(Call::Ask) {
            Ok(_) => self.kernel().live_processes(),
            Err(_) => 0,
        }
    }

    /// Asks `pid` for its [`ProcessInfo`] (Erlang's `process_info/1`) and waits
    /// for the answer; `Ok(None)` if it is gone or ends before answering.
    ///
    /// The target answers the next time it takes in signals (in a receive that
    /// finds no match among the messages it already has, or at the end of a
    /// time slice), so the answer reflects everything this process sent it
    /// before asking. For this process itself it answers at once.
    pub fn process_info(&mut self, pid: Pid) -> Result<Option<ProcessInfo>, Reason> {
        let open = self.gate(Call::Block(1))?;
        if pid == self.pid() {
            self.take_in_signals(open);
            return Ok(Some(self.own_info()));
        }
        let request = self.kernel().make_ref();
        let signal = Signal::Info(Box::new(InfoRequest::new(ReplyTo::Process { pid: self.pid(), request })));
        if !self.kernel().deliver(pid, signal, Some(self.worker(open))) {
            return Ok(None);
        }
        self.receive_map(|message| match message.downcast_mut::<InfoAnswer>() {
            Some(answer) if answer.request == request => Some(answer.info.take()),
            _ => None,
        })
    }

    fn own_info(&self) -> ProcessInfo {
        let pid = self.pid();
        // Relaxed: only this process sets `named` for itself or reads it here;
        // the registry's lock orders the rest.
        let registered_name =
            if self.pcb().named.load(Ordering::Relaxed) { self.kernel().registry.name_of(pid) } else { None };
        ProcessInfo {
            pid,
            registered_name,
            links: self.links.active().collect(),
            monitors: self.monitors.held(),
            monitored_by: self.monitors.watchers(),
            trap_exit: self.trap_exit,
            mailbox_len: self.mailbox.len(),
            reductions: self.reductions(),
        }
    }

    /// Links this process to `pid` (Erlang's `link/1`): when one of them ends,
    /// the other gets its exit signal. Linking twice, or to itself, does nothing.
    ///
    /// If `pid` is already gone: `Err(Reason::NoProc)` when this process does not
    /// trap exits (propagate it with `?` to end with `noproc`, as Erlang does);
    /// when it traps exits, `Ok` and an [`Exit`] message with reason `NoProc`.
    pub fn link(&mut self, pid: Pid) -> Result<(), Reason> {
        let open = self.gate(Call::Act(1))?;
        let me = self.pid();
        if pid == me || !self.links.link(pid) {
            return Ok(());
        }
        if self.kernel().deliver(pid, Signal::Link { from: me }, Some(self.worker(open))) {
            return Ok(());
        }
        self.links.forget(pid);
        if self.trap_exit {
            self.mailbox.push(Message::new(Exit { from: pid, reason: Reason::NoProc }));
            Ok(())
        } else {
            Err(Reason::NoProc)
        }
    }

    /// Removes the link to `pid`, if any (Erlang's `unlink/1`). Always succeeds;
    /// once it returns, that link can no longer affect this process (an `Exit`
    /// message already in the mailbox stays).
    pub fn unlink(&mut self, pid: Pid) {
        let Ok(open) = self.gate(Call::Act(1)) else { return };
        let Some(id) = self.links.unlink(pid) else { return };
        let me = self.pid();
        if !self.kernel().deliver(pid, Signal::Unlink { from: me, id }, Some(self.worker(open))) {
            // Gone: nobody will acknowledge. Its exit signal may still be on
            // its way (a big fan-out is sent in chunks); with the entry gone
            // here it is ignored.
            self.links.on_unlink_ack(pid, id);
        }
    }

    /// Turns trapping of exit signals on or off; returns the previous setting
    /// (`false` at start). Affects the exit signals handled from now on.
    pub fn trap_exit(&mut self, trap: bool) -> bool {
        std::mem::replace(&mut self.trap_exit, trap)
    }

    /// Whether this process traps exit signals.
    pub fn is_trapping_exits(&self) -> bool {
        self.trap_exit
    }

    /// Sends an exit signal to `pid` (Erlang's `exit/2`); semantics.md §4 says
    /// what it does. To itself it takes effect before this returns:
    /// `Err(reason)` if this process must now end (leave with `?`).
    pub fn exit(&mut self, pid: Pid, reason: Reason) -> Result<(), Reason> {
        let open = self.gate(Call::Act(1))?;
        let me = self.pid();
        let signal = Signal::Exit { from: me, reason, linked: false };
        if pid == me {
            // Through the queue, so signals that came earlier are handled first.
            if self.pcb().signals.push(signal).is_ok() {
                self.take_in_signals(open);
            }
            return self.check_alive();
        }
        self.kernel().deliver(pid, signal, Some(self.worker(open)));
        Ok(())
    }

    /// The processes linked to this one now.
    pub fn links(&mut self) -> Vec<Pid> {
        if let Ok(open) = self.gate(Call::Ask) {
            self.take_in_signals(open);
        }
        self.links.active().collect()
    }

    /// Sends `message` to `to`. A dead or unknown pid drops it silently, as in Erlang.
    /// Messages from one process to another arrive in the order they were sent.
    ///
    /// When this returns, the message is in the receiver's queue (or was
    /// dropped because the receiver is gone): nothing is held back in the
    /// sender, so what this process does next — compute, block its thread on
    /// something outside the runtime — cannot delay it. A receiver that is
    /// waiting is woken; one that is busy finds it when it next looks.
    pub fn send<T: Send + 'static>(&mut self, to: Pid, message: T) {
        let Ok(open) = self.gate(Call::Act(1)) else {
            // Ending, already unwinding: dropped, as to a dead pid (and
            // contained the same way).
            crate::crash::drop_contained(message);
            return;
        };
        self.kernel().deliver(to, Signal::Message(Message::new(message)), Some(self.worker(open)));
    }

    /// Waits for the first message of type `T` (others stay in the mailbox, in order).
    pub fn receive<T: Send + 'static>(&mut self) -> Result<T, Reason> {
        self.receive_map(|message| take::<T>(message))
    }

    /// Like [`Cx::receive`], giving up after `timeout`: `Ok(None)` then.
    pub fn receive_timeout<T: Send + 'static>(&mut self, timeout: Duration) -> Result<Option<T>, Reason> {
        self.receive_map_timeout(timeout, |message| take::<T>(message))
    }

    /// Waits for the first `T` for which `accept` is true (others stay, in order).
    pub fn receive_if<T: Send + 'static>(&mut self, mut accept: impl FnMut(&T) -> bool) -> Result<T, Reason> {
        self.receive_map(|message| match message.downcast_ref::<T>() {
            Some(value) if accept(value) => take::<T>(message),
            _ => None,
        })
    }

    /// Waits for the first message of any type.
    pub fn receive_any(&mut self) -> Result<Message, Reason> {
        self.receive_map(|message| Some(std::mem::replace(message, Message::new(()))))
    }

    /// Selective receive: `matcher` looks at each message, oldest first, and
    /// returns `Some(result)` for the first one it wants (that message is then
    /// removed; the matcher may move out of it). Messages it declines stay, in
    /// order. While waiting, only newly arrived messages are looked at.
    pub fn receive_map<R>(&mut self, matcher: impl FnMut(&mut Message) -> Option<R>) -> Result<R, Reason> {
        match self.receive_inner(None, matcher)? {
            Some(result) => Ok(result),
            None => unreachable!("a receive without timeout returns only on a match"),
        }
    }

    /// [`Cx::receive_map`] with a timeout: `Ok(None)` when it expires first. A
    /// message that arrives as the timer fires is still matched, never lost.
    pub fn receive_map_timeout<R>(
        &mut self,
        timeout: Duration,
        matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        self.receive_inner(Some(timeout), matcher)
    }

    /// Suspends this process for `duration` (messages keep arriving meanwhile).
    pub fn sleep(&mut self, duration: Duration) -> Result<(), Reason> {
        self.receive_inner(Some(duration), |_| None::<()>).map(|_| ())
    }

    /// Lets other processes run; this one is queued again at once.
    pub fn yield_now(&mut self) -> Result<(), Reason> {
        let open = self.gate(Call::Block(0))?;
        if std::thread::panicking() {
            return Ok(());
        }
        self.suspend(Suspend::Yield);
        // Like the end of a slice: control signals take effect here, so a loop
        // that only yields can still be killed.
        self.take_in_signals(open);
        self.check_alive()
    }

    /// Stores a per-process value of type `T`, returning the previous one
    /// (process-local storage: use it instead of thread-locals).
    pub fn put_local<T: 'static>(&mut self, value: T) -> Option<T> {
        let old = self.take_local::<T>();
        self.locals.push((TypeId::of::<T>(), Box::new(value)));
        old
    }

    /// The per-process value of type `T`, if one was stored.
    pub fn local<T: 'static>(&mut self) -> Option<&mut T> {
        self.locals.iter_mut().find(|(id, _)| *id == TypeId::of::<T>()).and_then(|(_, value)| value.downcast_mut())
    }

    /// Removes and returns the per-process value of type `T`.
    pub fn take_local<T: 'static>(&mut self) -> Option<T> {
        let index = self.locals.iter().position(|(id, _)| *id == TypeId::of::<T>())?;
        self.locals.swap_remove(index).1.downcast().ok().map(|value| *value)
    }

    // ---- internals ----

    fn receive_inner<R>(
        &mut self,
        timeout: Option<Duration>,
        matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        if self.armed_timer.is_some() {
            // Left armed by a receive whose matcher panicked.
            self.disarm_timer();
        }
        let open = self.gate(Call::Block(1))?;
        let result = self.match_or_wait(open, timeout, matcher);
        if self.armed_timer.is_some() {
            if matches!(result, Ok(None)) {
                // Timed out: the timer fired and left the heap.
                self.armed_timer = None;
            } else {
                // Ended before its timer fired (a match, or told to die): disarm
                // it, or a loop of long timeouts met early would pile up one per receive.
                self.disarm_timer();
            }
        }
        result
    }

    /// Out of line: the receive's frame stays small (see `match_or_wait`).
    #[cold]
    #[inline(never)]
    fn disarm_timer(&mut self) {
        if let Some(key) = self.armed_timer.take() {
            self.kernel().timers.cancel(key);
        }
    }

    /// Arms the timer of a receive that waits with a timeout.
    #[inline(never)]
    fn arm_timer(&mut self, timeout: Duration) {
        self.wait_generation = self.wait_generation.wrapping_add(1);
        let kernel = self.kernel();
        let key = kernel.arm_timer(kernel.timers.deadline_after(timeout), self.pid(), self.wait_generation);
        self.armed_timer = Some(key);
    }

    /// The body of [`Cx::receive_inner`]; the timer it arms is kept in
    /// `armed_timer` (in the `Cx`, not in this frame: every byte of a waiting
    /// process's frames is a cold line again when it is resumed).
    #[inline(always)]
    fn match_or_wait<R>(
        &mut self,
        open: Open,
        timeout: Option<Duration>,
        mut matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        let mut position = ScanPosition::default();
        loop {
            // What was taken in earlier first: a burst of messages is then
            // taken from the signal queue once per batch, not at every receive
            // (each take is a swap on the line the senders are pushing onto).
            // Control signals queued meanwhile apply at the end of the slice.
            let (found, looked_at) = self.mailbox.take_first(&mut position, &mut matcher);
            self.charge((looked_at / SCANNED_PER_REDUCTION) as u32);
            if found.is_some() {
                return Ok(found);
            }
            let took_any = self.take_in_signals(open);
            self.check_alive()?;
            if took_any {
                // A receive that keeps finding no match in a stream of arrivals
                // still yields when its slice is spent.
                self.gate(Call::Block(1))?;
                continue;
            }
            match (timeout, self.armed_timer) {
                (Some(timeout), None) if timeout.is_zero() => return Ok(None),
                (Some(timeout), None) => self.arm_timer(timeout),
                (Some(_), Some(_)) if self.pcb().fired_timer.has_fired(self.wait_generation) => {
                    return Ok(None);
                }
                _ => {}
            }
            if std::thread::panicking() {
                // A destructor waiting during an unwind would suspend mid-unwind.
                return Err(Reason::error("a process cannot wait in receive while it is panicking"));
            }
            self.suspend(Suspend::Wait);
        }
    }

    /// Moves arrived signals into the mailbox, applying control signals;
    /// `true` if anything had arrived.
    fn take_in_signals(&mut self, open: Open) -> bool {
        let batch = self.pcb().signals.take_all();
        if batch.len() == 0 {
            return false;
        }
        match batch.into_small_only() {
            // Nothing to apply: the messages join the mailbox in their nodes
            // (or, once it is ending, are dropped as the dead do).
            Ok(messages) if self.exit_reason.is_none() => self.mailbox.append_arrived(messages),
            Ok(mut messages) => {
                while let Some(message) = messages.pop_front() {
                    crate::crash::drop_contained(message);
                }
            }
            Err(batch) => self.apply_batch(open, batch),
        }
        true
    }

    /// Applies a batch holding control signals, in order. Out of line: its
    /// frame is big (every kind of signal is handled in it), and the common
    /// take-in (nothing or only messages) must not reach that deep into the
    /// stack, whose lines are cold each time a process is resumed.
    #[inline(never)]
    fn apply_batch(&mut self, open: Open, batch: Batch<Signal, Message>) {
        // One allocation for a big batch rather than repeated doubling; none
        // for the usual few signals (a lone exit signal that kills this
        // process must not allocate a mailbox buffer only to free it).
        if batch.len() > RESERVE_ABOVE {
            self.mailbox.reserve(batch.len());
        }
        for signal in batch {
            self.take_in(open, signal);
        }
    }

    /// Applies one signal, in arrival order (semantics.md §2, §5).
    fn take_in(&mut self, open: Open, signal: Signal) {
        if self.exit_reason.is_some() {
            // Already ending: answer as the dead do (the rest of the queue is
            // answered the same way at exit).
            let me = self.pid();
            self.kernel().answer_for_the_dead(me, signal, Some(self.worker(open)));
            return;
        }
        match signal {
            Signal::Message(message) => self.mailbox.push(message),
            Signal::Link { from } => self.links.on_link(from),
            Signal::Unlink { from, id } => {
                self.links.on_unlink(from);
                let me = self.pid();
                self.kernel().deliver(from, Signal::UnlinkAck { from: me, id }, Some(self.worker(open)));
            }
            Signal::UnlinkAck { from, id } => self.links.on_unlink_ack(from, id),
            Signal::Exit { from, reason, linked } => {
                let me = self.pid();
                match handle_exit_signal(&mut self.links, me, self.trap_exit, from, reason, linked) {
                    ExitAction::Ignore => {}
                    ExitAction::Message(reason) => self.mailbox.push(Message::new(Exit { from, reason })),
                    ExitAction::Die(reason) => self.die(open, reason),
                }
            }
            Signal::Monitor { from, monitor } => self.monitors.on_monitor(monitor, from),
            Signal::Demonitor { monitor } => self.monitors.on_demonitor(monitor),
            Signal::Down { monitor, reason } => {
                if let Some(object) = self.monitors.on_down(monitor) {
                    self.mailbox.push(Message::new(Down { monitor, object, reason }));
                }
            }
            Signal::Info(request) => {
                let info = self.own_info();
                if let Some((asker, answer)) = request.answer(Some(info)) {
                    self.kernel().deliver(asker, Signal::Message(Message::new(answer)), Some(self.worker(open)));
                }
            }
        }
    }

    /// This process must end with `reason`: from now on it is invisible (links
    /// get `noproc`, sends are dropped) and its blocking calls return `Err`.
    fn die(&mut self, open: Open, reason: Reason) {
        if self.exit_reason.is_none() {
            // A `normal` exit signal kills no non-trapping link: no prefetch.
            if !reason.is_normal() {
                self.prefetch_links(open);
            }
            self.exit_reason = Some(reason);
            self.pcb().state.exit();
        }
    }

    /// A dying process is about to wake the processes it is linked to: start
    /// loading what their resumes will touch now, while this one unwinds, rather
    /// than when the exit signal is sent (each link of a chain then overlaps
    /// with the previous one's exit: link_chain ~910 → ~660 ns per hop, A/B).
    /// Only the first few: a process with many links would only evict them.
    /// In two stages: their blocks now; the first one's stack, whose address
    /// is in its block, once this process has unwound (`Cx::finish`). Reading
    /// that address here stalled this process on the block's miss (link_chain
    /// 758 → 677 ns a hop in two stages, medians of 16, A/B, Intel), except
    /// when the first link is the one this process last spawn_linked: its
    /// killer prefetched that block a hop ago (`Pcb::link_hint`), so both
    /// stages go now (link_chain 307 → 280 ns a hop, medians of 10, A/B, Zen 5).
    fn prefetch_links(&mut self, open: Open) {
        const FEW: usize = 4;
        if !cfg!(target_arch = "x86_64") {
            return; // prefetching is a no-op elsewhere (see `process::prefetch_range`)
        }
        let shared = self.kernel();
        let guard = self.worker(open).pin();
        let mut first = None;
        for pid in self.links.active().take(FEW) {
            if let Some(pcb) = shared.table.get(pid, &guard) {
                pcb.prefetch_block();
                first.get_or_insert(NonNull::from(pcb));
            }
        }
        // Relaxed: a prefetch hint (see `Pcb::link_hint`).
        let hinted = self.pcb().link_hint.load(Ordering::Relaxed);
        match first {
            // Whoever killed this process prefetched that block a while ago
            // (`Pcb::prefetch_exit_frames`): its stack's address is there now.
            Some(pcb) if pcb.as_ptr() as usize == hinted => {
                // SAFETY: just found in the table; the worker is pinned.
                unsafe { pcb.as_ref() }.prefetch_exit_frames();
            }
            _ => self.exit_prefetch = first,
        }
    }

    /// The second stage of `prefetch_links`: the first link's block has had
    /// time to arrive, so where its stack is can be read without a stall.
    fn prefetch_first_link_stack(&mut self) {
        if let Some(pcb) = self.exit_prefetch.take() {
            // SAFETY: found in the table during this run (`prefetch_links`), and
            // the worker has been pinned since; cleared at every suspension.
            unsafe { pcb.as_ref() }.prefetch_exit_frames();
        }
    }

    /// `Err(reason)` if this process must end (it was told to die, or is
    /// being torn down).
    fn check_alive(&mut self) -> Result<(), Reason> {
        match &self.exit_reason {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    /// Whether the runtime is tearing this process down (it is being unwound at
    /// shutdown, or caught that unwind and goes on).
    fn in_teardown(&self) -> bool {
        // Relaxed: set by this same thread (the home worker's) before the
        // forced unwind began.
        self.pcb().force_unwinding.load(Ordering::Relaxed)
    }

    /// The one entry of every runtime call: decides what the call may use.
    ///
    /// - In teardown (the runtime is being dropped and is unwinding this
    ///   process, or the body caught that unwind and goes on) it lets nothing
    ///   through: no worker, no delivery. Every call gets its refusal
    ///   (`Err(Shutdown)`, a spawn error, `false`, `None`: at shutdown every
    ///   process is gone) and the process ends with `Shutdown`.
    /// - A process told to die gets `Err(reason)` from a blocking call, and is
    ///   unwound by an acting call (it ignored that `Err`), or refused while it
    ///   unwinds (a destructor calling the runtime).
    /// - Otherwise the call is charged, the time slice ends here if it is spent
    ///   (the process yields and takes in its signals), and the call gets
    ///   [`Open`]: valid for the rest of the call, across suspensions too (the
    ///   process is only ever resumed on this same worker, and teardown unwinds
    ///   it from the suspension point instead of returning).
    #[inline]
    fn gate(&mut self, call: Call) -> Result<Open, Reason> {
        // Under AddressSanitizer: poison left just below here by an unwind
        // caught inside the body (see `forget_unwound_frames`) goes before the
        // call reaches into those addresses.
        #[cfg(lariat_asan)]
        crate::stack::overflow::forget_unwound_frames(Some(16 << 10));
        if self.in_teardown() {
            // Every call refused, none unwinds again: the body ends when it
            // returns (a caught unwind that loops on a refused blocking call
            // holds up the runtime's drop, as any body that never returns does).
            self.exit_reason = Some(Reason::Shutdown);
            return Err(Reason::Shutdown);
        }
        if call == Call::Ask {
            // Reading is fine for a process that is ending (not in teardown).
            return Ok(Open(()));
        }
        self.refuse_if_ending(call)?;
        let open = Open(());
        let (Call::Act(cost) | Call::Block(cost)) = call else { return Ok(open) };
        self.note_stack_depth();
        if self.yield_if_spent(open, cost) {
            // Its signals were taken in at the end of the slice: it may have been
            // told to die meanwhile.
            self.refuse_if_ending(call)?;
        }
        self.charge(cost);
        Ok(open)
    }

    /// For a process that must end: `Err(reason)` to a blocking call; an
    /// acting call unwinds it (it ignored that `Err`), unless it is already
    /// unwinding (a destructor calling the runtime), which gets the `Err` too.
    fn refuse_if_ending(&self, call: Call) -> Result<(), Reason> {
        let Some(reason) = &self.exit_reason else { return Ok(()) };
        if matches!(call, Call::Act(_)) && !std::thread::panicking() {
            self.unwind_to_exit(reason);
        }
        Err(reason.clone())
    }

    /// The backstop of "ending is a return": a process that must end called
    /// the runtime again instead of leaving; it is unwound to its root.
    #[cold]
    #[inline(never)]
    fn unwind_to_exit(&self, reason: &Reason) -> ! {
        crate::crash::note_unwinding(format!("unwound: it was told to exit ({reason}) and called the runtime again"));
        resume_unwind(Box::new(ExitUnwind))
    }

    /// Ends the time slice if `cost` would overdraw it: queues this process
    /// behind the others and, back, takes in its signals (so a process that
    /// never receives can still be killed: control signals apply at every end
    /// of a slice). `true` if it yielded. Never while unwinding (a destructor
    /// calling the runtime): the unwind must finish on this thread.
    #[inline(always)]
    fn yield_if_spent(&mut self, open: Open, cost: u32) -> bool {
        if self.reductions_left > cost || std::thread::panicking() {
            return false;
        }
        self.suspend(Suspend::Yield);
        self.take_in_signals(open);
        true
    }

    /// Records how deep the stack is now (its deepest point decides whether the
    /// stack's deep pages are given back when the process ends).
    #[inline(always)]
    fn note_stack_depth(&mut self) {
        let marker = 0u8;
        self.lowest_sp = self.lowest_sp.min(&marker as *const u8 as usize);
    }

    fn charge(&mut self, cost: u32) {
        self.reductions_left = self.reductions_left.saturating_sub(cost);
    }

    fn suspend(&mut self, why: Suspend) {
        // Only `die` sets it, with `exit_reason`, which stays set until the
        // exit: checking the first line's field spares every other suspension
        // a write to this one.
        debug_assert!(self.exit_reason.is_some() || self.exit_prefetch.is_none());
        if self.exit_reason.is_some() {
            self.exit_prefetch = None;
        }
        let marker = 0u8;
        let sp = &marker as *const u8 as usize;
        self.lowest_sp = self.lowest_sp.min(sp);
        // Relaxed: only a prefetch hint for whoever wakes this process.
        self.pcb().resume_hint.store(sp, Ordering::Relaxed);
        // SAFETY: the yielder belongs to this coroutine and `Cx` lives on its stack.
        let yielder = unsafe { self.yielder.as_ref() };
        let resumed_on = yielder.suspend(why);
        debug_assert_eq!(resumed_on.0, self.worker.0, "a started process resumed on another worker");
        self.worker = resumed_on;
        self.reductions_total += u64::from(SLICE_REDUCTIONS - self.reductions_left);
        self.reductions_left = SLICE_REDUCTIONS;
    }

    /// Takes in what arrived before the first run; `true` if it was told to die.
    pub(crate) fn killed_before_start(&mut self) -> bool {
        if let Ok(open) = self.gate(Call::Ask) {
            self.take_in_signals(open);
        }
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
        let outcome = Outcome::new(reason, &mut self.links, &mut self.monitors, self.lowest_sp);
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
