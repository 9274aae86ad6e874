//! Monitor and demonitor vs exit: A monitors B while B exits. Without a
//! demonitor exactly one `Down` reaches A (B's reason, or `noproc`); with one, no
//! `Down` is added after `demonitor` returned, and never more than one.
#![cfg(loom)]

use lariat::loom_api::{Monitors, SignalQueue, monitor_ref, pid};
use lariat::{Reason, Ref};
use loom::sync::Arc;
use loom::thread;

enum Signal {
    Monitor { from: lariat::Pid, monitor: Ref },
    Demonitor { monitor: Ref },
    Down { monitor: Ref, reason: Reason },
}

/// B's exit as the runtime does it: take in what arrived, send `Down` to every
/// watcher, seal the queue and answer the monitors it caught with `noproc`.
fn exit_of_b(b_queue: &SignalQueue<Signal>, a_queue: &SignalQueue<Signal>) {
    let mut monitors = Monitors::default();
    for signal in b_queue.take_all() {
        match signal {
            Signal::Monitor { from, monitor } => monitors.on_monitor(monitor, from),
            Signal::Demonitor { monitor } => monitors.on_demonitor(monitor),
            Signal::Down { .. } => unreachable!(),
        }
    }
    for (monitor, watcher) in monitors.watching() {
        assert_eq!(watcher, pid(1));
        let _ = a_queue.push(Signal::Down { monitor, reason: Reason::error("bye") });
    }
    for signal in b_queue.seal() {
        if let Signal::Monitor { monitor, .. } = signal {
            let _ = a_queue.push(Signal::Down { monitor, reason: Reason::NoProc });
        }
    }
}

/// A's side: `Down`s taken in now that it still holds are delivered.
fn take_in_downs(monitors: &mut Monitors, a_queue: &SignalQueue<Signal>) -> Vec<Reason> {
    let mut delivered = Vec::new();
    for signal in a_queue.take_all() {
        if let Signal::Down { monitor, reason } = signal
            && monitors.on_down(monitor).is_some()
        {
            delivered.push(reason);
        }
    }
    delivered
}

fn race(demonitor: bool) {
    loom::model(move || {
        let (a, b, monitor) = (pid(1), pid(2), monitor_ref(1));
        let a_queue = Arc::new(SignalQueue::new());
        let b_queue = Arc::new(SignalQueue::new());
        let dying = {
            let (a_queue, b_queue) = (Arc::clone(&a_queue), Arc::clone(&b_queue));
            thread::spawn(move || exit_of_b(&b_queue, &a_queue))
        };
        let mut monitors = Monitors::default();
        let mut delivered = Vec::new();
        monitors.hold(monitor, b, None);
        if b_queue.push(Signal::Monitor { from: a, monitor }).is_err() {
            monitors.release(monitor);
            delivered.push(Reason::NoProc);
        }
        if demonitor {
            delivered.extend(take_in_downs(&mut monitors, &a_queue));
            if monitors.release(monitor).is_some() {
                let _ = b_queue.push(Signal::Demonitor { monitor });
            }
            // `demonitor` has returned: nothing may be added from here on.
            dying.join().unwrap();
            assert_eq!(take_in_downs(&mut monitors, &a_queue), [], "a Down after demonitor returned");
            assert!(delivered.len() <= 1, "Downs: {delivered:?}");
        } else {
            dying.join().unwrap();
            delivered.extend(take_in_downs(&mut monitors, &a_queue));
            assert_eq!(delivered.len(), 1, "Downs: {delivered:?}");
            assert!(delivered[0] == Reason::NoProc || delivered[0] == Reason::error("bye"));
        }
        assert!(monitors.held().is_empty());
    });
}

/// Depends on: the push/seal pairing of the signal queue (a monitor signal is
/// either taken in, so B's exit sends a `Down`, or caught by the seal and
/// answered, or refused), with the push's Release pairing with the Acquire of
/// `take_all`/`seal`.
///
/// Mutation `LARIAT_MUTATION=signal_push_relaxed` fails here: "Causality
/// violation: Concurrent write accesses to `UnsafeCell`.".
#[test]
fn monitor_racing_exit_gives_exactly_one_down() {
    race(false);
}

/// Depends on: the holder dropping its ref in `demonitor` before anything else
/// it takes in (a `Down` that arrives later finds no ref and is dropped), and on
/// the same push/seal pairing as above (same mutation, same failure).
#[test]
fn demonitor_racing_exit_adds_no_down_after_it_returned() {
    race(true);
}
