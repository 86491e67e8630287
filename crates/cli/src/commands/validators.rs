//! `tenge validators add`, `remove`, `rotate-key` and `prove-key`: changes of the validator set,
//! signed by k of m officers like issuance (issue 13, D79, D80). Each change ends the epoch of
//! the block that carries it; the next epoch's set certifies the blocks after it.

use std::path::Path;

use serde_json::json;
use tenge_crypto::Keypair;
use tenge_types::transaction::{
    AddValidator, RemoveValidator, RotateValidatorKey, proof_of_possession_message,
};
use tenge_types::{ChainId, GenesisValidator, Payload, PublicKey, Signature};

use crate::args::OfficerArgs;
use crate::commands::money::send_as_officers;
use crate::context::Context;
use crate::exit::{Failure, Outcome};
use crate::input::public_key;

/// The new key's proof of possession: signed here when `key` is a secret key file, else taken
/// from `proof` (made by `tenge validators prove-key` where the secret key lives).
fn possession(
    chain_id: &ChainId,
    field: &str,
    key: &str,
    proof: Option<&str>,
) -> Result<(PublicKey, Signature), Failure> {
    if let Ok(secret) = crate::input::key(Path::new(key)) {
        if proof.is_some() {
            return Err(Failure::input(format!(
                "{field} is a secret key file: the proof of possession is signed with it, so \
                 --proof-of-possession is not needed"
            )));
        }
        return Ok((secret.public_key(), sign(chain_id, &secret)));
    }
    let public = public_key(field, key)?;
    let proof = proof.ok_or_else(|| {
        Failure::input(format!(
            "{field} names a public key: add --proof-of-possession, made with `tenge validators \
             prove-key --validator-key SECRET_KEY_FILE --chain-id {chain_id}` where its secret \
             key is"
        ))
    })?;
    Ok((public, signature("--proof-of-possession", proof)?))
}

fn sign(chain_id: &ChainId, key: &Keypair) -> Signature {
    key.sign(&proof_of_possession_message(chain_id, &key.public_key()))
}

fn signature(field: &str, text: &str) -> Result<Signature, Failure> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text.trim(), &mut bytes)
        .map_err(|_| Failure::input(format!("{field}: not 128 hexadecimal characters")))?;
    Ok(Signature(bytes))
}

/// Officers add a validator: it joins the set of the next epoch.
pub async fn add(
    node: &str,
    name: String,
    validator_key: String,
    address: String,
    proof: Option<String>,
    officers: OfficerArgs,
) -> Outcome {
    let context = Context::new(node).await?;
    let (consensus_key, proof_of_possession) = possession(
        &context.chain_id,
        "--validator-key",
        &validator_key,
        proof.as_deref(),
    )?;
    send_as_officers(
        &context,
        Payload::AddValidator(AddValidator {
            validator: GenesisValidator {
                name,
                consensus_key,
                address,
            },
            proof_of_possession,
        }),
        officers,
    )
    .await
}

/// Officers remove a validator: the next epoch's set does not have it.
pub async fn remove(node: &str, name: String, officers: OfficerArgs) -> Outcome {
    let context = Context::new(node).await?;
    send_as_officers(
        &context,
        Payload::RemoveValidator(RemoveValidator { name }),
        officers,
    )
    .await
}

/// Officers rotate a validator's consensus key: from the next epoch it signs with the new one.
pub async fn rotate_key(
    node: &str,
    name: String,
    new_key: String,
    proof: Option<String>,
    officers: OfficerArgs,
) -> Outcome {
    let context = Context::new(node).await?;
    let (new_key, proof_of_possession) = possession(
        &context.chain_id,
        "--new-validator-key",
        &new_key,
        proof.as_deref(),
    )?;
    send_as_officers(
        &context,
        Payload::RotateValidatorKey(RotateValidatorKey {
            name,
            new_key,
            proof_of_possession,
        }),
        officers,
    )
    .await
}

/// Offline: the proof that the holder of `key_file` possesses it, for chain `chain_id`, to hand
/// to the officers with the public key.
pub fn prove_key(key_file: &Path, chain_id: &str) -> Outcome {
    let chain_id =
        ChainId::new(chain_id).map_err(|e| Failure::input(format!("--chain-id: {e}")))?;
    let key = crate::input::key(key_file)?;
    Ok(json!({
        "chain_id": chain_id.to_string(),
        "validator_key": key.public_key().to_hex(),
        "proof_of_possession": hex::encode(sign(&chain_id, &key).0),
    }))
}
