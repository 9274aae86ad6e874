//! A map for the per-process tables (links, monitors): almost every process has
//! none or a few entries, and some have a million.
//!
//! Up to [`INLINE`] entries live inside the map itself (in the process's `Cx`,
//! on its stack, which a resume touches anyway), searched linearly; a process
//! that dies of an exit signal then looks up its link without a cache miss on a
//! separate heap table. Past [`SPILL`] entries it becomes a hash map, so lookups
//! stay O(1) for the process with a million links. It never shrinks back.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use smallvec::SmallVec;

use crate::pid::FixedHasher;

/// Entries stored inline, without any heap allocation.
pub(crate) const INLINE: usize = 2;
/// Entries beyond which the map becomes a hash map.
const SPILL: usize = 16;

/// `S` hashes the keys once there are many (see `pid` for the two hashers).
pub(crate) enum SmallMap<K, V, S = FixedHasher> {
    Few(SmallVec<[(K, V); INLINE]>),
    Many(HashMap<K, V, S>),
}

impl<K, V, S> Default for SmallMap<K, V, S> {
    fn default() -> Self {
        SmallMap::Few(SmallVec::new())
    }
}

impl<K: Copy + Eq + Hash, V, S: BuildHasher + Default> SmallMap<K, V, S> {
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        match self {
            SmallMap::Few(few) => few.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            SmallMap::Many(many) => many.get(key),
        }
    }

    pub(crate) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self {
            SmallMap::Few(few) => few.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
            SmallMap::Many(many) => many.get_mut(key),
        }
    }

    /// Inserts, returning the value `key` had.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self {
            SmallMap::Few(few) => {
                if let Some((_, old)) = few.iter_mut().find(|(k, _)| *k == key) {
                    return Some(std::mem::replace(old, value));
                }
                if few.len() < SPILL {
                    few.push((key, value));
                    return None;
                }
                let mut many: HashMap<K, V, S> = few.drain(..).collect();
                many.insert(key, value);
                *self = SmallMap::Many(many);
                None
            }
            SmallMap::Many(many) => many.insert(key, value),
        }
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            SmallMap::Few(few) => {
                let index = few.iter().position(|(k, _)| k == key)?;
                Some(few.swap_remove(index).1)
            }
            SmallMap::Many(many) => many.remove(key),
        }
    }

    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        match self {
            SmallMap::Few(few) => Iter::Few(few.iter()),
            SmallMap::Many(many) => Iter::Many(many.iter()),
        }
    }

    /// The entries, if there are few enough to be stored inline.
    pub(crate) fn as_inline(&self) -> Option<&[(K, V)]> {
        match self {
            SmallMap::Few(few) if few.len() <= INLINE => Some(few.as_slice()),
            _ => None,
        }
    }

    /// Empties the map, returning its entries.
    #[cfg(test)]
    pub(crate) fn take_all(&mut self) -> Vec<(K, V)> {
        match std::mem::take(self) {
            SmallMap::Few(few) => few.into_vec(),
            SmallMap::Many(many) => many.into_iter().collect(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            SmallMap::Few(few) => few.len(),
            SmallMap::Many(many) => many.len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            SmallMap::Few(few) => few.is_empty(),
            SmallMap::Many(many) => many.is_empty(),
        }
    }
}

/// The entries of a [`SmallMap`], in no particular order (one branch per
/// step, not a chain of both forms: an exit walks its links through this).
pub(crate) enum Iter<'a, K, V> {
    Few(std::slice::Iter<'a, (K, V)>),
    Many(std::collections::hash_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Few(few) => few.next().map(|(k, v)| (k, v)),
            Iter::Many(many) => many.next(),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        Get(u8),
        Update(u8, u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k % 40, v)),
            any::<u8>().prop_map(|k| Op::Remove(k % 40)),
            any::<u8>().prop_map(|k| Op::Get(k % 40)),
            (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Update(k % 40, v)),
        ]
    }

    proptest! {
        /// Whatever the sequence, it behaves as a HashMap, across the spill.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut map: SmallMap<u8, u32> = SmallMap::default();
            let mut model = std::collections::HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::Get(k) => prop_assert_eq!(map.get(&k), model.get(&k)),
                    Op::Update(k, v) => {
                        if let Some(value) = map.get_mut(&k) {
                            *value = v;
                        }
                        if let Some(value) = model.get_mut(&k) {
                            *value = v;
                        }
                    }
                }
                prop_assert_eq!(map.len(), model.len());
            }
            let mut seen: Vec<_> = map.iter().map(|(k, v)| (*k, *v)).collect();
            let mut all = map.take_all();
            let mut expected: Vec<_> = model.into_iter().collect();
            seen.sort();
            all.sort();
            expected.sort();
            prop_assert_eq!(&seen, &expected);
            prop_assert_eq!(all, expected);
            prop_assert!(map.is_empty());
        }
    }
}
