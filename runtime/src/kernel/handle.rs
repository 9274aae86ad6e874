//! [`Handle`]: the runtime's face for threads that are no process.

use std::sync::Arc;

use super::spawn::Watchers;
use super::{Kernel, OUTSIDE, WorkerStats};
use crate::error::{InsideProcess, SpawnError};
use crate::pid::Pid;
use crate::process::{AliveRequest, Cx, InfoRequest, ProcessInfo, ReplyTo, Signal, Status, Waiter};
use crate::reason::Reason;
use crate::registry::{Name, RegisterError};

/// A clonable handle to a runtime, usable from any thread.
///
/// A call costs about what the same call of a [`Cx`] does (each thread keeps
/// one epoch participant per runtime it calls). Inside a process, use its
/// `Cx` instead: a `Handle`'s calls are not charged to the process's time
/// slice, so a loop of them holds its worker as a loop with no runtime call
/// would, and the calls that wait for an answer (`is_alive`,
/// `process_info`) cannot wait there.
#[derive(Clone)]
pub struct Handle {
    kernel: Arc<Kernel>,
}

impl Handle {
    pub(crate) fn new(kernel: Arc<Kernel>) -> Handle {
        Handle { kernel }
    }

    /// Spawns a process (see [`Runtime::spawn`](crate::Runtime::spawn)).
    pub fn spawn<F>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.kernel.spawn(Box::new(body), None, Watchers::default(), OUTSIDE)
    }

    /// Spawns a process that traps exits from the start (see
    /// [`SpawnOptions::trap_exit`](crate::SpawnOptions::trap_exit)).
    #[cfg(feature = "tokio")]
    pub(crate) fn spawn_trapping<F>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.kernel.spawn(Box::new(body), None, Watchers { trap_exit: true, ..Watchers::default() }, OUTSIDE)
    }

    /// Registers `pid` under `name` (Erlang's `register/2`).
    pub fn register(&self, name: impl Into<Name>, pid: Pid) -> Result<(), RegisterError> {
        self.kernel.register(name.into(), pid, OUTSIDE)
    }

    /// Removes a registered name (Erlang's `unregister/1`).
    pub fn unregister(&self, name: &str) -> Result<(), RegisterError> {
        self.kernel.registry.unregister(name).map(|_| ())
    }

    /// The process registered as `name`, if any (Erlang's `whereis/1`).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.kernel.registry.whereis(name)
    }

    /// Sends to the process registered as `name`; an error if nobody is.
    pub fn send_named<T: Send + 'static>(&self, name: &str, message: T) -> Result<(), RegisterError> {
        let pid = self.whereis(name).ok_or_else(|| RegisterError::NotRegistered { name: name.into() })?;
        self.kernel.send_from_outside(pid, message);
        Ok(())
    }

    /// Sends an exit signal from outside any process (see [`Runtime::exit`](crate::Runtime::exit)).
    pub fn exit(&self, pid: Pid, reason: Reason) {
        self.kernel.exit_from_outside(pid, reason)
    }

    /// Sends a message from outside any process (see [`Runtime::send`](crate::Runtime::send)).
    pub fn send<T: Send + 'static>(&self, to: Pid, message: T) {
        self.kernel.send_from_outside(to, message)
    }

    /// Processes alive now.
    pub fn live_processes(&self) -> usize {
        self.kernel.live_processes()
    }

    /// Receive timeouts and sleeps armed now (see [`Runtime::pending_timers`](crate::Runtime::pending_timers)).
    pub fn pending_timers(&self) -> usize {
        self.kernel.timers.pending()
    }

    /// Per worker thread: processes spawned and ended there (see [`Runtime::worker_stats`](crate::Runtime::worker_stats)).
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.kernel.worker_stats()
    }

    /// Whether `pid` is a live process of this runtime, asked as
    /// [`Cx::is_alive`] asks (through its signal queue, so what this handle
    /// sent it before is handled first; `false` only once it is gone). Blocks
    /// this thread until it answers. On a worker thread (a `Handle` used
    /// inside a process) blocking would stall the worker, so there it reads
    /// the process's state at once instead: use `Cx::is_alive` in a process.
    pub fn is_alive(&self, pid: Pid) -> bool {
        if crate::crash::on_worker_thread() {
            return self.kernel.is_live(pid, OUTSIDE);
        }
        let waiter = Arc::new(Waiter::default());
        let question = AliveRequest::new(ReplyTo::Thread(Arc::clone(&waiter)));
        if !self.kernel.deliver(pid, Signal::IsAlive(Box::new(question)), OUTSIDE) {
            return false;
        }
        waiter.wait().is_some()
    }

    /// Where `pid` is now (running, runnable, waiting, exiting); `None` once it
    /// is gone. A snapshot read at once (see [`Cx::status`]).
    pub fn status(&self, pid: Pid) -> Option<Status> {
        self.kernel.status(pid, OUTSIDE)
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
        if !self.kernel.deliver(pid, Signal::Info(Box::new(request)), OUTSIDE) {
            return Ok(None);
        }
        Ok(waiter.wait())
    }
}
