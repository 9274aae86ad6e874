//! Message timers: `send_after`, `cancel_timer`, `read_timer`, `send_interval`
//! (issue 23).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lariat::{Pid, Reason};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tick(u32);

/// Counts its drops (a message dropped undelivered, or received and dropped).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_timer_delivers_its_message_after_its_delay_not_before() {
    let runtime = common::runtime(2);
    let waited = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let armed = Instant::now();
            cx.send_after(Duration::from_millis(30), me, Tick(1));
            assert_eq!(cx.receive::<Tick>()?, Tick(1));
            Ok::<_, Reason>(armed.elapsed())
        })
        .unwrap();
    assert!(waited >= Duration::from_millis(30), "{waited:?}");
}

#[test]
fn a_cancelled_timer_says_what_was_left_and_never_delivers() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let runtime = common::runtime(2);
    let counter = Arc::clone(&dropped);
    let (left, again, read_before, read_after, arrived) = runtime
        .block_on(move |cx| {
            let me = cx.pid();
            let timer = cx.send_after(Duration::from_millis(40), me, Counted(counter));
            let read_before = cx.read_timer(timer);
            let left = cx.cancel_timer(timer);
            let again = cx.cancel_timer(timer);
            let read_after = cx.read_timer(timer);
            let arrived = cx.receive_timeout::<Counted>(Duration::from_millis(100))?.is_some();
            Ok::<_, Reason>((left, again, read_before, read_after, arrived))
        })
        .unwrap();
    let left = left.expect("armed when cancelled");
    assert!(left <= Duration::from_millis(40) && left > Duration::ZERO, "{left:?}");
    assert!(read_before.is_some_and(|read| read <= Duration::from_millis(40)));
    assert_eq!((again, read_after), (None, None));
    assert!(!arrived, "a cancelled timer's message never arrives");
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "its message was dropped at the cancel");
}

#[test]
fn a_timer_that_fired_cannot_be_cancelled_or_read() {
    let runtime = common::runtime(1);
    let (cancelled, read) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let timer = cx.send_after(Duration::from_millis(1), me, Tick(2));
            cx.receive::<Tick>()?;
            Ok::<_, Reason>((cx.cancel_timer(timer), cx.read_timer(timer)))
        })
        .unwrap();
    assert_eq!((cancelled, read), (None, None));
}

#[test]
fn a_timer_to_a_process_that_is_gone_is_dropped_with_its_destructor() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let runtime = common::runtime(2);
    let counter = Arc::clone(&dropped);
    runtime
        .block_on(move |cx| {
            let gone = cx.spawn(|_| Ok(()))?;
            while cx.is_alive(gone) {
                cx.yield_now()?;
            }
            cx.send_after(Duration::from_millis(5), gone, Counted(counter));
            cx.sleep(Duration::from_millis(50))?;
            Ok::<_, Reason>(())
        })
        .unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

/// ERTS cancels a timer aimed at a pid when that process ends: reading or
/// cancelling it afterwards finds nothing, and its message (with its
/// destructor) is dropped then, not an hour later.
#[test]
fn a_timer_is_cancelled_by_the_end_of_the_process_it_was_aimed_at() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let runtime = common::runtime(2);
    let counter = Arc::clone(&dropped);
    let hour = Duration::from_secs(3600);
    let (read, cancelled, to_the_gone) = runtime
        .block_on(move |cx| {
            let target = cx.spawn(|cx| cx.receive::<()>())?;
            let read_it = cx.send_after(hour, target, Counted(Arc::clone(&counter)));
            let cancel_it = cx.send_after(hour, target, Tick(1));
            assert!(cx.read_timer(read_it).is_some(), "armed while its target lives");
            let ended = cx.monitor(target);
            cx.send(target, ());
            cx.receive_if::<lariat::Down>(|down| down.monitor == ended)?;
            let gone = cx.send_after(hour, target, Tick(2));
            Ok::<_, Reason>((cx.read_timer(read_it), cx.cancel_timer(cancel_it), cx.read_timer(gone)))
        })
        .unwrap();
    assert_eq!((read, cancelled, to_the_gone), (None, None, None));
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "the message went when the timer was read");
    assert_eq!(runtime.pending_timers(), 0, "read or cancelled, each entry is freed");
}

/// Timers of 0–2 ms cancelled at once, on two workers: every cancel that
/// returns `Some` means that message never arrives; every other one arrives.
#[test]
fn cancel_racing_the_fire_either_stops_the_message_or_says_it_fired() {
    const TIMERS: u32 = 20_000;
    let runtime = common::runtime(2);
    let (cancelled, arrived) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let mut cancelled = std::collections::HashSet::new();
            for n in 0..TIMERS {
                let timer = cx.send_after(Duration::from_micros(u64::from(n % 3) * 700), me, Tick(n));
                if n % 2 == 0 && cx.cancel_timer(timer).is_some() {
                    cancelled.insert(n);
                }
            }
            let mut arrived = std::collections::HashSet::new();
            while let Some(Tick(n)) = cx.receive_timeout::<Tick>(Duration::from_millis(200))? {
                arrived.insert(n);
            }
            Ok::<_, Reason>((cancelled, arrived))
        })
        .unwrap();
    assert!(cancelled.is_disjoint(&arrived), "a message arrived after its cancel said it would not");
    assert_eq!(cancelled.len() + arrived.len(), TIMERS as usize, "every other message arrived");
}

#[test]
fn an_interval_repeats_until_cancelled() {
    let runtime = common::runtime(2);
    let (ticks, after_cancel) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let timer = cx.send_interval(Duration::from_millis(5), me, Tick(7));
            for _ in 0..5 {
                assert_eq!(cx.receive::<Tick>()?, Tick(7));
            }
            assert!(cx.read_timer(timer).is_some());
            assert!(cx.cancel_timer(timer).is_some());
            // One may have fired as it was cancelled: take what is there, then none come.
            while cx.receive_timeout::<Tick>(Duration::ZERO)?.is_some() {}
            let after_cancel = cx.receive_timeout::<Tick>(Duration::from_millis(50))?;
            Ok::<_, Reason>((5, after_cancel))
        })
        .unwrap();
    assert_eq!((ticks, after_cancel), (5, None));
}

/// An interval armed by a process ends with it, also when it sends elsewhere.
/// As OTP's `timer:send_interval/3` (its timer server monitors the
/// destination): an interval outlives the process that armed it, and ends
/// with the process it sends to.
#[test]
fn an_interval_outlives_its_arming_process_and_ends_with_its_destination() {
    let runtime = common::runtime(2);
    let (ticks_after_arming_process_died, read_after_destination_died) = runtime
        .block_on(|cx| {
            let me = cx.pid();
            let (arming, armed) = cx.spawn_monitor(move |cx| {
                let counter = cx.spawn(|cx| {
                    while cx.receive::<Tick>().is_ok() {}
                    Ok(())
                })?;
                let to_me = cx.send_interval(Duration::from_millis(5), me, Tick(9));
                let to_counter = cx.send_interval(Duration::from_millis(5), counter, Tick(8));
                cx.send(me, (to_me, to_counter, counter));
                Ok(())
            })?;
            let (to_me, to_counter, counter) = cx.receive::<(lariat::TimerRef, lariat::TimerRef, Pid)>()?;
            cx.receive_if::<lariat::Down>(|down| down.monitor == armed)?;
            assert!(!cx.is_alive(arming));
            // The process that armed them is gone; the ticks go on.
            let mut ticks = 0;
            while ticks < 3 && cx.receive_timeout::<Tick>(Duration::from_secs(5))?.is_some() {
                ticks += 1;
            }
            assert!(cx.cancel_timer(to_me).is_some(), "still armed while its destination lives");
            cx.exit(counter, Reason::Kill)?;
            while cx.is_alive(counter) {
                cx.yield_now()?;
            }
            Ok::<_, Reason>((ticks, cx.read_timer(to_counter)))
        })
        .unwrap();
    assert_eq!(ticks_after_arming_process_died, 3);
    assert_eq!(read_after_destination_died, None);
    assert_eq!(runtime.pending_timers(), 0);
}

/// 200,000 timers armed at once with delays of 1–100 ms all fire, each once,
/// and leave nothing armed.
#[test]
fn many_armed_timers_all_fire_once() {
    const TIMERS: u32 = 200_000;
    let runtime = common::runtime(2);
    let seen = runtime
        .block_on(|cx| {
            let me: Pid = cx.pid();
            for n in 0..TIMERS {
                cx.send_after(Duration::from_millis(u64::from(n % 100) + 1), me, Tick(n));
            }
            let mut seen = vec![false; TIMERS as usize];
            for _ in 0..TIMERS {
                let Tick(n) = cx.receive::<Tick>()?;
                assert!(!seen[n as usize], "tick {n} twice");
                seen[n as usize] = true;
            }
            assert_eq!(cx.receive_timeout::<Tick>(Duration::from_millis(20))?, None);
            Ok::<_, Reason>(seen)
        })
        .unwrap();
    assert!(seen.iter().all(|&s| s));
    assert_eq!(runtime.pending_timers(), 0, "every fired timer's entry is freed");
}
