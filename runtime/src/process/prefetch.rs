//! Prefetching: asking the CPU to start loading the lines a process is about
//! to touch (its block, the stack lines around where it suspended, the frames
//! its exit will write) while other work goes on.
//!
//! Every hint here is only a hint: a prefetch never faults and reads no memory
//! architecturally, so a stale, wrong or unmapped address costs nothing but a
//! wasted fill. What they aim at is one field of the control block,
//! [`Hints`], written with relaxed stores (nothing is published through
//! it; a hint seen late or not at all only costs a miss) and never read
//! through. The rule for keeping a hint: with the two builds run alternately
//! (`bench/ab.sh`), it wins on the workload it targets on two CPU families
//! without hurting another row (docs/performance.md, the decision log, whose
//! ids the comments here cite).

use std::ptr::NonNull;

use super::Pcb;
use crate::sync::{AtomicBool, AtomicUsize, Ordering};

/// Where a process's next run will reach, as far as prefetching cares: the
/// control block's one field for it. Every access is relaxed: a hint is
/// never read through, and a stale one costs only a wasted fill.
#[derive(Default)]
pub(crate) struct Hints {
    /// Roughly its stack pointer when it last suspended (0: never yet).
    resume_sp: AtomicUsize,
    /// Woken by an abnormal exit signal: its next run is likely its exit.
    woken_to_exit: AtomicBool,
}

impl Hints {
    /// It suspends at about `sp`.
    #[inline]
    pub(crate) fn suspended_at(&self, sp: usize) {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.resume_sp.store(sp, Ordering::Relaxed);
    }

    /// It was woken, by an abnormal exit signal or by anything else.
    #[inline]
    pub(crate) fn woken(&self, to_exit: bool) {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.woken_to_exit.store(to_exit, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn woken_to_exit(&self) -> bool {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.woken_to_exit.load(Ordering::Relaxed)
    }

    #[inline]
    fn resume_sp(&self) -> usize {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.resume_sp.load(Ordering::Relaxed)
    }
}

impl Pcb {
    /// Asks the CPU to start loading what resuming this process will touch: its
    /// block and the stack lines around where it suspended (for the run-ahead:
    /// D4, D8).
    /// Reading where it suspended is a real load of the block: when the block
    /// is cold, prefetch it first ([`Pcb::prefetch_block`]) and call this a
    /// while later.
    #[inline]
    pub(crate) fn prefetch_for_resume(&self) {
        self.prefetch_block();
        let sp = self.hints.resume_sp();
        if sp != 0 {
            prefetch_range(sp.saturating_sub(RESUME_PREFETCH_BELOW), sp + RESUME_PREFETCH_ABOVE);
        }
    }

    /// [`Pcb::prefetch_for_exit`] if an exit signal woke it, else
    /// [`Pcb::prefetch_for_resume`] (the same caveat about a cold block holds).
    #[inline]
    pub(crate) fn prefetch_for_wake(&self) {
        if self.hints.woken_to_exit() {
            self.prefetch_for_exit();
        } else {
            self.prefetch_for_resume();
        }
    }

    /// Like [`Pcb::prefetch_for_resume`], for a resume that will end the
    /// process: its block, then its exit path ([`Pcb::prefetch_exit_path`]).
    #[inline]
    pub(crate) fn prefetch_for_exit(&self) {
        self.prefetch_block();
        self.prefetch_exit_path();
    }

    /// The stack lines a resume into its exit writes, for a process whose
    /// block is in cache: the frames below where it suspended (taking in the
    /// exit signal, deciding, unwinding), lines as cold as the rest, asked for
    /// exclusive (`prefetchw`; D15, D16). Not the lines around the suspension
    /// point first (D59, dropped in D63), nor up to the stack top (D53, D62).
    #[inline]
    pub(crate) fn prefetch_exit_path(&self) {
        let sp = self.hints.resume_sp();
        if sp != 0 {
            prefetch_range_for_write(sp.saturating_sub(EXIT_PREFETCH_BELOW), sp);
        }
    }

    /// Asks the CPU to start loading this process's block (no load waits for it).
    #[inline]
    pub(crate) fn prefetch_block(&self) {
        let block = self as *const Pcb as usize;
        prefetch_range(block, block + size_of::<Pcb>());
    }
}

/// A dying process is about to wake the processes it is linked to
/// (`linked`, found in the table under the caller's pin): start loading what
/// their resumes will touch now, while it unwinds, rather than when the exit
/// signal is sent, so each link of a chain overlaps with the previous one's
/// exit (D7). Only the first few: a process with many links would only evict
/// them. In two stages (D54): their blocks now; the first one's stack, whose
/// address is in its block, once the dying process has unwound (the returned
/// block: `Pcb::prefetch_exit_path` then), since reading that address now
/// would stall on the block's miss.
pub(crate) fn links_of_a_dying_process<'g>(linked: impl Iterator<Item = &'g Pcb>) -> Option<NonNull<Pcb>> {
    const FEW: usize = 4;
    if !cfg!(target_arch = "x86_64") {
        return None; // prefetching is a no-op elsewhere (see `prefetch_range`)
    }
    let mut first: Option<&Pcb> = None;
    for pcb in linked.take(FEW) {
        pcb.prefetch_block();
        first.get_or_insert(pcb);
    }
    first.map(NonNull::from)
}

/// The lines around its suspension point that a resume touches first.
const RESUME_PREFETCH_BELOW: usize = 256;
const RESUME_PREFETCH_ABOVE: usize = 768;

/// How far below its suspension point a killed process's exit path reaches
/// (taking in the exit signal, deciding, unwinding).
const EXIT_PREFETCH_BELOW: usize = 1024;

/// Prefetches the cache lines of `[start, end)`.
#[inline]
fn prefetch_range(start: usize, end: usize) {
    #[cfg(target_arch = "x86_64")]
    for line in (start..end).step_by(64) {
        // SAFETY: prefetch is a hint that never faults and reads no memory
        // architecturally; any address is allowed.
        unsafe { std::arch::x86_64::_mm_prefetch(line as *const i8, std::arch::x86_64::_MM_HINT_T0) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, end);
}

/// Prefetches the cache lines of `[start, end)` for writing (`prefetchw`: the
/// lines come exclusive, so the stores about to hit them need no second trip
/// to the core that last ran the process; D16).
/// Falls back to a read prefetch on a CPU without the instruction.
#[inline]
fn prefetch_range_for_write(start: usize, end: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if !*HAS_PREFETCHW {
            return prefetch_range(start, end);
        }
        for line in (start..end).step_by(64) {
            // SAFETY: the CPU has PREFETCHW (checked above); a prefetch is a hint
            // that never faults and changes no architectural state, so any
            // address is allowed.
            unsafe { std::arch::asm!("prefetchw [{}]", in(reg) line, options(nostack, preserves_flags, readonly)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (start, end);
}

/// CPUID 8000_0001h, ECX bit 8 (PRFCHW / 3DNowPrefetch): every AMD64 CPU,
/// Intel since Broadwell.
#[cfg(target_arch = "x86_64")]
static HAS_PREFETCHW: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    let extended = std::arch::x86_64::__cpuid(0x8000_0000).eax;
    extended >= 0x8000_0001 && std::arch::x86_64::__cpuid(0x8000_0001).ecx & (1 << 8) != 0
});
