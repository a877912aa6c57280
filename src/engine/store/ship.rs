//! Log shipping: a store exports its committed entries as a *shipment* (the level-0 payloads,
//! checksums kept) and another store imports them under the same commit numbers.
//!
//! A shipment names its *base* — the commit before its first one — with the CRC-32C of the
//! base's payload, so the importer can tell that both histories agree up to there. Importing is
//! idempotent (commits the store already has are compared, not written again), resumable (a
//! store imports from wherever its head is), verified (every payload's checksum, decoding and
//! commit sequence are checked before anything is written) and atomic (all of a shipment's new
//! commits are written and synced, or none). The byte layout is in `docs/FORMAT.md`
//! ("Shipments").

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::recover::large_entry_offsets;
use super::{check_patch, Store};
use crate::engine::classify::{classify, in_path_order};
use crate::engine::entry::{corrupt, LogEntry};
use crate::engine::error::{Result, StoreError};
use crate::engine::index::EntryRef;
use crate::kpath::KPath;
use crate::patch::patch;
use crate::tony::Node;

/// The magic bytes a shipment starts with.
const MAGIC: &[u8; 8] = b"TNYSHIP1";
/// Bytes of a shipment's header: magic, base commit, base CRC, count, header CRC.
const HEADER: usize = 8 + 8 + 4 + 4 + 4;
/// The name errors give a shipment's bytes.
const SHIPMENT: &str = "shipment";

/// What an import did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Imported {
    /// Commits the shipment held that the store already had (and that matched).
    pub skipped: u64,
    /// Commits written.
    pub added: u64,
    /// The store's head afterwards.
    pub head: u64,
}

/// A shipment's commits, verified and decoded.
struct Shipment {
    base: u64,
    base_crc: u32,
    /// `(payload, its CRC-32C, the decoded entry)`, oldest first.
    commits: Vec<(Vec<u8>, u32, LogEntry)>,
}

impl Store {
    /// A shipment of the commits after `after`, oldest first, stopping once it holds
    /// `max_bytes` of payloads (it always holds at least one commit when there is one).
    /// `NoSuchCommit` if `after` is beyond the head.
    pub fn export(&self, after: u64, max_bytes: usize) -> Result<Vec<u8>> {
        self.check_open()?;
        self.check_commit(after)?;
        let base_crc = self.payload_crc(after)?;
        let mut body = Vec::new();
        let mut count: u32 = 0;
        let mut commit = after;
        while commit < self.head && (count == 0 || body.len() < max_bytes) && count < u32::MAX {
            commit = commit.saturating_add(1);
            let payload = self.level0.read_payload(self.level0_pos(commit)?)?;
            let len = u32::try_from(payload.len()).map_err(|_| StoreError::TooLarge {
                len: payload.len() as u64,
                max: u64::from(u32::MAX),
            })?;
            body.extend_from_slice(&len.to_be_bytes());
            body.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
            body.extend_from_slice(&payload);
            count = count.saturating_add(1);
        }
        let mut out = Vec::with_capacity(HEADER.saturating_add(body.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&after.to_be_bytes());
        out.extend_from_slice(&base_crc.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Imports a shipment made by [`export`](Self::export) of a store with the same history:
    /// its commits the store lacks are written under their numbers (with their transaction
    /// numbers and times) and synced before this returns. Nothing is written when the bytes
    /// fail a check (`Corrupt` naming the offset), when the shipment starts beyond the head
    /// (`Gap`), or when it disagrees with a commit the store has (`Diverged`).
    pub fn import(&mut self, bytes: &[u8]) -> Result<Imported> {
        self.check_writable()?;
        let shipment = decode(bytes)?;
        if shipment.base > self.head {
            return Err(StoreError::Gap {
                first: shipment.base.saturating_add(1),
                head: self.head,
            });
        }
        if self.payload_crc(shipment.base)? != shipment.base_crc {
            return Err(StoreError::Diverged {
                commit: shipment.base,
            });
        }
        let mut skipped: u64 = 0;
        let mut new = Vec::new();
        for (i, (payload, crc, entry)) in shipment.commits.into_iter().enumerate() {
            // `decode` checked that every commit's number fits.
            let commit = shipment.base.saturating_add(1).saturating_add(i as u64);
            if commit <= self.head {
                if self.payload_crc(commit)? != crc {
                    return Err(StoreError::Diverged { commit });
                }
                skipped = skipped.saturating_add(1);
            } else {
                new.push((payload, entry));
            }
        }
        let states = self.check_imported(&new)?;
        let added = new.len() as u64;
        self.append_imported(new, states)?;
        Ok(Imported {
            skipped,
            added,
            head: self.head,
        })
    }

    /// Checks the new commits of a shipment as if they were being committed here: transaction
    /// numbers increasing, nesting within bounds, each patch applying to the state before it,
    /// and its recorded ends the ones this store would record. Returns the state after each.
    fn check_imported(&mut self, new: &[(Vec<u8>, LogEntry)]) -> Result<Vec<Node>> {
        let mut tx_seq = self.tx_seq;
        let mut state = self.head_state()?;
        let mut states = Vec::with_capacity(new.len());
        for (_, entry) in new {
            let wrong =
                |reason: String| corrupt(SHIPMENT, 0, format!("commit {}: {reason}", entry.commit));
            if entry.tx <= tx_seq {
                return Err(wrong(format!(
                    "transaction {} is not after {tx_seq}",
                    entry.tx
                )));
            }
            tx_seq = entry.tx;
            check_patch(&KPath::root(), &entry.patch)?;
            let next = patch(&state, &entry.patch)?;
            // Compared in path order: this build records them so, older ones in the order
            // the classifier walked.
            let mut expected = classify(&entry.patch, Some(&state), self.options.index_limits);
            in_path_order(&mut expected);
            let mut recorded = entry.ends.clone();
            in_path_order(&mut recorded);
            if expected != recorded {
                return Err(wrong("its recorded ends are not the patch's".into()));
            }
            states.push(next.clone());
            state = next;
        }
        Ok(states)
    }

    /// Writes verified entries (the next commits, in order) to `level0.log`, syncs, and
    /// indexes them as recovery would; on a failed write the log is cut back to where it was.
    fn append_imported(
        &mut self,
        entries: Vec<(Vec<u8>, LogEntry)>,
        states: Vec<Node>,
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let start = self.level0.end();
        let mut positions = Vec::with_capacity(entries.len());
        for (payload, _) in &entries {
            match self.level0.append(payload) {
                Ok(pos) => positions.push(pos),
                Err(e) => {
                    let e = self.latch_if_unknown(e);
                    if let Err(cleanup) = self.level0.cut(start) {
                        return Err(self.latch(StoreError::PreviousIo {
                            reason: format!("{e}; cutting the import back failed too: {cleanup}"),
                        }));
                    }
                    return Err(e);
                }
            }
        }
        self.sync_level0()?;
        let (min_bytes, name) = (
            self.options.offset_index_min_bytes,
            self.level0.name().to_owned(),
        );
        for (((payload, entry), pos), state) in entries.into_iter().zip(positions).zip(states) {
            self.index_entry(
                0,
                EntryRef {
                    key: entry.commit,
                    pos,
                },
                &entry.ends,
            );
            // Canonical entries always stream; should one not, reads of it parse it whole.
            if let Ok(Some(offsets)) = large_entry_offsets(min_bytes, &name, pos, &payload) {
                self.add_offsets(0, pos, offsets);
            }
            self.tx_seq = entry.tx;
            self.head = entry.commit;
            // Compaction reads the state at the head from here.
            *self.state_mut() = Some(state);
            // Compaction can be redone later (at open); the commits are durable.
            let _ = self.compact_after(entry.commit);
        }
        // The commits are durable; saving the index can be retried (at flush or close).
        let _ = self.persist();
        Ok(())
    }

    /// The position of commit `commit`'s level-0 entry.
    fn level0_pos(&self, commit: u64) -> Result<u64> {
        self.index()
            .get(0, commit)?
            .map(|e| e.pos)
            .ok_or(StoreError::NoSuchCommit {
                commit,
                head: self.head,
            })
    }

    /// The CRC-32C of commit `commit`'s payload (0 for commit 0, the empty store).
    fn payload_crc(&self, commit: u64) -> Result<u32> {
        if commit == 0 {
            return Ok(0);
        }
        Ok(crc32c::crc32c(
            &self.level0.read_payload(self.level0_pos(commit)?)?,
        ))
    }
}

/// Reads a shipment, checking every checksum and that its entries are the consecutive commits
/// after its base; errors name the offset in the bytes.
fn decode(bytes: &[u8]) -> Result<Shipment> {
    let bad = |offset: usize, reason: String| corrupt(SHIPMENT, offset as u64, reason);
    let field = |at: usize, n: usize| -> Result<&[u8]> {
        bytes.get(at..at.saturating_add(n)).ok_or_else(|| {
            bad(
                at,
                format!("the shipment ends early ({} bytes)", bytes.len()),
            )
        })
    };
    let u32_at = |at: usize| -> Result<u32> {
        Ok(u32::from_be_bytes(
            field(at, 4)?.try_into().unwrap_or_default(),
        ))
    };
    if field(0, 8)? != MAGIC {
        return Err(bad(0, "not a tonystore shipment (bad magic)".into()));
    }
    if crc32c::crc32c(field(0, HEADER - 4)?) != u32_at(HEADER - 4)? {
        return Err(bad(0, "the header fails its checksum".into()));
    }
    let base = u64::from_be_bytes(field(8, 8)?.try_into().unwrap_or_default());
    let base_crc = u32_at(16)?;
    let count = u32_at(20)?;
    let mut commits = Vec::new();
    let mut at = HEADER;
    for i in 0..u64::from(count) {
        let len = u32_at(at)? as usize;
        let body = at.saturating_add(8);
        let crc = u32_at(at.saturating_add(4))?;
        let payload = field(body, len)?;
        if crc32c::crc32c(payload) != crc {
            return Err(bad(at, "a commit fails its checksum".into()));
        }
        let text =
            std::str::from_utf8(payload).map_err(|_| bad(body, "a commit is not UTF-8".into()))?;
        let entry = LogEntry::from_wire(text).map_err(|e| bad(body, format!("bad entry: {e}")))?;
        // Byte for byte what a commit writes: the log's readers (streaming, offset indexes)
        // rely on the canonical form.
        if entry.to_wire().as_bytes() != payload {
            return Err(bad(
                body,
                "a commit is not in the canonical entry form".into(),
            ));
        }
        let expected = base.saturating_add(i).saturating_add(1);
        if entry.level != 0 || entry.commit != expected {
            return Err(bad(
                at,
                format!(
                    "expected commit {expected}, found level {} commit {}",
                    entry.level, entry.commit
                ),
            ));
        }
        commits.push((payload.to_vec(), crc, entry));
        at = body.saturating_add(len);
    }
    if at != bytes.len() {
        return Err(bad(at, "bytes after the last commit".into()));
    }
    Ok(Shipment {
        base,
        base_crc,
        commits,
    })
}
