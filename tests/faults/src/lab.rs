//! A private network of namespaces: one per node, and a hub namespace holding the bridge and
//! the test's own client address.
//!
//! Layout, for a lab with prefix `tenge-ft-<pid>-<tag>` and subnet `10.213.S.0/24`:
//! - `<prefix>-hub`: bridge `br0` with address `10.213.S.254` (the test client), and one veth
//!   end `v<i>` per node enslaved to it;
//! - `<prefix>-<i>`: node i, its veth end `eth0` with address `10.213.S.<i+1>`, and `lo`.
//!
//! Nothing here has a default route, and the root namespace gets no interface or route: no packet
//! of a lab can leave it. Faults are nftables tables inside a node's namespace; they always let
//! the test client through, so that the test can watch a node it has cut off.

use std::fs::File;
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};

/// Every lab's namespaces start with this; the stale sweep removes only these.
pub const PREFIX: &str = "tenge-ft-";

/// Why a lab cannot be used on this machine (the tests then skip) or an operation failed.
#[derive(Debug)]
pub struct LabError(pub String);

impl std::fmt::Display for LabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Runs a command, optionally feeding `stdin`; returns stdout, or the command and its stderr.
pub fn command(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
    let describe = || format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| LabError(format!("cannot run `{}`: {e}", describe())))?;
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        pipe.write_all(text.as_bytes())
            .map_err(|e| LabError(format!("`{}`: writing stdin: {e}", describe())))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| LabError(format!("`{}`: {e}", describe())))?;
    if !output.status.success() {
        return Err(LabError(format!(
            "`{}` failed ({}): {}",
            describe(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Random bytes from the kernel (no randomness crate for a test's names and seeds).
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom readable");
    u64::from_le_bytes(bytes)
}

/// Why this machine cannot run the suite, if it cannot: not root, no `ip netns`, no `nft`.
pub fn unavailable_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN".into());
    }
    if let Err(e) = command("nft", &["--version"], None) {
        return Some(format!(
            "nft unavailable (install the nftables package): {e}"
        ));
    }
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    if let Err(e) = command("ip", &["netns", "add", &probe], None) {
        return Some(format!("`ip netns` unavailable: {e}"));
    }
    let usable = command(
        "ip",
        &["netns", "exec", &probe, "nft", "list", "ruleset"],
        None,
    );
    let _ = command("ip", &["netns", "del", &probe], None);
    if let Err(e) = usable {
        return Some(format!("nftables unusable inside a namespace: {e}"));
    }
    None
}

/// Whether `name` (`tenge-ft-<pid>-...`) belongs to a test process that is gone.
fn stale(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let owner: Option<u32> = rest.split('-').next().and_then(|p| p.parse().ok());
    !owner.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes the namespaces (killing the processes in them) and devnet directories of labs whose
/// test process is gone, for example killed by a CI timeout before its guards ran.
pub fn sweep_stale() {
    for entry in std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if stale(&name) {
            eprintln!("faults: removing stale namespace {name}");
            remove_namespace(&name);
        }
    }
    let temp = std::env::temp_dir();
    for entry in std::fs::read_dir(&temp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if stale(&name) && entry.path().join("genesis.json").exists() {
            eprintln!(
                "faults: removing stale devnet directory {}",
                entry.path().display()
            );
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                eprintln!("faults: {e}");
            }
        }
    }
}

/// Kills every process in the namespace, then removes it (its veth ends and bridge go with it).
fn remove_namespace(name: &str) {
    if let Ok(pids) = command("ip", &["netns", "pids", name], None) {
        let own = std::process::id() as i32;
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter(|&pid| pid != own)
        {
            // SAFETY: kill(2); the pid was just listed as living in our own test namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if let Err(e) = command("ip", &["netns", "del", name], None) {
        eprintln!("faults: {e}");
    }
}

/// A packet filter on one node, as seen from that node. Traffic with the test client always
/// passes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Nothing arrives from or leaves for any other node.
    Isolated,
    /// Nothing arrives from or leaves for these addresses.
    Cut(Vec<Ipv4Addr>),
    /// Nothing arrives from other nodes; everything this node sends leaves (a one-way link).
    Deaf,
    /// Each packet arriving from another node is dropped with this probability, in percent.
    RandomLoss { percent: u8 },
}

impl Filter {
    /// The nft rules of the input and output chains.
    fn rules(&self) -> (String, String) {
        match self {
            Filter::Isolated => ("drop".into(), "drop".into()),
            Filter::Cut(addresses) => {
                let set = addresses
                    .iter()
                    .map(Ipv4Addr::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!("ip saddr {{ {set} }} drop"),
                    format!("ip daddr {{ {set} }} drop"),
                )
            }
            Filter::Deaf => ("drop".into(), String::new()),
            Filter::RandomLoss { percent } => {
                assert!(*percent < 100, "nft numgen compares against 0..99");
                (
                    format!("numgen random mod 100 < {percent} drop"),
                    String::new(),
                )
            }
        }
    }
}

/// The namespaces, bridge and veths of one test. Dropping it kills whatever runs inside and
/// removes them all.
pub struct Lab {
    pub prefix: String,
    /// The third octet of `10.213.S.0/24`.
    pub subnet: u8,
    nodes: usize,
    /// Namespaces created so far, removed in reverse on drop (also after a failed `create`).
    created: Vec<String>,
}

impl Lab {
    pub fn create(nodes: usize) -> Result<Lab, LabError> {
        assert!(
            (1..=200).contains(&nodes),
            "addresses .1 to .200 are for nodes"
        );
        let random = random_u64();
        let mut lab = Lab {
            prefix: format!("{PREFIX}{}-{:04x}", std::process::id(), random & 0xffff),
            subnet: (random >> 16) as u8,
            nodes,
            created: Vec::new(),
        };
        let hub = lab.hub();
        lab.add_namespace(&hub)?;
        let client = format!("{}/24", lab.client_ip());
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["link", "add", "br0", "type", "bridge"],
            vec!["addr", "add", &client, "dev", "br0"],
            vec!["link", "set", "br0", "up"],
        ] {
            lab.ip_in(&hub, &args)?;
        }
        for i in 0..nodes {
            let namespace = lab.namespace(i);
            lab.add_namespace(&namespace)?;
            let hub_end = format!("v{i}");
            let address = format!("{}/24", lab.node_ip(i));
            lab.ip_in(
                &hub,
                &[
                    "link", "add", &hub_end, "type", "veth", "peer", "name", "eth0", "netns",
                    &namespace,
                ],
            )?;
            lab.ip_in(&hub, &["link", "set", &hub_end, "master", "br0", "up"])?;
            lab.ip_in(&namespace, &["addr", "add", &address, "dev", "eth0"])?;
            lab.ip_in(&namespace, &["link", "set", "eth0", "up"])?;
            lab.ip_in(&namespace, &["link", "set", "lo", "up"])?;
        }
        Ok(lab)
    }

    fn add_namespace(&mut self, name: &str) -> Result<(), LabError> {
        command("ip", &["netns", "add", name], None)?;
        self.created.push(name.to_string());
        Ok(())
    }

    fn ip_in(&self, namespace: &str, args: &[&str]) -> Result<String, LabError> {
        let mut all = vec!["-n", namespace];
        all.extend_from_slice(args);
        command("ip", &all, None)
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// The namespace of the bridge and the test client.
    pub fn hub(&self) -> String {
        format!("{}-hub", self.prefix)
    }

    pub fn namespace(&self, node: usize) -> String {
        assert!(node < self.nodes);
        format!("{}-{node}", self.prefix)
    }

    pub fn node_ip(&self, node: usize) -> Ipv4Addr {
        assert!(node < self.nodes);
        Ipv4Addr::new(10, 213, self.subnet, node as u8 + 1)
    }

    pub fn client_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.subnet, 254)
    }

    /// Moves the calling thread into the hub namespace: every socket it opens afterwards is on
    /// the lab's bridge, as the test client. Other threads are not affected.
    pub fn enter_hub(hub: &str) -> Result<(), LabError> {
        let path = format!("/run/netns/{hub}");
        let file = File::open(&path).map_err(|e| LabError(format!("open {path}: {e}")))?;
        // SAFETY: setns(2) on a namespace file we hold open; it changes only this thread's
        // network namespace, which is allowed in a multi-threaded process.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(LabError(format!(
                "setns {path}: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(())
    }

    /// Replaces node `node`'s fault filter (atomically: one nft transaction).
    pub fn set_filter(&self, node: usize, filter: &Filter) -> Result<(), LabError> {
        let (input, output) = filter.rules();
        let client = self.client_ip();
        let script = format!(
            "table inet tenge_fault\n\
             delete table inet tenge_fault\n\
             table inet tenge_fault {{\n\
             \tchain input {{\n\
             \t\ttype filter hook input priority 0; policy accept;\n\
             \t\tiif \"lo\" accept\n\
             \t\tip saddr {client} accept\n\
             \t\t{input}\n\
             \t}}\n\
             \tchain output {{\n\
             \t\ttype filter hook output priority 0; policy accept;\n\
             \t\toif \"lo\" accept\n\
             \t\tip daddr {client} accept\n\
             \t\t{output}\n\
             \t}}\n\
             }}\n"
        );
        command(
            "ip",
            &["netns", "exec", &self.namespace(node), "nft", "-f", "-"],
            Some(&script),
        )
        .map(drop)
    }

    /// Removes node `node`'s fault filter, if it has one.
    pub fn clear_filter(&self, node: usize) -> Result<(), LabError> {
        command(
            "ip",
            &["netns", "exec", &self.namespace(node), "nft", "-f", "-"],
            Some("table inet tenge_fault\ndelete table inet tenge_fault\n"),
        )
        .map(drop)
    }

    pub fn clear_all_filters(&self) -> Result<(), LabError> {
        (0..self.nodes).try_for_each(|i| self.clear_filter(i))
    }

    /// Cuts `nodes` off at the bridge, as a pulled cable would: the bridge forwards nothing from
    /// or to their ports, silently, while their traffic with the test client (local to the
    /// bridge, not forwarded) passes. Nothing changes inside the nodes' own namespaces, so their
    /// sends and dials fail only by timing out. Replaces any earlier cut; `&[]` heals.
    pub fn cut_at_bridge(&self, nodes: &[usize]) -> Result<(), LabError> {
        let mut script =
            String::from("table bridge tenge_fault\ndelete table bridge tenge_fault\n");
        if !nodes.is_empty() {
            let ports = nodes
                .iter()
                .map(|i| {
                    assert!(*i < self.nodes);
                    format!("\"v{i}\"")
                })
                .collect::<Vec<_>>()
                .join(", ");
            script += &format!(
                "table bridge tenge_fault {{\n\
                 \tchain forward {{\n\
                 \t\ttype filter hook forward priority 0; policy accept;\n\
                 \t\tiifname {{ {ports} }} drop\n\
                 \t\toifname {{ {ports} }} drop\n\
                 \t}}\n\
                 }}\n"
            );
        }
        command(
            "ip",
            &["netns", "exec", &self.hub(), "nft", "-f", "-"],
            Some(&script),
        )
        .map(drop)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Node namespaces first: deleting one takes its veth pair, and so the hub's end, along.
        for name in self.created.iter().rev() {
            remove_namespace(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_always_let_the_client_through_and_match_their_model() {
        let (input, output) = Filter::Cut(vec![Ipv4Addr::new(10, 213, 1, 3)]).rules();
        assert_eq!(input, "ip saddr { 10.213.1.3 } drop");
        assert_eq!(output, "ip daddr { 10.213.1.3 } drop");
        assert_eq!(Filter::Deaf.rules().1, "");
        assert_eq!(
            Filter::RandomLoss { percent: 15 }.rules().0,
            "numgen random mod 100 < 15 drop"
        );
    }
}
