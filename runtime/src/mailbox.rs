//! The owner's side of a process's signals: the mailbox of messages.
//!
//! The owner moves signals from its [`crate::signal_queue::SignalQueue`] into here in
//! arrival order (control signals are applied on the way by the process; a
//! batch of nothing but messages joins as it is, in its queue nodes). Every
//! receive scans from the oldest; a receive that waits remembers how far it
//! scanned, so messages that arrive later are matched without rescanning the
//! ones it already skipped. A message that does not match stays, in order.

use std::any::TypeId;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};

use crate::signal_queue::SmallList;

/// A message of any type in a mailbox; receives match on its type and content.
///
/// Two words: what type it holds, and either the value itself (a value of at
/// most one word: a number, a pid, a unit struct, a small enum) or a pointer to
/// the boxed value. Most messages of a message-heavy workload are small, and a
/// box is an allocation by the sender and a free by the receiver, on another core.
pub struct Message {
    kind: &'static Kind,
    /// The value (if `Stored::<T>::INLINE`) or the `*mut T` of its box
    /// (`Box::into_raw`, kept as a pointer so it keeps its provenance). In a
    /// cell: `downcast_mut` writes through it, and a `&Message` may hand out a
    /// `&T` that mutates (an atomic, a `Cell`). The cell also makes a `Message`
    /// `!Sync` (a `T: Send` need not be `Sync`); it is `Send` like the values
    /// `new` accepts.
    data: UnsafeCell<MaybeUninit<usize>>,
}

/// What a message needs to know about the type `T` of the value it holds.
struct Kind {
    /// Kept as a value: a receive that skips messages compares it without a call.
    type_id: TypeId,
    /// Drops the value (inline, or the box) in a message's data word.
    drop: unsafe fn(*mut MaybeUninit<usize>),
    /// The type's name, for `Debug`.
    type_name: fn() -> &'static str,
}

/// Per type: whether its values are stored inline, and its `Kind` as a
/// constant (so `&Stored::<T>::KIND` is `'static`).
struct Stored<T>(PhantomData<T>);

impl<T: 'static> Stored<T> {
    const INLINE: bool = size_of::<T>() <= size_of::<usize>() && align_of::<T>() <= align_of::<usize>();
    const KIND: Kind = Kind { type_id: TypeId::of::<T>(), drop: drop_value::<T>, type_name: std::any::type_name::<T> };
    /// A boxed value's pointer must fit the data word.
    const POINTER_FITS: () =
        assert!(size_of::<*mut T>() == size_of::<usize>() && align_of::<*mut T>() <= align_of::<usize>());
}

/// # Safety
/// `data` must point to a message's data word holding a `T` as `Message::new`
/// stored it, not yet moved out, and nothing else may use it afterwards.
unsafe fn drop_value<T: 'static>(data: *mut MaybeUninit<usize>) {
    if Stored::<T>::INLINE {
        // SAFETY: the caller guarantees a live `T` stored inline (it fits and
        // is no more aligned than a word); dropped once, here.
        unsafe { std::ptr::drop_in_place(data.cast::<T>()) }
    } else {
        // SAFETY: the caller guarantees the word holds the pointer
        // `Box::into_raw` made for this `T`; the box is rebuilt and dropped once.
        drop(unsafe { Box::from_raw(data.cast::<*mut T>().read()) })
    }
}

impl Message {
    /// Wraps a value.
    ///
    /// Receives hand out `Message`s ([`Cx::receive_any`](crate::Cx::receive_any),
    /// [`Cx::receive_map`](crate::Cx::receive_map)); making one is mostly for tests
    /// of matchers.
    ///
    /// ```
    /// # use lariat::Message;
    /// let message = Message::new(String::from("hello"));
    /// assert!(message.is::<String>());
    /// assert!(format!("{message:?}").contains("String"), "it names the type it holds");
    /// ```
    pub fn new<T: Send + 'static>(value: T) -> Message {
        let data = UnsafeCell::new(MaybeUninit::<usize>::uninit());
        let slot = data.get();
        if Stored::<T>::INLINE {
            // SAFETY: `T` fits in a word and is no more aligned (`Stored::INLINE`).
            unsafe { slot.cast::<T>().write(value) };
        } else {
            let () = Stored::<T>::POINTER_FITS;
            // SAFETY: a thin pointer fits the word and is no more aligned (`POINTER_FITS`).
            unsafe { slot.cast::<*mut T>().write(Box::into_raw(Box::new(value))) };
        }
        Message { kind: &Stored::<T>::KIND, data }
    }

    /// Whether it holds a `T`.
    ///
    /// ```
    /// # use lariat::Message;
    /// let message = Message::new(7u32);
    /// assert!(message.is::<u32>());
    /// assert!(!message.is::<u64>(), "the exact type, no conversion");
    /// ```
    pub fn is<T: 'static>(&self) -> bool {
        self.kind.type_id == TypeId::of::<T>()
    }

    /// Where its `T` is. Only for a message that holds a `T`.
    fn value_ptr<T: 'static>(&self) -> *mut T {
        debug_assert!(self.is::<T>());
        let slot = self.data.get();
        if Stored::<T>::INLINE {
            slot.cast::<T>()
        } else {
            // SAFETY: a boxed `T`'s message holds its box's pointer (`new`).
            unsafe { slot.cast::<*mut T>().read() }
        }
    }

    /// The `T` it holds, if it holds one.
    ///
    /// ```
    /// # use lariat::Message;
    /// let message = Message::new((1u8, "one"));
    /// assert_eq!(message.downcast_ref::<(u8, &str)>(), Some(&(1, "one")));
    /// assert_eq!(message.downcast_ref::<u8>(), None);
    /// ```
    pub fn downcast_ref<T: 'static>(&self) -> Option<&T> {
        // SAFETY: it holds a `T` (checked), at `value_ptr` (inside the cell, or
        // in its box), alive as long as `self`.
        self.is::<T>().then(|| unsafe { &*self.value_ptr::<T>() })
    }

    /// The `T` it holds, mutably, if it holds one.
    ///
    /// A matcher of [`Cx::receive_map`](crate::Cx::receive_map) may move a value out
    /// through it, as the message is removed anyway.
    ///
    /// ```
    /// # use lariat::Message;
    /// let mut message = Message::new(vec![1, 2, 3]);
    /// if let Some(numbers) = message.downcast_mut::<Vec<i32>>() {
    ///     numbers.push(4);
    /// }
    /// let taken = message.downcast_mut::<Vec<i32>>().map(std::mem::take);
    /// assert_eq!(taken, Some(vec![1, 2, 3, 4]));
    /// assert!(message.downcast_mut::<String>().is_none());
    /// ```
    pub fn downcast_mut<T: 'static>(&mut self) -> Option<&mut T> {
        // SAFETY: as above; `&mut self` makes this the only borrow, and the
        // pointer comes from the cell (or the box), so writing through it is allowed.
        self.is::<T>().then(|| unsafe { &mut *self.value_ptr::<T>() })
    }

    /// Unwraps the `T`, or gives the message back.
    ///
    /// # Errors
    ///
    /// The message itself, unchanged, if it does not hold a `T`: try another type.
    ///
    /// ```
    /// # use lariat::Message;
    /// let message = Message::new(String::from("hello"));
    /// let message = message.downcast::<u32>().expect_err("not a u32");
    /// assert_eq!(message.downcast::<String>().ok().as_deref(), Some("hello"));
    /// ```
    pub fn downcast<T: 'static>(self) -> Result<T, Message> {
        if !self.is::<T>() {
            return Err(self);
        }
        let message = ManuallyDrop::new(self);
        let value = message.value_ptr::<T>();
        if Stored::<T>::INLINE {
            // SAFETY: it holds a `T` inline; the message is never dropped
            // (`ManuallyDrop`), so the value moves out exactly once.
            Ok(unsafe { value.read() })
        } else {
            // SAFETY: `value` came from `Box::into_raw` in `new`; the message is
            // never dropped, so the box is rebuilt exactly once.
            Ok(*unsafe { Box::from_raw(value) })
        }
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // SAFETY: the word holds the value `new` stored for this `kind`; a value
        // moved out by `downcast` never reaches here (`ManuallyDrop`).
        unsafe { (self.kind.drop)(self.data.get()) }
    }
}

/// Names the type of the value it holds (the value itself need not be `Debug`):
/// `Message<alloc::string::String>`.
impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Message<{}>", (self.kind.type_name)())
    }
}

/// Where a scan stopped, so a waiting receive resumes there.
#[derive(Clone, Copy, Default)]
pub(crate) struct ScanPosition(usize);

/// The end of the mailbox at one moment (`Mailbox::mark`): a message that
/// arrived before it cannot hold a reference made after it, so a receive
/// for such a reference starts there (the BEAM's receive marker).
#[derive(Clone, Copy)]
pub(crate) struct Marker {
    position: usize,
    removed_before: u64,
}

/// The messages of one process, oldest first. Owner only.
///
/// Two parts, in this order: `looked_at`, a buffer of messages that a scan has
/// passed over or that control signals produced (a trapped `Exit`, a `Down`),
/// and `arrived`, messages taken from the signal queue and not looked at yet,
/// still in their queue nodes. A receive takes the first match of `looked_at`
/// and then pops `arrived` until one matches, buffering the ones that do not;
/// so a message that matches at once never touches the buffer, and a backlog of
/// them costs its queue nodes and nothing more (mpsc: the buffer growing to a
/// backlog of 300,000 was 80 % of the page-zeroing the row spent).
#[derive(Default)]
pub(crate) struct Mailbox {
    /// Dropped by hand (see `Drop`).
    looked_at: ManuallyDrop<VecDeque<Message>>,
    arrived: SmallList<Message>,
    /// Messages removed from `looked_at` so far: a `Marker` taken earlier is
    /// at most this many places further back now.
    removed: u64,
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        // Most processes end with a mailbox that never held a buffered
        // message: skip the deque's drop (slices, element loop) for them.
        if self.looked_at.capacity() != 0 {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.looked_at) };
        }
    }
}

impl Mailbox {
    /// Puts messages just taken from the signal queue behind all others.
    pub(crate) fn append_arrived(&mut self, messages: SmallList<Message>) {
        self.arrived.append(messages);
    }

    /// Makes room for `additional` messages at once (one allocation for a
    /// large batch rather than repeated doubling).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.looked_at.reserve(self.arrived.len() + additional);
    }

    /// Adds a message behind all others.
    pub(crate) fn push(&mut self, message: Message) {
        self.buffer_arrived();
        self.looked_at.push_back(message);
    }

    /// Moves every arrived message into the buffer (keeping the order), so a
    /// message pushed next goes behind them.
    fn buffer_arrived(&mut self) {
        if !self.arrived.is_empty() {
            self.looked_at.reserve(self.arrived.len());
            while let Some(message) = self.arrived.pop_front() {
                self.looked_at.push_back(message);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.looked_at.len() + self.arrived.len()
    }

    /// Marks the end of the mailbox as it is now (the caller has taken in
    /// what arrived). The messages behind the mark join the buffer, once:
    /// a later receive from the mark skips them by position.
    pub(crate) fn mark(&mut self) -> Marker {
        self.buffer_arrived();
        Marker { position: self.looked_at.len(), removed_before: self.removed }
    }

    /// Where a scan for what arrived after `marker` starts: at the mark, moved
    /// back by every message removed since (one removed behind the mark
    /// shifted the later ones forward; one removed after it only makes the
    /// scan look at a message more).
    pub(crate) fn position_of(&self, marker: Marker) -> ScanPosition {
        let removed_since = self.removed.wrapping_sub(marker.removed_before);
        ScanPosition(marker.position.saturating_sub(usize::try_from(removed_since).unwrap_or(usize::MAX)))
    }

    /// Drops every message, one at a time, each destructor contained (see
    /// `crash::drop_each_contained`).
    pub(crate) fn drop_each_contained(&mut self) {
        while let Some(message) = self.looked_at.pop_front() {
            crate::crash::drop_contained(message);
        }
        while let Some(message) = self.arrived.pop_front() {
            crate::crash::drop_contained(message);
        }
    }

    /// Removes the first buffered message `matcher` accepts (the arrived ones,
    /// which no control signal made, are not looked at).
    pub(crate) fn take_first_buffered<R>(&mut self, mut matcher: impl FnMut(&mut Message) -> Option<R>) -> Option<R> {
        self.take_buffered_from(0, &mut matcher).0
    }

    /// The first buffered message from `start` on that `matcher` accepts
    /// (removed), and how many were looked at.
    #[inline(always)]
    fn take_buffered_from<R>(
        &mut self,
        start: usize,
        matcher: &mut impl FnMut(&mut Message) -> Option<R>,
    ) -> (Option<R>, usize) {
        for index in start..self.looked_at.len() {
            if let Some(result) = matcher(&mut self.looked_at[index]) {
                self.looked_at.remove(index);
                self.removed += 1;
                return (Some(result), index - start + 1);
            }
        }
        (None, self.looked_at.len() - start)
    }

    /// Scans from `position` (updated to the end on a miss) for the first message
    /// `matcher` accepts, removes it and returns what the matcher made of it.
    /// Also returns how many messages were looked at, for reduction accounting.
    #[inline(always)]
    pub(crate) fn take_first<R>(
        &mut self,
        position: &mut ScanPosition,
        mut matcher: impl FnMut(&mut Message) -> Option<R>,
    ) -> (Option<R>, usize) {
        let start = position.0.min(self.looked_at.len());
        let (found, mut looked) = self.take_buffered_from(start, &mut matcher);
        if found.is_some() {
            return (found, looked);
        }
        // Matched in place: a matcher that panics leaves the message where it was.
        while let Some(message) = self.arrived.front_mut() {
            looked += 1;
            if let Some(result) = matcher(message) {
                // What the matcher left of it (if anything) is dropped with its node.
                drop(self.arrived.pop_front());
                position.0 = self.looked_at.len();
                return (Some(result), looked);
            }
            let passed_over = self.arrived.pop_front().expect("the front message is there");
            self.looked_at.push_back(passed_over);
        }
        position.0 = self.looked_at.len();
        (None, looked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_u32(mailbox: &mut Mailbox, position: &mut ScanPosition) -> Option<u32> {
        mailbox.take_first(position, |m| m.downcast_ref::<u32>().copied()).0
    }

    #[test]
    fn debug_names_the_type_held() {
        struct Secret;
        assert_eq!(format!("{:?}", Message::new(7u64)), "Message<u64>");
        assert!(format!("{:?}", Message::new(Secret)).ends_with("Secret>"));
        assert_eq!(format!("{:?}", Message::new(String::from("x"))), "Message<alloc::string::String>");
    }

    #[test]
    fn a_scan_from_a_marker_skips_what_came_before_it_even_after_removals() {
        let mut mailbox = Mailbox::default();
        for n in 0..100u32 {
            mailbox.push(Message::new(n));
        }
        let marker = mailbox.mark();
        mailbox.push(Message::new(1000u32));
        let mut position = mailbox.position_of(marker);
        let (found, looked_at) = mailbox.take_first(&mut position, |m| m.downcast_ref::<u32>().copied());
        assert_eq!((found, looked_at), (Some(1000), 1), "the 100 before the mark are not looked at");
        // Removals behind the mark move it back, never past a later message.
        let later = mailbox.mark();
        mailbox.push(Message::new(2000u32));
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(0));
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(1));
        let mut position = mailbox.position_of(later);
        let (found, looked_at) = mailbox.take_first(&mut position, |m| m.downcast_ref::<u32>().copied());
        assert_eq!((found, looked_at), (Some(2000), 1));
        assert_eq!(mailbox.len(), 98);
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

    /// Arrived messages (still in their queue nodes) come after the buffered
    /// ones; those a scan passes over join the buffer in order, and a message
    /// pushed later goes behind all of them.
    #[test]
    fn arrived_messages_keep_their_place_behind_the_buffered_ones() {
        use crate::signal_queue::SignalQueue;
        let queue: SignalQueue<Message, Message> = SignalQueue::with_small_form();
        let mut mailbox = Mailbox::default();
        mailbox.push(Message::new("buffered"));
        for message in [Message::new(1u32), Message::new("skipped"), Message::new(2u32)] {
            assert!(queue.push_small(message).is_ok());
        }
        mailbox.append_arrived(queue.take_all().into_small_only().ok().unwrap());
        assert_eq!(mailbox.len(), 4);
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(1));
        assert!(queue.push_small(Message::new(3u32)).is_ok());
        mailbox.append_arrived(queue.take_all().into_small_only().ok().unwrap());
        mailbox.push(Message::new("pushed"));
        let strings: Vec<&str> = std::iter::from_fn(|| {
            mailbox.take_first(&mut ScanPosition::default(), |m| m.downcast_ref::<&str>().copied()).0
        })
        .collect();
        assert_eq!(strings, vec!["buffered", "skipped", "pushed"]);
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(2));
        assert_eq!(first_u32(&mut mailbox, &mut ScanPosition::default()), Some(3));
        assert_eq!(mailbox.len(), 0);
    }

    #[test]
    fn small_values_are_stored_inline_and_come_back_intact() {
        let message = Message::new(0xDEAD_BEEF_u64);
        assert!(message.is::<u64>() && !message.is::<u32>());
        assert_eq!(message.downcast_ref::<u64>(), Some(&0xDEAD_BEEF));
        let message = message.downcast::<u32>().unwrap_err();
        assert_eq!(message.downcast::<u64>().unwrap(), 0xDEAD_BEEF);
        let mut unit = Message::new(());
        assert!(unit.downcast_mut::<()>().is_some());
        let mut pair = Message::new((7u8, 9u16));
        pair.downcast_mut::<(u8, u16)>().unwrap().1 = 10;
        assert_eq!(pair.downcast::<(u8, u16)>().unwrap(), (7, 10));
        const {
            assert!(Stored::<u64>::INLINE && Stored::<()>::INLINE && Stored::<std::sync::Arc<()>>::INLINE);
            assert!(!Stored::<u128>::INLINE, "more aligned than a word: boxed");
            assert!(!Stored::<[u64; 2]>::INLINE, "bigger than a word: boxed");
        }
        assert_eq!(Message::new(1u128).downcast::<u128>().unwrap(), 1);
        assert_eq!(size_of::<Message>(), 2 * size_of::<usize>());
    }

    #[test]
    fn an_inline_value_may_mutate_through_a_shared_borrow_and_a_message_is_send() {
        use crate::sync::{AtomicUsize, Ordering};
        let message = Message::new(AtomicUsize::new(0));
        // Relaxed: one thread.
        message.downcast_ref::<AtomicUsize>().unwrap().fetch_add(1, Ordering::Relaxed);
        assert_eq!(message.downcast::<AtomicUsize>().unwrap().into_inner(), 1);
        fn send<T: Send>(_: &T) {}
        send(&Message::new(std::cell::Cell::new(5u32)));
    }

    #[test]
    fn an_inline_value_is_dropped_exactly_once() {
        let token = std::sync::Arc::new(());
        drop(Message::new(std::sync::Arc::clone(&token)));
        assert_eq!(std::sync::Arc::strong_count(&token), 1, "dropped with its message");
        let taken = Message::new(std::sync::Arc::clone(&token)).downcast::<std::sync::Arc<()>>().unwrap();
        assert_eq!(std::sync::Arc::strong_count(&token), 2, "moved out, not dropped");
        drop(taken);
        let kept = Message::new(std::sync::Arc::clone(&token)).downcast::<u8>().unwrap_err();
        assert_eq!(std::sync::Arc::strong_count(&token), 2, "given back whole on a mismatch");
        drop(kept);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
        // The same for a boxed value.
        drop(Message::new((std::sync::Arc::clone(&token), [0u64; 4])));
        assert_eq!(std::sync::Arc::strong_count(&token), 1, "a boxed value dropped with its message");
        let (taken, _) = Message::new((std::sync::Arc::clone(&token), [0u64; 4]))
            .downcast::<(std::sync::Arc<()>, [u64; 4])>()
            .unwrap();
        assert_eq!(std::sync::Arc::strong_count(&token), 2, "moved out of its box, not dropped");
        drop(taken);
        assert_eq!(std::sync::Arc::strong_count(&token), 1);
    }

    #[test]
    fn downcast_gives_the_message_back_on_a_type_mismatch() {
        let message = Message::new(String::from("text"));
        let message = message.downcast::<u32>().unwrap_err();
        assert!(message.is::<String>());
        assert_eq!(message.downcast::<String>().unwrap(), "text");
    }
}
