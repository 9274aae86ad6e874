//! Crashes: the panic hook for process stacks and crash reports.
//!
//! A panic inside a process ends only that process, with a reason carrying the
//! panic message. The runtime's hook stays silent for panics on process stacks
//! (no default-hook backtrace per crash: a crash is an exit reason, reported to
//! links and monitors) and chains to the previous hook for every other thread of
//! the host program. A process that ends abnormally with nobody to tell is
//! reported through `tracing` (target `lariat::crash`), as Erlang logs a crash report.
//!
//! One exception to the silence: a panic while a process is already unwinding
//! (a destructor that panics during a crash, a kill or the shutdown's forced
//! unwind) aborts the OS process, which no runtime can prevent. Before that
//! abort the hook writes to stderr which process it was, why it was unwinding
//! and every panic message involved, as plain Rust would for a thread.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Once;

use crate::pid::Pid;
use crate::reason::Reason;

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
    /// Why the process running on this thread is unwinding, and the panics
    /// seen since, until its root catches the unwind (see `panic_message`).
    static UNWINDING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The message std gives the panic that aborts when a destructor panics
/// during an unwind (the hook sees it last, just before the abort).
const ABORTING_PANICS: [&str; 2] = ["panic in a destructor during cleanup", "panic in a function that cannot unwind"];

/// Notes why the running process starts to unwind without a panic (told to
/// die and calling on; the runtime's drop), for the report of a panic during it.
#[inline(never)]
pub(crate) fn note_unwinding(why: String) {
    UNWINDING.with(|causes| causes.borrow_mut().push(why));
}

/// Marks the current thread as a worker thread of some runtime (or not).
pub(crate) fn mark_worker_thread(on: bool) {
    ON_WORKER.with(|flag| flag.set(on));
}

/// Whether the current thread is a worker (so blocking it would stall processes).
#[inline(never)]
pub(crate) fn on_worker_thread() -> bool {
    ON_WORKER.with(Cell::get)
}

static HOOK: Once = Once::new();

/// Installs the runtime's panic hook once per OS process.
pub(crate) fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(pid) = crate::stack::overflow::running_pid() {
                let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                let message = info.payload_as_str().unwrap_or("a panic with a non-string payload");
                if ABORTING_PANICS.contains(&message) {
                    report_abort(&pid, message);
                    return;
                }
                if cfg!(panic = "abort") {
                    report_panic_abort(&pid, message, location.as_deref());
                    return;
                }
                let seen = match &location {
                    Some(location) => format!("panicked: {message} (at {location})"),
                    None => format!("panicked: {message}"),
                };
                UNWINDING.with(|causes| causes.borrow_mut().push(seen));
                PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
                return;
            }
            previous(info);
        }));
    });
}

/// Writes the report of a panic during an unwind, just before the abort.
#[cold]
fn report_abort(pid: &str, message: &str) {
    use std::io::Write;
    let causes = UNWINDING.with(|causes| causes.borrow_mut().split_off(0));
    let mut report = format!(
        "lariat: process {pid} panicked while it was unwinding; Rust cannot unwind twice, so the OS process aborts ({message}).\n"
    );
    for cause in causes {
        report.push_str(&format!("  process {pid}: {cause}\n"));
    }
    report.push_str("  (a destructor that can run during an unwind must not panic: catch it inside the destructor)\n");
    let _ = std::io::stderr().write_all(report.as_bytes());
}

/// Under `panic = "abort"` a process's panic ends the OS process: the report
/// says which process and why, and how to contain it instead.
#[cold]
fn report_panic_abort(pid: &str, message: &str, location: Option<&str>) {
    use std::io::Write;
    let at = location.map(|location| format!(" (at {location})")).unwrap_or_default();
    let report = format!(
        "lariat: process {pid} panicked: {message}{at}. This build has panic = \"abort\", so the OS process \
         aborts; with panic = \"unwind\" (set it in your Cargo profile) the process would end with \
         Reason::Panic and its links and monitors would be told.\n"
    );
    let _ = std::io::stderr().write_all(report.as_bytes());
}

/// The root of a process caught its unwind: what was noted for it is over.
pub(crate) fn unwind_caught() {
    UNWINDING.with(|causes| causes.borrow_mut().clear());
}

/// The text of a panic payload, with where it happened when the hook saw it.
#[inline(never)]
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    };
    match PANIC_LOCATION.with(|slot| slot.borrow_mut().take()) {
        Some(location) => format!("{text} (at {location})"),
        None => text,
    }
}

/// How many unwinds this thread has noted so far (see [`end_caught_panic`]).
pub(crate) fn unwinds_noted() -> usize {
    UNWINDING.with(|causes| causes.borrow().len())
}

/// A panic caught inside a process (by the OTP layer, which turns it into a
/// reason, as OTP catches a callback's exception) is over: forgets what was
/// noted for it since `noted`, and gives its message (with its location).
pub(crate) fn end_caught_panic(noted: usize, payload: Box<dyn Any + Send>) -> String {
    UNWINDING.with(|causes| causes.borrow_mut().truncate(noted));
    #[cfg(lariat_asan)]
    crate::stack::overflow::forget_unwound_frames(None);
    let message = panic_message(payload.as_ref());
    contain(move || drop(payload));
    message
}

/// Runs `f`, containing a panic (user destructors run by the runtime: a panic
/// there must not take a worker thread down). The panic payload is leaked, not
/// dropped, since dropping it could panic again.
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Option<R> {
    let noted = UNWINDING.with(|causes| causes.borrow().len());
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            // That panic is over: it must not appear in a later abort's report.
            UNWINDING.with(|causes| causes.borrow_mut().truncate(noted));
            #[cfg(lariat_asan)]
            crate::stack::overflow::forget_unwound_frames(None);
            std::mem::forget(payload);
            None
        }
    }
}

/// Drops `value`, containing a panic of its destructor (see `contain`).
pub(crate) fn drop_contained<T>(value: T) {
    contain(move || drop(value));
}

/// Drops every value one at a time, each contained: dropping them together
/// would run the rest during the unwind of the first panic, and a second
/// panic there aborts the OS process.
pub(crate) fn drop_each_contained<T>(values: impl IntoIterator<Item = T>) {
    for value in values {
        drop_contained(value);
    }
}

/// Reports an abnormal exit that nobody links to or monitors.
pub(crate) fn report_exit(pid: Pid, reason: &Reason) {
    if matches!(reason, Reason::Normal | Reason::Shutdown) {
        return;
    }
    #[cfg(feature = "tracing")]
    tracing::error!(target: "lariat::crash", %pid, %reason, "process exited abnormally with nobody linked or monitoring it");
    #[cfg(not(feature = "tracing"))]
    let _ = pid;
}
