//! The engine thread: one loop that owns the node's driver (`tenge_driver::Replica`: the
//! consensus core, the mempool, the executed but uncommitted blocks, the ledger's writes) and
//! feeds it from libp2p, the API and timers, then does what it asks: sends, timers, proposals,
//! commit events, penalties.

use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tenge_consensus::{Consensus, Input, Outgoing, Verifier};
use tenge_driver::sync::RangeBuffer;
use tenge_driver::{Followed, Host, Output, Position, Replica};
use tenge_ledger::{CheckedTransaction, ExecutedBlock, Ledger, verify_signatures};
use tenge_network::{
    Channel, NetworkClient, NetworkConfig, NetworkEvent, PeerConfig, PublicKey, SyncReply,
};
use tenge_storage::RocksStore;
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, ValidatorIndex, ValidatorSet,
};
use tenge_types::sync::{SyncRequest, SyncResponse};
use tenge_types::{AccountId, BlockId, HashValue, Round, SignedTransaction, TimestampMs, encode};
use tokio::sync::{broadcast, oneshot, watch};
use tracing::{debug, error, info, warn};

use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::{
    CommitEvent, Counters, EngineConfig, EngineError, EngineHandle, Mode, Status, SubmitError,
};

use tenge_driver::admission::GOSSIP_BATCH;
/// Remembered verified transaction digests, per generation (two generations are kept).
const VERIFIED_GENERATION: usize = 500_000;

pub(crate) enum EngineEvent {
    Network(NetworkEvent),
    Consensus {
        from: PublicKey,
        message: ConsensusMessage,
    },
    /// Transactions from peers whose signatures verified.
    Gossip {
        transactions: Vec<CheckedTransaction>,
    },
    /// Client transactions whose signatures verified and that passed the dry run.
    Submit {
        transactions: Vec<CheckedTransaction>,
        reply: oneshot::Sender<Vec<Result<HashValue, SubmitError>>>,
    },
    SyncResult {
        from: PublicKey,
        result: Result<SyncResponse, String>,
    },
    IsPending {
        hash: HashValue,
        reply: oneshot::Sender<bool>,
    },
    Shutdown {
        reply: std::sync::mpsc::Sender<()>,
    },
}

/// Storage failures are fatal: the node stops rather than run on state it cannot trust.
fn fatal(what: &str, error: impl std::fmt::Display) -> ! {
    error!(%error, "fatal storage failure: {what}");
    panic!("fatal storage failure: {what}: {error}");
}

/// Unproven synced blocks kept while waiting for the block that proves them (L5).
const SYNC_BUFFER_MAX_BYTES: usize = 256 << 20;

/// Verified signed-transaction digests, in two generations so the set stays bounded.
#[derive(Default)]
struct VerifiedSet {
    current: HashSet<HashValue>,
    previous: HashSet<HashValue>,
}

impl VerifiedSet {
    fn insert(&mut self, digest: HashValue) {
        if self.current.len() >= VERIFIED_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(digest);
    }

    fn contains(&self, digest: &HashValue) -> bool {
        self.current.contains(digest) || self.previous.contains(digest)
    }
}

/// The engine's side of the driver: signature verdicts from the verified set, the rest verified
/// now (batched, on the verification threads); measurements into the metrics.
struct EngineHost<'a> {
    verified: &'a mut VerifiedSet,
    metrics: &'a Metrics,
    threads: usize,
}

impl Host for EngineHost<'_> {
    fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool> {
        let digests: Vec<HashValue> = transactions.iter().map(SignedTransaction::digest).collect();
        let unknown: Vec<usize> = (0..transactions.len())
            .filter(|i| !self.verified.contains(&digests[*i]))
            .collect();
        let mut valid = vec![true; transactions.len()];
        if !unknown.is_empty() {
            let batch: Vec<SignedTransaction> =
                unknown.iter().map(|i| transactions[*i].clone()).collect();
            let results = verify_signatures(&batch, self.threads);
            for (i, ok) in unknown.into_iter().zip(results) {
                valid[i] = ok;
                if ok {
                    self.verified.insert(digests[i]);
                }
            }
        }
        valid
    }

    fn safety_written(&mut self, elapsed: Duration) {
        self.metrics.safety_data_written(elapsed);
    }

    fn blocks_written(&mut self, elapsed: Duration, bytes: usize) {
        self.metrics.blocks_written(elapsed, bytes);
    }

    fn moved(&mut self, before: Position, after: Position, timer: Option<Round>) {
        self.metrics.consensus_moved(before, after, timer);
    }
}

/// Opens the store, rebuilds the ledger, starts the network and the engine thread.
pub async fn start(config: EngineConfig) -> Result<EngineHandle, EngineError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| EngineError::Corrupt(format!("data dir: {e}")))?;
    let store = Arc::new(RocksStore::open(&config.data_dir.join("db"))?);
    let validators = ValidatorSet::new(
        config
            .genesis
            .validators
            .iter()
            .map(|v| v.consensus_key)
            .collect(),
    );
    let me = validators
        .keys
        .iter()
        .position(|k| *k == config.key.public_key())
        .map(|i| i as ValidatorIndex);
    // The store initialised or checked against the genesis, the ledger rebuilt, and the head
    // proven committed by the genesis validators, as a synced range is (L6).
    let tenge_driver::Opened {
        genesis_block,
        head,
        ledger,
    } = tenge_driver::open(store.as_ref(), &config.genesis, &validators).map_err(|error| {
        match error {
            tenge_driver::replica::OpenError::Store(error) => EngineError::Storage(error),
            tenge_driver::replica::OpenError::Genesis(error) => EngineError::Genesis(error),
            tenge_driver::replica::OpenError::State(error) => EngineError::State(error),
            other => EngineError::Corrupt(other.to_string()),
        }
    })?;
    info!(height = %ledger.head().height, root = %ledger.state().root().short(), "state loaded and audited");
    let consensus = match config.mode {
        Mode::Validator => {
            let me = me.ok_or(EngineError::NotAValidator(config.key.public_key()))?;
            let recovery = tenge_driver::recover(
                store.as_ref(),
                &genesis_block,
                &head,
                config.consensus.voting_floor_round,
            )?;
            info!(validator = me, last_voted_round = %recovery.safety.last_voted_round, pending = recovery.pending.len(), "consensus state recovered");
            let signer = tenge_crypto::Keypair::from_secret(config.key.secret_bytes());
            Some((
                me,
                Consensus::new(
                    config.consensus.clone(),
                    me,
                    signer,
                    validators.clone(),
                    &genesis_block,
                    recovery,
                ),
            ))
        }
        Mode::Observer => None,
    };

    let mut peers: Vec<PeerConfig> = config
        .genesis
        .validators
        .iter()
        .map(|v| PeerConfig {
            key: v.consensus_key,
            address: Some(v.address.clone()),
        })
        .collect();
    peers.extend(config.extra_peers.iter().cloned());
    let mut metrics = Metrics::new();
    let (network, network_events) = tenge_network::start_with_metrics(
        NetworkConfig {
            secret_key: config.key.secret_bytes(),
            listen_address: config.listen_address.clone(),
            peers,
            limits: config.network.clone(),
        },
        metrics.registry_mut(),
    )
    .await?;

    let (events, inbox) = sync_channel(config.limits.engine_queue_events);
    let ledger = Arc::new(RwLock::new(ledger));
    let initial_status = Status {
        mode: config.mode,
        chain_id: config.genesis.chain_id.to_string(),
        height: head.block.header.height,
        block_id: head.block.id(),
        state_root: head.block.header.state_root,
        block_time: head.block.header.timestamp,
        round: consensus.as_ref().map_or(Round(0), |(_, c)| c.round()),
        peers: 0,
        syncing: false,
        mempool_transactions: 0,
        halted: None,
        known_height: head.block.header.height,
    };
    let (status_sender, status) = watch::channel(initial_status);
    let (commits, _) = broadcast::channel(1_024);
    let counters = Arc::new(Counters::default());
    counters.admission_mark.store(
        crate::admission::AdmissionMark::default()
            .mark(Instant::now(), config.limits.mempool_admission_max_txs),
        Ordering::Relaxed,
    );
    metrics.register_status(status.clone(), config.data_dir.join("db"));
    let metrics = Arc::new(metrics);
    let handle = EngineHandle {
        events: events.clone(),
        ledger: ledger.clone(),
        store: store.clone(),
        status,
        commits: commits.clone(),
        counters: counters.clone(),
        metrics: metrics.clone(),
        genesis: Arc::new(config.genesis.clone()),
        verify_threads: config.limits.verify_threads,
        verification: Arc::new(tokio::sync::Semaphore::new(1)),
    };
    let runtime = tokio::runtime::Handle::current();
    runtime.spawn(forward_network(
        network_events,
        events.clone(),
        network.clone(),
        ledger.clone(),
        validators.keys.iter().copied().collect(),
        config.limits.verify_threads,
        counters.clone(),
    ));

    let verifier = Verifier::new(
        validators.clone(),
        QuorumCertificate::genesis(&genesis_block),
    );
    let replica = Replica::new(
        consensus,
        ledger.clone(),
        store.clone(),
        Mempool::new(config.limits.mempool_max_txs),
    );
    let engine = Engine {
        config,
        replica,
        validators,
        ledger,
        store,
        network,
        runtime,
        events,
        verified: VerifiedSet::default(),
        timers: BinaryHeap::new(),
        gossip: Vec::new(),
        connected: HashSet::new(),
        status: status_sender,
        commits,
        counters,
        metrics,
        verifier,
        sync_in_flight: None,
        sync_buffer: RangeBuffer::new(SYNC_BUFFER_MAX_BYTES),
        sync_cursor: 0,
        peer_head: tenge_types::Height::GENESIS,
        halted: None,
        payload_due: None,
        progress: None,
        gaps_published: Instant::now(),
        payload_checked: 0,
        admission: crate::admission::AdmissionMark::default(),
        forwarded: std::collections::HashMap::new(),
    };
    std::thread::Builder::new()
        .name("tenge-engine".into())
        .spawn(move || {
            // The engine (its database handle, its ledger) is dropped when `run` returns, before
            // the caller of `shutdown` hears that it stopped.
            if let Some(reply) = engine.run(inbox) {
                let _ = reply.send(());
            }
        })
        .map_err(|e| EngineError::Corrupt(format!("cannot start the engine thread: {e}")))?;
    Ok(handle)
}

/// How many peer transaction batches may wait for their checks; beyond that new ones are
/// dropped (gossip is best effort).
const GOSSIP_QUEUE: usize = 1_024;
/// Bytes of peers' transaction batches that may wait for their checks; more are dropped. A count
/// of 64 batches was the bound before: under load the many small batches of honest peers filled
/// it within a tenth of a second and transactions were lost on the way (N3).
const GOSSIP_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// How often the engine refreshes the senders waiting behind a sequence gap while the mempool is
/// near the admission mark.
const GAPS_REFRESH: Duration = Duration::from_millis(50);

/// Routes what peers send towards the engine thread. Consensus messages are decoded with limits
/// and forwarded at once; transaction batches go to [`check_gossip_batches`] through a bounded
/// queue, so that a consensus message never waits behind the signature checks of a gossip batch
/// (D51: a flood of costly gossip must not slow the rounds).
async fn forward_network(
    mut network_events: tokio::sync::mpsc::Receiver<NetworkEvent>,
    engine: SyncSender<EngineEvent>,
    network: NetworkClient,
    ledger: Arc<RwLock<Ledger>>,
    validator_keys: HashSet<PublicKey>,
    threads: usize,
    counters: Arc<Counters>,
) {
    let (gossip, gossip_queue) = tokio::sync::mpsc::channel(GOSSIP_QUEUE);
    tokio::spawn(check_gossip_batches(
        gossip_queue,
        engine.clone(),
        network.clone(),
        ledger,
        threads,
        counters.clone(),
    ));
    while let Some(event) = network_events.recv().await {
        let event = match event {
            NetworkEvent::Message {
                from,
                channel: Channel::Consensus,
                bytes,
            } if !validator_keys.contains(&from) => {
                // Only validators take part in consensus; an observer that sends consensus
                // messages is misbehaving, and decoding them would cost this node for nothing
                // (security review H6).
                drop(bytes);
                let _ = network
                    .penalize(from, "consensus message from a non-validator".into())
                    .await;
                continue;
            }
            NetworkEvent::Message {
                from,
                channel: Channel::Consensus,
                bytes,
            } => match ConsensusMessage::from_bytes(&bytes) {
                Ok(message) => EngineEvent::Consensus { from, message },
                Err(error) => {
                    let _ = network
                        .penalize(from, format!("undecodable consensus message: {error}"))
                        .await;
                    continue;
                }
            },
            NetworkEvent::Message {
                from,
                channel: Channel::Transactions,
                bytes,
            } => {
                // What waits for its checks counts against the admission mark at once: other
                // validators' admissions become visible here before they reach the mempool, so
                // that four validators do not each fill a mark of their own (N3).
                let claimed = claimed_batch_len(&bytes);
                let size = bytes.len();
                if counters.gossip_waiting_bytes.load(Ordering::Relaxed) + size > GOSSIP_QUEUE_BYTES
                {
                    debug!("gossip queue full: transaction batch dropped");
                    continue;
                }
                counters
                    .gossip_waiting
                    .fetch_add(claimed, Ordering::Relaxed);
                counters
                    .gossip_waiting_bytes
                    .fetch_add(size, Ordering::Relaxed);
                if gossip.try_send((from, bytes, claimed)).is_err() {
                    counters
                        .gossip_waiting
                        .fetch_sub(claimed, Ordering::Relaxed);
                    counters
                        .gossip_waiting_bytes
                        .fetch_sub(size, Ordering::Relaxed);
                    debug!("gossip queue full: transaction batch dropped");
                }
                continue;
            }
            other => EngineEvent::Network(other),
        };
        if engine.try_send(event).is_err() {
            debug!("engine queue full: network event dropped");
        }
    }
}

/// The number of transactions a gossip batch says it holds (the length that starts a BCS list),
/// at most `GOSSIP_BATCH`; zero if unreadable. Read without decoding, to count waiting gossip.
fn claimed_batch_len(bytes: &[u8]) -> usize {
    let mut length: u64 = 0;
    for (index, byte) in bytes.iter().take(5).enumerate() {
        length |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return usize::try_from(length).map_or(GOSSIP_BATCH, |n| n.min(GOSSIP_BATCH));
        }
    }
    0
}

/// Checks peers' transaction batches one at a time, before they reach the engine thread: decoded
/// with limits, the same cheap checks as client transactions (structure, chain, a dry run on the
/// committed state), and only then their signatures, in a batch. Garbage costs the sender its
/// standing.
async fn check_gossip_batches(
    mut batches: tokio::sync::mpsc::Receiver<(PublicKey, Vec<u8>, usize)>,
    engine: SyncSender<EngineEvent>,
    network: NetworkClient,
    ledger: Arc<RwLock<Ledger>>,
    threads: usize,
    counters: Arc<Counters>,
) {
    while let Some((from, bytes, claimed)) = batches.recv().await {
        // Checked and handed to the engine (or dropped) by the end of this turn.
        let _counted = GossipWaiting(&counters, claimed, bytes.len());
        let decoded = tenge_driver::admission::decode_gossip(&bytes);
        drop(bytes);
        let transactions = match decoded {
            Ok(transactions) => transactions,
            Err(reason) => {
                let _ = network.penalize(from, reason).await;
                continue;
            }
        };
        let ledger = ledger.clone();
        let verdict = tokio::task::spawn_blocking(move || {
            crate::admission::check_gossip(&ledger, transactions, TimestampMs::now(), threads)
        })
        .await;
        let Ok(verdict) = verdict else {
            continue;
        };
        if let Some(reason) = verdict.penalty() {
            let _ = network.penalize(from, reason).await;
        }
        if verdict.admitted.is_empty() {
            continue;
        }
        let event = EngineEvent::Gossip {
            transactions: verdict.admitted,
        };
        if engine.try_send(event).is_err() {
            debug!("engine queue full: checked gossip dropped");
        }
    }
}

/// Takes a batch's transactions off `Counters::gossip_waiting` when dropped.
struct GossipWaiting<'a>(&'a Counters, usize, usize);

impl Drop for GossipWaiting<'_> {
    fn drop(&mut self) {
        self.0.gossip_waiting.fetch_sub(self.1, Ordering::Relaxed);
        self.0
            .gossip_waiting_bytes
            .fetch_sub(self.2, Ordering::Relaxed);
    }
}

struct Engine {
    config: EngineConfig,
    /// The node itself (tenge_driver, shared with the simulator): the consensus core (none for
    /// an observer), the mempool, the executed blocks above the committed head, the ledger's
    /// and the store's writes.
    replica: Replica<RocksStore>,
    validators: ValidatorSet,
    /// The ledger the replica writes, for reading here (the API reads it too).
    ledger: Arc<RwLock<Ledger>>,
    /// The replica's store, for serving range sync.
    store: Arc<RocksStore>,
    network: NetworkClient,
    runtime: tokio::runtime::Handle,
    events: SyncSender<EngineEvent>,
    verified: VerifiedSet,
    /// Round timers: (deadline, round), earliest first.
    timers: BinaryHeap<std::cmp::Reverse<(Instant, Round)>>,
    /// Client transactions to forward to the other validators.
    gossip: Vec<SignedTransaction>,
    connected: HashSet<PublicKey>,
    status: watch::Sender<Status>,
    commits: broadcast::Sender<CommitEvent>,
    counters: Arc<Counters>,
    metrics: Arc<Metrics>,
    verifier: Verifier,
    /// When the outstanding range-sync request was sent.
    sync_in_flight: Option<Instant>,
    /// Blocks a peer sent that chain onto the committed head but end before any commit
    /// certificate (a response full before a proven block, L5): kept, never executed, until a
    /// later response proves a block after them. Bounded by `SYNC_BUFFER_MAX_BYTES`.
    sync_buffer: RangeBuffer,
    sync_cursor: usize,
    /// The committed head the peer this node last synced from reported (observers poll every
    /// `observer_poll_ms`, so a stale or false value lasts one poll).
    peer_head: tenge_types::Height,
    halted: Option<String>,
    /// A proposal waiting for transactions: (round, parent, when to propose anyway).
    payload_due: Option<(Round, BlockId, Instant)>,
    /// `Mempool::insertions` when the waiting proposal last looked into the mempool.
    payload_checked: u64,
    /// The committed height and since when it has not changed.
    progress: Option<(tenge_types::Height, Instant)>,
    /// When `Counters::senders_waiting_for_gap` was last refreshed.
    gaps_published: Instant,
    /// What the chain committed lately, for the admission mark (N3).
    admission: crate::admission::AdmissionMark,
    /// Observers: client transactions passed on to the validators and not yet settled, by hash,
    /// with sender, sequence and when. They count against the observer's admission mark as a
    /// validator's mempool counts against its own (N3), until the sender's committed sequence
    /// passes theirs (a validator may have dropped one: it never commits) or the mempool's TTL.
    /// Never reported as pending: the observer cannot know that a validator holds one.
    forwarded: std::collections::HashMap<HashValue, (AccountId, u64, Instant)>,
}

impl Engine {
    /// The engine's loop, until a shutdown (whose reply it returns) or until every sender is gone.
    fn run(mut self, inbox: Receiver<EngineEvent>) -> Option<std::sync::mpsc::Sender<()>> {
        self.input(Input::Start);
        let mut last_periodic = Instant::now();
        loop {
            let next_timer = self
                .timers
                .peek()
                .map(|std::cmp::Reverse((deadline, _))| *deadline);
            let wait = next_timer
                .map_or(Duration::from_millis(20), |deadline| {
                    deadline.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(if self.payload_due.is_some() {
                    2
                } else {
                    20
                }));
            match inbox.recv_timeout(wait) {
                Ok(EngineEvent::Shutdown { reply }) => {
                    info!("engine stopping");
                    return Some(reply);
                }
                Ok(event) => self.on_event(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
            // Drain what else is waiting before timers, so a burst is handled in one go.
            while let Ok(event) = inbox.try_recv() {
                if let EngineEvent::Shutdown { reply } = event {
                    info!("engine stopping");
                    return Some(reply);
                }
                self.on_event(event);
            }
            let now = Instant::now();
            while let Some(std::cmp::Reverse((deadline, round))) = self.timers.peek().copied() {
                if deadline > now {
                    break;
                }
                self.timers.pop();
                self.input(Input::RoundTimerFired { round });
            }
            self.flush_gossip();
            self.counters.mempool_transactions.store(
                self.replica.mempool().len() + self.forwarded.len(),
                Ordering::Relaxed,
            );
            let mark = self
                .admission
                .mark(now, self.config.limits.mempool_admission_max_txs);
            self.counters.admission_mark.store(mark, Ordering::Relaxed);
            self.publish_gaps(now, mark);
            self.maybe_propose_due();
            if now.duration_since(last_periodic) >= Duration::from_millis(self.periodic_ms()) {
                last_periodic = now;
                self.maybe_sync();
                let expired = self.replica.mempool_mut().expire(
                    Duration::from_millis(self.config.limits.mempool_ttl_ms),
                    now,
                );
                if expired > 0 {
                    info!(expired, "mempool transactions expired");
                    self.metrics.mempool_expired(expired);
                }
                let ttl = Duration::from_millis(self.config.limits.mempool_ttl_ms);
                self.forwarded
                    .retain(|_, (_, _, since)| now.saturating_duration_since(*since) < ttl);
                self.publish_status();
                self.report_stall();
            }
        }
    }

    /// Refreshes the senders whose transactions wait behind a gap, which the API's admission
    /// reads over the mark (N3): every `GAPS_REFRESH` while the mempool is at least half the
    /// admission mark (a scan of the pending senders), and cleared once below it.
    fn publish_gaps(&mut self, now: Instant, mark: usize) {
        if now.duration_since(self.gaps_published) < GAPS_REFRESH {
            return;
        }
        self.gaps_published = now;
        let near_mark = self.replica.mempool().len() * 2 >= mark;
        let gaps = if near_mark {
            let ledger = self.ledger.read().expect("ledger lock");
            self.replica.mempool().senders_waiting_for_gap(|sender| {
                ledger.state().account(sender).map_or(0, |a| a.sequence)
            })
        } else {
            HashSet::new()
        };
        let mut published = self
            .counters
            .senders_waiting_for_gap
            .write()
            .expect("gap set lock");
        if near_mark || !published.is_empty() {
            *published = gaps;
        }
    }

    fn periodic_ms(&self) -> u64 {
        match self.config.mode {
            Mode::Observer => self.config.limits.observer_poll_ms,
            Mode::Validator => 250,
        }
    }

    fn on_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Consensus { from, message } => {
                let Some(from) = self.validators.keys.iter().position(|k| *k == from) else {
                    return;
                };
                self.metrics.message_received(&message);
                if self.replica.consensus().is_some() {
                    self.input(Input::Message {
                        from: from as ValidatorIndex,
                        message,
                    });
                }
            }
            EngineEvent::Network(NetworkEvent::SyncRequest { from, bytes, reply }) => {
                self.serve_sync(from, &bytes, reply)
            }
            EngineEvent::Network(NetworkEvent::PeerConnected(peer)) => {
                self.connected.insert(peer);
            }
            EngineEvent::Network(NetworkEvent::PeerDisconnected(peer)) => {
                self.connected.remove(&peer);
            }
            EngineEvent::Network(NetworkEvent::Message { .. }) => {}
            EngineEvent::Gossip { transactions } => {
                for checked in transactions {
                    self.verified.insert(checked.digest);
                    // Gossip is best effort: a full mempool or a stale transaction just drops it.
                    let inserted = self.replica.offer(checked.tx, checked.hash, Instant::now());
                    self.metrics.mempool_insert("gossip", &inserted);
                }
            }
            EngineEvent::Submit {
                transactions,
                reply,
            } => {
                let results = transactions
                    .into_iter()
                    .map(|tx| self.admit_client(tx))
                    .collect();
                let _ = reply.send(results);
            }
            EngineEvent::SyncResult { from, result } => self.on_sync_result(from, result),
            EngineEvent::IsPending { hash, reply } => {
                let _ = reply.send(self.replica.mempool().contains(&hash));
            }
            EngineEvent::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }

    fn admit_client(&mut self, checked: CheckedTransaction) -> Result<HashValue, SubmitError> {
        if let Some(reason) = &self.halted {
            return Err(SubmitError::Halted(reason.clone()));
        }
        debug_assert!(checked.valid, "only verified transactions reach the engine");
        let CheckedTransaction {
            tx, hash, digest, ..
        } = checked;
        self.verified.insert(digest);
        match self.config.mode {
            Mode::Observer => {
                // Observers hold no mempool: they pass transactions on to the validators. (Keeping
                // them in a mempool broke the N1 CLI sequence through an observer and was
                // reverted: D58.) What they pass on counts against their admission mark until
                // the sender's sequence passes it or it expires (D65).
                self.forwarded.insert(
                    hash,
                    (
                        tx.transaction.sender,
                        tx.transaction.sequence,
                        Instant::now(),
                    ),
                );
                self.gossip.push(tx);
                Ok(hash)
            }
            Mode::Validator => {
                let inserted = self.replica.offer(tx.clone(), hash, Instant::now());
                self.metrics.mempool_insert("client", &inserted);
                if inserted? {
                    self.gossip.push(tx);
                }
                Ok(hash)
            }
        }
    }

    /// Every validator's network key but this node's own.
    fn other_validators(&self) -> Vec<PublicKey> {
        let me = self.config.key.public_key();
        self.validators
            .keys
            .iter()
            .copied()
            .filter(|k| *k != me)
            .collect()
    }

    /// Sends the client transactions admitted since the last turn of the loop to the other
    /// validators. Holding them for a timer (10 ms, to send fewer, larger batches) was tried and
    /// put the 10,000 tx/s point's median up by about 400 ms: a transaction that reaches the
    /// leader late can miss a proposal and wait a round (D58).
    fn flush_gossip(&mut self) {
        if self.gossip.is_empty() {
            return;
        }
        let targets = self.other_validators();
        for batch in self.gossip.chunks(GOSSIP_BATCH) {
            // A slice encodes exactly as the `Vec` peers decode.
            let bytes = encode(batch);
            let network = self.network.clone();
            let targets = targets.clone();
            self.runtime.spawn(async move {
                for target in targets {
                    let _ = network
                        .send(target, Channel::Transactions, bytes.clone())
                        .await;
                }
            });
        }
        self.gossip.clear();
    }

    // ---- consensus ---------------------------------------------------------------------------

    /// Hands an input to the driver and does what it asks.
    fn input(&mut self, input: Input) {
        let mut outputs = Vec::new();
        let mut host = EngineHost {
            verified: &mut self.verified,
            metrics: &self.metrics,
            threads: self.config.limits.verify_threads,
        };
        if let Err(error) = self
            .replica
            .handle(TimestampMs::now(), input, &mut host, &mut outputs)
        {
            fatal("carrying out consensus effects", error);
        }
        for output in outputs {
            self.output(output);
        }
    }

    fn output(&mut self, output: Output) {
        match output {
            Output::Send { to, message } => self.send(to, message),
            // Handed back to this node's core by the driver already.
            Output::Signed { to_self: true, .. } => {}
            Output::Signed {
                outgoing: Outgoing::Send { to, message },
                ..
            } => self.send(to, message),
            Output::Signed {
                outgoing: Outgoing::Broadcast { message },
                ..
            } => {
                // Validators only: observers follow by range sync and drop consensus messages,
                // so sending them is wasted bandwidth (L4).
                let bytes = message.to_bytes();
                let network = self.network.clone();
                let targets = self.other_validators();
                self.metrics.messages_sent(&message, targets.len());
                self.runtime.spawn(async move {
                    for to in targets {
                        let _ = network.send(to, Channel::Consensus, bytes.clone()).await;
                    }
                });
            }
            Output::Timer { round, after_ms } => {
                self.timers.push(std::cmp::Reverse((
                    Instant::now() + Duration::from_millis(after_ms),
                    round,
                )));
            }
            Output::PayloadWanted { round, parent_id } => {
                // Nothing a block could carry (an empty mempool, or one whose transactions all
                // wait behind sequence gaps) and nothing waiting to be committed: wait a little
                // for transactions instead of filling the chain (and the disk) with empty
                // blocks, hundreds a second with a mempool of gapped transactions (N3).
                if !self.mempool_has_ready() && !self.uncommitted_transactions(parent_id) {
                    let due = Instant::now()
                        + Duration::from_millis(self.config.limits.empty_block_interval_ms);
                    self.payload_due = Some((round, parent_id, due));
                    self.payload_checked = self.replica.mempool().insertions();
                } else {
                    self.propose(round, parent_id);
                }
            }
            Output::BlockRefused { block_id, reason } => {
                warn!(block = %block_id.short(), %reason, "block refused");
                self.metrics.block_failed_execution();
            }
            Output::Committed { executed, .. } => self.committed(executed),
            Output::Evidence(evidence) => {
                warn!(author = evidence.author, round = %evidence.round, kind = evidence.kind, "equivocation evidence");
            }
            Output::Invalid { from, kind, reason } => {
                self.metrics.message_refused(kind, &reason);
                if let Some(key) = self.validators.key(from).copied() {
                    let network = self.network.clone();
                    self.runtime.spawn(async move {
                        let _ = network.penalize(key, reason.to_string()).await;
                    });
                }
            }
            Output::Halted(reason) => self.halt(reason),
        }
    }

    /// Builds this node's block for `round` and hands it to the core.
    fn propose(&mut self, round: Round, parent_id: BlockId) {
        self.payload_due = None;
        let budget = crate::mempool::BlockBudget {
            transactions: self.config.limits.block_max_txs,
            bytes: crate::mempool::BLOCK_TRANSACTION_BYTES,
        };
        if let Some(block) = self
            .replica
            .build(TimestampMs::now(), round, parent_id, budget)
        {
            self.input(Input::PayloadReady { round, block });
        }
    }

    /// True if an uncommitted ancestor (up to `parent_id`) carries transactions: it needs
    /// children to commit, so the next block goes out at once, empty or not.
    fn uncommitted_transactions(&self, parent_id: BlockId) -> bool {
        let head = self.replica.ledger().head().id();
        self.replica
            .pipeline()
            .ancestors(head, parent_id)
            .is_some_and(|chain| chain.iter().any(|b| !b.block.transactions.is_empty()))
    }

    fn mempool_has_ready(&self) -> bool {
        let ledger = self.replica.ledger();
        let state = ledger.state();
        self.replica
            .mempool()
            .has_ready(|id| state.account(id).map_or(0, |a| a.sequence))
    }

    /// Builds a delayed proposal once a block could carry something or the wait is over. The
    /// mempool is looked into again only after an insertion.
    fn maybe_propose_due(&mut self) {
        let Some((_, _, due)) = self.payload_due else {
            return;
        };
        let insertions = self.replica.mempool().insertions();
        let inserted = insertions != self.payload_checked;
        self.payload_checked = insertions;
        if let Some((round, parent_id, _)) = self.payload_due
            && ((inserted && self.mempool_has_ready()) || Instant::now() >= due)
        {
            self.propose(round, parent_id);
        }
    }

    /// Sends a message to another validator (the driver keeps those to this node).
    fn send(&mut self, to: ValidatorIndex, message: ConsensusMessage) {
        let Some(key) = self.validators.key(to).copied() else {
            return;
        };
        self.metrics.messages_sent(&message, 1);
        let bytes = message.to_bytes();
        let network = self.network.clone();
        self.runtime.spawn(async move {
            let _ = network.send(key, Channel::Consensus, bytes).await;
        });
    }

    fn halt(&mut self, reason: String) {
        error!(%reason, "HALTED: this node stops following the chain; investigate before restarting");
        self.replica.halt(reason.clone());
        self.halted = Some(reason);
        self.publish_status();
    }

    /// Blocks the driver made permanent (store, ledger, mempool): the admission mark, the
    /// metrics and the subscribers hear of each, in order.
    fn committed(&mut self, executed: Vec<ExecutedBlock>) {
        for executed in executed {
            let header = &executed.block.header;
            self.admission
                .record(Instant::now(), u64::from(header.transaction_count));
            let applied = executed.execution.applied_count() as u32;
            self.metrics.block_committed(
                applied,
                executed
                    .execution
                    .receipts
                    .iter()
                    .filter_map(|receipt| receipt.outcome.as_ref().err().map(|r| r.code)),
                Duration::from_millis(TimestampMs::now().0.saturating_sub(header.timestamp.0)),
            );
            let _ = self.commits.send(CommitEvent {
                height: header.height,
                block_id: executed.block.id(),
                state_root: header.state_root,
                timestamp: header.timestamp,
                transactions: header.transaction_count,
                applied,
            });
            debug!(height = %header.height, transactions = header.transaction_count, "committed");
        }
        // Once per committed run: what this observer passed on and the chain has since settled.
        if !self.forwarded.is_empty() {
            let ledger = self.replica.ledger();
            let state = ledger.state();
            self.forwarded.retain(|_, (sender, sequence, _)| {
                *sequence >= state.account(sender).map_or(0, |a| a.sequence)
            });
        }
        self.publish_status();
    }

    // ---- range sync ---------------------------------------------------------------------------

    fn serve_sync(&mut self, from: PublicKey, bytes: &[u8], reply: SyncReply) {
        let request = match SyncRequest::from_bytes(bytes) {
            Ok(request) => request,
            Err(error) => {
                let network = self.network.clone();
                self.runtime.spawn(async move {
                    let _ = network
                        .penalize(from, format!("undecodable sync request: {error}"))
                        .await;
                });
                return;
            }
        };
        let SyncRequest::Committed {
            after_height,
            max_blocks,
        } = request;
        let max_blocks = max_blocks.min(self.config.limits.sync_batch_blocks);
        let blocks = match tenge_driver::sync::serve(self.store.as_ref(), after_height, max_blocks)
        {
            Ok(blocks) => blocks,
            Err(error) => fatal("serving sync", error),
        };
        let head = self.ledger.read().expect("ledger lock").head().height;
        self.metrics.sync_served(blocks.len());
        reply.send(SyncResponse::Committed { blocks, head }.to_bytes());
    }

    /// Asks a peer for committed blocks when this node is behind (validators) or on every poll
    /// (observers).
    fn maybe_sync(&mut self) {
        if self.halted.is_some() {
            return;
        }
        if self
            .sync_in_flight
            .is_some_and(|sent| sent.elapsed() < Duration::from_secs(15))
        {
            return;
        }
        let height = self.ledger.read().expect("ledger lock").head().height;
        let behind = match self.replica.consensus() {
            None => true,
            Some(consensus) => {
                consensus.high_qc().data.height.0 > height.0 + self.config.limits.sync_gap_blocks
            }
        };
        if !behind {
            return;
        }
        let candidates = self.other_validators();
        if candidates.is_empty() {
            return;
        }
        // Prefer connected peers; rotate so a slow or faulty one is not asked forever.
        let connected: Vec<PublicKey> = candidates
            .iter()
            .copied()
            .filter(|k| self.connected.contains(k))
            .collect();
        let pool = if connected.is_empty() {
            &candidates
        } else {
            &connected
        };
        self.sync_cursor = self.sync_cursor.wrapping_add(1);
        let peer = pool[self.sync_cursor % pool.len()];
        // Continue after blocks kept from an earlier, unproven response.
        let after_height = self.sync_buffer.after(height);
        let request = SyncRequest::Committed {
            after_height,
            max_blocks: self.config.limits.sync_batch_blocks,
        }
        .to_bytes();
        let network = self.network.clone();
        let events = self.events.clone();
        self.sync_in_flight = Some(Instant::now());
        self.metrics.sync_requested();
        self.runtime.spawn(async move {
            let result = match network.request(peer, request).await {
                Ok(bytes) => SyncResponse::from_bytes(&bytes)
                    .map_err(|e| format!("undecodable sync response: {e}")),
                Err(error) => Err(error.to_string()),
            };
            let _ = events.try_send(EngineEvent::SyncResult { from: peer, result });
        });
    }

    /// A sync range failed its checks. With blocks kept from an earlier response in it, the
    /// fault may be the earlier peer's: both are dropped and nobody is penalised (L5).
    fn refuse_sync(&self, from: PublicKey, reason: &str, blame_peer: bool) {
        self.metrics.sync_answered("refused", 0);
        if !blame_peer {
            debug!(peer = %from.short(), %reason, "sync range does not chain onto kept blocks: both dropped");
            return;
        }
        warn!(peer = %from.short(), %reason, "sync response refused");
        let network = self.network.clone();
        let reason = format!("invalid sync response: {reason}");
        self.runtime.spawn(async move {
            let _ = network.penalize(from, reason).await;
        });
    }

    fn on_sync_result(&mut self, from: PublicKey, result: Result<SyncResponse, String>) {
        self.sync_in_flight = None;
        let SyncResponse::Committed { blocks, head } = match result {
            Ok(response) => response,
            Err(error) => {
                debug!(peer = %from.short(), %error, "sync request failed");
                self.metrics.sync_answered("failed", 0);
                return;
            }
        };
        self.peer_head = head;
        let mut host = EngineHost {
            verified: &mut self.verified,
            metrics: &self.metrics,
            threads: self.config.limits.verify_threads,
        };
        let followed = self
            .replica
            .follow(
                &mut self.verifier,
                &mut self.sync_buffer,
                blocks,
                self.config.limits.sync_signature_check,
                self.config.limits.verify_threads,
                &mut host,
            )
            .unwrap_or_else(|error| fatal("committing synced blocks", error));
        let (executed, parent_qcs, certificate) = match followed {
            Followed::Nothing => {
                self.metrics.sync_answered("empty", 0);
                return;
            }
            Followed::Kept { blocks, bytes } => {
                self.metrics.sync_answered("kept", 0);
                debug!(blocks, bytes, peer = %from.short(), "sync range kept until proven");
                self.maybe_sync();
                return;
            }
            Followed::TooLarge { blocks, bytes } => {
                self.metrics.sync_answered("refused", 0);
                warn!(blocks, bytes, peer = %from.short(), "unproven sync range too large: dropped");
                return;
            }
            Followed::Refused { reason, blame_peer } => {
                self.refuse_sync(from, &reason, blame_peer);
                return;
            }
            // The blocks are certified by a quorum: a different result here means this node's
            // execution disagrees with the validators'. The driver stopped following.
            Followed::Halted { reason, executed } => {
                self.committed(executed);
                self.halt(reason);
                return;
            }
            Followed::Committed {
                executed,
                parent_qcs,
                certificate,
            } => (executed, parent_qcs, certificate),
        };
        let count = executed.len();
        let last = executed
            .last()
            .zip(parent_qcs.last())
            .map(|(executed, parent_qc)| BlockWithParentQc {
                block: executed.block.clone(),
                parent_qc: parent_qc.clone(),
            });
        self.committed(executed);
        info!(blocks = count, peer = %from.short(), peer_head = %head, "synced");
        self.metrics.sync_answered("applied", count);
        if let Some(head_block) = last {
            let new_height = head_block.block.header.height;
            if self.replica.consensus().is_some() {
                self.input(Input::Synced {
                    head: Box::new(head_block),
                    certificate: Box::new(certificate),
                });
            }
            if head > new_height {
                self.maybe_sync();
            }
        }
        self.publish_status();
    }

    /// Logs the consensus state when nothing has committed for a while: the first thing an
    /// operator looks at when a node falls behind.
    fn report_stall(&mut self) {
        let height = self.ledger.read().expect("ledger lock").head().height;
        let now = Instant::now();
        match self.progress {
            Some((last, since)) if last == height => {
                if now.duration_since(since) >= Duration::from_secs(10) {
                    let summary = self
                        .replica
                        .consensus()
                        .map_or_else(|| "observer".to_string(), Consensus::summary);
                    warn!(%height, peers = self.connected.len(), %summary, "no commit for 10 s");
                    self.progress = Some((height, now));
                }
            }
            _ => self.progress = Some((height, now)),
        }
    }

    /// The highest committed height known (see `Status::known_height`). A validator's high QC
    /// commits its parent when the two rounds follow each other (2-chain rule); one that commits
    /// nothing tells no committed height.
    fn known_height(&self, committed: tenge_types::Height) -> tenge_types::Height {
        let learned = match self.replica.consensus() {
            Some(consensus) => {
                let certified = &consensus.high_qc().data;
                match certified.commits() {
                    Some(_) => tenge_types::Height(certified.height.0.saturating_sub(1)),
                    None => committed,
                }
            }
            None => self.peer_head,
        };
        learned.max(committed)
    }

    fn publish_status(&mut self) {
        let ledger = self.ledger.read().expect("ledger lock");
        let header = ledger.head();
        let status = Status {
            mode: self.config.mode,
            chain_id: self.config.genesis.chain_id.to_string(),
            height: header.height,
            block_id: header.id(),
            state_root: header.state_root,
            block_time: header.timestamp,
            round: self.replica.consensus().map_or(Round(0), Consensus::round),
            peers: self.connected.len(),
            syncing: self.sync_in_flight.is_some(),
            mempool_transactions: self.replica.mempool().len(),
            halted: self.halted.clone(),
            known_height: self.known_height(header.height),
        };
        drop(ledger);
        self.status.send_replace(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_ledger::testkit::TestNetwork;
    use tenge_network::{NetworkConfig, NetworkLimits};
    use tenge_types::transaction::Issue;
    use tenge_types::{Amount, HashValue, Payload};

    #[test]
    fn a_gossip_batch_is_counted_from_its_length_prefix_without_decoding() {
        let net = TestNetwork::new(1, 1);
        let issue = net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tiyn(100),
            }),
        );
        for n in [0, 1, 127, 128, 300] {
            let bytes = tenge_types::encode(&vec![issue.clone(); n]);
            assert_eq!(claimed_batch_len(&bytes), n);
        }
        // A liar's count is capped at what a batch may hold; unreadable is zero.
        assert_eq!(claimed_batch_len(&[0xff, 0xff, 0xff, 0x7f]), GOSSIP_BATCH);
        assert_eq!(claimed_batch_len(&[0xff; 8]), 0);
        assert_eq!(claimed_batch_len(&[]), 0);
    }

    /// D51: a consensus message that arrives behind a peer's transaction batch reaches the
    /// engine while that batch still waits for its checks. The test holds the ledger's write
    /// lock, so the batch's dry run cannot start: before D51 the consensus message waited behind
    /// it (here, for ever).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn consensus_messages_do_not_wait_behind_gossip_checks() {
        let mut net = TestNetwork::new(2, 4);
        // Checked at the later of the wall clock and the genesis time: valid for a minute more.
        net.expires_at_ms =
            TimestampMs(TimestampMs::now().0.max(net.genesis.genesis_time.0) + 60_000);
        let ledger = Arc::new(RwLock::new(
            Ledger::from_genesis(&net.genesis).expect("genesis"),
        ));
        // A real network task, connected to nobody: the forwarder may penalise through it.
        let (network, _network_events) = tenge_network::start(NetworkConfig {
            secret_key: [7; 32],
            listen_address: "/ip4/127.0.0.1/tcp/0".into(),
            peers: Vec::new(),
            limits: NetworkLimits::default(),
        })
        .await
        .expect("network starts");
        let peer = net.validators[1].public_key();
        let (events, events_in) = tokio::sync::mpsc::channel(16);
        let (engine, engine_events) = sync_channel(16);
        let counters = Arc::new(Counters::default());
        tokio::spawn(forward_network(
            events_in,
            engine,
            network,
            ledger.clone(),
            [peer].into_iter().collect(),
            1,
            counters.clone(),
        ));

        let issue = net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tiyn(100),
            }),
        );
        let fetch = ConsensusMessage::FetchRequest {
            block_id: HashValue::ZERO,
            count: 1,
        };
        let held = ledger.write().expect("ledger lock");
        events
            .try_send(NetworkEvent::Message {
                from: peer,
                channel: Channel::Transactions,
                bytes: tenge_types::encode(&vec![issue.clone()]),
            })
            .expect("forwarder running");
        events
            .try_send(NetworkEvent::Message {
                from: peer,
                channel: Channel::Consensus,
                bytes: fetch.to_bytes(),
            })
            .expect("forwarder running");
        match engine_events.recv_timeout(Duration::from_secs(20)) {
            Ok(EngineEvent::Consensus { from, message }) => {
                assert_eq!(from, peer);
                assert_eq!(message, fetch);
            }
            Ok(_) => panic!("another event reached the engine before the consensus message"),
            Err(error) => {
                panic!("the consensus message waited behind the gossip batch's checks: {error}")
            }
        }
        // N3: the waiting batch's transaction counts against the admission mark already.
        assert_eq!(counters.gossip_waiting.load(Ordering::Relaxed), 1);
        assert!(counters.gossip_waiting_bytes.load(Ordering::Relaxed) > 0);
        drop(held);
        // Once the ledger is free, the batch is checked and reaches the engine too.
        match engine_events.recv_timeout(Duration::from_secs(20)) {
            Ok(EngineEvent::Gossip { transactions }) => {
                assert_eq!(transactions.len(), 1);
                assert_eq!(transactions[0].tx, issue);
                // The checker takes the batch off the count just after handing it over.
                let deadline = std::time::Instant::now() + Duration::from_secs(20);
                while counters.gossip_waiting.load(Ordering::Relaxed) != 0
                    || counters.gossip_waiting_bytes.load(Ordering::Relaxed) != 0
                {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the delivered batch still counts as waiting"
                    );
                    std::thread::yield_now();
                }
            }
            Ok(_) => panic!("expected the checked gossip batch"),
            Err(error) => panic!("the gossip batch never reached the engine: {error}"),
        }
    }
}
