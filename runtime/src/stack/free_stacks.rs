//! The pool's free stacks, by address: one bit per carved slot of each slab.
//!
//! The pool hands out its free stacks lowest address first. Processes spawned
//! one after another then get neighbouring stacks even after a churn of spawns
//! and exits has given stacks back in scrambled order: a chain of linked
//! processes built after a churn otherwise has many of its neighbours' stacks
//! far apart (not sharing a page-table page), and each hop of its exit pays
//! for it (D37). A stack given back is recorded by setting
//! its bit, so nothing is allocated on the exit path.
//!
//! A free stack is *warm* (its touched pages still resident) until the pool
//! trims it (`trim_warm`): then it is *cold* until it is taken again.
//!
//! Invariants: a bit is set iff its slot was carved and its stack is free in
//! the pool; each slab's `free` counts its set bits and `free` the total; no
//! slab before `lowest` (in address order) has a set bit; a `cold` bit is set
//! only where the free bit is.

/// The free slots of a pool's slabs, in address order.
pub(crate) struct FreeStacks {
    slot_bytes: usize,
    /// Sorted by `start`.
    slabs: Vec<SlabBits>,
    lowest: usize,
    free: usize,
    /// The slab of the last `put`: stacks given back together mostly share
    /// one, and checking it is cheaper than a search (link_chain: the search
    /// was 4 % of a hop).
    last_put: usize,
}

struct SlabBits {
    start: usize,
    end: usize,
    bits: Vec<u64>,
    /// Free slots whose pages were given back (a subset of `bits`).
    cold: Vec<u64>,
    free: usize,
}

impl FreeStacks {
    pub(crate) fn new(slot_bytes: usize) -> Self {
        FreeStacks { slot_bytes, slabs: Vec::new(), lowest: 0, free: 0, last_put: 0 }
    }

    /// Free stacks held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.free
    }

    /// Makes room for the slots of a new slab `[start, start + len)` (none free yet).
    pub(crate) fn add_slab(&mut self, start: usize, len: usize) {
        let slots = len / self.slot_bytes;
        let at = self.slabs.partition_point(|slab| slab.start < start);
        let words = slots.div_ceil(64);
        self.slabs
            .insert(at, SlabBits { start, end: start + len, bits: vec![0; words], cold: vec![0; words], free: 0 });
        if at <= self.lowest && self.slabs.len() > 1 {
            // The new slab has no free slot: the first that may have one moved
            // up (keeping `lowest` where it was would be correct too, only a
            // looser bound for the next take).
            self.lowest += 1;
        }
    }

    /// Checks the module's invariants (the proptest calls it after every step).
    #[cfg(test)]
    fn check(&self) {
        assert!(self.slabs.is_sorted_by_key(|slab| slab.start));
        let mut total = 0;
        for (index, slab) in self.slabs.iter().enumerate() {
            let set: usize = slab.bits.iter().map(|word| word.count_ones() as usize).sum();
            assert_eq!(set, slab.free);
            assert!(slab.cold.iter().zip(&slab.bits).all(|(cold, free)| cold & !free == 0), "cold but not free");
            assert!(index >= self.lowest || set == 0, "a free slot below `lowest`");
            total += set;
        }
        assert_eq!(total, self.free);
    }

    /// Records the stack whose slot starts at `bottom` as free. A slot the
    /// pool does not know, or one already free, is a bug in the caller: it is
    /// left out (in a debug build, a panic).
    pub(crate) fn put(&mut self, bottom: usize) {
        let at = match self.slabs.get(self.last_put) {
            Some(slab) if (slab.start..slab.end).contains(&bottom) => self.last_put,
            _ => {
                let Some(at) = self.slabs.partition_point(|slab| slab.start <= bottom).checked_sub(1) else {
                    debug_assert!(false, "stack {bottom:#x} is not in any slab of this pool");
                    return;
                };
                self.last_put = at;
                at
            }
        };
        let slab = &mut self.slabs[at];
        let slot = (bottom - slab.start) / self.slot_bytes;
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        let fits = bottom < slab.end && (bottom - slab.start).is_multiple_of(self.slot_bytes);
        if !fits || slab.bits[word] & bit != 0 {
            debug_assert!(false, "stack {bottom:#x} is not a slot of this pool, or is free already");
            return;
        }
        slab.bits[word] |= bit;
        slab.free += 1;
        self.free += 1;
        self.lowest = self.lowest.min(at);
    }

    /// Takes up to `max` free slots, lowest address first, passing each one's
    /// bottom to `each`; returns how many it took.
    pub(crate) fn take_lowest(&mut self, max: usize, mut each: impl FnMut(usize)) -> usize {
        let mut taken = 0;
        while taken < max && self.free > 0 {
            // `cold` is walked in step with `bits` below.
            let slab = &mut self.slabs[self.lowest];
            for index in 0..slab.bits.len() {
                let word = &mut slab.bits[index];
                while *word != 0 && taken < max {
                    let bit = word.trailing_zeros() as usize;
                    *word &= *word - 1;
                    slab.cold[index] &= !(1u64 << bit);
                    each(slab.start + (index * 64 + bit) * self.slot_bytes);
                    taken += 1;
                    slab.free -= 1;
                    self.free -= 1;
                }
                if taken == max || slab.free == 0 {
                    break;
                }
            }
            if slab.free == 0 && self.free > 0 {
                self.lowest += 1;
            }
        }
        taken
    }

    /// Passes runs of warm free slots, as (first slot's bottom, slots), to
    /// `trim`, which gives their pages back; they are cold from then on. The
    /// `keep` lowest free slots stay warm (the next ones handed out), and at
    /// most `budget` slots are trimmed in one call.
    pub(crate) fn trim_warm(&mut self, keep: usize, budget: usize, mut trim: impl FnMut(usize, usize)) -> usize {
        let mut skipped = 0;
        let mut trimmed = 0;
        let slot_bytes = self.slot_bytes;
        for slab in &mut self.slabs {
            let (start, slots) = (slab.start, (slab.end - slab.start) / slot_bytes);
            let mut run: Option<(usize, usize)> = None;
            let mut flush = |run: &mut Option<(usize, usize)>, trimmed: &mut usize| {
                if let Some((first, count)) = run.take() {
                    trim(start + first * slot_bytes, count);
                    *trimmed += count;
                }
            };
            for slot in 0..slots {
                let (word, bit) = (slot / 64, 1u64 << (slot % 64));
                let warm_free = slab.bits[word] & bit != 0 && slab.cold[word] & bit == 0;
                let free = slab.bits[word] & bit != 0;
                if free && skipped < keep {
                    skipped += 1;
                    flush(&mut run, &mut trimmed);
                    continue;
                }
                if warm_free && trimmed + run.map_or(0, |(_, count)| count) < budget {
                    slab.cold[word] |= bit;
                    run = Some(run.map_or((slot, 1), |(first, count)| (first, count + 1)));
                } else {
                    flush(&mut run, &mut trimmed);
                }
            }
            flush(&mut run, &mut trimmed);
            if trimmed >= budget {
                break;
            }
        }
        trimmed
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const SLOT: usize = 0x9000;

    fn take_all(slots: &mut FreeStacks, max: usize) -> Vec<usize> {
        let mut taken = Vec::new();
        slots.take_lowest(max, |bottom| taken.push(bottom));
        taken
    }

    #[test]
    fn slots_given_back_scrambled_come_out_in_address_order() {
        let mut slots = FreeStacks::new(SLOT);
        slots.add_slab(0x1000_0000, 100 * SLOT);
        for slot in [7, 3, 99, 0, 64, 63, 65, 12] {
            slots.put(0x1000_0000 + slot * SLOT);
        }
        assert_eq!(slots.len(), 8);
        let order: Vec<usize> = take_all(&mut slots, 5).iter().map(|bottom| (bottom - 0x1000_0000) / SLOT).collect();
        assert_eq!(order, [0, 3, 7, 12, 63]);
        let order: Vec<usize> = take_all(&mut slots, 10).iter().map(|bottom| (bottom - 0x1000_0000) / SLOT).collect();
        assert_eq!(order, [64, 65, 99]);
        assert_eq!(slots.len(), 0);
        assert!(take_all(&mut slots, 1).is_empty());
    }

    #[test]
    fn trimming_skips_the_lowest_free_slots_keeps_to_its_budget_and_marks_them_cold() {
        let mut slots = FreeStacks::new(SLOT);
        slots.add_slab(0x1000_0000, 100 * SLOT);
        for slot in (0..10).chain(20..30) {
            slots.put(0x1000_0000 + slot * SLOT);
        }
        let mut runs = Vec::new();
        let trimmed = slots.trim_warm(3, 12, |bottom, count| runs.push(((bottom - 0x1000_0000) / SLOT, count)));
        assert_eq!(trimmed, 12);
        assert_eq!(runs, [(3, 7), (20, 5)], "the 3 lowest stay warm; 12 at most");
        slots.check();
        let mut runs = Vec::new();
        slots.trim_warm(3, 100, |bottom, count| runs.push(((bottom - 0x1000_0000) / SLOT, count)));
        assert_eq!(runs, [(25, 5)], "cold ones are not trimmed again");
        // Taken and given back, a slot is warm again.
        assert_eq!(take_all(&mut slots, 5), (0..5).map(|slot| 0x1000_0000 + slot * SLOT).collect::<Vec<_>>());
        for slot in 0..5 {
            slots.put(0x1000_0000 + slot * SLOT);
        }
        slots.check();
        let mut runs = Vec::new();
        slots.trim_warm(0, 100, |bottom, count| runs.push(((bottom - 0x1000_0000) / SLOT, count)));
        assert_eq!(runs, [(0, 5)]);
    }

    #[test]
    fn a_slab_mapped_below_the_others_is_taken_from_first() {
        let mut slots = FreeStacks::new(SLOT);
        slots.add_slab(0x2000_0000, 10 * SLOT);
        slots.put(0x2000_0000 + SLOT);
        slots.add_slab(0x1000_0000, 10 * SLOT);
        slots.put(0x1000_0000 + 9 * SLOT);
        assert_eq!(take_all(&mut slots, 10), [0x1000_0000 + 9 * SLOT, 0x2000_0000 + SLOT]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "free already")]
    fn a_slot_given_back_twice_is_caught_in_debug_builds() {
        let mut slots = FreeStacks::new(SLOT);
        slots.add_slab(0x1000_0000, 10 * SLOT);
        slots.put(0x1000_0000);
        slots.put(0x1000_0000);
    }

    proptest! {
        /// Against a sorted set: any interleaving of slabs mapped at any
        /// address, puts and takes gives out exactly the free slots, each
        /// once, lowest first.
        #[test]
        fn behaves_as_a_sorted_set(ops in proptest::collection::vec((0u8..4, 0usize..4, 0usize..130, 1usize..40), 1..200)) {
            let mut slots = FreeStacks::new(SLOT);
            let mut model = BTreeSet::new();
            let mut mapped: Vec<usize> = Vec::new();
            let mut in_use: Vec<usize> = Vec::new();
            for (op, slab, slot, max) in ops {
                match op {
                    0 => {
                        let start = 0x1_0000_0000 * (4 - slab);
                        if !mapped.contains(&start) {
                            slots.add_slab(start, 130 * SLOT);
                            mapped.push(start);
                            in_use.extend((0..130).map(|slot| start + slot * SLOT));
                        }
                    }
                    1 | 2 if !in_use.is_empty() => {
                        let bottom = in_use.swap_remove(slot % in_use.len());
                        slots.put(bottom);
                        model.insert(bottom);
                    }
                    _ => {
                        let taken = take_all(&mut slots, max);
                        let expected: Vec<usize> = model.iter().copied().take(max).collect();
                        prop_assert_eq!(&taken, &expected);
                        for bottom in taken {
                            model.remove(&bottom);
                            in_use.push(bottom);
                        }
                    }
                }
                prop_assert_eq!(slots.len(), model.len());
                slots.check();
            }
        }
    }
}
