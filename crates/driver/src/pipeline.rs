//! Blocks from execution to commit, as the engine and the simulator both run them: the executed
//! blocks above the committed head, a block built as leader, a proposal executed before a vote,
//! and committed blocks written to the store (atomic, synced) before the caller applies them to
//! its in-memory ledger.

use std::collections::{HashMap, HashSet};

use tenge_ledger::{CommittedState, ExecutedBlock, Ledger};
use tenge_storage::{BlockCommit, Store, StoreError};
use tenge_types::consensus::{BlockWithParentQc, QuorumCertificate, StoredCertificates};
use tenge_types::{Block, BlockHeader, BlockId, HashValue, Round, SignedTransaction, TimestampMs};

/// Why committed blocks could not be taken out of the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// Consensus committed a block this node never executed: a bug, never a peer's doing.
    #[error("block {} committed by consensus was never executed", .0.short())]
    NotExecuted(BlockId),
}

/// The executed blocks above the committed head: uncommitted proposals, this node's own among
/// them, which later blocks execute on top of.
#[derive(Default)]
pub struct Pipeline {
    executed: HashMap<BlockId, ExecutedBlock>,
}

impl Pipeline {
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// The executed block `id`, if the pipeline holds it.
    pub fn get(&self, id: &BlockId) -> Option<&ExecutedBlock> {
        self.executed.get(id)
    }

    /// Whether `id` is executed (and not committed yet).
    pub fn contains(&self, id: &BlockId) -> bool {
        self.executed.contains_key(id)
    }

    /// The executed blocks from the committed head `head` (excluded) to `parent_id`
    /// (included), oldest first; `None` if one of them is not executed here.
    pub fn ancestors(&self, head: BlockId, parent_id: BlockId) -> Option<Vec<&ExecutedBlock>> {
        let mut chain = Vec::new();
        let mut cursor = parent_id;
        while cursor != head {
            let executed = self.executed.get(&cursor)?;
            cursor = executed.block.header.parent_id;
            chain.push(executed);
        }
        chain.reverse();
        Some(chain)
    }

    /// Builds and executes this node's block for `round` on `parent_id`. `choose` picks the
    /// transactions (with their signature verdicts) given those already in the uncommitted
    /// ancestors, which must not be proposed again, and the committed state. `None` if the
    /// parent is not executed here.
    ///
    /// The block is of `epoch`, the proposing consensus instance's. Above a block that ended
    /// that epoch it is empty, whatever the mempool holds (D80).
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        &mut self,
        ledger: &Ledger,
        epoch: u64,
        round: Round,
        parent_id: BlockId,
        timestamp: TimestampMs,
        choose: impl FnOnce(&HashSet<HashValue>, &CommittedState) -> (Vec<SignedTransaction>, Vec<bool>),
    ) -> Option<Block> {
        let ancestors = self.ancestors(ledger.head().id(), parent_id)?;
        let in_ancestors: HashSet<HashValue> = ancestors
            .iter()
            .flat_map(|a| a.execution.receipts.iter().map(|r| r.transaction))
            .collect();
        let (transactions, valid) = if epoch < ledger.state_epoch(&ancestors) {
            (Vec::new(), Vec::new())
        } else {
            choose(&in_ancestors, ledger.state())
        };
        let executed =
            ledger.build_block_in_epoch(&ancestors, epoch, round, timestamp, transactions, &valid);
        let block = executed.block.clone();
        self.executed.insert(block.id(), executed);
        Some(block)
    }

    /// Executes a proposed block on its parent, with one signature verdict per transaction.
    /// A block executed before is not executed again.
    pub fn execute(&mut self, ledger: &Ledger, block: Block, valid: &[bool]) -> Result<(), String> {
        let id = block.id();
        if self.executed.contains_key(&id) {
            return Ok(());
        }
        let ancestors = self
            .ancestors(ledger.head().id(), block.header.parent_id)
            .ok_or("parent is not executed")?;
        let execution = ledger
            .execute_block(&ancestors, &block, valid)
            .map_err(|e| e.to_string())?;
        self.executed.insert(id, ExecutedBlock { block, execution });
        Ok(())
    }

    /// Takes the blocks consensus committed out of the pipeline, in order, each with the
    /// certificates to store with it (its parent's QC, and `certificate` on the last). The
    /// caller writes them to the store together ([`write_blocks`]) before its in-memory ledger
    /// takes them, then [`prune`](Self::prune)s at the new head.
    ///
    /// `suffix` holds the headers of the empty blocks above the last one through which
    /// `certificate` commits it, when it ended its epoch (D80); empty otherwise.
    pub fn take_committed(
        &mut self,
        blocks: &[BlockWithParentQc],
        certificate: &QuorumCertificate,
        suffix: &[BlockHeader],
    ) -> Result<Vec<(ExecutedBlock, StoredCertificates)>, CommitError> {
        let count = blocks.len();
        blocks
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let id = item.block.id();
                let executed = self
                    .executed
                    .remove(&id)
                    .ok_or(CommitError::NotExecuted(id))?;
                let last = index + 1 == count;
                let certificates = StoredCertificates {
                    parent_qc: item.parent_qc.clone(),
                    commit_qc: last.then(|| certificate.clone()),
                    commit_suffix: if last { suffix.to_vec() } else { Vec::new() },
                };
                Ok((executed, certificates))
            })
            .collect()
    }

    /// Drops every executed block: at an epoch's start, those above its start block are of the
    /// epoch before and never commit (D80).
    pub fn clear(&mut self) {
        self.executed.clear();
    }

    /// Drops the executed blocks at or below `height`, the committed head's: committed ones, and
    /// forks that can no longer commit.
    pub fn prune(&mut self, height: tenge_types::Height) {
        self.executed.retain(|_, e| e.block.header.height > height);
    }
}

/// Writes a run of committed blocks, each with its certificates, receipts and state changes, to
/// the store in one atomic, synced write. The last block must carry the commit certificate that
/// proves the run: a certificate that commits several blocks is stored with the last, and
/// writing them one by one let a crash in between leave a head no stored certificate proves
/// (a node that then refused to start; review L6). Returns the bytes of blocks and certificates
/// written.
pub fn write_blocks(
    store: &(impl Store + ?Sized),
    run: &[(ExecutedBlock, StoredCertificates)],
) -> Result<usize, StoreError> {
    let Some((_, last)) = run.last() else {
        return Ok(0);
    };
    assert!(
        last.commit_qc.is_some(),
        "a committed run must end on the block its commit certificate proves"
    );
    let certificates: Vec<Vec<u8>> = run.iter().map(|(_, c)| c.to_bytes()).collect();
    let commits: Vec<BlockCommit<'_>> = run
        .iter()
        .zip(&certificates)
        .map(|((executed, _), certificate)| BlockCommit {
            block: &executed.block,
            certificate,
            receipts: &executed.execution.receipts,
            changes: &executed.execution.delta.entries,
        })
        .collect();
    store.commit_blocks(&commits)?;
    Ok(run
        .iter()
        .zip(&certificates)
        .map(|((executed, _), certificate)| {
            tenge_types::codec::encoded_size(&executed.block) + certificate.len()
        })
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_ledger::testkit::{TestNetwork, test_key};
    use tenge_storage::MemoryStore;
    use tenge_types::Payload;
    use tenge_types::transaction::OpenWallet;

    struct Chain {
        net: TestNetwork,
        ledger: Ledger,
        genesis: Block,
    }

    fn chain() -> Chain {
        let net = TestNetwork::new(1, 4);
        let ledger = Ledger::from_genesis(&net.genesis).expect("genesis");
        let genesis = Block {
            header: ledger.head().clone(),
            transactions: vec![],
        };
        Chain {
            net,
            ledger,
            genesis,
        }
    }

    impl Chain {
        fn open_wallet(&self, sequence: u64) -> SignedTransaction {
            self.net.sign(
                &self.net.banks[0],
                sequence,
                Payload::OpenWallet(OpenWallet {
                    key: test_key(&format!("wallet {sequence}")).public_key(),
                    tier: 1,
                }),
            )
        }

        fn time(&self, after_ms: u64) -> TimestampMs {
            TimestampMs(self.net.genesis.genesis_time.0 + after_ms)
        }
    }

    /// Builds on `parent` with exactly `transactions` (all signatures taken as valid).
    fn build(
        pipeline: &mut Pipeline,
        chain: &Chain,
        round: u64,
        parent: BlockId,
        transactions: Vec<SignedTransaction>,
    ) -> Block {
        pipeline
            .build(
                &chain.ledger,
                0,
                Round(round),
                parent,
                chain.time(round * 1_000),
                |_, _| {
                    let valid = vec![true; transactions.len()];
                    (transactions, valid)
                },
            )
            .expect("the parent is executed")
    }

    #[test]
    fn a_built_block_is_an_ancestor_and_its_transactions_are_not_chosen_again() {
        let chain = chain();
        let mut pipeline = Pipeline::new();
        let tx = chain.open_wallet(0);
        let first = build(
            &mut pipeline,
            &chain,
            1,
            chain.genesis.id(),
            vec![tx.clone()],
        );
        assert_eq!(first.transactions, vec![tx.clone()]);

        let mut offered = None;
        let second = pipeline
            .build(
                &chain.ledger,
                0,
                Round(2),
                first.id(),
                chain.time(2_000),
                |in_ancestors, _| {
                    offered = Some(in_ancestors.clone());
                    (vec![], vec![])
                },
            )
            .expect("the parent is executed");
        assert_eq!(offered, Some(HashSet::from([tx.hash()])));
        let ancestors: Vec<BlockId> = pipeline
            .ancestors(chain.genesis.id(), second.id())
            .expect("both executed")
            .iter()
            .map(|executed| executed.block.id())
            .collect();
        assert_eq!(ancestors, vec![first.id(), second.id()]);
        assert!(
            pipeline
                .build(
                    &chain.ledger,
                    0,
                    Round(3),
                    BlockId::default(),
                    chain.time(3_000),
                    |_, _| { (vec![], vec![]) }
                )
                .is_none(),
            "an unknown parent builds nothing"
        );
    }

    #[test]
    fn a_peer_block_executes_once_and_only_on_an_executed_parent() {
        let chain = chain();
        let mut leader = Pipeline::new();
        let first = build(
            &mut leader,
            &chain,
            1,
            chain.genesis.id(),
            vec![chain.open_wallet(0)],
        );
        let second = build(
            &mut leader,
            &chain,
            2,
            first.id(),
            vec![chain.open_wallet(1)],
        );

        let mut follower = Pipeline::new();
        assert_eq!(
            follower.execute(&chain.ledger, second.clone(), &[true]),
            Err("parent is not executed".to_string())
        );
        assert!(!follower.contains(&second.id()));
        follower
            .execute(&chain.ledger, first.clone(), &[true])
            .expect("executes on genesis");
        follower
            .execute(&chain.ledger, second.clone(), &[true])
            .expect("executes on its parent");
        // Again: nothing is executed twice (the verdicts are not even looked at).
        follower
            .execute(&chain.ledger, second.clone(), &[])
            .expect("already executed");
        let executed = follower.ancestors(chain.genesis.id(), second.id()).unwrap();
        assert_eq!(
            executed[1].execution.state_root(),
            leader.ancestors(chain.genesis.id(), second.id()).unwrap()[1]
                .execution
                .state_root(),
            "leader and follower agree"
        );
    }

    #[test]
    fn committed_blocks_come_out_in_order_with_their_certificates_then_forks_are_pruned() {
        let mut chain = chain();
        let mut pipeline = Pipeline::new();
        let first = build(
            &mut pipeline,
            &chain,
            1,
            chain.genesis.id(),
            vec![chain.open_wallet(0)],
        );
        let second = build(&mut pipeline, &chain, 2, first.id(), vec![]);
        let fork = build(&mut pipeline, &chain, 3, chain.genesis.id(), vec![]);
        let genesis_qc = QuorumCertificate::genesis(&chain.genesis);
        let mut second_qc = genesis_qc.clone();
        second_qc.data.round = Round(2);
        let blocks = [
            BlockWithParentQc {
                block: first.clone(),
                parent_qc: genesis_qc.clone(),
            },
            BlockWithParentQc {
                block: second.clone(),
                parent_qc: genesis_qc.clone(),
            },
        ];

        let unknown = BlockWithParentQc {
            block: Block {
                header: chain.genesis.header.clone(),
                transactions: vec![chain.open_wallet(9)],
            },
            parent_qc: genesis_qc.clone(),
        };
        assert!(matches!(
            pipeline.take_committed(std::slice::from_ref(&unknown), &second_qc, &[]),
            Err(CommitError::NotExecuted(id)) if id == unknown.block.id()
        ));

        let committed = pipeline
            .take_committed(&blocks, &second_qc, &[])
            .expect("both executed");
        let ids: Vec<BlockId> = committed.iter().map(|(e, _)| e.block.id()).collect();
        assert_eq!(ids, vec![first.id(), second.id()]);
        assert_eq!(
            committed[0].1.commit_qc, None,
            "only the last carries the commit QC"
        );
        assert_eq!(committed[1].1.commit_qc, Some(second_qc.clone()));
        assert!(!pipeline.contains(&first.id()) && !pipeline.contains(&second.id()));

        let store = MemoryStore::new();
        store
            .initialize(
                chain.net.genesis.hash(),
                &chain.genesis,
                &chain.ledger.state().entries(),
            )
            .unwrap();
        assert_eq!(write_blocks(&store, &[]).expect("nothing to write"), 0);
        assert_eq!(
            store.head().unwrap().unwrap().block.id(),
            chain.genesis.id()
        );
        let bytes = write_blocks(&store, &committed).expect("written");
        let expected: usize = committed
            .iter()
            .map(|(e, c)| tenge_types::encode(&e.block).len() + c.to_bytes().len())
            .sum();
        assert_eq!(bytes, expected);
        for (executed, _) in &committed {
            chain.ledger.commit(executed);
        }
        let head = store.head().unwrap().unwrap();
        assert_eq!(head.block.id(), second.id());
        assert_eq!(
            StoredCertificates::from_bytes(&head.certificate)
                .unwrap()
                .commit_qc,
            Some(second_qc),
            "the head is stored with the certificate that proves it"
        );
        assert_eq!(
            store.block(first.header.height).unwrap().unwrap().id(),
            first.id()
        );

        assert!(pipeline.contains(&fork.id()));
        pipeline.prune(chain.ledger.head().height);
        assert!(
            !pipeline.contains(&fork.id()),
            "a fork below the head can no longer commit"
        );
    }

    #[test]
    #[should_panic(
        expected = "a committed run must end on the block its commit certificate proves"
    )]
    fn a_run_without_its_commit_certificate_is_never_written() {
        let chain = chain();
        let mut pipeline = Pipeline::new();
        let block = build(&mut pipeline, &chain, 1, chain.genesis.id(), vec![]);
        let genesis_qc = QuorumCertificate::genesis(&chain.genesis);
        let mut committed = pipeline
            .take_committed(
                &[BlockWithParentQc {
                    block,
                    parent_qc: genesis_qc.clone(),
                }],
                &genesis_qc,
                &[],
            )
            .expect("executed");
        committed[0].1.commit_qc = None;
        let store = MemoryStore::new();
        store
            .initialize(
                chain.net.genesis.hash(),
                &chain.genesis,
                &chain.ledger.state().entries(),
            )
            .unwrap();
        let _ = write_blocks(&store, &committed);
    }
}
