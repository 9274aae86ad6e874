//! `Cx::blocking`: work that blocks its thread runs on the blocking pool while
//! the process waits as in a receive (issue 22).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use lariat::{BuildError, Down, Reason, Runtime};

struct Ping(lariat::Pid);
struct Pong;

/// With one worker, a process that waits in `blocking` for an answer from a
/// process on the same worker gets it: the worker runs that process meanwhile.
#[test]
fn a_process_waiting_in_blocking_lets_a_process_on_its_worker_answer() {
    let runtime = common::runtime(1);
    let answered = runtime
        .block_on(|cx| {
            let (tx, rx) = mpsc::channel::<u32>();
            let helper = cx.spawn(move |cx| {
                let n = cx.receive::<u32>()?;
                tx.send(n * 2).expect("the asker waits");
                Ok(())
            })?;
            cx.send(helper, 21u32);
            cx.blocking(move || rx.recv_timeout(Duration::from_secs(5)))
        })
        .unwrap();
    assert_eq!(answered, Ok(42));
}

/// The closure may borrow from the process, and a panic in it is raised in the
/// process, which crashes with its message.
#[test]
fn blocking_work_borrows_from_the_process_and_its_panic_is_the_process_crash() {
    let runtime = common::runtime(2);
    let total = runtime
        .block_on(|cx| {
            let mut numbers = vec![1, 2, 3];
            let sum: i32 = cx.blocking(|| {
                numbers.push(4);
                numbers.iter().sum()
            })?;
            assert_eq!(numbers.len(), 4, "the closure changed the process's own vector");
            Ok::<_, Reason>(sum)
        })
        .unwrap();
    assert_eq!(total, 10);
    let crashed = runtime
        .block_on(|cx| {
            let (child, monitor) = cx.spawn_monitor(|cx| {
                cx.blocking(|| panic!("disk on fire"))?;
                Ok(())
            })?;
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            assert_eq!(down.object, lariat::Monitored::Pid(child));
            Ok::<_, Reason>(down.reason)
        })
        .unwrap();
    assert!(matches!(&crashed, Reason::Panic(text) if text.contains("disk on fire")), "{crashed:?}");
}

/// An exit signal that reaches a process inside `blocking` takes effect when
/// the closure returns: the closure runs to its end, then the process dies.
#[test]
fn an_exit_signal_to_a_process_in_blocking_takes_effect_when_it_returns() {
    let runtime = common::runtime(2);
    let finished = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&finished);
    let (reason, finished_before_down) = runtime
        .block_on(move |cx| {
            let finished = Arc::clone(&seen);
            let (started_tx, started_rx) = mpsc::channel();
            let (worker, monitor) = cx.spawn_monitor(move |cx| {
                cx.blocking(|| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(100));
                    finished.store(true, Ordering::SeqCst);
                })?;
                Ok(())
            })?;
            // It is inside `blocking` once its closure has started.
            cx.blocking(move || started_rx.recv_timeout(Duration::from_secs(10)))?.expect("the closure starts");
            cx.exit(worker, Reason::error("stop"))?;
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>((down.reason, seen.load(Ordering::SeqCst)))
        })
        .unwrap();
    assert_eq!(reason, Reason::error("stop"));
    assert!(finished_before_down, "it died only once the closure had run to its end");
    assert!(finished.load(Ordering::SeqCst));
}

/// Dropping the runtime while a process is inside `blocking` waits for the
/// closure (which still writes into the process's stack) before the process
/// is torn down.
#[test]
fn dropping_the_runtime_waits_for_blocking_work_that_runs() {
    for _ in 0..3 {
        let runtime = common::runtime(2);
        let finished = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let (done, began) = (Arc::clone(&finished), Arc::clone(&started));
        runtime
            .spawn(move |cx| {
                let mut on_my_stack = [0u8; 256];
                cx.blocking(|| {
                    began.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(150));
                    on_my_stack.fill(7);
                    done.store(true, Ordering::SeqCst);
                })?;
                assert!(on_my_stack.iter().all(|&byte| byte == 7));
                Ok(())
            })
            .unwrap();
        while !started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(runtime);
        assert!(finished.load(Ordering::SeqCst), "the drop waited for the closure");
    }
}

/// 100 processes each block 50 ms on 2 workers; a ping-pong pair beside them
/// keeps going: its worst round trip stays under 5 ms.
#[test]
fn blocking_work_does_not_hold_up_other_processes() {
    let runtime = common::runtime(2);
    let worst = runtime
        .block_on(|cx| {
            let me = cx.pid();
            for _ in 0..100 {
                cx.spawn(move |cx| {
                    cx.blocking(|| std::thread::sleep(Duration::from_millis(50)))?;
                    cx.send(me, "slept");
                    Ok(())
                })?;
            }
            let echo = cx.spawn(|cx| {
                loop {
                    let Ping(from) = cx.receive()?;
                    cx.send(from, Pong);
                }
            })?;
            let mut worst = Duration::ZERO;
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                let sent = Instant::now();
                cx.send(echo, Ping(me));
                cx.receive::<Pong>()?;
                worst = worst.max(sent.elapsed());
            }
            for _ in 0..100 {
                cx.receive::<&str>()?;
            }
            cx.exit(echo, Reason::Kill)?;
            Ok::<_, Reason>(worst)
        })
        .unwrap();
    // Under AddressSanitizer every step is several times dearer (CI runs the
    // suite under it too): the bound is for ordinary builds.
    let bound = if cfg!(lariat_asan) { Duration::from_millis(50) } else { Duration::from_millis(5) };
    assert!(worst < bound, "worst round trip {worst:?}");
}

/// A child spawned just before its parent blocks the thread outside
/// `blocking` (here for a second) is started by the other worker, which was
/// idle, within 50 ms; the parent does not see it start on its own thread.
#[test]
fn a_child_spawned_before_its_parent_blocks_its_thread_starts_on_the_idle_worker() {
    let runtime = common::runtime(2);
    for round in 0..5 {
        let (started_tx, started_rx) = mpsc::channel();
        let (parent_thread, spawned) = runtime
            .block_on(move |cx| {
                let spawned = Instant::now();
                cx.spawn(move |_| {
                    started_tx.send((Instant::now(), std::thread::current().id())).expect("the test waits");
                    Ok(())
                })?;
                std::thread::sleep(Duration::from_millis(1000));
                Ok::<_, Reason>((std::thread::current().id(), spawned))
            })
            .unwrap();
        let (started, child_thread) = started_rx.recv().unwrap();
        let waited = started.duration_since(spawned);
        assert!(waited < Duration::from_millis(50), "round {round}: the child started after {waited:?}");
        assert_ne!(child_thread, parent_thread, "round {round}: it started on the blocked thread");
    }
}

/// The pool never runs more closures at once than its bound; the rest wait.
#[test]
fn the_pool_stays_within_its_bound_and_every_call_runs() {
    let runtime = Runtime::builder().workers(2).blocking_threads(2).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (running_in, most_in) = (Arc::clone(&running), Arc::clone(&most));
    let done = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            for _ in 0..6 {
                let (running, most) = (Arc::clone(&running_in), Arc::clone(&most_in));
                cx.spawn(move |cx| {
                    cx.blocking(|| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(30));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })?;
                    cx.send(me, ());
                    Ok(())
                })?;
            }
            for _ in 0..6 {
                cx.receive::<()>()?;
            }
            Ok::<_, Reason>(6)
        })
        .unwrap();
    assert_eq!(done, 6);
    assert_eq!(most.load(Ordering::SeqCst), 2, "two at once, never more");
    assert!(runtime.blocking_threads() <= 2);
}

#[test]
fn a_pool_of_no_threads_is_refused_with_what_to_do() {
    let error = Runtime::builder().blocking_threads(0).build().err().expect("refused");
    assert!(matches!(error, BuildError::BlockingThreads));
    assert!(error.to_string().contains("at least one thread"), "{error}");
}

/// A `blocking` job that drops the runtime does not wait there for its own
/// process's teardown (which waits for the job): the runtime stops on a
/// thread of its own.
#[test]
fn a_blocking_job_may_drop_the_runtime() {
    let holder = Arc::new(std::sync::Mutex::new(Some(common::runtime(2))));
    let (tx, rx) = mpsc::channel();
    let in_job = Arc::clone(&holder);
    let runtime = holder.lock().unwrap().as_ref().unwrap().handle();
    runtime
        .spawn(move |cx| {
            cx.blocking(move || {
                let dropped = in_job.lock().unwrap().take();
                drop(dropped);
                tx.send(()).unwrap();
            })?;
            Ok(())
        })
        .unwrap();
    rx.recv_timeout(Duration::from_secs(10)).expect("the drop inside the job returned");
    assert!(holder.lock().unwrap().is_none());
}
