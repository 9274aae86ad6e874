//! Wake-up: a sender's push racing the owner going to wait.
#![cfg(loom)]

use lariat::loom_api::{Pushed, SignalQueue, StateWord};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

struct Process {
    state: StateWord,
    signals: SignalQueue<u32>,
    /// Stands for the owner-only data (coroutine, mailbox) a run leaves behind.
    owned: UnsafeCell<u32>,
    /// Successful `try_wait`s: each but the last must be ended by exactly one waker.
    waits: AtomicUsize,
}

/// One run on a worker: look at the signals, then try to wait. Returns what it took.
fn run(process: &Process) -> usize {
    process.state.start_running();
    let mut taken = 0;
    loop {
        taken += process.signals.take_all().count();
        // SAFETY: only the worker holding the process RUNNING touches it; loom
        // checks exactly that (a second toucher would be a causality violation).
        process.owned.with_mut(|data| unsafe { *data += 1 });
        if process.state.try_wait() {
            process.waits.fetch_add(1, Ordering::Relaxed);
            return taken;
        }
    }
}

/// Depends on: the worker's CAS RUNNING → waiting failing when a sender set
/// NOTIFIED after the worker's last look (the sender pushes first, then its RMW).
///
/// Mutation `LARIAT_MUTATION=wait_without_cas` (a plain store instead of
/// the CAS) fails: loom finds the interleaving where a message is pushed after
/// the owner's last look and its sender sees RUNNING: "lost wake-up: 1 of 2 taken".
///
/// Also depends on: a sender whose push landed behind queued signals skipping
/// the wake-up, which is sound only because it judged by the value its own CAS
/// replaced. Mutation `LARIAT_MUTATION=push_first_from_stale_load`
/// (judging by the head read before the CAS loop) fails: loom finds the owner
/// taking everything between that read and the CAS: "lost wake-up: 1 of 2 taken".
///
/// Mutation `LARIAT_MUTATION=try_wait_relaxed` (CAS success Relaxed)
/// fails: "Causality violation: Concurrent write accesses to `UnsafeCell`." on
/// `owned`, touched by the worker the sender hands the process to.
#[test]
fn a_push_racing_the_owner_going_to_wait_is_never_lost_nor_scheduled_twice() {
    loom::model(|| {
        let process = Arc::new(Process {
            state: StateWord::new_queued(),
            signals: SignalQueue::new(),
            owned: UnsafeCell::new(0),
            waits: AtomicUsize::new(0),
        });
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let process = Arc::clone(&process);
                thread::spawn(move || {
                    // Only a push onto an empty queue wakes (see `Pushed`).
                    let first = process.signals.push(i).unwrap() == Pushed::First;
                    if first && process.state.wake() {
                        // This sender queued it; stand in for the worker that runs it.
                        return (run(&process), 1);
                    }
                    (0, 0)
                })
            })
            .collect();
        let mut taken = run(&process);
        let mut queued = 0;
        for sender in senders {
            let (by_sender, queued_by_sender) = sender.join().unwrap();
            taken += by_sender;
            queued += queued_by_sender;
        }
        assert_eq!(taken, 2, "lost wake-up: {taken} of 2 taken");
        // Each wait but the final one was ended by exactly one waker: never queued twice.
        assert_eq!(process.waits.load(Ordering::Relaxed), queued + 1, "queued twice or a run lost");
    });
}
