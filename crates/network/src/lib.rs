//! The network of a tenge node: libp2p (TCP, Noise, Yamux) behind a small interface of our own.
//! No libp2p type leaves this crate.
//!
//! - **Permissioned.** A node's identity is its ed25519 key; only the keys in its peer list may
//!   connect (others are refused at connection time, after the Noise handshake proves who they
//!   are).
//! - **Three channels**: consensus messages and transaction batches are one-way messages;
//!   block sync is request/response.
//! - **Bounded.** Every frame has a size limit checked before allocation; each peer has a message
//!   rate limit; the queue to the node is bounded and full means drop (consensus tolerates loss);
//!   peers that send garbage are penalised by the node and banned for a while when their score
//!   falls too low.
//!
//! The swarm lives in one task (the event loop); the rest of the program talks to it through a
//! cloneable [`NetworkClient`], in the manner of rust-libp2p's file-sharing example.

mod codec;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use codec::{Frame, FrameCodec};
pub use tenge_types::PublicKey;

/// What a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    Consensus,
    Transactions,
}

/// Limits, with their units in their names.
#[derive(Clone, Debug)]
pub struct NetworkLimits {
    /// Largest consensus message or transaction batch accepted or sent.
    pub max_message_bytes: usize,
    /// Largest sync request accepted.
    pub max_sync_request_bytes: usize,
    /// Largest sync response accepted or sent.
    pub max_sync_response_bytes: usize,
    /// Messages a peer may send per second before the excess is dropped.
    pub messages_per_second_per_peer: u32,
    /// Messages waiting for the node; beyond this, new ones are dropped.
    pub inbound_queue_messages: usize,
    /// How long a peer whose score fell too low stays banned.
    pub ban_seconds: u64,
    /// How long to wait for a sync response.
    pub request_timeout_ms: u64,
}

impl Default for NetworkLimits {
    fn default() -> NetworkLimits {
        NetworkLimits {
            max_message_bytes: tenge_types::consensus::MAX_CONSENSUS_MESSAGE_BYTES,
            max_sync_request_bytes: 1024,
            max_sync_response_bytes: 64 * 1024 * 1024,
            messages_per_second_per_peer: 2_000,
            inbound_queue_messages: 10_000,
            ban_seconds: 60,
            request_timeout_ms: 10_000,
        }
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

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// This node's ed25519 secret key: its identity on the network.
    pub secret_key: [u8; 32],
    /// Multiaddr to listen on, e.g. `/ip4/127.0.0.1/tcp/7100`.
    pub listen_address: String,
    pub peers: Vec<PeerConfig>,
    pub limits: NetworkLimits,
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
    allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    banned: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
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

/// Score below which a peer is banned; each penalty costs [`PENALTY`].
const BAN_SCORE: i32 = -50;
const PENALTY: i32 = 10;

struct PeerState {
    key: PublicKey,
    address: Option<Multiaddr>,
    score: i32,
    tokens: f64,
    refilled: Instant,
    banned_until: Option<Instant>,
}

/// Starts the network task. Returns the client and the stream of events for the node.
pub async fn start(
    config: NetworkConfig,
) -> Result<(NetworkClient, mpsc::Receiver<NetworkEvent>), NetworkError> {
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
    let mut peers: HashMap<PeerId, PeerState> = HashMap::new();
    for peer in &config.peers {
        let address = peer
            .address
            .as_ref()
            .map(|address| {
                address
                    .parse::<Multiaddr>()
                    .map_err(|e| NetworkError::Address {
                        address: address.clone(),
                        reason: e.to_string(),
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
                score: 0,
                tokens: f64::from(limits.messages_per_second_per_peer),
                refilled: Instant::now(),
                banned_until: None,
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
    let request_config = request_response::Config::default()
        .with_request_timeout(Duration::from_millis(limits.request_timeout_ms))
        .with_max_concurrent_streams(1_024);
    let protocol = |name: &'static str| [(StreamProtocol::new(name), ProtocolSupport::Full)];
    let mut allowed = allow_block_list::Behaviour::<allow_block_list::AllowedPeers>::default();
    for id in peers.keys() {
        allowed.allow_peer(*id);
    }
    let behaviour = Behaviour {
        allowed,
        banned: allow_block_list::Behaviour::default(),
        consensus: request_response::Behaviour::with_codec(
            message_codec.clone(),
            protocol("/tenge/consensus/1"),
            request_config.clone(),
        ),
        transactions: request_response::Behaviour::with_codec(
            message_codec,
            protocol("/tenge/transactions/1"),
            request_config.clone(),
        ),
        sync: request_response::Behaviour::with_codec(
            sync_codec,
            protocol("/tenge/sync/1"),
            request_config,
        ),
    };
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|config| config.with_idle_connection_timeout(Duration::from_secs(3_600)))
        .build();
    let listen: Multiaddr =
        config
            .listen_address
            .parse()
            .map_err(|e: libp2p::multiaddr::Error| NetworkError::Address {
                address: config.listen_address.clone(),
                reason: e.to_string(),
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
        connected: HashSet::new(),
        listening: Vec::new(),
        dropped: 0,
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

type PendingReply = BoxFuture<'static, (ResponseChannel<Vec<u8>>, Option<Vec<u8>>)>;
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
    connected: HashSet<PeerId>,
    listening: Vec<String>,
    /// Messages dropped because the node's queue was full or a peer exceeded its rate.
    dropped: u64,
}

impl EventLoop {
    async fn run(mut self) {
        let mut maintenance = tokio::time::interval(Duration::from_secs(1));
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
                Some((channel, bytes)) = self.pending_replies.next(), if !self.pending_replies.is_empty() => {
                    if let Some(bytes) = bytes {
                        // The requester may have gone away; that is not an error here.
                        let _ = self.swarm.behaviour_mut().sync.send_response(channel, bytes);
                    }
                }
                _ = maintenance.tick() => self.maintain(),
            }
        }
    }

    /// Dials peers that are not connected; lifts expired bans.
    fn maintain(&mut self) {
        let now = Instant::now();
        let mut to_dial = Vec::new();
        for (id, peer) in self.peers.iter_mut() {
            if peer.banned_until.is_some_and(|until| until <= now) {
                peer.banned_until = None;
                peer.score = 0;
                self.swarm.behaviour_mut().banned.unblock_peer(*id);
                info!(peer = %peer.key.short(), "ban lifted");
            }
            if peer.banned_until.is_none() && peer.address.is_some() && !self.connected.contains(id)
            {
                to_dial.push(*id);
            }
        }
        for id in to_dial {
            // Always with the configured address: libp2p forgets addresses after failed dials
            // (a peer that was down when we started), and a peer id alone cannot be dialled.
            let addresses: Vec<Multiaddr> = self.peers[&id].address.iter().cloned().collect();
            let options = libp2p::swarm::dial_opts::DialOpts::peer_id(id)
                .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                .addresses(addresses)
                .build();
            if let Err(error) = self.swarm.dial(options) {
                debug!(peer = %id, %error, "dial failed");
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
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.score -= PENALTY;
        warn!(peer = %peer.key.short(), score = peer.score, reason, "peer penalised");
        if peer.score <= BAN_SCORE && peer.banned_until.is_none() {
            peer.banned_until = Some(Instant::now() + Duration::from_secs(ban_seconds));
            warn!(peer = %peer.key.short(), ban_seconds, "peer banned");
            self.swarm.behaviour_mut().banned.block_peer(id);
        }
    }

    /// Token bucket per peer: true if the message may pass.
    fn admit(&mut self, id: &PeerId) -> bool {
        let rate = f64::from(self.limits.messages_per_second_per_peer);
        let Some(peer) = self.peers.get_mut(id) else {
            return false;
        };
        let now = Instant::now();
        peer.tokens =
            (peer.tokens + now.duration_since(peer.refilled).as_secs_f64() * rate).min(rate);
        peer.refilled = now;
        if peer.tokens >= 1.0 {
            peer.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn deliver(&mut self, event: NetworkEvent) {
        if self.events.try_send(event).is_err() {
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                warn!(
                    dropped = self.dropped,
                    "node queue full: inbound messages dropped"
                );
            }
        }
    }

    fn on_inbound(&mut self, peer: PeerId, channel: Channel, bytes: Vec<u8>) {
        let Some(from) = self.key_of(&peer) else {
            return;
        };
        if !self.admit(&peer) {
            self.dropped += 1;
            self.penalize(peer, "message rate above the limit");
            return;
        }
        self.deliver(NetworkEvent::Message {
            from,
            channel,
            bytes,
        });
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(%address, "listening");
                self.listening.push(address.to_string());
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                if self.connected.insert(peer_id)
                    && let Some(key) = self.key_of(&peer_id)
                {
                    info!(peer = %key.short(), "peer connected");
                    self.deliver(NetworkEvent::PeerConnected(key));
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0
                    && self.connected.remove(&peer_id)
                    && let Some(key) = self.key_of(&peer_id)
                {
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
            request_response::Event::InboundFailure { peer, error, .. } => {
                // Oversized or unreadable frames land here.
                if let request_response::InboundFailure::Io(error) = &error {
                    self.penalize(peer, &format!("bad {channel:?} frame: {error}"));
                } else {
                    debug!(%peer, %error, "inbound message failed");
                }
            }
            request_response::Event::OutboundFailure { peer, error, .. } => {
                debug!(%peer, %error, ?channel, "message not delivered");
            }
            _ => {}
        }
    }

    fn on_sync_event(&mut self, event: RequestEvent) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let Some(from) = self.key_of(&peer) else {
                        return;
                    };
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
                    if !self.admit(&peer) {
                        self.penalize(peer, "request rate above the limit");
                        return;
                    }
                    let (reply, answer) = oneshot::channel();
                    self.pending_replies
                        .push(Box::pin(async move { (channel, answer.await.ok()) }));
                    self.deliver(NetworkEvent::SyncRequest {
                        from,
                        bytes: request,
                        reply: SyncReply(reply),
                    });
                }
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
        let behaviour = match channel {
            Channel::Consensus => &mut self.swarm.behaviour_mut().consensus,
            Channel::Transactions => &mut self.swarm.behaviour_mut().transactions,
        };
        behaviour.send_request_with_addresses(&id, Frame::Bytes(bytes), addresses);
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
