//! `GET /metrics`, and the API's own metrics (requests by route, method and status; time to
//! answer), recorded in the node's one registry (`tenge_engine::Metrics`, docs/decisions.md D49).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tenge_engine::EngineHandle;

/// The media type of the page: the OpenMetrics text format, which is what prometheus-client
/// writes (`# UNIT` lines, counters sampled as `NAME_total`, `# EOF` at the end). Prometheus
/// asks for it and parses it with its OpenMetrics parser.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `/metrics` page: every metric of the node, libp2p's included.
pub(crate) fn page(engine: &EngineHandle) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        engine.metrics.render(),
    )
        .into_response()
}

/// Counts and times every request. Labels are the route's pattern (`/v1/accounts/:id`, or
/// `unmatched`) and a known method name, never anything a client chooses freely, so a client
/// cannot grow the page.
pub(crate) async fn record(
    State(engine): State<EngineHandle>,
    request: Request,
    next: Next,
) -> Response {
    // `/v1/accounts/{id}` is labelled `/v1/accounts/:id`: braces inside a label value are legal
    // but trip line-based readers of the page (prometheus-parse stops at the first `}`).
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .replace('{', ":")
        .replace('}', "");
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(request).await;
    engine.metrics.api_request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
