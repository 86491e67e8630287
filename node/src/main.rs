//! `tenged`: a tenge validator or observer.
//!
//! ```text
//! tenged --config /etc/tenge/config.toml
//! ```
//! Exit codes: 0 after a clean shutdown (SIGTERM or Ctrl-C), 1 if the node cannot start (bad
//! config, unreadable key, database of another network, port in use), 2 for bad arguments,
//! 3 if the node halted because its execution disagreed with a certified block, 4 if its engine
//! stopped on a storage failure (disk full, I/O error, damaged database: see the log line
//! `fatal storage failure`).

mod check;
mod config;

/// Why the node stops without a signal.
enum Stop {
    /// Execution disagreed with a certified block (exit 3).
    Halted(String),
    /// The engine thread ended: a fatal storage failure (exit 4).
    EngineGone,
}

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use config::NodeConfig;
use tenge_engine::{EngineConfig, EngineLimits};
use tenge_network::{NetworkLimits, PeerConfig};
use tenge_types::Genesis;
use tracing::{error, info};

#[derive(Parser, Debug)]
#[command(name = "tenged", version, about = "tenge node: validator or observer")]
struct Args {
    /// The node's configuration file (TOML). `TENGE_*` variables override its fields.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Check the configuration, the genesis, the key file and the data dir, then exit (0 if a
    /// start would get past them, 1 naming the field at fault).
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// The configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(clap::Subcommand, Debug)]
enum ConfigAction {
    /// Print the effective configuration, each field with its source (file, variable, default).
    Show,
}

fn init_logging(config: &NodeConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{},libp2p=warn,yamux=warn", config.log_level))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn read_genesis(path: &PathBuf) -> Result<Genesis, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read genesis file {}: {e}", path.display()))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .map_err(|e| format!("genesis file {} is invalid: {e}", path.display()))?;
    genesis
        .validate()
        .map_err(|e| format!("genesis file {} is invalid: {e}", path.display()))?;
    Ok(genesis)
}

async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = terminate.recv() => info!("SIGTERM received: shutting down"),
        _ = tokio::signal::ctrl_c() => info!("interrupt received: shutting down"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(path) = args.config else {
        eprintln!("tenged: --config FILE is required");
        return ExitCode::from(2);
    };
    let environment = |name: &str| std::env::var(name).ok();
    let config = match NodeConfig::load(&path, environment) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("tenged: {error}");
            return ExitCode::from(1);
        }
    };
    if let Some(Command::Config {
        action: ConfigAction::Show,
    }) = args.command
    {
        print!("{}", check::show(&path, &config, environment));
        return ExitCode::SUCCESS;
    }
    if args.check_config {
        return match check::check(&config) {
            Ok(lines) => {
                for line in lines {
                    println!("ok  {line}");
                }
                println!("config {} is ready to start", path.display());
                ExitCode::SUCCESS
            }
            Err(problem) => {
                eprintln!("tenged: {}: {problem}", path.display());
                ExitCode::from(1)
            }
        };
    }
    init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("tenge-io")
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(config)) {
        Ok(code) => code,
        Err(message) => {
            error!("{message}");
            eprintln!("tenged: {message}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: NodeConfig) -> Result<ExitCode, String> {
    let genesis = read_genesis(&config.genesis_file)?;
    let key = tenge_crypto::read_key_file(&config.key_file).map_err(|e| e.to_string())?;
    let public_key = key.public_key();
    let extra_peers = config
        .peers
        .iter()
        .map(|peer| PeerConfig {
            key: peer.key.parse().expect("validated"),
            address: peer.address.clone(),
        })
        .collect();
    let engine_config = EngineConfig {
        mode: config.mode,
        genesis,
        key: Arc::new(key),
        data_dir: config.data_dir.clone(),
        listen_address: config.listen_address.clone(),
        extra_peers,
        consensus: tenge_consensus::Config {
            round_timeout_base_ms: config.consensus.round_timeout_base_ms,
            round_timeout_max_ms: config.consensus.round_timeout_max_ms,
            max_clock_skew_ms: config.consensus.max_clock_skew_ms,
            fetch_batch: config.consensus.fetch_batch_blocks,
            voting_floor_round: tenge_types::Round(config.consensus.voting_floor_round),
        },
        limits: EngineLimits {
            mempool_max_txs: config.limits.mempool_max_txs,
            mempool_admission_max_txs: config
                .limits
                .mempool_admission_max_txs
                .min(config.limits.mempool_max_txs),
            block_max_txs: config.limits.block_max_txs,
            verify_threads: config.limits.verify_threads,
            sync_batch_blocks: config.limits.sync_batch_blocks,
            observer_poll_ms: config.limits.observer_poll_ms,
            sync_signature_check: config.verify_signatures,
            ..EngineLimits::default()
        },
        network: NetworkLimits {
            max_message_bytes: config.limits.max_message_bytes,
            consensus_messages_per_second_per_peer: config.limits.messages_per_second_per_peer,
            ban_seconds: config.limits.peer_ban_seconds,
            ..NetworkLimits::default()
        },
    };
    let tls = match config.tls_files() {
        Some((certificate, key)) => Some(
            tenge_api::tls::server_config(certificate, key)
                .map_err(|e| format!("api_tls_cert_file / api_tls_key_file: {e}"))?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&config.api_address)
        .await
        .map_err(|e| format!("cannot listen for the API on {}: {e}", config.api_address))?;
    let engine = tenge_engine::start(engine_config)
        .await
        .map_err(|e| e.to_string())?;
    info!(
        mode = ?config.mode,
        api = %config.api_address,
        api_tls = tls.is_some(),
        p2p = %config.listen_address,
        key = %public_key.short(),
        "node started"
    );
    // Stop on a signal, when the node halts on a disagreement with certified state, or when the
    // engine thread is gone (it stops only on a fatal storage failure, logged where it happened).
    let mut status = engine.status.clone();
    let halted = async move {
        loop {
            if let Some(reason) = status.borrow().halted.clone() {
                return Stop::Halted(reason);
            }
            if status.changed().await.is_err() {
                return Stop::EngineGone;
            }
        }
    };
    let (stop_sender, stop) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(tenge_api::serve_with_limits(
        listener,
        engine.clone(),
        tenge_api::HttpLimits::default(),
        tls,
        async move {
            let _ = stop.await;
        },
    ));
    let code = tokio::select! {
        _ = shutdown_signal() => ExitCode::SUCCESS,
        stop = halted => match stop {
            Stop::Halted(reason) => {
                error!("node halted: {reason}");
                ExitCode::from(3)
            }
            Stop::EngineGone => {
                error!(
                    "node stopped: the engine failed on storage (see `fatal storage failure` \
                     above); fix the disk or database, then restart"
                );
                ExitCode::from(4)
            }
        }
    };
    let _ = stop_sender.send(());
    let _ = api.await;
    engine.shutdown();
    info!("stopped");
    Ok(code)
}
