//! The engine of a tenge node: it drives the consensus core (validators) or follows the chain
//! (observers), with the mempool, block execution through `tenge-ledger`, commits through
//! `tenge-storage` and messages through `tenge-network`.
//!
//! The consensus core, the ledger and the store are driven from one OS thread (the engine
//! thread), fed by a bounded channel; network and API run on tokio. Reads (accounts, blocks,
//! status) go straight to the shared ledger and store, so queries never wait for consensus.

/// Admission is the driver's (shared with the simulator).
use tenge_driver::admission;
/// The mempool is the driver's (shared with the simulator).
pub use tenge_driver::mempool;
pub mod metrics;

mod actor;
mod config;
mod error;
mod gossip;
mod handle;
mod ingress;
mod output;
mod start;
mod status;
mod sync;
mod verify;

pub use config::{EngineConfig, EngineLimits, Mode};
pub use error::{EngineError, SubmitError};
pub use handle::{EngineHandle, TransactionStatus};
pub use mempool::MempoolError;
pub use metrics::Metrics;
pub use start::start;
pub use status::{CommitEvent, Counters, Status};
pub use tenge_ledger::SignatureCheck;
