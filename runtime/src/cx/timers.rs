//! Message timers (`erlang:send_after/3`, `cancel_timer/1`, `read_timer/1`,
//! `timer:send_interval/3`) on the runtime's own deadline queue (`timer`): no
//! process per timer, one heap entry each.

use std::sync::Arc;
use std::time::Duration;

use super::Cx;
use super::gate::Call;
use crate::mailbox::Message;
use crate::pid::Pid;
use crate::timer::TimerKey;

/// An armed timer ([`Cx::send_after`], [`Cx::send_interval`]), to cancel or read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TimerRef(TimerKey);

impl std::fmt::Debug for TimerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TimerRef")
    }
}

impl Cx {
    /// Sends `message` to `to` after `delay` (Erlang's `send_after/3`).
    /// Memory: one entry in the runtime's timer heap (no process).
    ///
    /// As in ERTS, the timer is cancelled when `to` ends (or was gone when it
    /// was armed): [`Cx::read_timer`] and [`Cx::cancel_timer`] then give
    /// `None`, and the message is never delivered. Its heap entry (and the
    /// message) is freed when its deadline comes, or when it is read or
    /// cancelled, whichever is first; until then
    /// [`Runtime::pending_timers`](crate::Runtime::pending_timers) counts it.
    ///
    /// A timer armed while this process is being torn down is not armed (the
    /// message is dropped); the `TimerRef` then finds nothing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use lariat::{Reason, Runtime};
    ///
    /// struct Tick;
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let early = cx.send_after(Duration::from_millis(10), me, Tick);
    ///     let late = cx.send_after(Duration::from_secs(3600), me, Tick);
    ///     assert!(cx.cancel_timer(late).is_some(), "still armed: cancelled, never delivered");
    ///     cx.receive::<Tick>()?;
    ///     assert_eq!(cx.cancel_timer(early), None, "it had fired");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_after<T: Send + 'static>(&mut self, delay: Duration, to: Pid, message: T) -> TimerRef {
        let Ok(_open) = self.gate(Call::Act(1)) else {
            crate::crash::drop_contained(message);
            return TimerRef(TimerKey::NONE);
        };
        let kernel = self.kernel();
        let deadline = kernel.timers.deadline_after(delay);
        TimerRef(kernel.arm_message_timer(deadline, to, Message::new(message)))
    }

    /// Sends a clone of `message` to `to` every `every`, for as long as `to`
    /// lives or until [`Cx::cancel_timer`] (Erlang's `timer:send_interval/3`,
    /// whose timer server monitors the destination: the interval does not end
    /// with the process that armed it). Periods missed while the runtime was busy are
    /// skipped, not sent in a burst.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// #[derive(Clone)]
    /// struct Tick;
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let timer = cx.send_interval(Duration::from_millis(5), me, Tick);
    ///     for _ in 0..3 {
    ///         let tick = cx.receive_timeout::<Tick>(Duration::from_secs(5))?;
    ///         assert!(tick.is_some());
    ///     }
    ///     assert!(cx.cancel_timer(timer).is_some(), "an interval stays armed until cancelled");
    ///     assert_eq!(cx.read_timer(timer), None);
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_interval<T>(&mut self, every: Duration, to: Pid, message: T) -> TimerRef
    where
        T: Clone + Send + Sync + 'static,
    {
        let Ok(_open) = self.gate(Call::Act(1)) else { return TimerRef(TimerKey::NONE) };
        let make = Arc::new(move || Message::new(message.clone()));
        TimerRef(self.kernel().arm_interval_timer(every, to, make))
    }

    /// Cancels a timer (Erlang's `cancel_timer/1`): the time it had left, or
    /// `None` if it had already fired, was cancelled, or the process it is
    /// aimed at ended. When this returns
    /// `Some` for a [`Cx::send_after`] timer, its message is never delivered.
    /// For an interval, `Some` means no later tick comes; a tick firing at
    /// that very moment may still arrive (as with OTP's `timer:cancel/1`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// struct Timeout;
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let hour = Duration::from_secs(3600);
    ///     let timer = cx.send_after(hour, me, Timeout);
    ///     let left = cx.cancel_timer(timer).expect("armed");
    ///     assert!(left <= hour);
    ///     assert_eq!(cx.cancel_timer(timer), None, "cancelled already");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn cancel_timer(&mut self, timer: TimerRef) -> Option<Duration> {
        let open = self.gate(Call::Act(1)).ok()?;
        let me = self.pid();
        let post = self.post(open);
        post.kernel.timers.cancel_message_timer(timer.0, me, |destination| !post.is_live(destination))
    }

    /// The time left on a timer (Erlang's `read_timer/1`), or `None` if it has
    /// fired, was cancelled, or the process it is aimed at ended.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use lariat::{Reason, Runtime};
    /// struct Timeout;
    ///
    /// let runtime = Runtime::new()?;
    /// runtime.block_on(|cx| {
    ///     let me = cx.pid();
    ///     let timer = cx.send_after(Duration::from_secs(3600), me, Timeout);
    ///     let left = cx.read_timer(timer).expect("armed");
    ///     assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
    ///     cx.cancel_timer(timer);
    ///     assert_eq!(cx.read_timer(timer), None);
    ///
    ///     let soon = cx.send_after(Duration::from_millis(1), me, Timeout);
    ///     cx.receive::<Timeout>()?;
    ///     assert_eq!(cx.read_timer(soon), None, "it fired");
    ///     Ok::<_, Reason>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_timer(&mut self, timer: TimerRef) -> Option<Duration> {
        let open = self.gate(Call::Ask).ok()?;
        let me = self.pid();
        let post = self.post(open);
        post.kernel.timers.read_message_timer(timer.0, me, |destination| !post.is_live(destination))
    }
}
