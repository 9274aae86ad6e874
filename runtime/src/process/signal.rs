//! The signals a process can be sent, and what each one means to its
//! receiver, alive or gone: [`take_in`] is the one place that says so
//! (docs/semantics.md). A live process applies its answer in `Cx`, the
//! kernel applies it for a process that is gone; neither decides anything.

use super::{AliveRequest, Exit, InfoRequest};
use crate::alias::Aliases;
use crate::link::{ExitAction, LinkTable, handle_exit_signal};
use crate::mailbox::{Mailbox, Message};
use crate::monitor::{Down, Monitors};
use crate::pid::{Pid, Ref};
use crate::reason::Reason;

/// A signal queued to a process: every kind goes through the one queue, so
/// signals from one process to another keep their order (semantics.md §1).
pub(crate) enum Signal {
    Message(Message),
    /// A message sent to the receiver's alias `alias`: it joins the mailbox
    /// only if the alias is active when it is taken in (`crate::alias`).
    ToAlias {
        alias: Ref,
        message: Message,
    },
    /// `from` linked to the receiver.
    Link {
        from: Pid,
    },
    /// `from` unlinked the receiver; answer with `UnlinkAck { id }`.
    Unlink {
        from: Pid,
        id: u64,
    },
    /// The receiver's unlink `id` reached `from`.
    UnlinkAck {
        from: Pid,
        id: u64,
    },
    /// An exit signal: over a link (`linked`, the sender died) or from `exit/2`.
    Exit {
        from: Pid,
        reason: Reason,
        linked: bool,
    },
    /// `from` monitors the receiver under `monitor`.
    Monitor {
        from: Pid,
        monitor: Ref,
    },
    /// A watcher dropped its monitor `monitor` on the receiver.
    Demonitor {
        monitor: Ref,
    },
    /// The process the receiver monitors under `monitor` ended.
    Down {
        monitor: Ref,
        reason: Reason,
    },
    /// Someone asks for the receiver's [`ProcessInfo`](super::ProcessInfo).
    Info(Box<InfoRequest>),
    /// Someone asks whether the receiver is alive.
    IsAlive(Box<AliveRequest>),
}

impl From<Message> for Signal {
    fn from(message: Message) -> Signal {
        Signal::Message(message)
    }
}

/// Who takes a signal in.
pub(crate) enum Receiver<'a> {
    /// A process that is alive and not ending: its own parts.
    Alive(Alive<'a>),
    /// A process that is ending: it answers as the dead do, except that a
    /// question about it waits until it is gone (`Answer::Defer`).
    Ending,
    /// A process that has ended.
    Gone,
}

/// The parts of a live process a signal can change.
pub(crate) struct Alive<'a> {
    pub(crate) links: &'a mut LinkTable,
    pub(crate) monitors: &'a mut Monitors,
    pub(crate) mailbox: &'a mut Mailbox,
    pub(crate) aliases: &'a mut Aliases,
    pub(crate) trap_exit: bool,
}

/// What taking in a signal asks of whoever took it in, beyond the changes
/// to the receiver's own parts.
pub(crate) enum Answer {
    Nothing,
    /// Deliver this signal to this process (an acknowledgement, a `noproc`).
    Send(Pid, Signal),
    /// Answer this request with the (live) receiver's [`ProcessInfo`](super::ProcessInfo).
    Info(Box<InfoRequest>),
    /// The receiver must end with this reason.
    Die(Reason),
    /// Take this signal in again later: a question, link or monitor to a
    /// process that is ending goes back into its own queue (deferred again at
    /// every take-in until the exit), and is answered as the dead answer at
    /// exit step 6, after its exit signals and `Down`s.
    Defer(Signal),
}

/// Takes in `signal`, sent to process `me`: changes what it changes in a live
/// receiver and says what else must happen. Signals are taken in one at a
/// time, in the order they arrived.
// Inlined into its callers: out of line, its frame is one more stretch of
// the receiver's stack that an exit signal's take-in writes, and a resumed
// process's stack lines are cold.
#[inline(always)]
pub(crate) fn take_in(me: Pid, signal: Signal, receiver: Receiver<'_>) -> Answer {
    use Receiver::{Alive, Gone};
    let receiver = match receiver {
        // A question answered now would say "gone" while its name and pid are
        // still taken, and a link or monitor answered now would put its
        // `noproc` ahead of this process's own exit signal or `Down` to the
        // same asker (one sender's signals keep their order): they wait for
        // the end of the exit.
        Receiver::Ending
            if matches!(
                signal,
                Signal::Info(_) | Signal::IsAlive(_) | Signal::Link { .. } | Signal::Monitor { .. }
            ) =>
        {
            return Answer::Defer(signal);
        }
        Receiver::Ending => Gone,
        receiver => receiver,
    };
    match (signal, receiver) {
        (Signal::Message(message), Alive(alive)) => {
            alive.mailbox.push(message);
            Answer::Nothing
        }
        // A message's destructor is the user's: contained.
        (Signal::Message(message) | Signal::ToAlias { message, .. }, Gone) => {
            crate::crash::drop_contained(message);
            Answer::Nothing
        }
        (Signal::ToAlias { alias, message }, Alive(alive)) => {
            if alive.aliases.admit(alias) {
                alive.mailbox.push(message);
            } else {
                crate::crash::drop_contained(message);
            }
            Answer::Nothing
        }
        (Signal::Link { from }, Alive(alive)) => {
            alive.links.on_link(from);
            Answer::Nothing
        }
        (Signal::Link { from }, Gone) => {
            Answer::Send(from, Signal::Exit { from: me, reason: Reason::NoProc, linked: true })
        }
        (Signal::Unlink { from, id }, Alive(alive)) => {
            alive.links.on_unlink(from);
            Answer::Send(from, Signal::UnlinkAck { from: me, id })
        }
        (Signal::Unlink { from, id }, Gone) => Answer::Send(from, Signal::UnlinkAck { from: me, id }),
        (Signal::UnlinkAck { from, id }, Alive(alive)) => {
            alive.links.on_unlink_ack(from, id);
            Answer::Nothing
        }
        (Signal::Exit { from, reason, linked }, Alive(alive)) => {
            match handle_exit_signal(alive.links, me, alive.trap_exit, from, reason, linked) {
                ExitAction::Ignore => Answer::Nothing,
                ExitAction::Message(reason) => {
                    alive.mailbox.push(Message::new(Exit { from, reason }));
                    Answer::Nothing
                }
                ExitAction::Die(reason) => Answer::Die(reason),
            }
        }
        (Signal::Monitor { from, monitor }, Alive(alive)) => {
            alive.monitors.on_monitor(monitor, from);
            Answer::Nothing
        }
        (Signal::Monitor { from, monitor }, Gone) => {
            Answer::Send(from, Signal::Down { monitor, reason: Reason::NoProc })
        }
        (Signal::Demonitor { monitor }, Alive(alive)) => {
            alive.monitors.on_demonitor(monitor);
            Answer::Nothing
        }
        (Signal::Down { monitor, reason }, Alive(alive)) => {
            if let Some(object) = alive.monitors.on_down(monitor) {
                alive.mailbox.push(Message::new(Down { monitor, object, reason }));
            }
            Answer::Nothing
        }
        (Signal::Info(request), Alive(_)) => Answer::Info(request),
        (Signal::Info(request), Gone) => reply(request.answer(None)),
        (Signal::IsAlive(request), Alive(_)) => reply(request.answer(Some(()))),
        (Signal::IsAlive(request), Gone) => reply(request.answer(None)),
        (Signal::UnlinkAck { .. } | Signal::Exit { .. } | Signal::Demonitor { .. } | Signal::Down { .. }, Gone) => {
            Answer::Nothing
        }
        (_, Receiver::Ending) => unreachable!("an ending receiver is taken as gone above"),
    }
}

/// The message that answers a question asked by a process (none for a thread
/// outside the runtime, answered already).
fn reply<T: Send + 'static>(answered: Option<(Pid, super::Reply<T>)>) -> Answer {
    match answered {
        Some((asker, reply)) => Answer::Send(asker, Signal::Message(Message::new(reply))),
        None => Answer::Nothing,
    }
}
