//! N3 through the API of a real node (in process, real RocksDB, real HTTP, real libp2p): over the
//! admission mark, with no sender waiting behind a gap, a submission is answered 503 before its
//! body is decoded, so a refusal costs no decoding. A garbage body shows it: below the mark it
//! is 400 (decoded and found malformed); over the mark, 503.

use std::time::{Duration, Instant};

use serde_json::Value;
use tenge_engine::EngineLimits;
use tenge_ledger::testkit::TestNetwork;
use tenge_types::transaction::Issue;
use tenge_types::{Amount, Payload};

async fn post(http: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, Value) {
    let response = http
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(body)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n3_over_the_mark_submissions_are_refused_before_decoding() {
    let mut net = TestNetwork::new(1, 4);
    net.genesis.genesis_time = tenge_types::TimestampMs::now();
    net.expires_at_ms = tenge_types::TimestampMs(net.genesis.genesis_time.0 + 600_000);
    tenge_tests::api_node::give_free_ports(&mut net);
    // Validator 0 of four, alone: nothing commits. The mark's ceiling is one transaction.
    let node = tenge_tests::api_node::serve_validator(
        &net,
        EngineLimits {
            mempool_admission_max_txs: 1,
            ..EngineLimits::default()
        },
    )
    .await;
    let url = &node.url;
    let http = reqwest::Client::new();
    let garbage = vec![0xff; 64];

    // Below the mark, garbage is decoded and refused as malformed.
    for path in ["/v1/transactions", "/v1/transactions/batch"] {
        let (status, body) = post(&http, &format!("{url}{path}"), garbage.clone()).await;
        assert_eq!(status, 400, "{path}: {body}");
    }

    // One transaction reaches the mark.
    let issue = net.officers_sign(
        0,
        Payload::Issue(Issue {
            to: net.bank(0),
            amount: Amount::from_tiyn(100),
        }),
    );
    let (status, body) = post(
        &http,
        &format!("{url}/v1/transactions"),
        tenge_types::encode(&issue),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status: Value = http
            .get(format!("{url}/v1/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["mempool_transactions"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "mempool never showed the transaction: {status}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Over the mark, the same garbage is refused as unavailable, without being decoded.
    for path in ["/v1/transactions", "/v1/transactions/batch"] {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, body) = post(&http, &format!("{url}{path}"), garbage.clone()).await;
            if status == 503 {
                assert_eq!(body["error"]["kind"], "unavailable", "{path}: {body}");
                assert!(
                    body["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("mempool full"),
                    "{path}: {body}"
                );
                break;
            }
            // The engine publishes the mark and the mempool level once per loop.
            assert_eq!(status, 400, "{path}: {body}");
            assert!(
                Instant::now() < deadline,
                "{path}: never refused over the mark"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
