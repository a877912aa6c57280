//! Multi-participant transactions: `n` participants each add a patch; the last one to join
//! commits them all as one commit, and every participant sees the same outcome.

use std::collections::HashMap;

use super::clock::now_ms;
use super::error::{Result, StoreError};
use super::store::Store;
use super::txbuf::TransactionBuffer;
use crate::kpath::KPath;
use crate::tony::Node;

/// Where a transaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxStatus {
    /// Waiting for more participants.
    Waiting {
        /// Participants that have joined.
        joined: usize,
        /// Participants expected.
        of: usize,
    },
    /// Committed as this commit.
    Committed(u64),
    /// Failed; nothing was written.
    Aborted(String),
}

struct Pending {
    deadline_ms: u64,
    buffer: TransactionBuffer,
    preconditions: Vec<(KPath, Node)>,
    status: TxStatus,
}

/// The open multi-participant transactions of a store.
#[derive(Default)]
pub struct Transactions {
    pending: HashMap<u64, Pending>,
    next_id: u64,
}

impl Transactions {
    /// Starts a transaction of `participants` that aborts unless all join within `timeout_ms`.
    pub fn begin(&mut self, participants: usize, timeout_ms: u64) -> u64 {
        self.next_id += 1;
        let status = TxStatus::Waiting {
            joined: 0,
            of: participants,
        };
        let pending = Pending {
            deadline_ms: now_ms().saturating_add(timeout_ms),
            buffer: TransactionBuffer::new(),
            preconditions: Vec::new(),
            status,
        };
        self.pending.insert(self.next_id, pending);
        self.next_id
    }

    fn get(&mut self, id: u64) -> Result<&mut Pending> {
        let pending = self.pending.get_mut(&id).ok_or(StoreError::Transaction {
            tx: id,
            reason: "unknown transaction".into(),
        })?;
        if matches!(pending.status, TxStatus::Waiting { .. }) && now_ms() > pending.deadline_ms {
            pending.status = TxStatus::Aborted("timed out waiting for participants".into());
        }
        Ok(pending)
    }

    /// Where transaction `id` stands.
    pub fn status(&mut self, id: u64) -> Result<TxStatus> {
        Ok(self.get(id)?.status.clone())
    }

    /// Adds a participant's patch (and optional precondition). When the last participant joins,
    /// the transaction commits on `store`; every participant then sees the same status.
    pub fn join(
        &mut self,
        store: &mut Store,
        id: u64,
        path: KPath,
        patch: Node,
        precondition: Option<(KPath, Node)>,
    ) -> Result<TxStatus> {
        let pending = self.get(id)?;
        let TxStatus::Waiting { joined, of } = pending.status else {
            return Ok(pending.status.clone());
        };
        pending.buffer.add(path, patch);
        pending.preconditions.extend(precondition);
        if joined + 1 < of {
            pending.status = TxStatus::Waiting {
                joined: joined + 1,
                of,
            };
            return Ok(pending.status.clone());
        }
        let patches = pending.buffer.patches().to_vec();
        let preconditions = std::mem::take(&mut pending.preconditions);
        pending.status = match store.commit_with(patches, preconditions) {
            Ok(commit) => TxStatus::Committed(commit),
            Err(e) => TxStatus::Aborted(e.to_string()),
        };
        Ok(pending.status.clone())
    }
}
