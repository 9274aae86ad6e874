//! The async bridge (feature `tokio`; issue 22): calls and monitors from async
//! code, outside mailboxes, and futures awaited inside processes.
#![cfg(feature = "tokio")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lariat::{CallError, Down, Exit, Monitored, Pid, Reason};

struct Double(u64, Pid);

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn a_call_from_async_code_gets_the_answer_the_process_sends() {
    let runtime = common::runtime(2);
    let doubler = runtime
        .spawn(|cx| {
            loop {
                let Double(n, reply_to) = cx.receive()?;
                cx.send(reply_to, n * 2);
            }
        })
        .unwrap();
    let handle = runtime.handle();
    let answers = tokio_runtime().block_on(async move {
        let mut answers = Vec::new();
        for n in 0..100u64 {
            answers.push(
                handle.call::<u64, _>(doubler, move |reply_to| Double(n, reply_to), Duration::from_secs(5)).await,
            );
        }
        answers
    });
    assert_eq!(answers, (0..100).map(|n| Ok(n * 2)).collect::<Vec<_>>());
}

#[test]
fn a_call_to_the_gone_or_to_one_that_dies_or_stays_silent_ends_with_an_error() {
    let runtime = common::runtime(2);
    let gone = runtime.spawn(|_| Ok(())).unwrap();
    while runtime.handle().status(gone).is_some() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let dies = runtime
        .spawn(|cx| {
            let Double(..) = cx.receive()?;
            Err(Reason::error("cannot double"))
        })
        .unwrap();
    let silent = runtime
        .spawn(|cx| {
            loop {
                cx.receive::<Double>()?;
            }
        })
        .unwrap();
    let handle = runtime.handle();
    let (to_gone, to_dying, (to_silent, waited)) = tokio_runtime().block_on(async move {
        let request = |reply_to| Double(1, reply_to);
        let to_gone = handle.call::<u64, _>(gone, request, Duration::from_secs(5)).await;
        let to_dying = handle.call::<u64, _>(dies, request, Duration::from_secs(5)).await;
        let started = Instant::now();
        let to_silent = handle.call::<u64, _>(silent, request, Duration::from_millis(50)).await;
        (to_gone, to_dying, (to_silent, started.elapsed()))
    });
    assert_eq!(to_gone, Err(CallError::Exited(Reason::NoProc)));
    assert_eq!(to_dying, Err(CallError::Exited(Reason::error("cannot double"))));
    assert_eq!(to_silent, Err(CallError::Timeout));
    assert!(waited < Duration::from_secs(2), "{waited:?}");
}

/// `watch` makes its monitor from the calling thread when it is called, so
/// an exit this thread sends right after it is reported with its reason
/// (before, the monitor came when the future first ran: often `NoProc`).
#[test]
fn async_code_awaits_a_processes_down_watched_before_what_it_sends_next() {
    let runtime = common::runtime(2);
    let handle = runtime.handle();
    let downs = tokio_runtime().block_on(async move {
        let mut downs = Vec::new();
        for round in 0..200 {
            let worker = handle.spawn(|cx| cx.receive::<()>()).unwrap();
            let ended = handle.watch(worker);
            handle.exit(worker, Reason::error("done"));
            let down = ended.await.unwrap();
            assert_eq!(down.object, Monitored::Pid(worker), "round {round}");
            downs.push(down.reason);
        }
        downs
    });
    assert!(downs.iter().all(|reason| *reason == Reason::error("done")), "{downs:?}");
}

/// An outside mailbox is a pid like any other: processes send to it, link to
/// it and are monitored through it; dropping it ends its process normally.
#[test]
fn an_outside_mailbox_receives_messages_exits_and_downs() {
    let runtime = common::runtime(2);
    let handle = runtime.handle();
    let (texts, exit, down, end) = tokio_runtime().block_on(async move {
        let mut mailbox = handle.outside_mailbox().unwrap();
        let inbox = mailbox.pid();
        let linked = handle
            .spawn(move |cx| {
                cx.link(inbox)?;
                cx.send(inbox, "hello");
                cx.send(inbox, "world");
                Err(Reason::error("bye"))
            })
            .unwrap();
        let mut texts = Vec::new();
        for _ in 0..2 {
            texts.push(mailbox.recv().await.unwrap().downcast::<&str>().unwrap());
        }
        let exit = mailbox.recv().await.unwrap().downcast::<Exit>().unwrap();
        assert_eq!(exit.from, linked);
        let watched = handle.spawn(|cx| cx.receive::<()>()).unwrap();
        mailbox.monitor(watched);
        tokio::time::sleep(Duration::from_millis(10)).await;
        handle.exit(watched, Reason::Kill);
        let down = mailbox.recv().await.unwrap().downcast::<Down>().unwrap();
        // Dropping it ends its process, normally.
        let (tx, rx) = std::sync::mpsc::channel();
        handle
            .spawn(move |cx| {
                let monitor = cx.monitor(inbox);
                tx.send(None).unwrap();
                let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
                tx.send(Some(down.reason)).unwrap();
                Ok(())
            })
            .unwrap();
        assert_eq!(rx.recv().unwrap(), None, "it monitors the mailbox");
        drop(mailbox);
        let end = rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
        (texts, exit.reason, down.reason, end)
    });
    assert_eq!(texts, ["hello", "world"]);
    assert_eq!((exit, down, end), (Reason::error("bye"), Reason::Killed, Reason::Normal));
}

#[test]
fn a_plain_thread_receives_from_an_outside_mailbox() {
    let runtime = common::runtime(1);
    let mut mailbox = runtime.handle().outside_mailbox().unwrap();
    let inbox = mailbox.pid();
    runtime
        .spawn(move |cx| {
            cx.send(inbox, 7u32);
            Ok(())
        })
        .unwrap();
    let got =
        std::thread::spawn(move || mailbox.blocking_recv().and_then(|m| m.downcast::<u32>().ok())).join().unwrap();
    assert_eq!(got, Some(7));
}

/// A process waits for a future run on tokio as in a receive; told to die
/// meanwhile, it gets the reason and the future is aborted.
#[test]
fn a_process_awaits_a_future_and_a_kill_aborts_it() {
    let tokio = tokio_runtime();
    let on = tokio.handle().clone();
    let runtime = common::runtime(1);
    let value = runtime
        .block_on({
            let on = on.clone();
            move |cx| cx.await_future(&on, async { 6 * 7 })
        })
        .unwrap();
    assert_eq!(value, 42);
    let finished = Arc::new(AtomicBool::new(false));
    let reached_end = Arc::clone(&finished);
    let reason = runtime
        .block_on(move |cx| {
            let (waiter, monitor) = cx.spawn_monitor(move |cx| {
                cx.await_future(&on, async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    reached_end.store(true, Ordering::SeqCst);
                })
            })?;
            cx.sleep(Duration::from_millis(20))?;
            cx.exit(waiter, Reason::error("stop"))?;
            Ok::<_, Reason>(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason)
        })
        .unwrap();
    assert_eq!(reason, Reason::error("stop"));
    std::thread::sleep(Duration::from_millis(400));
    assert!(!finished.load(Ordering::SeqCst), "the future was aborted");
}

#[path = "../examples/tcp_server.rs"]
mod tcp_server;

/// The TCP example: a tokio server whose connections are served by processes,
/// bounded (it stops after the connections it was told to serve).
#[test]
fn the_tcp_example_serves_each_connection_with_a_process_and_stops() {
    let runtime = common::runtime(2);
    let handle = runtime.handle();
    let (answers, served) = tokio_runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(tcp_server::serve(listener, handle, 8));
        let clients: Vec<_> =
            (0..8).map(|i| tokio::spawn(tcp_server::client(address, vec![format!("line {i}"), "x".into()]))).collect();
        let mut answers = Vec::new();
        for client in clients {
            answers.push(client.await.unwrap().unwrap());
        }
        (answers, server.await.unwrap().unwrap())
    });
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(answer, &[format!("LINE {i}"), "X".to_owned()]);
    }
    assert_eq!(served, 16);
    // Each reported before it returned: give the last ones a moment to end.
    let deadline = Instant::now() + Duration::from_secs(5);
    while runtime.live_processes() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(runtime.live_processes(), 0, "every connection's process has ended");
}

/// A future that panics gives the waiting process an `Err`, never a wait
/// without end.
#[test]
fn a_future_that_panics_is_an_error_in_the_waiting_process() {
    let tokio = tokio_runtime();
    let on = tokio.handle().clone();
    let runtime = common::runtime(1);
    let outcome = runtime.block_on(move |cx| Ok::<_, Reason>(cx.await_future(&on, async { panic!("lost") }))).unwrap();
    let _: () = match outcome {
        Ok(never) => never,
        Err(reason) => {
            assert!(reason.to_string().contains("panicked"), "{reason}");
            return;
        }
    };
}
