//! Coroutine stacks: a pool carved from large `MAP_NORESERVE` slabs.
//!
//! Each slot is one guard page followed by the usable stack. Guard pages are
//! installed with `madvise(MADV_GUARD_INSTALL)` (Linux ≥ 6.13: no VMA per stack,
//! so a million stacks stay far below `vm.max_map_count`); on older kernels
//! `mprotect(PROT_NONE)` is the fallback, and its VMA limit is a typed error.
//! A stack is taken when its process first runs and recycled warm through the
//! worker's own free stacks ([`LocalStacks`]) once the coroutine has finished;
//! when those are full, the oldest half goes back to the pool, which gives its
//! free stacks out lowest address first (see [`free_stacks`]). A recycled stack
//! that was used deep (seen at a suspension, or unwound by a panic) gives its
//! deep pages back (`MADV_DONTNEED`) so warm stacks do not keep high-water RSS;
//! the rest are recycled without a system call (an `madvise` costs a TLB
//! shootdown on every core: trimming each stack of a mass exit doubled its
//! cost). A stack that went deep only between suspensions keeps those pages
//! until it is reused. A pool that has been idle gives the pages of its warm
//! free stacks back (`give_back_idle`, from the watchdog thread), all but the
//! lowest few, which are the next ones handed out. Slabs are unmapped when the
//! runtime shuts down (`release_all`) or the pool is dropped, after every
//! coroutine on them is gone (the runtime drops processes first).
//!
//! Overflow: see [`overflow`]; a guard-page hit aborts with a report naming the
//! process, never corrupting a neighbour.

mod free_stacks;
mod local;
pub(crate) mod overflow;

pub(crate) use local::LocalStacks;

use std::fmt;

use corosensei::stack::{Stack, StackPointer};

use self::free_stacks::FreeStacks;
use crate::sync::{Mutex, lock};

pub(crate) const PAGE: usize = 4096;
/// The usable stack of a process unless configured otherwise: 256 KiB in
/// every build, so ordinary recursive code (a parser, a serializer, about
/// 200 KiB deep) runs the same in tests and in production. Only the pages a
/// process touches are resident; the reservation costs address space and page
/// tables (measured per idle process in docs/performance.md, "Stack size").
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;
/// The smallest usable stack a process can have.
pub const MIN_STACK_SIZE: usize = 16 * 1024;
/// The largest usable stack a process can have.
pub const MAX_STACK_SIZE: usize = 64 * 1024 * 1024;
/// Bytes at the top of a stack that stay resident when it is recycled: a
/// process that went this deep (formatting, serde, a parser) and the next one
/// on its stack pay no page faults. Deeper pages are given back at once; the
/// warm ones when the pool has been idle (`give_back_idle`).
const WARM_BYTES: usize = 128 * 1024;
/// A worker keeps at most this many free stacks of its own (see [`LocalStacks`]);
/// it passes half of them to or from the pool at a time.
pub(crate) const LOCAL_MAX: usize = 64;
/// Free stacks an idle pool keeps warm (the lowest: the next ones handed out).
const WARM_FREE_STACKS: usize = 256;
/// The most free stacks one `give_back_idle` call trims (the pool's lock is
/// held meanwhile; an idle stack has about one resident page).
const TRIM_STACKS_PER_CALL: usize = 65_536;
/// Virtual size of one slab (reserved, not committed: `MAP_NORESERVE`).
const SLAB_BYTES: usize = 64 * 1024 * 1024;

/// Rounds a requested stack size up to whole pages, checking its range.
pub(crate) fn checked_size(requested: usize) -> Option<usize> {
    if !(MIN_STACK_SIZE..=MAX_STACK_SIZE).contains(&requested) {
        return None;
    }
    Some(requested.next_multiple_of(PAGE))
}

/// A stack slot owned by one coroutine, or free (in a worker's [`LocalStacks`]
/// or the pool's [`FreeStacks`]). Made only by the pool, from slots it carved.
pub(crate) struct PooledStack {
    /// Lowest address, the guard page.
    bottom: usize,
    /// Highest address, where the stack starts.
    top: usize,
}

// SAFETY: the slot's memory is valid for the pool's lifetime, stays mapped until the
// pool is dropped (after all coroutines), and has its guard page below `bottom + PAGE`.
unsafe impl Stack for PooledStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top).expect("stack slots are never at address 0")
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom).expect("stack slots are never at address 0")
    }
}

impl PooledStack {
    /// The guard page range `[start, end)`.
    pub(crate) fn guard(&self) -> (usize, usize) {
        (self.bottom, self.bottom + PAGE)
    }

    /// Under AddressSanitizer (built with `--cfg lariat_asan`): forgets what the
    /// stack's previous coroutine left in the shadow memory. A coroutine that
    /// was unwound leaves its frames' scopes poisoned (the sanitizer does not
    /// know this memory is a stack it switches to, so it cannot clear them),
    /// which the next coroutine on the stack would trip over.
    pub(crate) fn forget_previous_use(&self) {
        #[cfg(lariat_asan)]
        // SAFETY: the usable part of this stack, owned by the caller and not in
        // use by any coroutine now; unpoisoning only changes shadow bytes.
        unsafe {
            __asan_unpoison_memory_region((self.bottom + PAGE) as *const std::ffi::c_void, self.size())
        };
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.top - self.bottom - PAGE
    }

    /// Whether `sp` (a stack pointer seen while running on this stack) is below
    /// the warm top pages, i.e. the stack grew into pages worth giving back.
    pub(crate) fn is_deep(&self, lowest_sp: usize) -> bool {
        lowest_sp < self.top - WARM_BYTES
    }

    /// Gives the pages below the warm top back to the OS (they read as zero again).
    pub(crate) fn trim(&self) {
        let start = self.bottom + PAGE;
        let end = self.top - WARM_BYTES;
        if end > start {
            // SAFETY: [start, end) lies inside this slot's mapped, writable stack
            // area, which no coroutine uses now (the stack is free).
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        }
    }
}

/// Why a stack could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StackError {
    Map(i32),
    Guard(i32),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackError::Map(errno) => write!(f, "system_limit: mmap of a stack slab failed (errno {errno})"),
            StackError::Guard(errno) => write!(
                f,
                "system_limit: installing a stack guard page failed (errno {errno}); on kernels \
                 before 6.13 each guard is a VMA: raise vm.max_map_count"
            ),
        }
    }
}

struct Slab {
    start: usize,
    len: usize,
}

struct PoolState {
    slabs: Vec<Slab>,
    /// Free stacks, by address (no memory per stack).
    free: FreeStacks,
    carve_next: usize,
    carve_end: usize,
    use_mprotect: bool,
    /// Takes and gives back so far: the watchdog trims a pool whose count
    /// stopped moving.
    activity: u64,
}

/// Stacks of one size for one runtime.
pub(crate) struct StackPool {
    slot_bytes: usize,
    state: Mutex<PoolState>,
}

/// `MADV_GUARD_INSTALL` (Linux 6.13); not yet in every libc crate.
const MADV_GUARD_INSTALL: libc::c_int = 102;

impl StackPool {
    pub(crate) fn new(stack_size: usize) -> Self {
        StackPool {
            slot_bytes: stack_size + PAGE,
            state: Mutex::new(PoolState {
                slabs: Vec::new(),
                free: FreeStacks::new(stack_size + PAGE),
                carve_next: 0,
                carve_end: 0,
                use_mprotect: false,
                activity: 0,
            }),
        }
    }

    /// Usable bytes of the stacks of this pool.
    pub(crate) fn stack_size(&self) -> usize {
        self.slot_bytes - PAGE
    }

    /// Fills `bottoms` with free stacks, lowest address first, or with freshly
    /// carved ones if none is free; returns how many. Never 0: fails only if
    /// not even one stack can be had.
    ///
    /// The stacks are handed over as bare addresses: private to `stack`, like
    /// [`StackPool::give_back`] and [`StackPool::stack_at`], so that only the
    /// pool and [`LocalStacks`] can turn an address into a stack.
    fn take_lowest(&self, bottoms: &mut [usize]) -> Result<usize, StackError> {
        debug_assert!(!bottoms.is_empty());
        let mut state = lock(&self.state);
        state.activity += 1;
        let mut count = 0;
        state.free.take_lowest(bottoms.len(), |bottom| {
            bottoms[count] = bottom;
            count += 1;
        });
        if count > 0 {
            return Ok(count);
        }
        for slot in bottoms.iter_mut() {
            match self.carve(&mut state) {
                Ok(stack) => *slot = stack.bottom,
                Err(error) if count == 0 => return Err(error),
                Err(_) => break,
            }
            count += 1;
        }
        Ok(count)
    }

    /// Takes back free stacks, by the bottoms of their slots (each recorded
    /// by one bit: nothing is allocated, and their memory is not read).
    fn give_back(&self, bottoms: &[usize]) {
        if bottoms.is_empty() {
            return;
        }
        let mut state = lock(&self.state);
        state.activity += 1;
        for &bottom in bottoms {
            state.free.put(bottom);
        }
    }

    /// Takes and gives back so far (see `give_back_idle`).
    pub(crate) fn activity(&self) -> u64 {
        lock(&self.state).activity
    }

    /// Gives the pages of warm free stacks back to the OS, all but the
    /// [`WARM_FREE_STACKS`] lowest, at most [`TRIM_STACKS_PER_CALL`] a call;
    /// returns how many stacks it trimmed (0: nothing left to trim). For a
    /// pool that has been idle: a trimmed stack costs page faults when used
    /// again.
    pub(crate) fn give_back_idle(&self) -> usize {
        let mut state = lock(&self.state);
        let slot_bytes = self.slot_bytes;
        state.free.trim_warm(WARM_FREE_STACKS, TRIM_STACKS_PER_CALL, |bottom, slots| {
            // SAFETY: these slots are free (no coroutine uses them) and stay so
            // while the pool's lock is held; they lie in a slab this pool
            // mapped. Guard regions survive MADV_DONTNEED.
            unsafe { libc::madvise(bottom as *mut libc::c_void, slots * slot_bytes, libc::MADV_DONTNEED) };
        })
    }

    /// Unmaps every slab: the runtime has shut down and every coroutine is
    /// gone (a `Handle` that outlives it must not keep its stacks' memory).
    pub(crate) fn release_all(&self) {
        let mut state = lock(&self.state);
        for slab in state.slabs.drain(..) {
            overflow::unregister_slab(slab.start);
            // SAFETY: called after every coroutine of the runtime is gone (no
            // stack of this pool is in use); the slab came from our mmap.
            unsafe { libc::munmap(slab.start as *mut libc::c_void, slab.len) };
        }
        state.free = FreeStacks::new(self.slot_bytes);
        state.carve_next = 0;
        state.carve_end = 0;
    }

    /// The stack whose slot starts at `bottom`, which must be a slot this pool
    /// gave out and the caller owns (a free stack it holds the address of).
    fn stack_at(&self, bottom: usize) -> PooledStack {
        PooledStack { bottom, top: bottom + self.slot_bytes }
    }

    /// One stack (pools of custom sizes, used one at a time).
    pub(crate) fn take_one(&self) -> Result<PooledStack, StackError> {
        let mut bottom = [0];
        self.take_lowest(&mut bottom)?;
        Ok(self.stack_at(bottom[0]))
    }

    /// Takes back one stack (pools of custom sizes).
    pub(crate) fn give_back_one(&self, stack: PooledStack) {
        self.give_back(&[stack.bottom]);
    }

    fn carve(&self, state: &mut PoolState) -> Result<PooledStack, StackError> {
        if state.carve_next + self.slot_bytes > state.carve_end {
            let len = SLAB_BYTES.max(self.slot_bytes * 16).next_multiple_of(self.slot_bytes);
            // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
            let start = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if start == libc::MAP_FAILED {
                return Err(StackError::Map(errno()));
            }
            let start = start as usize;
            overflow::register_slab(start, len, self.slot_bytes);
            state.slabs.push(Slab { start, len });
            state.free.add_slab(start, len);
            state.carve_next = start;
            state.carve_end = start + len;
        }
        let bottom = state.carve_next;
        install_guard(bottom, &mut state.use_mprotect)?;
        state.carve_next += self.slot_bytes;
        Ok(PooledStack { bottom, top: bottom + self.slot_bytes })
    }
}

fn install_guard(page: usize, use_mprotect: &mut bool) -> Result<(), StackError> {
    if !*use_mprotect {
        // SAFETY: `page` is the first page of a slot in a slab this pool mapped;
        // nothing lives there yet.
        let rc = unsafe { libc::madvise(page as *mut libc::c_void, PAGE, MADV_GUARD_INSTALL) };
        if rc == 0 {
            return Ok(());
        }
        // EINVAL: a kernel without guard regions. Use mprotect from now on.
        *use_mprotect = true;
    }
    // SAFETY: as above.
    let rc = unsafe { libc::mprotect(page as *mut libc::c_void, PAGE, libc::PROT_NONE) };
    if rc == 0 { Ok(()) } else { Err(StackError::Guard(errno())) }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

impl Drop for StackPool {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for slab in state.slabs.drain(..) {
            overflow::unregister_slab(slab.start);
            // SAFETY: the runtime drops every coroutine (and so every use of these
            // stacks) before it drops the pool; the slab came from our mmap.
            unsafe { libc::munmap(slab.start as *mut libc::c_void, slab.len) };
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_idle_pool_gives_back_all_but_its_lowest_free_stacks_and_release_unmaps() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stacks: Vec<PooledStack> = (0..WARM_FREE_STACKS + 10).map(|_| pool.take_one().unwrap()).collect();
        // By address (a second slab may be mapped below the first).
        let mut tops: Vec<usize> = stacks.iter().map(|stack| stack.top - 8).collect();
        tops.sort();
        for &top in &tops {
            // SAFETY: the top bytes of stacks this test owns.
            unsafe { (top as *mut u8).write(7) };
        }
        for stack in stacks {
            pool.give_back_one(stack);
        }
        assert_eq!(pool.give_back_idle(), 10);
        assert_eq!(pool.give_back_idle(), 0, "nothing warm is left to trim");
        // SAFETY: free stacks of this pool, still mapped; only read.
        let bytes: Vec<u8> = tops.iter().map(|&top| unsafe { (top as *const u8).read() }).collect();
        assert!(bytes[..WARM_FREE_STACKS].iter().all(|&byte| byte == 7), "the lowest stay warm");
        assert!(bytes[WARM_FREE_STACKS..].iter().all(|&byte| byte == 0), "the rest read as zero again");
        pool.release_all();
        let again = pool.take_one().expect("a released pool maps afresh");
        pool.give_back_one(again);
    }

    #[test]
    fn stacks_are_distinct_page_aligned_and_sized() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stacks: Vec<PooledStack> = (0..100).map(|_| pool.take_one().unwrap()).collect();
        let mut bottoms: Vec<_> = stacks.iter().map(|s| s.bottom).collect();
        bottoms.sort();
        bottoms.dedup();
        assert_eq!(bottoms.len(), 100);
        for stack in &stacks {
            assert_eq!(stack.bottom % PAGE, 0);
            assert_eq!(stack.size(), DEFAULT_STACK_SIZE);
        }
        for stack in stacks {
            pool.give_back_one(stack);
        }
    }

    #[test]
    fn a_returned_stack_is_taken_again() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = pool.take_one().unwrap();
        let bottom = stack.bottom;
        pool.give_back_one(stack);
        assert_eq!(pool.take_one().unwrap().bottom, bottom);
    }

    /// Stacks given back in any order are handed out again lowest address
    /// first, and before any new one is carved.
    #[test]
    fn stacks_given_back_come_out_lowest_first_before_new_ones() {
        let pool = StackPool::new(MIN_STACK_SIZE);
        let mut carved = [0usize; 40];
        assert_eq!(pool.take_lowest(&mut carved).unwrap(), 40);
        assert!(carved.is_sorted(), "carved in address order");
        let scrambled: Vec<usize> = carved.iter().step_by(3).chain(carved.iter().skip(1).step_by(3)).copied().collect();
        pool.give_back(&scrambled);
        let mut again = [0usize; 40];
        let count = pool.take_lowest(&mut again).unwrap();
        let mut expected = scrambled.clone();
        expected.sort();
        assert_eq!(again[..count], expected[..], "only what was given back, lowest first");
        assert!(pool.take_one().unwrap().bottom > carved[39], "an empty pool carves above what it carved");
    }

    #[test]
    fn trimming_zeroes_the_deep_pages_and_keeps_the_warm_top() {
        let pool = StackPool::new(DEFAULT_STACK_SIZE);
        let stack = &pool.take_one().unwrap();
        let deep = (stack.bottom + PAGE) as *mut u8;
        let warm = (stack.top - 8) as *mut u8;
        // SAFETY: both addresses are inside the usable part of a free stack.
        unsafe {
            deep.write(7);
            warm.write(9);
        }
        assert!(stack.is_deep(stack.bottom + PAGE));
        stack.trim();
        // SAFETY: as above.
        unsafe {
            assert_eq!(deep.read(), 0);
            assert_eq!(warm.read(), 9);
        }
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert_eq!(checked_size(MIN_STACK_SIZE - 1), None);
        assert_eq!(checked_size(MAX_STACK_SIZE + 1), None);
        assert_eq!(checked_size(40_000), Some(40_960));
    }
}

#[cfg(lariat_asan)]
unsafe extern "C" {
    /// AddressSanitizer's interface: marks `[addr, addr + size)` addressable.
    pub(crate) fn __asan_unpoison_memory_region(addr: *const std::ffi::c_void, size: usize);
}
