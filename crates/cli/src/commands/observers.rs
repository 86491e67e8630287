//! `tenge observers list`, `add` and `remove`: observer nodes admitted on chain (issue 13).

use tenge_types::Payload;
use tenge_types::transaction::{AddObserver, RemoveObserver};

use crate::args::OfficerArgs;
use crate::commands::money::send_as_officers;
use crate::context::{Context, client};
use crate::exit::Outcome;
use crate::input::public_key;

pub async fn list(node: &str) -> Outcome {
    let observers = client(node).observers().await?;
    Ok(serde_json::to_value(observers).expect("JSON"))
}

/// Officers admit the observer whose node key is `observer_key`.
pub async fn add(
    node: &str,
    observer_key: String,
    name: Option<String>,
    officers: OfficerArgs,
) -> Outcome {
    let key = public_key("--observer-key", &observer_key)?;
    let name = name.unwrap_or_else(|| format!("observer-{}", &key.to_hex()[..8]));
    let context = Context::new(node).await?;
    send_as_officers(
        &context,
        Payload::AddObserver(AddObserver { key, name }),
        officers,
    )
    .await
}

/// Officers remove the observer whose node key is `observer_key`.
pub async fn remove(node: &str, observer_key: String, officers: OfficerArgs) -> Outcome {
    let key = public_key("--observer-key", &observer_key)?;
    let context = Context::new(node).await?;
    send_as_officers(
        &context,
        Payload::RemoveObserver(RemoveObserver { key }),
        officers,
    )
    .await
}
