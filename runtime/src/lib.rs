//! # lariat: Erlang/BEAM-style processes for Rust
//!
//! A *process* is a green thread: a stackful coroutine with its own mailbox,
//! scheduled on a small pool of OS threads (one per core) that steal work from
//! each other. Processes share nothing and talk by messages.
//!
//! ```
//! use lariat::{Reason, Runtime};
//!
//! #[derive(Debug)]
//! struct Ping(lariat::Pid);
//!
//! let runtime = Runtime::new()?;
//! let rounds = runtime.block_on(|cx| {
//!     let me = cx.pid();
//!     let echo = cx.spawn(|cx| loop {
//!         let Ping(from) = cx.receive::<Ping>()?;
//!         cx.send(from, "pong");
//!     })?;
//!     for _ in 0..3 {
//!         cx.send(echo, Ping(me));
//!         let _pong: &str = cx.receive()?;
//!     }
//!     Ok::<_, Reason>(3)
//! })?;
//! assert_eq!(rounds, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where things are (one module per part of the architecture, `docs/architecture.md`):
//! [`pid`](Pid) · `table` · `process` ([`Cx`]) · `signal_queue` · `mailbox` ([`Message`]) ·
//! `scheduler` · `stack` · `timer` · `runtime` ([`Runtime`], [`Handle`]) · `crash` · `sync`.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

// A process's panic is contained by unwinding its stack. Under
// `panic = "abort"` it cannot be, and the first panicking process would take
// the OS process with it: refuse, unless the user opts in knowingly.
#[cfg(all(panic = "abort", not(feature = "panic-abort")))]
compile_error!(
    "lariat contains a panicking process by unwinding its stack, but this build has panic = \"abort\": \
     a panic in any process would abort the whole OS process. Set panic = \"unwind\" (Cargo's default) \
     in the profile that builds lariat, or enable lariat's feature \"panic-abort\" to build anyway \
     (a process's panic is then reported, naming the process, before the abort)."
);

/// The README's snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeSnippets;

mod alias;
mod blocking;
#[cfg(feature = "tokio")]
mod bridge;
mod crash;
mod cx;
mod error;
mod kernel;
mod link;
mod mailbox;
mod monitor;
pub mod pg;
mod pid;
mod process;
mod reason;
mod registry;
mod runtime;
mod scheduler;
pub mod server;
mod signal_queue;
mod small_map;
mod stack;
pub mod supervisor;
mod sync;
mod table;
mod timer;
mod worker;

pub use alias::Alias;
pub use blocking::DEFAULT_BLOCKING_THREADS;
#[cfg(feature = "tokio")]
pub use bridge::OutsideMailbox;
pub use cx::{Cx, ReplyTo, Request, Spawned, TimerRef};
pub use error::{BlockOnError, BuildError, CallError, InsideProcess, SpawnError};
pub use kernel::{Handle, SpawnOptions, WorkerStats};
pub use mailbox::Message;
pub use monitor::{Down, Monitored};
pub use pid::{MAX_PROCESSES, Pid, Ref};
pub use process::{Exit, ProcessInfo, Status};
pub use reason::{Reason, Text};
pub use registry::{Name, RegisterError};
pub use runtime::{Builder, DEFAULT_MAX_PROCESSES, MAX_WORKERS, Runtime, ShutdownError};
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE, MIN_STACK_SIZE};

/// The runtime's lock-free protocols, exposed for the loom models in `loom-tests/`
/// (built with `--cfg loom`). Not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub mod loom_api {
    pub use crate::link::{ExitAction, LinkTable, handle_exit_signal};
    pub use crate::monitor::{Monitored, Monitors};
    pub use crate::process::StateWord;
    pub use crate::scheduler::idle::{Idle, Parker};
    pub use crate::scheduler::inbox::{Inbox, InboxNode};
    pub use crate::scheduler::spawn_slot::SpawnSlot;
    pub use crate::scheduler::watchdog::Alarm;
    pub use crate::signal_queue::{Batch, Pushed, SignalQueue};
    pub use crate::table::{Entry, FreeSlots, Table};
    pub use crate::timer::FiredTimer;

    /// A pid of runtime 0 for a model (`index` ≥ 1).
    pub fn pid(index: u32) -> crate::pid::Pid {
        crate::pid::Pid::new(0, index, 0)
    }

    /// A monitor ref for a model.
    pub fn monitor_ref(n: u64) -> crate::Ref {
        crate::Ref(n)
    }

    /// The Pid the next occupant of `pid`'s slot gets.
    pub fn next_in_slot(pid: crate::pid::Pid) -> crate::pid::Pid {
        pid.next_in_slot()
    }
}
