//! Random supervision scenarios: a supervisor of random strategy and restart
//! intensity over random children (restart types, shutdowns, some that ignore
//! `shutdown`, some servers), started, then random child ends, calls and casts
//! to servers, and child-API requests. Calls and casts go only to server
//! children and `crash` only to plain ones (fixed by id: a step a child would
//! ignore would wait for its end forever). Every
//! step waits until the supervisor has handled it, so the log does not depend
//! on timing; steps after the supervisor has ended do nothing on either side.

use crate::generator::Rng;

const STRATEGIES: [&str; 3] = ["one_for_one", "one_for_all", "rest_for_one"];
const RESTARTS: [&str; 3] = ["permanent", "transient", "temporary"];
const ENDS: [&str; 4] = ["normal", "shutdown", "boom", "kill"];
const IDS: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

/// Children with these ids are servers (ended by a cast, answer calls); the
/// others plain processes (ended by a message): a step always fits its child.
const SERVERS: [&str; 2] = ["b", "e"];

fn child(rng: &mut Rng, sup: &str, id: &str, verb: &str) -> String {
    let restart = rng.pick(&RESTARTS);
    let server = SERVERS.contains(&id);
    let (shutdown, kind) = match rng.below(6) {
        0 => ("brutal_kill", ""),
        // Long enough for a loaded machine to let it log before its kill.
        1 if !server => ("500", " stubborn"),
        2 => ("infinity", ""),
        _ => ("1000", ""),
    };
    let kind = if server { " server" } else { kind };
    format!("{verb} {sup} {id} {restart} {shutdown}{kind}\n")
}

/// Supervision scenario number `seed`.
pub fn generate_supervision(seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1);
    let strategy = rng.pick(&STRATEGIES);
    let intensity = 1 + rng.below(4);
    let mut text = format!("# random supervision scenario, seed {seed}\nsup s {strategy} {intensity} 60\n");
    let initial = 1 + rng.below(4);
    for id in &IDS[..initial] {
        text += &child(&mut rng, "s", id, "child");
    }
    text += "start s\n";
    for _ in 0..3 + rng.below(6) {
        let id = IDS[rng.below(IDS.len())];
        let server = SERVERS.contains(&id);
        match rng.below(11) {
            0..=3 => match (rng.pick(&ENDS), server) {
                ("kill", _) => text += &format!("kill s {id}\n"),
                (reason, true) => text += &format!("cast s {id} {reason}\n"),
                (reason, false) => text += &format!("crash s {id} {reason}\n"),
            },
            4 => text += &format!("terminate_child s {id}\n"),
            5 => text += &format!("restart_child s {id}\n"),
            6 => text += &format!("delete_child s {id}\n"),
            7 => text += &child(&mut rng, "s", id, "start_child"),
            8 if server => text += &format!("call s {id}\n"),
            8 | 9 => text += "which s\n",
            _ => text += "count s\n",
        }
    }
    text += "which s\nstop s\n";
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_always_gives_the_same_scenario_and_seeds_differ() {
        assert_eq!(generate_supervision(7), generate_supervision(7));
        assert_ne!(generate_supervision(7), generate_supervision(8));
        assert!(generate_supervision(7).contains("start s\n"));
    }
}
