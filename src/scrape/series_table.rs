//! A compact map from a 64-bit hash key to a value, for the scrape cache.
//!
//! A peer keeps one entry per scraped series, so bucket size is memory: values live densely
//! in a `Vec` and the hash index holds 4-byte positions (hashbrown's `HashTable`), instead of
//! whole entries in a power-of-two table that is up to half empty.

use hashbrown::HashTable;

/// Map from an already-hashed key to `V`.
pub(crate) struct KeyedTable<V> {
    slots: Vec<(u64, V)>,
    index: HashTable<u32>,
}

impl<V> Default for KeyedTable<V> {
    fn default() -> Self {
        KeyedTable {
            slots: Vec::new(),
            index: HashTable::new(),
        }
    }
}

impl<V> KeyedTable<V> {
    /// Position of `key`, if present.
    pub fn position(&self, key: u64) -> Option<usize> {
        let slots = &self.slots;
        self.index
            .find(key, |&i| slots.get(i as usize).is_some_and(|s| s.0 == key))
            .map(|&i| i as usize)
    }

    /// The value at a position returned by [`KeyedTable::position`].
    pub fn at_mut(&mut self, pos: usize) -> Option<&mut V> {
        self.slots.get_mut(pos).map(|s| &mut s.1)
    }

    /// Inserts a key that is not present (callers check with `position`).
    pub fn insert(&mut self, key: u64, value: V) -> &mut V {
        let pos = self.slots.len();
        self.slots.push((key, value));
        let slots = &self.slots;
        // u32 positions: a single target never exposes 4 billion series.
        self.index.insert_unique(key, pos as u32, |&i| {
            slots.get(i as usize).map_or(0, |s| s.0)
        });
        #[allow(clippy::indexing_slicing, reason = "`pos` was pushed just above")]
        &mut self.slots[pos].1
    }

    /// Keeps the values for which `keep` is true; re-indexes only if something went.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        let before = self.slots.len();
        self.slots.retain_mut(|(_, v)| keep(v));
        if self.slots.len() != before {
            self.reindex();
        }
    }

    fn reindex(&mut self) {
        self.index.clear();
        // Give back memory after a large target shrank for good.
        if self.slots.capacity() > 2 * self.slots.len() + 64 {
            self.slots.shrink_to_fit();
        }
        let slots = &self.slots;
        for (pos, (key, _)) in slots.iter().enumerate() {
            self.index.insert_unique(*key, pos as u32, |&i| {
                slots.get(i as usize).map_or(0, |s| s.0)
            });
        }
    }

    /// All values, in insertion order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().map(|(_, v)| v)
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.slots.clear();
        self.index.clear();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_find_retain() {
        let mut t = KeyedTable::default();
        for k in 0..1000u64 {
            let key = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert!(t.position(key).is_none());
            *t.insert(key, k) += 0;
        }
        assert_eq!(t.len(), 1000);
        let key7 = 7u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let p = t.position(key7).unwrap();
        assert_eq!(t.at_mut(p).copied(), Some(7));
        t.retain(|v| *v % 2 == 1);
        assert_eq!(t.len(), 500);
        assert_eq!(t.at_mut(t.position(key7).unwrap()).copied(), Some(7));
        assert!(
            t.position(8u64.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .is_none()
        );
        assert!(t.values().all(|v| v % 2 == 1));
        t.clear();
        assert!(t.is_empty() && t.position(key7).is_none());
    }
}
