//! Registered names: `register`, `unregister`, `whereis`, send to a name.
//!
//! One map per runtime behind a mutex (names are looked up far less often than
//! pids). A process's control block has a `named` flag so that only processes
//! that ever held a name take the lock at exit. Names are freed at exit step 4,
//! before the exit signals and `Down`s go out (semantics.md §3): whoever sees
//! them already finds the name free.
//!
//! Register vs exit: `register` sets `named` (SeqCst, then a SeqCst fence) and
//! then checks the process is not exiting; the exit sets `EXITED` (a SeqCst RMW)
//! and then reads `named` (SeqCst). One of them sees the other, so a name never
//! outlives its process, and the exit path pays no extra fence.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::pid::Pid;
use crate::sync::{Mutex, lock};

/// A registered name.
pub type Name = Arc<str>;

/// Why `register` or `unregister` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The name is held by another process.
    NameTaken {
        /// The name.
        name: Name,
        /// Who holds it.
        holder: Pid,
    },
    /// The process already has a name (a process has at most one).
    AlreadyNamed {
        /// The process.
        pid: Pid,
        /// Its name.
        name: Name,
    },
    /// The process is not alive.
    NoProc {
        /// The process.
        pid: Pid,
    },
    /// `unregister` or a send to a name nobody holds.
    NotRegistered {
        /// The name.
        name: Name,
    },
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::NameTaken { name, holder } => {
                write!(f, "the name {name:?} is taken by {holder}; unregister it first or pick another")
            }
            RegisterError::AlreadyNamed { pid, name } => {
                write!(f, "{pid} is already registered as {name:?}; a process has at most one name")
            }
            RegisterError::NoProc { pid } => write!(f, "{pid} is not alive, so it cannot be registered"),
            RegisterError::NotRegistered { name } => write!(f, "no process is registered as {name:?}"),
        }
    }
}

impl std::error::Error for RegisterError {}

impl From<RegisterError> for crate::reason::Reason {
    /// A process that propagates the error with `?` ends with it: the reason
    /// reads `badarg: ...` (Erlang raises `badarg`) and keeps the error
    /// ([`Reason::as_error`](crate::Reason::as_error)).
    fn from(error: RegisterError) -> crate::reason::Reason {
        crate::reason::Reason::from_error_as(format!("badarg: {error}"), error)
    }
}

#[derive(Default)]
struct Names {
    by_name: HashMap<Name, Pid>,
    by_pid: HashMap<Pid, Name>,
}

/// The names of one runtime.
#[derive(Default)]
pub(crate) struct Registry {
    names: Mutex<Names>,
}

impl Registry {
    /// Registers `pid` as `name`; `alive` is asked under the lock, after the
    /// caller has set the process's `named` flag.
    pub(crate) fn register(&self, name: Name, pid: Pid, alive: impl FnOnce() -> bool) -> Result<(), RegisterError> {
        let mut names = lock(&self.names);
        if let Some(&holder) = names.by_name.get(&name) {
            return Err(RegisterError::NameTaken { name, holder });
        }
        if let Some(existing) = names.by_pid.get(&pid) {
            return Err(RegisterError::AlreadyNamed { pid, name: existing.clone() });
        }
        if !alive() {
            return Err(RegisterError::NoProc { pid });
        }
        names.by_name.insert(name.clone(), pid);
        names.by_pid.insert(pid, name);
        Ok(())
    }

    pub(crate) fn unregister(&self, name: &str) -> Result<Pid, RegisterError> {
        let mut names = lock(&self.names);
        let pid = names.by_name.remove(name).ok_or_else(|| RegisterError::NotRegistered { name: name.into() })?;
        names.by_pid.remove(&pid);
        Ok(pid)
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        lock(&self.names).by_name.get(name).copied()
    }

    /// The name `pid` is registered as, if any.
    pub(crate) fn name_of(&self, pid: Pid) -> Option<Name> {
        lock(&self.names).by_pid.get(&pid).cloned()
    }

    /// Frees the name of a process that is exiting (step 4).
    pub(crate) fn forget(&self, pid: Pid) {
        let mut names = lock(&self.names);
        if let Some(name) = names.by_pid.remove(&pid) {
            names.by_name.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_refuses_taken_names_second_names_and_the_dead() {
        let registry = Registry::default();
        let a = Pid::new(0, 1, 0);
        let b = Pid::new(0, 2, 0);
        registry.register("a".into(), a, || true).unwrap();
        assert!(
            matches!(registry.register("a".into(), b, || true), Err(RegisterError::NameTaken { holder, .. }) if holder == a)
        );
        assert!(matches!(registry.register("other".into(), a, || true), Err(RegisterError::AlreadyNamed { .. })));
        assert!(matches!(registry.register("b".into(), b, || false), Err(RegisterError::NoProc { .. })));
        assert_eq!(registry.whereis("a"), Some(a));
        registry.forget(a);
        assert_eq!(registry.whereis("a"), None);
        assert!(matches!(registry.unregister("a"), Err(RegisterError::NotRegistered { .. })));
    }
}
