//! The BFT consensus core of tenge: 2-chain HotStuff (Jolteon / DiemBFT-v4 / Aptos family) as a
//! sans-IO state machine.
//!
//! [`Consensus::handle`] takes one [`Input`] (a message, a timer, an executed block, a built
//! payload) and returns [`Effect`]s for the caller to perform: send, schedule a timer, execute or
//! build a block, commit, fetch. It reads no clock (time arrives with each input), does no I/O
//! and draws no randomness. Votes, timeouts and proposals leave only inside [`StagedMessages`],
//! whose messages can be taken out only by persisting the safety data first: the type system is
//! what stops a node from speaking before it has durably remembered what it said.
//!
//! Protocol summary (docs/consensus.md has the whole of it): round-robin leaders; a proposal
//! carries the QC of its parent and, after a failed round, a TC; validators execute the block
//! and vote for (block id, round, state root) by sending the vote to the next leader; 2f+1 votes
//! make a QC; a QC on a block whose parent is one round older commits the parent (2-chain rule);
//! a round timer that expires makes a validator broadcast a timeout with its highest QC; 2f+1
//! timeouts make a TC; the timer backs off exponentially with a cap and resets on a QC.

mod aggregator;
mod block_tree;
mod commit;
mod evidence;
mod fetcher;
mod interface;
mod invariants;
mod pacemaker;
mod proposer;
mod safety;
mod staged;
#[cfg(test)]
mod tests;
mod verify;
mod voter;

use std::collections::{BTreeMap, HashMap};

use tenge_crypto::Keypair;
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, TimeoutCertificate, ValidatorIndex,
    ValidatorSet,
};
use tenge_types::{Block, BlockId, Round, TimestampMs};

use aggregator::{PendingTimeouts, PendingVotes};
use block_tree::{Entry, Execution};
use evidence::Signed;
use fetcher::Wanted;
use staged::SafetyRounds;

pub use interface::{Config, Effect, Evidence, Input, Outgoing, Recovery};
pub use safety::{
    SafetyData, SafetyViolation, check_proposal, check_timeout, check_vote, observe_qc,
};
pub use staged::{SafetyStorage, StagedMessages};
pub use verify::{InvalidMessage, Verifier};

/// The consensus state machine of one validator.
pub struct Consensus {
    config: Config,
    /// The epoch this instance runs: its validator set certifies blocks of this epoch only.
    epoch: u64,
    me: ValidatorIndex,
    signer: Keypair,
    verifier: Verifier,
    safety: SafetyData,
    round: Round,
    /// Rounds entered by a TC since the last QC: drives the back-off.
    failed_rounds: u32,
    high_qc: QuorumCertificate,
    last_tc: Option<TimeoutCertificate>,
    committed: BlockWithParentQc,
    committed_round: Round,
    blocks: HashMap<BlockId, Entry>,
    /// Blocks referenced but unknown, with their heights.
    wanted: HashMap<BlockId, Wanted>,
    /// The QC whose 2-chain commit waits for blocks or their execution.
    pending_commit: Option<QuorumCertificate>,
    /// The proposal of the current round this node will vote for.
    current_proposal: Option<BlockId>,
    /// The first valid proposal seen for each upcoming round (the one to vote for).
    first_proposal: BTreeMap<Round, BlockId>,
    /// Set when the node saw a certified chain conflicting with its committed one.
    halted: Option<String>,
    payload_requested: Option<Round>,
    votes: PendingVotes,
    timeouts: PendingTimeouts,
    signed: Signed,
    evidence: Vec<Evidence>,
    now: TimestampMs,
    /// The rounds of the safety data last handed out to be persisted (or recovered): the
    /// in-memory rounds never fall below them.
    staged_rounds: SafetyRounds,
}

/// Votes and timeouts are kept for rounds at most this far ahead of the current one.
const FUTURE_ROUNDS: u64 = 3;

impl Consensus {
    /// The consensus instance of the epoch `genesis_block` starts: the genesis block for epoch
    /// 0, the block that ended the epoch before for any later one (D80). Its rounds start at 1,
    /// above that block, which it trusts as the genesis QC certifies it.
    pub fn new(
        config: Config,
        me: ValidatorIndex,
        signer: Keypair,
        validators: ValidatorSet,
        genesis_block: &Block,
        recovery: Recovery,
    ) -> Consensus {
        assert_eq!(
            validators.key(me),
            Some(&signer.public_key()),
            "signing key is not validator {me}'s"
        );
        let genesis_qc = QuorumCertificate::genesis(genesis_block);
        let epoch = genesis_block.header.next_epoch();
        let mut safety = recovery.safety;
        // Nothing was signed in this epoch unless safety data of it was written first: data of
        // an earlier epoch speaks of other rounds, and is replaced.
        if safety.epoch < epoch {
            safety = SafetyData {
                epoch,
                ..SafetyData::default()
            };
        }
        // The head's certificates are of the epoch before when the head starts this one.
        let at_epoch_start = recovery.committed.block.id() == genesis_block.id();
        let commit_certificate = recovery.commit_certificate.filter(|_| !at_epoch_start);
        // Rounds at or below the operator's floor may have been signed by this validator before
        // its safety data was lost or restored (M11): never sign in them again.
        let floor = config.voting_floor_round;
        safety.last_voted_round = safety.last_voted_round.max(floor);
        safety.highest_timeout_round = safety.highest_timeout_round.max(floor);
        safety.last_proposed_round = safety.last_proposed_round.max(floor);
        // The highest QC known before the restart, or the one that committed the head.
        let high_qc = [safety.high_qc.clone(), commit_certificate]
            .into_iter()
            .flatten()
            .max_by_key(|qc| qc.round())
            .unwrap_or_else(|| genesis_qc.clone());
        let last_tc = safety.last_tc.clone();
        let committed_round = if at_epoch_start {
            Round(0)
        } else {
            recovery.committed.block.header.round
        };
        observe_qc(&mut safety, &high_qc);
        // Resume in the round the persisted certificates justify: the node can time out of it
        // (its safety data allows that), so a cluster restarted all at once makes progress.
        let round = high_qc.round().saturating_next().max(
            last_tc
                .as_ref()
                .map_or(Round(0), |tc| tc.round.saturating_next()),
        );
        let committed_height = recovery.committed.block.header.height;
        let blocks = recovery
            .pending
            .into_iter()
            .filter(|pending| {
                pending.block.header.height > committed_height
                    && pending.block.header.epoch == epoch
            })
            .map(|pending| {
                let entry = Entry {
                    block: pending.block,
                    parent_qc: pending.parent_qc,
                    timeout_certificate: None,
                    execution: Execution::Waiting,
                };
                (entry.block.id(), entry)
            })
            .collect();
        let verifier = Verifier::new(validators, genesis_qc);
        let quorum = verifier.validators().quorum();
        let genesis_id = verifier.genesis_id();
        let staged_rounds = SafetyRounds::of(&safety);
        Consensus {
            config,
            epoch,
            me,
            signer,
            verifier,
            safety,
            round,
            failed_rounds: 0,
            high_qc,
            last_tc,
            committed: recovery.committed,
            committed_round,
            blocks,
            wanted: HashMap::new(),
            pending_commit: None,
            current_proposal: None,
            first_proposal: BTreeMap::new(),
            halted: None,
            payload_requested: None,
            votes: PendingVotes::new(genesis_id, quorum),
            timeouts: PendingTimeouts::new(quorum),
            signed: Signed::default(),
            evidence: Vec::new(),
            now: TimestampMs(0),
            staged_rounds,
        }
    }

    pub fn round(&self) -> Round {
        self.round
    }

    /// The epoch this instance runs.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn high_qc(&self) -> &QuorumCertificate {
        &self.high_qc
    }

    pub fn committed(&self) -> &BlockWithParentQc {
        &self.committed
    }

    pub fn safety_data(&self) -> &SafetyData {
        &self.safety
    }

    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    pub fn evidence(&self) -> &[Evidence] {
        &self.evidence
    }

    pub fn validators(&self) -> &ValidatorSet {
        self.verifier.validators()
    }

    /// The id of the genesis block, which every consensus signature is bound to.
    pub fn genesis_id(&self) -> BlockId {
        self.verifier.genesis_id()
    }

    /// A one-line description of the core's state, for traces and logs.
    pub fn summary(&self) -> String {
        let mut blocks: Vec<String> = self
            .blocks
            .values()
            .map(|e| {
                format!(
                    "h{}r{}:{:?}",
                    e.block.header.height, e.block.header.round, e.execution
                )
            })
            .collect();
        blocks.sort();
        format!(
            "round {} committed h{}r{} high_qc h{}r{} tc {:?} blocks [{}] wanted {}",
            self.round,
            self.committed.block.header.height,
            self.committed_round,
            self.high_qc.data.height,
            self.high_qc.round(),
            self.last_tc.as_ref().map(|tc| tc.round.0),
            blocks.join(" "),
            self.wanted.len()
        )
    }

    /// Reacts to one input at local time `now`.
    pub fn handle(&mut self, now: TimestampMs, input: Input) -> Vec<Effect> {
        self.now = now;
        let mut effects = Vec::new();
        if self.halted.is_some() {
            return effects;
        }
        match input {
            Input::Start => {
                self.schedule_timer(&mut effects);
                let high_qc = self.high_qc.clone();
                if high_qc.data.height > self.committed.block.header.height {
                    self.want(
                        high_qc.block_id(),
                        high_qc.data.height,
                        self.me,
                        &mut effects,
                    );
                }
                self.execute_ready(&mut effects);
                self.try_propose(&mut effects);
            }
            Input::Message { from, message } => self.on_message(from, message, &mut effects),
            Input::RoundTimerFired { round } => self.on_timer(round, &mut effects),
            Input::PayloadReady { round, block } => self.on_payload(round, block, &mut effects),
            Input::Synced { head, certificate } => {
                self.on_synced(*head, *certificate, &mut effects)
            }
            Input::BlockExecuted { block_id, result } => {
                self.on_executed(block_id, result, &mut effects)
            }
        }
        self.invariants();
        effects
    }

    fn on_message(
        &mut self,
        from: ValidatorIndex,
        message: ConsensusMessage,
        effects: &mut Vec<Effect>,
    ) {
        if self.validators().key(from).is_none() {
            effects.push(Effect::Invalid {
                from,
                reason: InvalidMessage::UnknownAuthor(from),
            });
            return;
        }
        let result = match message {
            ConsensusMessage::Proposal(proposal) => self.on_proposal(from, *proposal, effects),
            ConsensusMessage::Vote(vote) => self.on_vote(vote, effects),
            ConsensusMessage::Timeout(timeout) => self.on_timeout(from, *timeout, effects),
            ConsensusMessage::FetchRequest { block_id, count } => {
                let count = count.min(self.config.fetch_batch);
                effects.push(Effect::ServeFetch {
                    to: from,
                    block_id,
                    count,
                });
                Ok(())
            }
            ConsensusMessage::FetchResponse { blocks } => self.on_fetched(from, blocks, effects),
            ConsensusMessage::EpochEnd { certificate } => {
                // Sent by a validator that moved on, to those still in its epoch: here it is
                // this epoch's (commit it) or another's (the sender is ahead or behind; not a
                // fault, nothing to do).
                if self.verifier.verify_qc(&certificate).is_ok() {
                    self.process_qc(&certificate, from, effects);
                }
                Ok(())
            }
        };
        if let Err(reason) = result {
            effects.push(Effect::Invalid { from, reason });
        }
    }
}
