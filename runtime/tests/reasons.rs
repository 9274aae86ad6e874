//! Errors that compose: `?` on other errors in a process body, and the error
//! kept in the reason a linked or monitoring process sees (issue 22).

mod common;

use lariat::{Down, Exit, Reason};

/// A body that propagates an `io::Error` with `?` ends with a reason that
/// keeps it: the monitoring process can downcast it, the trapping linked one
/// sees the same text.
#[test]
fn an_io_error_propagated_by_a_body_reaches_its_watchers_intact() {
    let runtime = common::runtime(2);
    let (down, exit) = runtime
        .block_on(|cx| {
            cx.trap_exit(true);
            let child = cx.spawn_link(|_| {
                std::fs::read("/surely/not/here/lariat")?;
                Ok(())
            })?;
            let monitor = cx.monitor(child);
            let exit = cx.receive::<Exit>()?;
            let down = cx.receive_if::<Down>(|down| down.monitor == monitor)?;
            Ok::<_, Reason>((down, exit))
        })
        .unwrap();
    let io = down.reason.as_error().and_then(|error| error.downcast_ref::<std::io::Error>());
    assert_eq!(io.map(std::io::Error::kind), Some(std::io::ErrorKind::NotFound), "{:?}", down.reason);
    assert_eq!(exit.reason.to_string(), down.reason.to_string());
    assert!(exit.reason.as_error().is_some(), "the Exit keeps it too");
}

/// The crate's own errors convert too: a body can `?` a spawn error.
#[test]
fn the_crates_own_errors_keep_their_type_in_the_reason() {
    let runtime = lariat::Runtime::builder().workers(1).max_processes(2).build().unwrap();
    let reason = runtime
        .block_on(|cx| {
            let (_, monitor) = cx.spawn_monitor(|cx| {
                loop {
                    cx.spawn(|cx| cx.receive::<()>())?; // the table fills up
                }
            })?;
            Ok::<_, Reason>(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason)
        })
        .unwrap();
    let spawn_error = reason.as_error().and_then(|error| error.downcast_ref::<lariat::SpawnError>());
    assert!(matches!(spawn_error, Some(lariat::SpawnError::TableFull { .. })), "{reason:?}");
}

/// With the `anyhow` feature, `?` on an `anyhow::Error` works in a body and
/// the context chain stays reachable.
#[cfg(feature = "anyhow")]
#[test]
fn an_anyhow_error_keeps_its_context_chain() {
    use anyhow::Context as _;
    let runtime = common::runtime(1);
    let reason = runtime
        .block_on(|cx| {
            let (_, monitor) = cx.spawn_monitor(|_| {
                std::fs::read("/surely/not/here/lariat").context("loading the settings")?;
                Ok(())
            })?;
            Ok::<_, Reason>(cx.receive_if::<Down>(|down| down.monitor == monitor)?.reason)
        })
        .unwrap();
    assert_eq!(reason.to_string(), "loading the settings");
    let cause = std::error::Error::source(&reason).expect("the context's cause");
    assert!(cause.downcast_ref::<std::io::Error>().is_some(), "{cause}");
}
