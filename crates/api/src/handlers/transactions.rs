//! Submitting transactions (one, or a batch) and following one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use tenge_engine::{EngineHandle, SubmitError};
use tenge_types::SignedTransaction;

use crate::error::{ApiError, ApiResult};
use crate::server::{Gates, MAX_BATCH_BODY_BYTES, MAX_BATCH_TRANSACTIONS, MAX_CONCURRENT_BATCHES};
use crate::views::{
    BatchItem, ErrorBody, ErrorKind, SubmitResponse, TransactionStatus, TransactionView,
};

/// A signed transaction submitted as JSON: its canonical BCS bytes in hex.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionHex {
    /// The canonical BCS encoding of the signed transaction, in hex.
    #[schema(pattern = "^([0-9a-fA-F]{2})+$")]
    pub transaction_hex: String,
}

/// The transaction in a submission: canonical bytes as the body, or JSON
/// `{"transaction_hex": "..."}`.
fn transaction_from_body(headers: &HeaderMap, body: &[u8]) -> Result<SignedTransaction, ApiError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = if json {
        let body: TransactionHex = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
        hex_decode(&body.transaction_hex)?
    } else {
        body.to_vec()
    };
    SignedTransaction::from_bytes(&bytes).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn hex_decode(text: &str) -> Result<Vec<u8>, ApiError> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request("transaction_hex is not hexadecimal"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&text[i..i + 2], 16)
                .map_err(|_| ApiError::bad_request("transaction_hex is not hexadecimal"))
        })
        .collect()
}

/// Over the admission mark nothing is decoded that could not come in (N3): the refusal the
/// engine would give every transaction of the body.
fn refuse_over_mark(engine: &EngineHandle) -> Result<(), ApiError> {
    match engine.over_mark() {
        Some(refusal) => Err(refusal.into()),
        None => Ok(()),
    }
}

/// Submits a signed transaction: its canonical BCS bytes, or JSON `{"transaction_hex"}`.
#[utoipa::path(
    post,
    path = "/v1/transactions",
    tag = "transactions",
    request_body(description = "The signed transaction: its canonical BCS bytes, or JSON with them in hex", content(("application/octet-stream"), (TransactionHex = "application/json"))),
    responses(
        (status = 202, description = "Admitted to the mempool; follow it with GET /v1/transactions/{hash}", body = SubmitResponse),
        (status = 400, description = "Malformed: undecodable or non-canonical bytes, bad JSON or hex", body = ErrorBody),
        (status = 409, description = "The sequence number is used (rejection 103), or another transaction of the sender with it is pending", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 422, description = "Rejected with a stable rejection code (bad signature, wrong chain, or a rule the next block would break)", body = ErrorBody),
        (status = 503, description = "Mempool at its admission mark, node overloaded or halted; retry", body = ErrorBody),
    )
)]
pub(crate) async fn submit(
    State(engine): State<EngineHandle>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<SubmitResponse>), ApiError> {
    refuse_over_mark(&engine)?;
    let tx = transaction_from_body(&headers, &body)?;
    let result = engine
        .submit(vec![tx])
        .await
        .into_iter()
        .next()
        .unwrap_or(Err(SubmitError::Stopped));
    let hash = result?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(SubmitResponse {
            hash: hash.to_hex(),
        }),
    ))
}

/// Submits many signed transactions: the BCS encoding of a list of them.
#[utoipa::path(
    post,
    path = "/v1/transactions/batch",
    tag = "transactions",
    request_body(description = "The BCS encoding of a list of signed transactions (at most 20,000)", content(("application/octet-stream"))),
    responses(
        (status = 200, description = "One result per transaction, in order: its hash, or why it was refused", body = Vec<BatchItem>),
        (status = 400, description = "Undecodable list, too many transactions, or a malformed one (named by index)", body = ErrorBody),
        (status = 413, description = "Body over 16 MiB", body = ErrorBody),
        (status = 503, description = "64 batches are being admitted, or the mempool is at its admission mark; retry", body = ErrorBody),
    )
)]
pub(crate) async fn submit_batch(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
    body: Bytes,
) -> ApiResult<Vec<BatchItem>> {
    let Ok(_permit) = gates.batches.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            format!("{MAX_CONCURRENT_BATCHES} batches are being admitted; retry in a moment"),
        ));
    };
    refuse_over_mark(&engine)?;
    let transactions: Vec<SignedTransaction> =
        tenge_types::decode("transaction batch", &body, MAX_BATCH_BODY_BYTES)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if transactions.len() > MAX_BATCH_TRANSACTIONS {
        return Err(ApiError::bad_request(format!(
            "{} transactions; at most {MAX_BATCH_TRANSACTIONS} per batch",
            transactions.len()
        )));
    }
    for (index, tx) in transactions.iter().enumerate() {
        tx.check_structure()
            .map_err(|e| ApiError::bad_request(format!("transaction {index}: {e}")))?;
    }
    let results = engine.submit(transactions).await;
    Ok(axum::Json(
        results
            .into_iter()
            .map(|result| match result {
                Ok(hash) => BatchItem {
                    hash: Some(hash.to_hex()),
                    error: None,
                },
                Err(error) => BatchItem {
                    hash: None,
                    error: Some(ApiError::from(error).body().error),
                },
            })
            .collect(),
    ))
}

/// A transaction's status: pending, committed or rejected.
#[utoipa::path(
    get,
    path = "/v1/transactions/{hash}",
    tag = "transactions",
    params(("hash" = String, Path, description = "Transaction hash", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "Pending, committed or rejected (with the rejection code)", body = TransactionView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "Unknown to this node", body = ErrorBody),
    )
)]
pub(crate) async fn transaction(
    State(engine): State<EngineHandle>,
    Path(hash): Path<String>,
) -> ApiResult<TransactionView> {
    let hash: tenge_types::HashValue = hash
        .parse()
        .map_err(|e: tenge_types::hash::HexParseError| ApiError::bad_request(e.to_string()))?;
    let view = match engine.transaction_status(hash).await {
        tenge_engine::TransactionStatus::Pending => TransactionView {
            hash: hash.to_hex(),
            status: TransactionStatus::Pending,
            height: None,
            index: None,
            code: None,
            name: None,
            reason: None,
        },
        tenge_engine::TransactionStatus::Committed(record) => {
            let (status, code, name, reason) = match record.outcome {
                Ok(()) => (TransactionStatus::Committed, None, None, None),
                Err(rejection) => (
                    TransactionStatus::Rejected,
                    Some(rejection.code.code()),
                    Some(rejection.code.name().to_string()),
                    Some(rejection.message),
                ),
            };
            TransactionView {
                hash: hash.to_hex(),
                status,
                height: Some(record.height.0),
                index: Some(record.index),
                code,
                name,
                reason,
            }
        }
        tenge_engine::TransactionStatus::Unknown => {
            return Err(ApiError::not_found(format!(
                "transaction {hash} is unknown to this node"
            )));
        }
    };
    Ok(axum::Json(view))
}
