//! A devnet of real `tenged` processes, one per namespace of a [`Lab`], set up by the real
//! `tenge devnet init` with the loopback addresses swapped for the lab's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenge_api::Client;
use tenge_api::views::StatusView;
use tenge_cli::devnet::DevnetOptions;

use crate::lab::Lab;

/// Validator i listens for peers on `P2P_BASE_PORT + i` and serves its API on
/// `P2P_BASE_PORT + 1000 + i` (the devnet's layout); each in its own namespace, so no port can
/// clash with anything on the host.
pub const P2P_BASE_PORT: u16 = 7100;

/// How long the test waits for one API answer. A paused node never answers; the test must not
/// wait on it for the client's 30 s.
pub const API_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Node {
    /// `validator-N` or `observer-N`, as the devnet names them.
    pub name: String,
    pub validator: bool,
    pub ip: std::net::Ipv4Addr,
    pub p2p_port: u16,
    pub api_port: u16,
    pub config: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    pub fn api(&self) -> String {
        format!("http://{}:{}", self.ip, self.api_port)
    }

    pub fn dir(&self) -> PathBuf {
        self.config.parent().expect("node dir").to_path_buf()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("node.log")).unwrap_or_default()
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

/// The devnet. Dropping it kills every node; after a failure its directory (logs, data) is kept
/// and its path printed.
pub struct FaultCluster {
    pub lab: Arc<Lab>,
    dir: Option<tempfile::TempDir>,
    pub nodes: Vec<Node>,
    pub validators: usize,
    clients: Vec<Client>,
    http: reqwest::Client,
}

impl FaultCluster {
    /// Writes the devnet (keys, genesis with the lab's addresses, configs); starts nothing.
    /// Nodes 0..validators are the validators, the rest observers, node i in namespace i.
    pub fn init(lab: Arc<Lab>, validators: usize, observers: usize) -> FaultCluster {
        assert_eq!(
            lab.nodes(),
            validators + observers,
            "one namespace per node"
        );
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", lab.prefix))
            .tempdir()
            .expect("temporary directory");
        let options = DevnetOptions {
            validators,
            observers,
            base_port: P2P_BASE_PORT,
            round_timeout_base_ms: 1_000,
            spares: 0,
        };
        let file = tenge_cli::devnet::init(dir.path(), &options).expect("devnet init");
        // Validators find each other through the genesis: point it at the lab's addresses.
        let genesis_path = dir.path().join("genesis.json");
        let mut genesis: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&genesis_path).expect("genesis"))
                .expect("genesis is JSON");
        let entries = genesis["validators"]
            .as_array_mut()
            .expect("genesis lists validators");
        assert_eq!(entries.len(), validators);
        for (i, entry) in entries.iter_mut().enumerate() {
            let port = P2P_BASE_PORT + i as u16;
            assert_eq!(
                entry["address"],
                format!("/ip4/127.0.0.1/tcp/{port}"),
                "the devnet layout changed"
            );
            entry["address"] = format!("/ip4/{}/tcp/{port}", lab.node_ip(i)).into();
        }
        std::fs::write(
            &genesis_path,
            serde_json::to_string_pretty(&genesis).expect("serialises") + "\n",
        )
        .expect("write genesis");
        let mut nodes = Vec::new();
        for (i, entry) in file.validators.iter().chain(&file.observers).enumerate() {
            let api_port = P2P_BASE_PORT + 1_000 + i as u16;
            assert_eq!(
                entry.api,
                format!("http://127.0.0.1:{api_port}"),
                "the devnet layout changed"
            );
            nodes.push(Node {
                name: entry
                    .config
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .expect("node dir name"),
                validator: i < validators,
                ip: lab.node_ip(i),
                p2p_port: P2P_BASE_PORT + i as u16,
                api_port,
                config: entry.config.clone(),
                child: None,
                paused: false,
            });
        }
        let clients = nodes.iter().map(|n| Client::new(&n.api())).collect();
        let http = reqwest::Client::builder()
            .timeout(API_TIMEOUT)
            .build()
            .expect("HTTP client");
        FaultCluster {
            lab,
            dir: Some(dir),
            nodes,
            validators,
            clients,
            http,
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.as_ref().expect("directory kept until drop").path()
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir().join("keys").join(format!("{name}.key"))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    /// Starts node `i` in its namespace with `ip netns exec`, which execs `tenged` in place: the
    /// child's pid is the node's, so signals reach the node itself.
    pub fn start(&mut self, i: usize) {
        let namespace = self.lab.namespace(i);
        let tenged = tenge_tests::cluster::binary("tenged");
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "{} already running", node.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir().join("node.log"))
            .expect("node log");
        let child = Command::new("ip")
            .args(["netns", "exec", &namespace])
            .arg(&tenged)
            .arg("--config")
            .arg(&node.config)
            .env(
                "TENGE_LISTEN_ADDRESS",
                format!("/ip4/{}/tcp/{}", node.ip, node.p2p_port),
            )
            .env(
                "TENGE_API_ADDRESS",
                format!("{}:{}", node.ip, node.api_port),
            )
            .env("RUST_LOG", "info,libp2p=warn,yamux=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ip netns exec tenged");
        let pid = child.id();
        node.child = Some(child);
        node.paused = false;
        // `ip` execs tenged once it has entered the namespace; wait for that so that a signal
        // sent later is never caught by `ip` instead.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
            if exe.file_name().is_some_and(|n| n == "tenged") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: pid {pid} is still {} after 10 s",
                node.name,
                exe.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn pid(&self, i: usize) -> i32 {
        let child = self.nodes[i].child.as_ref().expect("node running");
        child.id() as i32
    }

    fn signal(&self, i: usize, signal: i32) {
        // SAFETY: kill(2) on a child process we started and have not reaped.
        let rc = unsafe { libc::kill(self.pid(i), signal) };
        assert_eq!(rc, 0, "kill {signal} {}", self.nodes[i].name);
    }

    /// SIGSTOP: the node freezes with its connections open.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, libc::SIGSTOP);
        self.nodes[i].paused = true;
    }

    /// SIGCONT.
    pub fn resume(&mut self, i: usize) {
        self.signal(i, libc::SIGCONT);
        self.nodes[i].paused = false;
    }

    /// SIGKILL, and reap: the node dies at once, mid-write if it was writing.
    pub fn kill(&mut self, i: usize) {
        self.signal(i, libc::SIGKILL);
        let mut child = self.nodes[i].child.take().expect("node running");
        child.wait().expect("reap node");
        self.nodes[i].paused = false;
    }

    pub fn client(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// The node's status, or None if it does not answer within [`API_TIMEOUT`].
    pub async fn status(&self, i: usize) -> Option<StatusView> {
        tokio::time::timeout(API_TIMEOUT, self.clients[i].status())
            .await
            .ok()?
            .ok()
    }

    pub async fn height(&self, i: usize) -> Option<u64> {
        self.status(i).await.map(|s| s.height)
    }

    /// Heights of `nodes`, None where a node does not answer.
    pub async fn heights(&self, nodes: &[usize]) -> Vec<Option<u64>> {
        let mut heights = Vec::with_capacity(nodes.len());
        for &i in nodes {
            heights.push(self.height(i).await);
        }
        heights
    }

    /// The highest height any of `nodes` reports.
    pub async fn max_height(&self, nodes: &[usize]) -> u64 {
        self.heights(nodes)
            .await
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0)
    }

    /// The HTTP status of `GET path` on node `i`, or None if it does not answer.
    pub async fn http_status(&self, i: usize, path: &str) -> Option<u16> {
        let url = format!("{}{path}", self.nodes[i].api());
        self.http
            .get(url)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    }

    /// The last lines of every node's log, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        for node in &self.nodes {
            let log = node.log();
            let tail: Vec<&str> = log.lines().rev().take(lines).collect();
            text += &format!(
                "\n--- {} ({}) ---\n{}",
                node.name,
                node.ip,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        text
    }

    /// Every index of a validator, and every index of a node.
    pub fn validator_indices(&self) -> Vec<usize> {
        (0..self.validators).collect()
    }

    pub fn all_indices(&self) -> Vec<usize> {
        (0..self.nodes.len()).collect()
    }
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                // SIGKILL ends a stopped process too.
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(dir) = self.dir.take()
            && (std::thread::panicking() || std::env::var_os("TENGE_KEEP_CLUSTER").is_some())
        {
            // Renamed out of the stale sweep's reach (which takes `tenge-ft-<dead pid>-*`).
            let path = dir.keep();
            let kept = path.with_file_name(format!(
                "kept-{}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let kept = match std::fs::rename(&path, &kept) {
                Ok(()) => kept,
                Err(_) => path,
            };
            eprintln!(
                "faults: cluster directory (logs, data) kept in {}",
                kept.display()
            );
        }
    }
}
