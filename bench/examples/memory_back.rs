//! Memory given back (issue 22): RSS before a spike of 1,000,000 idle
//! processes, at the spike, 10 s after they ended (the runtime idle), and
//! after `drop(runtime)` while a `Handle` is still alive.
//! `cargo run --release --example memory_back`

use std::time::Duration;

use lariat::{Reason, Runtime};
use lariat_bench::rss_bytes;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = Runtime::new()?;
    let handle = runtime.handle();
    runtime.block_on(|cx| {
        cx.spawn(|_| Ok(()))?;
        Ok::<_, Reason>(())
    })?;
    let before = rss_bytes();
    let peak = runtime.block_on(|cx| {
        let me = cx.pid();
        let mut children = Vec::new();
        for _ in 0..1_000_000 {
            children.push(cx.spawn(move |cx| {
                cx.send(me, ());
                cx.receive::<()>()
            })?);
        }
        for _ in 0..1_000_000 {
            cx.receive::<()>()?;
        }
        let peak = rss_bytes();
        for child in children {
            cx.send(child, ());
        }
        while cx.live_processes() > 1 {
            cx.sleep(Duration::from_millis(10))?;
        }
        Ok::<_, Reason>(peak)
    })?;
    std::thread::sleep(Duration::from_secs(10));
    let idle = rss_bytes();
    drop(runtime);
    std::thread::sleep(Duration::from_millis(500));
    let dropped = rss_bytes();
    println!(
        "RSS before {:.1} MiB, spike {:.1} MiB, 10 s after {:.1} MiB, after drop (a Handle alive) {:.1} MiB",
        mib(before),
        mib(peak),
        mib(idle),
        mib(dropped)
    );
    drop(handle);
    Ok(())
}
