//! Selective receive: take the message you want now, leave the rest queued in
//! arrival order for later, as Erlang's `receive` does.
//!
//! A process asks two workers for answers; they arrive in any order, mixed
//! with log lines. It handles the answers in the order it needs them, then the
//! log lines, which were never lost.
//!
//! Run it: `cargo run --release -p lariat --example selective_receive`.

use std::time::Duration;

use lariat::{Pid, Reason, Runtime};

/// A worker's answer, tagged with which question it answers.
struct Answer {
    question: &'static str,
    value: u64,
}

/// Something to print later, from anyone.
struct Log(String);

fn worker(cx: &mut lariat::Cx, asker: Pid, question: &'static str, value: u64) -> Result<(), Reason> {
    cx.send(asker, Log(format!("{question}: working on it")));
    cx.send(asker, Answer { question, value });
    Ok(())
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::new()?;
    let lines = runtime.block_on(|cx| {
        let me = cx.pid();
        cx.spawn(move |cx| worker(cx, me, "width", 6))?;
        cx.spawn(move |cx| worker(cx, me, "height", 7))?;
        // Whatever order they come in, take "width" first, then "height":
        // `receive_if` skips the messages its test refuses and leaves them queued.
        let width = cx.receive_if::<Answer>(|answer| answer.question == "width")?.value;
        let height = cx.receive_if::<Answer>(|answer| answer.question == "height")?.value;
        let mut lines = vec![format!("area = {width} × {height} = {}", width * height)];
        // The log lines are still there, in the order they arrived. A receive
        // with a timeout ends the loop once the mailbox has none left.
        while let Some(Log(line)) = cx.receive_timeout::<Log>(Duration::ZERO)? {
            lines.push(format!("log: {line}"));
        }
        Ok::<_, Reason>(lines)
    })?;
    for line in &lines {
        println!("{line}");
    }
    assert_eq!(lines[0], "area = 6 × 7 = 42");
    assert_eq!(lines.len(), 3, "both log lines were kept: {lines:?}");
    Ok(())
}
