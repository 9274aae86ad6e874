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
//! ## Processes and messages
//!
//! [`Runtime::block_on`] runs a closure as a process and waits for its value;
//! inside, the body gets a [`Cx`], through which it does everything a process
//! does. [`Cx::spawn`] starts another process; [`Cx::send`] puts any
//! `Send + 'static` value in a process's mailbox (it is there when `send`
//! returns); [`Cx::receive`] waits for the first message of a type, leaving
//! others in order. [`Cx::receive_if`] and [`Cx::receive_map`] are selective
//! receives; [`Cx::receive_timeout`] gives up after a while.
//!
//! ## Links and exit reasons
//!
//! A body ends with `Ok(())` (reason `normal`) or `Err(reason)`; a panic ends
//! it with [`Reason::Panic`]. Linked processes ([`Cx::spawn_link`], [`Cx::link`])
//! get each other's exit signal: `normal` affects no one, any other reason
//! kills a linked process that does not trap exits, and a process that traps
//! exits ([`Cx::trap_exit`]) gets an [`Exit`] message instead. `exit(pid, kill)`
//! cannot be trapped. The three cases of the seed tutorial:
//!
//! ```
//! use lariat::{Exit, Reason, Runtime};
//!
//! let runtime = Runtime::new()?;
//! // 1. spawn: a failing child does not touch its parent.
//! runtime.block_on(|cx| {
//!     cx.spawn(|_| Err::<(), _>(Reason::error("some_reason")))?;
//!     Ok::<_, Reason>(())
//! })?;
//! // 2. spawn_link: a child's abnormal end takes its parent down.
//! let ended = runtime.block_on(|cx| {
//!     cx.spawn_link(|_| Err::<(), _>(Reason::error("some_reason")))?;
//!     cx.receive::<()>() // never arrives: the exit signal ends this process
//! });
//! assert!(ended.is_err());
//! // 3. trap_exit: the parent gets the exit as a message.
//! let exit = runtime.block_on(|cx| {
//!     cx.trap_exit(true);
//!     let child = cx.spawn_link(|_| Err::<(), _>(Reason::error("some_reason")))?;
//!     let exit = cx.receive::<Exit>()?;
//!     assert_eq!(exit.from, child);
//!     Ok::<_, Reason>(exit.reason)
//! })?;
//! assert_eq!(exit, Reason::error("some_reason"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Monitors, names, timeouts
//!
//! [`Cx::monitor`] watches a process one way: one [`Down`] message when it
//! ends (`NoProc` at once if it was gone). [`Cx::register`] names a process;
//! [`Cx::whereis`] and [`Cx::send_named`] find it.
//!
//! ```
//! use std::time::Duration;
//! use lariat::{Down, Reason, Runtime};
//!
//! let runtime = Runtime::new()?;
//! let reason = runtime.block_on(|cx| {
//!     let worker = cx.spawn(|cx| {
//!         cx.receive::<()>()?; // works until told to stop
//!         Err::<(), _>(Reason::error("tired"))
//!     })?;
//!     cx.register("worker", worker)?;
//!     assert_eq!(cx.whereis("worker"), Some(worker));
//!     let monitor = cx.monitor(worker);
//!     assert_eq!(cx.receive_timeout::<u8>(Duration::from_millis(1))?, None);
//!     cx.send_named("worker", ())?;
//!     let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
//!     Ok::<_, Reason>(down.reason)
//! })?;
//! assert_eq!(reason, Reason::error("tired"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Errors
//!
//! `?` works in a body on this crate's errors, `std::io::Error`, boxed errors
//! and (feature `anyhow`) `anyhow::Error`: the process ends with a reason that
//! keeps the error ([`Reason::from_error`], [`Reason::as_error`]).
//!
//! ## What a process may and may not do
//!
//! - **It runs on one OS thread for its whole life**, so thread-locals,
//!   `MutexGuard`s and entered `tracing` spans held across a receive are sound.
//!   A process not started yet may start on any worker.
//! - **Blocking its thread holds up the processes of its worker.** Run blocking
//!   work with [`Cx::blocking`] (a pool of blocking threads; the process waits
//!   as in a receive). A process that holds its worker for about a second is
//!   reported through `tracing` (target `lariat::stuck`).
//! - **Long loops without a runtime call are not preempted** (Rust cannot be):
//!   call [`Cx::yield_now`] in them.
//! - **Panics are contained by unwinding**: keep `panic = "unwind"` (under
//!   `panic = "abort"` the crate refuses to build unless feature `panic-abort`
//!   opts in).
//!
//! ## The OTP layer
//!
//! [`Cx::call`] (monitored, alias-tagged, no scan of the caller's backlog),
//! [`server`] (gen_server), [`supervisor`] (strategies, restart types and
//! intensity, the child API, the dynamic form, top-level supervisors and
//! [`Runtime::shutdown`]), timers ([`Cx::send_after`], [`Cx::cancel_timer`],
//! [`Cx::send_interval`]) and process groups ([`pg`]).
//!
//! ## From Erlang
//!
//! The semantics are ERTS's (the repository's `docs/semantics.md` states them
//! rule by rule, with the cases checked against real OTP).
//!
//! | Erlang / Elixir | lariat |
//! |---|---|
//! | `spawn(F)`, `spawn_link(F)`, `spawn_monitor(F)` | [`Cx::spawn`], [`Cx::spawn_link`], [`Cx::spawn_monitor`] (from outside: [`Runtime::spawn`], [`Handle::spawn`]) |
//! | `spawn_opt(F, [link, monitor])` | [`Cx::spawn_opt`] with [`SpawnOptions`] |
//! | `self()` | [`Cx::pid`] |
//! | `Pid ! Msg` | [`Cx::send`] (from outside: [`Handle::send`]) |
//! | `receive Msg -> ... end` | [`Cx::receive`], [`Cx::receive_if`], [`Cx::receive_map`], [`Cx::receive_any`] |
//! | `receive ... after T -> ... end` | [`Cx::receive_timeout`], [`Cx::receive_map_timeout`] |
//! | `timer:sleep(T)`, `erlang:yield()` | [`Cx::sleep`], [`Cx::yield_now`] |
//! | `link/1`, `unlink/1` | [`Cx::link`], [`Cx::unlink`] |
//! | `process_flag(trap_exit, B)` | [`Cx::trap_exit`] |
//! | `exit(Reason)` | `return Err(reason)` from the body (`Ok(())` is `normal`) |
//! | `exit(Pid, Reason)` | [`Cx::exit`] (from outside: [`Handle::exit`]) |
//! | `{'EXIT', From, Reason}` | the message [`Exit`] |
//! | `normal`, `kill`, `killed`, `shutdown`, `noproc` | [`Reason::Normal`], [`Reason::Kill`], [`Reason::Killed`], [`Reason::Shutdown`], [`Reason::NoProc`]; your own: [`Reason::error`], [`Reason::from_error`] |
//! | `monitor(process, Pid)`, `monitor(process, Name)` | [`Cx::monitor`], [`Cx::monitor_named`] |
//! | `demonitor(Ref)`, `demonitor(Ref, [flush])` | [`Cx::demonitor`], [`Cx::demonitor_flush`] |
//! | `{'DOWN', Ref, process, Pid, Reason}` | the message [`Down`] |
//! | `register/2`, `unregister/1`, `whereis/1`, `Name ! Msg` | [`Cx::register`], [`Cx::unregister`], [`Cx::whereis`], [`Cx::send_named`] |
//! | `is_process_alive(Pid)`, `process_info(Pid)` | [`Cx::is_alive`], [`Cx::process_info`] ([`Cx::status`]: a snapshot) |
//! | `make_ref()`, `alias()`, `unalias(A)` | [`Cx::make_ref`], [`Cx::alias`], [`Cx::unalias`] |
//! | `gen_server:call/3`, `gen_server` | [`Cx::call`], [`server::start`] with a [`server::Server`] |
//! | `supervisor:start_link/2` | [`supervisor::start_link`], [`supervisor::start_dynamic`] |
//! | `erlang:send_after/3`, `cancel_timer/1`, `read_timer/1`, `timer:send_interval/3` | [`Cx::send_after`], [`Cx::cancel_timer`], [`Cx::read_timer`], [`Cx::send_interval`] |
//! | `pg:join/2`, `pg:get_members/1` | [`pg`] |
//!
//! ## Features and platforms
//!
//! - `tracing` (default): crash and stuck-process reports through `tracing`.
//! - `tokio`: the async bridge (`Handle::call`, `Handle::watch`,
//!   `OutsideMailbox`, `Cx::await_future`).
//! - `anyhow`: `?` on `anyhow::Error` in a body.
//! - `panic-abort`: build under `panic = "abort"` anyway.
//!
//! Linux on x86-64 (stacks use `MADV_GUARD_INSTALL` where the kernel has it,
//! `mprotect` guard pages otherwise). The library sets no global allocator,
//! prints nothing (reports go through `tracing`, and a fatal end to stderr
//! before the abort), and never exits the OS process.
//!
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
    pub use crate::process::{BlockPool, Carver, StateWord};
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
