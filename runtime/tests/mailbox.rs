//! Receiving: order, selective receive, timeouts, sleep.

mod common;

use std::time::Duration;

use lariat::{Message, Pid, Reason};

#[derive(Debug, PartialEq)]
struct Seq(u32);
#[derive(Debug, PartialEq)]
struct Other(&'static str);

#[test]
fn messages_from_one_sender_arrive_in_order() {
    let runtime = common::runtime(2);
    let received = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.spawn(move |cx| {
                for i in 0..50_000 {
                    cx.send(me, Seq(i));
                }
                Ok(())
            })?;
            let mut received = Vec::new();
            for _ in 0..50_000 {
                received.push(cx.receive::<Seq>()?.0);
            }
            Ok::<_, Reason>(received)
        })
        .unwrap();
    assert!(received.iter().copied().eq(0..50_000));
}

#[test]
fn messages_sent_from_outside_arrive_in_order() {
    let runtime = common::runtime(2);
    let (tx, rx) = std::sync::mpsc::channel::<Pid>();
    let handle = runtime.handle();
    let sender = std::thread::spawn(move || {
        let to = rx.recv().unwrap();
        for i in 0..10_000 {
            handle.send(to, Seq(i));
        }
    });
    let received = runtime
        .block_on(move |cx| {
            tx.send(cx.pid()).unwrap();
            let mut received = Vec::new();
            for _ in 0..10_000 {
                received.push(cx.receive::<Seq>()?.0);
            }
            Ok::<_, Reason>(received)
        })
        .unwrap();
    sender.join().unwrap();
    assert!(received.iter().copied().eq(0..10_000));
}

#[test]
fn selective_receive_leaves_the_rest_in_order() {
    let runtime = common::runtime(2);
    let (picked, rest) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.send(me, Other("a"));
            cx.send(me, Seq(1));
            cx.send(me, Other("b"));
            cx.send(me, Seq(2));
            cx.send(me, Other("c"));
            cx.send(me, Seq(3));
            let picked = cx.receive_if::<Seq>(|seq| seq.0 == 2)?;
            let mut rest = Vec::new();
            for _ in 0..5 {
                let message = cx.receive_any()?;
                rest.push(match message.downcast::<Seq>() {
                    Ok(Seq(n)) => format!("seq{n}"),
                    Err(message) => message.downcast::<Other>().unwrap().0.to_owned(),
                });
            }
            Ok::<_, Reason>((picked, rest))
        })
        .unwrap();
    assert_eq!(picked, Seq(2));
    assert_eq!(rest, ["a", "seq1", "b", "c", "seq3"]);
}

#[test]
fn a_matching_closure_can_take_the_message_by_value() {
    let runtime = common::runtime(1);
    let text = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.send(me, 5u8);
            cx.send(me, String::from("wanted"));
            let text = cx.receive_map(|message: &mut Message| message.downcast_mut::<String>().map(std::mem::take))?;
            assert_eq!(cx.mailbox_len(), 1, "the u8 stays");
            Ok::<_, Reason>(text)
        })
        .unwrap();
    assert_eq!(text, "wanted");
}

#[test]
fn a_receive_waiting_for_a_type_ignores_others_until_it_arrives() {
    let runtime = common::runtime(2);
    let got = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.spawn(move |cx| {
                for _ in 0..1000 {
                    cx.send(me, Other("noise"));
                }
                cx.yield_now()?;
                cx.send(me, Seq(7));
                Ok(())
            })?;
            let got = cx.receive::<Seq>()?;
            assert_eq!(cx.mailbox_len(), 1000);
            Ok::<_, Reason>(got)
        })
        .unwrap();
    assert_eq!(got, Seq(7));
}

#[test]
fn a_receive_timeout_fires_when_nothing_matches() {
    let runtime = common::runtime(2);
    let outcome = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.send(me, Other("not this"));
            let got = cx.receive_timeout::<Seq>(Duration::from_millis(20))?;
            Ok::<_, Reason>((got, cx.mailbox_len()))
        })
        .unwrap();
    assert_eq!(outcome, (None, 1));
}

#[test]
fn a_zero_timeout_only_looks_at_what_is_there() {
    let runtime = common::runtime(1);
    let outcome = runtime
        .block_on(|cx| {
            let none = cx.receive_timeout::<Seq>(Duration::ZERO)?;
            let me = cx.pid();
            cx.send(me, Seq(1));
            let some = cx.receive_timeout::<Seq>(Duration::ZERO)?;
            Ok::<_, Reason>((none, some))
        })
        .unwrap();
    assert_eq!(outcome, (None, Some(Seq(1))));
}

#[test]
fn a_message_racing_a_receive_timeout_is_never_lost() {
    let runtime = common::runtime(2);
    let (by_receive, after_timeout) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let mut by_receive = 0;
            let mut after_timeout = 0;
            for round in 0..2000u32 {
                cx.spawn(move |cx| {
                    if round % 2 == 0 {
                        cx.yield_now()?;
                    }
                    cx.send(me, Seq(round));
                    Ok(())
                })?;
                match cx.receive_timeout::<Seq>(Duration::from_micros(u64::from(round % 50)))? {
                    Some(Seq(n)) => {
                        assert_eq!(n, round);
                        by_receive += 1;
                    }
                    None => {
                        // Timed out: the message must still arrive, exactly once.
                        assert_eq!(cx.receive::<Seq>()?, Seq(round));
                        after_timeout += 1;
                    }
                }
            }
            assert_eq!(cx.receive_timeout::<Seq>(Duration::from_millis(5))?, None, "no duplicate");
            Ok::<_, Reason>((by_receive, after_timeout))
        })
        .unwrap();
    assert_eq!(by_receive + after_timeout, 2000);
}

/// A receive that is answered (or killed) long before its timeout disarms its
/// timer: a server loop with a long timeout keeps no timer per message it got.
#[test]
fn receive_timeouts_met_early_leave_no_timer_armed() {
    let runtime = common::runtime(2);
    let hour = Duration::from_secs(3600);
    runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let echo = cx.spawn(move |cx| {
                loop {
                    let Seq(n) = cx.receive::<Seq>()?;
                    cx.send(me, Seq(n));
                }
            })?;
            for round in 0..10_000 {
                cx.send(echo, Seq(round));
                assert_eq!(cx.receive_timeout::<Seq>(hour)?, Some(Seq(round)));
            }
            let sleeper = cx.spawn(move |cx| cx.sleep(hour))?;
            let waiter = cx.spawn(move |cx| cx.receive_timeout::<Seq>(hour).map(drop))?;
            cx.yield_now()?;
            for pid in [echo, sleeper, waiter] {
                cx.exit(pid, Reason::Kill)?;
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while runtime.live_processes() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(runtime.pending_timers(), 0);
}

/// A matcher that panics on a message (the process catches the panic) leaves
/// that message in the mailbox, and its timer is disarmed by the next receive
/// (or the process's exit) at the latest.
#[test]
fn a_panicking_matcher_keeps_the_message_and_disarms_the_timer() {
    let runtime = common::runtime(2);
    let outcome = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.spawn(move |cx| {
                cx.sleep(Duration::from_millis(5))?;
                cx.send(me, Other("explosive"));
                Ok(())
            })?;
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                cx.receive_map_timeout(Duration::from_secs(3600), |message| -> Option<()> {
                    assert!(!message.is::<Other>(), "a matcher that panics");
                    None
                })
            }));
            // The next receive disarms what the panicking one left armed.
            let kept = cx.receive_timeout::<Other>(Duration::ZERO)?;
            Ok::<_, Reason>((caught.is_err(), cx.handle().pending_timers(), kept))
        })
        .unwrap();
    assert_eq!(outcome, (true, 0, Some(Other("explosive"))));
}

#[test]
fn sleep_waits_and_keeps_messages_for_later() {
    let runtime = common::runtime(2);
    let (slept, got) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.spawn(move |cx| {
                cx.send(me, Seq(1));
                Ok(())
            })?;
            let start = std::time::Instant::now();
            cx.sleep(Duration::from_millis(30))?;
            let slept = start.elapsed();
            Ok::<_, Reason>((slept, cx.receive::<Seq>()?))
        })
        .unwrap();
    assert!(slept >= Duration::from_millis(30), "sleep returned early: {slept:?}");
    assert_eq!(got, Seq(1));
}

#[test]
fn many_concurrent_timeouts_each_fire() {
    let runtime = common::runtime(2);
    let fired = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for i in 0..1000u64 {
                cx.spawn(move |cx| {
                    let got = cx.receive_timeout::<Seq>(Duration::from_millis(1 + i % 20))?;
                    cx.send(me, got.is_none());
                    Ok(())
                })?;
            }
            let mut fired = 0;
            for _ in 0..1000 {
                fired += usize::from(cx.receive::<bool>()?);
            }
            Ok::<_, Reason>(fired)
        })
        .unwrap();
    assert_eq!(fired, 1000);
}

mod randomised {
    use std::collections::VecDeque;
    use std::sync::OnceLock;

    use lariat::{Reason, Runtime};
    use proptest::prelude::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Sent {
        A(u8),
        B(u8),
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Send this to self.
        Send(Sent),
        /// Receive the first A whose value is at least this (if the model has one).
        ReceiveAAtLeast(u8),
        /// Receive the first B (if the model has one).
        ReceiveB,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..8).prop_map(|v| Step::Send(Sent::A(v))),
            (0u8..8).prop_map(|v| Step::Send(Sent::B(v))),
            (0u8..8).prop_map(Step::ReceiveAAtLeast),
            Just(Step::ReceiveB),
        ]
    }

    /// Far longer than any receive here needs: a miss means a lost message.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

    fn runtime() -> &'static Runtime {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        RUNTIME.get_or_init(|| Runtime::builder().workers(2).build().unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Selective receive against a model: a VecDeque where a receive removes the
        /// first matching element and leaves the rest in order.
        #[test]
        fn selective_receive_behaves_like_removing_the_first_match(steps in proptest::collection::vec(step(), 1..60)) {
            let got = runtime().block_on(move |cx| {
                let me = cx.pid();
                let mut model: VecDeque<Sent> = VecDeque::new();
                let mut received = Vec::new();
                for step in steps {
                    match step {
                        Step::Send(Sent::A(v)) => { cx.send(me, ('a', v)); model.push_back(Sent::A(v)); }
                        Step::Send(Sent::B(v)) => { cx.send(me, v); model.push_back(Sent::B(v)); }
                        Step::ReceiveAAtLeast(min) => {
                            let Some(index) = model.iter().position(|m| matches!(m, Sent::A(v) if *v >= min)) else { continue };
                            let expected = model.remove(index).unwrap();
                            let (_, v) = cx
                                .receive_map_timeout(PATIENCE, |m| {
                                    m.downcast_ref::<(char, u8)>().copied().filter(|(_, v)| *v >= min)
                                })?
                                .ok_or_else(|| Reason::error("a matching A was never received"))?;
                            received.push((Sent::A(v), expected));
                        }
                        Step::ReceiveB => {
                            let Some(index) = model.iter().position(|m| matches!(m, Sent::B(_))) else { continue };
                            let expected = model.remove(index).unwrap();
                            let v = cx
                                .receive_timeout::<u8>(PATIENCE)?
                                .ok_or_else(|| Reason::error("a B was never received"))?;
                            received.push((Sent::B(v), expected));
                        }
                    }
                }
                // What is left comes out in the model's order.
                for expected in model {
                    let message = cx.receive_any()?;
                    let actual = match message.downcast::<u8>() {
                        Ok(v) => Sent::B(v),
                        Err(message) => Sent::A(message.downcast::<(char, u8)>().unwrap().1),
                    };
                    received.push((actual, expected));
                }
                Ok::<_, Reason>(received)
            }).unwrap();
            for (actual, expected) in got {
                prop_assert_eq!(actual, expected);
            }
        }
    }
}

#[test]
fn a_receive_loop_with_one_overall_deadline_times_out() {
    // Timers of earlier waits fire late, in one batch with the current one: the
    // current wait must still see its own timeout.
    let runtime = common::runtime(2);
    let rounds = runtime
        .block_on(|cx| {
            let deadline = std::time::Instant::now() + Duration::from_millis(30);
            let mut rounds = 0u32;
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                rounds += 1;
                if cx.receive_timeout::<Seq>(left.min(Duration::from_micros(u64::from(rounds % 7) * 100)))?.is_none()
                    && left.is_zero()
                {
                    return Ok::<_, Reason>(rounds);
                }
            }
        })
        .unwrap();
    assert!(rounds > 1);
}

// ---- sends to a busy receiver (gathered and pushed together; see `Cx::send`) ----

#[test]
fn messages_from_four_senders_to_one_busy_receiver_all_arrive_each_in_its_order() {
    const SENDERS: u32 = 4;
    const EACH: u32 = 20_000;
    let runtime = common::runtime(2);
    let received = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for sender in 0..SENDERS {
                cx.spawn(move |cx| {
                    for seq in 0..EACH {
                        cx.send(me, (sender, seq));
                    }
                    Ok(())
                })?;
            }
            let mut received = Vec::new();
            for _ in 0..SENDERS * EACH {
                received.push(cx.receive::<(u32, u32)>()?);
            }
            Ok::<_, Reason>(received)
        })
        .unwrap();
    for sender in 0..SENDERS {
        let seqs: Vec<u32> = received.iter().filter(|(s, _)| *s == sender).map(|(_, seq)| *seq).collect();
        assert!(seqs.iter().copied().eq(0..EACH), "sender {sender}: {} messages, out of order or lost", seqs.len());
    }
}

/// On one worker the receiver cannot run while the sender does, so every
/// message after the first lands behind it and is gathered: the sender's exit
/// signal must still come after all of them.
#[test]
fn messages_held_back_for_a_busy_receiver_arrive_before_the_senders_exit_signal() {
    let runtime = common::runtime(1);
    let order = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let sender = cx.spawn_link(|cx| {
                let receiver = cx.links()[0];
                for i in 0..100 {
                    cx.send(receiver, Seq(i));
                }
                Err(Reason::error("boom"))
            })?;
            let mut order = Vec::new();
            loop {
                let message = cx.receive_any()?;
                match message.downcast::<Seq>() {
                    Ok(seq) => order.push(seq.0),
                    Err(message) => {
                        let exit = message.downcast::<lariat::Exit>().map_err(|_| Reason::error("unexpected"))?;
                        assert_eq!((exit.from, exit.reason), (sender, Reason::error("boom")));
                        break;
                    }
                }
            }
            Ok::<_, Reason>(order)
        })
        .unwrap();
    assert!(order.iter().copied().eq(0..100), "got {order:?}");
}

/// Asking for the receiver's info is a signal to it, sent after the burst.
#[test]
fn process_info_after_a_burst_to_a_busy_receiver_counts_every_message_sent_before_it() {
    let runtime = common::runtime(1);
    let counted = runtime
        .block_on(|cx| {
            let receiver = cx.spawn(|cx| {
                cx.receive::<Other>()?;
                Ok(())
            })?;
            cx.send(receiver, Seq(0)); // wakes it; it cannot run before this process waits
            for i in 1..50 {
                cx.send(receiver, Seq(i));
            }
            let info = cx.process_info(receiver)?.expect("alive");
            cx.send(receiver, Other("done"));
            Ok::<_, Reason>(info.mailbox_len)
        })
        .unwrap();
    assert_eq!(counted, 50);
}

/// A burst to a receiver that is busy, then a wait: the wait pushes what was
/// held back, so the receiver's reply comes.
#[test]
fn a_burst_held_back_for_a_busy_receiver_goes_when_the_sender_waits() {
    let runtime = common::runtime(1);
    let total = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let receiver = cx.spawn(move |cx| {
                let mut total = 0;
                for _ in 0..40 {
                    total += cx.receive::<Seq>()?.0;
                }
                cx.send(me, total);
                Ok(())
            })?;
            for i in 0..40 {
                cx.send(receiver, Seq(i));
            }
            cx.receive::<u32>()
        })
        .unwrap();
    assert_eq!(total, (0..40).sum::<u32>());
}
