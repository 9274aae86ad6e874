//! The bench-spec workloads on lariat, shared by the workload binary and the
//! criterion benches. Each returns what it measured; none prints (only
//! `seed::main`, the example's own entry point, does).

pub mod links;
/// The seed tutorial's scenarios: the `seed_links` example of the runtime,
/// whose code is what a reader learns from (the main job prints them too).
#[path = "../../runtime/examples/seed_links.rs"]
pub mod seed;
pub mod tokio_peer;
pub mod workloads;

/// Resident set size of this OS process, in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// Bytes of page tables of this OS process now (`VmPTE`).
pub fn page_table_bytes() -> u64 {
    status_bytes("VmPTE:")
}

/// Peak resident set size of this OS process so far, in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> u64 {
    status_bytes("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in bytes (0 if missing).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    kib * 1024
}

/// Runs `phase` and times it, with perf switched on around it (`perf_switch`):
/// every workload's timed phase goes through here.
pub fn timed_phase<R, E>(phase: impl FnOnce() -> Result<R, E>) -> Result<(R, std::time::Duration), E> {
    perf_switch(true);
    let start = std::time::Instant::now();
    let result = phase();
    let elapsed = start.elapsed();
    perf_switch(false);
    result.map(|value| (value, elapsed))
}

/// The total time of `iters` runs, each timing itself (criterion's `iter_custom`).
pub fn sum_of_runs(iters: u64, mut run: impl FnMut() -> std::time::Duration) -> std::time::Duration {
    (0..iters).map(|_| run()).sum()
}

/// Switches `perf record` on or off around a timed phase, so a profile shows
/// only the work being measured. Does nothing unless `LARIAT_PERF_CTL` names
/// perf's control FIFO: `mkfifo ctl; LARIAT_PERF_CTL=ctl perf record -D -1
/// --control fifo:ctl -e cpu-clock -g -- target/fp/release/lariat --only ROW`.
/// `LARIAT_PERF_SKIP=N` leaves the first `N` timed phases out (profile the last
/// row of `--only a,b` to see what running `a` first changed in `b`).
pub fn perf_switch(on: bool) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PHASES_STARTED: AtomicU64 = AtomicU64::new(0);
    let skip = std::env::var("LARIAT_PERF_SKIP").ok().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    // Relaxed: the calls come one after another (on one thread, or from a
    // process that moved between workers, which the scheduler's hand-off
    // orders); nothing else is published through this counter.
    let started =
        if on { PHASES_STARTED.fetch_add(1, Ordering::Relaxed) + 1 } else { PHASES_STARTED.load(Ordering::Relaxed) };
    if started <= skip {
        return;
    }
    if let Some(path) = std::env::var_os("LARIAT_PERF_CTL") {
        use std::io::Write;
        if let Ok(mut fifo) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = fifo.write_all(if on { b"enable\n" } else { b"disable\n" });
        }
    }
}
