//! Peers addressed by DNS name (issue 14 item 9): real libp2p nodes on loopback, names resolved
//! by the system's resolver configuration (`localhost` needs no network).

mod common;

use std::time::Duration;

use common::{connected, key, listed, node, wait_until};
use prometheus_client::registry::Registry;
use tenge_network::{NetworkConfig, NetworkLimits, start_with_metrics};

/// `/ip4/127.0.0.1/tcp/PORT` with its IP replaced by a DNS form (`dns4/localhost`).
fn by_name(address: &str, form: &str) -> String {
    let port = address.rsplit('/').next().expect("a port");
    format!("/{form}/tcp/{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_addressed_by_name_connect() {
    let (a, b, c) = (key(31), key(32), key(33));
    let (client_a, _events_a, address_a) = node(
        &a,
        vec![listed(&b, None), listed(&c, None)],
        NetworkLimits::default(),
    )
    .await;
    // B dials A as /dns4/localhost, C as /dns/localhost (A and AAAA: the IPv4 one answers).
    let (client_b, _events_b, _) = node(
        &b,
        vec![listed(&a, Some(by_name(&address_a, "dns4/localhost")))],
        NetworkLimits::default(),
    )
    .await;
    let (client_c, _events_c, _) = node(
        &c,
        vec![listed(&a, Some(by_name(&address_a, "dns/localhost")))],
        NetworkLimits::default(),
    )
    .await;
    assert!(
        wait_until(Duration::from_secs(20), || connected(&client_b, &a)).await,
        "B never connected to A at /dns4/localhost"
    );
    assert!(
        wait_until(Duration::from_secs(20), || connected(&client_c, &a)).await,
        "C never connected to A at /dns/localhost"
    );
    assert!(connected(&client_a, &b).await && connected(&client_a, &c).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_does_not_resolve_is_counted_as_unresolved() {
    // `.invalid` never resolves (RFC 6761), and the resolver answers that without asking a
    // server, so this holds on a machine without any network.
    let (a, b) = (key(34), key(35));
    let mut registry = Registry::default();
    let (_client, _events) = start_with_metrics(
        NetworkConfig {
            secret_key: a.secret_bytes(),
            listen_address: "/ip4/127.0.0.1/tcp/0".into(),
            peers: vec![listed(
                &b,
                Some("/dns4/no-such-validator.invalid/tcp/7100".into()),
            )],
            limits: NetworkLimits::default(),
        },
        &mut registry,
    )
    .await
    .expect("network starts");
    let unresolved = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        text.lines()
            .find(|line| {
                line.starts_with("tenge_network_dial_failures_total{reason=\"unresolved\"}")
            })
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let counted = wait_until(Duration::from_secs(20), || {
        let count = unresolved();
        async move { count > 0 }
    })
    .await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
    assert!(counted, "no unresolved dial counted:\n{text}");
    // The dial was tried through libp2p (its own metrics are in the same registry).
    assert!(text.contains("libp2p_swarm_dial_attempt_total"), "{text}");
    assert!(
        !text.contains("tenge_network_dial_failures_total{reason=\"unreachable\"}"),
        "a resolution failure was taken for another one:\n{text}"
    );
}
