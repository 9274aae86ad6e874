//! Servers: OTP's `gen_server` in Rust form. A [`Server`] is typed state with
//! handlers for calls, casts and every other message; [`start`] runs its
//! `init` in the new process and returns once `init` has succeeded (or with
//! its error), as `gen_server:start_link/3` does.
//!
//! Built on the public process API only (`Cx::call`, aliases, links,
//! monitors), as a user's own behaviour would be.
//!
//! Invariants: a server answers calls in the order they arrive, one at a time;
//! `terminate` runs exactly once when the server stops by its own decision (a
//! handler's `Err`, [`ServerRef::stop`]) or, while it traps exits, on an exit
//! signal from its parent; never when it is killed or dies of an exit signal
//! it does not trap (as in OTP).

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

pub use crate::cx::{ReplyTo, Request};

use crate::alias::Alias;
use crate::cx::Cx;
use crate::error::{CallError, SpawnError};
use crate::kernel::SpawnOptions;
use crate::mailbox::Message;
use crate::monitor::Down;
use crate::pid::Pid;
use crate::process::Exit;
use crate::reason::Reason;
use crate::registry::Name;

/// A server's state and handlers (`gen_server`'s callback module).
///
/// Each handler returns `Err(reason)` to stop the server with `reason` (after
/// [`Server::terminate`]); `Err(Reason::Normal)` stops it quietly.
pub trait Server: Sized + Send + 'static {
    /// What callers send with [`ServerRef::call`].
    type Call: Send + 'static;
    /// What a call answers.
    type Reply: Send + 'static;
    /// What [`ServerRef::cast`] sends.
    type Cast: Send + 'static;

    /// A call (`handle_call/3`): answer with `reply_to.reply(cx, answer)`, now,
    /// or later (keep `reply_to`, answer from here or from any process).
    fn handle_call(&mut self, cx: &mut Cx, request: Self::Call, reply_to: ReplyTo<Self::Reply>) -> Result<(), Reason>;

    /// A cast (`handle_cast/2`). Ignored unless overridden.
    fn handle_cast(&mut self, cx: &mut Cx, message: Self::Cast) -> Result<(), Reason> {
        let _ = (cx, message);
        Ok(())
    }

    /// Every other message (`handle_info/2`): plain messages, [`Down`]s, and,
    /// while the server traps exits, [`Exit`]s (except its parent's, which stop
    /// it). Dropped unless overridden.
    fn handle_info(&mut self, cx: &mut Cx, message: Message) -> Result<(), Reason> {
        let _ = (cx, message);
        Ok(())
    }

    /// The server stops with `reason` (`terminate/2`): a handler's `Err`,
    /// [`ServerRef::stop`], or its parent's exit signal while it traps exits.
    fn terminate(&mut self, cx: &mut Cx, reason: &Reason) {
        let _ = (cx, reason);
    }
}

/// A running server of type `S`: its pid, typed for calls and casts.
pub struct ServerRef<S> {
    pid: Pid,
    server: PhantomData<fn() -> S>,
}

impl<S> Clone for ServerRef<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for ServerRef<S> {}

impl<S> PartialEq for ServerRef<S> {
    fn eq(&self, other: &Self) -> bool {
        self.pid == other.pid
    }
}

impl<S> Eq for ServerRef<S> {}

impl<S> fmt::Debug for ServerRef<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerRef({})", self.pid)
    }
}

/// A cast as the server receives it.
struct Cast<T>(T);

/// Asks a server to stop with a reason (`gen_server:stop/3`).
struct StopRequest(Reason);

/// A new server's word to its starter: `init` succeeded, or why not.
struct Started(Result<(), StartError>);

impl<S: Server> ServerRef<S> {
    /// A `ServerRef` for a pid known to run server `S` (from a registered name,
    /// or a message). Calls to a process that serves something else time out.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use lariat::server::ServerRef;
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     server::start(cx, StartOptions::new().link().name("counter"), |_| Ok(Counter(7)))?;
    ///     let pid = cx.whereis("counter").ok_or(Reason::error("no counter"))?;
    ///     let counter = ServerRef::<Counter>::from_pid(pid);
    ///     assert_eq!(counter.call(cx, (), Duration::from_secs(5))?, 7);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pid(pid: Pid) -> Self {
        ServerRef { pid, server: PhantomData }
    }

    /// The server's pid.
    ///
    /// ```
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let counter = server::start(cx, StartOptions::new().link(), |_| Ok(Counter(0)))?;
    ///     cx.register("counter", counter.pid())?;
    ///     assert_eq!(cx.whereis("counter"), Some(counter.pid()));
    ///     assert!(cx.is_alive(counter.pid()));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Calls the server (`gen_server:call/3`): see [`Cx::call`].
    ///
    /// # Errors
    ///
    /// As [`Cx::call`]: the server's exit reason if it ends first (`NoProc` if
    /// gone), a timeout, or this process being told to end.
    ///
    /// - [`CallError::Exited`] with the server's exit reason if it ended before it
    ///   answered, `NoProc` if it was already gone;
    /// - [`CallError::Timeout`] if no answer came within `timeout` (the server
    ///   may still be working on it; its late answer is dropped);
    /// - [`CallError::Ended`] with the reason this process was told to end with
    ///   while it waited (end with it: `?` does);
    /// - [`CallError::CallingSelf`] if called in the server's own process (from
    ///   one of its handlers): it could never answer.
    ///
    /// `?` turns each into a [`Reason`] that ends the caller, as a failed
    /// `gen_server:call` exits it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use lariat::CallError;
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let counter = server::start(cx, StartOptions::new().link(), |_| Ok(Counter(41)))?;
    ///     counter.cast(cx, 1);
    ///     assert_eq!(counter.call(cx, (), Duration::from_secs(5))?, 42);
    ///
    ///     counter.stop(cx, Reason::Normal, Duration::from_secs(5))?;
    ///     let gone = counter.call(cx, (), Duration::from_secs(5));
    ///     assert_eq!(gone, Err(CallError::Exited(Reason::NoProc)));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call(&self, cx: &mut Cx, request: S::Call, timeout: Duration) -> Result<S::Reply, CallError> {
        cx.call(self.pid, request, timeout)
    }

    /// Sends the server a cast (`gen_server:cast/2`): no answer, no error (a
    /// cast to a server that is gone is dropped).
    ///
    /// Casts and calls from one process reach the server in the order they were
    /// made, so a call made after a cast sees its effect.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let counter = server::start(cx, StartOptions::new().link(), |_| Ok(Counter(0)))?;
    ///     counter.cast(cx, 2);
    ///     counter.cast(cx, 3);
    ///     assert_eq!(counter.call(cx, (), Duration::from_secs(5))?, 5);
    ///
    ///     counter.stop(cx, Reason::Normal, Duration::from_secs(5))?;
    ///     counter.cast(cx, 1); // to a server that is gone: dropped, no error
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cast(&self, cx: &mut Cx, message: S::Cast) {
        cx.send(self.pid, Cast(message));
    }

    /// Stops the server with `reason` and waits until it has ended
    /// (`gen_server:stop/3`): its `terminate` runs first.
    ///
    /// # Errors
    ///
    /// [`CallError::Exited`] with `NoProc` if it was gone, or with the reason it
    /// ended with if that is not `reason` (it was killed meanwhile); [`CallError::Timeout`]
    /// if it did not end in time; [`CallError::Ended`] if this process was told
    /// to end meanwhile; [`CallError::CallingSelf`] at once if the server
    /// asks to stop itself (it would wait for its own end: return the reason
    /// from the handler instead; OTP's `gen_server:stop` exits with
    /// `calling_self` here).
    ///
    /// After a timeout the stop request stays in the server's mailbox: the
    /// server still stops with `reason` when it gets to it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// use lariat::{CallError, Cx, Pid, Reason, Runtime};
    ///
    /// /// Tells `observer` why it stopped.
    /// struct Reporter {
    ///     observer: Pid,
    /// }
    ///
    /// impl Server for Reporter {
    ///     type Call = ();
    ///     type Reply = ();
    ///     type Cast = ();
    ///     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<()>) -> Result<(), Reason> {
    ///         reply_to.reply(cx, ());
    ///         Ok(())
    ///     }
    ///     fn terminate(&mut self, cx: &mut Cx, reason: &Reason) {
    ///         cx.send(self.observer, reason.clone());
    ///     }
    /// }
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let reporter = server::start(cx, StartOptions::new(), move |_| Ok(Reporter { observer: me }))?;
    ///     reporter.stop(cx, Reason::error("closing"), Duration::from_secs(5))?;
    ///     // Its `terminate` ran before it ended.
    ///     assert_eq!(cx.receive_timeout::<Reason>(Duration::from_secs(5))?, Some(Reason::error("closing")));
    ///
    ///     let again = reporter.stop(cx, Reason::Normal, Duration::from_secs(5));
    ///     assert_eq!(again, Err(CallError::Exited(Reason::NoProc)));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stop(&self, cx: &mut Cx, reason: Reason, timeout: Duration) -> Result<(), CallError> {
        if self.pid == cx.pid() {
            return Err(CallError::CallingSelf);
        }
        let monitor = cx.monitor(self.pid);
        cx.send(self.pid, StopRequest(reason.clone()));
        let down = cx
            .receive_map_timeout(timeout, |message| {
                let down = message.downcast_ref::<Down>()?;
                (down.monitor == monitor).then(|| down.reason.clone())
            })
            .map_err(CallError::Ended)?;
        match down {
            None => {
                cx.demonitor_flush(monitor);
                Err(CallError::Timeout)
            }
            Some(ended) if ended == reason => Ok(()),
            Some(ended) => Err(CallError::Exited(ended)),
        }
    }
}

/// Why a server did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartError {
    /// Its `init` returned `Err(reason)`, or the process ended before `init`
    /// finished (panicked, or was killed), with this reason.
    Init(Reason),
    /// Its name is held by this process (`{already_started, Pid}`).
    AlreadyStarted(Pid),
    /// The process could not be spawned.
    Spawn(SpawnError),
    /// The starter was told to end while it waited, with this reason (a
    /// linked starter that does not trap exits also gets here when `init`
    /// fails: the server's exit signal ends it, as in OTP).
    Ended(Reason),
    /// `supervisor::start_top_level` was called inside a process, where
    /// waiting for the start would stall a worker: start the supervisor with
    /// `supervisor::start_link` there.
    InsideProcess,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Init(reason) => write!(f, "the server's init failed: {reason}"),
            StartError::AlreadyStarted(pid) => write!(f, "a process is already registered under that name: {pid}"),
            StartError::Spawn(error) => write!(f, "the server could not be spawned: {error}"),
            StartError::Ended(reason) => write!(f, "the starter was told to end while it waited: {reason}"),
            StartError::InsideProcess => f.write_str(
                "start_top_level blocks its thread, which would stall a worker inside a process; \
                 use supervisor::start_link there",
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// `?` on a start in a process body: a starter told to end ends with its
/// reason; any other failed start ends it with an error keeping the cause.
impl From<StartError> for Reason {
    fn from(error: StartError) -> Reason {
        match error {
            StartError::Ended(reason) => reason,
            error => Reason::from_error(error),
        }
    }
}

/// How to start a server (`gen_server:start/3` vs `start_link/3`, a name).
#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    link: bool,
    name: Option<Name>,
    trap_exit: bool,
}

impl StartOptions {
    /// Unlinked, unnamed, not trapping exits (`gen_server:start/3`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// let counter = runtime.block_on(|cx| {
    ///     let counter = server::start(cx, StartOptions::new(), |_| Ok(Counter(0)))?;
    ///     Ok::<_, Reason>(counter)
    /// })?;
    /// // Not linked: it outlived the process that started it.
    /// let total = runtime.block_on(move |cx| {
    ///     counter.cast(cx, 2);
    ///     Ok::<_, Reason>(counter.call(cx, (), Duration::from_secs(5))?)
    /// })?;
    /// assert_eq!(total, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        StartOptions::default()
    }

    /// Linked to the starter, which becomes its parent: while the server traps
    /// exits, the parent's exit signal stops it through `terminate`.
    ///
    /// The link works both ways: a server that ends abnormally takes a starter
    /// that does not trap exits with it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use lariat::Exit;
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     cx.trap_exit(true);
    ///     let counter = server::start(cx, StartOptions::new().link(), |_| Ok(Counter(0)))?;
    ///     counter.stop(cx, Reason::error("done"), Duration::from_secs(5))?;
    ///     // Its end reached the starter through the link (as a message: the starter traps exits).
    ///     let exit = cx.receive_timeout::<Exit>(Duration::from_secs(5))?.ok_or(Reason::error("no Exit"))?;
    ///     assert_eq!((exit.from, exit.reason), (counter.pid(), Reason::error("done")));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link(mut self) -> Self {
        self.link = true;
        self
    }

    /// Registered under `name` before `init` runs; the start fails with
    /// [`StartError::AlreadyStarted`] if the name is taken.
    ///
    /// ```
    /// use lariat::server::StartError;
    /// # use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// # use lariat::{Cx, Reason, Runtime};
    /// # struct Counter(u64);
    /// # impl Server for Counter {
    /// #     type Call = ();
    /// #     type Reply = u64;
    /// #     type Cast = u64;
    /// #     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
    /// #         reply_to.reply(cx, self.0);
    /// #         Ok(())
    /// #     }
    /// #     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
    /// #         self.0 += add;
    /// #         Ok(())
    /// #     }
    /// # }
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let counter = server::start(cx, StartOptions::new().link().name("counter"), |_| Ok(Counter(0)))?;
    ///     assert_eq!(cx.whereis("counter"), Some(counter.pid()));
    ///
    ///     let second = server::start(cx, StartOptions::new().link().name("counter"), |_| Ok(Counter(0)));
    ///     assert_eq!(second, Err(StartError::AlreadyStarted(counter.pid())));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn name(mut self, name: impl Into<Name>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Traps exits from before `init` (`process_flag(trap_exit, true)` in
    /// `init`): exit signals arrive as [`Exit`] messages in `handle_info`.
    ///
    /// With [`StartOptions::link`], its parent's exit then stops it through
    /// `terminate` (without trapping, the server would die of the signal and
    /// `terminate` would not run):
    ///
    /// ```
    /// use std::time::Duration;
    /// use lariat::server::{self, ReplyTo, Server, StartOptions};
    /// use lariat::{Cx, Pid, Reason, Runtime};
    ///
    /// /// Tells `observer` why it stopped.
    /// struct Reporter {
    ///     observer: Pid,
    /// }
    ///
    /// impl Server for Reporter {
    ///     # type Call = ();
    ///     # type Reply = ();
    ///     # type Cast = ();
    ///     # fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<()>) -> Result<(), Reason> {
    ///     #     reply_to.reply(cx, ());
    ///     #     Ok(())
    ///     # }
    ///     // ...
    ///     fn terminate(&mut self, cx: &mut Cx, reason: &Reason) {
    ///         cx.send(self.observer, reason.clone());
    ///     }
    /// }
    ///
    /// let runtime = Runtime::new()?;
    /// let reason = runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     cx.spawn(move |cx| {
    ///         let options = StartOptions::new().link().trap_exit();
    ///         server::start(cx, options, move |_| Ok(Reporter { observer: me }))?;
    ///         Err(Reason::error("parent failed"))
    ///     })?;
    ///     Ok::<_, Reason>(cx.receive_timeout::<Reason>(Duration::from_secs(5))?)
    /// })?;
    /// assert_eq!(reason, Some(Reason::error("parent failed")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trap_exit(mut self) -> Self {
        self.trap_exit = true;
        self
    }
}

/// Starts a server whose state `init` makes, in the new process, and returns
/// once `init` has returned (`gen_server:start_link/3` with `options.link()`).
///
/// # Errors
///
/// [`StartError::Init`] if `init` failed (a linked starter then also gets its
/// exit signal, as in OTP), [`StartError::AlreadyStarted`] if the name is
/// taken, [`StartError::Spawn`], or [`StartError::Ended`] if the starter was
/// told to end meanwhile.
///
/// ```
/// use std::time::Duration;
/// use lariat::server::{self, ReplyTo, Server, StartOptions};
/// use lariat::{Cx, Reason, Runtime};
///
/// struct Counter(u64);
///
/// impl Server for Counter {
///     type Call = ();
///     type Reply = u64;
///     type Cast = u64;
///     fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<u64>) -> Result<(), Reason> {
///         reply_to.reply(cx, self.0);
///         Ok(())
///     }
///     fn handle_cast(&mut self, _: &mut Cx, add: u64) -> Result<(), Reason> {
///         self.0 += add;
///         Ok(())
///     }
/// }
///
/// let runtime = Runtime::new()?;
/// let total = runtime.block_on(|cx| {
///     let counter = server::start(cx, StartOptions::new().link(), |_| Ok(Counter(0)))?;
///     counter.cast(cx, 40);
///     counter.cast(cx, 2);
///     Ok::<_, Reason>(counter.call(cx, (), Duration::from_secs(5))?)
/// })?;
/// assert_eq!(total, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn start<S, F>(cx: &mut Cx, options: StartOptions, init: F) -> Result<ServerRef<S>, StartError>
where
    S: Server,
    F: FnOnce(&mut Cx) -> Result<S, Reason> + Send + 'static,
{
    let starter = cx.alias_for_reply();
    let parent = cx.pid();
    let StartOptions { link, name, trap_exit } = options;
    let mut spawn = SpawnOptions::new().monitor();
    if link {
        spawn = spawn.link();
    }
    if trap_exit {
        spawn = spawn.trap_exit();
    }
    let spawned = cx.spawn_opt(spawn, move |cx| run(cx, starter, link.then_some(parent), name, init));
    let spawned = match spawned {
        Ok(spawned) => spawned,
        Err(error) => {
            cx.unalias(starter);
            return Err(StartError::Spawn(error));
        }
    };
    let monitor = spawned.monitor.expect("asked for a monitor");
    let word = cx.receive_map(|message| {
        if let Some(Started(result)) = message.downcast_mut::<Started>() {
            return Some(std::mem::replace(result, Ok(())));
        }
        let down = message.downcast_ref::<Down>().filter(|down| down.monitor == monitor)?;
        Some(Err(StartError::Init(down.reason.clone())))
    });
    cx.unalias(starter);
    let word = word.map_err(StartError::Ended)?;
    cx.demonitor_flush(monitor);
    word.map(|()| ServerRef::from_pid(spawned.pid))
}

/// The server process: registers, runs `init`, tells the starter, serves.
fn run<S, F>(cx: &mut Cx, starter: Alias, parent: Option<Pid>, name: Option<Name>, init: F) -> Result<(), Reason>
where
    S: Server,
    F: FnOnce(&mut Cx) -> Result<S, Reason>,
{
    if let Some(name) = name {
        let me = cx.pid();
        if cx.register(name.clone(), me).is_err() {
            // As OTP: the starter is told who holds the name, and this process
            // ends `normal` (a linked starter lives on).
            let holder = cx.whereis(&name).unwrap_or(me);
            cx.send_to_alias(starter, Started(Err(StartError::AlreadyStarted(holder))));
            return Ok(());
        }
    }
    let state = match cx.catch_panic(init).and_then(|state| state) {
        Ok(state) => state,
        Err(reason) => {
            cx.send_to_alias(starter, Started(Err(StartError::Init(reason.clone()))));
            return Err(reason);
        }
    };
    cx.send_to_alias(starter, Started(Ok(())));
    serve(cx, state, parent)
}

/// The server loop: one message at a time, each to its handler. A handler
/// that returns `Err` or panics stops the server through `terminate` (as OTP
/// calls `terminate/2` when a callback crashes); the process then ends with
/// that reason (`Reason::Panic` for a panic).
fn serve<S: Server>(cx: &mut Cx, mut state: S, parent: Option<Pid>) -> Result<(), Reason> {
    loop {
        // Told to die by an exit signal it does not trap: no `terminate`.
        let message = cx.receive_any()?;
        let handled = cx.catch_panic(|cx| dispatch(cx, &mut state, parent, message)).and_then(|handled| handled);
        if let Err(reason) = handled {
            if cx.must_end() {
                // Told to end (a kill, an exit signal it does not trap) while a
                // handler waited: no `terminate`, as in OTP.
                return Err(reason);
            }
            // A panicking `terminate` ends the server with the first reason all the same.
            let _ = cx.catch_panic(|cx| state.terminate(cx, &reason));
            return Err(reason);
        }
    }
}

/// Hands one message to the handler it is for.
fn dispatch<S: Server>(cx: &mut Cx, state: &mut S, parent: Option<Pid>, message: Message) -> Result<(), Reason> {
    let message = match message.downcast::<Request<S::Call, S::Reply>>() {
        Ok(call) => return state.handle_call(cx, call.request, call.reply_to),
        Err(message) => message,
    };
    let message = match message.downcast::<Cast<S::Cast>>() {
        Ok(Cast(cast)) => return state.handle_cast(cx, cast),
        Err(message) => message,
    };
    let message = match message.downcast::<StopRequest>() {
        Ok(StopRequest(reason)) => return Err(reason),
        Err(message) => message,
    };
    if let Some(exit) = message.downcast_ref::<Exit>()
        && Some(exit.from) == parent
    {
        return Err(exit.reason.clone());
    }
    state.handle_info(cx, message)
}
