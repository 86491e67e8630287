//! Leading a round: asking for a payload and proposing it.

use tenge_types::consensus::{ConsensusMessage, Proposal, proposal_signing_hash};
use tenge_types::{Block, Round};

use crate::block_tree::{Entry, Execution};
use crate::evidence::{SignedKind, proposal_evidence};
use crate::{Consensus, Effect, Outgoing, check_proposal};

impl Consensus {
    pub(crate) fn try_propose(&mut self, effects: &mut Vec<Effect>) {
        let round = self.round;
        if self.validators().leader(round) != self.me
            || self.safety.last_proposed_round >= round
            || self.payload_requested == Some(round)
        {
            return;
        }
        // A round is justified by the QC of the round before it, or by a TC for it: the leader's
        // side of the 2-chain voting rule (Aptos `safety_rules_2chain.rs` `safe_to_vote`), since
        // no validator would vote for an unjustified proposal.
        let justified = round.follows(self.high_qc.round())
            || self
                .last_tc
                .as_ref()
                .is_some_and(|tc| round.follows(tc.round));
        if !justified || !self.is_executed(&self.high_qc.block_id()) {
            return;
        }
        self.payload_requested = Some(round);
        effects.push(Effect::RequestPayload {
            round,
            parent_id: self.high_qc.block_id(),
        });
    }

    pub(crate) fn on_payload(&mut self, round: Round, block: Block, effects: &mut Vec<Effect>) {
        if round != self.round || self.safety.last_proposed_round >= round {
            return;
        }
        let parent_qc = self.high_qc.clone();
        if block.header.parent_id != parent_qc.block_id() || block.header.round != round {
            // The high QC moved on while the block was built: build again on the new one.
            self.payload_requested = None;
            self.try_propose(effects);
            return;
        }
        // After a failed round the proposal carries the TC that justifies it, so that voters can
        // check the TC branch of the 2-chain voting rule (Aptos `safe_to_vote`).
        let timeout_certificate = if round.follows(parent_qc.round()) {
            None
        } else {
            self.last_tc.clone().filter(|tc| round.follows(tc.round))
        };
        let mut safety = self.safety.clone();
        if check_proposal(&mut safety, round).is_err() {
            return;
        }
        let block_id = block.id();
        let proposal = Proposal {
            signature: self.signer.sign(&proposal_signing_hash(
                &self.genesis_id(),
                &block_id,
                round,
                &parent_qc,
                timeout_certificate.as_ref(),
            )),
            block: block.clone(),
            parent_qc: parent_qc.clone(),
            timeout_certificate: timeout_certificate.clone(),
            author: self.me,
        };
        let mut outgoing = vec![Outgoing::Broadcast {
            message: ConsensusMessage::Proposal(Box::new(proposal.clone())),
        }];
        if let Some(vote) = self.sign_vote(
            &mut safety,
            &block,
            &parent_qc,
            timeout_certificate.as_ref(),
        ) {
            outgoing.push(self.vote_message(vote));
        }
        self.record_signed(
            SignedKind::Proposal,
            self.me,
            round,
            block_id,
            || proposal_evidence(&proposal),
            effects,
        );
        self.safety = safety.clone();
        self.blocks.insert(
            block_id,
            Entry {
                block,
                parent_qc,
                timeout_certificate,
                execution: Execution::Done,
            },
        );
        self.current_proposal = Some(block_id);
        effects.push(self.stage(safety, Some(block_id), outgoing));
    }
}
