//! `lariat-conformance`: the differential runner's command line.
//!
//! - `random --seed S --count N`: N random scenarios from seed S, each run on
//!   lariat and on real OTP (escript); prints every disagreement with the
//!   command that reproduces it; exits non-zero if there is one.
//! - `show --seed S --index I`: prints random scenario I of seed S, and its
//!   lariat and OTP traces.
//! - `check FILE... [--repeat N] [--workers W]`: runs each scenario N times on
//!   lariat and compares every trace with its golden (a race that lariat loses
//!   only sometimes shows up here).
//! - `trace FILE...`: prints lariat's trace of each scenario (to write one).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use lariat::Runtime;

#[derive(Parser)]
#[command(version, about = "Runs scenarios on lariat and on real Erlang/OTP and compares the traces")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Random scenarios through both runners.
    Random {
        /// The seed of the first scenario (scenario i uses seed + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many scenarios.
        #[arg(long, default_value_t = 500)]
        count: u64,
        /// Random supervision trees instead of process graphs.
        #[arg(long)]
        supervision: bool,
    },
    /// Scenario files run on lariat, each trace compared with the scenario's golden.
    Check {
        /// Scenario files (`conformance/scenarios/*.scn`).
        files: Vec<PathBuf>,
        /// Runs of each scenario.
        #[arg(long, default_value_t = 1)]
        repeat: u32,
        /// Worker threads of the runtime they run on.
        #[arg(long, default_value_t = 2)]
        workers: usize,
    },
    /// Lariat's trace of each scenario file.
    Trace {
        /// Scenario files.
        files: Vec<PathBuf>,
    },
    /// One random scenario and both traces.
    Show {
        /// The seed given to `random`.
        #[arg(long)]
        seed: u64,
        /// The scenario's index in that run.
        #[arg(long, default_value_t = 0)]
        index: u64,
        /// A supervision scenario (as `random --supervision`).
        #[arg(long)]
        supervision: bool,
    },
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Cmd::Trace { files } = &args.command {
        let runtime = Runtime::builder().workers(2).build()?;
        for file in files {
            print!("{}", lariat_conformance::run(&runtime, &std::fs::read_to_string(file)?)?);
        }
        return Ok(());
    }
    if let Cmd::Check { files, repeat, workers } = &args.command {
        return check(files, *repeat, *workers);
    }
    let runtime = Runtime::builder().workers(2).build()?;
    let dir = std::env::temp_dir().join(format!("lariat-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = match args.command {
        Cmd::Random { seed, count, supervision } => random(&runtime, &dir, seed, count, supervision),
        Cmd::Show { seed, index, supervision } => show(&runtime, &dir, seed, index, supervision),
        Cmd::Check { .. } | Cmd::Trace { .. } => unreachable!("handled above"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn write(dir: &std::path::Path, seed: u64, supervision: bool) -> std::io::Result<(PathBuf, String)> {
    let text =
        if supervision { lariat_conformance::generate_supervision(seed) } else { lariat_conformance::generate(seed) };
    let path = dir.join(format!("random-{seed}.scn"));
    std::fs::write(&path, &text)?;
    Ok((path, text))
}

fn random(
    runtime: &Runtime,
    dir: &std::path::Path,
    seed: u64,
    count: u64,
    supervision: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut files = Vec::new();
    let mut texts = Vec::new();
    for index in 0..count {
        let (path, text) = write(dir, seed + index, supervision)?;
        files.push(path);
        texts.push(text);
    }
    let mut disagreements = 0;
    let mut reordered = 0;
    // One OTP VM per batch: VM start-up is most of an escript's time.
    for (batch, chunk) in files.chunks(100).enumerate() {
        let otp = lariat_conformance::run_on_otp(chunk)?;
        for (offset, otp_trace) in otp.iter().enumerate() {
            let index = batch * 100 + offset;
            let lariat_trace = lariat_conformance::run(runtime, &texts[index])?;
            let flag = if supervision { " --supervision" } else { "" };
            // A supervision log has no racy stretch: it must be equal.
            if &lariat_trace != otp_trace
                && !supervision
                && lariat_conformance::agrees(&texts[index], otp_trace, &lariat_trace)
            {
                reordered += 1;
                println!(
                    "reordered in a racy stretch: scenario {index} (see: cargo run --release -p lariat-conformance -- show --seed {seed} --index {index}{flag})"
                );
            } else if &lariat_trace != otp_trace {
                disagreements += 1;
                println!(
                    "DISAGREE: scenario {index} (reproduce: cargo run --release -p lariat-conformance -- show --seed {seed} --index {index}{flag})\n{}--- OTP\n{otp_trace}--- lariat\n{lariat_trace}",
                    texts[index]
                );
            }
        }
    }
    println!(
        "random: {count} scenarios from seed {seed}, {disagreements} disagreements with OTP \
         ({reordered} equal up to the order of messages from different senders in a racy stretch, which ERTS leaves open)"
    );
    if disagreements > 0 { Err(format!("{disagreements} disagreements").into()) } else { Ok(()) }
}

fn show(
    runtime: &Runtime,
    dir: &std::path::Path,
    seed: u64,
    index: u64,
    supervision: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let (path, text) = write(dir, seed + index, supervision)?;
    let otp = lariat_conformance::run_on_otp(&[path])?;
    let lariat_trace = lariat_conformance::run(runtime, &text)?;
    println!("{text}--- OTP\n{}--- lariat\n{lariat_trace}", otp[0]);
    Ok(())
}

fn check(files: &[PathBuf], repeat: u32, workers: usize) -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::builder().workers(workers).build()?;
    let mut differing = 0;
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))?;
        let name = file.file_stem().unwrap_or_default().to_string_lossy();
        let golden_path = lariat_conformance::root().join("goldens").join(format!("{name}.trace"));
        let golden = std::fs::read_to_string(&golden_path).map_err(|error| {
            format!("{}: {error} (record it with conformance/record.sh --write)", golden_path.display())
        })?;
        let mut misses = 0;
        for _ in 0..repeat {
            let trace = lariat_conformance::run(&runtime, &text)?;
            if !golden.split(lariat_conformance::ALTERNATIVE).any(|allowed| allowed == trace) {
                if misses == 0 {
                    println!("DIFFERS: {name}\n--- OTP\n{golden}--- lariat\n{trace}");
                }
                misses += 1;
            }
        }
        if misses > 0 {
            differing += 1;
            println!("{name}: {misses} of {repeat} runs differ from the golden");
        }
    }
    println!("check: {} scenarios, {repeat} runs each on {workers} workers, {differing} differ", files.len());
    if differing > 0 { Err(format!("{differing} scenarios differ").into()) } else { Ok(()) }
}
