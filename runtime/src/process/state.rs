//! The scheduling state word of a process: who may run it, and who must queue it.
//!
//! Bits: `RUNNING` (a worker is executing it), `NOTIFIED` (something arrived, or
//! it is queued), `EXITED` (terminal). The values that occur:
//!
//! | word | meaning |
//! |---|---|
//! | 0 | waiting: the next waker must queue it |
//! | `NOTIFIED` | queued (exactly one queue holds it) |
//! | `RUNNING` | on a worker |
//! | `RUNNING\|NOTIFIED` | on a worker; a signal arrived since it last looked |
//! | `EXITED\|..` | gone: never queued again |
//!
//! Who makes each transition:
//!
//! | transition | made by | how |
//! |---|---|---|
//! | 0 → `NOTIFIED` | the waker that wins (`wake`) | `fetch_or`; it then queues the process |
//! | `NOTIFIED` → `RUNNING` | the worker that took it from a queue (`start_running`) | `fetch_xor` |
//! | `RUNNING` → 0 | its worker, back on its own stack (`try_wait`) | CAS; fails if `NOTIFIED` came |
//! | `RUNNING\|NOTIFIED` → `RUNNING` | its worker, after that CAS failed | `fetch_and`; it runs again |
//! | `RUNNING` → `NOTIFIED` | its worker, when its slice is spent (`yield_queued`) | `fetch_update`; it queues it |
//! | any → `..\|EXITED` | the process itself, or the worker or stopper tearing it down (`exit`) | `fetch_or` |
//!
//! `EXITED` is terminal: once set it is never cleared. Every transition is one
//! read-modify-write that changes only the bits it owns (never a plain store or
//! swap), and asserts its precondition in debug builds (loom model
//! `exited_stays_set`).
//!
//! A waker pushes its signal *first*, then `fetch_or(NOTIFIED)`; whoever turns 0
//! into `NOTIFIED` queues the process. A process never marks itself waiting while
//! on its own stack: it suspends saying "want to wait", and the worker, back on its
//! own stack, CASes `RUNNING → 0`. If a waker set `NOTIFIED` meanwhile the CAS
//! fails and the worker runs it again, so a wake-up is never lost and a process
//! is never queued twice nor run on two workers at once (loom model `wake_up`).

use crate::sync::{AtomicU32, Ordering, mutated};

const RUNNING: u32 = 1;
const NOTIFIED: u32 = 2;
const EXITED: u32 = 4;

/// Ordering of the wake-up RMW; the mutation `wake_relaxed` weakens it to show
/// the loom model `timer_vs_message` depends on it.
#[inline(always)]
fn wake_ordering() -> Ordering {
    if mutated("wake_relaxed") { Ordering::Relaxed } else { Ordering::AcqRel }
}

/// Success ordering of `try_wait`; the mutation `try_wait_relaxed` weakens it
/// for the loom model `wake_up` to show that it is needed.
#[inline(always)]
fn wait_publish_ordering() -> Ordering {
    if mutated("try_wait_relaxed") { Ordering::Relaxed } else { Ordering::Release }
}

/// The state word. See the module docs for the protocol.
pub struct StateWord(AtomicU32);

/// Where a process is, for introspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Executing on a worker now.
    Running,
    /// Queued to run.
    Runnable,
    /// Waiting for a signal (in a receive or sleep).
    Waiting,
    /// Ending, or ended.
    Exiting,
}

impl StateWord {
    /// A new process, queued by its spawner.
    pub fn new_queued() -> Self {
        StateWord(AtomicU32::new(NOTIFIED))
    }

    /// Called after pushing a signal. `true`: the caller must queue the process.
    pub fn wake(&self) -> bool {
        // AcqRel: Release publishes the signal pushed before, to the worker whose
        // RMW on this word reads it (`start_running` or the failing CAS of
        // `try_wait`). Acquire pairs with `try_wait`'s Release, so whoever queues
        // the process passes on everything its last run wrote.
        self.0.fetch_or(NOTIFIED, wake_ordering()) == 0
    }

    /// A worker took the process from a queue and is about to resume it.
    pub fn start_running(&self) {
        if mutated("state_swaps_lose_exited") {
            // The broken transition the loom model `exited_stays_set` must catch.
            self.0.swap(RUNNING, Ordering::AcqRel);
            return;
        }
        // NOTIFIED → RUNNING, keeping EXITED: one RMW.
        // AcqRel: Acquire pairs with the wakers' Release (their signals are visible
        // to the drain that follows); as an RMW it also clears NOTIFIED in order
        // with every waker's fetch_or.
        let before = self.0.fetch_xor(RUNNING | NOTIFIED, Ordering::AcqRel);
        debug_assert_eq!(before & (RUNNING | NOTIFIED), NOTIFIED, "started a process that was not queued: {before:#b}");
    }

    /// The process suspended wanting to wait; the worker is back on its own stack.
    /// `true`: it is waiting now (a waker will queue it). `false`: a signal came in
    /// while it ran (or it is exiting); it is running again and must be resumed
    /// to look.
    pub fn try_wait(&self) -> bool {
        // Success Release: pairs with the Acquire of the waker that queues it next.
        // Failure Acquire: pairs with the waker's Release fetch_or, so the re-run
        // sees the signal it pushed.
        if mutated("wait_without_cas") {
            // The broken protocol the loom model must catch: a plain store loses a
            // NOTIFIED set between the process's last look and now.
            self.0.store(0, Ordering::Release);
            return true;
        }
        match self.0.compare_exchange(RUNNING, 0, wait_publish_ordering(), Ordering::Acquire) {
            Ok(_) => true,
            Err(before) => {
                debug_assert_ne!(before & RUNNING, 0, "a process not running tried to wait: {before:#b}");
                if mutated("state_swaps_lose_exited") {
                    self.0.swap(RUNNING, Ordering::AcqRel);
                    return false;
                }
                // Clears NOTIFIED, keeping RUNNING and EXITED. AcqRel: as in
                // `start_running`, in order with the wakers' fetch_or.
                self.0.fetch_and(!NOTIFIED, Ordering::AcqRel);
                false
            }
        }
    }

    /// The process used its time slice; the worker queues it again itself.
    pub fn yield_queued(&self) {
        if mutated("state_swaps_lose_exited") {
            self.0.swap(NOTIFIED, Ordering::Release);
            return;
        }
        // RUNNING → NOTIFIED, keeping EXITED (a waker's NOTIFIED is absorbed).
        // Release pairs with the Acquire RMW of the worker that runs it next (the
        // queue also synchronises; this keeps the word's own chain intact).
        let update = self.0.fetch_update(Ordering::Release, Ordering::Relaxed, |word| Some((word & EXITED) | NOTIFIED));
        let before = update.unwrap_or_else(|word| word);
        debug_assert_ne!(before & RUNNING, 0, "a process not running yielded: {before:#b}");
    }

    /// The process is exiting: wakers stop queuing it, for good.
    pub fn exit(&self) {
        // An RMW so that every later fetch_or sees EXITED set. SeqCst (the same
        // locked instruction as AcqRel on x86): with the SeqCst load of `named` at
        // exit step 4 and the SeqCst store + fence in `Kernel::register`, it forms
        // the register-vs-exit protocol of `registry`, with no fence per exit.
        self.0.fetch_or(EXITED, Ordering::SeqCst);
    }

    /// Whether the process has begun exiting.
    pub fn is_exited(&self) -> bool {
        // Acquire pairs with the SeqCst RMW of `exit`.
        self.0.load(Ordering::Acquire) & EXITED != 0
    }

    /// A snapshot for introspection.
    pub fn status(&self) -> Status {
        // Relaxed: a snapshot, stale by the time the caller looks.
        let word = self.0.load(Ordering::Relaxed);
        if word & EXITED != 0 {
            Status::Exiting
        } else if word & RUNNING != 0 {
            Status::Running
        } else if word & NOTIFIED != 0 {
            Status::Runnable
        } else {
            Status::Waiting
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_waker_of_a_waiting_process_queues_it() {
        let state = StateWord::new_queued();
        assert!(!state.wake(), "already queued");
        state.start_running();
        assert!(!state.wake(), "running: sets NOTIFIED only");
        assert!(!state.try_wait(), "a signal arrived: run again");
        assert!(state.try_wait());
        assert_eq!(state.status(), Status::Waiting);
        assert!(state.wake());
        assert!(!state.wake());
        assert_eq!(state.status(), Status::Runnable);
    }

    #[test]
    fn exited_survives_every_later_transition() {
        let state = StateWord::new_queued();
        state.start_running();
        state.exit();
        state.yield_queued();
        assert!(state.is_exited(), "yield kept it");
        state.start_running();
        assert!(state.is_exited(), "start kept it");
        assert!(!state.wake());
        assert!(!state.try_wait(), "an exiting process is resumed, never left waiting");
        assert!(state.is_exited(), "the failed wait kept it");
        assert_eq!(state.status(), Status::Exiting);
    }

    #[test]
    fn an_exited_process_is_never_queued() {
        let state = StateWord::new_queued();
        state.start_running();
        state.exit();
        assert!(!state.wake());
        assert!(state.is_exited());
        assert_eq!(state.status(), Status::Exiting);
    }
}
