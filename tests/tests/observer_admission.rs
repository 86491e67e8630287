//! Issue 13: an observer admitted on chain connects without any validator restart, and a
//! removed one is disconnected. Real `tenged` processes and the real `tenge` CLI.
//!
//! Observer 2 of the devnet is left out of every validator's configuration, so only the chain
//! can let it in. Observer 1 stays configured: the control that the chain is moving.

use std::path::Path;
use std::time::Duration;

use tenge_tests::byzantine::{node_key, use_free_ports};
use tenge_tests::cluster::{
    Cluster, assert_same_chain, height, path_arg, peers_and_height, tenge, wait_height, wait_status,
};

const MINUTE: Duration = Duration::from_secs(60);

/// The CLI's answer: exit code, JSON output, stderr.
type Tenge = (i32, serde_json::Value, String);

/// `tenge observers VERB --observer-key KEY EXTRA...`, signed by `officers`.
fn observers(node: &str, verb: &str, key: &str, extra: &[&str], officers: &[&Path]) -> Tenge {
    let mut args = vec!["observers", verb, "--observer-key", key];
    args.extend_from_slice(extra);
    for officer in officers {
        args.extend(["--key", path_arg(officer)]);
    }
    tenge(node, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_admitted_on_chain_connects_and_a_removed_one_is_dropped() {
    let mut cluster = Cluster::init(4, 2, 20_000);
    use_free_ports(&mut cluster);
    let newcomer = node_key(&cluster.observers[1]);
    let configured_line = format!("key = \"{}\"", newcomer.to_hex());
    for validator in &cluster.validators {
        let config = std::fs::read_to_string(&validator.config).unwrap();
        assert!(config.contains(&configured_line), "devnet lists observers");
        let without = config.replace(
            &format!("\n[[peers]]\n# an observer of this devnet\n{configured_line}\n"),
            "\n",
        );
        assert!(!without.contains(&configured_line));
        std::fs::write(&validator.config, without).unwrap();
    }
    for i in 0..4 {
        cluster.start_validator(i);
    }
    cluster.start_observer(0);
    cluster.start_observer(1);
    let validator = cluster.client(0);
    let node = cluster.validators[0].api.clone();
    let observer = cluster.observer_client(1);
    let officers = [cluster.key("officer-1"), cluster.key("officer-2")];

    // Not admitted: the configured observer follows, the other gets no connection. Validator
    // 0 sees the three other validators and the configured observer.
    wait_height(&cluster, &cluster.observer_client(0), 3, MINUTE).await;
    wait_status(&cluster, &validator, "4 peers", MINUTE, |p, _| p == 4).await;
    let (_, h) = wait_status(&cluster, &observer, "its API", MINUTE, |_, _| true).await;
    assert_eq!(h, 0, "an observer no validator lists followed the chain");

    // One officer is not enough, and nothing changes.
    let key = newcomer.to_hex();
    let name: &[&str] = &["--name", "bank-2"];
    let (code, json, stderr) = observers(&node, "add", &key, name, &[&officers[0]]);
    assert_ne!(code, 0, "one officer admitted an observer: {json}");
    assert!(stderr.contains("NotEnoughSignatures"), "{stderr}");
    let (_, listed, _) = tenge(&node, &["observers", "list"]);
    assert_eq!(listed, serde_json::json!([]));

    // Two of three officers admit it: it connects and catches up, no validator restarted.
    let two = [officers[0].as_path(), officers[1].as_path()];
    let (code, json, stderr) = observers(&node, "add", &key, name, &two);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["status"], "committed", "{json}");
    let admitted_at = json["height"].as_u64().expect("committed height");
    let (_, listed, _) = tenge(&node, &["observers", "list"]);
    assert_eq!(
        listed,
        serde_json::json!([{"name": "bank-2", "key": newcomer.to_hex()}])
    );
    let (_, caught_up) = wait_status(&cluster, &observer, "catching up", MINUTE, |_, h| {
        h >= admitted_at
    })
    .await;
    wait_status(&cluster, &validator, "5 peers", MINUTE, |p, _| p == 5).await;
    assert_same_chain(&[validator.clone(), observer.clone()], caught_up).await;

    // A validator restarted after the admission lists the observer from its stored state.
    cluster.stop_validator(0);
    cluster.start_validator(0);
    wait_status(
        &cluster,
        &validator,
        "5 peers after a restart",
        MINUTE,
        |p, _| p == 5,
    )
    .await;

    // Removed: every validator closes its connections and it falls behind for good.
    let (code, json, stderr) = observers(&node, "remove", &key, &[], &two);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["status"], "committed", "{json}");
    let removed_at = json["height"].as_u64().expect("committed height");
    wait_status(&cluster, &validator, "4 peers", MINUTE, |p, _| p == 4).await;
    wait_height(&cluster, &validator, removed_at + 10, MINUTE).await;
    let (peers, _) = peers_and_height(&validator)
        .await
        .expect("validator answers");
    assert_eq!(peers, 4, "a removed observer reconnected");
    let stuck = height(&observer).await.expect("observer answers");
    assert!(
        stuck < removed_at + 5,
        "a removed observer kept following: at {stuck}, removed at {removed_at}"
    );
    // The configured observer was never affected.
    let control = height(&cluster.observer_client(0)).await.unwrap();
    assert!(control >= removed_at, "the configured observer stopped");
    let (_, listed, _) = tenge(&node, &["observers", "list"]);
    assert_eq!(listed, serde_json::json!([]));
}
