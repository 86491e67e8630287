//! Rounds: entering a round on a QC or a TC, the round timer and its back-off, and timeouts.

use tenge_types::Round;
use tenge_types::consensus::{
    ConsensusMessage, QuorumCertificate, Timeout, TimeoutCertificate, ValidatorIndex,
};

use crate::evidence::{SignedKind, Signing, timeout_evidence};
use crate::{
    Consensus, Effect, FUTURE_ROUNDS, InvalidMessage, Outgoing, check_timeout, observe_qc,
};

impl Consensus {
    /// Learns from a verified QC: highest QC, commits, missing blocks, round.
    pub(crate) fn process_qc(
        &mut self,
        qc: &QuorumCertificate,
        hint: ValidatorIndex,
        effects: &mut Vec<Effect>,
    ) {
        observe_qc(&mut self.safety, qc);
        if self.halt_if_certified_block_failed(qc, effects) {
            return;
        }
        if qc.round() > self.high_qc.round() {
            self.high_qc = qc.clone();
        }
        if qc.data.height > self.committed.block.header.height {
            self.want(qc.block_id(), qc.data.height, hint, effects);
        }
        self.note_commit(qc);
        self.try_commit(effects);
        // Enter the round after the highest certified one, as Aptos `round_state.rs`
        // `process_certificates` does with the highest QC or TC round.
        self.advance_round(qc.round().saturating_next(), true, effects);
    }

    pub(crate) fn process_tc(
        &mut self,
        tc: &TimeoutCertificate,
        hint: ValidatorIndex,
        effects: &mut Vec<Effect>,
    ) {
        self.process_qc(&tc.high_qc, hint, effects);
        if self
            .last_tc
            .as_ref()
            .is_none_or(|last| last.round < tc.round)
        {
            self.last_tc = Some(tc.clone());
        }
        // As for a QC: the round after the TC's (Aptos `round_state.rs` `process_certificates`).
        self.advance_round(tc.round.saturating_next(), false, effects);
    }

    pub(crate) fn advance_round(&mut self, round: Round, by_qc: bool, effects: &mut Vec<Effect>) {
        if round <= self.round {
            return;
        }
        self.round = round;
        self.failed_rounds = if by_qc {
            0
        } else {
            self.failed_rounds.saturating_add(1)
        };
        self.current_proposal = None;
        // Keep only recent aggregation state.
        let keep_from = Round(round.0.saturating_sub(2));
        self.votes.retain_from(keep_from);
        self.timeouts.retain_from(keep_from);
        // No message below `keep_from` is accepted any more (votes from one round back are the
        // oldest), so its record can neither be used nor conflict.
        self.signed.retain_from(keep_from);
        self.schedule_timer(effects);
        self.try_propose(effects);
        self.first_proposal = self.first_proposal.split_off(&round);
        // A proposal for the new round may have arrived before the certificate that opens it.
        if let Some(&id) = self.first_proposal.get(&round) {
            self.current_proposal = Some(id);
            self.try_vote(id, effects);
        }
    }

    /// The back-off: base × 2^(rounds failed in a row), capped.
    pub fn round_timeout_ms(&self) -> u64 {
        let factor = 1u64
            .checked_shl(self.failed_rounds.min(20))
            .unwrap_or(u64::MAX);
        self.config
            .round_timeout_base_ms
            .saturating_mul(factor)
            .min(self.config.round_timeout_max_ms)
    }

    pub(crate) fn schedule_timer(&self, effects: &mut Vec<Effect>) {
        effects.push(Effect::ScheduleTimer {
            round: self.round,
            after_ms: self.round_timeout_ms(),
        });
    }

    pub(crate) fn on_timer(&mut self, round: Round, effects: &mut Vec<Effect>) {
        if round != self.round {
            return;
        }
        self.send_timeout(effects);
        self.refetch(effects);
        self.schedule_timer(effects);
    }

    pub(crate) fn send_timeout(&mut self, effects: &mut Vec<Effect>) {
        let round = self.round;
        let timeout = match &self.safety.last_timeout {
            Some(timeout) if timeout.round == round => timeout.clone(),
            _ => {
                let mut safety = self.safety.clone();
                if check_timeout(&mut safety, round, &self.high_qc, self.last_tc.as_ref()).is_err()
                {
                    return;
                }
                let mut timeout = Timeout {
                    round,
                    high_qc: self.high_qc.clone(),
                    last_tc: self.last_tc.clone(),
                    author: self.me,
                    signature: tenge_types::Signature([0; 64]),
                };
                timeout.signature = self
                    .signer
                    .sign(&timeout.data().signing_hash(&self.genesis_id()));
                safety.last_timeout = Some(timeout.clone());
                self.safety = safety;
                timeout
            }
        };
        let mut outgoing = Vec::with_capacity(4);
        // This round's vote, if any, goes to every validator ahead of the timeout, as Aptos's
        // round manager sends a vote with its timeout: it went to the next leader only, and when
        // that leader is down the others still certify the block from it, so a down validator
        // costs the chain one round instead of the two around its turn (D85). The same signed
        // vote again is no equivocation; a receiver that counted it already drops it unchecked.
        if let Some(vote) = self
            .safety
            .last_vote
            .as_ref()
            .filter(|vote| vote.data.round == round)
        {
            let message = ConsensusMessage::Vote(vote.clone());
            outgoing.push(Outgoing::Broadcast {
                message: message.clone(),
            });
            outgoing.push(Outgoing::Send {
                to: self.me,
                message,
            });
        }
        let message = ConsensusMessage::Timeout(Box::new(timeout));
        outgoing.push(Outgoing::Broadcast {
            message: message.clone(),
        });
        outgoing.push(Outgoing::Send {
            to: self.me,
            message,
        });
        effects.push(self.stage(self.safety.clone(), None, outgoing));
    }

    pub(crate) fn on_timeout(
        &mut self,
        from: ValidatorIndex,
        timeout: Timeout,
        effects: &mut Vec<Effect>,
    ) -> Result<(), InvalidMessage> {
        let brings_tc = timeout
            .last_tc
            .as_ref()
            .is_some_and(|tc| tc.round >= self.round);
        if timeout.round < self.round
            && timeout.high_qc.round() <= self.high_qc.round()
            && !brings_tc
        {
            return Ok(());
        }
        self.verifier.verify_timeout(&timeout)?;
        let author = timeout.author;
        self.process_qc(&timeout.high_qc, author, effects);
        if let Some(tc) = &timeout.last_tc
            && tc.round >= self.round
        {
            // The TC is not covered by the timeout's signature, so a bad one says nothing about
            // the timeout's author: the penalty is for `from`, who sent it (anyone can attach a
            // forged TC to another validator's old timeout). The genuine timeout still counts.
            match self.verifier.verify_tc(tc) {
                Ok(()) => self.process_tc(tc, author, effects),
                Err(reason) => effects.push(Effect::Invalid { from, reason }),
            }
        }
        let round = timeout.round;
        if round < self.round || round.0 > self.round.0.saturating_add(FUTURE_ROUNDS) {
            return Ok(());
        }
        let digest = timeout.data().signing_hash(&self.genesis_id());
        match self.record_signed(
            SignedKind::Timeout,
            author,
            round,
            digest,
            || timeout_evidence(&timeout),
            effects,
        ) {
            Signing::First | Signing::Repeat => {}
            Signing::Stale => return Ok(()),
            // The first timeout of the round stays the one counted.
            Signing::Conflict => {
                return Err(InvalidMessage::Equivocation {
                    author,
                    round,
                    kind: SignedKind::Timeout.name(),
                });
            }
        }
        let tc = self.timeouts.insert(timeout);
        let count = self.timeouts.count(round);
        let echo = self.validators().max_faulty() + 1;
        if let Some(tc) = tc {
            self.process_tc(&tc, author, effects);
        } else if count >= echo
            && round == self.round
            && self
                .safety
                .last_timeout
                .as_ref()
                .is_none_or(|t| t.round < round)
        {
            // f+1 validators gave up on this round, so at least one honest one did: join them
            // rather than wait out the full timer.
            self.send_timeout(effects);
        }
        Ok(())
    }
}
