//! `cargo run --release`: the main job. Shows the seed tutorial's link
//! scenarios, then runs the bench-spec workloads at full size on lariat, each
//! row several times with a progress bar, and prints the median of what it
//! measured as each row finishes.

mod report;

use clap::Parser;
use lariat::Runtime;
use lariat_bench::workloads::Progress;
use lariat_bench::{links, workloads};
use report::{Figure, Reporter, RunResult};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// lariat's main job: the seed tutorial's link scenarios and a supervision
/// tree, then every workload row at full size, each run several times with a
/// progress bar, and the median of what each measured.
#[derive(Parser)]
#[command(version, after_help = rows_help())]
struct Args {
    /// Run only these rows, comma-separated, in their usual order (the rows are
    /// listed below).
    #[arg(long, value_name = "ROWS")]
    only: Option<String>,
    /// Timed runs of each row; each figure is their median, the table adds
    /// half their range (± %).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    runs: u64,
    /// Print the figures as JSON lines (`row`, `figure`, `value`, `unit`)
    /// instead of a table.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Usable stack bytes per process (default: the runtime's).
    #[arg(long)]
    stack_size: Option<usize>,
    /// Processes for spawn_exit, spawn_exit_deep and spawn_idle.
    #[arg(long, default_value_t = 1_000_000)]
    processes: u64,
    /// Linked processes for link_fanout, trap_fanout and link_chain.
    #[arg(long, default_value_t = 100_000)]
    linked: u64,
    /// Stress mode instead of the rows: 10,000,000 processes spawned and
    /// exited, 1,000,000 alive at once, a 1,000,000-link fan-out; reports the
    /// peak RSS.
    #[arg(long)]
    stress: bool,
    /// Run each selected row once untimed first, in the runtime the row runs
    /// in (cost curves: a small N otherwise mostly measures the first touch of
    /// the allocator's and the stack pool's fresh memory). spawn_idle and the
    /// --tokio rows get a fresh runtime per run, which a warm-up does not warm;
    /// memory figures come from the warm-up run then.
    #[arg(long)]
    warm_up: bool,
    /// Run the rows on tokio instead (tasks and unbounded channels; see
    /// `lariat_bench::tokio_peer` for what stands in for links). Rows without a
    /// tokio form are left out.
    #[arg(long)]
    tokio: bool,
}

impl Args {
    fn wants(&self, row: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only.split(',').any(|wanted| wanted.trim() == row))
    }

    fn sizes(&self) -> Sizes {
        Sizes { processes: self.processes, linked: self.linked }
    }
}

/// The sizes a user can change.
struct Sizes {
    processes: u64,
    linked: u64,
}

/// One row of the main job.
struct RowSpec {
    name: &'static str,
    /// What it measures, for `--help`.
    what: &'static str,
    /// Progress steps one run reports (`None`: it reports none, and its bar
    /// counts runs).
    steps: Option<fn(&Sizes) -> u64>,
    /// Each run gets a runtime of its own: the row measures what fresh memory
    /// costs, which a runtime that kept the previous run's stacks would hide.
    fresh_runtime: bool,
    run: fn(&Runtime, &Sizes, Progress) -> RunResult,
}

const ROWS: &[RowSpec] = &[
    RowSpec {
        name: "spawn_exit",
        what: "spawn N processes that each send one message and end; wait for all",
        steps: Some(|sizes| sizes.processes),
        fresh_runtime: false,
        run: |runtime, sizes, progress| {
            let n = sizes.processes;
            let elapsed = workloads::spawn_exit(runtime, n, progress);
            Ok(vec![
                Figure::per_op_ns("ns per process", elapsed, n),
                Figure::new("processes per second", n as f64 / elapsed.as_secs_f64(), "/s"),
            ])
        },
    },
    RowSpec {
        name: "spawn_exit_deep",
        what: "as spawn_exit, each process first 64 KiB deep in its stack",
        steps: Some(|sizes| sizes.processes),
        fresh_runtime: false,
        run: |runtime, sizes, progress| {
            let elapsed = workloads::spawn_exit_deep(runtime, sizes.processes, progress);
            Ok(vec![Figure::per_op_ns("ns per process", elapsed, sizes.processes)])
        },
    },
    RowSpec {
        name: "spawn_idle",
        what: "spawn N processes that wait in a receive; memory each; stop all",
        steps: Some(|sizes| sizes.processes),
        fresh_runtime: true,
        run: |runtime, sizes, progress| {
            let n = sizes.processes;
            let figures = workloads::spawn_idle(runtime, n, progress);
            Ok(vec![
                Figure::per_op_ns("ns per spawn", figures.spawn, n),
                Figure::memory("RSS bytes per idle process", figures.rss_per_process, "B"),
                Figure::memory("page-table bytes per idle process", figures.page_tables_per_process, "B"),
                Figure::per_op_ns("ns per stop", figures.stop, n),
            ])
        },
    },
    RowSpec {
        name: "ping_pong",
        what: "two processes exchange 1,000,000 round trips",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let rounds = 1_000_000;
            Ok(vec![Figure::per_op_ns("ns per round trip", workloads::ping_pong(runtime, rounds), rounds)])
        },
    },
    RowSpec {
        name: "ring",
        what: "10,000 processes in a ring pass a token around 100 times",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let (size, laps) = (10_000, 100);
            let figures = workloads::ring(runtime, size, laps);
            Ok(vec![
                Figure::per_op_ns("ns per hop", figures.run, size * laps),
                Figure::per_op_ns("build, ns per process", figures.build, size),
            ])
        },
    },
    RowSpec {
        name: "skynet",
        what: "a 10-ary tree of 1,000,000 leaf processes sums their numbers",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let (elapsed, sum) = workloads::skynet(runtime, 1_000_000);
            if sum != 499_999_500_000 {
                return Err(format!("skynet summed to {sum}, not 499999500000"));
            }
            Ok(vec![Figure::new("seconds", elapsed.as_secs_f64(), "s")])
        },
    },
    RowSpec {
        name: "mpsc",
        what: "4 processes each send 250,000 messages to one receiver",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let (senders, per_sender) = (4, 250_000);
            let elapsed = workloads::mpsc(runtime, senders, per_sender);
            Ok(vec![Figure::per_op_ns("ns per message", elapsed, senders * per_sender)])
        },
    },
    RowSpec {
        name: "handle_send",
        what: "a plain thread sends 1,000,000 messages to a process (Handle)",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let messages = 1_000_000;
            Ok(vec![Figure::per_op_ns("ns per message", workloads::handle_send(runtime, messages), messages)])
        },
    },
    RowSpec {
        name: "tokio_call",
        what: "a tokio task calls a process and awaits its reply, 100,000 times",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| tokio_call(runtime, 1),
    },
    RowSpec {
        name: "tokio_call_64",
        what: "as tokio_call, 64 tasks calling at once",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| tokio_call(runtime, 64),
    },
    RowSpec {
        name: "selective_receive",
        what: "receive the one match behind 10,000 other messages, 1,000 times",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let (queue, rounds) = (10_000, 1_000);
            let figures = workloads::selective_receive(runtime, queue, rounds);
            Ok(vec![
                Figure::per_op_ns("ns per receive", figures.rounds, rounds),
                Figure::per_op_ns("ns per skipped message", figures.rounds, rounds * queue),
                Figure::new("first round, ns", figures.first.as_nanos() as f64, "ns"),
            ])
        },
    },
    RowSpec {
        name: "call",
        what: "1,000,000 calls to a server process (request and reply)",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let calls = 1_000_000;
            Ok(vec![Figure::per_op_ns("ns per call", workloads::call(runtime, calls, 0), calls)])
        },
    },
    RowSpec {
        name: "call_backlog",
        what: "100,000 calls from a process with 100,000 messages waiting",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let (calls, backlog) = (100_000, 100_000);
            let with = workloads::call(runtime, calls, backlog);
            let without = workloads::call(runtime, calls, 0);
            Ok(vec![
                Figure::per_op_ns("ns per call, 100,000 waiting", with, calls),
                Figure::per_op_ns("without the backlog, ns per call", without, calls),
            ])
        },
    },
    RowSpec {
        name: "sup_restart",
        what: "a supervisor restarts a crashing server child 100,000 times",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| {
            let restarts = 100_000;
            Ok(vec![Figure::per_op_ns("ns per restart", workloads::sup_restart(runtime, restarts), restarts)])
        },
    },
    RowSpec {
        name: "send_after",
        what: "arm 1,000,000 timers of 1-100 ms; receive every message they send",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| timers(workloads::send_after(runtime, TIMERS)),
    },
    RowSpec {
        name: "send_after_cancel",
        what: "arm 1,000,000 timers of 10 s, then cancel each",
        steps: None,
        fresh_runtime: false,
        run: |runtime, _, _| timers(workloads::send_after_cancel(runtime, TIMERS)),
    },
    RowSpec {
        name: "link_fanout",
        what: "a process linked to N idle ones dies; until all N are dead",
        steps: Some(|sizes| 2 * sizes.linked),
        fresh_runtime: false,
        run: |runtime, sizes, progress| {
            let figures = links::link_fanout(runtime, sizes.linked, progress);
            Ok(vec![Figure::per_op_ns("ns per linked worker", figures.run, sizes.linked)])
        },
    },
    RowSpec {
        name: "trap_fanout",
        what: "a trapping process spawn_links N that end; takes N exit messages",
        steps: None,
        fresh_runtime: false,
        run: |runtime, sizes, _| {
            let figures = links::trap_fanout(runtime, sizes.linked);
            Ok(vec![Figure::per_op_ns("ns per exit message", figures.run, sizes.linked)])
        },
    },
    RowSpec {
        name: "link_chain",
        what: "N processes linked in a chain; one end dies; until all are dead",
        steps: None,
        fresh_runtime: false,
        run: |runtime, sizes, _| {
            let figures = links::link_chain(runtime, sizes.linked);
            Ok(vec![Figure::per_op_ns("ns per hop", figures.run, sizes.linked)])
        },
    },
    RowSpec {
        name: "link_fanout_1m",
        what: "link_fanout with 1,000,000 linked; how evenly workers share it",
        steps: Some(|_| 2 * 1_000_000),
        fresh_runtime: false,
        run: |runtime, _, progress| {
            let figures = links::link_fanout(runtime, 1_000_000, progress);
            let total: u64 = figures.ended_per_worker.iter().sum();
            let busiest = figures.ended_per_worker.iter().copied().max().unwrap_or(0);
            Ok(vec![
                Figure::new("seconds until all dead", figures.run.as_secs_f64(), "s"),
                Figure::new("share ended on busiest worker", 100.0 * busiest as f64 / total.max(1) as f64, "%"),
            ])
        },
    },
];

const TIMERS: u64 = 1_000_000;

fn timers(figures: workloads::TimerFigures) -> RunResult {
    Ok(vec![
        Figure::per_op_ns("ns per timer", figures.total, TIMERS),
        Figure::per_op_ns("arm loop, ns per timer", figures.arm, TIMERS),
        Figure::memory("bytes per armed timer", figures.bytes_per_timer, "B"),
    ])
}

fn tokio_call(runtime: &Runtime, concurrent: u64) -> RunResult {
    let calls = 100_000;
    let lariat = workloads::tokio_call(runtime, calls, concurrent);
    let baseline = workloads::tokio_oneshot(calls, concurrent);
    Ok(vec![
        Figure::per_op_ns("ns per call", lariat, calls),
        Figure::per_op_ns("tokio-only oneshot, ns per call", baseline, calls),
    ])
}

/// The rows and what each measures, for `--help`.
fn rows_help() -> String {
    let mut help = String::from("Rows (N: --processes for spawn rows, --linked for link rows):\n");
    for row in ROWS {
        help.push_str(&format!("  {:<18} {}\n", row.name, row.what));
    }
    help.push_str("\nWhat each row measures and how: docs/performance.md (\"The workloads\").");
    help
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        // The error's own words (`main` returning it would print its Debug form).
        eprintln!("lariat: {error}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let unknown: Vec<&str> = args
        .only
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|wanted| !wanted.is_empty() && !ROWS.iter().any(|row| row.name == *wanted))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = ROWS.iter().map(|row| row.name).collect();
        return Err(format!("there is no row {}. The rows are: {}.", unknown.join(", "), names.join(", ")).into());
    }
    let runs = args.runs as usize;
    let warm_up = usize::from(args.warm_up);
    if args.tokio {
        let workers = args.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let reporter = Reporter::new(args.json, runs, &format!("tokio on {workers} workers"));
        let mut ran = 0;
        for row in ROWS.iter().filter(|row| args.wants(row.name)) {
            if !lariat_bench::tokio_peer::ROWS.contains(&row.name) {
                continue;
            }
            let only_this = |name: &str| name == row.name;
            reporter.row(row.name, row.name, 0, warm_up, |_| {
                let figures = lariat_bench::tokio_peer::rows(workers, args.processes, args.linked, only_this);
                Ok(figures.into_iter().map(|(_, figure, value, unit)| Figure::new(figure, value, unit)).collect())
            })?;
            ran += 1;
        }
        if ran == 0 {
            return Err(format!("none of the rows {:?} has a tokio form", args.only.unwrap_or_default()).into());
        }
        return Ok(());
    }
    let build = || {
        let mut builder = Runtime::builder();
        if let Some(workers) = args.workers {
            builder = builder.workers(workers);
        }
        if let Some(bytes) = args.stack_size {
            builder = builder.stack_size(bytes);
        }
        builder.build()
    };
    let runtime = build()?;
    if args.stress {
        return stress(&runtime, args.json);
    }
    if args.only.is_none() && !args.json {
        println!("The seed tutorial's link scenarios (docs/semantics.md):\n");
        for transcript in lariat_bench::seed::all(&runtime) {
            for line in transcript {
                println!("  {line}");
            }
            println!();
        }
    }
    let title = format!("lariat {} on {} workers", env!("CARGO_PKG_VERSION"), runtime.workers());
    let reporter = Reporter::new(args.json, runs, &title);
    let sizes = args.sizes();
    let mut shared = Some(runtime);
    for row in ROWS.iter().filter(|row| args.wants(row.name)) {
        let steps = row.steps.map_or(0, |steps| steps(&sizes));
        if row.fresh_runtime {
            // The shared runtime goes first: its pooled stacks, given back
            // while it idles, would shrink the fresh runtime's RSS figures.
            drop(shared.take());
            reporter.row(row.name, row.name, steps, warm_up, |progress| {
                let fresh = build().map_err(|error| error.to_string())?;
                (row.run)(&fresh, &sizes, progress)
            })?;
            continue;
        }
        let runtime = match &shared {
            Some(runtime) => runtime,
            None => shared.insert(build()?),
        };
        reporter.row(row.name, row.name, steps, warm_up, |progress| (row.run)(runtime, &sizes, progress))?;
    }
    Ok(())
}

/// `--stress`: the sizes bench-spec.md names for a stress run, each step once.
fn stress(runtime: &Runtime, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let title = format!("lariat {} stress on {} workers", env!("CARGO_PKG_VERSION"), runtime.workers());
    let reporter = Reporter::new(json, 1, &title);
    let spawned = 10_000_000;
    reporter.row("stress", "10M spawned", spawned, 0, |progress| {
        let elapsed = workloads::spawn_exit(runtime, spawned, progress);
        Ok(vec![Figure::per_op_ns("spawn_exit 10M, ns per process", elapsed, spawned)])
    })?;
    let live = 1_000_000;
    reporter.row("stress", "1M alive", live, 0, |progress| {
        let idle = workloads::spawn_idle(runtime, live, progress);
        Ok(vec![Figure::new("1M live, RSS bytes per process", idle.rss_per_process, "B")])
    })?;
    let linked = 1_000_000;
    reporter.row("stress", "1M-link fan-out", 2 * linked, 0, |progress| {
        let fanout = links::link_fanout(runtime, linked, progress);
        Ok(vec![
            Figure::new("1M-link fan-out, seconds", fanout.run.as_secs_f64(), "s"),
            Figure::new("peak RSS, MiB", lariat_bench::peak_rss_bytes() as f64 / (1024.0 * 1024.0), "MiB"),
        ])
    })?;
    if runtime.live_processes() != 0 {
        return Err(format!(
            "{} processes are still alive after the stress run; all should have ended",
            runtime.live_processes()
        )
        .into());
    }
    Ok(())
}
