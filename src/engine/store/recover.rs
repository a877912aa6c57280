//! Opening a store: loading the persisted index and indexing what the logs hold beyond it.

use std::sync::Arc;

use super::{span, Progress, Store};
use crate::engine::entry::{corrupt, End};
use crate::engine::error::Result;
use crate::engine::index::EntryRef;
use crate::engine::offsets::{scan_offsets, OffsetIndex, RangeReader};
use crate::engine::persist;
use crate::engine::persist::Checkpoint;

impl Store {
    pub(super) fn recover(&mut self) -> Result<()> {
        let mut best: Option<persist::Loaded> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some(loaded) = persist::load(&**slot)? {
                self.slot_commits[i] = Some(loaded.checkpoint.max_commit);
                if best
                    .as_ref()
                    .is_none_or(|b| loaded.checkpoint.max_commit > b.checkpoint.max_commit)
                {
                    best = Some(loaded);
                }
            }
        }
        if let Some(best) = &best {
            // A slot is written only after both logs are synced: a log shorter than the newest
            // slot records has lost acknowledged commits. Say so rather than serve less.
            let recorded = &best.checkpoint;
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
                             synced entries (delete index.a and index.b to keep what remains)",
                            recorded.max_commit
                        ),
                    ));
                }
            }
        }
        let persist::Loaded {
            checkpoint,
            index,
            offsets,
        } = best.unwrap_or_default();
        let full = checkpoint == Checkpoint::default();
        self.index = index;
        self.tx_seq = checkpoint.tx_seq;
        self.head = self.index.head();
        let total = (self.level0.end() - checkpoint.level0_end)
            + (self.compact.end() - checkpoint.compact_end);
        self.offsets = offsets;
        let scanned_level0 = self.scan_level0(checkpoint.level0_end, total)?;
        let scanned_compact = self.scan_compact(
            checkpoint.compact_end,
            total,
            self.level0.end() - checkpoint.level0_end,
        )?;
        self.index_large_entries(checkpoint)?;
        self.stats.recovery = match (full && self.head > 0, scanned_level0 + scanned_compact > 0) {
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
        if scanned_level0 + scanned_compact + built > 0 {
            self.persist()?;
        }
        Ok(())
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

    /// Builds the offset indexes of large entries the scans found beyond the checkpoint.
    pub(super) fn index_large_entries(&mut self, checkpoint: Checkpoint) -> Result<()> {
        for level in 0..self.index.depth() {
            let (log, from) = if level == 0 {
                (&self.level0, checkpoint.level0_end)
            } else {
                (&self.compact, checkpoint.compact_end)
            };
            let Some(entries) = self.index.level(level) else {
                continue;
            };
            for e in entries.entries().iter().filter(|e| e.pos >= from) {
                let (payload, len) = log.frame_extent(e.pos)?;
                if len >= self.options.offset_index_min_bytes as u64 {
                    let chunk_crcs = log.chunk_crcs(e.pos)?;
                    let reader = RangeReader::verified(
                        log.shared_file(),
                        payload,
                        len,
                        0,
                        chunk_crcs.clone(),
                    );
                    let offsets = scan_offsets(reader, len).map_err(|err| {
                        corrupt(
                            log.name(),
                            e.pos,
                            format!("entry text does not stream: {err}"),
                        )
                    })?;
                    self.offsets.insert(
                        (level, e.pos),
                        Arc::new(OffsetIndex {
                            chunk_crcs,
                            ..offsets
                        }),
                    );
                }
            }
        }
        Ok(())
    }

    /// Indexes level-0 entries from `from`; returns how many.
    pub(super) fn scan_level0(&mut self, from: u64, total: u64) -> Result<u64> {
        let mut count = 0;
        let mut expected = self.head + 1;
        let mut added: Vec<(EntryRef, Vec<End>, u64)> = Vec::new();
        let name = self.level0.name().to_owned();
        self.level0.scan(from, from, |pos, entry| {
            if entry.level != 0 || entry.commit != expected {
                return Err(corrupt(
                    &name,
                    pos,
                    format!(
                        "expected commit {expected}, found level {} commit {}",
                        entry.level, entry.commit
                    ),
                ));
            }
            expected += 1;
            added.push((
                EntryRef {
                    key: entry.commit,
                    pos,
                },
                entry.ends,
                entry.tx,
            ));
            Ok(())
        })?;
        for (entry, ends, tx) in added {
            self.index.level_mut(0).add(entry, &ends);
            self.tx_seq = self.tx_seq.max(tx);
            self.head = entry.key;
            count += 1;
            if count % 1024 == 0 {
                self.progress(entry.pos - from, total);
            }
        }
        self.progress(self.level0.end() - from, total);
        Ok(count)
    }

    /// Indexes compacted entries from `from`; entries beyond the head (left by a lost level-0
    /// tail) are cut off. Returns how many were indexed.
    pub(super) fn scan_compact(&mut self, from: u64, total: u64, done_before: u64) -> Result<u64> {
        let mut added: Vec<(u8, EntryRef, Vec<End>)> = Vec::new();
        let mut cut: Option<u64> = None;
        let (head, divisor) = (self.head, self.options.divisor);
        let name = self.compact.name().to_owned();
        self.compact.scan(from, from, |pos, entry| {
            let span = span(divisor, entry.level);
            if entry.level == 0
                || !entry.commit.is_multiple_of(span)
                || entry.start + span != entry.commit
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
                ));
            }
            Ok(())
        })?;
        if let Some(at) = cut {
            self.compact.cut(at)?;
        }
        let count = added.len() as u64;
        for (level, entry, ends) in added {
            self.index.level_mut(level).add(entry, &ends);
        }
        self.progress(done_before + (self.compact.end() - from), total);
        Ok(count)
    }
}
