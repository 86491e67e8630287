//! The invariants checked on every run.

use std::collections::{BTreeMap, HashMap};

use tenge_consensus::Verifier;
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, ValidatorIndex,
};
use tenge_types::{BlockId, Domain, HashValue, Height, encode};

/// Collects violations; one run's verdict.
#[derive(Default)]
pub struct Checker {
    pub violations: Vec<String>,
    /// The block committed at each height, and the node that first committed it.
    committed: BTreeMap<u64, (BlockId, usize)>,
    /// What each honest validator signed, per (validator, kind, round).
    signed: HashMap<(ValidatorIndex, &'static str, u64), HashValue>,
}

impl Checker {
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
