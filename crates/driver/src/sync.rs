//! Range sync's checks, shared by the node and the simulator: a range of committed blocks is
//! proven by hash chain, parent QCs and a commit certificate before anything in it is executed;
//! the same proof is asked of the stored head at start (review L6).

use tenge_consensus::Verifier;
use tenge_storage::StoredHead;
use tenge_types::consensus::{QuorumCertificate, StoredCertificates, ValidatorSet};
use tenge_types::sync::CommittedBlock;
use tenge_types::{Block, BlockId, Height};

/// Checks a range before execution: it extends `head` by hash chain, every parent QC verifies
/// and certifies the block's parent, and the last block's commit certificate verifies and commits
/// it. Returns that certificate.
pub fn check(
    verifier: &mut Verifier,
    head_id: BlockId,
    head_height: Height,
    blocks: &[CommittedBlock],
) -> Result<QuorumCertificate, String> {
    check_chain(verifier, head_id, head_height, blocks)?;
    let last = blocks.last().expect("check_chain refuses an empty range");
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

/// The chain part of [`check`]: the range extends `head` by hash chain and every parent QC
/// verifies and certifies the block's parent. Nothing here proves the blocks committed: a range
/// that passes only this is kept, not executed, until a later block's commit certificate ends it.
pub fn check_chain(
    verifier: &mut Verifier,
    head_id: BlockId,
    head_height: Height,
    blocks: &[CommittedBlock],
) -> Result<(), String> {
    if blocks.is_empty() {
        return Err("empty range".into());
    }
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
    Ok(())
}

/// Checks that the stored head is proven committed by `validators` with the certificates stored
/// beside it, as a synced range is: a data dir edited, or mixed up with another chain's, is
/// refused before it is served (review L6). Since D61 every write ends on a block with its
/// commit certificate, so an honest node's head always passes. Genesis needs no proof.
pub fn prove_head(
    validators: &ValidatorSet,
    genesis_block: &Block,
    head: &StoredHead,
) -> Result<(), String> {
    let header = &head.block.header;
    if header.height.0 == 0 {
        return Ok(());
    }
    let certificates = StoredCertificates::from_bytes(&head.certificate)
        .map_err(|e| format!("head certificates: {e}"))?;
    let mut verifier = Verifier::new(
        validators.clone(),
        QuorumCertificate::genesis(genesis_block),
    );
    let proven = [CommittedBlock {
        block: head.block.clone(),
        certificates,
    }];
    check(
        &mut verifier,
        header.parent_id,
        Height(header.height.0 - 1),
        &proven,
    )
    .map(|_| ())
}
