//! What the network is told at start: the peer list, this node's key and address, and the
//! limits, with their units in their names.

use std::fmt;

use crate::{NetworkError, PublicKey};

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

impl PeerConfig {
    /// The genesis validators, each dialled at the address the genesis gives it: every node's
    /// peer list starts here (observers are added from the node's own configuration).
    pub fn genesis_validators(genesis: &tenge_types::Genesis) -> Vec<PeerConfig> {
        genesis
            .validators
            .iter()
            .map(|validator| PeerConfig {
                key: validator.consensus_key,
                address: Some(validator.address.clone()),
            })
            .collect()
    }
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
