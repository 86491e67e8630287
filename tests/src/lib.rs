//! Shared pieces of tenge's multi-process and cross-crate tests.

pub mod api_node;
pub mod byzantine;
pub mod cluster;
pub mod workload;
