//! Questions to a process from others: Erlang's `process_info/1` and
//! `is_process_alive/1`.
//!
//! A process's links, monitors and mailbox belong to it alone, so another process
//! cannot read them directly. As in ERTS, asking is a signal: the request goes
//! through the target's queue and the target answers it the next time it takes
//! in signals (in a receive, or at the end of a time slice). The answer therefore
//! reflects every signal the asker sent before asking (semantics.md §1). A target
//! that is gone, or dies before answering, answers `None`; a request dropped
//! unanswered (the runtime shut down) answers `None` too, so no asker waits forever.

use std::sync::Arc;

use super::Waiter;
use crate::monitor::Monitored;
use crate::pid::{Pid, Ref};
use crate::registry::Name;

/// A snapshot of one process, as it was when it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessInfo {
    /// The process.
    pub pid: Pid,
    /// Its registered name, if it has one.
    pub registered_name: Option<Name>,
    /// The processes it is linked to.
    pub links: Vec<Pid>,
    /// The monitors it holds: (ref, what it watches).
    pub monitors: Vec<(Ref, Monitored)>,
    /// The processes monitoring it.
    pub monitored_by: Vec<Pid>,
    /// Whether it traps exit signals.
    pub trap_exit: bool,
    /// Messages in its mailbox.
    pub mailbox_len: usize,
    /// Reductions it has spent so far.
    pub reductions: u64,
}

/// Where an answer goes.
pub(crate) enum ReplyTo<T> {
    /// To a process, as a [`Reply`] message tagged `request`.
    Process { pid: Pid, request: Ref },
    /// To a thread outside the runtime, blocked in a `Handle` call.
    Thread(Arc<Waiter<Option<T>>>),
}

/// A question to a process, travelling as a signal; answered `Some` by a live
/// process, `None` by one that is gone.
pub(crate) struct Request<T> {
    reply_to: Option<ReplyTo<T>>,
}

/// `process_info`: the answer is the target's [`ProcessInfo`].
pub(crate) type InfoRequest = Request<ProcessInfo>;

/// `is_alive`: the answer is only whether it is there. A process that is
/// ending keeps the question until its exit has freed its name and its pid,
/// so `false` means gone (docs/semantics.md §1).
pub(crate) type AliveRequest = Request<()>;

/// The answer to a process's request, as the message it waits for.
pub(crate) struct Reply<T> {
    pub(crate) request: Ref,
    pub(crate) value: Option<T>,
}

impl<T: Send + 'static> Request<T> {
    pub(crate) fn new(reply_to: ReplyTo<T>) -> Request<T> {
        Request { reply_to: Some(reply_to) }
    }

    /// Answers the request: to a thread at once; to a process, the message to
    /// deliver and to whom.
    pub(crate) fn answer(mut self, value: Option<T>) -> Option<(Pid, Reply<T>)> {
        match self.reply_to.take()? {
            ReplyTo::Process { pid, request } => Some((pid, Reply { request, value })),
            ReplyTo::Thread(waiter) => {
                waiter.set(value);
                None
            }
        }
    }
}

impl<T> Drop for Request<T> {
    fn drop(&mut self) {
        // Dropped unanswered (a queue sealed at shutdown): release a waiting thread.
        // A waiting process is being shut down too, so it needs no answer.
        if let Some(ReplyTo::Thread(waiter)) = self.reply_to.take() {
            waiter.set(None);
        }
    }
}
