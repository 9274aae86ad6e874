//! Links, exit signals and trap_exit: the examples of semantics.md §9 (each row a
//! named test) and the races of issue #3.

mod common;

use std::time::Duration;

use lariat::{BlockOnError, Cx, Exit, Pid, Reason, Runtime};

struct Go;

/// Waits (politely) until `pid` is gone.
fn wait_gone(cx: &mut Cx, pid: Pid) -> Result<(), Reason> {
    let handle = cx.handle();
    while handle.is_alive(pid) {
        cx.sleep(Duration::from_millis(1))?;
    }
    Ok(())
}

fn boom() -> Reason {
    Reason::error("boom")
}

/// Spawns `count` processes that wait for a `Go` and then end normally.
fn idle_workers(cx: &mut Cx, count: usize) -> Result<Vec<Pid>, Reason> {
    (0..count).map(|_| cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))).collect::<Result<_, _>>().map_err(Reason::from)
}

#[test]
fn l1_a_linked_process_that_returns_leaves_a_non_trapping_peer_alive_and_unlinked() {
    let runtime = common::runtime(2);
    let links = runtime
        .block_on(|cx| {
            let a = cx.spawn_link(|cx| {
                cx.receive::<Go>()?;
                Ok(())
            })?;
            assert_eq!(cx.links(), vec![a]);
            cx.send(a, Go);
            wait_gone(cx, a)?;
            cx.sleep(Duration::from_millis(5))?;
            Ok::<_, Reason>(cx.links())
        })
        .unwrap();
    assert!(links.is_empty());
}

#[test]
fn l2_a_linked_process_ending_with_boom_kills_a_non_trapping_peer_with_boom() {
    let runtime = common::runtime(2);
    let result = runtime.block_on(|cx| {
        let a = cx.spawn_link(|cx| {
            cx.receive::<Go>()?;
            Err(boom())
        })?;
        cx.send(a, Go);
        cx.receive::<()>()?;
        Ok::<_, Reason>("survived")
    });
    assert_eq!(result, Err(BlockOnError::Exited(boom())));
}

#[test]
fn l3_a_trapping_peer_gets_exit_normal() {
    let runtime = common::runtime(2);
    let (a, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let a = cx.spawn_link(|_| Ok(()))?;
            Ok::<_, Reason>((a, cx.receive::<Exit>()?))
        })
        .unwrap();
    assert_eq!(exit, Exit { from: a, reason: Reason::Normal });
}

#[test]
fn l4_a_trapping_peer_gets_the_panic_message() {
    let runtime = common::runtime(2);
    let exit = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            cx.spawn_link(|_| panic!("divided by zero"))?;
            cx.receive::<Exit>()
        })
        .unwrap();
    match exit.reason {
        Reason::Panic(message) => assert!(message.contains("divided by zero"), "{message}"),
        other => panic!("expected a panic reason, got {other:?}"),
    }
}

#[test]
fn k1_a_trapping_peer_of_a_process_that_exits_with_kill_gets_exit_kill_and_lives() {
    let runtime = common::runtime(2);
    let (a, exit, alive) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let a = cx.spawn_link(|_| Err(Reason::Kill))?;
            let exit = cx.receive::<Exit>()?;
            cx.sleep(Duration::from_millis(5))?;
            Ok::<_, Reason>((a, exit, true))
        })
        .unwrap();
    assert_eq!(exit, Exit { from: a, reason: Reason::Kill });
    assert!(alive);
}

#[test]
fn k2_kill_spreads_as_kill_to_a_non_trapping_link_and_stops_at_a_trapping_one() {
    let runtime = common::runtime(2);
    let (b, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true); // C
            let c = cx.pid();
            let b = cx.spawn_link(move |cx| {
                let a = cx.spawn_link(|cx| {
                    cx.receive::<Go>()?;
                    Err(Reason::Kill)
                })?;
                cx.send(c, a);
                cx.receive::<()>()?;
                Ok(())
            })?;
            let a: Pid = cx.receive()?;
            cx.send(a, Go);
            Ok::<_, Reason>((b, cx.receive::<Exit>()?))
        })
        .unwrap();
    assert_eq!(exit, Exit { from: b, reason: Reason::Kill }, "B died with kill and C trapped it");
}

#[test]
fn k4_exit_kill_on_a_linked_process_makes_it_killed_for_its_trapping_peer() {
    let runtime = common::runtime(2);
    let (a, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let a = cx.spawn_link(|cx| {
                cx.receive::<()>()?;
                Ok(())
            })?;
            cx.exit(a, Reason::Kill)?;
            Ok::<_, Reason>((a, cx.receive::<Exit>()?))
        })
        .unwrap();
    assert_eq!(exit, Exit { from: a, reason: Reason::Killed });
}

#[test]
fn k5_exit_kill_kills_even_a_trapping_process_with_killed() {
    let runtime = common::runtime(2);
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = runtime.handle();
    let killer = std::thread::spawn(move || handle.exit(rx.recv().unwrap(), Reason::Kill));
    let result = runtime.block_on(move |cx| {
        cx.trap_exit(true);
        tx.send(cx.pid()).unwrap();
        let exit = cx.receive::<Exit>()?;
        Ok::<_, Reason>(exit)
    });
    killer.join().unwrap();
    assert_eq!(result, Err(BlockOnError::Exited(Reason::Killed)));
}

#[test]
fn n1_exit_normal_to_a_non_trapping_process_has_no_effect() {
    let runtime = common::runtime(2);
    let answer = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let a = cx.spawn(move |cx| {
                cx.receive::<Go>()?;
                cx.send(me, "still here");
                Ok(())
            })?;
            cx.exit(a, Reason::Normal)?;
            cx.send(a, Go);
            cx.receive::<&str>()
        })
        .unwrap();
    assert_eq!(answer, "still here");
}

#[test]
fn n2_exit_self_normal_kills_a_non_trapping_caller_with_normal() {
    let runtime = common::runtime(1);
    let result = runtime.block_on(|cx| {
        let me = cx.pid();
        cx.exit(me, Reason::Normal)?;
        Ok::<_, Reason>("returned")
    });
    assert_eq!(result, Err(BlockOnError::Exited(Reason::Normal)));
}

#[test]
fn n3_exit_self_normal_is_a_message_to_a_trapping_caller() {
    let runtime = common::runtime(1);
    let (me, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            cx.exit(me, Reason::Normal)?;
            Ok::<_, Reason>((me, cx.receive::<Exit>()?))
        })
        .unwrap();
    assert_eq!(exit, Exit { from: me, reason: Reason::Normal });
}

#[test]
fn exit_self_with_a_reason_ends_the_caller_before_the_call_returns() {
    let runtime = common::runtime(1);
    let result = runtime.block_on(|cx| {
        let me = cx.pid();
        cx.exit(me, boom())?;
        Ok::<_, Reason>("returned")
    });
    assert_eq!(result, Err(BlockOnError::Exited(boom())));
}

fn dead_pid(cx: &mut Cx) -> Result<Pid, Reason> {
    let dead = cx.spawn(|_| Ok(()))?;
    wait_gone(cx, dead)?;
    Ok(dead)
}

#[test]
fn lk1_linking_to_a_dead_process_without_trapping_is_noproc() {
    let runtime = common::runtime(2);
    let result = runtime
        .block_on(|cx| {
            let dead = dead_pid(cx)?;
            Ok::<_, Reason>(cx.link(dead))
        })
        .unwrap();
    assert_eq!(result, Err(Reason::NoProc));
    // Propagated with `?`, the caller ends with noproc, as in Erlang.
    let ended = runtime.block_on(|cx| {
        let dead = dead_pid(cx)?;
        cx.link(dead)?;
        Ok::<_, Reason>(())
    });
    assert_eq!(ended, Err(BlockOnError::Exited(Reason::NoProc)));
}

#[test]
fn lk2_linking_to_a_dead_process_while_trapping_gives_exit_noproc() {
    let runtime = common::runtime(2);
    let (dead, linked, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let dead = dead_pid(cx)?;
            let linked = cx.link(dead);
            Ok::<_, Reason>((dead, linked, cx.receive::<Exit>()?))
        })
        .unwrap();
    assert_eq!(linked, Ok(()));
    assert_eq!(exit, Exit { from: dead, reason: Reason::NoProc });
}

#[test]
fn lk4_link_twice_unlink_thrice_and_unlink_a_stranger_leave_no_links() {
    let runtime = common::runtime(2);
    let (links_between, links_after, peer_links) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let peer = cx.spawn(move |cx| {
                cx.receive::<Go>()?;
                let links = cx.links();
                cx.send(me, links);
                cx.receive::<Go>()?;
                Ok(())
            })?;
            let stranger = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
            cx.link(peer)?;
            cx.link(peer)?;
            cx.link(me)?;
            let between = cx.links();
            cx.unlink(peer);
            cx.unlink(peer);
            cx.unlink(peer);
            cx.unlink(stranger);
            cx.send(peer, Go);
            let peer_links: Vec<Pid> = cx.receive()?;
            cx.send(peer, Go);
            cx.send(stranger, Go);
            Ok::<_, Reason>((between.len(), cx.links(), peer_links))
        })
        .unwrap();
    assert_eq!(links_between, 1);
    assert!(links_after.is_empty());
    assert!(peer_links.is_empty(), "the peer saw {peer_links:?}");
}

#[test]
fn lk8_spawn_link_of_a_child_that_ends_at_once_reports_its_real_reason() {
    let runtime = common::runtime(2);
    let reasons = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let mut reasons = Vec::new();
            for _ in 0..1000 {
                let child = cx.spawn_link(|_| Err(Reason::error("r")))?;
                let exit = cx.receive::<Exit>()?;
                assert_eq!(exit.from, child);
                reasons.push(exit.reason);
            }
            Ok::<_, Reason>(reasons)
        })
        .unwrap();
    assert!(reasons.iter().all(|reason| *reason == Reason::error("r")), "{reasons:?}");
}

#[test]
fn o1_a_message_sent_before_exiting_arrives_before_the_exit_signal() {
    let runtime = common::runtime(2);
    let (first, second) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let b = cx.pid();
            let a = cx.spawn_link(move |cx| {
                cx.send(b, String::from("hello"));
                Err(Reason::error("bye"))
            })?;
            let first = cx.receive_any()?.downcast::<String>().ok();
            let second = cx.receive_any()?.downcast::<Exit>().ok();
            Ok::<_, Reason>((first, second.map(|exit| (exit.from == a, exit.reason))))
        })
        .unwrap();
    assert_eq!(first.as_deref(), Some("hello"));
    assert_eq!(second, Some((true, Reason::error("bye"))));
}

#[test]
fn t1_trap_exit_returns_the_previous_setting() {
    let runtime = common::runtime(1);
    let returned =
        runtime.block_on(|cx| Ok::<_, Reason>([cx.trap_exit(true), cx.trap_exit(true), cx.trap_exit(false)])).unwrap();
    assert_eq!(returned, [false, true, true]);
}

#[test]
fn exit_from_outside_comes_from_the_reserved_pid() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = runtime.handle();
    let sender = std::thread::spawn(move || handle.exit(rx.recv().unwrap(), Reason::Shutdown));
    let exit = runtime
        .block_on(move |cx| {
            cx.trap_exit(true);
            tx.send(cx.pid()).unwrap();
            cx.receive::<Exit>()
        })
        .unwrap();
    sender.join().unwrap();
    assert_eq!(exit.reason, Reason::Shutdown);
    assert_eq!(exit.from.runtime_id(), runtime.id());
    assert!(!runtime.handle().is_alive(exit.from));
}

#[test]
fn a_process_that_never_receives_can_still_be_killed() {
    let runtime = common::runtime(2);
    let result = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            let spinner = cx.spawn_link(move |cx| {
                loop {
                    cx.send(me, ());
                }
            })?;
            cx.receive::<()>()?;
            cx.exit(spinner, boom())?;
            loop {
                if let Ok(exit) = cx.receive_any()?.downcast::<Exit>() {
                    return Ok::<_, Reason>(exit);
                }
            }
        })
        .unwrap();
    assert_eq!(result.reason, boom());
}

#[test]
fn a_process_that_only_yields_can_still_be_killed() {
    let runtime = common::runtime(2);
    let exit = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            let yielder = cx.spawn_link(move |cx| {
                cx.send(me, ());
                loop {
                    cx.yield_now()?;
                }
            })?;
            cx.receive::<()>()?;
            cx.exit(yielder, boom())?;
            cx.receive::<Exit>()
        })
        .unwrap();
    assert_eq!(exit.reason, boom());
}

#[test]
fn a_crash_cascades_along_a_chain_of_links() {
    let runtime = common::runtime(2);
    let (first, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            // me – p1 – p2 – ... – p100; the last one fails with boom.
            fn chain(cx: &mut Cx, left: u32, top: Pid) -> Result<(), Reason> {
                if left == 0 {
                    let last = cx.pid();
                    cx.send(top, last);
                    cx.receive::<Go>()?;
                    return Err(boom());
                }
                cx.spawn_link(move |cx| chain(cx, left - 1, top))?;
                cx.receive::<()>()
            }
            let first = cx.spawn_link(move |cx| chain(cx, 100, me))?;
            let last: Pid = cx.receive()?;
            cx.send(last, Go);
            Ok::<_, Reason>((first, cx.receive::<Exit>()?))
        })
        .unwrap();
    assert_eq!(exit, Exit { from: first, reason: boom() });
}

#[test]
fn link_racing_exit_gives_exactly_one_outcome() {
    let runtime = common::runtime(2);
    let outcomes = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let mut outcomes = (0, 0);
            for round in 0..2000u32 {
                let a = cx.spawn(move |cx| {
                    if round % 2 == 0 {
                        cx.yield_now()?;
                    }
                    Err(boom())
                })?;
                cx.link(a)?;
                let exit = cx.receive::<Exit>()?;
                assert_eq!(exit.from, a);
                match exit.reason {
                    Reason::NoProc => outcomes.1 += 1,
                    reason => {
                        assert_eq!(reason, boom());
                        outcomes.0 += 1;
                    }
                }
                // Never a second one.
                assert_eq!(cx.receive_timeout::<Exit>(Duration::ZERO)?, None);
            }
            cx.sleep(Duration::from_millis(10))?;
            assert_eq!(cx.receive_timeout::<Exit>(Duration::ZERO)?, None, "a late duplicate");
            Ok::<_, Reason>(outcomes)
        })
        .unwrap();
    assert_eq!(outcomes.0 + outcomes.1, 2000);
}

#[test]
fn unlink_racing_exit_never_kills_the_caller_after_unlink_returned() {
    let runtime = common::runtime(2);
    let survived = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for round in 0..500u32 {
                let a = cx.spawn_link(move |cx| {
                    if round % 2 == 0 {
                        cx.yield_now()?;
                    }
                    cx.send(me, ());
                    Err(boom())
                })?;
                // Vary the timing without a runtime call: nothing is taken in
                // between spawn_link and unlink (a yield would apply the exit, and
                // rightly kill us), so after unlink the exit must be dropped.
                for _ in 0..(round % 3) * 200 {
                    std::hint::spin_loop();
                }
                cx.unlink(a);
                cx.receive::<()>()?;
                cx.sleep(Duration::from_micros(50))?;
            }
            Ok::<_, Reason>(true)
        })
        .unwrap();
    assert!(survived);
}

#[test]
fn message_then_exit_keeps_its_order_under_load() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            for i in 0..2000u32 {
                let a = cx.spawn_link(move |cx| {
                    cx.send(me, i);
                    Err(boom())
                })?;
                let first = cx.receive_any()?;
                assert_eq!(first.downcast::<u32>().ok(), Some(i));
                let exit = cx.receive::<Exit>()?;
                assert_eq!(exit.from, a);
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

/// A process working through a big mailbox (100,000 messages, 5 µs each) must
/// die soon after a kill arrives — at the end of its time slice at the latest
/// (its receives match what it already holds without looking at the signal
/// queue) — not after the whole mailbox.
#[test]
fn a_kill_ends_a_process_within_a_slice_while_its_mailbox_keeps_matching() {
    struct Start;
    struct Busy;
    let runtime = common::runtime(2);
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&received);
    let down = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let (busy, monitor) = cx.spawn_monitor(move |cx| {
                // Everything below is queued before `Start`, so this receive
                // takes all of it into the mailbox at once.
                cx.receive::<Start>()?;
                loop {
                    cx.receive::<u32>()?;
                    if counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                        cx.send(me, Busy);
                    }
                    let spin = std::time::Instant::now();
                    while spin.elapsed() < Duration::from_micros(5) {
                        std::hint::spin_loop();
                    }
                }
            })?;
            for i in 0..100_000u32 {
                cx.send(busy, i);
            }
            cx.send(busy, Start);
            cx.receive::<Busy>()?;
            cx.exit(busy, Reason::Kill)?;
            let down = cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>(down)
        })
        .unwrap();
    assert_eq!(down.reason, Reason::Killed);
    let taken = received.load(std::sync::atomic::Ordering::Relaxed);
    assert!(taken < 10_000, "the killed process went on to take {taken} messages");
}

/// The same with an abnormal exit signal: the busy process learns it from its
/// receive (`Err(reason)`, its body then leaves with `?`), not by being unwound
/// at the end of its slice, although its receives keep matching.
#[test]
fn a_busy_receiver_told_to_die_gets_the_reason_from_its_receive() {
    struct Start;
    struct Busy;
    let runtime = common::runtime(2);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let seen_by_busy = std::sync::Arc::clone(&seen);
    let down = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let (busy, monitor) = cx.spawn_monitor(move |cx| {
                cx.receive::<Start>()?;
                let mut told = false;
                loop {
                    match cx.receive::<u32>() {
                        Ok(_) => {
                            if !told {
                                told = true;
                                cx.send(me, Busy);
                            }
                            let spin = std::time::Instant::now();
                            while spin.elapsed() < Duration::from_micros(5) {
                                std::hint::spin_loop();
                            }
                        }
                        Err(reason) => {
                            *seen_by_busy.lock().unwrap() = Some(reason.clone());
                            return Err(reason);
                        }
                    }
                }
            })?;
            for i in 0..100_000u32 {
                cx.send(busy, i);
            }
            cx.send(busy, Start);
            cx.receive::<Busy>()?;
            cx.exit(busy, boom())?;
            let down = cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>(down)
        })
        .unwrap();
    assert_eq!(down.reason, boom());
    assert_eq!(*seen.lock().unwrap(), Some(boom()), "the receive returned the reason");
}

/// A big fan-out (enough links that the exit sorts them first) still reaches
/// exactly the active links: the unlinked half lives on.
#[test]
fn a_process_with_many_links_kills_exactly_the_ones_still_linked() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let workers = idle_workers(cx, 200)?;
            let hub = cx.spawn({
                let workers = workers.clone();
                move |cx| {
                    for &worker in &workers {
                        cx.link(worker)?;
                    }
                    for &worker in workers.iter().step_by(2) {
                        cx.unlink(worker);
                    }
                    Err(boom())
                }
            })?;
            wait_gone(cx, hub)?;
            for (i, &worker) in workers.iter().enumerate() {
                if i % 2 == 1 {
                    wait_gone(cx, worker)?;
                }
            }
            let handle = cx.handle();
            for (i, &worker) in workers.iter().enumerate() {
                assert_eq!(handle.is_alive(worker), i % 2 == 0, "worker {i}");
                if i % 2 == 0 {
                    cx.send(worker, Go);
                }
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

/// An exit with thousands of links is sent a chunk at a time between process
/// runs (as ERTS's exit yields); the steps keep their order all the same: a
/// process both linked to it and monitoring it sees the `Exit` before the
/// `Down`, every linked worker dies, and `block_on`'s waiter on a process with
/// such a fan-out only hears of its end after the last signal went out.
#[test]
fn a_chunked_fan_out_sends_every_exit_signal_before_the_down() {
    const WORKERS: usize = 5_000;
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let observer = cx.pid();
            let workers = idle_workers(cx, WORKERS)?;
            let hub = cx.spawn({
                let workers = workers.clone();
                move |cx| {
                    for &worker in &workers {
                        cx.link(worker)?;
                    }
                    cx.link(observer)?;
                    cx.receive::<Go>()?;
                    Err(boom())
                }
            })?;
            // The observer is linked last: its exit signal goes out in the last
            // chunk, so a `Down` sent before the fan-out ended would come first.
            let monitor = cx.monitor(hub);
            while cx.process_info(hub)?.is_none_or(|info| info.links.len() < WORKERS + 1) {
                cx.sleep(Duration::from_millis(1))?;
            }
            cx.send(hub, Go);
            let first = cx.receive_any()?;
            let exit = first.downcast::<Exit>().unwrap_or_else(|_| panic!("the Down came before the Exit"));
            assert_eq!((exit.from, exit.reason), (hub, boom()));
            let down = cx.receive_any()?.downcast::<lariat::Down>().unwrap_or_else(|_| panic!("not a Down"));
            assert_eq!((down.monitor, down.reason), (monitor, boom()));
            for &worker in &workers {
                wait_gone(cx, worker)?;
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn block_on_returns_after_its_process_sent_a_chunked_fan_out() {
    const WORKERS: usize = 20_000;
    let runtime = common::runtime(2);
    let workers = runtime
        .block_on(|cx| {
            let workers = idle_workers(cx, WORKERS)?;
            for &worker in &workers {
                cx.link(worker)?;
            }
            Ok::<_, Reason>(workers)
        })
        .unwrap();
    // Its body returned `Ok` (normal): the links carried `normal`, which does
    // not kill; every worker is alive and must have its link to it gone.
    // The last linked get their signal last: ask them first.
    let handle = runtime.handle();
    for &worker in workers.iter().rev() {
        let info = handle.process_info(worker).expect("asked from outside").expect("a worker outlives a normal exit");
        assert!(info.links.is_empty(), "{worker} still linked to the ended process");
    }
}

/// A chunked fan-out still progresses when both workers are kept busy by
/// processes that only yield (their local queues never run short): the
/// worker sends the next chunk on its periodic look beyond its queue.
#[test]
fn a_chunked_fan_out_progresses_while_every_worker_is_busy_yielding() {
    const YIELDERS: usize = 600;
    const WORKERS: usize = 2_000;
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let mut yielders = Vec::new();
            for _ in 0..YIELDERS {
                yielders.push(cx.spawn(|cx| {
                    loop {
                        if cx.receive_timeout::<Go>(Duration::ZERO)?.is_some() {
                            return Ok(());
                        }
                        cx.yield_now()?;
                    }
                })?);
            }
            let workers = idle_workers(cx, WORKERS)?;
            for &worker in &workers {
                cx.monitor(worker);
            }
            let hub = cx.spawn({
                let workers = workers.clone();
                move |cx| {
                    for &worker in &workers {
                        cx.link(worker)?;
                    }
                    Err(boom())
                }
            })?;
            // Generous: this checks progress, not speed (without the periodic
            // turn the fan-out stalled after its first chunk).
            for _ in 0..WORKERS {
                let down = cx.receive_timeout::<lariat::Down>(Duration::from_secs(60))?;
                assert_eq!(down.expect("every linked worker dies").reason, boom());
            }
            assert!(!cx.is_alive(hub));
            for &yielder in &yielders {
                cx.send(yielder, Go);
            }
            for &yielder in &yielders {
                wait_gone(cx, yielder)?;
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

struct Hello;

/// docs/semantics.md §1: a `noproc` notice for a link to a process that is
/// gone comes after what had already arrived, even after a message that
/// process itself sent before it ended (per-pair order).
#[test]
fn a_noproc_exit_for_a_link_to_the_gone_comes_after_messages_already_arrived() {
    let runtime = common::runtime(2);
    let order = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let me = cx.pid();
            let gone = common::let_end_elsewhere(cx, false, move |cx| {
                cx.send(me, Hello);
                Ok(())
            })?;
            cx.link(gone)?;
            let first = cx.receive_any()?;
            let second = cx.receive_any()?;
            Ok::<_, Reason>((first.is::<Hello>(), second.downcast::<Exit>().ok()))
        })
        .unwrap();
    assert!(order.0, "the message the gone process sent comes first");
    let exit = order.1.expect("then an Exit");
    assert_eq!(exit.reason, Reason::NoProc);
}

/// A link entry still held for a process that has ended (its exit signal not
/// yet taken in) does not make `link` succeed without asking: not trapping,
/// `link` fails with `noproc`, as in OTP.
#[test]
fn linking_again_to_a_linked_process_that_ended_meanwhile_fails_with_noproc() {
    let runtime = common::runtime(2);
    let linked = runtime
        .block_on(|cx| {
            let gone = common::let_end_elsewhere(cx, true, |_| Ok(()))?;
            Ok::<_, Reason>(cx.link(gone))
        })
        .unwrap();
    assert_eq!(linked, Err(Reason::NoProc));
}

/// The same, trapping: `link` returns `Ok`, and both the old link's exit
/// signal and the new one's `noproc` arrive, in that order (OTP).
#[test]
fn linking_again_while_trapping_gives_the_old_exit_then_noproc() {
    let runtime = common::runtime(2);
    let exits = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let gone = common::let_end_elsewhere(cx, true, |_| Ok(()))?;
            cx.link(gone)?;
            let first = cx.receive::<Exit>()?;
            let second = cx.receive_timeout::<Exit>(Duration::from_millis(500))?;
            Ok::<_, Reason>((first, second))
        })
        .unwrap();
    assert_eq!(exits.0.reason, Reason::Normal);
    assert_eq!(exits.1.map(|exit| exit.reason), Some(Reason::NoProc));
}

/// A custom reason whose text is that of a special one prints so that it
/// cannot be taken for it (it is not special: it kills a linked process).
#[test]
fn a_custom_reason_named_like_a_special_one_does_not_print_as_it() {
    for special in ["normal", "kill", "killed", "shutdown", "noproc"] {
        let custom = Reason::error(special);
        assert_ne!(custom.to_string(), special, "{special}");
        assert!(custom.to_string().contains(special), "{custom}");
    }
    assert_eq!(Reason::error("boom").to_string(), "boom");
    assert_ne!(Reason::error("\"normal\"").to_string(), Reason::error("normal").to_string(), "a quote is quoted too");
}

/// `SpawnOptions::trap_exit`: a process that traps from the start turns an
/// exit signal that arrives before its first run into a message (setting the
/// flag as the body's first act would be too late: with one worker, the
/// parent below ends before the child first runs).
#[test]
fn a_process_spawned_trapping_turns_an_exit_before_its_first_run_into_a_message() {
    for trap_from_the_start in [true, false] {
        let runtime = common::runtime(1);
        let (tx, rx) = std::sync::mpsc::channel();
        runtime
            .spawn(move |cx| {
                let options = if trap_from_the_start {
                    lariat::SpawnOptions::new().link().trap_exit()
                } else {
                    lariat::SpawnOptions::new().link()
                };
                cx.spawn_opt(options, move |cx| {
                    cx.trap_exit(true);
                    let exit = cx.receive::<lariat::Exit>()?;
                    tx.send(exit.reason).unwrap();
                    Ok(())
                })?;
                Err(Reason::error("boom"))
            })
            .unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_millis(500)).ok();
        if trap_from_the_start {
            assert_eq!(got, Some(Reason::error("boom")));
        } else {
            assert_eq!(got, None, "trapping only from the body is too late: it died first");
        }
    }
}
