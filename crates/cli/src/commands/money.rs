//! Moving money: `tenge issue`, `redeem`, `transfer`, and `submit` of a signed transaction file.

use std::path::PathBuf;

use serde_json::json;
use tenge_types::transaction::{Issue, Redeem, Transfer};
use tenge_types::{Payload, SignedTransaction};

use crate::args::{IssueArgs, OfficerArgs, WaitArgs};
use crate::context::Context;
use crate::exit::{Failure, Outcome};
use crate::input::{account_id, amount, key, keys, read_transaction_file, write_transaction_file};

pub async fn issue(node: &str, args: IssueArgs) -> Outcome {
    let payload = Payload::Issue(Issue {
        to: account_id(&args.to)?,
        amount: amount(&args.amount)?,
    });
    let context = Context::new(node).await?;
    send_as_officers(&context, payload, args.officers).await
}

/// A central-bank transaction of `payload` (the bank's next sequence): signed by the officers
/// given and sent, or written unsigned to a file for officers to sign one by one.
pub async fn send_as_officers(
    context: &Context,
    payload: Payload,
    officers: OfficerArgs,
) -> Outcome {
    let tx = context
        .transaction(context.central_bank().await?, payload)
        .await?;
    if officers.unsigned {
        let out = officers
            .out
            .ok_or_else(|| Failure::input("--unsigned needs --out FILE"))?;
        let signed = SignedTransaction {
            transaction: tx,
            signatures: vec![],
        };
        write_transaction_file(&out, &signed)?;
        return Ok(
            json!({"hash": signed.hash().to_hex(), "file": out.display().to_string(), "signatures": 0}),
        );
    }
    let keys = keys(&officers.keys)?;
    context.send(tx, &keys, &officers.wait).await
}

/// A bank redeems `text` tenge from its own balance.
pub async fn redeem(node: &str, text: String, key_path: PathBuf, wait: WaitArgs) -> Outcome {
    let signer = key(&key_path)?;
    let context = Context::new(node).await?;
    let tx = context
        .transaction(
            signer.account_id(),
            Payload::Redeem(Redeem {
                amount: amount(&text)?,
            }),
        )
        .await?;
    context.send(tx, &[signer], &wait).await
}

pub async fn transfer(
    node: &str,
    to: String,
    text: String,
    key_path: PathBuf,
    wait: WaitArgs,
) -> Outcome {
    let signer = key(&key_path)?;
    let payload = Payload::Transfer(Transfer {
        to: account_id(&to)?,
        amount: amount(&text)?,
    });
    let context = Context::new(node).await?;
    let tx = context.transaction(signer.account_id(), payload).await?;
    context.send(tx, &[signer], &wait).await
}

pub async fn submit(node: &str, file: PathBuf, wait: WaitArgs) -> Outcome {
    let signed = read_transaction_file(&file)?;
    let context = Context::new(node).await?;
    context.submit(&signed, &wait).await
}
