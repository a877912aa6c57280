//! [`OffsetIndexes`]: the offset indexes of large entries. Those this session made are in
//! memory until they are saved; the saved ones are read from `index.log` when a read first
//! needs them and kept while they fit a budget, the least recently used dropped first (read
//! again when next needed). An open costs the number of large entries, not the size of their
//! indexes, and a long session reading many large entries holds a bounded part of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::cache::lock;
use crate::engine::error::Result;
use crate::engine::offsets::OffsetIndex;
use crate::engine::persist::{IndexLog, Offsets};

/// The offset indexes of large entries, by (level, position).
pub(super) struct OffsetIndexes {
    loaded: Mutex<Loaded>,
    /// Where the saved ones lie in `index.log`.
    stored: Offsets,
    /// The most bytes (as stored) of saved offset indexes kept loaded.
    budget: u64,
}

/// The offset indexes in memory.
#[derive(Default)]
struct Loaded {
    /// Each with when it was last used (a tick of `clock`).
    indexes: HashMap<(u8, u64), (Arc<OffsetIndex>, u64)>,
    clock: u64,
    /// Bytes (as stored) of the saved ones among them: those that can be dropped.
    saved_bytes: u64,
}

impl OffsetIndexes {
    /// The saved offset indexes an open found, none read yet; at most `budget` bytes of
    /// them (as stored) are kept loaded.
    pub(super) fn stored(stored: Offsets, budget: u64) -> Self {
        OffsetIndexes {
            loaded: Mutex::default(),
            stored,
            budget,
        }
    }

    /// Whether the entry at `key` has an offset index.
    pub(super) fn has(&self, key: (u8, u64)) -> bool {
        self.stored.contains_key(&key) || lock(&self.loaded).indexes.contains_key(&key)
    }

    /// How many are in memory.
    pub(super) fn in_memory(&self) -> u64 {
        lock(&self.loaded).indexes.len() as u64
    }

    /// Adds the offset index of an entry just written or indexed: kept until it is saved.
    pub(super) fn add(&mut self, key: (u8, u64), index: Arc<OffsetIndex>) {
        let loaded = self
            .loaded
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loaded.clock = loaded.clock.wrapping_add(1);
        let tick = loaded.clock;
        loaded.indexes.insert(key, (index, tick));
    }

    /// Records where offset indexes were saved: they may be dropped from memory now.
    pub(super) fn saved(&mut self, places: Offsets) {
        let loaded = self
            .loaded
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (key, place) in places {
            let was_saved = self.stored.insert(key, place);
            if loaded.indexes.contains_key(&key) {
                let before = was_saved.map_or(0, |p| p.len);
                loaded.saved_bytes = loaded
                    .saved_bytes
                    .saturating_sub(before)
                    .saturating_add(place.len);
            }
        }
        loaded.shrink_to(self.budget, &self.stored, None);
    }

    /// The offset index of the entry at `key`, read from `log` when it is not in memory;
    /// `None` when the entry has none.
    pub(super) fn get(&self, key: (u8, u64), log: &IndexLog) -> Result<Option<Arc<OffsetIndex>>> {
        {
            let mut loaded = lock(&self.loaded);
            loaded.clock = loaded.clock.wrapping_add(1);
            let tick = loaded.clock;
            if let Some((found, used)) = loaded.indexes.get_mut(&key) {
                *used = tick;
                return Ok(Some(found.clone()));
            }
        }
        let Some(stored) = self.stored.get(&key) else {
            return Ok(None);
        };
        // Read outside the lock: concurrent first reads of one index may both decode it.
        let read = Arc::new(log.load_offsets(*stored)?);
        let mut loaded = lock(&self.loaded);
        let tick = loaded.clock;
        let found = match loaded.indexes.entry(key) {
            std::collections::hash_map::Entry::Occupied(kept) => kept.get().0.clone(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert((read.clone(), tick));
                loaded.saved_bytes = loaded.saved_bytes.saturating_add(stored.len);
                read
            }
        };
        loaded.shrink_to(self.budget, &self.stored, Some(key));
        Ok(Some(found))
    }
}

impl Loaded {
    /// Drops the least recently used saved offset indexes (never `keep`, nor an unsaved one)
    /// until those left take at most `budget` bytes as stored. Readers holding one keep it.
    fn shrink_to(&mut self, budget: u64, stored: &Offsets, keep: Option<(u8, u64)>) {
        while self.saved_bytes > budget {
            let oldest = self
                .indexes
                .iter()
                .filter(|(key, _)| Some(**key) != keep && stored.contains_key(key))
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| *key);
            let Some(key) = oldest else {
                return;
            };
            self.indexes.remove(&key);
            let len = stored.get(&key).map_or(0, |p| p.len);
            self.saved_bytes = self.saved_bytes.saturating_sub(len);
        }
    }
}
