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

mod safety;
#[cfg(test)]
mod tests;
mod verify;

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap, HashSet};

use tenge_crypto::Keypair;
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, Proposal, QuorumCertificate, Timeout, TimeoutCertificate,
    ValidatorIndex, ValidatorSet, Vote, VoteData, proposal_signing_hash,
};
use tenge_types::{Block, BlockId, HashValue, Height, Round, TimestampMs, encode};

pub use safety::{
    SafetyData, SafetyViolation, check_proposal, check_timeout, check_vote, observe_qc,
};
pub use verify::{InvalidMessage, Verifier};

/// Timing and size settings of the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Round timeout after a round that ended with a QC.
    pub round_timeout_base_ms: u64,
    /// The back-off never waits longer than this.
    pub round_timeout_max_ms: u64,
    /// Proposals stamped further than this in the future (by the local clock) get no vote.
    pub max_clock_skew_ms: u64,
    /// Blocks asked for in one fetch.
    pub fetch_batch: u16,
    /// No vote, timeout or proposal at or below this round, whatever the safety data says. An
    /// operator sets it when a validator's safety data was lost or restored from a backup: the
    /// validator may have signed in rounds its data does not remember (security review M11).
    pub voting_floor_round: Round,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            round_timeout_base_ms: 1_000,
            round_timeout_max_ms: 30_000,
            max_clock_skew_ms: 2_000,
            fetch_batch: 64,
            voting_floor_round: Round(0),
        }
    }
}

/// Something that happened, for the core to react to.
#[derive(Clone, Debug)]
pub enum Input {
    /// The node starts (or restarts): enter the current round.
    Start,
    /// A message from another validator (or from this one, looped back by the caller).
    Message {
        from: ValidatorIndex,
        message: ConsensusMessage,
    },
    /// The timer scheduled for `round` fired.
    RoundTimerFired { round: Round },
    /// The block this leader asked for with [`Effect::RequestPayload`], built and executed.
    PayloadReady { round: Round, block: Block },
    /// The caller committed blocks up to `head` through range sync (after checking `certificate`
    /// commits `head`); the core moves its committed head there.
    Synced {
        head: Box<BlockWithParentQc>,
        certificate: Box<QuorumCertificate>,
    },
    /// The result of [`Effect::ExecuteBlock`]: `Ok` if execution reproduced the header's roots.
    BlockExecuted {
        block_id: BlockId,
        result: Result<(), String>,
    },
}

/// A message to send once safety data is persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    Send {
        to: ValidatorIndex,
        message: ConsensusMessage,
    },
    Broadcast {
        message: ConsensusMessage,
    },
}

/// Where safety data goes: a synced write. With a vote goes the block voted for, so that a
/// certified block survives even if every validator that holds it crashes.
pub trait SafetyStorage {
    type Error;
    fn persist_safety_data(
        &mut self,
        data: &SafetyData,
        voted_block: Option<&BlockWithParentQc>,
    ) -> Result<(), Self::Error>;
}

/// Signed votes, timeouts or proposals, held back until the safety data they depend on is on
/// disk. The only way to the messages is [`StagedMessages::persist`].
#[derive(Debug)]
#[must_use = "signed messages must be persisted and sent"]
pub struct StagedMessages {
    safety: SafetyData,
    voted_block: Option<BlockWithParentQc>,
    outgoing: Vec<Outgoing>,
}

impl StagedMessages {
    /// Persists the safety data with `storage`, then hands over the messages to send.
    pub fn persist<S: SafetyStorage>(self, storage: &mut S) -> Result<Vec<Outgoing>, S::Error> {
        storage.persist_safety_data(&self.safety, self.voted_block.as_ref())?;
        Ok(self.outgoing)
    }

    /// The safety data that will be persisted (for inspection; the messages stay inside).
    pub fn safety_data(&self) -> &SafetyData {
        &self.safety
    }
}

/// What the caller must do.
#[derive(Debug)]
pub enum Effect {
    /// Send a message that carries no new signature (fetch requests).
    Send {
        to: ValidatorIndex,
        message: ConsensusMessage,
    },
    /// Persist safety data with a synced write, then send what it signs.
    Signed(Box<StagedMessages>),
    /// Call back with [`Input::RoundTimerFired`] after `after_ms` milliseconds.
    ScheduleTimer { round: Round, after_ms: u64 },
    /// This node leads `round`: build a block on `parent_id` from the mempool, execute it, and
    /// return it with [`Input::PayloadReady`].
    RequestPayload { round: Round, parent_id: BlockId },
    /// Execute `block` on top of its parent (executed earlier, or the committed head) and
    /// answer with [`Input::BlockExecuted`].
    ExecuteBlock { block: Block },
    /// Make these blocks permanent, in order. `certificate` is the QC that commits the last.
    Commit {
        blocks: Vec<BlockWithParentQc>,
        certificate: QuorumCertificate,
    },
    /// Ask `from` for `count` blocks ending at `block_id`.
    Fetch {
        from: ValidatorIndex,
        block_id: BlockId,
        count: u16,
    },
    /// A peer asked for blocks: answer from [`Consensus::block`] and committed storage.
    ServeFetch {
        to: ValidatorIndex,
        block_id: BlockId,
        count: u16,
    },
    /// A validator signed two conflicting messages.
    Evidence(Evidence),
    /// Safety is broken beyond what the protocol tolerates (more than f faulty validators):
    /// the node stops and must be investigated.
    Halt { reason: String },
    /// A message from `from` was invalid: the network layer may penalise the peer.
    Invalid {
        from: ValidatorIndex,
        reason: InvalidMessage,
    },
}

/// Proof that a validator signed two conflicting messages in one round.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    pub author: ValidatorIndex,
    pub round: Round,
    pub kind: &'static str,
    /// The two messages as [`ConsensusMessage`]s, canonically encoded, each carrying its
    /// signature, reduced to what the signature covers: a proposal's block without its
    /// transactions (the signed block id commits to them through the header) and a timeout
    /// without its unsigned `last_tc`. Decode them with `tenge_types::decode`, not
    /// `ConsensusMessage::from_bytes`, which would refuse the emptied block.
    pub first: Vec<u8>,
    pub second: Vec<u8>,
}

/// What a node recovers from storage when it starts.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// The committed head and the QC on its parent (the genesis QC for genesis).
    pub committed: BlockWithParentQc,
    /// The QC that committed the head; `None` at genesis.
    pub commit_certificate: Option<QuorumCertificate>,
    pub safety: SafetyData,
    /// Uncommitted blocks persisted with votes (any order; stale ones are ignored).
    pub pending: Vec<BlockWithParentQc>,
}

/// A block referenced (by a QC or as a parent) but not held.
#[derive(Clone, Copy, Debug)]
struct Wanted {
    height: Height,
    /// Round of the last request: at most one request per block per round from `want`.
    asked_in_round: Round,
    attempts: u32,
}

/// Requests for one block before it is forgotten (a new reference revives it).
const MAX_FETCH_ATTEMPTS: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Execution {
    Waiting,
    Running,
    Done,
    Failed,
}

struct Entry {
    block: Block,
    parent_qc: QuorumCertificate,
    timeout_certificate: Option<TimeoutCertificate>,
    execution: Execution,
}

/// The kinds of message a validator signs once per round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SignedKind {
    Proposal,
    Vote,
    Timeout,
}

impl SignedKind {
    fn name(self) -> &'static str {
        match self {
            SignedKind::Proposal => "proposal",
            SignedKind::Vote => "vote",
            SignedKind::Timeout => "timeout",
        }
    }
}

/// What [`Consensus::record_signed`] made of a signed, verified message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signing {
    /// The author's first message of this kind for the round: use it.
    First,
    /// The same message again (a resend): nothing new.
    Repeat,
    /// A different message for a round the author already signed one in: evidence only, never
    /// stored, executed or counted.
    Conflict,
    /// Below the committed round: neither kept nor used.
    Stale,
}

/// The first message an author signed for a round.
struct SignedRecord {
    digest: HashValue,
    /// The message as evidence (see [`Evidence`]), until a conflicting one is reported.
    evidence: Vec<u8>,
    /// A conflicting message was seen and reported: later ones are dropped unverified.
    equivocated: bool,
}

/// Kept per (author, round) to use one message per author and round and to detect equivocation;
/// pruned below the oldest round a message is still accepted for.
#[derive(Default)]
struct Signed {
    proposals: HashMap<(ValidatorIndex, Round), SignedRecord>,
    votes: HashMap<(ValidatorIndex, Round), SignedRecord>,
    timeouts: HashMap<(ValidatorIndex, Round), SignedRecord>,
}

impl Signed {
    fn map(&mut self, kind: SignedKind) -> &mut HashMap<(ValidatorIndex, Round), SignedRecord> {
        match kind {
            SignedKind::Proposal => &mut self.proposals,
            SignedKind::Vote => &mut self.votes,
            SignedKind::Timeout => &mut self.timeouts,
        }
    }

    fn retain_from(&mut self, round: Round) {
        for map in [&mut self.proposals, &mut self.votes, &mut self.timeouts] {
            map.retain(|(_, r), _| *r >= round);
        }
    }
}

/// A proposal as evidence: its header stands for the block (see [`Evidence`]).
fn proposal_evidence(proposal: &Proposal) -> Vec<u8> {
    encode(&ConsensusMessage::Proposal(Box::new(Proposal {
        block: Block {
            header: proposal.block.header.clone(),
            transactions: Vec::new(),
        },
        parent_qc: proposal.parent_qc.clone(),
        timeout_certificate: proposal.timeout_certificate.clone(),
        author: proposal.author,
        signature: proposal.signature,
    })))
}

fn vote_evidence(vote: &Vote) -> Vec<u8> {
    encode(&ConsensusMessage::Vote(vote.clone()))
}

/// A timeout as evidence, without its unsigned `last_tc`.
fn timeout_evidence(timeout: &Timeout) -> Vec<u8> {
    encode(&ConsensusMessage::Timeout(Box::new(Timeout {
        round: timeout.round,
        high_qc: timeout.high_qc.clone(),
        last_tc: None,
        author: timeout.author,
        signature: timeout.signature,
    })))
}

/// The consensus state machine of one validator.
pub struct Consensus {
    config: Config,
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
    votes: BTreeMap<Round, HashMap<HashValue, BTreeMap<ValidatorIndex, Vote>>>,
    timeouts: BTreeMap<Round, BTreeMap<ValidatorIndex, Timeout>>,
    signed: Signed,
    evidence: Vec<Evidence>,
    now: TimestampMs,
}

const MAX_EVIDENCE: usize = 1_024;
/// Votes and timeouts are kept for rounds at most this far ahead of the current one.
const FUTURE_ROUNDS: u64 = 3;

impl Consensus {
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
        let mut safety = recovery.safety;
        // Rounds at or below the operator's floor may have been signed by this validator before
        // its safety data was lost or restored (M11): never sign in them again.
        let floor = config.voting_floor_round;
        safety.last_voted_round = safety.last_voted_round.max(floor);
        safety.highest_timeout_round = safety.highest_timeout_round.max(floor);
        safety.last_proposed_round = safety.last_proposed_round.max(floor);
        // The highest QC known before the restart, or the one that committed the head.
        let high_qc = [safety.high_qc.clone(), recovery.commit_certificate.clone()]
            .into_iter()
            .flatten()
            .max_by_key(|qc| qc.round())
            .unwrap_or_else(|| genesis_qc.clone());
        let last_tc = safety.last_tc.clone();
        let committed_round = recovery.committed.block.header.round;
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
            .filter(|pending| pending.block.header.height > committed_height)
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
        Consensus {
            config,
            me,
            signer,
            verifier: Verifier::new(validators, genesis_qc),
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
            votes: BTreeMap::new(),
            timeouts: BTreeMap::new(),
            signed: Signed::default(),
            evidence: Vec::new(),
            now: TimestampMs(0),
        }
    }

    pub fn round(&self) -> Round {
        self.round
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

    /// A block this node holds uncommitted (or its committed head), with its parent's QC.
    pub fn block(&self, id: &BlockId) -> Option<BlockWithParentQc> {
        if self.committed.block.id() == *id {
            return Some(self.committed.clone());
        }
        self.blocks.get(id).map(|entry| BlockWithParentQc {
            block: entry.block.clone(),
            parent_qc: entry.parent_qc.clone(),
        })
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
        };
        if let Err(reason) = result {
            effects.push(Effect::Invalid { from, reason });
        }
    }

    // ---- certificates and rounds -------------------------------------------------------

    /// Learns from a verified QC: highest QC, commits, missing blocks, round.
    fn process_qc(
        &mut self,
        qc: &QuorumCertificate,
        hint: ValidatorIndex,
        effects: &mut Vec<Effect>,
    ) {
        observe_qc(&mut self.safety, qc);
        if self
            .blocks
            .get(&qc.block_id())
            .is_some_and(|entry| entry.execution == Execution::Failed)
        {
            // A quorum certified a block this node could not execute: its execution differs
            // from the validators'. Following on would be guessing.
            let reason = format!(
                "block {} at height {} is certified but failed to execute here",
                qc.block_id().short(),
                qc.data.height
            );
            self.halted = Some(reason.clone());
            effects.push(Effect::Halt { reason });
            return;
        }
        if qc.round() > self.high_qc.round() {
            self.high_qc = qc.clone();
        }
        if qc.data.height > self.committed.block.header.height {
            self.want(qc.block_id(), qc.data.height, hint, effects);
        }
        if let Some((_, parent_round)) = qc.data.commits()
            && parent_round > self.committed_round
            && self
                .pending_commit
                .as_ref()
                .is_none_or(|pending| pending.round() < qc.round())
        {
            self.pending_commit = Some(qc.clone());
        }
        self.try_commit(effects);
        self.advance_round(qc.round().saturating_next(), true, effects);
    }

    fn process_tc(
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
        self.advance_round(tc.round.saturating_next(), false, effects);
    }

    fn advance_round(&mut self, round: Round, by_qc: bool, effects: &mut Vec<Effect>) {
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
        self.votes = self.votes.split_off(&keep_from);
        self.timeouts = self.timeouts.split_off(&keep_from);
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

    fn schedule_timer(&self, effects: &mut Vec<Effect>) {
        effects.push(Effect::ScheduleTimer {
            round: self.round,
            after_ms: self.round_timeout_ms(),
        });
    }

    // ---- proposing ---------------------------------------------------------------------

    fn try_propose(&mut self, effects: &mut Vec<Effect>) {
        let round = self.round;
        if self.validators().leader(round) != self.me
            || self.safety.last_proposed_round >= round
            || self.payload_requested == Some(round)
        {
            return;
        }
        // A round is justified by the QC of the round before it, or by a TC for it.
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

    /// Wraps signed messages with the safety data (and the certificates needed to resume) that
    /// must be on disk before they leave.
    fn stage(
        &self,
        mut safety: SafetyData,
        voted_block: Option<BlockId>,
        outgoing: Vec<Outgoing>,
    ) -> Effect {
        safety.high_qc = Some(self.high_qc.clone());
        safety.last_tc = self.last_tc.clone();
        let voted_block = voted_block.and_then(|id| self.block(&id));
        Effect::Signed(Box::new(StagedMessages {
            safety,
            voted_block,
            outgoing,
        }))
    }

    fn is_executed(&self, id: &BlockId) -> bool {
        *id == self.committed.block.id()
            || self
                .blocks
                .get(id)
                .is_some_and(|e| e.execution == Execution::Done)
    }

    fn on_payload(&mut self, round: Round, block: Block, effects: &mut Vec<Effect>) {
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

    // ---- voting ------------------------------------------------------------------------

    fn on_proposal(
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

    fn try_vote(&mut self, block_id: BlockId, effects: &mut Vec<Effect>) {
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
    fn sign_vote(
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

    fn vote_message(&self, vote: Vote) -> Outgoing {
        let next_leader = self.validators().leader(vote.data.round.saturating_next());
        Outgoing::Send {
            to: next_leader,
            message: ConsensusMessage::Vote(vote),
        }
    }

    fn on_vote(&mut self, vote: Vote, effects: &mut Vec<Effect>) -> Result<(), InvalidMessage> {
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
        let quorum = self.validators().quorum();
        let voters = self
            .votes
            .entry(round)
            .or_default()
            .entry(digest)
            .or_default();
        voters.insert(author, vote);
        if voters.len() == quorum {
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
            let qc = QuorumCertificate { data, signatures };
            let hint = self.me;
            self.process_qc(&qc, hint, effects);
        }
        Ok(())
    }

    // ---- timeouts ----------------------------------------------------------------------

    fn on_timer(&mut self, round: Round, effects: &mut Vec<Effect>) {
        if round != self.round {
            return;
        }
        self.send_timeout(effects);
        self.refetch(effects);
        self.schedule_timer(effects);
    }

    fn send_timeout(&mut self, effects: &mut Vec<Effect>) {
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
        let message = ConsensusMessage::Timeout(Box::new(timeout));
        let outgoing = vec![
            Outgoing::Broadcast {
                message: message.clone(),
            },
            Outgoing::Send {
                to: self.me,
                message,
            },
        ];
        effects.push(self.stage(self.safety.clone(), None, outgoing));
    }

    fn on_timeout(
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
        let collected = self.timeouts.entry(round).or_default();
        collected.insert(author, timeout);
        let count = collected.len();
        let validators = self.validators();
        let (quorum, echo) = (validators.quorum(), validators.max_faulty() + 1);
        if count >= quorum {
            let collected = &self.timeouts[&round];
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
            let tc = TimeoutCertificate {
                round,
                high_qc,
                signatures,
            };
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

    // ---- execution, fetching and commits -------------------------------------------------

    fn on_executed(
        &mut self,
        block_id: BlockId,
        result: Result<(), String>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(entry) = self.blocks.get_mut(&block_id) else {
            return;
        };
        entry.execution = if result.is_ok() {
            Execution::Done
        } else {
            Execution::Failed
        };
        if result.is_ok() {
            self.execute_ready(effects);
            self.try_vote(block_id, effects);
            self.try_commit(effects);
            self.try_propose(effects);
        }
    }

    /// Asks for execution of every block whose parent is executed.
    fn execute_ready(&mut self, effects: &mut Vec<Effect>) {
        let mut ready: Vec<(Height, BlockId)> = self
            .blocks
            .iter()
            .filter(|(_, entry)| entry.execution == Execution::Waiting)
            .filter(|(_, entry)| self.is_executed(&entry.block.header.parent_id))
            .map(|(id, entry)| (entry.block.header.height, *id))
            .collect();
        ready.sort();
        for (_, id) in ready {
            let entry = self.blocks.get_mut(&id).expect("listed above");
            entry.execution = Execution::Running;
            effects.push(Effect::ExecuteBlock {
                block: entry.block.clone(),
            });
        }
        // Blocks waiting on a parent nobody referenced yet (e.g. recovered after a restart
        // whose parent was fetched, not voted for): fetch the parent.
        let committed_height = self.committed.block.header.height;
        let mut orphans: Vec<(Height, BlockId)> = self
            .blocks
            .values()
            .filter(|entry| entry.execution == Execution::Waiting)
            .map(|entry| (entry.parent_qc.data.height, entry.block.header.parent_id))
            .filter(|(height, parent)| {
                *height > committed_height && !self.blocks.contains_key(parent)
            })
            .collect();
        orphans.sort();
        orphans.dedup();
        for (height, parent) in orphans {
            self.want(parent, height, self.me, effects);
        }
    }

    fn want(
        &mut self,
        id: BlockId,
        height: Height,
        from: ValidatorIndex,
        effects: &mut Vec<Effect>,
    ) {
        if self.blocks.contains_key(&id) || id == self.committed.block.id() {
            return;
        }
        let round = self.round;
        let attempt = match self.wanted.get_mut(&id) {
            // Asked already in this round: at most one request per block per round.
            Some(wanted) if wanted.asked_in_round == round => return,
            Some(wanted) => {
                wanted.asked_in_round = round;
                wanted.attempts += 1;
                wanted.attempts
            }
            None => {
                self.wanted.insert(
                    id,
                    Wanted {
                        height,
                        asked_in_round: round,
                        attempts: 1,
                    },
                );
                1
            }
        };
        self.fetch(id, height, from, attempt, effects);
    }

    fn fetch(
        &self,
        id: BlockId,
        height: Height,
        from: ValidatorIndex,
        attempt: u32,
        effects: &mut Vec<Effect>,
    ) {
        let behind = height
            .0
            .saturating_sub(self.committed.block.header.height.0);
        let count = behind.clamp(1, u64::from(self.config.fetch_batch)) as u16;
        let from = if from == self.me {
            // Ask someone else; round and attempt make successive retries rotate.
            let n = self.validators().len() as u64;
            let offset = (self.round.0 + u64::from(attempt)) % (n - 1).max(1);
            ((u64::from(self.me) + 1 + offset) % n) as ValidatorIndex
        } else {
            from
        };
        if from != self.me {
            effects.push(Effect::Fetch {
                from,
                block_id: id,
                count,
            });
        }
    }

    /// Retries outstanding fetches (on every round timer), from a rotating peer.
    fn refetch(&mut self, effects: &mut Vec<Effect>) {
        let committed_height = self.committed.block.header.height;
        self.wanted.retain(|_, wanted| {
            wanted.height > committed_height && wanted.attempts < MAX_FETCH_ATTEMPTS
        });
        // The newest first: fetching a block brings its missing ancestors along.
        let mut wanted: Vec<(Height, BlockId)> =
            self.wanted.iter().map(|(id, w)| (w.height, *id)).collect();
        wanted.sort_by(|a, b| b.cmp(a));
        for (height, id) in wanted.into_iter().take(4) {
            let entry = self.wanted.get_mut(&id).expect("listed above");
            entry.attempts += 1;
            entry.asked_in_round = self.round;
            let attempt = entry.attempts;
            self.fetch(id, height, self.me, attempt, effects);
        }
    }

    fn on_fetched(
        &mut self,
        from: ValidatorIndex,
        blocks: Vec<BlockWithParentQc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), InvalidMessage> {
        let committed_height = self.committed.block.header.height;
        let mut lowest: Option<(BlockId, Height)> = None;
        for item in blocks {
            let id = item.block.id();
            if !self.wanted.contains_key(&id) {
                continue; // unasked-for blocks are ignored, not trusted
            }
            let header = &item.block.header;
            if header.parent_id != item.parent_qc.block_id()
                || !header.height.follows(item.parent_qc.data.height)
            {
                return Err(InvalidMessage::Inconsistent(
                    "fetched block does not match its parent QC".into(),
                ));
            }
            self.verifier.verify_qc(&item.parent_qc)?;
            self.wanted.remove(&id);
            let parent = (header.parent_id, item.parent_qc.data.height);
            self.blocks.insert(
                id,
                Entry {
                    block: item.block,
                    parent_qc: item.parent_qc,
                    timeout_certificate: None,
                    execution: Execution::Waiting,
                },
            );
            let (parent_id, parent_height) = parent;
            if parent_height > committed_height
                && !self.blocks.contains_key(&parent_id)
                && parent_id != self.committed.block.id()
            {
                self.wanted.insert(
                    parent_id,
                    Wanted {
                        height: parent_height,
                        asked_in_round: self.round,
                        attempts: 0,
                    },
                );
                lowest = Some((parent_id, parent_height));
            }
        }
        if let Some((id, height)) = lowest {
            self.fetch(id, height, from, 0, effects);
        }
        self.execute_ready(effects);
        self.try_commit(effects);
        Ok(())
    }

    fn try_commit(&mut self, effects: &mut Vec<Effect>) {
        let Some(qc) = self.pending_commit.clone() else {
            return;
        };
        let Some((commit_id, commit_round)) = qc.data.commits() else {
            return;
        };
        if commit_round <= self.committed_round {
            self.pending_commit = None;
            return;
        }
        // Collect the chain from the block to commit down to the committed head.
        let head_id = self.committed.block.id();
        let mut chain = Vec::new();
        let mut cursor = commit_id;
        while cursor != head_id {
            let Some(entry) = self.blocks.get(&cursor) else {
                let height = Height(qc.data.height.0.saturating_sub(1));
                let hint = qc.signatures.first().map_or(self.me, |(signer, _)| *signer);
                self.want(cursor, height, hint, effects);
                return;
            };
            if entry.execution != Execution::Done {
                return; // commit once executed
            }
            if entry.block.header.height <= self.committed.block.header.height {
                // A certified chain that does not extend our committed head: more than f
                // validators are faulty. Stop loudly rather than follow either chain.
                let reason = format!(
                    "certified block {} at height {} conflicts with committed block {} at height {}",
                    commit_id.short(),
                    qc.data.height.0.saturating_sub(1),
                    head_id.short(),
                    self.committed.block.header.height
                );
                self.halted = Some(reason.clone());
                effects.push(Effect::Halt { reason });
                return;
            }
            chain.push(cursor);
            cursor = entry.block.header.parent_id;
        }
        chain.reverse();
        let blocks: Vec<BlockWithParentQc> = chain
            .iter()
            .map(|id| {
                let entry = &self.blocks[id];
                BlockWithParentQc {
                    block: entry.block.clone(),
                    parent_qc: entry.parent_qc.clone(),
                }
            })
            .collect();
        let head = blocks
            .last()
            .expect("commit round above the committed round")
            .clone();
        self.committed_round = head.block.header.round;
        self.committed = head;
        self.pending_commit = None;
        self.prune();
        effects.push(Effect::Commit {
            blocks,
            certificate: qc,
        });
    }

    /// Drops blocks that can no longer commit: at or below the committed height, or off the
    /// committed chain.
    fn prune(&mut self) {
        let head_id = self.committed.block.id();
        let head_height = self.committed.block.header.height;
        let mut keep: HashSet<BlockId> = HashSet::new();
        let mut ids: Vec<(Height, BlockId)> = self
            .blocks
            .iter()
            .filter(|(_, e)| e.block.header.height > head_height)
            .map(|(id, e)| (e.block.header.height, *id))
            .collect();
        ids.sort();
        for (height, id) in ids {
            let parent = self.blocks[&id].block.header.parent_id;
            // Keep blocks on the committed chain, and blocks whose parent is still unknown above
            // the head (it may yet connect); drop only blocks known to be on another branch.
            let parent_unknown_above =
                !self.blocks.contains_key(&parent) && height.0 > head_height.0 + 1;
            if parent == head_id || keep.contains(&parent) || parent_unknown_above {
                keep.insert(id);
            }
        }
        self.blocks.retain(|id, _| keep.contains(id));
        self.signed.retain_from(self.committed_round);
    }

    fn on_synced(
        &mut self,
        head: BlockWithParentQc,
        certificate: QuorumCertificate,
        effects: &mut Vec<Effect>,
    ) {
        if head.block.header.height <= self.committed.block.header.height {
            return;
        }
        if self.verifier.verify_qc(&certificate).is_err()
            || certificate.data.commits() != Some((head.block.id(), head.block.header.round))
        {
            return;
        }
        self.committed_round = head.block.header.round;
        self.committed = head;
        if self.pending_commit.as_ref().is_some_and(|qc| {
            qc.data
                .commits()
                .is_none_or(|(_, round)| round <= self.committed_round)
        }) {
            self.pending_commit = None;
        }
        self.prune();
        self.process_qc(&certificate, self.me, effects);
        self.execute_ready(effects);
        self.try_propose(effects);
    }

    // ---- evidence --------------------------------------------------------------------------

    /// Remembers the first message each validator signed of each kind per round, and tells the
    /// caller whether this one may be used. A second, different one is reported as evidence
    /// once per (author, round, kind). `evidence` encodes the message, and is called only when
    /// it is kept or reported.
    fn record_signed(
        &mut self,
        kind: SignedKind,
        author: ValidatorIndex,
        round: Round,
        digest: HashValue,
        evidence: impl FnOnce() -> Vec<u8>,
        effects: &mut Vec<Effect>,
    ) -> Signing {
        if round < self.committed_round {
            return Signing::Stale;
        }
        match self.signed.map(kind).entry((author, round)) {
            MapEntry::Vacant(vacant) => {
                vacant.insert(SignedRecord {
                    digest,
                    evidence: evidence(),
                    equivocated: false,
                });
                Signing::First
            }
            MapEntry::Occupied(first) if first.get().digest == digest => Signing::Repeat,
            MapEntry::Occupied(mut first) => {
                let first = first.get_mut();
                if !first.equivocated {
                    first.equivocated = true;
                    let found = Evidence {
                        author,
                        round,
                        kind: kind.name(),
                        first: std::mem::take(&mut first.evidence),
                        second: evidence(),
                    };
                    if self.evidence.len() < MAX_EVIDENCE {
                        self.evidence.push(found.clone());
                    }
                    effects.push(Effect::Evidence(found));
                }
                Signing::Conflict
            }
        }
    }
}
