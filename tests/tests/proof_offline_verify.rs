//! Issue 12's acceptance walk with real processes: on a devnet of 4 validators and an observer,
//! issue, open a wallet, transfer 100.25 tenge to it, fetch its proof and a supply proof from the
//! observer with `tenge proof`, stop every node, then `tenge verify` offline against the genesis
//! file: the balance is 10025 tiyn and the supply fields are those `tenge supply` showed around
//! the proven height. Tampered, truncated and foreign-genesis checks go through the binary's exit
//! codes (0 valid, 1 invalid naming the check, 2 unreadable).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tenge_tests::byzantine;
use tenge_tests::cluster::{Cluster, binary, wait_height};

fn tenge(args: &[&str], files: &[&Path]) -> Output {
    let mut command = Command::new(binary("tenge"));
    command.args(args);
    for file in files {
        command.arg(file);
    }
    command.output().expect("run tenge")
}

/// Runs `tenge ... --output json` expecting exit `code`; its JSON output.
fn tenge_json(node: &str, args: &[&str], code: i32) -> serde_json::Value {
    let mut all = vec!["--node", node, "--output", "json"];
    all.extend_from_slice(args);
    let output = tenge(&all, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(code),
        "tenge {args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The supply fields a proof and `tenge supply` share.
const SUPPLY_FIELDS: [&str; 7] = [
    "issued_tiyn",
    "redeemed_tiyn",
    "outstanding_tiyn",
    "ceiling_tiyn",
    "epoch",
    "epoch_issued_tiyn",
    "epoch_cap_tiyn",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_from_the_observer_verify_offline_after_every_node_stopped() {
    let mut cluster = Cluster::init(4, 1, 45_000);
    byzantine::use_free_ports(&mut cluster);
    for i in 0..4 {
        cluster.start_validator(i);
    }
    cluster.start_observer(0);
    wait_height(&cluster, &cluster.client(0), 1, Duration::from_secs(60)).await;
    let work = tempfile::tempdir().unwrap();
    let validator = cluster.validators[0].api.clone();
    let observer = cluster.observers[0].api.clone();
    let key = |name: &str| cluster.key(name).to_str().unwrap().to_string();

    tenge_json(
        &validator,
        &[
            "issue",
            "--to",
            &key("bank-1"),
            "--amount",
            "1000000",
            "--key",
            &key("officer-1"),
            "--key",
            &key("officer-2"),
        ],
        0,
    );
    let alice = work.path().join("alice.key");
    tenge_json(&validator, &["keygen", "--out", path(&alice)], 0);
    tenge_json(
        &validator,
        &[
            "wallet",
            "open",
            "--tier",
            "4",
            "--owner-key",
            path(&alice),
            "--key",
            &key("bank-1"),
        ],
        0,
    );
    tenge_json(
        &validator,
        &[
            "transfer",
            "--to",
            path(&alice),
            "--amount",
            "100.25",
            "--key",
            &key("bank-1"),
        ],
        0,
    );
    let alice_id = tenge_crypto::read_key_file(&alice).unwrap().account_id();

    // The observer follows: wait until it shows the wallet's money.
    let observer_client = cluster.observer_client(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while observer_client
        .account(&alice_id)
        .await
        .map_or(true, |a| a.balance_tiyn != 10_025)
    {
        assert!(
            Instant::now() < deadline,
            "the observer never showed the transfer\n{}",
            cluster.logs_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let account_file = work.path().join("alice.proof");
    let supply_file = work.path().join("supply.proof");
    let absent_file = work.path().join("absent.proof");
    let fetched = tenge_json(
        &observer,
        &[
            "proof",
            "account",
            path(&alice),
            "--out",
            path(&account_file),
        ],
        0,
    );
    assert_eq!(fetched["kind"], "account");
    let supply_before = tenge_json(&observer, &["supply"], 0);
    let fetched_supply = tenge_json(
        &observer,
        &["proof", "supply", "--out", path(&supply_file)],
        0,
    );
    let supply_after = tenge_json(&observer, &["supply"], 0);
    let nobody = "5a".repeat(32);
    tenge_json(
        &observer,
        &["proof", "account", &nobody, "--out", path(&absent_file)],
        0,
    );

    // Bad ids are refused with the one JSON error shape.
    for url in [
        format!("{observer}/v1/proofs/accounts/zz"),
        format!("{observer}/v1/proofs/earmarks/{}", "g".repeat(64)),
    ] {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "bad_request", "{url}: {body}");
    }
    for url in [
        format!("{observer}/v1/proofs/accounts/"),
        format!("{observer}/v1/proofs/balances/{nobody}"),
    ] {
        let response = reqwest::get(&url).await.unwrap();
        assert_eq!(response.status().as_u16(), 404, "{url}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["kind"], "not_found", "{url}: {body}");
    }
    let response = reqwest::get(format!("{observer}/v1/proofs/earmarks/{}", "ab".repeat(32)))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);

    // Keep the genesis file (obtained out of band), then stop every node.
    let genesis = work.path().join("genesis.json");
    std::fs::copy(cluster.dir.path().join("genesis.json"), &genesis).unwrap();
    let another = tempfile::tempdir().unwrap();
    let other_devnet = tenge_cli::devnet::init(
        another.path(),
        &tenge_cli::devnet::DevnetOptions {
            validators: 4,
            observers: 0,
            base_port: 1,
            round_timeout_base_ms: 1_000,
            spares: 0,
        },
    )
    .unwrap();
    let other_genesis = another.path().join("genesis.json");
    assert!(
        other_genesis.exists(),
        "{:?}",
        other_devnet.validators.len()
    );
    drop(cluster);
    assert!(
        observer_client.status().await.is_err(),
        "a node still answers"
    );

    // Offline: nothing listens any more, and `tenge verify` needs no node.
    let offline = "http://127.0.0.1:9";
    let verified = tenge_json(
        offline,
        &["verify", path(&account_file), "--genesis", path(&genesis)],
        0,
    );
    assert_eq!(verified["valid"], true);
    assert_eq!(verified["kind"], "account");
    assert_eq!(verified["balance_tiyn"], 10_025);
    assert_eq!(verified["tier"], 4);
    assert_eq!(verified["account"], alice_id.to_hex());
    assert!(verified["signers"].as_u64().unwrap() >= 3);
    assert!(verified["state_root"].as_str().unwrap().len() == 64);

    let supply = tenge_json(
        offline,
        &["verify", path(&supply_file), "--genesis", path(&genesis)],
        0,
    );
    assert_eq!(supply["kind"], "supply");
    let height = supply["height"].as_u64().unwrap();
    assert_eq!(height, fetched_supply["height"].as_u64().unwrap());
    // No transaction ran between the two `tenge supply` calls, so the supply at the proven
    // height (between theirs) is what both showed.
    assert!(supply_before["height"].as_u64().unwrap() <= height);
    assert!(height <= supply_after["height"].as_u64().unwrap());
    for field in SUPPLY_FIELDS {
        assert_eq!(supply_before[field], supply_after[field], "{field} moved");
        assert_eq!(supply[field], supply_before[field], "{field}");
    }
    assert_eq!(supply["issued_tiyn"], 100_000_000);

    let absent = tenge_json(
        offline,
        &["verify", path(&absent_file), "--genesis", path(&genesis)],
        0,
    );
    assert_eq!(absent["kind"], "absence");
    assert_eq!(absent["account"], nobody);

    // Text output names what is proven.
    let text = tenge(
        &["verify"],
        &[&account_file, Path::new("--genesis"), &genesis],
    );
    assert_eq!(text.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&text.stdout).contains("100.25"));

    // Tampered: one tiyn more in the proven balance.
    let bytes = std::fs::read(&account_file).unwrap();
    let mut bundle = tenge_proof::ProofBundle::from_bytes(&bytes).unwrap();
    if let tenge_proof::Claim::Account { account, .. } = &mut bundle.claim {
        account.value.balance = tenge_types::Amount::from_tiyn(10_026);
    }
    let tampered = work.path().join("tampered.proof");
    std::fs::write(&tampered, bundle.to_bytes()).unwrap();
    let refused = tenge_json(
        offline,
        &["verify", path(&tampered), "--genesis", path(&genesis)],
        1,
    );
    assert_eq!(refused["valid"], false);
    assert_eq!(refused["check"], "root_mismatch");

    // Signatures cut below quorum.
    let mut bundle = tenge_proof::ProofBundle::from_bytes(&bytes).unwrap();
    bundle.commit.commit_qc.signatures.truncate(2);
    std::fs::write(&tampered, bundle.to_bytes()).unwrap();
    let refused = tenge_json(
        offline,
        &["verify", path(&tampered), "--genesis", path(&genesis)],
        1,
    );
    assert_eq!(refused["check"], "quorum_short");

    // Another devnet's genesis.
    let refused = tenge_json(
        offline,
        &[
            "verify",
            path(&account_file),
            "--genesis",
            path(&other_genesis),
        ],
        1,
    );
    assert_eq!(refused["check"], "wrong_chain");

    // Truncated file: unreadable, exit 2.
    std::fs::write(&tampered, &bytes[..bytes.len() - 7]).unwrap();
    let unreadable = tenge_json(
        offline,
        &["verify", path(&tampered), "--genesis", path(&genesis)],
        2,
    );
    assert_eq!(unreadable["valid"], false);
}
