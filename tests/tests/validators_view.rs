//! `tenge validators` (issue 13): the validator set in force with the last height each
//! validator signed, so that an operator sees which validator is not signing. Real `tenged`
//! processes and the real `tenge` CLI.

use std::process::Command;
use std::time::Duration;

use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, binary, wait_height};

const MINUTE: Duration = Duration::from_secs(60);

fn validators(node: &str) -> serde_json::Value {
    let output = Command::new(binary("tenge"))
        .args(["--output", "json", "--node", node, "validators"])
        .output()
        .expect("run tenge");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn last_signed(view: &serde_json::Value) -> Vec<Option<u64>> {
    view["validators"]
        .as_array()
        .expect("validators")
        .iter()
        .map(|v| v["last_signed_height"].as_u64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validators_shows_which_validator_stopped_signing() {
    let mut cluster = Cluster::init(4, 0, 20_000);
    use_free_ports(&mut cluster);
    for i in 0..4 {
        cluster.start_validator(i);
    }
    let node = cluster.validators[0].api.clone();
    let validator = cluster.client(0);
    wait_height(&cluster, &validator, 3, MINUTE).await;

    let view = validators(&node);
    assert_eq!(view["epoch"], 0);
    assert_eq!(view["quorum"], 3);
    assert_eq!(view["max_faulty"], 1);
    let names: Vec<&str> = view["validators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["validator-1", "validator-2", "validator-3", "validator-4"]
    );

    // Validator 4 stops; with a quorum of 3 the other three sign every certificate from then on.
    cluster.kill_validator(3);
    let stopped_at = wait_height(&cluster, &validator, 0, MINUTE).await;
    let later = wait_height(&cluster, &validator, stopped_at + 10, MINUTE).await;
    let signed = last_signed(&validators(&node));
    for (index, last) in signed.iter().enumerate().take(3) {
        let last = last.unwrap_or_else(|| panic!("validator {index} never signed: {signed:?}"));
        assert!(
            last >= later,
            "validator {index} last signed {last}, below {later}"
        );
    }
    // What validator 4 signed before it stopped can still be committed a few blocks later (the
    // 2-chain commit lags one block, and a certificate in flight may carry its vote).
    let stopped = signed[3].unwrap_or(0);
    assert!(
        stopped + 5 < later,
        "a stopped validator kept signing: {signed:?}, the chain is at {later}"
    );
}
