//! The chain and the node: supply, policy, validators, status.

use axum::extract::State;
use tenge_engine::{EngineHandle, Mode};

use crate::error::{ApiError, ApiResult};
use crate::views::{
    ErrorBody, NodeMode, ObserverView, PolicyView, StatusView, SupplyView, ValidatorSetView,
    ValidatorView,
};

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
pub(crate) async fn supply(State(engine): State<EngineHandle>) -> ApiResult<SupplyView> {
    let ledger = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    let head = ledger.head();
    let state = ledger.state();
    let global = state.global();
    let params = &state.policy().active_at(head.height).params;
    let epoch = params.epoch_at(global.genesis_time, head.timestamp);
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
pub(crate) async fn policy(State(engine): State<EngineHandle>) -> ApiResult<PolicyView> {
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

/// The validator set in force, with the last height each validator signed.
#[utoipa::path(
    get,
    path = "/v1/validators",
    tag = "state",
    responses(
        (status = 200, description = "The validator set, validators in index order", body = ValidatorSetView),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn validators(State(engine): State<EngineHandle>) -> ApiResult<ValidatorSetView> {
    let last_signed = engine.status.borrow().last_signed.clone();
    let ledger = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    let membership = ledger.state().membership();
    let validators: Vec<ValidatorView> = membership
        .validators
        .iter()
        .enumerate()
        .map(|(index, v)| ValidatorView {
            index: index as u16,
            name: v.name.clone(),
            consensus_key: v.consensus_key.to_hex(),
            address: v.address.clone(),
            last_signed_height: last_signed.get(index).copied().flatten().map(|h| h.0),
        })
        .collect();
    let max_faulty = validators.len().saturating_sub(1) / 3;
    Ok(axum::Json(ValidatorSetView {
        epoch: membership.epoch(),
        quorum: validators.len() - max_faulty,
        max_faulty,
        validators,
    }))
}

/// The observers admitted on chain, in key order (issue 13). Observers a validator's own
/// configuration lists are not here: they are that operator's choice, not the chain's.
#[utoipa::path(
    get,
    path = "/v1/observers",
    tag = "state",
    responses(
        (status = 200, description = "The observers admitted at the committed head", body = Vec<ObserverView>),
        (status = 500, description = "Internal error", body = ErrorBody),
    )
)]
pub(crate) async fn observers(State(engine): State<EngineHandle>) -> ApiResult<Vec<ObserverView>> {
    let ledger = engine
        .ledger
        .read()
        .map_err(|_| ApiError::internal("ledger lock poisoned"))?;
    Ok(axum::Json(
        ledger
            .state()
            .membership()
            .observers
            .iter()
            .map(|observer| ObserverView {
                name: observer.name.clone(),
                key: observer.key.to_hex(),
            })
            .collect(),
    ))
}

/// The engine's mode as the API names it. A function, not a `From`: neither type is this crate's.
fn node_mode(mode: Mode) -> NodeMode {
    match mode {
        Mode::Validator => NodeMode::Validator,
        Mode::Observer => NodeMode::Observer,
    }
}

fn status_view(engine: &EngineHandle) -> StatusView {
    let status = engine.status.borrow().clone();
    StatusView {
        mode: node_mode(status.mode),
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
pub(crate) async fn status(State(engine): State<EngineHandle>) -> ApiResult<StatusView> {
    Ok(axum::Json(status_view(&engine)))
}
