//! N3: over the admission mark a node refuses client transactions at once, before any signature
//! is checked, except those that fill a sequence gap in front of transactions it already holds
//! (without them, transactions admitted below the mark could never leave the mempool).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tenge_engine::{EngineConfig, EngineLimits, MempoolError, Mode, SubmitError};
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_types::transaction::OpenWallet;
use tenge_types::{Payload, SignedTransaction, TimestampMs};

fn open_wallet(net: &TestNetwork, bank: usize, sequence: u64, wallet: &str) -> SignedTransaction {
    net.sign(
        &net.banks[bank],
        sequence,
        Payload::OpenWallet(OpenWallet {
            key: test_key(wallet).public_key(),
            tier: 1,
        }),
    )
}

/// Polls `ready` every 2 ms until it holds, for at most 20 s.
fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Validator 0 of `net` with an admission ceiling of two transactions.
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
        limits: EngineLimits {
            mempool_admission_max_txs: 2,
            ..EngineLimits::default()
        },
        network: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_over_the_mark_only_transactions_that_fill_a_gap_are_admitted() {
    let mut net = TestNetwork::new(2, 4);
    net.expires_at_ms = TimestampMs(TimestampMs::now().0.max(net.genesis.genesis_time.0) + 600_000);
    let dir = tempfile::tempdir().expect("temp dir");
    // One validator of four runs: nothing commits, so the mempool only grows.
    let config = config(&net, dir.path());
    let engine = tenge_engine::start(config).await.expect("engine starts");

    // Below the mark: bank 0's sequences 1 and 2 come in, waiting for sequence 0.
    let ahead = vec![open_wallet(&net, 0, 1, "w1"), open_wallet(&net, 0, 2, "w2")];
    let results = engine.submit(ahead).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    wait_until("the engine counts both", || {
        engine
            .counters
            .mempool_transactions
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    });

    // At the mark, with a sender waiting behind a gap, a submission must be looked into.
    wait_until("the engine publishes bank 0's gap", || {
        !engine
            .counters
            .senders_waiting_for_gap
            .read()
            .expect("lock")
            .is_empty()
    });
    assert!(engine.over_mark().is_none());
    // A new sender's next transaction is refused at once, like one further ahead.
    let results = engine
        .submit(vec![
            open_wallet(&net, 1, 0, "w3"),
            open_wallet(&net, 0, 3, "w4"),
        ])
        .await;
    for result in &results {
        assert!(
            matches!(result, Err(SubmitError::Mempool(MempoolError::Full(2)))),
            "{results:?}"
        );
    }

    // The transaction that fills bank 0's gap is admitted: it lets the two waiting ones go.
    wait_until("the engine publishes bank 0's gap", || {
        engine
            .counters
            .senders_waiting_for_gap
            .read()
            .expect("lock")
            .contains(&net.bank(0))
    });
    let filler = open_wallet(&net, 0, 0, "w5");
    let results = engine.submit(vec![filler.clone()]).await;
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].as_ref().ok(),
        Some(&filler.hash()),
        "{results:?}"
    );
    engine.shutdown();
}

/// A leader whose mempool holds only transactions waiting behind a sequence gap has nothing to
/// propose: it waits for transactions as with an empty mempool (here an hour) instead of
/// committing empty blocks as fast as it can (hundreds a second were seen in an overload run).
/// The gap's filler then goes into the chain's first block, with the transaction it freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_a_leader_with_only_gapped_transactions_proposes_nothing() {
    let mut net = TestNetwork::new(1, 1);
    net.expires_at_ms = TimestampMs(TimestampMs::now().0.max(net.genesis.genesis_time.0) + 600_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(&net, dir.path());
    config.limits = EngineLimits {
        empty_block_interval_ms: 3_600_000,
        ..EngineLimits::default()
    };
    let engine = tenge_engine::start(config).await.expect("engine starts");
    let mut commits = engine.commits.subscribe();

    let gapped = open_wallet(&net, 0, 1, "w1");
    let results = engine.submit(vec![gapped]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    wait_until("the engine holds the gapped transaction", || {
        engine
            .counters
            .mempool_transactions
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    });
    let results = engine.submit(vec![open_wallet(&net, 0, 0, "w2")]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let first = tokio::time::timeout(Duration::from_secs(20), commits.recv())
        .await
        .expect("a block commits once the gap is filled")
        .expect("commit stream");
    assert_eq!(
        (first.height, first.transactions),
        (tenge_types::Height(1), 2),
        "the first block must carry the filler and the transaction it freed"
    );
    engine.shutdown();
}

/// N3 through an observer: an observer holds no mempool and passes client transactions on to
/// the validators, so it used to admit without limit whatever the chain could carry, a way
/// round the validators' admission mark. It now counts what it passed on and has not yet seen
/// committed against its own mark, and refuses past it as a validator does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_an_observer_refuses_past_its_mark_what_it_would_pass_on() {
    let mut net = TestNetwork::new(2, 4);
    net.expires_at_ms = TimestampMs(TimestampMs::now().0.max(net.genesis.genesis_time.0) + 600_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config(&net, dir.path());
    config.mode = Mode::Observer;
    config.key = Arc::new(test_key("observer-1"));
    let engine = tenge_engine::start(config).await.expect("engine starts");

    let first = vec![open_wallet(&net, 0, 0, "w1"), open_wallet(&net, 1, 0, "w2")];
    let results = engine.submit(first).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    wait_until("the observer counts what it passed on", || {
        engine
            .counters
            .mempool_transactions
            .load(std::sync::atomic::Ordering::Relaxed)
            == 2
    });
    assert!(
        matches!(
            engine.over_mark(),
            Some(SubmitError::Mempool(MempoolError::Full(2)))
        ),
        "{:?}",
        engine.over_mark()
    );
    let results = engine.submit(vec![open_wallet(&net, 0, 1, "w3")]).await;
    assert!(
        matches!(
            results.as_slice(),
            [Err(SubmitError::Mempool(MempoolError::Full(2)))]
        ),
        "{results:?}"
    );
    engine.shutdown();
}
