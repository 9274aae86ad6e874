//! The spawn family of bench-spec.md: spawn_exit, spawn_idle, skynet — lariat
//! beside the tokio peer. Each iteration is the whole workload (a spawn bench
//! waits until every process has run and exited); setup is outside the timing.

use criterion::{Criterion, criterion_group, criterion_main};
use lariat::Runtime;
use lariat_bench::{sum_of_runs, tokio_peer, workloads};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPAWNED: u64 = 100_000;
const IDLE: u64 = 100_000;
const LEAVES: u64 = 100_000;

fn spawn(c: &mut Criterion) {
    let lariat = Runtime::builder().workers(2).build().expect("a lariat runtime");
    let tokio = tokio_peer::runtime(2);

    let mut group = c.benchmark_group(format!("spawn_exit/{SPAWNED}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::spawn_exit(&lariat, SPAWNED, workloads::no_progress())))
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::spawn_exit(&tokio, SPAWNED)))
    });
    group.finish();

    // lariat only: an idle tokio task is a different thing (no stack), and its
    // memory is what bench-spec compares (docs/performance.md).
    let mut group = c.benchmark_group(format!("spawn_idle/{IDLE}"));
    group.sample_size(10);
    group.bench_function("lariat spawn and stop", |b| {
        b.iter_custom(|iters| {
            sum_of_runs(iters, || {
                let figures = workloads::spawn_idle(&lariat, IDLE, workloads::no_progress());
                figures.spawn + figures.stop
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group(format!("skynet/{LEAVES}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| {
            sum_of_runs(iters, || {
                let (elapsed, sum) = workloads::skynet(&lariat, LEAVES);
                assert_eq!(sum, LEAVES * (LEAVES - 1) / 2);
                elapsed
            })
        })
    });
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            sum_of_runs(iters, || {
                let (elapsed, sum) = tokio_peer::skynet(&tokio, LEAVES);
                assert_eq!(sum, LEAVES * (LEAVES - 1) / 2);
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, spawn);
criterion_main!(benches);
