//! `Cx::blocking`: work that blocks its thread runs on the blocking pool while
//! the process waits for it as in a receive, so the worker runs the other
//! processes meanwhile.
//!
//! Invariants: the closure, and the slots for its result and for the flag
//! that says it is done, live in the calling frame, and that frame neither
//! returns nor unwinds before the pool has run the closure to its end
//! (`WaitForJob`); so the closure may borrow from the process. The pool's last
//! touch of the frame is setting the flag. While it waits the process takes in
//! no signals: what arrives stays queued and takes effect when the closure has
//! returned.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::thread::Result as ThreadResult;
use std::time::Duration;

use super::Cx;
use super::gate::Call;
use crate::blocking::{Job, Refused};
use crate::process::Suspend;
use crate::reason::Reason;
use crate::sync::{AtomicBool, Ordering};

impl Cx {
    /// Runs `work` on a thread of the runtime's blocking pool and waits for it
    /// as in a receive: this worker runs other processes meanwhile. Use it for
    /// anything that blocks its thread: file or socket I/O, a database
    /// client, a `std::sync` lock another thread holds, `thread::sleep`.
    /// (A process blocks only its own worker thread otherwise, and every
    /// process that lives there waits with it.)
    ///
    /// `work` may borrow from the process: this call returns only once `work`
    /// has. A panic in `work` is raised again here, in the process. Signals
    /// that arrive meanwhile take effect when `work` returns: a process told
    /// to die meanwhile gets `Err(reason)` and the result is dropped.
    /// `Err(Shutdown)` if the runtime is shutting down (then `work` does not
    /// run); a runtime being dropped waits for a `work` that runs, so a
    /// closure that never returns (an `accept` nobody answers) holds up the
    /// drop, as a body that never returns does.
    ///
    /// The pool has [`Builder::blocking_threads`](crate::Builder::blocking_threads)
    /// threads at most; calls beyond that wait their turn.
    ///
    /// # Errors
    ///
    /// - `Err(reason)` if this process was told to end while `work` ran (the
    ///   result is dropped); return it with `?`;
    /// - `Err(Shutdown)` if the runtime is shutting down (`work` does not run);
    /// - an error reason if the pool had no thread and none could be started
    ///   (`work` does not run);
    /// - an error reason if called from a destructor while this process
    ///   unwinds from a panic (it cannot wait then; `work` does not run).
    ///
    /// # Panics
    ///
    /// If `work` panics: the panic is raised again in this process, as if its
    /// own code had panicked (the pool thread is unharmed).
    ///
    /// ```
    /// # use lariat::{Runtime, Reason};
    /// let runtime = Runtime::new()?;
    /// let length = runtime.block_on(|cx| {
    ///     let path = std::env::temp_dir().join("lariat-blocking-doc.txt");
    ///     let written = cx.blocking(|| std::fs::write(&path, "hello"))?;
    ///     written.map_err(|error| Reason::error(error.to_string()))?;
    ///     let text = cx.blocking(|| std::fs::read_to_string(&path))?;
    ///     Ok::<_, Reason>(text.map_err(|error| Reason::error(error.to_string()))?.len())
    /// })?;
    /// assert_eq!(length, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn blocking<R, F>(&mut self, work: F) -> Result<R, Reason>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let open = self.gate(Call::Block(1))?;
        if std::thread::panicking() {
            // A destructor that waits during an unwind would suspend mid-unwind.
            return Err(Reason::error("a process cannot wait in blocking while it is panicking"));
        }
        let done = AtomicBool::new(false);
        let mut result: Option<ThreadResult<R>> = None;
        let frame = FramePtrs { done: &raw const done, result: &raw mut result };
        let kernel = self.kernel().weak();
        let me = self.pid();
        let run = move || {
            let frame = frame;
            let outcome = catch_unwind(AssertUnwindSafe(work));
            // SAFETY: the frame is alive until `done` is set (`WaitForJob`), and
            // the process reads `result` only after it has seen `done`.
            unsafe { *frame.result = Some(outcome) };
            // SAFETY: as above. Release: pairs with the process's Acquire loads
            // of `done` (the result written above is visible to it). After this
            // store the frame may be gone: nothing of it is touched again.
            unsafe { (*frame.done).store(true, Ordering::Release) };
            if let Some(kernel) = kernel.upgrade() {
                kernel.wake_from_outside(me);
            }
        };
        let waiter = WaitForJob { done: &done };
        // SAFETY: `run` borrows `work`'s borrows and this frame; `waiter` keeps
        // the frame from returning or unwinding until `run` has set `done`, its
        // last act (after `work` and its captures are gone).
        let job = unsafe { Job::new(Box::new(run)) };
        if let Err((refused, job)) = self.kernel().blocking.submit(job) {
            // Never queued, so never run: nothing to wait for.
            std::mem::forget(waiter);
            drop(job);
            return Err(match refused {
                Refused::Closed => Reason::Shutdown,
                Refused::NoThread(error) => {
                    Reason::error(format!("no thread could be started for blocking work: {error}"))
                }
            });
        }
        // Acquire: pairs with the Release store that ends the job.
        while !done.load(Ordering::Acquire) {
            // Woken by the job's end, or by a signal arriving (which stays queued).
            self.suspend(Suspend::Wait);
        }
        drop(waiter);
        let outcome = result.take().expect("the job sets its result before `done`");
        self.take_in_signals(open);
        self.check_alive()?;
        Ok(outcome.unwrap_or_else(|payload| resume_unwind(payload)))
    }
}

/// Where the job writes: the calling frame's `done` flag and result slot.
struct FramePtrs<R> {
    done: *const AtomicBool,
    result: *mut Option<ThreadResult<R>>,
}

// SAFETY: the pointers are used by one pool thread at a time, under the
// protocol of the module docs; `R: Send` moves to the process.
unsafe impl<R: Send> Send for FramePtrs<R> {}

/// Keeps the calling frame from going away while the job can still touch it:
/// on every way out (a forced unwind at shutdown included) it waits for `done`.
struct WaitForJob<'a> {
    done: &'a AtomicBool,
}

impl Drop for WaitForJob<'_> {
    fn drop(&mut self) {
        // Acquire: pairs with the job's Release store of `done`.
        while !self.done.load(Ordering::Acquire) {
            // Only when the process is unwound while its job runs (the runtime
            // is being dropped): this worker thread waits for the job.
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}
