//! Read-only questions to the node: `tenge account`, `supply`, `tx`, `block`, `status`.

use std::path::PathBuf;

use tenge_types::{AccountId, HashValue};

use crate::context::client;
use crate::exit::{Failure, Outcome};
use crate::input::account_id;

/// An account, named by its id or a key file.
pub async fn account(node: &str, id: Option<String>, key_path: Option<PathBuf>) -> Outcome {
    let id = match (id, key_path) {
        (Some(id), None) => account_id(&id)?,
        (None, Some(path)) => {
            AccountId::for_key(&tenge_cli::keys::read_public_key(&path).map_err(Failure::input)?)
        }
        _ => return Err(Failure::input("give an account id or --key FILE, not both")),
    };
    Ok(serde_json::to_value(client(node).account(&id).await?).expect("JSON"))
}

pub async fn supply(node: &str) -> Outcome {
    Ok(serde_json::to_value(client(node).supply().await?).expect("JSON"))
}

pub async fn validators(node: &str) -> Outcome {
    Ok(serde_json::to_value(client(node).validators().await?).expect("JSON"))
}

pub async fn transaction(node: &str, hash: String) -> Outcome {
    let hash: HashValue = hash
        .parse()
        .map_err(|e| Failure::input(format!("bad transaction hash: {e}")))?;
    Ok(serde_json::to_value(client(node).transaction(&hash).await?).expect("JSON"))
}

/// A block, the latest without `height`.
pub async fn block(node: &str, height: Option<u64>) -> Outcome {
    let client = client(node);
    let block = match height {
        Some(height) => client.block(height).await?,
        None => client.latest_block().await?,
    };
    Ok(serde_json::to_value(block).expect("JSON"))
}

pub async fn status(node: &str) -> Outcome {
    Ok(serde_json::to_value(client(node).status().await?).expect("JSON"))
}
