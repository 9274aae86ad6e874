//! The messaging family of bench-spec.md: ping_pong, ring, mpsc,
//! selective_receive — lariat beside the tokio peer and, where meaningful,
//! OS threads with std channels.

use criterion::{Criterion, criterion_group, criterion_main};
use lariat::Runtime;
use lariat_bench::{sum_of_runs, tokio_peer, workloads};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUNDS: u64 = 100_000;
const RING: (u64, u64) = (1_000, 100);
const MPSC: (u64, u64) = (4, 25_000);
const SELECTIVE: (u64, u64) = (10_000, 100);

fn messaging(c: &mut Criterion) {
    let lariat = Runtime::builder().workers(2).build().expect("a lariat runtime");
    let tokio = tokio_peer::runtime(2);

    let mut group = c.benchmark_group(format!("ping_pong/{ROUNDS}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::ping_pong(&lariat, ROUNDS)))
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::ping_pong(&tokio, ROUNDS)))
    });
    group.bench_function("threads", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::ping_pong_threads(ROUNDS)))
    });
    group.finish();

    let (size, laps) = RING;
    let mut group = c.benchmark_group(format!("ring/{size}x{laps}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::ring(&lariat, size, laps).run))
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::ring(&tokio, size, laps)))
    });
    group.finish();

    let (senders, per_sender) = MPSC;
    let mut group = c.benchmark_group(format!("mpsc/{senders}x{per_sender}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::mpsc(&lariat, senders, per_sender)))
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::mpsc(&tokio, senders, per_sender)))
    });
    group.bench_function("threads", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::mpsc_threads(senders, per_sender)))
    });
    group.finish();

    let (queue, rounds) = SELECTIVE;
    let mut group = c.benchmark_group(format!("selective_receive/{queue}x{rounds}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::selective_receive(&lariat, queue, rounds).rounds))
    });
    group.bench_function("tokio (emulated)", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::selective_receive(&tokio, queue, rounds)))
    });
    group.finish();
}

criterion_group!(benches, messaging);
criterion_main!(benches);
