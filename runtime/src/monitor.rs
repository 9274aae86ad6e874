//! Monitors (semantics.md §6): one-way watches that end in one `Down` message.
//!
//! Each process keeps the monitors it *holds* (ref → target) and the monitors
//! *on* it (ref → watcher), both owned by it and changed only by it: by its own
//! `monitor`/`demonitor` and by the monitor, demonitor and down signals it takes
//! in. A `Down` is added to the mailbox only while the holder still holds that
//! ref, so after `demonitor` returns none can be added; and the holder drops the
//! ref when its `Down` arrives, so there is at most one per monitor.
//!
//! A monitor made by registered name is resolved once, when it is made; the
//! holder remembers the name and puts it, not the pid, in the `Down`.

use std::fmt;

use crate::pid::{Pid, Ref, SequenceHasher};
use crate::reason::Reason;
use crate::registry::Name;
use crate::small_map::SmallMap;

/// A monitored process ended (Erlang's `{'DOWN', Ref, process, Object, Reason}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    /// The monitor, as `monitor` returned it.
    pub monitor: Ref,
    /// What was monitored: the pid, or the name for a monitor made by name.
    pub object: Monitored,
    /// Why it ended (`NoProc` if it was gone when the monitor was made).
    pub reason: Reason,
}

/// What a monitor watches: a process by pid, or by the name it was registered
/// under when the monitor was made (Erlang's `Pid` or `{Name, Node}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Monitored {
    /// Made with [`Cx::monitor`](crate::Cx::monitor).
    Pid(Pid),
    /// Made with [`Cx::monitor_named`](crate::Cx::monitor_named).
    Name(Name),
}

impl Monitored {
    /// The pid, for a monitor made by pid.
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     cx.monitor(worker);
    ///     cx.send(worker, ());
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!((down.object.pid(), down.object.name()), (Some(worker), None));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Option<Pid> {
        match self {
            Monitored::Pid(pid) => Some(*pid),
            Monitored::Name(_) => None,
        }
    }

    /// The name, for a monitor made by name.
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| cx.receive::<()>())?;
    ///     cx.register("worker", worker)?;
    ///     cx.monitor_named("worker");
    ///     cx.send(worker, ());
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!((down.object.name(), down.object.pid()), (Some("worker"), None));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        match self {
            Monitored::Pid(_) => None,
            Monitored::Name(name) => Some(name),
        }
    }
}

impl From<Pid> for Monitored {
    fn from(pid: Pid) -> Monitored {
        Monitored::Pid(pid)
    }
}

impl PartialEq<Pid> for Monitored {
    fn eq(&self, pid: &Pid) -> bool {
        self.pid() == Some(*pid)
    }
}

impl fmt::Display for Monitored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Monitored::Pid(pid) => write!(f, "{pid}"),
            Monitored::Name(name) => write!(f, "{name}"),
        }
    }
}

/// A monitor this process holds.
struct Held {
    target: Pid,
    /// Set for a monitor made by name.
    name: Option<Name>,
}

impl Held {
    fn object(self) -> Monitored {
        match self.name {
            Some(name) => Monitored::Name(name),
            None => Monitored::Pid(self.target),
        }
    }
}

/// The monitors of one process. Owner only.
#[derive(Default)]
pub struct Monitors {
    held: SmallMap<Ref, Held, SequenceHasher>,
    watchers: SmallMap<Ref, Pid, SequenceHasher>,
}

impl Monitors {
    /// Holds `monitor` on `target`, made by `name` if given.
    pub fn hold(&mut self, monitor: Ref, target: Pid, name: Option<Name>) {
        self.held.insert(monitor, Held { target, name });
    }

    /// Stops holding `monitor`: its target, if it was still held.
    pub fn release(&mut self, monitor: Ref) -> Option<Pid> {
        self.held.remove(&monitor).map(|held| held.target)
    }

    /// A `Down` for `monitor` arrived: what it names if it is to be delivered
    /// (`None`: the monitor was dropped meanwhile, so is the `Down`).
    pub fn on_down(&mut self, monitor: Ref) -> Option<Monitored> {
        self.held.remove(&monitor).map(Held::object)
    }

    /// `watcher` now monitors this process under `monitor`.
    pub fn on_monitor(&mut self, monitor: Ref, watcher: Pid) {
        self.watchers.insert(monitor, watcher);
    }

    /// The watcher of `monitor` dropped it.
    pub fn on_demonitor(&mut self, monitor: Ref) {
        self.watchers.remove(&monitor);
    }

    /// Who watches this process (monitor, watcher): the `Down`s of its exit.
    pub fn watching(&self) -> impl Iterator<Item = (Ref, Pid)> + '_ {
        self.watchers.iter().map(|(monitor, watcher)| (*monitor, *watcher))
    }

    /// How many watch this process.
    pub fn watcher_count(&self) -> usize {
        self.watchers.len()
    }

    /// The monitors this process holds (monitor, target): dropped at its exit.
    pub fn held_targets(&self) -> impl Iterator<Item = (Ref, Pid)> + '_ {
        self.held.iter().map(|(monitor, held)| (*monitor, held.target))
    }

    /// Its one watcher, `Some(None)` if it has none, `None` if it has more
    /// or holds monitors itself (then its exit needs the whole table).
    pub(crate) fn at_most_one_watcher(&self) -> Option<Option<(Ref, Pid)>> {
        if !self.held.is_empty() {
            return None;
        }
        match self.watchers.as_inline()? {
            [] => Some(None),
            [(monitor, watcher)] => Some(Some((*monitor, *watcher))),
            _ => None,
        }
    }

    /// Monitors held now (introspection).
    pub fn held(&self) -> Vec<(Ref, Monitored)> {
        let object = |held: &Held| match &held.name {
            Some(name) => Monitored::Name(name.clone()),
            None => Monitored::Pid(held.target),
        };
        self.held.iter().map(|(monitor, held)| (*monitor, object(held))).collect()
    }

    /// Processes monitoring this one now (introspection).
    pub fn watchers(&self) -> Vec<Pid> {
        self.watchers.iter().map(|(_, watcher)| *watcher).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_down_per_monitor_and_none_after_release() {
        let mut monitors = Monitors::default();
        let target = Pid::new(0, 3, 0);
        monitors.hold(Ref(1), target, None);
        monitors.hold(Ref(2), target, None);
        assert_eq!(monitors.on_down(Ref(1)), Some(Monitored::Pid(target)));
        assert_eq!(monitors.on_down(Ref(1)), None, "a second Down for one ref is dropped");
        assert_eq!(monitors.release(Ref(2)), Some(target));
        assert_eq!(monitors.on_down(Ref(2)), None, "no Down after demonitor");
    }

    #[test]
    fn a_monitor_made_by_name_reports_the_name() {
        let mut monitors = Monitors::default();
        let target = Pid::new(0, 3, 0);
        monitors.hold(Ref(1), target, Some("db".into()));
        assert_eq!(monitors.held(), vec![(Ref(1), Monitored::Name("db".into()))]);
        assert_eq!(monitors.on_down(Ref(1)), Some(Monitored::Name("db".into())));
    }
}
