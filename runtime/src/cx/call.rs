//! References, aliases and the synchronous call (`gen:call` in OTP 24+).
//!
//! A call takes in what arrived and marks the end of the mailbox, makes an
//! alias, monitors the server and sends it a [`Request`] that carries a
//! [`ReplyTo`]; then it waits for the reply sent to that alias, or the
//! server's `Down`, looking only at what arrived after the mark (no scan of an
//! older backlog, as the BEAM's receive marker). However it ends, the alias
//! is deactivated and the monitor dropped with its `Down` flushed, so nothing
//! of the call stays behind: a reply that comes later is dropped when taken in.

use std::marker::PhantomData;
use std::time::Duration;

use super::Cx;
use super::gate::Call;
use crate::alias::{Alias, Lasts};
use crate::error::CallError;
use crate::mailbox::{Marker, Message};
use crate::monitor::Down;
use crate::pid::{Pid, Ref};
use crate::process::Signal;
use crate::reason::Reason;

/// A call as the server receives it: the request, and where its answer goes.
///
/// A server receives `Request<Q, A>` for each kind of request it serves (`Q`
/// the request, `A` the answer the caller waits for) and answers through
/// [`ReplyTo::reply`], now or later, from itself or from another process.
pub struct Request<Q, A> {
    /// What the caller asks.
    pub request: Q,
    /// Where the answer goes.
    pub reply_to: ReplyTo<A>,
}

/// Where the answer to one call goes (OTP's `From`): the caller's alias for
/// that call. Answering consumes it; an answer after the caller gave up
/// (timeout, or the caller ended) is dropped.
pub struct ReplyTo<A> {
    alias: Alias,
    answer: PhantomData<fn(A)>,
}

impl<A> ReplyTo<A> {
    /// The process that made the call.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Pid, Reason, Request, Runtime};
    /// struct WhoAmI;
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let server = cx.spawn(|cx| loop {
    ///         let call = cx.receive::<Request<WhoAmI, Pid>>()?;
    ///         let caller = call.reply_to.caller();
    ///         call.reply_to.reply(cx, caller);
    ///     })?;
    ///     let me: Pid = cx.call(server, WhoAmI, Duration::from_secs(5))?;
    ///     assert_eq!(me, cx.pid());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn caller(&self) -> Pid {
        self.alias.pid()
    }
}

impl<A: Send + 'static> ReplyTo<A> {
    /// Sends the answer to the caller (`gen_server:reply/2`).
    ///
    /// The answer may come later, from another process: the `ReplyTo` can be
    /// sent along.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, ReplyTo, Request, Runtime};
    /// struct Slow(u32);
    ///
    /// let runtime = Runtime::new()?;
    /// let answer = runtime.block_on(|cx| {
    ///     let server = cx.spawn(|cx| loop {
    ///         let call = cx.receive::<Request<Slow, u32>>()?;
    ///         // A helper answers, so the server goes on serving meanwhile.
    ///         let helper = cx.spawn(|cx| {
    ///             let (Slow(n), reply_to) = cx.receive::<(Slow, ReplyTo<u32>)>()?;
    ///             reply_to.reply(cx, n + 1);
    ///             Ok(())
    ///         })?;
    ///         cx.send(helper, (call.request, call.reply_to));
    ///     })?;
    ///     let answer: u32 = cx.call(server, Slow(41), Duration::from_secs(5))?;
    ///     Ok::<_, Reason>(answer)
    /// })?;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reply(self, cx: &mut Cx, answer: A) {
        let reply = Reply { alias: self.alias.reference(), answer: Some(answer) };
        cx.send_to_alias(self.alias, reply);
    }
}

impl<A> std::fmt::Debug for ReplyTo<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReplyTo({})", self.alias)
    }
}

/// An answer as it travels to the caller's alias.
struct Reply<A> {
    alias: Ref,
    /// Taken by the caller's matcher (what is left is dropped with the message).
    answer: Option<A>,
}

/// How a call's wait ended.
enum Outcome<A> {
    Answer(A),
    Down(Reason),
}

impl Cx {
    /// A reference unique in this runtime (Erlang's `make_ref/0`).
    ///
    /// A ref tags a request so that its answer can be told from others.
    ///
    /// ```
    /// # use lariat::{Pid, Reason, Ref, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let (a, b) = (cx.make_ref(), cx.make_ref());
    ///     assert_ne!(a, b);
    ///     let me = cx.pid();
    ///     let echo = cx.spawn(|cx| loop {
    ///         let (from, tag) = cx.receive::<(Pid, Ref)>()?;
    ///         cx.send(from, tag);
    ///     })?;
    ///     cx.send(echo, (me, b));
    ///     cx.send(echo, (me, a));
    ///     assert_eq!(cx.receive_if::<Ref>(|tag| *tag == a)?, a);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn make_ref(&mut self) -> Ref {
        self.kernel().make_ref()
    }

    /// A new alias of this process, active until [`Cx::unalias`] (Erlang's
    /// `alias/0`): messages sent to it ([`Cx::send_to_alias`]) reach this
    /// process while it is active and are dropped after.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let alias = cx.alias();
    ///     cx.spawn(move |cx| {
    ///         cx.send_to_alias(alias, "through the alias");
    ///         Ok(())
    ///     })?;
    ///     assert_eq!(cx.receive::<&str>()?, "through the alias");
    ///     cx.unalias(alias);
    ///     cx.send_to_alias(alias, "too late");
    ///     assert_eq!(cx.receive_timeout::<&str>(Duration::ZERO)?, None, "dropped");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn alias(&mut self) -> Alias {
        self.new_alias(Lasts::UntilUnaliased)
    }

    /// A new alias of this process that lets in one message, then is inactive
    /// (Erlang's `alias([reply])`); [`Cx::unalias`] also ends it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let alias = cx.alias_for_reply();
    ///     cx.send_to_alias(alias, 1u32);
    ///     cx.send_to_alias(alias, 2u32);
    ///     assert_eq!(cx.receive_timeout::<u32>(Duration::ZERO)?, Some(1));
    ///     assert_eq!(cx.receive_timeout::<u32>(Duration::ZERO)?, None, "the second was dropped");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn alias_for_reply(&mut self) -> Alias {
        self.new_alias(Lasts::ForOneMessage)
    }

    fn new_alias(&mut self, lasts: Lasts) -> Alias {
        let alias = Alias::new(self.pid(), self.make_ref());
        self.aliases.activate(alias.reference(), lasts);
        alias
    }

    /// Deactivates `alias` (Erlang's `unalias/1`): messages sent to it that this
    /// process has not taken in yet, and any sent later, are dropped. `false` if
    /// it was not an active alias of this process.
    ///
    /// ```
    /// # use lariat::{Alias, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let alias = cx.alias();
    ///     assert!(cx.unalias(alias));
    ///     assert!(!cx.unalias(alias), "already inactive");
    ///
    ///     // Another process's alias is not this process's to end.
    ///     let me = cx.pid();
    ///     cx.spawn(move |cx| {
    ///         let theirs = cx.alias();
    ///         cx.send(me, theirs);
    ///         Ok(())
    ///     })?;
    ///     let theirs = cx.receive::<Alias>()?;
    ///     assert!(!cx.unalias(theirs));
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn unalias(&mut self, alias: Alias) -> bool {
        alias.pid() == self.pid() && self.aliases.deactivate(alias.reference())
    }

    /// Sends `message` to `alias` (Erlang's `Alias ! Message`): it reaches the
    /// alias's process if the alias is still active when that process takes it
    /// in; otherwise it is dropped, its destructor contained. Ordered with
    /// everything else this process sends to the alias's process.
    ///
    /// ```
    /// # use lariat::{Alias, Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let answer = runtime.block_on(|cx| {
    ///     let worker = cx.spawn(|cx| {
    ///         let (n, reply_to) = cx.receive::<(u32, Alias)>()?;
    ///         cx.send_to_alias(reply_to, n * 2);
    ///         Ok(())
    ///     })?;
    ///     let reply_to = cx.alias_for_reply();
    ///     cx.send(worker, (21u32, reply_to));
    ///     cx.receive::<u32>()
    /// })?;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_to_alias<T: Send + 'static>(&mut self, alias: Alias, message: T) {
        let Ok(open) = self.gate(Call::Act(1)) else {
            crate::crash::drop_contained(message);
            return;
        };
        let signal = Signal::ToAlias { alias: alias.reference(), message: Message::new(message) };
        self.post(open).deliver(alias.pid(), signal);
    }

    /// Calls `server` (Erlang's `gen_server:call/3`): sends it a
    /// [`Request`]`<Q, A>` and waits for its answer, at most `timeout`.
    ///
    /// The server is monitored while the call waits, and the wait looks only
    /// at messages that arrived after the call began, so a call costs the same
    /// from a process with a long backlog as from one with none.
    ///
    /// # Errors
    ///
    /// - [`CallError::Exited`] with the server's exit reason if it ends before
    ///   it answers (`NoProc` if it was already gone);
    /// - [`CallError::Timeout`] if no answer came in time (an answer that comes
    ///   later is dropped);
    /// - [`CallError::Ended`] if this process was told to end while it waited;
    /// - [`CallError::CallingSelf`] if `server` is this process.
    ///
    /// Each converts into a [`Reason`], so `cx.call(..)?` ends the caller as
    /// Erlang's call exits it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lariat::{Reason, Request, Runtime};
    ///
    /// struct Double(u64);
    ///
    /// let runtime = Runtime::new()?;
    /// let answer = runtime.block_on(|cx| {
    ///     let server = cx.spawn(|cx| loop {
    ///         let call = cx.receive::<Request<Double, u64>>()?;
    ///         let Double(n) = call.request;
    ///         call.reply_to.reply(cx, 2 * n);
    ///     })?;
    ///     let answer: u64 = cx.call(server, Double(21), Duration::from_secs(5))?;
    ///     Ok::<_, Reason>(answer)
    /// })?;
    /// assert_eq!(answer, 42);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn call<Q, A>(&mut self, server: Pid, request: Q, timeout: Duration) -> Result<A, CallError>
    where
        Q: Send + 'static,
        A: Send + 'static,
    {
        let open = self.gate(Call::Act(1)).map_err(CallError::Ended)?;
        if server == self.pid() {
            // It could only time out: OTP refuses at once (`calling_self`).
            return Err(CallError::CallingSelf);
        }
        let marker = self.mark_mailbox(open);
        let alias = self.alias_for_reply();
        let monitor = self.monitor(server);
        self.send(server, Request { request, reply_to: ReplyTo::<A> { alias, answer: PhantomData } });
        let waited = self.receive_after(Some(marker), Some(timeout), |message| answer_or_down(message, alias, monitor));
        self.unalias(alias);
        let outcome = match waited {
            Ok(Some(outcome)) => Some(outcome),
            // An answer taken in before the alias went is still this call's.
            Ok(None) => self.take_after(marker, |message| answer_or_down(message, alias, monitor)),
            // Ending: its monitors and aliases end with it (a runtime call
            // that acts would unwind it here).
            Err(reason) => return Err(CallError::Ended(reason)),
        };
        if !matches!(outcome, Some(Outcome::Down(_))) {
            self.forget_monitor(monitor, marker);
        }
        match outcome {
            Some(Outcome::Answer(answer)) => Ok(answer),
            Some(Outcome::Down(reason)) => Err(CallError::Exited(reason)),
            None => Err(CallError::Timeout),
        }
    }

    /// Drops `monitor` and its `Down` if one came (it came after `marker`).
    fn forget_monitor(&mut self, monitor: Ref, marker: Marker) {
        self.demonitor(monitor);
        let _ = self.take_after(marker, |message| {
            message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
        });
    }

    /// The first message after `marker` that `matcher` wants, taking in what
    /// arrived first; never waits.
    fn take_after<R>(&mut self, marker: Marker, matcher: impl FnMut(&mut Message) -> Option<R>) -> Option<R> {
        self.take_in_if_allowed();
        let mut position = self.mailbox.position_of(marker);
        self.mailbox.take_first(&mut position, matcher).0
    }
}

/// The call's matcher: its answer (by alias) or its server's `Down` (by monitor).
fn answer_or_down<A: 'static>(message: &mut Message, alias: Alias, monitor: Ref) -> Option<Outcome<A>> {
    if let Some(reply) = message.downcast_mut::<Reply<A>>() {
        if reply.alias == alias.reference() {
            return reply.answer.take().map(Outcome::Answer);
        }
        return None;
    }
    let down = message.downcast_ref::<Down>().filter(|down| down.monitor == monitor)?;
    Some(Outcome::Down(down.reason.clone()))
}
