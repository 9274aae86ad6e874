//! Links between processes, as the seed tutorial shows them, in plain lariat.
//!
//! lariat grew from a Russian-language Elixir tutorial on links between
//! processes (the *seed*; docs/semantics.md §2 retells it). Each function below
//! replays one of its iex sessions: it prints the Elixir the tutorial typed
//! (the `iex>` lines), and the code that prints it is how the same thing is
//! written with lariat. In the tutorial the iex shell is the process that
//! starts the others; here a process called `shell` plays that part.
//!
//! Run it: `cargo run --release -p lariat --example seed_links`. The main job
//! (`cargo run --release` at the root) shows the same scenarios, and
//! `bench/tests/seed.rs` asserts every outcome.

use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use lariat::{BlockOnError, Cx, Down, Exit, Pid, Reason, Runtime, SpawnOptions};

/// What a scenario printed, line by line.
pub type Transcript = Vec<String>;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder().workers(2).build()?;
    for transcript in all(&runtime) {
        for line in transcript {
            println!("{line}");
        }
        println!();
    }
    Ok(())
}

/// Every scenario, in the tutorial's order.
pub fn all(runtime: &Runtime) -> Vec<Transcript> {
    vec![
        spawn_five(runtime),
        spawn_link_five(runtime),
        trapping_parent(runtime),
        exit_self(runtime),
        chain(runtime, W2Ends::Normal),
        chain(runtime, W2Ends::Boom),
        chain(runtime, W2Ends::KillsItself),
        chain(runtime, W2Ends::KilledByExit),
        supervision(runtime),
    ]
}

fn some_reason() -> Reason {
    Reason::error("some_reason")
}

/// Tells a worker to do its work.
struct Go;

/// The tutorial's `work(id)`: say it started, do the work (here: wait for
/// `Go`, so the outcome is the same every run), then process 3 fails with
/// `:some_reason` and the others say they stopped. What a worker says goes to
/// the shell as a message.
fn work(cx: &mut Cx, id: u32, shell: Pid) -> Result<(), Reason> {
    cx.send(shell, format!("Process id:{id} pid:{} started", cx.pid()));
    cx.receive::<Go>()?;
    if id == 3 {
        cx.send(shell, format!("Process id:{id} exits"));
        return Err(some_reason());
    }
    cx.send(shell, format!("Process id:{id} pid:{} stopped", cx.pid()));
    Ok(())
}

/// How the shell starts its five workers.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    Spawn,
    SpawnLink,
}

/// The shell's screen: what it prints goes to the thread that runs the
/// scenario, so the lines survive the shell's death.
struct Screen {
    lines: Sender<String>,
    workers: Sender<Vec<Pid>>,
}

impl Screen {
    fn print(&self, line: impl Into<String>) {
        let _ = self.lines.send(line.into());
    }
}

/// The shell's part of `T.run_and_exit(5)`: start five workers, let process 3
/// fail first (a monitor tells the shell when it is gone), then let the
/// others work, and print what they said.
fn run_and_exit(cx: &mut Cx, start: Start, screen: &Screen) -> Result<(), Reason> {
    run_and_exit_watched(cx, start, screen, None)
}

/// `run_and_exit`, with `observer` (if any) told the workers before they work
/// (`Watch`), and waited for until it watches them (`Watching`).
fn run_and_exit_watched(cx: &mut Cx, start: Start, screen: &Screen, observer: Option<Pid>) -> Result<(), Reason> {
    let shell = cx.pid();
    let mut workers = Vec::new();
    for id in 1..=5 {
        let body = move |cx: &mut Cx| work(cx, id, shell);
        let pid = match start {
            Start::Spawn => cx.spawn(body)?,
            Start::SpawnLink => cx.spawn_link(body)?,
        };
        workers.push(pid);
    }
    let _ = screen.workers.send(workers.clone());
    if let Some(observer) = observer {
        cx.send(observer, Watch(workers.clone()));
        cx.receive::<Watching>()?;
    }
    for _ in 1..=5 {
        screen.print(cx.receive::<String>()?); // "Process id:N pid:<...> started"
    }
    let third = cx.monitor(workers[2]);
    cx.send(workers[2], Go);
    // With spawn_link (and no trap_exit), process 3's exit signal ends the
    // shell while it waits here: the signal comes before the Down.
    cx.receive_if::<Down>(|down| down.monitor == third)?;
    screen.print(cx.receive::<String>()?); // "Process id:3 exits"
    for (index, &worker) in workers.iter().enumerate() {
        if index != 2 {
            cx.send(worker, Go);
        }
    }
    for _ in 0..4 {
        screen.print(cx.receive::<String>()?); // "Process id:N pid:<...> stopped"
    }
    Ok(())
}

/// Runs `shell` as a process; returns what it printed (also when it died),
/// the workers it started, and how it ended.
fn in_shell<T: Send + 'static>(
    runtime: &Runtime,
    shell: impl FnOnce(&mut Cx, &Screen) -> Result<T, Reason> + Send + 'static,
) -> (Transcript, Vec<Pid>, Result<T, BlockOnError>) {
    let (lines, printed) = mpsc::channel();
    let (workers, started) = mpsc::channel();
    let ended = runtime.block_on(move |cx| shell(cx, &Screen { lines, workers }));
    (printed.try_iter().collect(), started.try_iter().flatten().collect(), ended)
}

/// Five processes started with `spawn`; process 3 fails, the others finish.
/// Nothing links them to the shell, so the failure stays with process 3.
pub fn spawn_five(runtime: &Runtime) -> Transcript {
    let mut transcript = vec!["iex> T.run_and_exit(5)   # five workers started with spawn".to_owned()];
    let (printed, _, ended) = in_shell(runtime, |cx, screen| run_and_exit(cx, Start::Spawn, screen));
    transcript.extend(printed);
    match ended {
        Ok(()) => transcript.push("the shell lives: spawn makes no link".to_owned()),
        Err(error) => transcript.push(format!("unexpected: the shell ended: {error}")),
    }
    transcript
}

/// Asks the observer to watch these workers.
struct Watch(Vec<Pid>);
/// The observer watches them.
struct Watching;

/// The same with `spawn_link`: process 3's exit signal reaches the shell,
/// which does not trap exits, so the shell dies with `:some_reason` (it never
/// prints process 3's last words); the shell's own exit signal then reaches
/// the four other workers, linked to it, and they die with the same reason
/// before they do their work. An observer, linked to no one, watches the
/// workers with monitors to tell how they ended.
pub fn spawn_link_five(runtime: &Runtime) -> Transcript {
    let mut transcript = vec!["iex> T.run_and_exit(5)   # now with spawn_link".to_owned()];
    let (fates, told) = mpsc::channel();
    let (printed, _, ended) = in_shell(runtime, move |cx, screen| {
        let shell = cx.pid();
        let observer = cx.spawn(move |cx| {
            let Watch(workers) = cx.receive()?;
            let monitors: Vec<_> = workers.iter().map(|&worker| cx.monitor(worker)).collect();
            cx.send(shell, Watching);
            for (id, monitor) in (1..).zip(monitors) {
                let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
                let _ = fates.send(format!("(observer) Process id:{id} died with :{}", down.reason));
            }
            Ok(())
        })?;
        run_and_exit_watched(cx, Start::SpawnLink, screen, Some(observer))
    });
    transcript.extend(printed);
    match ended {
        Err(BlockOnError::Exited(reason)) => {
            transcript.push(format!("** (EXIT from shell) shell process exited with reason: :{reason}"));
        }
        other => transcript.push(format!("unexpected: {other:?}")),
    }
    // The observer outlives the shell; its five lines come when it has them.
    transcript.extend((0..5).map_while(|_| told.recv_timeout(Duration::from_secs(10)).ok()));
    transcript
}

/// The shell traps exits: every worker's end becomes an `Exit` message in its
/// mailbox, and nothing spreads. `flush()` shows them: one `:some_reason`,
/// four `:normal`.
pub fn trapping_parent(runtime: &Runtime) -> Transcript {
    let mut transcript =
        vec!["iex> Process.flag(:trap_exit, true)".to_owned(), "iex> T.run_and_exit(5)   # with spawn_link".to_owned()];
    let (printed, _, ended) = in_shell(runtime, |cx, screen| {
        cx.trap_exit(true);
        run_and_exit(cx, Start::SpawnLink, screen)?;
        screen.print("iex> flush()");
        for _ in 0..5 {
            let Exit { from, reason } = cx.receive::<Exit>()?;
            screen.print(format!("{{:EXIT, {from}, :{reason}}}"));
        }
        Ok(())
    });
    transcript.extend(printed);
    match ended {
        Ok(()) => transcript.push("the shell traps exits and lives".to_owned()),
        Err(error) => transcript.push(format!("unexpected: the shell ended: {error}")),
    }
    transcript
}

/// `Process.exit(self(), reason)`: a process that does not trap exits ends
/// with the reason it sends itself, `:normal` included (an old ERTS rule).
pub fn exit_self(runtime: &Runtime) -> Transcript {
    let mut transcript = Vec::new();
    for reason in [Reason::Normal, Reason::error("some_error")] {
        transcript.push(format!("iex> Process.exit(self(), :{reason})"));
        let (_, _, ended) = in_shell(runtime, move |cx, _| {
            let me = cx.pid();
            cx.exit(me, reason)?;
            Ok(())
        });
        match ended {
            Err(BlockOnError::Exited(reason)) => {
                transcript.push(format!("** (EXIT from shell) shell process exited with reason: :{reason}"));
            }
            other => transcript.push(format!("unexpected: {other:?}")),
        }
    }
    transcript
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

/// What the chain's processes are told.
enum Order {
    LinkTo(Pid),
    End(Reason),
    Report,
}

/// A chain member's answers to the observer.
struct Linked;
struct Reported(Pid);

/// The tutorial's picture: five processes linked in a line, W1–W2–S4–W3–S5.
/// W processes are workers (they do not trap exits); S processes are "system"
/// processes (they trap exits, so an exit signal becomes an `Exit` message).
/// W2 ends as `how`; the observer (not linked, it monitors all five) prints
/// who died with what and which `Exit` messages the S processes got.
pub fn chain(runtime: &Runtime, how: W2Ends) -> Transcript {
    let names = ["W1", "W2", "S4", "W3", "S5"];
    let told = runtime.block_on(move |cx| {
        let observer = cx.pid();
        let mut pids = Vec::new();
        for name in names {
            let traps = name.starts_with('S');
            pids.push(cx.spawn(move |cx| {
                cx.trap_exit(traps);
                loop {
                    let message = cx.receive_any()?;
                    let message = match message.downcast::<Order>() {
                        Ok(Order::LinkTo(peer)) => {
                            cx.link(peer)?;
                            cx.send(observer, Linked);
                            continue;
                        }
                        Ok(Order::End(reason)) => return Err(reason),
                        Ok(Order::Report) => {
                            cx.send(observer, Reported(cx.pid()));
                            continue;
                        }
                        Err(message) => message,
                    };
                    // A trapped exit: tell the observer, keep living.
                    if let Ok(exit) = message.downcast::<Exit>() {
                        cx.send(observer, (cx.pid(), exit));
                    }
                }
            })?);
        }
        let monitors: Vec<_> = pids.iter().map(|&pid| cx.monitor(pid)).collect();
        for pair in pids.windows(2) {
            cx.send(pair[0], Order::LinkTo(pair[1]));
            cx.receive::<Linked>()?;
        }
        let w2 = pids[1];
        match how {
            W2Ends::Normal => cx.send(w2, Order::End(Reason::Normal)),
            W2Ends::Boom => cx.send(w2, Order::End(Reason::error("boom"))),
            W2Ends::KillsItself => cx.send(w2, Order::End(Reason::Kill)),
            W2Ends::KilledByExit => cx.exit(w2, Reason::Kill)?,
        }
        // When has everything happened? A process sends its exit signals
        // before its `Down`s, and one sender's signals to one receiver keep
        // their order. So once a member's `Down` is here, its exit signals
        // are in its links' queues, ahead of anything sent to them next. Ask
        // each member not known to be dead to report, and wait for its answer
        // or its `Down`; ask again while someone died. A trapping member
        // forwards the `Exit`s it got before it answers. No clock involved.
        // (`is_alive` would not do: it can say `false` once the pid is gone
        // from the table, before the exit signals are out, as in ERTS.)
        let mut ended = vec![None; 5];
        let mut someone_died = true;
        while someone_died {
            someone_died = false;
            for (index, &pid) in pids.iter().enumerate() {
                if ended[index].is_some() {
                    continue;
                }
                cx.send(pid, Order::Report);
                let monitor = monitors[index];
                let died = cx.receive_map(|message| {
                    if message.downcast_ref::<Reported>().is_some_and(|reported| reported.0 == pid) {
                        return Some(None);
                    }
                    let down = message.downcast_ref::<Down>().filter(|down| down.monitor == monitor);
                    down.map(|down| Some(down.reason.clone()))
                })?;
                if let Some(reason) = died {
                    ended[index] = Some(reason);
                    someone_died = true;
                }
            }
        }
        // Every forwarded `Exit` is in the mailbox now.
        let mut trapped = vec![Vec::new(); 5];
        while let Some((pid, exit)) = cx.receive_map_timeout(Duration::ZERO, |message| {
            message.downcast_mut::<(Pid, Exit)>().map(|(pid, exit)| (*pid, exit.clone()))
        })? {
            let who = pids.iter().position(|&p| p == pid).expect("one of ours");
            let from = pids.iter().position(|&p| p == exit.from).map_or("?", |from| names[from]);
            trapped[who].push(format!("{{:EXIT, {from}, :{}}}", exit.reason));
        }
        for (index, &pid) in pids.iter().enumerate() {
            if ended[index].is_none() {
                cx.exit(pid, Reason::Kill)?; // clean up the survivors
            }
        }
        Ok((ended, trapped))
    });
    let mut transcript = vec![format!("W1–W2–S4–W3–S5, W2 {}", describe(how))];
    match told {
        Ok((ended, trapped)) => {
            for (index, name) in names.iter().enumerate() {
                let fate = ended[index].as_ref().map_or("lives".to_owned(), |reason| format!("dies with :{reason}"));
                let got = if trapped[index].is_empty() {
                    String::new()
                } else {
                    format!("; got {}", trapped[index].join(", "))
                };
                transcript.push(format!("  {name} {fate}{got}"));
            }
        }
        Err(error) => transcript.push(format!("unexpected: {error}")),
    }
    transcript
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
            ];
            let me = cx.pid();
            // Each traps exits from its spawn (an OTP worker traps in its
            // `init`, before `start_link` returns): a shutdown that comes
            // before its body first runs is still a message it sees.
            let worker = |name: &'static str| {
                ChildSpec::new(name, move |cx| {
                    let options = SpawnOptions::new().link().trap_exit();
                    let spawned = cx.spawn_opt(options, move |cx: &mut Cx| {
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
                    })?;
                    Ok(spawned.pid)
                })
            };
            let spec = SupervisorSpec::new(Strategy::OneForOne)
                .intensity(3, Duration::from_secs(5))
                .child(worker("w1"))
                .child(worker("w2"))
                .child(worker("w3"));
            cx.trap_exit(true);
            let sup = supervisor::start_link(cx, spec)?;
            let show = |cx: &mut Cx| -> Result<Vec<Option<Pid>>, Reason> {
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
            // Fail whichever w2 runs until the supervisor gives up (three
            // more failures do it, coming well within 5 s).
            let down = 'failing: loop {
                let failing = pids[1].expect("w2 runs");
                cx.send(failing, Fail);
                // Until w2 runs again, or the supervisor has ended.
                loop {
                    let ended = cx.receive_map_timeout(Duration::from_millis(1), |message| {
                        message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).cloned()
                    })?;
                    if let Some(down) = ended {
                        break 'failing down;
                    }
                    if let Ok(children) = sup.which_children(cx) {
                        pids = children.into_iter().map(|child| child.pid).collect();
                        if pids[1].is_some_and(|now| now != failing) {
                            break;
                        }
                    }
                }
            };
            // The stopped workers' last words came before the supervisor's end.
            while let Some(line) = cx.receive_timeout::<String>(Duration::ZERO)? {
                lines.push(line);
            }
            lines.push(format!("  the supervisor gives up and ends with :{}", down.reason));
            Ok::<_, Reason>(lines)
        })
        .unwrap_or_else(|error| vec![format!("unexpected: {error}")])
}
