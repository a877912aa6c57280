//! Compaction levels: building the entries that stand for aligned runs of commits (composed,
//! or hollow where composing would only copy the run's entries), and covering a commit range
//! with them.

use std::sync::Arc;

use super::{encode_entry, span, Pending, Piece, Store};
use crate::engine::classify::{ends_at, order_many, outermost_positions};
use crate::engine::compact::{compose, StateAfter};
use crate::engine::entry::{End, LogEntry};
use crate::engine::error::Result;
use crate::engine::index::EntryRef;
use crate::kpath::KPath;
use crate::tony::Node;

/// The most payload bytes a hollow entry's run may hold: its constituents stay in memory until
/// an entry above composes them (at most a divisor's worth of such runs).
const HOLLOW_MAX_BYTES: u64 = 256 << 10;
/// The `compact.log` format from which hollow entries may be written.
const HOLLOW_LOG_VERSION: u32 = 2;

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

    /// Writes the level-`level` entry for the range ending at `key`: the composition of the
    /// entries covering the range, or a hollow entry where composing would only copy them.
    pub(super) fn build_level(&mut self, level: u8, key: u64) -> Result<()> {
        let span = span(self.options.divisor, level);
        let lo = key - span;
        // Each constituent with the positions of its kept ends (`None`: all of them, as
        // pending entries keep only those) and its payload's length.
        let mut parts: Vec<(Arc<LogEntry>, Option<Vec<usize>>, u64)> = Vec::new();
        let mut used: Vec<(u8, u64)> = Vec::new();
        for piece in self.cover(lo, key, level - 1)? {
            for entry in self.piece_entries(piece)? {
                let at = (piece.level, entry.pos);
                parts.push(match self.pending.get(&at) {
                    Some(pending) => (Arc::clone(&pending.entry), None, pending.bytes),
                    None => {
                        let loaded = self.load_entry(piece.level, entry.pos)?;
                        let kept = outermost_positions(&loaded.ends);
                        let (_, bytes) = self.log_of(piece.level).frame_extent(entry.pos)?;
                        (loaded, Some(kept), bytes)
                    }
                });
                used.push(at);
            }
        }
        // The constituents' ends as the index keeps them: the composed entry needs no end
        // below an independent one either (see `outermost_positions`).
        let ends: Vec<Vec<&End>> = parts
            .iter()
            .map(|(e, kept, _)| match kept {
                Some(kept) => ends_at(&e.ends, kept),
                None => e.ends.iter().collect(),
            })
            .collect();
        let bytes = parts
            .iter()
            .map(|(_, _, b)| *b)
            .fold(0u64, u64::saturating_add);
        if self.may_leave_hollow(level) && bytes <= HOLLOW_MAX_BYTES && only_copies(&ends) {
            return self.write_hollow(level, lo, key);
        }
        let patches: Vec<&Node> = parts.iter().map(|(e, _, _)| &e.patch).collect();
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
        let entry = compacted(level, lo, key, composed_ends, composed);
        let (pos, bytes) = self.append_compacted(&entry)?;
        let kept = self.index_entry(level, EntryRef { key, pos }, &entry.ends);
        // Each entry is composed into exactly one entry of the level above; this one will be.
        for part in used {
            self.pending.remove(&part);
        }
        self.pending
            .insert((level, pos), Pending::new(entry, &kept, bytes));
        Ok(())
    }

    /// Whether a level-`level` entry may be hollow: below the seal level (whose entries
    /// summarise sealed runs), in a `compact.log` whose format has hollow entries.
    fn may_leave_hollow(&self, level: u8) -> bool {
        level < self.index().seal().level && self.compact.version() >= HOLLOW_LOG_VERSION
    }

    /// Writes and indexes a hollow level-`level` entry for `(lo, key]`: no ends, an empty
    /// patch. Its constituents stay pending: the first entry above that composes is built of
    /// them.
    fn write_hollow(&mut self, level: u8, lo: u64, key: u64) -> Result<()> {
        let entry = compacted(level, lo, key, Vec::new(), Node::object(Vec::new()));
        let (pos, _) = self.append_compacted(&entry)?;
        self.index_entry(level, EntryRef { key, pos }, &entry.ends);
        Ok(())
    }

    /// Appends a compacted entry to `compact.log`; returns its position and payload length.
    fn append_compacted(&mut self, entry: &LogEntry) -> Result<(u64, u64)> {
        let (payload, offsets) = encode_entry(entry, self.options.offset_index_min_bytes);
        let pos = self
            .compact
            .append(&payload)
            .map_err(|e| self.latch_if_unknown(e))?;
        if let Some(offsets) = offsets {
            self.add_offsets(entry.level, pos, offsets);
        }
        // Not synced here even under `EveryCommit`: a compacted entry is derived from synced
        // commits, recovery rebuilds one a power cut lost, and `persist` syncs the logs before
        // the index refers to it.
        Ok((pos, payload.len() as u64))
    }

    /// Covers `(lo, hi]` with the largest compacted entries available up to `max_level`,
    /// highest level first, then level-0 entries. A hollow entry's run is covered by the
    /// levels below it; adjacent level-0 ranges are one piece.
    pub(super) fn cover(&self, lo: u64, hi: u64, max_level: u8) -> Result<Vec<Piece>> {
        let mut pieces = Vec::new();
        let top = max_level.min(self.index().depth().saturating_sub(1));
        self.cover_into(lo, hi, top, &mut pieces)?;
        Ok(pieces)
    }

    fn cover_into(&self, lo: u64, hi: u64, top: u8, pieces: &mut Vec<Piece>) -> Result<()> {
        let mut cursor = lo;
        for level in (1..=top).rev() {
            let span = span(self.options.divisor, level);
            while cursor.is_multiple_of(span) && cursor + span <= hi {
                let key = cursor + span;
                // Each lookup takes the index's read guard for itself: none is held across
                // the recursion (a nested read guard can deadlock behind a waiting writer).
                if self.index().is_hollow(level, key)? {
                    self.cover_into(cursor, key, level - 1, pieces)?;
                } else if self.index().get(level, key)?.is_some() {
                    pieces.push(Piece {
                        level,
                        lo: cursor,
                        hi: key,
                    });
                } else {
                    break;
                }
                cursor = key;
            }
        }
        if cursor < hi {
            match pieces.last_mut() {
                Some(last) if last.level == 0 && last.hi == cursor => last.hi = hi,
                _ => pieces.push(Piece {
                    level: 0,
                    lo: cursor,
                    hi,
                }),
            }
        }
        Ok(())
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

/// The level-`level` entry for `(lo, key]` with these ends and patch.
fn compacted(level: u8, lo: u64, key: u64, ends: Vec<End>, patch: Node) -> LogEntry {
    LogEntry {
        level,
        start: lo,
        commit: key,
        tx: 0,
        timestamp: 0,
        ends,
        patch,
    }
}

/// Whether composing entries with these (kept) ends would only copy them: every end is
/// independent, and no two are at the same path or one below the other. Each then writes a
/// value of its own that no other touches, and the composed entry would hold every one of them,
/// as large as they are together: reading them where they are costs the same bytes.
fn only_copies(ends: &[Vec<&End>]) -> bool {
    let mut paths: Vec<&KPath> = Vec::with_capacity(ends.iter().map(Vec::len).sum());
    for end in ends.iter().flatten() {
        if !end.independent {
            return false;
        }
        paths.push(&end.path);
    }
    crate::sort::sort(&mut paths);
    // Sorted, a path's descendants follow it at once.
    paths.windows(2).all(|pair| match pair {
        [a, b] => !a.is_prefix_of(b),
        _ => true,
    })
}
