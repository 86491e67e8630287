//! The handlers of the `/v1` routes and of `/health` and `/metrics`, by what they serve. Each
//! carries its `#[utoipa::path]` annotation, from which the OpenAPI document is built.

pub(crate) mod accounts;
pub(crate) mod blocks;
pub(crate) mod chain;
pub(crate) mod operations;
pub(crate) mod proofs;
pub(crate) mod transactions;
