//! A seeded, deterministic simulator of a whole tenge cluster.
//!
//! Every node runs the real consensus core ([`tenge_consensus::Consensus`]), the real ledger
//! ([`tenge_ledger::Ledger`]) and the in-memory store ([`tenge_storage::MemoryStore`], whose
//! writes are all "synced"), with real ed25519 signatures and real BCS bytes on the simulated
//! wire. Time is simulated; the network drops, duplicates, reorders, delays and partitions
//! messages; nodes crash (losing everything not in their store) and restart; clocks are skewed;
//! up to f validators are Byzantine. A checker watches every commit and every signed message.
//! The same seed replays the same run exactly.

mod checker;
mod cluster;
mod config;
mod faults;
mod liveness;
mod node;
mod observer;
mod reconfiguration;
mod report;
pub mod rng;
mod schedule;
mod workload;

pub use cluster::run_seed;
pub use config::{Behavior, FaultSet, SimConfig};
pub use report::{SeedReport, epochs_line, outcomes_line};
