//! `cargo run --release`: the main job. Shows the seed tutorial's link
//! scenarios, then runs the bench-spec workloads at full size on lariat with a
//! progress bar and prints what it measured.

use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use lariat::Runtime;
use lariat_bench::{links, workloads};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// lariat's main job: the seed tutorial's link scenarios and a supervision
/// tree, then every workload row at full size, with progress, and what each
/// measured. Rows are described in docs/performance.md ("The workloads").
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Run only these rows, comma-separated, in their usual order (spawn_exit, spawn_exit_deep, spawn_idle, ping_pong,
    /// ring, skynet, mpsc, handle_send, tokio_call, tokio_call_64, selective_receive, call, call_backlog, sup_restart,
    /// send_after, send_after_cancel, link_fanout, trap_fanout, link_chain, link_fanout_1m).
    #[arg(long)]
    only: Option<String>,
    /// Print the figures as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Usable stack bytes per process (default: the runtime's).
    #[arg(long)]
    stack_size: Option<usize>,
    /// Processes for spawn_exit and spawn_idle.
    #[arg(long, default_value_t = 1_000_000)]
    processes: u64,
    /// Linked processes for link_fanout, trap_fanout and link_chain.
    #[arg(long, default_value_t = 100_000)]
    linked: u64,
    /// Stress mode: 10,000,000 processes spawned and exited, 1,000,000 alive at
    /// once, a 1,000,000-link fan-out; reports the peak RSS.
    #[arg(long)]
    stress: bool,
    /// Run the selected rows once untimed first, in the same runtime (cost
    /// curves: a small N otherwise mostly measures the first touch of the
    /// allocator's and the stack pool's fresh memory).
    #[arg(long)]
    warm_up: bool,
    /// Run the rows on tokio instead (tasks and unbounded channels; see
    /// `lariat_bench::tokio_peer` for what stands in for links).
    #[arg(long)]
    tokio: bool,
}

impl Args {
    fn wants(&self, row: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only.split(',').any(|wanted| wanted.trim() == row))
    }
}

const ROWS: [&str; 20] = [
    "spawn_exit",
    "spawn_exit_deep",
    "spawn_idle",
    "ping_pong",
    "ring",
    "skynet",
    "mpsc",
    "handle_send",
    "tokio_call",
    "tokio_call_64",
    "selective_receive",
    "call",
    "call_backlog",
    "sup_restart",
    "send_after",
    "send_after_cancel",
    "link_fanout",
    "trap_fanout",
    "link_chain",
    "link_fanout_1m",
];

struct Row {
    name: &'static str,
    figure: String,
    value: f64,
    unit: &'static str,
}

impl Row {
    /// Seconds get milliseconds; everything else one decimal.
    fn decimals(&self) -> usize {
        if self.unit == "s" { 3 } else { 1 }
    }
}

fn per_op_ns(elapsed: Duration, ops: u64) -> f64 {
    elapsed.as_nanos() as f64 / ops as f64
}

/// Runs `run` with a progress bar of `total` steps, cleared when it is done.
fn with_bar<R>(total: u64, label: &'static str, run: impl FnOnce(workloads::Progress<'static>) -> R) -> R {
    let bar = progress_bar(total, label);
    let reporter = bar.clone();
    let result = run(Box::leak(Box::new(move |done| reporter.set_position(done))));
    bar.finish_and_clear();
    result
}

fn progress_bar(total: u64, label: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label);
    bar
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        // The error's own words (`main` returning it would print its Debug form).
        eprintln!("lariat: {error}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.tokio {
        let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let wanted = |row: &str| args.wants(row);
        let rows: Vec<Row> = lariat_bench::tokio_peer::rows(workers, args.processes, args.linked, wanted)
            .into_iter()
            .map(|(name, figure, value, unit)| Row { name, figure: figure.into(), value, unit })
            .collect();
        if rows.is_empty() {
            return Err(format!("no tokio peer for row {:?}", args.only).into());
        }
        print_rows(&rows, args.json, &format!("tokio on {workers} workers"));
        return Ok(());
    }
    let mut builder = Runtime::builder();
    if let Some(workers) = args.workers {
        builder = builder.workers(workers);
    }
    if let Some(bytes) = args.stack_size {
        builder = builder.stack_size(bytes);
    }
    let runtime = builder.build()?;
    if args.stress {
        return stress(&runtime, args.json);
    }
    let wanted = |row: &str| args.wants(row);
    if args.only.is_none() && !args.json {
        println!("The seed tutorial's link scenarios (docs/semantics.md):\n");
        for transcript in lariat_bench::seed::all(&runtime) {
            for line in transcript {
                println!("  {line}");
            }
            println!();
        }
    }
    if args.warm_up {
        run_rows(&runtime, &args, &wanted)?;
    }
    let rows = run_rows(&runtime, &args, &wanted)?;
    if rows.is_empty() {
        let asked = args.only.as_deref().unwrap_or_default();
        return Err(format!("no row named in --only {asked:?}: use one or more of {}", ROWS.join(", ")).into());
    }

    print_rows(&rows, args.json, &format!("lariat {} on {} workers", env!("CARGO_PKG_VERSION"), runtime.workers()));
    Ok(())
}

/// Runs the rows `wanted` selects, in the order of `ROWS`.
fn run_rows(
    runtime: &Runtime,
    args: &Args,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    let n = args.processes;

    if wanted("spawn_exit") {
        let elapsed = with_bar(n, "spawn_exit", |progress| workloads::spawn_exit(runtime, n, progress));
        rows.push(Row {
            name: "spawn_exit",
            figure: "ns per process".into(),
            value: per_op_ns(elapsed, n),
            unit: "ns",
        });
        rows.push(Row {
            name: "spawn_exit",
            figure: "processes per second".into(),
            value: n as f64 / elapsed.as_secs_f64(),
            unit: "/s",
        });
    }
    if wanted("spawn_exit_deep") {
        let elapsed = with_bar(n, "spawn_exit_deep", |progress| workloads::spawn_exit_deep(runtime, n, progress));
        rows.push(Row {
            name: "spawn_exit_deep",
            figure: "ns per process".into(),
            value: per_op_ns(elapsed, n),
            unit: "ns",
        });
    }
    if wanted("spawn_idle") {
        let figures = with_bar(n, "spawn_idle", |progress| workloads::spawn_idle(runtime, n, progress));
        rows.push(Row {
            name: "spawn_idle",
            figure: "ns per spawn".into(),
            value: per_op_ns(figures.spawn, n),
            unit: "ns",
        });
        rows.push(Row {
            name: "spawn_idle",
            figure: "RSS bytes per idle process".into(),
            value: figures.rss_per_process,
            unit: "B",
        });
        rows.push(Row {
            name: "spawn_idle",
            figure: "page-table bytes per idle process".into(),
            value: figures.page_tables_per_process,
            unit: "B",
        });
        rows.push(Row {
            name: "spawn_idle",
            figure: "ns per stop".into(),
            value: per_op_ns(figures.stop, n),
            unit: "ns",
        });
    }
    if wanted("ping_pong") {
        let rounds = 1_000_000;
        let elapsed = workloads::ping_pong(runtime, rounds);
        rows.push(Row {
            name: "ping_pong",
            figure: "ns per round trip".into(),
            value: per_op_ns(elapsed, rounds),
            unit: "ns",
        });
    }
    if wanted("ring") {
        let (size, laps) = (10_000, 100);
        let figures = workloads::ring(runtime, size, laps);
        rows.push(Row {
            name: "ring",
            figure: "ns per hop".into(),
            value: per_op_ns(figures.run, size * laps),
            unit: "ns",
        });
        rows.push(Row {
            name: "ring",
            figure: "build, ns per process".into(),
            value: per_op_ns(figures.build, size),
            unit: "ns",
        });
    }
    if wanted("skynet") {
        let (elapsed, sum) = workloads::skynet(runtime, 1_000_000);
        if sum != 499_999_500_000 {
            return Err(format!("skynet summed to {sum}, not 499999500000").into());
        }
        rows.push(Row { name: "skynet", figure: "seconds".into(), value: elapsed.as_secs_f64(), unit: "s" });
    }
    if wanted("mpsc") {
        let (senders, per_sender) = (4, 250_000);
        let elapsed = workloads::mpsc(runtime, senders, per_sender);
        rows.push(Row {
            name: "mpsc",
            figure: "ns per message".into(),
            value: per_op_ns(elapsed, senders * per_sender),
            unit: "ns",
        });
    }
    if wanted("handle_send") {
        let messages = 1_000_000;
        let elapsed = workloads::handle_send(runtime, messages);
        rows.push(Row {
            name: "handle_send",
            figure: "ns per message".into(),
            value: per_op_ns(elapsed, messages),
            unit: "ns",
        });
    }
    for (row, concurrent) in [("tokio_call", 1), ("tokio_call_64", 64)] {
        if wanted(row) {
            let calls = 100_000;
            let lariat = workloads::tokio_call(runtime, calls, concurrent);
            let baseline = workloads::tokio_oneshot(calls, concurrent);
            rows.push(Row { name: row, figure: "ns per call".into(), value: per_op_ns(lariat, calls), unit: "ns" });
            rows.push(Row {
                name: row,
                figure: "tokio-only baseline (oneshot), ns per call".into(),
                value: per_op_ns(baseline, calls),
                unit: "ns",
            });
        }
    }
    if wanted("selective_receive") {
        let (queue, rounds) = (10_000, 1_000);
        let figures = workloads::selective_receive(runtime, queue, rounds);
        rows.push(Row {
            name: "selective_receive",
            figure: "ns per receive".into(),
            value: per_op_ns(figures.rounds, rounds),
            unit: "ns",
        });
        rows.push(Row {
            name: "selective_receive",
            figure: "ns per skipped message".into(),
            value: per_op_ns(figures.rounds, rounds * queue),
            unit: "ns",
        });
        rows.push(Row {
            name: "selective_receive",
            figure: "first round, ns".into(),
            value: figures.first.as_nanos() as f64,
            unit: "ns",
        });
    }
    if wanted("call") {
        let calls = 1_000_000;
        let elapsed = workloads::call(runtime, calls, 0);
        rows.push(Row { name: "call", figure: "ns per call".into(), value: per_op_ns(elapsed, calls), unit: "ns" });
    }
    if wanted("call_backlog") {
        let (calls, backlog) = (100_000, 100_000);
        let elapsed = workloads::call(runtime, calls, backlog);
        let without = workloads::call(runtime, calls, 0);
        rows.push(Row {
            name: "call_backlog",
            figure: "ns per call, 100,000 messages in the caller's mailbox".into(),
            value: per_op_ns(elapsed, calls),
            unit: "ns",
        });
        rows.push(Row {
            name: "call_backlog",
            figure: "same calls without the backlog, ns per call".into(),
            value: per_op_ns(without, calls),
            unit: "ns",
        });
    }
    if wanted("sup_restart") {
        let restarts = 100_000;
        let elapsed = workloads::sup_restart(runtime, restarts);
        rows.push(Row {
            name: "sup_restart",
            figure: "ns per restart".into(),
            value: per_op_ns(elapsed, restarts),
            unit: "ns",
        });
    }
    for row in ["send_after", "send_after_cancel"] {
        if wanted(row) {
            let timers = 1_000_000;
            let figures = if row == "send_after" {
                workloads::send_after(runtime, timers)
            } else {
                workloads::send_after_cancel(runtime, timers)
            };
            rows.push(Row {
                name: row,
                figure: "ns per timer".into(),
                value: per_op_ns(figures.total, timers),
                unit: "ns",
            });
            rows.push(Row {
                name: row,
                figure: "arm loop, ns per timer".into(),
                value: per_op_ns(figures.arm, timers),
                unit: "ns",
            });
            rows.push(Row {
                name: row,
                figure: "bytes per armed timer".into(),
                value: figures.bytes_per_timer,
                unit: "B",
            });
        }
    }
    let link_n = args.linked;
    if wanted("link_fanout") {
        let figures = links::link_fanout(runtime, link_n, &workloads::no_progress);
        rows.push(Row {
            name: "link_fanout",
            figure: "ns per linked worker".into(),
            value: per_op_ns(figures.run, link_n),
            unit: "ns",
        });
    }
    if wanted("trap_fanout") {
        let figures = links::trap_fanout(runtime, link_n);
        rows.push(Row {
            name: "trap_fanout",
            figure: "ns per exit message".into(),
            value: per_op_ns(figures.run, link_n),
            unit: "ns",
        });
    }
    if wanted("link_chain") {
        let figures = links::link_chain(runtime, link_n);
        rows.push(Row {
            name: "link_chain",
            figure: "ns per hop".into(),
            value: per_op_ns(figures.run, link_n),
            unit: "ns",
        });
    }
    if wanted("link_fanout_1m") {
        let n = 1_000_000;
        let figures = with_bar(n, "fanout 1M", |progress| links::link_fanout(runtime, n, progress));
        rows.push(Row {
            name: "link_fanout_1m",
            figure: "seconds until all dead".into(),
            value: figures.run.as_secs_f64(),
            unit: "s",
        });
        let total: u64 = figures.ended_per_worker.iter().sum();
        let busiest = figures.ended_per_worker.iter().copied().max().unwrap_or(0);
        rows.push(Row {
            name: "link_fanout_1m",
            figure: "share ended on busiest worker".into(),
            value: 100.0 * busiest as f64 / total.max(1) as f64,
            unit: "%",
        });
    }
    Ok(rows)
}

/// Prints the figures; a reader that closed the pipe early (`| head -1`) just
/// ends the output (no panic on `EPIPE`).
fn print_rows(rows: &[Row], json: bool, title: &str) {
    let result = write_rows(&mut std::io::stdout().lock(), rows, json, title);
    if let Err(error) = result
        && error.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("lariat: writing the figures failed: {error}");
    }
}

fn write_rows(out: &mut impl std::io::Write, rows: &[Row], json: bool, title: &str) -> std::io::Result<()> {
    if json {
        for row in rows {
            writeln!(
                out,
                r#"{{"row":"{}","figure":"{}","value":{:.*},"unit":"{}"}}"#,
                row.name,
                row.figure,
                row.decimals(),
                row.value,
                row.unit
            )?;
        }
    } else {
        writeln!(out, "{title}")?;
        writeln!(out, "{:<18} {:<30} {:>14}", "row", "figure", "value")?;
        for row in rows {
            writeln!(out, "{:<18} {:<30} {:>12.*} {}", row.name, row.figure, row.decimals(), row.value, row.unit)?;
        }
    }
    Ok(())
}

/// `--stress`: the sizes bench-spec.md names for a stress run.
fn stress(runtime: &Runtime, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    let spawned = 10_000_000;
    let elapsed = with_bar(spawned, "spawn_exit", |progress| workloads::spawn_exit(runtime, spawned, progress));
    rows.push(Row {
        name: "stress",
        figure: "spawn_exit 10M, ns per process".into(),
        value: per_op_ns(elapsed, spawned),
        unit: "ns",
    });
    let live = 1_000_000;
    let idle = with_bar(live, "1M live", |progress| workloads::spawn_idle(runtime, live, progress));
    rows.push(Row {
        name: "stress",
        figure: "1M live, RSS bytes per process".into(),
        value: idle.rss_per_process,
        unit: "B",
    });
    let linked = 1_000_000;
    let fanout = with_bar(linked, "1M links", |progress| links::link_fanout(runtime, linked, progress));
    rows.push(Row {
        name: "stress",
        figure: "1M-link fan-out, seconds".into(),
        value: fanout.run.as_secs_f64(),
        unit: "s",
    });
    rows.push(Row {
        name: "stress",
        figure: "peak RSS, MiB".into(),
        value: lariat_bench::peak_rss_bytes() as f64 / (1024.0 * 1024.0),
        unit: "MiB",
    });
    if runtime.live_processes() != 0 {
        return Err(format!("{} processes still alive after the stress run", runtime.live_processes()).into());
    }
    print_rows(&rows, json, &format!("lariat {} stress on {} workers", env!("CARGO_PKG_VERSION"), runtime.workers()));
    Ok(())
}
