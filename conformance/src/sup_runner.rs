//! The lariat side of the supervision scenarios (docs/conformance.md): the
//! same steps as `runner.escript`'s `run_sup`, on `lariat::supervisor`, with
//! the same log and trace.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use lariat::server::{self, ReplyTo, Server, ServerRef, StartOptions};
use lariat::supervisor::{
    self, ChildSpec, Restart, Shutdown, Strategy, SupervisorError, SupervisorRef, SupervisorSpec,
};
use lariat::{Cx, Down, Exit, Pid, Reason, Ref, Runtime, SpawnOptions};

use crate::lariat_runner::{canonical, reason_of};

/// A line of the log, sent to the driver.
struct Log(String);

/// The driver tells a child to end with this reason.
struct Crash(Reason);

/// The RESTART and SHUTDOWN words of a child line.
fn restart_and_shutdown(id: &str, words: &[String]) -> Result<(Restart, Shutdown), String> {
    let [restart, shutdown, ..] = words else { return Err(format!("child {id}: RESTART SHUTDOWN expected")) };
    let restart = match restart.as_str() {
        "permanent" => Restart::Permanent,
        "transient" => Restart::Transient,
        "temporary" => Restart::Temporary,
        other => return Err(format!("unknown restart type {other:?}")),
    };
    let shutdown = match shutdown.as_str() {
        "brutal_kill" => Shutdown::BrutalKill,
        "infinity" => Shutdown::Infinity,
        ms => Shutdown::Timeout(Duration::from_millis(ms.parse().map_err(|_| format!("bad shutdown {ms:?}"))?)),
    };
    Ok((restart, shutdown))
}

fn child_spec(driver: Pid, id: &str, words: &[String]) -> Result<ChildSpec, String> {
    let (restart, shutdown) = restart_and_shutdown(id, words)?;
    let options = &words[2..];
    let stubborn = options.iter().any(|option| option == "stubborn");
    let fail = options.iter().any(|option| option == "fail");
    let id_owned = id.to_owned();
    if options.iter().any(|option| option == "server") {
        let spec = ChildSpec::new(id, move |cx: &mut Cx| {
            let id = id_owned.clone();
            cx.send(driver, Log(format!("start {id}")));
            let init = move |cx: &mut Cx| {
                cx.send(driver, Log(format!("init {id}")));
                Ok(ScenarioServer { id, driver })
            };
            Ok(server::start(cx, StartOptions::new().link().trap_exit(), init)?.pid())
        });
        return Ok(spec.restart(restart).shutdown(shutdown));
    }
    let spec = ChildSpec::new(id, move |cx: &mut Cx| {
        let id = id_owned.clone();
        if fail {
            cx.send(driver, Log(format!("start {id} failed")));
            return Err(Reason::error("nope"));
        }
        cx.send(driver, Log(format!("start {id}")));
        let supervisor = cx.pid();
        let child = move |cx: &mut Cx| -> Result<(), Reason> {
            loop {
                let message = cx.receive_any()?;
                let message = match message.downcast::<Crash>() {
                    Ok(Crash(reason)) => return Err(reason),
                    Err(message) => message,
                };
                if let Some(exit) = message.downcast_ref::<Exit>()
                    && exit.from == supervisor
                {
                    let what = if stubborn { "ignore" } else { "stop" };
                    cx.send(driver, Log(format!("{what} {id} {}", canonical(&exit.reason))));
                    if !stubborn {
                        return Err(exit.reason.clone());
                    }
                }
            }
        };
        Ok(cx.spawn_opt(SpawnOptions::new().link().trap_exit(), child)?.pid)
    })
    .restart(restart)
    .shutdown(shutdown);
    Ok(spec)
}

/// A supervisor as declared: its spec without children, and its child lines.
struct Declared {
    spec: SupervisorSpec,
    children: Vec<(String, Vec<String>)>,
}

/// Supervisor `name`'s spec with its children, a nested supervisor's built
/// the same way (started by its parent's start function, which logs it).
fn build(driver: Pid, name: &str, specs: &HashMap<String, Declared>) -> Result<SupervisorSpec, String> {
    let declared = specs.get(name).ok_or_else(|| format!("no sup {name}"))?;
    let mut spec = declared.spec.clone();
    for (id, words) in &declared.children {
        let child = if words.iter().any(|w| w == "supervisor") {
            let nested = build(driver, id, specs)?;
            let id_owned = id.clone();
            let (restart, shutdown) = restart_and_shutdown(id, words)?;
            ChildSpec::new(id.clone(), move |cx: &mut Cx| {
                cx.send(driver, Log(format!("start {id_owned}")));
                Ok(supervisor::start_link(cx, nested.clone())?.pid())
            })
            .supervisor()
            .restart(restart)
            .shutdown(shutdown)
        } else {
            child_spec(driver, id, words)?
        };
        spec = spec.child(child);
    }
    Ok(spec)
}

/// The running supervisor `name`: a top-level one as started, a nested one
/// found among its parent's children now.
fn running_supervisor(
    cx: &mut Cx,
    name: &str,
    started: &HashMap<String, Started>,
    parents: &HashMap<String, String>,
) -> Result<Option<SupervisorRef>, Reason> {
    if let Some(top) = started.get(name) {
        return Ok(cx.is_alive(top.supervisor.pid()).then_some(top.supervisor));
    }
    let Some(parent) = parents.get(name) else { return Ok(None) };
    let Some(parent) = running_supervisor(cx, parent, started, parents)? else { return Ok(None) };
    let Ok(pid) = running_child(cx, parent, name) else { return Ok(None) };
    Ok(pid.filter(|&pid| cx.is_alive(pid)).map(SupervisorRef::from_pid))
}

/// The pid of `supervisor`'s child `id`, if it runs.
fn running_child(cx: &mut Cx, supervisor: SupervisorRef, id: &str) -> Result<Option<Pid>, SupervisorError> {
    Ok(supervisor.which_children(cx)?.into_iter().find(|child| child.id == id).and_then(|child| child.pid))
}

/// A server child (`child ... server`): answers `Ping`, stops with the reason
/// it is cast, logs its `init` and `terminate` (as the escript's gen_server).
struct ScenarioServer {
    id: String,
    driver: Pid,
}

struct Ping;

impl Server for ScenarioServer {
    type Call = Ping;
    type Reply = &'static str;
    type Cast = Reason;

    fn handle_call(&mut self, cx: &mut Cx, _: Ping, reply_to: ReplyTo<&'static str>) -> Result<(), Reason> {
        reply_to.reply(cx, "pong");
        Ok(())
    }

    fn handle_cast(&mut self, _: &mut Cx, reason: Reason) -> Result<(), Reason> {
        Err(reason)
    }

    fn terminate(&mut self, cx: &mut Cx, reason: &Reason) {
        cx.send(self.driver, Log(format!("terminate {} {}", self.id, canonical(reason))));
    }
}

fn result<T>(outcome: Result<T, SupervisorError>) -> &'static str {
    match outcome {
        Ok(_) => "ok",
        Err(SupervisorError::NotFound) => "not_found",
        Err(SupervisorError::Running) => "running",
        Err(SupervisorError::AlreadyStarted(_)) => "already_started",
        Err(SupervisorError::AlreadyPresent) => "already_present",
        Err(_) => "error",
    }
}

struct Started {
    supervisor: SupervisorRef,
    monitor: Ref,
}

/// Runs a supervision scenario; returns its trace.
pub fn run(runtime: &Runtime, scenario: &str) -> Result<String, String> {
    let lines: Vec<Vec<String>> = scenario
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect();
    runtime
        .block_on(move |cx| {
            cx.trap_exit(true);
            let driver = cx.pid();
            let mut specs: HashMap<String, Declared> = HashMap::new();
            // A nested supervisor's parent (`child P ID ... supervisor`).
            let mut parents: HashMap<String, String> = HashMap::new();
            let mut started: HashMap<String, Started> = HashMap::new();
            let mut order: Vec<String> = Vec::new();
            let log = |cx: &mut Cx, line: String| cx.send(driver, Log(line));
            for words in lines {
                let word = |i: usize| words.get(i).cloned().unwrap_or_default();
                // Steps on a supervisor that never started, or does not run now, do nothing.
                let live = running_supervisor(cx, &word(1), &started, &parents)?;
                match words[0].as_str() {
                    "sup" => {
                        let strategy = match word(2).as_str() {
                            "one_for_one" => Strategy::OneForOne,
                            "one_for_all" => Strategy::OneForAll,
                            "rest_for_one" => Strategy::RestForOne,
                            other => return Ok(Err(format!("unknown strategy {other:?}"))),
                        };
                        let intensity: u32 = word(3).parse().unwrap_or(1);
                        let period: u64 = word(4).parse().unwrap_or(5);
                        let spec = SupervisorSpec::new(strategy).intensity(intensity, Duration::from_secs(period));
                        specs.insert(word(1), Declared { spec, children: Vec::new() });
                    }
                    "child" => {
                        let Some(declared) = specs.get_mut(&word(1)) else {
                            return Ok(Err(format!("no sup {}", word(1))));
                        };
                        declared.children.push((word(2), words[3..].to_vec()));
                        if words[3..].iter().any(|w| w == "supervisor") {
                            parents.insert(word(2), word(1));
                        }
                    }
                    "start" => {
                        let name = word(1);
                        let spec = match build(driver, &name, &specs) {
                            Ok(spec) => spec,
                            Err(error) => return Ok(Err(error)),
                        };
                        match supervisor::start_link(cx, spec) {
                            Ok(supervisor) => {
                                let monitor = cx.monitor(supervisor.pid());
                                log(cx, format!("started {name}"));
                                started.insert(name.clone(), Started { supervisor, monitor });
                                order.push(name);
                            }
                            Err(_) => {
                                // A linked start that failed also sent its exit signal: take it.
                                let _ = cx.receive_timeout::<Exit>(Duration::from_millis(100))?;
                                log(cx, format!("start_failed {name}"));
                            }
                        }
                    }
                    "call" => {
                        let Some(supervisor) = live else { continue };
                        let id = word(2);
                        let Some(child) = running_child(cx, supervisor, &id)? else { continue };
                        let answer =
                            ServerRef::<ScenarioServer>::from_pid(child).call(cx, Ping, Duration::from_secs(5))?;
                        log(cx, format!("call {id} {answer}"));
                    }
                    "crash" | "kill" | "cast" => {
                        let Some(supervisor) = live else { continue };
                        let Some(child) = running_child(cx, supervisor, &word(2))? else { continue };
                        let monitor = cx.monitor(child);
                        if words[0] == "kill" {
                            cx.exit(child, Reason::Kill)?;
                        } else if words[0] == "cast" {
                            ServerRef::<ScenarioServer>::from_pid(child).cast(cx, reason_of(&word(3)));
                        } else {
                            cx.send(child, Crash(reason_of(&word(3))));
                        }
                        cx.receive_if::<Down>(|down| down.monitor == monitor)?;
                        // Answered once the supervisor has handled the child's end.
                        let _ = supervisor.count_children(cx);
                    }
                    "terminate_child" => {
                        let Some(supervisor) = live else { continue };
                        let outcome = supervisor.terminate_child(cx, &word(2));
                        log(cx, format!("terminate_child {} {}", word(2), result(outcome)));
                    }
                    "restart_child" => {
                        let Some(supervisor) = live else { continue };
                        let outcome = supervisor.restart_child(cx, &word(2));
                        log(cx, format!("restart_child {} {}", word(2), result(outcome)));
                    }
                    "delete_child" => {
                        let Some(supervisor) = live else { continue };
                        let outcome = supervisor.delete_child(cx, &word(2));
                        log(cx, format!("delete_child {} {}", word(2), result(outcome)));
                    }
                    "start_child" => {
                        let Some(supervisor) = live else { continue };
                        let child = match child_spec(driver, &word(2), &words[3..]) {
                            Ok(child) => child,
                            Err(error) => return Ok(Err(error)),
                        };
                        let outcome = supervisor.start_child(cx, child);
                        log(cx, format!("start_child {} {}", word(2), result(outcome)));
                    }
                    "which" => {
                        let Some(supervisor) = live else { continue };
                        let children = supervisor.which_children(cx)?;
                        let each: Vec<String> = children
                            .iter()
                            .map(|child| {
                                format!("{}={}", child.id, if child.pid.is_some() { "alive" } else { "undefined" })
                            })
                            .collect();
                        log(cx, format!("children {}: {}", word(1), each.join(" ")));
                    }
                    "count" => {
                        let Some(supervisor) = live else { continue };
                        let c = supervisor.count_children(cx)?;
                        log(
                            cx,
                            format!(
                                "count {}: specs={} active={} supervisors={} workers={}",
                                word(1),
                                c.specs,
                                c.active,
                                c.supervisors,
                                c.workers
                            ),
                        );
                    }
                    "stop" => {
                        let Some(supervisor) = live else { continue };
                        supervisor.stop(cx, Duration::from_secs(60))?;
                        log(cx, format!("stopped {}", word(1)));
                    }
                    "wait_dead" => {
                        let Some(monitor) = started.get(&word(1)).map(|s| s.monitor) else { continue };
                        let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
                        // Put back for the trace.
                        cx.send(driver, down);
                    }
                    other => return Ok(Err(format!("cannot read the supervision step {other:?}"))),
                }
            }
            let mut trace = String::new();
            while let Some(Log(line)) = cx.receive_timeout::<Log>(Duration::ZERO)? {
                let _ = writeln!(trace, "LOG {line}");
            }
            for name in &order {
                let Started { supervisor, monitor } = &started[name];
                let monitor = *monitor;
                let ended = cx.receive_map_timeout(Duration::ZERO, |message| {
                    message
                        .downcast_ref::<Down>()
                        .filter(|down| down.monitor == monitor)
                        .map(|down| down.reason.clone())
                })?;
                let ended = match ended {
                    Some(reason) => Some(reason),
                    None if cx.is_alive(supervisor.pid()) => None,
                    None => Some(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason),
                };
                match ended {
                    Some(reason) => {
                        let _ = writeln!(trace, "SUP {name} dead {}", canonical(&reason));
                    }
                    None => {
                        let _ = writeln!(trace, "SUP {name} alive");
                        cx.unlink(supervisor.pid());
                        cx.exit(supervisor.pid(), Reason::Kill)?;
                    }
                }
            }
            Ok::<_, Reason>(Ok(trace))
        })
        .map_err(|error| format!("the supervision driver failed: {error}"))?
}
