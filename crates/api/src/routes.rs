//! The router: every served route, declared once, and the layers around them.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tenge_engine::EngineHandle;

use crate::error::{ApiError, json_errors};
use crate::events::events;
use crate::handlers::accounts::account;
use crate::handlers::blocks::{block, block_hashes, headers, latest_block};
use crate::handlers::chain::{observers, policy, status, supply, validators};
use crate::handlers::operations::{health, metrics, openapi};
use crate::handlers::proofs::{account_proof, earmark_proof, supply_proof};
use crate::handlers::transactions::{submit, submit_batch, transaction};
use crate::server::{Gates, MAX_BATCH_BODY_BYTES, MAX_TRANSACTION_BODY_BYTES};

/// Declares the served routes once: the router is built from this table and [`ROUTES`] is read
/// from it, so the two cannot differ (the OpenAPI document is checked against [`ROUTES`]).
macro_rules! served_routes {
    ($($method:ident $path:literal => $handler:expr $(, layer $layer:expr)?;)*) => {
        /// Every route the API serves: (method, path), as the router serves them. The OpenAPI
        /// document is checked against it.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        fn served_routes() -> Router<EngineHandle> {
            Router::new()$(.route($path, axum::routing::$method($handler)$(.layer($layer))?))*
        }
    };
}

served_routes! {
    post "/v1/transactions" => submit, layer DefaultBodyLimit::max(MAX_TRANSACTION_BODY_BYTES);
    post "/v1/transactions/batch" => submit_batch, layer DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES);
    get "/v1/transactions/{hash}" => transaction;
    get "/v1/accounts/{id}" => account;
    get "/v1/blocks/latest" => latest_block;
    get "/v1/blocks/{height}" => block;
    get "/v1/blocks/{height}/hashes" => block_hashes;
    get "/v1/headers/{from}" => headers;
    get "/v1/supply" => supply;
    get "/v1/proofs/accounts/{id}" => account_proof;
    get "/v1/proofs/supply" => supply_proof;
    get "/v1/proofs/earmarks/{id}" => earmark_proof;
    get "/v1/policy" => policy;
    get "/v1/validators" => validators;
    get "/v1/observers" => observers;
    get "/v1/status" => status;
    get "/v1/events" => events;
    get "/v1/openapi.json" => openapi;
    get "/metrics" => metrics;
    get "/health" => health;
    get "/ready" => crate::ready::ready;
    get "/docs" => crate::docs::page;
    get "/docs/" => crate::docs::page_in_folder;
    get "/docs/{file}" => crate::docs::file;
}

/// The router of a node's API.
pub fn router(engine: EngineHandle) -> Router {
    served_routes()
        .fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            crate::metrics::record,
        ))
        .layer(axum::Extension(std::sync::Arc::new(Gates::new())))
        .with_state(engine)
}
