//! Process blocks in memory the runtime owns, so that it can give it back.
//!
//! A block (a `Pcb`) is carved from a page-sized chunk. Each worker carves its
//! spawns from a chunk of its own (a [`Carver`]); threads that are no worker
//! share one behind a lock. A chunk counts its blocks that are not free yet,
//! counting those not carved yet as well; the free (or the carver leaving it)
//! that brings the count to zero puts the whole chunk on the free list. So
//! memory is reused a chunk at a time, never a block at a time: there is no
//! per-block free list to keep, and a chunk with no live block is a page that
//! can go back to the OS (`MADV_DONTNEED`) once the runtime has been idle for
//! a while, and at shutdown.
//!
//! Why not the global allocator: a block is freed on whichever thread collects
//! the epoch's garbage (often the watchdog, or another worker), and an
//! allocator with per-thread heaps (mimalloc) takes such cross-thread frees
//! back only when the owning thread allocates again, which a parked worker
//! never does: after a spike of a million processes their blocks stayed
//! resident for the runtime's whole life.
//!
//! The price: one long-lived block keeps its chunk (one page) from being
//! reused, against a page of stack that every process holds anyway.
//!
//! Invariants: a chunk is in exactly one of these states: held by one carver
//! (its count includes its blocks not carved yet), carved out (count > 0, no
//! carver), free (count 0: on the warm or the cold list, being given back by
//! `give_back` and on neither, or never carved). A carver is used with one
//! pool only (the callers' promise: `alloc` and `retire` are unsafe).
//! Regions are unmapped only when the pool is dropped with every chunk free;
//! otherwise they stay mapped (a block leaked on purpose at shutdown may
//! still be read).

use std::alloc::Layout;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::num::NonZeroUsize;
use std::ptr::NonNull;

use crate::sync::{AtomicUsize, Mutex, Ordering, lock, mutated};

/// Bytes of a chunk's header: its count, on a line of its own.
const HEADER: usize = 64;
const PAGE: usize = 4096;
/// Chunks a region holds (a region is one mapping).
const REGION_CHUNKS: usize = 256;

/// Ordering of the count's decrement when a block is freed; the mutation
/// `block_free_relaxed` weakens it for the loom model `chunk_reuse`.
#[inline(always)]
fn free_ordering() -> Ordering {
    if mutated("block_free_relaxed") { Ordering::Relaxed } else { Ordering::AcqRel }
}

#[repr(C, align(64))]
struct ChunkHeader {
    /// Blocks of this chunk not free yet, counting those not carved yet while
    /// a carver holds it.
    live: AtomicUsize,
}

/// Where a thread carves blocks from: its current chunk and the next slot.
#[derive(Default)]
pub struct Carver {
    chunk: Option<NonNull<ChunkHeader>>,
    next: usize,
}

// SAFETY: a carver is a position in a chunk of a `Sync` pool; it holds no
// reference to a block, and whoever holds the carver is the only one carving
// from its chunk (by the invariant in the module's docs).
unsafe impl Send for Carver {}

#[derive(Default)]
struct FreeChunks {
    /// Free chunks whose pages may be resident, lowest address first.
    warm: BinaryHeap<Reverse<NonNull<ChunkHeader>>>,
    /// Free chunks given back to the OS (their next use faults a page in),
    /// lowest address first.
    cold: BinaryHeap<Reverse<NonNull<ChunkHeader>>>,
    /// The never-carved rest of the newest region.
    fresh: Option<NonNull<u8>>,
    fresh_left: usize,
    /// Every region (start), for the drop.
    regions: Vec<NonNull<u8>>,
}

/// Blocks of type `T`, carved from chunks this pool owns.
pub struct BlockPool<T> {
    free: Mutex<FreeChunks>,
    /// The carver of threads that are no worker.
    outside: Mutex<Carver>,
    _blocks: PhantomData<T>,
}

// SAFETY: the pool hands out blocks of `T` that other threads free and drop,
// so `T: Send`; its own state is behind its locks, and chunk counts are atomic.
unsafe impl<T: Send> Send for BlockPool<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for BlockPool<T> {}

impl<T> Default for BlockPool<T> {
    fn default() -> Self {
        BlockPool {
            free: Mutex::new(FreeChunks::default()),
            outside: Mutex::new(Carver::default()),
            _blocks: PhantomData,
        }
    }
}

impl<T> BlockPool<T> {
    /// Bytes of a chunk: a page, unless one block needs more (loom's types).
    const CHUNK: usize = {
        assert!(align_of::<T>() <= HEADER, "a block's alignment must fit the chunk header's");
        if HEADER + size_of::<T>() <= PAGE { PAGE } else { (HEADER + size_of::<T>()).next_power_of_two() }
    };
    /// Blocks a chunk holds.
    pub const SLOTS: usize = (Self::CHUNK - HEADER) / size_of::<T>();

    /// Moves `value` into a fresh block carved with `carver`.
    ///
    /// # Safety
    ///
    /// `carver` is used with this pool only (its chunk, if any, is one of
    /// this pool's): a chunk of another pool would end on this one's free
    /// list, and either pool could reuse or unmap it under live blocks.
    pub unsafe fn alloc(&self, carver: &mut Carver, value: T) -> NonNull<T> {
        let chunk = match carver.chunk {
            Some(chunk) if carver.next < Self::SLOTS => chunk,
            _ => {
                let chunk = self.take_chunk();
                // SAFETY: a free chunk is this carver's alone now (module
                // invariant); its header is initialised (`take_chunk`).
                // Relaxed: frees of its blocks come after their publication,
                // which orders this store before them.
                unsafe { chunk.as_ref() }.live.store(Self::SLOTS, Ordering::Relaxed);
                *carver = Carver { chunk: Some(chunk), next: 0 };
                chunk
            }
        };
        let block = Self::slot(chunk, carver.next);
        carver.next += 1;
        unpoison(block.cast(), size_of::<T>());
        // SAFETY: slot `next` of a chunk this carver holds was never handed out
        // since the chunk was last free: nobody else refers to it.
        unsafe { block.write(value) };
        block
    }

    /// Like [`BlockPool::alloc`], with the carver of threads that are no worker.
    pub fn alloc_outside(&self, value: T) -> NonNull<T> {
        // SAFETY: the outside carver belongs to this pool.
        unsafe { self.alloc(&mut lock(&self.outside), value) }
    }

    /// Drops the value in `block` and frees the block.
    ///
    /// # Safety
    ///
    /// `block` came from this pool's `alloc` and is not freed yet, and no
    /// thread can reach it any more (the caller waited out every reader).
    pub unsafe fn free(&self, block: NonNull<T>) {
        // SAFETY: the caller's promise: the block holds a live `T` nobody else reaches.
        unsafe { block.drop_in_place() };
        poison(block.cast(), size_of::<T>());
        self.release(Self::chunk_of(block), 1);
    }

    /// Leaves `carver`'s chunk (its blocks not carved yet become free).
    ///
    /// # Safety
    ///
    /// As for [`BlockPool::alloc`]: `carver` is used with this pool only.
    pub unsafe fn retire(&self, carver: &mut Carver) {
        if let Some(chunk) = carver.chunk.take() {
            let left = Self::SLOTS - carver.next;
            if left > 0 {
                self.release(chunk, left);
            }
        }
    }

    /// Gives the pages of free chunks back to the OS, all but the `keep` at
    /// the lowest addresses (those taken first). Returns how many chunks it
    /// gave back.
    pub fn give_back(&self, keep: usize) -> usize {
        let surplus = {
            let mut free = lock(&self.free);
            if let Some(fresh) = free.fresh.filter(|_| free.fresh_left > 0 && Self::CHUNK <= PAGE) {
                // The never-carved rest of the newest region (mapped populated).
                discard(fresh, free.fresh_left * Self::CHUNK);
            }
            if free.warm.len() <= keep {
                return 0;
            }
            let mut warm = std::mem::take(&mut free.warm).into_sorted_vec();
            // Sorted descending (`Reverse`): the lowest are at the end.
            let kept = warm.split_off(warm.len() - keep);
            free.warm = kept.into();
            warm.into_iter().rev().map(|Reverse(chunk)| chunk).collect::<Vec<_>>()
        };
        // Neighbours in one call: a mass exit frees long runs of chunks.
        let mut run = 0;
        for index in 1..=surplus.len() {
            let contiguous = index < surplus.len()
                && surplus[index].as_ptr().addr() == surplus[index - 1].as_ptr().addr() + Self::CHUNK;
            if !contiguous {
                if Self::CHUNK <= PAGE {
                    discard(surplus[run].cast(), (index - run) * Self::CHUNK);
                }
                run = index;
            }
        }
        let given = surplus.len();
        lock(&self.free).cold.extend(surplus.into_iter().map(Reverse));
        given
    }

    /// Whether every chunk ever carved is free again.
    #[cfg(test)]
    fn all_chunks_free(&self) -> bool {
        let free = lock(&self.free);
        free.warm.len() + free.cold.len() == free.regions.len() * REGION_CHUNKS - free.fresh_left
    }

    /// Chunks that are free now (warm and cold; not the never-carved ones).
    #[cfg(test)]
    fn free_chunks(&self) -> (usize, usize) {
        let free = lock(&self.free);
        (free.warm.len(), free.cold.len())
    }

    fn slot(chunk: NonNull<ChunkHeader>, index: usize) -> NonNull<T> {
        // SAFETY: `index < SLOTS`: within the chunk.
        unsafe { chunk.cast::<u8>().add(HEADER + index * size_of::<T>()) }.cast()
    }

    fn chunk_of(block: NonNull<T>) -> NonNull<ChunkHeader> {
        let mask = !(Self::CHUNK - 1);
        let chunk = block.cast::<u8>().map_addr(|addr| NonZeroUsize::new(addr.get() & mask).expect("no chunk at 0"));
        chunk.cast()
    }

    /// Takes `count` blocks of `chunk` off its count; the last puts it on the
    /// free list.
    fn release(&self, chunk: NonNull<ChunkHeader>, count: usize) {
        // SAFETY: the chunk is not free (the caller holds `count` of its blocks).
        let header = unsafe { chunk.as_ref() };
        // AcqRel: Release orders this thread's use of the block (its drop)
        // before the decrement; Acquire makes the last decrementer, which
        // frees the chunk for reuse, see every other's.
        if header.live.fetch_sub(count, free_ordering()) == count {
            lock(&self.free).warm.push(Reverse(chunk));
        }
    }

    /// A free chunk: the lowest warm one, else the lowest cold one, else a
    /// never-carved one (from a new region if needed). Lowest first, so that
    /// processes spawned one after another get neighbouring blocks even after
    /// a churn has freed chunks in scrambled order (as the stacks do, D37: a
    /// chain built on scattered blocks pays a cache miss per hop).
    fn take_chunk(&self) -> NonNull<ChunkHeader> {
        let mut free = lock(&self.free);
        if let Some(Reverse(chunk)) = free.warm.pop().or_else(|| free.cold.pop()) {
            // A cold chunk's header reads as zeros again, which is a valid count.
            return chunk;
        }
        if free.fresh_left == 0 {
            // Mapped (and populated) without the lock, which every chunk
            // taken and every chunk freed needs.
            drop(free);
            let region = map_region(REGION_CHUNKS * Self::CHUNK, Self::CHUNK);
            free = lock(&self.free);
            free.regions.push(region);
            if free.fresh_left > 0 {
                // Another thread mapped one meanwhile: this one's chunks
                // are free chunks like any.
                for index in 0..REGION_CHUNKS {
                    // SAFETY: within the region just mapped.
                    let chunk = unsafe { region.add(index * Self::CHUNK) }.cast::<ChunkHeader>();
                    Self::init_chunk(chunk);
                    free.warm.push(Reverse(chunk));
                }
                let Reverse(chunk) = free.warm.pop().expect("chunks were just added");
                return chunk;
            }
            free.fresh = Some(region);
            free.fresh_left = REGION_CHUNKS;
        }
        let chunk = free.fresh.expect("a region with chunks left").cast::<ChunkHeader>();
        free.fresh_left -= 1;
        // SAFETY: within the region (`fresh_left` counted it).
        free.fresh = Some(unsafe { chunk.cast::<u8>().add(Self::CHUNK) });
        Self::init_chunk(chunk);
        chunk
    }

    /// Writes the header of a never-carved chunk, its slots unaddressable.
    fn init_chunk(chunk: NonNull<ChunkHeader>) {
        // SAFETY: a never-carved chunk of this pool's regions: no one refers to it.
        unsafe { chunk.write(ChunkHeader { live: AtomicUsize::new(0) }) };
        // SAFETY: the header is followed by the chunk's slots.
        poison(unsafe { chunk.cast::<u8>().add(HEADER) }, Self::CHUNK - HEADER);
    }
}

impl<T> Drop for BlockPool<T> {
    fn drop(&mut self) {
        let mut outside = std::mem::take(&mut *lock(&self.outside));
        // SAFETY: the outside carver belongs to this pool.
        unsafe { self.retire(&mut outside) };
        let free = std::mem::take(&mut *lock(&self.free));
        let carved = free.regions.len() * REGION_CHUNKS - free.fresh_left;
        if free.warm.len() + free.cold.len() != carved {
            // Some block is live (one leaked on purpose at shutdown, or a
            // worker that never retired its carver): keep the memory mapped.
            return;
        }
        for region in free.regions {
            // The next mapping at these addresses starts addressable.
            unpoison(region, REGION_CHUNKS * Self::CHUNK);
            // SAFETY: every chunk of every region is free: no block refers to it.
            unsafe { unmap_region(region, REGION_CHUNKS * Self::CHUNK, Self::CHUNK) };
        }
    }
}

/// A region of `bytes`, aligned to `align`: a mapping of its own where pages
/// can be given back, else from the global allocator (Miri, loom, chunks
/// bigger than a page).
fn map_region(bytes: usize, align: usize) -> NonNull<u8> {
    #[cfg(all(target_os = "linux", not(miri), not(loom)))]
    if align <= PAGE {
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let start = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                // Populated: one system call faults the region in, where
                // touching it chunk by chunk costs a page fault every few
                // dozen spawns.
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if start != libc::MAP_FAILED
            && let Some(start) = NonNull::new(start.cast())
        {
            return start;
        }
        // As `Box::new` does when memory runs out.
        std::alloc::handle_alloc_error(Layout::from_size_align(bytes, align).expect("a valid region layout"));
    }
    let layout = Layout::from_size_align(bytes, align).expect("a valid region layout");
    // SAFETY: the layout's size is not zero.
    let start = unsafe { std::alloc::alloc(layout) };
    NonNull::new(start).unwrap_or_else(|| std::alloc::handle_alloc_error(layout))
}

/// Frees a region from `map_region(bytes, align)`.
///
/// # Safety
///
/// Nothing refers to the region any more, and it is freed only once.
unsafe fn unmap_region(start: NonNull<u8>, bytes: usize, align: usize) {
    #[cfg(all(target_os = "linux", not(miri), not(loom)))]
    if align <= PAGE {
        // SAFETY: our own mapping of `bytes` (the caller's promise: unused).
        unsafe { libc::munmap(start.as_ptr().cast(), bytes) };
        return;
    }
    let layout = Layout::from_size_align(bytes, align).expect("a valid region layout");
    // SAFETY: allocated with this layout (`map_region`); the caller's promise.
    unsafe { std::alloc::dealloc(start.as_ptr(), layout) };
}

/// Gives `bytes` of free chunks from `start` back to the OS: their pages read
/// as zeros when next touched. A no-op where regions are not our own mappings.
fn discard(start: NonNull<u8>, bytes: usize) {
    #[cfg(all(target_os = "linux", not(miri), not(loom)))]
    if bytes.is_multiple_of(PAGE) && pages_are_chunk_sized() {
        // SAFETY: free chunks of our own mapping: nothing refers to them, and
        // zeros are a valid chunk header (a count of 0).
        unsafe { libc::madvise(start.as_ptr().cast(), bytes, libc::MADV_DONTNEED) };
    }
    #[cfg(not(all(target_os = "linux", not(miri), not(loom))))]
    let _ = (start, bytes);
}

/// Whether the OS page is a chunk (4 KiB): with bigger pages, giving back
/// one chunk would zero its neighbours, live blocks among them, so nothing
/// is given back.
#[cfg(all(target_os = "linux", not(miri), not(loom)))]
fn pages_are_chunk_sized() -> bool {
    static CHUNK_SIZED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *CHUNK_SIZED.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } == PAGE as libc::c_long)
}

/// Under AddressSanitizer: marks free slots unaddressable, so a use after
/// free of a block is caught as it was when blocks came from the allocator.
#[inline(always)]
fn poison(start: NonNull<u8>, bytes: usize) {
    #[cfg(lariat_asan)]
    // SAFETY: slots of this pool's chunks; only shadow bytes change.
    unsafe {
        __asan_poison_memory_region(start.as_ptr().cast(), bytes)
    };
    #[cfg(not(lariat_asan))]
    let _ = (start, bytes);
}

#[inline(always)]
fn unpoison(start: NonNull<u8>, bytes: usize) {
    #[cfg(lariat_asan)]
    // SAFETY: a slot being handed out; only shadow bytes change.
    unsafe {
        crate::stack::__asan_unpoison_memory_region(start.as_ptr().cast(), bytes)
    };
    #[cfg(not(lariat_asan))]
    let _ = (start, bytes);
}

#[cfg(lariat_asan)]
unsafe extern "C" {
    /// AddressSanitizer's interface: marks `[addr, addr + size)` unaddressable.
    fn __asan_poison_memory_region(addr: *const std::ffi::c_void, size: usize);
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::AtomicUsize as Counter;
    use std::sync::Arc;

    /// A block that counts its drops.
    struct Tracked(Arc<Counter>, #[allow(dead_code)] [u64; 20]);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A block handed to another thread to free.
    struct Block(NonNull<Tracked>);

    // SAFETY: `Tracked` is `Send`; the block is freed by the one thread it goes to.
    unsafe impl Send for Block {}

    fn alloc(pool: &BlockPool<Tracked>, carver: &mut Carver, value: Tracked) -> NonNull<Tracked> {
        // SAFETY: each test uses its carver with its one pool.
        unsafe { pool.alloc(carver, value) }
    }

    fn retire(pool: &BlockPool<Tracked>, carver: &mut Carver) {
        // SAFETY: as above.
        unsafe { pool.retire(carver) }
    }

    fn tracked(drops: &Arc<Counter>) -> Tracked {
        Tracked(Arc::clone(drops), [7; 20])
    }

    #[test]
    fn a_chunk_is_free_once_its_last_block_is_and_its_carver_has_left() {
        let pool = BlockPool::<Tracked>::default();
        let drops = Arc::new(Counter::new(0));
        let mut carver = Carver::default();
        let blocks: Vec<_> = (0..3).map(|_| alloc(&pool, &mut carver, tracked(&drops))).collect();
        for &block in &blocks {
            // SAFETY: allocated above, freed once, reached by nobody else.
            unsafe { pool.free(block) };
        }
        assert_eq!(drops.load(Ordering::Relaxed), 3);
        assert_eq!(pool.free_chunks(), (0, 0), "its carver still holds it");
        retire(&pool, &mut carver);
        assert_eq!(pool.free_chunks(), (1, 0));
    }

    #[test]
    fn a_fully_carved_chunk_is_free_when_its_last_block_is() {
        let pool = BlockPool::<Tracked>::default();
        let drops = Arc::new(Counter::new(0));
        let mut carver = Carver::default();
        let slots = BlockPool::<Tracked>::SLOTS;
        let blocks: Vec<_> = (0..slots).map(|_| alloc(&pool, &mut carver, tracked(&drops))).collect();
        let chunk = BlockPool::<Tracked>::chunk_of(blocks[0]);
        assert!(blocks.iter().all(|&block| BlockPool::<Tracked>::chunk_of(block) == chunk), "one chunk");
        for &block in &blocks[1..] {
            // SAFETY: as above.
            unsafe { pool.free(block) };
        }
        assert_eq!(pool.free_chunks(), (0, 0), "one block is still live");
        // SAFETY: as above.
        unsafe { pool.free(blocks[0]) };
        assert_eq!(pool.free_chunks(), (1, 0));
        // The next block comes from the same chunk again.
        let again = alloc(&pool, &mut carver, tracked(&drops));
        assert_eq!(BlockPool::<Tracked>::chunk_of(again), chunk);
        // SAFETY: as above.
        unsafe { pool.free(again) };
        retire(&pool, &mut carver);
    }

    #[test]
    fn given_back_chunks_are_reused_after_the_warm_ones_and_read_whole() {
        let pool = BlockPool::<Tracked>::default();
        let drops = Arc::new(Counter::new(0));
        let mut carver = Carver::default();
        let count = BlockPool::<Tracked>::SLOTS * 5;
        let blocks: Vec<_> = (0..count).map(|_| alloc(&pool, &mut carver, tracked(&drops))).collect();
        retire(&pool, &mut carver);
        for &block in &blocks {
            // SAFETY: as above.
            unsafe { pool.free(block) };
        }
        assert_eq!(pool.free_chunks(), (5, 0));
        assert_eq!(pool.give_back(2), 3);
        assert_eq!(pool.free_chunks(), (2, 3));
        let again: Vec<_> = (0..count).map(|_| alloc(&pool, &mut carver, tracked(&drops))).collect();
        assert_eq!(pool.free_chunks(), (0, 0));
        for &block in &again {
            // SAFETY: allocated above and not freed yet.
            assert_eq!(unsafe { block.as_ref() }.1, [7; 20]);
        }
        for &block in &again {
            // SAFETY: as above.
            unsafe { pool.free(block) };
        }
        retire(&pool, &mut carver);
        assert_eq!(drops.load(Ordering::Relaxed), 2 * count);
    }

    #[test]
    fn blocks_freed_on_other_threads_free_their_chunks() {
        let pool = Arc::new(BlockPool::<Tracked>::default());
        let drops = Arc::new(Counter::new(0));
        let mut carver = Carver::default();
        let count = BlockPool::<Tracked>::SLOTS * 4;
        let blocks: Vec<_> = (0..count).map(|_| Block(alloc(&pool, &mut carver, tracked(&drops)))).collect();
        retire(&pool, &mut carver);
        let mut blocks = blocks.into_iter();
        let halves: Vec<Vec<Block>> = vec![blocks.by_ref().take(count / 2).collect(), blocks.collect()];
        std::thread::scope(|scope| {
            for half in halves {
                let pool = &pool;
                scope.spawn(move || {
                    for block in half {
                        // SAFETY: each block is freed once, by this thread only.
                        unsafe { pool.free(block.0) };
                    }
                });
            }
        });
        assert_eq!(pool.free_chunks(), (4, 0));
        assert!(pool.all_chunks_free());
        assert_eq!(drops.load(Ordering::Relaxed), count);
    }

    #[test]
    #[cfg_attr(miri, ignore = "tens of thousands of blocks: too slow under Miri")]
    fn threads_that_map_regions_at_once_lose_no_chunk() {
        let pool = BlockPool::<Tracked>::default();
        let drops = Arc::new(Counter::new(0));
        // Each thread needs more than a region, so they map regions at the
        // same time now and then (a region mapped while another thread's
        // was being mapped is shared out as free chunks).
        let each = BlockPool::<Tracked>::SLOTS * REGION_CHUNKS + 1;
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let (pool, drops) = (&pool, &drops);
                scope.spawn(move || {
                    let mut carver = Carver::default();
                    let blocks: Vec<_> = (0..each).map(|_| alloc(pool, &mut carver, tracked(drops))).collect();
                    retire(pool, &mut carver);
                    for block in blocks {
                        // SAFETY: allocated above, freed once, here.
                        unsafe { pool.free(block) };
                    }
                });
            }
        });
        assert_eq!(drops.load(Ordering::Relaxed), 4 * each);
        assert!(pool.all_chunks_free());
    }
}
