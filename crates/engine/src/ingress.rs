//! What reaches the engine thread ([`EngineEvent`]), and the tasks that route the network's
//! events to it: consensus messages decoded and forwarded at once, peers' transaction batches
//! checked on the way through a bounded queue of their own.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, RwLock};

use tenge_driver::admission::GOSSIP_BATCH;
use tenge_ledger::{CheckedTransaction, Ledger};
use tenge_network::{Channel, NetworkClient, NetworkEvent, PublicKey};
use tenge_types::consensus::{ConsensusMessage, EpochMessage};
use tenge_types::sync::SyncResponse;
use tenge_types::{HashValue, TimestampMs};
use tokio::sync::oneshot;
use tracing::debug;

use crate::config::{GOSSIP_QUEUE_BATCHES, GOSSIP_QUEUE_BYTES};
use crate::error::best_effort;
use crate::{Counters, SubmitError};

pub(crate) enum EngineEvent {
    Network(NetworkEvent),
    /// A consensus message and the epoch its sender labelled it with (D82).
    Consensus {
        from: PublicKey,
        epoch: u64,
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

/// Routes what peers send towards the engine thread. Consensus messages are decoded with limits
/// and forwarded at once; transaction batches go to [`check_gossip_batches`] through a bounded
/// queue, so that a consensus message never waits behind the signature checks of a gossip batch
/// (D51: a flood of costly gossip must not slow the rounds).
pub(crate) async fn forward_network(
    mut network_events: tokio::sync::mpsc::Receiver<NetworkEvent>,
    engine: SyncSender<EngineEvent>,
    network: NetworkClient,
    ledger: Arc<RwLock<Ledger>>,
    validator_keys: Arc<RwLock<HashSet<PublicKey>>>,
    threads: usize,
    counters: Arc<Counters>,
) {
    let (gossip, gossip_queue) = tokio::sync::mpsc::channel(GOSSIP_QUEUE_BATCHES);
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
            } if !validator_keys
                .read()
                .expect("validator keys lock")
                .contains(&from) =>
            {
                // Only validators take part in consensus; an observer that sends consensus
                // messages is misbehaving, and decoding them would cost this node for nothing
                // (security review H6).
                drop(bytes);
                best_effort(
                    network
                        .penalize(from, "consensus message from a non-validator".into())
                        .await,
                );
                continue;
            }
            NetworkEvent::Message {
                from,
                channel: Channel::Consensus,
                bytes,
            } => match EpochMessage::from_bytes(&bytes) {
                Ok(EpochMessage { epoch, message }) => EngineEvent::Consensus {
                    from,
                    epoch,
                    message,
                },
                Err(error) => {
                    best_effort(
                        network
                            .penalize(from, format!("undecodable consensus message: {error}"))
                            .await,
                    );
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
                best_effort(network.penalize(from, reason).await);
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
            best_effort(network.penalize(from, reason).await);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;
    use std::time::Duration;
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
            Arc::new(RwLock::new([peer].into_iter().collect())),
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
                bytes: EpochMessage {
                    epoch: 0,
                    message: fetch.clone(),
                }
                .to_bytes(),
            })
            .expect("forwarder running");
        match engine_events.recv_timeout(Duration::from_secs(20)) {
            Ok(EngineEvent::Consensus {
                from,
                epoch,
                message,
            }) => {
                assert_eq!(from, peer);
                assert_eq!(epoch, 0);
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
