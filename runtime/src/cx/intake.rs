//! Taking in signals: what arrived in the signal queue moves into the
//! mailbox, and control signals take effect, in arrival order.
//!
//! Invariants: a process takes in its queue after every resume before it
//! waits again (so a wake-up is never lost: `signal_queue`); signals are
//! applied one at a time in the order they arrived, each with the meaning
//! `process::take_in` gives it; once a process must end, what it takes in is
//! answered as the dead answer it.

use super::Cx;
use super::gate::Open;
use crate::mailbox::Message;
use crate::process::{Alive, Answer, Receiver, Signal, prefetch, take_in};
use crate::reason::Reason;
use crate::signal_queue::Batch;

/// A batch of more signals than this reserves mailbox room for all of them at once.
const RESERVE_ABOVE: usize = 8;

impl Cx {
    /// Moves arrived signals into the mailbox, applying control signals;
    /// `true` if anything had arrived.
    pub(super) fn take_in_signals(&mut self, open: Open) -> bool {
        let batch = self.pcb().signals.take_all();
        if batch.len() == 0 {
            return false;
        }
        match batch.into_small_only() {
            // Nothing to apply: the messages join the mailbox in their nodes
            // (or, once it is ending, are dropped as the dead do).
            Ok(messages) if self.exit_reason.is_none() => self.mailbox.append_arrived(messages),
            Ok(mut messages) => {
                while let Some(message) = messages.pop_front() {
                    crate::crash::drop_contained(message);
                }
            }
            Err(batch) => self.apply_batch(open, batch),
        }
        true
    }

    /// Applies a batch holding control signals, in order. Out of line: its
    /// frame is big (every kind of signal is handled in it), and the common
    /// take-in (nothing or only messages) must not reach that deep into the
    /// stack, whose lines are cold each time a process is resumed.
    #[inline(never)]
    fn apply_batch(&mut self, open: Open, batch: Batch<Signal, Message>) {
        // One allocation for a big batch rather than repeated doubling; none
        // for the usual few signals (a lone exit signal that kills this
        // process must not allocate a mailbox buffer only to free it).
        if batch.len() > RESERVE_ABOVE {
            self.mailbox.reserve(batch.len());
        }
        for signal in batch {
            self.take_in(open, signal);
        }
    }

    /// A signal this process sends itself (`exit(self(), reason)`): through
    /// its own queue, so signals that came earlier are taken in first, and in
    /// effect before this returns: `Err(reason)` if it must now end.
    pub(super) fn signal_self(&mut self, open: Open, signal: Signal) -> Result<(), Reason> {
        if self.pcb().signals.push(signal).is_ok() {
            self.take_in_signals(open);
        }
        self.check_alive()
    }

    /// Takes in one signal (its meaning: `process::take_in`) and does what
    /// its answer asks.
    fn take_in(&mut self, open: Open, signal: Signal) {
        let me = self.pid();
        let receiver = match self.exit_reason {
            // Already ending: it answers as the dead do (the rest of the queue
            // is answered the same way at exit), questions once it is gone.
            Some(_) => Receiver::Ending,
            None => Receiver::Alive(Alive {
                links: &mut self.watch.links,
                monitors: &mut self.watch.monitors,
                mailbox: &mut self.mailbox,
                aliases: &mut self.aliases,
                trap_exit: self.watch.trap_exit,
            }),
        };
        match take_in(me, signal, receiver) {
            Answer::Nothing => {}
            Answer::Send(to, signal) => {
                self.post(open).deliver(to, signal);
            }
            Answer::Info(request) => {
                let info = self.own_info();
                if let Some((asker, answer)) = request.answer(Some(info)) {
                    self.post(open).deliver(asker, Signal::Message(Message::new(answer)));
                }
            }
            Answer::Die(reason) => self.die(open, reason),
            // Back into its own queue: taken in again, or answered as the dead
            // answer at the end of its exit, after its name and pid are free.
            Answer::Defer(signal) => self.post(open).to_self(signal),
        }
    }

    /// This process must end with `reason`: from now on it is invisible (links
    /// get `noproc`, sends are dropped) and its blocking calls return `Err`.
    fn die(&mut self, open: Open, reason: Reason) {
        if self.exit_reason.is_none() {
            // A `normal` exit signal kills no non-trapping link: no prefetch.
            if !reason.is_normal() {
                let guard = self.post(open).pin();
                let table = &self.kernel().table;
                let linked = self.watch.links.active().filter_map(|pid| table.get(pid, &guard));
                self.exit_prefetch = prefetch::links_of_a_dying_process(linked);
            }
            self.exit_reason = Some(reason);
            self.pcb().state.exit();
        }
    }

    /// The second stage of the dying process's prefetch (see
    /// `prefetch::links_of_a_dying_process`), once it has unwound.
    pub(super) fn prefetch_first_link_stack(&mut self) {
        if let Some(pcb) = self.exit_prefetch.take() {
            // SAFETY: found in the table during this run (`die`), and the
            // worker has been pinned since; cleared at every suspension.
            unsafe { pcb.as_ref() }.prefetch_exit_path();
        }
    }
}
