//! Embedding lariat (issue 22): sending through a `Handle` from a plain
//! thread, tokio tasks calling a process (beside a tokio-only `oneshot`
//! baseline), and processes that go deep into their stacks (beside
//! spawn_exit).

use criterion::{Criterion, criterion_group, criterion_main};
use lariat::Runtime;
use lariat_bench::{sum_of_runs, workloads};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SENDS: u64 = 100_000;
const CALLS: u64 = 10_000;
const SPAWNS: u64 = 100_000;

fn embedding(c: &mut Criterion) {
    let lariat = Runtime::builder().workers(2).build().expect("a lariat runtime");

    let mut group = c.benchmark_group(format!("handle_send/{SENDS}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::handle_send(&lariat, SENDS)))
    });
    group.finish();

    for concurrent in [1, 64] {
        let mut group = c.benchmark_group(format!("tokio_call/{CALLS}x{concurrent}"));
        group.sample_size(10);
        group.bench_function("lariat", |b| {
            b.iter_custom(|iters| sum_of_runs(iters, || workloads::tokio_call(&lariat, CALLS, concurrent)))
        });
        group.bench_function("tokio_oneshot", |b| {
            b.iter_custom(|iters| sum_of_runs(iters, || workloads::tokio_oneshot(CALLS, concurrent)))
        });
        group.finish();
    }

    let mut group = c.benchmark_group(format!("spawn_exit_deep/{SPAWNS}"));
    group.sample_size(10);
    group.bench_function("deep", |b| {
        b.iter_custom(|iters| {
            sum_of_runs(iters, || workloads::spawn_exit_deep(&lariat, SPAWNS, workloads::no_progress()))
        })
    });
    group.bench_function("shallow", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || workloads::spawn_exit(&lariat, SPAWNS, workloads::no_progress())))
    });
    group.finish();
}

criterion_group!(benches, embedding);
criterion_main!(benches);
