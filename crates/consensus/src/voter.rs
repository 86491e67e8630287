//! Following a round: checking proposals, voting for them, and collecting votes into QCs.

use tenge_types::consensus::{
    ConsensusMessage, Proposal, QuorumCertificate, TimeoutCertificate, ValidatorIndex, Vote,
    VoteData,
};
use tenge_types::{Block, BlockId};

use crate::block_tree::{Entry, Execution};
use crate::evidence::{SignedKind, Signing, proposal_evidence, vote_evidence};
use crate::{Consensus, Effect, FUTURE_ROUNDS, InvalidMessage, Outgoing, SafetyData, check_vote};

impl Consensus {
    pub(crate) fn on_proposal(
        &mut self,
        from: ValidatorIndex,
        proposal: Proposal,
        effects: &mut Vec<Effect>,
    ) -> Result<(), InvalidMessage> {
        let round = proposal.round();
        let block_id = proposal.block.id();
        // A leader already caught equivocating in this round gets no more signature checks
        // (see the one-proposal rule below).
        if self
            .signed
            .proposals
            .get(&(proposal.author, round))
            .is_some_and(|first| first.equivocated && first.digest != block_id)
        {
            return Err(InvalidMessage::Equivocation {
                author: proposal.author,
                round,
                kind: SignedKind::Proposal.name(),
            });
        }
        self.verifier.verify_proposal(&proposal)?;
        // Signed in this epoch's domain, so by one of its validators, who must label the block
        // with it: a block of another epoch here would be committed under the wrong set's name.
        if proposal.block.header.epoch != self.epoch {
            return Err(InvalidMessage::Inconsistent(format!(
                "block of epoch {} proposed in epoch {}",
                proposal.block.header.epoch, self.epoch
            )));
        }
        let height = proposal.block.header.height;
        // Certificates first: they may move this node to the proposal's round.
        self.process_qc(&proposal.parent_qc, from, effects);
        if let Some(tc) = &proposal.timeout_certificate {
            self.process_tc(tc, from, effects);
        }
        if round < self.round || round.0 > self.round.0.saturating_add(FUTURE_ROUNDS) {
            // Too old to vote on, or too far ahead to keep; fetching finds it if it is needed.
            self.execute_ready(effects);
            return Ok(());
        }
        // At most one proposal per (author, round) is stored and executed, as Aptos's
        // `UnequivocalProposerElection` does: a leader that signs many blocks for its round
        // would otherwise make every node store and execute each of them. The later ones are
        // evidence only; if a quorum certifies one of them, it is fetched like any missing
        // certified block.
        match self.record_signed(
            SignedKind::Proposal,
            proposal.author,
            round,
            block_id,
            || proposal_evidence(&proposal),
            effects,
        ) {
            Signing::First | Signing::Repeat => {}
            Signing::Stale => return Ok(()),
            Signing::Conflict => {
                return Err(InvalidMessage::Equivocation {
                    author: proposal.author,
                    round,
                    kind: SignedKind::Proposal.name(),
                });
            }
        }
        if let Some(entry) = self.blocks.get_mut(&block_id)
            && entry.timeout_certificate.is_none()
        {
            // Known from a fetch, which carries no TC: the proposal's TC is needed to vote.
            entry.timeout_certificate = proposal.timeout_certificate.clone();
        }
        let is_new =
            height > self.committed.block.header.height && !self.blocks.contains_key(&block_id);
        if is_new {
            self.wanted.remove(&block_id);
            self.blocks.insert(
                block_id,
                Entry {
                    block: proposal.block,
                    parent_qc: proposal.parent_qc.clone(),
                    timeout_certificate: proposal.timeout_certificate.clone(),
                    execution: Execution::Waiting,
                },
            );
        }
        if self.blocks.contains_key(&block_id) {
            self.first_proposal.entry(round).or_insert(block_id);
        }
        if round == self.round && self.current_proposal.is_none() {
            self.current_proposal = self.first_proposal.get(&round).copied();
        }
        self.execute_ready(effects);
        self.try_vote(block_id, effects);
        Ok(())
    }

    pub(crate) fn try_vote(&mut self, block_id: BlockId, effects: &mut Vec<Effect>) {
        if self.current_proposal != Some(block_id) {
            return;
        }
        let Some(entry) = self.blocks.get(&block_id) else {
            return;
        };
        if entry.execution != Execution::Done || entry.block.header.round != self.round {
            return;
        }
        // Consensus time may not run ahead of this node's clock by more than the allowed skew.
        if entry.block.header.timestamp.0 > self.now.0.saturating_add(self.config.max_clock_skew_ms)
        {
            return;
        }
        // Voted already for this block: send the same vote again, as Aptos
        // `guarded_construct_and_sign_vote_two_chain` does for a round already voted in.
        if let Some(last) = &self.safety.last_vote
            && last.data.block_id == block_id
        {
            let message = self.vote_message(last.clone());
            effects.push(self.stage(self.safety.clone(), None, vec![message]));
            return;
        }
        let block = entry.block.clone();
        let parent_qc = entry.parent_qc.clone();
        let tc = entry.timeout_certificate.clone();
        let mut safety = self.safety.clone();
        if let Some(vote) = self.sign_vote(&mut safety, &block, &parent_qc, tc.as_ref()) {
            self.safety = safety.clone();
            let message = self.vote_message(vote);
            effects.push(self.stage(safety, Some(block_id), vec![message]));
        }
    }

    /// Applies the voting rule and signs; updates `safety` (the caller stages it).
    pub(crate) fn sign_vote(
        &self,
        safety: &mut SafetyData,
        block: &Block,
        parent_qc: &QuorumCertificate,
        tc: Option<&TimeoutCertificate>,
    ) -> Option<Vote> {
        let round = block.header.round;
        check_vote(safety, round, parent_qc, tc).ok()?;
        let data = VoteData {
            block_id: block.id(),
            round,
            height: block.header.height,
            state_root: block.header.state_root,
            parent_id: parent_qc.block_id(),
            parent_round: parent_qc.round(),
        };
        let vote = Vote {
            signature: self.signer.sign(&data.signing_hash(&self.genesis_id())),
            data,
            author: self.me,
        };
        safety.last_vote = Some(vote.clone());
        Some(vote)
    }

    pub(crate) fn vote_message(&self, vote: Vote) -> Outgoing {
        let next_leader = self.validators().leader(vote.data.round.saturating_next());
        Outgoing::Send {
            to: next_leader,
            message: ConsensusMessage::Vote(vote),
        }
    }

    pub(crate) fn on_vote(
        &mut self,
        vote: Vote,
        effects: &mut Vec<Effect>,
    ) -> Result<(), InvalidMessage> {
        let round = vote.data.round;
        if round.saturating_next() < self.round {
            return Ok(()); // stale: a QC for it would not move anything
        }
        if round.0 > self.round.0.saturating_add(FUTURE_ROUNDS) {
            return Ok(()); // too far ahead to keep: bounded memory against a flood of votes
        }
        // One vote per (author, round), as Aptos's `PendingVotes` keeps: the first verified vote
        // counts. A different one is verified once, to become evidence; after that, further
        // ones are dropped unverified, so a Byzantine validator costs at most two signature
        // checks and one stored vote per round.
        let author = vote.author;
        let digest = vote.data.signing_hash(&self.genesis_id());
        match self.signed.votes.get(&(author, round)) {
            Some(first) if first.digest == digest => return Ok(()), // counted already
            Some(first) if first.equivocated => {
                return Err(InvalidMessage::Equivocation {
                    author,
                    round,
                    kind: SignedKind::Vote.name(),
                });
            }
            _ => {}
        }
        self.verifier.verify_vote(&vote)?;
        match self.record_signed(
            SignedKind::Vote,
            author,
            round,
            digest,
            || vote_evidence(&vote),
            effects,
        ) {
            Signing::First => {}
            Signing::Repeat | Signing::Stale => return Ok(()),
            Signing::Conflict => {
                return Err(InvalidMessage::Equivocation {
                    author,
                    round,
                    kind: SignedKind::Vote.name(),
                });
            }
        }
        if let Some(qc) = self.votes.insert(vote) {
            let hint = self.me;
            self.process_qc(&qc, hint, effects);
        }
        Ok(())
    }
}
