//! Accounts: `tenge bank register`, `wallet open`, `freeze`, `unfreeze`.

use std::path::PathBuf;

use serde_json::json;
use tenge_types::transaction::{Freeze, OpenWallet, RegisterBank, Unfreeze};
use tenge_types::{AccountId, Payload};

use crate::args::{FreezeArgs, WaitArgs};
use crate::context::Context;
use crate::exit::Outcome;
use crate::input::{account_id, key, keys, public_key};

/// Officers admit a commercial bank.
pub async fn register_bank(
    node: &str,
    name: String,
    bank_key: String,
    officer_keys: Vec<PathBuf>,
    wait: WaitArgs,
) -> Outcome {
    let bank = public_key("--bank-key", &bank_key)?;
    let officers = keys(&officer_keys)?;
    let context = Context::new(node).await?;
    let payload = Payload::RegisterBank(RegisterBank { key: bank, name });
    let tx = context
        .transaction(context.central_bank().await?, payload)
        .await?;
    let mut outcome = context.send(tx, &officers, &wait).await?;
    outcome["id"] = json!(AccountId::for_key(&bank).to_hex());
    Ok(outcome)
}

/// A bank opens a wallet for the owner of `owner_key`.
pub async fn open_wallet(
    node: &str,
    tier: u8,
    owner_key: String,
    bank_key: PathBuf,
    wait: WaitArgs,
) -> Outcome {
    let owner = public_key("--owner-key", &owner_key)?;
    let bank = key(&bank_key)?;
    let context = Context::new(node).await?;
    let tx = context
        .transaction(
            bank.account_id(),
            Payload::OpenWallet(OpenWallet { key: owner, tier }),
        )
        .await?;
    let mut outcome = context.send(tx, &[bank], &wait).await?;
    outcome["id"] = json!(AccountId::for_key(&owner).to_hex());
    Ok(outcome)
}

pub async fn freeze(node: &str, args: FreezeArgs, freeze: bool) -> Outcome {
    let account = account_id(&args.account)?;
    let signers = keys(&args.keys)?;
    let payload = if freeze {
        Payload::Freeze(Freeze {
            account,
            reason: args.reason,
        })
    } else {
        Payload::Unfreeze(Unfreeze {
            account,
            reason: args.reason,
        })
    };
    let context = Context::new(node).await?;
    // One key: a bank acting on its wallet; several: officers for the central bank.
    let sender = if signers.len() == 1 {
        signers[0].account_id()
    } else {
        context.central_bank().await?
    };
    let tx = context.transaction(sender, payload).await?;
    context.send(tx, &signers, &args.wait).await
}
