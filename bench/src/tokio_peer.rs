//! The tokio peer: the bench-spec workloads as a tokio user would write them —
//! tasks on the multi-thread runtime, unbounded mpsc channels as mailboxes.
//!
//! tokio has no links. The nearest idiom (bench-spec.md) is a
//! `CancellationToken` whose `DropGuard` the "linked" task holds: when that task
//! ends, the token is cancelled and every task waiting on it ends too. It is
//! one-way and carries no reason; trap_fanout uses a `JoinSet`, whose
//! `join_next` yields each task's result as it ends. Each function returns the
//! time of the same phase the lariat workload times.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::mpsc::unbounded_channel;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Waits until `count` reaches `n` (every task has been polled once and is now
/// waiting): the setup stays out of the timed part.
async fn settle(count: &AtomicU64, n: u64) {
    while count.load(Ordering::Acquire) < n {
        tokio::task::yield_now().await;
    }
}

/// A multi-thread runtime with `workers` worker threads.
pub fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).build().expect("a tokio runtime")
}

/// spawn_exit: `n` tasks each send the parent one message and end.
pub fn spawn_exit(runtime: &Runtime, n: u64) -> Duration {
    runtime.block_on(async move {
        let (tx, mut rx) = unbounded_channel::<()>();
        let start = Instant::now();
        for _ in 0..n {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tx.send(());
            });
        }
        for _ in 0..n {
            rx.recv().await.expect("a reply");
        }
        start.elapsed()
    })
}

/// ping_pong: two tasks exchange `rounds` round trips over two channels.
pub fn ping_pong(runtime: &Runtime, rounds: u64) -> Duration {
    runtime.block_on(async move {
        let (to_ponger, mut ponger_rx) = unbounded_channel::<u64>();
        let (to_pinger, mut pinger_rx) = unbounded_channel::<u64>();
        let ponger = tokio::spawn(async move {
            while let Some(ball) = ponger_rx.recv().await {
                if to_pinger.send(ball).is_err() {
                    break;
                }
            }
        });
        let pinger = tokio::spawn(async move {
            let start = Instant::now();
            for round in 0..rounds {
                to_ponger.send(round).expect("the ponger is alive");
                pinger_rx.recv().await.expect("a pong");
            }
            start.elapsed()
        });
        let elapsed = pinger.await.expect("the pinger");
        ponger.await.expect("the ponger");
        elapsed
    })
}

/// ping_pong with two OS threads and std channels.
pub fn ping_pong_threads(rounds: u64) -> Duration {
    let (to_ponger, ponger_rx) = std::sync::mpsc::channel::<u64>();
    let (to_pinger, pinger_rx) = std::sync::mpsc::channel::<u64>();
    let ponger = std::thread::spawn(move || {
        while let Ok(ball) = ponger_rx.recv() {
            if to_pinger.send(ball).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for round in 0..rounds {
        to_ponger.send(round).expect("the ponger is alive");
        pinger_rx.recv().expect("a pong");
    }
    let elapsed = start.elapsed();
    drop(to_ponger);
    ponger.join().expect("the ponger thread");
    elapsed
}

/// ring: `size` tasks in a ring pass a token `size * laps` hops.
pub fn ring(runtime: &Runtime, size: u64, laps: u64) -> Duration {
    runtime.block_on(async move {
        let (done_tx, mut done_rx) = unbounded_channel::<()>();
        let mut senders = Vec::with_capacity(size as usize);
        let mut receivers = Vec::with_capacity(size as usize);
        for _ in 0..size {
            let (tx, rx) = unbounded_channel::<u64>();
            senders.push(tx);
            receivers.push(rx);
        }
        for (index, mut rx) in receivers.into_iter().enumerate() {
            let next = senders[(index + 1) % size as usize].clone();
            let done = done_tx.clone();
            tokio::spawn(async move {
                while let Some(left) = rx.recv().await {
                    if left == 0 {
                        let _ = done.send(());
                        return;
                    }
                    if next.send(left - 1).is_err() {
                        return;
                    }
                }
            });
        }
        let start = Instant::now();
        senders[0].send(size * laps).expect("the ring is alive");
        done_rx.recv().await.expect("the token came back");
        let elapsed = start.elapsed();
        drop(senders);
        elapsed
    })
}

/// mpsc: `senders` tasks each send `per_sender` messages to one receiver.
pub fn mpsc(runtime: &Runtime, senders: u64, per_sender: u64) -> Duration {
    runtime.block_on(async move {
        let (tx, mut rx) = unbounded_channel::<u64>();
        let go = CancellationToken::new();
        let ready = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..senders {
            let (tx, go, ready) = (tx.clone(), go.clone(), Arc::clone(&ready));
            tasks.spawn(async move {
                ready.fetch_add(1, Ordering::Release);
                go.cancelled().await;
                for i in 0..per_sender {
                    let _ = tx.send(i);
                }
            });
        }
        drop(tx);
        settle(&ready, senders).await;
        let start = Instant::now();
        go.cancel();
        for _ in 0..senders * per_sender {
            rx.recv().await.expect("a message");
        }
        let elapsed = start.elapsed();
        while tasks.join_next().await.is_some() {}
        elapsed
    })
}

/// mpsc with OS threads and a std channel.
pub fn mpsc_threads(senders: u64, per_sender: u64) -> Duration {
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(senders as usize + 1));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let (tx, barrier) = (tx.clone(), std::sync::Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..per_sender {
                    let _ = tx.send(i);
                }
            })
        })
        .collect();
    drop(tx);
    barrier.wait();
    let start = Instant::now();
    for _ in 0..senders * per_sender {
        rx.recv().expect("a message");
    }
    let elapsed = start.elapsed();
    for thread in threads {
        thread.join().expect("a sender thread");
    }
    elapsed
}

/// link_fanout: P holds the drop guard of a token that `n` idle tasks wait on
/// (each also waits on its own mailbox); P ends. Timed from just before P ends
/// until every task has ended.
pub fn link_fanout(runtime: &Runtime, n: u64) -> Duration {
    runtime.block_on(async move {
        let token = CancellationToken::new();
        let ready = Arc::new(AtomicU64::new(0));
        let mut workers = JoinSet::new();
        let mut mailboxes = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let (tx, mut rx) = unbounded_channel::<()>();
            mailboxes.push(tx);
            let (linked, ready) = (token.clone(), Arc::clone(&ready));
            workers.spawn(async move {
                ready.fetch_add(1, Ordering::Release);
                tokio::select! {
                    _ = linked.cancelled() => {}
                    _ = rx.recv() => {}
                }
            });
        }
        settle(&ready, n).await;
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let p = tokio::spawn(async move {
            let _link = token.drop_guard();
            go_rx.await.expect("go");
            Instant::now()
        });
        go_tx.send(()).expect("P is alive");
        let exiting = p.await.expect("P");
        while workers.join_next().await.is_some() {}
        let elapsed = exiting.elapsed();
        drop(mailboxes);
        elapsed
    })
}

/// trap_fanout: a JoinSet of `n` tasks that each end at once with an error;
/// timed from before the first spawn until every error has been received.
pub fn trap_fanout(runtime: &Runtime, n: u64) -> Duration {
    runtime.block_on(async move {
        let start = Instant::now();
        let mut set = JoinSet::new();
        for _ in 0..n {
            set.spawn(async { Err::<(), &str>("boom") });
        }
        let mut errors = 0;
        while let Some(result) = set.join_next().await {
            errors += usize::from(result.expect("the task ran").is_err());
        }
        assert_eq!(errors as u64, n);
        start.elapsed()
    })
}

/// link_chain: `n` tasks, each ending when the token of the one before is
/// cancelled and then cancelling its own (a drop guard); timed from cancelling
/// the head until the tail has ended.
pub fn link_chain(runtime: &Runtime, n: u64) -> Duration {
    runtime.block_on(async move {
        let head = CancellationToken::new();
        let ready = Arc::new(AtomicU64::new(0));
        let mut upstream = head.clone();
        let mut tail = None;
        for index in 0..n {
            let mine = CancellationToken::new();
            let next = mine.clone();
            let ready = Arc::clone(&ready);
            let task = tokio::spawn(async move {
                let _link = mine.drop_guard();
                ready.fetch_add(1, Ordering::Release);
                upstream.cancelled().await;
            });
            upstream = next;
            if index == n - 1 {
                tail = Some(task);
            }
        }
        settle(&ready, n).await;
        let start = Instant::now();
        head.cancel();
        tail.expect("n > 0").await.expect("the tail");
        start.elapsed()
    })
}

/// skynet: a 10-ary tree of `leaves` leaf tasks; returns the time and the sum.
pub fn skynet(runtime: &Runtime, leaves: u64) -> (Duration, u64) {
    fn node(num: u64, size: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>> {
        Box::pin(async move {
            if size == 1 {
                return num;
            }
            let sub = size / 10;
            let (tx, mut rx) = unbounded_channel::<u64>();
            for i in 0..10 {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(node(num + i * sub, sub).await);
                });
            }
            let mut sum = 0;
            for _ in 0..10 {
                sum += rx.recv().await.expect("a child's sum");
            }
            sum
        })
    }
    runtime.block_on(async move {
        let start = Instant::now();
        let sum = tokio::spawn(node(0, leaves)).await.expect("the root");
        (start.elapsed(), sum)
    })
}

/// selective_receive, emulated: tokio channels have no selective receive, so
/// the task drains its channel into a `VecDeque` and scans that for the first
/// match (bench-spec.md). Returns the sum of `rounds` timed receives.
pub fn selective_receive(runtime: &Runtime, queue: u64, rounds: u64) -> Duration {
    #[derive(PartialEq)]
    enum Msg {
        Filler,
        Wanted,
    }
    runtime.block_on(async move {
        let (tx, mut rx) = unbounded_channel::<Msg>();
        let mut mailbox = std::collections::VecDeque::new();
        for _ in 0..queue {
            tx.send(Msg::Filler).expect("open");
        }
        let mut total = Duration::ZERO;
        for _ in 0..rounds {
            tx.send(Msg::Wanted).expect("open");
            let start = Instant::now();
            while let Ok(message) = rx.try_recv() {
                mailbox.push_back(message);
            }
            let index = mailbox.iter().position(|message| *message == Msg::Wanted).expect("sent");
            mailbox.remove(index);
            total += start.elapsed();
        }
        assert_eq!(mailbox.len() as u64, queue);
        total
    })
}

/// One figure of a row: (row, figure, value, unit), as the workload binary prints it.
pub type Figure = (&'static str, &'static str, f64, &'static str);

/// The rows this peer has, in the main job's order.
pub const ROWS: [&str; 9] = [
    "spawn_exit",
    "ping_pong",
    "ring",
    "skynet",
    "mpsc",
    "selective_receive",
    "link_fanout",
    "trap_fanout",
    "link_chain",
];

/// Runs the tokio peer of every row `wanted` accepts, at the workload binary's
/// sizes (`processes` for spawn_exit, `linked` for the link rows).
pub fn rows(workers: usize, processes: u64, linked: u64, wanted: impl Fn(&str) -> bool) -> Vec<Figure> {
    let runtime = runtime(workers);
    let per_op = |elapsed: Duration, ops: u64| elapsed.as_nanos() as f64 / ops as f64;
    let mut figures = Vec::new();
    if wanted("spawn_exit") {
        figures.push(("spawn_exit", "ns per process", per_op(spawn_exit(&runtime, processes), processes), "ns"));
    }
    if wanted("ping_pong") {
        let rounds = 1_000_000;
        figures.push(("ping_pong", "ns per round trip", per_op(ping_pong(&runtime, rounds), rounds), "ns"));
    }
    if wanted("ring") {
        let (size, laps) = (10_000, 100);
        figures.push(("ring", "ns per hop", per_op(ring(&runtime, size, laps), size * laps), "ns"));
    }
    if wanted("skynet") {
        let (elapsed, sum) = skynet(&runtime, 1_000_000);
        assert_eq!(sum, 499_999_500_000, "skynet's sum");
        figures.push(("skynet", "seconds", elapsed.as_secs_f64(), "s"));
    }
    if wanted("mpsc") {
        let (senders, per_sender) = (4, 250_000);
        figures.push((
            "mpsc",
            "ns per message",
            per_op(mpsc(&runtime, senders, per_sender), senders * per_sender),
            "ns",
        ));
    }
    if wanted("selective_receive") {
        let (queue, rounds) = (10_000, 1_000);
        let total = selective_receive(&runtime, queue, rounds);
        figures.push(("selective_receive", "ns per receive", per_op(total, rounds), "ns"));
        figures.push(("selective_receive", "ns per skipped message", per_op(total, rounds * queue), "ns"));
    }
    if wanted("link_fanout") {
        figures.push(("link_fanout", "ns per linked worker", per_op(link_fanout(&runtime, linked), linked), "ns"));
    }
    if wanted("trap_fanout") {
        figures.push(("trap_fanout", "ns per exit message", per_op(trap_fanout(&runtime, linked), linked), "ns"));
    }
    if wanted("link_chain") {
        figures.push(("link_chain", "ns per hop", per_op(link_chain(&runtime, linked), linked), "ns"));
    }
    figures
}
