//! A pool of worker processes under a supervisor, fed jobs by a dispatcher:
//! a worker asks for a job when it is free (so no worker gets ahead of the
//! others), a job that crashes its worker is retried once elsewhere, and the
//! supervisor replaces the crashed worker.
//!
//! Run it: `cargo run --release -p lariat --example worker_pool`.

use std::collections::VecDeque;
use std::time::Duration;

use lariat::supervisor::{self, ChildSpec, Strategy, SupervisorSpec};
use lariat::{Cx, Down, Pid, Reason, Ref, Runtime};

/// The pool's workers, by child id.
const WORKERS: [&str; 4] = ["w0", "w1", "w2", "w3"];

/// A job: a number to square. Job 13 crashes its worker the first time.
#[derive(Clone, Copy)]
struct Job {
    n: u64,
    tries: u32,
}

/// A worker is free and asks for a job.
struct Ready(Pid);
/// The dispatcher's answer to `Ready`.
struct Work(Job);
/// A result, sent to the dispatcher.
struct Done {
    n: u64,
    square: u64,
}

fn worker(cx: &mut Cx, dispatcher: Pid) -> Result<(), Reason> {
    loop {
        cx.send(dispatcher, Ready(cx.pid()));
        let Work(job) = cx.receive()?;
        if job.n == 13 && job.tries == 0 {
            return Err(Reason::error("unlucky job"));
        }
        cx.send(dispatcher, Done { n: job.n, square: job.n * job.n });
    }
}

/// Hands out `jobs` to whichever worker asks, watching each worker that holds
/// a job with a monitor: if it dies, its job goes back in the queue.
fn dispatcher(cx: &mut Cx, jobs: u64) -> Result<Report, Reason> {
    let mut queue: VecDeque<Job> = (1..=jobs).map(|n| Job { n, tries: 0 }).collect();
    let mut waiting: Vec<Pid> = Vec::new();
    let mut held: Vec<(Ref, Pid, Job)> = Vec::new();
    let mut results = Vec::new();
    let mut retried = Vec::new();
    while results.len() < jobs as usize {
        while !waiting.is_empty() && !queue.is_empty() {
            let (free, job) = (waiting.remove(0), queue.pop_front().expect("not empty"));
            held.push((cx.monitor(free), free, job));
            cx.send(free, Work(job));
        }
        let message = cx.receive_any()?;
        if let Some(Ready(worker)) = message.downcast_ref::<Ready>() {
            // A worker that asks again has finished its last job.
            if let Some(index) = held.iter().position(|(_, holder, _)| holder == worker) {
                cx.demonitor(held.swap_remove(index).0);
            }
            waiting.push(*worker);
        } else if let Some(done) = message.downcast_ref::<Done>() {
            results.push((done.n, done.square));
        } else if let Some(down) = message.downcast_ref::<Down>()
            && let Some(index) = held.iter().position(|(monitor, _, _)| *monitor == down.monitor)
        {
            let (_, _, job) = held.swap_remove(index);
            retried.push((job.n, down.reason.to_string()));
            queue.push_back(Job { tries: job.tries + 1, ..job });
        }
    }
    results.sort();
    Ok(Report { results, retried })
}

/// What the dispatcher did: every result, and which jobs it gave out again
/// because their worker died (with the worker's reason).
struct Report {
    results: Vec<(u64, u64)>,
    retried: Vec<(u64, String)>,
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::new()?;
    let report = runtime.block_on(|cx| {
        let me = cx.pid();
        let dispatcher = cx.spawn(move |cx| {
            let report = dispatcher(cx, 20)?;
            cx.send(me, report);
            Ok(())
        })?;
        let mut spec = SupervisorSpec::new(Strategy::OneForOne).intensity(5, Duration::from_secs(1));
        for id in WORKERS {
            spec = spec.child(ChildSpec::worker(id, move || move |cx: &mut Cx| worker(cx, dispatcher)));
        }
        let pool = supervisor::start_link(cx, spec)?;
        let report = cx.receive::<Report>()?;
        pool.stop(cx, Duration::from_secs(5)).map_err(Reason::from)?;
        Ok::<_, Reason>(report)
    })?;
    for (n, reason) in &report.retried {
        println!("job {n} ended its worker ({reason}); the supervisor replaced the worker, the job ran again");
    }
    let squares: Vec<String> = report.results.iter().map(|(n, square)| format!("{n}²={square}")).collect();
    println!("{}", squares.join(" "));
    assert_eq!(report.results.len(), 20);
    assert!(report.results.iter().all(|&(n, square)| square == n * n));
    assert_eq!(report.retried, [(13, "unlucky job".to_owned())]);
    Ok(())
}
