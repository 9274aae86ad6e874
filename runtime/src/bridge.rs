//! The async bridge (feature `tokio`): async code and processes talk both ways.
//!
//! - [`OutsideMailbox`]: a pid that async code (or a plain thread) receives
//!   from. Processes send to it like to any process; it can be linked to and
//!   monitored (it is a small process of its own that traps exits and forwards
//!   every message, `Exit` and `Down` it gets into a channel).
//! - [`Handle::call`]: send a process a request that names a reply pid, and
//!   `.await` the answer, which the process sends as an ordinary message; a
//!   timeout, or the process's end (a gone process gives `noproc`), ends the
//!   wait with an error, never a hang.
//! - [`Handle::watch`]: `.await` a process's `Down`.
//! - [`Cx::await_future`]: from inside a process, run a future on a tokio
//!   runtime and wait for its output as in a receive (the worker runs other
//!   processes meanwhile).
//!
//! Invariants: an outside mailbox's process ends when the mailbox is dropped
//! (reason `normal`), and its channel closes when that process ends, so a
//! receiver never waits on a mailbox nobody can fill.

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::cx::Cx;
use crate::error::{CallError, SpawnError};
use crate::kernel::Handle;
use crate::mailbox::Message;
use crate::monitor::Down;
use crate::pid::{Pid, Ref};
use crate::reason::Reason;

/// A pid that code outside the runtime receives from: processes send to
/// [`OutsideMailbox::pid`] as to any process, and async code `.await`s the
/// messages with [`recv`](OutsideMailbox::recv) (a plain thread uses
/// [`blocking_recv`](OutsideMailbox::blocking_recv)).
///
/// Behind it is a small process that traps exits: a process linked to it
/// that ends sends it an `Exit` message, and [`monitor`](OutsideMailbox::monitor)
/// brings `Down` messages, all through `recv`. Dropping the mailbox ends
/// that process normally.
pub struct OutsideMailbox {
    pid: Pid,
    messages: UnboundedReceiver<Message>,
    handle: Handle,
}

/// Commands only the mailbox's owner can send its process.
enum Command {
    Monitor(Pid),
    Close,
}

/// What an outside mailbox's process does first: monitor a process, then
/// (a call's request) send it a message. Done there, not by the caller, so
/// the monitor is in place before the request can make the process end.
struct First {
    watch: Pid,
    request: Option<SendRequest>,
}

/// Sends a call's request, naming the mailbox's pid as where to reply.
type SendRequest = Box<dyn FnOnce(&mut Cx) + Send>;

impl OutsideMailbox {
    fn new(handle: &Handle, first: Option<First>, watching: Option<(Ref, Pid)>) -> Result<OutsideMailbox, SpawnError> {
        let (sender, messages) = unbounded_channel();
        // Near the process it watches (a call's server): their request and
        // reply then stay on one worker.
        let near = first.as_ref().map(|first| first.watch).or(watching.map(|(_, target)| target));
        // Trapping from the start: a process that links to it before it
        // first runs and ends at once still becomes an `Exit` message.
        let pid = handle.spawn_trapping(
            move |cx| {
                if let Some(First { watch, request }) = first {
                    cx.monitor(watch);
                    if let Some(request) = request {
                        request(cx);
                    }
                }
                loop {
                    let message = cx.receive_any()?;
                    let message = match message.downcast::<Command>() {
                        Ok(Command::Monitor(target)) => {
                            cx.monitor(target);
                            continue;
                        }
                        Ok(Command::Close) => return Ok(()),
                        Err(message) => message,
                    };
                    if sender.send(message).is_err() {
                        return Ok(()); // nobody receives any more
                    }
                }
            },
            near,
            watching,
        )?;
        Ok(OutsideMailbox { pid, messages, handle: handle.clone() })
    }

    /// The pid processes send to.
    ///
    /// ```
    /// # use lariat::Runtime;
    /// let runtime = Runtime::new()?;
    /// let mailbox = runtime.handle().outside_mailbox()?;
    /// // A pid like any other: a process can be told it and link to it.
    /// assert!(runtime.handle().is_alive(mailbox.pid()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The next message, oldest first; `None` once the runtime has shut down.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use lariat::Runtime;
    ///
    /// let runtime = Runtime::new()?;
    /// let mut mailbox = runtime.handle().outside_mailbox()?;
    /// let to = mailbox.pid();
    /// runtime.spawn(move |cx| {
    ///     cx.send(to, String::from("hello from a process"));
    ///     Ok(())
    /// })?;
    /// let message = mailbox.recv().await.expect("the runtime is running");
    /// assert_eq!(message.downcast::<String>().ok().as_deref(), Some("hello from a process"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn recv(&mut self) -> Option<Message> {
        self.messages.recv().await
    }

    /// [`recv`](Self::recv) for a plain thread: blocks it until a message
    /// comes. Not from async code (it would block an executor thread: tokio
    /// panics there) nor from a process (it would block a worker).
    ///
    /// ```
    /// use lariat::Runtime;
    ///
    /// let runtime = Runtime::new()?;
    /// let mut mailbox = runtime.handle().outside_mailbox()?;
    /// let to = mailbox.pid();
    /// runtime.spawn(move |cx| {
    ///     cx.send(to, 42u32);
    ///     Ok(())
    /// })?;
    /// // A plain thread, no async runtime.
    /// let message = mailbox.blocking_recv().expect("the runtime is running");
    /// assert_eq!(message.downcast::<u32>().ok(), Some(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Panics
    ///
    /// Inside an async context (tokio's `blocking_recv` panics there).
    pub fn blocking_recv(&mut self) -> Option<Message> {
        self.messages.blocking_recv()
    }

    /// Monitors `pid`: its `Down` comes through [`recv`](Self::recv).
    ///
    /// The mailbox's process makes the monitor when it takes this request in,
    /// so the monitor is not ordered with what this thread sends `pid` next
    /// (this thread is not a process; Erlang's order between one sender and
    /// one receiver does not reach it): if `pid` ends before the monitor is
    /// made, the `Down` says `NoProc`. [`Handle::watch`] makes its monitor
    /// from the calling thread, ordered with what that thread sends next.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use lariat::{Down, Reason, Runtime};
    ///
    /// let runtime = Runtime::new()?;
    /// let mut mailbox = runtime.handle().outside_mailbox()?;
    /// let worker = runtime.spawn(|cx| cx.receive::<()>())?;
    /// mailbox.monitor(worker);
    /// runtime.send(worker, ());
    /// let down = mailbox.recv().await.expect("running").downcast::<Down>().ok().expect("a Down");
    /// assert_eq!(down.object.pid(), Some(worker));
    /// // `Normal`, or `NoProc` if it had ended before the monitor was made.
    /// assert!(matches!(down.reason, Reason::Normal | Reason::NoProc));
    /// # Ok(())
    /// # }
    /// ```
    pub fn monitor(&self, pid: Pid) {
        self.handle.send(self.pid, Command::Monitor(pid));
    }
}

impl Drop for OutsideMailbox {
    fn drop(&mut self) {
        self.handle.send(self.pid, Command::Close);
    }
}

impl Handle {
    /// An [`OutsideMailbox`]: a pid that async code receives from.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use lariat::{Exit, Reason, Runtime};
    ///
    /// let runtime = Runtime::new()?;
    /// let mut mailbox = runtime.handle().outside_mailbox()?;
    /// let to = mailbox.pid();
    /// // A process links to it and fails: the mailbox traps that as an `Exit`.
    /// let worker = runtime.spawn(move |cx| {
    ///     cx.link(to)?;
    ///     Err(Reason::error("gave up"))
    /// })?;
    /// let exit = mailbox.recv().await.expect("running").downcast::<Exit>().ok().expect("an Exit");
    /// assert_eq!((exit.from, exit.reason), (worker, Reason::error("gave up")));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if its process cannot start (the process table is full,
    /// or the runtime is shutting down).
    pub fn outside_mailbox(&self) -> Result<OutsideMailbox, SpawnError> {
        OutsideMailbox::new(self, None, None)
    }

    /// From async code: sends `to` the message `request(reply_to)` and waits
    /// for its answer, the first message of type `T` that arrives at
    /// `reply_to` (the process answers with `cx.send(reply_to, answer)`).
    /// `to` is monitored meanwhile: if it ends first, or was gone,
    /// `Err(CallError::Exited(reason))` (`NoProc` for the gone); after
    /// `timeout`, `Err(CallError::Timeout)`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use lariat::{Pid, Runtime};
    ///
    /// struct Double(u64, Pid);
    ///
    /// let runtime = Runtime::new()?;
    /// let doubler = runtime.spawn(|cx| loop {
    ///     let Double(n, reply_to) = cx.receive()?;
    ///     cx.send(reply_to, n * 2);
    /// })?;
    /// let handle = runtime.handle();
    /// let answer: u64 = handle.call(doubler, |reply_to| Double(21, reply_to), Duration::from_secs(5)).await?;
    /// assert_eq!(answer, 42);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call<T, M>(
        &self,
        to: Pid,
        request: impl FnOnce(Pid) -> M + Send + 'static,
        timeout: Duration,
    ) -> Result<T, CallError>
    where
        T: Send + 'static,
        M: Send + 'static,
    {
        let send_request = move |cx: &mut Cx| {
            let reply_to = cx.pid();
            cx.send(to, request(reply_to));
        };
        let first = First { watch: to, request: Some(Box::new(send_request)) };
        let mut mailbox = OutsideMailbox::new(self, Some(first), None).map_err(CallError::Spawn)?;
        let answer = async {
            while let Some(message) = mailbox.recv().await {
                let message = match message.downcast::<T>() {
                    Ok(answer) => return Ok(answer),
                    Err(message) => message,
                };
                if let Ok(down) = message.downcast::<Down>() {
                    return Err(CallError::Exited(down.reason));
                }
            }
            Err(CallError::MailboxEnded)
        };
        tokio::time::timeout(timeout, answer).await.unwrap_or(Err(CallError::Timeout))
    }

    /// From async code: waits until `pid` ends and gives its `Down` (reason
    /// `NoProc` if it was gone already). The monitor is made when `watch` is
    /// called, from the calling thread, before the future is first polled: it
    /// is in place before anything this thread sends `pid` afterwards, so a
    /// stop sent after `watch` is reported with its real reason.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use lariat::{Monitored, Reason, Runtime};
    ///
    /// struct Stop;
    ///
    /// let runtime = Runtime::new()?;
    /// let handle = runtime.handle();
    /// let worker = runtime.spawn(|cx| {
    ///     cx.receive::<Stop>()?;
    ///     Err(Reason::error("told to stop"))
    /// })?;
    /// let ended = handle.watch(worker);
    /// handle.send(worker, Stop);
    /// let down = ended.await?;
    /// assert_eq!(down.object, Monitored::Pid(worker));
    /// assert_eq!(down.reason, Reason::error("told to stop"));
    /// // Gone now: `NoProc` at once.
    /// assert_eq!(handle.watch(worker).await?.reason, Reason::NoProc);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpawnError`] if the watching process cannot start (the process table
    /// is full, or the runtime is shutting down).
    pub fn watch(&self, pid: Pid) -> impl std::future::Future<Output = Result<Down, SpawnError>> + Send + 'static {
        // The monitor is made now, from this thread, not when the future
        // first runs: a stop this thread sends `pid` next comes after it.
        let watching = self.make_ref();
        let mailbox = OutsideMailbox::new(self, None, Some((watching, pid)));
        if let Ok(mailbox) = &mailbox {
            self.monitor_for(mailbox.pid, pid, watching);
        }
        async move {
            let mut mailbox = mailbox?;
            while let Some(message) = mailbox.recv().await {
                if let Ok(down) = message.downcast::<Down>() {
                    return Ok(down);
                }
            }
            Err(SpawnError::ShuttingDown)
        }
    }
}

/// A future's outcome, sent to the process that waits for it.
struct FutureOutcome<T> {
    tag: crate::pid::Ref,
    /// `None`: the future never finished (it panicked, or its runtime dropped it).
    output: Option<T>,
}

/// Sends the waiting process a `FutureOutcome` without output if the task
/// is dropped before it sent one (a panic in the future, its runtime shutting
/// down): the process never waits for an answer that cannot come.
struct ReportIfLost<T: Send + 'static> {
    handle: Handle,
    to: Pid,
    tag: crate::pid::Ref,
    sent: bool,
    output: std::marker::PhantomData<fn() -> T>,
}

impl<T: Send + 'static> Drop for ReportIfLost<T> {
    fn drop(&mut self) {
        if !self.sent {
            self.handle.send(self.to, FutureOutcome::<T> { tag: self.tag, output: None });
        }
    }
}

/// Aborts the task when the waiting process leaves early (told to die, or
/// unwound at shutdown).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Cx {
    /// Runs `future` on the tokio runtime `on` and waits for its output as in
    /// a receive: this worker runs other processes meanwhile, and other
    /// messages stay in the mailbox. If this process is told to die while it
    /// waits, the future is aborted and the reason returned. If the future
    /// panics, or its runtime drops it, `Err` says so.
    ///
    /// ```
    /// use lariat::{Reason, Runtime};
    ///
    /// let tokio = tokio::runtime::Runtime::new()?;
    /// let on = tokio.handle().clone();
    /// let runtime = Runtime::new()?;
    /// let sum = runtime.block_on(move |cx| {
    ///     let a = cx.await_future(&on, async { 40 })?;
    ///     let b = cx.await_future(&on, async {
    ///         tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    ///         2
    ///     })?;
    ///     Ok::<_, Reason>(a + b)
    /// })?;
    /// assert_eq!(sum, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn await_future<F>(&mut self, on: &tokio::runtime::Handle, future: F) -> Result<F::Output, Reason>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let me = self.pid();
        let tag = self.kernel().make_ref();
        let handle = self.kernel().handle();
        let mut report =
            ReportIfLost::<F::Output> { handle, to: me, tag, sent: false, output: std::marker::PhantomData };
        let mut task = AbortOnDrop(Some(on.spawn(async move {
            let output = future.await;
            report.sent = true;
            report.handle.send(report.to, FutureOutcome { tag: report.tag, output: Some(output) });
        })));
        let outcome = self.receive_if::<FutureOutcome<F::Output>>(|done| done.tag == tag)?;
        // Finished (or lost): nothing to abort.
        task.0 = None;
        outcome.output.ok_or_else(|| Reason::error("the future panicked, or its tokio runtime dropped it"))
    }
}
