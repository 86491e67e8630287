//! Issue 14 item 9, the acceptance test: a network whose genesis `tenge genesis` wrote from public
//! keys only, every validator addressed as `/dns4/localhost/tcp/PORT`, four real `tenged`
//! processes: it commits, and an issuance to a bank named by its public-key file commits too.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, binary, wait_height};

fn tenge(args: &[&str]) -> Output {
    Command::new(binary("tenge"))
        .args(args)
        .env_remove("TENGE_CA_CERT")
        .env_remove("TENGE_NODE")
        .output()
        .expect("run tenge")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn read_genesis(file: &Path) -> tenge_types::Genesis {
    serde_json::from_str(&std::fs::read_to_string(file).expect("read genesis")).expect("genesis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_from_public_keys_with_dns4_addresses_commit() {
    let mut cluster = Cluster::init(4, 0, 44_000);
    use_free_ports(&mut cluster);
    let genesis_path = cluster.dir.path().join("genesis.json");
    let devnet_genesis = read_genesis(&genesis_path);
    let public_hex = |file: &Path| {
        tenge_crypto::read_key_file(file)
            .expect("key file")
            .public_key()
            .to_hex()
    };
    let public_dir = cluster.dir.path().join("public");
    std::fs::create_dir(&public_dir).unwrap();
    let mut args: Vec<String> = ["genesis", "--chain-id", "tenge-dns", "--threshold", "2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for i in 1..=3 {
        let hex = public_hex(&cluster.key(&format!("officer-{i}")));
        args.extend(["--officer-key".into(), hex]);
    }
    let mut bank_files = Vec::new();
    for i in 1..=2 {
        let key: tenge_types::PublicKey = public_hex(&cluster.key(&format!("bank-{i}")))
            .parse()
            .unwrap();
        let file = public_dir.join(format!("bank-{i}.pub"));
        tenge_cli::keys::write_public_key_file(&file, &key).unwrap();
        args.extend(["--bank".into(), format!("bank-{i}={}", path(&file))]);
        bank_files.push(file);
    }
    for (i, validator) in cluster.validators.iter().enumerate() {
        let port = devnet_genesis.validators[i]
            .address
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let hex = public_hex(&validator.dir().join("node.key"));
        args.extend([
            "--validator".into(),
            format!("validator-{}={hex}@/dns4/localhost/tcp/{port}", i + 1),
        ]);
    }
    std::fs::remove_file(&genesis_path).unwrap();
    args.extend(["--out".into(), path(&genesis_path).to_string()]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = tenge(&argv);
    assert!(output.status.success(), "{}", describe(&output));
    let genesis = read_genesis(&genesis_path);
    assert!(
        genesis
            .validators
            .iter()
            .all(|v| v.address.starts_with("/dns4/localhost/tcp/")),
        "{:?}",
        genesis.validators
    );

    for i in 0..4 {
        cluster.start_validator(i);
    }
    for i in 0..4 {
        wait_height(&cluster, &cluster.client(i), 3, Duration::from_secs(90)).await;
    }

    // Officers sign with their own secrets; the bank is named by its public-key file.
    let api = cluster.validators[0].api.clone();
    let officer_1 = cluster.key("officer-1");
    let officer_2 = cluster.key("officer-2");
    let issued = tenge(&[
        "--node",
        &api,
        "--output",
        "json",
        "issue",
        "--to",
        path(&bank_files[0]),
        "--amount",
        "1000",
        "--key",
        path(&officer_1),
        "--key",
        path(&officer_2),
    ]);
    assert!(
        issued.status.success(),
        "{}{}",
        describe(&issued),
        cluster.logs_tail()
    );
    let outcome: serde_json::Value = serde_json::from_slice(&issued.stdout).expect("JSON");
    assert_eq!(outcome["status"], "committed", "{outcome}");
}
