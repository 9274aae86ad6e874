//! The dynamic-children form (Elixir's `DynamicSupervisor`, OTP's
//! `simple_one_for_one`): no children at start, any number added later with
//! [`DynamicSupervisorRef::start_child`], each known by its pid (ids may
//! repeat), restarted one for one under the same restart types and intensity
//! as a static supervisor's, stopped all at once (their order is not defined,
//! as in OTP and Elixir).
//!
//! Invariants: `children` maps each running child's pid to its start number
//! and spec (a restarted child keeps its start number, so `which_children`
//! lists them in start order); finding the child a signal is about costs O(1), so a
//! supervisor of 100,000 children handles each exit in constant time.

use std::collections::HashMap;
use std::time::Duration;

use super::state::{RestartHistory, restarts, start_child_process, stop_at_once, stop_child};
use super::{ChildCounts, ChildInfo, ChildKind, ChildSpec, SupervisorError};
use crate::cx::{Cx, ReplyTo};
use crate::error::CallError;
use crate::mailbox::Message;
use crate::pid::Pid;
use crate::process::Exit;
use crate::reason::Reason;
use crate::server::{self, Server, ServerRef, StartError, StartOptions};

/// A dynamic supervisor's restart intensity and bound on children.
#[derive(Clone, Debug)]
pub struct DynamicSpec {
    intensity: u32,
    period: Duration,
    max_children: Option<usize>,
}

impl DynamicSpec {
    /// At most 3 restarts in 5 s (Elixir's defaults), no bound on children.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     assert_eq!(pool.count_children(cx)?.active, 0, "no children at start");
    ///     pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     assert_eq!(pool.count_children(cx)?.active, 1);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        DynamicSpec { intensity: 3, period: Duration::from_secs(5), max_children: None }
    }

    /// At most `restarts` restarts within `period`; one more ends the supervisor.
    ///
    /// The supervisor then stops its children and ends with `shutdown`, which
    /// reaches its parent through their link.
    ///
    /// ```
    /// use lariat::Exit;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     cx.trap_exit(true); // to see the supervisor's end as a message
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new().intensity(0, Duration::from_secs(60)))?;
    ///     let conn = pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     cx.send(conn, Reason::error("crashed"));
    ///     // No restart allowed: the first crash ends the supervisor.
    ///     let exit = cx.receive_timeout::<Exit>(Duration::from_secs(5))?.ok_or(Reason::error("no Exit"))?;
    ///     assert_eq!((exit.from, exit.reason), (pool.pid(), Reason::Shutdown));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn intensity(mut self, restarts: u32, period: Duration) -> Self {
        self.intensity = restarts;
        self.period = period;
        self
    }

    /// At most `max` children at once: `start_child` beyond it fails with
    /// [`SupervisorError::MaxChildren`].
    ///
    /// A child whose restart failed and is due again holds its place.
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new().max_children(1))?;
    ///     let first = pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     let second = pool.start_child(cx, ChildSpec::worker("conn", || until_told));
    ///     assert_eq!(second, Err(SupervisorError::MaxChildren));
    ///
    ///     pool.terminate_child(cx, first)?;
    ///     pool.start_child(cx, ChildSpec::worker("conn", || until_told))?; // room again
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }
}

impl Default for DynamicSpec {
    fn default() -> Self {
        DynamicSpec::new()
    }
}

/// A running dynamic supervisor.
///
/// Its requests wait for the answer for up to an hour, since the supervisor
/// may be stopping a child (within its shutdown time) before it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicSupervisorRef(ServerRef<Dynamic>);

/// How long a request may take (it may be stopping a child).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

impl DynamicSupervisorRef {
    /// The dynamic supervisor whose pid this is (one found by name, or in
    /// another supervisor's `which_children`). Requests to a process that is
    /// no dynamic supervisor get no answer and time out.
    ///
    /// ```
    /// use lariat::supervisor::DynamicSupervisorRef;
    /// # use lariat::supervisor::{self, DynamicSpec};
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     cx.register("pool", pool.pid())?;
    ///     // Elsewhere, knowing only its name:
    ///     let found = DynamicSupervisorRef::from_pid(cx.whereis("pool").ok_or(Reason::error("no pool"))?);
    ///     assert_eq!(found.count_children(cx)?.active, 0);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pid(pid: Pid) -> DynamicSupervisorRef {
        DynamicSupervisorRef(ServerRef::from_pid(pid))
    }

    /// The supervisor's pid.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     cx.register("pool", pool.pid())?;
    ///     assert_eq!(cx.whereis("pool"), Some(pool.pid()));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    fn ask(&self, cx: &mut Cx, request: DynamicAsk) -> Result<DynamicAnswer, SupervisorError> {
        self.0.call(cx, request, REQUEST_TIMEOUT).map_err(SupervisorError::Call)
    }

    /// Starts a child (`DynamicSupervisor.start_child/2`).
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::StartFailed`] with the reason if the child's start
    ///   returned `Err` or panicked (nothing is kept of it);
    /// - [`SupervisorError::MaxChildren`] if it has its
    ///   [`max_children`](DynamicSpec::max_children) already;
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     // Ids may repeat: children are known by their pids.
    ///     let a = pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     let b = pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     assert_ne!(a, b);
    ///     assert_eq!(pool.count_children(cx)?.active, 2);
    ///
    ///     let broken = ChildSpec::new("broken", |_| Err(Reason::error("no config")));
    ///     let failed = pool.start_child(cx, broken);
    ///     assert_eq!(failed, Err(SupervisorError::StartFailed(Reason::error("no config"))));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_child(&self, cx: &mut Cx, child: ChildSpec) -> Result<Pid, SupervisorError> {
        match self.ask(cx, DynamicAsk::Start(child))? {
            DynamicAnswer::Started(started) => started,
            _ => unreachable!("answered in kind"),
        }
    }

    /// Stops the child `pid` and forgets it (`DynamicSupervisor.terminate_child/2`).
    ///
    /// The child is stopped as its [`ChildSpec::shutdown`] says, and this
    /// returns once it has ended; it is not restarted.
    ///
    /// # Errors
    ///
    /// - [`SupervisorError::NotFound`] if `pid` is not one of its children
    ///   (not any more: a child that ended and was restarted runs under a new
    ///   pid);
    /// - [`SupervisorError::Call`] if the request itself failed:
    ///   [`CallError::Exited`] if the supervisor is gone (`NoProc`) or ended
    ///   before it answered, [`CallError::Ended`] if this process was told to end
    ///   while it waited, [`CallError::CallingSelf`] if called from a child's
    ///   start function (it runs in the supervisor).
    ///
    /// ```
    /// use lariat::supervisor::SupervisorError;
    /// # use std::time::Duration;
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     let conn = pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     let monitor = cx.monitor(conn);
    ///     pool.terminate_child(cx, conn)?;
    ///     let down = cx.receive_timeout::<Down>(Duration::from_secs(5))?.ok_or(Reason::error("no Down"))?;
    ///     assert_eq!((down.monitor, down.reason), (monitor, Reason::Shutdown));
    ///     assert!(pool.which_children(cx)?.is_empty());
    ///     assert_eq!(pool.terminate_child(cx, conn), Err(SupervisorError::NotFound));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn terminate_child(&self, cx: &mut Cx, pid: Pid) -> Result<(), SupervisorError> {
        match self.ask(cx, DynamicAsk::Terminate(pid))? {
            DynamicAnswer::Done(done) => done,
            _ => unreachable!("answered in kind"),
        }
    }

    /// Every running child, in start order (one whose restart is being
    /// tried again is not listed until it runs).
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
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     let a = pool.start_child(cx, ChildSpec::worker("reader", || until_told))?;
    ///     let b = pool.start_child(cx, ChildSpec::worker("writer", || until_told))?;
    ///     let children = pool.which_children(cx)?;
    ///     assert_eq!(children, [
    ///         ChildInfo { id: "reader".into(), pid: Some(a), kind: ChildKind::Worker },
    ///         ChildInfo { id: "writer".into(), pid: Some(b), kind: ChildKind::Worker },
    ///     ]);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn which_children(&self, cx: &mut Cx) -> Result<Vec<ChildInfo>, SupervisorError> {
        match self.ask(cx, DynamicAsk::Which)? {
            DynamicAnswer::Children(children) => Ok(children),
            _ => unreachable!("answered in kind"),
        }
    }

    /// How many children of each kind.
    ///
    /// Only running children are counted (a child whose restart is being
    /// tried again is not), so `specs` and `active` are equal.
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
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     let counts = pool.count_children(cx)?;
    ///     assert_eq!(counts, ChildCounts { specs: 2, active: 2, supervisors: 0, workers: 2 });
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_children(&self, cx: &mut Cx) -> Result<ChildCounts, SupervisorError> {
        match self.ask(cx, DynamicAsk::Count)? {
            DynamicAnswer::Counts(counts) => Ok(counts),
            _ => unreachable!("answered in kind"),
        }
    }

    /// Stops the supervisor, which stops its children (all at once, each within
    /// its shutdown time), and waits; it ends `normal`.
    ///
    /// # Errors
    ///
    /// As [`ServerRef::stop`]:
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
    /// # use lariat::supervisor::{self, ChildSpec, DynamicSpec};
    /// # use lariat::{Cx, Down, Pid, Reason, Runtime};
    /// # /// A worker that ends with the reason it is sent.
    /// # fn until_told(cx: &mut Cx) -> Result<(), Reason> {
    /// #     let reason = cx.receive::<Reason>()?;
    /// #     Err(reason)
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
    ///     let conn = pool.start_child(cx, ChildSpec::worker("conn", || until_told))?;
    ///     let monitor = cx.monitor(conn);
    ///     pool.stop(cx, Duration::from_secs(5))?;
    ///     assert!(!cx.is_alive(pool.pid()));
    ///     // Its child was stopped with `shutdown` first.
    ///     let down = cx.receive_timeout::<Down>(Duration::from_secs(5))?.ok_or(Reason::error("no Down"))?;
    ///     assert_eq!((down.monitor, down.reason), (monitor, Reason::Shutdown));
    ///
    ///     assert_eq!(pool.stop(cx, Duration::from_secs(5)), Err(CallError::Exited(Reason::NoProc)));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self, cx: &mut Cx, timeout: Duration) -> Result<(), CallError> {
        self.0.stop(cx, Reason::Normal, timeout)
    }
}

/// Starts a dynamic supervisor linked to the caller (`DynamicSupervisor.start_link/1`).
///
/// # Errors
///
/// As [`server::start`]: [`StartError::Spawn`] if the supervisor could not
/// be spawned, [`StartError::Ended`] if this process was told to end while it
/// waited (its `init` cannot fail, and it has no name).
///
/// ```
/// use std::time::Duration;
/// use lariat::supervisor::{self, ChildSpec, DynamicSpec};
/// use lariat::{Reason, Runtime};
///
/// let runtime = Runtime::new()?;
/// let running = runtime.block_on(|cx| {
///     let pool = supervisor::start_dynamic(cx, DynamicSpec::new().max_children(100))?;
///     for _ in 0..10 {
///         pool.start_child(cx, ChildSpec::worker("conn", || |cx: &mut lariat::Cx| cx.receive::<()>()))?;
///     }
///     let running = pool.count_children(cx)?.active;
///     pool.stop(cx, Duration::from_secs(5))?;
///     Ok::<_, Reason>(running)
/// })?;
/// assert_eq!(running, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_dynamic(cx: &mut Cx, spec: DynamicSpec) -> Result<DynamicSupervisorRef, StartError> {
    let options = StartOptions::new().link().trap_exit();
    let init = move |_: &mut Cx| {
        Ok(Dynamic {
            history: RestartHistory::new(spec.intensity, spec.period),
            max_children: spec.max_children,
            children: HashMap::new(),
            retrying: HashMap::new(),
            next_start: 0,
        })
    };
    server::start(cx, options, init).map(DynamicSupervisorRef)
}

/// A request to a dynamic supervisor.
pub(crate) enum DynamicAsk {
    Start(ChildSpec),
    Terminate(Pid),
    Which,
    Count,
}

/// Its answer.
pub(crate) enum DynamicAnswer {
    Started(Result<Pid, SupervisorError>),
    Done(Result<(), SupervisorError>),
    Children(Vec<ChildInfo>),
    Counts(ChildCounts),
}

/// A dynamic supervisor's state.
pub(crate) struct Dynamic {
    history: RestartHistory,
    max_children: Option<usize>,
    /// Running children: start number and spec.
    children: HashMap<Pid, (u64, ChildSpec)>,
    /// Children whose restart failed, by start number, to be tried again.
    retrying: HashMap<u64, ChildSpec>,
    next_start: u64,
}

/// A failed restart of a dynamic child, due again.
struct TryAgainDynamic(u64);

impl Dynamic {
    /// Stops every child at once (as OTP's `simple_one_for_one` and Elixir's
    /// DynamicSupervisor: their order is not defined), each within its own
    /// shutdown time.
    fn stop_all(&mut self, cx: &mut Cx) {
        let children: Vec<(Pid, super::Shutdown)> =
            self.children.drain().map(|(pid, (_, spec))| (pid, spec.shutdown)).collect();
        stop_at_once(cx, &children);
    }

    /// Child `pid` ended: restarted (a failed start is one more restart) or
    /// forgotten; past the intensity every child stops and the supervisor ends.
    fn child_ended(&mut self, cx: &mut Cx, pid: Pid, reason: &Reason) -> Result<(), Reason> {
        let Some((start, spec)) = self.children.remove(&pid) else { return Ok(()) };
        if !restarts(spec.restart, reason) {
            return Ok(());
        }
        self.restart(cx, start, spec)
    }

    /// One restart try, counted against the intensity; a start that fails is
    /// tried again through a message to itself, so requests and its parent's
    /// exit signal are handled in between.
    fn restart(&mut self, cx: &mut Cx, start: u64, spec: ChildSpec) -> Result<(), Reason> {
        if !self.history.allow() {
            self.stop_all(cx);
            return Err(Reason::Shutdown);
        }
        match start_child_process(cx, &spec) {
            Ok(restarted) => {
                self.children.insert(restarted, (start, spec));
            }
            Err(_) => {
                self.retrying.insert(start, spec);
                let me = cx.pid();
                cx.send(me, TryAgainDynamic(start));
            }
        }
        Ok(())
    }
}

impl Server for Dynamic {
    type Call = DynamicAsk;
    type Reply = DynamicAnswer;
    type Cast = ();

    fn handle_call(
        &mut self,
        cx: &mut Cx,
        request: DynamicAsk,
        reply_to: ReplyTo<DynamicAnswer>,
    ) -> Result<(), Reason> {
        let answer = match request {
            DynamicAsk::Start(spec) => DynamicAnswer::Started(match self.max_children {
                // Children waiting for a retried restart hold their places.
                Some(max) if self.children.len() + self.retrying.len() >= max => Err(SupervisorError::MaxChildren),
                _ => match start_child_process(cx, &spec) {
                    Ok(pid) => {
                        self.children.insert(pid, (self.next_start, spec));
                        self.next_start += 1;
                        Ok(pid)
                    }
                    Err(reason) => Err(SupervisorError::StartFailed(reason)),
                },
            }),
            DynamicAsk::Terminate(pid) => DynamicAnswer::Done(match self.children.remove(&pid) {
                Some((_, spec)) => {
                    stop_child(cx, pid, spec.shutdown);
                    Ok(())
                }
                None => Err(SupervisorError::NotFound),
            }),
            DynamicAsk::Which => {
                let mut children: Vec<(u64, ChildInfo)> = self
                    .children
                    .iter()
                    .map(|(&pid, (start, spec))| {
                        (*start, ChildInfo { id: spec.id.clone(), pid: Some(pid), kind: spec.kind })
                    })
                    .collect();
                children.sort_unstable_by_key(|&(start, _)| start);
                DynamicAnswer::Children(children.into_iter().map(|(_, info)| info).collect())
            }
            DynamicAsk::Count => {
                let supervisors = self.children.values().filter(|(_, spec)| spec.kind == ChildKind::Supervisor).count();
                let specs = self.children.len();
                DynamicAnswer::Counts(ChildCounts { specs, active: specs, supervisors, workers: specs - supervisors })
            }
        };
        reply_to.reply(cx, answer);
        Ok(())
    }

    fn handle_info(&mut self, cx: &mut Cx, message: Message) -> Result<(), Reason> {
        let message = match message.downcast::<TryAgainDynamic>() {
            Ok(TryAgainDynamic(start)) => {
                return match self.retrying.remove(&start) {
                    Some(spec) => self.restart(cx, start, spec),
                    None => Ok(()),
                };
            }
            Err(message) => message,
        };
        match message.downcast_ref::<Exit>() {
            Some(exit) => self.child_ended(cx, exit.from, &exit.reason),
            None => Ok(()),
        }
    }

    fn terminate(&mut self, cx: &mut Cx, _: &Reason) {
        self.stop_all(cx);
    }
}
