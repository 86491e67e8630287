//! One module per group of subcommands; each function is one subcommand and returns what it
//! prints, or a failure with its exit code.

pub mod accounts;
pub mod bench;
pub mod devnet;
pub mod earmark;
pub mod follow;
pub mod genesis;
pub mod keys;
pub mod money;
pub mod observers;
pub mod policy;
pub mod proofs;
pub mod query;
pub mod validators;
