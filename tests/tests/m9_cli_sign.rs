//! Security review M9: `tenge sign` must not add a signature to a transaction file that was
//! changed after someone signed it, and it shows what it signs. Runs the real `tenge` binary;
//! needs no node.

use std::process::Command;

use tenge_crypto::write_key_file;
use tenge_ledger::testkit::TestNetwork;
use tenge_tests::cluster::binary;
use tenge_types::transaction::Issue;
use tenge_types::{Amount, Payload, SignedTransaction};

fn sign(file: &std::path::Path, key: &std::path::Path) -> std::process::Output {
    Command::new(binary("tenge"))
        .args(["--output", "json", "sign"])
        .arg(file)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap()
}

#[test]
fn m9_sign_refuses_a_file_changed_after_it_was_signed() {
    let dir = tempfile::tempdir().unwrap();
    let net = TestNetwork::new(2, 0);
    let keys: Vec<_> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("officer-{i}.key"));
            write_key_file(&path, &net.officers[i]).unwrap();
            path
        })
        .collect();
    let unsigned = SignedTransaction {
        transaction: net.transaction(
            net.central_bank(),
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tenge(1_000).unwrap(),
            }),
        ),
        signatures: vec![],
    };
    let file = dir.path().join("issue.json");
    std::fs::write(&file, serde_json::to_string_pretty(&unsigned).unwrap()).unwrap();

    // Officer 1 signs and sees what they signed.
    let first = sign(&file, &keys[0]);
    assert!(first.status.success(), "{first:?}");
    let shown: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(shown["kind"], "issue");
    assert_eq!(shown["hash"], unsigned.hash().to_hex());
    assert_eq!(shown["signatures"], 1);

    // Someone with access to the shared file raises the amount.
    let mut tampered: SignedTransaction =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    tampered.transaction.payload = Payload::Issue(Issue {
        to: net.bank(0),
        amount: Amount::from_tenge(1_000_000_000).unwrap(),
    });
    std::fs::write(&file, serde_json::to_string_pretty(&tampered).unwrap()).unwrap();
    let before = std::fs::read(&file).unwrap();

    let second = sign(&file, &keys[1]);
    assert_eq!(
        second.status.code(),
        Some(1),
        "officer 2 signed a tampered file: {second:?}"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("changed after it was signed"), "{stderr}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file was modified"
    );
}
