//! An account in the committed state.

use axum::extract::{Path, State};
use tenge_engine::EngineHandle;
use tenge_types::AccountId;

use crate::error::{ApiError, ApiResult};
use crate::views::{AccountView, EarmarkHoldingView, ErrorBody};

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
pub(crate) async fn account(
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
