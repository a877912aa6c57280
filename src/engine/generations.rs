//! [`Generations`]: a bounded cache without eviction scans, for the store's parsed patches and
//! the sealed tables' blocks.

use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;

/// Values by key in two generations: an insert goes into the recent one, and a hit in the
/// older one moves the value there; when the recent generation is full it becomes the older
/// one, and what was left in the older one (used least recently) is dropped. It holds between
/// one and two generations' worth. An eviction costs nothing but the drops: a least recently
/// used scan (a selection over every entry's age, then a `retain`) was a tenth of a commit.
pub(crate) struct Generations<K, V> {
    recent: HashMap<K, V, RandomState>,
    older: HashMap<K, V, RandomState>,
    per_generation: usize,
}

impl<K: Hash + Eq, V: Clone> Generations<K, V> {
    /// An empty cache of generations of `per_generation` values (at least one).
    pub(crate) fn new(per_generation: usize) -> Self {
        Generations {
            recent: HashMap::default(),
            older: HashMap::default(),
            per_generation: per_generation.max(1),
        }
    }

    /// The value at `key`, if cached (it counts as used).
    pub(crate) fn get(&mut self, key: K) -> Option<V> {
        if let Some(value) = self.recent.get(&key) {
            return Some(value.clone());
        }
        let value = self.older.remove(&key)?;
        self.insert(key, value.clone());
        Some(value)
    }

    /// Whether `key` is cached.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.recent.contains_key(key) || self.older.contains_key(key)
    }

    /// Caches `value` at `key`.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.recent.len() >= self.per_generation {
            // The tables keep their capacity: no reallocation as the next generation fills.
            std::mem::swap(&mut self.recent, &mut self.older);
            self.recent.clear();
        }
        self.older.remove(&key);
        self.recent.insert(key, value);
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.recent.clear();
        self.older.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_least_a_generation_and_keeps_what_is_used() {
        const GENERATION: usize = 64;
        let mut cache = Generations::new(GENERATION);
        let total = GENERATION as u64 * 3;
        for key in 0..total {
            cache.insert(key, key * 10);
            // Key 0 is used all along: it stays.
            assert_eq!(cache.get(0), Some(0), "lost the used value at {key}");
        }
        let kept = (0..total).filter(|k| cache.contains(k)).count();
        assert!((GENERATION..=2 * GENERATION).contains(&kept), "{kept}");
        // The newest generation's worth is all there, with the right values.
        for key in total - GENERATION as u64..total {
            assert_eq!(cache.get(key), Some(key * 10));
        }
        // The oldest are gone; a cleared cache holds nothing.
        assert!(!cache.contains(&1));
        cache.clear();
        assert!(!cache.contains(&0));
        assert_eq!(cache.get(total - 1), None);
    }
}
