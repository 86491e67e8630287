//! `tenge keygen` and `tenge sign`.

use std::path::PathBuf;

use serde_json::json;
use tenge_crypto::{Keypair, write_key_file};
use tenge_types::TransactionSignature;

use crate::exit::{Exit, Failure, Outcome};
use crate::input::{key, read_transaction_file, write_transaction_file};

pub fn keygen(out: PathBuf) -> Outcome {
    let public_out = tenge_cli::keys::public_key_path(&out).map_err(Failure::input)?;
    // Both files are new: check before writing the secret, so a refusal changes nothing.
    if public_out.exists() {
        return Err(Failure::input(format!(
            "{} already exists; refusing to overwrite it",
            public_out.display()
        )));
    }
    let key = Keypair::generate().map_err(|e| Failure::input(e.to_string()))?;
    write_key_file(&out, &key).map_err(|e| Failure::input(e.to_string()))?;
    tenge_cli::keys::write_public_key_file(&public_out, &key.public_key())
        .map_err(Failure::input)?;
    Ok(json!({
        "id": key.account_id().to_hex(),
        "public_key": key.public_key().to_hex(),
        "file": out.display().to_string(),
        "public_key_file": public_out.display().to_string(),
    }))
}

/// Adds `key_path`'s signature to the transaction file, after checking the signatures already
/// there and the expected hash.
pub fn sign(file: PathBuf, key_path: PathBuf, expect_hash: Option<String>) -> Outcome {
    let mut signed = read_transaction_file(&file)?;
    let signer = key(&key_path)?;
    // Security review M9: a file edited after someone signed it no longer matches its
    // signatures; refuse it rather than add a signature to altered content.
    let hash = signed.hash();
    for existing in &signed.signatures {
        if !tenge_crypto::verify_strict(&hash, &existing.public_key, &existing.signature) {
            return Err(Failure {
                exit: Exit::Rejected,
                message: format!(
                    "{}: the signature of {} does not match the transaction: the file \
                     was changed after it was signed; do not sign it",
                    file.display(),
                    existing.public_key.to_hex()
                ),
                json: None,
            });
        }
    }
    if let Some(expected) = &expect_hash
        && !expected.eq_ignore_ascii_case(&hash.to_hex())
    {
        return Err(Failure {
            exit: Exit::Rejected,
            message: format!(
                "the transaction's hash is {}, not the expected {expected}; do not sign it",
                hash.to_hex()
            ),
            json: None,
        });
    }
    if signed
        .signatures
        .iter()
        .any(|s| s.public_key == signer.public_key())
    {
        return Err(Failure::input(format!(
            "{} already signed this transaction",
            key_path.display()
        )));
    }
    signed.signatures.push(TransactionSignature {
        public_key: signer.public_key(),
        signature: signer.sign(&signed.hash()),
    });
    write_transaction_file(&file, &signed)?;
    let tx = &signed.transaction;
    Ok(json!({
        "hash": signed.hash().to_hex(),
        "kind": tx.payload.kind(),
        "chain_id": tx.chain_id.to_string(),
        "sender": tx.sender.to_hex(),
        "sequence": tx.sequence,
        "expires_at_ms": tx.expires_at_ms.0,
        "payload": serde_json::to_value(&tx.payload).expect("JSON"),
        "signed_by": signed
            .signatures
            .iter()
            .map(|s| s.public_key.to_hex())
            .collect::<Vec<_>>(),
        "signatures": signed.signatures.len(),
        "file": file,
    }))
}
