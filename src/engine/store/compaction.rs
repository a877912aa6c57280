//! Compaction levels: building the entries that stand for aligned runs of commits, and
//! covering a commit range with them.

use std::sync::Arc;

use super::{encode_entry, span, Pending, Piece, Store};
use crate::engine::classify::{ends_at, order_many, outermost_positions};
use crate::engine::compact::{compose, StateAfter};
use crate::engine::entry::{End, LogEntry};
use crate::engine::error::Result;
use crate::engine::index::EntryRef;
use crate::kpath::KPath;
use crate::tony::Node;

impl Store {
    /// Builds the compacted entries that commit `commit` completes. After a failure (which
    /// the store survives, e.g. out of space) it builds every missing entry first, in key
    /// order: an entry built later than the keys after it would break `compact.log`'s key
    /// order, and with it the checkpoints of seals (each open then re-indexed everything).
    pub(super) fn compact_after(&mut self, commit: u64) -> Result<()> {
        let built = if self.compaction_behind {
            self.build_missing_levels().map(|_| ())
        } else {
            self.compact_levels_of(commit)
        };
        self.compaction_behind = built.is_err();
        built
    }

    /// Builds the compacted entries that commit `commit` completes.
    fn compact_levels_of(&mut self, commit: u64) -> Result<()> {
        let mut level = 1u8;
        loop {
            let span = span(self.options.divisor, level);
            if span > commit || !commit.is_multiple_of(span) {
                return Ok(());
            }
            self.build_level(level, commit)?;
            level += 1;
        }
    }

    /// Builds every compacted entry for a completed range that is missing; returns how many.
    /// They are built in key order, lower levels first at each key, as commits build them:
    /// `compact.log` stays in key order (a seal's checkpoint relies on it). Sealed runs are
    /// complete (a run is sealed once its entry at the seal level exists, and every entry
    /// before it in `compact.log` does too), so the search starts after them.
    pub(super) fn build_missing_levels(&mut self) -> Result<u64> {
        let mut built = 0;
        let step = span(self.options.divisor, 1);
        let mut key = self.index().sealed_upto() + step;
        while key <= self.head {
            let mut level = 1u8;
            while key.is_multiple_of(span(self.options.divisor, level)) {
                if self.index().get(level, key)?.is_none() {
                    self.build_level(level, key)?;
                    built += 1;
                }
                level += 1;
            }
            key += step;
        }
        Ok(built)
    }

    /// Writes the level-`level` entry for the range ending at `key`.
    pub(super) fn build_level(&mut self, level: u8, key: u64) -> Result<()> {
        let span = span(self.options.divisor, level);
        let lo = key - span;
        let mut parts: Vec<(Arc<LogEntry>, Vec<usize>)> = Vec::new();
        let mut used: Vec<(u8, u64)> = Vec::new();
        for piece in self.cover(lo, key, level - 1)? {
            for entry in self.piece_entries(piece)? {
                let at = (piece.level, entry.pos);
                parts.push(match self.pending.get(&at) {
                    Some(pending) => (Arc::clone(&pending.entry), pending.kept.clone()),
                    None => {
                        let entry = self.load_entry(piece.level, entry.pos)?;
                        let kept = outermost_positions(&entry.ends);
                        (entry, kept)
                    }
                });
                used.push(at);
            }
        }
        let patches: Vec<&Node> = parts.iter().map(|(e, _)| &e.patch).collect();
        // The constituents' ends as the index keeps them: the composed entry needs no end
        // below an independent one either (see `outermost_positions`).
        let ends: Vec<Vec<&End>> = parts
            .iter()
            .map(|(e, kept)| ends_at(&e.ends, kept))
            .collect();
        // The head state serves only if it is in memory: building it costs the document.
        let head_state = if key == self.head {
            self.head_state_in_memory()
        } else {
            None
        };
        let mut read = |path: &KPath| self.read_at(path, key);
        let state_after = match &head_state {
            Some(state) => StateAfter::Known(state),
            None => StateAfter::Lookup(&mut read),
        };
        let (composed, mut composed_ends) = compose(&patches, &ends, state_after)?;
        order_many(&mut composed_ends);
        let entry = LogEntry {
            level,
            start: lo,
            commit: key,
            tx: 0,
            timestamp: 0,
            ends: composed_ends,
            patch: composed,
        };
        let (payload, offsets) = encode_entry(&entry, self.options.offset_index_min_bytes);
        let pos = self
            .compact
            .append(&payload)
            .map_err(|e| self.latch_if_unknown(e))?;
        if let Some(offsets) = offsets {
            self.add_offsets(level, pos, offsets);
        }
        // Not synced here even under `EveryCommit`: a compacted entry is derived from synced
        // commits, recovery rebuilds one a power cut lost, and `persist` syncs the logs before
        // the index refers to it.
        let kept = self.index_entry(level, EntryRef { key, pos }, &entry.ends);
        // Each entry is composed into exactly one entry of the level above; this one will be.
        for part in used {
            self.pending.remove(&part);
        }
        self.pending.insert((level, pos), Pending::new(entry, kept));
        Ok(())
    }

    /// Covers `(lo, hi]` with the largest compacted entries available up to `max_level`,
    /// highest level first, then level-0 entries.
    pub(super) fn cover(&self, lo: u64, hi: u64, max_level: u8) -> Result<Vec<Piece>> {
        let mut pieces = Vec::new();
        let mut cursor = lo;
        let index = self.index();
        let top = max_level.min(index.depth().saturating_sub(1));
        for level in (1..=top).rev() {
            let span = span(self.options.divisor, level);
            while cursor.is_multiple_of(span)
                && cursor + span <= hi
                && index.get(level, cursor + span)?.is_some()
            {
                pieces.push(Piece {
                    level,
                    lo: cursor,
                    hi: cursor + span,
                });
                cursor += span;
            }
        }
        if cursor < hi {
            pieces.push(Piece {
                level: 0,
                lo: cursor,
                hi,
            });
        }
        Ok(pieces)
    }

    /// The entries of a piece: one compacted entry, or the level-0 entries of its range.
    pub(super) fn piece_entries(&self, piece: Piece) -> Result<Vec<EntryRef>> {
        let index = self.index();
        if piece.level > 0 {
            return Ok(index.get(piece.level, piece.hi)?.into_iter().collect());
        }
        index.entries_in(0, piece.lo, piece.hi)
    }
}
