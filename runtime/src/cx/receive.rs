//! The receive engine: looking through the mailbox, taking in what arrived,
//! waiting, and the timer of a receive that waits with a timeout.
//!
//! Invariants: a receive takes at most one message, the first its matcher
//! wants, and leaves the others in order; while it waits it looks only at
//! newly arrived messages (the scan position is kept across waits); at most
//! one timer is armed per process, and it is disarmed when its receive ends
//! early (a match, or told to die), so a loop of long timeouts met early
//! does not pile timers up; a message that arrives as the timer fires is
//! still matched.

use std::time::Duration;

use super::Cx;
use super::gate::{Call, Open};
use crate::mailbox::{Marker, Message, ScanPosition};
use crate::process::Suspend;
use crate::reason::Reason;
use crate::timer::TimerKey;

/// Messages scanned by a receive that cost one reduction.
const SCANNED_PER_REDUCTION: usize = 64;

/// The timer of the receive in progress (or of one whose matcher panicked,
/// disarmed by the next receive or at exit).
#[derive(Default)]
pub(super) struct ReceiveTimer {
    /// Which wait the armed timer belongs to: a timer that fires for an
    /// earlier wait finds another generation and wakes nobody.
    generation: u64,
    armed: Option<TimerKey>,
}

impl Cx {
    /// Waits for the first message `matcher` wants, or until `timeout`.
    #[inline(always)]
    pub(super) fn receive_inner<R>(
        &mut self,
        timeout: Option<Duration>,
        matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        self.receive_after(None, timeout, matcher)
    }

    /// [`Cx::receive_inner`] looking only at what arrived after `marker`
    /// (from the oldest message if `None`).
    pub(super) fn receive_after<R>(
        &mut self,
        marker: Option<Marker>,
        timeout: Option<Duration>,
        matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        if self.timer.armed.is_some() {
            // Left armed by a receive whose matcher panicked.
            self.disarm_timer();
        }
        let open = self.gate(Call::Block(1))?;
        let start = marker.map(|marker| self.mailbox.position_of(marker)).unwrap_or_default();
        let result = self.match_or_wait(open, start, timeout, matcher);
        if self.timer.armed.is_some() {
            if matches!(result, Ok(None)) {
                // Timed out: the timer fired and left the heap.
                self.timer.armed = None;
            } else {
                // Ended before its timer fired (a match, or told to die): disarm
                // it, or a loop of long timeouts met early would pile up one per receive.
                self.disarm_timer();
            }
        }
        result
    }

    /// Takes in what arrived and marks the end of the mailbox: a receive
    /// after the mark (`receive_after`) never looks at what came before it.
    pub(super) fn mark_mailbox(&mut self, open: Open) -> Marker {
        self.take_in_signals(open);
        self.mailbox.mark()
    }

    /// Out of line: the receive's frame stays small (see `match_or_wait`).
    #[cold]
    #[inline(never)]
    pub(super) fn disarm_timer(&mut self) {
        if let Some(key) = self.timer.armed.take() {
            self.kernel().timers.cancel(key);
        }
    }

    /// Arms the timer of a receive that waits with a timeout.
    #[inline(never)]
    fn arm_timer(&mut self, timeout: Duration) {
        self.timer.generation = self.timer.generation.wrapping_add(1);
        let kernel = self.kernel();
        let key = kernel.arm_timer(kernel.timers.deadline_after(timeout), self.pid(), self.timer.generation);
        self.timer.armed = Some(key);
    }

    /// The body of [`Cx::receive_inner`]; the timer it arms is kept in
    /// the `Cx`, not in this frame: every byte of a waiting process's frames
    /// is a cold line again when it is resumed.
    #[inline(always)]
    fn match_or_wait<R>(
        &mut self,
        open: Open,
        mut position: ScanPosition,
        timeout: Option<Duration>,
        mut matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Option<R>, Reason> {
        loop {
            // What was taken in earlier first: a burst of messages is then
            // taken from the signal queue once per batch, not at every receive
            // (each take is a swap on the line the senders are pushing onto).
            // Control signals queued meanwhile apply at the end of the slice.
            let (found, looked_at) = self.mailbox.take_first(&mut position, &mut matcher);
            self.budget.charge((looked_at / SCANNED_PER_REDUCTION) as u32);
            if found.is_some() {
                return Ok(found);
            }
            let took_any = self.take_in_signals(open);
            self.check_alive()?;
            if took_any {
                // A receive that keeps finding no match in a stream of arrivals
                // still yields when its slice is spent.
                self.gate(Call::Block(1))?;
                continue;
            }
            match (timeout, self.timer.armed) {
                (Some(timeout), None) if timeout.is_zero() => return Ok(None),
                (Some(timeout), None) => self.arm_timer(timeout),
                (Some(_), Some(_)) if self.pcb().fired_timer.has_fired(self.timer.generation) => {
                    return Ok(None);
                }
                _ => {}
            }
            if std::thread::panicking() {
                // A destructor waiting during an unwind would suspend mid-unwind.
                return Err(Reason::error("a process cannot wait in receive while it is panicking"));
            }
            self.suspend(Suspend::Wait);
        }
    }
}
