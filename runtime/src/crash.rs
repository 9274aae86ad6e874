//! Crashes: the panic hook for process stacks and crash reports.
//!
//! A panic inside a process ends only that process, with a reason carrying the
//! panic message. The runtime's hook stays silent for panics on process stacks
//! (no default-hook backtrace per crash: a crash is an exit reason, reported to
//! links and monitors) and chains to the previous hook for every other thread of
//! the host program. A process that ends abnormally with nobody to tell is
//! reported through `tracing` (target `lariat::crash`), as Erlang logs a crash report.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::Once;

use crate::pid::Pid;
use crate::reason::Reason;

thread_local! {
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
    static PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
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
            if crate::stack::overflow::on_process_stack() {
                let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                PANIC_LOCATION.with(|slot| *slot.borrow_mut() = location);
                return;
            }
            previous(info);
        }));
    });
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

/// Runs `f`, containing a panic (user destructors run by the runtime: a panic
/// there must not take a worker thread down). The panic payload is leaked, not
/// dropped, since dropping it could panic again.
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            std::mem::forget(payload);
            None
        }
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
