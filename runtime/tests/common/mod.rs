//! Helpers shared by the integration tests.
#![allow(dead_code)]

use lariat::Runtime;

/// A runtime with `workers` workers (tests state the count they rely on).
pub fn runtime(workers: usize) -> Runtime {
    Runtime::builder().workers(workers).build().expect("a test runtime")
}

/// Tells a process started by [`spawn_on_another_thread`] to go on.
pub struct Proceed;

/// Spawns (linked if `link`) a process that starts on another OS thread than
/// the caller's, then waits for [`Proceed`] and runs `then`. Respawns until it
/// starts elsewhere, so the caller can later block its own thread (outside the
/// runtime) while this one runs: the caller then takes in nothing meanwhile.
/// Needs a runtime with at least two workers.
pub fn spawn_on_another_thread(
    cx: &mut lariat::Cx,
    link: bool,
    then: impl Fn(&mut lariat::Cx) -> Result<(), lariat::Reason> + Clone + Send + 'static,
) -> Result<lariat::Pid, lariat::Reason> {
    use std::thread::ThreadId;
    let parent = cx.pid();
    let my_thread = std::thread::current().id();
    loop {
        let then = then.clone();
        let body = move |cx: &mut lariat::Cx| {
            cx.send(parent, std::thread::current().id());
            cx.receive::<Proceed>()?;
            then(cx)
        };
        let child = if link { cx.spawn_link(body)? } else { cx.spawn(body)? };
        // Displaces it from this worker's LIFO slot, where an idle worker can
        // take it before it starts.
        cx.spawn(|_| Ok(()))?;
        if cx.receive::<ThreadId>()? != my_thread {
            return Ok(child);
        }
        cx.unlink(child);
        cx.exit(child, lariat::Reason::Kill)?;
    }
}

/// Runs `then` in a process on another OS thread (see
/// [`spawn_on_another_thread`]) and lets it end while the caller takes
/// nothing in: the caller blocks its own thread (outside the runtime), so
/// what the process sent, and its exit signal if linked, stay in the caller's
/// queue. Returns its pid, gone. Needs a runtime with at least two workers.
pub fn let_end_elsewhere(
    cx: &mut lariat::Cx,
    link: bool,
    then: impl Fn(&mut lariat::Cx) -> Result<(), lariat::Reason> + Clone + Send + 'static,
) -> Result<lariat::Pid, lariat::Reason> {
    let gone = spawn_on_another_thread(cx, link, then)?;
    cx.send(gone, Proceed);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(cx.status(gone), None, "it has ended");
    Ok(gone)
}
