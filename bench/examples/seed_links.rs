//! `cargo run --release --example seed_links`: the seed tutorial's link
//! scenarios, printed like its iex sessions.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = lariat::Runtime::builder().workers(2).build()?;
    for transcript in lariat_bench::seed::all(&runtime) {
        for line in transcript {
            println!("{line}");
        }
        println!();
    }
    Ok(())
}
