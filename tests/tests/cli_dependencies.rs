//! Issue 14 item 2: the `tenge` command line talks HTTP only. It must not compile or link
//! RocksDB, libp2p or any node crate, so that building it alone takes minutes, not the RocksDB
//! build. Checked on the real dependency graph (`cargo tree`), normal dependencies only.

use std::process::Command;

/// Our crates the CLI may depend on; every other `tenge-*` crate is node code.
const ALLOWED_OURS: &[&str] = &[
    "tenge-cli",
    "tenge-client",
    "tenge-types",
    "tenge-crypto",
    "tenge-proof",
];

/// Third-party crates that only the node needs.
fn forbidden(name: &str) -> bool {
    matches!(
        name,
        "rocksdb" | "librocksdb-sys" | "bindgen" | "clang-sys" | "libp2p" | "axum"
    ) || name.starts_with("libp2p-")
}

fn cli_dependencies() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "tree",
            "--locked",
            "-p",
            "tenge-cli",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn cli_depends_on_no_node_code_rocksdb_or_libp2p() {
    let names = cli_dependencies();
    // The graph was read: the CLI and its client are in it.
    for expected in ["tenge-cli", "tenge-client", "reqwest"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from `cargo tree -p tenge-cli`: {names:?}"
        );
    }
    let offending: Vec<&String> = names
        .iter()
        .filter(|name| {
            forbidden(name)
                || (name.starts_with("tenge-") && !ALLOWED_OURS.contains(&name.as_str()))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "the tenge CLI must talk HTTP only, yet it depends on {offending:?}"
    );
}

#[test]
fn the_check_would_catch_node_code() {
    // The filter itself: what the node links is refused, what the CLI needs is not.
    for name in [
        "rocksdb",
        "librocksdb-sys",
        "libp2p",
        "libp2p-identity",
        "axum",
    ] {
        assert!(forbidden(name), "{name}");
    }
    for name in ["reqwest", "rustls", "tokio", "clap", "serde_json", "hex"] {
        assert!(!forbidden(name), "{name}");
    }
    for name in [
        "tenge-engine",
        "tenge-storage",
        "tenge-network",
        "tenge-api",
    ] {
        assert!(!ALLOWED_OURS.contains(&name), "{name}");
    }
}
