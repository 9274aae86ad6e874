//! The bench-spec workloads on lariat, shared by the workload binary and the
//! criterion benches. Each returns what it measured; none prints.

pub mod seed;
pub mod workloads;

/// Resident set size of this OS process, in bytes (Linux `/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}
