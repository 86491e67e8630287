//! The libp2p side: the swarm's behaviour (connection limits, the allow and block lists, ping
//! and the three request-response protocols), the protocol names, the conversion of our parsed
//! addresses to multiaddrs, and the construction of the swarm with its DNS resolver.

use std::net::IpAddr;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits, noise, ping,
    tcp, yamux,
};
use prometheus_client::registry::Registry;
use tenge_types::address::{DnsFamily, Host, ListenAddress, PeerAddress};
use tracing::warn;

use crate::codec::FrameCodec;
use crate::{NetworkError, NetworkLimits};

/// The protocol of consensus messages (one-way).
const CONSENSUS_PROTOCOL: &str = "/tenge/consensus/1";
/// The protocol of transaction batches (one-way gossip).
const TRANSACTIONS_PROTOCOL: &str = "/tenge/transactions/1";
/// The protocol of block sync (request and response).
const SYNC_PROTOCOL: &str = "/tenge/sync/1";

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    // First, so that a connection over a limit is refused before the others see it.
    limits: connection_limits::Behaviour,
    pub(crate) allowed: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    pub(crate) banned: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    ping: ping::Behaviour,
    pub(crate) consensus: request_response::Behaviour<FrameCodec>,
    pub(crate) transactions: request_response::Behaviour<FrameCodec>,
    pub(crate) sync: request_response::Behaviour<FrameCodec>,
}

/// libp2p's form of a parsed peer address.
pub(crate) fn peer_multiaddr(address: &PeerAddress) -> Multiaddr {
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
pub(crate) fn listen_multiaddr(address: ListenAddress) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    Multiaddr::empty()
        .with(match address.ip {
            IpAddr::V4(ip) => Protocol::Ip4(ip),
            IpAddr::V6(ip) => Protocol::Ip6(ip),
        })
        .with(Protocol::Tcp(address.tcp_port))
}

/// Where the DNS transport gets its resolver configuration: the host's, or (in tests) as if the
/// host had none, to check the fallback without touching `/etc`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SystemDnsConfig {
    Read,
    #[cfg(test)]
    Missing,
}

/// How names in peer addresses are resolved (docs/decisions.md D48, D54).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DnsResolution {
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

/// The swarm of this node: TCP, Noise, Yamux and DNS, the behaviour within `limits`, only the
/// `allowed` peers let in, and libp2p's bandwidth metrics in `registry`.
pub(crate) fn build_swarm(
    keypair: &Keypair,
    limits: &NetworkLimits,
    allowed_peers: impl Iterator<Item = PeerId>,
    registry: &mut Registry,
    system_dns: SystemDnsConfig,
) -> Result<(Swarm<Behaviour>, DnsResolution), NetworkError> {
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
    for id in allowed_peers {
        allowed.allow_peer(id);
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
            protocol(CONSENSUS_PROTOCOL),
            request_config(limits.max_message_streams_per_connection),
        ),
        transactions: request_response::Behaviour::with_codec(
            message_codec,
            protocol(TRANSACTIONS_PROTOCOL),
            request_config(limits.max_message_streams_per_connection),
        ),
        sync: request_response::Behaviour::with_codec(
            sync_codec,
            protocol(SYNC_PROTOCOL),
            request_config(limits.max_sync_streams_per_connection),
        ),
    };
    let idle_timeout = Duration::from_secs(limits.idle_connection_timeout_seconds);
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
    Ok(match system {
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
    })
}

#[cfg(test)]
mod tests {
    use super::{listen_multiaddr, peer_multiaddr};
    use tenge_types::address::{ListenAddress, PeerAddress};

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
}
