//! The ring row at other ring sizes (1,000,000 hops each), lariat beside its
//! tokio peer in the same process: where the cost per hop jumps shows how many
//! processes' memory the caches and TLB hold on this machine.
//! `cargo run --release --example ring_sizes`; medians of 3 per size.

use mimalloc::MiMalloc;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

const HOPS: u64 = 1_000_000;
const RUNS: usize = 3;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lariat = lariat::Runtime::new()?;
    let tokio = lariat_bench::tokio_peer::runtime(2);
    println!("{:>8} {:>16} {:>16}", "size", "lariat ns/hop", "tokio ns/hop");
    for size in [10u64, 100, 1_000, 3_000, 10_000, 30_000, 100_000] {
        let laps = HOPS / size;
        let hops = (size * laps) as f64;
        let mut ours = Vec::with_capacity(RUNS);
        let mut theirs = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            ours.push(lariat_bench::workloads::ring(&lariat, size, laps).run.as_nanos() as f64 / hops);
            theirs.push(lariat_bench::tokio_peer::ring(&tokio, size, laps).as_nanos() as f64 / hops);
        }
        println!("{size:>8} {:>16.1} {:>16.1}", median(ours), median(theirs));
    }
    Ok(())
}
