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
    pub fn worker<B>(id: impl Into<String>, body: impl Fn() -> B + Send + Sync + 'static) -> Self
    where
        B: FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static,
    {
        ChildSpec::new(id, move |cx| Ok(cx.spawn_link(body())?))
    }

    /// When it is restarted (default: permanent).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// How it is stopped (default: 5 s, then `kill`).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Marks it as a supervisor (and stops it with `Shutdown::Infinity`, as OTP does).
    pub fn supervisor(mut self) -> Self {
        self.kind = ChildKind::Supervisor;
        self.shutdown = Shutdown::Infinity;
        self
    }

    /// Its id.
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
    pub fn new(strategy: Strategy) -> Self {
        SupervisorSpec { strategy, intensity: 1, period: Duration::from_secs(5), children: Vec::new() }
    }

    /// At most `restarts` restarts within `period`; one more ends the supervisor.
    pub fn intensity(mut self, restarts: u32, period: Duration) -> Self {
        self.intensity = restarts;
        self.period = period;
        self
    }

    /// Adds a child, started after the ones added before.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SupervisorRef(ServerRef<Supervisor>);

impl SupervisorRef {
    /// The `SupervisorRef` of a supervisor known by its pid (a child
    /// supervisor's, from `which_children`). Requests to a process that is no
    /// supervisor time out.
    pub fn from_pid(pid: Pid) -> SupervisorRef {
        SupervisorRef(ServerRef::from_pid(pid))
    }

    /// The supervisor's pid.
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
    /// [`SupervisorError::Call`] if the supervisor is gone.
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
    /// [`SupervisorError::Call`] if the supervisor is gone.
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
    /// `AlreadyStarted` / `AlreadyPresent` if its id is taken, `StartFailed`.
    pub fn start_child(&self, cx: &mut Cx, child: ChildSpec) -> Result<Pid, SupervisorError> {
        self.ask(cx, Ask::StartChild(child))?.started()
    }

    /// Stops a child, keeping its spec (a temporary child's is removed)
    /// (`terminate_child/2`).
    ///
    /// # Errors
    ///
    /// `NotFound`.
    pub fn terminate_child(&self, cx: &mut Cx, id: &str) -> Result<(), SupervisorError> {
        self.ask(cx, Ask::TerminateChild(id.to_owned()))?.done()
    }

    /// Starts a stopped child again (`restart_child/2`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Running`, `StartFailed`.
    pub fn restart_child(&self, cx: &mut Cx, id: &str) -> Result<Pid, SupervisorError> {
        self.ask(cx, Ask::RestartChild(id.to_owned()))?.started()
    }

    /// Removes a stopped child's spec (`delete_child/2`).
    ///
    /// # Errors
    ///
    /// `NotFound`, `Running`.
    pub fn delete_child(&self, cx: &mut Cx, id: &str) -> Result<(), SupervisorError> {
        self.ask(cx, Ask::DeleteChild(id.to_owned()))?.done()
    }

    /// Stops the supervisor, which stops its children (in reverse order, each
    /// with `shutdown`), and waits. The supervisor ends `normal`, as with
    /// `gen_server:stop/1`, so a linked caller lives on.
    ///
    /// # Errors
    ///
    /// As [`ServerRef::stop`].
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
/// started before it were stopped.
pub fn start_link(cx: &mut Cx, spec: SupervisorSpec) -> Result<SupervisorRef, StartError> {
    start(cx, StartOptions::new().link(), spec)
}

/// [`start_link`] with options (a name; `link` is added: a supervisor is
/// always linked to its parent).
///
/// # Errors
///
/// As [`start_link`].
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
