//! `tenge policy show` and `set`, and the policy file (also read by `tenge genesis`).

use std::path::{Path, PathBuf};

use tenge_types::transaction::SetPolicy;
use tenge_types::{Amount, Height, Payload, PolicyParams};

use crate::args::WaitArgs;
use crate::context::{Context, client};
use crate::exit::{Failure, Outcome};
use crate::input::{amount, keys};

pub async fn show(node: &str) -> Outcome {
    let policy = client(node).policy().await?;
    Ok(serde_json::to_value(policy).expect("JSON"))
}

/// Officers adopt new parameters from `effective_height`.
pub async fn set(
    node: &str,
    file: PathBuf,
    effective_height: u64,
    officer_keys: Vec<PathBuf>,
    wait: WaitArgs,
) -> Outcome {
    let officers = keys(&officer_keys)?;
    let context = Context::new(node).await?;
    let current = context.client.policy().await?.current.params;
    let params = read_policy_file(&file, current)?;
    let payload = Payload::SetPolicy(SetPolicy {
        effective_height: Height(effective_height),
        params,
    });
    let tx = context
        .transaction(context.central_bank().await?, payload)
        .await?;
    context.send(tx, &officers, &wait).await
}

/// Policy file: TOML with amounts in tenge; omitted fields keep `current`'s values.
pub fn read_policy_file(path: &Path, current: PolicyParams) -> Result<PolicyParams, Failure> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tier {
        holding_limit: String,
        per_transaction_limit: String,
        daily_outflow_limit: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        supply_ceiling: Option<String>,
        epoch_duration_ms: Option<u64>,
        issuance_cap_per_epoch: Option<String>,
        bank_quota_per_epoch: Option<String>,
        wallet_tiers: Option<Vec<Tier>>,
        max_transaction_lifetime_ms: Option<u64>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
    let file: File = toml::from_str(&text)
        .map_err(|e| Failure::input(format!("policy file {}: {e}", path.display())))?;
    let limit = |text: &str| {
        if text == "unlimited" {
            Ok(Amount::MAX)
        } else {
            amount(text)
        }
    };
    let mut params = current;
    if let Some(v) = file.supply_ceiling {
        params.supply_ceiling = amount(&v)?;
    }
    if let Some(v) = file.epoch_duration_ms {
        params.epoch_duration_ms = v;
    }
    if let Some(v) = file.max_transaction_lifetime_ms {
        params.max_transaction_lifetime_ms = v;
    }
    if let Some(v) = file.issuance_cap_per_epoch {
        params.issuance_cap_per_epoch = amount(&v)?;
    }
    if let Some(v) = file.bank_quota_per_epoch {
        params.bank_quota_per_epoch = amount(&v)?;
    }
    if let Some(tiers) = file.wallet_tiers {
        params.wallet_tiers = tiers
            .iter()
            .map(|t| {
                Ok(tenge_types::WalletTierLimits {
                    holding_limit: limit(&t.holding_limit)?,
                    per_transaction_limit: limit(&t.per_transaction_limit)?,
                    daily_outflow_limit: limit(&t.daily_outflow_limit)?,
                })
            })
            .collect::<Result<_, Failure>>()?;
    }
    params
        .validate()
        .map_err(|e| Failure::input(format!("policy file {}: {e}", path.display())))?;
    Ok(params)
}
