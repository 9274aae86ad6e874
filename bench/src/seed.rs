//! The seed tutorial's scenarios (links between processes), run on lariat.
//! Each returns the lines to print; `examples/seed_links.rs` and the main job
//! print them.

use std::time::Duration;

use lariat::{BlockOnError, Down, Exit, Pid, Reason, Runtime};

/// What a scenario printed.
pub type Transcript = Vec<String>;

fn some_reason() -> Reason {
    Reason::error("some_reason")
}

/// Five processes started with `spawn`; process 3 fails, the others finish.
pub fn spawn_five(runtime: &Runtime) -> Transcript {
    runtime
        .block_on(|cx| {
            let me = cx.pid();
            let mut lines = vec!["iex> for id <- 1..5, do: spawn(fn -> work(id) end)".to_owned()];
            let mut monitors = Vec::new();
            for id in 1..=5u32 {
                let (pid, _) = cx.spawn_monitor(move |cx| {
                    if id == 3 {
                        cx.send(me, format!("{id}: failing with :some_reason"));
                        return Err(some_reason());
                    }
                    cx.send(me, format!("{id}: working, then done"));
                    Ok(())
                })?;
                monitors.push((id, pid));
            }
            for _ in 0..5 {
                lines.push(cx.receive::<String>()?);
            }
            for _ in 0..5 {
                let down = cx.receive::<Down>()?;
                let id = monitors.iter().find(|(_, pid)| down.object == *pid).map_or(0, |(id, _)| *id);
                lines.push(format!("process {id} {} ended: {}", down.object, down.reason));
            }
            lines.push("the parent is still alive: a plain spawn does not link".to_owned());
            Ok::<_, Reason>(lines)
        })
        .unwrap_or_else(|error| vec![format!("unexpected: {error}")])
}

/// The same with `spawn_link`: process 3's failure takes everyone down, parent included.
pub fn spawn_link_five(runtime: &Runtime) -> Transcript {
    let mut lines = vec!["iex> for id <- 1..5, do: spawn_link(fn -> work(id) end)".to_owned()];
    let result = runtime.block_on(|cx| {
        for id in 1..=5u32 {
            cx.spawn_link(move |cx| {
                if id == 3 {
                    return Err(some_reason());
                }
                cx.receive::<()>()?; // works until told otherwise
                Ok(())
            })?;
        }
        cx.receive::<()>()?;
        Ok::<_, Reason>(())
    });
    match result {
        Err(BlockOnError::Exited(reason)) => {
            lines.push(format!("** (EXIT from parent) {reason}: process 3 failed, its links took the parent down"));
            lines.push(
                "and with the parent, the other four linked workers (the exit spread along every link)".to_owned(),
            );
        }
        other => lines.push(format!("unexpected: {other:?}")),
    }
    lines
}

/// The parent traps exits: it gets four `normal` exits and one `some_reason`.
pub fn trapping_parent(runtime: &Runtime) -> Transcript {
    runtime
        .block_on(|cx| {
            let mut lines = vec![
                "iex> Process.flag(:trap_exit, true)".to_owned(),
                "iex> for id <- 1..5, do: spawn_link(fn -> work(id) end)".to_owned(),
            ];
            cx.trap_exit(true);
            let mut ids = Vec::new();
            for id in 1..=5u32 {
                let pid = cx.spawn_link(move |_| if id == 3 { Err(some_reason()) } else { Ok(()) })?;
                ids.push((id, pid));
            }
            lines.push("iex> flush()".to_owned());
            let mut exits = Vec::new();
            for _ in 0..5 {
                let Exit { from, reason } = cx.receive::<Exit>()?;
                let id = ids.iter().find(|(_, pid)| *pid == from).map_or(0, |(id, _)| *id);
                exits.push((id, format!("{{:EXIT, {from}, :{reason}}}")));
            }
            exits.sort();
            lines.extend(exits.into_iter().map(|(_, line)| line));
            lines.push("the parent traps exits and lives".to_owned());
            Ok::<_, Reason>(lines)
        })
        .unwrap_or_else(|error| vec![format!("unexpected: {error}")])
}

/// How W2 ends in the W1–W2–S4–W3–S5 picture.
#[derive(Debug, Clone, Copy)]
pub enum W2Ends {
    /// Its body returns: `normal`.
    Normal,
    /// It ends with `boom`.
    Boom,
    /// It ends itself with `kill`.
    KillsItself,
    /// Someone calls `exit(W2, kill)`.
    KilledByExit,
}

enum Command {
    LinkTo(Pid),
    End(Reason),
}

struct Linked;

/// W1–W2–S4–W3–S5 (S = traps exits), W2 ending as `how`: who dies, who gets what.
pub fn chain(runtime: &Runtime, how: W2Ends) -> Transcript {
    runtime
        .block_on(move |cx| {
            let observer = cx.pid();
            let names = ["W1", "W2", "S4", "W3", "S5"];
            let mut pids = Vec::new();
            for name in names {
                let traps = name.starts_with('S');
                pids.push(cx.spawn(move |cx| {
                    cx.trap_exit(traps);
                    loop {
                        let message = cx.receive_any()?;
                        let message = match message.downcast::<Command>() {
                            Ok(Command::LinkTo(peer)) => {
                                cx.link(peer)?;
                                cx.send(observer, Linked);
                                continue;
                            }
                            Ok(Command::End(reason)) => return Err(reason),
                            Err(message) => message,
                        };
                        if let Ok(exit) = message.downcast::<Exit>() {
                            cx.send(observer, (cx.pid(), exit));
                        }
                    }
                })?);
            }
            let monitors: Vec<_> = pids.iter().map(|pid| cx.monitor(*pid)).collect();
            for pair in pids.windows(2) {
                cx.send(pair[0], Command::LinkTo(pair[1]));
                cx.receive::<Linked>()?;
            }
            let mut lines = vec![format!("W1–W2–S4–W3–S5, W2 {}", describe(how))];
            let w2 = pids[1];
            match how {
                W2Ends::Normal => cx.send(w2, Command::End(Reason::Normal)),
                W2Ends::Boom => cx.send(w2, Command::End(Reason::error("boom"))),
                W2Ends::KillsItself => cx.send(w2, Command::End(Reason::Kill)),
                W2Ends::KilledByExit => cx.exit(w2, Reason::Kill)?,
            }
            // Collect what happens within a short while: Downs and trapped exits.
            let mut ended = vec![None; 5];
            let mut trapped = vec![Vec::new(); 5];
            while let Some(message) = cx.receive_map_timeout(Duration::from_millis(100), |message| {
                message
                    .downcast_mut::<Down>()
                    .map(|down| Err(down.clone()))
                    .or_else(|| message.downcast_mut::<(Pid, Exit)>().map(|(pid, exit)| Ok((*pid, exit.clone()))))
            })? {
                match message {
                    Err(down) => {
                        if let Some(i) = monitors.iter().position(|m| *m == down.monitor) {
                            ended[i] = Some(down.reason);
                        }
                    }
                    Ok((pid, exit)) => {
                        if let Some(i) = pids.iter().position(|p| *p == pid) {
                            let from = pids.iter().position(|p| *p == exit.from).map_or("?", |j| names[j]);
                            trapped[i].push(format!("{{:EXIT, {from}, :{}}}", exit.reason));
                        }
                    }
                }
            }
            for i in 0..5 {
                let fate = match &ended[i] {
                    Some(reason) => format!("dies with :{reason}"),
                    None => "lives".to_owned(),
                };
                let got =
                    if trapped[i].is_empty() { String::new() } else { format!("; got {}", trapped[i].join(", ")) };
                lines.push(format!("  {} {fate}{got}", names[i]));
            }
            for (i, pid) in pids.iter().enumerate() {
                if ended[i].is_none() {
                    cx.demonitor(monitors[i]);
                    cx.exit(*pid, Reason::Kill)?;
                }
            }
            Ok::<_, Reason>(lines)
        })
        .unwrap_or_else(|error| vec![format!("unexpected: {error}")])
}

fn describe(how: W2Ends) -> &'static str {
    match how {
        W2Ends::Normal => "ends normally",
        W2Ends::Boom => "ends with :boom",
        W2Ends::KillsItself => "ends itself with :kill (the seed says S4 dies :killed; ERTS and lariat: S4 traps it)",
        W2Ends::KilledByExit => "is killed with exit(W2, :kill)",
    }
}

/// Tells a supervised worker to fail.
struct Fail;

/// The seed's next chapter, links made useful: a one_for_one supervisor (at
/// most 3 restarts in 5 s) keeps three workers running; a worker that fails is
/// restarted alone, and past the restart intensity the supervisor gives up,
/// stopping the others (last started first) and ending with `shutdown`.
pub fn supervision(runtime: &Runtime) -> Transcript {
    use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    runtime
        .block_on(|cx| {
            let mut lines = vec![
                "iex> Supervisor.start_link([w1, w2, w3], strategy: :one_for_one, max_restarts: 3, max_seconds: 5)"
                    .to_owned(),
                "  (Rust: supervisor::start_link(cx, SupervisorSpec::new(Strategy::OneForOne).intensity(3, 5 s).child(..)))"
                    .to_owned(),
            ];
            let me = cx.pid();
            let worker = |name: &'static str| {
                ChildSpec::worker(name, move || {
                    move |cx: &mut lariat::Cx| {
                        cx.trap_exit(true);
                        loop {
                            let message = cx.receive_any()?;
                            if message.is::<Fail>() {
                                return Err(Reason::error("boom"));
                            }
                            if let Ok(exit) = message.downcast::<Exit>() {
                                cx.send(me, format!("  {name} stops: {{:EXIT, supervisor, :{}}}", exit.reason));
                                return Err(exit.reason);
                            }
                        }
                    }
                })
            };
            let spec = SupervisorSpec::new(Strategy::OneForOne)
                .intensity(3, Duration::from_secs(5))
                .child(worker("w1"))
                .child(worker("w2"))
                .child(worker("w3"));
            cx.trap_exit(true);
            let sup = supervisor::start_link(cx, spec)?;
            let show = |cx: &mut lariat::Cx| -> Result<Vec<Option<Pid>>, Reason> {
                Ok(sup.which_children(cx)?.into_iter().map(|child| child.pid).collect())
            };
            let listing = |pids: &[Option<Pid>], before: Option<&[Option<Pid>]>| {
                let names = ["w1", "w2", "w3"];
                let each: Vec<String> = pids
                    .iter()
                    .enumerate()
                    .map(|(i, pid)| {
                        let pid = pid.map_or("-".to_owned(), |pid| pid.to_string());
                        let new = before.is_some_and(|before| before[i] != pids[i]);
                        format!("{} {pid}{}", names[i], if new { " (restarted)" } else { "" })
                    })
                    .collect();
                format!("  children: {}", each.join(", "))
            };
            let mut pids = show(cx)?;
            lines.push(listing(&pids, None));
            lines.push("iex> send(w2, :fail)   # w2 ends with :boom".to_owned());
            let before = pids.clone();
            cx.send(pids[1].expect("w2 runs"), Fail);
            while pids[1] == before[1] || pids[1].is_none() {
                cx.sleep(Duration::from_millis(1))?;
                pids = show(cx)?;
            }
            lines.push(listing(&pids, Some(&before)));
            lines.push("iex> # w2 fails 3 more times within 5 s: one more restart than allowed".to_owned());
            let monitor = cx.monitor(sup.pid());
            for _ in 0..3 {
                let failing = pids[1].expect("w2 runs");
                cx.send(failing, Fail);
                loop {
                    cx.sleep(Duration::from_millis(1))?;
                    match sup.which_children(cx) {
                        Ok(children) => {
                            pids = children.into_iter().map(|child| child.pid).collect();
                            if pids[1].is_some_and(|now| now != failing) {
                                break;
                            }
                        }
                        Err(_) => break, // it gave up
                    }
                }
            }
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            while let Some(line) = cx.receive_timeout::<String>(Duration::from_millis(50))? {
                lines.push(line);
            }
            lines.push(format!("  the supervisor gives up and ends with :{}", down.reason));
            Ok::<_, Reason>(lines)
        })
        .unwrap_or_else(|error| vec![format!("unexpected: {error}")])
}

/// Every scenario, in the tutorial's order.
pub fn all(runtime: &Runtime) -> Vec<Transcript> {
    vec![
        spawn_five(runtime),
        spawn_link_five(runtime),
        trapping_parent(runtime),
        chain(runtime, W2Ends::Normal),
        chain(runtime, W2Ends::Boom),
        chain(runtime, W2Ends::KillsItself),
        chain(runtime, W2Ends::KilledByExit),
        supervision(runtime),
    ]
}
