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
    pub fn new() -> Self {
        DynamicSpec { intensity: 3, period: Duration::from_secs(5), max_children: None }
    }

    /// At most `restarts` restarts within `period`; one more ends the supervisor.
    pub fn intensity(mut self, restarts: u32, period: Duration) -> Self {
        self.intensity = restarts;
        self.period = period;
        self
    }

    /// At most `max` children at once: `start_child` beyond it fails with
    /// [`SupervisorError::MaxChildren`].
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynamicSupervisorRef(ServerRef<Dynamic>);

/// How long a request may take (it may be stopping a child).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3600);

impl DynamicSupervisorRef {
    /// The supervisor's pid.
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
    /// `StartFailed`, `MaxChildren`, or `Call` if the supervisor is gone.
    pub fn start_child(&self, cx: &mut Cx, child: ChildSpec) -> Result<Pid, SupervisorError> {
        match self.ask(cx, DynamicAsk::Start(child))? {
            DynamicAnswer::Started(started) => started,
            _ => unreachable!("answered in kind"),
        }
    }

    /// Stops the child `pid` and forgets it (`DynamicSupervisor.terminate_child/2`).
    ///
    /// # Errors
    ///
    /// `NotFound` if `pid` is not one of its children.
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
    /// `Call` if the supervisor is gone.
    pub fn which_children(&self, cx: &mut Cx) -> Result<Vec<ChildInfo>, SupervisorError> {
        match self.ask(cx, DynamicAsk::Which)? {
            DynamicAnswer::Children(children) => Ok(children),
            _ => unreachable!("answered in kind"),
        }
    }

    /// How many children of each kind.
    ///
    /// # Errors
    ///
    /// `Call` if the supervisor is gone.
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
    /// As [`ServerRef::stop`].
    pub fn stop(&self, cx: &mut Cx, timeout: Duration) -> Result<(), CallError> {
        self.0.stop(cx, Reason::Normal, timeout)
    }
}

/// Starts a dynamic supervisor linked to the caller (`DynamicSupervisor.start_link/1`).
///
/// # Errors
///
/// As [`server::start`].
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
