//! The engine's failure channels: why a node could not start ([`EngineError`]), why a
//! submission was refused ([`SubmitError`]), storage failures (fatal) and best-effort deliveries
//! (dropped).

use tracing::error;

use crate::mempool::MempoolError;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("storage: {0}")]
    Storage(#[from] tenge_storage::StoreError),
    #[error("genesis: {0}")]
    Genesis(#[from] tenge_ledger::GenesisError),
    #[error("stored state: {0}")]
    State(#[from] tenge_ledger::StateLoadError),
    #[error("network: {0}")]
    Network(#[from] tenge_network::NetworkError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the data dir holds committed blocks up to height {height} but no consensus safety data: \
         this validator may have signed in rounds it no longer remembers. Set \
         `consensus.voting_floor_round` (or TENGE_VOTING_FLOOR_ROUND) above the highest round any \
         validator reports in `tenge status`, plus a margin, and start again (docs/operations.md)"
    )]
    SafetyDataMissing { height: tenge_types::Height },
}

impl From<tenge_driver::RecoveryError> for EngineError {
    fn from(error: tenge_driver::RecoveryError) -> EngineError {
        match error {
            tenge_driver::RecoveryError::Store(error) => EngineError::Storage(error),
            tenge_driver::RecoveryError::SafetyDataMissing { height } => {
                EngineError::SafetyDataMissing { height }
            }
            corrupt @ tenge_driver::RecoveryError::Corrupt { .. } => {
                EngineError::Corrupt(corrupt.to_string())
            }
        }
    }
}

/// Why a submitted transaction was not accepted into the mempool.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("a signature does not verify")]
    InvalidSignature,
    #[error("transaction is for chain {0}")]
    WrongChain(String),
    #[error("{0}")]
    Mempool(#[from] MempoolError),
    #[error("node is shutting down")]
    Stopped,
    #[error("node is overloaded: the engine queue is full")]
    Overloaded,
    #[error("this node stopped following the chain: {0}")]
    Halted(String),
    #[error("{0}")]
    Rejected(tenge_types::Rejection),
}

/// Storage failures are fatal: the node stops rather than run on state it cannot trust.
pub(crate) fn fatal(what: &str, error: impl std::fmt::Display) -> ! {
    error!(%error, "fatal storage failure: {what}");
    panic!("fatal storage failure: {what}: {error}");
}

/// Drops the result of a best-effort delivery: a message or a penalty for a peer, or an answer
/// to a caller. A failure only means the peer, the caller or the network task is gone, and there
/// is nobody left to tell. Never for a storage write: those are [`fatal`].
pub(crate) fn best_effort<T, E>(_delivery: Result<T, E>) {}
