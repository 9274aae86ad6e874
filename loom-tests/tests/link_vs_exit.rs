//! Link vs exit: A links to B while B exits. Exactly one outcome reaches A: B's
//! exit signal (B took the link in before it died) or `noproc` (the link signal
//! was caught by B's sealed queue and answered, or refused by it).
#![cfg(loom)]

use lariat::Reason;
use lariat::loom_api::{ExitAction, LinkTable, SignalQueue, handle_exit_signal, pid};
use loom::sync::Arc;
use loom::thread;

enum Signal {
    Link { from: lariat::Pid },
    Exit { from: lariat::Pid, reason: Reason },
}

/// B's exit as the runtime does it (`Cx::take_in`, exit steps 5–6 in
/// `WorkerCore::finish` and `Kernel::answer_for_the_dead`): take in what has
/// arrived, send the exit signal over every active link, seal the queue and
/// answer what the seal caught.
fn exit_of_b(b_queue: &SignalQueue<Signal>, a_queue: &SignalQueue<Signal>, reason: Reason) {
    let b = pid(2);
    let mut links = LinkTable::default();
    for signal in b_queue.take_all() {
        if let Signal::Link { from } = signal {
            links.on_link(from);
        }
    }
    for linked in links.active().collect::<Vec<_>>() {
        assert_eq!(linked, pid(1));
        let _ = a_queue.push(Signal::Exit { from: b, reason: reason.clone() });
    }
    for signal in b_queue.seal() {
        if let Signal::Link { .. } = signal {
            let _ = a_queue.push(Signal::Exit { from: b, reason: Reason::NoProc });
        }
    }
}

/// Depends on: the seal being one swap on the head the pushes CAS (a link signal
/// lands before it, and is answered, or after it, and is refused), with the
/// push's Release pairing with the Acquire of `take_all`/`seal`.
///
/// Mutation `LARIAT_MUTATION=signal_push_relaxed` fails here: "Causality
/// violation: Concurrent write accesses to `UnsafeCell`." (B reads a link signal
/// whose write it never synchronised with).
#[test]
fn link_racing_exit_gives_exactly_one_outcome() {
    loom::model(|| {
        let (a, b) = (pid(1), pid(2));
        let a_queue = Arc::new(SignalQueue::new());
        let b_queue = Arc::new(SignalQueue::new());
        let dying = {
            let (a_queue, b_queue) = (Arc::clone(&a_queue), Arc::clone(&b_queue));
            thread::spawn(move || exit_of_b(&b_queue, &a_queue, Reason::error("boom")))
        };
        // A (trapping exits) links to B: its own entry at once, then the signal.
        let mut links = LinkTable::default();
        let mut outcomes = Vec::new();
        assert!(links.link(b));
        if b_queue.push(Signal::Link { from: a }).is_err() {
            links.forget(b);
            outcomes.push(Reason::NoProc);
        }
        dying.join().unwrap();
        for signal in a_queue.take_all() {
            if let Signal::Exit { from, reason } = signal {
                match handle_exit_signal(&mut links, a, true, from, reason, true) {
                    ExitAction::Message(reason) => outcomes.push(reason),
                    other => panic!("a trapping process got {other:?}"),
                }
            }
        }
        assert_eq!(outcomes.len(), 1, "outcomes: {outcomes:?}");
        assert!(matches!(&outcomes[0], Reason::NoProc) || outcomes[0] == Reason::error("boom"));
        assert!(links.is_empty(), "the link is gone once its outcome came");
    });
}
