//! The link family of bench-spec.md: link_fanout, trap_fanout, link_chain —
//! lariat beside the tokio peer (tokio has no links: a `CancellationToken`
//! held by a drop guard, one-way and without a reason; a `JoinSet` for
//! trap_fanout; see `lariat_bench::tokio_peer`).

use criterion::{Criterion, criterion_group, criterion_main};
use lariat::Runtime;
use lariat_bench::{links, sum_of_runs, tokio_peer, workloads};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LINKED: u64 = 10_000;

fn link_rows(c: &mut Criterion) {
    let lariat = Runtime::builder().workers(2).build().expect("a lariat runtime");
    let tokio = tokio_peer::runtime(2);

    let mut group = c.benchmark_group(format!("link_fanout/{LINKED}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || links::link_fanout(&lariat, LINKED, workloads::no_progress()).run))
    });
    group.bench_function("tokio (cancellation token)", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::link_fanout(&tokio, LINKED)))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("trap_fanout/{LINKED}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || links::trap_fanout(&lariat, LINKED).run))
    });
    group.bench_function("tokio (JoinSet)", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::trap_fanout(&tokio, LINKED)))
    });
    group.finish();

    let mut group = c.benchmark_group(format!("link_chain/{LINKED}"));
    group.sample_size(10);
    group.bench_function("lariat", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || links::link_chain(&lariat, LINKED).run))
    });
    group.bench_function("tokio (cancellation tokens)", |b| {
        b.iter_custom(|iters| sum_of_runs(iters, || tokio_peer::link_chain(&tokio, LINKED)))
    });
    group.finish();
}

criterion_group!(benches, link_rows);
criterion_main!(benches);
