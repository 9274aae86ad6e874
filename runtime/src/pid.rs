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

/// Hashing of whole words (what `Pid` and `Ref` are) that keeps their order.
///
/// Hash tables pick a bucket from the low bits of a hash and a tag from the top
/// seven. The low bits here are the key's own low bits (the XOR of its words),
/// so keys made in sequence (pids of a spawn loop, refs of a monitor loop) fill
/// buckets in sequence, and iterating a big link table visits processes in
/// the order they were made, which is usually the order of their memory: a
/// fan-out over 100,000 links then walks process blocks and table slots
/// forwards instead of jumping between pages. The tag comes from an Fx-style
/// multiply of the words, so keys in one probe group still differ in it.
#[derive(Default)]
pub(crate) struct WordHasher {
    mixed: u64,
    folded: u64,
}

/// The bits of a hash that hash tables use as a tag rather than a bucket index.
const TAG_BITS: u64 = 0xFE00_0000_0000_0000;

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.mixed = (self.mixed.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        self.folded ^= word;
    }

    fn finish(&self) -> u64 {
        (self.mixed & TAG_BITS) | (self.folded & !TAG_BITS)
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

    /// A fan-out iterates a link table: in spawn order it walks process blocks
    /// forwards (see `WordHasher`); a scrambled order cost 35 % on link_fanout.
    #[test]
    fn a_big_map_of_sequential_pids_iterates_in_spawn_order() {
        let pids: std::collections::HashMap<super::Pid, (), super::FixedHasher> =
            (1..100_000u32).map(|index| (super::Pid::new(0, index, 0), ())).collect();
        let order: Vec<u32> = pids.keys().map(|pid| pid.index()).collect();
        let forwards = order.windows(2).filter(|pair| pair[0] < pair[1]).count();
        assert!(forwards * 100 >= order.len() * 99, "only {forwards} of {} steps go forwards", order.len());
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
