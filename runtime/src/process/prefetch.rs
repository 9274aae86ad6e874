//! Prefetching: asking the CPU to start loading the lines a process is about
//! to touch (its block, the stack lines around where it suspended, the frames
//! its exit will write) while other work goes on.
//!
//! Every hint here is only a hint: a prefetch never faults and reads no memory
//! architecturally, so a stale, wrong or unmapped address costs nothing but a
//! wasted fill. What they aim at is one field of the control block,
//! [`Hints`], written with relaxed stores (nothing is published through
//! it; a hint seen late or not at all only costs a miss) and never read through. The rule for keeping a hint: it wins in an A/B on two CPU
//! families on the workload it targets, without hurting another row
//! (`bench/ab.sh`; docs/performance.md, decision log).

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
    /// Its stack's top (the highest address), from its first run: an exit
    /// unwinds up to there.
    stack_top: AtomicUsize,
    /// The block of the process it last `spawn_link`ed (0: none): in a chain,
    /// the one its exit wakes next.
    linked_child: AtomicUsize,
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

    /// It got the stack whose top is `top`.
    pub(crate) fn started(&self, top: usize) {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.stack_top.store(top, Ordering::Relaxed);
    }

    /// It spawn_linked the process whose block is `child`.
    #[inline]
    pub(crate) fn spawn_linked(&self, child: NonNull<Pcb>) {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.linked_child.store(child.as_ptr() as usize, Ordering::Relaxed);
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

    #[inline]
    fn stack_top(&self) -> usize {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.stack_top.load(Ordering::Relaxed)
    }

    #[inline]
    fn linked_child(&self) -> usize {
        // Relaxed: pairs with nothing; a hint (see `Hints`).
        self.linked_child.load(Ordering::Relaxed)
    }
}

impl Pcb {
    /// Asks the CPU to start loading what resuming this process will touch: its
    /// block and the stack lines around where it suspended (measured on ring:
    /// ~300 → ~210 ns per hop). Only a hint: a stale or unmapped address costs
    /// nothing (prefetches never fault). Reading where it suspended is a real
    /// load of the block: when the block is cold, prefetch it first
    /// ([`Pcb::prefetch_block`]) and call this a while later.
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

    /// Like [`Pcb::prefetch_for_resume`], for a resume that will end the process:
    /// its exit path (taking in the exit signal, unwinding, `Cx::finish`) writes
    /// the frames below where it suspended, lines as cold as the rest, so those
    /// come exclusive (`prefetchw`). The frames above are not prefetched here:
    /// when this process is queued, `push_woken` prefetches around the
    /// suspension point, and prefetching up to the stack top as well (two
    /// dozen more lines) made every link row slower on Intel (link_chain 839 →
    /// 751 ns a hop without them, medians of 8, A/B; docs/performance.md).
    #[inline]
    pub(crate) fn prefetch_for_exit(&self) {
        self.prefetch_block();
        let sp = self.hints.resume_sp();
        if sp != 0 {
            prefetch_range_for_write(sp.saturating_sub(EXIT_PREFETCH_BELOW), sp);
        }
    }

    /// Everything a resume into its exit touches on its stack, for a process
    /// whose block is already in cache (see `Cx::prefetch_links`: the process
    /// that kills it calls this while it unwinds, well before it queues this
    /// one), in the order the resume needs them: the lines around where it
    /// suspended, the frames below (written: taking in the exit signal and
    /// deciding, ~650 bytes deep), then up to the stack top
    /// ([`Pcb::prefetch_exit_top`]). `push_woken` asks for the first and last
    /// part again, by then mostly in cache. Measured on link_chain, medians of
    /// 10, A/B, AMD EPYC (Zen 5): 361 ns a hop with only the frames below and
    /// the top, 312 with the lines around the suspension first. (On Intel,
    /// session 9, the frames below alone: 518 ns, and 541 with the lines
    /// around the suspension too: re-check there before trusting the order.)
    /// Last, the block of the process this one last spawn_linked
    /// ([`Hints::linked_child`]): in a chain, the next to die after this one.
    #[inline]
    pub(crate) fn prefetch_exit_frames(&self) {
        let sp = self.hints.resume_sp();
        if sp != 0 {
            prefetch_range(sp.saturating_sub(RESUME_PREFETCH_BELOW), sp + RESUME_PREFETCH_ABOVE);
            prefetch_range_for_write(sp.saturating_sub(EXIT_PREFETCH_BELOW), sp.saturating_sub(RESUME_PREFETCH_BELOW));
        }
        self.prefetch_exit_top();
        let next = self.hints.linked_child();
        if next != 0 {
            prefetch_range(next, next + size_of::<Pcb>());
        }
    }

    /// For a process about to be resumed into its exit, after
    /// [`Pcb::prefetch_for_resume`]: the lines from where that stops up to the
    /// stack top, which the unwind and the exit touch (the `Cx` and the
    /// coroutine's root frame sit at the top), at most
    /// `EXIT_TOP_PREFETCH_MAX` bytes of them. Measured on AMD EPYC (Zen 5):
    /// link_chain 427 → 340 ns a hop, medians of 8, A/B; ring, whose resumes
    /// return to the receive and never reach the top, got slower when every
    /// resume prefetched this far (147 → 196 ns a hop).
    #[inline]
    pub(crate) fn prefetch_exit_top(&self) {
        let sp = self.hints.resume_sp();
        let top = self.hints.stack_top();
        let start = sp + RESUME_PREFETCH_ABOVE;
        if sp != 0 && start < top {
            prefetch_range(start, top.min(start + EXIT_TOP_PREFETCH_MAX));
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
/// exit. Only the first few: a process with many links would only evict them.
/// In two stages: their blocks now; the first one's stack, whose address is
/// in its block, once the dying process has unwound (the returned block:
/// `Pcb::prefetch_exit_frames` then). Reading that address now would stall on
/// the block's miss, except when the first link is the process the dying one
/// last spawn_linked (`Hints::linked_child`): its killer prefetched that block a
/// hop ago, so both stages go now.
pub(crate) fn links_of_a_dying_process<'g>(dying: &Pcb, linked: impl Iterator<Item = &'g Pcb>) -> Option<NonNull<Pcb>> {
    const FEW: usize = 4;
    if !cfg!(target_arch = "x86_64") {
        return None; // prefetching is a no-op elsewhere (see `prefetch_range`)
    }
    let mut first: Option<&Pcb> = None;
    for pcb in linked.take(FEW) {
        pcb.prefetch_block();
        first.get_or_insert(pcb);
    }
    let hinted = dying.hints.linked_child();
    match first {
        Some(pcb) if std::ptr::from_ref(pcb) as usize == hinted => {
            pcb.prefetch_exit_frames();
            None
        }
        first => first.map(NonNull::from),
    }
}

/// The lines around its suspension point that a resume touches first.
const RESUME_PREFETCH_BELOW: usize = 256;
const RESUME_PREFETCH_ABOVE: usize = 768;

/// How far below its suspension point a killed process's exit path reaches
/// (taking in the exit signal, deciding, unwinding: measured ~650 bytes).
const EXIT_PREFETCH_BELOW: usize = 1024;

/// The most that [`Pcb::prefetch_exit_top`] asks for: a process suspended
/// deeper than this unwinds through lines that are not prefetched (each
/// prefetch holds a fill buffer; a link_chain member needs ~1 KiB).
const EXIT_TOP_PREFETCH_MAX: usize = 2048;

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
/// to the core that last ran the process: link_chain ~400 -> ~340 ns a hop).
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
