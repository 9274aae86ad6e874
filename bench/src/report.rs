//! How the main job shows its work: a progress bar per row while it runs (in a
//! terminal), the row's figures printed the moment it finishes (also when piped),
//! each figure the median of the runs with its spread.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lariat_bench::workloads::Progress;

/// One figure of one run of a row.
pub struct Figure {
    pub figure: &'static str,
    pub value: f64,
    pub unit: &'static str,
    /// Only the first run's value counts: the figure measures memory that the
    /// first run takes and later runs reuse (their growth says nothing).
    first_run_only: bool,
}

impl Figure {
    pub fn new(figure: &'static str, value: f64, unit: &'static str) -> Self {
        Figure { figure, value, unit, first_run_only: false }
    }

    /// A figure of memory growth: see `first_run_only`.
    pub fn memory(figure: &'static str, value: f64, unit: &'static str) -> Self {
        Figure { figure, value, unit, first_run_only: true }
    }

    /// `elapsed` divided over `ops`, in nanoseconds.
    pub fn per_op_ns(figure: &'static str, elapsed: Duration, ops: u64) -> Self {
        Figure::new(figure, elapsed.as_nanos() as f64 / ops as f64, "ns")
    }
}

/// What one run of a row measured, or why it could not.
pub type RunResult = Result<Vec<Figure>, String>;

/// A figure over every run of its row.
struct Summary {
    figure: &'static str,
    unit: &'static str,
    median: f64,
    /// Half the distance between the lowest and the highest run, relative to
    /// the median: the table's `±` (`None`: the first run's value alone).
    spread: Option<f64>,
}

/// Where the figures go: a table for people or JSON lines for scripts, one
/// row's lines as soon as the row is done.
pub struct Reporter {
    json: bool,
    runs: usize,
    out: std::io::Stdout,
}

/// The widest line the table and the bars may take.
const COLUMNS: usize = 80;

impl Reporter {
    /// Prints the table's title and header (nothing in JSON mode).
    pub fn new(json: bool, runs: usize, title: &str) -> Self {
        let reporter = Reporter { json, runs, out: std::io::stdout() };
        if !json {
            let how =
                if runs == 1 { "one run".to_string() } else { format!("median of {runs} runs, ± half the range") };
            reporter.write(&format!("{title}; {how}\n{:<18} {:<36} {:>14} {:>8}", "row", "figure", "value", "±"));
        }
        reporter
    }

    /// Runs one row `self.runs` times (after `warm_up` untimed runs) with a
    /// bar named `label` of `steps` per run (`0`: the row reports no steps, the
    /// bar counts runs), then prints its figures under `name`.
    pub fn row(
        &self,
        name: &'static str,
        label: &str,
        steps: u64,
        warm_up: usize,
        mut run: impl FnMut(Progress) -> RunResult,
    ) -> Result<(), String> {
        let runs = warm_up + self.runs;
        let per_run = steps.max(1);
        let bar = row_bar(label, per_run * runs as u64);
        let mut all_runs = Vec::with_capacity(self.runs);
        // The very first run's memory figures, a warm-up's included: later
        // runs reuse the memory it took.
        let mut first_memory = Vec::new();
        for done_runs in 0..runs {
            bar.set_message(if done_runs < warm_up {
                "warm-up".to_string()
            } else {
                format!("run {} of {}", done_runs - warm_up + 1, self.runs)
            });
            let progress: Progress = if steps == 0 {
                Arc::new(|_| {})
            } else {
                let bar = bar.clone();
                let offset = done_runs as u64 * per_run;
                Arc::new(move |done: u64| bar.set_position(offset + done.min(per_run)))
            };
            let figures = run(progress).map_err(|why| {
                bar.abandon();
                format!("row {name} failed: {why}")
            })?;
            bar.set_position((done_runs as u64 + 1) * per_run);
            if done_runs == 0 {
                first_memory =
                    figures.iter().filter(|figure| figure.first_run_only).map(|figure| figure.value).collect();
            }
            if done_runs >= warm_up {
                all_runs.push(figures);
            }
        }
        // `finish` draws the bar at 100 % (a last redraw); then it goes, and
        // the row's figures take its place.
        bar.finish();
        bar.finish_and_clear();
        self.print(name, &summarise(name, all_runs, &first_memory)?);
        Ok(())
    }

    fn print(&self, name: &str, summaries: &[Summary]) {
        let mut lines = String::new();
        for summary in summaries {
            if self.json {
                lines.push_str(&format!(
                    r#"{{"row":"{}","figure":"{}","value":{:.*},"unit":"{}"}}"#,
                    name,
                    summary.figure,
                    json_decimals(summary.unit),
                    summary.median,
                    summary.unit
                ));
            } else {
                let value = format!("{} {}", human(summary.median, summary.unit), summary.unit);
                let spread = match summary.spread {
                    _ if self.runs == 1 => String::new(),
                    None => "1st run".to_string(),
                    Some(spread) if spread >= 10.0 => ">999 %".to_string(),
                    Some(spread) => format!("{:.1} %", 100.0 * spread),
                };
                let line = format!("{name:<18} {:<36} {value:>14} {spread:>8}", summary.figure);
                debug_assert!(line.chars().count() <= COLUMNS, "a table line wider than {COLUMNS} columns: {line}");
                lines.push_str(&line);
            }
            lines.push('\n');
        }
        self.write(lines.trim_end());
    }

    /// Writes `text` and a newline, flushed at once (a pipe sees each row as it
    /// finishes). A reader that closed the pipe early (`| head -1`) just ends
    /// the output.
    fn write(&self, text: &str) {
        let mut out = self.out.lock();
        let result = writeln!(out, "{text}").and_then(|()| out.flush());
        if let Err(error) = result
            && error.kind() != std::io::ErrorKind::BrokenPipe
        {
            eprintln!("lariat: writing the figures failed: {error}");
        }
    }
}

/// Medians and spreads per figure, in the order the runs gave them; a
/// memory figure takes its value from `first_memory` (the first run's, in
/// order), or from the first timed run.
fn summarise(name: &str, runs: Vec<Vec<Figure>>, first_memory: &[f64]) -> Result<Vec<Summary>, String> {
    let mut first_memory = first_memory.iter();
    let first = runs.first().ok_or_else(|| format!("row {name} ran no timed run"))?;
    let mut summaries = Vec::with_capacity(first.len());
    for (index, figure) in first.iter().enumerate() {
        let mut values: Vec<f64> = runs
            .iter()
            .map(|run| run.get(index).filter(|other| other.figure == figure.figure).map(|other| other.value))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("row {name}: its runs gave different figures"))?;
        if figure.first_run_only {
            let first = first_memory.next().copied().unwrap_or(values[0]);
            summaries.push(Summary { figure: figure.figure, unit: figure.unit, median: first, spread: None });
            continue;
        }
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median =
            if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] };
        let (low, high) = (values[0], values[values.len() - 1]);
        let spread = if median == 0.0 { 0.0 } else { (high - low) / 2.0 / median };
        summaries.push(Summary { figure: figure.figure, unit: figure.unit, median, spread: Some(spread) });
    }
    Ok(summaries)
}

/// Decimals in JSON: milliseconds for seconds, one decimal for the rest.
fn json_decimals(unit: &str) -> usize {
    if unit == "s" { 3 } else { 1 }
}

/// A value for people: seconds to the millisecond, large numbers whole with
/// thousands separators, small ones with one or two decimals.
pub fn human(value: f64, unit: &str) -> String {
    if unit == "s" {
        return format!("{value:.3}");
    }
    if value.abs() >= 100.0 {
        return thousands(value.round() as i64);
    }
    if value.abs() >= 10.0 { format!("{value:.1}") } else { format!("{value:.2}") }
}

fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0 { format!("-{grouped}") } else { grouped }
}

/// A row's bar on stderr, redrawn ten times a second. indicatif draws nothing
/// when stderr is not a terminal; the figures still go to stdout row by row.
fn row_bar(label: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix:<18} [{bar:28}] {percent:>3}% {msg} {elapsed:>4}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    if std::io::stderr().is_terminal() {
        bar.enable_steady_tick(Duration::from_millis(100));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_are_whole_with_separators_and_small_ones_keep_decimals() {
        assert_eq!(human(1_529_202.3, "/s"), "1,529,202");
        assert_eq!(human(253.4, "ns"), "253");
        assert_eq!(human(45.34, "ns"), "45.3");
        assert_eq!(human(1.3, "ns"), "1.30");
        assert_eq!(human(0.4642, "s"), "0.464");
        assert_eq!(thousands(-1234), "-1,234");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn the_median_and_spread_come_from_every_run() {
        let run = |value| vec![Figure::new("ns per x", value, "ns")];
        let summaries = summarise("row", vec![run(110.0), run(90.0), run(100.0)], &[]).unwrap();
        assert_eq!(summaries[0].median, 100.0);
        assert!((summaries[0].spread.unwrap() - 0.1).abs() < 1e-9);
    }

    #[test]
    fn a_memory_figure_is_the_first_runs() {
        let run = |value| vec![Figure::memory("bytes per x", value, "B")];
        let summaries = summarise("row", vec![run(4000.0), run(10.0), run(12.0)], &[]).unwrap();
        assert_eq!(summaries[0].median, 4000.0);
        assert!(summaries[0].spread.is_none());
        // After a warm-up, the warm-up's value.
        let summaries = summarise("row", vec![run(10.0), run(12.0)], &[4100.0]).unwrap();
        assert_eq!(summaries[0].median, 4100.0);
    }

    #[test]
    fn an_even_number_of_runs_has_the_middle_two_averaged() {
        let run = |value| vec![Figure::new("ns per x", value, "ns")];
        let summaries = summarise("row", vec![run(100.0), run(300.0)], &[]).unwrap();
        assert_eq!(summaries[0].median, 200.0);
    }

    #[test]
    fn runs_that_disagree_on_their_figures_are_an_error() {
        let runs = vec![vec![Figure::new("a", 1.0, "ns")], vec![Figure::new("b", 1.0, "ns")]];
        assert!(summarise("row", runs, &[]).is_err());
    }
}
