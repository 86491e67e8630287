//! `tenge follow` (issue 13 item 4, D78): a light client that verifies headers and commit
//! certificates from the genesis file, against real `tenged` processes, through the real CLI,
//! and against a node that lies.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tenge_api::Client;
use tenge_proof::CommitProof;
use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, binary, wait_height};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MINUTE: Duration = Duration::from_secs(60);

fn follow(node: &str, genesis: &std::path::Path, extra: &[&str]) -> Output {
    Command::new(binary("tenge"))
        .args([
            "--output",
            "json",
            "--node",
            node,
            "follow",
            "--once",
            "--genesis",
        ])
        .arg(genesis)
        .args(extra)
        .output()
        .expect("run tenge follow")
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {output:?}"))
}

/// The id of the block `client`'s node holds at `height`, once it holds one (a node may be a
/// block behind the one the follower asked).
async fn block_id(cluster: &Cluster, client: &Client, height: u64) -> String {
    wait_height(cluster, client, height, MINUTE).await;
    client.block(height).await.expect("block").id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_reaches_the_certified_head_and_refuses_forgeries() {
    let mut cluster = Cluster::init(4, 1, 20_000);
    use_free_ports(&mut cluster);
    for i in 0..4 {
        cluster.start_validator(i);
    }
    cluster.start_observer(0);
    let genesis = cluster.dir.path().join("genesis.json");
    let validator = cluster.client(0);
    let other = cluster.client(1);
    let observer = cluster.observer_client(0);
    let reached = wait_height(&cluster, &validator, 8, MINUTE).await;
    wait_height(&cluster, &observer, 8, MINUTE).await;

    // From the genesis, through a validator and through the observer: the head each reaches is
    // a block every node holds under the same id.
    for node in [&cluster.validators[0].api, &cluster.observers[0].api] {
        let output = follow(node, &genesis, &[]);
        assert!(output.status.success(), "{output:?}");
        let head = json(&output);
        let height = head["height"].as_u64().expect("height");
        assert!(height >= reached, "{head}");
        assert_eq!(
            head["block_id"],
            block_id(&cluster, &other, height).await,
            "{head}"
        );
        assert_eq!(head["epoch"], 0);
        assert_eq!(head["quorum"], 3);
        assert_eq!(head["validators"].as_array().unwrap().len(), 4);
        assert!(
            head["headers_verified"].as_u64().unwrap() > height,
            "{head}"
        );
        assert!(head["certificates_verified"].as_u64().unwrap() >= 1);
        assert!(head["node_reported_head"].as_u64().unwrap() >= height);
    }

    // From a trusted checkpoint: the headers below it are never fetched.
    let checkpoint = format!("{reached}:{}", block_id(&cluster, &other, reached).await);
    let output = follow(
        &cluster.validators[2].api,
        &genesis,
        &["--checkpoint", &checkpoint],
    );
    assert!(output.status.success(), "{output:?}");
    let head = json(&output);
    assert!(head["height"].as_u64().unwrap() >= reached);
    let from_genesis = head["headers_verified"].as_u64().unwrap();
    assert!(from_genesis < head["height"].as_u64().unwrap(), "{head}");

    // A checkpoint naming another block at that height is refused.
    let wrong = format!(
        "{reached}:{}",
        block_id(&cluster, &other, reached - 1).await
    );
    let output = follow(
        &cluster.validators[0].api,
        &genesis,
        &["--checkpoint", &wrong],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(json(&output)["check"], "checkpoint_mismatch");

    // A checkpoint that is not HEIGHT:BLOCK_ID is bad input, refused before any question.
    for malformed in ["12", "twelve:00", "12:abc"] {
        let output = follow(
            &cluster.validators[0].api,
            &genesis,
            &["--checkpoint", malformed],
        );
        assert_eq!(output.status.code(), Some(2), "{malformed}: {output:?}");
    }

    // Another chain's genesis file: the node's genesis block is not its genesis block.
    let mut other_chain: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis).unwrap()).unwrap();
    other_chain["chain_id"] = "tenge-another-chain".into();
    let other_genesis = cluster.dir.path().join("other-genesis.json");
    std::fs::write(&other_genesis, other_chain.to_string()).unwrap();
    let output = follow(&cluster.validators[0].api, &other_genesis, &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(json(&output)["check"], "wrong_genesis_header");

    // Without --once it keeps following: each new certified head on its own line.
    let mut child = Command::new(binary("tenge"))
        .args(["--output", "json", "--node", &cluster.validators[1].api])
        .args(["follow", "--interval", "1s", "--genesis"])
        .arg(&genesis)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start tenge follow");
    let target = wait_height(&cluster, &validator, 0, MINUTE).await + 5;
    // Lines are read on a thread, so that a follower that prints nothing fails at the deadline
    // instead of blocking the test.
    let stdout = child.stdout.take().unwrap();
    let (lines, printed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + MINUTE;
    let mut heights = Vec::new();
    while heights.last().is_none_or(|height| *height < target) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = printed.recv_timeout(left) else {
            break;
        };
        let head: serde_json::Value = serde_json::from_str(&line.expect("line")).expect("JSON");
        let height = head["height"].as_u64().unwrap();
        assert_eq!(head["block_id"], block_id(&cluster, &other, height).await);
        heights.push(height);
    }
    child.kill().ok();
    child.wait().ok();
    assert!(
        heights.last().copied().unwrap_or(0) >= target,
        "{heights:?}"
    );
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");

    a_forged_certificate_is_refused(&validator, &genesis).await;
}

/// A node that serves real headers with one signature changed: `tenge follow` refuses them with
/// exit 1 and names the check; with the real answer it follows. (Run on the cluster of the test
/// above: one cluster per test binary keeps the two from competing for ports and cores.)
async fn a_forged_certificate_is_refused(validator: &Client, genesis: &std::path::Path) {
    let genesis = genesis.to_path_buf();
    let real = validator.headers(0, None).await.expect("headers");
    let bytes: Vec<u8> = (0..real.chain_hex.as_ref().unwrap().len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&real.chain_hex.as_ref().unwrap()[i..i + 2], 16).unwrap())
        .collect();
    let mut chain = CommitProof::from_bytes(&bytes).expect("a real chain decodes");

    for (forged, check) in [(true, "bad_signature"), (false, "")] {
        let mut served = real.clone();
        if forged {
            chain.commit_qc.signatures[0].1.0[10] ^= 1;
            served.chain_hex = Some(hex(&chain.to_bytes()));
        }
        // Every question gets the same answer: from height 0 it is the chain above; above it,
        // the node says it has nothing more.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let body = serde_json::to_string(&served).unwrap();
        let caught_up = serde_json::to_string(&tenge_api::views::HeaderChainView {
            from: 0,
            head: real.head,
            headers: 0,
            chain_hex: None,
        })
        .unwrap();
        let server = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut request = vec![0u8; 4096];
                let read = socket.read(&mut request).await.unwrap_or(0);
                let text = String::from_utf8_lossy(&request[..read]);
                let body = if text.starts_with("GET /v1/headers/0 ") {
                    &body
                } else {
                    &caught_up
                };
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        let output = tokio::task::spawn_blocking({
            let genesis = genesis.clone();
            move || follow(&url, &genesis, &[])
        })
        .await
        .unwrap();
        server.abort();
        if forged {
            assert_eq!(output.status.code(), Some(1), "{output:?}");
            assert_eq!(json(&output)["check"], check);
        } else {
            assert!(output.status.success(), "{output:?}");
            assert_eq!(
                json(&output)["height"],
                chain.headers.last().unwrap().height.0
            );
        }
    }
}
