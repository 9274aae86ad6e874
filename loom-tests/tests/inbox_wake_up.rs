//! A started process woken by another thread: pushed to its home worker's
//! inbox while that worker goes to sleep.
#![cfg(loom)]

use std::ptr::NonNull;

use lariat::loom_api::{Idle, Inbox, InboxNode, Parker, StateWord};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use loom::thread;

struct Process {
    state: StateWord,
    next: AtomicPtr<Process>,
    /// How many times it was taken from an inbox.
    runs: AtomicUsize,
}

// SAFETY: `next` is used by the inbox only.
unsafe impl InboxNode for Process {
    fn inbox_next(&self) -> &AtomicPtr<Process> {
        &self.next
    }
}

struct Worker {
    idle: Idle,
    parker: Parker,
    inbox: Inbox<Process>,
}

/// The home worker: runs what its inbox holds until it has run `expected`,
/// parking (with the re-check) when it finds nothing.
fn home_worker(worker: &Worker, expected: usize) {
    let mut ran = 0;
    let mut searching = worker.idle.transition_to_searching();
    loop {
        for process in worker.inbox.take_all() {
            // SAFETY: the model's processes outlive the threads.
            let process = unsafe { process.as_ref() };
            process.runs.fetch_add(1, Ordering::Relaxed);
            process.state.start_running();
            assert!(process.state.try_wait(), "nothing else wakes it in this model");
            ran += 1;
        }
        if ran == expected {
            if searching {
                worker.idle.transition_from_searching();
            }
            return;
        }
        worker.idle.transition_to_parked(0, searching);
        if worker.inbox.is_empty() {
            worker.parker.park(None);
        }
        searching = worker.idle.transition_from_parked(0);
    }
}

/// A thread other than the home worker wakes `process`: the winner of the
/// state word pushes it to the inbox and unparks the worker if it sleeps.
fn wake_from_elsewhere(worker: &Worker, process: &Process) -> bool {
    if !process.state.wake() {
        return false;
    }
    // SAFETY: this thread won the wake-up, so the process is in no inbox, and
    // it outlives the model's threads.
    unsafe { worker.inbox.push(NonNull::from(process)) };
    if worker.idle.wake_worker(0) {
        worker.parker.unpark();
    }
    true
}

fn waiting_process() -> Process {
    let process = Process { state: StateWord::new_queued(), next: AtomicPtr::default(), runs: AtomicUsize::new(0) };
    process.state.start_running();
    assert!(process.state.try_wait());
    process
}

/// Depends on: the SeqCst push of `Inbox::push` and the SeqCst fence of
/// `Idle::wake_worker` against the SeqCst RMW and fence of
/// `transition_to_parked` and the inbox re-check (Dekker-style).
///
/// Mutation `LARIAT_MUTATION=home_wake_without_fence` fails: loom
/// reports a deadlock (the worker parked with the process in its inbox, the
/// waker having seen every worker unparked).
#[test]
fn a_wake_up_pushed_while_the_home_worker_parks_is_never_lost() {
    loom::model(|| {
        let worker = Arc::new(Worker { idle: Idle::new(1), parker: Parker::default(), inbox: Inbox::default() });
        let process = Arc::new(waiting_process());
        let home = {
            let worker = Arc::clone(&worker);
            thread::spawn(move || home_worker(&worker, 1))
        };
        assert!(wake_from_elsewhere(&worker, &process));
        home.join().unwrap();
        assert_eq!(process.runs.load(Ordering::Relaxed), 1);
    });
}

/// Two threads wake the same waiting process: it lands in its home inbox
/// exactly once (a second push of a node already in the inbox would corrupt
/// the list, or run it twice).
///
/// Depends on the state word's `wake` (exactly one winner); mutation
/// `LARIAT_MUTATION=wait_without_cas` does not apply here (no race with
/// the owner), and this model is a check of the routing, not of an ordering.
#[test]
fn a_process_woken_by_two_threads_is_queued_on_its_home_worker_once() {
    loom::model(|| {
        let worker = Arc::new(Worker { idle: Idle::new(1), parker: Parker::default(), inbox: Inbox::default() });
        let process = Arc::new(waiting_process());
        let other = {
            let (worker, process) = (Arc::clone(&worker), Arc::clone(&process));
            thread::spawn(move || wake_from_elsewhere(&worker, &process))
        };
        let here = wake_from_elsewhere(&worker, &process);
        let there = other.join().unwrap();
        assert!(here ^ there, "exactly one waker queues it");
        home_worker(&worker, 1);
        assert_eq!(process.runs.load(Ordering::Relaxed), 1, "queued twice");
    });
}
