//! The invariants checked on every run.

use std::collections::{BTreeMap, HashMap};

use tenge_consensus::Verifier;
use tenge_driver::Epoch;
use tenge_ledger::{ExecutedBlock, Ledger, verify_signatures};
use tenge_types::consensus::{BlockWithParentQc, ConsensusMessage, QuorumCertificate};
use tenge_types::state::Role;
use tenge_types::{
    AccountId, Block, BlockId, Domain, HashValue, Height, Payload, PublicKey, encode,
};

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
    /// The verifier of each epoch's certificates, by epoch number: epoch 0's from the genesis,
    /// each later one's from the block that ended the epoch before, as the auditor commits it.
    verifiers: Vec<Verifier>,
    /// What each honest validator signed, per (key, epoch, kind, round).
    signed: HashMap<(PublicKey, u64, &'static str, u64), HashValue>,
    /// Issuance applied per policy epoch, and per (epoch, receiving bank), in tiyn, counted
    /// from committed receipts by the checker itself.
    issued: HashMap<u64, u128>,
    issued_to: HashMap<(u64, AccountId), u128>,
    /// Transactions applied and refused in committed blocks, per kind.
    pub outcomes: BTreeMap<&'static str, (u64, u64)>,
}

impl Checker {
    pub fn new(genesis: &tenge_types::Genesis) -> Checker {
        let auditor = Ledger::from_genesis(genesis).expect("the run's genesis is valid");
        let genesis_block = Block {
            header: auditor.head().clone(),
            transactions: vec![],
        };
        Checker {
            violations: Vec::new(),
            verifiers: vec![Epoch::genesis(genesis, &genesis_block).verifier()],
            auditor,
            committed: BTreeMap::new(),
            signed: HashMap::new(),
            issued: HashMap::new(),
            issued_to: HashMap::new(),
            outcomes: BTreeMap::new(),
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
        self.check_policy(block, &execution.receipts);
        if let Some(next) = Epoch::started_by(block) {
            self.verifiers.push(next.verifier());
        }
        self.auditor.commit(&ExecutedBlock {
            block: block.clone(),
            execution,
        });
        if let Err(error) = self.auditor.audit() {
            self.violation(format!("audit: after height {height}: {error}"));
        }
    }

    /// Policy limits never exceeded, counted outside the ledger's policy module: the issuance
    /// applied in an epoch stays within the cap, and each bank's within its quota, as the policy
    /// in force at the block's height sets them.
    fn check_policy(&mut self, block: &Block, receipts: &[tenge_types::Receipt]) {
        let height = block.header.height;
        let state = self.auditor.state();
        let params = state.policy().active_at(height).params.clone();
        let since_genesis = block
            .header
            .timestamp
            .0
            .saturating_sub(state.global().genesis_time.0);
        let epoch = since_genesis / params.epoch_duration_ms;
        for (tx, receipt) in block.transactions.iter().zip(receipts) {
            let kind = tx.transaction.payload.kind();
            let counts = self.outcomes.entry(kind).or_default();
            if receipt.outcome.is_ok() {
                counts.0 += 1;
            } else {
                counts.1 += 1;
                continue;
            }
            let (to, amount) = match &tx.transaction.payload {
                Payload::Issue(issue) => (issue.to, issue.amount),
                Payload::IssueEarmarked(issue) => (issue.to, issue.amount),
                _ => continue,
            };
            let amount = u128::from(amount.tiyn());
            let total = self.issued.entry(epoch).or_default();
            *total += amount;
            let total = *total;
            if total > u128::from(params.issuance_cap_per_epoch.tiyn()) {
                self.violation(format!(
                    "policy: {total} tiyn issued in epoch {epoch} by height {height}, over the cap {}",
                    params.issuance_cap_per_epoch
                ));
            }
            // A wallet's issuance counts against its bank's quota.
            let to = match self.auditor.state().account(&to).map(|a| &a.role) {
                Some(Role::Wallet { bank, .. }) => *bank,
                _ => to,
            };
            let quota = params.bank_quota(&to);
            let to_bank = self.issued_to.entry((epoch, to)).or_default();
            *to_bank += amount;
            let to_bank = *to_bank;
            if to_bank > u128::from(quota.tiyn()) {
                self.violation(format!(
                    "policy: {to_bank} tiyn issued to {to} in epoch {epoch} by height {height}, over its quota {quota}"
                ));
            }
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
        suffix: &[tenge_types::BlockHeader],
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
        let last = blocks.last().expect("commits are not empty");
        // Certified by the validators of the epoch the last block belongs to.
        let epoch = last.block.header.epoch;
        match self.verifiers.get_mut(epoch as usize) {
            Some(verifier) => {
                if let Err(error) = verifier.verify_qc(certificate) {
                    self.violation(format!(
                        "validity: node {node} committed with an invalid certificate: {error}"
                    ));
                }
            }
            None => self.violation(format!(
                "validity: node {node} committed a block of epoch {epoch}, which no committed block started"
            )),
        }
        if !tenge_types::consensus::commits_through(certificate, &last.block.header, suffix) {
            self.violation(format!(
                "validity: node {node}'s commit certificate does not commit its last block"
            ));
        }
    }

    /// An honest leader proposes only what its admission let into its mempool: every
    /// transaction well formed and every signature valid, whatever its peers gossiped (H2).
    fn check_honest_block(&mut self, author: &PublicKey, block: &Block) {
        let valid = verify_signatures(&block.transactions, 1);
        for (tx, valid) in block.transactions.iter().zip(valid) {
            if let Err(reason) = tx.check_structure() {
                self.violation(format!(
                    "admission: honest validator {} proposed a malformed transaction in round {}: {reason}",
                    author.short(),
                    block.header.round
                ));
            } else if !valid {
                self.violation(format!(
                    "admission: honest validator {} proposed a transaction whose signatures do not verify in round {}",
                    author.short(),
                    block.header.round
                ));
            }
        }
    }

    /// No honest validator signs two different proposals, votes or timeouts in one round of
    /// an epoch, with `author`, the key it signs with in `epoch`.
    pub fn on_signed(&mut self, author: &PublicKey, epoch: u64, message: &ConsensusMessage) {
        if let ConsensusMessage::Proposal(proposal) = message {
            self.check_honest_block(author, &proposal.block);
        }
        // Any digest of the signed content will do: the signing hashes are bound to the epoch's
        // start block, and one epoch number names one start block in an agreeing run.
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
        match self.signed.get(&(*author, epoch, kind, round)) {
            Some(previous) if *previous != digest => self.violation(format!(
                "double signing: honest validator {} signed two different {kind}s in round {round} of epoch {epoch}",
                author.short()
            )),
            Some(_) => {}
            None => {
                self.signed.insert((*author, epoch, kind, round), digest);
            }
        }
    }

    /// The latest epoch a committed block started.
    pub fn epoch(&self) -> u64 {
        self.verifiers.len() as u64 - 1
    }

    pub fn highest_committed(&self) -> Height {
        Height(self.committed.keys().next_back().copied().unwrap_or(0))
    }
}
