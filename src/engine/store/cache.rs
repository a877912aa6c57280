//! [`PatchCache`]: the parsed patches of recently read log entries, shared by the reads that
//! run at once on one store.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::engine::generations::Generations;
use crate::tony::Node;

/// How many parsed patches one generation of the [`PatchCache`] holds at most.
const GENERATION: usize = 2048;

/// How many payload bytes the patches of one generation may have been parsed from: a few
/// large entries (a wide import, a level composing one) must not pin their parsed trees, each
/// several times its text. A larger patch is not cached (reads of large entries take what
/// they need through the entry's offset index).
const GENERATION_BYTES: usize = if cfg!(target_arch = "wasm32") {
    4 << 20
} else {
    16 << 20
};

/// The parsed patches of entries that reads parsed, by (level, position); commits do not fill
/// it (their patches are pending for compaction, where reads find them).
pub(super) type PatchCache = Generations<(u8, u64), Node>;

/// An empty patch cache.
pub(super) fn patch_cache() -> PatchCache {
    Generations::weighed(GENERATION, GENERATION_BYTES)
}

/// Locks `mutex`, going on after a panic in another holder: every value behind the store's
/// locks is whole between statements (a cache, counters, the head state).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
