//! The state word's terminal bit: a process that began to exit is never
//! queued again, whatever transitions its worker makes afterwards.
#![cfg(loom)]

use lariat::loom_api::StateWord;
use loom::sync::Arc;
use loom::thread;

/// Depends on: every transition after `exit` (`yield_queued`, `start_running`,
/// the failed CAS of `try_wait`) being an RMW that keeps EXITED.
///
/// Mutation `LARIAT_MUTATION=state_swaps_lose_exited` (the plain swaps
/// these transitions used to be) fails: "assertion failed: exited: EXITED was
/// cleared", and in other interleavings the waker queues the exited process.
#[test]
fn exited_stays_set_while_a_waker_races_the_worker() {
    loom::model(|| {
        let state = Arc::new(StateWord::new_queued());
        let waker_state = Arc::clone(&state);
        let waker = thread::spawn(move || waker_state.wake());
        state.start_running();
        state.exit();
        // What a worker could still do with it before it ends: queue it for a
        // yield, run it, try to let it wait.
        state.yield_queued();
        state.start_running();
        let waiting = state.try_wait();
        let queued_by_waker = waker.join().unwrap();
        assert!(state.is_exited(), "exited: EXITED was cleared");
        assert!(!waiting, "an exited process was left waiting");
        assert!(!queued_by_waker, "a waker queued a process that had begun to exit");
    });
}
