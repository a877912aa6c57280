//! [`PatchCache`]: the parsed patches of recently read log entries, shared by the reads that
//! run at once on one store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;

use crate::tony::Node;

/// How many parsed patches one generation holds: the cache keeps one to two generations.
const GENERATION: usize = 2048;

/// Parsed patches by (level, position), in two generations: a patch is inserted into the
/// recent one, and a hit in the older one moves it there; when the recent generation is full it
/// becomes the older one, and the patches left in the older one (used least recently) are
/// dropped. No eviction scans: a scan for the least recently used quarter took a tenth of a
/// commit.
#[derive(Default)]
pub(super) struct PatchCache {
    recent: HashMap<(u8, u64), Node, RandomState>,
    older: HashMap<(u8, u64), Node, RandomState>,
}

impl PatchCache {
    /// The patch at `key`, if cached (it counts as used).
    pub(super) fn get(&mut self, key: (u8, u64)) -> Option<Node> {
        if let Some(patch) = self.recent.get(&key) {
            return Some(patch.clone());
        }
        let patch = self.older.remove(&key)?;
        self.insert(key, patch.clone());
        Some(patch)
    }

    /// Whether the patch at `key` is cached.
    pub(super) fn contains(&self, key: (u8, u64)) -> bool {
        self.recent.contains_key(&key) || self.older.contains_key(&key)
    }

    /// Caches a patch.
    pub(super) fn insert(&mut self, key: (u8, u64), patch: Node) {
        if self.recent.len() >= GENERATION {
            // The tables keep their capacity: no reallocation as the next generation fills.
            std::mem::swap(&mut self.recent, &mut self.older);
            self.recent.clear();
        }
        self.older.remove(&key);
        self.recent.insert(key, patch);
    }
}

/// Locks `mutex`, going on after a panic in another holder: every value behind the store's
/// locks is whole between statements (a cache, counters, the head state).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(n: i64) -> Node {
        Node::int(n)
    }

    #[test]
    fn holds_at_least_a_generation_and_keeps_what_is_used() {
        let mut cache = PatchCache::default();
        let total = GENERATION as u64 * 3;
        for pos in 0..total {
            cache.insert((0, pos), patch(pos as i64));
            // Position 0 is used all along: it stays.
            assert!(cache.get((0, 0)).is_some(), "lost the used patch at {pos}");
        }
        let kept = (0..total).filter(|&p| cache.contains((0, p))).count();
        assert!((GENERATION..=2 * GENERATION).contains(&kept), "{kept}");
        // The newest generation's worth is all there, with the right values.
        for pos in total - GENERATION as u64..total {
            let found = cache.get((0, pos)).expect("recent patch");
            assert!(matches!(found.value, crate::tony::Value::Int(v) if v == pos as i64));
        }
        // The oldest are gone.
        assert!(!cache.contains((0, 1)));
        // Levels are distinct keys.
        assert!(!cache.contains((1, total - 1)));
    }
}
