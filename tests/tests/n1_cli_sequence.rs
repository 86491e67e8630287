//! Issue N1: transactions that got a hash back (202) must end committed or rejected with a code,
//! never unknown. CLI transfers are sent one after another through every validator and the
//! observer in turn (a node one block behind hands out a sequence that is already used), with
//! the real `tenge` binary against real `tenged` processes. 60 transfers by default; set
//! TENGE_N1_TRANSACTIONS=300 for the full count.

use std::process::Command;
use std::time::Duration;

use tenge_tests::cluster::{Cluster, Load, binary, wait_height};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n1_every_accepted_cli_transaction_ends_committed_or_rejected() {
    let count: usize = std::env::var("TENGE_N1_TRANSACTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let cluster = Cluster::start(4, 1, 29_000);
    wait_height(&cluster, &cluster.client(0), 1, Duration::from_secs(60)).await;
    Load::new(&cluster, 0).await;
    let nodes: Vec<String> = cluster
        .validators
        .iter()
        .chain(&cluster.observers)
        .map(|n| n.api.clone())
        .collect();
    let (mut committed, mut rejected) = (0, 0);
    for i in 0..count {
        let node = &nodes[i % nodes.len()];
        let output = Command::new(binary("tenge"))
            .args([
                "--node", node, "--output", "json", "transfer", "--amount", "0.01",
            ])
            .arg("--to")
            .arg(cluster.key("bank-2"))
            .arg("--key")
            .arg(cluster.key("bank-1"))
            .args(["--timeout-seconds", "30"])
            .output()
            .expect("run tenge");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let code = output.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "transfer {i} through {node}: exit {code:?} (4 = no final answer: the transaction \
             vanished)\nstdout: {stdout}\nstderr: {stderr}\n{}",
            cluster.logs_tail()
        );
        let view: serde_json::Value = serde_json::from_str(stdout.trim())
            .or_else(|_| serde_json::from_str(stderr.trim()))
            .unwrap_or(serde_json::Value::Null);
        if code == Some(0) {
            assert_eq!(view["status"], "committed", "{stdout}");
            committed += 1;
        } else {
            // A rejection must say why, with a code.
            let code = view["code"]
                .as_u64()
                .or_else(|| view["error"]["code"].as_u64());
            assert!(code.is_some(), "rejected without a code: {stdout} {stderr}");
            rejected += 1;
        }
    }
    eprintln!("{count} CLI transfers: {committed} committed, {rejected} rejected with a code");
    assert!(committed > 0);
}
