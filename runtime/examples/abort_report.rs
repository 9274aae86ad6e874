//! What a process's fatal end prints before the OS process aborts, for the
//! check in `.ci/run` that builds this example with `-C panic=abort` (and
//! lariat's feature `panic-abort`, without which such a build is refused):
//! `abort_report panic` (a panic in a process) or `abort_report overflow`
//! (a stack overflow in a process). Either way stderr names the process.

use lariat::{Reason, Runtime};

#[inline(never)]
fn deeper(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 4096]);
    if std::hint::black_box(depth) == u64::MAX {
        return 0; // never: the stack runs out long before
    }
    deeper(depth + 1) + std::hint::black_box(frame[0]) as u64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let runtime = Runtime::new()?;
    runtime.block_on(move |_| {
        match mode.as_str() {
            "panic" => panic!("the disk is on fire"),
            "overflow" => {
                deeper(0);
            }
            _ => eprintln!("usage: abort_report panic|overflow"),
        }
        Ok::<_, Reason>(())
    })?;
    Ok(())
}
