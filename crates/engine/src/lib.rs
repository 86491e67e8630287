//! The engine of a tenge node: it drives the consensus core (validators) or follows the chain
//! (observers), with the mempool, block execution through `tenge-ledger`, commits through
//! `tenge-storage` and messages through `tenge-network`.
//!
//! The consensus core, the ledger and the store are driven from one OS thread (the engine
//! thread), fed by a bounded channel; network and API run on tokio. Reads (accounts, blocks,
//! status) go straight to the shared ledger and store, so queries never wait for consensus.

/// Admission is the driver's (shared with the simulator).
use tenge_driver::admission;
/// The mempool is the driver's (shared with the simulator).
pub use tenge_driver::mempool;
pub mod metrics;
mod runtime;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tenge_consensus::Config as ConsensusConfig;
use tenge_crypto::Keypair;
use tenge_ledger::Ledger;
use tenge_network::{NetworkLimits, PeerConfig};
use tenge_storage::{RocksStore, TransactionRecord};
use tenge_types::{BlockId, Genesis, HashValue, Height, Round, SignedTransaction, TimestampMs};
use tokio::sync::{broadcast, oneshot, watch};

pub use mempool::MempoolError;
pub use metrics::Metrics;
pub use runtime::start;
pub use tenge_ledger::SignatureCheck;

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
    /// CPU (N3, [`admission::AdmissionMark`]). Gossip from peers is still taken up to
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

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("storage: {0}")]
    Storage(#[from] tenge_storage::StoreError),
    #[error("genesis: {0}")]
    Genesis(#[from] tenge_ledger::GenesisError),
    #[error("stored state: {0}")]
    State(#[from] tenge_ledger::StateLoadError),
    #[error("network: {0}")]
    Network(#[from] tenge_network::NetworkError),
    #[error("this node's key {0} is not a validator in the genesis")]
    NotAValidator(tenge_types::PublicKey),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the data dir holds committed blocks up to height {height} but no consensus safety data: \
         this validator may have signed in rounds it no longer remembers. Set \
         `consensus.voting_floor_round` (or TENGE_VOTING_FLOOR_ROUND) above the highest round any \
         validator reports in `tenge status`, plus a margin, and start again (docs/operations.md)"
    )]
    SafetyDataMissing { height: tenge_types::Height },
}

impl From<tenge_driver::RecoveryError> for EngineError {
    fn from(error: tenge_driver::RecoveryError) -> EngineError {
        match error {
            tenge_driver::RecoveryError::Store(error) => EngineError::Storage(error),
            tenge_driver::RecoveryError::SafetyDataMissing { height } => {
                EngineError::SafetyDataMissing { height }
            }
            corrupt @ tenge_driver::RecoveryError::Corrupt { .. } => {
                EngineError::Corrupt(corrupt.to_string())
            }
        }
    }
}

/// Why a submitted transaction was not accepted into the mempool.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("a signature does not verify")]
    InvalidSignature,
    #[error("transaction is for chain {0}")]
    WrongChain(String),
    #[error("{0}")]
    Mempool(#[from] MempoolError),
    #[error("node is shutting down")]
    Stopped,
    #[error("node is overloaded: the engine queue is full")]
    Overloaded,
    #[error("this node stopped following the chain: {0}")]
    Halted(String),
    #[error("{0}")]
    Rejected(tenge_types::Rejection),
}

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    Pending,
    Committed(TransactionRecord),
    Unknown,
}

/// The node's state, for the API and for operators.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub mode: Mode,
    pub chain_id: String,
    pub height: Height,
    pub block_id: BlockId,
    pub state_root: HashValue,
    pub block_time: TimestampMs,
    pub round: Round,
    pub peers: usize,
    pub syncing: bool,
    pub mempool_transactions: usize,
    /// Set when the node stopped: it found its execution disagreeing with a certified state.
    pub halted: Option<String>,
    /// The highest committed height this node knows of, at least `height`. A validator takes it
    /// from the highest quorum certificate it has seen (signed by a quorum: no single peer can
    /// raise it); an observer from the head the peer it last synced from reported (unsigned, but
    /// replaced at every poll). For `GET /ready?max_blocks_behind=N`.
    pub known_height: Height,
}

/// A committed block, announced to API subscribers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommitEvent {
    pub height: Height,
    pub block_id: BlockId,
    pub state_root: HashValue,
    pub timestamp: TimestampMs,
    pub transactions: u32,
    pub applied: u32,
}

/// Levels the engine thread shares with the API without a round trip.
#[derive(Debug, Default)]
pub struct Counters {
    /// Transactions in the mempool, as of the engine's last loop.
    pub mempool_transactions: std::sync::atomic::AtomicUsize,
    /// Transactions in peers' gossip batches that wait for their checks (as the batches say).
    pub gossip_waiting: std::sync::atomic::AtomicUsize,
    /// Bytes of those batches (bounded: more are dropped).
    pub gossip_waiting_bytes: std::sync::atomic::AtomicUsize,
    /// The admission mark as of the engine's last loop ([`admission::AdmissionMark`]).
    pub admission_mark: std::sync::atomic::AtomicUsize,
    /// Senders whose pending transactions wait for an earlier sequence that the node does not
    /// hold, as of the engine's last look (refreshed while the mempool is near the admission
    /// mark). Over the mark, only a transaction that fills such a gap is admitted (N3).
    pub senders_waiting_for_gap: RwLock<std::collections::HashSet<tenge_types::AccountId>>,
}

impl Counters {
    /// What counts against the admission mark: the mempool and the peers' transactions that
    /// wait for their checks on the way to it.
    pub fn waiting(&self) -> usize {
        self.mempool_transactions
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_add(
                self.gossip_waiting
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
    }
}

/// What the API holds to talk to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    events: std::sync::mpsc::SyncSender<runtime::EngineEvent>,
    pub ledger: Arc<RwLock<Ledger>>,
    pub store: Arc<RocksStore>,
    pub status: watch::Receiver<Status>,
    pub commits: broadcast::Sender<CommitEvent>,
    pub counters: Arc<Counters>,
    /// Every metric of the node, libp2p's included (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    pub genesis: Arc<Genesis>,
    pub verify_threads: usize,
    /// Client signature checks run one batch at a time (each on `verify_threads` threads):
    /// concurrent submissions queue here instead of competing for the cores with consensus.
    pub verification: Arc<tokio::sync::Semaphore>,
}

impl EngineHandle {
    /// Whether a submission would be refused whole, answered before its body is decoded: the
    /// mempool is at the admission mark and no sender waits behind a gap, so nothing can come
    /// in (N3; [`submit`](Self::submit) says the same of each transaction).
    pub fn over_mark(&self) -> Option<SubmitError> {
        let waiting = self.counters.waiting();
        let mark = self
            .counters
            .admission_mark
            .load(std::sync::atomic::Ordering::Relaxed);
        let no_gaps = self
            .counters
            .senders_waiting_for_gap
            .read()
            .expect("gap set lock")
            .is_empty();
        (waiting >= mark && no_gaps).then_some(SubmitError::Mempool(MempoolError::Full(waiting)))
    }

    /// Admits client transactions: the cheap checks first (size, structure, chain, a dry run on
    /// the committed state), then the signatures of what passed, in a batch off the async
    /// threads, then the mempool. One result per transaction, in order.
    pub async fn submit(
        &self,
        transactions: Vec<SignedTransaction>,
    ) -> Vec<Result<HashValue, SubmitError>> {
        let now = TimestampMs::now();
        // Over the admission mark only a transaction that fills a sequence gap comes in (the
        // sender's next sequence, with later ones of the sender waiting in the mempool): without
        // it those could never leave. Everything else is refused before its signatures are
        // checked, a new sender's first transaction too (N3).
        let waiting = self.counters.waiting();
        let mark = self
            .counters
            .admission_mark
            .load(std::sync::atomic::Ordering::Relaxed);
        let crowded = waiting >= mark;

        let mut results: Vec<Option<Result<HashValue, SubmitError>>> =
            Vec::with_capacity(transactions.len());
        let mut passed = Vec::new();
        {
            let ledger = self.ledger.read().expect("ledger lock");
            let gaps = crowded.then(|| {
                self.counters
                    .senders_waiting_for_gap
                    .read()
                    .expect("gap set lock")
            });
            for tx in transactions {
                match admission::precheck(&ledger, &tx, now) {
                    Ok(readiness)
                        if gaps.as_ref().is_some_and(|gaps| {
                            readiness == admission::Readiness::Ahead
                                || !gaps.contains(&tx.transaction.sender)
                        }) =>
                    {
                        results.push(Some(Err(SubmitError::Mempool(MempoolError::Full(waiting)))));
                    }
                    Ok(_) => {
                        results.push(None);
                        passed.push(tx);
                    }
                    Err(admission::Refusal::Malformed(rejection))
                        if rejection.code == tenge_types::RejectionCode::WrongChain =>
                    {
                        results.push(Some(Err(SubmitError::WrongChain(
                            tx.transaction.chain_id.to_string(),
                        ))));
                    }
                    Err(
                        admission::Refusal::Malformed(rejection)
                        | admission::Refusal::Rejected(rejection),
                    ) => results.push(Some(Err(SubmitError::Rejected(rejection)))),
                }
            }
        }
        let threads = self.verify_threads;
        let Ok(turn) = self.verification.clone().acquire_owned().await else {
            return vec![Err(SubmitError::Stopped)];
        };
        let checked =
            tokio::task::spawn_blocking(move || tenge_ledger::check_transactions(passed, threads))
                .await;
        // The turn bounds the cores spent on checks; the wait for the engine below needs none.
        drop(turn);
        let Ok(checked) = checked else {
            return vec![Err(SubmitError::Stopped)];
        };
        let mut admitted = Vec::new();
        let mut verdicts = checked.into_iter();
        let mut waiting = Vec::new();
        for (index, slot) in results.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let checked = verdicts
                .next()
                .expect("one verdict per transaction that passed");
            if checked.valid {
                waiting.push(index);
                admitted.push(checked);
            } else {
                *slot = Some(Err(SubmitError::InvalidSignature));
            }
        }
        if !admitted.is_empty() {
            let (reply, answer) = oneshot::channel();
            let outcome = match self.events.try_send(runtime::EngineEvent::Submit {
                transactions: admitted,
                reply,
            }) {
                Ok(()) => answer
                    .await
                    .unwrap_or_else(|_| vec![Err(SubmitError::Stopped)]),
                Err(std::sync::mpsc::TrySendError::Full(_)) => vec![Err(SubmitError::Overloaded)],
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    vec![Err(SubmitError::Stopped)]
                }
            };
            let mut outcome = outcome.into_iter();
            let mut last = Err(SubmitError::Stopped);
            for index in waiting {
                // A refusal of the whole set (overloaded, stopped) answers every transaction.
                let result = outcome.next().unwrap_or_else(|| last.clone());
                last = result.clone();
                results[index] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect()
    }

    /// Pending in the mempool, committed (with outcome), or unknown to this node.
    pub async fn transaction_status(&self, hash: HashValue) -> TransactionStatus {
        if let Ok(Some(record)) = self.store.transaction(&hash) {
            return TransactionStatus::Committed(record);
        }
        let (reply, answer) = oneshot::channel();
        if self
            .events
            .try_send(runtime::EngineEvent::IsPending { hash, reply })
            .is_err()
        {
            return TransactionStatus::Unknown;
        }
        match answer.await {
            Ok(true) => TransactionStatus::Pending,
            _ => match self.store.transaction(&hash) {
                Ok(Some(record)) => TransactionStatus::Committed(record),
                _ => TransactionStatus::Unknown,
            },
        }
    }

    /// Asks the engine thread to stop; returns when it has.
    pub fn shutdown(&self) {
        let (reply, answer) = std::sync::mpsc::channel();
        if self
            .events
            .send(runtime::EngineEvent::Shutdown { reply })
            .is_ok()
        {
            let _ = answer.recv();
        }
    }
}

use tenge_storage::Store as _;
