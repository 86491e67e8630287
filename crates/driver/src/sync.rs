//! Range sync, shared by the node and the simulator: serving committed blocks with their
//! certificates ([`serve`]); proving a response by hash chain, parent QCs and a commit
//! certificate before anything in it is executed ([`RangeBuffer::receive`], [`check`]); and
//! executing a proven range in runs that each end on a block with its commit certificate
//! ([`runs`], [`execute_run`]), each to be written in one piece ([`crate::write_blocks`]). The
//! same proof is asked of the stored head at start ([`prove_head`], review L6).

use tenge_consensus::Verifier;
use tenge_ledger::{ExecutedBlock, Ledger, SignatureCheck};
use tenge_storage::{Store, StoreError, StoredHead};
use tenge_types::consensus::{QuorumCertificate, StoredCertificates, commits_through};
use tenge_types::sync::{CommittedBlock, MAX_SYNC_RESPONSE_BYTES, SYNC_RESPONSE_SOFT_LIMIT_BYTES};
use tenge_types::{BlockId, Height, encode};

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
pub fn serve<S: Store + ?Sized>(
    store: &S,
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
            if blocks.iter().any(|b| b.certificates.commit_qc.is_some()) {
                drop_unproven_tail(&mut blocks);
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
            break;
        }
        height += 1;
    }
    // Never end on an unproven block (the head's own commit certificate is always stored).
    drop_unproven_tail(&mut blocks);
    Ok(blocks)
}

fn drop_unproven_tail(blocks: &mut Vec<CommittedBlock>) {
    while blocks
        .last()
        .is_some_and(|b| b.certificates.commit_qc.is_none())
    {
        blocks.pop();
    }
}

/// What a range-sync response came to.
#[derive(Debug)]
pub enum Received {
    /// Nothing above what this node already has or keeps.
    Nothing,
    /// The range chains onto the head but nothing in it is proven committed yet: kept until a
    /// later response proves a block after it (review L5); ask for what follows.
    Kept { blocks: usize, bytes: usize },
    /// Unproven, and more than a node keeps: dropped.
    TooLarge { blocks: usize, bytes: usize },
    /// The range failed its checks. `blame_peer` is false when blocks kept from an earlier
    /// response were part of it: the fault may be that peer's, so nobody is penalised.
    Refused { reason: String, blame_peer: bool },
    /// Proven committed: execute it with [`runs`] and [`execute_run`], in order.
    Proven {
        blocks: Vec<CommittedBlock>,
        certificate: QuorumCertificate,
    },
}

/// Blocks from earlier responses that chain onto the head but are not proven yet.
pub struct RangeBuffer {
    kept: Vec<CommittedBlock>,
    max_bytes: usize,
}

impl RangeBuffer {
    /// Keeps at most `max_bytes` of unproven blocks.
    pub fn new(max_bytes: usize) -> RangeBuffer {
        RangeBuffer {
            kept: Vec::new(),
            max_bytes,
        }
    }

    /// The height to ask for blocks after: the last kept block's, or the head's.
    pub fn after(&self, head_height: Height) -> Height {
        self.kept
            .last()
            .map_or(head_height, |kept| kept.block.header.height)
    }

    /// Checks a response against the committed head (`head_id` at `head_height`), with the
    /// blocks kept from earlier responses in front of it.
    pub fn receive(
        &mut self,
        verifier: &mut Verifier,
        head_id: BlockId,
        head_height: Height,
        blocks: Vec<CommittedBlock>,
    ) -> Received {
        if blocks.is_empty() {
            return Received::Nothing;
        }
        // Blocks kept from an earlier response count only while they still extend the head.
        let kept = std::mem::take(&mut self.kept);
        let kept = if kept
            .first()
            .is_some_and(|first| first.block.header.parent_id == head_id)
        {
            kept
        } else {
            Vec::new()
        };
        let known = kept
            .last()
            .map_or(head_height, |last| last.block.header.height);
        // A response for a height already passed (the chain moved on meanwhile) is skipped.
        let mut blocks: Vec<CommittedBlock> = blocks
            .into_iter()
            .skip_while(|b| b.block.header.height <= known)
            .collect();
        if blocks.is_empty() {
            self.kept = kept;
            return Received::Nothing;
        }
        let blame_peer = kept.is_empty();
        blocks.splice(0..0, kept);
        // The blocks after an epoch's end are certified by the next epoch's set: the range
        // stops at the end, and what follows is asked for once the epoch has started here
        // (D80). The end is always stored with the certificate that commits it.
        if let Some(end) = blocks.iter().position(|b| b.block.header.ends_epoch()) {
            if blocks[end].certificates.commit_qc.is_none() {
                return Received::Refused {
                    reason: format!(
                        "the block ending epoch {} at height {} comes without its commit certificate",
                        blocks[end].block.header.epoch, blocks[end].block.header.height
                    ),
                    blame_peer,
                };
            }
            blocks.truncate(end + 1);
        }
        if blocks
            .last()
            .is_some_and(|last| last.certificates.commit_qc.is_none())
        {
            let bytes: usize = blocks.iter().map(|b| encode(&b.block).len()).sum();
            return match check_chain(verifier, head_id, head_height, &blocks) {
                Ok(()) if bytes <= self.max_bytes => {
                    let count = blocks.len();
                    self.kept = blocks;
                    Received::Kept {
                        blocks: count,
                        bytes,
                    }
                }
                Ok(()) => Received::TooLarge {
                    blocks: blocks.len(),
                    bytes,
                },
                Err(reason) => Received::Refused { reason, blame_peer },
            };
        }
        match check(verifier, head_id, head_height, &blocks) {
            Ok(certificate) => Received::Proven {
                blocks,
                certificate,
            },
            Err(reason) => Received::Refused { reason, blame_peer },
        }
    }
}

/// Splits a proven range into runs that each end on a block with its commit certificate.
pub fn runs(blocks: Vec<CommittedBlock>) -> Vec<Vec<CommittedBlock>> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for item in blocks {
        let proven = item.certificates.commit_qc.is_some();
        run.push(item);
        if proven {
            runs.push(std::mem::take(&mut run));
        }
    }
    assert!(
        run.is_empty(),
        "a proven range ends on a block with its commit certificate"
    );
    runs
}

/// Executes one run on top of the committed `ledger`, each block on the run's earlier ones.
/// Signatures are checked again (`check`): a certified block may hold a transaction that the
/// voters rejected for its signature (security review H1, docs/decisions.md D21, D34). An error
/// means this node's execution disagrees with a quorum's: the caller must stop, not follow.
pub fn execute_run(
    ledger: &Ledger,
    run: Vec<CommittedBlock>,
    check: SignatureCheck,
    verify_threads: usize,
) -> Result<Vec<(ExecutedBlock, StoredCertificates)>, String> {
    let mut executed: Vec<(ExecutedBlock, StoredCertificates)> = Vec::with_capacity(run.len());
    for item in run {
        let ancestors: Vec<&ExecutedBlock> = executed.iter().map(|(e, _)| e).collect();
        let execution = ledger
            .execute_certified(&ancestors, &item.block, check, verify_threads)
            .map_err(|error| {
                format!(
                    "certified block {} at height {} does not re-execute: {error}",
                    item.block.id().short(),
                    item.block.header.height
                )
            })?;
        executed.push((
            ExecutedBlock {
                block: item.block,
                execution,
            },
            item.certificates,
        ));
    }
    Ok(executed)
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
    if !commits_through(
        &certificate,
        &last.block.header,
        &last.certificates.commit_suffix,
    ) {
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

/// Checks that the stored head is proven committed by the validators of `epoch` (the epoch that
/// certified it) with the certificates stored beside it, as a synced range is: a data dir edited, or mixed up with another chain's, is
/// refused before it is served (review L6). Since D61 every write ends on a block with its
/// commit certificate, so an honest node's head always passes. Genesis needs no proof.
pub fn prove_head(epoch: &crate::Epoch, head: &StoredHead) -> Result<(), String> {
    let header = &head.block.header;
    if header.height.0 == 0 {
        return Ok(());
    }
    let certificates = StoredCertificates::from_bytes(&head.certificate)
        .map_err(|e| format!("head certificates: {e}"))?;
    let mut verifier = epoch.verifier();
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

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_ledger::testkit::TestNetwork;
    use tenge_storage::{BlockCommit, MemoryStore};
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
        let store = MemoryStore::new();
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
                commit_suffix: Vec::new(),
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

        let mut verifier = Verifier::new(validators.clone(), genesis_qc);
        let first = serve(&store, Height(0), 256).unwrap();
        let bytes: usize = first.iter().map(|b| encode(b).len()).sum();
        assert!(
            bytes <= SYNC_RESPONSE_HARD_LIMIT_BYTES,
            "{} blocks, {bytes} bytes in one response",
            first.len()
        );
        let served = first.len();
        assert!(served > 0 && served < 6);
        assert!(first.last().unwrap().certificates.commit_qc.is_none());
        // The requester keeps the unproven range and asks for what follows it.
        let mut buffer = RangeBuffer::new(256 << 20);
        let received = buffer.receive(&mut verifier, genesis.id(), Height(0), first.clone());
        assert!(
            matches!(received, Received::Kept { blocks, .. } if blocks == served),
            "{received:?}"
        );
        let after = buffer.after(Height(0));
        assert_eq!(after, first.last().unwrap().block.header.height);

        // The same blocks again, then the rest: only what is new counts, and it proves all six.
        let mut rest = first.clone();
        rest.extend(serve(&store, after, 256).unwrap());
        match buffer.receive(&mut verifier, genesis.id(), Height(0), rest) {
            Received::Proven {
                blocks,
                certificate,
            } => {
                assert_eq!(blocks.len(), 6);
                assert_eq!(
                    certificate.data.commits().map(|(id, _)| id),
                    Some(blocks[5].block.id())
                );
                let runs = runs(blocks);
                assert_eq!(runs.len(), 1, "one certificate commits all six");
            }
            other => panic!("expected a proven range, got {other:?}"),
        }

        // A keeper with less room drops the unproven range instead.
        let mut small = RangeBuffer::new(1 << 20);
        assert!(matches!(
            small.receive(&mut verifier, genesis.id(), Height(0), first),
            Received::TooLarge { .. }
        ));
        assert_eq!(small.after(Height(0)), Height(0));

        // The stored head is proven by the certificate stored beside it (L6), and not without.
        let head = store.head().unwrap().unwrap();
        let epoch = crate::Epoch::genesis(&net.genesis, &genesis);
        assert_eq!(epoch.set(), validators);
        prove_head(&epoch, &head).expect("an honest head proves itself");
        let mut stripped = StoredCertificates::from_bytes(&head.certificate).unwrap();
        stripped.commit_qc = None;
        let unproven = StoredHead {
            block: head.block.clone(),
            certificate: stripped.to_bytes(),
        };
        let error = prove_head(&epoch, &unproven).unwrap_err();
        assert!(error.contains("no commit certificate"), "{error}");
        let mut forged = StoredCertificates::from_bytes(&head.certificate).unwrap();
        forged.commit_qc.as_mut().unwrap().signatures[0].1 =
            net.validators[0].sign(&HashValue([1; 32]));
        let forged = StoredHead {
            block: head.block.clone(),
            certificate: forged.to_bytes(),
        };
        assert!(prove_head(&epoch, &forged).is_err());
        let genesis_head = StoredHead {
            block: genesis.clone(),
            certificate: Vec::new(),
        };
        prove_head(&epoch, &genesis_head).expect("genesis needs no proof");
    }

    /// A range that a lying peer altered after the certificates were made is refused, and the
    /// peer is to blame; a bad range behind kept blocks blames nobody.
    #[test]
    fn an_altered_range_is_refused_and_blame_goes_where_it_belongs() {
        let net = TestNetwork::new(1, 1);
        let ledger = Ledger::from_genesis(&net.genesis).unwrap();
        let genesis = Block {
            header: ledger.head().clone(),
            transactions: vec![],
        };
        let validators = ValidatorSet::new(vec![net.validators[0].public_key()]);
        let mut verifier = Verifier::new(validators, QuorumCertificate::genesis(&genesis));
        let mut buffer = RangeBuffer::new(1 << 20);
        // A block on genesis whose parent QC does not verify.
        let block = Block {
            header: BlockHeader {
                height: Height(1),
                round: Round(1),
                parent_id: genesis.id(),
                ..genesis.header.clone()
            },
            transactions: vec![],
        };
        let mut parent_qc = QuorumCertificate::genesis(&genesis);
        parent_qc.data.round = Round(1);
        let item = CommittedBlock {
            block,
            certificates: StoredCertificates {
                parent_qc,
                commit_qc: None,
                commit_suffix: Vec::new(),
            },
        };
        match buffer.receive(&mut verifier, genesis.id(), Height(0), vec![item]) {
            Received::Refused { blame_peer, .. } => assert!(blame_peer),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            buffer.receive(&mut verifier, genesis.id(), Height(0), Vec::new()),
            Received::Nothing
        ));
    }
}
