//! A process's links and monitors, and whether it traps exits: the calls
//! that make and drop them (docs/semantics.md, links and monitors).
//!
//! Invariants: an entry is made here before the signal that tells the other
//! process is sent, and dropped only once that process can no longer act on
//! it (an unlink waits for its acknowledgement: `link`); a link or monitor to
//! a process that is gone is answered with `noproc` through the caller's own
//! signal queue, behind what had already arrived.

use super::Post;
use crate::link::LinkTable;
use crate::monitor::Monitors;
use crate::pid::{Pid, Ref};
use crate::process::{Signal, StartingMonitor, add_starting_links_and_monitors};
use crate::reason::Reason;
use crate::registry::Name;

#[derive(Default)]
pub(super) struct Watch {
    pub(super) links: LinkTable,
    pub(super) monitors: Monitors,
    pub(super) trap_exit: bool,
}

impl Watch {
    /// Starts linked to `initial_link` and with `initial_monitor`
    /// (see `process::add_starting_links_and_monitors`).
    #[inline(always)]
    pub(super) fn start(&mut self, initial_link: Option<Pid>, initial_monitor: Option<StartingMonitor>) {
        add_starting_links_and_monitors(&mut self.links, &mut self.monitors, initial_link, initial_monitor);
    }

    /// Links `me` to `pid` (see `Cx::link`), as OTP's `link/1` does: a
    /// process that is gone or exiting is checked first, whether or not an
    /// entry for it is held (it may have ended with its exit signal still on
    /// its way: that signal is then handled over the old entry, which stays);
    /// a live one already linked gets nothing; otherwise the entry is made and
    /// the link signal sent (docs/semantics.md §5).
    pub(super) fn link(&mut self, me: Pid, pid: Pid, post: Post<'_>) -> Result<(), Reason> {
        if pid == me {
            return Ok(());
        }
        if !post.is_live(pid) {
            return self.link_to_the_gone(pid, post);
        }
        if self.links.is_active(pid) {
            return Ok(());
        }
        self.links.link(pid);
        if post.deliver(pid, Signal::Link { from: me }) {
            return Ok(());
        }
        self.links.forget(pid);
        self.link_to_the_gone(pid, post)
    }

    /// `link` to a process that is gone or exiting: `Err(NoProc)` for a caller
    /// that does not trap; for one that traps, `Ok` and an `Exit` with
    /// `noproc` through its own queue, behind what had already arrived (§1).
    fn link_to_the_gone(&mut self, pid: Pid, post: Post<'_>) -> Result<(), Reason> {
        if !self.trap_exit {
            return Err(Reason::NoProc);
        }
        // Not over a link (an old entry, if one is held, still takes the
        // exit signal on its way): as `exit/2` would.
        post.to_self(Signal::Exit { from: pid, reason: Reason::NoProc, linked: false });
        Ok(())
    }

    /// Unlinks `me` from `pid` (see `Cx::unlink`).
    pub(super) fn unlink(&mut self, me: Pid, pid: Pid, post: Post<'_>) {
        let Some(id) = self.links.unlink(pid) else { return };
        if !post.deliver(pid, Signal::Unlink { from: me, id }) {
            // Gone: nobody will acknowledge. Its exit signal may still be on
            // its way (a big fan-out is sent in chunks); with the entry gone
            // here it is ignored.
            self.links.on_unlink_ack(pid, id);
        }
    }

    /// Monitors `pid` (resolved from `name`, if by name) under `monitor` (see
    /// `Cx::monitor`); `None`: nobody holds the name. If nobody is there, the
    /// `Down` with `noproc` goes through the caller's own queue,
    /// behind what had already arrived (docs/semantics.md §1, §6); the monitor
    /// is held until it is taken in, so a `demonitor` before then stops it.
    pub(super) fn monitor(&mut self, me: Pid, pid: Option<Pid>, name: Option<Name>, monitor: Ref, post: Post<'_>) {
        if pid == Some(me) {
            return;
        }
        debug_assert!(pid.is_some() || name.is_some(), "a monitor by pid always has its pid");
        // A name nobody holds watches nobody: the reserved pid, never a process.
        self.monitors.hold(monitor, pid.unwrap_or_else(|| post.nobody()), name);
        if let Some(pid) = pid
            && post.deliver(pid, Signal::Monitor { from: me, monitor })
        {
            return;
        }
        post.to_self(Signal::Down { monitor, reason: Reason::NoProc });
    }

    /// Drops `monitor` (see `Cx::demonitor`): whether it was still active.
    pub(super) fn demonitor(&mut self, monitor: Ref, post: Post<'_>) -> bool {
        let Some(target) = self.monitors.release(monitor) else { return false };
        post.deliver(target, Signal::Demonitor { monitor });
        true
    }

    /// Records a child spawned linked and/or monitored (the child's side was
    /// set up in its block before it could run).
    pub(super) fn spawned(&mut self, child: Pid, link: bool, monitor: Option<Ref>) {
        if link {
            self.links.link(child);
        }
        if let Some(monitor) = monitor {
            self.monitors.hold(monitor, child, None);
        }
    }
}
