//! `GET /ready[?max_blocks_behind=N]`: whether a load balancer or an orchestrator should send this
//! node traffic.
//!
//! Without the parameter a node is ready when it has not halted and has a peer (or is the only
//! validator). With it, its committed height must also be at most N blocks below the highest
//! committed height it knows of (`tenge_engine::Status::known_height`: for a validator the
//! highest quorum certificate it has seen, for an observer the head its last sync peer reported).

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenge_engine::{EngineHandle, Status};

use crate::views::{ErrorBody, ErrorDetail, ErrorKind};

/// The one query parameter `/ready` takes.
pub const MAX_BLOCKS_BEHIND: &str = "max_blocks_behind";

/// Why a node is not ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotReadyReason {
    /// The node stopped following the chain (its execution disagreed with a certified state).
    Halted,
    /// No peer is connected (and the node is not the only validator).
    NoPeers,
    /// More than `max_blocks_behind` blocks below the highest committed height it knows of.
    Behind,
}

/// The 503 answer of `/ready`: the API's one error shape (`error`), with the reason and both
/// heights beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotReadyBody {
    pub error: ErrorDetail,
    pub reason: NotReadyReason,
    /// This node's committed height.
    pub height: u64,
    /// The highest committed height this node knows of (never below `height`).
    pub known_height: u64,
    /// The limit asked for, when the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_blocks_behind: Option<u64>,
}

/// Reads `/ready`'s query string: `Ok(None)` without a limit. Anything but one well-formed
/// `max_blocks_behind` is refused: a misspelt parameter must not silently turn the check into the
/// plain one.
pub fn parse_query(query: Option<&str>) -> Result<Option<u64>, String> {
    let mut limit = None;
    for pair in query
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != MAX_BLOCKS_BEHIND {
            return Err(format!(
                "unknown query parameter `{name}`: /ready takes only {MAX_BLOCKS_BEHIND}"
            ));
        }
        if limit.is_some() {
            return Err(format!("{MAX_BLOCKS_BEHIND} is given more than once"));
        }
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{MAX_BLOCKS_BEHIND} must be a whole number of blocks (0 or more), not `{value}`"
            ));
        }
        let blocks: u64 = value.parse().map_err(|_| {
            format!(
                "{MAX_BLOCKS_BEHIND} must be at most {}, not `{value}`",
                u64::MAX
            )
        })?;
        limit = Some(blocks);
    }
    Ok(limit)
}

/// The readiness rule. `alone`: the node is the network's only validator (it needs no peer).
pub fn check(
    status: &Status,
    alone: bool,
    max_blocks_behind: Option<u64>,
) -> Result<(), NotReadyBody> {
    let height = status.height.0;
    let known_height = status.known_height.0.max(height);
    let behind = known_height - height;
    let (reason, message) = if let Some(halted) = &status.halted {
        (NotReadyReason::Halted, format!("halted: {halted}"))
    } else if status.peers == 0 && !alone {
        (NotReadyReason::NoPeers, "no peers connected".to_string())
    } else {
        match max_blocks_behind {
            Some(limit) if behind > limit => (
                NotReadyReason::Behind,
                format!(
                    "{behind} blocks behind: committed height {height}, highest known \
                     {known_height}, {MAX_BLOCKS_BEHIND} {limit}"
                ),
            ),
            _ => return Ok(()),
        }
    };
    Err(NotReadyBody {
        error: ErrorDetail {
            status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            kind: ErrorKind::Unavailable,
            message,
            code: None,
            name: None,
        },
        reason,
        height,
        known_height,
        max_blocks_behind,
    })
}

/// Readiness: 200 when the node should get traffic.
///
/// Ready means: not halted, a peer connected (unless the node is the only validator), and with
/// `max_blocks_behind=N` a committed height at most N blocks below the highest committed height
/// the node knows of (from quorum certificates; for an observer, from the head its sync peer
/// reports at every poll).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    params(
        ("max_blocks_behind" = Option<u64>, Query, minimum = 0,
         description = "Also require the committed height to be at most this many blocks below \
                        the highest committed height the node knows of")
    ),
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain"),
        (status = 400, description = "A malformed or unknown query parameter (named in the message)", body = ErrorBody),
        (status = 503, description = "Not ready: halted, no peers, or too far behind; with both heights", body = NotReadyBody),
    )
)]
pub(crate) async fn ready(
    State(engine): State<EngineHandle>,
    RawQuery(query): RawQuery,
) -> Response {
    let limit = match parse_query(query.as_deref()) {
        Ok(limit) => limit,
        Err(message) => {
            let body = ErrorBody {
                error: ErrorDetail {
                    status: StatusCode::BAD_REQUEST.as_u16(),
                    kind: ErrorKind::BadRequest,
                    message,
                    code: None,
                    name: None,
                },
            };
            return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        }
    };
    let status = engine.status.borrow().clone();
    let alone = engine.genesis.validators.len() == 1;
    match check(&status, alone, limit) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ready\n",
        )
            .into_response(),
        Err(body) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_types::{HashValue, Height, Round, TimestampMs};

    fn status(height: u64, known_height: u64, peers: usize, halted: Option<&str>) -> Status {
        Status {
            mode: tenge_engine::Mode::Validator,
            chain_id: "test".into(),
            height: Height(height),
            block_id: HashValue([0; 32]),
            state_root: HashValue([0; 32]),
            block_time: TimestampMs(0),
            round: Round(0),
            peers,
            syncing: false,
            mempool_transactions: 0,
            halted: halted.map(str::to_string),
            known_height: Height(known_height),
            last_signed: Vec::new(),
        }
    }

    #[test]
    fn query_parameter() {
        assert_eq!(parse_query(None), Ok(None));
        assert_eq!(parse_query(Some("")), Ok(None));
        assert_eq!(parse_query(Some("max_blocks_behind=0")), Ok(Some(0)));
        assert_eq!(parse_query(Some("max_blocks_behind=12")), Ok(Some(12)));
        assert_eq!(
            parse_query(Some("max_blocks_behind=18446744073709551615")),
            Ok(Some(u64::MAX))
        );
        for bad in [
            "max_blocks_behind=",
            "max_blocks_behind",
            "max_blocks_behind=-1",
            "max_blocks_behind=+1",
            "max_blocks_behind=1.5",
            "max_blocks_behind=ten",
            "max_blocks_behind=18446744073709551616",
            "max_blocks_behind=1&max_blocks_behind=2",
            "max_block_behind=3",
            "max_blocks_behind=3&verbose=1",
        ] {
            let message = parse_query(Some(bad)).expect_err(bad);
            assert!(
                message.contains("max_blocks_behind") || message.contains("max_block_behind"),
                "{bad}: {message}"
            );
        }
    }

    /// (height, known height, peers, halted, alone, limit) -> None when ready, else the reason.
    type Case = (
        u64,
        u64,
        usize,
        Option<&'static str>,
        bool,
        Option<u64>,
        Option<NotReadyReason>,
    );

    #[test]
    fn readiness_rule() {
        use NotReadyReason::*;
        let cases: &[Case] = &[
            (10, 10, 3, None, false, None, None),
            (10, 10, 3, None, false, Some(0), None),
            (10, 15, 3, None, false, None, None),
            (10, 15, 3, None, false, Some(5), None),
            (10, 15, 3, None, false, Some(4), Some(Behind)),
            (10, 15, 3, None, false, Some(0), Some(Behind)),
            (0, 1_000, 3, None, false, Some(999), Some(Behind)),
            // A known height below the committed one (stale peer report) counts as none.
            (10, 3, 3, None, false, Some(0), None),
            (10, 10, 0, None, false, None, Some(NoPeers)),
            (10, 10, 0, None, true, Some(0), None),
            (10, 15, 0, None, true, Some(1), Some(Behind)),
            (10, 10, 3, Some("bad state"), false, None, Some(Halted)),
            (10, 99, 0, Some("bad state"), false, Some(0), Some(Halted)),
        ];
        for &(height, known, peers, halted, alone, limit, expected) in cases {
            let result = check(&status(height, known, peers, halted), alone, limit);
            let case = format!("{height} {known} {peers} {halted:?} {alone} {limit:?}");
            match (result, expected) {
                (Ok(()), None) => {}
                (Err(body), Some(reason)) => {
                    assert_eq!(body.reason, reason, "{case}");
                    assert_eq!(body.height, height, "{case}");
                    assert_eq!(body.known_height, known.max(height), "{case}");
                    assert_eq!(body.max_blocks_behind, limit, "{case}");
                    assert_eq!(body.error.status, 503, "{case}");
                    assert_eq!(body.error.kind, ErrorKind::Unavailable, "{case}");
                    if reason == Behind {
                        let message = &body.error.message;
                        assert!(
                            message.contains(&format!("committed height {height}"))
                                && message.contains(&format!("highest known {known}")),
                            "{case}: {message}"
                        );
                    }
                }
                (result, expected) => panic!("{case}: {result:?}, expected {expected:?}"),
            }
        }
    }
}
