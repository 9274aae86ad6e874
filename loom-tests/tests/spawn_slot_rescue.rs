//! A child waiting in its worker's spawn slot, taken by the watchdog (its
//! spawner holds the worker) while that worker spawns again and takes its slot.
#![cfg(loom)]

use std::ptr::NonNull;

use lariat::loom_api::SpawnSlot;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// What the spawner builds before it queues a child, and how often it ran.
struct Process {
    built: UnsafeCell<u32>,
    runs: AtomicUsize,
}

// SAFETY: `built` is written by the spawner before the process is queued and
// read only by whoever took it from the slot (loom checks exactly that).
unsafe impl Sync for Process {}

impl Process {
    fn new() -> Process {
        Process { built: UnsafeCell::new(0), runs: AtomicUsize::new(0) }
    }

    fn build(&self) {
        // SAFETY: not queued yet: nobody else reaches it.
        self.built.with_mut(|built| unsafe { *built = 7 });
    }
}

fn run(process: NonNull<Process>) {
    // SAFETY: the model's processes outlive its threads.
    let process = unsafe { process.as_ref() };
    // SAFETY: the taker owns the process now; the read is checked by loom.
    assert_eq!(process.built.with(|built| unsafe { *built }), 7, "taken before it was built");
    process.runs.fetch_add(1, Ordering::Relaxed);
}

/// Depends on: the Release swap of `SpawnSlot::put` against the Acquire swap
/// of `SpawnSlot::rescue` (the rescuer, and whoever it hands the child to,
/// sees the child as built), and on every hand-out being one swap (each child
/// runs exactly once, none is lost).
///
/// Mutation `LARIAT_MUTATION=spawn_slot_put_relaxed` fails: loom
/// reports a causality violation on the rescuer's read of what the spawner
/// built.
#[test]
fn a_child_rescued_from_the_spawn_slot_is_seen_whole_and_runs_once() {
    loom::model(|| {
        let slot = Arc::new(SpawnSlot::<Process>::default());
        let (first, second) = (Arc::new(Process::new()), Arc::new(Process::new()));
        let watchdog = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                if let Some(child) = slot.rescue() {
                    run(child);
                }
            })
        };
        for child in [&first, &second] {
            child.build();
            // SAFETY: this thread is the owner; the child is in no slot and
            // outlives the model's threads.
            if let Some(displaced) = unsafe { slot.put(NonNull::from(&**child)) } {
                run(displaced);
            }
        }
        if let Some(child) = slot.take() {
            run(child);
        }
        watchdog.join().unwrap();
        assert_eq!(first.runs.load(Ordering::Relaxed), 1);
        assert_eq!(second.runs.load(Ordering::Relaxed), 1);
    });
}
