//! Spawning: admission (table capacity, shutdown), the new block, its first queue.

use std::sync::Arc;

use super::{Kernel, Port};
use crate::error::SpawnError;
use crate::pid::{Pid, Ref};
use crate::process::{Body, ExitWaiter, Pcb, StartingMonitor};
use crate::scheduler::ProcRef;
use crate::stack;
use crate::sync::Ordering;
use crate::sync::epoch::Shared;

/// How to spawn one process (Erlang's `spawn_opt` options), for
/// [`Cx::spawn_opt`](crate::Cx::spawn_opt).
///
/// ```
/// use lariat::SpawnOptions;
/// let options = SpawnOptions::new().link().stack_size(64 * 1024);
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "options do nothing until passed to `spawn_opt`"]
pub struct SpawnOptions {
    pub(crate) stack_size: Option<usize>,
    pub(crate) link: bool,
    pub(crate) monitor: bool,
    pub(crate) trap_exit: bool,
}

impl SpawnOptions {
    /// The defaults: not linked, not monitored, the runtime's stack size.
    ///
    /// ```
    /// # use lariat::{Reason, Runtime, SpawnOptions};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     // As `cx.spawn`: neither linked nor monitored.
    ///     let spawned = cx.spawn_opt(SpawnOptions::new(), |_| Ok(()))?;
    ///     assert_eq!(spawned.monitor, None);
    ///     assert!(cx.links().is_empty());
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> SpawnOptions {
        SpawnOptions::default()
    }

    /// A stack of `bytes` usable bytes (rounded up to whole pages; from
    /// [`MIN_STACK_SIZE`](crate::MIN_STACK_SIZE) to
    /// [`MAX_STACK_SIZE`](crate::MAX_STACK_SIZE), else the spawn fails with
    /// [`SpawnError::StackSize`]).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime, SpawnError, SpawnOptions, MIN_STACK_SIZE};
    /// /// Recursion `n` deep, with about 1 KiB of stack per call.
    /// fn depth(n: u32) -> u32 {
    ///     let frame = std::hint::black_box([0u8; 1024]);
    ///     if n == 0 { 0 } else { 1 + depth(n - 1) + u32::from(frame[1]) }
    /// }
    ///
    /// let runtime = Runtime::new()?;
    /// let deep = runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     // Deep recursion needs more than the default stack.
    ///     cx.spawn_opt(SpawnOptions::new().stack_size(4 << 20), move |cx| {
    ///         cx.send(me, depth(1_000));
    ///         Ok(())
    ///     })?;
    ///     let too_small = cx.spawn_opt(SpawnOptions::new().stack_size(MIN_STACK_SIZE - 1), |_| Ok(()));
    ///     assert!(matches!(too_small, Err(SpawnError::StackSize { .. })));
    ///     cx.receive::<u32>()
    /// })?;
    /// assert_eq!(deep, 1_000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> SpawnOptions {
        self.stack_size = Some(bytes);
        self
    }

    /// Linked to the spawning process before it first runs (as
    /// [`Cx::spawn_link`](crate::Cx::spawn_link)).
    ///
    /// ```
    /// # use lariat::{Exit, Reason, Runtime, SpawnOptions};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     cx.trap_exit(true);
    ///     let spawned = cx.spawn_opt(SpawnOptions::new().link(), |_| Err(Reason::error("crashed")))?;
    ///     let exit = cx.receive::<Exit>()?;
    ///     assert_eq!(exit, Exit { from: spawned.pid, reason: Reason::error("crashed") });
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link(mut self) -> SpawnOptions {
        self.link = true;
        self
    }

    /// Traps exits from the start: exit signals that arrive before it first
    /// runs (from a process linked to it at once) already become messages.
    /// Setting `cx.trap_exit(true)` as the body's first act is not the same:
    /// signals that arrived before the first run are taken in before the body.
    ///
    /// ```
    /// # use lariat::{Exit, Reason, Runtime, SpawnOptions};
    /// let runtime = Runtime::new()?;
    /// let reason = runtime.block_on(|cx| {
    ///     let parent = cx.pid();
    ///     let spawned = cx.spawn_opt(SpawnOptions::new().trap_exit(), move |cx| {
    ///         let exit = cx.receive::<Exit>()?;
    ///         cx.send(parent, exit.reason);
    ///         Ok(())
    ///     })?;
    ///     // Sent at once, perhaps before the child first runs: still a message.
    ///     cx.exit(spawned.pid, Reason::error("stop"))?;
    ///     cx.receive::<Reason>()
    /// })?;
    /// assert_eq!(reason, Reason::error("stop"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trap_exit(mut self) -> SpawnOptions {
        self.trap_exit = true;
        self
    }

    /// Monitored by the spawning process before it first runs (as
    /// [`Cx::spawn_monitor`](crate::Cx::spawn_monitor)); the ref is in
    /// [`Spawned::monitor`](crate::Spawned::monitor).
    ///
    /// ```
    /// # use lariat::{Down, Reason, Runtime, SpawnOptions};
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let spawned = cx.spawn_opt(SpawnOptions::new().monitor(), |_| Ok(()))?;
    ///     let down = cx.receive::<Down>()?;
    ///     assert_eq!(Some(down.monitor), spawned.monitor);
    ///     assert_eq!(down.reason, Reason::Normal);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn monitor(mut self) -> SpawnOptions {
        self.monitor = true;
        self
    }
}

/// Who a new process starts linked to or monitored by: set up in its block
/// before it can run, so an exit at once still reports its real reason.
#[derive(Default)]
pub(crate) struct Watchers {
    pub(crate) link_to: Option<Pid>,
    pub(crate) monitor_by: Option<(Ref, Pid)>,
    /// A thread outside the runtime waiting for its exit reason (`block_on`).
    pub(crate) exit_waiter: Option<Arc<ExitWaiter>>,
    /// It traps exits from the start.
    pub(crate) trap_exit: bool,
    /// Spawned from outside to talk to this process (a call's mailbox): it
    /// starts on that process's worker, if it has one, so their messages stay
    /// on one thread (anywhere, otherwise).
    pub(crate) near: Option<Pid>,
    /// It watches this process from its spawn under this ref (a watch's
    /// mailbox; the spawner sends the monitor request itself).
    pub(crate) watching: Option<(Ref, Pid)>,
}

impl Kernel {
    /// Spawns a process running `body`, queued on the caller's worker (`port`)
    /// or, from any other thread, where any worker may take it.
    pub(crate) fn spawn(
        &self,
        body: Body,
        stack_size: Option<usize>,
        watchers: Watchers,
        port: Option<&impl Port>,
    ) -> Result<Pid, SpawnError> {
        let stack_size = match stack_size {
            None => 0,
            Some(requested) => match stack::checked_size(requested) {
                Some(size) if size == self.stacks.stack_size() => 0,
                Some(size) => size,
                None => {
                    return Err(SpawnError::StackSize {
                        requested,
                        min: stack::MIN_STACK_SIZE,
                        max: stack::MAX_STACK_SIZE,
                    });
                }
            },
        };
        if port.is_some() {
            // A worker's processes spawn only while it runs them, before it
            // reports stopped; in teardown the gate refuses spawns.
            return self.spawn_admitted(body, stack_size, watchers, port);
        }
        // SeqCst: pairs with the SeqCst flag store and counter load in `shut_down`.
        self.spawns_in_flight.fetch_add(1, Ordering::SeqCst);
        let result = self.spawn_admitted(body, stack_size, watchers, port);
        // Release: the teardown's SeqCst load sees the publication before the decrement.
        self.spawns_in_flight.fetch_sub(1, Ordering::Release);
        result
    }

    fn spawn_admitted(
        &self,
        body: Body,
        stack_size: usize,
        watchers: Watchers,
        port: Option<&impl Port>,
    ) -> Result<Pid, SpawnError> {
        // SeqCst: see `spawn`.
        if self.shutdown.load(Ordering::SeqCst) {
            return Err(SpawnError::ShuttingDown);
        }
        let pid = match port {
            Some(port) => port.with_free_slots(|slots| self.table.reserve(Some(slots))),
            None => self.table.reserve(None),
        }
        .ok_or(SpawnError::TableFull { capacity: self.table.capacity() })?;
        let guard = self.pin(port);
        let Watchers { link_to, monitor_by, exit_waiter, trap_exit, near, watching } = watchers;
        debug_assert!(monitor_by.is_none() || watching.is_none(), "one starting monitor at most");
        let starting_monitor = monitor_by
            .map(|(monitor, watcher)| StartingMonitor::WatchedBy(monitor, watcher))
            .or(watching.map(|(monitor, target)| StartingMonitor::Watching(monitor, target)));
        let pcb = Pcb::new(pid, body, stack_size, exit_waiter, link_to, starting_monitor, trap_exit);
        let block = match port {
            // SAFETY: a port is a worker of this kernel (as for its free
            // slots above), whose carver carves from this kernel's pool only.
            Some(port) => port.with_carver(|carver| unsafe { self.blocks.alloc(carver, pcb) }),
            None => self.blocks.alloc_outside(pcb),
        };
        self.count(port.map(Port::index), |count| &count.spawned);
        self.table.publish(Shared::from(block.as_ptr().cast_const()));
        let near_home = near.and_then(|near| self.table.get(near, &guard)).and_then(|pcb| pcb.home());
        match (port, near_home) {
            (Some(port), _) => port.queue_spawned(ProcRef(block)),
            // Queued like a process woken from elsewhere (it is NOTIFIED and
            // in no queue); that worker starts it, and it stays there.
            (None, Some(home)) => self.scheduler.push_woken_elsewhere(ProcRef(block), Some(home)),
            (None, None) => {
                self.scheduler.injector.push(ProcRef(block));
                self.scheduler.notify_one();
            }
        }
        Ok(pid)
    }
}
