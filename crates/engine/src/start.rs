//! Starting a node: the store opened and checked against the genesis, the ledger rebuilt, the
//! consensus state recovered (validators), the network started and the engine thread spawned.

use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tenge_consensus::Consensus;
use tenge_driver::Replica;
use tenge_driver::sync::RangeBuffer;
use tenge_network::{NetworkConfig, PeerConfig};
use tenge_storage::RocksStore;
use tenge_types::Round;
use tenge_types::consensus::ValidatorIndex;
use tokio::sync::{broadcast, watch};
use tracing::{info, warn};

use crate::actor::Engine;
use crate::config::{COMMIT_CHANNEL_EVENTS, SYNC_BUFFER_MAX_BYTES};
use crate::error::best_effort;
use crate::ingress::forward_network;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::{Counters, EngineConfig, EngineError, EngineHandle, Mode, Status};
use tenge_driver::VerifiedSet;

/// Opens the store, rebuilds the ledger, starts the network and the engine thread.
pub async fn start(config: EngineConfig) -> Result<EngineHandle, EngineError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| EngineError::Corrupt(format!("data dir: {e}")))?;
    let store = Arc::new(RocksStore::open(&config.data_dir.join("db"))?);
    // The store initialised or checked against the genesis, the ledger rebuilt, and the head
    // proven committed by its epoch's validators, as a synced range is (L6).
    let tenge_driver::Opened {
        genesis_block,
        head,
        ledger,
        epoch,
    } = tenge_driver::open(store.as_ref(), &config.genesis).map_err(|error| match error {
        tenge_driver::replica::OpenError::Store(error) => EngineError::Storage(error),
        tenge_driver::replica::OpenError::Genesis(error) => EngineError::Genesis(error),
        tenge_driver::replica::OpenError::State(error) => EngineError::State(error),
        other => EngineError::Corrupt(other.to_string()),
    })?;
    // The validators of the epoch the committed state is in (D80).
    let validators = epoch.set();
    let me = validators
        .keys
        .iter()
        .position(|k| *k == config.key.public_key())
        .map(|i| i as ValidatorIndex);
    info!(height = %ledger.head().height, root = %ledger.state().root().short(), "state loaded and audited");
    let consensus = match config.mode {
        // A validator key outside the current set follows without voting until an epoch names
        // it (a spare about to be added, or a key rotated out; D80).
        Mode::Validator if me.is_none() => {
            warn!(key = %config.key.public_key().short(), epoch = epoch.number, "this key is not a validator of the current epoch: following the chain without voting until an epoch names it");
            None
        }
        Mode::Validator => {
            let me = me.expect("a member");
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
                    &epoch.start,
                    recovery,
                ),
            ))
        }
        Mode::Observer => None,
    };

    let mut peers = PeerConfig::genesis_validators(&config.genesis);
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

    network
        .admit(
            head.block.header.height.0,
            admitted_peers(ledger.state(), config.mode, &config.key.public_key()),
        )
        .await?;

    let (events, inbox) = sync_channel(config.limits.engine_queue_events);
    let ledger = Arc::new(RwLock::new(ledger));
    let validator_count = validators.len();
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
        last_signed: vec![None; validator_count],
    };
    let (status_sender, status) = watch::channel(initial_status);
    let (commits, _) = broadcast::channel(COMMIT_CHANNEL_EVENTS);
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
    let consensus_keys = Arc::new(RwLock::new(validators.keys.iter().copied().collect()));
    runtime.spawn(forward_network(
        network_events,
        events.clone(),
        network.clone(),
        ledger.clone(),
        consensus_keys.clone(),
        config.limits.verify_threads,
        counters.clone(),
    ));

    let verifier = epoch.verifier();
    let mut replica = Replica::new(
        consensus,
        ledger.clone(),
        store.clone(),
        Mempool::new(config.limits.mempool_max_txs),
    );
    if config.mode == Mode::Validator {
        replica = replica.with_identity(tenge_driver::replica::Identity {
            keys: vec![tenge_crypto::Keypair::from_secret(
                config.key.secret_bytes(),
            )],
            config: config.consensus.clone(),
        });
    }
    let engine = Engine {
        config,
        replica,
        validators,
        epoch: epoch.number,
        later_epoch_seen: false,
        stall_sync: (tenge_types::Height::GENESIS, Instant::now()),
        consensus_keys,
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
        last_signed: vec![None; validator_count],
    };
    std::thread::Builder::new()
        .name("tenge-engine".into())
        .spawn(move || {
            // The engine (its database handle, its ledger) is dropped when `run` returns, before
            // the caller of `shutdown` hears that it stopped.
            if let Some(reply) = engine.run(inbox) {
                best_effort(reply.send(()));
            }
        })
        .map_err(|e| EngineError::Corrupt(format!("cannot start the engine thread: {e}")))?;
    Ok(handle)
}

/// The peers a committed state lists besides the genesis validators: the current epoch's
/// validators, dialled at their addresses (D80), and, on a validator, the observers admitted on
/// chain, which dial in (D75). Never this node itself.
pub(crate) fn admitted_peers(
    state: &tenge_ledger::CommittedState,
    mode: Mode,
    me: &tenge_types::PublicKey,
) -> Vec<PeerConfig> {
    let membership = state.membership();
    let validators = membership.validators.iter().map(|v| PeerConfig {
        key: v.consensus_key,
        address: Some(v.address.clone()),
    });
    let observers = membership
        .observers
        .iter()
        .filter(|_| mode == Mode::Validator)
        .map(|observer| PeerConfig {
            key: observer.key,
            address: None,
        });
    validators
        .chain(observers)
        .filter(|peer| peer.key != *me)
        .collect()
}
