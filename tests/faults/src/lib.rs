//! The fault suite: four validators and an observer, real `tenged` processes, each in its own
//! network namespace on a private bridge, under partitions, loss, pauses and crashes while a
//! transfer workload runs; then a checker of what must hold whatever the network did.
//!
//! Needs root, `ip netns` and `nft`; prints why and skips otherwise. `TENGE_FAULTS=short` (the
//! default) is the CI version, `TENGE_FAULTS=full` holds each fault longer and repeats it.
//! `TENGE_KEEP_CLUSTER=1` keeps the devnet directories (a failed test always keeps its own).

pub mod checker;
pub mod cluster;
pub mod harness;
pub mod lab;
pub mod workload;
