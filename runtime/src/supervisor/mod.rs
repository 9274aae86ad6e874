//! Supervisors: OTP's `supervisor` in Rust form, built on [`crate::server`].
//!
//! A supervisor traps exits and links to its children. It starts them in
//! order, each acknowledged before the next (a start that fails stops the ones
//! already started, in reverse order, and fails the supervisor's own start);
//! when a child ends it restarts what its strategy says, unless the restart
//! intensity (more than `intensity` restarts within `period`) is exceeded:
//! then it stops every child and ends with `shutdown`. It stops children in
//! reverse start order, each with `shutdown` and then `kill` after its
//! timeout (or `kill` at once for `brutal_kill`).
//!
//! ```
//! use std::time::Duration;
//! use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
//! use lariat::Runtime;
//!
//! let runtime = Runtime::new()?;
//! let spec = SupervisorSpec::new(Strategy::OneForOne)
//!     .intensity(3, Duration::from_secs(5))
//!     .child(ChildSpec::worker("ticker", || {
//!         |cx: &mut lariat::Cx| {
//!             let me = cx.pid();
//!             cx.send_interval(Duration::from_millis(100), me, "tick");
//!             loop {
//!                 let _tick: &str = cx.receive()?;
//!             }
//!         }
//!     }));
//! supervisor::start_top_level(&runtime, spec)?;
//! runtime.shutdown(Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Invariants: `children` is in start order; a child's `pid` is `Some` while
//! it runs (the supervisor is linked to it); the restart history holds only
//! restarts within the last `period`, so the intensity check costs O(1)
//! amortised per restart.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::cx::Cx;
use crate::error::CallError;
use crate::pid::Pid;
use crate::reason::Reason;
use crate::server::{self, ServerRef, StartError, StartOptions};

mod dynamic;
mod state;

pub use dynamic::{DynamicSpec, DynamicSupervisorRef, start_dynamic};
use state::Supervisor;

/// Starts a child: spawns (or starts) a process linked to the calling process
/// (the supervisor) and returns its pid once it is ready to be counted as
/// started (for a server: after its `init`).
pub type StartFn = Arc<dyn Fn(&mut Cx) -> Result<Pid, Reason> + Send + Sync>;

/// When a child that ended is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only if it ended abnormally (not `normal` or `shutdown`).
    Transient,
    /// Never; its spec is removed when it ends.
    Temporary,
}

/// How a child is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `kill` at once.
    BrutalKill,
    /// `shutdown`, then `kill` if it has not ended after this long.
    Timeout(Duration),
    /// `shutdown`, and wait for as long as it takes (for supervisors).
    Infinity,
}

/// Whether a child is a worker or a supervisor (`which_children` says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildKind {
    /// A worker.
    Worker,
    /// A supervisor.
    Supervisor,
}

/// One child: how to start it, when to restart it, how to stop it.
#[derive(Clone)]
pub struct ChildSpec {
    id: String,
    start: StartFn,
    restart: Restart,
    shutdown: Shutdown,
    kind: ChildKind,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl ChildSpec {
    /// A permanent worker that `start` starts (linked to the supervisor, which
    /// calls it), stopped with `shutdown` and 5 s before `kill`.
    ///
    /// `start` runs in the supervisor's process, at each start and restart; it
    /// must link what it starts to that process (so that the supervisor sees the
    /// child end). A `start` that returns `Err` or panics is a failed start.
    ///
    /// ```
    /// use lariat::server::{self, StartOptions};
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// # use lariat::server::{ReplyTo, Server};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::new("counter", |cx| {
    ///         // Linked to the supervisor, named, and counted as started once its `init` has returned.
    ///         let counter = server::start(cx, StartOptions::new().link().name("counter"), |_| Ok(Counter(0)))?;
    ///         Ok(counter.pid())
    ///     }));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     assert_eq!(cx.whereis("counter"), Some(child(cx, supervisor, "counter")?));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(id: impl Into<String>, start: impl Fn(&mut Cx) -> Result<Pid, Reason> + Send + Sync + 'static) -> Self {
        ChildSpec {
            id: id.into(),
            start: Arc::new(start),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            kind: ChildKind::Worker,
        }
    }

    /// A permanent worker process running `body()` (a fresh body per start),
    /// spawned linked to the supervisor.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let echo = ChildSpec::worker("echo", || {
    ///         |cx: &mut Cx| loop {
    ///             let (from, n) = cx.receive::<(Pid, u32)>()?;
    ///             cx.send(from, n);
    ///         }
    ///     });
    ///     let supervisor = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne).child(echo))?;
    ///     let echo = child(cx, supervisor, "echo")?;
    ///     let me = cx.pid();
    ///     cx.send(echo, (me, 42u32));
    ///     assert_eq!(cx.receive_timeout::<u32>(Duration::from_secs(5))?, Some(42));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn worker<B>(id: impl Into<String>, body: impl Fn() -> B + Send + Sync + 'static) -> Self
    where
        B: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        ChildSpec::new(id, move |cx| Ok(cx.spawn_link(body())?))
    }

    /// When it is restarted (default: permanent).
    ///
    /// ```
    /// use lariat::supervisor::Restart;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let job = ChildSpec::worker("job", || until_told).restart(Restart::Transient);
    ///     let supervisor = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne).child(job))?;
    ///
    ///     let first = child(cx, supervisor, "job")?;
    ///     tell_to_end(cx, first, Reason::error("crashed"))?; // and wait for its `Down`
    ///     // The supervisor had the child's exit signal before this process got the
    ///     // child's `Down`, so it has handled it: the child ended abnormally, and runs again.
    ///     let second = child(cx, supervisor, "job")?;
    ///     assert_ne!(second, first);
    ///
    ///     tell_to_end(cx, second, Reason::Normal)?;
    ///     // A transient child that ends `normal` is not restarted; its spec stays.
    ///     assert_eq!(supervisor.which_children(cx)?[0].pid, None);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How it is stopped (default: 5 s, then `kill`).
    ///
    /// ```
    /// use lariat::supervisor::Shutdown;
    /// use lariat::{Exit, SpawnOptions};
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let stubborn = ChildSpec::new("stubborn", |cx| {
    ///         // Traps exits from the start: `shutdown` comes as a message, which it ignores.
    ///         let options = SpawnOptions::new().link().trap_exit();
    ///         let spawned = cx.spawn_opt(options, |cx| loop {
    ///             cx.receive::<Exit>()?;
    ///         })?;
    ///         Ok(spawned.pid)
    ///     })
    ///     .shutdown(Shutdown::Timeout(Duration::from_millis(50)));
    ///     let supervisor = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne).child(stubborn))?;
    ///     let pid = child(cx, supervisor, "stubborn")?;
    ///     let monitor = cx.monitor(pid);
    ///     supervisor.terminate_child(cx, "stubborn")?; // `shutdown`, then `kill` when its shutdown time is up
    ///     let down = cx.receive_timeout::<Down>(Duration::from_secs(5))?.ok_or(Reason::error("no Down"))?;
    ///     assert_eq!((down.monitor, down.reason), (monitor, Reason::Killed));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Marks it as a supervisor (and stops it with `Shutdown::Infinity`, as OTP does).
    ///
    /// ```
    /// use lariat::supervisor::{ChildKind, SupervisorRef};
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let inner = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("leaf", || until_told));
    ///     let team = ChildSpec::new("team", move |cx| Ok(supervisor::start_link(cx, inner.clone())?.pid()));
    ///     let team = team.supervisor();
    ///     let top = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne).child(team))?;
    ///
    ///     let team = &top.which_children(cx)?[0];
    ///     assert_eq!(team.kind, ChildKind::Supervisor);
    ///     assert_eq!(top.count_children(cx)?.supervisors, 1);
    ///     let team = SupervisorRef::from_pid(team.pid.ok_or(Reason::error("not running"))?);
    ///     assert_eq!(team.count_children(cx)?.active, 1);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn supervisor(mut self) -> Self {
        self.kind = ChildKind::Supervisor;
        self.shutdown = Shutdown::Infinity;
        self
    }

    /// Its id.
    ///
    /// ```
    /// use lariat::supervisor::ChildSpec;
    ///
    /// let spec = ChildSpec::worker("cache", || |cx: &mut lariat::Cx| cx.receive::<()>());
    /// assert_eq!(spec.id(), "cache");
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// What a child's end makes the supervisor restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Only that child.
    OneForOne,
    /// Every child: the others are stopped (in reverse order) and all started again.
    OneForAll,
    /// That child and the ones started after it.
    RestForOne,
}

/// A supervisor's strategy, restart intensity and children.
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    strategy: Strategy,
    intensity: u32,
    period: Duration,
    children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    /// `strategy`, at most 1 restart in 5 s (OTP's defaults), no children yet.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForAll)
    ///         .child(ChildSpec::worker("a", || until_told))
    ///         .child(ChildSpec::worker("b", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     let (a, b) = (child(cx, supervisor, "a")?, child(cx, supervisor, "b")?);
    ///
    ///     tell_to_end(cx, a, Reason::error("crashed"))?; // and wait for its `Down`
    ///     // One for all: "b" was stopped too, and both were started again.
    ///     assert_ne!(child(cx, supervisor, "a")?, a);
    ///     assert_ne!(child(cx, supervisor, "b")?, b);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(strategy: Strategy) -> Self {
        SupervisorSpec { strategy, intensity: 1, period: Duration::from_secs(5), children: Vec::new() }
    }

    /// At most `restarts` restarts within `period`; one more ends the supervisor.
    ///
    /// The supervisor then stops its children and ends with `shutdown`, which
    /// reaches its parent through their link.
    ///
    /// ```
    /// use lariat::Exit;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     cx.trap_exit(true); // to see the supervisor's end as a message
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne)
    ///         .intensity(1, Duration::from_secs(60))
    ///         .child(ChildSpec::worker("fragile", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     for _ in 0..2 {
    ///         let fragile = child(cx, supervisor, "fragile")?;
    ///         tell_to_end(cx, fragile, Reason::error("crashed"))?; // and wait for its `Down`
    ///     }
    ///     // The first crash was restarted; the second was one restart too many.
    ///     let exit = cx.receive_timeout::<Exit>(Duration::from_secs(5))?.ok_or(Reason::error("no Exit"))?;
    ///     assert_eq!((exit.from, exit.reason), (supervisor.pid(), Reason::Shutdown));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn intensity(mut self, restarts: u32, period: Duration) -> Self {
        self.intensity = restarts;
        self.period = period;
        self
    }

    /// Adds a child, started after the ones added before.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne)
    ///         .child(ChildSpec::worker("database", || until_told))
    ///         .child(ChildSpec::worker("web", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     let ids: Vec<String> = supervisor.which_children(cx)?.into_iter().map(|child| child.id).collect();
    ///     assert_eq!(ids, ["database", "web"]);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}

/// A child as `which_children` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its id.
    pub id: String,
    /// Its process, if it runs.
    pub pid: Option<Pid>,
    /// Worker or supervisor.
    pub kind: ChildKind,
}

/// How many children a supervisor has (`count_children`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChildCounts {
    /// Child specs.
    pub specs: usize,
    /// Children that run.
    pub active: usize,
    /// Specs of supervisors.
    pub supervisors: usize,
    /// Specs of workers.
    pub workers: usize,
}

/// Why a supervisor request failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SupervisorError {
    /// No child has this id.
    NotFound,
    /// A child with this id exists and runs (`already_started`).
    AlreadyStarted(Pid),
    /// A child with this id exists and does not run (`already_present`).
    AlreadyPresent,
    /// The child runs (restart and delete need it stopped).
    Running,
    /// A dynamic supervisor has its `max_children` already.
    MaxChildren,
    /// The child's restart failed and is due again (`restarting`): wait, or
    /// terminate it first.
    Restarting,
    /// Starting the child failed with this reason.
    StartFailed(Reason),
    /// The request itself failed (the supervisor is gone, or did not answer).
    Call(CallError),
}

impl fmt::Display for SupervisorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SupervisorError::NotFound => f.write_str("no child has that id"),
            SupervisorError::AlreadyStarted(pid) => write!(f, "a child with that id runs already: {pid}"),
            SupervisorError::AlreadyPresent => {
                f.write_str("a child with that id exists (stopped): restart or delete it")
            }
            SupervisorError::Running => f.write_str("the child runs: terminate it first"),
            SupervisorError::Restarting => {
                f.write_str("the child's restart failed and is being tried again: wait, or terminate it first")
            }
            SupervisorError::MaxChildren => {
                f.write_str("the dynamic supervisor has its max_children already: terminate one, or raise the bound")
            }
            SupervisorError::StartFailed(reason) => write!(f, "the child failed to start: {reason}"),
            SupervisorError::Call(error) => write!(f, "the supervisor did not answer: {error}"),
        }
    }
}

impl std::error::Error for SupervisorError {}

impl From<SupervisorError> for Reason {
    fn from(error: SupervisorError) -> Reason {
        match error {
            SupervisorError::Call(error) => error.into(),
            error => Reason::from_error(error),
        }
    }
}

/// How long a request to a supervisor may take (it may be stopping children).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

/// A running supervisor.
///
/// Its requests wait for the answer for up to an hour, since the supervisor
/// may be stopping children (each within its shutdown time) before it answers.
/// `?` on a [`SupervisorError`] ends the caller with an error reason that
/// keeps the error (for [`SupervisorError::Call`], the [`CallError`]); a
/// caller told to end ends with the reason it was told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupervisorRef(ServerRef<Supervisor>);

impl SupervisorRef {
    /// The `SupervisorRef` of a supervisor known by its pid (a child
    /// supervisor's, from `which_children`). Requests to a process that is no
    /// supervisor time out.
    ///
    /// ```
    /// use lariat::server::StartOptions;
    /// use lariat::supervisor::SupervisorRef;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", || until_told));
    ///     supervisor::start(cx, StartOptions::new().name("app"), spec)?;
    ///     // Elsewhere, knowing only its name:
    ///     let app = SupervisorRef::from_pid(cx.whereis("app").ok_or(Reason::error("no app"))?);
    ///     assert_eq!(app.count_children(cx)?.active, 1);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pid(pid: Pid) -> SupervisorRef {
        SupervisorRef(ServerRef::from_pid(pid))
    }

    /// The supervisor's pid.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let app = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne))?;
    ///     cx.register("app", app.pid())?;
    ///     assert_eq!(cx.whereis("app"), Some(app.pid()));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    fn ask(&self, cx: &mut Cx, request: Ask) -> Result<Answer, SupervisorError> {
        self.0.call(cx, request, REQUEST_TIMEOUT).map_err(SupervisorError::Call)
    }

    /// Every child, in start order (`which_children/1`).
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::{ChildInfo, ChildKind};
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne)
    ///         .child(ChildSpec::worker("a", || until_told))
    ///         .child(ChildSpec::worker("b", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     supervisor.terminate_child(cx, "a")?;
    ///     let children = supervisor.which_children(cx)?;
    ///     assert_eq!(children[0], ChildInfo { id: "a".into(), pid: None, kind: ChildKind::Worker });
    ///     assert_eq!(children[1].id, "b");
    ///     assert!(children[1].pid.is_some());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn which_children(&self, cx: &mut Cx) -> Result<Vec<ChildInfo>, SupervisorError> {
        match self.ask(cx, Ask::WhichChildren)? {
            Answer::Children(children) => Ok(children),
            _ => unreachable!("answered in kind"),
        }
    }

    /// How many children of each kind (`count_children/1`).
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::ChildCounts;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne)
    ///         .child(ChildSpec::worker("a", || until_told))
    ///         .child(ChildSpec::worker("b", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     supervisor.terminate_child(cx, "a")?;
    ///     let counts = supervisor.count_children(cx)?;
    ///     assert_eq!(counts, ChildCounts { specs: 2, active: 1, supervisors: 0, workers: 2 });
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_children(&self, cx: &mut Cx) -> Result<ChildCounts, SupervisorError> {
        match self.ask(cx, Ask::CountChildren)? {
            Answer::Counts(counts) => Ok(counts),
            _ => unreachable!("answered in kind"),
        }
    }

    /// Adds a child and starts it, after the others (`start_child/2`).
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::AlreadyStarted`] with the child's pid if a running
    ///   child has this id;
    /// - [`SupervisorError::AlreadyPresent`] if a stopped child has it:
    ///   [`restart_child`](SupervisorRef::restart_child) or
    ///   [`delete_child`](SupervisorRef::delete_child) it first;
    /// - [`SupervisorError::StartFailed`] with the reason if the child's start
    ///   returned `Err` or panicked (its spec is not kept);
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let supervisor = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne))?;
    ///     let pid = supervisor.start_child(cx, ChildSpec::worker("late", || until_told))?;
    ///     assert_eq!(supervisor.which_children(cx)?[0].pid, Some(pid));
    ///
    ///     let again = supervisor.start_child(cx, ChildSpec::worker("late", || until_told));
    ///     assert_eq!(again, Err(SupervisorError::AlreadyStarted(pid)));
    ///     supervisor.terminate_child(cx, "late")?;
    ///     let again = supervisor.start_child(cx, ChildSpec::worker("late", || until_told));
    ///     assert_eq!(again, Err(SupervisorError::AlreadyPresent));
    ///
    ///     let broken = ChildSpec::new("broken", |_| Err(Reason::error("no config")));
    ///     let failed = supervisor.start_child(cx, broken);
    ///     assert_eq!(failed, Err(SupervisorError::StartFailed(Reason::error("no config"))));
    ///     assert_eq!(supervisor.count_children(cx)?.specs, 1, "a failed start keeps no spec");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_child(&self, cx: &mut Cx, child: ChildSpec) -> Result<Pid, SupervisorError> {
        self.ask(cx, Ask::StartChild(child))?.started()
    }

    /// Stops a child, keeping its spec (a temporary child's is removed)
    /// (`terminate_child/2`).
    ///
    /// The child is stopped as its [`ChildSpec::shutdown`] says, and this
    /// returns once it has ended; it is not restarted (a restart of it that
    /// was due is called off). A child that does not run is left as it is.
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::NotFound`] if no child has this id;
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     let pid = child(cx, supervisor, "worker")?;
    ///     let monitor = cx.monitor(pid);
    ///     supervisor.terminate_child(cx, "worker")?;
    ///     let down = cx.receive_timeout::<Down>(Duration::from_secs(5))?.ok_or(Reason::error("no Down"))?;
    ///     assert_eq!((down.monitor, down.reason), (monitor, Reason::Shutdown));
    ///     assert_eq!(supervisor.which_children(cx)?[0].pid, None, "not restarted; its spec stays");
    ///
    ///     assert_eq!(supervisor.terminate_child(cx, "nobody"), Err(SupervisorError::NotFound));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate_child(&self, cx: &mut Cx, id: &str) -> Result<(), SupervisorError> {
        self.ask(cx, Ask::TerminateChild(id.to_owned()))?.done()
    }

    /// Starts a stopped child again (`restart_child/2`).
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::NotFound`] if no child has this id;
    /// - [`SupervisorError::Running`] if it runs: terminate it first;
    /// - [`SupervisorError::Restarting`] if its restart failed and is due
    ///   again: wait, or terminate it first;
    /// - [`SupervisorError::StartFailed`] with the reason if its start returned
    ///   `Err` or panicked (it stays stopped, its spec kept);
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     let first = child(cx, supervisor, "worker")?;
    ///     supervisor.terminate_child(cx, "worker")?;
    ///     let second = supervisor.restart_child(cx, "worker")?;
    ///     assert_ne!(second, first);
    ///     assert_eq!(child(cx, supervisor, "worker")?, second);
    ///
    ///     assert_eq!(supervisor.restart_child(cx, "worker"), Err(SupervisorError::Running));
    ///     assert_eq!(supervisor.restart_child(cx, "nobody"), Err(SupervisorError::NotFound));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restart_child(&self, cx: &mut Cx, id: &str) -> Result<Pid, SupervisorError> {
        self.ask(cx, Ask::RestartChild(id.to_owned()))?.started()
    }

    /// Removes a stopped child's spec (`delete_child/2`).
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::NotFound`] if no child has this id;
    /// - [`SupervisorError::Running`] if it runs: terminate it first;
    /// - [`SupervisorError::Restarting`] if its restart failed and is due
    ///   again: terminate it first;
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     assert_eq!(supervisor.delete_child(cx, "worker"), Err(SupervisorError::Running));
    ///
    ///     supervisor.terminate_child(cx, "worker")?;
    ///     supervisor.delete_child(cx, "worker")?;
    ///     assert!(supervisor.which_children(cx)?.is_empty());
    ///     assert_eq!(supervisor.delete_child(cx, "worker"), Err(SupervisorError::NotFound));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete_child(&self, cx: &mut Cx, id: &str) -> Result<(), SupervisorError> {
        self.ask(cx, Ask::DeleteChild(id.to_owned()))?.done()
    }

    /// Stops the supervisor, which stops its children (in reverse order, each
    /// with `shutdown`), and waits. The supervisor ends `normal`, as with
    /// `gen_server:stop/1`, so a linked caller lives on.
    ///
    /// Each child is stopped as its [`ChildSpec::shutdown`] says (`kill` at
    /// once for [`Shutdown::BrutalKill`]).
    ///
    /// # Errors
    ///
    /// As [`ServerRef::stop`].
    ///
    /// - [`CallError::Exited`] with `NoProc` if the supervisor was gone, or with
    ///   the reason it ended with if it ended otherwise meanwhile (killed, or
    ///   past its restart intensity);
    /// - [`CallError::Timeout`] if it had not ended within `timeout` (it goes on
    ///   stopping: the request stays with it);
    /// - [`CallError::Ended`] if this process was told to end while it waited.
    ///
    /// ```
    /// use lariat::CallError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// # /// Sends `pid` the reason to end with, and waits until it has ended.
    /// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
    /// #     let monitor = cx.monitor(pid);
    /// #     cx.send(pid, reason);
    /// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
    /// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
    /// #     })?;
    /// #     down.ok_or(Reason::error("it did not end"))
    /// # }
    /// # /// The pid of the child `id` of `supervisor`.
    /// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
    /// #     let children = supervisor.which_children(cx)?;
    /// #     let child = children.into_iter().find(|child| child.id == id);
    /// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", || until_told));
    ///     let supervisor = supervisor::start_link(cx, spec)?;
    ///     let pid = child(cx, supervisor, "worker")?;
    ///     let worker = cx.monitor(pid);
    ///     supervisor.stop(cx, Duration::from_secs(5))?;
    ///     assert!(!cx.is_alive(supervisor.pid()));
    ///     // Its child was stopped with `shutdown` first.
    ///     let down = cx.receive_timeout::<Down>(Duration::from_secs(5))?.ok_or(Reason::error("no Down"))?;
    ///     assert_eq!((down.monitor, down.reason), (worker, Reason::Shutdown));
    ///
    ///     let again = supervisor.stop(cx, Duration::from_secs(5));
    ///     assert_eq!(again, Err(CallError::Exited(Reason::NoProc)));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self, cx: &mut Cx, timeout: Duration) -> Result<(), CallError> {
        self.0.stop(cx, Reason::Normal, timeout)
    }
}

/// Starts a supervisor linked to the caller, with `spec`'s children started in
/// order before this returns (`supervisor:start_link/2`).
///
/// # Errors
///
/// [`StartError::Init`] with reason `{failed to start child ID: reason}` (an
/// error reason naming the child) if a child failed to start; the children
/// started before it were stopped. The same for two children with one id
/// (reason `duplicate child id ID`). The supervisor ends with that reason, so
/// a caller that does not trap exits is ended by its exit signal too, as in
/// OTP: trap exits to handle a failed start. [`StartError::Spawn`] if the
/// supervisor could not be spawned; [`StartError::Ended`] if this process was
/// told to end while it waited.
///
/// ```
/// use lariat::server::StartError;
/// # use std::time::Duration;
/// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
/// # use lariat::{Cx, Down, Pid, Reason, Runtime};
/// # /// A worker that ends with the reason it is sent.
/// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
/// #     let reason = cx.receive::<Reason>()?;
/// #     Err(reason)
/// # }
/// # /// Sends `pid` the reason to end with, and waits until it has ended.
/// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
/// #     let monitor = cx.monitor(pid);
/// #     cx.send(pid, reason);
/// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
/// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
/// #     })?;
/// #     down.ok_or(Reason::error("it did not end"))
/// # }
/// # /// The pid of the child `id` of `supervisor`.
/// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
/// #     let children = supervisor.which_children(cx)?;
/// #     let child = children.into_iter().find(|child| child.id == id);
/// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
/// # }
/// let runtime = Runtime::new()?;
/// runtime.block_on(|cx| {
///     let spec = SupervisorSpec::new(Strategy::OneForOne)
///         .child(ChildSpec::worker("a", || until_told))
///         .child(ChildSpec::worker("b", || until_told));
///     let supervisor = supervisor::start_link(cx, spec)?;
///     // Its children started before it returned.
///     assert_eq!(supervisor.count_children(cx)?.active, 2);
///
///     cx.trap_exit(true); // a failed supervisor's exit signal would end this process
///     let broken = SupervisorSpec::new(Strategy::OneForOne)
///         .child(ChildSpec::worker("a", || until_told))
///         .child(ChildSpec::new("broken", |_| Err(Reason::error("no config"))));
///     let failed = supervisor::start_link(cx, broken);
///     let reason = Reason::error(r#"failed to start child "broken": no config"#);
///     assert_eq!(failed, Err(StartError::Init(reason)));
///     Ok::<_, Reason>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_link(cx: &mut Cx, spec: SupervisorSpec) -> Result<SupervisorRef, StartError> {
    start(cx, StartOptions::new().link(), spec)
}

/// [`start_link`] with options (a name; `link` is added: a supervisor is
/// always linked to its parent).
///
/// # Errors
///
/// As [`start_link`].
/// Also [`StartError::AlreadyStarted`] with the holder's pid if the name is
/// taken.
///
/// ```
/// use lariat::server::{StartError, StartOptions};
/// # use std::time::Duration;
/// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
/// # use lariat::{Cx, Down, Pid, Reason, Runtime};
/// # /// A worker that ends with the reason it is sent.
/// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
/// #     let reason = cx.receive::<Reason>()?;
/// #     Err(reason)
/// # }
/// # /// Sends `pid` the reason to end with, and waits until it has ended.
/// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
/// #     let monitor = cx.monitor(pid);
/// #     cx.send(pid, reason);
/// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
/// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
/// #     })?;
/// #     down.ok_or(Reason::error("it did not end"))
/// # }
/// # /// The pid of the child `id` of `supervisor`.
/// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
/// #     let children = supervisor.which_children(cx)?;
/// #     let child = children.into_iter().find(|child| child.id == id);
/// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
/// # }
/// let runtime = Runtime::new()?;
/// runtime.block_on(|cx| {
///     let app = supervisor::start(cx, StartOptions::new().name("app"), SupervisorSpec::new(Strategy::OneForOne))?;
///     assert_eq!(cx.whereis("app"), Some(app.pid()));
///
///     let again = supervisor::start(cx, StartOptions::new().name("app"), SupervisorSpec::new(Strategy::OneForOne));
///     assert_eq!(again, Err(StartError::AlreadyStarted(app.pid())));
///     Ok::<_, Reason>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start(cx: &mut Cx, options: StartOptions, spec: SupervisorSpec) -> Result<SupervisorRef, StartError> {
    let options = options.link().trap_exit();
    server::start(cx, options, move |cx| Supervisor::init(cx, spec)).map(SupervisorRef)
}

/// Starts a top-level supervisor from outside the runtime, held by a process
/// of its own, which [`Runtime::shutdown`](crate::Runtime::shutdown) stops
/// (the last started first) before it ends the rest. Blocks this thread until
/// the supervisor's children have started.
///
/// # Errors
///
/// As [`start_link`]; [`StartError::Spawn`] if the holder could not be spawned.
/// [`StartError::InsideProcess`] if called inside a process: use
/// [`start_link`] there. [`StartError::Init`] with reason `the holder ended
/// before the start` if the holder ended before it could report.
///
/// ```
/// # use std::time::Duration;
/// # use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
/// # use lariat::{Cx, Down, Pid, Reason, Runtime};
/// # /// A worker that ends with the reason it is sent.
/// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
/// #     let reason = cx.receive::<Reason>()?;
/// #     Err(reason)
/// # }
/// # /// Sends `pid` the reason to end with, and waits until it has ended.
/// # fn tell_to_end(cx: &mut Cx, pid: Pid, reason: Reason) -> Result<(), Reason> {
/// #     let monitor = cx.monitor(pid);
/// #     cx.send(pid, reason);
/// #     let down = cx.receive_map_timeout(Duration::from_secs(5), |message| {
/// #         message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
/// #     })?;
/// #     down.ok_or(Reason::error("it did not end"))
/// # }
/// # /// The pid of the child `id` of `supervisor`.
/// # fn child(cx: &mut Cx, supervisor: supervisor::SupervisorRef, id: &str) -> Result<Pid, Reason> {
/// #     let children = supervisor.which_children(cx)?;
/// #     let child = children.into_iter().find(|child| child.id == id);
/// #     child.and_then(|child| child.pid).ok_or(Reason::error("no such child running"))
/// # }
/// let runtime = Runtime::new()?;
/// let spec = SupervisorSpec::new(Strategy::OneForOne).child(ChildSpec::worker("worker", || until_told));
/// let app = supervisor::start_top_level(&runtime, spec)?;
/// // Its children have started; processes can ask it about them.
/// let active = runtime.block_on(move |cx| Ok::<_, Reason>(app.count_children(cx)?.active))?;
/// assert_eq!(active, 1);
/// // Stops it (and so its children) before the rest.
/// runtime.shutdown(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_top_level(runtime: &crate::runtime::Runtime, spec: SupervisorSpec) -> Result<SupervisorRef, StartError> {
    if crate::crash::on_worker_thread() {
        return Err(StartError::InsideProcess);
    }
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let holder = runtime
        .spawn(move |cx| {
            // Trapping (nothing can signal it before it starts the supervisor):
            // a failed start is reported, not turned into the holder's death.
            cx.trap_exit(true);
            let started = start_link(cx, spec);
            let _ = started_tx.send(started.clone());
            let Ok(supervisor) = started else { return Ok(()) };
            let stop = cx.receive_map(|message| {
                if message.is::<crate::runtime::StopTopLevel>() {
                    return Some(true);
                }
                // The supervisor ended by itself (past its restart intensity).
                let exit = message.downcast_ref::<crate::process::Exit>()?;
                (exit.from == supervisor.pid()).then_some(false)
            })?;
            if stop {
                supervisor.stop(cx, Duration::MAX)?;
            }
            Ok(())
        })
        .map_err(StartError::Spawn)?;
    let started =
        started_rx.recv().unwrap_or(Err(StartError::Init(Reason::error("the holder ended before the start"))));
    if started.is_ok() {
        runtime.add_top_level(holder);
    }
    started
}

/// A request to a supervisor.
pub(crate) enum Ask {
    WhichChildren,
    CountChildren,
    StartChild(ChildSpec),
    TerminateChild(String),
    RestartChild(String),
    DeleteChild(String),
}

/// A supervisor's answer.
pub(crate) enum Answer {
    Children(Vec<ChildInfo>),
    Counts(ChildCounts),
    Started(Result<Pid, SupervisorError>),
    Done(Result<(), SupervisorError>),
}

impl Answer {
    fn started(self) -> Result<Pid, SupervisorError> {
        match self {
            Answer::Started(result) => result,
            _ => unreachable!("answered in kind"),
        }
    }

    fn done(self) -> Result<(), SupervisorError> {
        match self {
            Answer::Done(result) => result,
            _ => unreachable!("answered in kind"),
        }
    }
}
