//! Values given on the command line and the files it names: amounts, accounts, public keys, key
//! files, transaction files. Each failure is bad input (exit 2) naming what was wrong.

use std::path::{Path, PathBuf};

use tenge_crypto::{Keypair, read_key_file};
use tenge_types::{AccountId, Amount, PublicKey, SignedTransaction};

use crate::exit::Failure;

pub fn amount(text: &str) -> Result<Amount, Failure> {
    text.parse()
        .map_err(|e| Failure::input(format!("bad amount: {e}")))
}

/// An account: its hex id, or the path of a key file (public or secret) whose account it is.
pub fn account_id(text: &str) -> Result<AccountId, Failure> {
    if let Ok(id) = text.parse() {
        return Ok(id);
    }
    let path = Path::new(text);
    if path.exists() {
        let key = tenge_cli::keys::read_public_key(path).map_err(Failure::input)?;
        return Ok(AccountId::for_key(&key));
    }
    Err(Failure::input(format!(
        "bad account: `{text}` is neither a 64-hex-character account id nor a key file"
    )))
}

/// A public key named on the command line (hex, or a public or secret key file), for `field`.
pub fn public_key(field: &str, text: &str) -> Result<PublicKey, Failure> {
    tenge_cli::keys::public_key(text).map_err(|e| Failure::input(format!("{field}: {e}")))
}

pub fn key(path: &Path) -> Result<Keypair, Failure> {
    read_key_file(path).map_err(|e| Failure::input(e.to_string()))
}

pub fn keys(paths: &[PathBuf]) -> Result<Vec<Keypair>, Failure> {
    if paths.is_empty() {
        return Err(Failure::input("at least one --key is needed"));
    }
    paths.iter().map(|p| key(p)).collect()
}

pub fn read_transaction_file(path: &Path) -> Result<SignedTransaction, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
    let signed: SignedTransaction = serde_json::from_str(&text).map_err(|e| {
        Failure::input(format!("{} is not a transaction file: {e}", path.display()))
    })?;
    Ok(signed)
}

pub fn write_transaction_file(path: &Path, signed: &SignedTransaction) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(signed).expect("JSON") + "\n";
    std::fs::write(path, text)
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))
}
