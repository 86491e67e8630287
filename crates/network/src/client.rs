//! The node's side of the network: a cloneable [`NetworkClient`] that sends [`Command`]s to the
//! event loop (with `oneshot` replies where an answer is expected), and the [`NetworkEvent`]s the
//! event loop hands back.

use tokio::sync::{mpsc, oneshot};

use crate::{Channel, NetworkError, PeerConfig, PublicKey};

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
pub struct SyncReply(pub(crate) oneshot::Sender<Vec<u8>>);

impl SyncReply {
    pub fn send(self, bytes: Vec<u8>) {
        // The requester may be gone; nothing to do then.
        let _ = self.0.send(bytes);
    }
}

pub(crate) enum Command {
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
    Admit {
        version: u64,
        peers: Vec<PeerConfig>,
        reply: oneshot::Sender<Result<(), NetworkError>>,
    },
}

/// The handle the rest of the node uses. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetworkClient {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) local: PublicKey,
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

    /// The peers admitted besides the configured ones (the observers admitted on chain), as of
    /// `version` (the committed height that admitted them): newcomers may connect from now on
    /// (and are dialled if they have an address), peers no longer in the list are disconnected
    /// and refused. A list older than one already applied is ignored, so lists sent from
    /// separate tasks cannot undo a newer one. Configured peers are never unlisted.
    pub async fn admit(&self, version: u64, peers: Vec<PeerConfig>) -> Result<(), NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::Admit {
            version,
            peers,
            reply,
        })
        .await?;
        answer.await.map_err(|_| NetworkError::Stopped)?
    }

    /// The addresses this node listens on (useful with port 0).
    pub async fn listen_addresses(&self) -> Result<Vec<String>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.command(Command::ListenAddresses { reply }).await?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }
}
