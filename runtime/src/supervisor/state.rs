//! The supervisor process's state: its children in start order, the restart
//! history, and what a child's end or a request does to them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{
    Answer, Ask, ChildCounts, ChildInfo, ChildKind, ChildSpec, Restart, Shutdown, Strategy, SupervisorError,
    SupervisorSpec,
};
use crate::cx::{Cx, ReplyTo};
use crate::mailbox::Message;
use crate::monitor::Down;
use crate::pid::Pid;
use crate::process::Exit;
use crate::reason::Reason;
use crate::server::Server;

/// A child and its process, if it runs.
struct Child {
    spec: ChildSpec,
    pid: Option<Pid>,
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
                Ok(pid) => supervisor.children.push(Child { spec, pid: Some(pid) }),
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
        let first = match self.strategy {
            Strategy::OneForOne => index,
            Strategy::OneForAll => 0,
            Strategy::RestForOne => index,
        };
        let last = match self.strategy {
            Strategy::OneForOne => index + 1,
            Strategy::OneForAll | Strategy::RestForOne => self.children.len(),
        };
        self.restart_range(cx, first, last)
    }

    /// Restarts the children in `first..last` (stopping the running ones
    /// among them first, the last first), counting against the intensity; a
    /// start that fails is another restart.
    fn restart_range(&mut self, cx: &mut Cx, first: usize, last: usize) -> Result<(), Reason> {
        loop {
            if !self.history.allow() {
                self.stop_all(cx);
                return Err(Reason::Shutdown);
            }
            for child in self.children[first..last].iter_mut().rev() {
                if let Some(pid) = child.pid.take() {
                    stop_child(cx, pid, child.spec.shutdown);
                }
            }
            let mut failed = false;
            for child in &mut self.children[first..last] {
                // A temporary child is not restarted with its siblings either
                // (its spec goes below).
                if child.spec.restart == Restart::Temporary {
                    continue;
                }
                match start_child_process(cx, &child.spec) {
                    Ok(pid) => child.pid = Some(pid),
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                self.children.retain(|child| child.pid.is_some() || child.spec.restart != Restart::Temporary);
                return Ok(());
            }
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
        self.children.push(Child { spec, pid: Some(pid) });
        Ok(pid)
    }

    fn terminate_child(&mut self, cx: &mut Cx, id: &str) -> Result<(), SupervisorError> {
        let index = self.position(id).ok_or(SupervisorError::NotFound)?;
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
        let pid = start_child_process(cx, &self.children[index].spec).map_err(SupervisorError::StartFailed)?;
        self.children[index].pid = Some(pid);
        Ok(pid)
    }

    fn delete_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let index = self.position(id).ok_or(SupervisorError::NotFound)?;
        if self.children[index].pid.is_some() {
            return Err(SupervisorError::Running);
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
    let monitor = cx.monitor(pid);
    cx.unlink(pid);
    // An `Exit` it sent before the unlink took effect is of no use now.
    let _ = cx.receive_map_timeout(Duration::ZERO, |message| {
        message.downcast_ref::<Exit>().filter(|exit| exit.from == pid).map(|_| ())
    });
    let first = match shutdown {
        Shutdown::BrutalKill => Reason::Kill,
        Shutdown::Timeout(_) | Shutdown::Infinity => Reason::Shutdown,
    };
    let _ = cx.exit(pid, first);
    let is_down =
        |message: &mut Message| message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ());
    let waited = match shutdown {
        Shutdown::Timeout(timeout) => cx.receive_map_timeout(timeout, is_down),
        Shutdown::BrutalKill | Shutdown::Infinity => cx.receive_map(is_down).map(Some),
    };
    if let Ok(None) = waited {
        let _ = cx.exit(pid, Reason::Kill);
        let _ = cx.receive_map(is_down);
    }
}
