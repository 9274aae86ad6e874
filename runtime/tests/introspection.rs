//! Introspection of other processes: process_info (links, monitors, trap flag,
//! mailbox length, reductions, name), status, is_alive, live_processes.

mod common;

use std::time::Duration;

use lariat::{Monitored, Reason, Status};

struct Go;

#[test]
fn process_info_reports_links_monitors_trap_flag_mailbox_and_name() {
    let runtime = common::runtime(2);
    let (me, watched, target, info) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let watched = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
            let target = cx.spawn_link(move |cx| {
                cx.trap_exit(true);
                cx.monitor(watched);
                cx.send(me, Go);
                // Waits for a message that never comes, leaving the others queued.
                cx.receive::<u64>().map(|_| ())
            })?;
            cx.receive::<Go>()?;
            cx.register("target", target)?;
            cx.monitor(target);
            cx.send(target, "one");
            cx.send(target, "two");
            let info = cx.process_info(target)?.expect("the target is alive");
            cx.send(watched, Go);
            cx.send(target, 0u64);
            Ok::<_, Reason>((me, watched, target, info))
        })
        .unwrap();
    assert_eq!(info.pid, target);
    assert_eq!(info.registered_name.as_deref(), Some("target"));
    assert_eq!(info.links, vec![me]);
    assert_eq!(info.monitors.len(), 1);
    assert_eq!(info.monitors[0].1, Monitored::Pid(watched));
    assert_eq!(info.monitored_by, vec![me], "the monitor sent before asking is seen");
    assert!(info.trap_exit);
    assert_eq!(info.mailbox_len, 2, "the two messages sent before asking are counted");
    assert!(info.reductions > 0);
}

#[test]
fn process_info_of_oneself_answers_at_once() {
    let runtime = common::runtime(1);
    let info = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.send(me, "queued");
            cx.trap_exit(true);
            Ok::<_, Reason>(cx.process_info(me)?.expect("alive"))
        })
        .unwrap();
    assert_eq!(info.mailbox_len, 1);
    assert!(info.trap_exit);
    assert!(info.links.is_empty());
    assert_eq!(info.registered_name, None);
}

#[test]
fn process_info_of_a_dead_pid_is_none() {
    let runtime = common::runtime(2);
    let info = runtime
        .block_on(|cx| {
            let (dead, _) = cx.spawn_monitor(|_| Ok(()))?;
            cx.receive::<lariat::Down>()?;
            cx.process_info(dead)
        })
        .unwrap();
    assert_eq!(info, None);
}

#[test]
fn process_info_of_a_process_that_dies_before_answering_is_none() {
    // The kill is queued ahead of the request, so the target is dead when it
    // would answer: the request is answered as the dead answer it.
    let runtime = common::runtime(2);
    for _ in 0..200 {
        let info = runtime
            .block_on(|cx| {
                let target = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
                cx.exit(target, Reason::Kill)?;
                cx.process_info(target)
            })
            .unwrap();
        assert_eq!(info, None);
    }
}

#[test]
fn a_busy_process_answers_at_the_end_of_its_time_slice() {
    let runtime = common::runtime(2);
    let (info, stop) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let (nobody, _) = cx.spawn_monitor(|_| Ok(()))?;
            cx.receive::<lariat::Down>()?;
            let busy = cx.spawn(move |cx| {
                // Never receives; only sends (to a dead pid), which ends time slices.
                loop {
                    cx.send(nobody, ());
                }
            })?;
            let info = cx.process_info(busy)?;
            cx.exit(busy, Reason::Kill)?;
            let stop = cx.monitor(busy);
            let down = cx.receive::<lariat::Down>()?;
            Ok::<_, Reason>((info.map(|info| (info.pid == busy, info.links.contains(&me))), (down.monitor == stop)))
        })
        .unwrap();
    assert_eq!(info, Some((true, false)));
    assert!(stop);
}

#[test]
fn handle_process_info_waits_outside_and_refuses_inside_a_process() {
    let runtime = common::runtime(2);
    let handle = runtime.handle();
    let target = runtime.spawn(|cx| cx.receive::<Go>().map(|_| ())).unwrap();
    runtime.send(target, "hello");
    let info = handle.process_info(target).unwrap().expect("alive");
    assert_eq!(info.pid, target);
    assert_eq!(info.mailbox_len, 1);
    let inside = runtime.block_on(move |cx| Ok::<_, Reason>(cx.handle().process_info(cx.pid()).map(|_| ()))).unwrap();
    let error = inside.unwrap_err();
    assert!(error.to_string().contains("use Cx::process_info"), "{error}");
    runtime.send(target, Go);
    while handle.is_alive(target) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(handle.process_info(target).unwrap(), None);
}

#[test]
fn status_is_alive_and_live_processes_from_a_process() {
    let runtime = common::runtime(2);
    let (waiting, alive_before, after, live) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let child = cx.spawn(move |cx| {
                cx.send(me, Go);
                cx.receive::<Go>().map(|_| ())
            })?;
            cx.receive::<Go>()?;
            // It waits in receive: once it has suspended, its status says so.
            let mut status = cx.status(child);
            while status != Some(Status::Waiting) {
                cx.yield_now()?;
                status = cx.status(child);
            }
            let alive_before = cx.is_alive(child);
            let live = cx.live_processes();
            let monitor = cx.monitor(child);
            cx.send(child, Go);
            cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>((status, alive_before, (cx.is_alive(child), cx.status(child)), live))
        })
        .unwrap();
    assert_eq!(waiting, Some(Status::Waiting));
    assert!(alive_before);
    assert_eq!(after, (false, None));
    assert_eq!(live, 2, "the block_on process and its child");
}

/// A process that kills another and then polls `is_alive` (or `status`, a
/// snapshot that never waits) sees it end: the polls count toward its time
/// slice, so the killed process, queued behind it on the same worker, gets to
/// run (one worker and two).
#[test]
fn polling_is_alive_or_status_after_a_kill_sees_the_process_end() {
    let is_alive: fn(&mut lariat::Cx, lariat::Pid) -> bool = |cx, pid| cx.is_alive(pid);
    let has_status: fn(&mut lariat::Cx, lariat::Pid) -> bool = |cx, pid| cx.status(pid).is_some();
    for (poll, name) in [(is_alive, "is_alive"), (has_status, "status")] {
        for workers in [1, 2] {
            let runtime = common::runtime(workers);
            let ended_within = runtime
                .block_on(move |cx| {
                    let victim = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
                    cx.yield_now()?; // it runs and waits
                    cx.exit(victim, Reason::Kill)?;
                    let started = std::time::Instant::now();
                    while poll(cx, victim) {
                        if started.elapsed() > Duration::from_secs(2) {
                            return Ok(None);
                        }
                    }
                    Ok::<_, Reason>(Some(started.elapsed()))
                })
                .unwrap();
            let ended_within = ended_within.unwrap_or_else(|| panic!("{name}, {workers} worker(s): never saw it end"));
            assert!(ended_within < Duration::from_millis(100), "{name}, {workers} worker(s): {ended_within:?}");
        }
    }
}

/// docs/semantics.md §1: `is_alive` lets every signal the caller sent first
/// arrive, and says `false` only once the process is gone: its name is free
/// and `link` to it fails. Many rounds, since the old answer was a race.
#[test]
fn is_alive_right_after_a_kill_is_false_and_the_process_is_gone() {
    let runtime = common::runtime(2);
    let wrong = runtime
        .block_on(|cx| {
            let mut wrong = Vec::new();
            for round in 0..300 {
                let victim = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
                cx.register("victim", victim).expect("the name is free");
                if round % 2 == 0 {
                    cx.yield_now()?; // sometimes it is waiting, sometimes not yet started
                }
                cx.exit(victim, Reason::Kill)?;
                let alive = cx.is_alive(victim);
                let named = cx.whereis("victim");
                let linked = cx.link(victim);
                if alive || named.is_some() || linked != Err(Reason::NoProc) {
                    wrong.push((round, alive, named, linked));
                }
            }
            Ok::<_, Reason>(wrong)
        })
        .unwrap();
    assert!(wrong.is_empty(), "(round, is_alive, whereis, link) after exit(kill): {wrong:?}");
}

/// The same from outside the runtime, through a `Handle`.
#[test]
fn handle_is_alive_right_after_a_kill_is_false() {
    let runtime = common::runtime(2);
    let handle = runtime.handle();
    for _ in 0..100 {
        let victim = runtime.spawn(|cx| cx.receive::<Go>().map(|_| ())).unwrap();
        assert!(handle.is_alive(victim), "alive before");
        handle.exit(victim, Reason::Kill);
        assert!(!handle.is_alive(victim), "gone once exit(kill) was handled");
        assert_eq!(handle.status(victim), None, "and then gone for the snapshot too");
    }
}
