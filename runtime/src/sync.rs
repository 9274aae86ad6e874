//! The one switch between std's synchronisation types and loom's.
//!
//! Every lock-free protocol in the runtime names its atomics, cells, mutexes and
//! the epoch collector through this module, so the very same code is model-checked
//! when the crate is built with `--cfg loom` (see `loom-tests/`). No other file may
//! import `std::sync::atomic`; `.ci/run` checks that.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

pub(crate) use std::sync::atomic::Ordering;

/// Epoch-based reclamation (crossbeam-epoch checks itself under loom with
/// `--cfg crossbeam_loom` and its `loom` feature, switched on in Cargo.toml).
pub(crate) use crossbeam_epoch as epoch;

/// A cell whose accesses loom can check; with std it is a zero-cost
/// `UnsafeCell` behind the same closure-based interface as loom's.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }
    #[inline(always)]
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Locks a mutex, ignoring poisoning: the runtime's mutexes guard plain data
/// whose invariants hold between statements, so a panic elsewhere leaves them valid.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(not(loom))]
    {
        mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    #[cfg(loom)]
    {
        mutex.lock().unwrap()
    }
}

/// Whether the mutation `name` is switched on: under loom, the environment
/// variable `LARIAT_MUTATION` names one weakened ordering (or broken
/// transition) for `loom-tests/mutations.sh` to show that a model catches it.
/// One loom build serves every mutation, so the check costs no rebuilds. In
/// every other build this is a constant `false` and the code is the normal one.
#[cfg(loom)]
pub(crate) fn mutated(name: &str) -> bool {
    // std's OnceLock, not loom's: the choice is fixed for the whole test binary.
    static CHOSEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| std::env::var("LARIAT_MUTATION").ok()).as_deref() == Some(name)
}

/// See the loom form: outside loom no mutation is ever on.
#[cfg(not(loom))]
#[inline(always)]
pub(crate) const fn mutated(_name: &str) -> bool {
    false
}

/// Real atomics for `static`s read by the stack-overflow signal handler. loom cannot
/// model signal handlers (nor build `static` atomics), so these stay std even under loom.
pub(crate) use std::sync::atomic::AtomicUsize as SignalSafeAtomicUsize;
