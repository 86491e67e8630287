//! Real `tenged` processes on loopback, set up with the real `tenge devnet init`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tenge_api::Client;
use tenge_api::views::TransactionStatus;
use tenge_cli::devnet::{DevnetFile, DevnetOptions};

/// Where cargo put the workspace binaries: next to the directory of the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --release --workspace` first",
        path.display()
    );
    path
}

/// Runs the real CLI, `tenge --output json --node NODE ARGS...`: its exit code, its JSON output
/// (null if it printed none) and its stderr.
pub fn tenge(node: &str, args: &[&str]) -> (i32, serde_json::Value, String) {
    let output = Command::new(binary("tenge"))
        .args(["--output", "json", "--node", node])
        .args(args)
        .output()
        .expect("run tenge");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (output.status.code().unwrap_or(-1), json, stderr)
}

/// A path as a command-line argument.
pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

pub struct Node {
    pub api: String,
    pub config: PathBuf,
    /// Extra environment for the process (`TENGE_*` config overrides).
    pub env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Node {
    pub fn dir(&self) -> PathBuf {
        self.config.parent().expect("node dir").to_path_buf()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("node.log")).unwrap_or_default()
    }
}

/// A devnet in a temporary directory. Dropping it kills every node.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub validators: Vec<Node>,
    pub observers: Vec<Node>,
    /// Validators outside the genesis (`--spare-validators`): they follow until added.
    pub spares: Vec<Node>,
}

impl Cluster {
    /// Writes a devnet (keys, genesis, configs); starts nothing.
    pub fn init(validators: usize, observers: usize, base_port: u16) -> Cluster {
        Cluster::init_with_spares(validators, observers, 0, base_port)
    }

    /// [`init`](Self::init) with `spares` validators outside the genesis.
    pub fn init_with_spares(
        validators: usize,
        observers: usize,
        spares: usize,
        base_port: u16,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = DevnetOptions {
            validators,
            observers,
            base_port,
            round_timeout_base_ms: 1_000,
            spares,
        };
        let file: DevnetFile = tenge_cli::devnet::init(dir.path(), &options).expect("devnet init");
        let node = |n: &tenge_cli::devnet::DevnetNode| Node {
            api: n.api.clone(),
            config: n.config.clone(),
            env: Vec::new(),
            child: None,
        };
        Cluster {
            validators: file.validators.iter().map(node).collect(),
            observers: file.observers.iter().map(node).collect(),
            spares: file
                .spares
                .iter()
                .map(|spare| Node {
                    api: spare.api.clone(),
                    config: spare.config.clone(),
                    env: Vec::new(),
                    child: None,
                })
                .collect(),
            dir,
        }
    }

    pub fn start(validators: usize, observers: usize, base_port: u16) -> Cluster {
        let mut cluster = Cluster::init(validators, observers, base_port);
        for i in 0..validators {
            cluster.start_validator(i);
        }
        for i in 0..observers {
            cluster.start_observer(i);
        }
        cluster
    }

    fn spawn(node: &mut Node) {
        assert!(node.child.is_none(), "node already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir().join("node.log"))
            .expect("node log");
        let child = Command::new(binary("tenged"))
            .arg("--config")
            .arg(&node.config)
            .env("RUST_LOG", "info,libp2p=warn,yamux=warn")
            .envs(node.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start tenged");
        node.child = Some(child);
    }

    pub fn start_validator(&mut self, i: usize) {
        Self::spawn(&mut self.validators[i]);
    }

    pub fn start_observer(&mut self, i: usize) {
        Self::spawn(&mut self.observers[i]);
    }

    pub fn start_spare(&mut self, i: usize) {
        Self::spawn(&mut self.spares[i]);
    }

    pub fn spare_client(&self, i: usize) -> Client {
        Client::new(&self.spares[i].api)
    }

    fn signal(node: &mut Node, signal: i32) {
        let mut child = node.child.take().expect("node running");
        // SAFETY: kill(2) on a child process id we own.
        unsafe { libc::kill(child.id() as i32, signal) };
        child.wait().expect("wait for node");
    }

    /// SIGKILL: the process dies at once, mid-write if it was writing.
    pub fn kill_validator(&mut self, i: usize) {
        Self::signal(&mut self.validators[i], libc::SIGKILL);
    }

    /// Waits up to `timeout` for validator `i` to exit by itself; its exit status if it did.
    pub fn wait_validator_exit(
        &mut self,
        i: usize,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let node = &mut self.validators[i];
        while Instant::now() < deadline {
            let child = node.child.as_mut().expect("node running");
            if let Some(status) = child.try_wait().expect("wait for node") {
                node.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM: a graceful stop.
    pub fn stop_validator(&mut self, i: usize) {
        Self::signal(&mut self.validators[i], libc::SIGTERM);
    }

    pub fn client(&self, i: usize) -> Client {
        Client::new(&self.validators[i].api)
    }

    pub fn observer_client(&self, i: usize) -> Client {
        Client::new(&self.observers[i].api)
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.path().join("keys").join(format!("{name}.key"))
    }

    /// Every running node's API client.
    pub fn running_clients(&self) -> Vec<Client> {
        self.validators
            .iter()
            .chain(&self.observers)
            .chain(&self.spares)
            .filter(|n| n.child.is_some())
            .map(|n| Client::new(&n.api))
            .collect()
    }

    /// The logs of every node, for failure messages.
    pub fn logs_tail(&self) -> String {
        let mut text = String::new();
        for node in self
            .validators
            .iter()
            .chain(&self.observers)
            .chain(&self.spares)
        {
            let log = node.log();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text += &format!(
                "\n--- {} ---\n{}",
                node.config.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        text
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::env::var("TENGE_KEEP_CLUSTER").is_ok() {
            let name = self.validators.first().map_or(String::new(), |n| {
                n.api.rsplit(':').next().unwrap_or("").to_string()
            });
            let kept =
                std::env::temp_dir().join(format!("tenge-cluster-{}-{name}", std::process::id()));
            let _ = std::fs::rename(self.dir.path(), &kept);
            eprintln!("cluster kept in {}", kept.display());
        }
        let nodes = self
            .validators
            .iter_mut()
            .chain(self.observers.iter_mut())
            .chain(self.spares.iter_mut());
        for node in nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Height of a node, or None if it does not answer.
pub async fn height(client: &Client) -> Option<u64> {
    client.status().await.ok().map(|s| s.height)
}

/// Waits until `client` reports at least `target`; panics with the logs after `timeout`.
pub async fn wait_height(
    cluster: &Cluster,
    client: &Client,
    target: u64,
    timeout: Duration,
) -> u64 {
    let what = format!("height {target}");
    wait_status(cluster, client, &what, timeout, |_, h| h >= target)
        .await
        .1
}

/// A node's connected peers and height, or None if it does not answer.
pub async fn peers_and_height(client: &Client) -> Option<(usize, u64)> {
    client.status().await.ok().map(|s| (s.peers, s.height))
}

/// Polls `client`'s status until `condition(peers, height)` holds and returns them; panics with
/// the logs after `timeout`.
pub async fn wait_status(
    cluster: &Cluster,
    client: &Client,
    what: &str,
    timeout: Duration,
    condition: impl Fn(usize, u64) -> bool,
) -> (usize, u64) {
    let deadline = Instant::now() + timeout;
    loop {
        let status = peers_and_height(client).await;
        if let Some((peers, h)) = status
            && condition(peers, h)
        {
            return (peers, h);
        }
        assert!(
            Instant::now() <= deadline,
            "{}: {what} not reached within {timeout:?} (peers and height {status:?}){}",
            client.base(),
            cluster.logs_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every node reports the same block id and state root at every height up to `up_to`.
pub async fn assert_same_chain(clients: &[Client], up_to: u64) {
    for h in 1..=up_to {
        let mut seen: Option<(String, String, String)> = None;
        for client in clients {
            let block = client
                .block(h)
                .await
                .unwrap_or_else(|e| panic!("{} block {h}: {e}", client.base()));
            let view = (
                block.id.clone(),
                block.state_root.clone(),
                block.parent_id.clone(),
            );
            match &seen {
                None => seen = Some(view),
                Some(first) => {
                    assert_eq!(first, &view, "{} disagrees at height {h}", client.base())
                }
            }
        }
    }
}

/// Signs and submits transfers between the two devnet banks, after funding them.
pub struct Load {
    client: Client,
    chain_id: tenge_types::ChainId,
    banks: [tenge_crypto::Keypair; 2],
    sequences: [u64; 2],
    pub submitted: u64,
}

impl Load {
    /// Funds both banks (officers 1 and 2 sign) and waits for the issuance to commit.
    pub async fn new(cluster: &Cluster, via: usize) -> Load {
        let client = cluster.client(via);
        let status = client.status().await.expect("status");
        let chain_id = tenge_types::ChainId::new(&status.chain_id).expect("chain id");
        let read = |name: &str| tenge_crypto::read_key_file(&cluster.key(name)).expect("key");
        let officers = [read("officer-1"), read("officer-2")];
        let banks = [read("bank-1"), read("bank-2")];
        let central_bank: tenge_types::AccountId = client
            .supply()
            .await
            .expect("supply")
            .central_bank
            .parse()
            .expect("id");
        let cb_sequence = client
            .account(&central_bank)
            .await
            .map(|a| a.sequence)
            .unwrap_or(0);
        let mut last = None;
        for (i, bank) in banks.iter().enumerate() {
            let tx = tenge_types::Transaction {
                chain_id: chain_id.clone(),
                sender: central_bank,
                sequence: cb_sequence + i as u64,
                expires_at_ms: expiry_in_an_hour(),
                payload: tenge_types::Payload::Issue(tenge_types::transaction::Issue {
                    to: bank.account_id(),
                    amount: tenge_types::Amount::from_tenge(1_000_000).expect("fits"),
                }),
            };
            let signed = tenge_crypto::sign_transaction(tx, &[&officers[0], &officers[1]]);
            last = Some(client.submit(&signed).await.expect("issuance accepted"));
        }
        let view = client
            .wait_final(&last.expect("two issuances"), Duration::from_secs(60))
            .await
            .expect("issuance final");
        assert_eq!(view.status, TransactionStatus::Committed, "{view:?}");
        let mut sequences = [0; 2];
        for (i, bank) in banks.iter().enumerate() {
            sequences[i] = client
                .account(&bank.account_id())
                .await
                .map(|a| a.sequence)
                .unwrap_or(0);
        }
        Load {
            client,
            chain_id,
            banks,
            sequences,
            submitted: 0,
        }
    }

    /// Submits `count` transfers, alternating senders; returns the hash of the last.
    pub async fn burst(&mut self, count: usize) -> Option<tenge_types::HashValue> {
        let mut last = None;
        for i in 0..count {
            let from = (self.submitted as usize + i) % 2;
            let tx = tenge_types::Transaction {
                chain_id: self.chain_id.clone(),
                sender: self.banks[from].account_id(),
                sequence: self.sequences[from],
                expires_at_ms: expiry_in_an_hour(),
                payload: tenge_types::Payload::Transfer(tenge_types::transaction::Transfer {
                    to: self.banks[1 - from].account_id(),
                    amount: tenge_types::Amount::from_tiyn(100 + i as u64),
                }),
            };
            let signed = tenge_crypto::sign_transaction(tx, &[&self.banks[from]]);
            match self.client.submit(&signed).await {
                Ok(hash) => {
                    self.sequences[from] += 1;
                    last = Some(hash);
                }
                Err(_) => {
                    // The node may be down or the sequence stale: resynchronise from the ledger.
                    if let Ok(account) = self.client.account(&self.banks[from].account_id()).await {
                        self.sequences[from] = account.sequence;
                    }
                }
            }
        }
        self.submitted += count as u64;
        last
    }

    /// Reads the banks' next sequence numbers from the node: after a crash, transactions that
    /// were only in mempools are gone and their sequence numbers free again.
    pub async fn resync(&mut self) {
        for (i, bank) in self.banks.iter().enumerate() {
            if let Ok(account) = self.client.account(&bank.account_id()).await {
                self.sequences[i] = account.sequence;
            }
        }
    }

    /// Points the load at another node.
    pub fn switch_to(&mut self, client: Client) {
        self.client = client;
    }
}

/// An expiry for test transactions: an hour from now (tests finish well within it).
pub fn expiry_in_an_hour() -> tenge_types::TimestampMs {
    tenge_types::TimestampMs(tenge_types::TimestampMs::now().0 + 3_600_000)
}
