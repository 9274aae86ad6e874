//! bench-spec.md workloads, written the way a lariat user would write them.

use std::time::{Duration, Instant};

use lariat::{Pid, Reason, Runtime};

/// A progress callback: called with how many of the total are done.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// No progress reporting.
pub fn no_progress(_done: u64) {}

/// spawn_exit: spawn `n` processes that each send the parent one message and
/// return; the parent waits for all `n` messages. Returns the wall time.
pub fn spawn_exit(runtime: &Runtime, n: u64, progress: Progress<'static>) -> Duration {
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            let start = Instant::now();
            for _ in 0..n {
                cx.spawn(move |cx| {
                    cx.send(parent, ());
                    Ok(())
                })?;
            }
            for done in 1..=n {
                cx.receive::<()>()?;
                if done % 65536 == 0 {
                    progress(done);
                }
            }
            Ok::<_, Reason>(start.elapsed())
        })
        .expect("spawn_exit parent")
}

/// What spawn_idle measured.
#[derive(Debug, Clone, Copy)]
pub struct IdleFigures {
    /// Time to spawn all and see each of them blocked in its receive.
    pub spawn: Duration,
    /// RSS growth divided by the number of idle processes.
    pub rss_per_process: f64,
    /// Time to send each `stop` and see all of them gone.
    pub stop: Duration,
}

struct Ready;
struct Stop;
struct Gone;

/// spawn_idle: spawn `n` processes that each block in a receive; measure RSS per
/// idle process; then stop them all.
pub fn spawn_idle(runtime: &Runtime, n: u64, progress: Progress<'static>) -> IdleFigures {
    let before = crate::rss_bytes();
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            let start = Instant::now();
            let mut children = Vec::with_capacity(n as usize);
            for _ in 0..n {
                children.push(cx.spawn(move |cx| {
                    cx.send(parent, Ready);
                    cx.receive::<Stop>()?;
                    cx.send(parent, Gone);
                    Ok(())
                })?);
            }
            for done in 1..=n {
                cx.receive::<Ready>()?;
                if done % 65536 == 0 {
                    progress(done);
                }
            }
            let spawn = start.elapsed();
            let grown = crate::rss_bytes().saturating_sub(before);
            let start = Instant::now();
            for child in children {
                cx.send(child, Stop);
            }
            for _ in 0..n {
                cx.receive::<Gone>()?;
            }
            Ok::<_, Reason>(IdleFigures { spawn, rss_per_process: grown as f64 / n as f64, stop: start.elapsed() })
        })
        .expect("spawn_idle parent")
}

struct Ball(Pid);

/// ping_pong: two processes exchange `rounds` round trips. Returns the wall time.
pub fn ping_pong(runtime: &Runtime, rounds: u64) -> Duration {
    runtime
        .block_on(move |cx| {
            let ponger = cx.spawn(move |cx| {
                for _ in 0..rounds {
                    let Ball(from) = cx.receive::<Ball>()?;
                    cx.send(from, Ball(from));
                }
                Ok(())
            })?;
            let me = cx.pid();
            let start = Instant::now();
            for _ in 0..rounds {
                cx.send(ponger, Ball(me));
                cx.receive::<Ball>()?;
            }
            Ok::<_, Reason>(start.elapsed())
        })
        .expect("ping_pong parent")
}

/// What ring measured.
#[derive(Debug, Clone, Copy)]
pub struct RingFigures {
    /// Time to spawn and link up the ring.
    pub build: Duration,
    /// Time for the token to make all its hops.
    pub run: Duration,
}

struct Next(Pid);
struct Token(u64);
struct RingDone;

fn ring_member(cx: &mut lariat::Cx, next: Pid, main: Pid, size: u64) -> Result<(), Reason> {
    loop {
        let Token(left) = cx.receive::<Token>()?;
        if left == 0 {
            cx.send(main, RingDone);
            return Ok(());
        }
        cx.send(next, Token(left - 1));
        // Values a member sees fall by `size` per lap: below `size` it was its last
        // sight of the token (the first member also gets the final 0).
        if left < size {
            return Ok(());
        }
    }
}

/// ring: `size` processes in a ring pass a token `laps` times around (as
/// peerbench.erl: built back to front, the first member told its successor last).
pub fn ring(runtime: &Runtime, size: u64, laps: u64) -> RingFigures {
    runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let start = Instant::now();
            let first = cx.spawn(move |cx| {
                let Next(next) = cx.receive::<Next>()?;
                ring_member(cx, next, main, size)
            })?;
            let mut next = first;
            for _ in 1..size {
                next = cx.spawn(move |cx| ring_member(cx, next, main, size))?;
            }
            cx.send(first, Next(next));
            let build = start.elapsed();
            let start = Instant::now();
            cx.send(first, Token(size * laps));
            cx.receive::<RingDone>()?;
            Ok::<_, Reason>(RingFigures { build, run: start.elapsed() })
        })
        .expect("ring parent")
}

/// What a link row measured.
#[derive(Debug, Clone)]
pub struct LinkFigures {
    /// The timed part (see each row).
    pub run: Duration,
    /// The untimed set-up before it.
    pub setup: Duration,
    /// Processes that ended on each worker during the timed part.
    pub ended_per_worker: Vec<u64>,
}

struct Workers(Vec<Pid>);
struct Go;
struct Exiting(Instant);
struct Tail(Pid);

fn boom() -> Reason {
    Reason::error("boom")
}

/// Waits until every process in `pids` is blocked in its receive (peerbench's
/// `settle`: nothing left runnable from the set-up).
fn settle(cx: &mut lariat::Cx, pids: &[Pid]) -> Result<(), Reason> {
    let mut next = 0;
    while next < pids.len() {
        match cx.status(pids[next]) {
            Some(lariat::Status::Waiting) | None => next += 1,
            Some(_) => cx.sleep(Duration::from_millis(1))?,
        }
    }
    Ok(())
}

fn ended_since(runtime: &Runtime, before: &[lariat::WorkerStats]) -> Vec<u64> {
    runtime.worker_stats().iter().zip(before).map(|(now, then)| now.ended - then.ended).collect()
}

/// Waits for `n` `Down`s with reason `boom`.
fn wait_downs(cx: &mut lariat::Cx, n: u64, progress: Progress<'_>) -> Result<(), Reason> {
    for done in 1..=n {
        let down = cx.receive::<lariat::Down>()?;
        assert_eq!(down.reason, boom(), "a linked worker died of its link's reason");
        if done % 65536 == 0 {
            progress(done);
        }
    }
    Ok(())
}

/// link_fanout: P spawn_links `n` idle workers and exits with `boom`; the main
/// process monitors every worker. Timed from just before P's exit until all `n`
/// `Down`s (reason `boom`) have arrived.
pub fn link_fanout(runtime: &Runtime, n: u64, progress: Progress<'static>) -> LinkFigures {
    let handle = runtime.handle();
    let (run, setup, before) = runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let start = Instant::now();
            let p = cx.spawn(move |cx| {
                let mut workers = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    workers.push(cx.spawn_link(|cx| cx.receive::<Go>().map(|_| ()))?);
                }
                cx.send(main, Workers(workers));
                cx.receive::<Go>()?;
                cx.send(main, Exiting(Instant::now()));
                Err(boom())
            })?;
            let Workers(workers) = cx.receive()?;
            for &worker in &workers {
                cx.monitor(worker);
            }
            settle(cx, &workers)?;
            let setup = start.elapsed();
            let before = handle.worker_stats();
            crate::perf_switch(true);
            cx.send(p, Go);
            let Exiting(exiting) = cx.receive()?;
            wait_downs(cx, n, progress)?;
            crate::perf_switch(false);
            Ok::<_, Reason>((exiting.elapsed(), setup, before))
        })
        .expect("link_fanout main");
    LinkFigures { run, setup, ended_per_worker: ended_since(runtime, &before) }
}

/// trap_fanout: a trapping process spawn_links `n` workers that each exit at
/// once with `boom`. Timed from before the first spawn_link until it has
/// received all `n` `Exit` messages (so the spawns are included, as in peerbench).
pub fn trap_fanout(runtime: &Runtime, n: u64) -> LinkFigures {
    let before = runtime.worker_stats();
    let run = runtime
        .block_on(move |cx| {
            cx.trap_exit(true);
            let start = Instant::now();
            for _ in 0..n {
                cx.spawn_link(|_| Err(boom()))?;
            }
            for _ in 0..n {
                let exit = cx.receive::<lariat::Exit>()?;
                assert_eq!(exit.reason, boom(), "each worker's reason arrives");
            }
            Ok::<_, Reason>(start.elapsed())
        })
        .expect("trap_fanout main");
    LinkFigures { run, setup: Duration::ZERO, ended_per_worker: ended_since(runtime, &before) }
}

struct Member(Pid);

fn chain_member(cx: &mut lariat::Cx, left: u64, main: Pid) -> Result<(), Reason> {
    cx.send(main, Member(cx.pid()));
    if left == 0 {
        cx.send(main, Tail(cx.pid()));
    } else {
        cx.spawn_link(move |cx| chain_member(cx, left - 1, main))?;
    }
    cx.receive::<Go>().map(|_| ())
}

/// link_chain: `n` processes, each spawn_linking the next; the main process
/// monitors the tail and calls `exit(head, boom)`. Timed until the tail's `Down`.
pub fn link_chain(runtime: &Runtime, n: u64) -> LinkFigures {
    let handle = runtime.handle();
    let (run, setup, before) = runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let start = Instant::now();
            let head = cx.spawn(move |cx| chain_member(cx, n - 1, main))?;
            let Tail(tail) = cx.receive()?;
            let mut members = Vec::with_capacity(n as usize);
            for _ in 0..n {
                let Member(member) = cx.receive()?;
                members.push(member);
            }
            let monitor = cx.monitor(tail);
            settle(cx, &members)?;
            drop(members);
            let setup = start.elapsed();
            let before = handle.worker_stats();
            crate::perf_switch(true);
            let exit_at = Instant::now();
            cx.exit(head, boom())?;
            let down = cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)?;
            crate::perf_switch(false);
            assert_eq!(down.reason, boom(), "the tail died of the head's reason");
            Ok::<_, Reason>((exit_at.elapsed(), setup, before))
        })
        .expect("link_chain main");
    LinkFigures { run, setup, ended_per_worker: ended_since(runtime, &before) }
}
