//! The reduction budget of a process's time slice, and how deep its stack
//! has been.
//!
//! Invariants: a charge never overdraws the budget (it saturates); a slice
//! ends where a call would overdraw it, at the gate (a call that passes the
//! gate twice, like `is_alive`, may yield at the second); the
//! lowest stack pointer seen only falls. It is sampled at runtime calls and
//! suspensions, and decides whether the stack's deep pages are given back when
//! the process ends.

/// Reductions in one time slice (ERTS uses 4000 function calls; ours are coarser).
pub(crate) const SLICE_REDUCTIONS: u32 = 2000;

// `repr(C)`: its fields sit in the `Cx`'s first cache line (see there).
#[repr(C)]
pub(super) struct Budget {
    /// Reductions spent in the slices before this one.
    spent_before: u64,
    lowest_sp: usize,
    left: u32,
}

impl Budget {
    pub(super) fn new() -> Budget {
        Budget { spent_before: 0, lowest_sp: usize::MAX, left: SLICE_REDUCTIONS }
    }

    /// Reductions spent so far.
    pub(super) fn spent(&self) -> u64 {
        self.spent_before + u64::from(SLICE_REDUCTIONS - self.left)
    }

    /// Whether a call costing `cost` must first end the slice.
    #[inline(always)]
    pub(super) fn would_overdraw(&self, cost: u32) -> bool {
        self.left <= cost
    }

    #[inline(always)]
    pub(super) fn charge(&mut self, cost: u32) {
        self.left = self.left.saturating_sub(cost);
    }

    /// A new slice begins (the process was resumed).
    #[inline(always)]
    pub(super) fn refill(&mut self) {
        self.spent_before += u64::from(SLICE_REDUCTIONS - self.left);
        self.left = SLICE_REDUCTIONS;
    }

    /// Records a stack pointer seen on the process's stack.
    #[inline(always)]
    pub(super) fn note_sp(&mut self, sp: usize) {
        self.lowest_sp = self.lowest_sp.min(sp);
    }

    pub(super) fn lowest_sp(&self) -> usize {
        self.lowest_sp
    }
}

/// Roughly the stack pointer of the caller (an address in its frame, once inlined).
#[inline(always)]
pub(super) fn stack_pointer() -> usize {
    let marker = 0u8;
    &marker as *const u8 as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charge_saturates_and_a_refill_keeps_the_total() {
        let mut budget = Budget::new();
        budget.charge(SLICE_REDUCTIONS - 10);
        assert!(budget.would_overdraw(10));
        assert!(!budget.would_overdraw(9));
        budget.charge(100);
        assert_eq!(budget.spent(), u64::from(SLICE_REDUCTIONS));
        budget.refill();
        budget.charge(5);
        assert_eq!(budget.spent(), u64::from(SLICE_REDUCTIONS) + 5);
    }

    #[test]
    fn the_lowest_stack_pointer_only_falls() {
        let mut budget = Budget::new();
        budget.note_sp(1000);
        budget.note_sp(2000);
        assert_eq!(budget.lowest_sp(), 1000);
        budget.note_sp(500);
        assert_eq!(budget.lowest_sp(), 500);
    }
}
