//! Every scenario in `conformance/scenarios/` run on lariat must give, byte for
//! byte, the golden trace recorded from Erlang/OTP (`conformance/goldens/`).

use std::path::PathBuf;

use lariat::Runtime;

fn corpus() -> Vec<PathBuf> {
    let dir = lariat_conformance::root().join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "scn"))
        .collect();
    files.sort();
    files
}

/// On one worker and on two: a process that polls or waits must not hold up
/// the one it waits for, whether they share a worker or not.
#[test]
fn every_scenario_gives_the_trace_recorded_from_real_otp() {
    for workers in [1, 2] {
        runs_the_corpus_on(workers);
    }
}

fn runs_the_corpus_on(workers: usize) {
    let runtime = Runtime::builder().workers(workers).build().expect("a runtime");
    let scenarios = corpus();
    assert!(scenarios.len() >= 130, "the corpus is missing: {} scenarios", scenarios.len());
    let mut failures = Vec::new();
    for scenario in &scenarios {
        let name = scenario.file_stem().expect("a file name").to_string_lossy().into_owned();
        let golden_path = lariat_conformance::root().join("goldens").join(format!("{name}.trace"));
        let golden = std::fs::read_to_string(&golden_path).unwrap_or_else(|error| {
            panic!("{}: {error} (record it with conformance/record.sh --write)", golden_path.display())
        });
        let text = std::fs::read_to_string(scenario).expect("a readable scenario");
        let trace = lariat_conformance::run(&runtime, &text).expect("a valid scenario");
        // A race ERTS leaves open is written as several allowed traces.
        if !golden.split(lariat_conformance::ALTERNATIVE).any(|allowed| allowed == trace) {
            failures.push(format!("{name}:\n--- OTP\n{golden}--- lariat\n{trace}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios differ from OTP on {workers} workers:\n{}",
        failures.len(),
        scenarios.len(),
        failures.join("\n")
    );
}

#[test]
fn a_bad_scenario_line_is_a_clear_error() {
    let runtime = Runtime::builder().workers(1).build().expect("a runtime");
    let error = lariat_conformance::run(&runtime, "proc a\nfrobnicate\n").unwrap_err();
    assert!(error.contains("frobnicate"), "{error}");
}
