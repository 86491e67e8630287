//! Helpers shared by the loopback tests: real libp2p nodes on OS-assigned ports.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use tenge_crypto::Keypair;
use tenge_network::{NetworkClient, NetworkConfig, NetworkEvent, NetworkLimits, PeerConfig, start};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

pub fn key(seed: u8) -> Keypair {
    Keypair::from_secret([seed; 32])
}

pub fn listed(key: &Keypair, address: Option<String>) -> PeerConfig {
    PeerConfig {
        key: key.public_key(),
        address,
    }
}

/// Starts a node listening on a free loopback port; returns its client, events and address.
pub async fn node(
    secret: &Keypair,
    peers: Vec<PeerConfig>,
    limits: NetworkLimits,
) -> (NetworkClient, Receiver<NetworkEvent>, String) {
    let config = NetworkConfig {
        secret_key: secret.secret_bytes(),
        listen_address: "/ip4/127.0.0.1/tcp/0".into(),
        peers,
        limits,
    };
    let (client, events) = start(config).await.expect("network starts");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(address) = client.listen_addresses().await.unwrap().into_iter().next() {
            return (client, events, address);
        }
        assert!(
            Instant::now() < deadline,
            "the node never reported a listen address"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `condition` every 20 ms until it holds (true) or `within` has passed (false).
pub async fn wait_until<F, Fut>(within: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether `client` reports `peer` as connected now.
pub async fn connected(client: &NetworkClient, peer: &Keypair) -> bool {
    client.peers().await.unwrap().contains(&peer.public_key())
}

/// The next message event, skipping connection events.
pub async fn next_message(
    events: &mut Receiver<NetworkEvent>,
    within: Duration,
) -> Option<NetworkEvent> {
    timeout(within, async {
        loop {
            match events.recv().await {
                Some(NetworkEvent::PeerConnected(_)) | Some(NetworkEvent::PeerDisconnected(_)) => {
                    continue;
                }
                other => return other,
            }
        }
    })
    .await
    .ok()
    .flatten()
}
