//! The stuck-process report: a process that holds a worker far beyond its time
//! slice is reported through `tracing`, once per slice, naming the pid, how
//! long, how many processes wait behind it on that worker, and what it does:
//! blocked in the kernel (a blocking call: the fix is `Cx::blocking`) or
//! computing (a long loop with no runtime call; Rust cannot be preempted: the
//! fix is `Cx::yield_now`), read from the worker thread's state in `/proc`.
//!
//! Each worker publishes, per resume, a *beat* (a counter with an "in a process"
//! bit), the running pid and its queue length: relaxed stores, no clock read on
//! the hot path. A watchdog thread samples the beats every `PERIOD`; a worker
//! whose beat is unchanged and in a process for `REPORT_AFTER` is holding it.
//!
//! The same thread rescues spawned processes: a worker whose beat is unchanged
//! between two looks `RESCUE_PERIOD` apart is held up by one process, and the
//! child that process spawned last waits in that worker's spawn slot; the
//! watchdog moves it to where any worker starts it (`spawn_slot`). While every
//! worker is parked nothing can be held up, and the watchdog sleeps a whole
//! `PERIOD`; a worker that unparks wakes it ([`Alarm`]).

use std::time::Duration;

use super::idle::Idle;
use crate::pid::Pid;
use crate::sync::{AtomicBool, AtomicU64, Condvar, Mutex, MutexGuard, Ordering, fence, lock, mutated};

/// How often the watchdog reports and trims (four wake-ups a second when idle).
pub(crate) const PERIOD: Duration = Duration::from_millis(250);
/// How often it looks for spawned processes held up behind their spawner,
/// while any worker is unparked: a child waits at most about twice this.
pub(crate) const RESCUE_PERIOD: Duration = Duration::from_millis(10);
/// How many unchanged looks make a report (about one second).
const REPORT_AFTER: u32 = 4;

/// One worker's heartbeat.
#[derive(Default)]
pub(crate) struct Beat {
    /// Resumes so far, shifted left by one; the low bit is set while in a process.
    beat: AtomicU64,
    pid: AtomicU64,
    /// Processes queued on the worker (started ones) when it resumed this one.
    queued: AtomicU64,
    /// The worker's OS thread id (0 until it has started).
    thread: AtomicU64,
}

impl Beat {
    /// Called once by the worker, on its own thread, as it starts.
    pub(crate) fn set_thread(&self) {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() };
        // Relaxed: a sample for the watchdog, as the other fields.
        self.thread.store(tid as u64, Ordering::Relaxed);
    }

    /// The worker is about to resume `pid`, with `queued` processes waiting behind it.
    #[inline]
    pub(crate) fn enter(&self, pid: Pid, queued: usize) {
        // Relaxed: only the watchdog reads these, as a sample; nothing is published.
        self.pid.store(pid.to_bits(), Ordering::Relaxed);
        self.queued.store(queued as u64, Ordering::Relaxed);
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

/// A worker holding one process for long, as the watchdog saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stuck {
    pub(crate) worker: usize,
    pub(crate) pid: Pid,
    pub(crate) held: Duration,
    /// Processes queued behind it on that worker.
    pub(crate) queued: u64,
    /// Its thread is asleep in the kernel (`Some(false)`: running; `None`: unknown).
    pub(crate) blocked_in_kernel: Option<bool>,
}

/// Looks at every worker once; reports the ones stuck in one slice.
pub(crate) fn look(beats: &[Beat], seen: &mut [Seen], report: &mut impl FnMut(Stuck)) {
    for (index, (beat, seen)) in beats.iter().zip(seen.iter_mut()).enumerate() {
        // Relaxed: a sample; see `Beat::enter`.
        let now = beat.beat.load(Ordering::Relaxed);
        if now & 1 == 1 && now == seen.beat {
            seen.unchanged += 1;
            if seen.unchanged == REPORT_AFTER {
                let thread = beat.thread.load(Ordering::Relaxed);
                report(Stuck {
                    worker: index,
                    pid: Pid::from_bits(beat.pid.load(Ordering::Relaxed)),
                    held: PERIOD * REPORT_AFTER,
                    queued: beat.queued.load(Ordering::Relaxed),
                    blocked_in_kernel: (thread != 0).then(|| thread_sleeps(thread)).flatten(),
                });
            }
        } else {
            *seen = Seen { beat: now, unchanged: 0 };
        }
    }
}

/// Looks at every worker once for the rescue: `rescue(worker)` for each one
/// whose beat is unchanged and in a process since the last look (`last`).
pub(crate) fn look_for_held_up(beats: &[Beat], last: &mut [u64], mut rescue: impl FnMut(usize)) {
    for (index, (beat, last)) in beats.iter().zip(last.iter_mut()).enumerate() {
        // Relaxed: a sample; see `Beat::enter`.
        let now = beat.beat.load(Ordering::Relaxed);
        if now & 1 == 1 && now == *last {
            rescue(index);
        }
        *last = now;
    }
}

/// Where the watchdog thread sleeps between looks, and how it is woken: at
/// shutdown, and by a worker that unparks while the watchdog rests.
///
/// No missed unpark: the watchdog publishes that it rests (SeqCst), then,
/// behind a SeqCst fence, reads whether every worker is parked (in `Idle`); a
/// worker counts itself unparked (a SeqCst RMW in `Idle`), then, behind a
/// SeqCst fence, reads whether the watchdog rests. With the two fences one of
/// the two sees the other (loom model `watchdog_rest`), and the
/// watchdog holds the mutex from its store until it waits, so a wake-up
/// taken under that mutex cannot fall between its look and its wait.
#[derive(Default)]
pub struct Alarm {
    sleep: Mutex<()>,
    wakeup: Condvar,
    /// Set while the watchdog sleeps a whole `PERIOD` (every worker parked).
    resting: AtomicBool,
}

impl Alarm {
    /// The watchdog's own hold on the alarm, kept while it looks.
    pub fn hold(&self) -> MutexGuard<'_, ()> {
        lock(&self.sleep)
    }

    /// The watchdog sleeps `RESCUE_PERIOD`, or, while every worker is parked,
    /// up to `longest` (then a worker that unparks ends the sleep).
    pub fn sleep<'a>(&'a self, held: MutexGuard<'a, ()>, idle: &Idle, longest: Duration) -> MutexGuard<'a, ()> {
        // SeqCst store and fence: see the type's docs.
        self.resting.store(true, Ordering::SeqCst);
        if !mutated("alarm_without_fence") {
            fence(Ordering::SeqCst);
        }
        let rests = idle.all_parked();
        if !rests {
            // Not resting after all: workers that unpark need not wake it.
            // Relaxed: a worker that still sees it set only wakes it once more.
            self.resting.store(false, Ordering::Relaxed);
            if cfg!(loom) {
                // A model stands for the short sleep's timeout by not sleeping.
                return held;
            }
        }
        let held = self.wait(held, if rests { longest } else { RESCUE_PERIOD.min(longest) });
        // Relaxed: a worker that still sees it set only wakes the watchdog once more.
        self.resting.store(false, Ordering::Relaxed);
        held
    }

    #[cfg(not(loom))]
    fn wait<'a>(&'a self, held: MutexGuard<'a, ()>, timeout: Duration) -> MutexGuard<'a, ()> {
        self.wakeup.wait_timeout(held, timeout).unwrap_or_else(std::sync::PoisonError::into_inner).0
    }

    #[cfg(loom)]
    fn wait<'a>(&'a self, held: MutexGuard<'a, ()>, _timeout: Duration) -> MutexGuard<'a, ()> {
        self.wakeup.wait(held).unwrap()
    }

    /// A worker has just counted itself unparked: wakes the watchdog if it rests.
    pub fn worker_unparked(&self) {
        // SeqCst fence and load: see the type's docs.
        if !mutated("alarm_without_fence") {
            fence(Ordering::SeqCst);
        }
        if self.resting.load(Ordering::SeqCst) {
            self.ring();
        }
    }

    /// Wakes the watchdog now (shutdown, or a worker that unparked).
    pub fn ring(&self) {
        drop(lock(&self.sleep));
        self.wakeup.notify_all();
    }
}

/// Whether OS thread `tid` of this process is asleep in the kernel (state
/// `S` or `D` in `/proc`), or running; `None` if that cannot be read.
fn thread_sleeps(tid: u64) -> Option<bool> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold any byte.
    let state = stat[stat.rfind(')')? + 1..].split_whitespace().next()?;
    Some(matches!(state, "S" | "D"))
}

/// What a report says: what the process is doing and the call that fixes it.
pub(crate) fn advice(stuck: &Stuck) -> String {
    let Stuck { pid, held, queued, blocked_in_kernel, .. } = stuck;
    let what = match blocked_in_kernel {
        Some(true) => "blocked in a system call (I/O, a lock, a sleep): run such work with cx.blocking(|| ...)",
        Some(false) => "computing without a runtime call: call cx.yield_now() in long loops",
        None => "without a runtime call: run blocking work with cx.blocking(|| ...), call cx.yield_now() in long loops",
    };
    format!(
        "process {pid} has held its worker for over {held:?}, {what}; {queued} processes wait behind it on that worker"
    )
}

/// The default report.
pub(crate) fn report_stuck(stuck: Stuck) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "lariat::stuck",
        pid = %stuck.pid,
        worker = stuck.worker,
        held_ms = stuck.held.as_millis() as u64,
        queued = stuck.queued,
        "{}",
        advice(&stuck)
    );
    #[cfg(not(feature = "tracing"))]
    let _ = stuck;
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_worker_in_one_slice_for_long_is_reported_once() {
        let beats = [Beat::default(), Beat::default()];
        let mut seen = [Seen::default(); 2];
        let pid = Pid::new(0, 9, 1);
        beats[0].enter(pid, 7);
        let mut reports = Vec::new();
        for _ in 0..10 {
            look(&beats, &mut seen, &mut |stuck| reports.push((stuck.worker, stuck.pid, stuck.queued)));
        }
        assert_eq!(reports, vec![(0, pid, 7)]);
    }

    #[test]
    fn a_sleeping_thread_is_told_from_a_running_one_and_the_advice_fits() {
        let (tx, rx) = std::sync::mpsc::channel();
        let sleeper = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            tx.send(unsafe { libc::gettid() } as u64).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        });
        let tid = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(thread_sleeps(tid), Some(true));
        // SAFETY: as above.
        let me = unsafe { libc::gettid() } as u64;
        assert_eq!(thread_sleeps(me), Some(false), "this thread is running");
        sleeper.join().unwrap();
        let stuck = |blocked_in_kernel| Stuck {
            worker: 0,
            pid: Pid::new(0, 9, 1),
            held: Duration::from_secs(1),
            queued: 12,
            blocked_in_kernel,
        };
        assert!(advice(&stuck(Some(true))).contains("cx.blocking"));
        assert!(!advice(&stuck(Some(true))).contains("yield_now"));
        assert!(advice(&stuck(Some(false))).contains("cx.yield_now()"));
        assert!(advice(&stuck(Some(false))).contains("12 processes wait behind it"));
    }

    #[test]
    fn only_a_worker_in_the_same_slice_at_two_looks_is_held_up() {
        let beats = [Beat::default(), Beat::default(), Beat::default()];
        let mut last = [0; 3];
        let mut held_up = Vec::new();
        beats[0].enter(Pid::new(0, 1, 0), 0);
        beats[1].enter(Pid::new(0, 2, 0), 0);
        look_for_held_up(&beats, &mut last, |worker| held_up.push(worker));
        assert!(held_up.is_empty(), "one look says nothing yet");
        beats[1].leave();
        beats[1].enter(Pid::new(0, 3, 0), 0); // worker 1 moved on; worker 2 is idle
        look_for_held_up(&beats, &mut last, |worker| held_up.push(worker));
        assert_eq!(held_up, vec![0]);
    }

    #[test]
    fn busy_but_switching_or_idle_workers_are_not_reported() {
        let beats = [Beat::default(), Beat::default()];
        let mut seen = [Seen::default(); 2];
        let mut reports = 0;
        for round in 0..10 {
            beats[0].enter(Pid::new(0, round, 0), 0);
            beats[0].leave();
            beats[0].enter(Pid::new(0, round, 1), 0);
            look(&beats, &mut seen, &mut |_| reports += 1);
        }
        assert_eq!(reports, 0);
    }
}
