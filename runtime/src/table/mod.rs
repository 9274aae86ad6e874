//! The process table: Pid → process, with wait-free lookup.
//!
//! Slots live in fixed-size chunks allocated on first use (a directory of chunk
//! pointers sized for the configured capacity), so a small runtime costs little
//! and a big one grows as it needs. A slot holds an epoch-managed pointer to the
//! process; lookup loads it and checks the full Pid stored in the process, so a
//! stale Pid (older serial, or another runtime) never resolves. A removed process
//! is freed through the runtime's own epoch collector once no thread can hold it.
//!
//! Free slots are recycled FIFO through [`FreeSlots`] lists (one per worker, one
//! shared; segmented, see [`free_list`]), carrying the last Pid of the slot so the next occupant gets the next
//! serial. Invariant: a slot index is owned by exactly one of: a live process,
//! a free list, or the never-used range above `fresh`.
//!
//! Admission is by count, not by finding a slot: a reserve succeeds whenever
//! fewer than `capacity` entries are reserved or live, on every path (a worker
//! or another thread). The index space is larger than the capacity by what the
//! workers' private lists can hold at most, so that whenever the count admits
//! an entry, a slot is free in the caller's list, the shared list or the fresh
//! range: slots cached by a worker that no longer spawns never make a spawn
//! elsewhere fail.

mod free_list;

use crate::pid::Pid;
use crate::sync::epoch::{Atomic, Guard, Shared};
use crate::sync::{AtomicPtr, AtomicU32, AtomicUsize, Mutex, Ordering, lock, mutated};
use free_list::FreeList;

const CHUNK_BITS: u32 = 12;

/// Ordering of `publish`; the mutation `table_publish_relaxed` weakens it for
/// the loom model `process_table` to show that it is needed.
#[inline(always)]
fn publish_ordering() -> Ordering {
    if mutated("table_publish_relaxed") { Ordering::Relaxed } else { Ordering::Release }
}
const CHUNK_SLOTS: usize = 1 << CHUNK_BITS;

/// What a table slot can hold: anything that knows its own Pid.
pub trait Entry {
    /// The Pid this entry was inserted under.
    fn pid(&self) -> Pid;
}

struct Chunk<T> {
    slots: Box<[Atomic<T>]>,
}

/// Pid → `T`, lock-free, with capacity fixed at creation.
pub struct Table<T: Entry> {
    runtime: u32,
    capacity: u32,
    /// Fresh indices go up to here: `capacity` plus what the workers' private
    /// lists can hold (see the module docs), within the Pid's index space.
    index_limit: u32,
    /// Entries reserved or live: admission (see the module docs).
    occupied: AtomicUsize,
    chunks: Box<[AtomicPtr<Chunk<T>>]>,
    /// Indices below `fresh` have been handed out at least once.
    fresh: AtomicU32,
    /// Freed slots not owned by a worker's list, oldest first.
    shared_free: Mutex<FreeList>,
    /// `shared_free`'s length, readable without the lock: a worker whose own
    /// list runs short refills it from there before taking fresh slots (slots
    /// freed on the other worker would otherwise pile up there while the table
    /// grew: RSS rose ~60 MiB over ten million spawns).
    shared_len: AtomicUsize,
    /// A free list is used only once it holds more than this many slots (or no
    /// fresh slot is left), so one slot's serial advances slowly even when
    /// processes come and go one at a time.
    reuse_after: usize,
}

/// A worker's private list of freed slots (no synchronisation on the hot path).
#[derive(Default)]
pub struct FreeSlots {
    slots: FreeList,
}

/// How many freed slots a worker keeps before handing half to the shared list.
const LOCAL_FREE_MAX: usize = 4096;
/// The most a worker's private list can hold: `LOCAL_FREE_MAX` plus a
/// refill's whole segments (see `refill`), rounded up generously.
const LOCAL_FREE_BOUND: usize = 2 * LOCAL_FREE_MAX;
/// Default for `Table::reuse_after`.
const REUSE_AFTER: usize = 1024;

impl<T: Entry> Table<T> {
    /// A table for at most `capacity` entries of runtime `runtime`, used by
    /// `workers` workers with private free lists.
    pub fn new(runtime: u32, capacity: usize, workers: usize) -> Self {
        Self::with_reuse_after(runtime, capacity, workers, REUSE_AFTER)
    }

    /// A table that reuses freed slots only once more than `reuse_after` wait.
    pub fn with_reuse_after(runtime: u32, capacity: usize, workers: usize, reuse_after: usize) -> Self {
        let capacity = capacity.min(crate::pid::MAX_PROCESSES);
        // Within a few thousand of the index space's end, the slack shrinks: a
        // capacity that close to `MAX_PROCESSES` could in theory see a spawn
        // from outside refused while the last free slots sit in worker lists.
        let index_limit =
            capacity.saturating_add(workers.saturating_mul(LOCAL_FREE_BOUND)).min(crate::pid::MAX_PROCESSES);
        let (capacity, index_limit) = (capacity as u32, index_limit as u32);
        let chunk_count = (index_limit as usize).div_ceil(CHUNK_SLOTS);
        let chunks = (0..chunk_count).map(|_| AtomicPtr::new(std::ptr::null_mut())).collect();
        Table {
            runtime,
            capacity,
            index_limit,
            occupied: AtomicUsize::new(0),
            chunks,
            fresh: AtomicU32::new(0),
            shared_free: Mutex::new(FreeList::default()),
            shared_len: AtomicUsize::new(0),
            reuse_after,
        }
    }

    /// The most entries this table can hold.
    pub fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Picks a slot for a new entry and returns its Pid, or `None` if
    /// `capacity` entries are reserved or live. The slot stays empty (lookups
    /// miss) until [`Table::publish`].
    pub fn reserve(&self, local: Option<&mut FreeSlots>) -> Option<Pid> {
        // Relaxed: a count; the slot itself is handed over by the free lists'
        // lock or the fresh range's RMW.
        let admitted = self
            .occupied
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < self.capacity as usize).then_some(n + 1))
            .is_ok();
        if !admitted {
            return None;
        }
        let slot = self.find_slot(local);
        if slot.is_none() {
            // Only past the slack's clamp near the index space's end (see `new`).
            // Relaxed: as above.
            self.occupied.fetch_sub(1, Ordering::Relaxed);
        }
        slot
    }

    fn find_slot(&self, mut local: Option<&mut FreeSlots>) -> Option<Pid> {
        if let Some(local) = local.as_deref_mut() {
            // Relaxed: a hint; the lock in `with_shared` orders the list itself.
            if local.slots.len() <= self.reuse_after && self.shared_len.load(Ordering::Relaxed) > self.reuse_after {
                self.refill(local);
            }
            if local.slots.len() > self.reuse_after {
                return local.slots.pop_front().map(Pid::next_in_slot);
            }
        }
        if local.is_none() {
            let reused =
                self.with_shared(|shared| (shared.len() > self.reuse_after).then(|| shared.pop_front()).flatten());
            if let Some(old) = reused {
                return Some(old.next_in_slot());
            }
        }
        // Relaxed: `fresh` only hands out distinct numbers; the slot's contents are
        // published by `publish` with Release.
        if let Ok(index) =
            self.fresh.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < self.index_limit).then_some(n + 1))
        {
            return Some(Pid::new(self.runtime, index, 0));
        }
        // No fresh slot left: any freed one will do.
        if let Some(local) = local {
            if let Some(old) = local.slots.pop_front() {
                return Some(old.next_in_slot());
            }
            self.refill(local);
            return local.slots.pop_front().map(Pid::next_in_slot);
        }
        self.with_shared(|shared| shared.pop_front()).map(Pid::next_in_slot)
    }

    /// Makes `entry` (inserted under `entry.pid()`, a reserved Pid) visible to lookups.
    pub fn publish(&self, entry: Shared<'_, T>) {
        // SAFETY: the caller passes an entry it just allocated and still owns.
        let pid = unsafe { entry.deref() }.pid();
        let slot = self.slot_or_create(pid.index());
        // Release pairs with the Acquire load in `get`: a finder sees the entry
        // fully initialised.
        slot.store(entry, publish_ordering());
    }

    /// The entry of `pid`, if it is in the table now. Wait-free.
    pub fn get<'g>(&self, pid: Pid, guard: &'g Guard) -> Option<&'g T> {
        if pid.runtime_id() != self.runtime {
            return None;
        }
        let slot = self.slot(pid.index())?;
        // Acquire pairs with the Release store in `publish`.
        let entry = slot.load(Ordering::Acquire, guard);
        // SAFETY: the guard keeps whatever a slot pointed to alive until it is
        // dropped: removal defers destruction to the epoch collector.
        let entry = unsafe { entry.as_ref() }?;
        (entry.pid() == pid).then_some(entry)
    }

    /// Takes `pid`'s entry out of the table and frees its slot for reuse. The
    /// entry itself stays valid for readers holding a guard; the caller frees it
    /// only once they are done (through the epoch: for a process block, a
    /// deferred `BlockPool::free`).
    pub fn remove<'g>(&self, pid: Pid, local: Option<&mut FreeSlots>, guard: &'g Guard) -> Option<Shared<'g, T>> {
        let slot = self.slot(pid.index())?;
        // Acquire: the caller will read (and later free) the entry.
        let current = slot.load(Ordering::Acquire, guard);
        // SAFETY: see `get`.
        let entry = unsafe { current.as_ref() }?;
        if entry.pid() != pid {
            return None;
        }
        // Only the entry's owner removes it, so no CAS is needed. Release pairs with
        // `get`'s Acquire (a finder that misses it sees nothing half-done).
        slot.store(Shared::null(), Ordering::Release);
        self.release_slot(pid, local);
        Some(current)
    }

    /// Every entry still in the table (used at shutdown, when nothing else inserts).
    pub fn drain_all<'g>(&self, guard: &'g Guard) -> Vec<Shared<'g, T>> {
        let mut taken = Vec::new();
        for chunk in self.chunks.iter() {
            // Acquire pairs with the Release CAS that installed the chunk.
            let chunk = chunk.load(Ordering::Acquire);
            if chunk.is_null() {
                continue;
            }
            // SAFETY: chunks are never freed before the table is dropped.
            for slot in unsafe { &*chunk }.slots.iter() {
                // AcqRel: Acquire to read the entry, Release for `get`'s Acquire.
                let entry = slot.swap(Shared::null(), Ordering::AcqRel, guard);
                if !entry.is_null() {
                    taken.push(entry);
                }
            }
        }
        taken
    }

    /// Returns a worker's private free slots to the shared list (worker exit).
    pub fn give_back(&self, local: &mut FreeSlots) {
        self.with_shared(|shared| local.slots.move_oldest(usize::MAX, shared));
    }

    fn release_slot(&self, pid: Pid, local: Option<&mut FreeSlots>) {
        // Relaxed: a count (see `reserve`).
        self.occupied.fetch_sub(1, Ordering::Relaxed);
        match local {
            Some(local) => {
                local.slots.push_back(pid);
                if local.slots.len() > LOCAL_FREE_MAX {
                    self.with_shared(|shared| local.slots.move_oldest(LOCAL_FREE_MAX / 2, shared));
                }
            }
            None => self.with_shared(|shared| shared.push_back(pid)),
        }
    }

    /// Moves about half a local list's worth of the oldest shared free slots to
    /// `local` (whole segments, so at most one segment more).
    fn refill(&self, local: &mut FreeSlots) {
        self.with_shared(|shared| shared.move_oldest(LOCAL_FREE_MAX / 2, &mut local.slots));
    }

    /// Runs `f` on the shared free list under its lock, keeping `shared_len` in step.
    fn with_shared<R>(&self, f: impl FnOnce(&mut FreeList) -> R) -> R {
        let mut shared = lock(&self.shared_free);
        let result = f(&mut shared);
        // Relaxed: only a hint for `reserve` (written under the lock, so in order).
        self.shared_len.store(shared.len(), Ordering::Relaxed);
        result
    }

    fn slot(&self, index: u32) -> Option<&Atomic<T>> {
        let chunk = self.chunks.get(index as usize >> CHUNK_BITS)?;
        // Acquire pairs with the Release CAS that installed the chunk.
        let chunk = chunk.load(Ordering::Acquire);
        // SAFETY: a non-null chunk pointer stays valid until the table is dropped.
        let chunk = unsafe { chunk.as_ref() }?;
        chunk.slots.get(index as usize & (CHUNK_SLOTS - 1))
    }

    fn slot_or_create(&self, index: u32) -> &Atomic<T> {
        let cell = &self.chunks[index as usize >> CHUNK_BITS];
        // Acquire pairs with the Release CAS below.
        let mut chunk = cell.load(Ordering::Acquire);
        if chunk.is_null() {
            let fresh = Box::into_raw(Box::new(Chunk { slots: (0..CHUNK_SLOTS).map(|_| Atomic::null()).collect() }));
            // Release publishes the initialised chunk; Acquire on failure to read the winner's.
            match cell.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => chunk = fresh,
                Err(winner) => {
                    // SAFETY: `fresh` lost the race and was never shared.
                    drop(unsafe { Box::from_raw(fresh) });
                    chunk = winner;
                }
            }
        }
        // SAFETY: non-null chunk pointers stay valid until the table is dropped.
        &unsafe { &*chunk }.slots[index as usize & (CHUNK_SLOTS - 1)]
    }
}

impl<T: Entry> Drop for Table<T> {
    fn drop(&mut self) {
        for cell in self.chunks.iter() {
            // Relaxed: `&mut self` means no other thread can touch the table.
            let chunk = cell.load(Ordering::Relaxed);
            if !chunk.is_null() {
                // SAFETY: exclusive access; the chunk came from Box::into_raw. Entries
                // must already be gone (the runtime drains them before dropping the table).
                drop(unsafe { Box::from_raw(chunk) });
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::epoch::{self, Collector, Owned};

    struct Item(Pid);
    impl Entry for Item {
        fn pid(&self) -> Pid {
            self.0
        }
    }

    #[test]
    fn a_stale_pid_never_reaches_the_slots_next_occupant() {
        let collector = Collector::new();
        let handle = collector.register();
        let guard = handle.pin();
        let table = Table::<Item>::with_reuse_after(7, 16, 1, 0);
        let mut local = FreeSlots::default();
        let first = table.reserve(Some(&mut local)).unwrap();
        table.publish(Owned::new(Item(first)).into_shared(&guard));
        assert!(table.get(first, &guard).is_some());
        let removed = table.remove(first, Some(&mut local), &guard).unwrap();
        // SAFETY: removed from the table; readers are protected by their guards.
        unsafe { guard.defer_destroy(removed) };
        let second = table.reserve(Some(&mut local)).unwrap();
        assert_eq!(second.index(), first.index());
        assert_ne!(second, first);
        table.publish(Owned::new(Item(second)).into_shared(&guard));
        assert!(table.get(first, &guard).is_none());
        assert_eq!(table.get(second, &guard).unwrap().0, second);
        let last = table.remove(second, None, &guard).unwrap();
        // SAFETY: as above.
        unsafe { guard.defer_destroy(last) };
        drop(guard);
        let _ = epoch::is_pinned();
    }

    #[test]
    fn a_pid_of_another_runtime_never_resolves() {
        let collector = Collector::new();
        let handle = collector.register();
        let guard = handle.pin();
        let table = Table::<Item>::new(1, 16, 1);
        let pid = table.reserve(None).unwrap();
        table.publish(Owned::new(Item(pid)).into_shared(&guard));
        let foreign = Pid::new(2, pid.index(), pid.serial());
        assert!(table.get(foreign, &guard).is_none());
        for entry in table.drain_all(&guard) {
            // SAFETY: drained from the table.
            unsafe { guard.defer_destroy(entry) };
        }
    }

    #[test]
    fn a_freed_slot_waits_behind_fresh_ones_until_enough_are_free() {
        let table = Table::<Item>::with_reuse_after(0, 100, 1, 3);
        let mut local = FreeSlots::default();
        let first = table.reserve(Some(&mut local)).unwrap();
        table.release_slot(first, Some(&mut local));
        let next: Vec<u32> = (0..3).map(|_| table.reserve(Some(&mut local)).unwrap().index()).collect();
        assert!(!next.contains(&first.index()), "reused too soon: {next:?}");
        for index in [5u32, 6, 7] {
            table.release_slot(Pid::new(0, index, 0), Some(&mut local));
        }
        assert_eq!(table.reserve(Some(&mut local)).unwrap().index(), first.index(), "oldest first once 4 wait");
    }

    /// Slots freed on another worker overflow to the shared list; a worker that
    /// spawns must reuse them before it takes fresh ones, or the table grows
    /// (and RSS with it) under steady churn.
    #[test]
    fn a_worker_short_of_free_slots_takes_the_shared_ones_before_fresh_ones() {
        let table = Table::<Item>::with_reuse_after(0, 100_000, 1, 3);
        let (mut spawner, mut other) = (FreeSlots::default(), FreeSlots::default());
        let pids: Vec<Pid> = (0..2 * LOCAL_FREE_MAX).map(|_| table.reserve(Some(&mut spawner)).unwrap()).collect();
        for &pid in &pids {
            table.release_slot(pid, Some(&mut other));
        }
        assert!(table.shared_len.load(Ordering::Relaxed) > 3, "the other worker's list overflowed");
        let fresh_before = table.fresh.load(Ordering::Relaxed);
        for _ in 0..100 {
            let pid = table.reserve(Some(&mut spawner)).unwrap();
            assert!(
                pid.index() < fresh_before,
                "took fresh slot {} while {} freed ones waited",
                pid.index(),
                fresh_before
            );
        }
    }

    #[test]
    fn a_full_table_refuses_to_reserve() {
        let table = Table::<Item>::new(0, 3, 1);
        let pids: Vec<_> = (0..3).map(|_| table.reserve(None).unwrap()).collect();
        assert!(table.reserve(None).is_none());
        drop(pids);
    }

    /// Slots freed into a worker's private list (a worker that then spawns no
    /// more) never make a reserve elsewhere fail while fewer than `capacity`
    /// are taken; and `capacity` is never exceeded on any path.
    #[test]
    fn admission_is_by_count_whichever_list_holds_the_free_slots() {
        for capacity in [1usize, 2, 100] {
            let table = Table::<Item>::with_reuse_after(0, capacity, 2, 0);
            let mut worker = FreeSlots::default();
            for _round in 0..3 {
                let taken: Vec<Pid> = (0..capacity).map(|_| table.reserve(Some(&mut worker)).unwrap()).collect();
                assert!(table.reserve(Some(&mut worker)).is_none(), "over capacity from a worker");
                assert!(table.reserve(None).is_none(), "over capacity from outside");
                for pid in taken {
                    table.release_slot(pid, Some(&mut worker));
                }
                let outside: Vec<Pid> = (0..capacity).map(|_| table.reserve(None).expect("a free slot")).collect();
                assert!(table.reserve(None).is_none());
                assert!(table.reserve(Some(&mut FreeSlots::default())).is_none());
                for pid in outside {
                    table.release_slot(pid, None);
                }
            }
        }
    }

    #[test]
    fn slots_are_reused_oldest_first() {
        let table = Table::<Item>::with_reuse_after(0, 8, 1, 0);
        let mut local = FreeSlots::default();
        let a = table.reserve(Some(&mut local)).unwrap();
        let b = table.reserve(Some(&mut local)).unwrap();
        table.release_slot(a, Some(&mut local));
        table.release_slot(b, Some(&mut local));
        assert_eq!(table.reserve(Some(&mut local)).unwrap().index(), a.index());
        assert_eq!(table.reserve(Some(&mut local)).unwrap().index(), b.index());
    }
}
