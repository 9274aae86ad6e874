//! Refs, aliases and `Cx::call` (issue 23): OTP 24's `alias`/`unalias` and
//! `gen_server:call` semantics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lariat::{CallError, Exit, Pid, Reason, ReplyTo, Request};

struct Double(u64);
struct Stop;

/// A server that answers `Double` until told to stop (then ends with `reason`).
fn double_server(reason: Reason) -> impl FnOnce(&mut lariat::Cx) -> Result<(), Reason> + Send + 'static {
    move |cx| {
        loop {
            let next = cx.receive_map(|message| {
                if message.is::<Stop>() {
                    return Some(None);
                }
                take::<Request<Double, u64>>(message).map(Some)
            })?;
            match next {
                Some(call) => {
                    let Double(n) = call.request;
                    call.reply_to.reply(cx, 2 * n);
                }
                None => return Err(reason),
            }
        }
    }
}

fn take<T: Send + 'static>(message: &mut lariat::Message) -> Option<T> {
    if !message.is::<T>() {
        return None;
    }
    std::mem::replace(message, lariat::Message::new(())).downcast::<T>().ok()
}

#[test]
fn a_call_gets_its_answer_and_leaves_nothing_behind() {
    let runtime = common::runtime(2);
    let (answer, left) = runtime
        .block_on(|cx| {
            let server = cx.spawn(double_server(Reason::Normal))?;
            let answer: u64 = cx.call(server, Double(21), Duration::from_secs(5))?;
            cx.send(server, Stop);
            Ok::<_, Reason>((answer, cx.mailbox_len()))
        })
        .unwrap();
    assert_eq!(answer, 42);
    assert_eq!(left, 0, "no reply, Down or anything else of the call stays");
}

#[test]
fn a_call_to_a_dead_or_never_started_server_fails_with_noproc() {
    let runtime = common::runtime(1);
    let error = runtime
        .block_on(|cx| {
            let gone = cx.spawn(|_| Ok(()))?;
            while cx.is_alive(gone) {
                cx.yield_now()?;
            }
            Ok::<_, Reason>(cx.call::<Double, u64>(gone, Double(1), Duration::from_secs(5)).unwrap_err())
        })
        .unwrap();
    assert_eq!(error, CallError::Exited(Reason::NoProc));
}

#[test]
fn a_server_dying_mid_call_fails_the_call_with_its_reason() {
    let runtime = common::runtime(2);
    let (error, left) = runtime
        .block_on(|cx| {
            let server = cx.spawn(|cx| {
                let _call = cx.receive::<Request<Double, u64>>()?;
                Err::<(), _>(Reason::error("crashed mid-call"))
            })?;
            let error = cx.call::<Double, u64>(server, Double(1), Duration::from_secs(5)).unwrap_err();
            Ok::<_, Reason>((error, cx.mailbox_len()))
        })
        .unwrap();
    assert_eq!(error, CallError::Exited(Reason::error("crashed mid-call")));
    assert_eq!(left, 0);
}

/// A server that answers only after the caller gave up: the late answer is
/// dropped when it arrives (the call's alias is gone), never left in the
/// caller's mailbox; the answer's destructor runs.
#[test]
fn a_late_reply_is_dropped_and_never_left_in_the_mailbox() {
    struct Answer(Arc<AtomicUsize>);
    impl Drop for Answer {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let runtime = common::runtime(2);
    let dropped_in = Arc::clone(&dropped);
    let (error, left) = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let server = cx.spawn(move |cx| {
                let call = cx.receive::<Request<(), Answer>>()?;
                cx.receive::<Stop>()?; // answers once the caller says it gave up
                call.reply_to.reply(cx, Answer(dropped_in));
                cx.send(me, "replied");
                Ok(())
            })?;
            let Err(error) = cx.call::<(), Answer>(server, (), Duration::from_millis(50)) else {
                panic!("the server answers only after the timeout")
            };
            cx.send(server, Stop);
            let replied: &str = cx.receive()?;
            assert_eq!(replied, "replied");
            // The reply was sent before "replied": it has been taken in (and dropped).
            Ok::<_, Reason>((error, cx.mailbox_len()))
        })
        .unwrap();
    assert_eq!(error, CallError::Timeout);
    assert_eq!(left, 0, "the late reply is not in the mailbox");
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the late reply was dropped");
}

/// A call from a process holding 100,000 unrelated messages finds its answer
/// without looking at them: it charges the reductions of a call from an
/// empty mailbox (a scan of the backlog would charge one per 64 messages),
/// and the backlog stays whole and in order.
#[test]
fn a_call_does_not_scan_the_callers_backlog() {
    const BACKLOG: u64 = 100_000;
    let runtime = common::runtime(2);
    let (empty, backlogged, backlog) = runtime
        .block_on(|cx| {
            let server = cx.spawn(double_server(Reason::Normal))?;
            let me = cx.pid();
            let cost = |cx: &mut lariat::Cx| -> Result<u64, Reason> {
                let before = cx.reductions();
                for n in 0..10 {
                    assert_eq!(cx.call::<Double, u64>(server, Double(n), Duration::from_secs(5))?, 2 * n);
                }
                Ok(cx.reductions() - before)
            };
            cost(cx)?; // warm
            let empty = cost(cx)?;
            for n in 0..BACKLOG {
                cx.send(me, n);
            }
            cost(cx)?; // takes the backlog in once
            let backlogged = cost(cx)?;
            let backlog: Vec<u64> = (0..BACKLOG).map(|_| cx.receive::<u64>()).collect::<Result<_, _>>()?;
            cx.send(server, Stop);
            Ok::<_, Reason>((empty, backlogged, backlog))
        })
        .unwrap();
    assert!(backlogged <= empty + 10, "10 calls charged {backlogged} reductions with a backlog, {empty} without");
    assert_eq!(backlog, (0..BACKLOG).collect::<Vec<_>>());
}

/// The server may answer later, from another process: `ReplyTo` is `Send`.
#[test]
fn a_server_may_hand_the_answer_to_another_process() {
    let runtime = common::runtime(2);
    let answer = runtime
        .block_on(|cx| {
            let server = cx.spawn(|cx| {
                let call = cx.receive::<Request<Double, u64>>()?;
                let Double(n) = call.request;
                let reply_to: ReplyTo<u64> = call.reply_to;
                cx.spawn(move |cx| {
                    reply_to.reply(cx, n + 1);
                    Ok(())
                })?;
                // Alive until the caller is done: a server that ends before the
                // answer arrives fails the call (its `Down` comes first).
                cx.receive::<Stop>()?;
                Ok(())
            })?;
            let answer = cx.call::<Double, u64>(server, Double(41), Duration::from_secs(5))?;
            cx.send(server, Stop);
            Ok::<_, Reason>(answer)
        })
        .unwrap();
    assert_eq!(answer, 42);
}

/// A caller killed while it waits ends with `killed`; the call says so.
#[test]
fn a_caller_told_to_end_while_it_waits_ends_with_that_reason() {
    let runtime = common::runtime(2);
    let reason = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            let server = cx.spawn(|cx| {
                let _call = cx.receive::<Request<(), ()>>()?;
                cx.receive::<Stop>()?;
                Ok(())
            })?;
            let caller = cx.spawn_link(move |cx| {
                cx.send(me, cx.pid());
                let error = cx.call::<(), ()>(server, (), Duration::from_secs(60)).unwrap_err();
                assert_eq!(error, CallError::Ended(Reason::Killed));
                Err(error.into())
            })?;
            let _: Pid = cx.receive()?;
            cx.sleep(Duration::from_millis(20))?;
            cx.exit(caller, Reason::Kill)?;
            let exit = cx.receive::<Exit>()?;
            cx.send(server, Stop);
            Ok::<_, Reason>(exit.reason)
        })
        .unwrap();
    assert_eq!(reason, Reason::Killed);
}

/// A failed call ends a caller that propagates it with `?` abnormally, even
/// when the server ended `normal` (Erlang: `{normal, {gen_server, call, ...}}`).
#[test]
fn a_failed_call_never_converts_to_a_normal_reason() {
    let exited: Reason = CallError::Exited(Reason::Normal).into();
    assert!(!exited.is_normal());
    assert!(exited.to_string().contains("normal"), "{exited}");
    let timeout: Reason = CallError::Timeout.into();
    assert!(!timeout.is_normal());
    let ended: Reason = CallError::Ended(Reason::Killed).into();
    assert_eq!(ended, Reason::Killed);
}

struct Tagged(u32);

#[test]
fn a_message_to_an_active_alias_arrives_in_order_with_direct_sends() {
    let runtime = common::runtime(2);
    let order = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let alias = cx.alias();
            assert_eq!(alias.pid(), me);
            cx.spawn(move |cx| {
                cx.send(me, Tagged(1));
                cx.send_to_alias(alias, Tagged(2));
                cx.send(me, Tagged(3));
                Ok(())
            })?;
            let order: Vec<u32> = (0..3).map(|_| cx.receive::<Tagged>().map(|t| t.0)).collect::<Result<_, _>>()?;
            Ok::<_, Reason>(order)
        })
        .unwrap();
    assert_eq!(order, vec![1, 2, 3]);
}

#[test]
fn messages_to_an_inactive_alias_or_a_dead_process_alias_are_dropped_with_their_destructor() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let runtime = common::runtime(2);
    let counter = Arc::clone(&dropped);
    let (left, unaliased_twice) = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let alias = cx.alias();
            assert!(cx.unalias(alias));
            let unaliased_twice = cx.unalias(alias);
            let (sent, dead) = (Arc::clone(&counter), Arc::clone(&counter));
            let dead_alias = {
                let (tx, rx) = std::sync::mpsc::channel();
                cx.spawn(move |cx| {
                    tx.send(cx.alias()).unwrap();
                    Ok(())
                })?;
                let dead_alias = rx.recv().unwrap();
                while cx.is_alive(dead_alias.pid()) {
                    cx.yield_now()?;
                }
                dead_alias
            };
            cx.spawn(move |cx| {
                cx.send_to_alias(alias, Counted(sent));
                cx.send_to_alias(dead_alias, Counted(dead));
                cx.send(me, "done");
                Ok(())
            })?;
            let done: &str = cx.receive()?;
            assert_eq!(done, "done");
            Ok::<_, Reason>((cx.mailbox_len(), unaliased_twice))
        })
        .unwrap();
    assert_eq!(left, 0, "nothing sent to the inactive alias arrived");
    assert!(!unaliased_twice);
    assert_eq!(dropped.load(Ordering::SeqCst), 2, "both messages were dropped, destructors run");
}

#[test]
fn refs_are_unique() {
    let runtime = common::runtime(2);
    let refs = runtime
        .block_on(|cx| Ok::<_, Reason>((0..1000).map(|_| cx.make_ref()).collect::<std::collections::HashSet<_>>()))
        .unwrap();
    assert_eq!(refs.len(), 1000);
}

/// An alias for one reply lets in the first message sent to it and drops the
/// next (a call's reply alias: a second answer never stays behind).
#[test]
fn an_alias_for_one_reply_lets_in_only_the_first_message() {
    let runtime = common::runtime(2);
    let (first, left) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let alias = cx.alias_for_reply();
            cx.spawn(move |cx| {
                cx.send_to_alias(alias, Tagged(1));
                cx.send_to_alias(alias, Tagged(2));
                cx.send(me, "sent");
                Ok(())
            })?;
            let first = cx.receive::<Tagged>()?.0;
            let sent: &str = cx.receive()?;
            assert_eq!(sent, "sent");
            Ok::<_, Reason>((first, cx.mailbox_len()))
        })
        .unwrap();
    assert_eq!(first, 1);
    assert_eq!(left, 0, "the second message was dropped");
}
