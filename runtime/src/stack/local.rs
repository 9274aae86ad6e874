//! A worker's own free stacks.
//!
//! The most recently freed stack is taken first: a process spawned right after
//! one ended (spawn_exit, skynet's leaves) runs on lines still in cache. The
//! stacks sit in a fixed array of their addresses, so neither a mass exit nor
//! a mass spawn allocates, and a stack's memory is not read to pass it on: an
//! overflowing array gives its oldest half to the pool in one locked step, an
//! empty one takes a refill from the pool's lowest addresses in another.
//!
//! Invariant: `bottoms[..len]` are the slots of free stacks of `pool`'s size
//! that this worker owns, the most recently freed last.

use super::{LOCAL_MAX, PooledStack, StackError, StackPool};

pub(crate) struct LocalStacks {
    bottoms: [usize; LOCAL_MAX],
    len: usize,
}

impl Default for LocalStacks {
    fn default() -> Self {
        LocalStacks { bottoms: [0; LOCAL_MAX], len: 0 }
    }
}

impl LocalStacks {
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// The warmest free stack, refilling from `pool` when there is none.
    pub(crate) fn take(&mut self, pool: &StackPool) -> Result<PooledStack, StackError> {
        if self.len == 0 {
            // Lowest first from the pool, so pop them in that order.
            let refill = &mut self.bottoms[..LOCAL_MAX / 2];
            let taken = pool.take_lowest(refill)?;
            refill[..taken].reverse();
            self.len = taken;
        }
        self.len -= 1;
        Ok(pool.stack_at(self.bottoms[self.len]))
    }

    /// Keeps a freed stack of `pool`'s size; when full, the oldest half goes back to the pool.
    pub(crate) fn put(&mut self, stack: PooledStack, pool: &StackPool) {
        debug_assert_eq!(stack.size(), pool.stack_size());
        if self.len == LOCAL_MAX {
            let half = LOCAL_MAX / 2;
            pool.give_back(&self.bottoms[..half]);
            self.bottoms.copy_within(half.., 0);
            self.len -= half;
        }
        self.bottoms[self.len] = stack.bottom;
        self.len += 1;
    }

    /// Gives every stack here back to `pool`.
    pub(crate) fn give_all_back(&mut self, pool: &StackPool) {
        pool.give_back(&self.bottoms[..self.len]);
        self.len = 0;
    }
}

impl Drop for LocalStacks {
    fn drop(&mut self) {
        // Stacks left here would stay unused until the pool is unmapped (not
        // checked while unwinding: a second panic would abort).
        if !std::thread::panicking() {
            debug_assert_eq!(self.len, 0, "a worker's free stacks were not given back");
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::stack::DEFAULT_STACK_SIZE;

    #[test]
    fn the_last_stack_put_is_taken_first() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let mut local = LocalStacks::default();
        let (first, second) = (local.take(&pool).unwrap(), local.take(&pool).unwrap());
        let (first_bottom, second_bottom) = (first.bottom, second.bottom);
        local.put(second, &pool);
        local.put(first, &pool);
        assert_eq!(local.take(&pool).unwrap().bottom, first_bottom);
        assert_eq!(local.take(&pool).unwrap().bottom, second_bottom);
        local.give_all_back(&pool);
    }

    #[test]
    fn a_refill_is_taken_lowest_address_first() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let mut local = LocalStacks::default();
        let bottoms: Vec<usize> = (0..LOCAL_MAX).map(|_| local.take(&pool).unwrap().bottom).collect();
        assert!(bottoms.is_sorted(), "fresh stacks come lowest first");
        local.give_all_back(&pool);
    }

    /// A full array passes its oldest half to the pool, which hands those
    /// out again (lowest first) once this worker's own are used up.
    #[test]
    fn an_overflow_goes_to_the_pool_and_comes_back() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let mut local = LocalStacks::default();
        let mut bottoms = vec![0; LOCAL_MAX + 1];
        assert_eq!(pool.take_lowest(&mut bottoms).unwrap(), LOCAL_MAX + 1);
        for &bottom in &bottoms {
            local.put(pool.stack_at(bottom), &pool);
        }
        let half = LOCAL_MAX / 2;
        assert_eq!(local.len(), LOCAL_MAX + 1 - half);
        let again: Vec<usize> = (0..LOCAL_MAX + 1).map(|_| local.take(&pool).unwrap().bottom).collect();
        // Its own first, newest first; then the oldest half, back from the
        // pool lowest first (they were put in address order).
        let own: Vec<usize> = bottoms[half..].iter().rev().copied().collect();
        assert_eq!(again[..LOCAL_MAX + 1 - half], own[..]);
        assert_eq!(again[LOCAL_MAX + 1 - half..], bottoms[..half]);
        local.give_all_back(&pool);
        assert_eq!(local.len(), 0);
    }
}
