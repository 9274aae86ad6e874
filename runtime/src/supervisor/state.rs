//! The supervisor process's state: its children in start order, the restart
//! history, and what a child's end or a request does to them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::{
    Answer, Ask, ChildCounts, ChildInfo, ChildKind, ChildSpec, Restart, Shutdown, Strategy, SupervisorError,
    SupervisorSpec,
};
use crate::cx::{Cx, ReplyTo};
use crate::mailbox::Message;
use crate::monitor::Down;
use crate::pid::{Pid, Ref};
use crate::process::Exit;
use crate::reason::Reason;
use crate::server::Server;

/// A child and its process, if it runs.
struct Child {
    spec: ChildSpec,
    pid: Option<Pid>,
    /// Its restart failed and is due again (a `TryAgain` is on its way): a
    /// request may not restart, delete or forget it meanwhile (OTP's
    /// `restarting`).
    restarting: bool,
}

/// How many restarts a supervisor allows within a period: the times of the
/// restarts within the last `period`, oldest first (trimmed as it goes, so a
/// check costs O(1) amortised).
pub(super) struct RestartHistory {
    intensity: u32,
    period: Duration,
    restarts: VecDeque<Instant>,
}

impl RestartHistory {
    pub(super) fn new(intensity: u32, period: Duration) -> Self {
        RestartHistory { intensity, period, restarts: VecDeque::new() }
    }

    /// Records a restart; `false` if it is one more than the intensity allows.
    pub(super) fn allow(&mut self) -> bool {
        let now = Instant::now();
        while self.restarts.front().is_some_and(|&at| now.duration_since(at) > self.period) {
            self.restarts.pop_front();
        }
        self.restarts.push_back(now);
        self.restarts.len() <= self.intensity as usize
    }
}

/// Whether a child that ended with `reason` is restarted.
pub(super) fn restarts(restart: Restart, reason: &Reason) -> bool {
    match restart {
        Restart::Permanent => true,
        Restart::Transient => !matches!(reason, Reason::Normal | Reason::Shutdown),
        Restart::Temporary => false,
    }
}

/// A failed restart, due again (sent by the supervisor to itself).
struct TryAgain(String);

/// The supervisor's state.
pub(crate) struct Supervisor {
    strategy: Strategy,
    children: Vec<Child>,
    history: RestartHistory,
}

impl Supervisor {
    pub(super) fn init(cx: &mut Cx, spec: SupervisorSpec) -> Result<Supervisor, Reason> {
        let mut supervisor = Supervisor {
            strategy: spec.strategy,
            children: Vec::with_capacity(spec.children.len()),
            history: RestartHistory::new(spec.intensity, spec.period),
        };
        for spec in spec.children {
            if supervisor.children.iter().any(|child| child.spec.id == spec.id) {
                supervisor.stop_all(cx);
                return Err(Reason::error(format!("duplicate child id {:?}", spec.id)));
            }
            match start_child_process(cx, &spec) {
                Ok(pid) => supervisor.children.push(Child { spec, pid: Some(pid), restarting: false }),
                Err(reason) => {
                    supervisor.stop_all(cx);
                    return Err(Reason::error(format!("failed to start child {:?}: {reason}", spec.id)));
                }
            }
        }
        Ok(supervisor)
    }

    /// Stops every running child, the last started first.
    fn stop_all(&mut self, cx: &mut Cx) {
        self.stop_from(cx, 0);
    }

    /// Stops the running children from index `first` on, the last first.
    fn stop_from(&mut self, cx: &mut Cx, first: usize) {
        for child in self.children[first..].iter_mut().rev() {
            if let Some(pid) = child.pid.take() {
                stop_child(cx, pid, child.spec.shutdown);
            }
        }
        self.children.retain(|child| child.pid.is_some() || child.spec.restart != Restart::Temporary);
    }

    /// A child ended with `reason`: restarts what the strategy says, or ends
    /// the supervisor (`Err(shutdown)`) past the restart intensity.
    fn child_ended(&mut self, cx: &mut Cx, index: usize, reason: &Reason) -> Result<(), Reason> {
        self.children[index].pid = None;
        if !restarts(self.children[index].spec.restart, reason) {
            if self.children[index].spec.restart == Restart::Temporary {
                self.children.remove(index);
            }
            return Ok(());
        }
        self.restart_from(cx, index)
    }

    /// Restarts what the strategy says for the child at `index`, counting
    /// against the intensity. A start that fails is tried again through a
    /// message to itself (OTP's `try_again_restart`), so requests and its
    /// parent's exit signal are handled in between; each try counts again.
    fn restart_from(&mut self, cx: &mut Cx, index: usize) -> Result<(), Reason> {
        let (first, last) = match self.strategy {
            Strategy::OneForOne => (index, index + 1),
            Strategy::OneForAll => (0, self.children.len()),
            Strategy::RestForOne => (index, self.children.len()),
        };
        if !self.history.allow() {
            self.stop_all(cx);
            return Err(Reason::Shutdown);
        }
        for child in self.children[first..last].iter_mut().rev() {
            if let Some(pid) = child.pid.take() {
                stop_child(cx, pid, child.spec.shutdown);
            }
        }
        let mut failed = None;
        for child in &mut self.children[first..last] {
            // A temporary child is not restarted with its siblings either
            // (its spec goes below).
            if child.spec.restart == Restart::Temporary {
                continue;
            }
            match start_child_process(cx, &child.spec) {
                Ok(pid) => {
                    child.pid = Some(pid);
                    child.restarting = false;
                }
                Err(_) => {
                    child.restarting = true;
                    failed = Some(child.spec.id.clone());
                    break;
                }
            }
        }
        if let Some(id) = failed {
            // From that child on, as the strategy says, once more later.
            let me = cx.pid();
            cx.send(me, TryAgain(id));
        }
        self.children.retain(|child| child.pid.is_some() || child.spec.restart != Restart::Temporary);
        Ok(())
    }

    /// A restart that failed is due again: the child it was for, if it still
    /// exists and does not run (a request may have restarted or deleted it).
    fn try_again(&mut self, cx: &mut Cx, id: &str) -> Result<(), Reason> {
        match self.position(id) {
            Some(index) if self.children[index].restarting => {
                self.children[index].restarting = false;
                self.restart_from(cx, index)
            }
            // Terminated (or started) by a request meanwhile: nothing is due.
            _ => Ok(()),
        }
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|child| child.spec.id == id)
    }

    fn start_child(&mut self, cx: &mut Cx, spec: ChildSpec) -> Result<Pid, SupervisorError> {
        if let Some(index) = self.position(&spec.id) {
            return Err(match self.children[index].pid {
                Some(pid) => SupervisorError::AlreadyStarted(pid),
                None => SupervisorError::AlreadyPresent,
            });
        }
        let pid = start_child_process(cx, &spec).map_err(SupervisorError::StartFailed)?;
        self.children.push(Child { spec, pid: Some(pid), restarting: false });
        Ok(pid)
    }

    fn terminate_child(&mut self, cx: &mut Cx, id: &str) -> Result<(), SupervisorError> {
        let index = self.position(id).ok_or(SupervisorError::NotFound)?;
        // A retry due for it is called off.
        self.children[index].restarting = false;
        if let Some(pid) = self.children[index].pid.take() {
            stop_child(cx, pid, self.children[index].spec.shutdown);
        }
        if self.children[index].spec.restart == Restart::Temporary {
            self.children.remove(index);
        }
        Ok(())
    }

    fn restart_child(&mut self, cx: &mut Cx, id: &str) -> Result<Pid, SupervisorError> {
        let index = self.position(id).ok_or(SupervisorError::NotFound)?;
        if self.children[index].pid.is_some() {
            return Err(SupervisorError::Running);
        }
        if self.children[index].restarting {
            return Err(SupervisorError::Restarting);
        }
        let pid = start_child_process(cx, &self.children[index].spec).map_err(SupervisorError::StartFailed)?;
        self.children[index].pid = Some(pid);
        Ok(pid)
    }

    fn delete_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let index = self.position(id).ok_or(SupervisorError::NotFound)?;
        if self.children[index].pid.is_some() {
            return Err(SupervisorError::Running);
        }
        if self.children[index].restarting {
            return Err(SupervisorError::Restarting);
        }
        self.children.remove(index);
        Ok(())
    }

    fn counts(&self) -> ChildCounts {
        let mut counts = ChildCounts { specs: self.children.len(), ..ChildCounts::default() };
        for child in &self.children {
            counts.active += usize::from(child.pid.is_some());
            match child.spec.kind {
                ChildKind::Worker => counts.workers += 1,
                ChildKind::Supervisor => counts.supervisors += 1,
            }
        }
        counts
    }
}

impl Server for Supervisor {
    type Call = Ask;
    type Reply = Answer;
    type Cast = ();

    fn handle_call(&mut self, cx: &mut Cx, request: Ask, reply_to: ReplyTo<Answer>) -> Result<(), Reason> {
        let answer = match request {
            Ask::WhichChildren => Answer::Children(
                self.children
                    .iter()
                    .map(|child| ChildInfo { id: child.spec.id.clone(), pid: child.pid, kind: child.spec.kind })
                    .collect(),
            ),
            Ask::CountChildren => Answer::Counts(self.counts()),
            Ask::StartChild(spec) => Answer::Started(self.start_child(cx, spec)),
            Ask::TerminateChild(id) => Answer::Done(self.terminate_child(cx, &id)),
            Ask::RestartChild(id) => Answer::Started(self.restart_child(cx, &id)),
            Ask::DeleteChild(id) => Answer::Done(self.delete_child(&id)),
        };
        reply_to.reply(cx, answer);
        Ok(())
    }

    fn handle_info(&mut self, cx: &mut Cx, message: Message) -> Result<(), Reason> {
        let message = match message.downcast::<TryAgain>() {
            Ok(TryAgain(id)) => return self.try_again(cx, &id),
            Err(message) => message,
        };
        let Some(exit) = message.downcast_ref::<Exit>() else { return Ok(()) };
        match self.children.iter().position(|child| child.pid == Some(exit.from)) {
            Some(index) => self.child_ended(cx, index, &exit.reason),
            // Not a child (any more): nothing to do, as OTP.
            None => Ok(()),
        }
    }

    fn terminate(&mut self, cx: &mut Cx, _: &Reason) {
        self.stop_all(cx);
    }
}

/// Starts a child with its spec's start function; a panic in it is a failed
/// start (OTP catches the start call's exception the same way).
pub(super) fn start_child_process(cx: &mut Cx, spec: &ChildSpec) -> Result<Pid, Reason> {
    let start = std::sync::Arc::clone(&spec.start);
    cx.catch_panic(|cx| start(cx)).and_then(|started| started)
}

/// Stops one child as its `shutdown` says and waits until it has ended.
pub(super) fn stop_child(cx: &mut Cx, pid: Pid, shutdown: Shutdown) {
    stop_at_once(cx, &[(pid, shutdown)]);
}

/// Stops children all at once, each as its `shutdown` says (`shutdown`, then
/// `kill` at its own deadline; `kill` at once for `brutal_kill`), and waits
/// until all have ended. The links stay until then (as OTP's `shutdown/1`):
/// a supervisor killed meanwhile still takes its children with it; after,
/// their `Exit`s are flushed.
pub(super) fn stop_at_once(cx: &mut Cx, children: &[(Pid, Shutdown)]) {
    let now = Instant::now();
    let mut waiting: HashMap<Ref, (Pid, Option<Instant>)> = HashMap::with_capacity(children.len());
    for &(pid, shutdown) in children {
        let monitor = cx.monitor(pid);
        let (first, deadline) = match shutdown {
            Shutdown::BrutalKill => (Reason::Kill, None),
            Shutdown::Timeout(timeout) => (Reason::Shutdown, now.checked_add(timeout)),
            Shutdown::Infinity => (Reason::Shutdown, None),
        };
        if cx.exit(pid, first).is_err() {
            return; // this supervisor was told to end: its links end the rest
        }
        waiting.insert(monitor, (pid, deadline));
    }
    while !waiting.is_empty() {
        let next = waiting.values().filter_map(|&(_, deadline)| deadline).min();
        let is_down = |message: &mut Message| {
            message.downcast_ref::<Down>().filter(|down| waiting.contains_key(&down.monitor)).map(|down| down.monitor)
        };
        let down = match next {
            Some(deadline) => cx.receive_map_timeout(deadline.saturating_duration_since(Instant::now()), is_down),
            None => cx.receive_map(is_down).map(Some),
        };
        match down {
            Ok(Some(monitor)) => {
                waiting.remove(&monitor);
            }
            Ok(None) => {
                let now = Instant::now();
                for (pid, deadline) in waiting.values_mut() {
                    if deadline.is_some_and(|deadline| deadline <= now) {
                        *deadline = None;
                        if cx.exit(*pid, Reason::Kill).is_err() {
                            return;
                        }
                    }
                }
            }
            Err(_) => return, // told to end while it waited
        }
    }
    for &(pid, _) in children {
        cx.unlink(pid);
    }
    let stopped: HashSet<Pid> = children.iter().map(|&(pid, _)| pid).collect();
    let is_their_exit =
        |message: &mut Message| message.downcast_ref::<Exit>().filter(|exit| stopped.contains(&exit.from)).map(|_| ());
    while let Ok(Some(())) = cx.receive_map_timeout(Duration::ZERO, is_their_exit) {}
}
