//! Process groups, as OTP's `pg`: a scope (a server process) keeps named
//! groups of pids. A process may join a group more than once and leaves it as
//! many times; a member that ends leaves every group it was in. A process can
//! monitor a group: it gets the members now, then a [`GroupChange`] message for
//! every join and leave, until it demonitors or ends.
//!
//! Invariants: the scope monitors each member once, however many groups it is
//! in, and each group watcher once; a group with no members is not listed.

use std::collections::HashMap;
use std::time::Duration;

use crate::cx::{Cx, ReplyTo};
use crate::error::CallError;
use crate::mailbox::Message;
use crate::monitor::Down;
use crate::pid::{Pid, Ref};
use crate::reason::Reason;
use crate::registry::Name;
use crate::server::{self, Server, ServerRef, StartError, StartOptions};

/// How long a request to a scope may take (it answers at once).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A `pg` scope: where groups live ([`start_link`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope(ServerRef<Groups>);

/// A join or leave in a monitored group, sent to the process that monitors it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    /// The monitor, as [`Scope::monitor`] returned it.
    pub monitor: Ref,
    /// The group.
    pub group: Name,
    /// Whether the pids joined or left.
    pub kind: ChangeKind,
    /// Who joined or left (one entry per join or leave).
    pub pids: Vec<Pid>,
}

/// What happened in a monitored group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// They joined.
    Join,
    /// They left (or ended).
    Leave,
}

/// Starts a scope linked to the caller (`pg:start_link/1`).
///
/// # Errors
///
/// As [`server::start`]: [`StartError::Spawn`] if the scope's process could
/// not be spawned, [`StartError::Ended`] if this process was told to end while
/// it waited (a scope's `init` cannot fail, and it has no name).
///
/// ```
/// use lariat::pg;
/// use lariat::{Reason, Runtime};
///
/// let runtime = Runtime::new()?;
/// runtime.block_on(|cx| {
///     let scope = pg::start_link(cx)?;
///     let me = cx.pid();
///     scope.join(cx, "workers", me)?;
///     assert_eq!(scope.members(cx, "workers")?, [me]);
///     Ok::<_, Reason>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start_link(cx: &mut Cx) -> Result<Scope, StartError> {
    server::start(cx, StartOptions::new().link(), |_| Ok(Groups::default())).map(Scope)
}

impl Scope {
    /// The scope's pid.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     // Named, so that other processes can find it.
    ///     cx.register("groups", scope.pid())?;
    ///     assert_eq!(cx.whereis("groups"), Some(scope.pid()));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.0.pid()
    }

    fn ask(&self, cx: &mut Cx, request: Ask) -> Result<Answer, CallError> {
        self.0.call(cx, request, REQUEST_TIMEOUT)
    }

    /// Adds `pid` to `group` (once more, if it is in it already) (`pg:join/3`).
    ///
    /// # Errors
    ///
    /// A [`CallError`] if the scope is gone: [`CallError::Exited`] with its
    /// exit reason (`NoProc` if it was gone already); [`CallError::Timeout`]
    /// if it did not answer within a minute; [`CallError::Ended`] if this
    /// process was told to end while it waited. `?` ends the caller with it.
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     let me = cx.pid();
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     scope.join(cx, "workers", worker)?;
    ///     scope.join(cx, "workers", me)?;
    ///     scope.join(cx, "workers", me)?; // once more
    ///     assert_eq!(scope.members(cx, "workers")?, [worker, me, me]);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(&self, cx: &mut Cx, group: impl Into<Name>, pid: Pid) -> Result<(), CallError> {
        self.ask(cx, Ask::Join(group.into(), pid)).map(|_| ())
    }

    /// Takes `pid` out of `group` once (`pg:leave/3`): `false` if it was not in it.
    ///
    /// # Errors
    ///
    /// A [`CallError`] if the scope is gone: [`CallError::Exited`] with its
    /// exit reason (`NoProc` if it was gone already); [`CallError::Timeout`]
    /// if it did not answer within a minute; [`CallError::Ended`] if this
    /// process was told to end while it waited. `?` ends the caller with it.
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     let me = cx.pid();
    ///     scope.join(cx, "workers", me)?;
    ///     scope.join(cx, "workers", me)?;
    ///     assert!(scope.leave(cx, "workers", me)?);
    ///     assert_eq!(scope.members(cx, "workers")?, [me], "joined twice, left once");
    ///     assert!(scope.leave(cx, "workers", me)?);
    ///     assert!(!scope.leave(cx, "workers", me)?, "not in it any more");
    ///     assert!(scope.which_groups(cx)?.is_empty());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leave(&self, cx: &mut Cx, group: impl Into<Name>, pid: Pid) -> Result<bool, CallError> {
        match self.ask(cx, Ask::Leave(group.into(), pid))? {
            Answer::Left(left) => Ok(left),
            _ => unreachable!("answered in kind"),
        }
    }

    /// The members of `group`, the latest join last, one entry per join
    /// (`pg:get_members/2`).
    ///
    /// # Errors
    ///
    /// A [`CallError`] if the scope is gone: [`CallError::Exited`] with its
    /// exit reason (`NoProc` if it was gone already); [`CallError::Timeout`]
    /// if it did not answer within a minute; [`CallError::Ended`] if this
    /// process was told to end while it waited. `?` ends the caller with it.
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     let a = cx.spawn(|cx| cx.receive::<()>())?;
    ///     let b = cx.spawn(|cx| cx.receive::<()>())?;
    ///     scope.join(cx, "workers", a)?;
    ///     scope.join(cx, "workers", b)?;
    ///     scope.join(cx, "workers", a)?;
    ///     assert_eq!(scope.members(cx, "workers")?, [a, b, a]);
    ///     assert!(scope.members(cx, "nobody")?.is_empty());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn members(&self, cx: &mut Cx, group: impl Into<Name>) -> Result<Vec<Pid>, CallError> {
        match self.ask(cx, Ask::Members(group.into()))? {
            Answer::Pids(pids) => Ok(pids),
            _ => unreachable!("answered in kind"),
        }
    }

    /// The groups that have members, sorted (`pg:which_groups/1`).
    ///
    /// # Errors
    ///
    /// A [`CallError`] if the scope is gone: [`CallError::Exited`] with its
    /// exit reason (`NoProc` if it was gone already); [`CallError::Timeout`]
    /// if it did not answer within a minute; [`CallError::Ended`] if this
    /// process was told to end while it waited. `?` ends the caller with it.
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg;
    /// # use lariat::{Name, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     let me = cx.pid();
    ///     scope.join(cx, "readers", me)?;
    ///     scope.join(cx, "editors", me)?;
    ///     assert_eq!(scope.which_groups(cx)?, [Name::from("editors"), Name::from("readers")]);
    ///     scope.leave(cx, "editors", me)?;
    ///     assert_eq!(scope.which_groups(cx)?, [Name::from("readers")], "an empty group is not listed");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn which_groups(&self, cx: &mut Cx) -> Result<Vec<Name>, CallError> {
        match self.ask(cx, Ask::WhichGroups)? {
            Answer::Groups(groups) => Ok(groups),
            _ => unreachable!("answered in kind"),
        }
    }

    /// Monitors `group` (`pg:monitor/2`): its members now, and from then on a
    /// [`GroupChange`] message for each join and leave, until
    /// [`Scope::demonitor`] or this process ends.
    ///
    /// # Errors
    ///
    /// A [`CallError`] if the scope is gone: [`CallError::Exited`] with its
    /// exit reason (`NoProc` if it was gone already); [`CallError::Timeout`]
    /// if it did not answer within a minute; [`CallError::Ended`] if this
    /// process was told to end while it waited. `?` ends the caller with it.
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg::{self, ChangeKind, GroupChange};
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     let me = cx.pid();
    ///     scope.join(cx, "workers", me)?;
    ///     let (monitor, members) = scope.monitor(cx, "workers")?;
    ///     assert_eq!(members, [me]);
    ///
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     scope.join(cx, "workers", worker)?;
    ///     let change = cx.receive_timeout::<GroupChange>(Duration::from_secs(5))?.ok_or(Reason::error("no change"))?;
    ///     assert_eq!((change.monitor, change.kind, change.pids), (monitor, ChangeKind::Join, vec![worker]));
    ///
    ///     cx.send(worker, ()); // it ends, and so leaves its groups
    ///     let change = cx.receive_timeout::<GroupChange>(Duration::from_secs(5))?.ok_or(Reason::error("no change"))?;
    ///     assert_eq!((change.kind, change.pids), (ChangeKind::Leave, vec![worker]));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monitor(&self, cx: &mut Cx, group: impl Into<Name>) -> Result<(Ref, Vec<Pid>), CallError> {
        let me = cx.pid();
        match self.ask(cx, Ask::Monitor(group.into(), me))? {
            Answer::Monitor(monitor, pids) => Ok((monitor, pids)),
            _ => unreachable!("answered in kind"),
        }
    }

    /// Stops a group monitor, and removes its [`GroupChange`]s already in this
    /// process's mailbox (as `pg:demonitor/2` flushes): `false` if it was not
    /// active.
    ///
    /// # Errors
    ///
    /// A [`CallError`] if the scope is gone: [`CallError::Exited`] with its
    /// exit reason (`NoProc` if it was gone already); [`CallError::Timeout`]
    /// if it did not answer within a minute; [`CallError::Ended`] if this
    /// process was told to end while it waited. `?` ends the caller with it.
    /// ```
    /// # use std::time::Duration;
    /// use lariat::pg::{self, GroupChange};
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let scope = pg::start_link(cx)?;
    ///     let me = cx.pid();
    ///     let (monitor, _) = scope.monitor(cx, "workers")?;
    ///     scope.join(cx, "workers", me)?; // a change is on its way
    ///     assert!(scope.demonitor(cx, monitor)?);
    ///     // The change that had come was flushed, and no more come.
    ///     scope.leave(cx, "workers", me)?;
    ///     assert_eq!(cx.receive_timeout::<GroupChange>(Duration::ZERO)?, None);
    ///     assert!(!scope.demonitor(cx, monitor)?, "not active any more");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn demonitor(&self, cx: &mut Cx, monitor: Ref) -> Result<bool, CallError> {
        let was = match self.ask(cx, Ask::Demonitor(monitor))? {
            Answer::Left(was) => was,
            _ => unreachable!("answered in kind"),
        };
        // The scope answered after its last change for this monitor: all of
        // them have arrived.
        let flushed = |message: &mut Message| {
            message.downcast_ref::<GroupChange>().filter(|change| change.monitor == monitor).map(|_| ())
        };
        while cx.receive_map_timeout(Duration::ZERO, flushed).map_err(CallError::Ended)?.is_some() {}
        Ok(was)
    }
}

/// A request to a scope.
pub(crate) enum Ask {
    Join(Name, Pid),
    Leave(Name, Pid),
    Members(Name),
    WhichGroups,
    Monitor(Name, Pid),
    Demonitor(Ref),
}

/// A scope's answer.
pub(crate) enum Answer {
    Done,
    Left(bool),
    Pids(Vec<Pid>),
    Groups(Vec<Name>),
    Monitor(Ref, Vec<Pid>),
}

/// A scope's state.
#[derive(Default)]
pub(crate) struct Groups {
    members: HashMap<Name, Vec<Pid>>,
    /// Each member's monitor, and in how many group entries it is.
    member_monitors: HashMap<Pid, (Ref, usize)>,
    /// Each monitored group's watchers: (monitor ref, watcher).
    watchers: HashMap<Name, Vec<(Ref, Pid)>>,
    /// Each watcher's own monitor (the scope's on it), and how many group
    /// monitors it holds.
    watcher_monitors: HashMap<Pid, (Ref, usize)>,
}

impl Groups {
    fn tell(&self, cx: &mut Cx, group: &Name, kind: ChangeKind, pids: Vec<Pid>) {
        for &(monitor, watcher) in self.watchers.get(group).into_iter().flatten() {
            cx.send(watcher, GroupChange { monitor, group: group.clone(), kind, pids: pids.clone() });
        }
    }

    fn join(&mut self, cx: &mut Cx, group: Name, pid: Pid) {
        self.members.entry(group.clone()).or_default().push(pid);
        let entry = self.member_monitors.entry(pid).or_insert_with(|| (cx.monitor(pid), 0));
        entry.1 += 1;
        self.tell(cx, &group, ChangeKind::Join, vec![pid]);
    }

    fn leave(&mut self, cx: &mut Cx, group: Name, pid: Pid) -> bool {
        let Some(members) = self.members.get_mut(&group) else { return false };
        let Some(at) = members.iter().rposition(|&member| member == pid) else { return false };
        members.remove(at);
        if members.is_empty() {
            self.members.remove(&group);
        }
        if let Some((monitor, count)) = self.member_monitors.get_mut(&pid) {
            *count -= 1;
            if *count == 0 {
                cx.demonitor_flush(*monitor);
                self.member_monitors.remove(&pid);
            }
        }
        self.tell(cx, &group, ChangeKind::Leave, vec![pid]);
        true
    }

    fn monitor(&mut self, cx: &mut Cx, group: Name, watcher: Pid) -> (Ref, Vec<Pid>) {
        let monitor = cx.make_ref();
        self.watchers.entry(group.clone()).or_default().push((monitor, watcher));
        let entry = self.watcher_monitors.entry(watcher).or_insert_with(|| (cx.monitor(watcher), 0));
        entry.1 += 1;
        (monitor, self.members.get(&group).cloned().unwrap_or_default())
    }

    fn demonitor(&mut self, cx: &mut Cx, monitor: Ref) -> bool {
        let mut found = None;
        self.watchers.retain(|_, watchers| {
            if let Some(at) = watchers.iter().position(|&(watch, _)| watch == monitor) {
                found = Some(watchers.remove(at).1);
            }
            !watchers.is_empty()
        });
        let Some(watcher) = found else { return false };
        if let Some((own, count)) = self.watcher_monitors.get_mut(&watcher) {
            *count -= 1;
            if *count == 0 {
                cx.demonitor_flush(*own);
                self.watcher_monitors.remove(&watcher);
            }
        }
        true
    }

    /// A member or a watcher ended.
    fn ended(&mut self, cx: &mut Cx, pid: Pid) {
        if self.member_monitors.remove(&pid).is_some() {
            let mut left = Vec::new();
            self.members.retain(|group, members| {
                let before = members.len();
                members.retain(|&member| member != pid);
                if members.len() != before {
                    left.push((group.clone(), before - members.len()));
                }
                !members.is_empty()
            });
            for (group, times) in left {
                self.tell(cx, &group, ChangeKind::Leave, vec![pid; times]);
            }
        }
        if self.watcher_monitors.remove(&pid).is_some() {
            self.watchers.retain(|_, watchers| {
                watchers.retain(|&(_, watcher)| watcher != pid);
                !watchers.is_empty()
            });
        }
    }
}

impl Server for Groups {
    type Call = Ask;
    type Reply = Answer;
    type Cast = ();

    fn handle_call(&mut self, cx: &mut Cx, request: Ask, reply_to: ReplyTo<Answer>) -> Result<(), Reason> {
        let answer = match request {
            Ask::Join(group, pid) => {
                self.join(cx, group, pid);
                Answer::Done
            }
            Ask::Leave(group, pid) => Answer::Left(self.leave(cx, group, pid)),
            Ask::Members(group) => Answer::Pids(self.members.get(&group).cloned().unwrap_or_default()),
            Ask::WhichGroups => {
                let mut groups: Vec<Name> = self.members.keys().cloned().collect();
                groups.sort();
                Answer::Groups(groups)
            }
            Ask::Monitor(group, watcher) => {
                let (monitor, pids) = self.monitor(cx, group, watcher);
                Answer::Monitor(monitor, pids)
            }
            Ask::Demonitor(monitor) => Answer::Left(self.demonitor(cx, monitor)),
        };
        reply_to.reply(cx, answer);
        Ok(())
    }

    fn handle_info(&mut self, cx: &mut Cx, message: Message) -> Result<(), Reason> {
        if let Some(down) = message.downcast_ref::<Down>()
            && let Some(pid) = down.object.pid()
        {
            self.ended(cx, pid);
        }
        Ok(())
    }
}
