//! [`Counters`]: what a store's reads count for [`Stats`], updated by reads that run at once
//! without taking a lock.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Stats;

/// A read event counted in [`Stats`].
#[derive(Clone, Copy)]
pub(super) enum ReadEvent {
    /// An entry parsed from a log (a cache miss).
    EntryRead,
    /// A streaming read served from an entry's bytes.
    StreamedFromLog,
    /// Of those, one with later patches applied on the fly.
    StreamedPatched,
    /// A read below an edited array served without building the array.
    ReadThroughArrayEdits,
    /// A read whose base value came from a large entry's offset index.
    ReadFromOffsets,
}

/// The read counters of [`Stats`], one atomic each.
#[derive(Default)]
pub(super) struct Counters {
    entries_read: AtomicU64,
    streamed_from_log: AtomicU64,
    streamed_patched: AtomicU64,
    read_through_array_edits: AtomicU64,
    read_from_offsets: AtomicU64,
}

impl Counters {
    /// Counts one `event`.
    pub(super) fn count(&self, event: ReadEvent) {
        let counter = match event {
            ReadEvent::EntryRead => &self.entries_read,
            ReadEvent::StreamedFromLog => &self.streamed_from_log,
            ReadEvent::StreamedPatched => &self.streamed_patched,
            ReadEvent::ReadThroughArrayEdits => &self.read_through_array_edits,
            ReadEvent::ReadFromOffsets => &self.read_from_offsets,
        };
        // Counts only: no other memory is published through them.
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Copies the counts into `stats`.
    pub(super) fn fill(&self, stats: &mut Stats) {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        stats.entries_read = get(&self.entries_read);
        stats.streamed_from_log = get(&self.streamed_from_log);
        stats.streamed_patched = get(&self.streamed_patched);
        stats.read_through_array_edits = get(&self.read_through_array_edits);
        stats.read_from_offsets = get(&self.read_from_offsets);
    }
}
