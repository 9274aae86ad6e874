//! Scheduling: fairness by reductions, spreading over workers.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lariat::Reason;

struct Tick;

#[test]
fn a_process_spinning_on_send_to_itself_cannot_starve_another() {
    // One worker: the other process runs only if the spinner is preempted.
    let runtime = common::runtime(1);
    let stop = Arc::new(AtomicBool::new(false));
    let spinner_stop = Arc::clone(&stop);
    let sends = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            cx.spawn(move |cx| {
                let myself = cx.pid();
                cx.send(me, "spinning");
                let mut sent = 0u64;
                while !spinner_stop.load(Ordering::Relaxed) {
                    cx.send(myself, Tick);
                    sent += 1;
                }
                cx.send(me, sent);
                Ok(())
            })?;
            // The spinner is running (a new process takes the LIFO slot: it runs
            // as soon as its parent waits).
            assert_eq!(cx.receive::<&str>()?, "spinning");
            cx.spawn(move |cx| {
                cx.send(me, "other ran");
                Ok(())
            })?;
            let ran: &str = cx.receive()?;
            assert_eq!(ran, "other ran");
            stop.store(true, Ordering::Relaxed);
            cx.receive::<u64>()
        })
        .unwrap();
    assert!(sends > 0);
}

/// Runs `processes` CPU-bound processes, each doing `rounds` bursts of `work`
/// steps with a yield after each, and returns the worker threads they ran on.
/// With `settle`, the spawner first sleeps long enough for the other worker to
/// park (so the spawns find it idle).
fn threads_used_by_cpu_bound(processes: usize, rounds: usize, work: u64, settle: bool) -> HashSet<String> {
    let runtime = common::runtime(2);
    runtime
        .block_on(move |cx| {
            let me = cx.pid();
            if settle {
                // Blocks this worker's thread (not a runtime wait, which could
                // wake the other worker for its timer): the other one parks.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            for _ in 0..processes {
                cx.spawn(move |cx| {
                    let mut seen = HashSet::new();
                    for _ in 0..rounds {
                        // Busy work between yields, like a real CPU-bound process.
                        let mut x = 1u64;
                        for i in 0..work {
                            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                        }
                        seen.insert(format!("{:?}", std::thread::current().id()));
                        cx.yield_now()?;
                    }
                    cx.send(me, seen);
                    Ok(())
                })?;
            }
            let mut all = HashSet::new();
            for _ in 0..processes {
                let seen = cx.receive::<HashSet<String>>()?;
                assert_eq!(seen.len(), 1, "a process ran on more than one thread: {seen:?}");
                all.extend(seen);
            }
            Ok::<_, Reason>(all)
        })
        .unwrap()
}

/// Many CPU-bound processes: idle workers take new ones before they start, so
/// both workers take part (each process stays on the thread it started on).
///
/// Where a process starts is decided when a worker first runs it, so on a
/// loaded machine (other tenants, the other tests of this file) the idle worker
/// can be descheduled for the whole burst: a few tries are allowed. Each
/// process stays on one thread in every try (asserted inside).
#[test]
fn cpu_bound_processes_spread_over_both_workers() {
    let tries: Vec<_> = (0..10).map(|_| threads_used_by_cpu_bound(64, 50, 20_000, false)).collect();
    assert!(tries.iter().any(|threads| threads.len() == 2), "work ran on one thread in every try: {tries:?}");
}

/// Two CPU-bound processes spawned while the other worker is parked: the one
/// the second spawn displaces goes straight to that worker (it would
/// otherwise often be started here before the parked worker woke, and stay).
/// (A few tries, as above: the parked worker's thread must get a core.)
#[test]
fn two_cpu_bound_processes_spawned_beside_a_parked_worker_run_on_two_workers() {
    let tries: Vec<_> = (0..5).map(|_| threads_used_by_cpu_bound(2, 2000, 5_000, true)).collect();
    assert!(tries.iter().any(|threads| threads.len() == 2), "both processes ran on one thread in every try: {tries:?}");
}

#[test]
fn a_yielding_process_lets_the_others_run_in_turn() {
    let runtime = common::runtime(1);
    let order = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for id in 0..3u32 {
                cx.spawn(move |cx| {
                    for step in 0..3u32 {
                        cx.send(me, (id, step));
                        cx.yield_now()?;
                    }
                    Ok(())
                })?;
            }
            let mut order = Vec::new();
            for _ in 0..9 {
                order.push(cx.receive::<(u32, u32)>()?);
            }
            Ok::<_, Reason>(order)
        })
        .unwrap();
    // Each step of every process comes before any process's next step.
    let steps: Vec<u32> = order.iter().map(|&(_, step)| step).collect();
    assert_eq!(steps, [0, 0, 0, 1, 1, 1, 2, 2, 2], "{order:?}");
}

#[test]
fn reductions_are_counted() {
    let runtime = common::runtime(1);
    let (before, after) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let before = cx.reductions();
            for _ in 0..5000 {
                cx.send(me, Tick);
            }
            Ok::<_, Reason>((before, cx.reductions()))
        })
        .unwrap();
    assert!(after >= before + 5000, "{before} -> {after}");
}
