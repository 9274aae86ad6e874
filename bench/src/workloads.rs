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
