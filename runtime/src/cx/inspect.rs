//! Names and looking at processes: `register`, `whereis`, sending to a name,
//! `status`, `is_alive`, `process_info`, the monitors a process holds.
//!
//! Invariants: `is_alive` and `process_info` ask the other process by a
//! signal (so the answer reflects every signal the asker sent first) and wait
//! in a receive; every other read is a snapshot that never waits on it; in
//! teardown every read answers as if every process were gone.

use super::Cx;
use super::gate::Call;
use crate::monitor::Monitored;
use crate::pid::{Pid, Ref};
use crate::process::{AliveRequest, InfoRequest, ProcessInfo, Reply, ReplyTo, Signal, Status};
use crate::reason::Reason;
use crate::registry::{Name, RegisterError};
use crate::sync::Ordering;

impl Cx {
    /// Registers `pid` (often `cx.pid()`) under `name` (Erlang's `register/2`).
    /// Fails if the name is taken, the process already has a name, or it is not
    /// alive. The name is freed when the process ends.
    ///
    /// # Errors
    ///
    /// - [`RegisterError::NameTaken`] if another process holds `name`;
    /// - [`RegisterError::AlreadyNamed`] if `pid` already has a name
    ///   ([`Cx::unregister`] it first);
    /// - [`RegisterError::NoProc`] if `pid` is not alive (or the runtime is
    ///   shutting down).
    ///
    /// With `?` in a body, each ends the process (Erlang raises `badarg`).
    ///
    /// ```
    /// # use lariat::{Reason, RegisterError, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.register("main", me)?;
    ///     assert_eq!(cx.whereis("main"), Some(me));
    ///
    ///     let other = cx.spawn(|cx| cx.receive::<()>())?;
    ///     let taken = cx.register("main", other);
    ///     assert_eq!(taken, Err(RegisterError::NameTaken { name: "main".into(), holder: me }));
    ///     let second = cx.register("second", me);
    ///     assert!(matches!(second, Err(RegisterError::AlreadyNamed { .. })));
    ///     cx.send(other, ());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&mut self, name: impl Into<Name>, pid: Pid) -> Result<(), RegisterError> {
        let Ok(open) = self.gate(Call::Act(1)) else {
            // Ending: at shutdown no process is alive to hold a name.
            return Err(RegisterError::NoProc { pid });
        };
        self.kernel().register(name.into(), pid, Some(self.post(open).worker()))
    }

    /// Removes a registered name (Erlang's `unregister/1`); an error if nobody holds it.
    ///
    /// # Errors
    ///
    /// [`RegisterError::NotRegistered`] if nobody holds `name` (or the runtime is
    /// shutting down).
    ///
    /// ```
    /// # use lariat::{Reason, RegisterError, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.register("main", me)?;
    ///     cx.unregister("main")?;
    ///     assert_eq!(cx.whereis("main"), None);
    ///     assert!(matches!(cx.unregister("main"), Err(RegisterError::NotRegistered { .. })));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unregister(&mut self, name: &str) -> Result<(), RegisterError> {
        if self.gate(Call::Act(1)).is_err() {
            return Err(RegisterError::NotRegistered { name: name.into() });
        }
        self.kernel().registry.unregister(name).map(|_| ())
    }

    /// The process registered as `name`, if any (Erlang's `whereis/1`).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     assert_eq!(cx.whereis("logger"), None);
    ///     let logger = cx.spawn(|cx| cx.receive::<()>())?;
    ///     cx.register("logger", logger)?;
    ///     assert_eq!(cx.whereis("logger"), Some(logger));
    ///     cx.send(logger, ());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn whereis(&mut self, name: &str) -> Option<Pid> {
        self.gate(Call::Ask).ok()?;
        self.kernel().registry.whereis(name)
    }

    /// Sends to the process registered as `name` (Erlang's `Name ! Msg`): an
    /// error if nobody holds the name.
    ///
    /// # Errors
    ///
    /// [`RegisterError::NotRegistered`] if nobody holds `name`; the message is
    /// dropped. Unlike a send to a pid that is gone this is reported, as
    /// Erlang's `Name ! Msg` raises `badarg`.
    ///
    /// ```
    /// # use lariat::{Pid, Reason, RegisterError, Runtime};
    /// let runtime = Runtime::new()?;
    /// let answer = runtime.block_on(|cx| {
    ///     let doubler = cx.spawn(|cx| loop {
    ///         let (from, n) = cx.receive::<(Pid, u32)>()?;
    ///         cx.send(from, n * 2);
    ///     })?;
    ///     cx.register("doubler", doubler)?;
    ///     let me = cx.pid();
    ///     cx.send_named("doubler", (me, 21u32))?;
    ///     let missing = cx.send_named("tripler", (me, 1u32));
    ///     assert!(matches!(missing, Err(RegisterError::NotRegistered { .. })));
    ///     cx.receive::<u32>()
    /// })?;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_named<T: Send + 'static>(&mut self, name: &str, message: T) -> Result<(), RegisterError> {
        let pid = self.whereis(name).ok_or_else(|| RegisterError::NotRegistered { name: name.into() })?;
        self.send(pid, message);
        Ok(())
    }

    /// The monitors this process holds now: (ref, what it watches).
    ///
    /// ```
    /// # use lariat::{Down, Monitored, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     let monitor = cx.monitor(worker);
    ///     assert_eq!(cx.monitors(), vec![(monitor, Monitored::Pid(worker))]);
    ///     cx.send(worker, ());
    ///     cx.receive::<Down>()?;
    ///     // A monitor ends with its `Down`.
    ///     assert!(cx.monitors().is_empty());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monitors(&mut self) -> Vec<(Ref, Monitored)> {
        self.take_in_if_allowed();
        self.watch.monitors.held()
    }

    /// What `pid` is doing now (running, runnable, waiting, exiting); `None`
    /// once it is gone (and at shutdown, when every process is). A snapshot of
    /// its scheduling state, read at once without asking it (asking would wake
    /// it: it could never be seen waiting), so unlike [`Cx::is_alive`] it does
    /// not wait for the signals this process sent it: right after
    /// `exit(pid, Kill)` it may still say `Runnable`.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime, Status};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     assert_eq!(cx.status(me), Some(Status::Running));
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     cx.exit(worker, Reason::Kill)?;
    ///     // `is_alive` waits until the kill has taken effect and the worker's
    ///     // exit is done; `status` alone would not.
    ///     assert!(!cx.is_alive(worker));
    ///     assert_eq!(cx.status(worker), None);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&mut self, pid: Pid) -> Option<Status> {
        let open = self.gate(Call::Ask).ok()?;
        self.kernel().status(pid, Some(self.post(open).worker()))
    }

    /// Whether `pid` is a live process (Erlang's `is_process_alive/1`), asked
    /// as OTP asks: the question goes through `pid`'s signal queue, so every
    /// signal this process sent it before is handled first (after
    /// `exit(pid, Kill)` the answer is `false`), and a process that is ending
    /// answers only once its exit has freed its name and its pid (after
    /// `false`, `whereis` does not find it and `link` to it fails). It waits
    /// for the answer (in a receive: other messages stay), so a target that
    /// computes without calling the runtime holds it up. `false` at shutdown,
    /// and if this process is told to die while it waits (its next blocking
    /// call returns the reason).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     cx.register("worker", worker)?;
    ///     assert!(cx.is_alive(worker));
    ///     cx.exit(worker, Reason::Kill)?;
    ///     // The kill was handled first, and the name is free.
    ///     assert!(!cx.is_alive(worker));
    ///     assert_eq!(cx.whereis("worker"), None);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_alive(&mut self, pid: Pid) -> bool {
        let Ok(open) = self.gate(Call::Block(1)) else { return false };
        let me = self.pid();
        if pid == me {
            return self.check_alive().is_ok();
        }
        if std::thread::panicking() {
            // A destructor during an unwind cannot wait for the answer (and
            // must not leave it behind in the mailbox): a snapshot then.
            return self.post(open).is_live(pid);
        }
        let request = self.kernel().make_ref();
        let question = AliveRequest::new(ReplyTo::Process { pid: me, request });
        if !self.post(open).deliver(pid, Signal::IsAlive(Box::new(question))) {
            return false;
        }
        let answer = self.receive_map(|message| match message.downcast_ref::<Reply<()>>() {
            Some(reply) if reply.request == request => Some(reply.value.is_some()),
            _ => None,
        });
        answer.unwrap_or(false)
    }

    /// Processes alive in this runtime now.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     // This process only, in a new runtime.
    ///     assert_eq!(cx.live_processes(), 1);
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     assert_eq!(cx.live_processes(), 2);
    ///     cx.send(worker, ());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// # Errors
    ///
    /// `Err(reason)` if this process is told to end while it waits for the answer
    /// (as [`Cx::receive`]); return it with `?`.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let worker = cx.spawn_link(|cx| cx.receive::<()>())?;
    ///     cx.register("worker", worker)?;
    ///     cx.send(worker, "not what it waits for");
    ///     let info = cx.process_info(worker)?.expect("it waits, so it is alive");
    ///     assert_eq!(info.registered_name.as_deref(), Some("worker"));
    ///     assert_eq!(info.links, vec![me]);
    ///     assert_eq!(info.mailbox_len, 1, "the message sent before asking is in");
    ///
    ///     cx.unlink(worker);
    ///     cx.exit(worker, Reason::Kill)?;
    ///     // Asked after the kill, which it handles first: it answers as the dead.
    ///     assert!(cx.process_info(worker)?.is_none());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn process_info(&mut self, pid: Pid) -> Result<Option<ProcessInfo>, Reason> {
        let open = self.gate(Call::Block(1))?;
        if pid == self.pid() {
            self.take_in_signals(open);
            return Ok(Some(self.own_info()));
        }
        let request = self.kernel().make_ref();
        let signal = Signal::Info(Box::new(InfoRequest::new(ReplyTo::Process { pid: self.pid(), request })));
        if !self.post(open).deliver(pid, signal) {
            return Ok(None);
        }
        self.receive_map(|message| match message.downcast_mut::<Reply<ProcessInfo>>() {
            Some(reply) if reply.request == request => Some(reply.value.take()),
            _ => None,
        })
    }

    pub(super) fn own_info(&self) -> ProcessInfo {
        let pid = self.pid();
        // Relaxed: only this process sets `named` for itself or reads it here;
        // the registry's lock orders the rest.
        let registered_name =
            if self.pcb().named.load(Ordering::Relaxed) { self.kernel().registry.name_of(pid) } else { None };
        ProcessInfo {
            pid,
            registered_name,
            links: self.watch.links.active().collect(),
            monitors: self.watch.monitors.held(),
            monitored_by: self.watch.monitors.watchers(),
            trap_exit: self.watch.trap_exit,
            mailbox_len: self.mailbox.len(),
            reductions: self.reductions(),
        }
    }
}
