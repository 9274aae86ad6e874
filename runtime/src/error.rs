//! Typed errors of the public API, each with a message that says what to do.

use std::fmt;

use crate::reason::Reason;

/// A `Runtime::builder()` setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// `workers(0)` or more workers than the runtime supports.
    Workers {
        /// The count asked for.
        requested: usize,
        /// The most allowed.
        max: usize,
    },
    /// A stack size below the minimum or above the maximum.
    StackSize {
        /// The size asked for, in bytes.
        requested: usize,
        /// The least allowed.
        min: usize,
        /// The most allowed.
        max: usize,
    },
    /// A process-table capacity of zero or above [`crate::MAX_PROCESSES`].
    MaxProcesses {
        /// The capacity asked for.
        requested: usize,
        /// The most allowed.
        max: usize,
    },
    /// `blocking_threads(0)`: `Cx::blocking` would have nowhere to run.
    BlockingThreads,
    /// Every runtime id is taken by a live runtime in this OS process.
    TooManyRuntimes {
        /// How many runtimes can be alive at once.
        max: usize,
    },
    /// The OS refused a resource (thread, memory mapping, signal handler).
    Os {
        /// What was asked of the OS.
        what: &'static str,
        /// The OS's answer.
        error: String,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Workers { requested, max } => {
                write!(f, "workers({requested}) is out of range: use 1..={max} (the default is one per core)")
            }
            BuildError::StackSize { requested, min, max } => {
                let default = crate::stack::DEFAULT_STACK_SIZE / 1024;
                write!(
                    f,
                    "stack_size({requested}) is out of range: use {min}..={max} bytes (the default is {default} KiB)"
                )
            }
            BuildError::MaxProcesses { requested, max } => {
                write!(f, "max_processes({requested}) is out of range: use 1..={max}")
            }
            BuildError::BlockingThreads => write!(
                f,
                "blocking_threads(0): Cx::blocking needs at least one thread (the default is {})",
                crate::blocking::DEFAULT_BLOCKING_THREADS
            ),
            BuildError::TooManyRuntimes { max } => {
                write!(f, "{max} runtimes are alive in this OS process, the most there can be: drop one first")
            }
            BuildError::Os { what, error } => write!(f, "the OS refused {what}: {error}"),
        }
    }
}

impl std::error::Error for BuildError {}

/// Why a process could not be spawned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpawnError {
    /// The process table is full (Erlang's `system_limit`).
    TableFull {
        /// The table's capacity.
        capacity: usize,
    },
    /// The runtime is shutting down.
    ShuttingDown,
    /// The stack size given in `SpawnOptions` is out of range.
    StackSize {
        /// The size asked for, in bytes.
        requested: usize,
        /// The least allowed.
        min: usize,
        /// The most allowed.
        max: usize,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::TableFull { capacity } => {
                write!(
                    f,
                    "system_limit: all {capacity} process slots are in use (or freed, not yet reusable); raise Builder::max_processes"
                )
            }
            SpawnError::ShuttingDown => f.write_str("the runtime is shutting down; nothing new can start"),
            SpawnError::StackSize { requested, min, max } => {
                write!(f, "SpawnOptions::stack_size({requested}) is out of range: use {min}..={max} bytes")
            }
        }
    }
}

impl std::error::Error for SpawnError {}

/// `?` on one of this crate's errors in a process body: the process ends with
/// a reason that keeps the error (see [`Reason::from_error`]).
macro_rules! into_reason {
    ($($error:ty),*) => {$(
        impl From<$error> for Reason {
            fn from(error: $error) -> Reason {
                Reason::from_error(error)
            }
        }
    )*};
}

into_reason!(SpawnError, BlockOnError, BuildError, InsideProcess);

/// Why a call ([`Cx::call`](crate::Cx::call), or `Handle::call` from async
/// code) gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// No answer within the timeout (one that comes later is dropped).
    Timeout,
    /// The server ended before it answered, with this reason (`NoProc` if it
    /// was gone when the call was made).
    Exited(Reason),
    /// The calling process was told to end while it waited, with this reason.
    Ended(Reason),
    /// A process called itself (it could never answer; OTP's `calling_self`).
    CallingSelf,
    /// From `Handle::call`: its reply mailbox could not be made (the runtime
    /// is shutting down, or its process table is full).
    Spawn(SpawnError),
    /// From `Handle::call`: the reply mailbox ended before an answer came (the
    /// `request` closure panicked in it, or it was killed, or the runtime shut
    /// down).
    MailboxEnded,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Timeout => f.write_str("the process did not answer in time"),
            CallError::Exited(reason) => write!(f, "the process ended before it answered: {reason}"),
            CallError::Ended(reason) => write!(f, "the caller was told to end while it waited: {reason}"),
            CallError::CallingSelf => {
                f.write_str("calling_self: a process cannot call itself (it would wait for its own answer)")
            }
            CallError::Spawn(error) => write!(f, "no reply mailbox could be made: {error}"),
            CallError::MailboxEnded => {
                f.write_str("the reply mailbox ended before an answer (the request closure panicked, or it was killed)")
            }
        }
    }
}

impl std::error::Error for CallError {}

/// `?` on a call in a process body. A caller told to end ends with the reason
/// it was told; any other failed call ends it with an error reason that keeps
/// the [`CallError`] (as Erlang's call exits its caller with `{Reason, {gen_server,
/// call, ...}}`): never `normal`, so a server that stopped normally still
/// fails its linked callers' calls loudly.
impl From<CallError> for Reason {
    fn from(error: CallError) -> Reason {
        match error {
            CallError::Ended(reason) => reason,
            error => Reason::from_error(error),
        }
    }
}

/// Why `Runtime::block_on` gave no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockOnError {
    /// The process ended without returning a value, with this reason.
    Exited(Reason),
    /// The process could not be spawned.
    Spawn(SpawnError),
    /// `block_on` was called on one of the runtime's own worker threads (from
    /// inside a process), where waiting would stall the worker: spawn a process
    /// and `receive` its answer instead.
    InsideProcess,
}

impl fmt::Display for BlockOnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockOnError::Exited(reason) => write!(f, "the process ended with reason {reason}"),
            BlockOnError::Spawn(error) => write!(f, "could not spawn the process: {error}"),
            BlockOnError::InsideProcess => f.write_str(
                "block_on was called inside a process, which would stall its worker; \
                 spawn a process and receive its answer instead",
            ),
        }
    }
}

impl std::error::Error for BlockOnError {}

/// A [`Handle`](crate::Handle) call that blocks its thread until a process
/// answers was made on one of the runtime's worker threads (inside a process),
/// where waiting would stall the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsideProcess {
    /// The call.
    pub call: &'static str,
}

impl fmt::Display for InsideProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Handle::{0} blocks its thread, which would stall a worker inside a process; use Cx::{0} there",
            self.call
        )
    }
}

impl std::error::Error for InsideProcess {}
