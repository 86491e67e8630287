//! `tenge proof` (fetch a bundle, verified here with `--genesis`) and `tenge verify` (offline).

use std::path::Path;

use serde_json::json;
use tenge_types::{EarmarkId, HashValue};

use crate::args::ProofCommand;
use crate::context::client;
use crate::exit::{Exit, Failure, Outcome};
use crate::input::account_id;

/// Fetches a bundle and writes its bytes to `--out`. With a genesis file the bundle received is
/// verified here and what it proves is printed; without, what the node says it proves is printed
/// without `valid` (it is not evidence until `tenge verify` has checked it).
pub async fn fetch_proof(node: &str, command: ProofCommand, genesis: Option<&Path>) -> Outcome {
    let client = client(node);
    // Read the genesis first: a bad path fails before the network is asked.
    let genesis = genesis.map(read_genesis).transpose()?;
    let (view, out) = match command {
        ProofCommand::Account { account, out } => {
            (client.account_proof(&account_id(&account)?).await?, out)
        }
        ProofCommand::Supply { out } => (client.supply_proof().await?, out),
        ProofCommand::Earmark { id, out } => {
            let id: EarmarkId = id
                .parse()
                .map_err(|e| Failure::input(format!("bad earmark id: {e}")))?;
            (client.earmark_proof(&id).await?, out)
        }
    };
    let bytes = hex::decode(&view.bundle_hex).map_err(|e| {
        Failure::with_exit(
            Exit::Unreachable,
            format!("the node sent a bundle that is not hex: {e}"),
        )
    })?;
    let bundle = tenge_proof::ProofBundle::from_bytes(&bytes).map_err(|e| {
        Failure::with_exit(
            Exit::Unreachable,
            format!("the node sent a bundle that does not decode: {e}"),
        )
    })?;
    std::fs::write(&out, &bytes)
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", out.display())))?;
    let mut value = match &genesis {
        Some(genesis) => check_bundle(&bundle, genesis, &Expectations::default())?,
        None => {
            // What the node says, without its `valid`: nothing here checked it.
            let mut said = serde_json::to_value(&view.verified).expect("JSON");
            if let Some(fields) = said.as_object_mut() {
                fields.remove("valid");
            }
            said["note"] = json!(
                "as the node says, not verified here: give --genesis, or run `tenge verify FILE --genesis GENESIS`"
            );
            said
        }
    };
    value["file"] = json!(out.display().to_string());
    value["bundle_bytes"] = json!(bytes.len());
    Ok(value)
}

/// What `tenge verify` requires of a valid bundle besides its validity.
#[derive(Default)]
pub struct Expectations {
    /// The account or earmark it must be about.
    pub id: Option<String>,
    pub min_height: Option<u64>,
}

pub(crate) fn read_genesis(path: &Path) -> Result<tenge_types::Genesis, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read genesis {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::input(format!("{} is not a genesis file: {e}", path.display())))
}

/// Verifies `bundle` against `genesis` and the expectations: what it proves, or exit 1 naming the
/// failed check.
fn check_bundle(
    bundle: &tenge_proof::ProofBundle,
    genesis: &tenge_types::Genesis,
    expect: &Expectations,
) -> Outcome {
    let invalid = |check: &str, error: String| Failure {
        exit: Exit::Rejected,
        message: format!("INVALID ({check}): {error}"),
        json: Some(json!({
            "valid": false,
            "kind": bundle.claim.kind(),
            "check": check,
            "error": error,
            "exit_code": Exit::Rejected.code(),
        })),
    };
    let verified = tenge_proof::verify(bundle, genesis)
        .map_err(|error| invalid(error.check(), error.to_string()))?;
    if let Some(expected) = &expect.id {
        let expected_hex = match expected.parse::<HashValue>() {
            Ok(hash) => hash.to_hex(),
            Err(_) => account_id(expected)?.to_hex(),
        };
        let proven = match &verified.facts {
            tenge_proof::Facts::Account(facts) => Some(&facts.account),
            tenge_proof::Facts::Absence { account } => Some(account),
            tenge_proof::Facts::Earmark(facts) => Some(&facts.earmark),
            tenge_proof::Facts::Supply(_) => None,
        };
        match proven {
            Some(id) if id.eq_ignore_ascii_case(&expected_hex) => {}
            Some(id) => {
                return Err(invalid(
                    "expect_id",
                    format!(
                        "the bundle is about {id}, not {expected_hex} (a valid proof of something else)"
                    ),
                ));
            }
            None => {
                return Err(invalid(
                    "expect_id",
                    format!(
                        "a {} bundle is about no id; --expect-id {expected_hex} cannot hold",
                        bundle.claim.kind()
                    ),
                ));
            }
        }
    }
    if let Some(min_height) = expect.min_height
        && verified.height < min_height
    {
        return Err(invalid(
            "min_height",
            format!(
                "the bundle proves the state at height {}, older than --min-height {min_height}",
                verified.height
            ),
        ));
    }
    Ok(serde_json::to_value(&verified).expect("JSON"))
}

/// `tenge verify`: offline, against the genesis file alone.
pub fn verify_bundle(file: &Path, genesis_file: &Path, expect: &Expectations) -> Outcome {
    let genesis = read_genesis(genesis_file)?;
    let bytes = read_limited(file, tenge_proof::MAX_BUNDLE_BYTES)?;
    let bundle = tenge_proof::ProofBundle::from_bytes(&bytes).map_err(|e| Failure {
        exit: Exit::BadInput,
        message: format!(
            "{} is not a readable, canonical proof bundle: {e}",
            file.display()
        ),
        json: Some(json!({
            "valid": false,
            "check": "unreadable",
            "error": e.to_string(),
            "exit_code": Exit::BadInput.code(),
        })),
    })?;
    check_bundle(&bundle, &genesis, expect)
}

/// At most `limit` bytes of `file`; a longer file (or an endless one like `/dev/zero`) is refused
/// after reading `limit + 1` bytes, never read whole.
fn read_limited(file: &Path, limit: usize) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| Failure::input(format!("cannot read {}: {e}", file.display()));
    let opened = std::fs::File::open(file).map_err(cannot)?;
    let mut bytes = Vec::new();
    opened
        .take(limit as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > limit {
        return Err(Failure {
            exit: Exit::BadInput,
            message: format!(
                "{} is larger than a proof bundle can be ({limit} bytes)",
                file.display()
            ),
            json: Some(json!({
                "valid": false,
                "check": "unreadable",
                "error": format!("larger than {limit} bytes"),
                "exit_code": Exit::BadInput.code(),
            })),
        });
    }
    Ok(bytes)
}
