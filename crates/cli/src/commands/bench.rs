//! `tenge bench`: finds the nodes and keys, then runs [`tenge_cli::bench`].

use crate::args::BenchArgs;
use crate::context::client;
use crate::exit::{Exit, Failure, Outcome};
use crate::input::key;

use tenge_cli::devnet;
use tenge_client::views::AccountRole;

pub async fn bench(args: BenchArgs) -> Outcome {
    let (nodes, officers, bank) = match &args.devnet {
        Some(dir) => {
            let file = devnet::read(dir).map_err(Failure::input)?;
            let officers = vec![
                key(&dir.join("keys/officer-1.key"))?,
                key(&dir.join("keys/officer-2.key"))?,
            ];
            (
                file.validators.iter().map(|n| n.api.clone()).collect(),
                officers,
                key(&dir.join("keys/bank-1.key"))?,
            )
        }
        None => {
            if args.nodes.is_empty() {
                return Err(Failure::input(
                    "give --devnet DIR, or --nodes URL,URL with --key files",
                ));
            }
            let client = client(&args.nodes[0]);
            let mut bank = None;
            let mut officers = Vec::new();
            for path in &args.keys {
                let k = key(path)?;
                let role = client.account(&k.account_id()).await.map(|a| a.role);
                if matches!(role, Ok(AccountRole::CommercialBank)) && bank.is_none() {
                    bank = Some(k);
                } else {
                    officers.push(k);
                }
            }
            let bank =
                bank.ok_or_else(|| Failure::input("no --key file belongs to a commercial bank"))?;
            (args.nodes.clone(), officers, bank)
        }
    };
    let options = tenge_cli::bench::BenchOptions {
        nodes,
        officers,
        bank,
        rate: args.rate,
        duration_s: args.duration,
        accounts: args.accounts,
    };
    let report = tenge_cli::bench::run(options)
        .await
        .map_err(|e| Failure::with_exit(Exit::Unreachable, e))?;
    Ok(serde_json::to_value(report).expect("JSON"))
}
