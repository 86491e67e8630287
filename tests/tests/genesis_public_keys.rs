//! Issue 14 item 9: `tenge genesis` is written from public keys (hex, or the public-key files
//! `tenge keygen` writes), never needs a secret it does not sign with, and refuses malformed keys
//! and addresses naming the field. Runs the real `tenge`; needs no node (the network written
//! this way is tested in `genesis_dns4_network.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tenge_tests::cluster::binary;

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

/// `tenge keygen --out DIR/NAME.key`: the key's public hex and its public-key file.
fn keygen(dir: &Path, name: &str) -> (String, PathBuf) {
    let secret = dir.join(format!("{name}.key"));
    let output = tenge(&["--output", "json", "keygen", "--out", path(&secret)]);
    assert!(output.status.success(), "{}", describe(&output));
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let public_file = PathBuf::from(printed["public_key_file"].as_str().expect("public file"));
    assert_eq!(public_file, dir.join(format!("{name}.pub")));
    (
        printed["public_key"]
            .as_str()
            .expect("public key")
            .to_string(),
        public_file,
    )
}

fn read_genesis(file: &Path) -> tenge_types::Genesis {
    serde_json::from_str(&std::fs::read_to_string(file).expect("read genesis")).expect("genesis")
}

/// Officers, banks and validators as the central bank receives them: public keys only.
struct Parties {
    dir: tempfile::TempDir,
    officers: Vec<(String, PathBuf)>,
    banks: Vec<(String, PathBuf)>,
    validators: Vec<(String, PathBuf)>,
}

impl Parties {
    /// Keys made with `tenge keygen`, then every secret key file deleted: only public keys and
    /// public-key files are left.
    fn public_only() -> Parties {
        let dir = tempfile::tempdir().expect("temporary directory");
        let make = |prefix: &str, count: usize| -> Vec<(String, PathBuf)> {
            (1..=count)
                .map(|i| keygen(dir.path(), &format!("{prefix}-{i}")))
                .collect()
        };
        let parties = Parties {
            officers: make("officer", 3),
            banks: make("bank", 2),
            validators: make("validator", 4),
            dir,
        };
        for entry in std::fs::read_dir(parties.dir.path()).expect("list keys") {
            let file = entry.expect("entry").path();
            if file.extension().is_some_and(|e| e == "key") {
                std::fs::remove_file(file).expect("remove a secret key file");
            }
        }
        parties
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("genesis.json")
    }

    /// The arguments of a good genesis: officers as hex, banks as public-key files, validators
    /// alternately as hex and as files, with every accepted address form.
    fn args(&self) -> Vec<String> {
        let addresses = [
            "/dns4/localhost/tcp/7101",
            "/ip4/10.0.0.2/tcp/7100",
            "/ip6/2001:db8::3/tcp/7100",
            "/dns6/validator-4.bank.kz/tcp/7100",
        ];
        let mut args: Vec<String> = ["genesis", "--chain-id", "tenge-test", "--threshold", "2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (hex, _) in &self.officers {
            args.extend(["--officer-key".into(), hex.clone()]);
        }
        for (i, (_, file)) in self.banks.iter().enumerate() {
            args.extend(["--bank".into(), format!("bank-{}={}", i + 1, path(file))]);
        }
        for (i, ((hex, file), address)) in self.validators.iter().zip(addresses).enumerate() {
            let key = if i % 2 == 0 {
                hex.clone()
            } else {
                path(file).to_string()
            };
            args.extend(["--validator".into(), format!("v{}={key}@{address}", i + 1)]);
        }
        args.extend(["--out".into(), path(&self.out()).to_string()]);
        args
    }

    fn genesis(&self, args: &[String]) -> Output {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tenge(&args)
    }
}

/// Replaces the value after the `index`-th occurrence of `flag`.
fn replace_value(args: &mut [String], flag: &str, index: usize, value: String) {
    let position = args
        .iter()
        .enumerate()
        .filter(|(_, a)| *a == flag)
        .nth(index)
        .map(|(i, _)| i)
        .expect("flag present");
    args[position + 1] = value;
}

#[test]
fn genesis_from_public_keys_only_is_accepted() {
    let parties = Parties::public_only();
    let output = parties.genesis(&parties.args());
    assert!(output.status.success(), "{}", describe(&output));
    let genesis = read_genesis(&parties.out());
    let officer_keys: Vec<String> = genesis.officers.keys.iter().map(|k| k.to_hex()).collect();
    let mut expected: Vec<String> = parties
        .officers
        .iter()
        .map(|(hex, _)| hex.clone())
        .collect();
    expected.sort();
    let mut sorted = officer_keys.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
    assert_eq!(genesis.officers.threshold, 2);
    for (bank, (hex, _)) in genesis.banks.iter().zip(&parties.banks) {
        assert_eq!(&bank.key.to_hex(), hex);
    }
    let addresses: Vec<&str> = genesis
        .validators
        .iter()
        .map(|v| v.address.as_str())
        .collect();
    assert_eq!(
        addresses,
        [
            "/dns4/localhost/tcp/7101",
            "/ip4/10.0.0.2/tcp/7100",
            "/ip6/2001:db8::3/tcp/7100",
            "/dns6/validator-4.bank.kz/tcp/7100",
        ]
    );
    for (validator, (hex, _)) in genesis.validators.iter().zip(&parties.validators) {
        assert_eq!(&validator.consensus_key.to_hex(), hex);
    }
}

#[test]
fn secret_less_files_are_accepted_where_no_secret_is_needed() {
    let parties = Parties::public_only();
    // A public-key file written by hand (no secret_key field), and a file of bare hex.
    let handmade = parties.dir.path().join("handmade.pub");
    std::fs::write(
        &handmade,
        format!(
            "{{\"type\": \"tenge-ed25519-public-key\", \"public_key\": \"{}\"}}\n",
            parties.officers[1].0
        ),
    )
    .unwrap();
    let bare = parties.dir.path().join("bare.txt");
    std::fs::write(&bare, format!("{}\n", parties.officers[2].0)).unwrap();
    // A secret key file still works where it is given (only its public key is read).
    let (secret_public, _) = keygen(parties.dir.path(), "kept-officer");
    let secret = parties.dir.path().join("kept-officer.key");
    let mut args = parties.args();
    replace_value(&mut args, "--officer-key", 0, path(&secret).into());
    replace_value(&mut args, "--officer-key", 1, path(&handmade).into());
    replace_value(&mut args, "--officer-key", 2, path(&bare).into());
    let output = parties.genesis(&args);
    assert!(output.status.success(), "{}", describe(&output));
    let genesis = read_genesis(&parties.out());
    let keys: Vec<String> = genesis.officers.keys.iter().map(|k| k.to_hex()).collect();
    for expected in [
        &secret_public,
        &parties.officers[1].0,
        &parties.officers[2].0,
    ] {
        assert!(keys.contains(expected), "{expected} not in {keys:?}");
    }
}

/// Runs `tenge genesis` with one value replaced; it must fail with exit 2 naming `field`, and
/// write no genesis file.
fn assert_refused(flag: &str, index: usize, value: String, field: &str, reason: &str) {
    let parties = Parties::public_only();
    let mut args = parties.args();
    replace_value(&mut args, flag, index, value.clone());
    let output = parties.genesis(&args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{value}: {}",
        describe(&output)
    );
    assert!(
        stderr.contains(field),
        "{value}: field {field} not named: {stderr}"
    );
    assert!(
        stderr.contains(reason),
        "{value}: reason {reason} not given: {stderr}"
    );
    assert!(!parties.out().exists(), "{value}: a genesis was written");
}

#[test]
fn malformed_addresses_are_refused_naming_the_field() {
    let key = Parties::public_only().validators[1].0.clone();
    for (address, reason) in [
        ("not-an-address", "is not a multiaddr"),
        ("/ip4/10.0.0.2", "nothing more"),
        ("/ip4/10.0.0.300/tcp/7100", "not an IPv4 address"),
        ("/dns4/bad_name/tcp/7100", "not a DNS name"),
        ("/ip4/10.0.0.2/udp/7100", "/tcp/PORT"),
        ("/ip4/10.0.0.2/tcp/99999", "not a TCP port"),
    ] {
        assert_refused(
            "--validator",
            1,
            format!("v2={key}@{address}"),
            "--validator `v2` (validators[1].address)",
            reason,
        );
    }
}

#[test]
fn malformed_keys_are_refused_naming_the_field() {
    let parties = Parties::public_only();
    let weak = "00".repeat(32);
    let secret_open_to_others = parties.dir.path().join("open.key");
    // Made by keygen, then opened to group and others: refused as a secret file would be.
    let _ = keygen(parties.dir.path(), "open");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            &secret_open_to_others,
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
    }
    let not_a_key_file = parties.dir.path().join("notes.txt");
    std::fs::write(&not_a_key_file, "hello\n").unwrap();
    let cases = [
        (
            "--officer-key",
            1,
            "xyz".to_string(),
            "--officer-key #2 (officers.keys)",
            "neither a public key",
        ),
        (
            "--officer-key",
            0,
            weak.clone(),
            "--officer-key #1 (officers.keys)",
            "weak",
        ),
        (
            "--officer-key",
            2,
            path(&secret_open_to_others).to_string(),
            "--officer-key #3 (officers.keys)",
            "chmod 600",
        ),
        (
            "--bank",
            0,
            format!("bank-1={}", path(&not_a_key_file)),
            "--bank `bank-1` (banks[0].key)",
            "not a public key",
        ),
        (
            "--bank",
            1,
            "bank-2".to_string(),
            "--bank `bank-2`",
            "expected NAME=KEY",
        ),
        (
            "--validator",
            2,
            format!("v3={}@/ip4/10.0.0.3/tcp/7100", &weak[..62]),
            "--validator `v3` (validators[2].consensus_key)",
            "neither a public key",
        ),
        (
            "--validator",
            3,
            format!("v4={weak}@/ip4/10.0.0.4/tcp/7100"),
            "--validator `v4` (validators[3].consensus_key)",
            "weak",
        ),
    ];
    for (flag, index, value, field, reason) in cases {
        assert_refused(flag, index, value, field, reason);
    }
}
