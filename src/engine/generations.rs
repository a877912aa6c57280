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
///
/// A generation is full at `per_generation` values, or at `weight_per_generation` of their
/// weights (sizes the caller gives, so a few large values cannot hold unbounded memory); a
/// value weighing more than a generation is not kept.
pub(crate) struct Generations<K, V> {
    recent: HashMap<K, (V, usize), RandomState>,
    older: HashMap<K, (V, usize), RandomState>,
    /// The weight of the values in `recent`.
    recent_weight: usize,
    per_generation: usize,
    weight_per_generation: usize,
}

impl<K: Hash + Eq, V: Clone> Generations<K, V> {
    /// An empty cache of generations of `per_generation` values (at least one), of any weight.
    pub(crate) fn new(per_generation: usize) -> Self {
        Self::weighed(per_generation, usize::MAX)
    }

    /// An empty cache of generations of at most `per_generation` values (at least one) and
    /// `weight_per_generation` of weight.
    pub(crate) fn weighed(per_generation: usize, weight_per_generation: usize) -> Self {
        Generations {
            recent: HashMap::default(),
            older: HashMap::default(),
            recent_weight: 0,
            per_generation: per_generation.max(1),
            weight_per_generation,
        }
    }

    /// The value at `key`, if cached (it counts as used).
    pub(crate) fn get(&mut self, key: K) -> Option<V> {
        if let Some((value, _)) = self.recent.get(&key) {
            return Some(value.clone());
        }
        let (value, weight) = self.older.remove(&key)?;
        self.insert_weighing(key, value.clone(), weight);
        Some(value)
    }

    /// Whether `key` is cached.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.recent.contains_key(key) || self.older.contains_key(key)
    }

    /// Caches `value` at `key` (of weight 1).
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.insert_weighing(key, value, 1);
    }

    /// Caches `value`, of `weight`, at `key`; one heavier than a generation is not kept.
    pub(crate) fn insert_weighing(&mut self, key: K, value: V, weight: usize) {
        self.older.remove(&key);
        if let Some((_, old)) = self.recent.remove(&key) {
            self.recent_weight = self.recent_weight.saturating_sub(old);
        }
        if weight > self.weight_per_generation {
            return;
        }
        if self.recent.len() >= self.per_generation
            || self.recent_weight.saturating_add(weight) > self.weight_per_generation
        {
            // The tables keep their capacity: no reallocation as the next generation fills.
            std::mem::swap(&mut self.recent, &mut self.older);
            self.recent.clear();
            self.recent_weight = 0;
        }
        self.recent_weight = self.recent_weight.saturating_add(weight);
        self.recent.insert(key, (value, weight));
    }

    /// Drops everything.
    pub(crate) fn clear(&mut self) {
        self.recent.clear();
        self.older.clear();
        self.recent_weight = 0;
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

    #[test]
    fn weights_bound_what_a_generation_holds() {
        const WEIGHT: usize = 1_000;
        let mut cache = Generations::weighed(usize::MAX, WEIGHT);
        for key in 0..100u64 {
            cache.insert_weighing(key, key, 300);
            let held: usize = (0..=key).filter(|k| cache.contains(k)).count() * 300;
            assert!(held <= 2 * WEIGHT, "{held} held after {key}");
        }
        // The newest three fit a generation and are there; one heavier than a generation is
        // not kept, and takes nothing out.
        assert!((97..100).all(|k| cache.contains(&k)));
        cache.insert_weighing(1_000, 1_000, WEIGHT + 1);
        assert!(!cache.contains(&1_000));
        assert!((97..100).all(|k| cache.contains(&k)));
        // Reinserting a key counts its weight once.
        for _ in 0..10 {
            cache.insert_weighing(99, 99, 300);
        }
        assert_eq!(cache.recent_weight % 300, 0);
        assert!(cache.recent_weight <= WEIGHT);
    }
}
