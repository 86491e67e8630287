//! The 2-chain safety rules (the Jolteon / DiemBFT-v4 family; Aptos `safety_rules_2chain` is the
//! public reference). Pure functions over [`SafetyData`]; the caller persists the updated data
//! with a synced write before the vote or timeout leaves the node (see `StagedMessages`).

use serde::{Deserialize, Serialize};
use tenge_types::consensus::{QuorumCertificate, Timeout, TimeoutCertificate, Vote};
use tenge_types::{Round, encode};

/// What a validator must remember across restarts to never contradict itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyData {
    /// The epoch these rounds are of: rounds start again in every epoch (D80).
    pub epoch: u64,
    /// Highest round voted in or timed out of; no vote at or below it.
    pub last_voted_round: Round,
    /// Highest parent round of any QC seen (the 2-chain round): no vote for a block whose QC is
    /// older than this.
    pub preferred_round: Round,
    /// Highest QC round seen (the 1-chain round): no timeout carrying an older QC.
    pub one_chain_round: Round,
    /// Highest round timed out of.
    pub highest_timeout_round: Round,
    /// Highest round proposed in as leader: never two proposals for one round.
    pub last_proposed_round: Round,
    /// The last vote, resent unchanged if the same proposal comes again.
    pub last_vote: Option<Vote>,
    /// The last timeout, resent unchanged while the round lasts (also after a restart).
    pub last_timeout: Option<Timeout>,
    /// The highest QC and the last TC known when this was written: after a restart the node
    /// resumes in the round they justify and can time out of it.
    pub high_qc: Option<QuorumCertificate>,
    pub last_tc: Option<TimeoutCertificate>,
}

impl SafetyData {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<SafetyData, tenge_types::DecodeError> {
        tenge_types::codec::decode_trusted("safety data", bytes)
    }
}

/// Why the rules refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SafetyViolation {
    #[error("round {round} is not above the last voted round {last_voted}")]
    AlreadyVoted { round: Round, last_voted: Round },
    #[error("block's QC round {qc_round} is below the preferred round {preferred}")]
    QcBelowPreferredRound { qc_round: Round, preferred: Round },
    #[error(
        "round {round} does not follow its QC round {qc_round}, nor a TC round {tc_round:?} whose \
         highest QC round {tc_high_qc_round:?} the QC reaches"
    )]
    NotSafeToVote {
        round: Round,
        qc_round: Round,
        tc_round: Option<Round>,
        tc_high_qc_round: Option<Round>,
    },
    #[error(
        "timeout round {round} follows neither its QC round {qc_round} nor a TC round {tc_round:?}"
    )]
    NotSafeToTimeout {
        round: Round,
        qc_round: Round,
        tc_round: Option<Round>,
    },
    #[error("timeout carries QC round {qc_round}, below the highest QC round seen {one_chain}")]
    TimeoutQcTooOld { qc_round: Round, one_chain: Round },
    #[error("timeout round {round} is below the last voted round {last_voted}")]
    TimeoutBelowLastVote { round: Round, last_voted: Round },
    #[error("already timed out of round {round}: resend that timeout instead")]
    AlreadyTimedOut { round: Round },
    #[error("already proposed in round {round}")]
    AlreadyProposed { round: Round },
}

/// Learns from a QC: the highest 1-chain and 2-chain rounds seen (Aptos `safety_rules.rs`
/// `observe_qc`).
pub fn observe_qc(data: &mut SafetyData, qc: &QuorumCertificate) {
    data.one_chain_round = data.one_chain_round.max(qc.round());
    data.preferred_round = data.preferred_round.max(qc.data.parent_round);
}

/// The voting rule for a block of `round` whose parent QC is `qc`, proposed after `tc` if the
/// previous round failed. On success the data records the vote's round.
pub fn check_vote(
    data: &mut SafetyData,
    round: Round,
    qc: &QuorumCertificate,
    tc: Option<&TimeoutCertificate>,
) -> Result<(), SafetyViolation> {
    observe_qc(data, qc);
    // First voting rule (Aptos `safety_rules.rs` `verify_and_update_last_vote_round`): one vote
    // per round, in increasing rounds.
    if round <= data.last_voted_round {
        return Err(SafetyViolation::AlreadyVoted {
            round,
            last_voted: data.last_voted_round,
        });
    }
    let qc_round = qc.round();
    // Second voting rule (Aptos `safety_rules.rs` `verify_and_update_preferred_round`): the QC is
    // not older than the highest 2-chain round seen. Aptos's 2-chain vote path does not apply
    // it; here it is kept as an extra restriction.
    if qc_round < data.preferred_round {
        return Err(SafetyViolation::QcBelowPreferredRound {
            qc_round,
            preferred: data.preferred_round,
        });
    }
    // The 2-chain voting rule of Jolteon (Gelashvili et al., "Jolteon and Ditto", FC 2022), as in
    // Aptos `safety_rules_2chain.rs` `safe_to_vote`: the round follows the QC's, or follows a
    // TC's whose highest reported QC this QC reaches.
    let follows_qc = round.follows(qc_round);
    let follows_tc =
        tc.is_some_and(|tc| round.follows(tc.round) && qc_round >= tc.highest_qc_round());
    if !(follows_qc || follows_tc) {
        return Err(SafetyViolation::NotSafeToVote {
            round,
            qc_round,
            tc_round: tc.map(|tc| tc.round),
            tc_high_qc_round: tc.map(TimeoutCertificate::highest_qc_round),
        });
    }
    data.last_voted_round = round;
    Ok(())
}

/// The timeout rule: a validator may time out of `round` carrying its highest QC `high_qc` if the
/// round follows that QC or the last TC, and the QC is the highest it has seen. On success the
/// data records the round, so it will not vote in it afterwards.
pub fn check_timeout(
    data: &mut SafetyData,
    round: Round,
    high_qc: &QuorumCertificate,
    last_tc: Option<&TimeoutCertificate>,
) -> Result<(), SafetyViolation> {
    observe_qc(data, high_qc);
    if round <= data.highest_timeout_round && data.highest_timeout_round.0 > 0 {
        return Err(SafetyViolation::AlreadyTimedOut { round });
    }
    if round < data.last_voted_round {
        return Err(SafetyViolation::TimeoutBelowLastVote {
            round,
            last_voted: data.last_voted_round,
        });
    }
    let qc_round = high_qc.round();
    // The 2-chain timeout rule of Jolteon (Gelashvili et al., "Jolteon and Ditto", FC 2022), as in
    // Aptos `safety_rules_2chain.rs` `safe_to_timeout`: the round follows the QC's or the TC's,
    // and the QC is not older than the highest 1-chain round seen.
    let follows = round.follows(qc_round) || last_tc.is_some_and(|tc| round.follows(tc.round));
    if !follows {
        return Err(SafetyViolation::NotSafeToTimeout {
            round,
            qc_round,
            tc_round: last_tc.map(|tc| tc.round),
        });
    }
    if qc_round < data.one_chain_round {
        return Err(SafetyViolation::TimeoutQcTooOld {
            qc_round,
            one_chain: data.one_chain_round,
        });
    }
    data.last_voted_round = data.last_voted_round.max(round);
    data.highest_timeout_round = data.highest_timeout_round.max(round);
    Ok(())
}

/// A leader proposes at most once per round.
pub fn check_proposal(data: &mut SafetyData, round: Round) -> Result<(), SafetyViolation> {
    if round <= data.last_proposed_round {
        return Err(SafetyViolation::AlreadyProposed { round });
    }
    data.last_proposed_round = round;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Each rule with a vote (or timeout) it allows and one it refuses.
    use super::*;
    use tenge_types::consensus::VoteData;
    use tenge_types::{HashValue, Height, Signature};

    fn qc(round: u64, parent_round: u64) -> QuorumCertificate {
        QuorumCertificate {
            data: VoteData {
                block_id: HashValue([round as u8; 32]),
                round: Round(round),
                height: Height(round),
                state_root: HashValue::ZERO,
                parent_id: HashValue([parent_round as u8; 32]),
                parent_round: Round(parent_round),
            },
            signatures: vec![(0, Signature([0; 64]))],
        }
    }

    /// A TC for `round` whose signers reported the given high-QC rounds.
    fn tc(round: u64, reported: &[u64]) -> TimeoutCertificate {
        let highest = reported.iter().copied().max().unwrap_or(0);
        TimeoutCertificate {
            round: Round(round),
            high_qc: qc(highest, highest.saturating_sub(1)),
            signatures: reported
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u16, Round(*r), Signature([0; 64])))
                .collect(),
        }
    }

    fn data(last_voted: u64, preferred: u64) -> SafetyData {
        SafetyData {
            last_voted_round: Round(last_voted),
            preferred_round: Round(preferred),
            ..SafetyData::default()
        }
    }

    struct VoteCase {
        rule: &'static str,
        safety: SafetyData,
        round: u64,
        qc: QuorumCertificate,
        tc: Option<TimeoutCertificate>,
        allowed: bool,
    }

    #[test]
    fn voting_rules_table() {
        let cases = [
            VoteCase {
                rule: "round above last vote: allowed",
                safety: data(4, 0),
                round: 5,
                qc: qc(4, 3),
                tc: None,
                allowed: true,
            },
            VoteCase {
                rule: "round at last vote: refused",
                safety: data(5, 0),
                round: 5,
                qc: qc(4, 3),
                tc: None,
                allowed: false,
            },
            VoteCase {
                rule: "round below last vote: refused",
                safety: data(7, 0),
                round: 5,
                qc: qc(4, 3),
                tc: None,
                allowed: false,
            },
            VoteCase {
                rule: "QC round + 1: allowed",
                safety: data(0, 0),
                round: 9,
                qc: qc(8, 7),
                tc: None,
                allowed: true,
            },
            VoteCase {
                rule: "gap after QC without TC: refused",
                safety: data(0, 0),
                round: 9,
                qc: qc(7, 6),
                tc: None,
                allowed: false,
            },
            VoteCase {
                rule: "TC round + 1, QC reaches TC's high QC: allowed",
                safety: data(0, 0),
                round: 9,
                qc: qc(6, 5),
                tc: Some(tc(8, &[6, 5, 4])),
                allowed: true,
            },
            VoteCase {
                rule: "TC round + 1, QC below TC's high QC: refused",
                safety: data(0, 0),
                round: 9,
                qc: qc(5, 4),
                tc: Some(tc(8, &[6, 5, 4])),
                allowed: false,
            },
            VoteCase {
                rule: "TC of an older round: refused",
                safety: data(0, 0),
                round: 9,
                qc: qc(6, 5),
                tc: Some(tc(7, &[6])),
                allowed: false,
            },
            VoteCase {
                rule: "QC at preferred round: allowed",
                safety: data(0, 6),
                round: 7,
                qc: qc(6, 5),
                tc: None,
                allowed: true,
            },
            VoteCase {
                rule: "QC below preferred round: refused",
                safety: data(0, 6),
                round: 9,
                qc: qc(5, 4),
                tc: Some(tc(8, &[5])),
                allowed: false,
            },
        ];
        for case in cases {
            let mut safety = case.safety.clone();
            let before = safety.clone();
            let result = check_vote(&mut safety, Round(case.round), &case.qc, case.tc.as_ref());
            assert_eq!(result.is_ok(), case.allowed, "{}: {result:?}", case.rule);
            if case.allowed {
                assert_eq!(safety.last_voted_round, Round(case.round), "{}", case.rule);
            } else {
                assert_eq!(
                    safety.last_voted_round, before.last_voted_round,
                    "{}",
                    case.rule
                );
            }
        }
    }

    #[test]
    fn observing_a_qc_raises_preferred_and_one_chain_rounds() {
        let mut safety = SafetyData::default();
        observe_qc(&mut safety, &qc(8, 7));
        assert_eq!(
            (safety.one_chain_round, safety.preferred_round),
            (Round(8), Round(7))
        );
        observe_qc(&mut safety, &qc(5, 2));
        assert_eq!(
            (safety.one_chain_round, safety.preferred_round),
            (Round(8), Round(7))
        );
        // Having seen QC(8, parent 7), a proposal on QC 6 after a TC is refused.
        let result = check_vote(&mut safety, Round(10), &qc(6, 5), Some(&tc(9, &[6])));
        assert!(matches!(
            result,
            Err(SafetyViolation::QcBelowPreferredRound { .. })
        ));
    }

    #[test]
    fn timeout_rules_table() {
        struct Case {
            rule: &'static str,
            safety: SafetyData,
            round: u64,
            high_qc: QuorumCertificate,
            tc: Option<TimeoutCertificate>,
            allowed: bool,
        }
        let with_one_chain = |last_voted: u64, one_chain: u64| SafetyData {
            last_voted_round: Round(last_voted),
            one_chain_round: Round(one_chain),
            ..SafetyData::default()
        };
        let cases = [
            Case {
                rule: "round after high QC: allowed",
                safety: with_one_chain(5, 4),
                round: 5,
                high_qc: qc(4, 3),
                tc: None,
                allowed: true,
            },
            Case {
                rule: "round after last TC: allowed",
                safety: with_one_chain(6, 4),
                round: 7,
                high_qc: qc(4, 3),
                tc: Some(tc(6, &[4])),
                allowed: true,
            },
            Case {
                rule: "round follows neither: refused",
                safety: with_one_chain(0, 4),
                round: 8,
                high_qc: qc(4, 3),
                tc: Some(tc(6, &[4])),
                allowed: false,
            },
            Case {
                rule: "high QC older than one seen: refused",
                safety: with_one_chain(0, 6),
                round: 5,
                high_qc: qc(4, 3),
                tc: None,
                allowed: false,
            },
            Case {
                rule: "round below last vote: refused",
                safety: with_one_chain(9, 4),
                round: 5,
                high_qc: qc(4, 3),
                tc: None,
                allowed: false,
            },
        ];
        for case in cases {
            let mut safety = case.safety.clone();
            let result = check_timeout(
                &mut safety,
                Round(case.round),
                &case.high_qc,
                case.tc.as_ref(),
            );
            assert_eq!(result.is_ok(), case.allowed, "{}: {result:?}", case.rule);
            if case.allowed {
                assert!(safety.last_voted_round >= Round(case.round));
                assert_eq!(safety.highest_timeout_round, Round(case.round));
            }
        }
    }

    #[test]
    fn one_timeout_per_round() {
        let mut safety = SafetyData::default();
        check_timeout(&mut safety, Round(5), &qc(4, 3), None).unwrap();
        // A second timeout for round 5, even with a higher QC, would be a second signature.
        assert_eq!(
            check_timeout(&mut safety, Round(5), &qc(4, 3), None),
            Err(SafetyViolation::AlreadyTimedOut { round: Round(5) })
        );
        assert!(check_timeout(&mut safety, Round(4), &qc(4, 3), None).is_err());
        check_timeout(&mut safety, Round(6), &qc(5, 4), None).unwrap();
    }

    #[test]
    fn no_vote_in_a_round_timed_out_of() {
        let mut safety = SafetyData::default();
        check_timeout(&mut safety, Round(5), &qc(4, 3), None).unwrap();
        assert!(matches!(
            check_vote(&mut safety, Round(5), &qc(4, 3), None),
            Err(SafetyViolation::AlreadyVoted { .. })
        ));
    }

    #[test]
    fn one_proposal_per_round() {
        let mut safety = SafetyData::default();
        check_proposal(&mut safety, Round(3)).unwrap();
        assert_eq!(
            check_proposal(&mut safety, Round(3)),
            Err(SafetyViolation::AlreadyProposed { round: Round(3) })
        );
        assert!(check_proposal(&mut safety, Round(2)).is_err());
        check_proposal(&mut safety, Round(4)).unwrap();
    }

    #[test]
    fn safety_data_round_trips() {
        let mut safety = data(3, 2);
        safety.last_proposed_round = Round(9);
        assert_eq!(SafetyData::from_bytes(&safety.to_bytes()).unwrap(), safety);
    }
}
