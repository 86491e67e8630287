//! The Byzantine peer harness, seen from the tests: the behaviours the `byzantine` program can
//! perform, a guard that runs it in place of one validator of a [`Cluster`], OS-assigned ports
//! for a cluster, and reading honest nodes' logs for bans.
//!
//! The program itself is `src/bin/byzantine.rs`; the tests that drive it are
//! `tests/byzantine_n4.rs` (fault model n = 4, f = 1: the harness is the one faulty validator).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// What the harness does, one per run (security review 2026-11, issue 10 scope item 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// When it leads: a block holding correctly authorised transactions whose signature bytes are
    /// corrupted, with roots computed the way honest validators compute them (review H1).
    BadSignatureProposals,
    /// Oversized and structurally invalid transaction batches on the gossip channel (review H2).
    InvalidGossip,
    /// Honest validators' proposals, votes and timeouts relayed with forged certificates
    /// attached (review H4).
    ForgedCertificates,
    /// Many distinct valid proposals for each round it leads, and proposals for other rounds
    /// signed with its own key (review H5).
    EquivocatingProposals,
    /// Wrong blocks and certificates in answer to sync and fetch requests.
    LyingSync,
    /// Range-sync requests for everything, as fast as the network takes them (review H6).
    SyncFlood,
}

impl Behaviour {
    pub const ALL: [Behaviour; 6] = [
        Behaviour::BadSignatureProposals,
        Behaviour::InvalidGossip,
        Behaviour::ForgedCertificates,
        Behaviour::EquivocatingProposals,
        Behaviour::LyingSync,
        Behaviour::SyncFlood,
    ];

    /// The name on the harness's command line.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::BadSignatureProposals => "bad-signature-proposals",
            Behaviour::InvalidGossip => "invalid-gossip",
            Behaviour::ForgedCertificates => "forged-certificates",
            Behaviour::EquivocatingProposals => "equivocating-proposals",
            Behaviour::LyingSync => "lying-sync",
            Behaviour::SyncFlood => "sync-flood",
        }
    }

    pub fn from_name(name: &str) -> Option<Behaviour> {
        Behaviour::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// How long the harness misbehaves in the tests: `TENGE_BYZANTINE_SECS`, 20 s unless set (the
/// issue's acceptance runs ask for 60).
pub fn behaviour_seconds() -> u64 {
    std::env::var("TENGE_BYZANTINE_SECS")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|secs| *secs > 0)
        .unwrap_or(20)
}

/// Free loopback ports from the OS. All listeners stay open until every port is chosen, so the
/// ports are distinct; another process may still take one before the node binds it (rare).
pub fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an OS-assigned port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("bound address").port())
        .collect()
}

/// Rewrites a cluster written by [`Cluster::init`] to listen on OS-assigned ports: every node's
/// peer and API address, and the validators' addresses in the genesis. Call before starting any
/// node (they all read the one genesis file).
pub fn use_free_ports(cluster: &mut Cluster) {
    let nodes = cluster.validators.len() + cluster.observers.len() + cluster.spares.len();
    let ports = free_ports(2 * nodes);
    let genesis_path = cluster.dir.path().join("genesis.json");
    let mut genesis: tenge_types::Genesis =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).expect("read genesis"))
            .expect("genesis decodes");
    let all = cluster
        .validators
        .iter_mut()
        .chain(cluster.observers.iter_mut())
        .chain(cluster.spares.iter_mut());
    for (i, node) in all.enumerate() {
        let (p2p, api) = (ports[2 * i], ports[2 * i + 1]);
        let config = std::fs::read_to_string(&node.config).expect("read node config");
        let rewritten: Vec<String> = config
            .lines()
            .map(|line| {
                if line.starts_with("listen_address =") {
                    format!("listen_address = \"/ip4/127.0.0.1/tcp/{p2p}\"")
                } else if line.starts_with("api_address =") {
                    format!("api_address = \"127.0.0.1:{api}\"")
                } else {
                    line.to_string()
                }
            })
            .collect();
        std::fs::write(&node.config, rewritten.join("\n") + "\n").expect("write node config");
        node.api = format!("http://127.0.0.1:{api}");
        if let Some(validator) = genesis.validators.get_mut(i) {
            validator.address = format!("/ip4/127.0.0.1/tcp/{p2p}");
        }
    }
    let text = serde_json::to_string_pretty(&genesis).expect("genesis encodes") + "\n";
    std::fs::write(&genesis_path, text).expect("write genesis");
}

/// The genesis of a cluster, as its nodes read it.
pub fn genesis(cluster: &Cluster) -> tenge_types::Genesis {
    let path = cluster.dir.path().join("genesis.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read genesis"))
        .expect("genesis decodes")
}

/// The ed25519 public key of a node of the cluster (its `node.key`).
pub fn node_key(node: &crate::cluster::Node) -> tenge_types::PublicKey {
    tenge_crypto::read_key_file(&node.dir().join("node.key"))
        .expect("node key")
        .public_key()
}

/// The `byzantine` program running as validator `index` of a cluster whose own process for that
/// validator is not started. Dropping it kills the program.
pub struct Harness {
    child: Option<Child>,
    pub log_path: PathBuf,
    pub behaviour: Behaviour,
}

impl Harness {
    /// Starts `program` (the `byzantine` binary) with validator `index`'s key, listening on the
    /// address the genesis gives that validator, accepting the cluster's observers, for `seconds`.
    pub fn start(
        program: &Path,
        cluster: &Cluster,
        index: usize,
        behaviour: Behaviour,
        seconds: u64,
    ) -> Harness {
        let genesis = genesis(cluster);
        let node = &cluster.validators[index];
        let log_path = cluster
            .dir
            .path()
            .join(format!("byzantine-{}.log", behaviour.name()));
        let log = std::fs::File::create(&log_path).expect("harness log");
        let mut command = Command::new(program);
        command
            .arg("--behaviour")
            .arg(behaviour.name())
            .arg("--key")
            .arg(node.dir().join("node.key"))
            .arg("--genesis")
            .arg(cluster.dir.path().join("genesis.json"))
            .arg("--listen")
            .arg(&genesis.validators[index].address)
            .arg("--duration-secs")
            .arg(seconds.to_string());
        for observer in &cluster.observers {
            let key = node_key(observer);
            let address = observer_address(observer);
            command
                .arg("--peer")
                .arg(format!("{}@{address}", key.to_hex()));
        }
        let child = command
            .stdout(log.try_clone().expect("harness log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the byzantine harness");
        Harness {
            child: Some(child),
            log_path,
            behaviour,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The last lines of the harness's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Waits for the program to end by itself; `None` if it is still running at the deadline.
    pub async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The harness's final counters: the `key=value` pairs of its last `byzantine stats` line.
    pub fn stats(&self) -> Vec<(String, u64)> {
        let log = self.log();
        let Some(line) = log.lines().rev().find(|l| l.starts_with("byzantine stats")) else {
            return Vec::new();
        };
        line.split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()
    }

    /// The committed height the harness last reported (its stats lines and range syncs).
    pub fn reported_height(&self) -> u64 {
        let log = self.log();
        log.lines()
            .rev()
            .find_map(|line| {
                if line.starts_with("byzantine stats") {
                    log_field(line, "height")?.parse().ok()
                } else {
                    line.split_once("now at height ")?.1.trim().parse().ok()
                }
            })
            .unwrap_or(0)
    }

    pub fn stat(&self, name: &str) -> u64 {
        self.stats()
            .into_iter()
            .find(|(k, _)| k == name)
            .map_or(0, |(_, v)| v)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The peer address in an observer's config.
fn observer_address(node: &crate::cluster::Node) -> String {
    let config = std::fs::read_to_string(&node.config).expect("read node config");
    config
        .lines()
        .find_map(|line| line.strip_prefix("listen_address = "))
        .map(|value| value.trim_matches('"').to_string())
        .expect("listen_address in the node config")
}

/// Removes terminal colour escapes (the node logs in colour even to a file).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ending with a letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `field=` on a log line (tracing's text format).
pub fn log_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let pattern = format!("{field}=");
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(pattern.as_str()))
        .map(|value| value.trim_matches('"'))
}

/// Every ban a node logged, as (banned peer's short key, the whole line). The text is what
/// `tenge_network` logs when it bans (`peer banned`).
pub fn bans(log: &str) -> Vec<(String, String)> {
    strip_ansi(log)
        .lines()
        .filter(|line| line.contains("peer banned"))
        .map(|line| {
            (
                log_field(line, "peer").unwrap_or("?").to_string(),
                line.to_string(),
            )
        })
        .collect()
}

/// Every penalty a node logged, as (penalised peer's short key, the whole line).
pub fn penalties(log: &str) -> Vec<(String, String)> {
    strip_ansi(log)
        .lines()
        .filter(|line| line.contains("peer penalised"))
        .map(|line| {
            (
                log_field(line, "peer").unwrap_or("?").to_string(),
                line.to_string(),
            )
        })
        .collect()
}
