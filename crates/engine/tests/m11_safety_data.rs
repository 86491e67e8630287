//! Start-up checks of a data dir. M11: a validator whose data dir holds committed blocks but no
//! consensus safety data (its votes are forgotten) does not start voting; an operator's voting
//! floor lets it start. L6: a head block that its stored certificates do not prove committed is
//! refused.

use std::sync::Arc;

use tenge_engine::{EngineConfig, EngineError, EngineLimits, Mode};
use tenge_ledger::Ledger;
use tenge_ledger::testkit::TestNetwork;
use tenge_storage::{BlockCommit, RocksStore, Store};
use tenge_types::consensus::{QuorumCertificate, StoredCertificates, VoteData};
use tenge_types::{Block, HashValue, Round, Signature, TimestampMs};

fn config(net: &TestNetwork, dir: &std::path::Path, floor: u64) -> EngineConfig {
    EngineConfig {
        mode: Mode::Validator,
        genesis: net.genesis.clone(),
        key: Arc::new(tenge_crypto::Keypair::from_secret(
            net.validators[0].secret_bytes(),
        )),
        data_dir: dir.to_path_buf(),
        listen_address: "/ip4/127.0.0.1/tcp/0".into(),
        extra_peers: vec![],
        consensus: tenge_consensus::Config {
            voting_floor_round: Round(floor),
            ..tenge_consensus::Config::default()
        },
        limits: EngineLimits::default(),
        network: Default::default(),
    }
}

/// A data dir holding the genesis block and state only; returns the store, the ledger at genesis
/// and the genesis block.
fn genesis_store(net: &TestNetwork, dir: &std::path::Path) -> (RocksStore, Ledger, Block) {
    let store = RocksStore::open(&dir.join("db")).unwrap();
    let ledger = Ledger::from_genesis(&net.genesis).unwrap();
    let genesis_block = Block {
        header: ledger.head().clone(),
        transactions: vec![],
    };
    store
        .initialize(
            net.genesis.hash(),
            &genesis_block,
            &ledger.state().entries(),
        )
        .unwrap();
    (store, ledger, genesis_block)
}

/// A data dir as a lost-and-rebuilt or partly restored one looks: genesis and one committed
/// block (certified by the single validator; `tamper` spoils the commit certificate's
/// signature), no safety data.
fn store_without_safety_data(net: &TestNetwork, dir: &std::path::Path, tamper: bool) {
    let (store, mut ledger, genesis_block) = genesis_store(net, dir);
    let executed = ledger.build_block(
        &[],
        Round(1),
        TimestampMs(net.genesis.genesis_time.0 + 1),
        vec![],
        &[],
    );
    // The commit certificate: a QC on a child one round later (the 2-chain rule).
    let child = VoteData {
        block_id: HashValue([9; 32]),
        round: Round(2),
        height: tenge_types::Height(2),
        state_root: executed.block.header.state_root,
        parent_id: executed.block.id(),
        parent_round: Round(1),
    };
    let mut signature = net.validators[0].sign(&child.signing_hash(&genesis_block.id()));
    if tamper {
        signature = Signature([7; 64]);
    }
    let certificates = StoredCertificates {
        parent_qc: QuorumCertificate::genesis(&genesis_block),
        commit_qc: Some(QuorumCertificate {
            data: child,
            signatures: vec![(0, signature)],
        }),
        commit_suffix: Vec::new(),
    };
    store
        .commit_block(&BlockCommit {
            block: &executed.block,
            certificate: &certificates.to_bytes(),
            receipts: &executed.execution.receipts,
            changes: &executed.execution.delta.entries,
        })
        .unwrap();
    ledger.commit(&executed);
    assert!(store.safety_data().unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m11_validator_without_safety_data_waits_for_a_floor() {
    let net = TestNetwork::new(2, 1);
    let dir = tempfile::tempdir().unwrap();
    store_without_safety_data(&net, dir.path(), false);

    let refused = tenge_engine::start(config(&net, dir.path(), 0)).await;
    let error = refused
        .err()
        .expect("started without safety data or a floor");
    assert!(
        matches!(error, EngineError::SafetyDataMissing { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("voting_floor_round"), "{error}");

    let engine = tenge_engine::start(config(&net, dir.path(), 1_000))
        .await
        .expect("starts with an operator's floor");
    engine.shutdown();
    drop(engine);
    // `shutdown` returns once the engine thread has dropped its database handle: with the last
    // handle gone, the database opens again at once.
    drop(RocksStore::open(&dir.path().join("db")).expect("the database is closed"));
}

/// `EngineHandle::shutdown` returns only after the engine thread has dropped the engine (its
/// database handle among it), so a process that then drops its handle and exits never does so
/// while RocksDB is still open on another thread (its destructors then abort the process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_after_the_engine_released_the_database() {
    let net = TestNetwork::new(2, 1);
    let dir = tempfile::tempdir().unwrap();
    for attempt in 0..10 {
        let engine = tenge_engine::start(config(&net, dir.path(), 0))
            .await
            .expect("starts");
        engine.shutdown();
        drop(engine);
        if let Err(error) = RocksStore::open(&dir.path().join("db")) {
            panic!("attempt {attempt}: the database was still open after shutdown: {error}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l6_head_without_a_valid_commit_certificate_is_refused() {
    let net = TestNetwork::new(2, 1);
    let dir = tempfile::tempdir().unwrap();
    store_without_safety_data(&net, dir.path(), true);
    let mut observer = config(&net, dir.path(), 0);
    observer.mode = Mode::Observer;
    let error = tenge_engine::start(observer)
        .await
        .err()
        .expect("started on a head its certificates do not prove");
    assert!(
        matches!(&error, EngineError::Corrupt(reason) if reason.contains("not proven committed")),
        "{error}"
    );
}

/// The blocks one certificate commits (range sync applies a peer's range; consensus can commit
/// several blocks at once) carry the commit certificate on the last block only, so they are one
/// write. Here the second write of a two-block run fails (a block that does not follow; in the
/// field, a crash): nothing of the run may be on disk, or the head would be a genuine block that
/// no stored certificate proves, and the start-up check (L6) would refuse this node for good.
/// With the blocks written one by one, block 1 stayed and the node never started again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l6_a_commit_that_fails_half_way_leaves_a_node_that_starts() {
    let net = TestNetwork::new(2, 1);
    let dir = tempfile::tempdir().unwrap();
    let (store, ledger, genesis_block) = genesis_store(&net, dir.path());
    let time = |offset: u64| TimestampMs(net.genesis.genesis_time.0 + offset);
    let first = ledger.build_block(&[], Round(1), time(1), vec![], &[]);
    let mut second = ledger.build_block(&[&first], Round(2), time(2), vec![], &[]);
    second.block.header.height = tenge_types::Height(3);
    let genesis_qc = QuorumCertificate::genesis(&genesis_block);
    let run = vec![
        (
            first,
            StoredCertificates {
                parent_qc: genesis_qc.clone(),
                commit_qc: None,
                commit_suffix: Vec::new(),
            },
        ),
        (
            second,
            StoredCertificates {
                parent_qc: genesis_qc.clone(),
                commit_qc: Some(genesis_qc),
                commit_suffix: Vec::new(),
            },
        ),
    ];
    let error = tenge_driver::write_blocks(&store, &run).expect_err("a run with a gap is written");
    assert!(
        matches!(error, tenge_storage::StoreError::OutOfOrder { .. }),
        "{error}"
    );
    assert_eq!(
        store.head().unwrap().unwrap().block,
        genesis_block,
        "half a run was written"
    );
    drop(store);

    let mut observer = config(&net, dir.path(), 0);
    observer.mode = Mode::Observer;
    let engine = tenge_engine::start(observer)
        .await
        .expect("a node whose commit failed half way starts again");
    assert_eq!(engine.status.borrow().height, tenge_types::Height(0));
    engine.shutdown();
}
