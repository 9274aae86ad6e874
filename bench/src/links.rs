//! The link rows of bench-spec.md (link_fanout, trap_fanout, link_chain),
//! written as peerbench.erl writes them.

use std::time::{Duration, Instant};

use lariat::{Pid, Reason, Runtime};

use crate::workloads::{Progress, REPORT_EVERY};

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
/// Progress: steps `n + 1 ..= 2n`, one per `Down`.
fn wait_downs(cx: &mut lariat::Cx, n: u64, progress: &Progress) -> Result<(), Reason> {
    for done in 1..=n {
        let down = cx.receive::<lariat::Down>()?;
        assert_eq!(down.reason, boom(), "a linked worker died of its link's reason");
        if done % REPORT_EVERY == 0 {
            progress(n + done);
        }
    }
    Ok(())
}

/// link_fanout: P spawn_links `n` idle workers and exits with `boom`; the main
/// process monitors every worker. Timed from just before P's exit until all `n`
/// `Down`s (reason `boom`) have arrived. Progress: `2n` steps, the workers
/// spawned and then their `Down`s.
pub fn link_fanout(runtime: &Runtime, n: u64, progress: Progress) -> LinkFigures {
    let handle = runtime.handle();
    let spawn_progress = progress.clone();
    let (run, setup, before) = runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let start = Instant::now();
            let p = cx.spawn(move |cx| {
                let mut workers = Vec::with_capacity(n as usize);
                for spawned in 1..=n {
                    workers.push(cx.spawn_link(|cx| cx.receive::<Go>().map(|_| ()))?);
                    if spawned % REPORT_EVERY == 0 {
                        spawn_progress(spawned);
                    }
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
            wait_downs(cx, n, &progress)?;
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
            let ((), elapsed) = crate::timed_phase(|| {
                for _ in 0..n {
                    cx.spawn_link(|_| Err(boom()))?;
                }
                for _ in 0..n {
                    let exit = cx.receive::<lariat::Exit>()?;
                    assert_eq!(exit.reason, boom(), "each worker's reason arrives");
                }
                Ok::<_, Reason>(())
            })?;
            Ok::<_, Reason>(elapsed)
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
            let (down, run) = crate::timed_phase(|| {
                cx.exit(head, boom())?;
                cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)
            })?;
            assert_eq!(down.reason, boom(), "the tail died of the head's reason");
            Ok::<_, Reason>((run, setup, before))
        })
        .expect("link_chain main");
    LinkFigures { run, setup, ended_per_worker: ended_since(runtime, &before) }
}
