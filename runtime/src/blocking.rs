//! The blocking pool: threads that run the closures processes hand to
//! `Cx::blocking`, so work that blocks its thread (a file, a database client,
//! a `std` lock, a sleep) never holds up a worker and the processes that live
//! on it.
//!
//! Threads start on demand, up to a bound set in the `Builder`; a thread that
//! has had no job for [`KEEP_ALIVE`] ends. One thread is started at a time,
//! and each new thread starts the next one if the queue still needs it: a
//! burst of calls costs the worker that submits them one thread start at most
//! (starting a thread takes tens of microseconds, which the other processes
//! of that worker would wait for). Jobs beyond the bound wait in a
//! queue, in the order they came. When the pool is closed (the runtime is
//! dropped), its threads finish every job already queued, then end.
//!
//! Invariants: every job submitted before `close` runs exactly once; a job is
//! never dropped unrun (its submitter waits for it to finish).

use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Duration;

use crate::sync::{Condvar, Mutex, lock};

/// How long a thread of the pool waits for a job before it ends.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The default bound on the pool's threads.
pub const DEFAULT_BLOCKING_THREADS: usize = 512;

thread_local! {
    /// The runtime whose pool this thread belongs to (`u32::MAX`: none).
    static POOL_OF: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// Whether this thread is a blocking-pool thread of runtime `runtime` (a job
/// that drops its runtime must not wait there for its own end).
pub(crate) fn is_pool_thread_of(runtime: u32) -> bool {
    POOL_OF.with(|pool| pool.get() == runtime)
}

/// A closure for the pool; made only through [`Job::new`].
pub(crate) struct Job(Box<dyn FnOnce() + Send + 'static>);

impl Job {
    /// A job that runs `run`, which may borrow from its submitter.
    ///
    /// # Safety
    /// Everything `run` borrows stays valid until `run` has returned (and its
    /// captures are dropped): the submitter must wait for a signal that `run`
    /// itself gives as its last act, on every path out of its frame, unwinding
    /// included.
    pub(crate) unsafe fn new<'a>(run: Box<dyn FnOnce() + Send + 'a>) -> Job {
        // SAFETY: only the lifetime changes (the same layout); the caller keeps
        // what `run` borrows alive for as long as it can run (see above).
        Job(unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Box<dyn FnOnce() + Send + 'static>>(run) })
    }
}

/// The pool. Cheap to share: threads hold the part they need.
pub(crate) struct BlockingPool {
    shared: std::sync::Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    job_ready: Condvar,
    max_threads: usize,
    /// The runtime's id, and the threads' name.
    runtime: u32,
    name: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// Threads running or being started.
    threads: usize,
    idle: usize,
    /// A thread has been started and has not yet looked at the queue.
    starting: bool,
    closed: bool,
}

/// Why the pool did not take a job.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The runtime is shutting down.
    Closed,
    /// No thread could be started and none is running to take it.
    NoThread(std::io::Error),
}

impl BlockingPool {
    /// A pool of at most `max_threads` threads for runtime `runtime`, named `lariat-{runtime}-b`.
    pub(crate) fn new(max_threads: usize, runtime: u32) -> BlockingPool {
        let name = format!("lariat-{runtime}");
        let shared =
            Shared { state: Mutex::new(State::default()), job_ready: Condvar::new(), max_threads, runtime, name };
        BlockingPool { shared: std::sync::Arc::new(shared) }
    }

    /// Queues `job`; starts a thread for it if none is idle and the bound allows.
    pub(crate) fn submit(&self, job: Job) -> Result<(), (Refused, Job)> {
        let mut state = lock(&self.shared.state);
        if state.closed {
            return Err((Refused::Closed, job));
        }
        state.queue.push_back(job);
        if state.idle >= state.queue.len() {
            self.shared.job_ready.notify_one();
            return Ok(());
        }
        if state.starting || state.threads >= self.shared.max_threads {
            // The thread being started starts the next one if needed; at the
            // bound, a busy thread takes it when it is done.
            return Ok(());
        }
        match Shared::start_thread(&self.shared, &mut state) {
            Ok(()) => Ok(()),
            Err(error) if state.threads == 0 => {
                let job = state.queue.pop_back().expect("pushed above");
                Err((Refused::NoThread(error), job))
            }
            // Threads are running: one of them takes it.
            Err(_) => Ok(()),
        }
    }

    /// Refuses new jobs; the threads finish the queued ones and end.
    pub(crate) fn close(&self) {
        lock(&self.shared.state).closed = true;
        self.shared.job_ready.notify_all();
    }

    /// Threads running now (for tests and stats).
    pub(crate) fn threads(&self) -> usize {
        lock(&self.shared.state).threads
    }
}

impl Shared {
    /// Starts a pool thread (counted from now on, and marked as starting),
    /// with the pool's lock held: the thread waits for it before it counts
    /// itself as started.
    fn start_thread(shared: &std::sync::Arc<Shared>, state: &mut State) -> std::io::Result<()> {
        Shared::spawn(shared)?;
        state.threads += 1;
        state.starting = true;
        Ok(())
    }

    fn spawn(shared: &std::sync::Arc<Shared>) -> std::io::Result<()> {
        let thread = std::sync::Arc::clone(shared);
        std::thread::Builder::new().name(format!("{}-b", shared.name)).spawn(move || thread.work()).map(drop)
    }

    /// A pool thread's body: starts the next thread if the queue needs one,
    /// then runs jobs until none comes for `KEEP_ALIVE` or the pool closes.
    fn work(self: std::sync::Arc<Self>) {
        POOL_OF.with(|pool| pool.set(self.runtime));
        let mut state = lock(&self.state);
        state.starting = false;
        // This thread takes one job and each idle thread one. The next thread
        // is counted now and started without the lock (workers submitting
        // meanwhile do not wait for a thread start).
        let next = state.queue.len() > state.idle + 1 && state.threads < self.max_threads && !state.closed;
        if next {
            state.threads += 1;
            state.starting = true;
        }
        drop(state);
        if next && Shared::spawn(&self).is_err() {
            // This thread takes the queued jobs in turn.
            let mut state = lock(&self.state);
            state.threads -= 1;
            state.starting = false;
        }
        let mut state = lock(&self.state);
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                // The job contains its own panics (see `Cx::blocking`); a
                // panic here would be the runtime's bug, and must not take the
                // thread's count with it.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.0));
                state = lock(&self.state);
                continue;
            }
            if state.closed {
                break;
            }
            state.idle += 1;
            let (next, timed_out) = wait_for_job(&self.job_ready, state);
            state = next;
            state.idle -= 1;
            if timed_out && state.queue.is_empty() {
                break;
            }
        }
        state.threads -= 1;
    }
}

fn wait_for_job<'a>(
    job_ready: &Condvar,
    state: crate::sync::MutexGuard<'a, State>,
) -> (crate::sync::MutexGuard<'a, State>, bool) {
    #[cfg(not(loom))]
    {
        let (state, result) =
            job_ready.wait_timeout(state, KEEP_ALIVE).unwrap_or_else(std::sync::PoisonError::into_inner);
        (state, result.timed_out())
    }
    #[cfg(loom)]
    {
        (job_ready.wait(state).unwrap(), false)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sync::{AtomicUsize, Ordering};

    fn job(f: impl FnOnce() + Send + 'static) -> Job {
        // SAFETY: a 'static closure borrows nothing.
        unsafe { Job::new(Box::new(f)) }
    }

    #[test]
    fn every_job_runs_once_and_threads_stay_within_the_bound() {
        let pool = BlockingPool::new(3, 9);
        let ran = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..20 {
            let (ran, tx) = (Arc::clone(&ran), tx.clone());
            pool.submit(job(move || {
                std::thread::sleep(Duration::from_millis(5));
                ran.fetch_add(1, Ordering::SeqCst);
                tx.send(()).unwrap();
            }))
            .map_err(|(refused, _)| refused)
            .unwrap();
            assert!(pool.threads() <= 3);
        }
        for _ in 0..20 {
            rx.recv_timeout(Duration::from_secs(10)).expect("every job runs");
        }
        assert_eq!(ran.load(Ordering::SeqCst), 20);
    }

    #[test]
    fn a_closed_pool_refuses_new_jobs_and_finishes_the_queued_ones() {
        let pool = BlockingPool::new(1, 9);
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..3 {
            let tx = tx.clone();
            pool.submit(job(move || tx.send(()).unwrap())).map_err(|(refused, _)| refused).unwrap();
        }
        pool.close();
        assert!(matches!(pool.submit(job(|| {})), Err((Refused::Closed, _))));
        for _ in 0..3 {
            rx.recv_timeout(Duration::from_secs(10)).expect("queued jobs still run");
        }
    }
}
