//! Block sync between nodes: committed blocks with the certificates that prove them.

use serde::{Deserialize, Serialize};

use crate::block::Block;
use crate::codec::{DecodeError, decode, encode};
use crate::consensus::StoredCertificates;
use crate::ids::Height;

/// Largest sync request.
pub const MAX_SYNC_REQUEST_BYTES: usize = 1024;
/// A sync response stops adding blocks past this many bytes (one block may exceed it).
pub const SYNC_RESPONSE_SOFT_LIMIT_BYTES: usize = 32 * 1024 * 1024;
/// Largest sync response accepted.
pub const MAX_SYNC_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// A committed block as served by sync: the block, the QC on its parent, and for the last block
/// of a commit the QC that committed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedBlock {
    pub block: Block,
    pub certificates: StoredCertificates,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// Committed blocks after `after_height`, at most `max_blocks` (the server may add a few to
    /// reach a block whose commit certificate it holds, so the range is provable).
    Committed {
        after_height: Height,
        max_blocks: u16,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    /// In height order; empty if the server has nothing newer. `head` is the server's height.
    Committed {
        blocks: Vec<CommittedBlock>,
        head: Height,
    },
}

impl SyncRequest {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SyncRequest, DecodeError> {
        decode("sync request", bytes, MAX_SYNC_REQUEST_BYTES)
    }
}

impl SyncResponse {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SyncResponse, DecodeError> {
        let response: SyncResponse = decode("sync response", bytes, MAX_SYNC_RESPONSE_BYTES)?;
        let SyncResponse::Committed { blocks, .. } = &response;
        for item in blocks {
            item.block
                .check_structure()
                .map_err(|reason| DecodeError::Malformed {
                    what: "sync response",
                    reason,
                })?;
        }
        Ok(response)
    }
}
