//! The Runtime API: builder settings, block_on, handles, shutdown.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lariat::{BlockOnError, BuildError, Reason, Runtime, SpawnError, SpawnOptions};

#[test]
fn bad_builder_settings_are_clear_errors() {
    let zero_workers = Runtime::builder().workers(0).build().err().unwrap();
    assert!(matches!(zero_workers, BuildError::Workers { requested: 0, .. }));
    assert!(zero_workers.to_string().contains("workers(0)"));
    let tiny_stack = Runtime::builder().stack_size(100).build().err().unwrap();
    assert!(matches!(tiny_stack, BuildError::StackSize { requested: 100, .. }));
    let no_processes = Runtime::builder().max_processes(0).build().err().unwrap();
    assert!(matches!(no_processes, BuildError::MaxProcesses { requested: 0, .. }));
    let too_many = Runtime::builder().max_processes(usize::MAX).build().err().unwrap();
    assert!(matches!(too_many, BuildError::MaxProcesses { .. }));
}

#[test]
fn block_on_returns_the_value_of_its_process() {
    let runtime = common::runtime(2);
    assert_eq!(runtime.block_on(|cx| Ok::<_, Reason>(cx.pid().runtime_id())).unwrap(), runtime.id());
}

#[test]
fn block_on_inside_a_process_is_refused() {
    let runtime = Arc::new(common::runtime(2));
    let inner = Arc::clone(&runtime);
    let nested = runtime.block_on(move |_cx| Ok::<_, Reason>(inner.block_on(|_cx| Ok::<_, Reason>(1)))).unwrap();
    assert_eq!(nested, Err(BlockOnError::InsideProcess));
    assert!(BlockOnError::InsideProcess.to_string().contains("spawn a process"));
}

#[test]
fn a_bad_stack_size_for_one_spawn_is_an_error() {
    let runtime = common::runtime(1);
    let error =
        runtime.block_on(|cx| Ok::<_, Reason>(cx.spawn_opt(SpawnOptions::new().stack_size(1), |_| Ok(())))).unwrap();
    assert!(matches!(error, Err(SpawnError::StackSize { requested: 1, .. })));
}

#[test]
fn processes_with_several_stack_sizes_run() {
    let runtime = common::runtime(2);
    let total = runtime
        .block_on(|cx| {
            let me = cx.pid();
            // Unoptimised frames (debug assertions on) need more than the minimum.
            let sizes = match cfg!(debug_assertions) {
                false => [16 * 1024, 64 * 1024, 40_000, 256 * 1024],
                true => [64 * 1024, 128 * 1024, 100_000, 256 * 1024],
            };
            for (i, size) in sizes.into_iter().enumerate() {
                cx.spawn_opt(SpawnOptions::new().stack_size(size), move |cx| {
                    let pad = std::hint::black_box([1u8; 8 * 1024]);
                    cx.send(me, i + usize::from(pad[0]) - 1);
                    Ok(())
                })?;
            }
            let mut total = 0;
            for _ in 0..4 {
                total += cx.receive::<usize>()?;
            }
            Ok::<_, Reason>(total)
        })
        .unwrap();
    assert_eq!(total, 6);
}

#[test]
fn process_local_storage_belongs_to_one_process() {
    let runtime = common::runtime(2);
    let result = runtime
        .block_on(|cx| {
            assert_eq!(cx.put_local(5u32), None);
            assert_eq!(cx.put_local(6u32), Some(5));
            *cx.local::<u32>().unwrap() += 1;
            let me = cx.pid();
            cx.spawn(move |cx| {
                let none = cx.local::<u32>().is_none();
                cx.send(me, none);
                Ok(())
            })?;
            let child_saw_none = cx.receive::<bool>()?;
            Ok::<_, Reason>((cx.take_local::<u32>(), child_saw_none, cx.local::<u32>().is_none()))
        })
        .unwrap();
    assert_eq!(result, (Some(7), true, true));
}

#[test]
fn several_runtimes_live_side_by_side() {
    let runtimes: Vec<_> = (0..4).map(|_| common::runtime(1)).collect();
    let mut ids: Vec<_> = runtimes.iter().map(Runtime::id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    for runtime in &runtimes {
        assert_eq!(runtime.block_on(|_| Ok::<_, Reason>(1)).unwrap(), 1);
    }
}

struct CountsDrops(Arc<AtomicUsize>);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_a_runtime_ends_suspended_and_unstarted_processes_running_their_destructors() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let runtime = common::runtime(2);
    let started = runtime
        .block_on({
            let dropped = Arc::clone(&dropped);
            move |cx| {
                let me = cx.pid();
                for _ in 0..10_000 {
                    let guard = CountsDrops(Arc::clone(&dropped));
                    cx.spawn(move |cx| {
                        let _guard = guard;
                        cx.send(me, ());
                        cx.receive::<()>()?;
                        Ok(())
                    })?;
                }
                for _ in 0..10_000 {
                    cx.receive::<()>()?;
                }
                Ok::<_, Reason>(10_000)
            }
        })
        .unwrap();
    // And some that never ran: their closures (and what they own) are dropped too.
    let handle = runtime.handle();
    for _ in 0..100 {
        let guard = CountsDrops(Arc::clone(&dropped));
        handle
            .spawn(move |_cx| {
                let _guard = guard;
                Ok(())
            })
            .unwrap();
    }
    assert!(dropped.load(Ordering::SeqCst) <= 100, "only the 100 quick ones may have ended");
    drop(runtime);
    // The 100 may have run before the drop; either way each guard dropped once.
    assert_eq!(dropped.load(Ordering::SeqCst), started + 100);
    assert_eq!(handle.live_processes(), 0);
    assert_eq!(handle.spawn(|_| Ok(())), Err(SpawnError::ShuttingDown));
}

#[test]
fn sends_to_a_dead_pid_are_silently_dropped() {
    let runtime = common::runtime(1);
    let dead = runtime.block_on(|cx| Ok::<_, Reason>(cx.pid())).unwrap();
    runtime.send(dead, 1u8);
    assert_eq!(
        runtime.block_on(move |cx| {
            cx.send(dead, 2u8);
            Ok::<_, Reason>(())
        }),
        Ok(())
    );
}

#[test]
fn a_body_that_catches_the_shutdown_unwind_does_not_abort_the_drop() {
    let runtime = common::runtime(1);
    let (tx, rx) = std::sync::mpsc::channel();
    runtime
        .spawn(move |cx| {
            tx.send(()).unwrap();
            loop {
                let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cx.receive::<u8>()));
                if let Ok(Err(reason)) = caught {
                    return Err(reason);
                }
            }
        })
        .unwrap();
    rx.recv().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(10));
    drop(runtime);
}

#[test]
fn a_runtime_dropped_by_one_of_its_own_processes_stops_cleanly() {
    let runtime = Arc::new(common::runtime(2));
    let handle = runtime.handle();
    let inside = Arc::clone(&runtime);
    let pid = runtime
        .spawn(move |cx| {
            cx.receive::<()>()?;
            drop(inside);
            Ok(())
        })
        .unwrap();
    drop(runtime);
    handle.send(pid, ());
    let start = std::time::Instant::now();
    while handle.spawn(|_| Ok(())) != Err(SpawnError::ShuttingDown) {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "the runtime never stopped");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    while handle.live_processes() != 0 {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "processes left after the stop");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
