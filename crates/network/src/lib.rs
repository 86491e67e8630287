//! The network of a tenge node: libp2p (TCP, Noise, Yamux) behind a small interface of our own.
//! No libp2p type leaves this crate.
//!
//! - **Permissioned.** A node's identity is its ed25519 key; only the keys in its peer list may
//!   connect (others are refused at connection time, after the Noise handshake proves who they
//!   are).
//! - **Three channels**: consensus messages and transaction batches are one-way messages;
//!   block sync is request/response.
//! - **Bounded.** Every frame has a size limit checked before allocation; each peer has a rate
//!   limit per channel, in messages and in bytes; the queue to the node is bounded and full means
//!   drop (consensus tolerates loss), with room kept for consensus messages. Gossip and sync
//!   requests over their limit are dropped without penalty (honest load can exceed them);
//!   consensus messages over theirs, and garbage reported by the node, are penalised. Penalties
//!   decay, so only sustained abuse leads to a ban.
//! - **Connections.** At most a few per peer and a bounded number of handshakes at a time; a ping
//!   on every connection closes it when the peer falls silent, so the connected peers are the
//!   live ones; configured peers are redialled with a bounded backoff.
//!
//! The swarm lives in one task (the event loop); the rest of the program talks to it through a
//! cloneable [`NetworkClient`], in the manner of rust-libp2p's file-sharing example.

mod behaviour;
mod client;
mod codec;
mod config;
mod error;
mod event_loop;
mod metrics;
mod peers;

use std::time::Instant;

use libp2p::PeerId;
use libp2p::identity::Keypair;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tracing::warn;

pub use client::{NetworkClient, NetworkEvent, SyncReply};
pub use config::{Channel, NetworkConfig, NetworkLimits, PeerConfig};
pub use error::NetworkError;
/// The peer book's sync-request admission, public so that the simulator runs the node's own
/// limits (its `sync-flood` behaviour).
pub use peers::{PeerBook, SyncAdmission};
pub use tenge_types::PublicKey;
use tenge_types::address::{ListenAddress, PeerAddress};

use behaviour::{SystemDnsConfig, build_swarm, listen_multiaddr, peer_multiaddr};
use event_loop::EventLoop;
use metrics::NetworkMetrics;

/// Checks a peer address as the node will dial it, with the one parser of addresses
/// ([`tenge_types::PeerAddress`], docs/decisions.md D55): an IP address or a DNS name and a TCP
/// port (`/ip4/10.0.0.5/tcp/7100`, `/ip6/::1/tcp/7100`, `/dns4/validator-1.cb.kz/tcp/7100`;
/// `/dns6` asks for IPv6 addresses only, `/dns` for either). A name is resolved at every dial
/// (D48).
pub fn check_address(address: &str) -> Result<(), String> {
    PeerAddress::parse(address)
        .map(drop)
        .map_err(|error| error.to_string())
}

/// Checks an address to listen on: an IP address (often `0.0.0.0` or `::`) and a TCP port. A
/// node listens on its own interfaces, so a DNS name has no meaning here.
pub fn check_listen_address(address: &str) -> Result<(), String> {
    ListenAddress::parse(address)
        .map(drop)
        .map_err(|error| error.to_string())
}

/// The libp2p peer id of an ed25519 key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NetworkError> {
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| NetworkError::Key(format!("{key}: {e}")))?;
    Ok(libp2p::identity::PublicKey::from(public).to_peer_id())
}

/// Where to dial a peer, parsed: `None` if it has no address (it is only accepted).
pub(crate) fn dial_address(peer: &PeerConfig) -> Result<Option<libp2p::Multiaddr>, NetworkError> {
    peer.address
        .as_ref()
        .map(|address| {
            PeerAddress::parse(address)
                .map(|parsed| peer_multiaddr(&parsed))
                .map_err(|error| NetworkError::Address {
                    address: address.clone(),
                    reason: error.to_string(),
                })
        })
        .transpose()
}

/// Starts the network task. Returns the client and the stream of events for the node.
pub async fn start(
    config: NetworkConfig,
) -> Result<(NetworkClient, mpsc::Receiver<NetworkEvent>), NetworkError> {
    start_with_metrics(config, &mut Registry::default()).await
}

/// [`start`], registering the network's metrics and libp2p's own (connections, bandwidth,
/// pings) in `registry`, so that one `/metrics` page shows them all.
pub async fn start_with_metrics(
    config: NetworkConfig,
    registry: &mut Registry,
) -> Result<(NetworkClient, mpsc::Receiver<NetworkEvent>), NetworkError> {
    start_with_dns(config, registry, SystemDnsConfig::Read).await
}

async fn start_with_dns(
    config: NetworkConfig,
    registry: &mut Registry,
    system_dns: SystemDnsConfig,
) -> Result<(NetworkClient, mpsc::Receiver<NetworkEvent>), NetworkError> {
    config.limits.check()?;
    let mut secret = config.secret_key;
    let keypair =
        Keypair::ed25519_from_bytes(&mut secret).map_err(|e| NetworkError::Key(e.to_string()))?;
    let local = PublicKey(
        keypair
            .public()
            .try_into_ed25519()
            .map_err(|e| NetworkError::Key(e.to_string()))?
            .to_bytes(),
    );
    let limits = config.limits.clone();
    let room = u64::from(limits.max_established_connections);
    let needed = u64::from(limits.max_established_connections_per_peer) * config.peers.len() as u64;
    if room < needed {
        warn!(
            max_established_connections = room,
            needed, "connection limit below what the listed peers may open: some may be refused"
        );
    }
    let now = Instant::now();
    let mut peers = PeerBook::new(limits.clone());
    for peer in &config.peers {
        let address = dial_address(peer)?;
        if peer.key == local {
            continue;
        }
        peers.insert(peer_id(&peer.key)?, peer.key, address, now);
    }

    let metrics = NetworkMetrics::new(registry);
    let (mut swarm, dns) = build_swarm(
        &keypair,
        &limits,
        peers.listed().map(|(id, _)| *id),
        registry,
        system_dns,
    )?;
    let listen = ListenAddress::parse(&config.listen_address)
        .map(listen_multiaddr)
        .map_err(|error| NetworkError::Address {
            address: config.listen_address.clone(),
            reason: error.to_string(),
        })?;
    swarm.listen_on(listen).map_err(|e| NetworkError::Listen {
        address: config.listen_address.clone(),
        reason: e.to_string(),
    })?;
    for (id, address) in peers.listed() {
        if let Some(address) = address {
            swarm.add_peer_address(*id, address.clone());
        }
    }

    let (command_sender, commands) = mpsc::channel(4_096);
    let (event_sender, events) = mpsc::channel(limits.inbound_queue_messages);
    let event_loop = EventLoop::new(swarm, peers, limits, commands, event_sender, metrics, dns);
    tokio::spawn(event_loop.run());
    Ok((
        NetworkClient {
            commands: command_sender,
            local,
        },
        events,
    ))
}

#[cfg(test)]
mod tests {
    use super::{check_address, check_listen_address};

    #[test]
    fn peer_addresses_are_an_ip_or_a_name_and_tcp() {
        for good in [
            "/ip4/127.0.0.1/tcp/7100",
            "/ip6/::1/tcp/7100",
            "/dns4/localhost/tcp/7100",
            "/dns6/validator-1.example.kz/tcp/7100",
            "/dns/validator-1.example.kz/tcp/7100",
        ] {
            assert_eq!(check_address(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("not-an-address", "not a multiaddr"),
            ("/dnsaddr/example.kz/tcp/7100", "/dnsaddr is not supported"),
            ("/ip4/127.0.0.1/udp/7100", "nothing more"),
            ("/ip4/127.0.0.1", "nothing more"),
            ("/dns4/localhost", "nothing more"),
            ("/dns4/localhost/udp/7100", "nothing more"),
            (
                "/ip4/127.0.0.1/tcp/7100/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "nothing more",
            ),
            (
                "/tcp/7100",
                "does not start with an IP address or a DNS name",
            ),
            // One rule with `tenge genesis` (D55): what no other host can dial is refused.
            ("/ip4/0.0.0.0/tcp/7100", "can dial"),
            ("/ip4/127.0.0.1/tcp/0", "not a TCP port"),
            ("/dns4/bad_name/tcp/7100", "not a DNS name"),
        ] {
            let error = check_address(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    /// D54: a host without /etc/resolv.conf (simulated: nothing under /etc is touched) starts
    /// its network; a peer at a name the resolver answers without a server (`localhost`) is
    /// dialled and connects, and a name only a server could answer fails its dials as
    /// unresolved, counted and warned about, instead of the node refusing to start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_resolver_configuration_the_node_starts_and_resolves_from_hosts_only() {
        use std::time::Duration;

        use super::behaviour::SystemDnsConfig;
        use super::{NetworkConfig, NetworkLimits, PeerConfig, start, start_with_dns};
        use prometheus_client::registry::Registry;
        use tenge_crypto::Keypair;

        let (a, b, c) = (
            Keypair::from_secret([41; 32]),
            Keypair::from_secret([42; 32]),
            Keypair::from_secret([43; 32]),
        );
        let listed = |key: &Keypair, address: Option<String>| PeerConfig {
            key: key.public_key(),
            address,
        };
        let (client_a, _events_a) = start(NetworkConfig {
            secret_key: a.secret_bytes(),
            listen_address: "/ip4/127.0.0.1/tcp/0".into(),
            peers: vec![listed(&b, None)],
            limits: NetworkLimits::default(),
        })
        .await
        .expect("A starts");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let address_a = loop {
            if let Some(address) = client_a.listen_addresses().await.unwrap().pop() {
                break address;
            }
            assert!(std::time::Instant::now() < deadline, "A never listened");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let port_a = address_a.rsplit('/').next().expect("a port");
        let mut registry = Registry::default();
        let (client_b, _events_b) = start_with_dns(
            NetworkConfig {
                secret_key: b.secret_bytes(),
                listen_address: "/ip4/127.0.0.1/tcp/0".into(),
                peers: vec![
                    listed(&a, Some(format!("/dns4/localhost/tcp/{port_a}"))),
                    listed(&c, Some("/dns4/validator-3.tenge.example/tcp/7100".into())),
                ],
                limits: NetworkLimits::default(),
            },
            &mut registry,
            SystemDnsConfig::Missing,
        )
        .await
        .expect("B starts without a resolver configuration");
        let unresolved = |registry: &Registry| {
            let mut text = String::new();
            prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
            text.lines()
                .find(|line| {
                    line.starts_with("tenge_network_dial_failures_total{reason=\"unresolved\"}")
                })
                .and_then(|line| line.rsplit(' ').next())
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let connected = client_b.peers().await.unwrap().contains(&a.public_key());
            if connected && unresolved(&registry) >= 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "B connected to A at /dns4/localhost: {connected}; unresolved dials of C: {}",
                unresolved(&registry)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[test]
    fn listen_addresses_are_ip_only() {
        for good in [
            "/ip4/0.0.0.0/tcp/7100",
            "/ip4/0.0.0.0/tcp/0",
            "/ip6/::/tcp/7100",
        ] {
            assert_eq!(check_listen_address(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("/dns4/localhost/tcp/7100", "not a DNS name"),
            ("/dns/localhost/tcp/7100", "not a DNS name"),
            ("not-an-address", "not a multiaddr"),
            ("/ip4/0.0.0.0/udp/7100", "nothing more"),
        ] {
            let error = check_listen_address(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
