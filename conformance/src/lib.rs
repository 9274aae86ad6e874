//! Differential conformance of lariat against real Erlang/OTP (issue #6,
//! docs/conformance.md): a scenario format, the lariat runner (the Erlang one
//! is `runner.escript` beside this crate), and a random scenario generator.

mod compare;
mod generator;
mod lariat_runner;
mod sup_generator;
mod sup_runner;

pub use compare::agrees;
pub use generator::generate;
pub use sup_generator::generate_supervision;

/// Runs one scenario on lariat and returns its canonical trace: a supervision
/// scenario (one with a `sup` line) on `lariat::supervisor`, any other on
/// processes, links and monitors.
pub fn run(runtime: &lariat::Runtime, scenario: &str) -> Result<String, String> {
    if scenario.lines().any(|line| line.trim_start().starts_with("sup ")) {
        sup_runner::run(runtime, scenario)
    } else {
        lariat_runner::run(runtime, scenario)
    }
}

use std::path::{Path, PathBuf};
use std::process::Command;

/// This crate's directory (scenarios, goldens, the escript).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Separates the allowed traces of a golden whose scenario has a race that
/// ERTS leaves open (lariat's trace must equal one of them; OTP's too).
pub const ALTERNATIVE: &str = "%% or\n";

/// The marker `runner.escript` prints between the traces of several scenarios.
pub const TRACE_END: &str = "%% end of trace";

/// Runs scenario files on real OTP in one VM (`escript runner.escript F...`);
/// returns one trace per file. Needs `escript` on the PATH.
pub fn run_on_otp(files: &[PathBuf]) -> Result<Vec<String>, String> {
    let output = Command::new("escript")
        .arg(root().join("runner.escript"))
        .args(files)
        .output()
        .map_err(|error| format!("cannot run escript ({error}); install erlang-base"))?;
    if !output.status.success() {
        return Err(format!("runner.escript failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let traces: Vec<String> =
        text.split_inclusive(&format!("{TRACE_END}\n")).map(|t| t.replace(&format!("{TRACE_END}\n"), "")).collect();
    if traces.len() != files.len() {
        return Err(format!("runner.escript gave {} traces for {} scenarios", traces.len(), files.len()));
    }
    Ok(traces)
}
