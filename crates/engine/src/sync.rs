//! Range sync: serving committed blocks with their certificates. Checking a response is the
//! driver's ([`tenge_driver::sync`]).

use tenge_storage::{RocksStore, Store, StoreError};
use tenge_types::consensus::StoredCertificates;
use tenge_types::sync::{CommittedBlock, MAX_SYNC_RESPONSE_BYTES, SYNC_RESPONSE_SOFT_LIMIT_BYTES};
use tenge_types::{Height, encode};

/// Extra blocks a server adds past the requested count to reach one with a commit certificate.
const EXTEND_TO_CERTIFICATE: u64 = 256;

/// A response never grows past this (the receiver refuses more than
/// `MAX_SYNC_RESPONSE_BYTES`; the rest is room for the encoding around the blocks).
pub const SYNC_RESPONSE_HARD_LIMIT_BYTES: usize = MAX_SYNC_RESPONSE_BYTES - (1 << 20);

/// Committed blocks after `after` (at most `max_blocks`, extended to the next block whose commit
/// certificate is stored, so that the range ends on a proven block). Never more than
/// [`SYNC_RESPONSE_HARD_LIMIT_BYTES`]: if no proven block fits, the response ends on an unproven
/// one and the requester keeps it until a later response proves it (review L5: a run of large
/// blocks committed together used to make a response the requester could not decode, and it
/// asked again forever).
pub fn serve(
    store: &RocksStore,
    after: Height,
    max_blocks: u16,
) -> Result<Vec<CommittedBlock>, StoreError> {
    let Some(head) = store.head()? else {
        return Ok(Vec::new());
    };
    let head = head.block.header.height.0;
    let mut blocks: Vec<CommittedBlock> = Vec::new();
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
        let size = encode(&block).len() + certificate_bytes.len();
        if !blocks.is_empty() && bytes + size > SYNC_RESPONSE_HARD_LIMIT_BYTES {
            // Full: end on the last proven block if there is one, else on what fits.
            if blocks
                .iter()
                .any(|b: &CommittedBlock| b.certificates.commit_qc.is_some())
            {
                while blocks
                    .last()
                    .is_some_and(|b| b.certificates.commit_qc.is_none())
                {
                    blocks.pop();
                }
            }
            return Ok(blocks);
        }
        bytes += size;
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

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_consensus::Verifier;
    use tenge_driver::sync::{check, check_chain};
    use tenge_ledger::Ledger;
    use tenge_ledger::testkit::TestNetwork;
    use tenge_storage::BlockCommit;
    use tenge_types::consensus::QuorumCertificate;
    use tenge_types::consensus::{ValidatorSet, VoteData};
    use tenge_types::transaction::{TransactionSignature, Transfer};
    use tenge_types::{
        Amount, Block, BlockHeader, HashValue, Payload, PublicKey, Receipt, Round, Signature,
        SignedTransaction,
    };

    /// About 29 KB: a transfer carrying 300 (unverified) signatures.
    fn bulky(net: &TestNetwork) -> SignedTransaction {
        let mut tx = net.sign(
            &tenge_ledger::testkit::test_key("bulky"),
            0,
            Payload::Transfer(Transfer {
                to: net.bank(0),
                amount: Amount::from_tiyn(1),
            }),
        );
        tx.signatures = (0..300u16)
            .map(|i| TransactionSignature {
                public_key: PublicKey([(i % 251) as u8; 32]),
                signature: Signature([7; 64]),
            })
            .collect();
        tx
    }

    /// L5: six blocks of about 15 MiB committed together (only the last holds a commit
    /// certificate, as after failed rounds). The server used to send all six (about 90 MiB, over
    /// the 64 MiB a requester decodes, so the requester asked again forever); now a response
    /// stays under the hard limit, ends where it must, and the next one proves the rest.
    #[test]
    fn l5_sync_responses_stay_under_the_hard_limit() {
        let net = TestNetwork::new(2, 1);
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        let ledger = Ledger::from_genesis(&net.genesis).unwrap();
        let genesis = Block {
            header: ledger.head().clone(),
            transactions: vec![],
        };
        store
            .initialize(net.genesis.hash(), &genesis, &ledger.state().entries())
            .unwrap();
        let genesis_qc = QuorumCertificate::genesis(&genesis);
        let validators = ValidatorSet::new(vec![net.validators[0].public_key()]);
        let sign = |data: &VoteData| QuorumCertificate {
            data: data.clone(),
            signatures: vec![(0, net.validators[0].sign(&data.signing_hash(&genesis.id())))],
        };
        let transactions = vec![bulky(&net); 520];
        let receipts: Vec<Receipt> = transactions
            .iter()
            .map(|tx| Receipt {
                transaction: tx.hash(),
                outcome: Ok(()),
            })
            .collect();
        let mut parent = genesis.clone();
        let mut parent_qc = genesis_qc.clone();
        for height in 1..=6u64 {
            let block = Block {
                header: BlockHeader {
                    height: Height(height),
                    round: Round(height),
                    parent_id: parent.id(),
                    ..parent.header.clone()
                },
                transactions: transactions.clone(),
            };
            let data = |block: &Block, parent_round: Round| VoteData {
                block_id: block.id(),
                round: block.header.round,
                height: block.header.height,
                state_root: block.header.state_root,
                parent_id: block.header.parent_id,
                parent_round,
            };
            let commit_qc = (height == 6).then(|| {
                sign(&VoteData {
                    block_id: HashValue([9; 32]),
                    round: Round(7),
                    height: Height(7),
                    state_root: block.header.state_root,
                    parent_id: block.id(),
                    parent_round: Round(6),
                })
            });
            let certificates = StoredCertificates {
                parent_qc: parent_qc.clone(),
                commit_qc,
            };
            store
                .commit_block(&BlockCommit {
                    block: &block,
                    certificate: &certificates.to_bytes(),
                    receipts: &receipts,
                    changes: &[],
                })
                .unwrap();
            parent_qc = sign(&data(&block, parent_qc.round()));
            parent = block;
        }

        let mut verifier = Verifier::new(validators, genesis_qc);
        let first = serve(&store, Height(0), 256).unwrap();
        let bytes: usize = first.iter().map(|b| encode(b).len()).sum();
        assert!(
            bytes <= SYNC_RESPONSE_HARD_LIMIT_BYTES,
            "{} blocks, {bytes} bytes in one response",
            first.len()
        );
        assert!(!first.is_empty() && first.len() < 6);
        assert!(first.last().unwrap().certificates.commit_qc.is_none());
        check_chain(&mut verifier, genesis.id(), Height(0), &first).expect("the range chains");

        let after = first.last().unwrap().block.header.height;
        let rest = serve(&store, after, 256).unwrap();
        let mut all = first;
        all.extend(rest);
        assert_eq!(all.len(), 6);
        check(&mut verifier, genesis.id(), Height(0), &all).expect("proven together");
    }
}
