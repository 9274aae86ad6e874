//! The process control block and the life of a process on its coroutine.
//!
//! Parts shared with other threads: the Pid, the [`StateWord`], the signal queue, the
//! fired-timer word. Owner parts ([`RunState`]: the body not yet started, the
//! coroutine, the exit waiter) are touched only by the worker that holds the
//! process in state `RUNNING` (or at shutdown, once no worker runs processes:
//! by its home worker, or by the stopper for one that never started).
//! Everything the running process itself owns — its mailbox, its process-local
//! storage — lives in its [`Cx`] on its own stack, so an idle process costs its
//! control block plus the stack pages it touched.

mod blocks;
mod info;
pub(crate) mod prefetch;

use prefetch::Hints;
mod signal;
pub(crate) mod state;

use std::ptr::NonNull;
use std::sync::Arc;

use corosensei::Coroutine;

pub use blocks::{BlockPool, Carver};
pub use info::ProcessInfo;
pub(crate) use info::{AliveRequest, InfoRequest, Reply, ReplyTo};
pub(crate) use signal::{Alive, Answer, Receiver, Signal, take_in};
pub use state::{StateWord, Status};

// The coroutine's own types: a body takes `&mut Cx`, a resumed process is
// handed its worker (the one loop between layers: docs/architecture.md).
pub(crate) use crate::cx::Cx;
use crate::link::LinkTable;
use crate::mailbox::Message;
use crate::monitor::Monitors;
use crate::pid::{Pid, Ref};
use crate::reason::Reason;
use crate::signal_queue::SignalQueue;
use crate::stack::PooledStack;
use crate::sync::{AtomicBool, AtomicPtr, AtomicU32, Condvar, Mutex, Ordering, UnsafeCell, lock};
use crate::table::Entry;
use crate::timer::FiredTimer;
use crate::worker::WorkerCore;

/// A trapped exit signal, delivered as a message to a process that traps exits
/// (Erlang's `{'EXIT', From, Reason}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Who sent it: the linked process that ended, or the caller of `exit`.
    pub from: Pid,
    /// Why.
    pub reason: Reason,
}

/// What a process body is, once boxed.
pub(crate) type Body = Box<dyn FnOnce(&mut Cx) -> Result<(), Reason> + Send>;

/// Why a process gave control back to its worker.
pub(crate) enum Suspend {
    /// Nothing to do until a signal (or its timer) arrives.
    Wait,
    /// Its time slice is used up; queue it again.
    Yield,
}

/// How a process ended, handed to the worker that finishes it.
pub(crate) struct Outcome {
    pub(crate) reason: Reason,
    /// Who its exit signals and `Down`s go to, and the monitors it held.
    pub(crate) watched: WatchedBy,
    /// The lowest stack address seen, to decide whether to trim the stack.
    pub(crate) lowest_sp: usize,
}

/// The links and monitors of an ended process.
pub(crate) enum WatchedBy {
    /// At most two active links and one watcher, and no monitor held (most
    /// processes: a chain member, a linked worker that is also monitored):
    /// inline, so such an exit allocates, moves and walks no table (D52).
    Few { links: [Option<Pid>; crate::small_map::INLINE], watcher: Option<(Ref, Pid)> },
    /// Any more, moved out whole (boxed: the outcome is copied out of the
    /// coroutine on a cold stack; a million links copy no list).
    Many(Box<Watched>),
}

/// The links and monitors of an ended process with many.
#[derive(Default)]
pub(crate) struct Watched {
    /// Its exit signal goes to the active ones.
    pub(crate) links: LinkTable,
    /// The monitors on it (to send `Down` to) and those it held (dropped).
    pub(crate) monitors: Monitors,
}

impl Outcome {
    /// The outcome of a process that ended with `reason`, taking its links
    /// and monitors (left empty when moved out).
    pub(crate) fn new(reason: Reason, links: &mut LinkTable, monitors: &mut Monitors, lowest_sp: usize) -> Outcome {
        let watched = match (links.few_active(), monitors.at_most_one_watcher()) {
            (Some(links), Some(watcher)) => WatchedBy::Few { links, watcher },
            _ => {
                WatchedBy::Many(Box::new(Watched { links: std::mem::take(links), monitors: std::mem::take(monitors) }))
            }
        };
        Outcome { reason, watched, lowest_sp }
    }

    fn many(&self) -> Option<&Watched> {
        match &self.watched {
            WatchedBy::Many(watched) => Some(watched),
            WatchedBy::Few { .. } => None,
        }
    }

    /// The active links of the ended process.
    pub(crate) fn links(&self) -> impl Iterator<Item = Pid> + '_ {
        self.links_in_order().map(|(link, _)| link)
    }

    /// Its active links, each with its place in the order they were made (in
    /// the few form, its place among them: `in_memory_order` sorts only big
    /// fan-outs).
    pub(crate) fn links_in_order(&self) -> impl Iterator<Item = (Pid, u32)> + '_ {
        let few = match &self.watched {
            WatchedBy::Few { links, .. } => &links[..],
            WatchedBy::Many(_) => &[],
        };
        let few = few.iter().zip(0..).filter_map(|(link, order)| link.map(|link| (link, order)));
        self.many().into_iter().flat_map(|watched| watched.links.active_in_order()).chain(few)
    }

    /// At least as many as `links` yields (its links in any state; in the
    /// few form, exactly its active ones).
    pub(crate) fn link_count(&self) -> usize {
        match &self.watched {
            WatchedBy::Few { links, .. } => links.iter().flatten().count(),
            WatchedBy::Many(watched) => watched.links.len(),
        }
    }

    /// As many as `watchers` yields.
    pub(crate) fn watcher_count(&self) -> usize {
        match &self.watched {
            WatchedBy::Few { watcher, .. } => usize::from(watcher.is_some()),
            WatchedBy::Many(watched) => watched.monitors.watcher_count(),
        }
    }

    /// Who monitored it: (monitor, watcher).
    pub(crate) fn watchers(&self) -> impl Iterator<Item = (Ref, Pid)> + '_ {
        let few = match &self.watched {
            WatchedBy::Few { watcher, .. } => *watcher,
            WatchedBy::Many(_) => None,
        };
        self.many().into_iter().flat_map(|watched| watched.monitors.watching()).chain(few)
    }

    /// The monitors it held: (monitor, target).
    pub(crate) fn held(&self) -> impl Iterator<Item = (Ref, Pid)> + '_ {
        self.many().into_iter().flat_map(|watched| watched.monitors.held_targets())
    }

    /// Whether its exit signals and `Down`s go to nobody.
    pub(crate) fn watched_by_none(&self) -> bool {
        match &self.watched {
            WatchedBy::Few { links, watcher } => links.iter().all(Option::is_none) && watcher.is_none(),
            WatchedBy::Many(_) => self.links().next().is_none() && self.watchers().next().is_none(),
        }
    }
}

/// A monitor a process has from the moment it is spawned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StartingMonitor {
    /// `spawn_monitor`: this process watches the new one under this ref.
    WatchedBy(Ref, Pid),
    /// A `Handle::watch` mailbox: the new one watches this process under this
    /// ref (the spawning thread sends the monitor request itself, so it is
    /// ordered with what that thread sends next, and a `Down` that arrives
    /// before the mailbox first runs is still its own).
    Watching(Ref, Pid),
}

/// Adds the links and monitors a process starts with: those of a
/// `spawn_link` or `spawn_monitor` (or a watch's mailbox), set up at spawn
/// before it can run. Its `Cx` starts with them, and so does the outcome of
/// one that ends before it runs. (In place: the tables are big enough that
/// moving them costs a copy.)
#[inline(always)]
pub(crate) fn add_starting_links_and_monitors(
    links: &mut LinkTable,
    monitors: &mut Monitors,
    initial_link: Option<Pid>,
    initial_monitor: Option<StartingMonitor>,
) {
    if let Some(parent) = initial_link {
        links.link(parent);
    }
    match initial_monitor {
        Some(StartingMonitor::WatchedBy(monitor, watcher)) => monitors.on_monitor(monitor, watcher),
        Some(StartingMonitor::Watching(monitor, target)) => monitors.hold(monitor, target, None),
        None => {}
    }
}

/// The worker a process was resumed on (valid while it runs there).
#[derive(Clone, Copy)]
pub(crate) struct WorkerPtr(pub(crate) NonNull<WorkerCore>);

pub(crate) type ProcessCoroutine = Coroutine<WorkerPtr, Suspend, Outcome, PooledStack>;

/// Lets a thread outside the runtime wait for one value from a process (its exit
/// reason for `block_on`, an info answer for `Handle::process_info`).
pub(crate) struct Waiter<T> {
    value: Mutex<Option<T>>,
    ready: Condvar,
}

/// What `block_on` waits for.
pub(crate) type ExitWaiter = Waiter<Reason>;

impl<T> Default for Waiter<T> {
    fn default() -> Self {
        Waiter { value: Mutex::new(None), ready: Condvar::new() }
    }
}

impl<T> Waiter<T> {
    pub(crate) fn set(&self, value: T) {
        *lock(&self.value) = Some(value);
        self.ready.notify_all();
    }

    pub(crate) fn wait(&self) -> T {
        let mut value = lock(&self.value);
        loop {
            if let Some(value) = value.take() {
                return value;
            }
            value = self.ready.wait(value).unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// The parts of a process only its current worker touches.
// `repr(C)`: the fields written only at spawn and at the first run come first,
// next to the pid (see `Pcb`); the coroutine, written at every switch, last.
#[repr(C)]
pub(crate) struct RunState {
    /// Usable stack bytes; 0 means the runtime's default.
    pub(crate) stack_size: usize,
    /// Where the coroutine's stack guard page starts, and its usable bytes (for
    /// the overflow report).
    pub(crate) stack_guard: usize,
    pub(crate) stack_bytes: u32,
    /// Traps exits from the start (`SpawnOptions::trap_exit`): signals that
    /// arrive before its first run already find it trapping. (Beside the
    /// `u32`, where the block has room.)
    pub(crate) initial_trap: bool,
    /// The parent of a `spawn_link`: linked before the process first runs.
    pub(crate) initial_link: Option<Pid>,
    /// A monitor it has from its spawn (see `StartingMonitor`).
    pub(crate) initial_monitor: Option<StartingMonitor>,
    pub(crate) exit_waiter: Option<Arc<ExitWaiter>>,
    pub(crate) body: Option<Body>,
    pub(crate) coroutine: Option<ProcessCoroutine>,
}

/// The process control block.
///
/// | field | written by | read by | under |
/// |---|---|---|---|
/// | `pid` | the spawner, once | whoever found the block (a table lookup compares it) | never changes |
/// | `run` | the worker holding it in `RUNNING` (at shutdown: its home worker, or the stopper for one never started) | the same | the state word |
/// | `hints` | the process (where it suspends), wakers (woken to exit) | prefetching code, any thread | relaxed; never read through (`prefetch`) |
/// | `fired_timer` | the worker that fires its timer | the process, in a receive | a maximum, then a wake-up (`timer`) |
/// | `signals` | senders push, any thread; the process takes and seals | | `signal_queue` |
/// | `state` | wakers, its worker, its exit | anyone | `state` |
/// | `force_unwinding` | its home worker, before tearing it down | the process (the gate) | same thread |
/// | `named` | whoever registers a name for it | its exit (step 4) | SeqCst against `EXITED` (`registry`) |
/// | `home` | its first worker, once, before the first resume | wakers that won its wake-up, its worker, the stopper | ordered by the state word's chain (see the field) |
/// | `inbox_next` | whoever pushes it to its home worker's inbox | that worker, taking its inbox | `scheduler::inbox` |
// `repr(C)`: the pid, which every sender reads to check it found the right
// process, is followed by the `RunState` fields that stop changing after the
// first run, and sits a whole `RunState` away from the signal queue head and
// state word that senders write: a busy receiver's senders keep the pid's line
// in their caches instead of missing on it at every send.
#[repr(C)]
pub(crate) struct Pcb {
    pub(crate) pid: Pid,
    pub(crate) run: UnsafeCell<RunState>,
    /// Where its next run will reach, for prefetching only (see `prefetch`).
    pub(crate) hints: Hints,
    /// Which of its waits have timed out (see `timer`).
    pub(crate) fired_timer: FiredTimer,
    pub(crate) signals: SignalQueue<Signal, Message>,
    pub(crate) state: StateWord,
    /// Set before the runtime drops a suspended coroutine at shutdown: every
    /// runtime call is then refused (`Cx::gate`), none suspends.
    pub(crate) force_unwinding: AtomicBool,
    /// Set (before checking it is alive) by whoever registers a name for it;
    /// its exit then frees the name (see `registry`).
    pub(crate) named: AtomicBool,
    /// The worker it runs on for the rest of its life: [`NO_HOME`] until a
    /// worker first runs it, then that worker's index, never changed again.
    /// Written by that worker before the first resume; read by whoever wins a
    /// wake-up (`StateWord::wake`), whose RMW comes after the write in the
    /// state word's chain (the process has run and waited since), by the home
    /// worker itself, and at shutdown by the stopper (ordered by the teardown
    /// handshake's mutex, after the worker stopped).
    pub(crate) home: AtomicU32,
    /// Its link while it sits in its home worker's inbox (`scheduler::inbox`).
    pub(crate) inbox_next: AtomicPtr<Pcb>,
}

/// [`Pcb::home`] of a process that has not run yet.
pub(crate) const NO_HOME: u32 = u32::MAX;

// SAFETY: the shared fields are atomics or the MPSC queue. `run` holds a coroutine
// (not `Send` by itself): once started, it is only ever resumed by its home
// worker's thread (`Pcb::home`; the scheduler queues a started process nowhere
// else), so nothing its stack holds changes OS thread. Before its first run it
// holds only the `Send` body, which may move to any worker. At shutdown the
// coroutine is dropped (force-unwound) by its home worker's thread too, after
// that worker stopped running processes (`scheduler::teardown`).
unsafe impl Send for Pcb {}
// SAFETY: as above: `&Pcb` from other threads only reaches the atomic parts.
unsafe impl Sync for Pcb {}

impl Entry for Pcb {
    fn pid(&self) -> Pid {
        self.pid
    }
}

impl Pcb {
    /// The worker it lives on, `None` before its first run (see [`Pcb::home`]).
    pub(crate) fn home(&self) -> Option<usize> {
        // Relaxed: ordered by the caller's wake-up RMW, or read by the home
        // worker itself (see the field).
        let home = self.home.load(Ordering::Relaxed);
        (home != NO_HOME).then_some(home as usize)
    }

    pub(crate) fn new(
        pid: Pid,
        body: Body,
        stack_size: usize,
        exit_waiter: Option<Arc<ExitWaiter>>,
        initial_link: Option<Pid>,
        initial_monitor: Option<StartingMonitor>,
        initial_trap: bool,
    ) -> Pcb {
        Pcb {
            pid,
            state: StateWord::new_queued(),
            signals: SignalQueue::with_small_form(),
            fired_timer: FiredTimer::default(),
            hints: Hints::default(),
            force_unwinding: AtomicBool::new(false),
            named: AtomicBool::new(false),
            home: AtomicU32::new(NO_HOME),
            inbox_next: AtomicPtr::new(std::ptr::null_mut()),
            run: UnsafeCell::new(RunState {
                body: Some(body),
                coroutine: None,
                stack_size,
                exit_waiter,
                initial_link,
                initial_monitor,
                initial_trap,
                stack_guard: 0,
                stack_bytes: 0,
            }),
        }
    }

    /// Drops whatever the process still holds (a suspended coroutine is unwound:
    /// its destructors run). Used at shutdown, on a thread that owns the process.
    ///
    /// # Safety
    /// No worker may be running or about to run this process.
    pub(crate) unsafe fn tear_down(&self) {
        self.state.exit();
        // Relaxed: read back by the same thread while it unwinds the coroutine.
        self.force_unwinding.store(true, Ordering::Relaxed);
        let (coroutine, body, waiter, guard, bytes) = self.run.with_mut(|run| {
            // SAFETY: the caller guarantees exclusive access to the owner part.
            unsafe {
                let run = &mut *run;
                (
                    run.coroutine.take(),
                    run.body.take(),
                    run.exit_waiter.take(),
                    run.stack_guard,
                    run.stack_bytes as usize,
                )
            }
        });
        crate::crash::drop_contained(body);
        if coroutine.is_some() {
            // Its forced unwind runs its code: reported as its own (a panic
            // there names this process, and an overflow its stack).
            crate::stack::overflow::set_running(Some(self.pid), guard, bytes);
            crate::crash::note_unwinding("the runtime is being dropped: its forced unwind".to_owned());
            drop(coroutine);
            crate::crash::unwind_caught();
            crate::stack::overflow::set_running(None, 0, 0);
        }
        crate::crash::drop_each_contained(self.signals.seal());
        if let Some(waiter) = waiter {
            waiter.set(Reason::Shutdown);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn pid(index: u32) -> Pid {
        Pid::new(0, index, 0)
    }

    fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
        items.sort();
        items
    }

    #[test]
    fn an_exit_with_few_links_and_one_watcher_keeps_them_inline_and_skips_unlinking_entries() {
        let mut links = LinkTable::default();
        links.link(pid(1));
        links.link(pid(2));
        links.unlink(pid(2)).expect("linked");
        let mut monitors = Monitors::default();
        monitors.on_monitor(Ref(7), pid(3));
        let outcome = Outcome::new(Reason::Kill, &mut links, &mut monitors, 0);
        assert!(matches!(outcome.watched, WatchedBy::Few { .. }));
        assert_eq!(outcome.links().collect::<Vec<_>>(), vec![pid(1)]);
        assert_eq!(outcome.watchers().collect::<Vec<_>>(), vec![(Ref(7), pid(3))]);
        assert_eq!(outcome.held().count(), 0);
        assert!(!outcome.watched_by_none());
        assert!(Outcome::new(Reason::Normal, &mut LinkTable::default(), &mut Monitors::default(), 0).watched_by_none());
    }

    #[test]
    fn an_exit_with_more_links_or_watchers_or_a_held_monitor_moves_the_tables_out() {
        let mut links = LinkTable::default();
        for index in 1..=3 {
            links.link(pid(index));
        }
        let outcome = Outcome::new(Reason::Kill, &mut links, &mut Monitors::default(), 0);
        assert!(matches!(outcome.watched, WatchedBy::Many(_)));
        assert_eq!(sorted(outcome.links().collect()), vec![pid(1), pid(2), pid(3)]);
        assert_eq!(links.len(), 0, "moved out");

        let mut monitors = Monitors::default();
        monitors.on_monitor(Ref(1), pid(4));
        monitors.on_monitor(Ref(2), pid(5));
        let outcome = Outcome::new(Reason::Kill, &mut LinkTable::default(), &mut monitors, 0);
        assert!(matches!(outcome.watched, WatchedBy::Many(_)));
        assert_eq!(outcome.watcher_count(), 2);

        let mut monitors = Monitors::default();
        monitors.hold(Ref(3), pid(6), None);
        let outcome = Outcome::new(Reason::Kill, &mut LinkTable::default(), &mut monitors, 0);
        assert_eq!(outcome.held().collect::<Vec<_>>(), vec![(Ref(3), pid(6))]);
        assert!(outcome.watched_by_none());
    }
}

// Three cache lines: the layout notes above (the pid a whole `RunState` away
// from the signal queue head and state word) assume it.
#[cfg(all(target_pointer_width = "64", not(loom)))]
const _: () = assert!(size_of::<Pcb>() <= 192, "the process block outgrew three cache lines");
