//! What a node is configured with ([`EngineConfig`], [`EngineLimits`]), and the engine's fixed
//! limits and periods, each with its unit in its name.

use std::path::PathBuf;
use std::sync::Arc;

use tenge_consensus::Config as ConsensusConfig;
use tenge_crypto::Keypair;
use tenge_network::{NetworkLimits, PeerConfig};
use tenge_types::Genesis;

/// What the node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Takes part in consensus.
    Validator,
    /// Follows committed blocks, checks every certificate, re-executes, never votes.
    Observer,
}

/// Limits with their units in their names.
#[derive(Clone, Debug)]
pub struct EngineLimits {
    pub mempool_max_txs: usize,
    pub block_max_txs: usize,
    /// Threads used to verify signatures of batches.
    pub verify_threads: usize,
    /// Events waiting for the engine thread before new ones are refused.
    pub engine_queue_events: usize,
    /// Blocks asked for in one range-sync request.
    pub sync_batch_blocks: u16,
    /// Observers ask validators for new blocks this often.
    pub observer_poll_ms: u64,
    /// A validator this many blocks behind the highest certificate it has seen range-syncs.
    pub sync_gap_blocks: u64,
    /// A leader with nothing to propose waits up to this long for transactions (keep it well
    /// below the round timeout).
    pub empty_block_interval_ms: u64,
    /// A transaction not included within this time leaves the mempool.
    pub mempool_ttl_ms: u64,
    /// The ceiling of the admission mark: client submissions are refused (503, retry later)
    /// while the mempool holds about three seconds of what the chain commits, and never more than
    /// this many transactions, before any signature is checked: a burst above what the chain
    /// commits is turned away at once instead of queueing for seconds and starving consensus of
    /// CPU (N3, [`tenge_driver::admission::AdmissionMark`]). Gossip from peers is still taken up to
    /// `mempool_max_txs`.
    pub mempool_admission_max_txs: usize,
    /// How blocks taken by range sync have their signatures checked (config
    /// `verify_signatures`).
    pub sync_signature_check: tenge_ledger::SignatureCheck,
}

impl Default for EngineLimits {
    fn default() -> EngineLimits {
        EngineLimits {
            mempool_max_txs: 200_000,
            block_max_txs: 10_000,
            verify_threads: 2,
            engine_queue_events: 100_000,
            sync_batch_blocks: 256,
            observer_poll_ms: 200,
            sync_gap_blocks: 32,
            empty_block_interval_ms: 300,
            mempool_ttl_ms: 120_000,
            mempool_admission_max_txs: 30_000,
            sync_signature_check: tenge_ledger::SignatureCheck::All,
        }
    }
}

#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub mode: Mode,
    pub genesis: Genesis,
    /// The node's key: a validator's consensus key, or an observer's identity.
    pub key: Arc<Keypair>,
    pub data_dir: PathBuf,
    /// Multiaddr to listen on.
    pub listen_address: String,
    /// Peers besides the genesis validators allowed to connect (observers), with addresses if
    /// this node should dial them.
    pub extra_peers: Vec<PeerConfig>,
    pub consensus: ConsensusConfig,
    pub limits: EngineLimits,
    pub network: NetworkLimits,
}

/// How often a validator's engine runs its periodic work (range sync if behind, mempool expiry,
/// status, stall report); an observer uses `EngineLimits::observer_poll_ms` instead.
pub(crate) const VALIDATOR_PERIOD_MS: u64 = 250;
/// The longest the engine thread waits for an event before it looks at its timers again.
pub(crate) const LOOP_WAIT_MS: u64 = 20;
/// The same wait while a proposal waits for transactions, so it goes out soon after one arrives.
pub(crate) const LOOP_WAIT_PAYLOAD_DUE_MS: u64 = 2;
/// A range-sync request unanswered this long no longer holds back the next one.
pub(crate) const SYNC_REQUEST_TIMEOUT_SECS: u64 = 15;
/// With no commit for this long, the engine logs its consensus state.
pub(crate) const STALL_REPORT_SECS: u64 = 10;
/// A validator that committed nothing for this long asks a peer for committed blocks, once per
/// this long: it may have missed its epoch's end (D82). A stalled network answers "nothing".
pub(crate) const STALL_SYNC_SECS: u64 = 3;
/// Commit events buffered for each API subscriber; a slower subscriber misses the oldest.
pub(crate) const COMMIT_CHANNEL_EVENTS: usize = 1_024;

/// Unproven synced blocks kept while waiting for the block that proves them (L5).
pub(crate) const SYNC_BUFFER_MAX_BYTES: usize = 256 << 20;

/// How many peer transaction batches may wait for their checks; beyond that new ones are
/// dropped (gossip is best effort).
pub(crate) const GOSSIP_QUEUE_BATCHES: usize = 1_024;
/// Bytes of peers' transaction batches that may wait for their checks; more are dropped. A count
/// of 64 batches was the bound before: under load the many small batches of honest peers filled
/// it within a tenth of a second and transactions were lost on the way (N3).
pub(crate) const GOSSIP_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// How often the engine refreshes the senders waiting behind a sequence gap while the mempool is
/// near the admission mark.
pub(crate) const GAPS_REFRESH_MS: u64 = 50;
