//! Timer vs message: a receive with a timeout while a message and the timer's
//! firing race each other. The receive completes exactly once, with the message
//! or with the timeout, and a message it did not take stays queued for the next
//! receive (never lost).
#![cfg(loom)]

use lariat::loom_api::{FiredTimer, Pushed, SignalQueue, StateWord};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// The wait generation of the receive in the model.
const GENERATION: u64 = 1;

#[derive(Debug, PartialEq)]
enum Outcome {
    Message,
    Timeout,
}

struct Process {
    state: StateWord,
    signals: SignalQueue<u32>,
    fired: FiredTimer,
    completions: AtomicUsize,
}

/// One run of the receive on a worker (`Cx::receive_inner`): look at the
/// signals, then at the timer, then try to wait. `Some`: the receive returned.
fn run(process: &Process) -> Option<Outcome> {
    process.state.start_running();
    loop {
        if process.signals.take_all().count() > 0 {
            process.completions.fetch_add(1, Ordering::Relaxed);
            return Some(Outcome::Message);
        }
        if process.fired.has_fired(GENERATION) {
            process.completions.fetch_add(1, Ordering::Relaxed);
            return Some(Outcome::Timeout);
        }
        if process.state.try_wait() {
            return None;
        }
    }
}

/// Depends on: the timer's wake-up (`StateWord::wake`, AcqRel) publishing its
/// `fire` to the run it queues (`start_running`'s Acquire), or making the owner's
/// `try_wait` CAS fail so it looks again: a fired timer is never missed.
///
/// Mutation `LARIAT_MUTATION=wake_relaxed` (the wake-up's RMW Relaxed)
/// fails here: loom finds the run that reads the timer as not fired and waits
/// again, "the receive never completed: 0 completions".
#[test]
fn a_receive_with_timeout_gets_exactly_one_of_message_and_timeout() {
    loom::model(|| {
        let process = Arc::new(Process {
            state: StateWord::new_queued(),
            signals: SignalQueue::new(),
            fired: FiredTimer::default(),
            completions: AtomicUsize::new(0),
        });
        let sender = {
            let process = Arc::clone(&process);
            thread::spawn(move || {
                let first = process.signals.push(7).unwrap() == Pushed::First;
                if first && process.state.wake() { run(&process) } else { None }
            })
        };
        let timer = {
            let process = Arc::clone(&process);
            thread::spawn(move || {
                process.fired.fire(GENERATION);
                if process.state.wake() { run(&process) } else { None }
            })
        };
        let mut outcomes: Vec<Outcome> = run(&process).into_iter().collect();
        outcomes.extend(sender.join().unwrap());
        outcomes.extend(timer.join().unwrap());
        let completions = process.completions.load(Ordering::Relaxed);
        assert_eq!(completions, outcomes.len());
        assert_eq!(completions, 1, "the receive never completed: {completions} completions");
        let left = process.signals.take_all().count();
        match outcomes[0] {
            Outcome::Message => assert_eq!(left, 0),
            Outcome::Timeout => assert_eq!(left, 1, "the message was lost"),
        }
    });
}
