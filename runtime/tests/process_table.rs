//! Pids and the process table: stale pids, other runtimes, capacity.

mod common;

use std::time::Duration;

use lariat::{Pid, Reason, Runtime, SpawnError};

/// The slot index of a pid, from its `<runtime.index.serial>` form.
fn slot_of(pid: Pid) -> u32 {
    pid.to_string().trim_matches(['<', '>']).split('.').nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_stale_pid_after_slot_reuse_reaches_nobody() {
    let runtime = common::runtime(1);
    let got = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let stale = cx.spawn(move |cx| {
                cx.send(me, 0u8);
                Ok(())
            })?;
            cx.receive::<u8>()?;
            cx.sleep(Duration::from_millis(5))?;
            loop {
                let candidate = cx.spawn(move |cx| {
                    let got = cx.receive_timeout::<&'static str>(Duration::from_millis(100))?;
                    cx.send(me, (cx.pid(), got));
                    Ok(())
                })?;
                if slot_of(candidate) == slot_of(stale) {
                    cx.send(stale, "for the old process");
                    return cx.receive_if::<(Pid, Option<&'static str>)>(|(from, _)| *from == candidate);
                }
            }
        })
        .unwrap();
    assert_eq!(got.1, None);
}

#[test]
fn a_pid_of_another_runtime_never_resolves() {
    let first = common::runtime(1);
    let second = common::runtime(1);
    assert_ne!(first.id(), second.id());
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = first.spawn(move |cx| {
        let got = cx.receive_timeout::<u32>(Duration::from_millis(100))?;
        tx.send(got).unwrap();
        Ok(())
    });
    let waiter = waiter.unwrap();
    // Same index and serial, other runtime's id: the second runtime must not find it,
    // and the first never hears of it.
    second.send(waiter, 7u32);
    assert_eq!(second.handle().status(waiter), None);
    assert_eq!(rx.recv().unwrap(), None);
}

#[test]
fn exceeding_the_process_table_is_a_typed_error() {
    let runtime = Runtime::builder().workers(1).max_processes(4).build().unwrap();
    let result = runtime.block_on(|cx| {
        let mut spawned = Vec::new();
        loop {
            match cx.spawn(|cx| cx.receive::<()>()) {
                Ok(pid) => spawned.push(pid),
                Err(error) => {
                    for pid in spawned.iter().copied() {
                        cx.send(pid, ());
                    }
                    return Ok::<_, Reason>((spawned.len(), error));
                }
            }
        }
    });
    let (count, error) = result.unwrap();
    assert_eq!(count, 3, "the parent holds one of the four slots");
    assert_eq!(error, SpawnError::TableFull { capacity: 4 });
    assert!(error.to_string().contains("max_processes"));
}

#[test]
fn status_and_liveness_follow_a_process() {
    let runtime = common::runtime(1);
    let handle = runtime.handle();
    let pid = runtime.spawn(|cx| cx.receive::<()>()).unwrap();
    while handle.status(pid) != Some(lariat::Status::Waiting) {
        std::thread::yield_now();
    }
    assert!(handle.is_alive(pid));
    assert_eq!(runtime.live_processes(), 1);
    runtime.send(pid, ());
    while handle.status(pid).is_some() {
        std::thread::yield_now();
    }
    assert!(!handle.is_alive(pid));
    while runtime.live_processes() != 0 {
        std::thread::yield_now();
    }
}

struct Release;

/// Spawns from outside and from processes, in turns, churning `total` spawns
/// through a table of `capacity` on `workers` workers: every spawn succeeds
/// while fewer than `capacity` are alive, and a spawn with `capacity` alive is
/// refused with `TableFull`, whichever worker's list holds the freed slots.
fn churn(workers: usize, capacity: usize, total: usize) {
    let runtime = Runtime::builder().workers(workers).max_processes(capacity).build().unwrap();
    let full = SpawnError::TableFull { capacity };
    let wait_until_live = |live: usize| {
        while runtime.live_processes() != live {
            std::thread::yield_now();
        }
    };
    let mut spawned = 0;
    let mut round = 0usize;
    while spawned < total {
        if round.is_multiple_of(2) {
            // From outside: `capacity` waiting processes, then one too many.
            let pids: Vec<Pid> = (0..capacity)
                .map(|i| {
                    runtime
                        .spawn(|cx| cx.receive::<Release>().map(|_| ()))
                        .unwrap_or_else(|error| panic!("round {round}: spawn {i} of {capacity} refused: {error}"))
                })
                .collect();
            assert_eq!(runtime.spawn(|_| Ok(())), Err(full.clone()), "round {round}: over capacity");
            for pid in pids {
                runtime.send(pid, Release);
            }
            spawned += capacity;
        } else {
            // From a process (which takes a slot itself).
            let full = full.clone();
            let made = runtime
                .block_on(move |cx| {
                    let mut pids = Vec::new();
                    for i in 1..capacity {
                        let pid = cx.spawn(|cx| cx.receive::<Release>().map(|_| ()));
                        pids.push(pid.unwrap_or_else(|error| panic!("spawn {i} of {capacity} refused: {error}")));
                    }
                    assert_eq!(cx.spawn(|_| Ok(())), Err(full), "over capacity");
                    for &pid in &pids {
                        cx.send(pid, Release);
                    }
                    Ok::<_, Reason>(pids.len() + 1)
                })
                .unwrap_or_else(|error| panic!("round {round}: {error}"));
            spawned += made;
        }
        wait_until_live(0);
        round += 1;
    }
}

/// Capacities of 1, 2, 100 and 2,000 on one and two workers, about a million
/// churned spawns in all.
#[test]
fn a_full_table_refuses_only_while_it_is_full_on_every_spawn_path() {
    for workers in [1, 2] {
        for (capacity, total) in [(1, 40_000), (2, 60_000), (100, 200_000), (2000, 200_000)] {
            churn(workers, capacity, total);
        }
    }
}
