//! `tenge earmark issue`, `transfer` and `spend`.

use serde_json::json;
use tenge_types::transaction::{IssueEarmarked, SpendEarmarked, TransferEarmarked};
use tenge_types::{EarmarkId, EarmarkTerms, Payload};

use crate::args::EarmarkCommand;
use crate::context::Context;
use crate::exit::{Failure, Outcome};
use crate::input::{account_id, amount, key, keys};

pub async fn earmark(node: &str, command: EarmarkCommand) -> Outcome {
    let context = Context::new(node).await?;
    match command {
        EarmarkCommand::Issue {
            to,
            amount: text,
            purpose,
            payees,
            keys: officer_keys,
            wait,
        } => {
            let officers = keys(&officer_keys)?;
            let payload = Payload::IssueEarmarked(IssueEarmarked {
                to: account_id(&to)?,
                amount: amount(&text)?,
                terms: terms(&purpose, &payees)?,
            });
            let tx = context
                .transaction(context.central_bank().await?, payload)
                .await?;
            let earmark = EarmarkId(tx.hash().0);
            let mut outcome = context.send(tx, &officers, &wait).await?;
            outcome["earmark"] = json!(earmark.to_hex());
            Ok(outcome)
        }
        EarmarkCommand::Transfer {
            to,
            amount: text,
            purpose,
            payees,
            key: key_path,
            wait,
        } => {
            let signer = key(&key_path)?;
            let payload = Payload::TransferEarmarked(TransferEarmarked {
                to: account_id(&to)?,
                amount: amount(&text)?,
                terms: terms(&purpose, &payees)?,
            });
            let tx = context.transaction(signer.account_id(), payload).await?;
            let earmark = EarmarkId(tx.hash().0);
            let mut outcome = context.send(tx, &[signer], &wait).await?;
            outcome["earmark"] = json!(earmark.to_hex());
            Ok(outcome)
        }
        EarmarkCommand::Spend {
            earmark,
            to,
            amount: text,
            key: key_path,
            wait,
        } => {
            let signer = key(&key_path)?;
            let earmark: EarmarkId = earmark
                .parse()
                .map_err(|e| Failure::input(format!("bad earmark id: {e}")))?;
            let payload = Payload::SpendEarmarked(SpendEarmarked {
                earmark,
                to: account_id(&to)?,
                amount: amount(&text)?,
            });
            let tx = context.transaction(signer.account_id(), payload).await?;
            context.send(tx, &[signer], &wait).await
        }
    }
}

fn terms(purpose: &str, payees: &[String]) -> Result<EarmarkTerms, Failure> {
    let mut approved_payees = payees
        .iter()
        .map(|p| account_id(p))
        .collect::<Result<Vec<_>, _>>()?;
    approved_payees.sort();
    approved_payees.dedup();
    let terms = EarmarkTerms {
        purpose: purpose.to_string(),
        approved_payees,
    };
    terms
        .validate()
        .map_err(|e| Failure::input(format!("bad earmark: {e}")))?;
    Ok(terms)
}
