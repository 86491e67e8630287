//! Range sync: serving committed blocks with their certificates, and checking a response
//! before anything in it is executed.

use tenge_consensus::Verifier;
use tenge_storage::{RocksStore, Store, StoreError};
use tenge_types::consensus::{QuorumCertificate, StoredCertificates};
use tenge_types::sync::{CommittedBlock, SYNC_RESPONSE_SOFT_LIMIT_BYTES};
use tenge_types::{BlockId, Height, encode};

/// Extra blocks a server adds past the requested count to reach one with a commit certificate.
const EXTEND_TO_CERTIFICATE: u64 = 256;

/// Committed blocks after `after` (at most `max_blocks`, extended to the next block whose commit
/// certificate is stored, so that the range ends on a proven block).
pub fn serve(
    store: &RocksStore,
    after: Height,
    max_blocks: u16,
) -> Result<Vec<CommittedBlock>, StoreError> {
    let Some(head) = store.head()? else {
        return Ok(Vec::new());
    };
    let head = head.block.header.height.0;
    let mut blocks = Vec::new();
    let mut bytes = 0usize;
    let mut height = after.0.saturating_add(1);
    while height <= head {
        let Some(block) = store.block(Height(height))? else {
            break;
        };
        let certificate_bytes = store.certificate(Height(height))?.unwrap_or_default();
        let certificates = StoredCertificates::from_bytes(&certificate_bytes)
            .map_err(|e| StoreError::Corrupt(format!("certificates of block {height}: {e}")))?;
        let proven = certificates.commit_qc.is_some();
        bytes += encode(&block).len();
        blocks.push(CommittedBlock {
            block,
            certificates,
        });
        let counted = blocks.len() as u64;
        let enough = counted >= u64::from(max_blocks) || bytes >= SYNC_RESPONSE_SOFT_LIMIT_BYTES;
        if enough && proven {
            break;
        }
        if counted >= u64::from(max_blocks) + EXTEND_TO_CERTIFICATE {
            // No certificate in reach: serve up to the last proven block only.
            while blocks
                .last()
                .is_some_and(|b| b.certificates.commit_qc.is_none())
            {
                blocks.pop();
            }
            break;
        }
        height += 1;
    }
    // Never end on an unproven block (the head's own commit certificate is always stored).
    while blocks
        .last()
        .is_some_and(|b| b.certificates.commit_qc.is_none())
    {
        blocks.pop();
    }
    Ok(blocks)
}

/// Checks a range before execution: it extends `head` by hash chain, every parent QC verifies
/// and certifies the block's parent, and the last block's commit certificate verifies and commits
/// it. Returns that certificate.
pub fn check(
    verifier: &mut Verifier,
    head_id: BlockId,
    head_height: Height,
    blocks: &[CommittedBlock],
) -> Result<QuorumCertificate, String> {
    let Some(last) = blocks.last() else {
        return Err("empty range".into());
    };
    let mut parent = head_id;
    let mut height = head_height;
    for item in blocks {
        let header = &item.block.header;
        if header.parent_id != parent || header.height != height.next() {
            return Err(format!(
                "block at height {} does not extend height {height}",
                header.height
            ));
        }
        let parent_qc = &item.certificates.parent_qc;
        if parent_qc.block_id() != parent || parent_qc.data.height != height {
            return Err(format!(
                "block at height {} carries a QC for another parent",
                header.height
            ));
        }
        verifier
            .verify_qc(parent_qc)
            .map_err(|e| format!("parent QC of block {}: {e}", header.height))?;
        parent = item.block.id();
        height = header.height;
    }
    let certificate = last
        .certificates
        .commit_qc
        .clone()
        .ok_or("the last block has no commit certificate")?;
    verifier
        .verify_qc(&certificate)
        .map_err(|e| format!("commit certificate: {e}"))?;
    if certificate.data.commits() != Some((last.block.id(), last.block.header.round)) {
        return Err("the commit certificate does not commit the last block".into());
    }
    Ok(certificate)
}
