//! Validators addressed by DNS name in the genesis (issue 14 item 9, fault model n = 4, f = 1):
//! real `tenged` processes on loopback whose genesis lists `/dns4/localhost/tcp/PORT`. The names
//! are resolved by the node (`localhost` from the host's resolver configuration, no network).

use std::time::{Duration, Instant};

use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, assert_same_chain, wait_height};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MINUTE: Duration = Duration::from_secs(60);

/// Rewrites the genesis so that validator `i`'s address is `address(i, port)`.
fn rewrite_genesis_addresses(cluster: &Cluster, address: impl Fn(usize, &str) -> String) {
    let path = cluster.dir.path().join("genesis.json");
    let mut genesis: tenge_types::Genesis =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read genesis"))
            .expect("genesis decodes");
    for (i, validator) in genesis.validators.iter_mut().enumerate() {
        let port = validator
            .address
            .rsplit('/')
            .next()
            .expect("a port")
            .to_string();
        validator.address = address(i, &port);
    }
    let text = serde_json::to_string_pretty(&genesis).expect("genesis encodes") + "\n";
    std::fs::write(&path, text).expect("write genesis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_at_dns4_localhost_commit() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::init(4, 0, 46_000);
    use_free_ports(&mut cluster);
    rewrite_genesis_addresses(&cluster, |_, port| format!("/dns4/localhost/tcp/{port}"));
    for i in 0..4 {
        cluster.start_validator(i);
    }
    // Commits need a quorum of 3 connected validators: every one of them dialled names.
    let target = 3;
    for i in 0..4 {
        wait_height(&cluster, &cluster.client(i), target, MINUTE).await;
    }
    assert_same_chain(
        &(0..4).map(|i| cluster.client(i)).collect::<Vec<_>>(),
        target,
    )
    .await;
    for node in &cluster.validators {
        let log = node.log();
        assert!(
            !log.contains("does not resolve"),
            "localhost did not resolve:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_name_that_does_not_resolve_is_logged_with_its_address() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::init(4, 0, 46_000);
    use_free_ports(&mut cluster);
    // `.invalid` never resolves (RFC 6761); the resolver says so without asking a server.
    let wrong = |port: &str| format!("/dns4/validator-4.invalid/tcp/{port}");
    rewrite_genesis_addresses(&cluster, |i, port| {
        if i == 3 {
            wrong(port)
        } else {
            format!("/dns4/localhost/tcp/{port}")
        }
    });
    let genesis = tenge_tests::byzantine::genesis(&cluster);
    let wrong_address = genesis.validators[3].address.clone();
    // Validator 4 is not started: the other three form a quorum and commit, and each of them
    // says in its log which peer it cannot reach and why.
    for i in 0..3 {
        cluster.start_validator(i);
    }
    for i in 0..3 {
        wait_height(&cluster, &cluster.client(i), 2, MINUTE).await;
    }
    let deadline = Instant::now() + MINUTE;
    for node in &cluster.validators[..3] {
        loop {
            let log = node.log();
            let line = log
                .lines()
                .find(|line| line.contains("its address does not resolve"));
            if let Some(line) = line {
                assert!(line.contains(&wrong_address), "address not named: {line}");
                assert!(line.contains("WARN"), "not a warning: {line}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no resolution failure logged by {}:\n{log}",
                node.config.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The metric says the same.
    let metrics = reqwest::get(format!("{}/metrics", cluster.validators[0].api))
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    let unresolved = metrics
        .lines()
        .find(|line| line.starts_with("tenge_network_dial_failures_total{reason=\"unresolved\"}"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<u64>().ok());
    assert!(
        unresolved.is_some_and(|count| count > 0),
        "unresolved dials not counted:\n{metrics}"
    );
}
