//! The seed tutorial's scenarios, as tests (semantics.md §2: the seed's `kill`
//! picture is wrong; these assert what ERTS does).

use lariat::Runtime;
use lariat_bench::seed::{self, W2Ends};

fn runtime() -> Runtime {
    Runtime::builder().workers(2).build().unwrap()
}

#[test]
fn with_spawn_process_3_fails_and_the_others_finish() {
    let lines = seed::spawn_five(&runtime());
    let started = lines.iter().filter(|l| l.starts_with("Process id:") && l.ends_with("started")).count();
    let stopped: Vec<&String> = lines.iter().filter(|l| l.ends_with("stopped")).collect();
    assert_eq!(started, 5, "{lines:#?}");
    assert_eq!(stopped.len(), 4, "{lines:#?}");
    assert!(stopped.iter().all(|l| !l.starts_with("Process id:3 ")), "{lines:#?}");
    assert!(lines.contains(&"Process id:3 exits".to_owned()), "{lines:#?}");
    assert_eq!(lines.last().map(String::as_str), Some("the shell lives: spawn makes no link"));
}

#[test]
fn with_spawn_link_everyone_dies_including_the_shell() {
    let lines = seed::spawn_link_five(&runtime());
    assert!(!lines.iter().any(|l| l.ends_with("stopped")), "nobody finished its work: {lines:#?}");
    assert!(lines.contains(&"** (EXIT from shell) shell process exited with reason: :some_reason".to_owned()));
    for id in 1..=5 {
        let fate = format!("(observer) Process id:{id} died with :some_reason");
        assert!(lines.contains(&fate), "{lines:#?}");
    }
}

#[test]
fn a_trapping_shell_gets_some_reason_first_then_four_normal_exits() {
    let lines = seed::trapping_parent(&runtime());
    let flushed: Vec<&String> = lines.iter().skip_while(|l| *l != "iex> flush()").skip(1).take(5).collect();
    assert!(flushed[0].ends_with(":some_reason}"), "process 3 ended first: {lines:#?}");
    assert!(flushed[1..].iter().all(|l| l.ends_with(":normal}")), "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| l.ends_with("stopped")).count(), 4, "{lines:#?}");
    assert_eq!(lines.last().map(String::as_str), Some("the shell traps exits and lives"));
}

#[test]
fn exit_to_itself_ends_a_process_that_does_not_trap_with_normal_too() {
    assert_eq!(
        seed::exit_self(&runtime()),
        [
            "iex> Process.exit(self(), :normal)",
            "** (EXIT from shell) shell process exited with reason: :normal",
            "iex> Process.exit(self(), :some_error)",
            "** (EXIT from shell) shell process exited with reason: :some_error",
        ]
    );
}

fn fates(how: W2Ends) -> Vec<String> {
    seed::chain(&runtime(), how).into_iter().skip(1).map(|l| l.trim().to_owned()).collect()
}

#[test]
fn w2_ending_normally_affects_nobody_but_trapping_s4_hears_of_it() {
    assert_eq!(
        fates(W2Ends::Normal),
        ["W1 lives", "W2 dies with :normal", "S4 lives; got {:EXIT, W2, :normal}", "W3 lives", "S5 lives"]
    );
}

#[test]
fn w2_ending_with_boom_kills_w1_and_s4_traps_it() {
    assert_eq!(
        fates(W2Ends::Boom),
        ["W1 dies with :boom", "W2 dies with :boom", "S4 lives; got {:EXIT, W2, :boom}", "W3 lives", "S5 lives"]
    );
}

#[test]
fn w2_ending_itself_with_kill_kills_w1_with_kill_and_s4_survives_unlike_the_seed() {
    assert_eq!(
        fates(W2Ends::KillsItself),
        ["W1 dies with :kill", "W2 dies with :kill", "S4 lives; got {:EXIT, W2, :kill}", "W3 lives", "S5 lives"]
    );
}

#[test]
fn exit_w2_kill_makes_w2_killed_and_that_spreads_as_killed() {
    assert_eq!(
        fates(W2Ends::KilledByExit),
        ["W1 dies with :killed", "W2 dies with :killed", "S4 lives; got {:EXIT, W2, :killed}", "W3 lives", "S5 lives"]
    );
}

#[test]
fn a_supervisor_restarts_the_failed_worker_alone_then_gives_up_past_its_intensity() {
    let lines = lariat_bench::seed::supervision(&runtime());
    let restarted: Vec<&String> = lines.iter().filter(|l| l.contains("(restarted)")).collect();
    assert_eq!(restarted.len(), 1, "{lines:#?}");
    let entries: Vec<&str> = restarted[0].trim_start_matches("  children: ").split(", ").collect();
    let marked: Vec<bool> = entries.iter().map(|entry| entry.ends_with("(restarted)")).collect();
    assert_eq!(marked, vec![false, true, false], "only w2 was restarted: {lines:#?}");
    let stops: Vec<&String> = lines.iter().filter(|l| l.contains("stops:")).collect();
    assert_eq!(stops.len(), 2, "w3 and w1 are stopped: {lines:#?}");
    assert!(stops[0].contains("w3") && stops[1].contains("w1"), "last started first: {lines:#?}");
    assert_eq!(lines.last().map(String::as_str), Some("  the supervisor gives up and ends with :shutdown"));
}
