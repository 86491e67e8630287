//! What must hold after every step (TigerBeetle's `invariants()`): checked at the end of every
//! [`Consensus::handle`]. A failure is a bug in this crate, so it panics, naming the broken rule.

use crate::Consensus;
use crate::block_tree::Execution;
use crate::staged::SafetyRounds;
use crate::{FUTURE_ROUNDS, Round};

impl Consensus {
    /// Asserts the invariants of the core's state. Costs O(blocks held + rounds of votes and
    /// timeouts held): nothing next to the signature checks of a step.
    pub(crate) fn invariants(&self) {
        if self.halted.is_some() {
            // A halt stops a step half-way by design (e.g. before the round advances past a
            // new high QC); the state is frozen for investigation, not used.
            return;
        }
        let high_qc_round = self.high_qc.round();
        // The epoch's start block is round 0 of this instance, whatever its header's round in
        // the epoch before (D80).
        let head_round = if self.committed.block.id() == self.verifier.genesis_id() {
            Round(0)
        } else {
            self.committed.block.header.round
        };
        assert_eq!(
            self.committed_round, head_round,
            "the committed round is the committed head's"
        );
        assert!(
            self.committed_round <= high_qc_round,
            "committed round {} above the high QC round {high_qc_round}",
            self.committed_round
        );
        assert!(
            high_qc_round < self.round,
            "round {} not above the high QC round {high_qc_round}",
            self.round
        );
        if let Some(tc) = &self.last_tc {
            assert!(
                tc.round < self.round,
                "round {} not above the last TC round {}",
                self.round,
                tc.round
            );
        }

        // The safety data has seen every QC the core has.
        assert!(
            self.safety.one_chain_round >= high_qc_round,
            "one-chain round {} below the high QC round {high_qc_round}",
            self.safety.one_chain_round
        );
        assert!(
            self.safety.preferred_round >= self.high_qc.data.parent_round,
            "preferred round {} below the high QC's parent round {}",
            self.safety.preferred_round,
            self.high_qc.data.parent_round
        );
        if let Some(vote) = &self.safety.last_vote {
            assert!(
                vote.data.round <= self.safety.last_voted_round,
                "last vote's round {} above the last voted round {}",
                vote.data.round,
                self.safety.last_voted_round
            );
        }
        if let Some(timeout) = &self.safety.last_timeout {
            assert!(
                timeout.round <= self.safety.highest_timeout_round,
                "last timeout's round {} above the highest timeout round {}",
                timeout.round,
                self.safety.highest_timeout_round
            );
        }
        // Memory never falls behind what was handed out to be persisted.
        SafetyRounds::of(&self.safety)
            .assert_not_below(&self.staged_rounds, "safety data in memory vs. staged");

        // A pending commit commits something new, with a QC the core has seen.
        if let Some(qc) = &self.pending_commit {
            let commit_round = qc.data.commits().map(|(_, round)| round);
            assert!(
                commit_round.is_some_and(|round| round > self.committed_round),
                "pending commit of round {commit_round:?} not above the committed round {}",
                self.committed_round
            );
            assert!(
                qc.round() <= high_qc_round,
                "pending commit's QC round {} above the high QC round {high_qc_round}",
                qc.round()
            );
        }

        // Every held block lies above the committed head, except one fetched on a request made
        // before the commit moved past it (`on_fetched` takes any block still wanted): such a
        // block's parent lies below the committed head, so it can never execute, and the next
        // commit prunes it. Checked as: at or below the committed height, only waiting blocks.
        let committed_height = self.committed.block.header.height;
        for entry in self.blocks.values() {
            assert!(
                entry.block.header.height > committed_height
                    || entry.execution == Execution::Waiting,
                "block at height {} ({:?}) held at or below the committed height {committed_height}",
                entry.block.header.height,
                entry.execution
            );
        }

        // Aggregation is bounded to a window of rounds around the current one.
        let lowest = Round(self.round.0.saturating_sub(2));
        let highest = Round(self.round.0.saturating_add(FUTURE_ROUNDS));
        for (what, range) in [
            ("votes", self.votes.round_range()),
            ("timeouts", self.timeouts.round_range()),
        ] {
            if let Some((low, high)) = range {
                assert!(
                    lowest <= low && high <= highest,
                    "{what} held for rounds {low}..={high}, outside {lowest}..={highest}"
                );
            }
        }
    }
}
