//! The engine thread: one loop that owns the node's driver (`tenge_driver::Replica`: the
//! consensus core, the mempool, the executed but uncommitted blocks, the ledger's writes) and
//! feeds it from libp2p, the API and timers, then does what it asks: sends, timers, proposals,
//! commit events, penalties.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tenge_consensus::{Input, Verifier};
use tenge_driver::Replica;
use tenge_driver::admission::AdmissionMark;
use tenge_driver::sync::RangeBuffer;
use tenge_ledger::Ledger;
use tenge_network::{NetworkClient, NetworkEvent, PublicKey};
use tenge_storage::RocksStore;
use tenge_types::consensus::{ValidatorIndex, ValidatorSet};
use tenge_types::{AccountId, BlockId, HashValue, Height, Round, SignedTransaction};
use tokio::sync::{broadcast, watch};
use tracing::info;

use crate::config::{LOOP_WAIT_MS, LOOP_WAIT_PAYLOAD_DUE_MS, VALIDATOR_PERIOD_MS};
use crate::error::best_effort;
use crate::ingress::EngineEvent;
use crate::metrics::Metrics;
use crate::{CommitEvent, Counters, EngineConfig, Mode, Status};
use tenge_driver::VerifiedSet;

/// The engine thread's state. Its methods live by concern: the loop here, the driver's outputs
/// in `output`, client transactions in `gossip`, range sync in `sync`, what it publishes in
/// `status`.
pub(crate) struct Engine {
    pub(crate) config: EngineConfig,
    /// The node itself (tenge_driver, shared with the simulator): the consensus core (none for
    /// an observer), the mempool, the executed blocks above the committed head, the ledger's
    /// and the store's writes.
    pub(crate) replica: Replica<RocksStore>,
    pub(crate) validators: ValidatorSet,
    /// The epoch this node is in: the label of the consensus messages it sends, and the one it
    /// takes messages under (D82).
    pub(crate) epoch: u64,
    /// A validator's consensus message of a later epoch arrived: this node is behind and asks a
    /// peer for committed blocks (cleared when an epoch starts or a peer has nothing newer).
    pub(crate) later_epoch_seen: bool,
    /// The committed height, and when range sync last asked a peer while it stayed there: a
    /// validator that commits nothing for `STALL_SYNC_SECS` asks, whatever its messages say.
    pub(crate) stall_sync: (Height, Instant),
    /// The keys whose consensus messages the network task passes on: this epoch's validators
    /// and the last epoch's, whose `EpochEnd` may still be on its way (D80).
    pub(crate) consensus_keys: Arc<RwLock<HashSet<PublicKey>>>,
    /// The ledger the replica writes, for reading here (the API reads it too).
    pub(crate) ledger: Arc<RwLock<Ledger>>,
    /// The replica's store, for serving range sync.
    pub(crate) store: Arc<RocksStore>,
    pub(crate) network: NetworkClient,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) events: SyncSender<EngineEvent>,
    pub(crate) verified: VerifiedSet,
    /// Round timers: (deadline, round), earliest first.
    pub(crate) timers: BinaryHeap<std::cmp::Reverse<(Instant, Round)>>,
    /// Client transactions to forward to the other validators.
    pub(crate) gossip: Vec<SignedTransaction>,
    pub(crate) connected: HashSet<PublicKey>,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) commits: broadcast::Sender<CommitEvent>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) verifier: Verifier,
    /// When the outstanding range-sync request was sent.
    pub(crate) sync_in_flight: Option<Instant>,
    /// Blocks a peer sent that chain onto the committed head but end before any commit
    /// certificate (a response full before a proven block, L5): kept, never executed, until a
    /// later response proves a block after them. Bounded by `SYNC_BUFFER_MAX_BYTES`.
    pub(crate) sync_buffer: RangeBuffer,
    pub(crate) sync_cursor: usize,
    /// The committed head the peer this node last synced from reported (observers poll every
    /// `observer_poll_ms`, so a stale or false value lasts one poll).
    pub(crate) peer_head: Height,
    pub(crate) halted: Option<String>,
    /// A proposal waiting for transactions: (round, parent, when to propose anyway).
    pub(crate) payload_due: Option<(Round, BlockId, Instant)>,
    /// `Mempool::insertions` when the waiting proposal last looked into the mempool.
    pub(crate) payload_checked: u64,
    /// The committed height and since when it has not changed.
    pub(crate) progress: Option<(Height, Instant)>,
    /// When `Counters::senders_waiting_for_gap` was last refreshed.
    pub(crate) gaps_published: Instant,
    /// What the chain committed lately, for the admission mark (N3).
    pub(crate) admission: AdmissionMark,
    /// Observers: client transactions passed on to the validators and not yet settled, by hash,
    /// with sender, sequence and when. They count against the observer's admission mark as a
    /// validator's mempool counts against its own (N3), until the sender's committed sequence
    /// passes theirs (a validator may have dropped one: it never commits) or the mempool's TTL.
    /// Never reported as pending: the observer cannot know that a validator holds one.
    pub(crate) forwarded: HashMap<HashValue, (AccountId, u64, Instant)>,
    /// `Status::last_signed`, by validator index.
    pub(crate) last_signed: Vec<Option<tenge_types::Height>>,
}

impl Engine {
    /// The engine's loop, until a shutdown (whose reply it returns) or until every sender is gone.
    pub(crate) fn run(
        mut self,
        inbox: Receiver<EngineEvent>,
    ) -> Option<std::sync::mpsc::Sender<()>> {
        self.input(Input::Start);
        let mut last_periodic = Instant::now();
        loop {
            let next_timer = self
                .timers
                .peek()
                .map(|std::cmp::Reverse((deadline, _))| *deadline);
            let wait = next_timer
                .map_or(Duration::from_millis(LOOP_WAIT_MS), |deadline| {
                    deadline.saturating_duration_since(Instant::now())
                })
                .min(Duration::from_millis(if self.payload_due.is_some() {
                    LOOP_WAIT_PAYLOAD_DUE_MS
                } else {
                    LOOP_WAIT_MS
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

    fn periodic_ms(&self) -> u64 {
        match self.config.mode {
            Mode::Observer => self.config.limits.observer_poll_ms,
            Mode::Validator => VALIDATOR_PERIOD_MS,
        }
    }

    fn on_event(&mut self, event: EngineEvent) {
        match event {
            EngineEvent::Consensus {
                from,
                epoch,
                message,
            } => {
                let Some(from) = self.validators.keys.iter().position(|k| *k == from) else {
                    return;
                };
                self.metrics.message_received(&message);
                if epoch != self.epoch {
                    // Signed for another epoch's start, so nothing here can check it; sent by
                    // an honest peer as often as not (one behind or ahead at an epoch's end).
                    // Set aside unblamed; a later epoch means this node is behind (D82).
                    self.metrics.message_of_other_epoch(epoch > self.epoch);
                    if epoch > self.epoch && !self.later_epoch_seen {
                        self.later_epoch_seen = true;
                        self.maybe_sync();
                    }
                    return;
                }
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
                best_effort(reply.send(results));
            }
            EngineEvent::SyncResult { from, result } => self.on_sync_result(from, result),
            EngineEvent::IsPending { hash, reply } => {
                best_effort(reply.send(self.replica.mempool().contains(&hash)));
            }
            EngineEvent::Shutdown { .. } => unreachable!("handled by the loop"),
        }
    }
}
