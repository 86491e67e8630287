//! Peers against real validator processes: a key not in the genesis or config cannot connect or
//! inject anything; a listed peer that sends garbage or oversized frames is dropped, penalised
//! and banned, and the cluster keeps committing.

use std::time::Duration;

use tenge_network::{Channel, NetworkConfig, NetworkLimits, PeerConfig};
use tenge_tests::cluster::{Cluster, height, wait_height};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlisted_and_misbehaving_peers_change_nothing() {
    // The observer is configured (its key is allowed on the validators) but its process is not
    // started: the test speaks with its key instead.
    let mut cluster = Cluster::init(4, 1, 27_000);
    for i in 0..4 {
        cluster.start_validator(i);
    }
    let validator = cluster.client(0);
    wait_height(&cluster, &validator, 2, MINUTE).await;
    let genesis: tenge_types::Genesis = serde_json::from_str(
        &std::fs::read_to_string(cluster.dir.path().join("genesis.json")).unwrap(),
    )
    .unwrap();
    let target = PeerConfig {
        key: genesis.validators[0].consensus_key,
        address: Some(genesis.validators[0].address.clone()),
    };

    // An intruder with its own key.
    let intruder = tenge_crypto::Keypair::generate().unwrap();
    let (intruder_net, _intruder_events) = tenge_network::start(NetworkConfig {
        secret_key: intruder.secret_bytes(),
        listen_address: "/ip4/127.0.0.1/tcp/0".into(),
        peers: vec![target.clone()],
        limits: NetworkLimits::default(),
    })
    .await
    .unwrap();
    for _ in 0..20 {
        intruder_net
            .send(target.key, Channel::Consensus, vec![1, 2, 3])
            .await
            .unwrap();
        intruder_net
            .send(target.key, Channel::Transactions, vec![0; 64])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        intruder_net.request(target.key, vec![0]).await.is_err(),
        "an unlisted peer got an answer"
    );
    assert!(
        intruder_net.peers().await.unwrap().is_empty(),
        "an unlisted peer connected"
    );
    assert_eq!(
        validator.status().await.unwrap().peers,
        3,
        "the validator counts an unlisted peer"
    );

    // A listed peer (the observer's key) sending garbage and oversized frames.
    let observer_key =
        tenge_crypto::read_key_file(&cluster.observers[0].dir().join("node.key")).unwrap();
    let (listed, _listed_events) = tenge_network::start(NetworkConfig {
        secret_key: observer_key.secret_bytes(),
        listen_address: "/ip4/127.0.0.1/tcp/0".into(),
        peers: vec![target.clone()],
        limits: NetworkLimits {
            max_message_bytes: 32 * 1024 * 1024,
            ..NetworkLimits::default()
        },
    })
    .await
    .unwrap();
    // First it is a welcome peer: a sync request is answered.
    let mut answered = false;
    for _ in 0..50 {
        let request = tenge_types::sync::SyncRequest::Committed {
            after_height: tenge_types::Height(0),
            max_blocks: 1,
        };
        if listed.request(target.key, request.to_bytes()).await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answered, "a listed peer gets answers");
    let before = height(&validator).await.unwrap();
    for i in 0..6u8 {
        listed
            .send(target.key, Channel::Consensus, vec![0xff, i, 0x13, 0x37])
            .await
            .unwrap();
        listed
            .send(target.key, Channel::Transactions, vec![0xee; 100])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    listed
        .send(target.key, Channel::Consensus, vec![7u8; 17 * 1024 * 1024])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = cluster.validators[0].log();
    assert!(
        log.contains("peer penalised"),
        "no penalty logged:\n{}",
        cluster.logs_tail()
    );
    assert!(
        log.contains("peer banned"),
        "no ban logged:\n{}",
        cluster.logs_tail()
    );
    let request = tenge_types::sync::SyncRequest::Committed {
        after_height: tenge_types::Height(0),
        max_blocks: 1,
    };
    assert!(
        listed
            .request(target.key, request.to_bytes())
            .await
            .is_err(),
        "a banned peer still gets answers"
    );
    // Nothing crashed and the cluster goes on.
    wait_height(&cluster, &validator, before + 3, MINUTE).await;
    assert_eq!(reqwest_health(&cluster.validators[0].api).await, 200);
}

async fn reqwest_health(api: &str) -> u16 {
    // The typed client has no health call; a status call proves the API answers.
    let client = tenge_api::Client::new(api);
    if client.status().await.is_ok() {
        200
    } else {
        503
    }
}
