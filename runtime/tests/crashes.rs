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
            cx.spawn_opt(SpawnOptions::new().stack_size(stack), move |cx| {
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

/// A message whose destructor panics.
struct Boom;

impl Drop for Boom {
    fn drop(&mut self) {
        panic!("Boom message dropped");
    }
}

/// A message with a panicking `Drop` sent to a live pid (dropped when that
/// process ends with it unread), to one that is exiting (its queue sealed or
/// its slot leaving the table while the sends race it) and to one already gone,
/// from a process and from a `Handle`: the sender lives in every case.
#[test]
fn a_message_whose_drop_panics_never_takes_down_its_sender() {
    let runtime = common::runtime(2);
    let handle = runtime.handle();
    let outcome = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            // Live: it ends with the messages unread.
            let live = cx.spawn(move |cx| {
                cx.send(me, "ready");
                cx.receive::<u8>().map(|_| ())
            })?;
            cx.receive::<&str>()?;
            cx.send(live, Boom);
            handle.send(live, Boom);
            // Exiting: killed while the sends race its exit.
            let exiting = cx.spawn(|cx| cx.receive::<u8>().map(|_| ()))?;
            cx.exit(exiting, Reason::Kill)?;
            for _ in 0..1000 {
                cx.send(exiting, Boom);
                handle.send(exiting, Boom);
            }
            // Gone: its pid resolves to nobody.
            let monitor = cx.monitor(exiting);
            cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)?;
            cx.send(exiting, Boom);
            handle.send(exiting, Boom);
            cx.send(live, 0u8);
            Ok::<_, Reason>("the sender lives")
        })
        .unwrap();
    assert_eq!(outcome, "the sender lives");
    // And from outside, on this thread.
    let gone = runtime.spawn(|_| Ok(())).unwrap();
    while runtime.live_processes() != 0 {
        std::thread::yield_now();
    }
    runtime.send(gone, Boom);
    runtime.handle().send(gone, Boom);
}

/// Panics when dropped, with a message naming where it was held.
struct PanicsOnDrop(&'static str);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("{} dropped during the unwind", self.0);
    }
}

/// Runs in a child OS process (see `a_panic_during_an_unwind_aborts_with_a_report_of_both_panics`):
/// a process holding a value whose drop panics is unwound, in the way the
/// variable says.
#[test]
fn double_panic_child() {
    let Some(mode) = std::env::var_os("LARIAT_DOUBLE_PANIC_CHILD") else { return };
    let runtime = Runtime::builder().workers(1).build().unwrap();
    runtime
        .spawn(move |cx| {
            eprintln!("child pid {}", cx.pid());
            let _held = PanicsOnDrop("the value");
            match mode.to_str().unwrap() {
                "crash" => panic!("the first panic"),
                "killed" => {
                    let me = cx.pid();
                    let _ = cx.exit(me, Reason::Kill);
                    // Ignores the `Err` and calls on: unwound.
                    cx.send(me, 1u8);
                    Ok(())
                }
                _ => cx.receive::<u8>().map(|_| ()), // unwound by the runtime's drop
            }
        })
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(runtime);
    std::thread::sleep(Duration::from_secs(5));
}

#[test]
fn a_panic_during_an_unwind_aborts_with_a_report_of_both_panics() {
    for (mode, first) in [
        ("crash", "the first panic"),
        ("killed", "told to exit (killed)"),
        ("shutdown", "the runtime is being dropped"),
    ] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "double_panic_child", "--nocapture", "--test-threads=1"])
            .env("LARIAT_DOUBLE_PANIC_CHILD", mode)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{mode}: the OS process must abort");
        let pid = stderr.lines().find_map(|line| line.split("child pid ").nth(1)).expect("the child's pid");
        assert!(stderr.contains(&format!("process {pid} panicked while it was unwinding")), "{mode}: {stderr}");
        assert!(stderr.contains(first), "{mode}: the first cause in {stderr}");
        assert!(stderr.contains("the value dropped during the unwind"), "{mode}: the second panic in {stderr}");
    }
}
