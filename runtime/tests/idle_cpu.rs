//! An idle runtime burns (almost) no CPU. Its own test binary: it reads the CPU
//! time of the runtime's worker threads, which nothing else here shares.

use std::time::Duration;

use lariat::{Reason, Runtime};

/// CPU ticks (utime + stime) of this runtime's threads (workers `lariat-<id>-w<n>` and watchdog `lariat-<id>-watch`).
fn worker_ticks(runtime_id: u32) -> u64 {
    let prefix = format!("lariat-{runtime_id}-w");
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with(&prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    ticks
}

#[test]
fn an_idle_runtime_uses_almost_no_cpu() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    // Work first, then leave 1,000 processes waiting and one timer pending far away.
    runtime
        .block_on(|cx| {
            let me = cx.pid();
            for _ in 0..1000 {
                cx.spawn(move |cx| {
                    cx.send(me, ());
                    cx.receive::<u8>()?;
                    Ok(())
                })?;
            }
            for _ in 0..1000 {
                cx.receive::<()>()?;
            }
            cx.spawn(|cx| cx.sleep(Duration::from_secs(3600)))?;
            Ok::<_, Reason>(())
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = worker_ticks(runtime.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = worker_ticks(runtime.id()) - before;
    // 100 ticks per second per busy core; idle must stay at (almost) zero.
    assert!(used <= 2, "idle workers used {used} ticks in a second");
}

/// Voluntary context switches so far of the thread named `name` (each is one
/// sleep of the thread: one wake-up), once it has started and taken its name
/// (a runtime's threads start in their own time: under AddressSanitizer the
/// watchdog was not yet named when the test first looked).
fn wake_ups(name: &str) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(count) = voluntary_switches(name) {
            return count;
        }
        assert!(std::time::Instant::now() < deadline, "no thread named {name}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn voluntary_switches(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        if std::fs::read_to_string(path.join("comm")).unwrap_or_default().trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap();
        let line = status.lines().find(|line| line.starts_with("voluntary_ctxt_switches:")).unwrap();
        return Some(line.split_whitespace().nth(1).unwrap().parse().unwrap());
    }
    None
}

/// While every worker is parked the watchdog rests (it wakes a few times a
/// second, not at its rescue pace); while a process holds a worker it looks
/// at that pace.
#[test]
fn the_watchdog_rests_while_every_worker_is_parked() {
    let runtime = Runtime::builder().workers(2).build().unwrap();
    let watchdog = format!("lariat-{}-watch", runtime.id());
    runtime.block_on(|_| Ok::<_, Reason>(())).unwrap();
    // On a loaded machine (or under AddressSanitizer, beside this binary's
    // other test) the workers may take a while to get to park: the claim is
    // about a second in which they all are, so look at up to five.
    let mut idle_seconds = Vec::new();
    for _ in 0..5 {
        let before = wake_ups(&watchdog);
        std::thread::sleep(Duration::from_secs(1));
        idle_seconds.push(wake_ups(&watchdog) - before);
        if idle_seconds.last().is_some_and(|&idle| idle <= 8) {
            break;
        }
    }
    assert!(
        idle_seconds.iter().any(|&idle| idle <= 8),
        "an idle runtime's watchdog woke {idle_seconds:?} times in each second"
    );
    let before = wake_ups(&watchdog);
    runtime
        .block_on(|_| {
            std::thread::sleep(Duration::from_millis(500));
            Ok::<_, Reason>(())
        })
        .unwrap();
    let busy = wake_ups(&watchdog) - before;
    assert!(busy >= 10, "with a worker held for 500 ms the watchdog woke only {busy} times");
}
