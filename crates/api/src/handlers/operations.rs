//! Operations: this document, liveness and metrics (readiness is in [`crate::ready`], the API page
//! in [`crate::docs`]).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tenge_engine::EngineHandle;

use crate::error::ApiError;
use crate::views::{ErrorBody, ErrorKind};

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "This OpenAPI document, generated from the code", body = Object, content_type = "application/json"),
    )
)]
pub(crate) async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::openapi::DOCUMENT.as_str(),
    )
}

/// Liveness: 200 while the node runs and has not halted.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Running and not halted", body = String, content_type = "text/plain"),
        (status = 503, description = "Halted (the reason is in the message)", body = ErrorBody),
    )
)]
pub(crate) async fn health(State(engine): State<EngineHandle>) -> Response {
    match engine.status.borrow().halted.clone() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(reason) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            format!("halted: {reason}"),
        )
        .into_response(),
    }
}

/// Every metric of the node, libp2p's included, in the OpenMetrics text format (D49).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
    )
)]
pub(crate) async fn metrics(State(engine): State<EngineHandle>) -> Response {
    crate::metrics::page(&engine)
}
