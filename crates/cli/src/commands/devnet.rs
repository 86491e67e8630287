//! `tenge devnet init` and `up`: the command-line glue around [`tenge_cli::devnet`], which lays out
//! the directory and is shared with the tests and benches.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use tenge_cli::devnet::{self, DevnetOptions};
use tenge_types::transaction::Issue;
use tenge_types::{Amount, Payload};

use crate::args::{DevnetArgs, WaitArgs};
use crate::context::{Context, client};
use crate::exit::{Exit, Failure, Outcome};
use crate::input::key;

/// Writes keys, genesis and node configs.
pub fn init(args: DevnetArgs) -> Outcome {
    let file = devnet::init(&args.dir, &devnet_options(&args)).map_err(Failure::input)?;
    Ok(serde_json::to_value(file).expect("JSON"))
}

fn devnet_options(args: &DevnetArgs) -> DevnetOptions {
    DevnetOptions {
        validators: args.validators,
        observers: args.observers,
        spares: args.spares,
        base_port: args.base_port,
        ..DevnetOptions::default()
    }
}

fn tenged_binary(explicit: Option<PathBuf>) -> Result<PathBuf, Failure> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    if let Ok(me) = std::env::current_exe() {
        let sibling = me.with_file_name("tenged");
        if sibling.exists() {
            return Ok(sibling);
        }
    }
    Ok(PathBuf::from("tenged"))
}

pub async fn up(args: DevnetArgs) -> Outcome {
    let file = if args.dir.join("devnet.json").exists() {
        devnet::read(&args.dir).map_err(Failure::input)?
    } else {
        devnet::init(&args.dir, &devnet_options(&args)).map_err(Failure::input)?
    };
    let tenged = tenged_binary(args.tenged.clone())?;
    let mut children = Vec::new();
    let configs = file
        .validators
        .iter()
        .chain(&file.observers)
        .map(|node| &node.config)
        .chain(file.spares.iter().map(|spare| &spare.config));
    for config in configs {
        let log_path = config.with_file_name("node.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Failure::input(format!("cannot create {}: {e}", log_path.display())))?;
        let child = std::process::Command::new(&tenged)
            .arg("--config")
            .arg(config)
            .stdout(log.try_clone().map_err(|e| Failure::input(e.to_string()))?)
            .stderr(log)
            .spawn()
            .map_err(|e| Failure::input(format!("cannot start {}: {e} (build it with `cargo build --release --workspace`, or pass --tenged)", tenged.display())))?;
        children.push(child);
    }
    let stop_all = |children: &mut Vec<std::process::Child>| {
        for child in children.iter_mut() {
            // SIGTERM for a graceful stop.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        for child in children.iter_mut() {
            let _ = child.wait();
        }
    };
    let first = client(&file.validators[0].api);
    // Wait for the network to commit.
    let mut ready = false;
    for _ in 0..600 {
        if let Ok(status) = first.status().await
            && status.height >= 1
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !ready {
        stop_all(&mut children);
        return Err(Failure {
            exit: Exit::Unreachable,
            message: format!(
                "the devnet did not commit a block within a minute; see the node.log files in {}",
                args.dir.display()
            ),
            json: None,
        });
    }
    // Fund the two banks once (officers 1 and 2 sign), unless already funded.
    let officers = [
        key(&args.dir.join("keys/officer-1.key"))?,
        key(&args.dir.join("keys/officer-2.key"))?,
    ];
    let context = Context::new(&file.validators[0].api).await?;
    let wait = WaitArgs {
        no_wait: false,
        timeout_seconds: 60,
    };
    for bank in 1..=devnet::BANKS {
        let bank_key = key(&args.dir.join(format!("keys/bank-{bank}.key")))?;
        let funded = context
            .client
            .account(&bank_key.account_id())
            .await
            .map(|a| a.balance_tiyn > 0)
            .unwrap_or(false);
        if !funded {
            let amount = Amount::from_tenge(10_000_000).expect("fits");
            let tx = context
                .transaction(
                    context.central_bank().await?,
                    Payload::Issue(Issue {
                        to: bank_key.account_id(),
                        amount,
                    }),
                )
                .await?;
            if let Err(failure) = context.send(tx, &officers, &wait).await {
                stop_all(&mut children);
                return Err(failure);
            }
        }
    }
    let apis: Vec<String> = file
        .validators
        .iter()
        .chain(&file.observers)
        .map(|n| n.api.clone())
        .collect();
    eprintln!(
        "devnet running: {} validators, {} observers\n  APIs: {}\n  banks funded with 10,000,000.00 tenge each\n\nnext:\n  tenge --node {} supply\n  tenge --node {} account --key {}/keys/bank-1.key\n  tenge --node {} transfer --to {}/keys/bank-2.key --amount 1500.25 --key {}/keys/bank-1.key\n\nCtrl-C stops every node.",
        file.validators.len(),
        file.observers.len(),
        apis.join(" "),
        file.validators[0].api,
        file.validators[0].api,
        args.dir.display(),
        file.validators[0].api,
        args.dir.display(),
        args.dir.display(),
    );
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("stopping the devnet");
    stop_all(&mut children);
    Ok(json!({"stopped": children.len()}))
}
