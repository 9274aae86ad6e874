//! Process aliases (OTP 24's `alias/0`): a reference that routes messages to
//! the process that made it for as long as that process keeps it active.
//!
//! A message sent to an alias travels as its own signal to the alias's
//! process, in the same queue as everything else from that sender (so the
//! per-pair order holds), and is checked when the process takes it in: if the
//! alias is active then, the message joins the mailbox like any other;
//! otherwise it is dropped (its destructor contained). A reply that comes
//! after its call gave up is therefore never left behind.
//!
//! Invariant: only the owning process changes or reads its set of active
//! aliases (it lives in the process's `Cx`); an alias's reference is unique in
//! its runtime, so a reused pid slot cannot revive an old alias.

use std::fmt;

use crate::pid::{Pid, Ref};
use crate::small_map::SmallMap;

/// A reference that routes messages to the process that made it while that
/// process keeps it active ([`Cx::alias`](crate::Cx::alias),
/// [`Cx::unalias`](crate::Cx::unalias)). Messages sent to an inactive alias,
/// or to one whose process has ended, are dropped.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alias {
    pid: Pid,
    reference: Ref,
}

impl Alias {
    pub(crate) fn new(pid: Pid, reference: Ref) -> Alias {
        Alias { pid, reference }
    }

    /// The process the alias routes to (when active).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let alias = cx.alias();
    ///     assert_eq!(alias.pid(), cx.pid());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The alias's unique reference.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let (a, b) = (cx.alias(), cx.alias());
    ///     assert_ne!(a.reference(), b.reference());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reference(&self) -> Ref {
        self.reference
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Alias<{}.{}>", self.pid, self.reference.0)
    }
}

impl fmt::Debug for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How long an alias stays active.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lasts {
    /// Until `unalias`.
    UntilUnaliased,
    /// Until the first message sent to it is taken in (OTP's `alias([reply])`,
    /// a call's reply alias: a second answer is dropped, never left behind).
    ForOneMessage,
}

/// The aliases a process keeps active. Owner only.
#[derive(Default)]
pub(crate) struct Aliases {
    active: SmallMap<u64, Lasts>,
}

impl Aliases {
    pub(crate) fn activate(&mut self, reference: Ref, lasts: Lasts) {
        self.active.insert(reference.0, lasts);
    }

    /// `true` if it was active.
    pub(crate) fn deactivate(&mut self, reference: Ref) -> bool {
        self.active.remove(&reference.0).is_some()
    }

    /// A message sent to `reference` is being taken in: whether it is let in
    /// (an alias for one message is used up by it).
    pub(crate) fn admit(&mut self, reference: Ref) -> bool {
        match self.active.get(&reference.0) {
            None => false,
            Some(Lasts::UntilUnaliased) => true,
            Some(Lasts::ForOneMessage) => self.deactivate(reference),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_is_active_from_activation_until_deactivation() {
        let mut aliases = Aliases::default();
        let (first, second, once) = (Ref(7), Ref(8), Ref(9));
        assert!(!aliases.admit(first));
        aliases.activate(first, Lasts::UntilUnaliased);
        aliases.activate(second, Lasts::UntilUnaliased);
        aliases.activate(once, Lasts::ForOneMessage);
        assert!(aliases.admit(first) && aliases.admit(first) && aliases.admit(second));
        assert!(aliases.admit(once), "the first message to a one-message alias gets in");
        assert!(!aliases.admit(once), "the second does not");
        assert!(aliases.deactivate(first));
        assert!(!aliases.deactivate(first), "deactivated once");
        assert!(!aliases.admit(first) && aliases.admit(second));
        let alias = Alias::new(Pid::new(0, 5, 0), second);
        assert_eq!(alias.to_string(), format!("#Alias<{}.8>", Pid::new(0, 5, 0)));
    }
}
