//! Proof bundles, built by [`crate::proofs`] on a blocking thread, a few at a time.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use tenge_engine::EngineHandle;
use tenge_types::AccountId;

use crate::error::{ApiError, ApiResult};
use crate::server::{Gates, MAX_CONCURRENT_PROOFS};
use crate::views::{ErrorBody, ErrorKind, ProofView};

/// Runs blocking `work` on a blocking thread with a permit of `gate`, or answers 503 (`busy`) at
/// once when every permit is taken. The permit is held by the work itself: a client that goes
/// away does not free its slot before the work ends.
pub(crate) async fn gated_blocking<T: Send + 'static>(
    gate: &std::sync::Arc<tokio::sync::Semaphore>,
    busy: String,
    work: impl FnOnce() -> Result<T, crate::proofs::ProofError> + Send + 'static,
) -> Result<T, ApiError> {
    let Ok(permit) = gate.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            busy,
        ));
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| ApiError::internal(format!("the blocking work failed: {e}")))?
    .map_err(ApiError::from)
}

async fn proof(
    engine: &EngineHandle,
    gates: &Gates,
    request: crate::proofs::ProofRequest,
) -> ApiResult<ProofView> {
    let engine = engine.clone();
    let view = gated_blocking(
        &gates.proofs,
        format!("{MAX_CONCURRENT_PROOFS} proofs are being built; retry in a moment"),
        move || {
            let bundle = crate::proofs::build(&engine, request)?;
            crate::proofs::view(&engine, &bundle)
        },
    )
    .await?;
    Ok(axum::Json(view))
}

/// A proof of an account, or of its absence if no account has the id.
#[utoipa::path(
    get,
    path = "/v1/proofs/accounts/{id}",
    tag = "proofs",
    params(("id" = String, Path, description = "Account id", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The bundle (hex) and what it proves: kind `account`, or `absence` when no account has the id", body = ProofView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 503, description = "Nothing committed yet, the head's commit certificate is being written, or 8 proofs are being built; retry", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn account_proof(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
    Path(id): Path<String>,
) -> ApiResult<ProofView> {
    let id: AccountId = id
        .parse()
        .map_err(|e: tenge_types::hash::HexParseError| ApiError::bad_request(e.to_string()))?;
    proof(&engine, &gates, crate::proofs::ProofRequest::Account(id)).await
}

/// A proof bundle of the supply at the committed head.
#[utoipa::path(
    get,
    path = "/v1/proofs/supply",
    tag = "proofs",
    responses(
        (status = 200, description = "The bundle (hex) and what it proves (kind `supply`)", body = ProofView),
        (status = 503, description = "Nothing committed yet, the head's commit certificate is being written, or 8 proofs are being built; retry", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn supply_proof(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
) -> ApiResult<ProofView> {
    proof(&engine, &gates, crate::proofs::ProofRequest::Supply).await
}

/// A proof bundle of an earmark at the committed head: terms, allocated, spent, remaining.
#[utoipa::path(
    get,
    path = "/v1/proofs/earmarks/{id}",
    tag = "proofs",
    params(("id" = String, Path, description = "Earmark id", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The bundle (hex) and what it proves (kind `earmark`)", body = ProofView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "No such earmark", body = ErrorBody),
        (status = 503, description = "Nothing committed yet, the head's commit certificate is being written, or 8 proofs are being built; retry", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn earmark_proof(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
    Path(id): Path<String>,
) -> ApiResult<ProofView> {
    let id: tenge_types::EarmarkId = id
        .parse()
        .map_err(|e: tenge_types::hash::HexParseError| ApiError::bad_request(e.to_string()))?;
    proof(&engine, &gates, crate::proofs::ProofRequest::Earmark(id)).await
}
