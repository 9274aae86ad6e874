//! Monitors (semantics.md §6): one-way watches that end in one `Down` message.
//!
//! Each process keeps the monitors it *holds* (ref → target) and the monitors
//! *on* it (ref → watcher), both owned by it and changed only by it: by its own
//! `monitor`/`demonitor` and by the monitor, demonitor and down signals it takes
//! in. A `Down` is added to the mailbox only while the holder still holds that
//! ref, so after `demonitor` returns none can be added; and the holder drops the
//! ref when its `Down` arrives, so there is at most one per monitor.

use std::collections::HashMap;

use crate::pid::{FixedHasher, Pid, Ref};
use crate::reason::Reason;

/// A monitored process ended (Erlang's `{'DOWN', Ref, process, Object, Reason}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// The monitor, as `monitor` returned it.
    pub monitor: Ref,
    /// The process that was monitored.
    pub object: Pid,
    /// Why it ended (`NoProc` if it was gone when the monitor was made).
    pub reason: Reason,
}

/// The monitors of one process. Owner only.
#[derive(Default)]
pub(crate) struct Monitors {
    held: HashMap<Ref, Pid, FixedHasher>,
    watchers: HashMap<Ref, Pid, FixedHasher>,
}

impl Monitors {
    pub(crate) fn hold(&mut self, monitor: Ref, target: Pid) {
        self.held.insert(monitor, target);
    }

    /// Stops holding `monitor`: its target, if it was still held.
    pub(crate) fn release(&mut self, monitor: Ref) -> Option<Pid> {
        self.held.remove(&monitor)
    }

    /// A `Down` for `monitor` arrived: `true` if it is to be delivered.
    pub(crate) fn on_down(&mut self, monitor: Ref) -> bool {
        self.held.remove(&monitor).is_some()
    }

    pub(crate) fn on_monitor(&mut self, monitor: Ref, watcher: Pid) {
        self.watchers.insert(monitor, watcher);
    }

    pub(crate) fn on_demonitor(&mut self, monitor: Ref) {
        self.watchers.remove(&monitor);
    }

    /// Who watches this process, for the `Down`s at its exit.
    pub(crate) fn take_watchers(&mut self) -> Vec<(Ref, Pid)> {
        self.watchers.drain().collect()
    }

    /// The monitors this process holds, dropped at its exit.
    pub(crate) fn take_held(&mut self) -> Vec<(Ref, Pid)> {
        self.held.drain().collect()
    }

    /// Monitors held now (introspection).
    pub(crate) fn held(&self) -> impl Iterator<Item = (Ref, Pid)> + '_ {
        self.held.iter().map(|(r, p)| (*r, *p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_down_per_monitor_and_none_after_release() {
        let mut monitors = Monitors::default();
        let target = Pid::new(0, 3, 0);
        monitors.hold(Ref(1), target);
        monitors.hold(Ref(2), target);
        assert!(monitors.on_down(Ref(1)));
        assert!(!monitors.on_down(Ref(1)), "a second Down for one ref is dropped");
        assert_eq!(monitors.release(Ref(2)), Some(target));
        assert!(!monitors.on_down(Ref(2)), "no Down after demonitor");
    }
}
