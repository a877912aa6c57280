//! What changed when: precise history, change feeds, the commit log, diffs between commits, and
//! the patch that replaces a value.
//!
//! The index lists the commits whose patches *touch* a path (end at it, below it, or above it);
//! a touch is not a change (a patch may write the value that is already there, or end above
//! the path and leave it alone). These queries narrow the index's candidates by comparing
//! values: at the entry's ends at or below the path, or at the path itself for an end above it.

use super::Store;
use crate::engine::error::{Result, StoreError};
use crate::kpath::KPath;
use crate::patch::{diff, patch};
use crate::tony::{Key, Node};

/// One commit's change at or below a watched path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The commit.
    pub commit: u64,
    /// The paths whose values it changed, at or below the watched path (the watched path
    /// itself when the commit's patch ended above it), in path order.
    pub paths: Vec<KPath>,
}

/// A commit as the log records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// The commit number.
    pub commit: u64,
    /// Its transaction number.
    pub tx: u64,
    /// When it was made, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

impl Store {
    /// Each commit in `(after, upto]` that changed the value at `path` (or below it), oldest
    /// first, with the paths it changed there.
    pub fn changes(&self, path: &KPath, after: u64, upto: u64) -> Result<Vec<Change>> {
        self.check_open()?;
        self.check_commit(upto)?;
        let found = self.index_with_ends(0).candidates(0, path, after, upto)?;
        let mut touched: Vec<(u64, u64)> = found
            .ancestor_ends
            .iter()
            .map(|(_, end)| (end.entry.key, end.entry.pos))
            .chain(found.touches.iter().map(|e| (e.key, e.pos)))
            .collect();
        crate::sort::sort(&mut touched);
        touched.dedup();
        let mut changes = Vec::new();
        for (commit, pos) in touched {
            let paths = self.changed_paths(path, commit, pos)?;
            if !paths.is_empty() {
                changes.push(Change { commit, paths });
            }
        }
        Ok(changes)
    }

    /// The paths at or below `path` whose values commit `commit` (its entry at `pos`) changed.
    ///
    /// A merge down to an end may create the containers on the way: when no end changed but
    /// the path's value did, the path itself is reported.
    ///
    /// An entry's ends may nest (an object whose every member was rewritten ends at the object
    /// and at each member): only the innermost ends are compared, so the paths are the most
    /// precise the entry records.
    fn changed_paths(&self, path: &KPath, commit: u64, pos: u64) -> Result<Vec<KPath>> {
        let entry = self.load_entry(0, pos)?;
        let mut ends: Vec<&KPath> = entry.ends.iter().map(|e| &e.path).collect();
        crate::sort::sort(&mut ends);
        ends.dedup();
        // Sorted, a path's descendants follow it at once.
        let innermost = ends
            .iter()
            .enumerate()
            .filter(|(i, end)| ends.get(i + 1).is_none_or(|next| !end.is_prefix_of(next)))
            .map(|(_, end)| *end);
        let mut watched = Vec::new();
        for end in innermost {
            if end.len() < path.len() && end.is_prefix_of(path) {
                // An end above the path: only the path's own value can tell.
                watched = vec![path];
                break;
            }
            if path.is_prefix_of(end) {
                watched.push(end);
            }
        }
        let mut changed = Vec::new();
        for at in &watched {
            if self.value_at(at, commit - 1)? != self.value_at(at, commit)? {
                changed.push((*at).clone());
            }
        }
        // Merging down to an end creates the containers on the way (or turns a scalar there
        // into one): with no end changed, the path's own value still may have.
        if changed.is_empty()
            && watched.first().is_some_and(|first| first != &path)
            && self.value_at(path, commit - 1)? != self.value_at(path, commit)?
        {
            changed.push(path.clone());
        }
        Ok(changed)
    }

    /// The value at `path` as of `commit`, where a path the document's shape cannot hold (a
    /// field of an array) has no value.
    fn value_at(&self, path: &KPath, commit: u64) -> Result<Option<Node>> {
        match self.read_at(path, commit) {
            Err(StoreError::Get(_)) => Ok(None),
            other => other,
        }
    }

    /// Exactly the commits at which the value at `path` changed, oldest first.
    pub fn history(&self, path: &KPath) -> Result<Vec<u64>> {
        let head = self.head;
        self.history_in(path, 0, head)
    }

    /// The commits that changed `path` (as [`history`](Self::history)) at or before `commit`,
    /// newest first ([`Direction::Down`](super::Direction::Down)), or at or after it, oldest
    /// first ([`Direction::Up`](super::Direction::Up)).
    pub fn commits_at(
        &mut self,
        path: &KPath,
        commit: u64,
        direction: super::Direction,
    ) -> Result<Vec<u64>> {
        self.check_commit(commit)?;
        let head = self.head;
        Ok(match direction {
            super::Direction::Down => {
                let mut commits = self.history_in(path, 0, commit)?;
                commits.reverse();
                commits
            }
            super::Direction::Up => self.history_in(path, commit.saturating_sub(1), head)?,
        })
    }

    /// The commits in `(after, upto]` that changed `path`, oldest first.
    fn history_in(&self, path: &KPath, after: u64, upto: u64) -> Result<Vec<u64>> {
        Ok(self
            .changes(path, after, upto)?
            .into_iter()
            .map(|c| c.commit)
            .collect())
    }

    /// The commits from `from` to `to` (inclusive), oldest first — only those that changed
    /// `path` when one is given — with their transactions and times.
    pub fn log(&self, path: Option<&KPath>, from: u64, to: u64) -> Result<Vec<CommitInfo>> {
        self.check_open()?;
        self.check_commit(to)?;
        let after = from.saturating_sub(1);
        let commits = match path {
            Some(path) => self.history_in(path, after, to)?,
            None => (after + 1..=to).collect(),
        };
        commits
            .into_iter()
            .map(|commit| {
                let entry = self.entry(commit)?;
                Ok(CommitInfo {
                    commit,
                    tx: entry.tx,
                    timestamp: entry.timestamp,
                })
            })
            .collect()
    }

    /// A patch turning the value at `path` as of `from` into its value as of `to` (absent
    /// reads as `null`), or `None` when they are equal. Key order is not part of a diff (see
    /// [`diff`](crate::patch::diff)).
    pub fn diff(&self, path: &KPath, from: u64, to: u64) -> Result<Option<Node>> {
        let before = self.value_at(path, from)?.unwrap_or_else(Node::null);
        let after = self.value_at(path, to)?.unwrap_or_else(Node::null);
        Ok(diff(&before, &after))
    }

    /// The patch that, committed at `path`, makes the value there exactly `value` (key order
    /// included) instead of merging `value` into it: the diff from the current value when
    /// applying it gives exactly `value`, else a checked `!replace` of the whole value.
    pub fn replacement(&self, path: &KPath, value: &Node) -> Result<Node> {
        let current = match self.read(path) {
            // A path the document's shape cannot hold has no value: a commit there replaces
            // the container in the way.
            Err(StoreError::Get(_)) => None,
            other => other?,
        }
        .unwrap_or_else(Node::null);
        let candidate = diff(&current, value).unwrap_or_else(|| Node::object(Vec::new()));
        if patch(&current, &candidate).is_ok_and(|result| result == *value) {
            return Ok(candidate);
        }
        Ok(Node::object(vec![
            (Key::str("from"), current),
            (Key::str("to"), value.clone()),
        ])
        .with_tag("!replace"))
    }

    /// The merged root patch of `patches` (each applied at its path), as a commit of them
    /// would write — for [`read_pending`](Self::read_pending). `Merge` when they do not merge.
    pub fn pending_commit(&self, patches: Vec<(KPath, Node)>) -> Result<Node> {
        let mut buffer = crate::engine::TransactionBuffer::new();
        for (path, patch) in patches {
            super::check_patch(&path, &patch)?;
            buffer.add(path, patch);
        }
        buffer
            .merge()?
            .ok_or_else(|| StoreError::Merge("a commit needs at least one patch".into()))
    }

    /// The value at `path` at the head as if `pending` (root patches from
    /// [`pending_commit`](Self::pending_commit)) were committed after it, in order: what a
    /// replica shows while commits wait to reach its primary. A pending commit that no longer
    /// applies is skipped (the primary will refuse it too). Returns the value and how many
    /// pending commits applied.
    pub fn read_pending(&self, path: &KPath, pending: &[Node]) -> Result<(Option<Node>, usize)> {
        self.check_open()?;
        let mut state = self.head_state()?;
        let mut applied = 0;
        for root in pending {
            if let Ok(next) = patch(&state, root) {
                state = next;
                applied += 1;
            }
        }
        Ok((crate::kpath::get(&state, path)?.cloned(), applied))
    }

    /// `NoSuchCommit` unless `commit` is at most the head.
    pub(super) fn check_commit(&self, commit: u64) -> Result<()> {
        if commit > self.head {
            return Err(StoreError::NoSuchCommit {
                commit,
                head: self.head,
            });
        }
        Ok(())
    }
}
