//! [`PatchCache`]: the parsed patches of recently read log entries, shared by the reads that
//! run at once on one store.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::tony::Node;

/// How many parsed patches are kept.
const CACHE_ENTRIES: usize = 4096;

/// Parsed patches by (level, position), each with when it was last used.
#[derive(Default)]
pub(super) struct PatchCache {
    entries: HashMap<(u8, u64), (Node, u64)>,
    clock: u64,
}

impl PatchCache {
    /// The patch at `key`, if cached (it counts as used).
    pub(super) fn get(&mut self, key: (u8, u64)) -> Option<Node> {
        self.clock += 1;
        let (patch, used) = self.entries.get_mut(&key)?;
        *used = self.clock;
        Some(patch.clone())
    }

    /// Whether the patch at `key` is cached.
    pub(super) fn contains(&self, key: (u8, u64)) -> bool {
        self.entries.contains_key(&key)
    }

    /// Caches a patch, dropping the least recently used quarter when full.
    pub(super) fn insert(&mut self, key: (u8, u64), patch: Node) {
        if self.entries.len() >= CACHE_ENTRIES {
            let mut ages: Vec<u64> = self.entries.values().map(|(_, used)| *used).collect();
            let (_, cutoff, _) = ages.select_nth_unstable(CACHE_ENTRIES / 4);
            let cutoff = *cutoff;
            self.entries.retain(|_, (_, used)| *used > cutoff);
        }
        self.clock += 1;
        self.entries.insert(key, (patch, self.clock));
    }
}

/// Locks `mutex`, going on after a panic in another holder: every value behind the store's
/// locks is whole between statements (a cache, counters, the head state).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
