//! Collecting votes into QCs and timeouts into TCs, in the style of Aptos's `pending_votes.rs`.
//!
//! Pure bookkeeping: the caller verifies each message and lets at most one message per (author,
//! round) through (see `evidence.rs`) before inserting it here.

use std::collections::{BTreeMap, HashMap};

use tenge_types::consensus::{
    QuorumCertificate, Timeout, TimeoutCertificate, ValidatorIndex, Vote,
};
use tenge_types::{BlockId, HashValue, Round};

/// Votes per round, grouped by what they sign.
pub(crate) struct PendingVotes {
    genesis_id: BlockId,
    quorum: usize,
    votes: BTreeMap<Round, HashMap<HashValue, BTreeMap<ValidatorIndex, Vote>>>,
}

impl PendingVotes {
    /// `quorum` votes on the same data make a QC; `genesis_id` binds the signing hash that
    /// groups them to this network.
    pub(crate) fn new(genesis_id: BlockId, quorum: usize) -> PendingVotes {
        PendingVotes {
            genesis_id,
            quorum,
            votes: BTreeMap::new(),
        }
    }

    /// Adds a verified vote; returns the QC when this vote completes a quorum on its data. The
    /// QC forms exactly once: a further vote on the same data does not form it again.
    pub(crate) fn insert(&mut self, vote: Vote) -> Option<QuorumCertificate> {
        let digest = vote.data.signing_hash(&self.genesis_id);
        let voters = self
            .votes
            .entry(vote.data.round)
            .or_default()
            .entry(digest)
            .or_default();
        voters.insert(vote.author, vote);
        if voters.len() != self.quorum {
            return None;
        }
        let data = voters
            .values()
            .next()
            .expect("quorum is not empty")
            .data
            .clone();
        let signatures = voters
            .iter()
            .map(|(author, vote)| (*author, vote.signature))
            .collect();
        Some(QuorumCertificate { data, signatures })
    }

    /// Forgets the rounds below `round`.
    pub(crate) fn retain_from(&mut self, round: Round) {
        self.votes = self.votes.split_off(&round);
    }

    /// The lowest and highest rounds held.
    pub(crate) fn round_range(&self) -> Option<(Round, Round)> {
        Some((
            *self.votes.first_key_value()?.0,
            *self.votes.last_key_value()?.0,
        ))
    }

    /// The authors of the votes held for `round`, per signing hash.
    #[cfg(test)]
    pub(crate) fn voters(&self, round: Round) -> Vec<(HashValue, Vec<ValidatorIndex>)> {
        self.votes.get(&round).map_or_else(Vec::new, |by_digest| {
            let mut voters: Vec<_> = by_digest
                .iter()
                .map(|(digest, voters)| (*digest, voters.keys().copied().collect()))
                .collect();
            voters.sort();
            voters
        })
    }
}

/// Timeouts per round.
pub(crate) struct PendingTimeouts {
    quorum: usize,
    timeouts: BTreeMap<Round, BTreeMap<ValidatorIndex, Timeout>>,
}

impl PendingTimeouts {
    /// `quorum` timeouts for a round make a TC.
    pub(crate) fn new(quorum: usize) -> PendingTimeouts {
        PendingTimeouts {
            quorum,
            timeouts: BTreeMap::new(),
        }
    }

    /// Adds a verified timeout (replacing its author's earlier one for the round); returns a TC
    /// whenever the round has a quorum, so every timeout past the quorum forms one again. The
    /// TC carries the highest QC its signers reported.
    pub(crate) fn insert(&mut self, timeout: Timeout) -> Option<TimeoutCertificate> {
        let round = timeout.round;
        let collected = self.timeouts.entry(round).or_default();
        collected.insert(timeout.author, timeout);
        if collected.len() < self.quorum {
            return None;
        }
        let high_qc = collected
            .values()
            .map(|t| &t.high_qc)
            .max_by_key(|qc| qc.round())
            .expect("quorum is not empty")
            .clone();
        let signatures = collected
            .iter()
            .map(|(author, t)| (*author, t.high_qc.round(), t.signature))
            .collect();
        Some(TimeoutCertificate {
            round,
            high_qc,
            signatures,
        })
    }

    /// How many validators timed out of `round`.
    pub(crate) fn count(&self, round: Round) -> usize {
        self.timeouts.get(&round).map_or(0, BTreeMap::len)
    }

    /// Forgets the rounds below `round`.
    pub(crate) fn retain_from(&mut self, round: Round) {
        self.timeouts = self.timeouts.split_off(&round);
    }

    /// The lowest and highest rounds held.
    pub(crate) fn round_range(&self) -> Option<(Round, Round)> {
        Some((
            *self.timeouts.first_key_value()?.0,
            *self.timeouts.last_key_value()?.0,
        ))
    }

    /// Whether `author`'s timeout for `round` is held.
    #[cfg(test)]
    pub(crate) fn contains(&self, round: Round, author: ValidatorIndex) -> bool {
        self.timeouts
            .get(&round)
            .is_some_and(|collected| collected.contains_key(&author))
    }
}

#[cfg(test)]
mod tests {
    //! The aggregators alone: they count, they do not verify, so signatures here are dummies.
    use super::*;
    use tenge_types::consensus::VoteData;
    use tenge_types::{Height, Signature};

    const QUORUM: usize = 3;

    fn data(round: u64, salt: u8) -> VoteData {
        VoteData {
            block_id: HashValue([salt; 32]),
            round: Round(round),
            height: Height(round),
            state_root: HashValue::ZERO,
            parent_id: HashValue([0; 32]),
            parent_round: Round(round - 1),
        }
    }

    fn vote(author: ValidatorIndex, data: &VoteData) -> Vote {
        Vote {
            data: data.clone(),
            author,
            signature: Signature([author as u8; 64]),
        }
    }

    fn qc_of_round(round: u64) -> QuorumCertificate {
        QuorumCertificate {
            data: data(round, round as u8),
            signatures: vec![],
        }
    }

    fn timeout(author: ValidatorIndex, round: u64, high_qc_round: u64) -> Timeout {
        Timeout {
            round: Round(round),
            high_qc: qc_of_round(high_qc_round),
            last_tc: None,
            author,
            signature: Signature([author as u8; 64]),
        }
    }

    #[test]
    fn a_quorum_of_votes_on_the_same_data_forms_one_qc() {
        let mut votes = PendingVotes::new(HashValue([9; 32]), QUORUM);
        let block = data(5, 1);
        // Inserted out of author order: the QC lists its signers sorted.
        assert_eq!(votes.insert(vote(2, &block)), None);
        assert_eq!(votes.insert(vote(0, &block)), None);
        let qc = votes
            .insert(vote(3, &block))
            .expect("the third vote makes a quorum");
        assert_eq!(qc.data, block);
        assert_eq!(
            qc.signatures,
            vec![
                (0, Signature([0; 64])),
                (2, Signature([2; 64])),
                (3, Signature([3; 64]))
            ]
        );
        assert_eq!(votes.insert(vote(1, &block)), None, "the QC forms once");
    }

    #[test]
    fn votes_on_different_data_do_not_add_up() {
        let mut votes = PendingVotes::new(HashValue([9; 32]), QUORUM);
        let (a, b) = (data(5, 1), data(5, 2));
        assert_eq!(votes.insert(vote(0, &a)), None);
        assert_eq!(votes.insert(vote(1, &a)), None);
        assert_eq!(
            votes.insert(vote(2, &b)),
            None,
            "two for a, one for b: no quorum"
        );
        assert_eq!(votes.round_range(), Some((Round(5), Round(5))));
    }

    #[test]
    fn old_rounds_are_forgotten() {
        let mut votes = PendingVotes::new(HashValue([9; 32]), QUORUM);
        let mut timeouts = PendingTimeouts::new(QUORUM);
        for round in 3..=6 {
            assert_eq!(votes.insert(vote(0, &data(round, 1))), None);
            assert_eq!(timeouts.insert(timeout(0, round, 1)), None);
        }
        votes.retain_from(Round(5));
        timeouts.retain_from(Round(5));
        assert_eq!(votes.round_range(), Some((Round(5), Round(6))));
        assert_eq!(timeouts.round_range(), Some((Round(5), Round(6))));
        assert_eq!(timeouts.count(Round(4)), 0);
        // A round that was forgotten starts again from nothing.
        assert_eq!(votes.insert(vote(1, &data(4, 1))), None);
        assert_eq!(votes.insert(vote(2, &data(4, 1))), None);
    }

    #[test]
    fn a_quorum_of_timeouts_forms_a_tc_with_the_highest_qc() {
        let mut timeouts = PendingTimeouts::new(QUORUM);
        assert_eq!(timeouts.insert(timeout(1, 7, 4)), None);
        assert_eq!(timeouts.insert(timeout(3, 7, 6)), None);
        assert_eq!(timeouts.count(Round(7)), 2);
        let tc = timeouts
            .insert(timeout(0, 7, 5))
            .expect("the third timeout makes a quorum");
        assert_eq!(tc.round, Round(7));
        assert_eq!(
            tc.high_qc,
            qc_of_round(6),
            "the highest QC any signer reported"
        );
        assert_eq!(
            tc.signatures,
            vec![
                (0, Round(5), Signature([0; 64])),
                (1, Round(4), Signature([1; 64])),
                (3, Round(6), Signature([3; 64])),
            ]
        );
        // Unlike votes, every timeout past the quorum forms a TC again, with its signature.
        let again = timeouts
            .insert(timeout(2, 7, 3))
            .expect("past the quorum, still a TC");
        assert_eq!(again.signatures.len(), 4);
        assert_eq!(timeouts.count(Round(7)), 4);
        assert!(timeouts.contains(Round(7), 2));
        assert!(!timeouts.contains(Round(8), 2));
    }
}
