//! [`OffsetIndexes`]: the offset indexes of large entries. Those this session made are in
//! memory; the persisted ones are read from `index.log` when a read first needs them, so an
//! open costs the number of large entries, not the size of their indexes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::cache::lock;
use crate::engine::error::Result;
use crate::engine::offsets::OffsetIndex;
use crate::engine::persist::{IndexLog, Offsets};

/// The offset indexes of large entries, by (level, position).
#[derive(Default)]
pub(super) struct OffsetIndexes {
    /// Made or read so far: kept while the store is open.
    loaded: Mutex<HashMap<(u8, u64), Arc<OffsetIndex>>>,
    /// Where the persisted ones lie in `index.log`.
    stored: Offsets,
}

impl OffsetIndexes {
    /// The persisted offset indexes an open found, none read yet.
    pub(super) fn stored(stored: Offsets) -> Self {
        OffsetIndexes {
            loaded: Mutex::default(),
            stored,
        }
    }

    /// Whether the entry at `key` has an offset index.
    pub(super) fn has(&self, key: (u8, u64)) -> bool {
        self.stored.contains_key(&key) || lock(&self.loaded).contains_key(&key)
    }

    /// Adds the offset index of an entry just written or indexed.
    pub(super) fn add(&mut self, key: (u8, u64), index: Arc<OffsetIndex>) {
        self.loaded
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, index);
    }

    /// The offset index of the entry at `key`, read from `log` the first time; `None` when
    /// the entry has none.
    pub(super) fn get(&self, key: (u8, u64), log: &IndexLog) -> Result<Option<Arc<OffsetIndex>>> {
        if let Some(found) = lock(&self.loaded).get(&key) {
            return Ok(Some(found.clone()));
        }
        let Some(stored) = self.stored.get(&key) else {
            return Ok(None);
        };
        // Read outside the lock: concurrent first reads of one index may both decode it.
        let read = Arc::new(log.load_offsets(*stored)?);
        Ok(Some(lock(&self.loaded).entry(key).or_insert(read).clone()))
    }
}
