//! The invariants checked on every run.

use std::collections::{BTreeMap, HashMap};

use tenge_consensus::Verifier;
use tenge_ledger::{ExecutedBlock, Ledger, verify_signatures};
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, ValidatorIndex,
};
use tenge_types::{Block, BlockId, Domain, HashValue, Height, encode};

/// Collects violations; one run's verdict.
pub struct Checker {
    pub violations: Vec<String>,
    /// An independent ledger that re-executes every committed block once, in height order, with
    /// its own signature checks, outside the node driver: a block whose state root, or whose
    /// audit (supply conserved, every invariant), differs from what the nodes agreed is a
    /// violation even if every node made the same mistake.
    auditor: Ledger,
    /// The block committed at each height, and the node that first committed it.
    committed: BTreeMap<u64, (BlockId, usize)>,
    /// What each honest validator signed, per (validator, kind, round).
    signed: HashMap<(ValidatorIndex, &'static str, u64), HashValue>,
}

impl Checker {
    pub fn new(genesis: &tenge_types::Genesis) -> Checker {
        Checker {
            violations: Vec::new(),
            auditor: Ledger::from_genesis(genesis).expect("the run's genesis is valid"),
            committed: BTreeMap::new(),
            signed: HashMap::new(),
        }
    }

    /// Re-executes the block first committed at the next height on the auditor's ledger.
    fn audit(&mut self, node: usize, block: &Block) {
        let height = block.header.height;
        if height != self.auditor.head().height.next() {
            // Heights are first committed in order; a gap means a violation was already reported.
            return;
        }
        let valid = verify_signatures(&block.transactions, 1);
        let execution = match self.auditor.execute_block(&[], block, &valid) {
            Ok(execution) => execution,
            Err(error) => {
                self.violation(format!(
                    "audit: block {} at height {height} committed by node {node} does not re-execute: {error}",
                    block.id().short()
                ));
                return;
            }
        };
        self.auditor.commit(&ExecutedBlock {
            block: block.clone(),
            execution,
        });
        if let Err(error) = self.auditor.audit() {
            self.violation(format!("audit: after height {height}: {error}"));
        }
    }

    pub fn violation(&mut self, text: String) {
        if self.violations.len() < 20 {
            self.violations.push(text);
        }
    }

    /// Agreement and validity of a commit by an honest node whose committed chain was
    /// `previous` (its head id) before these blocks.
    pub fn on_commit(
        &mut self,
        node: usize,
        previous_head: BlockId,
        blocks: &[BlockWithParentQc],
        certificate: &QuorumCertificate,
        verifier: &mut Verifier,
    ) {
        let mut parent = previous_head;
        for item in blocks {
            let block = &item.block;
            let id = block.id();
            let height = block.header.height.0;
            if block.header.parent_id != parent {
                self.violation(format!("validity: node {node} committed block at height {height} whose parent is not its previous head"));
            }
            if item.parent_qc.block_id() != block.header.parent_id {
                self.violation(format!("validity: node {node} committed block at height {height} with a parent QC for another block"));
            }
            match self.committed.get(&height) {
                Some((other, first)) if *other != id => self.violation(format!(
                    "agreement: node {node} committed {} at height {height}, node {first} committed {}",
                    id.short(),
                    other.short()
                )),
                Some(_) => {}
                None => {
                    self.committed.insert(height, (id, node));
                    self.audit(node, block);
                }
            }
            parent = id;
        }
        if let Err(error) = verifier.verify_qc(certificate) {
            self.violation(format!(
                "validity: node {node} committed with an invalid certificate: {error}"
            ));
        }
        let last = blocks.last().expect("commits are not empty");
        if certificate.data.commits() != Some((last.block.id(), last.block.header.round)) {
            self.violation(format!(
                "validity: node {node}'s commit certificate does not commit its last block"
            ));
        }
    }

    /// No honest validator signs two different proposals, votes or timeouts in one round.
    pub fn on_signed(&mut self, author: ValidatorIndex, message: &ConsensusMessage) {
        // Any digest of the signed content will do: every node of a run shares one genesis, to
        // which the signing hashes are bound.
        let (kind, round, digest) = match message {
            ConsensusMessage::Proposal(p) => ("proposal", p.round().0, p.block.id()),
            ConsensusMessage::Vote(v) => {
                ("vote", v.data.round.0, Domain::Vote.hash(&encode(&v.data)))
            }
            ConsensusMessage::Timeout(t) => (
                "timeout",
                t.round.0,
                Domain::Timeout.hash(&encode(&t.data())),
            ),
            _ => return,
        };
        match self.signed.get(&(author, kind, round)) {
            Some(previous) if *previous != digest => self.violation(format!(
                "double signing: honest validator {author} signed two different {kind}s in round {round}"
            )),
            Some(_) => {}
            None => {
                self.signed.insert((author, kind, round), digest);
            }
        }
    }

    pub fn highest_committed(&self) -> Height {
        Height(self.committed.keys().next_back().copied().unwrap_or(0))
    }
}
