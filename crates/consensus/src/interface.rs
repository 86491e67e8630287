//! What crosses the core's boundary: its settings, the inputs it reacts to, the effects it asks
//! for, and what it recovers from storage.

use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, ValidatorIndex,
};
use tenge_types::{Block, BlockId, Round};

use crate::{InvalidMessage, SafetyData, StagedMessages};

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
    /// A peer asked for blocks: answer from [`crate::Consensus::block`] and committed storage.
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
