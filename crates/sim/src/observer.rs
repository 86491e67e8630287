//! One simulated observer (a commercial bank's node): it never votes; it follows the chain by
//! range sync from the validators, through the driver's code (`tenge_driver::sync`), as
//! `tenged` in observer mode does: every response proven by certificates before anything in it
//! runs, every block re-executed with its signatures checked, every run written in one piece.

use std::sync::{Arc, RwLock};

use tenge_consensus::Verifier;
use tenge_driver::sync::RangeBuffer;
use tenge_driver::{Followed, Mempool, Replica, VerifiedSet};
use tenge_ledger::SignatureCheck;
use tenge_storage::MemoryStore;
use tenge_types::consensus::{BlockWithParentQc, QuorumCertificate};
use tenge_types::sync::{SyncRequest, SyncResponse};
use tenge_types::{BlockId, Genesis};

use crate::node::{Opened, Verdicts, open, stored_suffix};

/// Blocks an observer asks for at once (the engine's default `sync_batch_blocks`).
pub const SYNC_BATCH_BLOCKS: u16 = 64;
/// Unproven blocks an observer keeps (L5).
const KEPT_MAX_BYTES: usize = 64 << 20;

/// What the cluster must do for an observer.
pub enum ObserverAction {
    /// Committed blocks: (head before, blocks, certificate), for the checker.
    Committed {
        previous_head: BlockId,
        blocks: Vec<BlockWithParentQc>,
        certificate: QuorumCertificate,
        /// The headers the certificate commits the last block through, if it ended its epoch.
        suffix: Vec<tenge_types::BlockHeader>,
    },
    /// The observer stopped: its execution disagrees with certified blocks.
    Halted(String),
    AuditFailed(String),
    /// A response that failed its checks (a lying or garbled validator): refused, nothing kept.
    Refused,
}

/// The parts of an observer lost in a crash.
struct Following {
    /// The node as `tenged` runs an observer (tenge_driver): ledger and store, no consensus core.
    replica: Replica<MemoryStore>,
    verifier: Verifier,
    buffer: RangeBuffer,
}

pub struct Observer {
    /// What survives a crash.
    pub store: Arc<MemoryStore>,
    following: Option<Following>,
    /// Incremented at every restart; responses to an earlier life's requests are dropped.
    pub incarnation: u64,
    /// Committed block ids by height (durability check).
    pub committed: Vec<BlockId>,
    /// When the outstanding request was sent (simulated ms), if one is.
    pub in_flight_since: Option<u64>,
}

impl Observer {
    pub fn new() -> Observer {
        Observer {
            store: Arc::new(MemoryStore::new()),
            following: None,
            incarnation: 0,
            committed: Vec::new(),
            in_flight_since: None,
        }
    }

    pub fn is_up(&self) -> bool {
        self.following.is_some()
    }

    pub fn committed_height(&self) -> u64 {
        self.committed.len() as u64 - 1
    }

    /// Starts (or restarts) from the store; a durability violation if it lost committed blocks.
    pub fn start(&mut self, genesis: &Genesis) -> Result<(), String> {
        let Opened { ledger, epoch, .. } = open(&self.store, genesis, &mut self.committed)?;
        self.incarnation += 1;
        self.in_flight_since = None;
        self.following = Some(Following {
            replica: Replica::new(
                None,
                Arc::new(RwLock::new(ledger)),
                self.store.clone(),
                Mempool::new(0),
            ),
            verifier: epoch.verifier(),
            buffer: RangeBuffer::new(KEPT_MAX_BYTES),
        });
        Ok(())
    }

    pub fn crash(&mut self) {
        self.following = None;
    }

    /// The request to send now, if the observer is up, not halted and not waiting for an answer
    /// (one that took longer than `patience_ms` is given up, as the engine gives up on a peer).
    pub fn request(&mut self, now: u64, patience_ms: u64) -> Option<Vec<u8>> {
        let following = self
            .following
            .as_ref()
            .filter(|f| f.replica.halted().is_none())?;
        if self
            .in_flight_since
            .is_some_and(|sent| now < sent + patience_ms)
        {
            return None;
        }
        self.in_flight_since = Some(now);
        let head = following.replica.ledger().head().height;
        Some(
            SyncRequest::Committed {
                after_height: following.buffer.after(head),
                max_blocks: SYNC_BATCH_BLOCKS,
            }
            .to_bytes(),
        )
    }

    /// A validator's answer, as untrusted bytes off the wire.
    pub fn on_response(&mut self, bytes: &[u8]) -> Vec<ObserverAction> {
        self.in_flight_since = None;
        let Some(following) = self
            .following
            .as_mut()
            .filter(|f| f.replica.halted().is_none())
        else {
            return Vec::new();
        };
        // Decoded with the limits the real network edge applies.
        let Ok(SyncResponse::Committed { blocks, .. }) = SyncResponse::from_bytes(bytes) else {
            return vec![ObserverAction::Refused];
        };
        let followed = following
            .replica
            .follow(
                &mut following.verifier,
                &mut following.buffer,
                blocks,
                SignatureCheck::All,
                1,
                // Following re-executes certified blocks: it reads no clock.
                &mut Verdicts {
                    verified: &mut VerifiedSet::default(),
                    now: tenge_types::TimestampMs(0),
                },
            )
            .expect("memory store commits in order");
        let (executed, parent_qcs, certificate) = match followed {
            // An epoch started by the last block: `follow` switched the verifier already.
            Followed::Committed {
                executed,
                parent_qcs,
                certificate,
                ..
            } => (executed, parent_qcs, certificate),
            Followed::Refused { .. } | Followed::TooLarge { .. } => {
                return vec![ObserverAction::Refused];
            }
            Followed::Nothing | Followed::Kept { .. } => return Vec::new(),
            // Certified blocks that do not re-execute: never follow silently.
            Followed::Halted { reason, executed } => {
                self.committed
                    .extend(executed.iter().map(|executed| executed.block.id()));
                return vec![ObserverAction::Halted(reason)];
            }
        };
        let previous_head = *self.committed.last().expect("genesis is committed");
        self.committed
            .extend(executed.iter().map(|executed| executed.block.id()));
        let mut actions = Vec::new();
        if let Err(error) = following.replica.ledger().audit() {
            actions.push(ObserverAction::AuditFailed(error));
        }
        let blocks = crate::node::with_parent_qcs(executed, parent_qcs);
        let height = blocks
            .last()
            .expect("a commit is not empty")
            .block
            .header
            .height;
        actions.push(ObserverAction::Committed {
            previous_head,
            blocks,
            certificate,
            suffix: stored_suffix(self.store.as_ref(), height),
        });
        actions
    }
}

impl Default for Observer {
    fn default() -> Observer {
        Observer::new()
    }
}
