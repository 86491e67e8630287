//! Peer addresses as a genesis lists them: a multiaddr that other validators dial,
//! `/ip4/ADDRESS/tcp/PORT`, `/ip6/ADDRESS/tcp/PORT`, or `/dns4|/dns6|/dns/HOST/tcp/PORT`.
//!
//! Checked here without the `multiaddr` crate: it depends on `libp2p-identity`, and the CLI
//! must not link libp2p (issue 14 item 2). The node checks addresses with libp2p's own parser
//! (`tenge_network::check_address`) when it starts.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Longest DNS name (RFC 1035 section 2.3.4), and longest label.
const MAX_DNS_NAME_BYTES: usize = 253;
const MAX_DNS_LABEL_BYTES: usize = 63;

const FORMS: &str = "/ip4/ADDRESS/tcp/PORT, /ip6/ADDRESS/tcp/PORT or /dns4|dns6|dns/HOST/tcp/PORT";

/// Checks that `address` is a multiaddr a peer can dial: an IP address or a DNS name, then a
/// TCP port, and nothing more. The reason names what is wrong.
pub fn check_peer_address(address: &str) -> Result<(), String> {
    let Some(rest) = address.strip_prefix('/') else {
        return Err(format!(
            "`{address}` is not a multiaddr (it must start with `/`): use {FORMS}"
        ));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let [protocol, host, transport, port] = parts.as_slice() else {
        return Err(format!(
            "`{address}` is not a peer address: use {FORMS}, nothing more"
        ));
    };
    match *protocol {
        "ip4" => {
            let ip: Ipv4Addr = host
                .parse()
                .map_err(|_| format!("`{address}`: `{host}` is not an IPv4 address"))?;
            if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
                return Err(format!(
                    "`{address}`: {ip} is not an address other validators can dial"
                ));
            }
        }
        "ip6" => {
            let ip: Ipv6Addr = host
                .parse()
                .map_err(|_| format!("`{address}`: `{host}` is not an IPv6 address"))?;
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(format!(
                    "`{address}`: {ip} is not an address other validators can dial"
                ));
            }
        }
        "dns" | "dns4" | "dns6" => check_dns_name(host)
            .map_err(|reason| format!("`{address}`: `{host}` is not a DNS name: {reason}"))?,
        other => {
            return Err(format!(
                "`{address}`: `/{other}` is not a supported protocol: use {FORMS}"
            ));
        }
    }
    if *transport != "tcp" {
        return Err(format!(
            "`{address}`: the transport must be `/tcp/PORT`, not `/{transport}`"
        ));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!(
            "`{address}`: `{port}` is not a TCP port (1 to 65535)"
        )),
        Ok(_) => Ok(()),
    }
}

/// A host name: dot-separated labels of letters, digits and hyphens, none starting or ending
/// with a hyphen (RFC 1123 section 2.1).
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
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
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

#[cfg(test)]
mod tests {
    use super::check_peer_address;

    #[test]
    fn dialable_addresses_are_accepted() {
        for good in [
            "/ip4/10.0.0.5/tcp/7100",
            "/ip4/127.0.0.1/tcp/1",
            "/ip6/::1/tcp/7100",
            "/ip6/2001:db8::7/tcp/65535",
            "/dns4/localhost/tcp/7100",
            "/dns6/validator-1.bank.kz/tcp/7100",
            "/dns/node1.example/tcp/7100",
        ] {
            assert_eq!(check_peer_address(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused_with_the_reason() {
        let long_label = format!("/dns4/{}.kz/tcp/1", "a".repeat(64));
        let long_name = format!("/dns4/{}a/tcp/1", "a.".repeat(127));
        let cases: &[(&str, &str)] = &[
            ("not-an-address", "must start with `/`"),
            ("", "must start with `/`"),
            ("10.0.0.5:7100", "must start with `/`"),
            ("/ip4/10.0.0.5", "nothing more"),
            ("/ip4/10.0.0.5/tcp/7100/p2p/x", "nothing more"),
            ("/ip4/10.0.0.5/tcp/7100/", "nothing more"),
            ("/ip4/10.0.0.256/tcp/7100", "not an IPv4 address"),
            ("/ip4/::1/tcp/7100", "not an IPv4 address"),
            ("/ip6/10.0.0.5/tcp/7100", "not an IPv6 address"),
            ("/ip4/0.0.0.0/tcp/7100", "can dial"),
            ("/ip6/::/tcp/7100", "can dial"),
            ("/ip4/224.0.0.1/tcp/7100", "can dial"),
            ("/dns4//tcp/7100", "empty"),
            ("/dns4/a..b/tcp/7100", "empty label"),
            ("/dns4/-a.kz/tcp/7100", "starts or ends"),
            ("/dns4/a_b.kz/tcp/7100", "characters other than"),
            (&long_label, "label is longer"),
            (&long_name, "longer than 253"),
            ("/dnsaddr/bootstrap.kz/tcp/7100", "not a supported protocol"),
            ("/unix/tmp/tcp/7100", "not a supported protocol"),
            ("/ip4/10.0.0.5/udp/7100", "must be `/tcp/PORT`"),
            ("/ip4/10.0.0.5/tcp/0", "not a TCP port"),
            ("/ip4/10.0.0.5/tcp/65536", "not a TCP port"),
            ("/ip4/10.0.0.5/tcp/port", "not a TCP port"),
        ];
        for (bad, reason) in cases {
            let error = check_peer_address(bad).expect_err(bad);
            assert!(error.contains(reason), "{bad}: {error}");
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
    }
}
