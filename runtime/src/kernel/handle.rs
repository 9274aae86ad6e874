//! [`Handle`]: the runtime's face for threads that are no process.

use std::sync::Arc;

use super::spawn::Watchers;
use super::{Kernel, OUTSIDE, WorkerStats};
use crate::error::{InsideProcess, SpawnError};
use crate::pid::Pid;
#[cfg(feature = "tokio")]
use crate::pid::Ref;
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
    ///
    /// # Errors
    ///
    /// - [`SpawnError::TableFull`] if every slot of the process table is in use
    ///   ([`Builder::max_processes`](crate::Builder::max_processes)): wait for
    ///   processes to end, or build the runtime with a bigger table;
    /// - [`SpawnError::ShuttingDown`] if the runtime is shutting down (or was
    ///   dropped while this handle lives on).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// use lariat::Runtime;
    ///
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let (results, answers) = mpsc::channel();
    /// // Any thread may spawn through a handle.
    /// let worker = std::thread::spawn(move || {
    ///     handle.spawn(move |cx| {
    ///         let n: u32 = cx.receive()?;
    ///         let _ = results.send(n * 2);
    ///         Ok(())
    ///     })
    /// })
    /// .join()
    /// .expect("the thread did not panic")?;
    /// runtime.send(worker, 21u32);
    /// assert_eq!(answers.recv_timeout(Duration::from_secs(5))?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// A full table:
    ///
    /// ```
    /// # use lariat::{Reason, Runtime, SpawnError};
    /// let runtime = Runtime::builder().max_processes(1).build()?;
    /// let handle = runtime.handle();
    /// handle.spawn(|cx| cx.receive::<()>())?;
    /// assert_eq!(handle.spawn(|_| Ok(())), Err(SpawnError::TableFull { capacity: 1 }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<F>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        self.kernel.spawn(Box::new(body), None, Watchers::default(), OUTSIDE)
    }

    /// Spawns a process that traps exits from the start (see
    /// [`SpawnOptions::trap_exit`](crate::SpawnOptions::trap_exit)), on the
    /// worker of `near` if given and started (it will talk mostly to it),
    /// holding the monitor `watching` from its spawn (see `monitor_for`).
    #[cfg(feature = "tokio")]
    pub(crate) fn spawn_trapping<F>(
        &self,
        body: F,
        near: Option<Pid>,
        watching: Option<(Ref, Pid)>,
    ) -> Result<Pid, SpawnError>
    where
        F: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        let watchers = Watchers { trap_exit: true, near, watching, ..Watchers::default() };
        self.kernel.spawn(Box::new(body), None, watchers, OUTSIDE)
    }

    /// A fresh reference, unique in this runtime.
    #[cfg(feature = "tokio")]
    pub(crate) fn make_ref(&self) -> Ref {
        self.kernel.make_ref()
    }

    /// Sends, from this thread, the request that makes `watcher` monitor
    /// `target` under `monitor` (the watcher holds it from its spawn), so the
    /// monitor is in place before anything this thread sends `target` next;
    /// if `target` is gone, `watcher` gets its `Down` with `NoProc`.
    #[cfg(feature = "tokio")]
    pub(crate) fn monitor_for(&self, watcher: Pid, target: Pid, monitor: Ref) {
        if !self.kernel.deliver(target, Signal::Monitor { from: watcher, monitor }, OUTSIDE) {
            self.kernel.deliver(watcher, Signal::Down { monitor, reason: Reason::NoProc }, OUTSIDE);
        }
    }

    /// Registers `pid` under `name` (Erlang's `register/2`).
    ///
    /// # Errors
    ///
    /// As [`Cx::register`]: [`RegisterError::NameTaken`],
    /// [`RegisterError::AlreadyNamed`], [`RegisterError::NoProc`].
    ///
    /// ```
    /// # use lariat::{RegisterError, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let logger = handle.spawn(|cx| cx.receive::<()>())?;
    /// handle.register("logger", logger)?;
    /// assert_eq!(handle.whereis("logger"), Some(logger));
    /// let other = handle.spawn(|cx| cx.receive::<()>())?;
    /// assert!(matches!(handle.register("logger", other), Err(RegisterError::NameTaken { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&self, name: impl Into<Name>, pid: Pid) -> Result<(), RegisterError> {
        self.kernel.register(name.into(), pid, OUTSIDE)
    }

    /// Removes a registered name (Erlang's `unregister/1`).
    ///
    /// # Errors
    ///
    /// [`RegisterError::NotRegistered`] if nobody holds `name`.
    ///
    /// ```
    /// # use lariat::{RegisterError, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let logger = handle.spawn(|cx| cx.receive::<()>())?;
    /// handle.register("logger", logger)?;
    /// handle.unregister("logger")?;
    /// assert_eq!(handle.whereis("logger"), None);
    /// assert!(matches!(handle.unregister("logger"), Err(RegisterError::NotRegistered { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unregister(&self, name: &str) -> Result<(), RegisterError> {
        self.kernel.registry.unregister(name).map(|_| ())
    }

    /// The process registered as `name`, if any (Erlang's `whereis/1`).
    ///
    /// ```
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// assert_eq!(handle.whereis("logger"), None);
    /// let logger = handle.spawn(|cx| cx.receive::<()>())?;
    /// handle.register("logger", logger)?;
    /// assert_eq!(handle.whereis("logger"), Some(logger));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.kernel.registry.whereis(name)
    }

    /// Sends to the process registered as `name`; an error if nobody is.
    ///
    /// # Errors
    ///
    /// [`RegisterError::NotRegistered`] if nobody holds `name` (the message is dropped).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::{RegisterError, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let (lines, logged) = mpsc::channel();
    /// let logger = handle.spawn(move |cx| loop {
    ///     let line: String = cx.receive()?;
    ///     let _ = lines.send(line);
    /// })?;
    /// handle.register("logger", logger)?;
    /// handle.send_named("logger", String::from("started"))?;
    /// assert_eq!(logged.recv_timeout(Duration::from_secs(5))?, "started");
    /// let missing = handle.send_named("auditor", String::from("lost"));
    /// assert!(matches!(missing, Err(RegisterError::NotRegistered { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_named<T: Send + 'static>(&self, name: &str, message: T) -> Result<(), RegisterError> {
        let pid = self.whereis(name).ok_or_else(|| RegisterError::NotRegistered { name: name.into() })?;
        self.kernel.send_from_outside(pid, message);
        Ok(())
    }

    /// Sends an exit signal from outside any process (see [`Runtime::exit`](crate::Runtime::exit)).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let worker = handle.spawn(|cx| loop {
    ///     cx.receive::<()>()?;
    /// })?;
    /// handle.exit(worker, Reason::Kill);
    /// // Asked after the kill, which it handles first.
    /// assert!(!handle.is_alive(worker));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn exit(&self, pid: Pid, reason: Reason) {
        self.kernel.exit_from_outside(pid, reason)
    }

    /// Sends a message from outside any process (see [`Runtime::send`](crate::Runtime::send)).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let (results, answers) = mpsc::channel();
    /// let doubler = handle.spawn(move |cx| loop {
    ///     let n: u32 = cx.receive()?;
    ///     let _ = results.send(n * 2);
    /// })?;
    /// // From another thread: a `Handle` is `Clone + Send`.
    /// let sender = handle.clone();
    /// std::thread::spawn(move || sender.send(doubler, 21u32));
    /// assert_eq!(answers.recv_timeout(Duration::from_secs(5))?, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<T: Send + 'static>(&self, to: Pid, message: T) {
        self.kernel.send_from_outside(to, message)
    }

    /// Processes alive now.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// assert_eq!(handle.live_processes(), 0);
    /// let worker = handle.spawn(|cx| cx.receive::<()>())?;
    /// assert_eq!(handle.live_processes(), 1);
    /// handle.exit(worker, Reason::Kill);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn live_processes(&self) -> usize {
        self.kernel.live_processes()
    }

    /// Receive timeouts and sleeps armed now (see [`Runtime::pending_timers`](crate::Runtime::pending_timers)).
    ///
    /// ```
    /// # use std::sync::mpsc;
    /// # use std::time::Duration;
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// assert_eq!(handle.pending_timers(), 0);
    /// let (armed, is_armed) = mpsc::channel();
    /// handle.spawn(move |cx| {
    ///     let me = cx.pid();
    ///     let timer = cx.send_after(Duration::from_secs(3600), me, "reminder");
    ///     let _ = armed.send(());
    ///     cx.receive::<()>()?;
    ///     cx.cancel_timer(timer);
    ///     Ok(())
    /// })?;
    /// is_armed.recv_timeout(Duration::from_secs(5))?;
    /// assert_eq!(handle.pending_timers(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pending_timers(&self) -> usize {
        self.kernel.timers.pending()
    }

    /// Per worker thread: processes spawned and ended there (see [`Runtime::worker_stats`](crate::Runtime::worker_stats)).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::builder().workers(2).build()?;
    /// let handle = runtime.handle();
    /// runtime.block_on(|cx| {
    ///     for _ in 0..3 {
    ///         cx.spawn(|_| Ok(()))?;
    ///     }
    ///     Ok::<_, Reason>(())
    /// })?;
    /// let stats = handle.worker_stats();
    /// assert_eq!(stats.len(), 2);
    /// // The three children were spawned by a process; `block_on`'s own process,
    /// // spawned from outside, is in no worker's count.
    /// assert_eq!(stats.iter().map(|worker| worker.spawned).sum::<u64>(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker_stats(&self) -> Vec<WorkerStats> {
        self.kernel.worker_stats()
    }

    /// Whether `pid` is a live process of this runtime, asked as
    /// [`Cx::is_alive`] asks (through its signal queue, so what this handle
    /// sent it before is handled first; `false` only once it is gone). Blocks
    /// this thread until it answers. On a worker thread (a `Handle` used
    /// inside a process) blocking would stall the worker, so there it reads
    /// the process's state at once instead: use `Cx::is_alive` in a process.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let worker = handle.spawn(|cx| cx.receive::<()>())?;
    /// assert!(handle.is_alive(worker));
    /// handle.exit(worker, Reason::Kill);
    /// assert!(!handle.is_alive(worker));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// ```
    /// # use lariat::{Reason, Runtime, Status};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let worker = handle.spawn(|cx| cx.receive::<()>())?;
    /// // Waiting in its receive, or not there yet: a snapshot.
    /// assert!(matches!(handle.status(worker), Some(Status::Runnable | Status::Running | Status::Waiting)));
    /// handle.exit(worker, Reason::Kill);
    /// assert!(!handle.is_alive(worker)); // waits until its exit is done
    /// assert_eq!(handle.status(worker), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self, pid: Pid) -> Option<Status> {
        self.kernel.status(pid, OUTSIDE)
    }

    /// Asks `pid` for its [`ProcessInfo`] and blocks this thread until it answers
    /// (see [`Cx::process_info`]); `Ok(None)` if it is gone or ends first.
    /// Inside a process this would stall a worker: use `Cx::process_info` there.
    ///
    /// # Errors
    ///
    /// [`InsideProcess`] when called on one of the runtime's worker threads (inside
    /// a process), where blocking would stall the worker; use
    /// [`Cx::process_info`] there.
    ///
    /// ```
    /// # use lariat::{InsideProcess, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let worker = handle.spawn(|cx| cx.receive::<()>())?;
    /// handle.register("worker", worker)?;
    /// handle.send(worker, 1u32);
    /// handle.send(worker, 2u32);
    /// let info = handle.process_info(worker)?.expect("it waits, so it is alive");
    /// assert_eq!(info.registered_name.as_deref(), Some("worker"));
    /// // Sent before asking, so already in its mailbox.
    /// assert_eq!(info.mailbox_len, 2);
    ///
    /// let inside = runtime.block_on(move |cx| Ok::<_, Reason>(cx.handle().process_info(worker)))?;
    /// assert_eq!(inside, Err(InsideProcess { call: "process_info" }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
