//! Random scenarios: random process graphs (links, monitors, trap flags, names,
//! messages) and exit orders, deterministic from a seed. Each operation is
//! followed by `settle_all`, so which processes live and what each one got do
//! not depend on timing; the order of messages from *different* senders can
//! (one exit fanning out to two processes that both die and both signal a
//! third), which ERTS leaves open too: see `same_up_to_sender_interleaving`.
//! A message's text names its sender, so every message has one.

/// A small deterministic generator (xorshift64*): the same seed gives the same
/// scenario on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];
const REASONS: [&str; 4] = ["normal", "kill", "boom", "shutdown"];
const REGISTERED: [&str; 2] = ["r1", "r2"];

/// The scenario for `seed` (as `conformance random --seed S` writes it).
pub fn generate(seed: u64) -> String {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let procs = 2 + rng.below(4);
    let names = &NAMES[..procs];
    let mut text = format!("# random scenario, seed {seed}\n");
    for name in names {
        let trap = if rng.below(3) == 0 { " trap" } else { "" };
        text.push_str(&format!("proc {name}{trap}\n"));
    }
    let mut monitors: Vec<(String, String)> = Vec::new();
    let steps = 3 + rng.below(8);
    for _ in 0..steps {
        let actor = rng.pick(names);
        let other = rng.pick(names);
        let op = match rng.below(20) {
            0..=4 => format!("link {other}"),
            5 => format!("unlink {other}"),
            6..=7 => {
                let monitor = format!("m{}", monitors.len() + 1);
                monitors.push((actor.to_owned(), monitor.clone()));
                format!("monitor {other} {monitor}")
            }
            8 => match monitors.iter().rfind(|(holder, _)| holder == actor) {
                Some((_, monitor)) if rng.below(2) == 0 => format!("demonitor {monitor}"),
                Some((_, monitor)) => format!("demonitor_flush {monitor}"),
                None => format!("send {other} from_{actor}"),
            },
            9 => format!("send {other} from_{actor}"),
            10..=11 => format!("exit {other} {}", rng.pick(&REASONS)),
            12..=13 => format!("exit_self {}", rng.pick(&REASONS)),
            14 => "crash".to_owned(),
            15 => format!("trap {}", if rng.below(2) == 0 { "on" } else { "off" }),
            16 => format!("register {}", rng.pick(&REGISTERED)),
            17 => format!("unregister {}", rng.pick(&REGISTERED)),
            18 => {
                let monitor = format!("m{}", monitors.len() + 1);
                monitors.push((actor.to_owned(), monitor.clone()));
                format!("monitor_name {} {monitor}", rng.pick(&REGISTERED))
            }
            _ => format!("send_name {} from_{actor}", rng.pick(&REGISTERED)),
        };
        text.push_str(&format!("{actor}: {op}\nsettle_all\n"));
    }
    text
}

/// Whether two traces agree where ERTS defines the outcome: the same processes
/// alive and dead with the same reasons, the same messages in each mailbox,
/// and the messages of each sender in the same order (signals between one pair
/// of processes are ordered; between different senders they are not).
pub fn same_up_to_sender_interleaving(otp: &str, lariat: &str) -> bool {
    fn blocks(trace: &str) -> Vec<(String, Vec<String>)> {
        let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
        for line in trace.lines() {
            match line.strip_prefix("  ") {
                Some(message) => match blocks.last_mut() {
                    Some((_, messages)) => messages.push(message.to_owned()),
                    None => return Vec::new(),
                },
                None => blocks.push((line.to_owned(), Vec::new())),
            }
        }
        blocks
    }
    /// Who sent a message line: `EXIT FROM r`, `DOWN M OBJECT r`, `MSG from_X`.
    fn sender(message: &str) -> String {
        let words: Vec<&str> = message.split(' ').collect();
        match words.as_slice() {
            ["EXIT", from, ..] => (*from).to_owned(),
            ["DOWN", _, object, ..] => (*object).to_owned(),
            ["MSG", text] => text.trim_start_matches("from_").to_owned(),
            _ => message.to_owned(),
        }
    }
    fn per_sender(messages: &[String]) -> std::collections::BTreeMap<String, Vec<&String>> {
        let mut map = std::collections::BTreeMap::new();
        for message in messages {
            map.entry(sender(message)).or_insert_with(Vec::new).push(message);
        }
        map
    }
    let (otp, lariat) = (blocks(otp), blocks(lariat));
    otp.len() == lariat.len()
        && otp.iter().zip(&lariat).all(|((a, ma), (b, mb))| a == b && per_sender(ma) == per_sender(mb))
}

#[cfg(test)]
mod tests {
    #[test]
    fn interleavings_of_different_senders_agree_and_of_one_sender_do_not() {
        let otp = "a: alive\n  EXIT b crash\n  EXIT c crash\nb: dead crash\n";
        let swapped = "a: alive\n  EXIT c crash\n  EXIT b crash\nb: dead crash\n";
        assert!(super::same_up_to_sender_interleaving(otp, swapped));
        let one_sender = "a: alive\n  MSG from_b\n  EXIT b boom\n";
        let reordered = "a: alive\n  EXIT b boom\n  MSG from_b\n";
        assert!(!super::same_up_to_sender_interleaving(one_sender, reordered));
        assert!(!super::same_up_to_sender_interleaving(otp, "a: alive\nb: dead crash\n"));
    }

    #[test]
    fn the_same_seed_gives_the_same_scenario_and_seeds_differ() {
        assert_eq!(super::generate(7), super::generate(7));
        assert_ne!(super::generate(7), super::generate(8));
    }
}
