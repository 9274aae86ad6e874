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
