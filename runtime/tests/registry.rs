//! Registered names (semantics.md §7, row R2).

mod common;

use std::time::Duration;

use lariat::{Down, Exit, Reason, RegisterError};

struct Go;

#[test]
fn r2_sending_to_an_unregistered_name_is_an_error_and_to_a_dead_pid_nothing() {
    let runtime = common::runtime(2);
    let (named, dead) = runtime
        .block_on(|cx| {
            let named = cx.send_named("nobody", 1u8);
            let dead = cx.spawn(|_| Ok(()))?;
            let handle = cx.handle();
            while handle.is_alive(dead) {
                cx.sleep(Duration::from_millis(1))?;
            }
            cx.send(dead, 1u8);
            Ok::<_, Reason>((named, ()))
        })
        .unwrap();
    assert_eq!(named, Err(RegisterError::NotRegistered { name: "nobody".into() }));
    assert_eq!(dead, ());
}

#[test]
fn a_registered_process_gets_messages_by_name() {
    let runtime = common::runtime(2);
    let got = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let server = cx.spawn(move |cx| {
                let n: u32 = cx.receive()?;
                cx.send(me, n + 1);
                Ok(())
            })?;
            cx.register("server", server)?;
            assert_eq!(cx.whereis("server"), Some(server));
            cx.send_named("server", 41u32)?;
            cx.receive::<u32>()
        })
        .unwrap();
    assert_eq!(got, 42);
}

#[test]
fn double_register_second_name_and_unregister_of_a_free_name_are_errors() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let me = cx.pid();
            let other = cx.spawn(|cx| cx.receive::<Go>().map(|_| ()))?;
            cx.register("me", me)?;
            assert!(matches!(cx.register("me", other), Err(RegisterError::NameTaken { holder, .. }) if holder == me));
            assert!(matches!(cx.register("again", me), Err(RegisterError::AlreadyNamed { .. })));
            assert!(matches!(cx.unregister("free"), Err(RegisterError::NotRegistered { .. })));
            cx.unregister("me")?;
            assert_eq!(cx.whereis("me"), None);
            cx.register("other", other)?;
            cx.send(other, Go);
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn a_dead_process_cannot_be_registered() {
    let runtime = common::runtime(2);
    let result = runtime
        .block_on(|cx| {
            let dead = cx.spawn(|_| Ok(()))?;
            let handle = cx.handle();
            while handle.is_alive(dead) {
                cx.sleep(Duration::from_millis(1))?;
            }
            Ok::<_, Reason>(cx.register("ghost", dead))
        })
        .unwrap();
    assert!(matches!(result, Err(RegisterError::NoProc { .. })));
    assert_eq!(runtime.handle().whereis("ghost"), None);
}

#[test]
fn the_name_is_free_before_the_exit_signal_and_down_arrive() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            for round in 0..500u32 {
                let name = format!("worker-{round}");
                let worker = cx.spawn_link(|cx| {
                    cx.receive::<Go>()?;
                    Err(Reason::error("done"))
                })?;
                let monitor = cx.monitor(worker);
                cx.register(name.as_str(), worker)?;
                cx.send(worker, Go);
                let exit = cx.receive::<Exit>()?;
                assert_eq!(exit.from, worker);
                assert_eq!(cx.whereis(&name), None, "the name must be free when the Exit is seen");
                let down = cx.receive::<Down>()?;
                assert_eq!(down.monitor, monitor);
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn register_racing_exit_never_leaves_a_name_behind() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            for round in 0..2000u32 {
                let name = format!("racer-{}", round % 4);
                let racer = cx.spawn(move |cx| {
                    if round % 2 == 0 {
                        cx.yield_now()?;
                    }
                    Ok(())
                })?;
                let registered = cx.register(name.as_str(), racer);
                let handle = cx.handle();
                while handle.is_alive(racer) {
                    cx.yield_now()?;
                }
                // Gone: its name, if it got one, must be free again.
                if registered.is_ok() || cx.whereis(&name).is_some() {
                    let mut tries = 0;
                    while cx.whereis(&name).is_some() {
                        tries += 1;
                        assert!(tries < 1000, "{name} still names a dead process");
                        cx.sleep(Duration::from_micros(100))?;
                    }
                }
            }
            Ok::<_, Reason>(())
        })
        .unwrap();
}
