//! The lariat side of the differential runner: runs one scenario
//! (docs/conformance.md) on lariat and returns its canonical trace, in the
//! format `runner.escript` prints for real OTP.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use lariat::{Cx, Down, Exit, Message, Monitored, Pid, Reason, Ref, Runtime};

/// How many times `poll_dead` asks before it gives up and reports the process alive.
const POLL_LIMIT: u32 = 1_000_000;

/// One line of a scenario.
#[derive(Debug, Clone)]
enum Step {
    Proc {
        name: String,
        trap: bool,
    },
    WaitDead(String),
    Settle(String),
    /// Settle every live process, again and again until no more die.
    SettleAll,
    /// Send every live process the marker `MSG @K` (K counts the marks), to
    /// split its mailbox into the messages of each stretch of steps.
    Mark,
    Op {
        actor: String,
        words: Vec<String>,
    },
}

/// Parses a scenario; `Err` names the line it could not read.
fn parse(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        steps.push(match (words[0].as_str(), words.len()) {
            ("proc", 2..) => Step::Proc { name: words[1].clone(), trap: words[2..].iter().any(|w| w == "trap") },
            ("wait_dead", 2) => Step::WaitDead(words[1].clone()),
            ("settle", 2) => Step::Settle(words[1].clone()),
            ("settle_all", 1) => Step::SettleAll,
            ("mark", 1) => Step::Mark,
            ("mark", 2) if words[1] == "racy" => Step::Mark,
            (actor, 2..) if actor.ends_with(':') => {
                Step::Op { actor: actor.trim_end_matches(':').to_owned(), words: words[1..].to_vec() }
            }
            _ => return Err(format!("cannot read the scenario line {line:?}")),
        });
    }
    Ok(steps)
}

type Pids = Arc<HashMap<String, Pid>>;

enum Command {
    Ping,
    Dump,
    Op(Vec<String>),
}

struct Cmd {
    command: Command,
    pids: Pids,
}

struct Ack {
    from: Pid,
    spawned: Vec<(String, Pid)>,
}

/// A message found in a process's mailbox at the end.
enum Entry {
    Exit(Exit),
    Down { monitor: String, down: Down },
    Msg(String),
    Other,
}

struct Dumped {
    from: Pid,
    entries: Vec<Entry>,
}

struct UserMsg(String);

/// A new scenario process has set its trap flag.
struct Ready(Pid);

pub(crate) fn reason_of(word: &str) -> Reason {
    match word {
        "normal" => Reason::Normal,
        "kill" => Reason::Kill,
        "killed" => Reason::Killed,
        "shutdown" => Reason::Shutdown,
        "noproc" => Reason::NoProc,
        other => Reason::error(other.to_owned()),
    }
}

/// The trace's spelling of a reason: a crash is `crash` on both sides, a call
/// that failed on bad input (`RegisterError` in lariat, `{badarg, Stack}` in
/// OTP) is `badarg`.
pub(crate) fn canonical(reason: &Reason) -> String {
    match reason {
        Reason::Panic(_) => "crash".to_owned(),
        Reason::Error(text) if text.starts_with("badarg") => "badarg".to_owned(),
        Reason::Error(text) => text.to_string(),
        other => other.to_string(),
    }
}

/// A scenario process: sets its trap flag and tells its creator (so no step
/// races its start), then performs the commands the driver sends, in order.
fn scenario_process(cx: &mut Cx, trap: bool, driver: Pid, creator: Pid) -> Result<(), Reason> {
    cx.trap_exit(trap);
    cx.send(creator, Ready(cx.pid()));
    let mut monitors: HashMap<String, Ref> = HashMap::new();
    loop {
        let Cmd { command, pids } = cx.receive::<Cmd>()?;
        let me = cx.pid();
        match command {
            Command::Ping => cx.send(driver, Ack { from: me, spawned: Vec::new() }),
            Command::Dump => {
                let names: HashMap<Ref, String> = monitors.iter().map(|(name, r)| (*r, name.clone())).collect();
                let mut entries = Vec::new();
                while let Some(message) =
                    cx.receive_map_timeout(Duration::ZERO, |m| Some(std::mem::replace(m, Message::new(()))))?
                {
                    entries.push(classify(message, &names));
                }
                cx.send(driver, Dumped { from: me, entries });
            }
            Command::Op(words) => match op(cx, &words, &pids, &mut monitors, driver)? {
                Flow::Continue(spawned) => cx.send(driver, Ack { from: me, spawned }),
                Flow::End => return Ok(()),
            },
        }
    }
}

fn classify(message: Message, monitor_names: &HashMap<Ref, String>) -> Entry {
    let message = match message.downcast::<Exit>() {
        Ok(exit) => return Entry::Exit(exit),
        Err(message) => message,
    };
    let message = match message.downcast::<Down>() {
        Ok(down) => {
            let monitor = monitor_names.get(&down.monitor).cloned().unwrap_or_else(|| "?".to_owned());
            return Entry::Down { monitor, down };
        }
        Err(message) => message,
    };
    match message.downcast::<UserMsg>() {
        Ok(UserMsg(text)) => Entry::Msg(text),
        Err(_) => Entry::Other,
    }
}

/// What a process does after an operation.
enum Flow {
    /// Goes on, having spawned these.
    Continue(Vec<(String, Pid)>),
    /// Ends normally (`exit_self normal`).
    End,
}

fn op(
    cx: &mut Cx,
    words: &[String],
    pids: &Pids,
    monitors: &mut HashMap<String, Ref>,
    driver: Pid,
) -> Result<Flow, Reason> {
    let pid = |name: &str| *pids.get(name).unwrap_or_else(|| panic!("no process {name}"));
    let word = |i: usize| words[i].as_str();
    match word(0) {
        "link" => cx.link(pid(word(1)))?,
        "unlink" => cx.unlink(pid(word(1))),
        "monitor" => {
            let monitor = cx.monitor(pid(word(1)));
            monitors.insert(words[2].clone(), monitor);
        }
        "monitor_name" => {
            let monitor = cx.monitor_named(word(1).to_owned());
            monitors.insert(words[2].clone(), monitor);
        }
        "demonitor" => {
            cx.demonitor(monitors[word(1)]);
        }
        "demonitor_flush" => {
            cx.demonitor_flush(monitors[word(1)]);
        }
        "demonitor_info" | "demonitor_flush_info" => {
            let monitor = monitors[word(1)];
            let active = if word(0) == "demonitor_info" { cx.demonitor(monitor) } else { cx.demonitor_flush(monitor) };
            let me = cx.pid();
            cx.send(me, UserMsg(format!("demonitor_{}_{active}", word(1))));
        }
        "send" => cx.send(pid(word(1)), UserMsg(words[2].clone())),
        "send_name" => cx.send_named(word(1), UserMsg(words[2].clone()))?,
        "exit_self" => {
            return match reason_of(word(1)) {
                Reason::Normal => Ok(Flow::End),
                reason => Err(reason),
            };
        }
        "crash" => panic!("crash"),
        "exit" => cx.exit(pid(word(1)), reason_of(word(2)))?,
        "trap" => {
            cx.trap_exit(word(1) == "on");
        }
        "whereis" => {
            let holder = match cx.whereis(word(1)) {
                None => "undefined".to_owned(),
                Some(holder) => pids.iter().find(|(_, pid)| **pid == holder).map_or("?".to_owned(), |(n, _)| n.clone()),
            };
            let me = cx.pid();
            cx.send(me, UserMsg(format!("whereis_{}_{holder}", word(1))));
        }
        "is_alive" | "process_info" | "status" => {
            let target = pid(word(1));
            let alive = match word(0) {
                "is_alive" => cx.is_alive(target),
                "process_info" => cx.process_info(target)?.is_some(),
                _ => cx.status(target).is_some(),
            };
            let answer = match (word(0), alive) {
                ("is_alive", alive) => alive.to_string(),
                (_, true) => "alive".to_owned(),
                (_, false) => "undefined".to_owned(),
            };
            let me = cx.pid();
            cx.send(me, UserMsg(format!("{}_{}_{answer}", word(0), word(1))));
        }
        "poll_dead" => {
            // As a user writes it: ask again and again, nothing else in the loop.
            let target = pid(word(1));
            let mut polls = 0;
            while polls < POLL_LIMIT && cx.is_alive(target) {
                polls += 1;
            }
            let seen = if polls < POLL_LIMIT { "gone" } else { "alive" };
            let me = cx.pid();
            cx.send(me, UserMsg(format!("poll_{}_{seen}", word(1))));
        }
        "await_down" => {
            let monitor = cx.monitor(pid(word(1)));
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            let me = cx.pid();
            cx.send(me, UserMsg(format!("down_{}_{}", word(1), canonical(&down.reason))));
        }
        "register" => cx.register(word(1).to_owned(), cx.pid())?,
        "unregister" => cx.unregister(word(1))?,
        "spawn_link" => {
            let trap = words[2..].iter().any(|w| w == "trap");
            let me = cx.pid();
            let child = cx.spawn_link(move |cx| scenario_process(cx, trap, driver, me)).expect("spawn");
            cx.receive_if::<Ready>(|ready| ready.0 == child)?;
            return Ok(Flow::Continue(vec![(words[1].clone(), child)]));
        }
        "spawn_monitor" => {
            let trap = words[3..].iter().any(|w| w == "trap");
            let me = cx.pid();
            let (child, monitor) = cx.spawn_monitor(move |cx| scenario_process(cx, trap, driver, me)).expect("spawn");
            cx.receive_if::<Ready>(|ready| ready.0 == child)?;
            monitors.insert(words[2].clone(), monitor);
            return Ok(Flow::Continue(vec![(words[1].clone(), child)]));
        }
        other => panic!("unknown operation {other:?}"),
    }
    Ok(Flow::Continue(Vec::new()))
}

/// The scenario's processes, as the driver knows them.
#[derive(Default)]
struct Procs {
    pids: HashMap<String, Pid>,
    names: HashMap<Pid, String>,
    order: Vec<String>,
    /// The driver's own monitor on each, to see it die.
    watches: HashMap<Pid, Ref>,
}

impl Procs {
    fn add(&mut self, cx: &mut Cx, name: String, pid: Pid) {
        self.watches.insert(pid, cx.monitor(pid));
        self.pids.insert(name.clone(), pid);
        self.names.insert(pid, name.clone());
        self.order.push(name);
    }

    /// Sends `command` to `pid` and waits for the answer `answer` picks out
    /// (`Ok`), or for its death (`Err` with its reason).
    fn ask<R>(
        &self,
        cx: &mut Cx,
        pid: Pid,
        command: Command,
        mut answer: impl FnMut(&mut Message) -> Option<R>,
    ) -> Result<Result<R, Reason>, Reason> {
        cx.send(pid, Cmd { command, pids: Arc::new(self.pids.clone()) });
        let watch = self.watches[&pid];
        cx.receive_map(|message| {
            if let Some(found) = answer(message) {
                return Some(Ok(found));
            }
            message.downcast_ref::<Down>().filter(|down| down.monitor == watch).map(|down| Err(down.reason.clone()))
        })
    }
}

/// Runs a scenario on `runtime` and returns its canonical trace; `Err` if the
/// scenario cannot be read.
pub fn run(runtime: &Runtime, scenario: &str) -> Result<String, String> {
    let steps = parse(scenario)?;
    let trace = runtime
        .block_on(move |cx| {
            let driver = cx.pid();
            let mut procs = Procs::default();
            let mut dead: HashMap<String, Reason> = HashMap::new();
            let mut marks = 0;
            // Sends a command and waits for its ack (what it spawned), or its death.
            let command = |cx: &mut Cx, procs: &Procs, pid: Pid, command: Command| {
                procs.ask(cx, pid, command, |message| {
                    message
                        .downcast_mut::<Ack>()
                        .filter(|ack| ack.from == pid)
                        .map(|ack| std::mem::take(&mut ack.spawned))
                })
            };
            for step in steps {
                match step {
                    Step::Proc { name, trap } => {
                        let pid = cx.spawn(move |cx| scenario_process(cx, trap, driver, driver))?;
                        cx.receive_if::<Ready>(|ready| ready.0 == pid)?;
                        procs.add(cx, name, pid);
                    }
                    Step::WaitDead(name) => {
                        if dead.contains_key(&name) {
                            continue;
                        }
                        let watch = procs.watches[&procs.pids[&name]];
                        let down = cx.receive_if::<Down>(|down| down.monitor == watch)?;
                        dead.insert(name, down.reason);
                    }
                    Step::Settle(name) | Step::Op { actor: name, .. } if dead.contains_key(&name) => {}
                    Step::Mark => {
                        marks += 1;
                        for name in procs.order.iter().filter(|name| !dead.contains_key(*name)) {
                            cx.send(procs.pids[name], UserMsg(format!("@{marks}")));
                        }
                    }
                    Step::SettleAll => loop {
                        let before = dead.len();
                        for name in procs.order.clone() {
                            if dead.contains_key(&name) {
                                continue;
                            }
                            let pid = procs.pids[&name];
                            if let Err(reason) = command(cx, &procs, pid, Command::Ping)? {
                                dead.insert(name, reason);
                            }
                        }
                        if dead.len() == before {
                            break;
                        }
                    },
                    Step::Settle(name) => {
                        let pid = procs.pids[&name];
                        if let Err(reason) = command(cx, &procs, pid, Command::Ping)? {
                            dead.insert(name, reason);
                        }
                    }
                    Step::Op { actor, words } => {
                        let pid = procs.pids[&actor];
                        match command(cx, &procs, pid, Command::Op(words))? {
                            Ok(spawned) => {
                                for (name, child) in spawned {
                                    procs.add(cx, name, child);
                                }
                            }
                            Err(reason) => {
                                dead.insert(actor, reason);
                            }
                        }
                    }
                }
            }
            let mut trace = String::new();
            for name in &procs.order {
                if let Some(reason) = dead.get(name) {
                    writeln!(trace, "{name}: dead {}", canonical(reason)).unwrap();
                    continue;
                }
                let pid = procs.pids[name];
                let dumped = procs.ask(cx, pid, Command::Dump, |message| {
                    message.downcast_mut::<Dumped>().filter(|d| d.from == pid).map(|d| std::mem::take(&mut d.entries))
                })?;
                match dumped {
                    Err(reason) => writeln!(trace, "{name}: dead {}", canonical(&reason)).unwrap(),
                    Ok(entries) => {
                        writeln!(trace, "{name}: alive").unwrap();
                        for entry in entries {
                            let line = match entry {
                                Entry::Exit(exit) => {
                                    format!("EXIT {} {}", name_of(&procs.names, exit.from), canonical(&exit.reason))
                                }
                                Entry::Down { monitor, down } => {
                                    let object = match &down.object {
                                        Monitored::Pid(pid) => name_of(&procs.names, *pid),
                                        Monitored::Name(name) => name.to_string(),
                                    };
                                    format!("DOWN {monitor} {object} {}", canonical(&down.reason))
                                }
                                Entry::Msg(text) => format!("MSG {text}"),
                                Entry::Other => "OTHER".to_owned(),
                            };
                            writeln!(trace, "  {line}").unwrap();
                        }
                    }
                }
            }
            // Leave nothing behind for the next scenario on this runtime.
            for pid in procs.pids.values() {
                cx.exit(*pid, Reason::Kill)?;
            }
            while procs.pids.values().any(|pid| cx.is_alive(*pid)) {
                cx.sleep(Duration::from_millis(1))?;
            }
            Ok::<_, Reason>(trace)
        })
        .map_err(|error| format!("the scenario driver failed: {error}"))?;
    Ok(trace)
}

fn name_of(names: &HashMap<Pid, String>, pid: Pid) -> String {
    names.get(&pid).cloned().unwrap_or_else(|| "?".to_owned())
}
