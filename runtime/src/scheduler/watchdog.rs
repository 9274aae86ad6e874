//! The stuck-process report: a process that holds a worker far beyond its time
//! slice (a long loop with no runtime call; Rust cannot be preempted) is
//! reported through `tracing`, once per slice, naming the pid and how long.
//!
//! Each worker publishes, per resume, a *beat* (a counter with an "in a process"
//! bit) and the running pid: two relaxed stores, no clock read on the hot path.
//! A watchdog thread samples the beats every `PERIOD`; a worker whose beat is
//! unchanged and in a process for `REPORT_AFTER` is holding it.

use std::time::Duration;

use crate::pid::Pid;
use crate::sync::{AtomicU64, Ordering};

/// How often the watchdog looks (it sleeps otherwise: four wake-ups a second).
pub(crate) const PERIOD: Duration = Duration::from_millis(250);
/// How many unchanged looks make a report (about one second).
const REPORT_AFTER: u32 = 4;

/// One worker's heartbeat.
#[derive(Default)]
pub(crate) struct Beat {
    /// Resumes so far, shifted left by one; the low bit is set while in a process.
    beat: AtomicU64,
    pid: AtomicU64,
}

impl Beat {
    /// The worker is about to resume `pid`.
    #[inline]
    pub(crate) fn enter(&self, pid: Pid) {
        // Relaxed: only the watchdog reads these, as a sample; nothing is published.
        self.pid.store(pid.to_bits(), Ordering::Relaxed);
        let beat = self.beat.load(Ordering::Relaxed);
        self.beat.store((beat | 1).wrapping_add(2), Ordering::Relaxed);
    }

    /// The worker is back on its own stack.
    #[inline]
    pub(crate) fn leave(&self) {
        // Relaxed: see `enter`; only this worker writes its beat.
        let beat = self.beat.load(Ordering::Relaxed);
        self.beat.store(beat & !1, Ordering::Relaxed);
    }
}

/// What the watchdog remembers of one worker between looks.
#[derive(Default, Clone, Copy)]
pub(crate) struct Seen {
    beat: u64,
    unchanged: u32,
}

/// Looks at every worker once; reports the ones stuck in one slice.
pub(crate) fn look(beats: &[Beat], seen: &mut [Seen], report: &mut impl FnMut(usize, Pid, Duration)) {
    for (index, (beat, seen)) in beats.iter().zip(seen.iter_mut()).enumerate() {
        // Relaxed: a sample; see `Beat::enter`.
        let now = beat.beat.load(Ordering::Relaxed);
        if now & 1 == 1 && now == seen.beat {
            seen.unchanged += 1;
            if seen.unchanged == REPORT_AFTER {
                let pid = Pid::from_bits(beat.pid.load(Ordering::Relaxed));
                report(index, pid, PERIOD * REPORT_AFTER);
            }
        } else {
            *seen = Seen { beat: now, unchanged: 0 };
        }
    }
}

/// The default report.
pub(crate) fn report_stuck(worker: usize, pid: Pid, held: Duration) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "lariat::stuck",
        %pid,
        worker,
        held_ms = held.as_millis() as u64,
        "a process has held its worker for over {held:?} without a runtime call; \
         call cx.yield_now() in long loops so other processes can run"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (worker, pid, held);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_worker_in_one_slice_for_long_is_reported_once() {
        let beats = [Beat::default(), Beat::default()];
        let mut seen = [Seen::default(); 2];
        let pid = Pid::new(0, 9, 1);
        beats[0].enter(pid);
        let mut reports = Vec::new();
        for _ in 0..10 {
            look(&beats, &mut seen, &mut |worker, pid, _| reports.push((worker, pid)));
        }
        assert_eq!(reports, vec![(0, pid)]);
    }

    #[test]
    fn busy_but_switching_or_idle_workers_are_not_reported() {
        let beats = [Beat::default(), Beat::default()];
        let mut seen = [Seen::default(); 2];
        let mut reports = 0;
        for round in 0..10 {
            beats[0].enter(Pid::new(0, round, 0));
            beats[0].leave();
            beats[0].enter(Pid::new(0, round, 1));
            look(&beats, &mut seen, &mut |_, _, _| reports += 1);
        }
        assert_eq!(reports, 0);
    }
}
