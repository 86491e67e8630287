//! Committed blocks: whole, with outcomes and certificates, or as hashes only.

use axum::extract::{Path, RawQuery, State};
use tenge_engine::EngineHandle;
use tenge_storage::Store;
use tenge_types::Height;
use tenge_types::consensus::StoredCertificates;

use crate::error::{ApiError, ApiResult};
use crate::handlers::proofs::gated_blocking;
use crate::proofs::HEADERS_PER_CHAIN;
use crate::server::{Gates, MAX_CONCURRENT_HEADER_CHAINS};
use crate::views::{BlockHashesView, BlockView, ErrorBody, HeaderChainView};

/// A height in a path.
fn parse_height(text: &str) -> Result<Height, ApiError> {
    text.parse()
        .map(Height)
        .map_err(|_| ApiError::bad_request(format!("`{text}` is not a block height")))
}

/// The committed block at `height` and each transaction's outcome in it (`None`: applied).
fn stored_block(
    engine: &EngineHandle,
    height: Height,
) -> Result<(tenge_types::Block, Vec<Option<tenge_types::Rejection>>), ApiError> {
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
    Ok((block, outcomes))
}

fn block_view(engine: &EngineHandle, height: Height) -> Result<BlockView, ApiError> {
    let (block, outcomes) = stored_block(engine, height)?;
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
pub(crate) async fn block(
    State(engine): State<EngineHandle>,
    Path(height): Path<String>,
) -> ApiResult<BlockView> {
    let height = parse_height(&height)?;
    Ok(axum::Json(block_view(&engine, height)?))
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
pub(crate) async fn block_hashes(
    State(engine): State<EngineHandle>,
    Path(height): Path<String>,
) -> ApiResult<BlockHashesView> {
    let height = parse_height(&height)?;
    let (block, outcomes) = stored_block(&engine, height)?;
    let mut view = BlockHashesView {
        height: height.0,
        timestamp_ms: block.header.timestamp.0,
        applied: Vec::new(),
        rejected: Vec::new(),
    };
    for (tx, outcome) in block.transactions.iter().zip(outcomes) {
        let hash = tx.hash().to_hex();
        match outcome {
            Some(_) => view.rejected.push(hash),
            None => view.applied.push(hash),
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
pub(crate) async fn latest_block(State(engine): State<EngineHandle>) -> ApiResult<BlockView> {
    let height = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?
        .head()
        .height;
    Ok(axum::Json(block_view(&engine, height)?))
}

/// Certified headers for a light client: the headers from `from` up to a committed block, and
/// the certificate that commits it (`tenge follow` checks them against the genesis file).
#[utoipa::path(
    get,
    path = "/v1/headers/{from}",
    tag = "blocks",
    params(
        ("from" = u64, Path, description = "First height of the chain (0: from the genesis block)", minimum = 0),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 256,
            description = "Stop at the first commit certificate at or past this many headers (default and most: 256)"),
    ),
    responses(
        (status = 200, description = "The chain in hex (`chain_hex`), or none when `from` is above the committed head", body = HeaderChainView),
        (status = 400, description = "Malformed request", body = ErrorBody),
        (status = 503, description = "Nothing committed yet, the commit certificate is being written, or 2 header chains are being read; retry", body = ErrorBody),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn headers(
    State(engine): State<EngineHandle>,
    axum::Extension(gates): axum::Extension<std::sync::Arc<Gates>>,
    Path(from): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<HeaderChainView> {
    let from = parse_height(&from)?;
    let limit = match query.as_deref() {
        None | Some("") => HEADERS_PER_CHAIN,
        Some(query) => query
            .strip_prefix("limit=")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=HEADERS_PER_CHAIN).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{query}`: the only parameter is limit=N, with N from 1 to {HEADERS_PER_CHAIN}"
                ))
            })?,
    };
    let view = gated_blocking(
        &gates.header_chains,
        format!("{MAX_CONCURRENT_HEADER_CHAINS} header chains are being read; retry in a moment"),
        move || crate::proofs::header_chain(&engine, from, limit),
    )
    .await?;
    Ok(axum::Json(view))
}
