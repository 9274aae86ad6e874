//! Comparing a lariat trace with OTP's where ERTS leaves an order open.
//!
//! Exact by default. The one freedom ERTS has in these scenarios is the order
//! in which signals from *different* senders reach a process when they are
//! sent at the same time (an exit fanning out to two processes that both die
//! and both signal a third). A scenario says where that can happen: a step
//! `mark racy` closes a stretch of steps whose messages may interleave that
//! way; `mark` closes one whose messages may not. Each mark puts `MSG @K` in
//! every live mailbox (both runners), so each message is known to belong to
//! one stretch.
//!
//! Within a racy stretch, two messages may trade places only if both name
//! their sender and the senders differ. A message names its sender if it is an
//! `EXIT FROM`, a `DOWN` of a monitor by pid (about that process), or a
//! `MSG from_X`. Every other message keeps its exact place: an answer a
//! process sent itself (`whereis_…`, `is_alive_…`, …), and a `DOWN` of a monitor
//! by name (which process it is about does not show). Messages of one sender,
//! and notices about one process, keep their order.

use std::collections::{BTreeMap, HashSet};

/// Whether `lariat`'s trace agrees with `otp`'s for `scenario` (see the module docs).
pub fn agrees(scenario: &str, otp: &str, lariat: &str) -> bool {
    if otp == lariat {
        return true;
    }
    let plan = Plan::of(scenario);
    let (otp, lariat) = (blocks(otp), blocks(lariat));
    otp.len() == lariat.len()
        && otp.iter().zip(&lariat).all(|((head_a, box_a), (head_b, box_b))| {
            head_a == head_b && {
                let owner = head_a.split(':').next().unwrap_or("");
                mailboxes_agree(&plan, owner, box_a, box_b)
            }
        })
}

/// What the comparison needs to know of a scenario.
struct Plan {
    /// The names of its processes (the other names in a trace are registered names).
    processes: HashSet<String>,
    /// For each mark, in order: whether it closes a racy stretch.
    racy: Vec<bool>,
}

impl Plan {
    fn of(scenario: &str) -> Plan {
        let mut processes = HashSet::new();
        let mut racy = Vec::new();
        for line in scenario.lines() {
            let words: Vec<&str> = line.split('#').next().unwrap_or("").split_whitespace().collect();
            match words.as_slice() {
                ["proc", name, ..] => {
                    processes.insert((*name).to_owned());
                }
                [_, "spawn_link", new, ..] | [_, "spawn_monitor", new, ..] => {
                    processes.insert((*new).to_owned());
                }
                ["mark"] => racy.push(false),
                ["mark", "racy"] => racy.push(true),
                _ => {}
            }
        }
        Plan { processes, racy }
    }

    /// Who sent `message` to `owner`, if the trace line shows it for sure.
    fn sender<'a>(&self, owner: &'a str, message: &'a str) -> Option<&'a str> {
        let words: Vec<&str> = message.split(' ').collect();
        match words.as_slice() {
            ["EXIT", from, ..] if self.processes.contains(*from) => Some(from),
            ["DOWN", _, object, ..] if self.processes.contains(*object) => Some(object),
            ["MSG", text] => Some(text.strip_prefix("from_").unwrap_or(owner)),
            _ => None,
        }
    }
}

fn blocks(trace: &str) -> Vec<(&str, Vec<&str>)> {
    let mut blocks: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in trace.lines() {
        match (line.strip_prefix("  "), blocks.last_mut()) {
            (Some(message), Some((_, mailbox))) => mailbox.push(message),
            _ => blocks.push((line, Vec::new())),
        }
    }
    blocks
}

fn is_marker(message: &str) -> bool {
    message.starts_with("MSG @")
}

fn mailboxes_agree(plan: &Plan, owner: &str, a: &[&str], b: &[&str]) -> bool {
    let (stretches_a, stretches_b) = (stretches(a), stretches(b));
    stretches_a.len() == stretches_b.len()
        && stretches_a.iter().zip(&stretches_b).all(|((end_a, part_a), (end_b, part_b))| {
            end_a == end_b && {
                // A stretch closed by mark K (`MSG @K`) is racy if that mark is.
                let racy = end_a
                    .and_then(|marker| marker.trim_start_matches("MSG @").parse::<usize>().ok())
                    .and_then(|k| plan.racy.get(k.wrapping_sub(1)).copied())
                    .unwrap_or(false);
                if racy { same_up_to_racy_interleaving(plan, owner, part_a, part_b) } else { part_a == part_b }
            }
        })
}

/// A mailbox cut at its markers: each stretch's messages and the marker that
/// closes it (`None` for what came after the last one).
fn stretches<'a>(mailbox: &[&'a str]) -> Vec<(Option<&'a str>, Vec<&'a str>)> {
    let mut stretches = vec![(None, Vec::new())];
    for &message in mailbox {
        if is_marker(message) {
            stretches.last_mut().expect("never empty").0 = Some(message);
            stretches.push((None, Vec::new()));
        } else {
            stretches.last_mut().expect("never empty").1.push(message);
        }
    }
    stretches
}

fn same_up_to_racy_interleaving(plan: &Plan, owner: &str, a: &[&str], b: &[&str]) -> bool {
    fn per_sender<'a>(plan: &Plan, owner: &str, part: &[&'a str]) -> BTreeMap<String, Vec<&'a str>> {
        let mut map: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (position, &message) in part.iter().enumerate() {
            // A message that does not show its sender keeps its exact place.
            let key = match plan.sender(owner, message) {
                Some(sender) => sender.to_owned(),
                None => format!("#{position}"),
            };
            map.entry(key).or_default().push(message);
        }
        map
    }
    a.len() == b.len() && per_sender(plan, owner, a) == per_sender(plan, owner, b)
}

#[cfg(test)]
mod tests {
    use super::agrees;

    /// d crashes; b and c, linked to d and to the trapping a, die at once.
    const FAN_OUT: &str = "proc a trap\nproc b\nproc c\nproc d\nb: link a\nc: link a\nb: link d\nc: link d\n\
                           d: crash\nsettle_all\nmark racy\n";

    #[test]
    fn different_senders_may_trade_places_in_a_racy_stretch() {
        let otp = "a: alive\n  EXIT b crash\n  EXIT c crash\n  MSG @1\nb: dead crash\n";
        let lariat = "a: alive\n  EXIT c crash\n  EXIT b crash\n  MSG @1\nb: dead crash\n";
        assert!(agrees(FAN_OUT, otp, lariat));
    }

    #[test]
    fn without_a_racy_mark_the_order_is_exact() {
        let scenario = FAN_OUT.replace("mark racy", "mark");
        let otp = "a: alive\n  EXIT b crash\n  EXIT c crash\n  MSG @1\n";
        let lariat = "a: alive\n  EXIT c crash\n  EXIT b crash\n  MSG @1\n";
        assert!(!agrees(&scenario, otp, lariat));
        let unmarked = FAN_OUT.replace("mark racy\n", "");
        assert!(!agrees(
            &unmarked,
            "a: alive\n  EXIT b crash\n  EXIT c crash\n",
            "a: alive\n  EXIT c crash\n  EXIT b crash\n"
        ));
    }

    #[test]
    fn a_settled_earlier_exit_cannot_move_behind_a_later_message() {
        let scenario = format!("{FAN_OUT}e: send a from_e\nsettle_all\nmark racy\n");
        let otp = "a: alive\n  EXIT b crash\n  MSG @1\n  MSG from_e\n  MSG @2\n";
        let lariat = "a: alive\n  MSG from_e\n  MSG @1\n  EXIT b crash\n  MSG @2\n";
        assert!(!agrees(&scenario, otp, lariat));
    }

    #[test]
    fn two_answers_a_process_sent_itself_keep_their_order() {
        let otp = "a: alive\n  MSG whereis_r1_undefined\n  MSG is_alive_b_false\n  MSG @1\n";
        let lariat = "a: alive\n  MSG is_alive_b_false\n  MSG whereis_r1_undefined\n  MSG @1\n";
        assert!(!agrees(FAN_OUT, otp, lariat));
    }

    #[test]
    fn a_down_by_name_keeps_its_place_against_the_same_process_exit() {
        let otp = "a: alive\n  EXIT b crash\n  DOWN m1 r1 crash\n  MSG @1\n";
        let lariat = "a: alive\n  DOWN m1 r1 crash\n  EXIT b crash\n  MSG @1\n";
        assert!(!agrees(FAN_OUT, otp, lariat));
    }

    #[test]
    fn one_sender_keeps_its_order_and_nothing_goes_missing() {
        let otp = "a: alive\n  MSG from_b\n  EXIT b crash\n  MSG @1\n";
        let reordered = "a: alive\n  EXIT b crash\n  MSG from_b\n  MSG @1\n";
        assert!(!agrees(FAN_OUT, otp, reordered));
        assert!(!agrees(FAN_OUT, otp, "a: alive\n  MSG from_b\n  MSG @1\n"));
        assert!(!agrees(FAN_OUT, "b: dead crash\n", "b: dead killed\n"));
    }
}
