//! bench-spec.md workloads, written the way a lariat user would write them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lariat::{Pid, Reason, Runtime};

/// A progress callback: called now and then with how many steps of the
/// workload's total are done (each workload says what its total is).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// No progress reporting.
pub fn no_progress() -> Progress {
    Arc::new(|_| {})
}

/// Steps between two progress reports: rare enough to cost nothing beside a
/// spawn or a receive, often enough for a bar to move smoothly.
pub const REPORT_EVERY: u64 = 4096;

/// spawn_exit: spawn `n` processes that each send the parent one message and
/// return; the parent waits for all `n` messages. Returns the wall time.
/// Progress: `n` steps, one per message received.
pub fn spawn_exit(runtime: &Runtime, n: u64, progress: Progress) -> Duration {
    spawn_and_wait(runtime, n, progress, |cx, parent| cx.send(parent, ()))
}

/// Spawns `n` processes that each run `child` (which sends the parent `()`
/// once) and return; waits for all `n` messages. Returns the wall time.
fn spawn_and_wait(runtime: &Runtime, n: u64, progress: Progress, child: fn(&mut lariat::Cx, Pid)) -> Duration {
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            let ((), elapsed) = crate::timed_phase(|| {
                for _ in 0..n {
                    cx.spawn(move |cx| {
                        child(cx, parent);
                        Ok(())
                    })?;
                }
                for done in 1..=n {
                    cx.receive::<()>()?;
                    if done % REPORT_EVERY == 0 {
                        progress(done);
                    }
                }
                Ok::<_, Reason>(())
            })?;
            Ok::<_, Reason>(elapsed)
        })
        .expect("spawn parent")
}

/// Touches `bytes` of the stack below here (1 KiB frames), then sends `()`
/// to `to` from the deepest frame (a runtime call while deep).
#[inline(never)]
fn send_from_deep(cx: &mut lariat::Cx, to: Pid, bytes: usize) {
    let frame = std::hint::black_box([0u8; 1024]);
    if bytes <= 1024 {
        cx.send(to, ());
    } else {
        send_from_deep(cx, to, bytes - 1024);
    }
    std::hint::black_box(&frame);
}

/// spawn_exit_deep: as spawn_exit, but each process goes 64 KiB deep into its
/// stack and sends from there before it ends (real bodies: formatting, serde,
/// a parser). Recycling such stacks must not cost page faults every time.
/// Progress: `n` steps, as spawn_exit.
pub fn spawn_exit_deep(runtime: &Runtime, n: u64, progress: Progress) -> Duration {
    spawn_and_wait(runtime, n, progress, |cx, parent| send_from_deep(cx, parent, 64 * 1024))
}

/// What spawn_idle measured.
#[derive(Debug, Clone, Copy)]
pub struct IdleFigures {
    /// Time to spawn all and see each of them blocked in its receive.
    pub spawn: Duration,
    /// RSS growth divided by the number of idle processes.
    pub rss_per_process: f64,
    /// Page-table growth (`VmPTE`) divided by the number of idle processes.
    pub page_tables_per_process: f64,
    /// Time to send each `stop` and see all of them gone.
    pub stop: Duration,
}

struct Ready;
struct Stop;
struct Gone;

/// spawn_idle: spawn `n` processes that each block in a receive; measure RSS per
/// idle process; then stop them all. Progress: `n` steps, one per process
/// spawned (waiting for them to be ready and stopping them is quick beside it).
pub fn spawn_idle(runtime: &Runtime, n: u64, progress: Progress) -> IdleFigures {
    let before = crate::rss_bytes();
    let page_tables_before = crate::page_table_bytes();
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            let start = Instant::now();
            let mut children = Vec::with_capacity(n as usize);
            for spawned in 1..=n {
                children.push(cx.spawn(move |cx| {
                    cx.send(parent, Ready);
                    cx.receive::<Stop>()?;
                    cx.send(parent, Gone);
                    Ok(())
                })?);
                if spawned % REPORT_EVERY == 0 {
                    progress(spawned);
                }
            }
            for _ in 0..n {
                cx.receive::<Ready>()?;
            }
            let spawn = start.elapsed();
            let grown = crate::rss_bytes().saturating_sub(before);
            let page_tables = crate::page_table_bytes().saturating_sub(page_tables_before);
            let start = Instant::now();
            for child in children {
                cx.send(child, Stop);
            }
            for _ in 0..n {
                cx.receive::<Gone>()?;
            }
            Ok::<_, Reason>(IdleFigures {
                spawn,
                rss_per_process: grown as f64 / n as f64,
                page_tables_per_process: page_tables as f64 / n as f64,
                stop: start.elapsed(),
            })
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
            let ((), elapsed) = crate::timed_phase(|| {
                for _ in 0..rounds {
                    cx.send(ponger, Ball(me));
                    cx.receive::<Ball>()?;
                }
                Ok::<_, Reason>(())
            })?;
            Ok::<_, Reason>(elapsed)
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
            let (_, run) = crate::timed_phase(|| {
                cx.send(first, Token(size * laps));
                cx.receive::<RingDone>()
            })?;
            Ok::<_, Reason>(RingFigures { build, run })
        })
        .expect("ring parent")
}

struct Sum(u64);

fn skynet_node(cx: &mut lariat::Cx, parent: Pid, num: u64, size: u64, div: u64) -> Result<(), Reason> {
    if size == 1 {
        cx.send(parent, Sum(num));
        return Ok(());
    }
    let me = cx.pid();
    let sub = size / div;
    for i in 0..div {
        cx.spawn(move |cx| skynet_node(cx, me, num + i * sub, sub, div))?;
    }
    let mut sum = 0;
    for _ in 0..div {
        sum += cx.receive::<Sum>()?.0;
    }
    cx.send(parent, Sum(sum));
    Ok(())
}

/// skynet: a 10-ary tree of `leaves` leaf processes; leaves reply their index,
/// parents sum. Returns the wall time and the sum (499999500000 for 1,000,000).
pub fn skynet(runtime: &Runtime, leaves: u64) -> (Duration, u64) {
    runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let (Sum(sum), elapsed) = crate::timed_phase(|| {
                cx.spawn(move |cx| skynet_node(cx, me, 0, leaves, 10))?;
                cx.receive::<Sum>()
            })?;
            Ok::<_, Reason>((elapsed, sum))
        })
        .expect("skynet root")
}

struct MpscGo;
struct MpscDone;

/// mpsc: `senders` processes each send `per_sender` small messages to one
/// receiver. Timed from the `go` to the (spawned, idle) senders until the
/// receiver has taken all of them.
pub fn mpsc(runtime: &Runtime, senders: u64, per_sender: u64) -> Duration {
    runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let receiver = cx.spawn(move |cx| {
                for _ in 0..senders * per_sender {
                    cx.receive::<u64>()?;
                }
                cx.send(main, MpscDone);
                Ok(())
            })?;
            let mut all = Vec::new();
            for _ in 0..senders {
                all.push(cx.spawn(move |cx| {
                    cx.receive::<MpscGo>()?;
                    for i in 0..per_sender {
                        cx.send(receiver, i);
                    }
                    Ok(())
                })?);
            }
            while all.iter().any(|&sender| cx.status(sender) != Some(lariat::Status::Waiting)) {
                cx.sleep(Duration::from_millis(1))?;
            }
            let (_, elapsed) = crate::timed_phase(|| {
                for &sender in &all {
                    cx.send(sender, MpscGo);
                }
                cx.receive::<MpscDone>()
            })?;
            Ok::<_, Reason>(elapsed)
        })
        .expect("mpsc main")
}

/// handle_send: a plain OS thread sends `messages` small messages through
/// a [`lariat::Handle`] to one process. Timed from the first send until the
/// process has taken the last one.
pub fn handle_send(runtime: &Runtime, messages: u64) -> Duration {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let receiver = runtime
        .spawn(move |cx| {
            for _ in 0..messages {
                cx.receive::<u64>()?;
            }
            done_tx.send(()).expect("the sending thread waits for it");
            Ok(())
        })
        .expect("spawn the receiver");
    let handle = runtime.handle();
    std::thread::spawn(move || {
        let result = crate::timed_phase(|| {
            for i in 0..messages {
                handle.send(receiver, i);
            }
            done_rx.recv()
        });
        result.expect("the receiver ends").1
    })
    .join()
    .expect("the sending thread")
}

struct Increment(u64, Pid);

/// tokio_call: tokio tasks call a lariat process (`Handle::call`: request,
/// answer by an ordinary send), `concurrent` tasks at once, `calls` in all.
/// Timed from the first call until every answer is in.
pub fn tokio_call(runtime: &Runtime, calls: u64, concurrent: u64) -> Duration {
    let server = runtime
        .spawn(|cx| {
            loop {
                let Increment(n, reply_to) = cx.receive()?;
                cx.send(reply_to, n + 1);
            }
        })
        .expect("spawn the server");
    let handle = runtime.handle();
    let elapsed = caller_runtime().block_on(callers(calls, concurrent, move |i| {
        let handle = handle.clone();
        async move {
            handle
                .call(server, move |reply_to| Increment(i, reply_to), Duration::from_secs(10))
                .await
                .expect("the server answers")
        }
    }));
    runtime.exit(server, Reason::Kill);
    elapsed
}

/// The tokio-only baseline of `tokio_call`: a server task answers requests
/// that carry a `oneshot` sender, over an unbounded channel.
pub fn tokio_oneshot(calls: u64, concurrent: u64) -> Duration {
    caller_runtime().block_on(async move {
        let (requests, mut inbox) = tokio::sync::mpsc::unbounded_channel::<(u64, tokio::sync::oneshot::Sender<u64>)>();
        let server = tokio::spawn(async move {
            while let Some((n, reply)) = inbox.recv().await {
                let _ = reply.send(n + 1);
            }
        });
        let caller = requests.clone();
        let elapsed = callers(calls, concurrent, move |i| {
            let requests = caller.clone();
            async move {
                let (reply, answer) = tokio::sync::oneshot::channel();
                requests.send((i, reply)).expect("the server runs");
                answer.await.expect("an answer")
            }
        })
        .await;
        drop(requests);
        server.await.expect("the server");
        elapsed
    })
}

/// The tokio runtime the callers of `tokio_call` and its baseline run on.
fn caller_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio")
}

/// `concurrent` tasks make `calls` calls in all, one after another each
/// (`call(i)` must answer `i + 1`); the time until every answer is in.
async fn callers<F, A>(calls: u64, concurrent: u64, call: F) -> Duration
where
    F: Fn(u64) -> A + Clone + Send + 'static,
    A: std::future::Future<Output = u64> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrent)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for i in 0..calls / concurrent {
                    assert_eq!(call(i).await, i + 1);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a caller task");
    }
    start.elapsed()
}

/// What selective_receive measured.
#[derive(Debug, Clone, Copy)]
pub struct SelectiveFigures {
    /// The first round (cold), nanoseconds.
    pub first: Duration,
    /// The sum of the timed rounds.
    pub rounds: Duration,
}

struct Filler(#[allow(dead_code)] u64);
struct Wanted;

/// selective_receive: a process holds `queue` non-matching messages; each round
/// it sends itself a matching one and times the receive that must skip them all
/// (as peerbench: round 1 apart, then `rounds` timed rounds, sends not timed).
pub fn selective_receive(runtime: &Runtime, queue: u64, rounds: u64) -> SelectiveFigures {
    runtime
        .block_on(move |cx| {
            let me = cx.pid();
            for i in 0..queue {
                cx.send(me, Filler(i));
            }
            let round = |cx: &mut lariat::Cx| {
                cx.send(me, Wanted);
                let start = Instant::now();
                cx.receive::<Wanted>()?;
                Ok::<_, Reason>(start.elapsed())
            };
            let first = round(cx)?;
            let mut total = Duration::ZERO;
            for _ in 0..rounds {
                total += round(cx)?;
            }
            assert_eq!(cx.mailbox_len(), queue as usize, "the fillers stay, in order");
            Ok::<_, Reason>(SelectiveFigures { first, rounds: total })
        })
        .expect("selective_receive process")
}

struct Ping;
struct Pong;
struct Junk(#[allow(dead_code)] u64);

/// call / call_backlog: a server answers `Ping` with `Pong`; a fresh client
/// first sends itself `backlog` unrelated messages it never receives (not
/// timed), then makes `calls` calls one at a time (`Cx::call`, 5 s timeout,
/// as `gen_server:call/2`). Returns the client's time for the calls.
///
/// The client spawns the server, so both live on one worker: a started
/// process never moves, and a pair split across two workers pays a thread
/// crossing per message (about twice the time per call on this machine
/// type), which would make the figure measure placement rather than the call.
pub fn call(runtime: &Runtime, calls: u64, backlog: u64) -> Duration {
    runtime
        .block_on(move |cx| {
            let main = cx.pid();
            cx.spawn(move |cx| {
                let server = cx.spawn(|cx| {
                    loop {
                        let request = cx.receive::<lariat::Request<Ping, Pong>>()?;
                        request.reply_to.reply(cx, Pong);
                    }
                })?;
                let me = cx.pid();
                for i in 0..backlog {
                    cx.send(me, Junk(i));
                }
                let start = Instant::now();
                for _ in 0..calls {
                    let Pong = cx.call(server, Ping, Duration::from_secs(5))?;
                }
                cx.send(main, start.elapsed());
                cx.exit(server, Reason::Kill)?;
                Ok(())
            })?;
            cx.receive::<Duration>()
        })
        .expect("call client")
}

/// The sup_restart child: a server whose init reports in, and that stops
/// with `boom` when sent `CrashNow` (as peerbench.erl's gen_server child).
struct RestartedChild;
struct ChildUp(Pid);
struct CrashNow;

impl lariat::server::Server for RestartedChild {
    type Call = ();
    type Reply = ();
    type Cast = ();

    fn handle_call(&mut self, cx: &mut lariat::Cx, _: (), reply_to: lariat::ReplyTo<()>) -> Result<(), Reason> {
        reply_to.reply(cx, ());
        Ok(())
    }

    fn handle_info(&mut self, _: &mut lariat::Cx, message: lariat::Message) -> Result<(), Reason> {
        if message.is::<CrashNow>() { Err(Reason::error("boom")) } else { Ok(()) }
    }
}

/// sup_restart: a one_for_one supervisor (intensity 1,000,000 per 1 s) with
/// one permanent server child; `restarts` times, the driver sends the child
/// `CrashNow`, it stops with `boom`, the supervisor restarts it and the new
/// child reports in from its init. Returns the time for all restarts.
pub fn sup_restart(runtime: &Runtime, restarts: u64) -> Duration {
    use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
    runtime
        .block_on(move |cx| {
            let driver = cx.pid();
            let child = ChildSpec::new("child", move |cx| {
                let options = lariat::server::StartOptions::new().link();
                let started = lariat::server::start(cx, options, move |cx| {
                    cx.send(driver, ChildUp(cx.pid()));
                    Ok(RestartedChild)
                })?;
                Ok(started.pid())
            });
            let spec =
                SupervisorSpec::new(Strategy::OneForOne).intensity(1_000_000, Duration::from_secs(1)).child(child);
            let sup = supervisor::start_link(cx, spec)?;
            let ChildUp(mut child) = cx.receive()?;
            let start = Instant::now();
            for _ in 0..restarts {
                cx.send(child, CrashNow);
                child = cx.receive::<ChildUp>()?.0;
            }
            let elapsed = start.elapsed();
            sup.stop(cx, Duration::from_secs(5))?;
            Ok::<_, Reason>(elapsed)
        })
        .expect("sup_restart driver")
}

#[derive(Clone, Copy)]
struct TimerTick;

/// What send_after and send_after_cancel measured.
#[derive(Debug, Clone, Copy)]
pub struct TimerFigures {
    /// Arming all (and for send_after, receiving all; for send_after_cancel,
    /// cancelling all).
    pub total: Duration,
    /// The arm loop alone.
    pub arm: Duration,
    /// RSS growth right after the arm loop, per timer.
    pub bytes_per_timer: f64,
}

/// send_after: arm `n` timers that each send this process a tick after a
/// delay of 1–100 ms (drawn before the timing starts), then receive all `n`.
pub fn send_after(runtime: &Runtime, n: u64) -> TimerFigures {
    runtime
        .block_on(move |cx| {
            let me = cx.pid();
            // A fixed xorshift sequence: the same delays every run.
            let mut state = 0x2545_F491_4F6C_DD1Du64;
            let delays: Vec<u8> = (0..n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 100) as u8 + 1
                })
                .collect();
            let before = crate::rss_bytes();
            let start = Instant::now();
            for &delay in &delays {
                cx.send_after(Duration::from_millis(u64::from(delay)), me, TimerTick);
            }
            let arm = start.elapsed();
            let bytes_per_timer = crate::rss_bytes().saturating_sub(before) as f64 / n as f64;
            for _ in 0..n {
                cx.receive::<TimerTick>()?;
            }
            Ok::<_, Reason>(TimerFigures { total: start.elapsed(), arm, bytes_per_timer })
        })
        .expect("send_after process")
}

/// send_after_cancel: arm `n` timers of 10 s (their refs kept), then cancel
/// each (each cancel returns the time left).
pub fn send_after_cancel(runtime: &Runtime, n: u64) -> TimerFigures {
    runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let mut timers = Vec::with_capacity(n as usize);
            let before = crate::rss_bytes();
            let start = Instant::now();
            for _ in 0..n {
                timers.push(cx.send_after(Duration::from_secs(10), me, TimerTick));
            }
            let arm = start.elapsed();
            let bytes_per_timer = crate::rss_bytes().saturating_sub(before) as f64 / n as f64;
            for timer in timers {
                if cx.cancel_timer(timer).is_none() {
                    return Err(Reason::error("a 10 s timer fired before its cancel"));
                }
            }
            Ok::<_, Reason>(TimerFigures { total: start.elapsed(), arm, bytes_per_timer })
        })
        .expect("send_after_cancel process")
}
