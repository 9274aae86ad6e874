//! Exit reasons: why a process ended, carried by exit signals and `Down` messages.
//!
//! Cloning a [`Reason`] is O(1) (text is behind an `Arc`), because a process with a
//! million links clones its reason once per link.

use std::fmt;
use std::sync::Arc;

/// Why a process ended (Erlang's exit reason).
///
/// `Normal` is the reason of a body that returned `Ok`. `Kill` is the reason a
/// process gives itself to be untrappable only when sent by `exit(pid, Kill)`;
/// its victim then dies with `Killed`. See `docs/semantics.md`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Ended normally: linked processes that do not trap exits are unaffected.
    Normal,
    /// `kill`: sent by `exit(pid, Kill)` it cannot be trapped.
    Kill,
    /// The reason of a process killed by `exit(pid, Kill)`.
    Killed,
    /// An orderly shutdown (Erlang's `shutdown`).
    Shutdown,
    /// The process did not exist (or had ended) when a link or monitor reached it.
    NoProc,
    /// The process panicked; the panic message is kept.
    Panic(Arc<str>),
    /// Any other reason, named by the user (`Reason::error("some_reason")`).
    Error(Arc<str>),
}

impl Reason {
    /// A user reason with the given text: `Reason::error("boom")`.
    pub fn error(text: impl Into<Arc<str>>) -> Reason {
        Reason::Error(text.into())
    }

    /// Whether this is `Normal`.
    pub fn is_normal(&self) -> bool {
        matches!(self, Reason::Normal)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Normal => f.write_str("normal"),
            Reason::Kill => f.write_str("kill"),
            Reason::Killed => f.write_str("killed"),
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::NoProc => f.write_str("noproc"),
            Reason::Panic(message) => write!(f, "panic: {message}"),
            Reason::Error(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Panic(message) => write!(f, "Panic({message:?})"),
            Reason::Error(text) => write!(f, "Error({text:?})"),
            other => fmt::Display::fmt(other, f),
        }
    }
}

impl std::error::Error for Reason {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_their_text() {
        let reason = Reason::error("some_reason");
        let copy = reason.clone();
        match (&reason, &copy) {
            (Reason::Error(a), Reason::Error(b)) => assert!(Arc::ptr_eq(a, b)),
            _ => unreachable!(),
        }
    }

    #[test]
    fn displays_like_erlang_atoms() {
        assert_eq!(Reason::Normal.to_string(), "normal");
        assert_eq!(Reason::Killed.to_string(), "killed");
        assert_eq!(Reason::error("boom").to_string(), "boom");
        assert_eq!(Reason::Panic("oops".into()).to_string(), "panic: oops");
    }
}
