//! The signal queue: concurrent pushes and a draining owner, and a push racing the seal.
#![cfg(loom)]

use lariat::loom_api::SignalQueue;
use loom::sync::Arc;
use loom::thread;

/// Depends on: the Release of the push CAS pairing with the Acquire swap of
/// `take_all`/`seal` (the owner reads a node's value only after that Acquire),
/// and on one CAS per push on one head (a total order of pushes).
/// (The Release is shown needed by the next model, where the owner seals.)
/// Sender 0 pushes the small form (a node of the other type, tagged pointers),
/// sender 1 the full one, so the two kinds of node interleave in one list.
#[test]
fn concurrent_pushes_and_a_draining_owner_lose_nothing_and_keep_per_sender_order() {
    loom::model(|| {
        let queue: Arc<SignalQueue<(u32, u32), (u32, u32)>> = Arc::new(SignalQueue::with_small_form());
        let senders: Vec<_> = (0..2u32)
            .map(|sender| {
                let queue = Arc::clone(&queue);
                thread::spawn(move || {
                    for seq in 0..2u32 {
                        let pushed = if sender == 0 {
                            queue.push_small((sender, seq)).is_ok()
                        } else {
                            queue.push((sender, seq)).is_ok()
                        };
                        assert!(pushed, "not sealed");
                    }
                })
            })
            .collect();
        let mut received = Vec::new();
        received.extend(queue.take_all());
        received.extend(queue.take_all());
        for sender in senders {
            sender.join().unwrap();
        }
        received.extend(queue.take_all());
        assert_eq!(received.len(), 4, "lost or duplicated: {received:?}");
        for sender in 0..2 {
            let seqs: Vec<u32> = received.iter().filter(|(s, _)| *s == sender).map(|(_, q)| *q).collect();
            assert_eq!(seqs, [0, 1], "sender {sender} out of order: {received:?}");
        }
    });
}

/// Depends on: the seal being one swap on the same head the pushes CAS, so each
/// push lands before it (delivered to the exit handling) or after it (refused to
/// its sender); and the push's Release pairing with the seal's Acquire.
///
/// Mutation `LARIAT_MUTATION=signal_push_relaxed` (push CAS Relaxed) fails
/// here: "Causality violation: Concurrent write accesses to `UnsafeCell`." (the
/// owner takes a value whose write it never synchronised with).
#[test]
fn a_push_racing_the_seal_is_delivered_or_refused_never_dropped() {
    loom::model(|| {
        let queue = Arc::new(SignalQueue::new());
        let sender_queue = Arc::clone(&queue);
        let sender = thread::spawn(move || sender_queue.push(7u32).is_err());
        let mut delivered: Vec<u32> = queue.take_all().collect();
        delivered.extend(queue.seal());
        let refused = sender.join().unwrap();
        assert!(queue.is_sealed());
        assert_eq!(delivered.len() + usize::from(refused), 1, "delivered {delivered:?}, refused {refused}");
    });
}
