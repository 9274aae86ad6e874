//! The watchdog going to rest (every worker parked) while a worker unparks.
#![cfg(loom)]

use std::time::Duration;

use lariat::loom_api::{Alarm, Idle};
use loom::sync::Arc;
use loom::thread;

/// Depends on: the SeqCst fence of `Alarm::sleep` between its store of the
/// resting flag and its look at `Idle::all_parked`, against the SeqCst fence of
/// `Alarm::worker_unparked` between the RMW of `Idle::transition_from_parked`
/// and its look at the flag: one of the two sees the other, so a resting watchdog is
/// always woken (in the model a short sleep returns at once, a rest only when
/// rung).
///
/// Mutation `LARIAT_MUTATION=alarm_without_fence` fails: loom reports
/// a deadlock (the watchdog rests while the worker runs, never rung).
#[test]
fn a_worker_that_unparks_while_the_watchdog_rests_wakes_it() {
    loom::model(|| {
        let (idle, alarm) = (Arc::new(Idle::new(1)), Arc::new(Alarm::default()));
        assert!(!idle.transition_to_parked(0, false), "the only worker parks");
        let worker = {
            let (idle, alarm) = (Arc::clone(&idle), Arc::clone(&alarm));
            thread::spawn(move || {
                let _ = idle.transition_from_parked(0);
                alarm.worker_unparked();
            })
        };
        let held = alarm.hold();
        drop(alarm.sleep(held, &idle, Duration::from_secs(1)));
        worker.join().unwrap();
    });
}
