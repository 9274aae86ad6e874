//! Unlink vs exit: A and B are linked; A unlinks while B exits with `boom`.
//! Once `unlink` has returned, B's exit cannot affect A (A does not trap exits,
//! so an exit signal that counted would kill it), and A's unlinking entry is
//! retired by B's acknowledgement (or by the refusal of B's sealed queue).
#![cfg(loom)]

use lariat::Reason;
use lariat::loom_api::{ExitAction, LinkTable, SignalQueue, handle_exit_signal, pid};
use loom::sync::Arc;
use loom::thread;

enum Signal {
    Unlink { from: lariat::Pid, id: u64 },
    UnlinkAck { from: lariat::Pid, id: u64 },
    Exit { from: lariat::Pid, reason: Reason },
}

fn exit_of_b(b_queue: &SignalQueue<Signal>, a_queue: &SignalQueue<Signal>) {
    let b = pid(2);
    let mut links = LinkTable::default();
    links.link(pid(1));
    for signal in b_queue.take_all() {
        if let Signal::Unlink { from, id } = signal {
            links.on_unlink(from);
            let _ = a_queue.push(Signal::UnlinkAck { from: b, id });
        }
    }
    for linked in links.active().collect::<Vec<_>>() {
        let _ = a_queue.push(Signal::Exit { from: b, reason: Reason::error("boom") });
        assert_eq!(linked, pid(1));
    }
    for signal in b_queue.seal() {
        if let Signal::Unlink { id, .. } = signal {
            let _ = a_queue.push(Signal::UnlinkAck { from: b, id });
        }
    }
}

/// Depends on: the per-pair order of one queue (B's acknowledgement is pushed
/// after any exit signal B sent before it, so A still holds its unlinking entry
/// when that exit signal arrives), and the push/seal pairing of the signal queue.
///
/// Mutation `LARIAT_MUTATION=signal_push_relaxed` fails here: "Causality
/// violation: Concurrent write accesses to `UnsafeCell`.".
#[test]
fn unlink_racing_exit_never_affects_the_caller_after_unlink_returned() {
    loom::model(|| {
        let (a, b) = (pid(1), pid(2));
        let a_queue = Arc::new(SignalQueue::new());
        let b_queue = Arc::new(SignalQueue::new());
        let dying = {
            let (a_queue, b_queue) = (Arc::clone(&a_queue), Arc::clone(&b_queue));
            thread::spawn(move || exit_of_b(&b_queue, &a_queue))
        };
        let mut links = LinkTable::default();
        links.link(b);
        let id = links.unlink(b).expect("linked");
        if b_queue.push(Signal::Unlink { from: a, id }).is_err() {
            links.on_unlink_ack(b, id);
        }
        // `unlink` has returned: from here on nothing may kill A.
        let take_in = |links: &mut LinkTable| {
            for signal in a_queue.take_all() {
                match signal {
                    Signal::UnlinkAck { from, id } => links.on_unlink_ack(from, id),
                    Signal::Exit { from, reason } => {
                        let action = handle_exit_signal(links, a, false, from, reason, true);
                        assert_eq!(action, ExitAction::Ignore, "an exit signal counted after unlink returned");
                    }
                    Signal::Unlink { .. } => unreachable!(),
                }
            }
        };
        take_in(&mut links);
        dying.join().unwrap();
        take_in(&mut links);
        assert!(links.is_empty(), "the unlinking entry was never retired");
    });
}
