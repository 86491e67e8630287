//! `tenge genesis`: a genesis file from public keys and a policy file.

use serde_json::json;
use tenge_types::{ChainId, PolicyParams, TimestampMs};

use crate::args::GenesisArgs;
use crate::commands::policy::read_policy_file;
use crate::exit::{Failure, Outcome};
use crate::input::public_key;

pub fn genesis(args: GenesisArgs) -> Outcome {
    let chain_id =
        ChainId::new(&args.chain_id).map_err(|e| Failure::input(format!("--chain-id: {e}")))?;
    let officers = args
        .officer_keys
        .iter()
        .enumerate()
        .map(|(i, text)| public_key(&format!("--officer-key #{} (officers.keys)", i + 1), text))
        .collect::<Result<Vec<_>, Failure>>()?;
    let officers = tenge_types::MultisigPolicy::new(args.threshold, officers)
        .map_err(|e| Failure::input(format!("--threshold / --officer-key: {e}")))?;
    let banks = args
        .banks
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let (name, key) = spec
                .split_once('=')
                .ok_or_else(|| Failure::input(format!("--bank `{spec}`: expected NAME=KEY")))?;
            Ok(tenge_types::GenesisBank {
                name: name.to_string(),
                key: public_key(&format!("--bank `{name}` (banks[{i}].key)"), key)?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let validators = args
        .validators
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let bad =
                || Failure::input(format!("--validator `{spec}`: expected NAME=KEY@MULTIADDR"));
            let (name, rest) = spec.split_once('=').ok_or_else(bad)?;
            // A multiaddr holds no `@`; a key file's path might.
            let (key, address) = rest.rsplit_once('@').ok_or_else(bad)?;
            let consensus_key = public_key(
                &format!("--validator `{name}` (validators[{i}].consensus_key)"),
                key,
            )?;
            tenge_types::PeerAddress::parse(address).map_err(|reason| {
                Failure::input(format!(
                    "--validator `{name}` (validators[{i}].address): {reason}"
                ))
            })?;
            Ok(tenge_types::GenesisValidator {
                name: name.to_string(),
                consensus_key,
                address: address.to_string(),
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let policy = match &args.policy {
        Some(path) => read_policy_file(path, PolicyParams::defaults())?,
        None => PolicyParams::defaults(),
    };
    let genesis = tenge_types::Genesis {
        chain_id,
        genesis_time: TimestampMs::now(),
        officers,
        policy,
        banks,
        validators,
    };
    genesis.validate().map_err(Failure::input)?;
    let text = serde_json::to_string_pretty(&genesis).expect("JSON") + "\n";
    std::fs::write(&args.out, text)
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", args.out.display())))?;
    Ok(
        json!({"file": args.out, "chain_id": genesis.chain_id.to_string(), "genesis_hash": genesis.hash().to_hex(), "central_bank": genesis.officers.account_id().to_hex()}),
    )
}
