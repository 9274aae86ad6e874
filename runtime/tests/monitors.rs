//! Monitors: the §9 rows M1, M4, M5 as named tests, spawn_monitor, demonitor
//! with flush and info, monitors made by registered name, and the
//! demonitor-vs-exit race.

mod common;

use std::time::Duration;

use lariat::{Down, Exit, Monitored, Reason};

struct Go;

#[test]
fn m1_monitoring_a_dead_process_gives_down_noproc_at_once() {
    let runtime = common::runtime(2);
    let (dead, monitor, down) = runtime
        .block_on(|cx| {
            let (dead, first) = cx.spawn_monitor(|_| Ok(()))?;
            cx.receive::<Down>()?;
            assert!(!cx.demonitor(first), "its Down was delivered: no longer active");
            let monitor = cx.monitor(dead);
            Ok::<_, Reason>((dead, monitor, cx.receive::<Down>()?))
        })
        .unwrap();
    assert_eq!(down, Down { monitor, object: dead.into(), reason: Reason::NoProc });
}

#[test]
fn m4_two_monitors_on_one_process_give_two_downs() {
    let runtime = common::runtime(2);
    let (refs, downs) = runtime
        .block_on(|cx| {
            let p = cx.spawn(|cx| {
                cx.receive::<Go>()?;
                Err(Reason::error("bye"))
            })?;
            let first = cx.monitor(p);
            let second = cx.monitor(p);
            assert_ne!(first, second);
            cx.send(p, Go);
            let downs = [cx.receive::<Down>()?, cx.receive::<Down>()?];
            assert_eq!(cx.receive_timeout::<Down>(Duration::from_millis(20))?, None);
            Ok::<_, Reason>(([first, second], downs))
        })
        .unwrap();
    let mut got: Vec<_> = downs.iter().map(|down| down.monitor).collect();
    got.sort();
    let mut want = refs.to_vec();
    want.sort();
    assert_eq!(got, want);
    assert!(downs.iter().all(|down| down.reason == Reason::error("bye")));
}

#[test]
fn m5_no_down_ever_comes_after_demonitor() {
    let runtime = common::runtime(2);
    let (active, late) = runtime
        .block_on(|cx| {
            let p = cx.spawn(|cx| {
                cx.receive::<Go>()?;
                Err(Reason::error("bye"))
            })?;
            let monitor = cx.monitor(p);
            let active = cx.demonitor(monitor);
            cx.send(p, Go);
            Ok::<_, Reason>((active, cx.receive_timeout::<Down>(Duration::from_millis(30))?))
        })
        .unwrap();
    assert!(active);
    assert_eq!(late, None);
}

#[test]
fn spawn_monitor_of_a_child_that_ends_at_once_reports_its_real_reason() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            for _ in 0..1000 {
                let (child, monitor) = cx.spawn_monitor(|_| Err(Reason::error("r")))?;
                let down = cx.receive::<Down>()?;
                assert_eq!(down, Down { monitor, object: child.into(), reason: Reason::error("r") });
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn monitoring_oneself_creates_no_monitor() {
    let runtime = common::runtime(1);
    let (held, down) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let monitor = cx.monitor(me);
            let held = cx.monitors();
            assert!(!cx.demonitor(monitor));
            Ok::<_, Reason>((held, cx.receive_timeout::<Down>(Duration::from_millis(10))?))
        })
        .unwrap();
    assert!(held.is_empty());
    assert_eq!(down, None);
}

#[test]
fn demonitor_flush_removes_a_delivered_down() {
    let runtime = common::runtime(2);
    let (info, left) = runtime
        .block_on(|cx| {
            let (p, monitor) = cx.spawn_monitor(|_| Ok(()))?;
            let handle = cx.handle();
            while handle.is_alive(p) {
                cx.sleep(Duration::from_millis(1))?;
            }
            cx.sleep(Duration::from_millis(5))?;
            let info = cx.demonitor_flush(monitor);
            Ok::<_, Reason>((info, cx.receive_timeout::<Down>(Duration::ZERO)?))
        })
        .unwrap();
    assert!(!info, "the Down was already there: the monitor was no longer active");
    assert_eq!(left, None);
}

#[test]
fn a_dying_process_drops_the_monitors_it_held() {
    let runtime = common::runtime(2);
    let held_by_dead = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let watched = cx.spawn(|cx| {
                cx.receive::<Go>()?;
                Ok(())
            })?;
            let watcher = cx.spawn(move |cx| {
                cx.monitor(watched);
                cx.send(me, ());
                Err(Reason::error("watcher gone"))
            })?;
            cx.receive::<()>()?;
            let handle = cx.handle();
            while handle.is_alive(watcher) {
                cx.sleep(Duration::from_millis(1))?;
            }
            // The watched process ends later: nobody gets a Down, nothing breaks.
            let mine = cx.monitor(watched);
            cx.send(watched, Go);
            let down = cx.receive::<Down>()?;
            assert_eq!(down.monitor, mine);
            cx.receive_timeout::<Down>(Duration::from_millis(20))
        })
        .unwrap();
    assert_eq!(held_by_dead, None);
}

#[test]
fn demonitor_racing_exit_never_adds_a_down_after_it_returned() {
    let runtime = common::runtime(2);
    let downs_before = runtime
        .block_on(|cx| {
            let mut downs_before = 0;
            for round in 0..2000u32 {
                let p = cx.spawn(move |cx| {
                    if round % 2 == 0 {
                        cx.yield_now()?;
                    }
                    Err(Reason::error("bye"))
                })?;
                let monitor = cx.monitor(p);
                if round % 3 == 0 {
                    cx.yield_now()?;
                }
                let active = cx.demonitor(monitor);
                // What is in the mailbox now may hold its Down (if not active);
                // nothing may be added later.
                let before = cx.receive_timeout::<Down>(Duration::ZERO)?;
                if before.is_some() {
                    assert!(!active, "a Down already delivered means the monitor was not active");
                }
                downs_before += usize::from(before.is_some());
                cx.sleep(Duration::from_micros(20))?;
                assert_eq!(cx.receive_timeout::<Down>(Duration::ZERO)?, None, "a Down after demonitor returned");
            }
            Ok::<_, Reason>(downs_before)
        })
        .unwrap();
    assert!(downs_before <= 2000);
}

#[test]
fn a_monitor_made_by_name_gives_a_down_naming_the_name() {
    let runtime = common::runtime(2);
    let (monitor, held, down) = runtime
        .block_on(|cx| {
            let server = cx.spawn(|cx| {
                cx.receive::<Go>()?;
                Err(Reason::error("bye"))
            })?;
            cx.register("server", server)?;
            let monitor = cx.monitor_named("server");
            let held = cx.monitors();
            cx.send(server, Go);
            Ok::<_, Reason>((monitor, held, cx.receive::<Down>()?))
        })
        .unwrap();
    assert_eq!(held, vec![(monitor, Monitored::Name("server".into()))]);
    assert_eq!(down, Down { monitor, object: Monitored::Name("server".into()), reason: Reason::error("bye") });
    assert_eq!(down.object.name(), Some("server"));
    assert_eq!(down.object.pid(), None);
}

#[test]
fn a_monitor_by_a_name_nobody_holds_gives_down_noproc_at_once() {
    let runtime = common::runtime(1);
    let (monitor, down) = runtime
        .block_on(|cx| {
            let monitor = cx.monitor_named("nobody");
            Ok::<_, Reason>((monitor, cx.receive_timeout::<Down>(Duration::ZERO)?))
        })
        .unwrap();
    assert_eq!(down, Some(Down { monitor, object: Monitored::Name("nobody".into()), reason: Reason::NoProc }));
}

#[test]
fn a_monitor_by_name_is_resolved_once_when_made() {
    // The name moves to another process after the monitor is made: the monitor
    // still watches the first holder, and its Down still names the name.
    let runtime = common::runtime(2);
    let (first, second_alive, down) = runtime
        .block_on(|cx| {
            let first = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
            let second = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
            cx.register("moving", first)?;
            let monitor = cx.monitor_named("moving");
            cx.unregister("moving")?;
            cx.register("moving", second)?;
            cx.send(first, Go);
            let down = cx.receive::<Down>()?;
            assert_eq!(down.monitor, monitor);
            let second_alive = cx.is_alive(second);
            cx.send(second, Go);
            Ok::<_, Reason>((first, second_alive, down))
        })
        .unwrap();
    assert!(second_alive, "the second holder was never watched");
    assert_eq!(down.object, Monitored::Name("moving".into()));
    assert_eq!(down.reason, Reason::Normal);
    assert_ne!(down.object, first, "a Down of a monitor by name names the name, not the pid");
}

#[test]
fn monitoring_ones_own_name_creates_no_monitor() {
    let runtime = common::runtime(1);
    let (held, down) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            cx.register("me", me)?;
            cx.monitor_named("me");
            let held = cx.monitors();
            Ok::<_, Reason>((held, cx.receive_timeout::<Down>(Duration::from_millis(10))?))
        })
        .unwrap();
    assert!(held.is_empty());
    assert_eq!(down, None);
}

struct Hello;

/// docs/semantics.md §1: a `Down` with `noproc` for a monitor of a process
/// that is gone comes after what had already arrived, even after a message
/// that process itself sent before it ended.
#[test]
fn a_noproc_down_for_a_monitor_of_the_gone_comes_after_messages_already_arrived() {
    let runtime = common::runtime(2);
    let order = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let gone = common::let_end_elsewhere(cx, false, move |cx| {
                cx.send(me, Hello);
                Ok(())
            })?;
            let monitor = cx.monitor(gone);
            let first = cx.receive_any()?;
            let second = cx.receive_any()?;
            Ok::<_, Reason>((first.is::<Hello>(), second.downcast::<Down>().ok(), monitor))
        })
        .unwrap();
    assert!(order.0, "the message the gone process sent comes first");
    let down = order.1.expect("then a Down");
    assert_eq!((down.monitor, down.reason), (order.2, Reason::NoProc));
}

/// docs/semantics.md §1: a process told to exit answers a monitor that
/// reaches it while it ends only once its exit signals are out: a trapping
/// process linked to it that monitors it right after `exit/2` gets the `Exit`
/// first, then the `Down` with `noproc` (both come from the same process).
#[test]
fn a_monitor_of_a_linked_process_told_to_exit_gets_its_noproc_after_the_exit_signal() {
    for workers in [1, 2] {
        let runtime = common::runtime(workers);
        for _ in 0..50 {
            let (first, second, monitor) = runtime
                .block_on(|cx| {
                    cx.trap_exit(true);
                    let victim = cx.spawn_link(|cx| {
                        loop {
                            cx.receive_any()?;
                        }
                    })?;
                    cx.exit(victim, Reason::error("boom"))?;
                    let monitor = cx.monitor(victim);
                    let first = cx.receive_any()?;
                    let second = cx.receive_any()?;
                    Ok::<_, Reason>((first.downcast::<Exit>().ok(), second.downcast::<Down>().ok(), monitor))
                })
                .unwrap();
            let exit = first.expect("the exit signal over the link comes first");
            assert_eq!(exit.reason, Reason::error("boom"));
            let down = second.expect("then the Down");
            assert_eq!((down.monitor, down.reason), (monitor, Reason::NoProc));
        }
    }
}
