//! Regression tests for the security review of 2026-11 (findings H4, H5, M6, M8), each named
//! after its finding. They drive one core with hand-made, really signed messages. The helpers
//! here also serve the table tests of `steps`.

use tenge_crypto::Keypair;
use tenge_types::block::transactions_root;
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, Proposal, QuorumCertificate, Timeout, TimeoutCertificate,
    TimeoutData, ValidatorIndex, ValidatorSet, Vote, VoteData,
};
use tenge_types::{
    Block, BlockHeader, BlockId, ChainId, HashValue, Height, Round, Signature, TimestampMs,
};

use crate::{Config, Consensus, Effect, Input, InvalidMessage, Recovery, SafetyData, Verifier};

mod steps;

const N: ValidatorIndex = 4;

fn keypair(index: ValidatorIndex) -> Keypair {
    Keypair::from_secret([index as u8 + 1; 32])
}

fn validators() -> ValidatorSet {
    ValidatorSet::new((0..N).map(|i| keypair(i).public_key()).collect())
}

/// A genesis block; `tag` stands for the genesis hash (the header's parent id), so two tags are
/// two networks with the same validator keys.
fn genesis_block(tag: u8) -> Block {
    Block {
        header: BlockHeader {
            chain_id: ChainId::new("tenge-test").unwrap(),
            height: Height(0),
            round: Round(0),
            parent_id: HashValue([tag; 32]),
            timestamp: TimestampMs(0),
            transaction_count: 0,
            transactions_root: transactions_root(&[]),
            receipts_root: HashValue::ZERO,
            state_root: HashValue::ZERO,
            epoch: 0,
            next_validators: None,
            above_epoch_end: false,
        },
        transactions: vec![],
    }
}

// The three signing hashes of the chain whose genesis block is `genesis`.
fn vote_hash(genesis: &BlockId, data: &VoteData) -> HashValue {
    data.signing_hash(genesis)
}

fn timeout_hash(genesis: &BlockId, data: &TimeoutData) -> HashValue {
    data.signing_hash(genesis)
}

fn proposal_hash(
    genesis: &BlockId,
    block_id: &BlockId,
    round: Round,
    parent_qc: &QuorumCertificate,
    tc: Option<&TimeoutCertificate>,
) -> HashValue {
    tenge_types::consensus::proposal_signing_hash(genesis, block_id, round, parent_qc, tc)
}

/// Validator `me` at genesis, with default settings and empty safety data, not started.
fn fresh(me: ValidatorIndex, genesis: &Block) -> Consensus {
    Consensus::new(
        Config::default(),
        me,
        keypair(me),
        validators(),
        genesis,
        Recovery {
            committed: BlockWithParentQc {
                block: genesis.clone(),
                parent_qc: QuorumCertificate::genesis(genesis),
            },
            commit_certificate: None,
            safety: SafetyData::default(),
            pending: vec![],
        },
    )
}

fn node(me: ValidatorIndex, genesis: &Block) -> Consensus {
    let mut core = fresh(me, genesis);
    core.handle(TimestampMs(0), Input::Start);
    assert_eq!(core.round(), Round(1));
    core
}

/// A block of `round` on the block `parent_qc` certifies; `salt` makes blocks distinct.
fn block_on(parent_qc: &QuorumCertificate, round: u64, salt: u64) -> Block {
    Block {
        header: BlockHeader {
            chain_id: ChainId::new("tenge-test").unwrap(),
            height: parent_qc.data.height.next(),
            round: Round(round),
            parent_id: parent_qc.block_id(),
            timestamp: TimestampMs(salt),
            transaction_count: 0,
            transactions_root: transactions_root(&[]),
            receipts_root: HashValue::ZERO,
            state_root: HashValue([salt as u8; 32]),
            epoch: 0,
            next_validators: None,
            above_epoch_end: false,
        },
        transactions: vec![],
    }
}

/// A proposal of `block` signed by the round's leader for the chain of `genesis`.
fn proposal(genesis: &BlockId, block: Block, parent_qc: &QuorumCertificate) -> Proposal {
    let round = block.header.round;
    let author = validators().leader(round);
    Proposal {
        signature: keypair(author).sign(&proposal_hash(
            genesis,
            &block.id(),
            round,
            parent_qc,
            None,
        )),
        block,
        parent_qc: parent_qc.clone(),
        timeout_certificate: None,
        author,
    }
}

fn vote_data(block: &Block, parent_qc: &QuorumCertificate) -> VoteData {
    VoteData {
        block_id: block.id(),
        round: block.header.round,
        height: block.header.height,
        state_root: block.header.state_root,
        parent_id: parent_qc.block_id(),
        parent_round: parent_qc.round(),
    }
}

fn vote(genesis: &BlockId, author: ValidatorIndex, data: &VoteData) -> Vote {
    Vote {
        signature: keypair(author).sign(&vote_hash(genesis, data)),
        data: data.clone(),
        author,
    }
}

/// A QC on `data` signed by validators 0..3.
fn qc(genesis: &BlockId, data: &VoteData) -> QuorumCertificate {
    QuorumCertificate {
        data: data.clone(),
        signatures: (0..3)
            .map(|i| (i, vote(genesis, i, data).signature))
            .collect(),
    }
}

fn timeout(
    genesis: &BlockId,
    author: ValidatorIndex,
    round: u64,
    high_qc: &QuorumCertificate,
) -> Timeout {
    let mut timeout = Timeout {
        round: Round(round),
        high_qc: high_qc.clone(),
        last_tc: None,
        author,
        signature: Signature([0; 64]),
    };
    timeout.signature = keypair(author).sign(&timeout_hash(genesis, &timeout.data()));
    timeout
}

/// A TC for `round` from validators 0..3, each reporting `high_qc`'s round.
fn tc(genesis: &BlockId, round: u64, high_qc: &QuorumCertificate) -> TimeoutCertificate {
    TimeoutCertificate {
        round: Round(round),
        high_qc: high_qc.clone(),
        signatures: (0..3)
            .map(|i| {
                let t = timeout(genesis, i, round, high_qc);
                (i, t.data().high_qc_round, t.signature)
            })
            .collect(),
    }
}

fn deliver(core: &mut Consensus, from: ValidatorIndex, message: ConsensusMessage) -> Vec<Effect> {
    core.handle(TimestampMs(0), Input::Message { from, message })
}

fn penalised(effects: &[Effect]) -> Vec<ValidatorIndex> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Invalid { from, .. } => Some(*from),
            _ => None,
        })
        .collect()
}

fn executions(effects: &[Effect]) -> Vec<BlockId> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::ExecuteBlock { block } => Some(block.id()),
            _ => None,
        })
        .collect()
}

fn evidence_count(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Evidence(_)))
        .count()
}

// ---- H4 -----------------------------------------------------------------------------------

/// Validator 2 relays a genuine timeout of validator 1 with a forged, unsigned `last_tc`. The
/// penalty is for 2, the sender; 1 signed nothing wrong, and its timeout still counts.
#[test]
fn h4_relayed_forged_tc_penalises_sender_not_author() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    let mut relayed = timeout(&genesis_id, 1, 1, &genesis_qc);
    relayed.last_tc = Some(TimeoutCertificate {
        round: Round(u64::MAX),
        high_qc: genesis_qc.clone(),
        signatures: vec![],
    });
    let effects = deliver(&mut core, 2, ConsensusMessage::Timeout(Box::new(relayed)));
    assert_eq!(penalised(&effects), vec![2], "the relay, never the author");
    assert!(core.timeouts.contains(Round(1), 1));
    assert_eq!(core.round(), Round(1), "the forged TC moved nothing");
}

/// Every other rejection is charged to the sender too, whoever the content names as author.
#[test]
fn h4_rejections_of_relayed_content_go_to_the_sender() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    // A timeout "by 1" with a bad signature, relayed by 3.
    let mut forged = timeout(&genesis_id, 1, 1, &genesis_qc);
    forged.signature = Signature([7; 64]);
    let effects = deliver(&mut core, 3, ConsensusMessage::Timeout(Box::new(forged)));
    assert_eq!(penalised(&effects), vec![3]);
    // A vote "by 1" with a bad signature, relayed by 3.
    let block = block_on(&genesis_qc, 1, 1);
    let mut bad_vote = vote(&genesis_id, 1, &vote_data(&block, &genesis_qc));
    bad_vote.signature = Signature([7; 64]);
    let effects = deliver(&mut core, 3, ConsensusMessage::Vote(bad_vote));
    assert_eq!(penalised(&effects), vec![3]);
    // A proposal "by 1" (the leader of round 1) with a bad signature, relayed by 2.
    let mut bad_proposal = proposal(&genesis_id, block, &genesis_qc);
    bad_proposal.signature = Signature([7; 64]);
    let effects = deliver(
        &mut core,
        2,
        ConsensusMessage::Proposal(Box::new(bad_proposal)),
    );
    assert_eq!(penalised(&effects), vec![2]);
}

// ---- H5 -----------------------------------------------------------------------------------

/// The leader of round 1 signs 100 different valid proposals for it. One is stored and executed;
/// the rest leave one piece of evidence and a penalty each, and are dropped.
#[test]
fn h5_one_proposal_per_author_round_is_stored_and_executed() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    let leader = validators().leader(Round(1));
    let mut executed = Vec::new();
    let mut evidence = 0;
    let mut penalties = Vec::new();
    for salt in 0..100 {
        let p = proposal(&genesis_id, block_on(&genesis_qc, 1, salt), &genesis_qc);
        let effects = deliver(&mut core, leader, ConsensusMessage::Proposal(Box::new(p)));
        executed.extend(executions(&effects));
        evidence += evidence_count(&effects);
        penalties.extend(penalised(&effects));
    }
    assert_eq!(executed.len(), 1, "one execution per (author, round)");
    assert_eq!(core.blocks.len(), 1, "one stored block per (author, round)");
    assert_eq!(evidence, 1, "the equivocation is reported once");
    assert_eq!(
        penalties,
        vec![leader; 99],
        "each extra proposal costs its sender"
    );
    // Once the leader is known to equivocate, a further proposal is not verified: a forged
    // signature is refused as equivocation, not as a bad signature.
    let mut forged = proposal(&genesis_id, block_on(&genesis_qc, 1, 100), &genesis_qc);
    forged.signature = Signature([9; 64]);
    let effects = deliver(&mut core, 3, ConsensusMessage::Proposal(Box::new(forged)));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Invalid {
            from: 3,
            reason: InvalidMessage::Equivocation { author, .. }
        }] if *author == leader
    ));
    // The same first proposal again is no offence (a resend).
    let first = proposal(&genesis_id, block_on(&genesis_qc, 1, 0), &genesis_qc);
    let effects = deliver(
        &mut core,
        leader,
        ConsensusMessage::Proposal(Box::new(first)),
    );
    assert!(penalised(&effects).is_empty());
    assert!(executions(&effects).is_empty());
}

/// A dropped equivocating proposal that a quorum certifies anyway is fetched like any missing
/// certified block, so dropping it costs no liveness.
#[test]
fn h5_dropped_proposal_is_fetched_once_certified() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    let leader = validators().leader(Round(1));
    let first = block_on(&genesis_qc, 1, 1);
    let second = block_on(&genesis_qc, 1, 2);
    for block in [&first, &second] {
        let p = proposal(&genesis_id, block.clone(), &genesis_qc);
        deliver(&mut core, leader, ConsensusMessage::Proposal(Box::new(p)));
    }
    assert!(core.block(&second.id()).is_none());
    // Round 2's proposal extends the second block, certified by a quorum.
    let second_qc = qc(&genesis_id, &vote_data(&second, &genesis_qc));
    let next = proposal(&genesis_id, block_on(&second_qc, 2, 3), &second_qc);
    let next_leader = next.author;
    let effects = deliver(
        &mut core,
        next_leader,
        ConsensusMessage::Proposal(Box::new(next)),
    );
    assert!(
        effects.iter().any(|e| matches!(e,
            Effect::Fetch { block_id, .. } if *block_id == second.id())),
        "the certified block is fetched"
    );
    let effects = deliver(
        &mut core,
        next_leader,
        ConsensusMessage::FetchResponse {
            blocks: vec![BlockWithParentQc {
                block: second.clone(),
                parent_qc: genesis_qc.clone(),
            }],
        },
    );
    assert!(penalised(&effects).is_empty());
    assert_eq!(executions(&effects), vec![second.id()]);
}

// ---- M8 -----------------------------------------------------------------------------------

/// Validator 3 signs 200 different votes for round 1. Aggregation keeps one; the first conflict
/// is verified once to become evidence; later ones are dropped unverified, penalising the sender.
#[test]
fn m8_one_vote_per_author_round() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    let mut evidence = 0;
    let mut penalties = Vec::new();
    for salt in 0..200 {
        let data = vote_data(&block_on(&genesis_qc, 1, salt), &genesis_qc);
        let effects = deliver(
            &mut core,
            3,
            ConsensusMessage::Vote(vote(&genesis_id, 3, &data)),
        );
        evidence += evidence_count(&effects);
        penalties.extend(penalised(&effects));
    }
    let held = core.votes.voters(Round(1));
    let stored = held
        .iter()
        .filter(|(_, voters)| voters.contains(&3))
        .count();
    assert_eq!(stored, 1, "one vote per (author, round) in aggregation");
    assert_eq!(held.len(), 1);
    assert_eq!(evidence, 1);
    assert_eq!(penalties, vec![3; 199]);
    // Once the author is known to equivocate, a further conflicting vote is not verified: a
    // forged signature is refused as equivocation, not as a bad signature.
    let data = vote_data(&block_on(&genesis_qc, 1, 201), &genesis_qc);
    let mut forged = vote(&genesis_id, 3, &data);
    forged.signature = Signature([9; 64]);
    let effects = deliver(&mut core, 2, ConsensusMessage::Vote(forged));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Invalid {
            from: 2,
            reason: InvalidMessage::Equivocation { author: 3, .. }
        }]
    ));
    // The first vote again (a resend) is no offence, and still counts.
    let data = vote_data(&block_on(&genesis_qc, 1, 0), &genesis_qc);
    let effects = deliver(
        &mut core,
        3,
        ConsensusMessage::Vote(vote(&genesis_id, 3, &data)),
    );
    assert!(effects.is_empty());
}

/// Before any conflict, a vote with a bad signature is refused as such and stores nothing, so a
/// relay cannot take an honest validator's slot with a forgery.
#[test]
fn m8_forged_vote_does_not_take_the_author_slot() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let mut core = node(0, &genesis);
    let block = block_on(&genesis_qc, 1, 1);
    let data = vote_data(&block, &genesis_qc);
    let mut forged = vote(
        &genesis_id,
        3,
        &vote_data(&block_on(&genesis_qc, 1, 2), &genesis_qc),
    );
    forged.signature = Signature([9; 64]);
    let effects = deliver(&mut core, 2, ConsensusMessage::Vote(forged));
    assert!(matches!(
        effects.as_slice(),
        [Effect::Invalid {
            from: 2,
            reason: InvalidMessage::BadSignature(3)
        }]
    ));
    let effects = deliver(
        &mut core,
        3,
        ConsensusMessage::Vote(vote(&genesis_id, 3, &data)),
    );
    assert!(effects.is_empty());
    assert_eq!(
        core.votes.voters(Round(1)),
        vec![(vote_hash(&genesis_id, &data), vec![3])]
    );
}

// ---- M6 -----------------------------------------------------------------------------------

/// The same four keys run two networks, G1 and G2. Nothing signed for G1 verifies on G2.
#[test]
fn m6_certificates_are_bound_to_the_chain() {
    let (g1, g2) = (genesis_block(1), genesis_block(2));
    assert_ne!(g1.id(), g2.id());
    let (g1_qc, g2_qc) = (
        QuorumCertificate::genesis(&g1),
        QuorumCertificate::genesis(&g2),
    );
    let mut on_g1 = Verifier::new(validators(), g1_qc.clone());
    let mut on_g2 = Verifier::new(validators(), g2_qc.clone());

    // A QC of G1 with a high round (the stalling attack of M6).
    let high = block_on(&g1_qc, 1_000, 1);
    let g1_high_qc = qc(&g1.id(), &vote_data(&high, &g1_qc));
    assert_eq!(on_g1.verify_qc(&g1_high_qc), Ok(()));
    assert_eq!(
        on_g2.verify_qc(&g1_high_qc),
        Err(InvalidMessage::BadCertificateSignature)
    );

    // A TC of G1 for a high round. Its signatures are checked on their own: the certificate is
    // re-dressed with each network's genesis QC, which every signer reports as round 0.
    let g1_tc = tc(&g1.id(), 1_000, &g1_qc);
    assert_eq!(on_g1.verify_tc(&g1_tc), Ok(()));
    let redressed = TimeoutCertificate {
        high_qc: g2_qc.clone(),
        ..g1_tc.clone()
    };
    assert_eq!(
        on_g2.verify_tc(&redressed),
        Err(InvalidMessage::BadCertificateSignature)
    );
    // And a G1 TC carrying a G1 QC fails on G2 too.
    let g1_tc_high = tc(&g1.id(), 1_001, &g1_high_qc);
    assert_eq!(on_g1.verify_tc(&g1_tc_high), Ok(()));
    assert!(on_g2.verify_tc(&g1_tc_high).is_err());

    // A vote and a timeout signed for G1, on a G2-shaped message.
    let g2_block = block_on(&g2_qc, 1, 1);
    let g1_signed_vote = vote(&g1.id(), 3, &vote_data(&g2_block, &g2_qc));
    assert_eq!(
        on_g2.verify_vote(&g1_signed_vote),
        Err(InvalidMessage::BadSignature(3))
    );
    let g1_signed_timeout = timeout(&g1.id(), 3, 1, &g2_qc);
    assert_eq!(
        on_g2.verify_timeout(&g1_signed_timeout),
        Err(InvalidMessage::BadSignature(3))
    );
    // A proposal signed for G1, on a G2 block and QC.
    let g1_signed_proposal = proposal(&g1.id(), g2_block.clone(), &g2_qc);
    assert_eq!(
        on_g2.verify_proposal(&g1_signed_proposal),
        Err(InvalidMessage::BadSignature(1))
    );
    // The same messages signed for G2 pass on G2.
    assert_eq!(
        on_g2.verify_vote(&vote(&g2.id(), 3, &vote_data(&g2_block, &g2_qc))),
        Ok(())
    );
    assert_eq!(
        on_g2.verify_timeout(&timeout(&g2.id(), 3, 1, &g2_qc)),
        Ok(())
    );
    assert_eq!(
        on_g2.verify_proposal(&proposal(&g2.id(), g2_block, &g2_qc)),
        Ok(())
    );
}

/// M11: a validator whose safety data was lost (here: fresh) starts with an operator's floor of
/// round 5. It signs nothing at or below round 5 (no vote for a valid proposal of round 1, no
/// timeout when the round-1 timer fires), and signs again once the chain is past the floor.
#[test]
fn m11_no_signature_at_or_below_the_voting_floor() {
    let genesis = genesis_block(1);
    let genesis_id = genesis.id();
    let genesis_qc = QuorumCertificate::genesis(&genesis);
    let me = 1;
    let config = Config {
        voting_floor_round: Round(5),
        ..Config::default()
    };
    let mut core = Consensus::new(
        config,
        me,
        keypair(me),
        validators(),
        &genesis,
        Recovery {
            committed: BlockWithParentQc {
                block: genesis.clone(),
                parent_qc: genesis_qc.clone(),
            },
            commit_certificate: None,
            safety: SafetyData::default(),
            pending: vec![],
        },
    );
    let signed = |effects: &[Effect]| {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::Signed(_)))
            .count()
    };
    let mut effects = core.handle(TimestampMs(0), Input::Start);
    let block = block_on(&genesis_qc, 1, 1);
    let first = proposal(&genesis_id, block.clone(), &genesis_qc);
    effects.extend(deliver(
        &mut core,
        validators().leader(Round(1)),
        ConsensusMessage::Proposal(Box::new(first)),
    ));
    effects.extend(core.handle(
        TimestampMs(0),
        Input::BlockExecuted {
            block_id: block.id(),
            result: Ok(()),
        },
    ));
    effects.extend(core.handle(
        TimestampMs(60_000),
        Input::RoundTimerFired { round: Round(1) },
    ));
    assert_eq!(
        signed(&effects),
        0,
        "signed at or below the floor: {effects:?}"
    );

    // The others moved on: a QC for a round-5 block takes this node to round 6, where it votes.
    let mut parent_qc = genesis_qc;
    for round in 1..=5 {
        let block = block_on(&parent_qc, round, round);
        parent_qc = qc(&genesis_id, &vote_data(&block, &parent_qc));
    }
    let block = block_on(&parent_qc, 6, 6);
    let sixth = proposal(&genesis_id, block.clone(), &parent_qc);
    deliver(
        &mut core,
        validators().leader(Round(6)),
        ConsensusMessage::Proposal(Box::new(sixth)),
    );
    let effects = core.handle(
        TimestampMs(0),
        Input::BlockExecuted {
            block_id: block.id(),
            result: Ok(()),
        },
    );
    assert_eq!(core.round(), Round(6));
    assert_eq!(signed(&effects), 1, "no vote above the floor: {effects:?}");
}
