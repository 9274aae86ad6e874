//! The gate: the one entry of every runtime call a process makes, and the
//! suspension every waiting or yielding call goes through.
//!
//! Invariants: no call reaches the worker or the kernel without an [`Open`],
//! and the gate hands out none in teardown (the runtime is being dropped: the
//! worker may be gone), so nothing a call uses can dangle; a process that
//! must end gets `Err(reason)` from a blocking call and is unwound by an
//! acting one; a process only ever suspends here, and is only ever resumed on
//! the worker it suspended on (its home: `scheduler`).

use std::panic::resume_unwind;

use super::budget::stack_pointer;
use super::{Cx, ExitUnwind};
use crate::process::Suspend;
use crate::reason::Reason;
use crate::sync::Ordering;

/// What a call that only reads costs.
const ASK_COST: u32 = 1;

/// Proof that the gate ([`Cx::gate`]) let a runtime call through: the only
/// way for a call to reach the worker (see `Cx::post`).
#[derive(Clone, Copy)]
pub(super) struct Open(());

/// What kind of runtime call asks the gate.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    /// Acts on other processes or the runtime (send, spawn, link...): charged
    /// `cost` reductions; a process that must end is unwound here (it ignored
    /// the `Err` of a blocking call), or refused if it is already unwinding.
    Act(u32),
    /// May suspend (receive, sleep, yield): a process that must end gets
    /// `Err(reason)` back.
    Block(u32),
    /// Only reads (status, whereis...): refused only in teardown.
    Ask,
}

impl Cx {
    /// Decides what a runtime call may use.
    ///
    /// - In teardown (the runtime is being dropped and is unwinding this
    ///   process, or the body caught that unwind and goes on) it lets nothing
    ///   through: no worker, no delivery. Every call gets its refusal
    ///   (`Err(Shutdown)`, a spawn error, `false`, `None`: at shutdown every
    ///   process is gone) and the process ends with `Shutdown`.
    /// - A process told to die gets `Err(reason)` from a blocking call, and is
    ///   unwound by an acting call (it ignored that `Err`), or refused while it
    ///   unwinds (a destructor calling the runtime).
    /// - Otherwise the call is charged, the time slice ends here if it is spent
    ///   (the process yields and takes in its signals), and the call gets
    ///   [`Open`]: valid for the rest of the call, across suspensions too (the
    ///   process is only ever resumed on this same worker, and teardown unwinds
    ///   it from the suspension point instead of returning).
    #[inline]
    pub(super) fn gate(&mut self, call: Call) -> Result<Open, Reason> {
        // Under AddressSanitizer: poison left just below here by an unwind
        // caught inside the body (see `forget_unwound_frames`) goes before the
        // call reaches into those addresses.
        #[cfg(lariat_asan)]
        crate::stack::overflow::forget_unwound_frames(Some(16 << 10));
        if self.in_teardown() {
            // Every call refused, none unwinds again: the body ends when it
            // returns (a caught unwind that loops on a refused blocking call
            // holds up the runtime's drop, as any body that never returns does).
            self.exit_reason = Some(Reason::Shutdown);
            return Err(Reason::Shutdown);
        }
        let open = Open(());
        if call == Call::Ask {
            // Reading is fine for a process that is ending (not in teardown).
            // It counts toward the slice like any call: a loop that only
            // reads (polling `status`) still lets the others run.
            self.yield_if_spent(open, ASK_COST);
            self.budget.charge(ASK_COST);
            return Ok(open);
        }
        self.refuse_if_ending(call)?;
        let (Call::Act(cost) | Call::Block(cost)) = call else { return Ok(open) };
        self.budget.note_sp(stack_pointer());
        if self.yield_if_spent(open, cost) {
            // Its signals were taken in at the end of the slice: it may have been
            // told to die meanwhile.
            self.refuse_if_ending(call)?;
        }
        self.budget.charge(cost);
        Ok(open)
    }

    /// For a process that must end: `Err(reason)` to a blocking call; an
    /// acting call unwinds it (it ignored that `Err`), unless it is already
    /// unwinding (a destructor calling the runtime), which gets the `Err` too.
    fn refuse_if_ending(&self, call: Call) -> Result<(), Reason> {
        let Some(reason) = &self.exit_reason else { return Ok(()) };
        if matches!(call, Call::Act(_)) && !std::thread::panicking() {
            self.unwind_to_exit(reason);
        }
        Err(reason.clone())
    }

    /// The backstop of "ending is a return": a process that must end called
    /// the runtime again instead of leaving; it is unwound to its root.
    #[cold]
    #[inline(never)]
    fn unwind_to_exit(&self, reason: &Reason) -> ! {
        crate::crash::note_unwinding(format!("unwound: it was told to exit ({reason}) and called the runtime again"));
        resume_unwind(Box::new(ExitUnwind))
    }

    /// Whether the runtime is tearing this process down (it is being unwound at
    /// shutdown, or caught that unwind and goes on).
    fn in_teardown(&self) -> bool {
        // Relaxed: set by this same thread (the home worker's) before the
        // forced unwind began.
        self.pcb().force_unwinding.load(Ordering::Relaxed)
    }

    /// `Err(reason)` if this process must end (it was told to die, or is
    /// being torn down).
    pub(super) fn check_alive(&self) -> Result<(), Reason> {
        match &self.exit_reason {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }

    /// Ends the time slice if `cost` would overdraw it: queues this process
    /// behind the others and, back, takes in its signals (so a process that
    /// never receives can still be killed: control signals apply at every end
    /// of a slice). `true` if it yielded. Never while unwinding (a destructor
    /// calling the runtime): the unwind must finish on this thread.
    #[inline(always)]
    fn yield_if_spent(&mut self, open: Open, cost: u32) -> bool {
        if !self.budget.would_overdraw(cost) || std::thread::panicking() {
            return false;
        }
        self.suspend(Suspend::Yield);
        self.take_in_signals(open);
        true
    }

    /// `yield_now`: queues this process behind the others and, back, takes in
    /// its signals, as at the end of a slice (so a loop that only yields can
    /// still be killed). Not while unwinding: the unwind must finish here.
    pub(super) fn end_slice(&mut self, open: Open) -> Result<(), Reason> {
        if std::thread::panicking() {
            return Ok(());
        }
        self.suspend(Suspend::Yield);
        self.take_in_signals(open);
        self.check_alive()
    }

    /// Gives control back to the worker until this process is resumed there.
    pub(super) fn suspend(&mut self, why: Suspend) {
        // Only `die` sets it, with `exit_reason`, which stays set until the
        // exit: checking the first line's field spares every other suspension
        // a write to this one.
        debug_assert!(self.exit_reason.is_some() || self.exit_prefetch.is_none());
        if self.exit_reason.is_some() {
            self.exit_prefetch = None;
        }
        let sp = stack_pointer();
        self.budget.note_sp(sp);
        self.pcb().hints.suspended_at(sp);
        // SAFETY: the yielder belongs to this coroutine and `Cx` lives on its stack.
        let yielder = unsafe { self.yielder.as_ref() };
        let resumed_on = yielder.suspend(why);
        debug_assert_eq!(resumed_on.0, self.worker.0, "a started process resumed on another worker");
        self.worker = resumed_on;
        self.budget.refill();
    }
}
