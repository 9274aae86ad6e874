//! Process identifiers and unique references.
//!
//! A [`Pid`] packs three fields into 64 bits: the id of the runtime that made it
//! (so a Pid never resolves in another runtime), the index of its slot in the
//! process table, and the slot's serial at the time (so a stale Pid never reaches
//! a later process that reuses the slot). The table reuses freed slots FIFO, so a
//! slot's serial wraps only after 2^25 reuses of that one slot.

use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher of the runtime's maps keyed by pids and refs. Their keys are made
/// by the runtime, not chosen by an attacker, so no flooding-resistant hash is
/// needed: one multiply per word (the Fx hash), not SipHash's dozen rounds, and
/// no `RandomState` seeding (a thread-local read) for every process.
pub(crate) type FixedHasher = BuildHasherDefault<WordHasher>;

/// Fx-style hashing of whole words (what `Pid` and `Ref` are). Keys that differ
/// in their low bits land in different buckets (the multiplier is odd); a key
/// type whose values differ elsewhere moves those bits down first (`Pid`).
#[derive(Default)]
pub(crate) struct WordHasher(u64);

/// `bytes` as little-endian words, the last one zero-padded.
fn words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(word)
    })
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        words(bytes).for_each(|word| self.write_u64(word));
    }

    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hasher of the runtime's maps keyed by monitor refs.
pub(crate) type SequenceHasher = BuildHasherDefault<SequenceWordHasher>;

/// Hashing of counter-made keys (monitor refs: taken in sequence from one
/// counter, never reused) that keeps their order. Hash tables pick a bucket
/// from the low bits of a hash and a tag from the top seven: here the low bits
/// are the key itself and the tag comes from an Fx multiply. Refs made in a
/// row then sit in a row of buckets, so a process holding 100,000 monitors
/// finds the `Down`s that come back in the same order one after another in
/// memory, not one cache miss each (D6).
/// Not for pids: a pid reused from a freed slot would land inside a full row
/// of buckets, and a key missing from such a row is found missing only past
/// its end.
#[derive(Default)]
pub(crate) struct SequenceWordHasher {
    /// Gives the tag bits.
    mixed: WordHasher,
    /// Gives the bucket bits: the key's words XORed.
    key: u64,
}

/// The bits of a hash that hash tables use as a tag rather than a bucket index.
const TAG_BITS: u64 = 0xFE00_0000_0000_0000;

impl Hasher for SequenceWordHasher {
    fn write(&mut self, bytes: &[u8]) {
        words(bytes).for_each(|word| self.write_u64(word));
    }

    fn write_u64(&mut self, word: u64) {
        self.mixed.write_u64(word);
        self.key ^= word;
    }

    fn finish(&self) -> u64 {
        (self.mixed.finish() & TAG_BITS) | (self.key & !TAG_BITS)
    }
}

pub(crate) const SERIAL_BITS: u32 = 25;
pub(crate) const INDEX_BITS: u32 = 27;
pub(crate) const RUNTIME_BITS: u32 = 64 - SERIAL_BITS - INDEX_BITS;

pub(crate) const SERIAL_MASK: u64 = (1 << SERIAL_BITS) - 1;
pub(crate) const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
pub(crate) const RUNTIME_MASK: u64 = (1 << RUNTIME_BITS) - 1;

/// The largest process-table capacity a runtime can be built with (2^27 − 1:
/// the top index is reserved for the runtime's own sender pid).
pub const MAX_PROCESSES: usize = INDEX_MASK as usize;

/// Identifies one process of one runtime, for as long as that runtime lives.
///
/// Pids are plain values: copy them, send them in messages, compare and hash them.
/// A Pid whose process has ended stays harmless: sends to it are dropped, as in
/// Erlang. It prints as `<runtime.index.serial>`, like Erlang's `<0.81.0>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pid(u64);

impl std::hash::Hash for Pid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Index and serial in the low bits: pids of sequential spawns differ in
        // the index, successive occupants of one slot in the serial, and a word
        // hash keeps keys that differ in their low bits apart (`WordHasher`).
        state.write_u64(self.0.rotate_right(SERIAL_BITS) ^ (self.0 & SERIAL_MASK));
    }
}

impl Pid {
    pub(crate) const fn new(runtime: u32, index: u32, serial: u32) -> Pid {
        Pid(((runtime as u64 & RUNTIME_MASK) << (SERIAL_BITS + INDEX_BITS))
            | ((index as u64 & INDEX_MASK) << SERIAL_BITS)
            | (serial as u64 & SERIAL_MASK))
    }

    /// The pid a runtime uses as the sender of signals sent from outside any
    /// process (`Handle::exit`, `Handle::send`): never alive, never reused.
    pub(crate) const fn reserved(runtime: u32) -> Pid {
        Pid::new(runtime, INDEX_MASK as u32, 0)
    }

    /// The id of the runtime that made it (worker threads are named `lariat-<id>-w<n>`).
    ///
    /// ```
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let pid = runtime.block_on(|cx| Ok::<_, Reason>(cx.pid()))?;
    /// assert_eq!(pid.runtime_id(), runtime.id());
    /// assert!(pid.to_string().starts_with(&format!("<{}.", runtime.id())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn runtime_id(self) -> u32 {
        (self.0 >> (SERIAL_BITS + INDEX_BITS)) as u32
    }

    pub(crate) const fn index(self) -> u32 {
        ((self.0 >> SERIAL_BITS) & INDEX_MASK) as u32
    }

    pub(crate) const fn serial(self) -> u32 {
        (self.0 & SERIAL_MASK) as u32
    }

    /// The same slot with the next serial: the Pid its next occupant gets.
    pub(crate) const fn next_in_slot(self) -> Pid {
        Pid::new(self.runtime_id(), self.index(), (self.serial() + 1) & SERIAL_MASK as u32)
    }

    pub(crate) const fn from_bits(bits: u64) -> Pid {
        Pid(bits)
    }

    /// The raw 64-bit value (stable for the life of the runtime; useful as a key).
    ///
    /// ```
    /// # use std::collections::HashMap;
    /// # use lariat::{Reason, Runtime};
    /// let runtime = Runtime::new()?;
    /// let (a, b) = runtime.block_on(|cx| {
    ///     let a = cx.spawn(|_| Ok(()))?;
    ///     let b = cx.spawn(|_| Ok(()))?;
    ///     Ok::<_, Reason>((a, b))
    /// })?;
    /// assert_ne!(a.to_bits(), b.to_bits());
    /// let mut names = HashMap::new();
    /// names.insert(a.to_bits(), "first");
    /// assert_eq!(names.get(&a.to_bits()), Some(&"first"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub const fn to_bits(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}.{}>", self.runtime_id(), self.index(), self.serial())
    }
}

/// A reference unique within its runtime (Erlang's `make_ref()`); monitors are
/// named by one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref(pub(crate) u64);

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{}>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    /// Sequential pids and refs (what a spawn loop or a monitor loop makes) must
    /// spread over buckets: hash tables index by the low bits of the hash.
    #[test]
    fn sequential_pids_and_refs_spread_over_the_low_bits() {
        let hasher = super::FixedHasher::default();
        for keys in [
            (0..4096u32).map(|index| hasher.hash_one(super::Pid::new(0, index, 0))).collect::<Vec<_>>(),
            (0..4096u32).map(|serial| hasher.hash_one(super::Pid::new(0, 7, serial))).collect(),
            (0..4096u64).map(|n| hasher.hash_one(super::Ref(n))).collect(),
        ] {
            let mut buckets: Vec<u64> = keys.iter().map(|hash| hash & 4095).collect();
            buckets.sort();
            buckets.dedup();
            assert!(buckets.len() > 2048, "only {} of 4096 buckets used", buckets.len());
        }
    }

    /// Refs made in a row fill buckets in a row (see `SequenceWordHasher`), and
    /// still differ in their tags.
    #[test]
    fn sequential_refs_keep_their_order_and_differ_in_their_tags() {
        use std::hash::BuildHasher;
        let hasher = super::SequenceHasher::default();
        let hashes: Vec<u64> = (1000..1000 + 4096u64).map(|n| hasher.hash_one(super::Ref(n))).collect();
        assert!(hashes.windows(2).all(|pair| (pair[0] & 0xFFFF) + 1 == pair[1] & 0xFFFF), "low bits in sequence");
        let mut tags: Vec<u64> = hashes.iter().map(|hash| hash >> 57).collect();
        tags.sort();
        tags.dedup();
        assert!(tags.len() > 100, "only {} distinct tags", tags.len());
    }

    use super::*;

    #[test]
    fn fields_round_trip_at_their_limits() {
        let pid = Pid::new(RUNTIME_MASK as u32, INDEX_MASK as u32 - 1, SERIAL_MASK as u32);
        assert_eq!(pid.runtime_id(), RUNTIME_MASK as u32);
        assert_eq!(pid.index(), INDEX_MASK as u32 - 1);
        assert_eq!(pid.serial(), SERIAL_MASK as u32);
    }

    #[test]
    fn next_in_slot_changes_only_the_serial_and_wraps() {
        let pid = Pid::new(3, 77, SERIAL_MASK as u32);
        let next = pid.next_in_slot();
        assert_eq!((next.runtime_id(), next.index(), next.serial()), (3, 77, 0));
        assert_ne!(pid, next);
    }

    #[test]
    fn pids_of_different_runtimes_differ() {
        assert_ne!(Pid::new(1, 5, 0), Pid::new(2, 5, 0));
        assert_eq!(format!("{}", Pid::new(1, 5, 2)), "<1.5.2>");
    }
}
