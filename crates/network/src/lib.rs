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

mod codec;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::identity::Keypair;
use libp2p::metrics::Recorder as _;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{ConnectionId, DialError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, noise, ping,
    tcp, yamux,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use codec::{Frame, FrameCodec};
pub use tenge_types::PublicKey;
use tenge_types::address::{DnsFamily, Host, ListenAddress, PeerAddress};

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

/// libp2p's form of a parsed peer address.
fn peer_multiaddr(address: &PeerAddress) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    let host = match &address.host {
        Host::Ip(IpAddr::V4(ip)) => Protocol::Ip4(*ip),
        Host::Ip(IpAddr::V6(ip)) => Protocol::Ip6(*ip),
        Host::Dns { family, name } => {
            let name = name.clone().into();
            match family {
                DnsFamily::Ipv4 => Protocol::Dns4(name),
                DnsFamily::Ipv6 => Protocol::Dns6(name),
                DnsFamily::Any => Protocol::Dns(name),
            }
        }
    };
    Multiaddr::empty()
        .with(host)
        .with(Protocol::Tcp(address.tcp_port))
}

/// libp2p's form of a parsed listen address.
fn listen_multiaddr(address: ListenAddress) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    Multiaddr::empty()
        .with(match address.ip {
            IpAddr::V4(ip) => Protocol::Ip4(ip),
            IpAddr::V6(ip) => Protocol::Ip6(ip),
        })
        .with(Protocol::Tcp(address.tcp_port))
}

/// What a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Consensus,
    Transactions,
}

/// Limits, with their units in their names. Rates are token buckets that hold one second's worth
/// (the byte buckets at least one largest message), so short bursts pass.
#[derive(Clone, Debug)]
pub struct NetworkLimits {
    /// Largest consensus message or transaction batch accepted or sent.
    pub max_message_bytes: usize,
    /// Largest sync request accepted.
    pub max_sync_request_bytes: usize,
    /// Largest sync response accepted or sent.
    pub max_sync_response_bytes: usize,
    /// Consensus messages a peer may send per second; the excess is dropped and penalised.
    pub consensus_messages_per_second_per_peer: u32,
    /// Consensus bytes a peer may send per second; the excess is dropped and penalised.
    pub consensus_bytes_per_second_per_peer: u64,
    /// Transaction batches a peer may send per second; the excess is dropped, not penalised.
    pub transaction_batches_per_second_per_peer: u32,
    /// Transaction batch bytes a peer may send per second; the excess is dropped, not penalised.
    pub transaction_bytes_per_second_per_peer: u64,
    /// Sync requests a peer may send per second; the excess is refused, not penalised.
    pub sync_requests_per_second_per_peer: u32,
    /// Sync requests of one peer waiting for the node's answer; more are refused.
    pub max_pending_sync_replies_per_peer: usize,
    /// Messages of one channel sent to one peer and not yet acknowledged; more are dropped, so a
    /// slow or dead peer costs bounded memory and gossip cannot starve consensus of streams.
    pub max_outbound_messages_in_flight_per_peer: usize,
    /// Concurrent streams per connection for each message channel (consensus, transactions),
    /// both directions together.
    pub max_message_streams_per_connection: usize,
    /// Concurrent sync streams per connection, both directions together.
    pub max_sync_streams_per_connection: usize,
    /// Messages waiting for the node; beyond this, new ones are dropped.
    pub inbound_queue_messages: usize,
    /// Room in that queue kept for consensus messages: transaction batches and sync requests are
    /// dropped once fewer slots than this are free.
    pub inbound_queue_consensus_reserve_messages: usize,
    /// How long a banned peer stays banned.
    pub ban_seconds: u64,
    /// A peer's penalty points halve after this long, so occasional penalties never add up to a
    /// ban (five penalties within much less than this do).
    pub penalty_half_life_ms: u64,
    /// How long to wait for a sync response.
    pub request_timeout_ms: u64,
    /// Inbound connections still in their handshake; more are refused.
    pub max_pending_inbound_connections: u32,
    /// Established connections with one peer (2 lets both sides dial at once).
    pub max_established_connections_per_peer: u32,
    /// Established connections in total. Below `max_established_connections_per_peer` times the
    /// number of peers some listed peers can be refused (a warning at start says so).
    pub max_established_connections: u32,
    /// A connection that has not finished its Noise and Yamux handshake after this is dropped.
    pub handshake_timeout_ms: u64,
    /// How often each connection is pinged.
    pub ping_interval_ms: u64,
    /// A connection whose last answered ping is older than this is closed: the peer is gone.
    pub ping_timeout_ms: u64,
    /// A connection with no stream open for this long is closed.
    pub idle_connection_timeout_seconds: u64,
    /// First wait before redialling a configured peer after a failed dial; doubles per failure.
    pub redial_backoff_initial_ms: u64,
    /// Longest wait between dials of a configured peer.
    pub redial_backoff_max_ms: u64,
}

impl Default for NetworkLimits {
    fn default() -> NetworkLimits {
        NetworkLimits {
            max_message_bytes: tenge_types::consensus::MAX_CONSENSUS_MESSAGE_BYTES,
            max_sync_request_bytes: 1024,
            max_sync_response_bytes: 64 * 1024 * 1024,
            consensus_messages_per_second_per_peer: 2_000,
            consensus_bytes_per_second_per_peer: 64 * 1024 * 1024,
            transaction_batches_per_second_per_peer: 2_000,
            transaction_bytes_per_second_per_peer: 32 * 1024 * 1024,
            sync_requests_per_second_per_peer: 20,
            max_pending_sync_replies_per_peer: 4,
            max_outbound_messages_in_flight_per_peer: 64,
            max_message_streams_per_connection: 128,
            max_sync_streams_per_connection: 8,
            inbound_queue_messages: 10_000,
            inbound_queue_consensus_reserve_messages: 2_000,
            ban_seconds: 60,
            penalty_half_life_ms: 10_000,
            request_timeout_ms: 10_000,
            max_pending_inbound_connections: 16,
            max_established_connections_per_peer: 2,
            max_established_connections: 1_024,
            handshake_timeout_ms: 5_000,
            ping_interval_ms: 1_000,
            ping_timeout_ms: 3_000,
            idle_connection_timeout_seconds: 60,
            redial_backoff_initial_ms: 250,
            redial_backoff_max_ms: 8_000,
        }
    }
}

impl NetworkLimits {
    /// Refuses limits that would stop the network from working rather than bound it.
    pub fn check(&self) -> Result<(), NetworkError> {
        let invalid = |reason: &'static str| Err(NetworkError::Limits(reason));
        if self.consensus_messages_per_second_per_peer == 0
            || self.consensus_bytes_per_second_per_peer == 0
            || self.transaction_batches_per_second_per_peer == 0
            || self.transaction_bytes_per_second_per_peer == 0
            || self.sync_requests_per_second_per_peer == 0
        {
            return invalid("every rate must be positive");
        }
        if self.max_pending_sync_replies_per_peer == 0
            || self.max_outbound_messages_in_flight_per_peer == 0
            || self.max_message_streams_per_connection == 0
            || self.max_sync_streams_per_connection == 0
            || self.max_established_connections_per_peer == 0
            || self.max_established_connections == 0
            || self.max_pending_inbound_connections == 0
        {
            return invalid("every stream, connection and pending-reply limit must be positive");
        }
        if self.inbound_queue_consensus_reserve_messages >= self.inbound_queue_messages {
            return invalid("the consensus reserve must be smaller than the inbound queue");
        }
        if self.penalty_half_life_ms == 0 {
            return invalid("penalty_half_life_ms must be positive");
        }
        if self.ping_interval_ms == 0 || self.ping_timeout_ms <= self.ping_interval_ms {
            return invalid("ping_timeout_ms must exceed a positive ping_interval_ms");
        }
        if self.redial_backoff_initial_ms == 0
            || self.redial_backoff_max_ms < self.redial_backoff_initial_ms
        {
            return invalid("redial backoff: 0 < initial <= max");
        }
        Ok(())
    }
}

/// A peer this node may talk to.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    pub key: PublicKey,
    /// Where to dial it (a multiaddr such as `/ip4/127.0.0.1/tcp/7101`); peers without one are
    /// only accepted when they dial in.
    pub address: Option<String>,
}

#[derive(Clone)]
pub struct NetworkConfig {
    /// This node's ed25519 secret key: its identity on the network.
    pub secret_key: [u8; 32],
    /// Multiaddr to listen on, e.g. `/ip4/127.0.0.1/tcp/7100`.
    pub listen_address: String,
    pub peers: Vec<PeerConfig>,
    pub limits: NetworkLimits,
}

/// By hand, so that printing a config (a log line, a panic message) never prints the secret key.
impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("secret_key", &"<redacted>")
            .field("listen_address", &self.listen_address)
            .field("peers", &self.peers)
            .field("limits", &self.limits)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("invalid address `{address}`: {reason}")]
    Address { address: String, reason: String },
    #[error("invalid key: {0}")]
    Key(String),
    #[error("cannot listen on {address}: {reason}")]
    Listen { address: String, reason: String },
    #[error("transport setup failed: {0}")]
    Transport(String),
    #[error("peer {0} is not in the peer list")]
    UnknownPeer(PublicKey),
    #[error("request to {peer} failed: {reason}")]
    Request { peer: PublicKey, reason: String },
    #[error("the network task has stopped")]
    Stopped,
    #[error("invalid network limits: {0}")]
    Limits(&'static str),
}

/// What the network hands to the node.
#[derive(Debug)]
pub enum NetworkEvent {
    Message {
        from: PublicKey,
        channel: Channel,
        bytes: Vec<u8>,
    },
    SyncRequest {
        from: PublicKey,
        bytes: Vec<u8>,
        reply: SyncReply,
    },
    PeerConnected(PublicKey),
    PeerDisconnected(PublicKey),
}

/// Where the answer to a sync request goes.
#[derive(Debug)]
pub struct SyncReply(oneshot::Sender<Vec<u8>>);

impl SyncReply {
    pub fn send(self, bytes: Vec<u8>) {
        // The requester may be gone; nothing to do then.
        let _ = self.0.send(bytes);
    }
}

enum Command {
    Send {
        to: PublicKey,
        channel: Channel,
        bytes: Vec<u8>,
    },
    Broadcast {
        channel: Channel,
        bytes: Vec<u8>,
    },
    Request {
        to: PublicKey,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Vec<u8>, NetworkError>>,
    },
    Penalize {
        peer: PublicKey,
        reason: String,
    },
    Peers {
        reply: oneshot::Sender<Vec<PublicKey>>,
    },
    ListenAddresses {
        reply: oneshot::Sender<Vec<String>>,
    },
}

/// The handle the rest of the node uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetworkClient {
    commands: mpsc::Sender<Command>,
    local: PublicKey,
}

impl NetworkClient {
    pub fn local_key(&self) -> PublicKey {
        self.local
    }

    async fn command(&self, command: Command) -> Result<(), NetworkError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| NetworkError::Stopped)
    }

    /// Sends a one-way message; delivery is best effort.
    pub async fn send(
        &self,
        to: PublicKey,
        channel: Channel,
        bytes: Vec<u8>,
    ) -> Result<(), NetworkError> {
        self.command(Command::Send { to, channel, bytes }).await
    }

    /// Sends a one-way message to every peer.
    pub async fn broadcast(&self, channel: Channel, bytes: Vec<u8>) -> Result<(), NetworkError> {
        self.command(Command::Broadcast { channel, bytes }).await
    }

    /// Asks a peer for blocks and waits for its answer.
    pub async fn request(&self, to: PublicKey, bytes: Vec<u8>) -> Result<Vec<u8>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Request { to, bytes, reply }).await?;
        answer.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Reports a peer that sent something invalid.
    pub async fn penalize(&self, peer: PublicKey, reason: String) -> Result<(), NetworkError> {
        self.command(Command::Penalize { peer, reason }).await
    }

    /// Peers connected now.
    pub async fn peers(&self) -> Result<Vec<PublicKey>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Peers { reply }).await?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// The addresses this node listens on (useful with port 0).
    pub async fn listen_addresses(&self) -> Result<Vec<String>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::ListenAddresses { reply }).await?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    // First, so that a connection over a limit is refused before the others see it.
    limits: connection_limits::Behaviour,
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    banned: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    ping: ping::Behaviour,
    consensus: request_response::Behaviour<FrameCodec>,
    transactions: request_response::Behaviour<FrameCodec>,
    sync: request_response::Behaviour<FrameCodec>,
}

/// The libp2p peer id of an ed25519 key.
pub fn peer_id(key: &PublicKey) -> Result<PeerId, NetworkError> {
    let public = libp2p::identity::ed25519::PublicKey::try_from_bytes(&key.0)
        .map_err(|e| NetworkError::Key(format!("{key}: {e}")))?;
    Ok(libp2p::identity::PublicKey::from(public).to_peer_id())
}

/// Points per penalty, and the points at which a peer is banned: a fifth penalty soon after four
/// others. Points halve every `penalty_half_life_ms`, so a peer penalised less often than about
/// once per 0.36 half-lives (10 / (1 - 2^-0.36) < 45) is never banned.
const PENALTY_POINTS: f64 = 10.0;
const BAN_POINTS: f64 = 45.0;
/// How often bans, silent connections and dials are looked after.
const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(250);

/// `per_second` tokens a second, holding at most `capacity`.
struct TokenBucket {
    tokens: f64,
    capacity: f64,
    per_second: f64,
    refilled: Instant,
}

impl TokenBucket {
    fn new(per_second: f64, capacity: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: capacity,
            capacity,
            per_second,
            refilled: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.refilled = now;
    }

    /// Takes `amount` tokens if there are that many.
    fn take(&mut self, amount: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

/// What a peer may send on one message channel: messages and bytes; a message needs both.
struct ChannelBudget {
    messages: TokenBucket,
    bytes: TokenBucket,
}

impl ChannelBudget {
    fn new(
        messages_per_second: u32,
        bytes_per_second: u64,
        max_message_bytes: usize,
        now: Instant,
    ) -> ChannelBudget {
        let messages = f64::from(messages_per_second);
        let bytes = bytes_per_second as f64;
        ChannelBudget {
            messages: TokenBucket::new(messages, messages, now),
            // Room for at least one largest message, or a legal message could never pass.
            bytes: TokenBucket::new(bytes, bytes.max(max_message_bytes as f64), now),
        }
    }

    fn admit(&mut self, length: usize, now: Instant) -> bool {
        self.messages.refill(now);
        self.bytes.refill(now);
        let length = length as f64;
        if self.messages.tokens >= 1.0 && self.bytes.tokens >= length {
            self.messages.tokens -= 1.0;
            self.bytes.tokens -= length;
            true
        } else {
            false
        }
    }
}

struct PeerState {
    key: PublicKey,
    address: Option<Multiaddr>,
    /// Penalty points as of `penalised`; they decay from there.
    penalty_points: f64,
    penalised: Instant,
    banned_until: Option<Instant>,
    consensus: ChannelBudget,
    transactions: ChannelBudget,
    sync_requests: TokenBucket,
    pending_sync_replies: usize,
    consensus_in_flight: usize,
    transactions_in_flight: usize,
    /// Messages and requests from this peer dropped for its limits, and messages to it dropped
    /// because it did not keep up: counted for warnings that do not flood the log.
    dropped_inbound: u64,
    dropped_outbound: u64,
    next_dial: Instant,
    redial_backoff: Duration,
    /// Dials of this peer that failed since it was last connected: warnings name a peer that
    /// keeps failing without flooding the log.
    dial_failures: u64,
}

impl PeerState {
    fn in_flight(&mut self, channel: Channel) -> &mut usize {
        match channel {
            Channel::Consensus => &mut self.consensus_in_flight,
            Channel::Transactions => &mut self.transactions_in_flight,
        }
    }
}

/// Why messages were dropped, for `tenge_network_dropped_messages_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabels {
    /// `peer_over_limit` (inbound, the peer's rate or pending-reply limits),
    /// `peer_not_keeping_up` (outbound, too many unacknowledged), `node_queue_full` (inbound).
    reason: &'static str,
}

/// Why a dial of a configured peer failed, for `tenge_network_dial_failures_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialFailureLabels {
    /// `unresolved` (its DNS name did not resolve) or `unreachable` (anything else).
    reason: &'static str,
}

/// The network's metrics, in the node's one registry beside libp2p's own. Counters only: they
/// never go down, so `rate()` works on all of them.
struct NetworkMetrics {
    libp2p: libp2p::metrics::Metrics,
    dropped: Family<DropLabels, Counter>,
    dial_failures: Family<DialFailureLabels, Counter>,
    penalties: Counter,
    bans: Counter,
}

impl NetworkMetrics {
    fn new(registry: &mut Registry) -> NetworkMetrics {
        let libp2p = libp2p::metrics::Metrics::new(registry);
        let ours = registry.sub_registry_with_prefix("tenge_network");
        let dropped = Family::default();
        ours.register(
            "dropped_messages",
            "Messages dropped by the network layer, by reason",
            dropped.clone(),
        );
        let dial_failures = Family::default();
        ours.register(
            "dial_failures",
            "Failed dials of configured peers, by reason",
            dial_failures.clone(),
        );
        let penalties = Counter::default();
        ours.register(
            "penalties",
            "Penalties charged to peers (bad or excessive messages)",
            penalties.clone(),
        );
        let bans = Counter::default();
        ours.register("bans", "Peers banned for repeated penalties", bans.clone());
        NetworkMetrics {
            libp2p,
            dropped,
            dial_failures,
            penalties,
            bans,
        }
    }

    fn drop_message(&self, reason: &'static str) {
        self.dropped.get_or_create(&DropLabels { reason }).inc();
    }
}

/// True if a failed dial failed because a DNS name did not resolve. The resolver's error sits
/// under the transport's `io::Error` wrappers, whose `source()` skips a level, so each
/// `io::Error` is opened with `get_ref()`.
fn is_resolution_failure(error: &DialError) -> bool {
    let DialError::Transport(attempts) = error else {
        return false;
    };
    attempts.iter().any(|(_, error)| match error {
        libp2p::TransportError::Other(error) => {
            let mut current: Option<&(dyn std::error::Error + 'static)> =
                Some(error as &(dyn std::error::Error + 'static));
            // A bounded walk: error chains are short, and a cycle must not hang the network task.
            for _ in 0..16 {
                let Some(error) = current else {
                    return false;
                };
                if error.is::<libp2p::dns::ResolveError>() {
                    return true;
                }
                current = match error.downcast_ref::<std::io::Error>() {
                    Some(io) => io
                        .get_ref()
                        .map(|inner| inner as &(dyn std::error::Error + 'static)),
                    None => error.source(),
                };
            }
            false
        }
        libp2p::TransportError::MultiaddrNotSupported(_) => false,
    })
}

/// When the peer on a connection last answered a ping.
struct Liveness {
    peer: PeerId,
    answered: Instant,
    /// False if the peer does not speak ping: its liveness is then unknown, not false.
    watched: bool,
    closing: bool,
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

/// Where the DNS transport gets its resolver configuration: the host's, or (in tests) as if the
/// host had none, to check the fallback without touching `/etc`.
#[derive(Clone, Copy, Debug)]
enum SystemDnsConfig {
    Read,
    #[cfg(test)]
    Missing,
}

/// How names in peer addresses are resolved (docs/decisions.md D48, D54).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DnsResolution {
    /// `/etc/hosts`, then the name servers of `/etc/resolv.conf`.
    System,
    /// The host's resolver configuration could not be read (no `/etc/resolv.conf`, or one that
    /// lists no name server): `/etc/hosts` and `localhost` only, no name server asked. The node
    /// runs; peers at IP addresses and at names in `/etc/hosts` connect, any other name fails
    /// its dials as unresolved.
    HostsOnly,
}

/// The resolver used when the host has no resolver configuration: no name server (so no query
/// leaves for a server nobody configured, such as a public resolver), the hosts file still read.
fn hosts_only_resolver() -> (libp2p::dns::ResolverConfig, libp2p::dns::ResolverOpts) {
    (
        libp2p::dns::ResolverConfig::from_name_servers(Vec::new()),
        libp2p::dns::ResolverOpts::default(),
    )
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
    let mut peers: HashMap<PeerId, PeerState> = HashMap::new();
    for peer in &config.peers {
        let address = peer
            .address
            .as_ref()
            .map(|address| {
                PeerAddress::parse(address)
                    .map(|parsed| peer_multiaddr(&parsed))
                    .map_err(|error| NetworkError::Address {
                        address: address.clone(),
                        reason: error.to_string(),
                    })
            })
            .transpose()?;
        if peer.key == local {
            continue;
        }
        peers.insert(
            peer_id(&peer.key)?,
            PeerState {
                key: peer.key,
                address,
                penalty_points: 0.0,
                penalised: now,
                banned_until: None,
                consensus: ChannelBudget::new(
                    limits.consensus_messages_per_second_per_peer,
                    limits.consensus_bytes_per_second_per_peer,
                    limits.max_message_bytes,
                    now,
                ),
                transactions: ChannelBudget::new(
                    limits.transaction_batches_per_second_per_peer,
                    limits.transaction_bytes_per_second_per_peer,
                    limits.max_message_bytes,
                    now,
                ),
                sync_requests: TokenBucket::new(
                    f64::from(limits.sync_requests_per_second_per_peer),
                    f64::from(limits.sync_requests_per_second_per_peer),
                    now,
                ),
                pending_sync_replies: 0,
                consensus_in_flight: 0,
                transactions_in_flight: 0,
                dropped_inbound: 0,
                dropped_outbound: 0,
                next_dial: now,
                redial_backoff: Duration::from_millis(limits.redial_backoff_initial_ms),
                dial_failures: 0,
            },
        );
    }

    let message_codec = FrameCodec {
        max_request_bytes: limits.max_message_bytes,
        max_response_bytes: 16,
    };
    let sync_codec = FrameCodec {
        max_request_bytes: limits.max_sync_request_bytes,
        max_response_bytes: limits.max_sync_response_bytes,
    };
    let request_config = |streams: usize| {
        request_response::Config::default()
            .with_request_timeout(Duration::from_millis(limits.request_timeout_ms))
            .with_max_concurrent_streams(streams)
    };
    let protocol = |name: &'static str| [(StreamProtocol::new(name), ProtocolSupport::Full)];
    let mut allowed = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    for id in peers.keys() {
        allowed.allow_peer(*id);
    }
    let connection_limits = connection_limits::ConnectionLimits::default()
        .with_max_pending_incoming(Some(limits.max_pending_inbound_connections))
        .with_max_established_per_peer(Some(limits.max_established_connections_per_peer))
        .with_max_established(Some(limits.max_established_connections));
    let behaviour = Behaviour {
        limits: connection_limits::Behaviour::new(connection_limits),
        allowed,
        banned: allow_block_list::Behaviour::default(),
        ping: ping::Behaviour::new(
            ping::Config::new()
                .with_interval(Duration::from_millis(limits.ping_interval_ms))
                .with_timeout(Duration::from_millis(limits.ping_timeout_ms)),
        ),
        consensus: request_response::Behaviour::with_codec(
            message_codec.clone(),
            protocol("/tenge/consensus/1"),
            request_config(limits.max_message_streams_per_connection),
        ),
        transactions: request_response::Behaviour::with_codec(
            message_codec,
            protocol("/tenge/transactions/1"),
            request_config(limits.max_message_streams_per_connection),
        ),
        sync: request_response::Behaviour::with_codec(
            sync_codec,
            protocol("/tenge/sync/1"),
            request_config(limits.max_sync_streams_per_connection),
        ),
    };
    let idle_timeout = Duration::from_secs(limits.idle_connection_timeout_seconds);
    let metrics = NetworkMetrics::new(registry);
    let tcp_phase = || {
        libp2p::SwarmBuilder::with_existing_identity(keypair.clone())
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| NetworkError::Transport(e.to_string()))
    };
    // The rest of the build, the same whichever resolver the DNS transport got (the two
    // builders' types differ, so a function cannot take both).
    macro_rules! finish_swarm {
        ($builder:expr) => {
            $builder
                .with_bandwidth_metrics(registry)
                .with_behaviour(|_| behaviour)
                .map_err(|e| NetworkError::Transport(e.to_string()))?
                .with_swarm_config(|config| config.with_idle_connection_timeout(idle_timeout))
                .with_connection_timeout(Duration::from_millis(limits.handshake_timeout_ms))
                .build()
        };
    }
    // `/dns4`, `/dns6` and `/dns` addresses are resolved at every dial with the system's
    // resolver configuration (/etc/resolv.conf, /etc/hosts), docs/decisions.md D48. A host
    // without one still starts, resolving from /etc/hosts only (D54).
    let system = match system_dns {
        SystemDnsConfig::Read => tcp_phase()?.with_dns(),
        #[cfg(test)]
        SystemDnsConfig::Missing => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory (os error 2), as a test asked",
        )),
    };
    let (mut swarm, dns) = match system {
        Ok(builder) => (finish_swarm!(builder), DnsResolution::System),
        Err(error) => {
            warn!(%error,
                "cannot read this host's DNS resolver configuration (/etc/resolv.conf): peers \
                 addressed by DNS name resolve from /etc/hosts only, and dials of other names \
                 fail as unresolved; peers at IP addresses are not affected");
            let (resolver, options) = hosts_only_resolver();
            (
                finish_swarm!(tcp_phase()?.with_dns_config(resolver, options)),
                DnsResolution::HostsOnly,
            )
        }
    };
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
    for (id, peer) in &peers {
        if let Some(address) = &peer.address {
            swarm.add_peer_address(*id, address.clone());
        }
    }

    let (command_sender, commands) = mpsc::channel(4_096);
    let (event_sender, events) = mpsc::channel(limits.inbound_queue_messages);
    let event_loop = EventLoop {
        swarm,
        peers,
        limits,
        commands,
        events: event_sender,
        pending_requests: HashMap::new(),
        pending_replies: FuturesUnordered::new(),
        outbound_messages: HashMap::new(),
        connections: HashMap::new(),
        connected: HashSet::new(),
        listening: Vec::new(),
        dropped: 0,
        metrics,
        dns,
    };
    tokio::spawn(event_loop.run());
    Ok((
        NetworkClient {
            commands: command_sender,
            local,
        },
        events,
    ))
}

type PendingReply = BoxFuture<'static, (PeerId, ResponseChannel<Vec<u8>>, Option<Vec<u8>>)>;
type RequestEvent = request_response::Event<Frame, Vec<u8>>;
type RequestReply = oneshot::Sender<Result<Vec<u8>, NetworkError>>;

struct EventLoop {
    swarm: Swarm<Behaviour>,
    peers: HashMap<PeerId, PeerState>,
    limits: NetworkLimits,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetworkEvent>,
    pending_requests: HashMap<OutboundRequestId, (PublicKey, RequestReply)>,
    pending_replies: FuturesUnordered<PendingReply>,
    /// One-way messages sent and not yet acknowledged (request ids are per channel).
    outbound_messages: HashMap<(Channel, OutboundRequestId), PeerId>,
    connections: HashMap<ConnectionId, Liveness>,
    connected: HashSet<PeerId>,
    listening: Vec<String>,
    /// Messages dropped because the node's queue was full.
    dropped: u64,
    metrics: NetworkMetrics,
    /// How names are resolved, for the warning when one does not resolve.
    dns: DnsResolution,
}

impl EventLoop {
    async fn run(mut self) {
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        maintenance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => {
                        debug!("network client dropped: stopping the network task");
                        return;
                    }
                },
                Some((peer, channel, bytes)) = self.pending_replies.next(), if !self.pending_replies.is_empty() => {
                    if let Some(state) = self.peers.get_mut(&peer) {
                        state.pending_sync_replies = state.pending_sync_replies.saturating_sub(1);
                    }
                    if let Some(bytes) = bytes {
                        // The requester may have gone away; that is not an error here.
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
                    }
                }
                _ = maintenance.tick() => self.maintain(),
            }
        }
    }

    fn maintain(&mut self) {
        let now = Instant::now();
        for (id, peer) in self.peers.iter_mut() {
            if peer.banned_until.is_some_and(|until| until <= now) {
                peer.banned_until = None;
                peer.penalty_points = 0.0;
                peer.next_dial = now;
                self.swarm.behaviour_mut().banned.unblock_peer(*id);
                info!(peer = %peer.key.short(), "ban lifted");
            }
        }
        self.close_silent_connections(now);
        self.dial_due(now);
    }

    /// Closes connections whose peer has not answered a ping for `ping_timeout_ms`. A partition
    /// sends no reset and no FIN, only silence; without this such a peer would count as connected
    /// until TCP gives up, many minutes later.
    fn close_silent_connections(&mut self, now: Instant) {
        let timeout = Duration::from_millis(self.limits.ping_timeout_ms);
        let mut silent = Vec::new();
        for (id, connection) in self.connections.iter_mut() {
            if connection.watched
                && !connection.closing
                && now.saturating_duration_since(connection.answered) > timeout
            {
                connection.closing = true;
                silent.push((*id, connection.peer));
            }
        }
        for (id, peer) in silent {
            let key = self.key_of(&peer).map(|key| key.short());
            info!(peer = ?key, "no answer to pings: closing the connection");
            self.swarm.close_connection(id);
        }
    }

    /// Dials configured peers that are not connected, each at most once per its backoff.
    fn dial_due(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(id, peer)| {
                peer.banned_until.is_none()
                    && peer.address.is_some()
                    && peer.next_dial <= now
                    && !self.connected.contains(id)
            })
            .map(|(id, _)| *id)
            .collect();
        let backoff_max = Duration::from_millis(self.limits.redial_backoff_max_ms);
        for id in due {
            let peer = self.peers.get_mut(&id).expect("due peers are listed");
            // Always with the configured address: libp2p forgets addresses after failed dials
            // (a peer that was down when we started), and a peer id alone cannot be dialled.
            let options = libp2p::swarm::dial_opts::DialOpts::peer_id(id)
                .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                .addresses(peer.address.iter().cloned().collect())
                .build();
            // An error here mostly means a dial is still under way: look again next time.
            match self.swarm.dial(options) {
                Ok(()) => {
                    peer.next_dial = now + peer.redial_backoff;
                    peer.redial_backoff = (peer.redial_backoff * 2).min(backoff_max);
                }
                Err(error) => debug!(peer = %id, %error, "not dialled"),
            }
        }
    }

    fn key_of(&self, id: &PeerId) -> Option<PublicKey> {
        self.peers.get(id).map(|peer| peer.key)
    }

    fn id_of(&self, key: &PublicKey) -> Option<PeerId> {
        self.peers
            .iter()
            .find(|(_, peer)| peer.key == *key)
            .map(|(id, _)| *id)
    }

    fn penalize(&mut self, id: PeerId, reason: &str) {
        let ban_seconds = self.limits.ban_seconds;
        let half_life = Duration::from_millis(self.limits.penalty_half_life_ms).as_secs_f64();
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(peer.penalised).as_secs_f64();
        peer.penalty_points =
            peer.penalty_points * 0.5f64.powf(elapsed / half_life) + PENALTY_POINTS;
        peer.penalised = now;
        self.metrics.penalties.inc();
        warn!(peer = %peer.key.short(), points = peer.penalty_points, reason, "peer penalised");
        if peer.penalty_points >= BAN_POINTS && peer.banned_until.is_none() {
            self.metrics.bans.inc();
            peer.banned_until = Some(now + Duration::from_secs(ban_seconds));
            warn!(peer = %peer.key.short(), ban_seconds, "peer banned");
            self.swarm.behaviour_mut().banned.block_peer(id);
        }
    }

    /// Hands an event to the node unless its queue is too full. Consensus messages and
    /// connection changes may fill the whole queue; transaction batches and sync requests must
    /// leave the consensus reserve free, so that gossip or sync load never crowds consensus out.
    fn deliver(&mut self, event: NetworkEvent) {
        let reserve = match &event {
            NetworkEvent::Message {
                channel: Channel::Transactions,
                ..
            }
            | NetworkEvent::SyncRequest { .. } => {
                self.limits.inbound_queue_consensus_reserve_messages
            }
            _ => 0,
        };
        if self.events.capacity() <= reserve || self.events.try_send(event).is_err() {
            self.dropped += 1;
            self.metrics.drop_message("node_queue_full");
            if self.dropped.is_power_of_two() {
                warn!(
                    dropped = self.dropped,
                    "node queue full: inbound messages dropped"
                );
            }
        }
    }

    fn on_inbound(&mut self, peer: PeerId, channel: Channel, bytes: Vec<u8>) {
        let now = Instant::now();
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let from = state.key;
        let admitted = match channel {
            Channel::Consensus => state.consensus.admit(bytes.len(), now),
            Channel::Transactions => state.transactions.admit(bytes.len(), now),
        };
        if !admitted {
            state.dropped_inbound += 1;
            self.metrics.drop_message("peer_over_limit");
            if state.dropped_inbound.is_power_of_two() {
                warn!(peer = %from.short(), ?channel, dropped = state.dropped_inbound,
                    "peer over its rate limit: messages dropped");
            }
            // Honest validators stay far below the consensus limits, so exceeding them is abuse.
            // Gossip volume follows client load, which is honest; it costs only the message.
            if channel == Channel::Consensus {
                self.penalize(peer, "consensus message rate above the limit");
            }
            return;
        }
        self.deliver(NetworkEvent::Message {
            from,
            channel,
            bytes,
        });
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        self.metrics.libp2p.record(&event);
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listening.push(address.to_string());
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            } => {
                self.connections.insert(
                    connection_id,
                    Liveness {
                        peer: peer_id,
                        answered: Instant::now(),
                        watched: true,
                        closing: false,
                    },
                );
                if let Some(peer) = self.peers.get_mut(&peer_id) {
                    peer.redial_backoff =
                        Duration::from_millis(self.limits.redial_backoff_initial_ms);
                    peer.dial_failures = 0;
                }
                if self.connected.insert(peer_id)
                    && let Some(key) = self.key_of(&peer_id)
                {
                    info!(peer = %key.short(), "peer connected");
                    self.deliver(NetworkEvent::PeerConnected(key));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.connections.remove(&connection_id);
                if num_established == 0
                    && self.connected.remove(&peer_id)
                    && let Some(peer) = self.peers.get_mut(&peer_id)
                {
                    // Redial at once; the backoff only slows down dials that keep failing.
                    peer.next_dial = Instant::now();
                    let key = peer.key;
                    info!(peer = %key.short(), "peer disconnected");
                    self.deliver(NetworkEvent::PeerDisconnected(key));
                }
            }
            SwarmEvent::IncomingConnectionError {
                error,
                send_back_addr,
                ..
            } => {
                debug!(%send_back_addr, %error, "incoming connection refused");
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                self.on_dial_failure(peer_id, &error)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => self.on_ping(event),
            SwarmEvent::Behaviour(BehaviourEvent::Consensus(event)) => {
                self.on_message_event(Channel::Consensus, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Transactions(event)) => {
                self.on_message_event(Channel::Transactions, event)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            _ => {}
        }
    }

    /// A dial failed. A peer whose name does not resolve is named in a warning at once (and
    /// again at every doubling of its failures): a typo in a genesis address must not look like
    /// a silent network. Other failures are normal while peers start, so they are warned about
    /// only once a peer has kept failing (8 dials: at most about 25 s with the default backoff).
    fn on_dial_failure(&mut self, peer_id: Option<PeerId>, error: &DialError) {
        let Some(peer) = peer_id.and_then(|id| self.peers.get_mut(&id)) else {
            debug!(peer = ?peer_id, %error, "dial failed");
            return;
        };
        if matches!(
            error,
            DialError::Aborted | DialError::DialPeerConditionFalse(_) | DialError::Denied { .. }
        ) {
            debug!(peer = %peer.key.short(), %error, "dial not made");
            return;
        }
        peer.dial_failures += 1;
        let failures = peer.dial_failures;
        let address = peer
            .address
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        let key = peer.key.short();
        // The error text spans lines (one per address tried); one line reads better in a log.
        let reason = error.to_string().replace('\n', " ");
        if is_resolution_failure(error) {
            self.metrics
                .dial_failures
                .get_or_create(&DialFailureLabels {
                    reason: "unresolved",
                })
                .inc();
            if failures.is_power_of_two() {
                match self.dns {
                    DnsResolution::System => warn!(peer = %key, %address, failures, %reason,
                        "cannot dial peer: its address does not resolve (check the name in the \
                         genesis or config, and this host's /etc/hosts and /etc/resolv.conf)"),
                    DnsResolution::HostsOnly => warn!(peer = %key, %address, failures, %reason,
                        "cannot dial peer: its address does not resolve, and this host has no DNS \
                         resolver configuration (/etc/resolv.conf missing or without a nameserver): \
                         only names in /etc/hosts resolve; add the name there or configure a \
                         resolver and restart"),
                }
            }
            return;
        }
        self.metrics
            .dial_failures
            .get_or_create(&DialFailureLabels {
                reason: "unreachable",
            })
            .inc();
        if failures >= 8 && failures.is_power_of_two() {
            warn!(peer = %key, %address, failures, %reason, "cannot dial peer: dials keep failing");
        } else {
            debug!(peer = %key, %address, failures, %reason, "dial failed");
        }
    }

    fn on_ping(&mut self, event: ping::Event) {
        self.metrics.libp2p.record(&event);
        let Some(connection) = self.connections.get_mut(&event.connection) else {
            return;
        };
        match event.result {
            Ok(_) => connection.answered = Instant::now(),
            Err(ping::Failure::Unsupported) => {
                connection.watched = false;
                debug!(peer = %event.peer, "peer does not answer pings: its liveness is not watched");
            }
            // The silence check closes the connection once no ping has been answered for long.
            Err(error) => debug!(peer = %event.peer, %error, "ping failed"),
        }
    }

    /// A one-way message was acknowledged or failed: it no longer counts as in flight.
    fn message_done(&mut self, channel: Channel, request_id: OutboundRequestId) {
        if let Some(id) = self.outbound_messages.remove(&(channel, request_id))
            && let Some(peer) = self.peers.get_mut(&id)
        {
            let in_flight = peer.in_flight(channel);
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    fn on_message_event(&mut self, channel: Channel, event: RequestEvent) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request,
                        channel: reply,
                        ..
                    },
                ..
            } => {
                let behaviour = match channel {
                    Channel::Consensus => &mut self.swarm.behaviour_mut().consensus,
                    Channel::Transactions => &mut self.swarm.behaviour_mut().transactions,
                };
                let _ = behaviour.send_response(reply, Vec::new());
                match request {
                    Frame::Bytes(bytes) => self.on_inbound(peer, channel, bytes),
                    Frame::TooLarge { length } => self.penalize(
                        peer,
                        &format!("{channel:?} frame of {length} bytes over the limit"),
                    ),
                }
            }
            request_response::Event::Message {
                message: request_response::Message::Response { request_id, .. },
                ..
            } => self.message_done(channel, request_id),
            request_response::Event::InboundFailure { peer, error, .. } => {
                // Oversized or unreadable frames land here.
                if let request_response::InboundFailure::Io(error) = &error {
                    self.penalize(peer, &format!("bad {channel:?} frame: {error}"));
                } else {
                    debug!(%peer, %error, "inbound message failed");
                }
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(%peer, %error, ?channel, "message not delivered");
                self.message_done(channel, request_id);
            }
            _ => {}
        }
    }

    fn on_sync_event(&mut self, event: RequestEvent) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_sync_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((_, reply)) = self.pending_requests.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some((peer, reply)) = self.pending_requests.remove(&request_id) {
                    let _ = reply.send(Err(NetworkError::Request {
                        peer,
                        reason: error.to_string(),
                    }));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                error: request_response::InboundFailure::Io(error),
                ..
            } => {
                self.penalize(peer, &format!("bad sync frame: {error}"));
            }
            _ => {}
        }
    }

    fn on_sync_request(&mut self, peer: PeerId, request: Frame, channel: ResponseChannel<Vec<u8>>) {
        let request = match request {
            Frame::Bytes(bytes) => bytes,
            Frame::TooLarge { length } => {
                self.penalize(
                    peer,
                    &format!("sync request of {length} bytes over the limit"),
                );
                return;
            }
        };
        let now = Instant::now();
        let max_pending = self.limits.max_pending_sync_replies_per_peer;
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let from = state.key;
        // A catching-up node may ask quickly; refusing (dropping `channel` closes the stream, so
        // the requester fails at once and can ask another peer) bounds the cost without a penalty.
        if state.pending_sync_replies >= max_pending || !state.sync_requests.take(1.0, now) {
            state.dropped_inbound += 1;
            self.metrics.drop_message("peer_over_limit");
            if state.dropped_inbound.is_power_of_two() {
                warn!(peer = %from.short(), dropped = state.dropped_inbound,
                    pending = state.pending_sync_replies, "peer over its sync limits: requests refused");
            }
            return;
        }
        state.pending_sync_replies += 1;
        let (reply, answer) = oneshot::channel();
        // An answer later than the requester waits is useless, and a request the node never
        // answers must not hold one of the peer's slots for ever.
        let wait = Duration::from_millis(self.limits.request_timeout_ms);
        self.pending_replies.push(Box::pin(async move {
            let bytes = tokio::time::timeout(wait, answer)
                .await
                .ok()
                .and_then(Result::ok);
            (peer, channel, bytes)
        }));
        self.deliver(NetworkEvent::SyncRequest {
            from,
            bytes: request,
            reply: SyncReply(reply),
        });
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Send { to, channel, bytes } => match self.id_of(&to) {
                Some(id) => self.send(id, channel, bytes),
                None => debug!(peer = %to.short(), "send to a peer not in the list dropped"),
            },
            Command::Broadcast { channel, bytes } => {
                let ids: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(_, peer)| peer.banned_until.is_none())
                    .map(|(id, _)| *id)
                    .collect();
                for id in ids {
                    self.send(id, channel, bytes.clone());
                }
            }
            Command::Request { to, bytes, reply } => match self.id_of(&to) {
                Some(id) => {
                    let addresses = self.addresses(&id);
                    let request_id = self.swarm.behaviour_mut().sync.send_request_with_addresses(
                        &id,
                        Frame::Bytes(bytes),
                        addresses,
                    );
                    self.pending_requests.insert(request_id, (to, reply));
                }
                None => {
                    let _ = reply.send(Err(NetworkError::UnknownPeer(to)));
                }
            },
            Command::Penalize { peer, reason } => {
                if let Some(id) = self.id_of(&peer) {
                    self.penalize(id, &reason);
                }
            }
            Command::Peers { reply } => {
                let keys = self
                    .connected
                    .iter()
                    .filter_map(|id| self.key_of(id))
                    .collect();
                let _ = reply.send(keys);
            }
            Command::ListenAddresses { reply } => {
                let _ = reply.send(self.listening.clone());
            }
        }
    }

    fn send(&mut self, id: PeerId, channel: Channel, bytes: Vec<u8>) {
        if bytes.len() > self.limits.max_message_bytes {
            warn!(
                bytes = bytes.len(),
                "refusing to send a message over the size limit"
            );
            return;
        }
        let addresses = self.addresses(&id);
        let limit = self.limits.max_outbound_messages_in_flight_per_peer;
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let in_flight = peer.in_flight(channel);
        if *in_flight >= limit {
            peer.dropped_outbound += 1;
            self.metrics.drop_message("peer_not_keeping_up");
            if peer.dropped_outbound.is_power_of_two() {
                warn!(peer = %peer.key.short(), ?channel, dropped = peer.dropped_outbound,
                    "peer not keeping up: outbound messages dropped");
            }
            return;
        }
        *in_flight += 1;
        let behaviour = match channel {
            Channel::Consensus => &mut self.swarm.behaviour_mut().consensus,
            Channel::Transactions => &mut self.swarm.behaviour_mut().transactions,
        };
        let request_id = behaviour.send_request_with_addresses(&id, Frame::Bytes(bytes), addresses);
        self.outbound_messages.insert((channel, request_id), id);
    }

    /// The configured address of a peer, for dialling it if a message needs a connection.
    fn addresses(&self, id: &PeerId) -> Vec<Multiaddr> {
        self.peers
            .get(id)
            .and_then(|peer| peer.address.clone())
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{check_address, check_listen_address, listen_multiaddr, peer_multiaddr};
    use tenge_types::address::{ListenAddress, PeerAddress};

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

    /// libp2p reads back exactly the address we parsed: the multiaddr built from the parsed
    /// value is the one libp2p's own parser makes of the text.
    #[test]
    fn parsed_addresses_become_the_same_multiaddrs() {
        for text in [
            "/ip4/10.0.0.5/tcp/7100",
            "/ip6/2001:db8::7/tcp/65535",
            "/dns4/localhost/tcp/7100",
            "/dns6/validator-1.example.kz/tcp/7100",
            "/dns/validator-1.example.kz/tcp/7100",
        ] {
            let parsed = PeerAddress::parse(text).unwrap();
            assert_eq!(
                peer_multiaddr(&parsed),
                text.parse::<libp2p::Multiaddr>().unwrap()
            );
        }
        for text in ["/ip4/0.0.0.0/tcp/0", "/ip6/::/tcp/7100"] {
            let parsed = ListenAddress::parse(text).unwrap();
            assert_eq!(
                listen_multiaddr(parsed),
                text.parse::<libp2p::Multiaddr>().unwrap()
            );
        }
    }

    /// The fallback asks no name server (none was configured: no query may leave for one) and
    /// still reads the hosts file.
    #[test]
    fn the_fallback_resolver_has_no_name_server_and_reads_the_hosts_file() {
        let (resolver, options) = super::hosts_only_resolver();
        assert!(resolver.name_servers().is_empty());
        // `ResolveHosts` is not re-exported by libp2p; its variants are Always, Auto (the
        // default: read for a stub resolver like ours) and Never.
        assert_ne!(
            format!("{:?}", options.use_hosts_file),
            "Never",
            "the hosts file must be read"
        );
    }

    /// D54: a host without /etc/resolv.conf (simulated: nothing under /etc is touched) starts
    /// its network; a peer at a name the resolver answers without a server (`localhost`) is
    /// dialled and connects, and a name only a server could answer fails its dials as
    /// unresolved, counted and warned about, instead of the node refusing to start.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_resolver_configuration_the_node_starts_and_resolves_from_hosts_only() {
        use std::time::Duration;

        use super::{
            NetworkConfig, NetworkLimits, PeerConfig, SystemDnsConfig, start, start_with_dns,
        };
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
