//! `server`: gen_server in Rust form (issue 23).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lariat::server::{self, ReplyTo, Server, ServerRef, StartError, StartOptions};
use lariat::{CallError, Cx, Down, Exit, Message, Pid, Reason};

const LONG: Duration = Duration::from_secs(5);

/// Records what happened to it, for the tests to read.
type Log = Arc<Mutex<Vec<String>>>;

enum Ask {
    Get,
    /// Answered only when the next `Cast::Release` comes.
    Deferred,
    Fail(&'static str),
}

enum Tell {
    Add(u64),
    Release(u64),
}

struct Counter {
    total: u64,
    parked: Vec<ReplyTo<u64>>,
    log: Log,
}

impl Server for Counter {
    type Call = Ask;
    type Reply = u64;
    type Cast = Tell;

    fn handle_call(&mut self, cx: &mut Cx, request: Ask, reply_to: ReplyTo<u64>) -> Result<(), Reason> {
        match request {
            Ask::Get => reply_to.reply(cx, self.total),
            Ask::Deferred => self.parked.push(reply_to),
            Ask::Fail(why) => return Err(Reason::error(why)),
        }
        Ok(())
    }

    fn handle_cast(&mut self, cx: &mut Cx, message: Tell) -> Result<(), Reason> {
        match message {
            Tell::Add(n) => self.total += n,
            Tell::Release(n) => {
                for reply_to in self.parked.drain(..) {
                    reply_to.reply(cx, n);
                }
            }
        }
        Ok(())
    }

    fn handle_info(&mut self, _: &mut Cx, message: Message) -> Result<(), Reason> {
        let seen = if let Some(down) = message.downcast_ref::<Down>() {
            format!("down {}", down.reason)
        } else if let Some(exit) = message.downcast_ref::<Exit>() {
            format!("exit {}", exit.reason)
        } else if let Some(text) = message.downcast_ref::<&str>() {
            format!("info {text}")
        } else {
            "info ?".into()
        };
        self.log.lock().unwrap().push(seen);
        Ok(())
    }

    fn terminate(&mut self, _: &mut Cx, reason: &Reason) {
        self.log.lock().unwrap().push(format!("terminate {reason}"));
    }
}

fn counter(log: &Log) -> impl FnOnce(&mut Cx) -> Result<Counter, Reason> + Send + 'static {
    let log = Arc::clone(log);
    move |_| Ok(Counter { total: 0, parked: Vec::new(), log })
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[test]
fn calls_and_casts_are_handled_in_order() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let init = counter(&log);
    let total = runtime
        .block_on(move |cx| {
            let counter = server::start(cx, StartOptions::new().link(), init)?;
            for n in 1..=100 {
                counter.cast(cx, Tell::Add(n));
            }
            Ok::<_, Reason>(counter.call(cx, Ask::Get, LONG)?)
        })
        .unwrap();
    assert_eq!(total, 5050, "the casts sent before the call were handled before it");
}

#[test]
fn an_answer_may_come_later_from_another_handler() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let init = counter(&log);
    let answers = runtime
        .block_on(move |cx| {
            let counter = server::start(cx, StartOptions::new(), init)?;
            let me = cx.pid();
            for _ in 0..3 {
                cx.spawn(move |cx| {
                    let answer = ServerRef::<Counter>::from_pid(counter.pid()).call(cx, Ask::Deferred, LONG)?;
                    cx.send(me, answer);
                    Ok(())
                })?;
            }
            cx.sleep(Duration::from_millis(20))?;
            counter.cast(cx, Tell::Release(7));
            let answers: Vec<u64> = (0..3).map(|_| cx.receive::<u64>()).collect::<Result<_, _>>()?;
            Ok::<_, Reason>(answers)
        })
        .unwrap();
    assert_eq!(answers, vec![7, 7, 7]);
}

#[test]
fn a_failing_init_fails_the_start_with_its_reason_and_a_linked_starter_gets_the_exit_signal() {
    let runtime = common::runtime(2);
    let (unlinked, linked, exit) = runtime
        .block_on(|cx| {
            let unlinked = server::start::<Counter, _>(cx, StartOptions::new(), |_| Err(Reason::error("no disk")));
            cx.trap_exit(true);
            let linked = server::start::<Counter, _>(cx, StartOptions::new().link(), |_| Err(Reason::error("no net")));
            let exit = cx.receive::<Exit>()?;
            Ok::<_, Reason>((unlinked.unwrap_err(), linked.unwrap_err(), exit.reason))
        })
        .unwrap();
    assert_eq!(unlinked, StartError::Init(Reason::error("no disk")));
    assert_eq!(linked, StartError::Init(Reason::error("no net")));
    assert_eq!(exit, Reason::error("no net"));
}

#[test]
fn an_init_that_panics_fails_the_start() {
    let runtime = common::runtime(2);
    let error = runtime
        .block_on(|cx| {
            let started = server::start::<Counter, _>(cx, StartOptions::new(), |_| panic!("init exploded"));
            Ok::<_, Reason>(started.unwrap_err())
        })
        .unwrap();
    let StartError::Init(reason) = error else { panic!("{error:?}") };
    assert!(reason.to_string().contains("init exploded"), "{reason}");
}

#[test]
fn a_named_server_is_found_by_name_and_a_second_one_is_refused() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let (init_a, init_b) = (counter(&log), counter(&log));
    let (first, found, second) = runtime
        .block_on(move |cx| {
            let first = server::start(cx, StartOptions::new().name("counter"), init_a)?;
            let found = cx.whereis("counter");
            let second = server::start(cx, StartOptions::new().link().name("counter"), init_b);
            Ok::<_, Reason>((first.pid(), found, second.unwrap_err()))
        })
        .unwrap();
    assert_eq!(found, Some(first));
    assert_eq!(second, StartError::AlreadyStarted(first), "and the linked starter lived on");
}

#[test]
fn a_handler_error_runs_terminate_and_ends_the_server_with_that_reason() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let init = counter(&log);
    let (call, down) = runtime
        .block_on(move |cx| {
            let counter = server::start(cx, StartOptions::new(), init)?;
            let monitor = cx.monitor(counter.pid());
            let call = counter.call(cx, Ask::Fail("bad request"), LONG).unwrap_err();
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>((call, down.reason))
        })
        .unwrap();
    assert_eq!(call, CallError::Exited(Reason::error("bad request")));
    assert_eq!(down, Reason::error("bad request"));
    assert_eq!(lines(&log), vec!["terminate bad request"]);
}

#[test]
fn stop_runs_terminate_and_waits_for_the_end() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let init = counter(&log);
    let (stopped, again) = runtime
        .block_on(move |cx| {
            let counter = server::start(cx, StartOptions::new(), init)?;
            let stopped = counter.stop(cx, Reason::Normal, LONG);
            let again = counter.stop(cx, Reason::Normal, LONG);
            Ok::<_, Reason>((stopped, again))
        })
        .unwrap();
    assert_eq!(stopped, Ok(()));
    assert_eq!(again, Err(CallError::Exited(Reason::NoProc)));
    assert_eq!(lines(&log), vec!["terminate normal"]);
}

#[test]
fn other_messages_go_to_handle_info() {
    let log = Log::default();
    let runtime = common::runtime(2);
    let init = counter(&log);
    runtime
        .block_on(move |cx| {
            let counter = server::start(cx, StartOptions::new().trap_exit(), init)?;
            cx.send(counter.pid(), "hello");
            cx.exit(counter.pid(), Reason::error("not the parent"))?;
            counter.call(cx, Ask::Get, LONG)?; // everything sent before has been handled
            Ok::<_, Reason>(())
        })
        .unwrap();
    assert_eq!(lines(&log), vec!["info hello", "exit not the parent"]);
}

struct Go;

/// While it traps exits, a linked server's parent's exit signal stops it
/// through `terminate`, with the parent's reason; not trapping, it dies
/// without `terminate`.
#[test]
fn the_parents_exit_signal_stops_a_trapping_server_through_terminate() {
    for trap in [true, false] {
        let log = Log::default();
        let runtime = common::runtime(2);
        let init = counter(&log);
        let down = runtime
            .block_on(move |cx| {
                let me = cx.pid();
                let parent = cx.spawn(move |cx| {
                    let options =
                        if trap { StartOptions::new().link().trap_exit() } else { StartOptions::new().link() };
                    let counter = server::start(cx, options, init)?;
                    cx.send(me, counter.pid());
                    cx.receive::<Go>()?;
                    Err(Reason::error("parent gone"))
                })?;
                let server: Pid = cx.receive()?;
                let monitor = cx.monitor(server);
                cx.send(parent, Go);
                let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
                Ok::<_, Reason>(down.reason)
            })
            .unwrap();
        assert_eq!(down, Reason::error("parent gone"));
        let expected: Vec<String> = if trap { vec!["terminate parent gone".into()] } else { vec![] };
        assert_eq!(lines(&log), expected, "trap_exit {trap}");
    }
}

struct Explode;

/// A handler that panics is a crash: `terminate` runs with the panic as its
/// reason, and the server ends with it (OTP calls `terminate/2` when a
/// callback crashes).
#[test]
fn a_panicking_handler_runs_terminate_and_ends_the_server_with_the_panic() {
    struct Fragile(Log);
    impl Server for Fragile {
        type Call = ();
        type Reply = ();
        type Cast = Explode;
        fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<()>) -> Result<(), Reason> {
            reply_to.reply(cx, ());
            Ok(())
        }
        fn handle_cast(&mut self, _: &mut Cx, _: Explode) -> Result<(), Reason> {
            panic!("handler exploded");
        }
        fn terminate(&mut self, _: &mut Cx, reason: &Reason) {
            self.0.lock().unwrap().push(format!("terminate {reason}"));
        }
    }
    let log = Log::default();
    let runtime = common::runtime(2);
    let log_in = Arc::clone(&log);
    let down = runtime
        .block_on(move |cx| {
            let fragile = server::start(cx, StartOptions::new(), move |_| Ok(Fragile(log_in)))?;
            let monitor = cx.monitor(fragile.pid());
            fragile.cast(cx, Explode);
            Ok::<_, Reason>(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason)
        })
        .unwrap();
    let Reason::Panic(text) = &down else { panic!("{down:?}") };
    assert!(text.to_string().contains("handler exploded"), "{down}");
    let lines = lines(&log);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("terminate") && lines[0].contains("handler exploded"), "{lines:?}");
}

#[test]
fn a_process_calling_itself_is_refused_at_once() {
    let runtime = common::runtime(1);
    let error = runtime
        .block_on(|cx| {
            let me = cx.pid();
            Ok::<_, Reason>(cx.call::<(), ()>(me, (), LONG).unwrap_err())
        })
        .unwrap();
    assert_eq!(error, CallError::CallingSelf);
}

#[test]
fn a_process_stopping_itself_as_a_server_is_refused_at_once() {
    let runtime = common::runtime(1);
    let error = runtime
        .block_on(|cx| {
            let me = server::ServerRef::<Counter>::from_pid(cx.pid());
            Ok::<_, Reason>(me.stop(cx, Reason::Normal, LONG).unwrap_err())
        })
        .unwrap();
    assert_eq!(error, CallError::CallingSelf);
}

/// A handler that waits in a receive when the server is killed, and passes
/// the `Err` on, does not get `terminate` (a killed server never does).
#[test]
fn a_server_killed_while_a_handler_waits_does_not_run_terminate() {
    struct Waiter(Log);
    struct Never;
    impl Server for Waiter {
        type Call = ();
        type Reply = ();
        type Cast = ();
        fn handle_call(&mut self, cx: &mut Cx, _: (), reply_to: ReplyTo<()>) -> Result<(), Reason> {
            reply_to.reply(cx, ());
            cx.receive::<Never>()?; // killed here
            Ok(())
        }
        fn terminate(&mut self, _: &mut Cx, reason: &Reason) {
            self.0.lock().unwrap().push(format!("terminate {reason}"));
        }
    }
    let log = Log::default();
    let runtime = common::runtime(2);
    let log_in = Arc::clone(&log);
    let down = runtime
        .block_on(move |cx| {
            let waiter = server::start(cx, StartOptions::new(), move |_| Ok(Waiter(log_in)))?;
            let monitor = cx.monitor(waiter.pid());
            waiter.call(cx, (), LONG)?;
            cx.exit(waiter.pid(), Reason::Kill)?;
            Ok::<_, Reason>(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason)
        })
        .unwrap();
    assert_eq!(down, Reason::Killed);
    assert!(lines(&log).is_empty(), "{:?}", lines(&log));
}
