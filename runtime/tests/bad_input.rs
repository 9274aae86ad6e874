//! Bad input: operations on dead, stale and foreign pids, misuse of names, and
//! exit signals with every kind of reason. Each gives a clear value or error;
//! none panics the runtime.

mod common;

use std::time::Duration;

use lariat::{Cx, Down, Exit, Pid, Reason, RegisterError};

struct Stop;

fn dead_pid(cx: &mut Cx) -> Result<Pid, Reason> {
    let (pid, _) = cx.spawn_monitor(|_| Ok(()))?;
    cx.receive::<Down>()?;
    Ok(pid)
}

#[test]
fn every_operation_on_a_dead_pid_gives_a_clear_answer() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let dead = dead_pid(cx)?;
            cx.send(dead, "dropped");
            for reason in [Reason::Normal, Reason::Kill, Reason::error("x")] {
                cx.exit(dead, reason)?;
            }
            assert_eq!(cx.link(dead), Err(Reason::NoProc));
            cx.unlink(dead);
            let monitor = cx.monitor(dead);
            assert_eq!(cx.receive::<Down>()?, Down { monitor, object: dead.into(), reason: Reason::NoProc });
            assert!(!cx.demonitor(monitor), "a monitor whose Down came is not active");
            assert_eq!(cx.register("dead", dead), Err(RegisterError::NoProc { pid: dead }));
            assert_eq!(cx.process_info(dead)?, None);
            assert_eq!(cx.status(dead), None);
            assert!(!cx.is_alive(dead));
            assert!(cx.links().is_empty() && cx.monitors().is_empty());
            cx.trap_exit(true);
            cx.link(dead)?;
            assert_eq!(cx.receive::<Exit>()?, Exit { from: dead, reason: Reason::NoProc });
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn a_stale_pid_never_reaches_the_process_that_reuses_its_slot() {
    let runtime = common::runtime(2);
    let reached = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let stale = dead_pid(cx)?;
            // Enough exits that freed slots are reused (the table waits for over
            // a thousand before reusing one), then live processes in them.
            for _ in 0..3000 {
                dead_pid(cx)?;
            }
            let mut live = Vec::new();
            for _ in 0..3000 {
                live.push(cx.spawn(move |cx| {
                    cx.receive::<Stop>()?;
                    let stray = cx.receive_timeout::<&str>(Duration::ZERO)?;
                    cx.send(me, stray.is_some());
                    Ok(())
                })?);
            }
            assert!(!live.contains(&stale), "a new process never gets an old pid");
            cx.send(stale, "for the dead");
            assert_eq!(cx.exit(stale, Reason::Kill), Ok(()));
            for &pid in &live {
                cx.send(pid, Stop);
            }
            let mut reached = 0;
            for _ in 0..live.len() {
                reached += usize::from(cx.receive::<bool>()?);
            }
            Ok::<_, Reason>(reached)
        })
        .unwrap();
    assert_eq!(reached, 0, "a message to a stale pid reached a live process");
}

#[test]
fn a_pid_of_another_runtime_is_no_process_here() {
    let here = common::runtime(1);
    let there = common::runtime(1);
    let foreign = there.spawn(|cx| cx.receive::<Stop>().map(|_| ())).unwrap();
    let answers = here
        .block_on(move |cx| {
            cx.send(foreign, "lost");
            cx.exit(foreign, Reason::Kill)?;
            let link = cx.link(foreign);
            Ok::<_, Reason>((link, cx.status(foreign), cx.process_info(foreign)?))
        })
        .unwrap();
    assert_eq!(answers, (Err(Reason::NoProc), None, None));
    let reason = there
        .block_on(move |cx| {
            let monitor = cx.monitor(foreign);
            cx.send(foreign, Stop);
            cx.receive_if::<Down>(|down| down.monitor == monitor).map(|down| down.reason)
        })
        .unwrap();
    assert_eq!(reason, Reason::Normal, "untouched in its own runtime: not killed, and its Stop was next");
}

#[test]
fn misused_names_give_errors_that_say_what_to_do() {
    let runtime = common::runtime(1);
    runtime
        .block_on(|cx| {
            let me = cx.pid();
            let other = cx.spawn(|cx| cx.receive::<Stop>().map(|_| ()))?;
            cx.register("a", me)?;
            let taken = cx.register("a", other).unwrap_err();
            assert_eq!(taken, RegisterError::NameTaken { name: "a".into(), holder: me });
            assert!(taken.to_string().contains("unregister it first"), "{taken}");
            let second = cx.register("b", me).unwrap_err();
            assert!(matches!(second, RegisterError::AlreadyNamed { .. }));
            assert!(second.to_string().contains("at most one name"), "{second}");
            let free = cx.unregister("nobody").unwrap_err();
            assert_eq!(free, RegisterError::NotRegistered { name: "nobody".into() });
            assert!(free.to_string().contains("no process is registered"), "{free}");
            assert_eq!(cx.whereis("nobody"), None);
            assert!(cx.send_named("nobody", 1u8).is_err());
            // Propagated with `?`, an error ends the process with a readable reason.
            // It reads as Erlang's badarg and keeps the error itself.
            let reason: Reason = free.clone().into();
            assert!(reason.to_string().starts_with("badarg"), "{reason}");
            let kept = reason.as_error().and_then(|error| error.downcast_ref::<RegisterError>());
            assert_eq!(kept, Some(&free));
            cx.unregister("a")?;
            cx.register("a", other)?;
            cx.send(other, Stop);
            Ok::<_, Reason>(())
        })
        .unwrap();
}

fn every_reason() -> Vec<Reason> {
    vec![
        Reason::Normal,
        Reason::Kill,
        Reason::Killed,
        Reason::Shutdown,
        Reason::NoProc,
        Reason::Panic("oops (at here.rs:1:1)".into()),
        Reason::error("some_reason"),
        Reason::error(""),
    ]
}

/// exit(pid, reason) to a trapping process: every reason arrives as an `Exit`
/// message, except `kill`, which kills it with `killed` (semantics.md §4).
#[test]
fn exit_with_every_kind_of_reason_to_a_trapping_process() {
    let runtime = common::runtime(2);
    for reason in every_reason() {
        let sent = reason.clone();
        let (got, down) = runtime
            .block_on(move |cx| {
                let me = cx.pid();
                let target = cx.spawn(move |cx| {
                    cx.trap_exit(true);
                    cx.send(me, Stop);
                    let exit = cx.receive::<Exit>()?;
                    cx.send(me, exit);
                    Ok(())
                })?;
                let monitor = cx.monitor(target);
                cx.receive::<Stop>()?;
                cx.exit(target, sent)?;
                let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
                Ok::<_, Reason>((cx.receive_timeout::<Exit>(Duration::ZERO)?, down.reason))
            })
            .unwrap();
        if reason == Reason::Kill {
            assert_eq!((got, down), (None, Reason::Killed), "kill cannot be trapped");
        } else {
            assert_eq!(got.map(|exit| exit.reason), Some(reason.clone()), "{reason:?} arrives as a message");
            assert_eq!(down, Reason::Normal);
        }
    }
}

/// exit(pid, reason) to a process that does not trap: `normal` does nothing,
/// `kill` kills with `killed`, any other reason kills with that reason.
#[test]
fn exit_with_every_kind_of_reason_to_a_process_that_does_not_trap() {
    let runtime = common::runtime(2);
    for reason in every_reason() {
        let sent = reason.clone();
        let down = runtime
            .block_on(move |cx| {
                let target = cx.spawn(|cx| cx.receive::<Stop>().map(|_| ()))?;
                let monitor = cx.monitor(target);
                cx.exit(target, sent)?;
                let early = cx.receive_timeout::<Down>(Duration::from_millis(20))?;
                cx.send(target, Stop);
                let died_of_it = early.is_some();
                let down = match early {
                    Some(down) => down,
                    None => cx.receive_if::<Down>(|down| down.monitor == monitor)?,
                };
                Ok::<_, Reason>((died_of_it, down.reason))
            })
            .unwrap();
        let expected = match &reason {
            Reason::Normal => (false, Reason::Normal),
            Reason::Kill => (true, Reason::Killed),
            other => (true, other.clone()),
        };
        assert_eq!(down, expected, "exit(target, {reason:?})");
    }
}

#[test]
fn the_reserved_sender_of_outside_exits_is_never_a_live_process() {
    let runtime = common::runtime(1);
    let target = runtime
        .spawn(|cx| {
            cx.trap_exit(true);
            let exit = cx.receive::<Exit>()?;
            cx.send(exit.from, "to nobody");
            let link = cx.link(exit.from);
            assert_eq!(link, Ok(()), "trapping: the noproc comes as a message");
            let noproc = cx.receive::<Exit>()?;
            assert_eq!(noproc, Exit { from: exit.from, reason: Reason::NoProc });
            assert_eq!(cx.status(exit.from), None);
            Ok(())
        })
        .unwrap();
    let handle = runtime.handle();
    handle.exit(target, Reason::error("from outside"));
    while handle.is_alive(target) {
        std::thread::sleep(Duration::from_millis(1));
    }
}
