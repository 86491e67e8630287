//! The Byzantine behaviours: what a validator whose [`Behavior`] is not honest does to the
//! messages it signs, the gossip it relays and the sync answers it gives, each as the Byzantine
//! harness's attack of the same name does. Honest nodes must refuse all of it without halting.

use tenge_types::consensus::{
    ConsensusMessage, Proposal, QuorumCertificate, ValidatorIndex, Vote, proposal_signing_hash,
};
use tenge_types::sync::{CommittedBlock, SyncResponse};
use tenge_types::{Height, Round, SignedTransaction, TimestampMs};

use super::{Action, Node, Target};
use crate::config::Behavior;

/// A well-formed message with extreme numbers where no signature covers them (or a bad
/// signature where one does): rounds and heights at `u64::MAX` must never crash a receiver.
fn extreme(message: &ConsensusMessage) -> ConsensusMessage {
    let max = tenge_types::Height(u64::MAX);
    match message.clone() {
        ConsensusMessage::Proposal(mut proposal) => {
            proposal.parent_qc.data.height = max;
            proposal.parent_qc.data.round = Round(u64::MAX);
            if let Some(tc) = proposal.timeout_certificate.as_mut() {
                tc.round = Round(u64::MAX);
            }
            ConsensusMessage::Proposal(proposal)
        }
        ConsensusMessage::Vote(mut vote) => {
            vote.data.round = Round(u64::MAX);
            vote.data.parent_round = Round(u64::MAX);
            vote.data.height = max;
            ConsensusMessage::Vote(vote)
        }
        ConsensusMessage::Timeout(mut timeout) => {
            timeout.round = Round(u64::MAX);
            timeout.high_qc.data.round = Round(u64::MAX);
            timeout.high_qc.data.height = max;
            ConsensusMessage::Timeout(timeout)
        }
        ConsensusMessage::FetchResponse { mut blocks } => {
            for item in &mut blocks {
                item.parent_qc.data.height = max;
            }
            ConsensusMessage::FetchResponse { blocks }
        }
        ConsensusMessage::FetchRequest { block_id, .. } => ConsensusMessage::FetchRequest {
            block_id,
            count: u16::MAX,
        },
        ConsensusMessage::EpochEnd { mut certificate } => {
            certificate.data.height = max;
            ConsensusMessage::EpochEnd { certificate }
        }
    }
}

/// A copy of `tx` with one signature byte flipped: the same id, another digest, and a signature
/// that does not verify. `None` for a transaction without signatures.
pub(super) fn forged_copy(tx: &SignedTransaction) -> Option<SignedTransaction> {
    let mut forged = tx.clone();
    forged.signatures.first_mut()?.signature.0[0] ^= 0x01;
    Some(forged)
}

/// Extra blocks a `ProposalFlood` leader proposes for each of its rounds.
const PROPOSAL_FLOOD: u64 = 6;

impl Node {
    /// A gossip batch of `transactions` spoiled in one of the ways a receiver must penalise.
    pub(super) fn invalid_gossip(&mut self, transactions: &[SignedTransaction]) -> Vec<u8> {
        let mut batch = transactions.to_vec();
        let Some(first) = batch.first_mut() else {
            return Vec::new();
        };
        match self.rng.below(6) {
            // Random bytes.
            0 => {
                let length = self.rng.between(0, 300) as usize;
                return (0..length).map(|_| self.rng.next_u64() as u8).collect();
            }
            // A length that claims more transactions than a batch may hold.
            1 => return vec![0xff, 0xff, 0xff, 0x7f],
            // A signature that does not verify.
            2 => {
                if let Some(signature) = first.signatures.first_mut() {
                    signature.signature.0[0] ^= 1;
                }
            }
            // Unsigned.
            3 => first.signatures.clear(),
            // Over-signed: more signatures than a transaction may carry.
            4 => {
                let extra = first.signatures.first().cloned();
                if let Some(extra) = extra {
                    first.signatures = vec![extra; tenge_types::transaction::MAX_SIGNATURES + 1];
                }
            }
            // For another chain (the signature then no longer matches either).
            _ => {
                first.transaction.chain_id =
                    tenge_types::ChainId::new("tenge-other").expect("valid");
            }
        }
        tenge_types::encode(&batch)
    }

    /// A copy of an honest validator's message with a forged certificate attached (the Byzantine
    /// harness's `forged-certificates`): a proposal's parent QC, a timeout's last TC or high QC
    /// with a signature byte flipped, or a vote's own signature. `None` for other messages.
    pub(super) fn forge_certificates(
        &mut self,
        from: ValidatorIndex,
        message: &ConsensusMessage,
    ) -> Option<ConsensusMessage> {
        fn spoil(qc: &mut QuorumCertificate, author: ValidatorIndex) {
            match qc.signatures.first_mut() {
                Some((_, signature)) => signature.0[0] ^= 1,
                // The genesis QC has no signatures: claim one.
                None => qc
                    .signatures
                    .push((author, tenge_types::Signature([7; 64]))),
            }
        }
        let me = self.me().unwrap_or_default();
        // Only what came straight from its author is relayed: a relay of a relay (two forging
        // nodes feeding each other) would be a loop, not an attack.
        let author = match message {
            ConsensusMessage::Proposal(proposal) => proposal.author,
            ConsensusMessage::Vote(vote) => vote.author,
            ConsensusMessage::Timeout(timeout) => timeout.author,
            _ => return None,
        };
        if author != from {
            return None;
        }
        match message.clone() {
            ConsensusMessage::Proposal(mut proposal) => {
                if let Some(tc) = proposal.timeout_certificate.as_mut()
                    && self.rng.chance(500)
                    && let Some((_, _, signature)) = tc.signatures.first_mut()
                {
                    signature.0[0] ^= 1;
                } else {
                    spoil(&mut proposal.parent_qc, me);
                }
                Some(ConsensusMessage::Proposal(proposal))
            }
            ConsensusMessage::Vote(mut vote) => {
                vote.signature.0[0] ^= 1;
                Some(ConsensusMessage::Vote(vote))
            }
            ConsensusMessage::Timeout(mut timeout) => {
                match timeout.last_tc.as_mut() {
                    Some(tc) if !tc.signatures.is_empty() => tc.signatures[0].2.0[0] ^= 1,
                    _ => spoil(&mut timeout.high_qc, me),
                }
                Some(ConsensusMessage::Timeout(timeout))
            }
            _ => None,
        }
    }

    /// One of the lies a Byzantine validator can tell a syncing node. Each must be refused
    /// without halting it; none may be executed.
    pub(super) fn sync_lie(&mut self, mut blocks: Vec<CommittedBlock>, head: Height) -> Vec<u8> {
        let kind = self.rng.below(8);
        if blocks.is_empty() || kind == 0 {
            let length = self.rng.between(0, 300) as usize;
            return (0..length).map(|_| self.rng.next_u64() as u8).collect();
        }
        let last = blocks.len() - 1;
        match kind {
            // No blocks, and a head far away.
            1 => blocks.clear(),
            // The commit certificate forged: a signature byte flipped.
            2 => {
                if let Some(qc) = blocks[last].certificates.commit_qc.as_mut()
                    && let Some((_, signature)) = qc.signatures.first_mut()
                {
                    signature.0[0] ^= 1;
                }
            }
            // A transaction swapped under an unchanged header (the transactions root catches it
            // at decode).
            3 => {
                let index = self.rng.below(blocks.len() as u64) as usize;
                let block = &mut blocks[index].block;
                match block.transactions.first_mut() {
                    Some(tx) => tx.transaction.sequence ^= 1,
                    None => block.header.timestamp.0 += 1,
                }
            }
            // A header altered under its certificates.
            4 => blocks[0].block.header.timestamp.0 += 1,
            // The commit certificate left out: the range is unproven; a requester keeps it
            // until an honest answer proves a block after it (L5).
            5 => blocks[last].certificates.commit_qc = None,
            // Parent certificates shifted by one block.
            6 if blocks.len() >= 2 => {
                let first = blocks[0].certificates.parent_qc.clone();
                for i in 0..last {
                    blocks[i].certificates.parent_qc = blocks[i + 1].certificates.parent_qc.clone();
                }
                blocks[last].certificates.parent_qc = first;
            }
            // A range that does not start on the requester's head.
            _ => {
                blocks.remove(0);
            }
        }
        let head = if kind == 1 { Height(u64::MAX) } else { head };
        SyncResponse::Committed { blocks, head }.to_bytes()
    }

    /// Sends a persisted, signed message to `target` as this node's Byzantine behaviour rewrites
    /// it (`send_signed` sends for the behaviours that send what they sign unchanged).
    pub(super) fn send_misbehaving(
        &mut self,
        local: TimestampMs,
        target: Target,
        message: ConsensusMessage,
        actions: &mut Vec<Action>,
    ) {
        match self.behavior {
            Behavior::Silent => {}
            // It withholds its own proposals, so that honest validators time out, and relays
            // theirs with forged certificates (`input`).
            Behavior::ForgedCertificates => {
                if !matches!(message, ConsensusMessage::Proposal(_)) {
                    actions.push(Action::Send {
                        target,
                        bytes: message.to_bytes(),
                    });
                }
            }
            Behavior::ProposalFlood => match (&message, &target) {
                (ConsensusMessage::Proposal(proposal), Target::Others) => {
                    // Many distinct valid blocks for its round, each validator getting a
                    // different one first, then proposals for later rounds it does not lead.
                    let mut variants = vec![proposal.as_ref().clone()];
                    for offset in 1..=PROPOSAL_FLOOD {
                        if let Some(other) = self.equivocate_at(local, proposal, offset) {
                            variants.push(other);
                        }
                    }
                    for ahead in 1..=2 {
                        variants.push(self.out_of_turn(proposal, ahead));
                    }
                    let n = self.consensus().validators().len() as ValidatorIndex;
                    for v in (0..n).filter(|v| Some(*v) != self.me()) {
                        let first = v as usize % variants.len();
                        for k in 0..variants.len() {
                            let chosen = &variants[(first + k) % variants.len()];
                            actions.push(Action::Send {
                                target: Target::Validator(v),
                                bytes: ConsensusMessage::Proposal(Box::new(chosen.clone()))
                                    .to_bytes(),
                            });
                        }
                    }
                }
                _ => actions.push(Action::Send {
                    target,
                    bytes: message.to_bytes(),
                }),
            },
            Behavior::Garbage => {
                let bytes = if self.rng.chance(250) {
                    extreme(&message).to_bytes()
                } else if self.rng.chance(500) {
                    let length = if self.rng.chance(20) {
                        tenge_types::consensus::MAX_CONSENSUS_MESSAGE_BYTES + 1
                    } else {
                        self.rng.between(0, 300) as usize
                    };
                    (0..length).map(|_| self.rng.next_u64() as u8).collect()
                } else {
                    let mut bytes = message.to_bytes();
                    let position = self.rng.below(bytes.len() as u64) as usize;
                    bytes[position] ^= 1 + self.rng.below(255) as u8;
                    bytes
                };
                actions.push(Action::Send { target, bytes });
            }
            Behavior::Equivocator => match (&message, &target) {
                (ConsensusMessage::Proposal(proposal), Target::Others) => {
                    // A second, different, valid block for the same round: half the validators
                    // get one, half the other.
                    let other = self.equivocate(local, proposal);
                    let n = self.consensus().validators().len() as ValidatorIndex;
                    for v in (0..n).filter(|v| Some(*v) != self.me()) {
                        let chosen = match &other {
                            Some(other) if v % 2 == 1 => other,
                            _ => proposal,
                        };
                        actions.push(Action::Send {
                            target: Target::Validator(v),
                            bytes: ConsensusMessage::Proposal(Box::new(chosen.clone())).to_bytes(),
                        });
                    }
                }
                _ => actions.push(Action::Send {
                    target,
                    bytes: message.to_bytes(),
                }),
            },
            Behavior::DoubleVoter => {
                if let ConsensusMessage::Vote(vote) = &message {
                    let mut data = vote.data.clone();
                    data.block_id = tenge_types::Domain::Block.hash(&data.block_id.0);
                    let genesis_id = self.consensus().genesis_id();
                    let conflicting = Vote {
                        signature: self.signer().sign(&data.signing_hash(&genesis_id)),
                        data,
                        author: vote.author,
                    };
                    let target_copy = match &target {
                        Target::Validator(v) => Target::Validator(*v),
                        Target::Others => Target::Others,
                    };
                    actions.push(Action::Send {
                        target: target_copy,
                        bytes: ConsensusMessage::Vote(conflicting).to_bytes(),
                    });
                }
                actions.push(Action::Send {
                    target,
                    bytes: message.to_bytes(),
                });
            }
            Behavior::Honest
            | Behavior::Twin
            | Behavior::BadSignatures
            | Behavior::LyingSync
            | Behavior::SyncFlood => {
                unreachable!("{:?} sends what it signs unchanged", self.behavior)
            }
        }
    }

    fn equivocate(&mut self, local: TimestampMs, proposal: &Proposal) -> Option<Proposal> {
        self.equivocate_at(local, proposal, 1)
    }

    /// A proposal signed with this node's key for a later round (which it does not lead, or
    /// not yet), with the same block re-stamped for that round.
    fn out_of_turn(&self, proposal: &Proposal, ahead: u64) -> Proposal {
        let round = Round(proposal.round().0 + ahead);
        let mut block = proposal.block.clone();
        block.header.round = round;
        let genesis_id = self.consensus().genesis_id();
        Proposal {
            signature: self.signer().sign(&proposal_signing_hash(
                &genesis_id,
                &block.id(),
                round,
                &proposal.parent_qc,
                None,
            )),
            block,
            parent_qc: proposal.parent_qc.clone(),
            timeout_certificate: None,
            author: proposal.author,
        }
    }

    /// Another valid block for the proposal's round, stamped `offset` ms later.
    fn equivocate_at(
        &mut self,
        local: TimestampMs,
        proposal: &Proposal,
        offset: u64,
    ) -> Option<Proposal> {
        let round = proposal.round();
        let block = self.build(local, round, proposal.block.header.parent_id, offset)?;
        if block.id() == proposal.block.id() {
            return None;
        }
        let genesis_id = self.consensus().genesis_id();
        Some(Proposal {
            signature: self.signer().sign(&proposal_signing_hash(
                &genesis_id,
                &block.id(),
                round,
                &proposal.parent_qc,
                proposal.timeout_certificate.as_ref(),
            )),
            block,
            parent_qc: proposal.parent_qc.clone(),
            timeout_certificate: proposal.timeout_certificate.clone(),
            author: proposal.author,
        })
    }
}
