//! Stack overflow in a process: a clear report, then abort.
//!
//! A process stack ends in a guard page, so an overflow faults instead of
//! writing into a neighbour. The SIGSEGV/SIGBUS handler (on the worker thread's
//! alternate signal stack) recognises a fault in a guard page of one of our slabs,
//! writes "stack overflow in process `<pid>` (stack N KiB; ...)" to stderr and
//! aborts: unwinding out of arbitrary Rust code at a faulting instruction is
//! unsound, so there is no recovery. Any other fault goes to the handler that was
//! installed before ours (Rust's own guard-page report, or the default action).

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Once;

use crate::sync::{Ordering, SignalSafeAtomicUsize as AtomicUsize};

use super::PAGE;

/// What the handler needs about the process running on this thread.
#[derive(Clone, Copy)]
struct Running {
    pid: u64,
    pid_shown: (u32, u32, u32),
    guard_start: usize,
    stack_size: usize,
}

thread_local! {
    static RUNNING: Cell<Option<Running>> = const { Cell::new(None) };
}

/// Marks `pid` as running on this thread on the stack with guard page
/// `[guard_start, guard_start + PAGE)`; `None` when the worker is back on its own stack.
pub(crate) fn set_running(pid: Option<crate::pid::Pid>, guard_start: usize, stack_size: usize) {
    RUNNING.with(|running| {
        running.set(pid.map(|pid| Running {
            pid: pid.to_bits(),
            pid_shown: (pid.runtime_id(), pid.index(), pid.serial()),
            guard_start,
            stack_size,
        }))
    });
}

const MAX_SLABS: usize = 1 << 14;
static SLAB_STARTS: [AtomicUsize; MAX_SLABS] = [const { AtomicUsize::new(0) }; MAX_SLABS];
static SLAB_LENS: [AtomicUsize; MAX_SLABS] = [const { AtomicUsize::new(0) }; MAX_SLABS];
static SLAB_SLOTS: [AtomicUsize; MAX_SLABS] = [const { AtomicUsize::new(0) }; MAX_SLABS];

/// Records a slab so that faults in its guard pages are recognised even when no
/// process is marked running (best effort: past `MAX_SLABS`, only the running
/// process's own guard is checked).
pub(crate) fn register_slab(start: usize, len: usize, slot_bytes: usize) {
    for i in 0..MAX_SLABS {
        // Relaxed load: a hint. The CAS to `usize::MAX` claims the entry, and only
        // its atomicity matters (one claimer); Relaxed, as nothing is read through
        // it: the handler skips a claimed entry until the Release store of the real
        // start below.
        if SLAB_STARTS[i].load(Ordering::Relaxed) == 0
            && SLAB_STARTS[i].compare_exchange(0, usize::MAX, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            SLAB_LENS[i].store(len, Ordering::Relaxed);
            SLAB_SLOTS[i].store(slot_bytes, Ordering::Relaxed);
            // Release pairs with the handler's Acquire load of the start: it then
            // sees this entry's length and slot size.
            SLAB_STARTS[i].store(start, Ordering::Release);
            return;
        }
    }
}

pub(crate) fn unregister_slab(start: usize) {
    for starts in SLAB_STARTS.iter() {
        // Relaxed: the handler only reads an entry whose start it sees; a zero start is skipped.
        if starts.compare_exchange(start, 0, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return;
        }
    }
}

static INSTALL: Once = Once::new();
static mut PREVIOUS_SEGV: Option<libc::sigaction> = None;
static mut PREVIOUS_BUS: Option<libc::sigaction> = None;

/// Installs the overflow handler once per OS process (it chains to the old one).
pub(crate) fn install_handler() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with valid pointers. The previous actions are read and
        // stored first, and only then is our handler installed, so it never reads
        // them before they are written (nothing writes them afterwards).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handle_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut old) == 0 {
                PREVIOUS_SEGV = Some(old);
                libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) == 0 {
                PREVIOUS_BUS = Some(old);
                libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut());
            }
        }
    });
}

/// An alternate signal stack for the current thread if it has none, so the
/// handler can run when the fault is a full stack. Returned value frees it.
pub(crate) struct AltStack {
    mapping: Option<(usize, usize)>,
}

impl AltStack {
    pub(crate) fn ensure() -> AltStack {
        // SAFETY: querying and setting this thread's alternate stack with valid pointers;
        // the mapping lives until `AltStack` is dropped at the end of the worker thread.
        unsafe {
            let mut current: libc::stack_t = std::mem::zeroed();
            if libc::sigaltstack(std::ptr::null(), &mut current) == 0 && current.ss_flags & libc::SS_DISABLE == 0 {
                return AltStack { mapping: None };
            }
            let len = 16 * PAGE + libc::SIGSTKSZ;
            let memory = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if memory == libc::MAP_FAILED {
                return AltStack { mapping: None };
            }
            let stack = libc::stack_t { ss_sp: memory, ss_flags: 0, ss_size: len };
            libc::sigaltstack(&stack, std::ptr::null_mut());
            AltStack { mapping: Some((memory as usize, len)) }
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((start, len)) = self.mapping {
            // SAFETY: disable the alternate stack we installed, then unmap it; the
            // thread is not handling a signal now.
            unsafe {
                let disable = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
                libc::sigaltstack(&disable, std::ptr::null_mut());
                libc::munmap(start as *mut libc::c_void, len);
            }
        }
    }
}

/// A fixed buffer for formatting without allocating inside the handler.
struct Report {
    buffer: [u8; 512],
    len: usize,
}

impl std::fmt::Write for Report {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let room = self.buffer.len() - self.len;
        let take = text.len().min(room);
        self.buffer[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

fn in_registered_guard(address: usize) -> bool {
    (0..MAX_SLABS).any(|i| {
        // Acquire pairs with the Release store of the start in `register_slab`,
        // made after the length and slot size: an entry seen with its start has them.
        let start = SLAB_STARTS[i].load(Ordering::Acquire);
        start != 0
            && address >= start
            && start != usize::MAX
            && address < start + SLAB_LENS[i].load(Ordering::Relaxed)
            && (address - start) % SLAB_SLOTS[i].load(Ordering::Relaxed).max(PAGE) < PAGE
    })
}

extern "C" fn handle_fault(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let address = unsafe { (*info).si_addr() } as usize;
    let running = RUNNING.with(Cell::get);
    let ours = running.filter(|r| address >= r.guard_start && address < r.guard_start + PAGE);
    if ours.is_some() || (running.is_none() && in_registered_guard(address)) {
        let mut report = Report { buffer: [0; 512], len: 0 };
        match ours {
            Some(r) => {
                let (runtime, index, serial) = r.pid_shown;
                let _ = writeln!(
                    report,
                    "lariat: stack overflow in process <{runtime}.{index}.{serial}> (stack {} KiB); \
                     raise it with Builder::stack_size or SpawnOptions::stack_size. Aborting.",
                    r.stack_size / 1024
                );
                let _ = r.pid;
            }
            None => {
                let _ = writeln!(report, "lariat: stack overflow in a process stack (guard page hit). Aborting.");
            }
        }
        // SAFETY: write(2) and abort(3) are async-signal-safe.
        unsafe {
            libc::write(2, report.buffer.as_ptr() as *const libc::c_void, report.len);
            libc::abort();
        }
    }
    chain(signal, info, context);
}

fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: PREVIOUS_* were written once before our handler was installed and are
    // only read afterwards.
    let previous = unsafe {
        if signal == libc::SIGBUS {
            (*std::ptr::addr_of!(PREVIOUS_BUS)).as_ref()
        } else {
            (*std::ptr::addr_of!(PREVIOUS_SEGV)).as_ref()
        }
    };
    match previous {
        Some(old) if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN => {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this signature.
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(old.sa_sigaction) };
                handler(signal, info, context);
            } else {
                // SAFETY: a plain handler takes only the signal number.
                let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(old.sa_sigaction) };
                handler(signal);
            }
        }
        _ => {
            // Restore the default action and return: the faulting instruction runs
            // again and the default action (a core dump) happens.
            // SAFETY: resetting a signal to SIG_DFL is always valid.
            unsafe {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
    }
}

/// Under AddressSanitizer (built with `--cfg lariat_asan`): forgets the poison
/// that unwound frames left on the stack of the process running on this
/// thread. The sanitizer clears that itself only on stacks it knows (it does
/// not know a coroutine's), and later calls reuse those addresses.
/// `reach`: how far below the stack pointer (a runtime call: nothing below it
/// is live, so nothing real is unpoisoned); `None`: the whole stack, after a
/// panic was caught (at the process's root, by `crash::contain`, before the
/// exit): what an unwind leaves is not only below the catching frame, and the
/// red zones of the live frames are cleared too (only shadow bytes: less
/// checking of those frames, never a false report).
#[inline(never)]
pub(crate) fn forget_unwound_frames(reach: Option<usize>) {
    #[cfg(lariat_asan)]
    if let Some(running) = RUNNING.with(|running| running.get()) {
        let marker = 0u8;
        let here = &marker as *const u8 as usize;
        let end = running.guard_start + crate::stack::PAGE;
        let top = end + running.stack_size;
        let below = match reach {
            Some(_) => here - 256,
            None => top,
        };
        let bottom = reach.map_or(end, |reach| below.saturating_sub(reach).max(end));
        if below > bottom {
            // SAFETY: a part of this process's own stack, which this thread
            // runs; unpoisoning only changes shadow bytes.
            unsafe { crate::stack::__asan_unpoison_memory_region(bottom as *const std::ffi::c_void, below - bottom) };
        }
    }
    #[cfg(not(lariat_asan))]
    let _ = reach;
}

/// The pid of the process this thread is executing now, as `<a.b.c>`.
#[inline(never)]
pub(crate) fn running_pid() -> Option<String> {
    RUNNING.with(|running| running.get()).map(|running| {
        let (runtime, index, serial) = running.pid_shown;
        format!("<{runtime}.{index}.{serial}>")
    })
}
