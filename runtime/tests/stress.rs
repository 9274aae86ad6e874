//! Stress: millions of processes. Run on their own (CI's stress step), in release:
//! `cargo test --release -p lariat --test stress -- --ignored --test-threads=1`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lariat::{Reason, Runtime};

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

/// Spawns `n` processes that each send the parent `()` and end, and waits for
/// all of them, with at most `window` spawned and not yet heard from.
fn spawn_and_exit_windowed(runtime: &Runtime, n: u64, window: u64) {
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            for spawned in 0..n {
                if spawned >= window {
                    cx.receive::<()>()?;
                }
                cx.spawn(move |cx| {
                    cx.send(parent, ());
                    Ok(())
                })?;
            }
            for _ in 0..n.min(window) {
                cx.receive::<()>()?;
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
#[ignore = "stress: run in CI's stress step"]
fn ten_million_processes_spawned_and_exited_leave_rss_flat() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    // What stays after processes end is bounded by how many were alive at
    // once (stacks pooled, blocks and table chunks kept for reuse), so the
    // spawner keeps at most WINDOW of them alive: how far it could run ahead
    // of its children otherwise depends on the machine's load (on a loaded
    // machine it can run a whole round of a million ahead), and the test
    // would measure the load, not a leak. A
    // leak grows with the count instead: 8 bytes a process is 56 MiB over the
    // last seven million, beyond the margin below.
    const WINDOW: u64 = 50_000;
    // A warm-up: the allocator settles on a working set over the first
    // rounds, and a worker's first round as the spawner adds that worker's
    // own working set (each round's spawner starts on whichever worker takes
    // it and stays there), so the warm-up lasts until every worker has been
    // one (at least three rounds, at most 30).
    let mut rounds = 0;
    while rounds < 3 || (runtime.worker_stats().iter().any(|worker| worker.spawned == 0) && rounds < 30) {
        spawn_and_exit_windowed(&runtime, 1_000_000, WINDOW);
        rounds += 1;
    }
    let after_warm_up = rss_bytes();
    for _ in 0..7 {
        spawn_and_exit_windowed(&runtime, 1_000_000, WINDOW);
    }
    let after_ten_million = rss_bytes();
    eprintln!(
        "RSS after the warm-up ({rounds} rounds): {} MiB; after seven more million: {} MiB",
        after_warm_up >> 20,
        after_ten_million >> 20
    );
    // The last child is counted until its exit has run to the end, a moment
    // after its message went out.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while runtime.live_processes() != 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    assert_eq!(runtime.live_processes(), 0);
    assert!(
        after_ten_million <= after_warm_up + after_warm_up / 10 + (16 << 20),
        "RSS grew from {} MiB after three million to {} MiB after ten million",
        after_warm_up >> 20,
        after_ten_million >> 20
    );
}

struct Ready;
struct Stop;
struct Gone;

#[test]
#[ignore = "stress: run in CI's stress step"]
fn a_million_processes_alive_at_once_blocked_in_receive_then_stopped() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let handle = runtime.handle();
    let n = 1_000_000;
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            let mut children = Vec::with_capacity(n);
            for _ in 0..n {
                children.push(cx.spawn(move |cx| {
                    cx.send(parent, Ready);
                    cx.receive::<Stop>()?;
                    cx.send(parent, Gone);
                    Ok(())
                })?);
            }
            for _ in 0..n {
                cx.receive::<Ready>()?;
            }
            assert_eq!(handle.live_processes(), n + 1);
            assert_eq!(handle.status(children[n / 2]), Some(lariat::Status::Waiting));
            for child in children {
                cx.send(child, Stop);
            }
            for _ in 0..n {
                cx.receive::<Gone>()?;
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
    while runtime.live_processes() != 0 {
        std::thread::yield_now();
    }
}

struct CountsDrops(Arc<AtomicUsize>);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
#[ignore = "stress: run in CI's stress step"]
fn dropping_a_runtime_with_a_million_suspended_processes_frees_them() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let baseline = rss_bytes();
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let n = 1_000_000;
    let counter = Arc::clone(&dropped);
    runtime
        .block_on(move |cx| {
            let parent = cx.pid();
            for _ in 0..n {
                let guard = CountsDrops(Arc::clone(&counter));
                cx.spawn(move |cx| {
                    let _guard = guard;
                    cx.send(parent, Ready);
                    cx.receive::<Stop>()?;
                    Ok(())
                })?;
            }
            for _ in 0..n {
                cx.receive::<Ready>()?;
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
    let loaded = rss_bytes();
    drop(runtime);
    assert_eq!(dropped.load(Ordering::Relaxed), n);
    let after = rss_bytes();
    assert!(
        after < baseline + (loaded - baseline) / 4,
        "RSS {} MiB before, {} MiB loaded, {} MiB after the drop",
        baseline >> 20,
        loaded >> 20,
        after >> 20
    );
}

struct Go;
struct Member(lariat::Pid);
struct Workers(Vec<lariat::Pid>);

fn boom() -> Reason {
    Reason::error("boom")
}

fn chain_member(cx: &mut lariat::Cx, left: u32, main: lariat::Pid) -> Result<(), Reason> {
    if left == 0 {
        cx.send(main, Member(cx.pid()));
    } else {
        cx.spawn_link(move |cx| chain_member(cx, left - 1, main))?;
    }
    cx.receive::<Go>().map(|_| ())
}

/// Exit signals travel one hop per process run, never by recursion: a recursive
/// fan-out would overflow a worker thread's stack long before a million hops.
#[test]
#[ignore = "stress: run in CI's stress step"]
fn a_chain_of_a_million_linked_processes_dies_from_one_exit_signal() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let n = 1_000_000;
    let down = runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let head = cx.spawn(move |cx| chain_member(cx, n - 1, main))?;
            let Member(tail) = cx.receive()?;
            let monitor = cx.monitor(tail);
            cx.exit(head, boom())?;
            cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)
        })
        .unwrap();
    assert_eq!(down.reason, boom());
    let handle = runtime.handle();
    while handle.live_processes() > 0 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// One process with a million links: its exit signal reaches every one of them,
/// and the woken work is spread over both workers (stealing, not one queue).
#[test]
#[ignore = "stress: run in CI's stress step"]
fn a_process_with_a_million_links_sends_every_one_its_exit_signal() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let handle = runtime.handle();
    let n = 1_000_000;
    let (reasons_ok, ended) = runtime
        .block_on(move |cx| {
            let main = cx.pid();
            let p = cx.spawn(move |cx| {
                let mut workers = Vec::with_capacity(n);
                for _ in 0..n {
                    workers.push(cx.spawn_link(|cx| cx.receive::<Go>().map(|_| ()))?);
                }
                cx.send(main, Workers(workers));
                cx.receive::<Go>()?;
                Err(boom())
            })?;
            let Workers(workers) = cx.receive()?;
            for &worker in &workers {
                cx.monitor(worker);
            }
            drop(workers);
            let before = handle.worker_stats();
            cx.send(p, Go);
            let mut reasons_ok = 0;
            for _ in 0..n {
                if cx.receive::<lariat::Down>()?.reason == boom() {
                    reasons_ok += 1;
                }
            }
            let ended: Vec<u64> =
                handle.worker_stats().iter().zip(&before).map(|(now, then)| now.ended - then.ended).collect();
            Ok::<_, Reason>((reasons_ok, ended))
        })
        .unwrap();
    assert_eq!(reasons_ok, n, "every linked worker died with P's reason");
    let total: u64 = ended.iter().sum();
    assert!(total > n as u64, "the workers and P ended during the fan-out: {ended:?}");
    for (worker, &count) in ended.iter().enumerate() {
        assert!(count * 20 >= total, "worker {worker} ended only {count} of {total}: {ended:?}");
    }
}

/// Memory comes back (issue 22): after a spike of 200,000 idle processes
/// ends, an idle runtime gives its stacks' pages and its free control blocks
/// back within seconds, and dropping the runtime while a `Handle` lives gives
/// back the rest of them. (The stress step runs the tests one at a time: RSS
/// is this test's.) What stays is the table's high-water size and what the
/// allocator keeps of freed message nodes: with the system allocator, 146
/// bytes per spiked process idle and 75 after the drop, where blocks from
/// the allocator kept 350 and 282 (seen failing both bounds below).
#[test]
#[ignore = "stress: run in CI's stress step"]
fn after_a_spike_an_idle_runtime_and_a_dropped_one_give_memory_back() {
    const SPIKE: u64 = 200_000;
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let handle = runtime.handle();
    let before = rss_bytes();
    let peak = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let mut children = Vec::new();
            for _ in 0..SPIKE {
                children.push(cx.spawn(move |cx| {
                    cx.send(me, ());
                    cx.receive::<()>()
                })?);
            }
            for _ in 0..SPIKE {
                cx.receive::<()>()?;
            }
            let peak = rss_bytes();
            for child in children {
                cx.send(child, ());
            }
            while cx.live_processes() > 1 {
                cx.sleep(std::time::Duration::from_millis(10))?;
            }
            Ok::<_, Reason>(peak)
        })
        .unwrap();
    let grown = peak - before;
    // A precondition, not the claim: the spike must show in RSS for the
    // give-back below to mean anything. Each idle process touches about one
    // page of stack, but RSS also moves with what the allocator reuses, so
    // the bound is half a page each.
    assert!(grown > SPIKE * 2048, "the spike shows in RSS (about a page per idle process): {grown}");
    // The watchdog trims a pool idle for about a second, 65,536 stacks a look.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rss_bytes().saturating_sub(before) > grown / 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Blocks go back on the first idle look; the last of 200,000 stacks on
    // the fourth (65,536 a look, 250 ms apart): wait for what the claim
    // allows, within the same deadline.
    while rss_bytes().saturating_sub(before) > SPIKE * 256 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let idle = rss_bytes().saturating_sub(before);
    assert!(idle <= SPIKE * 256, "idle for seconds, still {idle} of {grown} bytes grown");
    drop(runtime);
    let dropped = rss_bytes().saturating_sub(before);
    assert!(dropped <= SPIKE * 160, "dropped with a Handle alive, still {dropped} of {grown} bytes grown");
    drop(handle);
}

/// A million message timers armed at once (delays 1–100 ms) all fire, each
/// once, and leave nothing armed (issue 23).
#[test]
#[ignore = "stress: run in CI's stress step"]
fn a_million_armed_timers_fire_once_and_are_freed() {
    const TIMERS: u32 = 1_000_000;
    #[derive(Clone, Copy)]
    struct Tick(u32);
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let fired = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for n in 0..TIMERS {
                cx.send_after(std::time::Duration::from_millis(u64::from(n % 100) + 1), me, Tick(n));
            }
            let mut seen = vec![false; TIMERS as usize];
            for _ in 0..TIMERS {
                let Tick(n) = cx.receive::<Tick>()?;
                assert!(!std::mem::replace(&mut seen[n as usize], true), "tick {n} twice");
            }
            Ok::<_, Reason>(seen.iter().filter(|&&s| s).count())
        })
        .unwrap();
    assert_eq!(fired, TIMERS as usize);
    assert_eq!(runtime.pending_timers(), 0, "every entry freed");
}
