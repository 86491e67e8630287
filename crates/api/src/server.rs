//! The HTTP server (axum).

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tenge_engine::{EngineHandle, SubmitError, TransactionStatus};
use tenge_storage::Store;
use tenge_types::consensus::StoredCertificates;
use tenge_types::{AccountId, Height, RejectionCode, SignedTransaction};

use crate::views::*;

/// Largest request body for a single transaction, in bytes (hex in JSON doubles it).
pub const MAX_TRANSACTION_BODY_BYTES: usize =
    2 * tenge_types::transaction::MAX_TRANSACTION_BYTES + 1024;
/// Largest request body for a batch of transactions.
pub const MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most transactions in one batch submission.
pub const MAX_BATCH_TRANSACTIONS: usize = 20_000;
/// Batch submissions in progress at once; more are answered 503 at once. Their signature checks
/// wait for one another in the engine (`EngineHandle::submit`), so this bounds the memory held
/// by waiting batches, not the CPU (security review H7).
pub const MAX_CONCURRENT_BATCHES: usize = 64;
/// Event-stream subscribers at once; more are answered 503 (security review L1).
pub const MAX_EVENT_SUBSCRIBERS: usize = 256;
/// Proofs being built at once; more are answered 503 at once. Each one hashes paths and verifies
/// a quorum of signatures on a blocking thread, so this bounds the CPU a client can take.
pub const MAX_CONCURRENT_PROOFS: usize = 8;

/// Admission gates shared by the handlers of one router.
struct Gates {
    batches: std::sync::Arc<tokio::sync::Semaphore>,
    subscribers: std::sync::Arc<tokio::sync::Semaphore>,
    proofs: std::sync::Arc<tokio::sync::Semaphore>,
}

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
    get "/v1/supply" => supply;
    get "/v1/proofs/accounts/{id}" => account_proof;
    get "/v1/proofs/supply" => supply_proof;
    get "/v1/proofs/earmarks/{id}" => earmark_proof;
    get "/v1/policy" => policy;
    get "/v1/validators" => validators;
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

/// An API error in the one shape.
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    code: Option<RejectionCode>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            code: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn rejected(code: RejectionCode, message: impl Into<String>) -> ApiError {
        let status = match code {
            RejectionCode::SequenceAlreadyUsed => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            status,
            kind: "rejected",
            message: message.into(),
            code: Some(code),
        }
    }

    fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                kind: self.kind.to_string(),
                message: self.message.clone(),
                code: self.code.map(RejectionCode::code),
                name: self.code.map(|c| c.name().to_string()),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> ApiError {
        let message = error.to_string();
        match error {
            SubmitError::InvalidSignature => {
                ApiError::rejected(RejectionCode::InvalidSignature, message)
            }
            SubmitError::WrongChain(_) => ApiError::rejected(RejectionCode::WrongChain, message),
            SubmitError::Rejected(rejection) => {
                ApiError::rejected(rejection.code, rejection.message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::SequenceUsed { .. }) => {
                ApiError::rejected(RejectionCode::SequenceAlreadyUsed, message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::SequencePending { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::SequenceTooFarAhead { .. }) => {
                ApiError::rejected(RejectionCode::SequenceTooHigh, message)
            }
            SubmitError::Mempool(tenge_engine::MempoolError::Full(_)) | SubmitError::Overloaded => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            SubmitError::Stopped | SubmitError::Halted(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
        }
    }
}

type ApiResult<T> = Result<axum::Json<T>, ApiError>;

/// The router of a node's API.
pub fn router(engine: EngineHandle) -> Router {
    served_routes()
        .fallback(|| async { ApiError::not_found("no such route; see /v1/openapi.json") })
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            crate::metrics::record,
        ))
        .layer(axum::Extension(std::sync::Arc::new(Gates {
            batches: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_BATCHES)),
            subscribers: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_SUBSCRIBERS)),
            proofs: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_PROOFS)),
        })))
        .with_state(engine)
}

/// Errors produced outside our handlers (body too large, bad path, wrong method) come as plain
/// text; give them the one JSON error shape.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_string();
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    };
    ApiError::new(status, kind, message).into_response()
}

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
async fn submit(
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
async fn submit_batch(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
    body: Bytes,
) -> ApiResult<Vec<BatchItem>> {
    let Ok(_permit) = gates.batches.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
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
async fn transaction(
    State(engine): State<EngineHandle>,
    Path(hash): Path<String>,
) -> ApiResult<TransactionView> {
    let hash: tenge_types::HashValue = hash
        .parse()
        .map_err(|e: tenge_types::hash::HexParseError| ApiError::bad_request(e.to_string()))?;
    let view = match engine.transaction_status(hash).await {
        TransactionStatus::Pending => TransactionView {
            hash: hash.to_hex(),
            status: "pending".into(),
            height: None,
            index: None,
            code: None,
            name: None,
            reason: None,
        },
        TransactionStatus::Committed(record) => {
            let (status, code, name, reason) = match record.outcome {
                Ok(()) => ("committed", None, None, None),
                Err(rejection) => (
                    "rejected",
                    Some(rejection.code.code()),
                    Some(rejection.code.name().to_string()),
                    Some(rejection.message),
                ),
            };
            TransactionView {
                hash: hash.to_hex(),
                status: status.into(),
                height: Some(record.height.0),
                index: Some(record.index),
                code,
                name,
                reason,
            }
        }
        TransactionStatus::Unknown => {
            return Err(ApiError::not_found(format!(
                "transaction {hash} is unknown to this node"
            )));
        }
    };
    Ok(axum::Json(view))
}

/// An account: balance, earmarked part, sequence, role, tier, frozen, keys.
#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    tag = "state",
    params(("id" = String, Path, description = "Account id", pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The account in the committed state", body = AccountView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
    )
)]
async fn account(
    State(engine): State<EngineHandle>,
    Path(id): Path<String>,
) -> ApiResult<AccountView> {
    let id: AccountId = id
        .parse()
        .map_err(|e: tenge_types::hash::HexParseError| ApiError::bad_request(e.to_string()))?;
    let ledger = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    let state = ledger.state();
    let account = state
        .account(&id)
        .ok_or_else(|| ApiError::not_found(format!("account {id} does not exist")))?;
    let earmarks = account
        .earmarked
        .iter()
        .map(|holding| {
            let earmark = state.earmark(&holding.earmark);
            EarmarkHoldingView {
                earmark: holding.earmark.to_hex(),
                purpose: earmark.map(|e| e.terms.purpose.clone()).unwrap_or_default(),
                amount_tiyn: holding.amount.tiyn(),
                approved_payees: earmark
                    .map(|e| e.terms.approved_payees.iter().map(|p| p.to_hex()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    Ok(axum::Json(AccountView::new(account, earmarks)))
}

fn block_view(engine: &EngineHandle, height: Height) -> Result<BlockView, ApiError> {
    let block = engine
        .store
        .block(height)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    let outcomes = block
        .transactions
        .iter()
        .enumerate()
        .map(|(index, tx)| tenge_storage::block_outcome(engine.store.as_ref(), height, index, tx))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let certificates = engine
        .store
        .certificate(height)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .filter(|bytes| !bytes.is_empty())
        .and_then(|bytes| StoredCertificates::from_bytes(&bytes).ok());
    Ok(BlockView::new(&block, outcomes, certificates))
}

/// A committed block with its transactions' outcomes and its certificates.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}",
    tag = "blocks",
    params(("height" = u64, Path, description = "Block height", minimum = 0)),
    responses(
        (status = 200, description = "The block, its transactions with outcomes, and its certificates", body = BlockView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "No block at this height", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
async fn block(
    State(engine): State<EngineHandle>,
    Path(height): Path<String>,
) -> ApiResult<BlockView> {
    let height: u64 = height
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{height}` is not a block height")))?;
    Ok(axum::Json(block_view(&engine, Height(height))?))
}

/// A compact view of a block for load generators and indexers: the hashes of its applied and
/// rejected transactions.
#[utoipa::path(
    get,
    path = "/v1/blocks/{height}/hashes",
    tag = "blocks",
    params(("height" = u64, Path, description = "Block height", minimum = 0)),
    responses(
        (status = 200, description = "The hashes of the block's applied and rejected transactions", body = BlockHashesView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 404, description = "No block at this height", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
async fn block_hashes(
    State(engine): State<EngineHandle>,
    Path(height): Path<String>,
) -> ApiResult<BlockHashesView> {
    let height: u64 = height
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{height}` is not a block height")))?;
    let block = engine
        .store
        .block(Height(height))
        .map_err(|e| ApiError::internal(e.to_string()))?
        .ok_or_else(|| ApiError::not_found(format!("no block at height {height}")))?;
    let mut view = BlockHashesView {
        height,
        timestamp_ms: block.header.timestamp.0,
        applied: Vec::new(),
        rejected: Vec::new(),
    };
    for (index, tx) in block.transactions.iter().enumerate() {
        let hash = tx.hash();
        let rejected =
            tenge_storage::block_outcome(engine.store.as_ref(), Height(height), index, tx)
                .map_err(|e| ApiError::internal(e.to_string()))?
                .is_some();
        if rejected {
            view.rejected.push(hash.to_hex());
        } else {
            view.applied.push(hash.to_hex());
        }
    }
    Ok(axum::Json(view))
}

/// The committed head block with its certificates.
#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "blocks",
    responses(
        (status = 200, description = "The committed head", body = BlockView),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
async fn latest_block(State(engine): State<EngineHandle>) -> ApiResult<BlockView> {
    let height = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?
        .head()
        .height;
    Ok(axum::Json(block_view(&engine, height)?))
}

/// Issued, redeemed and outstanding supply, the ceiling and the epoch's issuance.
#[utoipa::path(
    get,
    path = "/v1/supply",
    tag = "state",
    responses(
        (status = 200, description = "Supply at the committed head", body = SupplyView),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
async fn supply(State(engine): State<EngineHandle>) -> ApiResult<SupplyView> {
    let ledger = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    let head = ledger.head();
    let state = ledger.state();
    let global = state.global();
    let params = &state.policy().active_at(head.height).params;
    let epoch = tenge_policy_epoch(params, global, head.timestamp);
    Ok(axum::Json(SupplyView {
        central_bank: global.central_bank.to_hex(),
        issued_tiyn: global.issued.tiyn(),
        redeemed_tiyn: global.redeemed.tiyn(),
        outstanding_tiyn: global.outstanding().tiyn(),
        ceiling_tiyn: params.supply_ceiling.tiyn(),
        epoch,
        epoch_issued_tiyn: global.epoch_issuance.in_period(epoch).tiyn(),
        epoch_cap_tiyn: params.issuance_cap_per_epoch.tiyn(),
        height: head.height.0,
    }))
}

async fn proof(
    engine: &EngineHandle,
    gates: &Gates,
    request: crate::proofs::ProofRequest,
) -> ApiResult<ProofView> {
    use crate::proofs::ProofError;
    let Ok(permit) = gates.proofs.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{MAX_CONCURRENT_PROOFS} proofs are being built; retry in a moment"),
        ));
    };
    let to_api = |error: ProofError| match error {
        ProofError::NotFound(message) => ApiError::not_found(message),
        ProofError::Unavailable(message) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
        ProofError::Internal(message) => ApiError::internal(message),
    };
    let engine = engine.clone();
    // The permit is held by the blocking work itself: a client that goes away does not free
    // its slot before the work ends.
    let view = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let bundle = crate::proofs::build(&engine, request)?;
        crate::proofs::view(&engine, &bundle)
    })
    .await
    .map_err(|e| ApiError::internal(format!("building the proof failed: {e}")))?
    .map_err(to_api)?;
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
async fn account_proof(
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
async fn supply_proof(
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
async fn earmark_proof(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
    Path(id): Path<String>,
) -> ApiResult<ProofView> {
    let id: tenge_types::EarmarkId = id
        .parse()
        .map_err(|e: tenge_types::hash::HexParseError| ApiError::bad_request(e.to_string()))?;
    proof(&engine, &gates, crate::proofs::ProofRequest::Earmark(id)).await
}

fn tenge_policy_epoch(
    params: &tenge_types::PolicyParams,
    global: &tenge_types::GlobalState,
    time: tenge_types::TimestampMs,
) -> u64 {
    time.0.saturating_sub(global.genesis_time.0) / params.epoch_duration_ms
}

/// The monetary policy in force and its full history.
#[utoipa::path(
    get,
    path = "/v1/policy",
    tag = "state",
    responses(
        (status = 200, description = "The policy version in force and every version adopted", body = PolicyView),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
async fn policy(State(engine): State<EngineHandle>) -> ApiResult<PolicyView> {
    let ledger = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    let policy = ledger.state().policy();
    Ok(axum::Json(PolicyView {
        current: policy.active_at(ledger.head().height).clone(),
        history: policy.history.clone(),
    }))
}

/// The validator set.
#[utoipa::path(
    get,
    path = "/v1/validators",
    tag = "state",
    responses(
        (status = 200, description = "The genesis validators, in index order", body = Vec<ValidatorView>),
    )
)]
async fn validators(State(engine): State<EngineHandle>) -> ApiResult<Vec<ValidatorView>> {
    Ok(axum::Json(
        engine
            .genesis
            .validators
            .iter()
            .enumerate()
            .map(|(index, v)| ValidatorView {
                index: index as u16,
                name: v.name.clone(),
                consensus_key: v.consensus_key.to_hex(),
                address: v.address.clone(),
            })
            .collect(),
    ))
}

fn status_view(engine: &EngineHandle) -> StatusView {
    let status = engine.status.borrow().clone();
    StatusView {
        mode: format!("{:?}", status.mode).to_lowercase(),
        chain_id: status.chain_id,
        height: status.height.0,
        block_id: status.block_id.to_hex(),
        state_root: status.state_root.to_hex(),
        block_time_ms: status.block_time.0,
        round: status.round.0,
        peers: status.peers,
        syncing: status.syncing,
        mempool_transactions: status.mempool_transactions,
        halted: status.halted,
    }
}

/// This node's status: mode, height, round, peers, syncing, mempool, halted.
#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    responses(
        (status = 200, description = "Mode, committed head, round, peers, sync, mempool, halt reason", body = StatusView),
    )
)]
async fn status(State(engine): State<EngineHandle>) -> ApiResult<StatusView> {
    Ok(axum::Json(status_view(&engine)))
}

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
async fn events(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Ok(permit) = gates.subscribers.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
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

/// This document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "This OpenAPI document, generated from the code", body = Object, content_type = "application/json"),
    )
)]
async fn openapi() -> impl IntoResponse {
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
async fn health(State(engine): State<EngineHandle>) -> Response {
    match engine.status.borrow().halted.clone() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(reason) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
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
async fn metrics(State(engine): State<EngineHandle>) -> Response {
    crate::metrics::page(&engine)
}
