//! Peer-to-peer addresses as tenge writes them: the text forms of the multiaddrs a node dials
//! ([`PeerAddress`]: a genesis's validator addresses, a config's peers) and listens on
//! ([`ListenAddress`]). One parser for every place that reads them: `tenge genesis`, the node's
//! config check and the network crate, which builds libp2p's multiaddr from the parsed value
//! (docs/decisions.md D55).
//!
//! Parsed here from text rather than with the `multiaddr` crate: that crate depends on
//! `libp2p-identity`, and the CLI, which depends on this crate, must not link libp2p (D42).
//! Only the forms below are accepted; `/dnsaddr` (addresses in TXT records) and anything after
//! the port (`/p2p/...`: a peer's identity is its consensus key, not part of its address) are
//! refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// The forms of a [`PeerAddress`], for error messages.
pub const PEER_ADDRESS_FORMS: &str =
    "/ip4/ADDRESS/tcp/PORT, /ip6/ADDRESS/tcp/PORT or /dns4|dns6|dns/HOST/tcp/PORT";

/// The forms of a [`ListenAddress`], for error messages.
pub const LISTEN_ADDRESS_FORMS: &str = "/ip4/ADDRESS/tcp/PORT or /ip6/ADDRESS/tcp/PORT";

/// Longest DNS name (RFC 1035 section 2.3.4), and longest label.
const MAX_DNS_NAME_BYTES: usize = 253;
const MAX_DNS_LABEL_BYTES: usize = 63;

/// Which addresses a DNS name is resolved to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DnsFamily {
    /// `/dns4`: IPv4 (A records) only.
    Ipv4,
    /// `/dns6`: IPv6 (AAAA records) only.
    Ipv6,
    /// `/dns`: either.
    Any,
}

impl DnsFamily {
    /// The multiaddr protocol name: `dns4`, `dns6` or `dns`.
    pub fn protocol(self) -> &'static str {
        match self {
            DnsFamily::Ipv4 => "dns4",
            DnsFamily::Ipv6 => "dns6",
            DnsFamily::Any => "dns",
        }
    }
}

/// Where a peer is: an IP address, or a DNS name resolved at every dial (D48).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    Ip(IpAddr),
    Dns { family: DnsFamily, name: String },
}

/// An address a peer is dialled at: `/ip4/10.0.0.5/tcp/7100`, `/ip6/2001:db8::7/tcp/7100`,
/// `/dns4/validator-1.cb.kz/tcp/7100` (also `/dns6`, `/dns`). The IP is one another host can
/// dial (not unspecified, multicast or broadcast), the name a host name (RFC 1123), the port
/// 1 to 65535.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PeerAddress {
    pub host: Host,
    pub tcp_port: u16,
}

/// An address a node listens on: one of its own IP addresses (often `0.0.0.0` or `::`) and a
/// TCP port (0: any free port, for tests). A DNS name has no meaning here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenAddress {
    pub ip: IpAddr,
    pub tcp_port: u16,
}

/// Why an address was refused. Each message quotes the address and says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("`{address}` is not a multiaddr (it must start with `/`): use {forms}")]
    NotAMultiaddr {
        address: String,
        forms: &'static str,
    },
    #[error(
        "`{address}` does not start with an IP address or a DNS name (`/{protocol}` is not a \
         supported protocol): use {forms}"
    )]
    UnsupportedProtocol {
        address: String,
        protocol: String,
        forms: &'static str,
    },
    #[error(
        "`{address}`: /dnsaddr is not supported (it needs TXT records, not a name lookup): use \
         {PEER_ADDRESS_FORMS}"
    )]
    Dnsaddr { address: String },
    #[error("`{address}` is not a peer address: use {forms}, nothing more")]
    Shape {
        address: String,
        forms: &'static str,
    },
    #[error("`{address}`: `{host}` is not an IPv4 address")]
    NotIpv4 { address: String, host: String },
    #[error("`{address}`: `{host}` is not an IPv6 address")]
    NotIpv6 { address: String, host: String },
    #[error("`{address}`: {ip} is not an address other validators can dial")]
    NotDialable { address: String, ip: IpAddr },
    #[error("`{address}`: `{host}` is not a DNS name: {reason}")]
    NotADnsName {
        address: String,
        host: String,
        reason: String,
    },
    #[error("`{address}`: the transport must be `/tcp/PORT` and nothing more, not `/{transport}`")]
    NotTcp { address: String, transport: String },
    #[error("`{address}`: `{port}` is not a TCP port ({range})")]
    NotATcpPort {
        address: String,
        port: String,
        range: &'static str,
    },
    #[error(
        "`{address}`: a node listens on an IP address of its own, not a DNS name; use \
         {LISTEN_ADDRESS_FORMS}"
    )]
    ListenOnName { address: String },
}

impl PeerAddress {
    /// Parses a peer address; the error names what is wrong.
    pub fn parse(address: &str) -> Result<PeerAddress, AddressError> {
        let (host, port) = parse_text(address, PEER_ADDRESS_FORMS)?;
        if let Host::Ip(ip) = host {
            let undialable = ip.is_unspecified()
                || ip.is_multicast()
                || matches!(ip, IpAddr::V4(ip) if ip.is_broadcast());
            if undialable {
                return Err(AddressError::NotDialable {
                    address: address.into(),
                    ip,
                });
            }
        }
        match port.parse::<u16>() {
            Ok(tcp_port) if tcp_port > 0 => Ok(PeerAddress { host, tcp_port }),
            _ => Err(AddressError::NotATcpPort {
                address: address.into(),
                port: port.into(),
                range: "1 to 65535",
            }),
        }
    }
}

impl ListenAddress {
    /// Parses a listen address; the error names what is wrong.
    pub fn parse(address: &str) -> Result<ListenAddress, AddressError> {
        let (host, port) = parse_text(address, LISTEN_ADDRESS_FORMS)?;
        let Host::Ip(ip) = host else {
            return Err(AddressError::ListenOnName {
                address: address.into(),
            });
        };
        let tcp_port = port.parse::<u16>().map_err(|_| AddressError::NotATcpPort {
            address: address.into(),
            port: port.into(),
            range: "0 to 65535",
        })?;
        Ok(ListenAddress { ip, tcp_port })
    }
}

/// `/PROTOCOL/HOST/tcp/PORT`: the host parsed, the port still text (its range depends on the
/// use). The first protocol is checked before the number of parts, so `/tcp/7100` is told it
/// lacks a host rather than that it is short.
fn parse_text<'a>(address: &'a str, forms: &'static str) -> Result<(Host, &'a str), AddressError> {
    let Some(rest) = address.strip_prefix('/') else {
        return Err(AddressError::NotAMultiaddr {
            address: address.into(),
            forms,
        });
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let family = match parts[0] {
        "ip4" | "ip6" => None,
        "dns4" => Some(DnsFamily::Ipv4),
        "dns6" => Some(DnsFamily::Ipv6),
        "dns" => Some(DnsFamily::Any),
        "dnsaddr" => {
            return Err(AddressError::Dnsaddr {
                address: address.into(),
            });
        }
        other => {
            return Err(AddressError::UnsupportedProtocol {
                address: address.into(),
                protocol: other.into(),
                forms,
            });
        }
    };
    let [protocol, host, transport, port] = parts.as_slice() else {
        return Err(AddressError::Shape {
            address: address.into(),
            forms,
        });
    };
    let host = match (*protocol, family) {
        ("ip4", _) => Host::Ip(IpAddr::V4(host.parse::<Ipv4Addr>().map_err(|_| {
            AddressError::NotIpv4 {
                address: address.into(),
                host: (*host).into(),
            }
        })?)),
        ("ip6", _) => Host::Ip(IpAddr::V6(host.parse::<Ipv6Addr>().map_err(|_| {
            AddressError::NotIpv6 {
                address: address.into(),
                host: (*host).into(),
            }
        })?)),
        (_, Some(family)) => {
            check_dns_name(host).map_err(|reason| AddressError::NotADnsName {
                address: address.into(),
                host: (*host).into(),
                reason,
            })?;
            Host::Dns {
                family,
                name: (*host).into(),
            }
        }
        (_, None) => unreachable!("the protocol was matched above"),
    };
    if *transport != "tcp" {
        return Err(AddressError::NotTcp {
            address: address.into(),
            transport: (*transport).into(),
        });
    }
    Ok((host, port))
}

/// A host name: dot-separated labels of letters, digits and hyphens, none starting or ending
/// with a hyphen (RFC 1123 section 2.1). No trailing dot.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.len() > MAX_DNS_NAME_BYTES {
        return Err(format!("longer than {MAX_DNS_NAME_BYTES} characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("an empty label (two dots, or a dot at an end)".into());
        }
        if label.len() > MAX_DNS_LABEL_BYTES {
            return Err(format!(
                "a label is longer than {MAX_DNS_LABEL_BYTES} characters"
            ));
        }
        if !label
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        {
            return Err(format!(
                "`{label}` has characters other than letters, digits and `-`"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V4(ip)) => write!(f, "/ip4/{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "/ip6/{ip}"),
            Host::Dns { family, name } => write!(f, "/{}/{name}", family.protocol()),
        }
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/tcp/{}", self.host, self.tcp_port)
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/tcp/{}", Host::Ip(self.ip), self.tcp_port)
    }
}

impl FromStr for PeerAddress {
    type Err = AddressError;
    fn from_str(address: &str) -> Result<PeerAddress, AddressError> {
        PeerAddress::parse(address)
    }
}

impl FromStr for ListenAddress {
    type Err = AddressError;
    fn from_str(address: &str) -> Result<ListenAddress, AddressError> {
        ListenAddress::parse(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dialable_form_is_accepted_and_printed_back_the_same() {
        let cases: &[(&str, Host, u16)] = &[
            (
                "/ip4/10.0.0.5/tcp/7100",
                Host::Ip("10.0.0.5".parse().unwrap()),
                7100,
            ),
            (
                "/ip4/127.0.0.1/tcp/1",
                Host::Ip("127.0.0.1".parse().unwrap()),
                1,
            ),
            ("/ip6/::1/tcp/7100", Host::Ip("::1".parse().unwrap()), 7100),
            (
                "/ip6/2001:db8::7/tcp/65535",
                Host::Ip("2001:db8::7".parse().unwrap()),
                65535,
            ),
            (
                "/dns4/localhost/tcp/7100",
                Host::Dns {
                    family: DnsFamily::Ipv4,
                    name: "localhost".into(),
                },
                7100,
            ),
            (
                "/dns6/validator-1.bank.kz/tcp/7100",
                Host::Dns {
                    family: DnsFamily::Ipv6,
                    name: "validator-1.bank.kz".into(),
                },
                7100,
            ),
            (
                "/dns/Node1.example/tcp/7100",
                Host::Dns {
                    family: DnsFamily::Any,
                    name: "Node1.example".into(),
                },
                7100,
            ),
        ];
        for (text, host, tcp_port) in cases {
            let parsed = PeerAddress::parse(text).expect(text);
            assert_eq!(
                parsed,
                PeerAddress {
                    host: host.clone(),
                    tcp_port: *tcp_port
                },
                "{text}"
            );
            assert_eq!(parsed.to_string(), *text);
            assert_eq!(text.parse::<PeerAddress>(), Ok(parsed));
        }
    }

    /// Every refusal, with a part of its message; every message also quotes the address.
    #[test]
    fn every_refused_peer_address_is_refused_with_its_reason() {
        let long_label = format!("/dns4/{}.kz/tcp/1", "a".repeat(64));
        let long_name = format!("/dns4/{}a/tcp/1", "a.".repeat(127));
        let cases: &[(&str, &str)] = &[
            (
                "not-an-address",
                "is not a multiaddr (it must start with `/`)",
            ),
            ("", "is not a multiaddr"),
            ("10.0.0.5:7100", "is not a multiaddr"),
            ("/ip4/10.0.0.5", "nothing more"),
            ("/dns4/localhost", "nothing more"),
            ("/ip4/10.0.0.5/tcp/7100/", "nothing more"),
            (
                "/ip4/127.0.0.1/tcp/7100/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                "nothing more",
            ),
            ("/ip4/10.0.0.256/tcp/7100", "not an IPv4 address"),
            ("/ip4/::1/tcp/7100", "not an IPv4 address"),
            ("/ip6/10.0.0.5/tcp/7100", "not an IPv6 address"),
            (
                "/ip4/0.0.0.0/tcp/7100",
                "not an address other validators can dial",
            ),
            ("/ip6/::/tcp/7100", "can dial"),
            ("/ip4/224.0.0.1/tcp/7100", "can dial"),
            ("/ip6/ff02::1/tcp/7100", "can dial"),
            ("/ip4/255.255.255.255/tcp/7100", "can dial"),
            ("/dns4//tcp/7100", "is not a DNS name: empty"),
            ("/dns4/a..b/tcp/7100", "empty label"),
            ("/dns4/validator.kz./tcp/7100", "empty label"),
            ("/dns4/-a.kz/tcp/7100", "starts or ends with `-`"),
            ("/dns4/a_b.kz/tcp/7100", "characters other than"),
            (&long_label, "label is longer than 63"),
            (&long_name, "longer than 253"),
            (
                "/dnsaddr/bootstrap.kz/tcp/7100",
                "/dnsaddr is not supported",
            ),
            ("/unix/tmp/tcp/7100", "`/unix` is not a supported protocol"),
            (
                "/tcp/7100",
                "does not start with an IP address or a DNS name",
            ),
            (
                "/ip4/10.0.0.5/udp/7100",
                "must be `/tcp/PORT` and nothing more",
            ),
            ("/dns4/localhost/udp/7100", "not `/udp`"),
            ("/ip4/10.0.0.5/tcp/0", "`0` is not a TCP port (1 to 65535)"),
            ("/ip4/10.0.0.5/tcp/65536", "not a TCP port"),
            ("/ip4/10.0.0.5/tcp/port", "not a TCP port"),
            ("/ip4/10.0.0.5/tcp/", "not a TCP port"),
        ];
        for (bad, reason) in cases {
            let error = PeerAddress::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(reason), "{bad}: {error}");
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }

    #[test]
    fn listen_addresses_are_an_ip_of_ours_and_any_port() {
        for (text, ip, tcp_port) in [
            ("/ip4/0.0.0.0/tcp/7100", "0.0.0.0", 7100),
            ("/ip4/127.0.0.1/tcp/0", "127.0.0.1", 0),
            ("/ip6/::/tcp/7100", "::", 7100),
        ] {
            let parsed = ListenAddress::parse(text).expect(text);
            assert_eq!(
                parsed,
                ListenAddress {
                    ip: ip.parse().unwrap(),
                    tcp_port
                }
            );
            assert_eq!(parsed.to_string(), text);
        }
        for (bad, reason) in [
            ("/dns4/localhost/tcp/7100", "not a DNS name"),
            ("/dns/localhost/tcp/7100", "not a DNS name"),
            ("not-an-address", "not a multiaddr"),
            ("/ip4/0.0.0.0/udp/7100", "nothing more"),
            ("/ip4/0.0.0.0", "nothing more"),
            ("/ip4/0.0.0.0/tcp/65536", "not a TCP port (0 to 65535)"),
            ("/ip4/0.0.0.300/tcp/7100", "not an IPv4 address"),
            (
                "/dnsaddr/bootstrap.kz/tcp/7100",
                "/dnsaddr is not supported",
            ),
        ] {
            let error = ListenAddress::parse(bad).expect_err(bad).to_string();
            assert!(error.contains(reason), "{bad}: {error}");
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }
}
