//! Table tests of [`Consensus::handle`] in the style of Malachite's: each scenario is a list of
//! steps, an input and the exact effects it must produce, in order, with the round after it.
//! Validators are 0..4 (f = 1, quorum 3); the leader of round r is r mod 4.

use std::convert::Infallible;

use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, ValidatorIndex,
};
use tenge_types::{Block, BlockId, Round, Signature, TimestampMs};

use super::{
    block_on, fresh, genesis_block, node, proposal, qc, timeout, validators, vote, vote_data,
};
use crate::{Consensus, Effect, Input, InvalidMessage, Outgoing, SafetyData, SafetyStorage};

/// One input and what must come out of it.
struct TestStep {
    name: &'static str,
    input: Input,
    expected_effects: Vec<Seen>,
    /// The core's round after the step.
    round_after: u64,
}

/// An [`Effect`] reduced to what a step asserts; signed messages are taken out by persisting
/// them, as the engine does.
#[derive(Debug, PartialEq)]
enum Seen {
    ScheduleTimer {
        round: Round,
        after_ms: u64,
    },
    RequestPayload {
        round: Round,
        parent_id: BlockId,
    },
    ExecuteBlock {
        block_id: BlockId,
    },
    /// The safety data persisted (its rounds, and the block persisted with a vote), then the
    /// messages handed over to send.
    Signed {
        last_voted_round: Round,
        last_proposed_round: Round,
        highest_timeout_round: Round,
        voted_block: Option<BlockId>,
        outgoing: Vec<Outgoing>,
    },
    Commit {
        blocks: Vec<BlockId>,
        certificate: QuorumCertificate,
    },
    Invalid {
        from: ValidatorIndex,
        reason: InvalidMessage,
    },
    /// Any other effect, which no step here expects.
    Unexpected(String),
}

/// Safety storage that keeps what it is given.
#[derive(Default)]
struct Recorder {
    persisted: Vec<(SafetyData, Option<BlockId>)>,
}

impl SafetyStorage for Recorder {
    type Error = Infallible;

    fn persist_safety_data(
        &mut self,
        data: &SafetyData,
        voted_block: Option<&BlockWithParentQc>,
    ) -> Result<(), Infallible> {
        self.persisted
            .push((data.clone(), voted_block.map(|b| b.block.id())));
        Ok(())
    }
}

fn seen(effect: Effect) -> Seen {
    match effect {
        Effect::ScheduleTimer { round, after_ms } => Seen::ScheduleTimer { round, after_ms },
        Effect::RequestPayload { round, parent_id } => Seen::RequestPayload { round, parent_id },
        Effect::ExecuteBlock { block } => Seen::ExecuteBlock {
            block_id: block.id(),
        },
        Effect::Signed(staged) => {
            let mut storage = Recorder::default();
            let Ok(outgoing) = staged.persist(&mut storage);
            let [(safety, voted_block)] = <[_; 1]>::try_from(storage.persisted)
                .expect("persisted exactly once before the messages are handed over");
            Seen::Signed {
                last_voted_round: safety.last_voted_round,
                last_proposed_round: safety.last_proposed_round,
                highest_timeout_round: safety.highest_timeout_round,
                voted_block,
                outgoing,
            }
        }
        Effect::Commit {
            blocks,
            certificate,
        } => Seen::Commit {
            blocks: blocks.iter().map(|b| b.block.id()).collect(),
            certificate,
        },
        Effect::Invalid { from, reason } => Seen::Invalid { from, reason },
        other => Seen::Unexpected(format!("{other:?}")),
    }
}

fn run(core: &mut Consensus, steps: Vec<TestStep>) {
    for step in steps {
        let effects: Vec<Seen> = core
            .handle(TimestampMs(0), step.input)
            .into_iter()
            .map(seen)
            .collect();
        assert_eq!(
            effects, step.expected_effects,
            "effects of step: {}",
            step.name
        );
        assert_eq!(
            core.round(),
            Round(step.round_after),
            "round after step: {}",
            step.name
        );
    }
}

fn message(from: ValidatorIndex, message: ConsensusMessage) -> Input {
    Input::Message { from, message }
}

fn executed(block: &Block) -> Input {
    Input::BlockExecuted {
        block_id: block.id(),
        result: Ok(()),
    }
}

/// The base round timeout of `Config::default()`, in milliseconds.
const BASE_MS: u64 = 1_000;

#[test]
fn leader_proposes_on_the_genesis_qc() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let leader = validators().leader(Round(1));
    let mut core = fresh(leader, &genesis);
    let block = block_on(&genesis_qc, 1, 1);
    // The leader votes for its own block; the vote goes to the leader of round 2.
    let own_vote = vote(&genesis_id, leader, &vote_data(&block, &genesis_qc));
    run(
        &mut core,
        vec![
            TestStep {
                name: "start: the round-1 timer, and a payload asked for on genesis",
                input: Input::Start,
                expected_effects: vec![
                    Seen::ScheduleTimer {
                        round: Round(1),
                        after_ms: BASE_MS,
                    },
                    Seen::RequestPayload {
                        round: Round(1),
                        parent_id: genesis_id,
                    },
                ],
                round_after: 1,
            },
            TestStep {
                name: "payload ready: the proposal broadcast and the own vote, persisted first",
                input: Input::PayloadReady {
                    round: Round(1),
                    block: block.clone(),
                },
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(1),
                    last_proposed_round: Round(1),
                    highest_timeout_round: Round(0),
                    voted_block: Some(block.id()),
                    outgoing: vec![
                        Outgoing::Broadcast {
                            message: ConsensusMessage::Proposal(Box::new(proposal(
                                &genesis_id,
                                block.clone(),
                                &genesis_qc,
                            ))),
                        },
                        Outgoing::Send {
                            to: validators().leader(Round(2)),
                            message: ConsensusMessage::Vote(own_vote),
                        },
                    ],
                }],
                round_after: 1,
            },
            TestStep {
                name: "a second payload for the round: no second proposal",
                input: Input::PayloadReady {
                    round: Round(1),
                    block: block_on(&genesis_qc, 1, 2),
                },
                expected_effects: vec![],
                round_after: 1,
            },
        ],
    );
}

#[test]
fn replica_votes_for_a_valid_proposal_and_sends_the_vote_to_the_next_leader() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let me = 0;
    let mut core = node(me, &genesis);
    let block = block_on(&genesis_qc, 1, 1);
    let leader = validators().leader(Round(1));
    let next_leader = validators().leader(Round(2));
    let proposed =
        ConsensusMessage::Proposal(Box::new(proposal(&genesis_id, block.clone(), &genesis_qc)));
    let my_vote = ConsensusMessage::Vote(vote(&genesis_id, me, &vote_data(&block, &genesis_qc)));
    run(
        &mut core,
        vec![
            TestStep {
                name: "proposal: executed before any vote",
                input: message(leader, proposed.clone()),
                expected_effects: vec![Seen::ExecuteBlock {
                    block_id: block.id(),
                }],
                round_after: 1,
            },
            TestStep {
                name: "executed: the vote, with the block, persisted and sent to the next leader",
                input: executed(&block),
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(1),
                    last_proposed_round: Round(0),
                    highest_timeout_round: Round(0),
                    voted_block: Some(block.id()),
                    outgoing: vec![Outgoing::Send {
                        to: next_leader,
                        message: my_vote.clone(),
                    }],
                }],
                round_after: 1,
            },
            TestStep {
                name: "the proposal again: the same vote again, no new block persisted",
                input: message(leader, proposed),
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(1),
                    last_proposed_round: Round(0),
                    highest_timeout_round: Round(0),
                    voted_block: None,
                    outgoing: vec![Outgoing::Send {
                        to: next_leader,
                        message: my_vote,
                    }],
                }],
                round_after: 1,
            },
        ],
    );
}

/// D85: the next leader of round 1 is down, so the votes sent to it are lost. A voter that
/// times out sends its vote to every validator with its timeout, and three such votes certify
/// round 1's block at every validator: round 2 is entered by a QC (no back-off), and round 1's
/// block is not lost with its next leader.
#[test]
fn d85_a_voter_that_times_out_sends_its_vote_to_all_so_a_down_next_leader_loses_no_block() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let me = 0;
    let mut core = node(me, &genesis);
    let block = block_on(&genesis_qc, 1, 1);
    let leader = validators().leader(Round(1));
    let down = validators().leader(Round(2));
    assert!(
        me != leader && me != down,
        "this node neither leads nor collects"
    );
    let data = vote_data(&block, &genesis_qc);
    let vote_of = |author: ValidatorIndex| ConsensusMessage::Vote(vote(&genesis_id, author, &data));
    let my_timeout = ConsensusMessage::Timeout(Box::new(timeout(&genesis_id, me, 1, &genesis_qc)));
    let live_voter = (0..4)
        .find(|v| ![me, leader, down].contains(v))
        .expect("a fourth validator");
    run(
        &mut core,
        vec![
            TestStep {
                name: "proposal of round 1",
                input: message(
                    leader,
                    ConsensusMessage::Proposal(Box::new(proposal(
                        &genesis_id,
                        block.clone(),
                        &genesis_qc,
                    ))),
                ),
                expected_effects: vec![Seen::ExecuteBlock {
                    block_id: block.id(),
                }],
                round_after: 1,
            },
            TestStep {
                name: "executed: the vote goes to the next leader, which is down",
                input: executed(&block),
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(1),
                    last_proposed_round: Round(0),
                    highest_timeout_round: Round(0),
                    voted_block: Some(block.id()),
                    outgoing: vec![Outgoing::Send {
                        to: down,
                        message: vote_of(me),
                    }],
                }],
                round_after: 1,
            },
            TestStep {
                name: "round 1 times out: the vote to every validator and to this node, then the \
                       timeout, both after the safety data is persisted",
                input: Input::RoundTimerFired { round: Round(1) },
                expected_effects: vec![
                    Seen::Signed {
                        last_voted_round: Round(1),
                        last_proposed_round: Round(0),
                        highest_timeout_round: Round(1),
                        voted_block: None,
                        outgoing: vec![
                            Outgoing::Broadcast {
                                message: vote_of(me),
                            },
                            Outgoing::Send {
                                to: me,
                                message: vote_of(me),
                            },
                            Outgoing::Broadcast {
                                message: my_timeout.clone(),
                            },
                            Outgoing::Send {
                                to: me,
                                message: my_timeout,
                            },
                        ],
                    },
                    Seen::ScheduleTimer {
                        round: Round(1),
                        after_ms: BASE_MS,
                    },
                ],
                round_after: 1,
            },
            TestStep {
                name: "own vote looped back: one of three",
                input: message(me, vote_of(me)),
                expected_effects: vec![],
                round_after: 1,
            },
            TestStep {
                name: "the leader's vote, sent with its timeout: two of three",
                input: message(leader, vote_of(leader)),
                expected_effects: vec![],
                round_after: 1,
            },
            TestStep {
                name: "the last live validator's vote: round 1 certified, round 2 entered by the \
                       QC, its timer not backed off",
                input: message(live_voter, vote_of(live_voter)),
                expected_effects: vec![Seen::ScheduleTimer {
                    round: Round(2),
                    after_ms: BASE_MS,
                }],
                round_after: 2,
            },
        ],
    );
}

#[test]
fn vote_quorum_forms_a_qc_and_the_two_chain_commit_fires() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    // The leader of round 3 collects the votes on round 2's block.
    let me = validators().leader(Round(3));
    let mut core = node(me, &genesis);
    let first = block_on(&genesis_qc, 1, 1);
    let first_qc = qc(&genesis_id, &vote_data(&first, &genesis_qc));
    let second = block_on(&first_qc, 2, 2);
    let second_data = vote_data(&second, &first_qc);
    // Validators 0, 1 and 2 (leaders 0..3 are distinct from `me` = 3) vote for `second`.
    let votes: Vec<Input> = (0..3)
        .map(|author| {
            message(
                author,
                ConsensusMessage::Vote(vote(&genesis_id, author, &second_data)),
            )
        })
        .collect();
    let [vote0, vote1, vote2] = <[Input; 3]>::try_from(votes).expect("three votes");
    run(
        &mut core,
        vec![
            TestStep {
                name: "round-1 proposal",
                input: message(
                    validators().leader(Round(1)),
                    ConsensusMessage::Proposal(Box::new(proposal(
                        &genesis_id,
                        first.clone(),
                        &genesis_qc,
                    ))),
                ),
                expected_effects: vec![Seen::ExecuteBlock {
                    block_id: first.id(),
                }],
                round_after: 1,
            },
            TestStep {
                name: "round-1 block executed: vote to the leader of round 2",
                input: executed(&first),
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(1),
                    last_proposed_round: Round(0),
                    highest_timeout_round: Round(0),
                    voted_block: Some(first.id()),
                    outgoing: vec![Outgoing::Send {
                        to: validators().leader(Round(2)),
                        message: ConsensusMessage::Vote(vote(
                            &genesis_id,
                            me,
                            &vote_data(&first, &genesis_qc),
                        )),
                    }],
                }],
                round_after: 1,
            },
            TestStep {
                name: "round-2 proposal on the round-1 QC: round 2 entered (timer reset), then \
                       executed",
                input: message(
                    validators().leader(Round(2)),
                    ConsensusMessage::Proposal(Box::new(proposal(
                        &genesis_id,
                        second.clone(),
                        &first_qc,
                    ))),
                ),
                expected_effects: vec![
                    Seen::ScheduleTimer {
                        round: Round(2),
                        after_ms: BASE_MS,
                    },
                    Seen::ExecuteBlock {
                        block_id: second.id(),
                    },
                ],
                round_after: 2,
            },
            TestStep {
                name: "round-2 block executed: vote to the leader of round 3, this node",
                input: executed(&second),
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(2),
                    last_proposed_round: Round(0),
                    highest_timeout_round: Round(0),
                    voted_block: Some(second.id()),
                    outgoing: vec![Outgoing::Send {
                        to: me,
                        message: ConsensusMessage::Vote(vote(&genesis_id, me, &second_data)),
                    }],
                }],
                round_after: 2,
            },
            TestStep {
                name: "first vote: no quorum",
                input: vote0,
                expected_effects: vec![],
                round_after: 2,
            },
            TestStep {
                name: "second vote: no quorum",
                input: vote1,
                expected_effects: vec![],
                round_after: 2,
            },
            TestStep {
                name: "third vote: the QC on round 2 commits round 1 (consecutive rounds), then \
                       round 3 starts and this leader asks for a payload on round 2's block",
                input: vote2,
                expected_effects: vec![
                    Seen::Commit {
                        blocks: vec![first.id()],
                        certificate: qc(&genesis_id, &second_data),
                    },
                    Seen::ScheduleTimer {
                        round: Round(3),
                        after_ms: BASE_MS,
                    },
                    Seen::RequestPayload {
                        round: Round(3),
                        parent_id: second.id(),
                    },
                ],
                round_after: 3,
            },
        ],
    );
    assert_eq!(core.committed().block.id(), first.id());
}

#[test]
fn timeout_quorum_forms_a_tc_and_advances_the_round() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let me = 0;
    let mut core = node(me, &genesis);
    let timeout_from = |author: ValidatorIndex| {
        message(
            author,
            ConsensusMessage::Timeout(Box::new(timeout(&genesis_id, author, 1, &genesis_qc))),
        )
    };
    let my_timeout = ConsensusMessage::Timeout(Box::new(timeout(&genesis_id, me, 1, &genesis_qc)));
    run(
        &mut core,
        vec![
            TestStep {
                name: "one timeout: nothing yet",
                input: timeout_from(1),
                expected_effects: vec![],
                round_after: 1,
            },
            TestStep {
                name: "f + 1 timeouts: this node joins with its own, persisted first, broadcast \
                       and looped back",
                input: timeout_from(2),
                expected_effects: vec![Seen::Signed {
                    last_voted_round: Round(1),
                    last_proposed_round: Round(0),
                    highest_timeout_round: Round(1),
                    voted_block: None,
                    outgoing: vec![
                        Outgoing::Broadcast {
                            message: my_timeout.clone(),
                        },
                        Outgoing::Send {
                            to: me,
                            message: my_timeout,
                        },
                    ],
                }],
                round_after: 1,
            },
            TestStep {
                name: "2f + 1 timeouts: a TC moves the node to round 2, whose timer backs off \
                       (one failed round: twice the base)",
                input: timeout_from(3),
                expected_effects: vec![Seen::ScheduleTimer {
                    round: Round(2),
                    after_ms: 2 * BASE_MS,
                }],
                round_after: 2,
            },
        ],
    );
    let own_timeout_round = core
        .safety_data()
        .last_timeout
        .as_ref()
        .map(|timeout| timeout.round);
    assert_eq!(
        own_timeout_round,
        Some(Round(1)),
        "the node's own timeout is remembered"
    );
}

#[test]
fn proposal_with_a_bad_parent_qc_is_refused() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    let first = block_on(&genesis_qc, 1, 1);
    let first_data = vote_data(&first, &genesis_qc);
    // A quorum of signers, but not one signature is real.
    let forged_qc = QuorumCertificate {
        data: first_data.clone(),
        signatures: (0..3).map(|i| (i, Signature([7; 64]))).collect(),
    };
    // Too few signers: validators 0 and 1 only.
    let thin_qc = QuorumCertificate {
        data: first_data.clone(),
        signatures: (0..2)
            .map(|i| (i, vote(&genesis_id, i, &first_data).signature))
            .collect(),
    };
    let leader = validators().leader(Round(2));
    let on = |parent_qc: &QuorumCertificate| {
        message(
            leader,
            ConsensusMessage::Proposal(Box::new(proposal(
                &genesis_id,
                block_on(parent_qc, 2, 2),
                parent_qc,
            ))),
        )
    };
    run(
        &mut core,
        vec![
            TestStep {
                name: "parent QC with forged signatures",
                input: on(&forged_qc),
                expected_effects: vec![Seen::Invalid {
                    from: leader,
                    reason: InvalidMessage::BadCertificateSignature,
                }],
                round_after: 1,
            },
            TestStep {
                name: "parent QC with too few signers",
                input: on(&thin_qc),
                expected_effects: vec![Seen::Invalid {
                    from: leader,
                    reason: InvalidMessage::TooFewSigners { have: 2, need: 3 },
                }],
                round_after: 1,
            },
        ],
    );
    assert!(
        core.block(&block_on(&forged_qc, 2, 2).id()).is_none(),
        "a refused proposal's block is not kept"
    );
}
