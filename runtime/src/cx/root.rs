//! The root of every process coroutine: makes the process's [`Cx`], runs its
//! body, turns how the body ended into an exit reason and hands the worker
//! the [`Outcome`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use corosensei::Yielder;

use super::Cx;
use crate::kernel::Kernel;
use crate::pid::Pid;
use crate::process::{Body, Outcome, Pcb, StartingMonitor, Suspend, WorkerPtr};
use crate::reason::Reason;
use crate::sync::Ordering;

/// The panic payload that unwinds a process which must end but kept running
/// (the backstop of "ending is a return"). Never shown to users.
pub(crate) struct ExitUnwind;

/// What a process starts with, set at its spawn.
pub(crate) struct Starting {
    /// Linked to (`spawn_link`).
    pub(crate) link: Option<Pid>,
    /// A monitor from its spawn (`spawn_monitor`, a watch's mailbox).
    pub(crate) monitor: Option<StartingMonitor>,
    /// Trapping exits (`SpawnOptions::trap_exit`).
    pub(crate) trap_exit: bool,
}

/// The function at the root of every process coroutine.
pub(crate) fn process_main(
    yielder: &Yielder<WorkerPtr, Suspend>,
    worker: WorkerPtr,
    pcb: NonNull<Pcb>,
    kernel: NonNull<Kernel>,
    body: Body,
    starting: Starting,
) -> Outcome {
    let mut cx = Cx::new(pcb, kernel, worker, yielder);
    cx.start_watching(starting);
    // A process killed before it first ran never runs its body.
    let result = match cx.killed_before_start() {
        true => Ok(Ok(())),
        false => catch_unwind(AssertUnwindSafe(|| body(&mut cx))),
    };
    // SAFETY: the pcb outlives its coroutine (freed only after the coroutine finished).
    let pcb_ref = unsafe { pcb.as_ref() };
    let reason = match result {
        Ok(returned) => cx.take_exit_reason().unwrap_or(match returned {
            Ok(()) => Reason::Normal,
            Err(reason) => reason,
        }),
        Err(payload) => {
            crate::crash::unwind_caught();
            crate::stack::overflow::forget_unwound_frames(None);
            // Relaxed: set by this same thread before it started the forced unwind.
            let reason = if pcb_ref.force_unwinding.load(Ordering::Relaxed) {
                // Torn down at shutdown. Returning (rather than re-raising, which
                // corosensei would turn into an abort if the payload is not its
                // own) ends the forced unwind just as well.
                Reason::Shutdown
            } else {
                match cx.take_exit_reason() {
                    Some(reason) => reason,
                    None if payload.is::<ExitUnwind>() => Reason::Killed,
                    None => Reason::Panic(crate::crash::panic_message(payload.as_ref()).into()),
                }
            };
            crate::crash::contain(move || drop(payload));
            reason
        }
    };
    // Step 1 of the exit: from here on the process is invisible to wakers.
    pcb_ref.state.exit();
    // Under AddressSanitizer: the exit's frames below reuse addresses that
    // frames unwound by a panic caught anywhere in this process (here, in
    // `contain`, or in the body itself) left poisoned.
    #[cfg(lariat_asan)]
    crate::stack::overflow::forget_unwound_frames(None);
    cx.finish(reason)
}

impl Cx {
    /// Runs user code for the OTP layer (a server's handler, a child's start
    /// function): a panic in it becomes `Err(Reason::Panic(message))`, as OTP
    /// catches a callback's exception. An unwind that is no panic of the
    /// user's (a kill's, or the teardown's) goes on.
    pub(crate) fn catch_panic<R>(&mut self, f: impl FnOnce(&mut Cx) -> R) -> Result<R, Reason> {
        let noted = crate::crash::unwinds_noted();
        match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(value) => Ok(value),
            Err(payload) => {
                // Relaxed: set by this same thread before it started a forced unwind.
                // A process told to end is on its way out whatever the payload
                // (a handler that unwrapped the `Err` of its receive).
                if payload.is::<ExitUnwind>()
                    || self.pcb().force_unwinding.load(Ordering::Relaxed)
                    || self.exit_reason.is_some()
                {
                    std::panic::resume_unwind(payload);
                }
                Err(Reason::Panic(crate::crash::end_caught_panic(noted, payload).into()))
            }
        }
    }
}

impl Cx {
    /// Whether this process was told to end (an exit signal it does not trap,
    /// a kill, the teardown): the OTP layer runs no more user code then.
    pub(crate) fn must_end(&self) -> bool {
        self.exit_reason.is_some()
    }
}
