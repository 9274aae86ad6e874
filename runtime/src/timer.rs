//! The runtime's timers: receive timeouts and `sleep`, and `send_after` /
//! `send_interval`, in one runtime-wide deadline queue.
//!
//! A receive's entry names a process by Pid and by the *wait generation* of the
//! receive that armed it. Firing an entry stores that generation in the process's
//! fired-timer word (`Pcb::fired_timer`) and wakes it like a message would; the receive compares the
//! word with its own generation, so a stale timer (its receive already matched a
//! message) can only cause a spurious wake-up, never a timeout of a later receive.
//! A receive matches the mailbox once more after the timeout fired, so a message
//! racing the timer is never lost (the loom model `timer_vs_message`).
//!
//! A receive that ends before its timer fires (a message matched, or it was
//! told to die) cancels the entry, so a loop of long timeouts that are met
//! early keeps one entry per waiting process, not one per receive. The
//! generation check stays for the entry that fires while its receive is ending.
//! Any worker fires every due entry (a parked worker sleeps until the earliest
//! deadline), so one busy worker cannot stall another's timeouts. An indexed
//! binary heap behind a mutex (removal by key in O(log n)); timing wheels
//! would cut the lock if it becomes a hot path.
//!
//! A message timer (`send_after`) holds its message in the entry; firing takes
//! it out under the lock and delivers it outside, so a `cancel` that finds the
//! entry still armed guarantees the message is never delivered. An interval
//! is armed again, in the same slot under the same key, as it fires, so its key
//! stays valid for `cancel` for as long as it runs. Message timers' generations
//! carry `MESSAGE_TIMER`, so their keys never match a receive's entry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::mailbox::Message;
use crate::pid::Pid;
use crate::sync::{AtomicU64, Mutex, Ordering, lock};

/// No deadline pending.
const NONE: u64 = u64::MAX;
/// Set in the generation of every message timer (a receive's wait generations
/// never reach it).
const MESSAGE_TIMER: u64 = 1 << 63;
/// The shortest interval, so an interval armed again is never due at once.
const MIN_INTERVAL_NANOS: u64 = 1_000;

/// Makes each message of an interval timer.
pub(crate) type MakeMessage = Arc<dyn Fn() -> Message + Send + Sync>;

/// What a timer does when it fires.
pub(crate) enum Fires {
    /// Wakes the process's receive of the entry's wait generation.
    Wake,
    /// Sends this message to the entry's process (`send_after`).
    Send(Message),
    /// Sends a fresh message every so often while its destination lives
    /// (`send_interval`). Boxed: entries stay small for the common timers.
    Interval(Box<Interval>),
}

/// An interval timer's own part.
pub(crate) struct Interval {
    /// Nanoseconds between two messages.
    period: u64,
    make: MakeMessage,
}

/// A timer that fired, handed to the caller outside the lock.
pub(crate) enum Fired {
    /// Wake the process's receive of this wait generation.
    Wake(u64),
    /// Deliver this message.
    Send(Message),
    /// Deliver `make()` if the destination lives; otherwise cancel `key`
    /// (armed again already).
    Interval { make: MakeMessage, key: TimerKey },
}

/// The highest wait generation whose timer has fired for one process (timers of
/// older waits may fire late, in any order: hence a maximum).
pub struct FiredTimer(AtomicU64);

impl Default for FiredTimer {
    fn default() -> Self {
        FiredTimer(AtomicU64::new(0))
    }
}

impl FiredTimer {
    /// The timer of wait `generation` fired. The caller then wakes the process
    /// (`StateWord::wake`), whose Release carries this store to the run it queues.
    pub fn fire(&self, generation: u64) {
        // Release pairs with the Acquire in `has_fired`, for a run that was not
        // queued by this timer's wake-up (a message woke it) yet reads this value.
        // A maximum: a late timer of an older wait must not hide this one.
        self.0.fetch_max(generation, Ordering::Release);
    }

    /// Whether the timer of wait `generation` has fired.
    pub fn has_fired(&self, generation: u64) -> bool {
        // Acquire pairs with the Release of `fire`.
        self.0.load(Ordering::Acquire) >= generation
    }
}

struct Entry {
    deadline: u64,
    pid: Pid,
    generation: u64,
    /// Its slot in `TimerHeap::positions` (stable while the entry moves).
    slot: u32,
    fires: Fires,
}

/// What [`Timers::cancel`] needs to find an armed timer again. A key whose
/// timer has fired or was cancelled finds nothing (its slot may hold another
/// timer by then: the pid and wait generation tell them apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    pid: Pid,
    generation: u64,
}

impl TimerKey {
    /// A key that finds no timer (no slot has this number).
    pub(crate) const NONE: TimerKey = TimerKey { slot: u32::MAX, pid: Pid::from_bits(0), generation: 0 };
}

/// `positions` entry of a slot that holds no timer.
const VACANT: u32 = u32::MAX;

/// A binary min-heap by deadline whose entries can be removed by key: every
/// entry has a slot, and `positions[slot]` follows it as it moves.
#[derive(Default)]
struct TimerHeap {
    entries: Vec<Entry>,
    positions: Vec<u32>,
    free_slots: Vec<u32>,
}

impl TimerHeap {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn earliest(&self) -> u64 {
        self.entries.first().map_or(NONE, |entry| entry.deadline)
    }

    fn push(&mut self, deadline: u64, pid: Pid, generation: u64, fires: Fires) -> TimerKey {
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.positions.push(VACANT);
            u32::try_from(self.positions.len() - 1).expect("fewer than 2^32 timers armed at once")
        });
        self.entries.push(Entry { deadline, pid, generation, slot, fires });
        let last = self.entries.len() - 1;
        self.positions[slot as usize] = last as u32;
        self.sift_up(last);
        TimerKey { slot, pid, generation }
    }

    /// Takes the earliest entry if it is due by `now`.
    fn pop_due(&mut self, now: u64) -> Option<Entry> {
        if self.entries.first()?.deadline > now {
            return None;
        }
        Some(self.remove_at(0))
    }

    /// Where the timer `key` names is, if it is still armed.
    fn find(&self, key: TimerKey) -> Option<usize> {
        let &position = self.positions.get(key.slot as usize)?;
        if position == VACANT {
            return None;
        }
        let entry = &self.entries[position as usize];
        (entry.pid == key.pid && entry.generation == key.generation).then_some(position as usize)
    }

    /// Removes the timer `key` names; `None` if it is no longer armed.
    fn remove(&mut self, key: TimerKey) -> Option<Entry> {
        let position = self.find(key)?;
        Some(self.remove_at(position))
    }

    fn remove_at(&mut self, index: usize) -> Entry {
        let last = self.entries.len() - 1;
        self.swap(index, last);
        let entry = self.entries.pop().expect("index is in the heap");
        self.positions[entry.slot as usize] = VACANT;
        self.free_slots.push(entry.slot);
        if index < self.entries.len() {
            // The entry moved into `index` came from the bottom: it may belong
            // higher (removal from another branch) or lower.
            self.sift_up(index);
            self.sift_down(index);
        }
        entry
    }

    fn sift_up(&mut self, mut index: usize) {
        while index > 0 {
            let parent = (index - 1) / 2;
            if self.entries[parent].deadline <= self.entries[index].deadline {
                break;
            }
            self.swap(parent, index);
            index = parent;
        }
    }

    fn sift_down(&mut self, mut index: usize) {
        loop {
            let left = 2 * index + 1;
            let right = left + 1;
            let mut smallest = index;
            if left < self.entries.len() && self.entries[left].deadline < self.entries[smallest].deadline {
                smallest = left;
            }
            if right < self.entries.len() && self.entries[right].deadline < self.entries[smallest].deadline {
                smallest = right;
            }
            if smallest == index {
                return;
            }
            self.swap(index, smallest);
            index = smallest;
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.entries.swap(a, b);
        self.positions[self.entries[a].slot as usize] = a as u32;
        self.positions[self.entries[b].slot as usize] = b as u32;
    }
}

/// Deadlines of one runtime, in nanoseconds since it started.
pub(crate) struct Timers {
    origin: Instant,
    heap: Mutex<TimerHeap>,
    /// The earliest deadline in the heap, for a lock-free "anything due?" check.
    earliest: AtomicU64,
    /// The next message timer's generation (with `MESSAGE_TIMER`).
    next_message_timer: AtomicU64,
}

impl Timers {
    pub(crate) fn new() -> Self {
        Timers {
            origin: Instant::now(),
            heap: Mutex::new(TimerHeap::default()),
            earliest: AtomicU64::new(NONE),
            next_message_timer: AtomicU64::new(MESSAGE_TIMER),
        }
    }

    /// Now, on this runtime's clock.
    pub(crate) fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos().min(NONE as u128 - 1) as u64
    }

    /// The deadline `after` from now.
    pub(crate) fn deadline_after(&self, after: Duration) -> u64 {
        self.now().saturating_add(after.as_nanos().min(NONE as u128 - 2) as u64).min(NONE - 1)
    }

    /// Arms a timer for `pid`'s wait `generation`. Each `arm*` also says
    /// whether the new deadline is earlier than every pending one (decided
    /// under the heap's lock: then some parked worker must be woken).
    pub(crate) fn arm(&self, deadline: u64, pid: Pid, generation: u64) -> (TimerKey, bool) {
        self.push(deadline, pid, generation, Fires::Wake)
    }

    /// Arms a timer that sends `message` to `pid` at `deadline`.
    pub(crate) fn arm_message(&self, deadline: u64, pid: Pid, message: Message) -> (TimerKey, bool) {
        self.push(deadline, pid, self.message_timer_generation(), Fires::Send(message))
    }

    /// Arms a timer that sends `make()` to `pid` every `period` from now on, for
    /// as long as `pid` lives (OTP's timer server monitors the destination).
    pub(crate) fn arm_interval(&self, period: Duration, pid: Pid, make: MakeMessage) -> (TimerKey, bool) {
        let period = (period.as_nanos().min(NONE as u128 / 4) as u64).max(MIN_INTERVAL_NANOS);
        let deadline = self.now().saturating_add(period);
        self.push(deadline, pid, self.message_timer_generation(), Fires::Interval(Box::new(Interval { period, make })))
    }

    fn message_timer_generation(&self) -> u64 {
        // Relaxed: only uniqueness matters, which the RMW gives.
        self.next_message_timer.fetch_add(1, Ordering::Relaxed) | MESSAGE_TIMER
    }

    fn push(&self, deadline: u64, pid: Pid, generation: u64, fires: Fires) -> (TimerKey, bool) {
        let mut heap = lock(&self.heap);
        let key = heap.push(deadline, pid, generation, fires);
        // Relaxed: `earliest` is a hint read before taking the lock; the heap under
        // the mutex is the truth, and a worker about to park re-reads it locked.
        // Every write of it is under this lock, so the value replaced is exact.
        let before = self.earliest.fetch_min(deadline, Ordering::Relaxed);
        (key, deadline < before)
    }

    /// Disarms a timer whose wait has ended; nothing if it already fired.
    pub(crate) fn cancel(&self, key: TimerKey) {
        let _ = self.cancel_with_time_left(key);
    }

    /// Disarms a timer: the time it had left, or `None` if it had fired or was
    /// cancelled. Once this returns, a message timer it found armed never
    /// delivers (its message is dropped here, its destructor contained).
    pub(crate) fn cancel_with_time_left(&self, key: TimerKey) -> Option<Duration> {
        let entry = {
            let mut heap = lock(&self.heap);
            let entry = heap.remove(key)?;
            // Relaxed: written under the lock; see `arm`. A later deadline than
            // before, never an earlier one: a worker that read the old value
            // only wakes early and finds nothing due.
            self.earliest.store(heap.earliest(), Ordering::Relaxed);
            entry
        };
        let left = Duration::from_nanos(entry.deadline.saturating_sub(self.now()));
        // Its message (or an interval's maker) is the user's: dropped contained.
        crate::crash::drop_contained(entry);
        Some(left)
    }

    /// Disarms a message timer as [`Timers::cancel_with_time_left`] does,
    /// unless its destination has ended: `ended(destination)` is asked (outside
    /// the lock) when the destination is not `caller`, and if it says so the
    /// timer counts as cancelled by that end (ERTS) and this gives `None`.
    pub(crate) fn cancel_message_timer(
        &self,
        key: TimerKey,
        caller: Pid,
        ended: impl FnOnce(Pid) -> bool,
    ) -> Option<Duration> {
        let destination = key.pid;
        let left = self.cancel_with_time_left(key)?;
        if destination != caller && ended(destination) { None } else { Some(left) }
    }

    /// The time left on a message timer, or `None` if it fired, was
    /// cancelled, or its destination has ended (then its entry goes now).
    pub(crate) fn read_message_timer(
        &self,
        key: TimerKey,
        caller: Pid,
        ended: impl FnOnce(Pid) -> bool,
    ) -> Option<Duration> {
        let left = self.time_left(key)?;
        if key.pid != caller && ended(key.pid) {
            self.cancel(key);
            return None;
        }
        Some(left)
    }

    /// The time left on a timer, or `None` if it fired or was cancelled.
    pub(crate) fn time_left(&self, key: TimerKey) -> Option<Duration> {
        let deadline = {
            let heap = lock(&self.heap);
            heap.entries[heap.find(key)?].deadline
        };
        Some(Duration::from_nanos(deadline.saturating_sub(self.now())))
    }

    /// Timers armed and neither fired nor cancelled.
    pub(crate) fn pending(&self) -> usize {
        lock(&self.heap).len()
    }

    /// How long until the earliest deadline (`None`: no timer pending).
    pub(crate) fn until_next(&self) -> Option<Duration> {
        // Relaxed: see `arm`.
        let earliest = self.earliest.load(Ordering::Relaxed);
        (earliest != NONE).then(|| Duration::from_nanos(earliest.saturating_sub(self.now())))
    }

    /// Fires every entry due by now: `fire(pid, fired)` for each, outside the
    /// lock, in deadline order. An interval is armed again first.
    pub(crate) fn fire_due(&self, mut fire: impl FnMut(Pid, Fired)) {
        // Relaxed: see `arm`; a miss here is caught at the next check.
        if self.earliest.load(Ordering::Relaxed) > self.now() {
            return;
        }
        let now = self.now();
        let mut due = Vec::new();
        {
            let mut heap = lock(&self.heap);
            while let Some(entry) = heap.pop_due(now) {
                let fired = match entry.fires {
                    Fires::Wake => Fired::Wake(entry.generation),
                    Fires::Send(message) => Fired::Send(message),
                    Fires::Interval(interval) => {
                        // Missed periods are skipped, not sent in a burst.
                        let next = entry.deadline.saturating_add(interval.period).max(now.saturating_add(1));
                        let make = Arc::clone(&interval.make);
                        // The slot just freed is reused (LIFO), so the key stays the same.
                        let key = heap.push(next, entry.pid, entry.generation, Fires::Interval(interval));
                        debug_assert_eq!(key.slot, entry.slot, "an interval keeps its key");
                        Fired::Interval { make, key }
                    }
                };
                due.push((entry.pid, fired));
            }
            // Relaxed: written under the lock; see `arm`.
            self.earliest.store(heap.earliest(), Ordering::Relaxed);
        }
        for (pid, fired) in due {
            fire(pid, fired);
        }
    }
}

impl Drop for Timers {
    /// Timers still armed when the runtime goes hold users' messages: their
    /// destructors run contained, wherever the last handle is dropped.
    fn drop(&mut self) {
        let heap = self.heap.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for entry in heap.entries.drain(..) {
            crate::crash::drop_contained(entry);
        }
    }
}

// An armed timer costs one entry (and a word of `positions`): keep it small.
const _: () = assert!(size_of::<Entry>() <= 56);

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn generation_of(fired: Fired) -> u64 {
        match fired {
            Fired::Wake(generation) => generation,
            _ => panic!("a receive timer"),
        }
    }

    #[test]
    fn only_due_entries_fire_in_deadline_order() {
        let timers = Timers::new();
        let a = Pid::new(0, 1, 0);
        let b = Pid::new(0, 2, 0);
        let now = timers.now();
        timers.arm(now + 2, b, 7);
        timers.arm(now + 1, a, 3);
        timers.arm(now + 60_000_000_000, a, 4);
        std::thread::sleep(Duration::from_millis(1));
        let mut fired = Vec::new();
        timers.fire_due(|pid, fired_timer| fired.push((pid, generation_of(fired_timer))));
        assert_eq!(fired, vec![(a, 3), (b, 7)]);
        assert!(timers.until_next().unwrap() > Duration::from_secs(50));
    }

    #[test]
    fn a_cancelled_timer_never_fires_and_a_stale_key_removes_nothing() {
        let timers = Timers::new();
        let a = Pid::new(0, 1, 0);
        let now = timers.now();
        let (first, earliest) = timers.arm(now + 1, a, 1);
        assert!(earliest, "the only timer is the earliest");
        timers.cancel(first);
        assert_eq!(timers.pending(), 0);
        assert_eq!(timers.until_next(), None, "nothing left to wake a worker for");
        // The slot is reused by the next wait's timer; the old key must not remove it.
        let (second, _) = timers.arm(now + 2, a, 2);
        assert_eq!(second.slot, first.slot);
        timers.cancel(first);
        assert_eq!(timers.pending(), 1);
        std::thread::sleep(Duration::from_millis(1));
        let mut fired = Vec::new();
        timers.fire_due(|pid, fired_timer| fired.push((pid, generation_of(fired_timer))));
        assert_eq!(fired, vec![(a, 2)]);
        timers.cancel(second);
        assert_eq!(timers.pending(), 0, "cancelling a fired timer is a no-op");
    }

    proptest::proptest! {
        /// Any mix of arming, cancelling and firing leaves exactly the timers
        /// armed and not yet cancelled or fired, and fires them in deadline order.
        #[test]
        fn the_heap_agrees_with_a_sorted_model(
            operations in proptest::collection::vec((0u8..3, 0u64..50, 0usize..64), 1..300)
        ) {
            let mut heap = TimerHeap::default();
            let mut model: Vec<(u64, u64)> = Vec::new();
            let mut keys: Vec<(TimerKey, u64)> = Vec::new();
            let mut generation = 0;
            for (operation, deadline, pick) in operations {
                match operation {
                    0 => {
                        generation += 1;
                        let key = heap.push(deadline, Pid::new(0, 1, 0), generation, Fires::Wake);
                        keys.push((key, deadline));
                        model.push((deadline, generation));
                    }
                    1 if !keys.is_empty() => {
                        let (key, _) = keys.swap_remove(pick % keys.len());
                        let armed = model.iter().position(|&(_, g)| g == key.generation);
                        proptest::prop_assert_eq!(heap.remove(key).is_some(), armed.is_some());
                        if let Some(index) = armed {
                            model.swap_remove(index);
                        }
                    }
                    _ => {
                        let now = deadline;
                        let mut fired = Vec::new();
                        while let Some(entry) = heap.pop_due(now) {
                            fired.push(entry.generation);
                        }
                        let deadlines: Vec<u64> = fired
                            .iter()
                            .map(|g| model.iter().find(|&&(_, mg)| mg == *g).expect("fired an armed timer").0)
                            .collect();
                        proptest::prop_assert!(deadlines.windows(2).all(|pair| pair[0] <= pair[1]), "deadline order");
                        proptest::prop_assert!(deadlines.iter().all(|&d| d <= now));
                        model.retain(|&(d, g)| {
                            let was_fired = fired.contains(&g);
                            assert!(was_fired || d > now, "a due timer was left armed");
                            !was_fired
                        });
                    }
                }
                proptest::prop_assert_eq!(heap.len(), model.len());
                proptest::prop_assert_eq!(heap.earliest(), model.iter().map(|&(d, _)| d).min().unwrap_or(NONE));
            }
        }
    }
}
