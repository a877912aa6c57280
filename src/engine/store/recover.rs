//! Opening a store: loading the persisted index and indexing what the logs hold beyond it.

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::{expect_commit, span, Pending, Progress, Store};
use crate::engine::classify::outermost_positions;
use crate::engine::entry::{corrupt, End, LogEntry};
use crate::engine::error::Result;
use crate::engine::index::EntryRef;
use crate::engine::offsets::{scan_offsets, OffsetIndex};
use crate::engine::persist::{Checkpoint, Loaded};

impl Store {
    pub(super) fn recover(&mut self, loaded: Loaded) -> Result<()> {
        // An index log that reaches further than a log now does has lost acknowledged commits
        // (the records are written only after both logs are synced). Say so rather than serve
        // less.
        let recorded = loaded.checkpoint;
        for (log, end) in [
            (&self.level0, recorded.level0_end),
            (&self.compact, recorded.compact_end),
        ] {
            if log.end() < end {
                return Err(corrupt(
                    log.name(),
                    log.end(),
                    format!(
                        "the file ends early: the index (commit {}) records {end} bytes of \
                         synced entries (delete index.log to keep what remains)",
                        recorded.max_commit
                    ),
                ));
            }
        }
        // An index that does not end where the logs' indexed parts do (a log restored beside a
        // stale index, a bug in an older writer) is dropped: the logs are indexed from scratch.
        let loaded = if self.index_matches_logs(&loaded)? {
            loaded
        } else {
            self.index_log.clear()?;
            self.index_log.empty()
        };
        let Loaded {
            checkpoint,
            index,
            offsets,
            last_pos: _,
        } = loaded;
        self.saved = checkpoint;
        let full = checkpoint == Checkpoint::default();
        *self.index_mut() = index;
        self.tx_seq = checkpoint.tx_seq;
        self.head = self.index_mut().head();
        let level0_new = self.level0.end().saturating_sub(checkpoint.level0_end);
        let total =
            level0_new.saturating_add(self.compact.end().saturating_sub(checkpoint.compact_end));
        self.offsets = super::offset_indexes::OffsetIndexes::stored(
            offsets,
            self.options.offset_index_cache_bytes,
        );
        let scanned_level0 = self.scan_level0(checkpoint.level0_end, total)?;
        let scanned_compact = self.scan_compact(checkpoint.compact_end, total)?;
        // The scan kept the head's range pending; once its level entry exists, nothing will
        // compose it.
        let head = self.head;
        let composed = self.index().get(1, head)?.is_some();
        if self.head.is_multiple_of(span(self.options.divisor, 1)) && composed {
            self.pending.clear();
        }
        self.recovery = match (
            full && self.head > 0,
            scanned_level0 > 0 || scanned_compact > 0,
        ) {
            (true, _) => "full",
            (false, true) => "incremental",
            (false, false) => "none",
        };
        if self.options.read_only {
            return Ok(());
        }
        // What the logs hold now is durable before anything new refers to it (a frame's
        // synced end must never claim bytes a power cut could still lose).
        self.sync_level0()?;
        self.sync_compact()?;
        let built = self.build_missing_levels()?;
        if scanned_level0 > 0 || scanned_compact > 0 || built > 0 {
            self.persist()?;
        }
        Ok(())
    }

    /// Whether the last frame the index lists in each log ends exactly where its checkpoint
    /// says the log was synced to.
    fn index_matches_logs(&self, slot: &Loaded) -> Result<bool> {
        let recorded = &slot.checkpoint;
        let [level0_last, compact_last] = slot.last_pos;
        for (log, last, end) in [
            (&self.level0, level0_last, recorded.level0_end),
            (&self.compact, compact_last, recorded.compact_end),
        ] {
            let ends_there = match last {
                Some(pos) => log.frame_end(pos)? == Some(end),
                None => end <= log.start(),
            };
            if !ends_there {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) fn progress(&mut self, done: u64, total: u64) {
        if let Some(report) = self.options.on_progress.as_mut() {
            report(Progress {
                phase: "index",
                done,
                total,
            });
        }
    }

    /// Indexes level-0 entries from `from`; returns how many.
    ///
    /// The entries of the range the head lies in are kept whole, pending for compaction with
    /// their patches cached (a writable store only): compaction composes them next — at once
    /// if a power cut lost their level entry, with the head state read from them — so their
    /// bytes are not read again.
    pub(super) fn scan_level0(&mut self, from: u64, total: u64) -> Result<u64> {
        let mut count: u64 = 0;
        let mut expected = self.head.saturating_add(1);
        let mut added: Vec<(EntryRef, Vec<End>, u64, Option<OffsetIndex>)> = Vec::new();
        let mut last_range: Vec<(u64, LogEntry, Option<OffsetIndex>)> = Vec::new();
        let name = self.level0.name().to_owned();
        let (min_bytes, divisor) = (self.options.offset_index_min_bytes, self.options.divisor);
        let keep = !self.options.read_only;
        let indexed = |(pos, entry, offsets): (u64, LogEntry, Option<OffsetIndex>)| {
            let key = entry.commit;
            (EntryRef { key, pos }, entry.ends, entry.tx, offsets)
        };
        self.level0.scan(from, from, |pos, entry, payload| {
            expect_commit(&name, pos, &entry, expected)?;
            expected = expected.saturating_add(1);
            if entry.commit.saturating_sub(1).is_multiple_of(divisor) {
                added.extend(last_range.drain(..).map(indexed));
            }
            let offsets = large_entry_offsets(min_bytes, &name, pos, payload)?;
            last_range.push((pos, entry, offsets));
            Ok(())
        })?;
        if !keep {
            added.extend(last_range.drain(..).map(indexed));
        }
        let mut kept = Vec::with_capacity(last_range.len());
        for (pos, entry, offsets) in last_range {
            let ends = entry.ends.clone();
            added.push((
                EntryRef {
                    key: entry.commit,
                    pos,
                },
                ends,
                entry.tx,
                offsets,
            ));
            kept.push((pos, entry));
        }
        for (entry, ends, tx, offsets) in added {
            self.index_entry(0, entry, &ends);
            if let Some(offsets) = offsets {
                self.add_offsets(0, entry.pos, offsets);
            }
            self.tx_seq = self.tx_seq.max(tx);
            self.head = entry.key;
            count = count.saturating_add(1);
            if count.is_multiple_of(1024) {
                self.progress(entry.pos.saturating_sub(from), total);
            }
        }
        for (pos, entry) in kept {
            let positions = outermost_positions(&entry.ends);
            let (_, bytes) = self.level0.frame_extent(pos)?;
            self.pending
                .insert((0, pos), Pending::new(entry, &positions, bytes));
        }
        self.progress(self.level0.end().saturating_sub(from), total);
        Ok(count)
    }

    /// Indexes compacted entries from `from`; entries beyond the head (left by a lost level-0
    /// tail) are cut off. Returns how many were indexed.
    pub(super) fn scan_compact(&mut self, from: u64, total: u64) -> Result<u64> {
        let mut added: Vec<(u8, EntryRef, Vec<End>, Option<OffsetIndex>)> = Vec::new();
        let mut cut: Option<u64> = None;
        let (head, divisor) = (self.head, self.options.divisor);
        let min_bytes = self.options.offset_index_min_bytes;
        let name = self.compact.name().to_owned();
        self.compact.scan(from, from, |pos, entry, payload| {
            let span = span(divisor, entry.level);
            if entry.level == 0
                || !entry.commit.is_multiple_of(span)
                || entry.start.checked_add(span) != Some(entry.commit)
            {
                return Err(corrupt(
                    &name,
                    pos,
                    format!(
                        "misaligned level {} entry ({}, {}]",
                        entry.level, entry.start, entry.commit
                    ),
                ));
            }
            if entry.commit > head || cut.is_some() {
                cut.get_or_insert(pos);
            } else {
                added.push((
                    entry.level,
                    EntryRef {
                        key: entry.commit,
                        pos,
                    },
                    entry.ends,
                    large_entry_offsets(min_bytes, &name, pos, payload)?,
                ));
            }
            Ok(())
        })?;
        if let Some(at) = cut {
            self.compact.cut(at)?;
        }
        let count = added.len() as u64;
        for (level, entry, ends, offsets) in added {
            self.index_entry(level, entry, &ends);
            if let Some(offsets) = offsets {
                self.add_offsets(level, entry.pos, offsets);
            }
        }
        // Done: `total` counted the bytes the logs' files held, free space after the last
        // frame and any torn tail included, which the scans found were not frames.
        self.progress(total, total);
        Ok(count)
    }
}

/// The offset index of the entry at `pos` in the log named `log`, built from its `payload`
/// (already checked against its frame checksum), if the entry has at least `min_bytes`;
/// `None` for a smaller one. Text that does not stream is corruption.
pub(super) fn large_entry_offsets(
    min_bytes: usize,
    log: &str,
    pos: u64,
    payload: &[u8],
) -> Result<Option<OffsetIndex>> {
    if payload.len() < min_bytes {
        return Ok(None);
    }
    scan_offsets(payload)
        .map(Some)
        .map_err(|err| corrupt(log, pos, format!("entry text does not stream: {err}")))
}
