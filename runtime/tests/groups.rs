//! `pg`: process groups (issue 23).

mod common;

use lariat::Reason;
use lariat::pg::{self, ChangeKind, GroupChange};

struct Stop;

fn idle(cx: &mut lariat::Cx) -> Result<lariat::Pid, lariat::SpawnError> {
    cx.spawn(|cx| {
        cx.receive::<Stop>()?;
        Ok(())
    })
}

#[test]
fn members_join_more_than_once_leave_as_often_and_leave_everything_when_they_end() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let scope = pg::start_link(cx)?;
            let (a, b) = (idle(cx)?, idle(cx)?);
            scope.join(cx, "workers", a)?;
            scope.join(cx, "workers", b)?;
            scope.join(cx, "workers", a)?;
            scope.join(cx, "admins", a)?;
            assert_eq!(scope.members(cx, "workers")?, vec![a, b, a]);
            assert_eq!(scope.which_groups(cx)?, vec!["admins".into(), "workers".into()]);
            assert!(scope.leave(cx, "workers", a)?);
            assert_eq!(scope.members(cx, "workers")?, vec![a, b]);
            assert!(!scope.leave(cx, "nobody", a)?);
            let monitor = cx.monitor(a);
            cx.send(a, Stop);
            cx.receive_if::<lariat::Down>(|down| down.monitor == monitor)?;
            // The scope's own Down for `a` may come after ours: ask until it is in.
            while scope.members(cx, "workers")? != vec![b] {
                cx.yield_now()?;
            }
            assert_eq!(scope.which_groups(cx)?, vec!["workers".into()], "an empty group is not listed");
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn a_group_monitor_gets_the_members_then_every_join_and_leave_until_demonitored() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let scope = pg::start_link(cx)?;
            let (a, b) = (idle(cx)?, idle(cx)?);
            scope.join(cx, "g", a)?;
            let (monitor, now) = scope.monitor(cx, "g")?;
            assert_eq!(now, vec![a]);
            scope.join(cx, "g", b)?;
            cx.send(a, Stop);
            let join = cx.receive::<GroupChange>()?;
            assert_eq!(join, GroupChange { monitor, group: "g".into(), kind: ChangeKind::Join, pids: vec![b] });
            let leave = cx.receive::<GroupChange>()?;
            assert_eq!(leave, GroupChange { monitor, group: "g".into(), kind: ChangeKind::Leave, pids: vec![a] });
            assert!(scope.demonitor(cx, monitor)?);
            scope.join(cx, "g", b)?;
            assert_eq!(scope.members(cx, "g")?, vec![b, b]);
            assert_eq!(cx.receive_timeout::<GroupChange>(std::time::Duration::from_millis(20))?, None);
            Ok::<_, Reason>(())
        })
        .unwrap();
}

#[test]
fn demonitor_removes_the_changes_already_in_the_mailbox() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            let scope = pg::start_link(cx)?;
            let (monitor, _) = scope.monitor(cx, "g")?;
            let member = idle(cx)?;
            scope.join(cx, "g", member)?;
            scope.join(cx, "g", member)?;
            assert!(scope.demonitor(cx, monitor)?);
            assert_eq!(cx.mailbox_len(), 0, "the two joins were flushed");
            Ok::<_, Reason>(())
        })
        .unwrap();
}
