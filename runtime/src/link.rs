//! Links: the link table of a process, and the rules for exit signals
//! (semantics.md §2, §5).
//!
//! The table is owned by its process and changed only by it: by its own `link`
//! and `unlink` (the entry is created, or marked unlinking, at once; then the
//! signal goes out) and by the link, unlink and exit signals it takes in. An
//! entry is *active* or *unlinking* (with the id of the unlink in flight). Exit
//! signals that come over a link count only while the entry is active, so after
//! `unlink` returns that link can no longer affect the caller; the peer's
//! acknowledgement (sent before anything else it sends later) retires the entry.

use crate::pid::Pid;
use crate::reason::Reason;
use crate::small_map::SmallMap;

/// The state of one link, from its owner's side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    /// With its place in the order the table's links were made (wrapping; a
    /// hint only, see [`LinkTable::active_in_order`]). Fits beside the tag:
    /// an entry is no bigger than without it.
    Active(u32),
    /// `unlink` was called; the peer's acknowledgement of this id retires it.
    Unlinking(u64),
}

/// The links of one process. Owner only.
#[derive(Default)]
pub struct LinkTable {
    links: SmallMap<Pid, LinkState>,
    next_unlink_id: u64,
    next_order: u32,
}

impl LinkTable {
    /// The owner links to `pid`. `true`: a link signal must be sent to it.
    pub fn link(&mut self, pid: Pid) -> bool {
        if let Some(LinkState::Active(_)) = self.links.get(&pid) {
            return false;
        }
        let order = self.next_order();
        self.links.insert(pid, LinkState::Active(order));
        true
    }

    fn next_order(&mut self) -> u32 {
        let order = self.next_order;
        self.next_order = order.wrapping_add(1);
        order
    }

    /// Forgets a link the owner just made whose peer turned out to be gone.
    pub fn forget(&mut self, pid: Pid) {
        self.links.remove(&pid);
    }

    /// The owner unlinks `pid`: `Some(id)` of the unlink signal to send, if there was a link.
    pub fn unlink(&mut self, pid: Pid) -> Option<u64> {
        let state = self.links.get_mut(&pid)?;
        self.next_unlink_id += 1;
        *state = LinkState::Unlinking(self.next_unlink_id);
        Some(self.next_unlink_id)
    }

    /// A link signal from `from` arrived. While this side is unlinking, the
    /// link signal was sent before the peer saw our unlink: the unlink wins.
    pub fn on_link(&mut self, from: Pid) {
        if self.links.get(&from).is_none() {
            let order = self.next_order();
            self.links.insert(from, LinkState::Active(order));
        }
    }

    /// An unlink signal from `from` arrived (the caller acknowledges it).
    pub fn on_unlink(&mut self, from: Pid) {
        self.take_active(from);
    }

    /// The peer acknowledged our unlink `id`.
    pub fn on_unlink_ack(&mut self, from: Pid, id: u64) {
        self.remove_if(from, |state| state == LinkState::Unlinking(id));
    }

    /// Removes the entry for `pid` if its state passes `check`: whether it did.
    fn remove_if(&mut self, pid: Pid, check: impl FnOnce(LinkState) -> bool) -> bool {
        let matches = self.links.get(&pid).is_some_and(|&state| check(state));
        if matches {
            self.links.remove(&pid);
        }
        matches
    }

    /// Whether there is an active link to `pid`.
    pub(crate) fn is_active(&self, pid: Pid) -> bool {
        matches!(self.links.get(&pid), Some(LinkState::Active(_)))
    }

    /// Removes an active link (an exit signal came over it): `false` if there was none.
    fn take_active(&mut self, pid: Pid) -> bool {
        self.remove_if(pid, |state| matches!(state, LinkState::Active(_)))
    }

    /// The active links, for introspection and for the exit fan-out.
    pub fn active(&self) -> impl Iterator<Item = Pid> + '_ {
        self.active_in_order().map(|(pid, _)| pid)
    }

    /// The active links with the place of each in the order they were made
    /// (not sorted: a big table iterates in hash order). A big exit fan-out
    /// visits them in that order: processes linked one after another were
    /// mostly spawned one after another, so their blocks and stacks lie in
    /// that order in memory, whatever pids they got from a table that churned.
    pub fn active_in_order(&self) -> impl Iterator<Item = (Pid, u32)> + '_ {
        self.links.iter().filter_map(|(pid, state)| match state {
            LinkState::Active(order) => Some((*pid, *order)),
            LinkState::Unlinking(_) => None,
        })
    }

    /// The active links, if the table holds at most two entries in any state
    /// (most processes: no walk over the table at their exit).
    pub(crate) fn few_active(&self) -> Option<[Option<Pid>; crate::small_map::INLINE]> {
        let entries = self.links.as_inline()?;
        let mut few = [None; crate::small_map::INLINE];
        for (slot, (pid, state)) in few.iter_mut().zip(entries) {
            if let LinkState::Active(_) = state {
                *slot = Some(*pid);
            }
        }
        Some(few)
    }

    /// Entries in any state (active or being unlinked).
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether the table is empty (no link in any state; the tests and loom models ask).
    #[cfg(any(test, loom))]
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}

/// What handling an exit signal does to its receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitAction {
    /// Nothing (a normal exit, or over a link that is not active).
    Ignore,
    /// The receiver traps exits: this becomes an `Exit` message.
    Message(Reason),
    /// The receiver dies with this reason.
    Die(Reason),
}

/// semantics.md §2 and §4: how process `me` (trapping exits or not) handles an
/// exit signal from `from` with `reason`, which came over a link (`linked`: the
/// sender died) or from `exit(pid, reason)`.
#[inline]
pub fn handle_exit_signal(
    links: &mut LinkTable,
    me: Pid,
    trapping: bool,
    from: Pid,
    reason: Reason,
    linked: bool,
) -> ExitAction {
    if linked && !links.take_active(from) {
        return ExitAction::Ignore;
    }
    let untrappable = !linked && reason == Reason::Kill;
    if trapping && !untrappable {
        return ExitAction::Message(reason);
    }
    if reason.is_normal() {
        // The legacy rule kept by ERTS: exit(self(), normal) kills a non-trapping caller.
        return if !linked && from == me { ExitAction::Die(Reason::Normal) } else { ExitAction::Ignore };
    }
    ExitAction::Die(if untrappable { Reason::Killed } else { reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: Pid = Pid::new(0, 1, 0);
    const PEER: Pid = Pid::new(0, 2, 0);

    fn linked_table() -> LinkTable {
        let mut links = LinkTable::default();
        assert!(links.link(PEER));
        links
    }

    #[test]
    fn the_table_of_section_2_for_a_linked_process() {
        let boom = Reason::error("boom");
        let cases = [
            (Reason::Normal, false, ExitAction::Ignore),
            (Reason::Normal, true, ExitAction::Message(Reason::Normal)),
            (Reason::Kill, false, ExitAction::Die(Reason::Kill)),
            (Reason::Kill, true, ExitAction::Message(Reason::Kill)),
            (Reason::Killed, false, ExitAction::Die(Reason::Killed)),
            (Reason::Killed, true, ExitAction::Message(Reason::Killed)),
            (boom.clone(), false, ExitAction::Die(boom.clone())),
            (boom.clone(), true, ExitAction::Message(boom)),
        ];
        for (reason, trapping, expected) in cases {
            let mut links = linked_table();
            let action = handle_exit_signal(&mut links, ME, trapping, PEER, reason.clone(), true);
            assert_eq!(action, expected, "{reason:?} trapping={trapping}");
            assert!(!links.is_active(PEER), "the link is gone after its exit signal");
        }
    }

    #[test]
    fn the_table_of_section_4_for_exit_2() {
        let other = PEER;
        let r = Reason::error("r");
        let mut links = LinkTable::default();
        let mut handle =
            |trapping, from, reason: &Reason| handle_exit_signal(&mut links, ME, trapping, from, reason.clone(), false);
        assert_eq!(handle(false, other, &Reason::Normal), ExitAction::Ignore);
        assert_eq!(handle(true, other, &Reason::Normal), ExitAction::Message(Reason::Normal));
        assert_eq!(handle(false, other, &r), ExitAction::Die(r.clone()));
        assert_eq!(handle(true, other, &r), ExitAction::Message(r.clone()));
        assert_eq!(handle(false, other, &Reason::Kill), ExitAction::Die(Reason::Killed));
        assert_eq!(handle(true, other, &Reason::Kill), ExitAction::Die(Reason::Killed));
        assert_eq!(handle(false, ME, &Reason::Normal), ExitAction::Die(Reason::Normal));
        assert_eq!(handle(true, ME, &Reason::Normal), ExitAction::Message(Reason::Normal));
        assert_eq!(handle(false, ME, &r), ExitAction::Die(r));
    }

    #[test]
    fn a_link_exit_without_an_active_link_is_dropped() {
        let mut links = LinkTable::default();
        let boom = Reason::error("boom");
        assert_eq!(handle_exit_signal(&mut links, ME, false, PEER, boom.clone(), true), ExitAction::Ignore);
        let mut links = linked_table();
        let id = links.unlink(PEER).unwrap();
        assert_eq!(handle_exit_signal(&mut links, ME, false, PEER, boom.clone(), true), ExitAction::Ignore);
        links.on_unlink_ack(PEER, id);
        assert!(links.is_empty());
    }

    #[test]
    fn a_stale_acknowledgement_does_not_retire_a_new_link() {
        let mut links = linked_table();
        let first = links.unlink(PEER).unwrap();
        assert!(links.link(PEER), "relinking sends a new link signal");
        links.on_unlink_ack(PEER, first);
        assert!(links.is_active(PEER));
    }

    #[test]
    fn a_link_signal_racing_our_unlink_loses() {
        let mut links = linked_table();
        let id = links.unlink(PEER).unwrap();
        links.on_link(PEER);
        assert!(!links.is_active(PEER));
        links.on_unlink_ack(PEER, id);
        assert!(links.is_empty());
    }

    #[test]
    fn linking_twice_is_one_link_and_unlinking_a_stranger_is_fine() {
        let mut links = linked_table();
        assert!(!links.link(PEER));
        assert_eq!(links.active().count(), 1);
        assert_eq!(links.unlink(Pid::new(0, 9, 0)), None);
        links.on_unlink(PEER);
        assert!(links.is_empty());
    }
}
