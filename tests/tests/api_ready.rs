//! `GET /ready[?max_blocks_behind=N]` against real nodes (in process, real RocksDB, real HTTP,
//! real libp2p): ready, not ready with the reason and both heights, and bad parameters refused
//! with the parameter named. The rule itself, case by case, is tested in `tenge_api::ready`.

use std::time::{Duration, Instant};

use serde_json::Value;
use tenge_engine::EngineLimits;
use tenge_ledger::testkit::TestNetwork;

struct Node {
    node: tenge_tests::api_node::ApiNode,
    http: reqwest::Client,
}

/// Validator 0 of a network of `validators`, started alone: the others' genesis addresses are
/// free ports nobody listens on.
async fn node(validators: usize) -> Node {
    let mut net = TestNetwork::new(1, validators);
    // Consensus time follows the wall clock here: genesis now.
    net.genesis.genesis_time = tenge_types::TimestampMs::now();
    tenge_tests::api_node::give_free_ports(&mut net);
    let node = tenge_tests::api_node::serve_validator(&net, EngineLimits::default()).await;
    Node {
        node,
        http: reqwest::Client::new(),
    }
}

impl Node {
    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.node.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn height(&self) -> u64 {
        let (status, body) = self.get("/v1/status").await;
        assert_eq!(status, 200, "{body}");
        body["height"].as_u64().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_validator_is_ready_within_any_limit() {
    let node = node(1).await;
    // Wait for a few commits, so that "not behind" is about a moving chain.
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.height().await < 3 {
        assert!(Instant::now() < deadline, "no commits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = node.get("/ready").await;
    assert_eq!((status, body), (200, Value::String("ready\n".into())));
    for limit in ["2", "1000", "18446744073709551615"] {
        let (status, body) = node.get(&format!("/ready?max_blocks_behind={limit}")).await;
        assert_eq!(status, 200, "max_blocks_behind={limit}: {body}");
        assert_eq!(body, "ready\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_refused_with_the_parameter_named() {
    let node = node(1).await;
    for (query, named) in [
        ("max_blocks_behind=", "max_blocks_behind"),
        ("max_blocks_behind", "max_blocks_behind"),
        ("max_blocks_behind=-1", "max_blocks_behind"),
        ("max_blocks_behind=1.5", "max_blocks_behind"),
        ("max_blocks_behind=ten", "max_blocks_behind"),
        (
            "max_blocks_behind=18446744073709551616",
            "max_blocks_behind",
        ),
        (
            "max_blocks_behind=1&max_blocks_behind=2",
            "max_blocks_behind",
        ),
        ("max_block_behind=3", "max_block_behind"),
        ("max_blocks_behind=3&verbose=1", "verbose"),
    ] {
        let (status, body) = node.get(&format!("/ready?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["status"], 400, "{query}: {body}");
        assert_eq!(body["error"]["kind"], "bad_request", "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{query}: {message}");
    }
    // Nothing changed: still ready.
    let (status, _) = node.get("/ready?max_blocks_behind=1000").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_without_peers_is_not_ready_and_says_why() {
    // Validator 0 of 4, alone: no peer, no quorum, no commit.
    let node = node(4).await;
    for (query, limit) in [("", None), ("?max_blocks_behind=5", Some(5))] {
        let (status, body) = node.get(&format!("/ready{query}")).await;
        assert_eq!(status, 503, "{query}: {body}");
        assert_eq!(body["error"]["status"], 503, "{body}");
        assert_eq!(body["error"]["kind"], "unavailable", "{body}");
        assert_eq!(body["error"]["message"], "no peers connected", "{body}");
        assert_eq!(body["reason"], "no_peers", "{body}");
        assert_eq!(body["height"], 0, "{body}");
        assert_eq!(body["known_height"], 0, "{body}");
        assert_eq!(body["max_blocks_behind"].as_u64(), limit, "{body}");
    }
}
