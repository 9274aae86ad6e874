//! Delivery: a signal into the receiver's queue, the wake-up it may cause,
//! and what a signal to a process that is gone comes to.

use std::ptr::NonNull;

use super::{Kernel, OUTSIDE, Port};
use crate::mailbox::Message;
use crate::pid::Pid;
use crate::process::{Answer, Pcb, Receiver, Signal, take_in};
use crate::reason::Reason;
use crate::scheduler::ProcRef;
use crate::signal_queue::Pushed;

impl Kernel {
    /// Pushes `signal` to `to` and wakes it. `false` if `to` is gone (not in the
    /// table, or its queue sealed at exit): the signal was dropped.
    pub(crate) fn deliver(&self, to: Pid, signal: Signal, port: Option<&impl Port>) -> bool {
        let guard = self.pin(port);
        let Some(pcb) = self.table.get(to, &guard) else {
            // A user destructor (a message's) may panic: the sender must not.
            crate::crash::drop_contained(signal);
            return false;
        };
        // An exit signal with a `normal` reason kills nobody: not worth the
        // deeper prefetch.
        let exit = matches!(&signal, Signal::Exit { reason, .. } if !reason.is_normal());
        let pushed = match signal {
            // A message takes a node of its own size (see `SignalQueue`).
            Signal::Message(message) => pcb.signals.push_small(message).map_err(Signal::Message),
            signal => pcb.signals.push(signal),
        };
        match pushed {
            Err(refused) => {
                // Sealed at its exit: dropped, contained as above.
                crate::crash::drop_contained(refused);
                false
            }
            Ok(pushed) => {
                self.wake_if_first(pcb, pushed, exit, port);
                true
            }
        }
    }

    /// After a push: a push onto an empty queue wakes its owner (see `signal_queue`).
    fn wake_if_first(&self, pcb: &Pcb, pushed: Pushed, exit: bool, port: Option<&impl Port>) {
        if pushed == Pushed::First {
            self.wake(pcb, exit, port);
        }
    }

    /// Wakes `pcb` if it waits (`StateWord::wake`), and queues it on its home
    /// worker: `exit` says an exit signal woke it (a prefetch hint).
    #[inline]
    fn wake(&self, pcb: &Pcb, exit: bool, port: Option<&impl Port>) {
        if !pcb.state.wake() {
            return;
        }
        pcb.hints.woken(exit);
        let process = ProcRef(NonNull::from(pcb));
        // A process woken from waiting has run, so it has a home (`Pcb::home`).
        let home = pcb.home();
        match port {
            Some(port) if home == Some(port.index()) => port.queue_woken_here(process),
            Some(port) => port.queue_woken_elsewhere(process, home),
            None => self.scheduler.push_woken_elsewhere(process, home),
        }
    }

    /// Answers a signal that reached a process which has ended (its meaning:
    /// `process::take_in`, for a receiver that is gone).
    pub(crate) fn answer_for_the_dead(&self, dead: Pid, signal: Signal, port: Option<&impl Port>) {
        if let Answer::Send(to, answer) = take_in(dead, signal, Receiver::Gone) {
            self.deliver(to, answer, port);
        }
    }

    /// Wakes `pid` from a thread that is no worker, with no signal: it runs
    /// again and looks at what it waits for (a `Cx::blocking` job it handed
    /// out has finished). Nothing if it is gone; a spurious wake-up of a
    /// process waiting for something else only makes it look again.
    pub(crate) fn wake_from_outside(&self, pid: Pid) {
        let guard = self.pin(OUTSIDE);
        if let Some(pcb) = self.table.get(pid, &guard) {
            self.wake(pcb, false, OUTSIDE);
        }
    }

    /// `exit(pid, reason)` from a thread that is no process (from the reserved pid).
    pub(crate) fn exit_from_outside(&self, pid: Pid, reason: Reason) {
        self.deliver(pid, Signal::Exit { from: self.reserved_pid(), reason, linked: false }, OUTSIDE);
    }

    /// A send from a thread that is no process (from the reserved pid).
    pub(crate) fn send_from_outside<T: Send + 'static>(&self, to: Pid, message: T) {
        self.deliver(to, Signal::Message(Message::new(message)), OUTSIDE);
    }
}
