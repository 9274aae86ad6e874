//! Process table: lookup racing remove and slot reuse, under epoch reclamation.
#![cfg(loom)]

use lariat::Pid;
use lariat::loom_api::{Entry, FreeSlots, Table, next_in_slot};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;

struct Item {
    pid: Pid,
    /// Written before publication, read by finders.
    payload: UnsafeCell<u32>,
}

impl Entry for Item {
    fn pid(&self) -> Pid {
        self.pid
    }
}

/// Depends on: `publish`'s Release store pairing with `get`'s Acquire load (a
/// finder sees the entry initialised), the Pid check in `get` (a stale Pid never
/// resolves to the slot's next occupant) and epoch reclamation (the old entry is
/// not freed while a finder holds a guard).
///
/// Mutation `LARIAT_MUTATION=table_publish_relaxed` fails: "Causality
/// violation: Concurrent read and write accesses." on the new entry's `payload`.
#[test]
fn an_old_pid_never_resolves_to_the_new_occupant_and_nothing_is_used_after_free() {
    let mut model = loom::model::Builder::new();
    model.max_branches = 100_000;
    model.check(|| {
        let collector = crossbeam_epoch::Collector::new();
        let table = Arc::new(Table::<Item>::with_reuse_after(0, 4, 1, 0));
        let old = table.reserve(None).unwrap();
        let setup = collector.register();
        {
            let guard = setup.pin();
            table.publish(
                crossbeam_epoch::Owned::new(Item { pid: old, payload: UnsafeCell::new(1) }).into_shared(&guard),
            );
        }
        let finder_table = Arc::clone(&table);
        let finder_handle = collector.register();
        let new = next_in_slot(old);
        let finder = thread::spawn(move || {
            let guard = finder_handle.pin();
            let seen_new = finder_table.get(new, &guard).map(|item| {
                assert_eq!(item.pid, new);
                // SAFETY: the payload is written only before publication; loom
                // checks that this read is ordered after that write.
                item.payload.with(|p| unsafe { *p })
            });
            let seen_old = finder_table.get(old, &guard).map(|item| {
                assert_eq!(item.pid, old, "a stale pid resolved to the new occupant");
                // SAFETY: as above.
                item.payload.with(|p| unsafe { *p })
            });
            (seen_old, seen_new)
        });
        {
            let guard = setup.pin();
            let mut slots = FreeSlots::default();
            let removed = table.remove(old, Some(&mut slots), &guard).unwrap();
            // SAFETY: out of the table; readers hold guards, so destruction waits for them.
            unsafe { guard.defer_destroy(removed) };
            assert_eq!(table.reserve(Some(&mut slots)), Some(new), "the freed slot is reused first");
            table.publish(
                crossbeam_epoch::Owned::new(Item { pid: new, payload: UnsafeCell::new(2) }).into_shared(&guard),
            );
        }
        let (seen_old, seen_new) = finder.join().unwrap();
        assert!(seen_old.is_none() || seen_old == Some(1), "the old pid saw {seen_old:?}");
        assert!(seen_new.is_none() || seen_new == Some(2), "the new pid saw {seen_new:?}");
        let guard = setup.pin();
        for entry in table.drain_all(&guard) {
            // SAFETY: drained from the table; the finder has finished.
            unsafe { guard.defer_destroy(entry) };
        }
    });
}
