//! N3: client admission yields to transactions that peers already admitted. While peers'
//! transaction batches wait for their checks, a client submission is refused at once (503,
//! `Overloaded`), before any other check; when they have been checked, the same submission is
//! admitted.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tenge_engine::{EngineConfig, EngineLimits, GOSSIP_BACKLOG_REFUSE_BYTES, Mode, SubmitError};
use tenge_ledger::testkit::TestNetwork;
use tenge_types::transaction::Issue;
use tenge_types::{Amount, Payload, TimestampMs};

fn config(net: &TestNetwork, dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        mode: Mode::Validator,
        genesis: net.genesis.clone(),
        key: Arc::new(tenge_crypto::Keypair::from_secret(
            net.validators[0].secret_bytes(),
        )),
        data_dir: dir.to_path_buf(),
        listen_address: "/ip4/127.0.0.1/tcp/0".into(),
        extra_peers: vec![],
        consensus: tenge_consensus::Config::default(),
        limits: EngineLimits::default(),
        network: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_clients_wait_while_peers_transactions_wait_for_their_checks() {
    let mut net = TestNetwork::new(2, 1);
    // Valid for a minute past the later of now and the genesis time (the block time is never
    // before the genesis time).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    net.expires_at_ms = TimestampMs(now.max(net.genesis.genesis_time.0) + 60_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = tenge_engine::start(config(&net, dir.path()))
        .await
        .expect("engine starts");
    let issue = net.officers_sign(
        0,
        Payload::Issue(Issue {
            to: net.bank(0),
            amount: Amount::from_tiyn(100),
        }),
    );

    engine
        .counters
        .gossip_bytes_waiting
        .store(GOSSIP_BACKLOG_REFUSE_BYTES, Ordering::Relaxed);
    let refused = engine.submit(vec![issue.clone()]).await;
    assert!(
        matches!(refused.as_slice(), [Err(SubmitError::Overloaded)]),
        "admitted while peers' batches waited: {refused:?}"
    );

    engine
        .counters
        .gossip_bytes_waiting
        .store(0, Ordering::Relaxed);
    let admitted = engine.submit(vec![issue.clone()]).await;
    assert!(
        matches!(admitted.as_slice(), [Ok(hash)] if *hash == issue.hash()),
        "refused with no backlog: {admitted:?}"
    );
    engine.shutdown();
}
