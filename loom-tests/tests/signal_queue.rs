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
/// Mutation `--cfg lariat_mutation="signal_push_relaxed"` (push CAS Relaxed) fails
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

/// A sender's gathered messages (`Outgoing`, pushed with `push_all_small`)
/// racing another sender's single push and the owner's take and seal: they land
/// whole and in their order, with nothing between them, or are refused whole.
///
/// Depends on: the chain being published by one CAS (its oldest node linked to
/// the head before it) whose Release pairs with the owner's Acquire swap.
/// Mutation `--cfg lariat_mutation="signal_push_relaxed"` fails here:
/// "Causality violation: Concurrent write accesses to `UnsafeCell`."
#[test]
fn a_gathered_burst_lands_whole_and_in_order_or_is_refused_whole() {
    use lariat::loom_api::Outgoing;
    loom::model(|| {
        let queue: Arc<SignalQueue<u32, u32>> = Arc::new(SignalQueue::with_small_form());
        let burst_queue = Arc::clone(&queue);
        let burst = thread::spawn(move || {
            let mut gathered = Outgoing::default();
            gathered.push(1u32);
            gathered.push(2u32);
            burst_queue.push_all_small(gathered).is_err()
        });
        let single_queue = Arc::clone(&queue);
        let single = thread::spawn(move || single_queue.push_small(9u32).is_err());
        let mut delivered: Vec<u32> = queue.take_all().collect();
        delivered.extend(queue.seal());
        let burst_refused = burst.join().unwrap();
        let single_refused = single.join().unwrap();
        let burst_part: Vec<u32> = delivered.iter().copied().filter(|&value| value != 9).collect();
        if burst_refused {
            assert!(burst_part.is_empty(), "refused yet delivered: {delivered:?}");
        } else {
            let at = delivered.iter().position(|&value| value == 1).expect("delivered");
            assert_eq!(&delivered[at..at + 2], [1, 2], "split or reordered: {delivered:?}");
        }
        assert_eq!(delivered.contains(&9), !single_refused, "{delivered:?}");
        assert_eq!(delivered.len(), 2 * usize::from(!burst_refused) + usize::from(!single_refused));
    });
}
