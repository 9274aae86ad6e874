//! The owner's side of a process's signals: the mailbox of messages.
//!
//! The owner moves signals from its [`crate::signal::SignalQueue`] into here in
//! arrival order (control signals are applied on the way by the process).
//! Messages stay in one contiguous buffer, oldest first. Every receive scans from
//! the oldest; a receive that waits remembers how far it scanned, so messages that
//! arrive later are matched without rescanning the ones it already skipped. A
//! message that does not match stays where it is, in order.

use std::any::{Any, TypeId};
use std::collections::VecDeque;
use std::fmt;

/// A message of any type in a mailbox; receives match on its type and content.
pub struct Message {
    value: Box<dyn Any + Send>,
}

impl Message {
    /// Wraps a value.
    pub fn new<T: Send + 'static>(value: T) -> Message {
        Message { value: Box::new(value) }
    }

    /// Whether it holds a `T`.
    pub fn is<T: 'static>(&self) -> bool {
        (*self.value).type_id() == TypeId::of::<T>()
    }

    /// The `T` it holds, if it holds one.
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        self.value.downcast_ref()
    }

    /// The `T` it holds, mutably, if it holds one.
    pub fn downcast_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.value.downcast_mut()
    }

    /// Unwraps the `T`, or gives the message back.
    pub fn downcast<T: 'static>(self) -> Result<T, Message> {
        match self.value.downcast::<T>() {
            Ok(value) => Ok(*value),
            Err(value) => Err(Message { value }),
        }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Message { .. }")
    }
}

/// Where a scan stopped, so a waiting receive resumes there.
#[derive(Clone, Copy, Default)]
pub(crate) struct ScanPosition(usize);

impl ScanPosition {
    /// A scan that has already looked at the first `count` messages.
    pub(crate) fn at(count: usize) -> ScanPosition {
        ScanPosition(count)
    }
}

/// The messages of one process, oldest first. Owner only.
#[derive(Default)]
pub(crate) struct Mailbox {
    messages: VecDeque<Message>,
}

impl Mailbox {
    /// Makes room for `additional` messages at once (one allocation for a
    /// large batch rather than repeated doubling).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.messages.reserve(additional);
    }

    pub(crate) fn push(&mut self, message: Message) {
        self.messages.push_back(message);
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Scans from `position` (updated to the end on a miss) for the first message
    /// `matcher` accepts, removes it and returns what the matcher made of it.
    /// Also returns how many messages were looked at, for reduction accounting.
    pub(crate) fn take_first<R>(
        &mut self,
        position: &mut ScanPosition,
        mut matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> (Option<R>, usize) {
        let start = position.0.min(self.messages.len());
        for index in start..self.messages.len() {
            if let Some(result) = matcher(&mut self.messages[index]) {
                self.messages.remove(index);
                return (Some(result), index - start + 1);
            }
        }
        position.0 = self.messages.len();
        (None, self.messages.len() - start)
    }

    /// Removes the newest message if `matcher` accepts it.
    pub(crate) fn take_last_if<R>(&mut self, matcher: impl FnOnce(&mut Message) -> Option<R>) -> Option<R> {
        let result = matcher(self.messages.back_mut()?)?;
        self.messages.pop_back();
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_u32(mailbox: &mut Mailbox, position: &mut ScanPosition) -> Option<u32> {
        mailbox.take_first(position, |m| m.downcast_ref::<u32>().copied()).0
    }

    #[test]
    fn non_matching_messages_keep_their_order() {
        let mut mailbox = Mailbox::default();
        mailbox.push(Message::new("a"));
        mailbox.push(Message::new(1u32));
        mailbox.push(Message::new("b"));
        mailbox.push(Message::new(2u32));
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(1));
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(2));
        let rest: Vec<&str> = std::iter::from_fn(|| {
            mailbox.take_first(&mut ScanPosition::default(), |m| m.downcast_ref::<&str>().copied()).0
        })
        .collect();
        assert_eq!(rest, vec!["a", "b"]);
    }

    #[test]
    fn a_waiting_scan_does_not_look_at_skipped_messages_again() {
        let mut mailbox = Mailbox::default();
        for _ in 0..100 {
            mailbox.push(Message::new("skip"));
        }
        let mut position = ScanPosition::default();
        let (found, looked_at) = mailbox.take_first(&mut position, |m| m.downcast_ref::<u32>().copied());
        assert_eq!((found, looked_at), (None, 100));
        mailbox.push(Message::new(5u32));
        let (found, looked_at) = mailbox.take_first(&mut position, |m| m.downcast_ref::<u32>().copied());
        assert_eq!((found, looked_at), (Some(5), 1));
        assert_eq!(mailbox.len(), 100);
    }

    #[test]
    fn downcast_gives_the_message_back_on_a_type_mismatch() {
        let message = Message::new(String::from("text"));
        let message = message.downcast::<u32>().unwrap_err();
        assert!(message.is::<String>());
        assert_eq!(message.downcast::<String>().unwrap(), "text");
    }
}
