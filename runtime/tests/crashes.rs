//! Crashes: a panic ends only its process; a stack overflow aborts with a report.

mod common;

use std::process::Command;
use std::time::Duration;

use lariat::{BlockOnError, Reason, Runtime, SpawnOptions};

#[test]
fn a_panic_kills_only_its_process() {
    let runtime = common::runtime(2);
    let crashed = runtime.block_on(|_cx| -> Result<(), Reason> { panic!("boom in a process") });
    match crashed {
        Err(BlockOnError::Exited(Reason::Panic(message))) => {
            assert!(message.contains("boom in a process"), "{message}")
        }
        other => panic!("expected a panic reason, got {other:?}"),
    }
    // The runtime and other processes carry on.
    let answer = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for i in 0..100u32 {
                cx.spawn(move |cx| {
                    if i % 2 == 0 {
                        panic!("crash {i}");
                    }
                    cx.send(me, i);
                    Ok(())
                })?;
            }
            let mut sum = 0;
            for _ in 0..50 {
                sum += cx.receive::<u32>()?;
            }
            Ok::<_, Reason>(sum)
        })
        .unwrap();
    assert_eq!(answer, (0..100).filter(|i| i % 2 == 1).sum::<u32>());
}

#[test]
fn a_panic_reason_names_where_it_happened() {
    let runtime = common::runtime(1);
    let crashed = runtime.block_on(|_cx| -> Result<(), Reason> { panic!("located") });
    let Err(BlockOnError::Exited(Reason::Panic(message))) = crashed else { panic!("expected a panic") };
    assert!(message.contains("crashes.rs"), "{message}");
}

#[test]
fn a_body_returning_an_error_ends_with_that_reason() {
    let runtime = common::runtime(1);
    let result = runtime.block_on(|_cx| -> Result<(), Reason> { Err(Reason::error("some_reason")) });
    assert_eq!(result, Err(BlockOnError::Exited(Reason::error("some_reason"))));
}

#[test]
fn deep_recursion_within_the_stack_size_works() {
    let runtime = common::runtime(1);
    fn depth(n: u32) -> u32 {
        let pad = std::hint::black_box([0u8; 512]);
        if n == 0 { u32::from(pad[0]) } else { 1 + depth(n - 1) + u32::from(pad[1]) }
    }
    let reached = runtime
        .block_on(|cx| {
            let me = cx.pid();
            // Unoptimised frames (debug assertions on) are several times bigger.
            let stack = if cfg!(debug_assertions) { 4 << 20 } else { 1 << 20 };
            cx.spawn_with(SpawnOptions::stack_size(stack), move |cx| {
                cx.send(me, depth(1000));
                Ok(())
            })?;
            cx.receive::<u32>()
        })
        .unwrap();
    assert_eq!(reached, 1000);
}

/// Runs in a child OS process (see `a_stack_overflow_aborts_with_a_report_naming_the_process`).
#[test]
fn overflow_child() {
    if std::env::var_os("LARIAT_OVERFLOW_CHILD").is_none() {
        return;
    }
    #[allow(unconditional_recursion)] // the point: overflow the process stack
    fn recurse(n: u64) -> u64 {
        let pad = std::hint::black_box([n as u8; 1024]);
        recurse(n + 1) + u64::from(pad[3])
    }
    let runtime = Runtime::builder().workers(1).build().unwrap();
    let _ = runtime.block_on(|_cx| -> Result<u64, Reason> { Ok(recurse(0)) });
    std::thread::sleep(Duration::from_secs(5));
}

#[test]
fn a_stack_overflow_aborts_with_a_report_naming_the_process() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "overflow_child", "--nocapture", "--test-threads=1"])
        .env("LARIAT_OVERFLOW_CHILD", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(output.status.signal(), Some(libc_sigabrt()), "stderr: {stderr}");
    assert!(stderr.contains("stack overflow in process <"), "stderr: {stderr}");
    assert!(stderr.contains(&format!("stack {} KiB", lariat::DEFAULT_STACK_SIZE / 1024)), "stderr: {stderr}");
    assert!(stderr.contains("stack_size"), "stderr: {stderr}");
}

fn libc_sigabrt() -> i32 {
    6
}
