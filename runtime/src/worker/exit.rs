//! The end of a process's exit (semantics.md §3: its stack back to the pool,
//! then steps 4–7; step 3 is lazy), run by the worker that resumed it, on the
//! worker's own stack.
//!
//! A big fan-out (a process with thousands of links or monitors) is sent a
//! chunk at a time between process runs, as ERTS's `erts_continue_exit_process`
//! yields after a budget of links. Sent all at once, 100,000 exit signals needed
//! 100,000 queue nodes and a 100,000-entry run queue of fresh memory, and the
//! first touch of a page is costly; a chunk at a time (D18), the processes woken by one
//! chunk run and free their nodes before the next chunk is sent, so the memory
//! stays the same few hot pages. The steps keep their order: every exit signal,
//! then every `Down`, then the monitors it held, then the answers to what was
//! still queued to it, then its waiter and its block. Only the timing changes,
//! which a signal in flight never promised.
//!
//! Invariant: a worker with pending exits advances them whenever its local queue
//! runs short and at least once every `GLOBAL_CHECK_INTERVAL` scheduling ticks,
//! never parks while it has one, and completes them before it stops, so none is
//! left half-sent.

use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::Arc;

use super::WorkerCore;
use crate::pid::{Pid, Ref};
use crate::process::{BlockPool, Outcome, Pcb, ProcessCoroutine, Signal, WatchedBy};
use crate::reason::Reason;
use crate::sync::Ordering;
use crate::sync::epoch::Guard;

/// Signals an exit sends at a time; a fan-out at least this big is sent in chunks.
const EXIT_CHUNK: usize = 512;
/// A pending exit sends its next chunk once the local queue holds fewer than this.
const RESUME_BELOW: usize = EXIT_CHUNK / 4;
/// What a pending exit sends on a worker's periodic turn while its queue is long.
const TURN_CHUNK: usize = 32;
/// Targets of a fan-out this many or more are signalled in memory order (see `in_memory_order`).
const SORTED_FAN_OUT: usize = 64;
/// Ended blocks a worker gathers before handing them to the epoch collector.
const ENDED_BATCH: usize = 64;

/// The rest of an exit whose fan-out is sent in chunks.
pub(super) struct PendingExit {
    pcb: NonNull<Pcb>,
    /// Whether its block left the table here (then this worker frees it once
    /// the exit is complete).
    removed: bool,
    outcome: Outcome,
    /// Links in the order they were made, watchers in pid order (see
    /// `in_memory_order`); `sent` counts both, links first.
    links: Vec<Pid>,
    watchers: Vec<(Ref, Pid)>,
    sent: usize,
}

impl WorkerCore {
    /// The rest of the exit of `pcb`, whose body has returned `outcome` (see
    /// the module's doc).
    pub(super) fn finish(&self, pcb: &Pcb, coroutine: Option<ProcessCoroutine>, outcome: Outcome, guard: &Guard) {
        let panicked = matches!(outcome.reason, Reason::Panic(_));
        if let Some(coroutine) = coroutine {
            self.return_stack(coroutine.into_stack(), outcome.lowest_sp, panicked);
        }
        // Step 3: a timer it was waiting with was disarmed when that receive
        // returned; one firing meanwhile finds no process (or a stale generation).
        let kernel = &self.kernel;
        // Step 4: its name is freed and its pid leaves the table.
        // SeqCst: after the SeqCst RMW that set EXITED in step 1, against the
        // SeqCst store + fence in `Kernel::register`: one side sees the other.
        if pcb.named.load(Ordering::SeqCst) {
            kernel.registry.forget(pcb.pid);
        }
        let removed = self.with_free_slots(|slots| kernel.table.remove(pcb.pid, Some(slots), guard)).is_some();
        // Step 5: its exit signal goes to every active link, a `Down` to every
        // process monitoring it.
        if let WatchedBy::Few { links, watcher } = &outcome.watched {
            for &link in links.iter().flatten() {
                self.send_exit(pcb.pid, &outcome.reason, link);
            }
            if let &Some((monitor, watcher)) = watcher {
                self.send_down(&outcome.reason, monitor, watcher);
            }
            self.end_exit(pcb, &outcome, removed, guard);
            return;
        }
        if outcome.link_count() + outcome.watcher_count() >= EXIT_CHUNK {
            let mut links = Vec::with_capacity(outcome.link_count());
            each_link(&outcome, |link| links.push(link));
            let mut watchers = Vec::with_capacity(outcome.watcher_count());
            each_watcher(&outcome, |watcher| watchers.push(watcher));
            let pending = PendingExit { pcb: NonNull::from(pcb), removed, outcome, links, watchers, sent: 0 };
            self.exits.borrow_mut().push_back(pending);
            // The first chunk goes now (all of it, and the exit ends, if the
            // counts included links being unlinked and fewer are active); the
            // rest as the woken processes run.
            self.advance_exits(true);
            return;
        }
        self.batch_wakes(|| {
            each_link(&outcome, |link| self.send_exit(pcb.pid, &outcome.reason, link));
            each_watcher(&outcome, |(monitor, watcher)| self.send_down(&outcome.reason, monitor, watcher));
        });
        self.end_exit(pcb, &outcome, removed, guard);
    }

    /// Sends the next chunk of the oldest pending exit if the local queue is
    /// short or `force`, a small one if it is this worker's turn to look beyond
    /// its queue anyway (so a worker kept busy by processes that only yield
    /// still makes progress); completes that exit when nothing is left to send.
    pub(super) fn advance_exits(&self, force: bool) {
        let budget = if force || self.queued_len() < RESUME_BELOW {
            EXIT_CHUNK
        } else if self.tick.get().is_multiple_of(super::GLOBAL_CHECK_INTERVAL) {
            // Fewer than run in the meantime: a long queue still drains.
            TURN_CHUNK
        } else {
            return;
        };
        // One pin for the whole chunk (each delivery pins again, cheaply, inside it).
        let guard = self.pin();
        let mut exits = self.exits.borrow_mut();
        let Some(pending) = exits.front_mut() else { return };
        // SAFETY: the block of a process whose exit is pending is freed only by
        // `end_exit` below, after which the entry is gone.
        let pcb = unsafe { pending.pcb.as_ref() };
        let (links, watchers) = (pending.links.len(), pending.watchers.len());
        let end = (pending.sent + budget).min(links + watchers);
        self.batch_wakes(|| {
            for index in pending.sent..end {
                if index < links {
                    self.send_exit(pcb.pid, &pending.outcome.reason, pending.links[index]);
                } else {
                    let (monitor, watcher) = pending.watchers[index - links];
                    self.send_down(&pending.outcome.reason, monitor, watcher);
                }
            }
        });
        pending.sent = end;
        if end == links + watchers {
            let done = exits.pop_front().expect("the front entry was just advanced");
            drop(exits);
            self.end_exit(pcb, &done.outcome, done.removed, &guard);
        }
    }

    /// Whether an exit is still being sent a chunk at a time.
    pub(super) fn has_pending_exits(&self) -> bool {
        !self.exits.borrow().is_empty()
    }

    /// Sends every pending exit's remaining signals (a worker that stops).
    pub(super) fn complete_exits(&self) {
        while self.has_pending_exits() {
            self.advance_exits(true);
        }
    }

    fn send_exit(&self, from: Pid, reason: &Reason, link: Pid) {
        let signal = Signal::Exit { from, reason: reason.clone(), linked: true };
        self.kernel.deliver(link, signal, Some(self));
    }

    fn send_down(&self, reason: &Reason, monitor: Ref, watcher: Pid) {
        let signal = Signal::Down { monitor, reason: reason.clone() };
        self.kernel.deliver(watcher, signal, Some(self));
    }

    /// The end of step 5 and steps 6–7, once every exit signal and `Down` is out.
    fn end_exit(&self, pcb: &Pcb, outcome: &Outcome, removed: bool, guard: &Guard) {
        let kernel = &self.kernel;
        // ... the monitors it held are dropped.
        for (monitor, target) in outcome.held() {
            kernel.deliver(target, Signal::Demonitor { monitor }, Some(self));
        }
        // Step 6: signals still queued are answered; messages are discarded.
        for signal in pcb.signals.seal() {
            // Dropping a message runs its destructor: contain a panic there.
            crate::crash::contain(|| kernel.answer_for_the_dead(pcb.pid, signal, Some(self)));
        }
        // SAFETY: the process has finished; this worker still owns its `run` part.
        let waiter = pcb.run.with_mut(|run| unsafe { (*run).exit_waiter.take() });
        // Counted before the waiter hears of it: `live_processes()` right after
        // `block_on` returns no longer includes this process.
        kernel.process_ended(Some(self.index));
        match waiter {
            Some(waiter) => waiter.set(outcome.reason.clone()),
            None if outcome.watched_by_none() => crate::crash::report_exit(pcb.pid, &outcome.reason),
            None => {}
        }
        // Step 7, once no thread can still be reading the block.
        if removed {
            let mut ended = self.ended.borrow_mut();
            ended.0.push(pcb);
            if ended.0.len() >= ENDED_BATCH {
                ended.defer_all(&kernel.blocks, guard);
            }
        }
    }
}

/// Exits of one worker whose fan-out is still being sent, oldest first.
pub(super) type PendingExits = VecDeque<PendingExit>;

/// Visits the targets of a fan-out; many of them sorted by `key`, an order
/// that follows where their blocks and stacks lie in memory: for links, the
/// order they were made (processes linked one after another were mostly
/// spawned one after another); for watchers, their pids' table slots. A big
/// link table iterates in hash order, and waking 100,000 processes in that
/// order makes every resume a jump to another page (D5). Pid order alone stops
/// following memory once the table has churned (freed slots are reused oldest
/// first), hence link order for links (D39).
/// `at_most`: an upper bound on how many `targets` yields.
fn in_memory_order<T>(at_most: usize, targets: impl Iterator<Item = T>, key: impl Fn(&T) -> u32, visit: impl FnMut(T)) {
    if at_most < SORTED_FAN_OUT {
        return targets.for_each(visit);
    }
    let mut sorted = Vec::with_capacity(at_most);
    sorted.extend(targets);
    sorted.sort_unstable_by_key(key);
    sorted.into_iter().for_each(visit);
}

/// Visits the active links of an ended process (both ways of sending an
/// exit's fan-out go through here).
fn each_link(outcome: &Outcome, mut visit: impl FnMut(Pid)) {
    in_memory_order(outcome.link_count(), outcome.links_in_order(), |&(_, order)| order, |(link, _)| visit(link));
}

/// Visits who monitored an ended process: (monitor, watcher).
fn each_watcher(outcome: &Outcome, visit: impl FnMut((Ref, Pid))) {
    in_memory_order(outcome.watcher_count(), outcome.watchers(), |&(_, watcher)| watcher.index(), visit);
}

/// Blocks to free once no thread can still be reading them. Handed to the
/// epoch collector in batches: one deferred function per `ENDED_BATCH` blocks
/// instead of one each (a mass exit otherwise fills a fresh 2 KiB garbage bag
/// every 64 exits).
#[derive(Default)]
pub(super) struct EndedBlocks(Vec<*const Pcb>);

impl EndedBlocks {
    pub(super) fn defer_all(&mut self, pool: &Arc<BlockPool<Pcb>>, guard: &Guard) {
        if self.0.is_empty() {
            return;
        }
        let blocks = std::mem::take(&mut self.0);
        let pool = Arc::clone(pool);
        // SAFETY: every block was removed from the table (`Table::remove`) before
        // it was gathered here, so only threads that found it earlier can still
        // read it, and they hold guards pinned before this call: the collector
        // runs the function after all of those are released, on whichever thread
        // collects (a `Pcb` is `Send`; the pool is kept alive by the function).
        // Each block came from `pool` when it was spawned and is freed exactly
        // once, here.
        unsafe {
            guard.defer_unchecked(move || {
                for block in blocks {
                    pool.free(NonNull::new(block.cast_mut()).expect("a block is not null"));
                }
            })
        };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn visited(pids: &[Pid]) -> Vec<u32> {
        let mut order = Vec::new();
        in_memory_order(pids.len(), pids.iter().copied(), |pid| pid.index(), |pid| order.push(pid.index()));
        order
    }

    #[test]
    fn a_big_fan_out_goes_in_key_order_and_a_small_one_as_given() {
        let scrambled: Vec<Pid> = (0..1000u32).map(|i| Pid::new(0, (i * 7919) % 1000 + 1, 0)).collect();
        let order = visited(&scrambled);
        assert_eq!(order.len(), 1000);
        assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "not in key order");
        let few: Vec<Pid> = [5u32, 3, 9].iter().map(|&i| Pid::new(0, i, 0)).collect();
        assert_eq!(visited(&few), vec![5, 3, 9]);
    }

    /// Pids from a churned table are in no useful order: an exit's links are
    /// visited in the order they were made, whatever their pids, for a
    /// fan-out sent at once (64 to 511 links) and one sent in chunks.
    #[test]
    fn a_big_link_fan_out_goes_in_the_order_the_links_were_made() {
        for count in [100u32, 1000] {
            let mut links = crate::link::LinkTable::default();
            let made: Vec<Pid> = (0..count).map(|i| Pid::new(0, (i * 7919) % count + 1, 0)).collect();
            for &pid in &made {
                assert!(links.link(pid));
            }
            let outcome = Outcome::new(Reason::Normal, &mut links, &mut Default::default(), 0);
            let mut visited = Vec::new();
            each_link(&outcome, |pid| visited.push(pid));
            assert_eq!(visited, made);
        }
    }
}
