//! `tenge`: the command line of the digital tenge.
//!
//! Exit codes ([`exit::Exit`]): 0 success; 1 the transaction was rejected (by the node or in a
//! block); 2 bad input (arguments, amounts, key files, files); 3 node unreachable or answering
//! wrongly; 4 no final answer in time.

mod args;
mod commands;
mod context;
mod exit;
mod input;
mod output;

use std::process::ExitCode;

use clap::Parser;

use args::{
    BankCommand, Cli, Command, DevnetCommand, ObserversCommand, PolicyCommand, ValidatorsCommand,
    WalletCommand,
};
use commands::{
    accounts, bench, devnet, earmark, follow, genesis, keys, money, observers, policy, proofs,
    query, validators,
};
use context::{EXPIRES_IN_MS, TLS};
use exit::{Failure, Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let output = cli.output;
    match runtime.block_on(run(cli)) {
        Ok(value) => {
            output::print(output, &value);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            output::print_failure(output, &failure);
            failure.exit.into()
        }
    }
}

async fn run(cli: Cli) -> Outcome {
    let _ = EXPIRES_IN_MS.set(cli.expires_in);
    if let Some(path) = &cli.ca_cert {
        let tls = tenge_client::tls::client_config(path)
            .map_err(|e| Failure::input(format!("--ca-cert: {e}")))?;
        let _ = TLS.set(tls);
    }
    let node = cli.node.as_str();
    let output = cli.output;
    match cli.command {
        Command::Keygen { out } => keys::keygen(out),
        Command::Genesis(args) => genesis::genesis(args),
        Command::Devnet(DevnetCommand::Init(args)) => devnet::init(args),
        Command::Devnet(DevnetCommand::Up(args)) => devnet::up(args).await,
        Command::Issue(args) => money::issue(node, args).await,
        Command::Sign {
            file,
            key,
            expect_hash,
        } => keys::sign(file, key, expect_hash),
        Command::Submit { file, wait } => money::submit(node, file, wait).await,
        Command::Redeem { amount, key, wait } => money::redeem(node, amount, key, wait).await,
        Command::Transfer {
            to,
            amount,
            key,
            wait,
        } => money::transfer(node, to, amount, key, wait).await,
        Command::Bank(BankCommand::Register {
            name,
            bank_key,
            keys,
            wait,
        }) => accounts::register_bank(node, name, bank_key, keys, wait).await,
        Command::Wallet(WalletCommand::Open {
            tier,
            owner_key,
            key,
            wait,
        }) => accounts::open_wallet(node, tier, owner_key, key, wait).await,
        Command::Freeze(args) => accounts::freeze(node, args, true).await,
        Command::Unfreeze(args) => accounts::freeze(node, args, false).await,
        Command::Earmark(command) => earmark::earmark(node, command).await,
        Command::Policy(PolicyCommand::Show) => policy::show(node).await,
        Command::Policy(PolicyCommand::Set {
            file,
            effective_height,
            keys,
            wait,
        }) => policy::set(node, file, effective_height, keys, wait).await,
        Command::Account { id, key } => query::account(node, id, key).await,
        Command::Supply => query::supply(node).await,
        Command::Validators { change: None } => query::validators(node).await,
        Command::Validators {
            change:
                Some(ValidatorsCommand::Add {
                    name,
                    validator_key,
                    address,
                    proof_of_possession,
                    officers,
                }),
        } => {
            validators::add(
                node,
                name,
                validator_key,
                address,
                proof_of_possession,
                officers,
            )
            .await
        }
        Command::Validators {
            change: Some(ValidatorsCommand::Remove { name, officers }),
        } => validators::remove(node, name, officers).await,
        Command::Validators {
            change:
                Some(ValidatorsCommand::RotateKey {
                    name,
                    new_validator_key,
                    proof_of_possession,
                    officers,
                }),
        } => {
            validators::rotate_key(node, name, new_validator_key, proof_of_possession, officers)
                .await
        }
        Command::Validators {
            change:
                Some(ValidatorsCommand::ProveKey {
                    validator_key,
                    chain_id,
                }),
        } => validators::prove_key(&validator_key, &chain_id),
        Command::Observers(ObserversCommand::List) => observers::list(node).await,
        Command::Observers(ObserversCommand::Add {
            observer_key,
            name,
            officers,
        }) => observers::add(node, observer_key, name, officers).await,
        Command::Observers(ObserversCommand::Remove {
            observer_key,
            officers,
        }) => observers::remove(node, observer_key, officers).await,
        Command::Proof { genesis, what } => {
            proofs::fetch_proof(node, what, genesis.as_deref()).await
        }
        Command::Follow {
            genesis,
            checkpoint,
            once,
            interval,
        } => {
            follow::follow(
                node,
                &genesis,
                checkpoint,
                once,
                std::time::Duration::from_millis(interval),
                output,
            )
            .await
        }
        Command::Verify {
            file,
            genesis,
            expect_id,
            min_height,
        } => proofs::verify_bundle(
            &file,
            &genesis,
            &proofs::Expectations {
                id: expect_id,
                min_height,
            },
        ),
        Command::Tx { hash } => query::transaction(node, hash).await,
        Command::Block { height } => query::block(node, height).await,
        Command::Status => query::status(node).await,
        Command::Bench(args) => bench::bench(args).await,
    }
}
