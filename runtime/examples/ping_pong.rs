//! Two processes play ping-pong: messages, typed receive, and a process that
//! ends when it is told to.
//!
//! Run it: `cargo run --release -p lariat --example ping_pong`.

use lariat::{Pid, Reason, Runtime};

/// The ball: who threw it, and how many throws are left.
struct Ball {
    from: Pid,
    left: u32,
}

/// Sent instead of the ball once the rally is over.
struct GameOver;

/// Returns the ball until the rally is over; answers `GameOver` and ends.
fn player(cx: &mut lariat::Cx) -> Result<u32, Reason> {
    let mut hits = 0;
    loop {
        // One receive for either message: `receive_map` takes the first that the
        // closure accepts (here, either type), leaving anything else queued.
        let ball = cx.receive_map(|message| {
            if message.is::<GameOver>() {
                Some(None)
            } else {
                message.downcast_mut::<Ball>().map(|ball| Some((ball.from, ball.left)))
            }
        })?;
        let Some((from, left)) = ball else { return Ok(hits) };
        hits += 1;
        if left == 0 {
            cx.send(from, GameOver);
            return Ok(hits);
        }
        cx.send(from, Ball { from: cx.pid(), left: left - 1 });
    }
}

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::new()?;
    let rally = 100_000;
    let hits = runtime.block_on(move |cx| {
        let me = cx.pid();
        // The other player: a process of its own, which tells us its hits when done.
        let pong = cx.spawn(move |cx| {
            let hits = player(cx)?;
            cx.send(me, hits);
            Ok(())
        })?;
        cx.send(pong, Ball { from: me, left: rally });
        let ping_hits = player(cx)?;
        let pong_hits = cx.receive::<u32>()?;
        Ok::<_, Reason>((ping_hits, pong_hits))
    })?;
    println!("ping hit the ball {} times, pong {} times", hits.0, hits.1);
    assert_eq!(hits.0 + hits.1, rally + 1, "every throw was returned once");
    Ok(())
}
