//! A typed client of the tenge node API, and the JSON shapes (views) the API serves.
//!
//! The node's API crate (`tenge-api`) serves these same view types, so client and server cannot
//! drift apart. This crate depends on no node code (no engine, storage, RocksDB or libp2p): the
//! `tenge` command line and other tools build on it alone.

pub mod client;
pub mod tls;
pub mod views;

pub use client::{Client, ClientError};
