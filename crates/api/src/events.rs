//! `GET /v1/events`: server-sent events, one `block` event per committed block.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tenge_engine::EngineHandle;

use crate::error::ApiError;
use crate::server::{Gates, MAX_EVENT_SUBSCRIBERS};
use crate::views::{ErrorBody, ErrorKind};

/// Server-sent events: one `block` event per committed block.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "node",
    responses(
        (status = 200, description = "Server-sent events: a `block` event per committed block (JSON: height, block_id, state_root, timestamp, transactions, applied)", body = String, content_type = "text/event-stream"),
        (status = 503, description = "256 subscribers are connected; retry later", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Ok(permit) = gates.subscribers.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            format!("{MAX_EVENT_SUBSCRIBERS} event subscribers are connected; retry later"),
        ));
    };
    let receiver = engine.commits.subscribe();
    // The permit lives in the stream's state: it is released when the subscriber goes away.
    let stream = futures::stream::unfold((receiver, permit), |(mut receiver, permit)| async move {
        loop {
            match receiver.recv().await {
                Ok(commit) => {
                    let data = serde_json::to_string(&commit).unwrap_or_default();
                    return Some((
                        Ok(Event::default().event("block").data(data)),
                        (receiver, permit),
                    ));
                }
                // A slow reader skips what it missed; the next block still arrives.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
