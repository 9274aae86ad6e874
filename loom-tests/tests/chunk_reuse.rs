//! The last free of a chunk's blocks, on one thread, against the reuse of
//! the chunk by another: the reuser must see every earlier user of the chunk
//! done with it.
#![cfg(loom)]

use std::ptr::NonNull;

use lariat::loom_api::{BlockPool, Carver};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

/// Half a chunk: two blocks fill one.
struct Block {
    _room: [u8; 1900],
}

/// What the blocks' memory holds, as loom sees it: a cell per slot (a block
/// freed and carved again is a new value to loom, so the accesses to check
/// go through these).
struct Memory([UnsafeCell<u32>; 2]);

/// A block handed to the other thread.
struct Sent(NonNull<Block>);

// SAFETY: the block is used and freed by the thread it is sent to only.
unsafe impl Send for Sent {}

/// Depends on: the AcqRel decrement of the chunk's count in
/// `BlockPool::release` (the thread whose free is the last sees every other
/// free's use of the chunk before it puts the chunk up for reuse).
///
/// Mutation `LARIAT_MUTATION=block_free_relaxed` fails: loom reports a
/// causality violation on the reuser's write to the slot the other thread
/// read before its free.
#[test]
fn a_chunk_is_reused_only_after_every_use_of_its_blocks() {
    loom::model(|| {
        let pool = Arc::new(BlockPool::<Block>::default());
        assert_eq!(BlockPool::<Block>::SLOTS, 2);
        let memory = Arc::new(Memory([UnsafeCell::new(0), UnsafeCell::new(0)]));
        let mut carver = Carver::default();
        // SAFETY: `carver` is used with this one pool only.
        let first = unsafe { pool.alloc(&mut carver, Block { _room: [0; 1900] }) };
        // SAFETY: as above.
        let second = unsafe { pool.alloc(&mut carver, Block { _room: [0; 1900] }) };
        let other = {
            let (pool, memory, first) = (Arc::clone(&pool), Arc::clone(&memory), Sent(first));
            thread::spawn(move || {
                // SAFETY: slot 0 is this thread's until it frees `first`.
                assert_eq!(memory.0[0].with(|value| unsafe { *value }), 0);
                // SAFETY: carved above, freed once, here.
                unsafe { pool.free(first.0) };
            })
        };
        // SAFETY: slot 1 is this thread's until it frees `second`.
        assert_eq!(memory.0[1].with(|value| unsafe { *value }), 0);
        // SAFETY: carved above, freed once, here.
        unsafe { pool.free(second) };
        // Carve again: the same chunk if both frees are done, else a fresh one.
        let mut reuser = Carver::default();
        // SAFETY: `reuser` is used with this one pool only.
        let again = unsafe { pool.alloc(&mut reuser, Block { _room: [0; 1900] }) };
        for (slot, block) in [first, second].into_iter().enumerate() {
            if again == block {
                // SAFETY: the slot was carved again for this thread (loom
                // checks that the other thread's read is ordered before).
                memory.0[slot].with_mut(|value| unsafe { *value = 1 });
            }
        }
        other.join().unwrap();
        // SAFETY: carved above, freed once.
        unsafe { pool.free(again) };
        // SAFETY: each carver goes back to the pool it carved from.
        unsafe { pool.retire(&mut reuser) };
        // SAFETY: as above.
        unsafe { pool.retire(&mut carver) };
    });
}
