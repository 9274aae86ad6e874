//! The races of semantics.md, thousands of times each, with both workers kept
//! busy by other processes so the two sides really run in parallel:
//! link vs exit gives exactly one outcome; unlink vs exit never kills the caller
//! after `unlink` returned; monitor vs exit gives exactly one `Down`; demonitor
//! vs exit never adds a `Down` after `demonitor` returned; message-then-exit
//! keeps its order.

mod common;

use std::time::Duration;

use lariat::{Cx, Down, Exit, Pid, Reason};

const ROUNDS: u32 = 5000;

struct Stop;

fn boom() -> Reason {
    Reason::error("boom")
}

/// Runs `race` while two other processes load both workers.
fn with_busy_workers<T>(cx: &mut Cx, race: impl FnOnce(&mut Cx) -> Result<T, Reason>) -> Result<T, Reason> {
    let mut spinners: Vec<Pid> = Vec::new();
    for _ in 0..2 {
        spinners.push(cx.spawn(|cx| {
            // Busy in bursts: a worker whose queue empties between bursts steals
            // the racing children, so the two sides run on different workers.
            while cx.receive_timeout::<Stop>(Duration::from_micros(20))?.is_none() {
                let burst = std::time::Instant::now();
                while burst.elapsed() < Duration::from_micros(20) {
                    std::hint::spin_loop();
                }
            }
            Ok(())
        })?);
    }
    let result = race(cx);
    for spinner in spinners {
        cx.send(spinner, Stop);
    }
    result
}

/// A child that ends with `boom` after a varying, short delay.
fn short_lived(round: u32) -> impl FnOnce(&mut Cx) -> Result<(), Reason> + Send + 'static {
    move |cx| {
        for _ in 0..round % 4 {
            cx.yield_now()?;
        }
        Err(boom())
    }
}

/// Varies when the parent acts on a child it just spawned: at once, after a
/// spin, or after letting others run.
fn parent_delay(cx: &mut Cx, round: u32) -> Result<(), Reason> {
    match round % 5 {
        0 | 1 => {}
        2 => (0..300).for_each(|_| std::hint::spin_loop()),
        _ => cx.yield_now()?,
    }
    Ok(())
}

/// Children spawned together, so most are queued where the other worker steals
/// them: the two sides of each race then run on different workers.
const BATCH: u32 = 8;

#[test]
fn link_vs_exit_gives_exactly_one_outcome_thousands_of_times() {
    let runtime = common::runtime(2);
    let (real, noproc) = runtime
        .block_on(|cx| {
            with_busy_workers(cx, |cx| {
                cx.trap_exit(true);
                let (mut real, mut noproc) = (0u32, 0u32);
                for batch in 0..ROUNDS / BATCH {
                    let mut children = Vec::new();
                    for i in 0..BATCH {
                        children.push(cx.spawn(short_lived(batch + i))?);
                    }
                    parent_delay(cx, batch)?;
                    for &child in &children {
                        cx.link(child)?;
                    }
                    for _ in 0..BATCH {
                        let exit = cx.receive::<Exit>()?;
                        assert!(children.contains(&exit.from));
                        match exit.reason {
                            Reason::NoProc => noproc += 1,
                            reason => {
                                assert_eq!(reason, boom());
                                real += 1;
                            }
                        }
                    }
                    assert_eq!(cx.receive_timeout::<Exit>(Duration::ZERO)?, None, "a second outcome");
                }
                cx.sleep(Duration::from_millis(20))?;
                assert_eq!(cx.receive_timeout::<Exit>(Duration::ZERO)?, None, "a late duplicate");
                Ok((real, noproc))
            })
        })
        .unwrap();
    assert_eq!(real + noproc, ROUNDS / BATCH * BATCH);
    assert!(real > 0 && noproc > 0, "both sides of the race were taken: {real} real, {noproc} noproc");
}

#[test]
fn unlink_vs_exit_never_kills_the_caller_thousands_of_times() {
    let runtime = common::runtime(2);
    let rounds = runtime
        .block_on(|cx| {
            with_busy_workers(cx, |cx| {
                let me = cx.pid();
                for round in 0..ROUNDS {
                    let a = cx.spawn_link(move |cx| {
                        for _ in 0..round % 3 {
                            cx.yield_now()?;
                        }
                        cx.send(me, ());
                        Err(boom())
                    })?;
                    // No runtime call between spawn_link and unlink (one could
                    // rightly apply the exit first); the spin varies the timing.
                    for _ in 0..(round % 5) * 100 {
                        std::hint::spin_loop();
                    }
                    cx.unlink(a);
                    cx.receive::<()>()?;
                }
                // Any exit signal still in flight arrives within this sleep; it
                // must be dropped, or this process dies and block_on fails.
                cx.sleep(Duration::from_millis(20))?;
                assert!(cx.links().is_empty());
                Ok(ROUNDS)
            })
        })
        .unwrap();
    assert_eq!(rounds, ROUNDS);
}

#[test]
fn monitor_vs_exit_gives_exactly_one_down_thousands_of_times() {
    let runtime = common::runtime(2);
    let (real, noproc) = runtime
        .block_on(|cx| {
            with_busy_workers(cx, |cx| {
                let (mut real, mut noproc) = (0u32, 0u32);
                for batch in 0..ROUNDS / BATCH {
                    let mut monitors = Vec::new();
                    for i in 0..BATCH {
                        let child = cx.spawn(short_lived(batch + i))?;
                        monitors.push((child, None));
                    }
                    parent_delay(cx, batch)?;
                    for (child, monitor) in &mut monitors {
                        *monitor = Some(cx.monitor(*child));
                    }
                    for _ in 0..BATCH {
                        let down = cx.receive::<Down>()?;
                        assert!(monitors.contains(&(down.object.pid().unwrap(), Some(down.monitor))));
                        match down.reason {
                            Reason::NoProc => noproc += 1,
                            reason => {
                                assert_eq!(reason, boom());
                                real += 1;
                            }
                        }
                    }
                    assert_eq!(cx.receive_timeout::<Down>(Duration::ZERO)?, None, "a second Down");
                }
                Ok((real, noproc))
            })
        })
        .unwrap();
    assert_eq!(real + noproc, ROUNDS / BATCH * BATCH);
    assert!(real > 0 && noproc > 0, "both sides of the race were taken: {real} real, {noproc} noproc");
}

#[test]
fn demonitor_vs_exit_never_adds_a_down_afterwards_thousands_of_times() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            with_busy_workers(cx, |cx| {
                for round in 0..ROUNDS {
                    let a = cx.spawn(short_lived(round))?;
                    let monitor = cx.monitor(a);
                    for _ in 0..round % 3 {
                        cx.yield_now()?;
                    }
                    let active = cx.demonitor(monitor);
                    // A Down already in the mailbox was added before demonitor
                    // returned; then the monitor was no longer active.
                    let already = cx.receive_map_timeout(Duration::ZERO, |message| {
                        message.downcast_ref::<Down>().filter(|down| down.monitor == monitor).map(|_| ())
                    })?;
                    if already.is_some() {
                        assert!(!active, "a delivered Down means the monitor was no longer active");
                    }
                    if round % 64 == 63 {
                        // Give any late Down time to arrive: none may.
                        cx.sleep(Duration::from_micros(200))?;
                        if let Some(down) = cx.receive_timeout::<Down>(Duration::ZERO)? {
                            panic!("a Down for {} came after demonitor returned", down.monitor);
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

#[test]
fn message_then_exit_keeps_its_order_thousands_of_times() {
    let runtime = common::runtime(2);
    runtime
        .block_on(|cx| {
            with_busy_workers(cx, |cx| {
                cx.trap_exit(true);
                let me = cx.pid();
                for round in 0..ROUNDS {
                    let a = cx.spawn_link(move |cx| {
                        for _ in 0..round % 3 {
                            cx.yield_now()?;
                        }
                        cx.send(me, round);
                        Err(boom())
                    })?;
                    let first = cx.receive_map(|message| {
                        if message.is::<u32>() || message.is::<Exit>() {
                            Some(std::mem::replace(message, lariat::Message::new(())))
                        } else {
                            None
                        }
                    })?;
                    assert_eq!(first.downcast::<u32>().ok(), Some(round), "the message comes before the exit");
                    assert_eq!(cx.receive::<Exit>()?, Exit { from: a, reason: boom() });
                }
                Ok(())
            })
        })
        .unwrap();
}
