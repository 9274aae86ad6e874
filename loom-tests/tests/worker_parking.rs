//! Worker parking: work pushed while a worker goes to sleep is always picked up.
#![cfg(loom)]

use lariat::loom_api::{Idle, Parker};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

struct Pool {
    idle: Idle,
    parker: Parker,
    /// One job's worth of queue, lock-free like crossbeam's: the push is an RMW
    /// with Release, the re-check a plain Acquire load. (Not the loom twin of the
    /// run queue: its mutex would order everything and hide what the fences do.
    /// And not a plain store: loom 0.7 lets an RMW miss a racing plain store.)
    work: AtomicBool,
}

/// Depends on: the SeqCst RMW of `transition_to_parked` and the SeqCst fence of
/// `worker_to_notify` (Dekker-style: the parking worker's re-check sees the work,
/// or the producer sees the parked worker).
///
/// Mutation `LARIAT_MUTATION=notify_without_fence` fails: loom reports
/// "deadlock; threads = [(Id(0), Blocked(..)), (Id(1), Blocked(..))]": the worker
/// parked with the job queued, the producer having seen it still searching.
#[test]
fn work_pushed_while_a_worker_goes_to_sleep_is_picked_up() {
    loom::model(|| {
        let pool = Arc::new(Pool { idle: Idle::new(1), parker: Parker::default(), work: AtomicBool::new(false) });
        let worker_pool = Arc::clone(&pool);
        let worker = thread::spawn(move || {
            let pool = worker_pool;
            let mut searching = pool.idle.transition_to_searching();
            loop {
                if pool.work.swap(false, Ordering::Acquire) {
                    if searching {
                        pool.idle.transition_from_searching();
                    }
                    return;
                }
                let last = pool.idle.transition_to_parked(0, searching);
                if last
                    && pool.work.load(Ordering::Acquire)
                    && let Some(w) = pool.idle.worker_to_notify()
                {
                    assert_eq!(w, 0);
                    pool.parker.unpark();
                }
                pool.parker.park(None);
                searching = pool.idle.transition_from_parked(0);
            }
        });
        pool.work.swap(true, Ordering::Release);
        if let Some(w) = pool.idle.worker_to_notify() {
            assert_eq!(w, 0);
            pool.parker.unpark();
        }
        worker.join().unwrap();
    });
}
