//! `supervisor`: strategies, restart types, intensity, ordered start and
//! stop, and the child API (issue 23).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lariat::server::StartError;
use lariat::supervisor::{
    self, ChildCounts, ChildSpec, Restart, Shutdown, Strategy, SupervisorError, SupervisorRef, SupervisorSpec,
};
use lariat::{Cx, Down, Exit, Pid, Reason, SpawnOptions};

type Log = Arc<Mutex<Vec<String>>>;

struct Crash(Reason);

/// A worker whose start the supervisor logs (so the log follows the start
/// order), trapping exits from its first instruction: it logs its stop by its
/// parent, and ends with the reason of a `Crash` it is sent.
fn worker(id: &'static str, log: &Log) -> ChildSpec {
    let log = Arc::clone(log);
    ChildSpec::new(id, move |cx| {
        log.lock().unwrap().push(format!("start {id}"));
        let log = Arc::clone(&log);
        let spawned = cx.spawn_opt(SpawnOptions::new().link().trap_exit(), move |cx: &mut Cx| {
            loop {
                let message = cx.receive_any()?;
                if let Some(exit) = message.downcast_ref::<Exit>() {
                    log.lock().unwrap().push(format!("stop {id} {}", exit.reason));
                    return Err(exit.reason.clone());
                }
                if let Ok(Crash(reason)) = message.downcast::<Crash>() {
                    return Err(reason);
                }
            }
        })?;
        Ok(spawned.pid)
    })
}

fn take(log: &Log) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

fn pids(cx: &mut Cx, sup: SupervisorRef) -> Result<Vec<Option<Pid>>, Reason> {
    Ok(sup.which_children(cx)?.into_iter().map(|child| child.pid).collect())
}

/// Waits until the children's pids differ from `before` (a restart happened).
fn after_restart(cx: &mut Cx, sup: SupervisorRef, before: &[Option<Pid>]) -> Result<Vec<Option<Pid>>, Reason> {
    loop {
        let now = pids(cx, sup)?;
        if now != before && now.iter().all(Option::is_some) {
            return Ok(now);
        }
        cx.sleep(Duration::from_millis(1))?;
    }
}

fn three(strategy: Strategy, log: &Log) -> SupervisorSpec {
    SupervisorSpec::new(strategy)
        .intensity(10, Duration::from_secs(10))
        .child(worker("a", log))
        .child(worker("b", log))
        .child(worker("c", log))
}

#[test]
fn one_for_one_restarts_only_the_child_that_ended() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = three(Strategy::OneForOne, &log);
    let (before, after) = runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let before = pids(cx, sup)?;
            cx.send(before[1].unwrap(), Crash(Reason::error("boom")));
            let after = after_restart(cx, sup, &before)?;
            cx.unlink(sup.pid()); // it outlives this process, quietly
            Ok::<_, Reason>((before, after))
        })
        .unwrap();
    assert_eq!((before[0], before[2]), (after[0], after[2]));
    assert_ne!(before[1], after[1]);
    assert_eq!(take(&log), vec!["start a", "start b", "start c", "start b"]);
}

#[test]
fn one_for_all_stops_the_others_in_reverse_order_and_restarts_all_in_order() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = three(Strategy::OneForAll, &log);
    let (before, after) = runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let before = pids(cx, sup)?;
            cx.send(before[0].unwrap(), Crash(Reason::error("boom")));
            let mut after = after_restart(cx, sup, &before)?;
            while after.iter().zip(&before).any(|(now, then)| now == then) {
                after = after_restart(cx, sup, &before)?;
            }
            cx.unlink(sup.pid()); // it outlives this process, quietly
            Ok::<_, Reason>((before, after))
        })
        .unwrap();
    assert!(after.iter().zip(&before).all(|(now, then)| now != then), "{before:?} {after:?}");
    assert_eq!(
        take(&log),
        vec!["start a", "start b", "start c", "stop c shutdown", "stop b shutdown", "start a", "start b", "start c"]
    );
}

#[test]
fn rest_for_one_restarts_the_child_and_those_started_after_it() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = three(Strategy::RestForOne, &log);
    let (before, after) = runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let before = pids(cx, sup)?;
            cx.send(before[1].unwrap(), Crash(Reason::error("boom")));
            let mut after = after_restart(cx, sup, &before)?;
            while after[2] == before[2] {
                after = after_restart(cx, sup, &before)?;
            }
            cx.unlink(sup.pid()); // it outlives this process, quietly
            Ok::<_, Reason>((before, after))
        })
        .unwrap();
    assert_eq!(before[0], after[0]);
    assert!(before[1] != after[1] && before[2] != after[2]);
    assert_eq!(take(&log), vec!["start a", "start b", "start c", "stop c shutdown", "start b", "start c"]);
}

#[test]
fn transient_children_are_restarted_only_after_an_abnormal_end_and_temporary_ones_never() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(10, Duration::from_secs(10))
        .child(worker("transient", &log).restart(Restart::Transient))
        .child(worker("temporary", &log).restart(Restart::Temporary));
    let (ids, counts) = runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let before = pids(cx, sup)?;
            cx.send(before[0].unwrap(), Crash(Reason::Normal));
            cx.send(before[1].unwrap(), Crash(Reason::error("boom")));
            // Both end: the transient one stays stopped, the temporary one's spec goes.
            loop {
                let children = sup.which_children(cx)?;
                if children.len() == 1 && children[0].pid.is_none() {
                    break;
                }
                cx.sleep(Duration::from_millis(1))?;
            }
            let restarted = sup.restart_child(cx, "transient")?;
            cx.send(restarted, Crash(Reason::error("boom")));
            let after = after_restart(cx, sup, &[Some(restarted)])?;
            assert_ne!(after, vec![Some(restarted)]);
            let ids: Vec<String> = sup.which_children(cx)?.into_iter().map(|child| child.id).collect();
            let counts = sup.count_children(cx)?;
            cx.unlink(sup.pid());
            Ok::<_, Reason>((ids, counts))
        })
        .unwrap();
    assert_eq!(ids, vec!["transient"]);
    assert_eq!(counts, ChildCounts { specs: 1, active: 1, supervisors: 0, workers: 1 });
}

#[test]
fn past_its_restart_intensity_the_supervisor_stops_its_children_and_ends_with_shutdown() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(2, Duration::from_secs(60))
        .child(worker("a", &log))
        .child(worker("b", &log));
    let reason = runtime
        .block_on(move |cx| {
            cx.trap_exit(true);
            let sup = supervisor::start_link(cx, spec)?;
            let monitor = cx.monitor(sup.pid());
            let mut before = pids(cx, sup)?;
            for _ in 0..2 {
                cx.send(before[1].unwrap(), Crash(Reason::error("boom")));
                before = after_restart(cx, sup, &before)?;
            }
            cx.send(before[1].unwrap(), Crash(Reason::error("boom")));
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>(down.reason)
        })
        .unwrap();
    assert_eq!(reason, Reason::Shutdown);
    assert_eq!(take(&log), vec!["start a", "start b", "start b", "start b", "stop a shutdown"]);
}

#[test]
fn a_child_that_fails_to_start_stops_the_ones_before_it_and_fails_the_start() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(worker("a", &log))
        .child(worker("b", &log))
        .child(ChildSpec::new("broken", |_| Err(Reason::error("no config"))))
        .child(worker("never", &log));
    let error = runtime
        .block_on(move |cx| {
            cx.trap_exit(true);
            Ok::<_, Reason>(supervisor::start_link(cx, spec).unwrap_err())
        })
        .unwrap();
    let StartError::Init(reason) = error else { panic!("{error:?}") };
    let text = reason.to_string();
    assert!(text.contains("broken") && text.contains("no config"), "{text}");
    assert_eq!(take(&log), vec!["start a", "start b", "stop b shutdown", "stop a shutdown"]);
}

#[test]
fn a_child_that_ignores_shutdown_is_killed_after_its_timeout_and_brutal_kill_kills_at_once() {
    let runtime = common::runtime(2);
    let stubborn = |id: &'static str| {
        ChildSpec::new(id, |cx| {
            let body = |cx: &mut Cx| loop {
                cx.receive_any()?; // ignores `shutdown`
            };
            Ok(cx.spawn_opt(SpawnOptions::new().link().trap_exit(), body)?.pid)
        })
    };
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(stubborn("patient").shutdown(Shutdown::Timeout(Duration::from_millis(50))))
        .child(stubborn("brutal").shutdown(Shutdown::BrutalKill));
    let reasons = runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let children = pids(cx, sup)?;
            let monitors: Vec<_> = children.iter().map(|pid| cx.monitor(pid.unwrap())).collect();
            sup.terminate_child(cx, "brutal")?;
            sup.terminate_child(cx, "patient")?;
            let mut reasons = Vec::new();
            for monitor in monitors {
                reasons.push(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason);
            }
            assert_eq!(pids(cx, sup)?, vec![None, None], "both stopped, specs kept");
            cx.unlink(sup.pid());
            Ok::<_, Reason>(reasons)
        })
        .unwrap();
    assert_eq!(reasons, vec![Reason::Killed, Reason::Killed]);
}

#[test]
fn the_child_api_starts_restarts_and_deletes_children() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let (a, b) = (worker("a", &log), worker("b", &log));
    let b_again = b.clone();
    runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne).child(a))?;
            let b_pid = sup.start_child(cx, b)?;
            assert_eq!(sup.start_child(cx, b_again.clone()), Err(SupervisorError::AlreadyStarted(b_pid)));
            assert_eq!(sup.restart_child(cx, "b"), Err(SupervisorError::Running));
            assert_eq!(sup.delete_child(cx, "b"), Err(SupervisorError::Running));
            sup.terminate_child(cx, "b")?;
            assert_eq!(sup.start_child(cx, b_again), Err(SupervisorError::AlreadyPresent));
            let again = sup.restart_child(cx, "b")?;
            assert_ne!(again, b_pid);
            sup.terminate_child(cx, "b")?;
            sup.delete_child(cx, "b")?;
            assert_eq!(sup.terminate_child(cx, "b"), Err(SupervisorError::NotFound));
            assert_eq!(sup.count_children(cx)?, ChildCounts { specs: 1, active: 1, supervisors: 0, workers: 1 });
            cx.unlink(sup.pid());
            Ok::<_, Reason>(())
        })
        .unwrap();
    assert_eq!(take(&log), vec!["start a", "start b", "stop b shutdown", "start b", "stop b shutdown"]);
}

#[test]
fn stopping_a_tree_stops_children_last_started_first_depth_first() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let inner = {
        let log = Arc::clone(&log);
        ChildSpec::new("inner", move |cx| {
            let spec = SupervisorSpec::new(Strategy::OneForOne).child(worker("x", &log)).child(worker("y", &log));
            Ok(supervisor::start_link(cx, spec)?.pid())
        })
        .supervisor()
    };
    let spec = SupervisorSpec::new(Strategy::OneForOne).child(worker("a", &log)).child(inner).child(worker("b", &log));
    runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let counts = sup.count_children(cx)?;
            assert_eq!(counts, ChildCounts { specs: 3, active: 3, supervisors: 1, workers: 2 });
            sup.stop(cx, Duration::from_secs(5))?;
            Ok::<_, Reason>(())
        })
        .unwrap();
    assert_eq!(
        take(&log),
        vec![
            "start a",
            "start x",
            "start y",
            "start b",
            "stop b shutdown",
            "stop y shutdown",
            "stop x shutdown",
            "stop a shutdown"
        ]
    );
}

/// `Runtime::shutdown` stops the top-level supervisors, the last started
/// first, each stopping its children in reverse order, then ends the rest.
#[test]
fn a_graceful_shutdown_stops_the_top_level_supervisors_last_started_first() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let first = SupervisorSpec::new(Strategy::OneForOne).child(worker("a1", &log)).child(worker("a2", &log));
    let second = SupervisorSpec::new(Strategy::OneForOne).child(worker("b1", &log));
    supervisor::start_top_level(&runtime, first).unwrap();
    supervisor::start_top_level(&runtime, second).unwrap();
    assert_eq!(runtime.shutdown(Duration::from_secs(10)), Ok(()));
    assert_eq!(
        take(&log),
        vec!["start a1", "start a2", "start b1", "stop b1 shutdown", "stop a2 shutdown", "stop a1 shutdown"]
    );
}

/// A child that never stops (shutdown `Infinity`, ignoring `shutdown`) makes
/// the graceful part run out of time: the rest is ended by force.
#[test]
fn a_shutdown_that_runs_out_of_time_says_so_and_ends_the_rest_by_force() {
    let runtime = common::runtime(2);
    let never = ChildSpec::new("never", |cx| {
        let body = |cx: &mut Cx| loop {
            cx.receive_any()?;
        };
        Ok(cx.spawn_opt(SpawnOptions::new().link().trap_exit(), body)?.pid)
    })
    .shutdown(Shutdown::Infinity);
    supervisor::start_top_level(&runtime, SupervisorSpec::new(Strategy::OneForOne).child(never)).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(runtime.shutdown(Duration::from_millis(100)), Err(lariat::ShutdownError::Timeout { left: 1 }));
    assert!(started.elapsed() < Duration::from_secs(5), "ended by force soon after the timeout");
}

/// A start function that panics is a failed start: at init it fails the
/// supervisor's start (stopping what started before); later it fails
/// `start_child` with the panic's message.
#[test]
fn a_start_function_that_panics_is_a_failed_start() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .child(worker("a", &log))
        .child(ChildSpec::new("panics", |_| panic!("no such file")));
    let (at_init, later) = runtime
        .block_on(move |cx| {
            cx.trap_exit(true);
            let at_init = supervisor::start_link(cx, spec).unwrap_err();
            let sup = supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne))?;
            let later = sup.start_child(cx, ChildSpec::new("panics", |_| panic!("still no file"))).unwrap_err();
            cx.unlink(sup.pid());
            Ok::<_, Reason>((at_init, later))
        })
        .unwrap();
    let StartError::Init(reason) = at_init else { panic!("{at_init:?}") };
    assert!(reason.to_string().contains("no such file"), "{reason}");
    let SupervisorError::StartFailed(Reason::Panic(text)) = later else { panic!("{later:?}") };
    assert!(text.to_string().contains("still no file"));
    assert_eq!(take(&log), vec!["start a", "stop a shutdown"]);
}

#[test]
fn a_shutdown_without_a_deadline_waits_as_long_as_it_takes() {
    let log = Log::default();
    let runtime = common::runtime(2);
    supervisor::start_top_level(&runtime, SupervisorSpec::new(Strategy::OneForOne).child(worker("a", &log))).unwrap();
    assert_eq!(runtime.shutdown(Duration::MAX), Ok(()));
    assert_eq!(take(&log), vec!["start a", "stop a shutdown"]);
}

/// The dynamic form: children added at run time, known by pid, restarted one
/// for one (a temporary one forgotten), bounded by `max_children`, stopped
/// all at once.
#[test]
fn a_dynamic_supervisor_restarts_its_children_one_for_one_and_stops_them_at_once() {
    use lariat::supervisor::DynamicSpec;
    let log = Log::default();
    let runtime = common::runtime(2);
    let (a, b, c) = (worker("a", &log), worker("b", &log), worker("c", &log).restart(Restart::Temporary));
    runtime
        .block_on(move |cx| {
            let pool = supervisor::start_dynamic(
                cx,
                DynamicSpec::new().intensity(10, Duration::from_secs(10)).max_children(3),
            )?;
            let first = pool.start_child(cx, a.clone())?;
            pool.start_child(cx, b)?;
            let temporary = pool.start_child(cx, c)?;
            assert_eq!(pool.start_child(cx, a), Err(SupervisorError::MaxChildren));
            // A restarted child keeps its place in the start order.
            cx.send(first, Crash(Reason::error("boom")));
            loop {
                let now: Vec<Option<Pid>> = pool.which_children(cx)?.into_iter().map(|child| child.pid).collect();
                if now.len() == 3 && now[0] != Some(first) {
                    break;
                }
                cx.sleep(Duration::from_millis(1))?;
            }
            cx.send(temporary, Crash(Reason::error("boom")));
            while pool.count_children(cx)?.active != 2 {
                cx.sleep(Duration::from_millis(1))?;
            }
            let ids: Vec<String> = pool.which_children(cx)?.into_iter().map(|child| child.id).collect();
            assert_eq!(ids, vec!["a", "b"], "the temporary child is forgotten, the others keep their order");
            let b_pid = pool.which_children(cx)?[1].pid.expect("b runs");
            pool.terminate_child(cx, b_pid)?;
            assert_eq!(pool.terminate_child(cx, b_pid), Err(SupervisorError::NotFound));
            pool.stop(cx, Duration::from_secs(5))?;
            Ok::<_, Reason>(())
        })
        .unwrap();
    let mut lines = take(&log);
    // Stopped all at once: in no defined order.
    lines[4..].sort();
    assert_eq!(lines, vec!["start a", "start b", "start c", "start a", "stop a shutdown", "stop b shutdown"]);
}

/// 20,000 dynamic children, each ending once and restarted: a child's end is
/// found in constant time (a scan per exit would make this quadratic).
#[test]
fn a_dynamic_supervisor_of_many_children_restarts_each() {
    use lariat::supervisor::DynamicSpec;
    const CHILDREN: usize = 20_000;
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let pool = supervisor::start_dynamic(cx, DynamicSpec::new().intensity(1_000_000, Duration::from_secs(60)))?;
            let idle = ChildSpec::worker("idle", || {
                |cx: &mut Cx| {
                    let Crash(reason) = cx.receive::<Crash>()?;
                    Err(reason)
                }
            });
            let pids: std::collections::HashSet<Pid> =
                (0..CHILDREN).map(|_| pool.start_child(cx, idle.clone())).collect::<Result<_, _>>()?;
            for &pid in &pids {
                cx.send(pid, Crash(Reason::error("boom")));
            }
            loop {
                let now = pool.which_children(cx)?;
                if now.len() == CHILDREN && now.iter().all(|child| !pids.contains(&child.pid.expect("runs"))) {
                    break;
                }
                cx.sleep(Duration::from_millis(10))?;
            }
            pool.stop(cx, Duration::from_secs(60))?;
            Ok::<_, Reason>(())
        })
        .unwrap();
}

/// A restart whose start fails is tried again later (through a message the
/// supervisor sends itself), each try counting against the intensity; the
/// child comes back once a start succeeds.
#[test]
fn a_failing_restart_is_tried_again_until_it_succeeds_or_the_intensity_is_spent() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    for (failures, survives) in [(2, true), (10, false)] {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&attempts);
        let flaky = ChildSpec::new("flaky", move |cx| {
            // The first start succeeds; then `failures` starts fail.
            let attempt = counter.fetch_add(1, Ordering::SeqCst);
            if attempt >= 1 && attempt <= failures {
                return Err(Reason::error("not yet"));
            }
            Ok(cx.spawn_link(|cx| {
                let Crash(reason) = cx.receive::<Crash>()?;
                Err(reason)
            })?)
        });
        let runtime = common::runtime(2);
        let spec = SupervisorSpec::new(Strategy::OneForOne).intensity(5, Duration::from_secs(60)).child(flaky);
        let outcome = runtime
            .block_on(move |cx| {
                cx.trap_exit(true);
                let sup = supervisor::start_link(cx, spec)?;
                let monitor = cx.monitor(sup.pid());
                let first = pids(cx, sup)?[0].expect("runs");
                cx.send(first, Crash(Reason::error("boom")));
                loop {
                    if let Some(down) = cx.receive_timeout::<Down>(Duration::from_millis(1))? {
                        assert_eq!(down.monitor, monitor);
                        return Ok::<_, Reason>(Err(down.reason));
                    }
                    // Requests are answered between the tries.
                    if let Ok(children) = sup.which_children(cx)
                        && children[0].pid.is_some_and(|pid| pid != first)
                    {
                        cx.unlink(sup.pid());
                        return Ok(Ok(()));
                    }
                }
            })
            .unwrap();
        if survives {
            assert_eq!(outcome, Ok(()), "restarted after {failures} failed starts");
            assert_eq!(attempts.load(Ordering::SeqCst), 2 + failures);
        } else {
            assert_eq!(outcome, Err(Reason::Shutdown), "gave up past its intensity");
        }
    }
}

/// A dynamic supervisor stops its children at once: fifty children that
/// ignore `shutdown`, each with 200 ms before `kill`, take about 200 ms in
/// all, not fifty times that.
#[test]
fn a_dynamic_supervisor_stops_its_children_at_once_each_within_its_own_time() {
    use lariat::supervisor::DynamicSpec;
    let runtime = common::runtime(2);
    let stubborn = ChildSpec::new("stubborn", |cx| {
        let body = |cx: &mut Cx| loop {
            cx.receive_any()?;
        };
        Ok(cx.spawn_opt(SpawnOptions::new().link().trap_exit(), body)?.pid)
    })
    .shutdown(Shutdown::Timeout(Duration::from_millis(200)));
    let took = runtime
        .block_on(move |cx| {
            let pool = supervisor::start_dynamic(cx, DynamicSpec::new())?;
            let pids: Vec<Pid> = (0..50).map(|_| pool.start_child(cx, stubborn.clone())).collect::<Result<_, _>>()?;
            let monitors: Vec<_> = pids.iter().map(|&pid| cx.monitor(pid)).collect();
            let started = std::time::Instant::now();
            pool.stop(cx, Duration::from_secs(60))?;
            let took = started.elapsed();
            for monitor in monitors {
                assert_eq!(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason, Reason::Killed);
            }
            Ok::<_, Reason>(took)
        })
        .unwrap();
    assert!(took < Duration::from_secs(5), "stopped one after another: {took:?}");
}

/// While a failed restart is due again, the child cannot be restarted or
/// deleted by a request (`Restarting`), and terminating it calls the retry off.
#[test]
fn a_child_whose_restart_is_due_again_is_restarting_until_terminated() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let failing = Arc::new(AtomicBool::new(false));
    let switch = Arc::clone(&failing);
    let flaky = ChildSpec::new("flaky", move |cx| {
        if switch.load(Ordering::SeqCst) {
            return Err(Reason::error("not now"));
        }
        Ok(cx.spawn_link(|cx| {
            let Crash(reason) = cx.receive::<Crash>()?;
            Err(reason)
        })?)
    });
    let runtime = common::runtime(1);
    let spec = SupervisorSpec::new(Strategy::OneForOne).intensity(1_000_000, Duration::from_secs(60)).child(flaky);
    runtime
        .block_on(move |cx| {
            let sup = supervisor::start_link(cx, spec)?;
            let child = pids(cx, sup)?[0].expect("runs");
            failing.store(true, Ordering::SeqCst);
            let monitor = cx.monitor(child);
            cx.send(child, Crash(Reason::error("boom")));
            cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            // Answered after the supervisor handled the end (and a retry is due).
            let mut seen_restarting = false;
            for _ in 0..1000 {
                match sup.restart_child(cx, "flaky") {
                    Err(SupervisorError::Restarting) => {
                        seen_restarting = true;
                        break;
                    }
                    _ => cx.yield_now()?,
                }
            }
            assert!(seen_restarting, "a retry was due");
            assert_eq!(sup.delete_child(cx, "flaky"), Err(SupervisorError::Restarting));
            sup.terminate_child(cx, "flaky")?;
            failing.store(false, Ordering::SeqCst);
            cx.sleep(Duration::from_millis(20))?;
            assert_eq!(pids(cx, sup)?, vec![None], "terminated: no retry brought it back");
            sup.delete_child(cx, "flaky")?;
            cx.unlink(sup.pid());
            Ok::<_, Reason>(())
        })
        .unwrap();
}
