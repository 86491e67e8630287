//! The network's operating errors.

use crate::PublicKey;

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
