//! Every API endpoint against a real single-validator node (in process, real RocksDB, real
//! HTTP), including bad requests and the exact errors they get.

use std::time::Duration;

use serde_json::Value;
use tenge_api::views::{ErrorBody, SubmitResponse};
use tenge_engine::EngineLimits;
use tenge_ledger::testkit::TestNetwork;
use tenge_types::transaction::{Issue, Transfer};
use tenge_types::{AccountId, Amount, Payload, SignedTransaction, TimestampMs};

struct Node {
    _dir: tempfile::TempDir,
    url: String,
    net: TestNetwork,
    http: reqwest::Client,
}

async fn node() -> Node {
    let mut net = TestNetwork::new(2, 1);
    // Consensus time follows the wall clock here: genesis now.
    net.genesis.genesis_time = TimestampMs::now();
    net.expires_at_ms = TimestampMs(net.genesis.genesis_time.0 + 3_600_000);
    let node = tenge_tests::api_node::serve_validator(&net, EngineLimits::default()).await;
    Node {
        url: node.url.clone(),
        _dir: node.dir,
        net,
        // A new connection for every request: the server closes a connection after an oversized
        // body (413 without reading it), and a request sent on such a pooled connection fails as
        // an incomplete message (seen in CI) instead of getting its answer.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
    }
}

impl Node {
    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
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

    async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
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

    async fn submit(&self, tx: &SignedTransaction) -> (u16, Value) {
        self.post(
            "/v1/transactions",
            "application/octet-stream",
            tx.to_bytes(),
        )
        .await
    }

    async fn wait_final(&self, hash: &str) -> Value {
        for _ in 0..300 {
            let (status, body) = self.get(&format!("/v1/transactions/{hash}")).await;
            if status == 200 && body["status"] != "pending" {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("transaction {hash} not final");
    }
}

/// The error body must be the one shape, with the expected status, kind and (for rejections)
/// code.
fn assert_error(status: u16, body: &Value, expected_status: u16, kind: &str, code: Option<u16>) {
    assert_eq!(status, expected_status, "{body}");
    let error: ErrorBody = serde_json::from_value(body.clone())
        .unwrap_or_else(|e| panic!("not the error shape ({e}): {body}"));
    assert_eq!(error.error.status, expected_status);
    // The kind's name on the wire, as clients have always read it, and the value it parses to.
    assert_eq!(body["error"]["kind"], kind, "{body}");
    assert_eq!(error.error.kind.as_str(), kind, "{body}");
    assert_eq!(error.error.code, code, "{body}");
    assert!(!error.error.message.is_empty());
}

fn issue(node: &Node, sequence: u64, to: AccountId, tenge: u64) -> SignedTransaction {
    node.net.officers_sign(
        sequence,
        Payload::Issue(Issue {
            to,
            amount: Amount::from_tenge(tenge).unwrap(),
        }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_and_bad_requests_get_exact_errors() {
    let node = node().await;
    let bank = node.net.bank(0);

    // Submit: accepted, then committed.
    let tx = issue(&node, 0, bank, 1_000);
    let (status, body) = node.submit(&tx).await;
    assert_eq!(status, 202, "{body}");
    let accepted: SubmitResponse = serde_json::from_value(body).unwrap();
    assert_eq!(accepted.hash, tx.hash().to_hex());
    let final_view = node.wait_final(&accepted.hash).await;
    assert_eq!(final_view["status"], "committed");
    let height = final_view["height"].as_u64().unwrap();

    // Replay of the committed transaction: the sequence number is used.
    let (status, body) = node.submit(&tx).await;
    assert_error(status, &body, 409, "rejected", Some(103));
    assert_eq!(body["error"]["name"], "SequenceAlreadyUsed");

    // The same transaction as JSON hex.
    let json = serde_json::json!({"transaction_hex": hex(&issue(&node, 1, bank, 5).to_bytes())});
    let (status, body) = node
        .post(
            "/v1/transactions",
            "application/json",
            json.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // Later checks dry-run against the central bank's next sequence (2): wait until this one
    // (sequence 1) has committed, or they would see a sequence ahead of the next and pass.
    let second = node.wait_final(body["hash"].as_str().unwrap()).await;
    assert_eq!(second["status"], "committed");

    // Malformed JSON, unknown fields, bad hex.
    let (status, body) = node
        .post(
            "/v1/transactions",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_error(status, &body, 400, "bad_request", None);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("malformed JSON")
    );
    let (status, body) = node
        .post(
            "/v1/transactions",
            "application/json",
            br#"{"transaction_hex":"00","x":1}"#.to_vec(),
        )
        .await;
    assert_error(status, &body, 400, "bad_request", None);
    let (status, body) = node
        .post(
            "/v1/transactions",
            "application/json",
            br#"{"transaction_hex":"zz"}"#.to_vec(),
        )
        .await;
    assert_error(status, &body, 400, "bad_request", None);

    // Garbage bytes, trailing bytes.
    let (status, body) = node
        .post(
            "/v1/transactions",
            "application/octet-stream",
            vec![0xde, 0xad, 0xbe, 0xef],
        )
        .await;
    assert_error(status, &body, 400, "bad_request", None);
    let mut trailing = issue(&node, 2, bank, 1).to_bytes();
    trailing.push(0);
    let (status, body) = node
        .post("/v1/transactions", "application/octet-stream", trailing)
        .await;
    assert_error(status, &body, 400, "bad_request", None);

    // Oversized body. The server answers 413 without reading the body and closes the
    // connection; if the close resets the socket before the client has read the answer, the
    // client sees an incomplete message instead. Try a few times: one answer must be the 413.
    let mut answer = None;
    for _ in 0..5 {
        let sent = node
            .http
            .post(format!("{}/v1/transactions", node.url))
            .header("content-type", "application/octet-stream")
            .body(vec![0; 1_000_000])
            .send()
            .await;
        if let Ok(response) = sent {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            answer = Some((
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            ));
            break;
        }
    }
    let (status, body) = answer.expect("no complete answer to an oversized body in 5 tries");
    assert_error(status, &body, 413, "payload_too_large", None);

    // Bad signature.
    let mut forged = issue(&node, 2, bank, 1);
    forged.signatures[0].signature.0[10] ^= 1;
    let (status, body) = node.submit(&forged).await;
    assert_error(status, &body, 422, "rejected", Some(105));

    // Unknown sender; a policy rejection (issuance to a non-bank).
    let stranger = tenge_ledger::testkit::test_key("stranger");
    let unknown = node.net.sign(
        &stranger,
        0,
        Payload::Transfer(Transfer {
            to: bank,
            amount: Amount::from_tiyn(1),
        }),
    );
    let (status, body) = node.submit(&unknown).await;
    assert_error(status, &body, 422, "rejected", Some(102));
    let too_much = issue(&node, 2, bank, 200_000_000_000);
    let (status, body) = node.submit(&too_much).await;
    assert_error(status, &body, 422, "rejected", Some(304));
    assert_eq!(body["error"]["name"], "IssuanceExceedsEpochCap");

    // Batch: one good, one forged.
    let batch = vec![issue(&node, 2, bank, 7), forged];
    let (status, body) = node
        .post(
            "/v1/transactions/batch",
            "application/octet-stream",
            tenge_types::encode(&batch),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body[0]["hash"].is_string() && body[0]["error"].is_null(),
        "{body}"
    );
    assert_eq!(body[1]["error"]["code"], 105);
    let (status, body) = node
        .post(
            "/v1/transactions/batch",
            "application/octet-stream",
            vec![1, 2, 3],
        )
        .await;
    assert_error(status, &body, 400, "bad_request", None);

    // Transactions: unknown, malformed hash.
    let (status, body) = node
        .get(&format!("/v1/transactions/{}", "ab".repeat(32)))
        .await;
    assert_error(status, &body, 404, "not_found", None);
    let (status, body) = node.get("/v1/transactions/xyz").await;
    assert_error(status, &body, 400, "bad_request", None);

    // Accounts.
    let (status, body) = node.get(&format!("/v1/accounts/{bank}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], bank.to_hex());
    assert_eq!(body["role"], "commercial_bank");
    assert!(body["balance_tiyn"].as_u64().unwrap() >= 100_000);
    for field in ["earmarked_tiyn", "sequence", "frozen"] {
        assert!(!body[field].is_null(), "{field} missing: {body}");
    }
    let (status, body) = node.get(&format!("/v1/accounts/{}", "00".repeat(32))).await;
    assert_error(status, &body, 404, "not_found", None);
    let (status, body) = node.get("/v1/accounts/not-an-id").await;
    assert_error(status, &body, 400, "bad_request", None);

    // Blocks.
    let (status, body) = node.get(&format!("/v1/blocks/{height}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["height"], height);
    assert!(body["certificates"]["parent_qc"].is_object(), "{body}");
    assert!(
        body["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["hash"] == tx.hash().to_hex())
    );
    let (status, body) = node.get("/v1/blocks/latest").await;
    assert_eq!(status, 200);
    assert!(body["height"].as_u64().unwrap() >= height);
    let (status, body) = node.get("/v1/blocks/99999999").await;
    assert_error(status, &body, 404, "not_found", None);
    let (status, body) = node.get("/v1/blocks/tall").await;
    assert_error(status, &body, 400, "bad_request", None);

    // Header chains (tenge follow): one from the genesis block, none above the head, and each
    // malformed height or parameter a 400.
    let (status, body) = node.get("/v1/headers/0?limit=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["from"], 0);
    assert!(body["headers"].as_u64().unwrap() >= 2, "{body}");
    assert!(body["chain_hex"].is_string(), "{body}");
    let (status, body) = node.get("/v1/headers/99999999").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["headers"].as_u64(), body["chain_hex"].is_null()),
        (Some(0), true)
    );
    for bad in [
        "/v1/headers/tall",
        "/v1/headers/0?limit=0",
        "/v1/headers/0?limit=257",
        "/v1/headers/0?limit=x",
        "/v1/headers/0?count=3",
    ] {
        let (status, body) = node.get(bad).await;
        assert_error(status, &body, 400, "bad_request", None);
    }

    // Supply, policy, validators, status.
    let (status, body) = node.get("/v1/supply").await;
    assert_eq!(status, 200);
    for field in [
        "issued_tiyn",
        "redeemed_tiyn",
        "outstanding_tiyn",
        "ceiling_tiyn",
        "epoch_issued_tiyn",
        "epoch_cap_tiyn",
    ] {
        assert!(body[field].is_u64(), "{field}: {body}");
    }
    assert_eq!(
        body["outstanding_tiyn"],
        body["issued_tiyn"].as_u64().unwrap() - body["redeemed_tiyn"].as_u64().unwrap()
    );
    let (status, body) = node.get("/v1/policy").await;
    assert_eq!(status, 200);
    assert_eq!(body["current"]["version"], 0);
    assert_eq!(body["history"].as_array().unwrap().len(), 1);
    let (status, body) = node.get("/v1/validators").await;
    assert_eq!(status, 200);
    assert_eq!(body["validators"].as_array().unwrap().len(), 1);
    assert_eq!(
        (body["epoch"].as_u64(), body["quorum"].as_u64()),
        (Some(0), Some(1))
    );
    // The only validator signs every certificate: its last is at or above a committed height.
    assert!(
        body["validators"][0]["last_signed_height"]
            .as_u64()
            .unwrap()
            >= height
    );
    let (status, body) = node.get("/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(body["mode"], "validator");
    assert!(body["height"].as_u64().unwrap() >= height);

    // Health, readiness, metrics, the OpenAPI document, unknown routes.
    let (status, _) = node.get("/health").await;
    assert_eq!(status, 200);
    let (status, _) = node.get("/ready").await;
    assert_eq!(status, 200);
    let (status, body) = node.get("/metrics").await;
    assert_eq!(status, 200);
    let metrics = body.as_str().unwrap().to_string();
    for name in [
        "tenge_height",
        "tenge_round",
        "tenge_mempool_transactions",
        "tenge_peers",
        "tenge_committed_transactions_total",
        "tenge_commit_latency_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from metrics");
    }
    let (status, body) = node.get("/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(body, tenge_api::openapi::document());
    let (status, body) = node.get("/v1/nothing-here").await;
    assert_error(status, &body, 404, "not_found", None);
    let (status, body) = node
        .post("/v1/status", "application/json", b"{}".to_vec())
        .await;
    assert_error(status, &body, 405, "method_not_allowed", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_is_served() {
    let node = node().await;
    for (method, path) in tenge_api::ROUTES {
        if *path == "/v1/events" {
            continue; // a stream: checked below
        }
        let concrete = path
            .replace("{hash}", &"ab".repeat(32))
            .replace("{id}", &"cd".repeat(32))
            .replace("{height}", "0");
        let (_, body) = match *method {
            "get" => node.get(&concrete).await,
            _ => {
                node.post(&concrete, "application/octet-stream", vec![])
                    .await
            }
        };
        assert_ne!(
            body["error"]["message"], "no such route; see /v1/openapi.json",
            "{method} {path} is not served"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_committed_blocks() {
    let node = node().await;
    let response = reqwest::get(format!("{}/v1/events", node.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let tx = issue(&node, 0, node.net.bank(0), 10);
    node.submit(&tx).await;
    let mut response = response;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !text.contains("event: block") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .expect("an event")
            .unwrap()
            .expect("open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let data = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data line");
    let event: Value = serde_json::from_str(data).unwrap();
    assert!(event["height"].as_u64().unwrap() >= 1);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits for `condition` (polled every 50 ms) until `deadline`; false if it never held.
async fn eventually<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// L1: 400 half-open connections (a request head that never ends) are closed by the server
/// within the header read timeout, and `GET /v1/status` answers while they are open. Before the
/// fix, axum's server kept every one of them open (the issue saw none closed in 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_half_open_connections_are_closed_and_status_still_answers() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let node = node().await;
    let address = node.url.trim_start_matches("http://").to_string();
    let mut sockets = Vec::new();
    for _ in 0..400 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket
            .write_all(b"GET /v1/status HTTP/1.1\r\nHost: tenge\r\n")
            .await
            .unwrap();
        sockets.push(socket);
    }
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), node.get("/v1/status"))
        .await
        .expect("/v1/status did not answer while 400 half-open connections were open");
    assert_eq!(status, 200, "{body}");
    // Every half-open connection is closed by the server (read gives end of file or an error).
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        for socket in &mut sockets {
            let mut buffer = [0u8; 1024];
            loop {
                match socket.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "half-open connections were still open 20 s later"
    );
}

/// L1: event-stream subscribers are bounded; the ones over the bound get the JSON 503 at once,
/// and a subscriber that leaves frees its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_event_subscribers_are_bounded() {
    let node = node().await;
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..tenge_api::server::MAX_EVENT_SUBSCRIBERS + 20 {
        let response = node
            .http
            .get(format!("{}/v1/events", node.url))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => open.push(response),
            503 => {
                let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                assert_error(503, &body, 503, "unavailable", None);
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(open.len(), tenge_api::server::MAX_EVENT_SUBSCRIBERS);
    assert_eq!(refused, 20);
    let (status, _) = node.get("/v1/status").await;
    assert_eq!(status, 200);
    drop(open.pop());
    let freed = eventually(Duration::from_secs(10), || async {
        let response = node
            .http
            .get(format!("{}/v1/events", node.url))
            .send()
            .await
            .unwrap();
        response.status().as_u16() == 200
    })
    .await;
    assert!(freed, "a subscriber that left did not free its place");
}

/// L1/H7: a 16 MiB batch of random bytes gets a 400 JSON answer, and a batch of 5,000
/// well-formed transactions from a sender that does not exist, each with 8 random signatures,
/// is refused item by item as `UnknownSender` (the cheap checks run before any signature),
/// while the node keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_abusive_batches_get_fast_json_refusals_and_commits_go_on() {
    let node = node().await;
    let random: Vec<u8> = (0..16 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (status, body) = node
        .post("/v1/transactions/batch", "application/octet-stream", random)
        .await;
    assert_error(status, &body, 400, "bad_request", None);

    let stranger = tenge_ledger::testkit::test_key("stranger");
    let bank = node.net.bank(0);
    let junk: Vec<SignedTransaction> = (0..5_000u64)
        .map(|i| {
            let mut tx = node.net.sign(
                &stranger,
                i,
                Payload::Transfer(Transfer {
                    to: bank,
                    amount: Amount::from_tiyn(1),
                }),
            );
            let signature = tx.signatures[0].clone();
            tx.signatures = (0..8u8)
                .map(|k| {
                    let mut s = signature.clone();
                    s.signature.0[0] ^= k + 1;
                    s
                })
                .collect();
            tx
        })
        .collect();
    let (status, body) = node
        .post(
            "/v1/transactions/batch",
            "application/octet-stream",
            tenge_types::encode(&junk),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let items = body.as_array().unwrap();
    assert_eq!(items.len(), junk.len());
    assert!(
        items.iter().all(|item| item["error"]["code"] == 102),
        "{}",
        items[0]
    );

    // Commits go on: an issuance submitted now commits.
    let tx = issue(&node, 0, bank, 5);
    let (status, body) = node.submit(&tx).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        node.wait_final(&tx.hash().to_hex()).await["status"],
        "committed"
    );
}
