//! The one task that owns the swarm: it turns swarm events into [`NetworkEvent`]s for the node
//! and the node's [`Command`]s into swarm calls, reading the clock and carrying out what the
//! [`PeerBook`] decides (refusing, penalising, banning, dialling), with its log lines and
//! metrics.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::metrics::Recorder as _;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::{ConnectionId, DialError, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Swarm, ping};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::behaviour::{Behaviour, BehaviourEvent, DnsResolution};
use crate::client::{Command, NetworkEvent, SyncReply};
use crate::codec::Frame;
use crate::metrics::{DialFailureLabels, NetworkMetrics};
use crate::peers::{Admission, Outbound, PeerBook, Penalty, SyncAdmission};
use crate::{Channel, NetworkError, NetworkLimits, PeerConfig, PublicKey};

/// How often bans, silent connections and dials are looked after.
const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(250);

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

type PendingReply = BoxFuture<'static, (PeerId, ResponseChannel<Vec<u8>>, Option<Vec<u8>>)>;
type RequestEvent = request_response::Event<Frame, Vec<u8>>;
type RequestReply = oneshot::Sender<Result<Vec<u8>, NetworkError>>;

pub(crate) struct EventLoop {
    swarm: Swarm<Behaviour>,
    peers: PeerBook,
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
    /// The peers listed at start (the configuration's): never unlisted while running.
    configured: HashSet<PeerId>,
    /// The peers listed while running (observers admitted on chain), and the version of the
    /// list they came from: an older list arriving late is ignored.
    admitted: HashSet<PeerId>,
    admitted_version: Option<u64>,
}

impl EventLoop {
    pub(crate) fn new(
        swarm: Swarm<Behaviour>,
        peers: PeerBook,
        limits: NetworkLimits,
        commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<NetworkEvent>,
        metrics: NetworkMetrics,
        dns: DnsResolution,
    ) -> EventLoop {
        let configured = peers.listed().map(|(id, _)| *id).collect();
        EventLoop {
            swarm,
            configured,
            admitted: HashSet::new(),
            admitted_version: None,
            peers,
            limits,
            commands,
            events,
            pending_requests: HashMap::new(),
            pending_replies: FuturesUnordered::new(),
            outbound_messages: HashMap::new(),
            connections: HashMap::new(),
            connected: HashSet::new(),
            listening: Vec::new(),
            dropped: 0,
            metrics,
            dns,
        }
    }

    pub(crate) async fn run(mut self) {
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
                    self.peers.sync_reply_done(&peer);
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
        for (id, key) in self.peers.lift_expired_bans(now) {
            self.swarm.behaviour_mut().banned.unblock_peer(id);
            info!(peer = %key.short(), "ban lifted");
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
            let key = self.peers.key_of(&peer).map(|key| key.short());
            info!(peer = ?key, "no answer to pings: closing the connection");
            self.swarm.close_connection(id);
        }
    }

    /// Dials configured peers that are not connected, each at most once per its backoff.
    fn dial_due(&mut self, now: Instant) {
        let due = self
            .peers
            .due_for_dial(now, |id| self.connected.contains(id));
        for id in due {
            // Always with the configured address: libp2p forgets addresses after failed dials
            // (a peer that was down when we started), and a peer id alone cannot be dialled.
            let options = libp2p::swarm::dial_opts::DialOpts::peer_id(id)
                .condition(libp2p::swarm::dial_opts::PeerCondition::DisconnectedAndNotDialing)
                .addresses(self.addresses(&id))
                .build();
            // An error here mostly means a dial is still under way: look again next time.
            match self.swarm.dial(options) {
                Ok(()) => self.peers.dialled(&id, now),
                Err(error) => debug!(peer = %id, %error, "not dialled"),
            }
        }
    }

    fn penalize(&mut self, id: PeerId, reason: &str) {
        if let Some(penalty) = self.peers.penalize(&id, Instant::now()) {
            self.penalized(id, penalty, reason);
        }
    }

    /// Counts and logs a penalty the peer book charged, and blocks the peer if it banned it.
    fn penalized(&mut self, id: PeerId, penalty: Penalty, reason: &str) {
        self.metrics.penalties.inc();
        warn!(peer = %penalty.key.short(), points = penalty.points, reason, "peer penalised");
        if penalty.banned {
            self.metrics.bans.inc();
            let ban_seconds = self.limits.ban_seconds;
            warn!(peer = %penalty.key.short(), ban_seconds, "peer banned");
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
        match self
            .peers
            .admit_message(&peer, channel, bytes.len(), Instant::now())
        {
            Admission::Unlisted => {}
            Admission::Admitted { from } => self.deliver(NetworkEvent::Message {
                from,
                channel,
                bytes,
            }),
            Admission::OverLimit {
                from,
                dropped,
                penalty,
            } => {
                self.metrics.drop_message("peer_over_limit");
                if dropped.is_power_of_two() {
                    warn!(peer = %from.short(), ?channel, dropped,
                        "peer over its rate limit: messages dropped");
                }
                if let Some(penalty) = penalty {
                    self.penalized(peer, penalty, "consensus message rate above the limit");
                }
            }
        }
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
                self.peers.connected(&peer_id);
                if self.connected.insert(peer_id)
                    && let Some(key) = self.peers.key_of(&peer_id)
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
                    && let Some(key) = self.peers.disconnected(&peer_id, Instant::now())
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
        let Some((id, key)) = peer_id.and_then(|id| self.peers.key_of(&id).map(|key| (id, key)))
        else {
            debug!(peer = ?peer_id, %error, "dial failed");
            return;
        };
        if matches!(
            error,
            DialError::Aborted | DialError::DialPeerConditionFalse(_) | DialError::Denied { .. }
        ) {
            debug!(peer = %key.short(), %error, "dial not made");
            return;
        }
        let failure = self
            .peers
            .dial_failed(&id)
            .expect("a listed peer has a dial record");
        let failures = failure.failures;
        let address = failure
            .address
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        let key = failure.key.short();
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
        if let Some(id) = self.outbound_messages.remove(&(channel, request_id)) {
            self.peers.outbound_done(&id, channel);
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
        let from = match self.peers.admit_sync_request(&peer, Instant::now()) {
            SyncAdmission::Unlisted => return,
            SyncAdmission::Admitted { from } => from,
            // A catching-up node may ask quickly; refusing (dropping `channel` closes the
            // stream, so the requester fails at once and can ask another peer) bounds the cost
            // without a penalty.
            SyncAdmission::Refused {
                from,
                dropped,
                pending,
            } => {
                self.metrics.drop_message("peer_over_limit");
                if dropped.is_power_of_two() {
                    warn!(peer = %from.short(), dropped, pending,
                        "peer over its sync limits: requests refused");
                }
                return;
            }
        };
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
            Command::Send { to, channel, bytes } => match self.peers.id_of(&to) {
                Some(id) => self.send(id, channel, bytes),
                None => debug!(peer = %to.short(), "send to a peer not in the list dropped"),
            },
            Command::Broadcast { channel, bytes } => {
                for id in self.peers.unbanned() {
                    self.send(id, channel, bytes.clone());
                }
            }
            Command::Request { to, bytes, reply } => match self.peers.id_of(&to) {
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
                if let Some(id) = self.peers.id_of(&peer) {
                    self.penalize(id, &reason);
                }
            }
            Command::Peers { reply } => {
                let keys = self
                    .connected
                    .iter()
                    .filter_map(|id| self.peers.key_of(id))
                    .collect();
                let _ = reply.send(keys);
            }
            Command::ListenAddresses { reply } => {
                let _ = reply.send(self.listening.clone());
            }
            Command::Admit {
                version,
                peers,
                reply,
            } => {
                let _ = reply.send(self.admit(version, peers));
            }
        }
    }

    /// Makes `peers` the peers listed besides the configured ones: newcomers are listed, those
    /// no longer admitted are unlisted. Every peer is checked before anything changes.
    fn admit(&mut self, version: u64, peers: Vec<PeerConfig>) -> Result<(), NetworkError> {
        if self
            .admitted_version
            .is_some_and(|current| current >= version)
        {
            return Ok(());
        }
        let mut wanted = HashMap::new();
        for peer in peers {
            let id = crate::peer_id(&peer.key)?;
            let address = crate::dial_address(&peer)?;
            wanted.insert(id, (peer.key, address));
        }
        self.admitted_version = Some(version);
        let gone: Vec<PeerId> = self
            .admitted
            .iter()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            self.admitted.remove(&id);
            self.unlist(id);
        }
        for (id, (key, address)) in wanted {
            if id == *self.swarm.local_peer_id() || self.configured.contains(&id) {
                continue;
            }
            if self.admitted.insert(id) {
                self.list(id, key, address);
            }
        }
        Ok(())
    }

    fn list(&mut self, id: PeerId, key: PublicKey, address: Option<Multiaddr>) {
        if let Some(address) = &address {
            self.swarm.add_peer_address(id, address.clone());
        }
        self.peers.insert(id, key, address, Instant::now());
        self.swarm.behaviour_mut().allowed.allow_peer(id);
        info!(peer = %key.short(), "peer listed");
    }

    fn unlist(&mut self, id: PeerId) {
        let Some(key) = self.peers.remove(&id) else {
            return;
        };
        // Closes its connections; their close events find it unlisted, so the node hears of the
        // disconnection here. A ban goes with the listing (the allow list keeps the peer out
        // now): bans are lifted by walking the listed peers, so a ban left behind would outlive
        // a later listing for ever.
        let behaviour = self.swarm.behaviour_mut();
        behaviour.allowed.disallow_peer(id);
        behaviour.banned.unblock_peer(id);
        if self.connected.remove(&id) {
            self.deliver(NetworkEvent::PeerDisconnected(key));
        }
        info!(peer = %key.short(), "peer unlisted: its connections are closed");
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
        match self.peers.reserve_outbound(&id, channel) {
            Outbound::Unlisted => return,
            Outbound::NotKeepingUp { key, dropped } => {
                self.metrics.drop_message("peer_not_keeping_up");
                if dropped.is_power_of_two() {
                    warn!(peer = %key.short(), ?channel, dropped,
                        "peer not keeping up: outbound messages dropped");
                }
                return;
            }
            Outbound::Reserved => {}
        }
        let behaviour = match channel {
            Channel::Consensus => &mut self.swarm.behaviour_mut().consensus,
            Channel::Transactions => &mut self.swarm.behaviour_mut().transactions,
        };
        let request_id = behaviour.send_request_with_addresses(&id, Frame::Bytes(bytes), addresses);
        self.outbound_messages.insert((channel, request_id), id);
    }

    /// The configured address of a peer, for dialling it if a message needs a connection.
    fn addresses(&self, id: &PeerId) -> Vec<Multiaddr> {
        self.peers.address(id).cloned().into_iter().collect()
    }
}
