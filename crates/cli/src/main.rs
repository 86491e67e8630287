//! `tenge`: the command line of the digital tenge.
//!
//! Exit codes: 0 success; 1 the transaction was rejected (by the node or in a block); 2 bad
//! input (arguments, amounts, key files, files); 3 node unreachable or answering wrongly;
//! 4 no final answer in time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use tenge_cli::devnet::{self, DevnetOptions};
use tenge_client::{Client, ClientError};
use tenge_crypto::{Keypair, read_key_file, write_key_file};
use tenge_types::transaction::{
    Freeze, Issue, IssueEarmarked, OpenWallet, Redeem, RegisterBank, SetPolicy, SpendEarmarked,
    Transfer, TransferEarmarked, Unfreeze,
};
use tenge_types::{
    AccountId, Amount, ChainId, EarmarkId, EarmarkTerms, HashValue, Height, Payload, PolicyParams,
    PublicKey, RejectionCode, SignedTransaction, TimestampMs, Transaction, TransactionSignature,
};

#[derive(Parser)]
#[command(
    name = "tenge",
    version,
    about = "The digital tenge: keys, devnet, transactions, queries"
)]
struct Cli {
    /// The node to talk to.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8100",
        env = "TENGE_NODE"
    )]
    node: String,
    /// PEM file of the CA certificate(s) to trust for an `https://` node (only these, no system
    /// roots).
    #[arg(long, global = true, env = "TENGE_CA_CERT", value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// How long a transaction built by this command stays valid: `30s`, `10m`, `2h`, `1d` (at
    /// most the policy's `max_transaction_lifetime_ms`). After it, no block applies it.
    #[arg(long, global = true, default_value = "10m", value_parser = parse_duration_ms)]
    expires_in: u64,
    #[command(subcommand)]
    command: Command,
}

/// The TLS setup of this run's clients, from `--ca-cert`.
static TLS: std::sync::OnceLock<tenge_client::tls::ClientConfig> = std::sync::OnceLock::new();

/// A client of `node`, trusting the `--ca-cert` CA for HTTPS.
fn client(node: &str) -> Client {
    match TLS.get() {
        Some(tls) => Client::with_tls(node, tls.clone()),
        None => Client::new(node),
    }
}

/// The `--expires-in` of this run, in milliseconds.
static EXPIRES_IN_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// `30s`, `10m`, `2h`, `1d`, or a plain number of seconds, as milliseconds.
fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit_ms) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1_000),
        Some((i, 'm')) => (&text[..i], 60_000),
        Some((i, 'h')) => (&text[..i], 3_600_000),
        Some((i, 'd')) => (&text[..i], 86_400_000),
        _ => (text, 1_000),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 10m, 2h or 1d"))?;
    match number.checked_mul(unit_ms) {
        Some(0) | None => Err(format!("{text:?} is not a positive duration")),
        Some(ms) => Ok(ms),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new key file (mode 0600) and its public-key file beside it (FILE with the
    /// extension `.pub`, mode 0644), which is what others need: a genesis, a bank registration
    /// or a wallet opening takes the public key alone.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Build a genesis file from public keys (hex or key files) and a policy file. No secret key
    /// is needed: give the public keys that officers, banks and validators send you.
    Genesis(GenesisArgs),
    /// A local devnet.
    #[command(subcommand)]
    Devnet(DevnetCommand),
    /// Issue new tenge to a bank (k of m officers).
    Issue(IssueArgs),
    /// Add an officer's signature to an unsigned or partly signed transaction file. Shows what
    /// is signed (kind, parties, amount, chain, sequence, expiry, hash, who signed already) and
    /// refuses a file whose existing signatures do not match its content.
    Sign {
        file: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// Sign only if the transaction's hash is this (as read out by the officer who
        /// prepared it, over another channel).
        #[arg(long)]
        expect_hash: Option<String>,
    },
    /// Submit a signed transaction file and wait for its outcome.
    Submit {
        file: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// A bank redeems tenge from its own balance.
    Redeem {
        #[arg(long)]
        amount: String,
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Send tenge.
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Commercial banks.
    #[command(subcommand)]
    Bank(BankCommand),
    /// Customer wallets.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Freeze an account (central bank: any; bank: its wallets).
    Freeze(FreezeArgs),
    /// Lift a freeze.
    Unfreeze(FreezeArgs),
    /// Earmarked funds.
    #[command(subcommand)]
    Earmark(EarmarkCommand),
    /// Monetary policy.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// An account: `tenge account ID` or `tenge account --key FILE`.
    Account {
        id: Option<String>,
        /// A key file of the account (its public-key file is enough).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Issued, redeemed and outstanding supply.
    Supply,
    /// Fetch a proof bundle from the node into a file. With `--genesis` it is verified here and
    /// what it proves is printed; without, check it with `tenge verify`.
    Proof {
        /// The network's genesis file: verify the bundle received before printing it.
        #[arg(long, global = true)]
        genesis: Option<PathBuf>,
        #[command(subcommand)]
        what: ProofCommand,
    },
    /// Check a proof bundle offline against a genesis file (no network): prints what it proves.
    /// Exit 0 valid, 1 invalid (naming the failed check), 2 unreadable or non-canonical file.
    Verify {
        /// The bundle file, as `tenge proof ... --out` wrote it.
        file: PathBuf,
        /// The network's genesis file, obtained out of band.
        #[arg(long)]
        genesis: PathBuf,
        /// The account or earmark (64 hex characters, or an account's key file) the bundle must
        /// be about; another is invalid (exit 1).
        #[arg(long, value_name = "ID")]
        expect_id: Option<String>,
        /// The proven block must be at least this high (a bundle of an older state is exit 1).
        #[arg(long, value_name = "HEIGHT")]
        min_height: Option<u64>,
    },
    /// A transaction's status.
    Tx { hash: String },
    /// A block (the latest without HEIGHT).
    Block { height: Option<u64> },
    /// The node's status.
    Status,
    /// Open-loop load: prepare funded wallets, then submit signed transfers at a fixed rate.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// A devnet directory (its validators, officers and bank-1 are used).
    #[arg(long, conflicts_with = "nodes")]
    devnet: Option<PathBuf>,
    /// Validator API URLs, comma-separated (with --key files instead of --devnet).
    #[arg(long, value_delimiter = ',')]
    nodes: Vec<String>,
    /// Key files: one commercial bank's, and officers' if the bank needs issuance (repeat).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// Transactions per second to submit.
    #[arg(long)]
    rate: u64,
    /// Length of the measured window, in seconds.
    #[arg(long)]
    duration: u64,
    /// Wallets sending the transfers.
    #[arg(long, default_value_t = 1000)]
    accounts: usize,
}

#[derive(Args)]
struct WaitArgs {
    /// Return once the node accepts the transaction, without waiting for finality.
    #[arg(long)]
    no_wait: bool,
    /// How long to wait for finality, in seconds.
    #[arg(long, default_value_t = 60)]
    timeout_seconds: u64,
}

/// In `tenge genesis`, KEY is a public key: 64 hex characters, a public-key file (`tenge keygen`
/// writes NAME.pub), or a secret key file of which only the public key is read.
#[derive(Args)]
struct GenesisArgs {
    #[arg(long, default_value = "tenge-devnet")]
    chain_id: String,
    /// An officer's public key, KEY (repeat for each officer).
    #[arg(
        long = "officer-key",
        visible_alias = "officer",
        value_name = "KEY",
        required = true
    )]
    officer_keys: Vec<String>,
    /// Officer signatures required.
    #[arg(long)]
    threshold: u8,
    /// A bank: NAME=KEY (repeat).
    #[arg(long = "bank", value_name = "NAME=KEY")]
    banks: Vec<String>,
    /// A validator: NAME=KEY@MULTIADDR (repeat). MULTIADDR is where the other validators dial
    /// it: /ip4/ADDRESS/tcp/PORT, /ip6/ADDRESS/tcp/PORT or /dns4|dns6|dns/HOST/tcp/PORT.
    #[arg(long = "validator", value_name = "NAME=KEY@MULTIADDR", required = true)]
    validators: Vec<String>,
    /// Policy parameters (TOML); defaults if absent.
    #[arg(long)]
    policy: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Subcommand)]
enum DevnetCommand {
    /// Write keys, genesis and node configs.
    Init(DevnetArgs),
    /// Init if needed, start every node, fund the banks, wait for Ctrl-C.
    Up(DevnetArgs),
}

#[derive(Args)]
struct DevnetArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 4)]
    validators: usize,
    #[arg(long, default_value_t = 1)]
    observers: usize,
    /// Validator i uses peer port BASE+i and API port BASE+1000+i.
    #[arg(long, default_value_t = 7100)]
    base_port: u16,
    /// The `tenged` binary (default: next to this `tenge`, then PATH).
    #[arg(long)]
    tenged: Option<PathBuf>,
}

#[derive(Args)]
struct IssueArgs {
    #[arg(long)]
    to: String,
    #[arg(long)]
    amount: String,
    /// An officer's key file (repeat: k officers sign).
    #[arg(long = "key")]
    keys: Vec<PathBuf>,
    /// Write the transaction to --out unsigned, for officers to sign one by one.
    #[arg(long)]
    unsigned: bool,
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Subcommand)]
enum BankCommand {
    /// Admit a commercial bank (officers sign).
    Register {
        #[arg(long)]
        name: String,
        /// The bank's public key: 64 hex characters or a key file (public or secret; only the
        /// public key is used).
        #[arg(long, value_name = "KEY")]
        bank_key: String,
        #[arg(long = "key")]
        keys: Vec<PathBuf>,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Subcommand)]
enum WalletCommand {
    /// A bank opens a wallet for the owner of a key, with a KYC tier.
    Open {
        #[arg(long)]
        tier: u8,
        /// The owner's public key: 64 hex characters or a key file (public or secret; only the
        /// public key is used).
        #[arg(long, value_name = "KEY")]
        owner_key: String,
        /// The bank's key file.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Args)]
struct FreezeArgs {
    #[arg(long)]
    account: String,
    #[arg(long, default_value = "")]
    reason: String,
    /// Officer key files (central bank) or one bank key file.
    #[arg(long = "key", required = true)]
    keys: Vec<PathBuf>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Subcommand)]
enum EarmarkCommand {
    /// Officers issue new tenge earmarked for approved payees.
    Issue {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        purpose: String,
        /// An approved payee (repeat).
        #[arg(long = "payee", required = true)]
        payees: Vec<String>,
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Send ordinary money that arrives earmarked.
    Transfer {
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        purpose: String,
        #[arg(long = "payee", required = true)]
        payees: Vec<String>,
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Pay earmarked money to an approved payee.
    Spend {
        #[arg(long)]
        earmark: String,
        #[arg(long)]
        to: String,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// The policy in force and its history.
    Show,
    /// Adopt new parameters from a future height (officers sign).
    Set {
        /// Parameters (TOML, amounts in tenge); omitted fields keep their current values.
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        effective_height: u64,
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

#[derive(Subcommand)]
enum ProofCommand {
    /// An account's balance, tier, frozen state, earmarked holdings and sequence, or the proof
    /// that no account has the id.
    Account {
        /// Account id (64 hex characters) or key file.
        account: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Issued, redeemed, outstanding, ceiling and epoch issuance.
    Supply {
        #[arg(long)]
        out: PathBuf,
    },
    /// An earmark: purpose, funder, holder, allocated, spent, remaining, approved payees.
    Earmark {
        /// Earmark id (64 hex characters).
        id: String,
        #[arg(long)]
        out: PathBuf,
    },
}

/// A failure, with its exit code.
struct Failure {
    code: u8,
    message: String,
    /// What `--output json` prints instead of `{"error": ...}`.
    json: Option<serde_json::Value>,
}

impl Failure {
    fn input(message: impl Into<String>) -> Failure {
        Failure {
            code: 2,
            message: message.into(),
            json: None,
        }
    }

    fn with_code(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            json: None,
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        let code = match &error {
            ClientError::Api(detail) if detail.kind == "rejected" => 1,
            ClientError::Api(detail) if detail.status < 500 => 2,
            _ => 3,
        };
        let mut message = error.to_string();
        if let ClientError::Unreachable { url, reason } = &error {
            if reason.contains("certificate") {
                message += if TLS.get().is_some() {
                    "\n  the node's TLS certificate is not signed by the --ca-cert CA (or is not for this host name)"
                } else {
                    "\n  an https:// node needs --ca-cert FILE (the CA that signed its certificate)"
                };
            } else if url.starts_with("http://")
                && (reason.contains("invalid HTTP version") || reason.contains("connection closed"))
            {
                // A TLS server answers a plain request with an alert, which is no HTTP.
                message += "\n  (does the node serve HTTPS? then use https:// and --ca-cert)";
            }
        }
        Failure::with_code(code, message)
    }
}

type Outcome = Result<serde_json::Value, Failure>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let output = cli.output;
    match runtime.block_on(run(cli)) {
        Ok(value) => {
            print(output, &value);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            if output == Output::Json {
                let value = failure.json.clone().unwrap_or_else(
                    || json!({"error": failure.message, "exit_code": failure.code}),
                );
                println!("{value}");
            }
            eprintln!("tenge: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn print(output: Output, value: &serde_json::Value) {
    match output {
        Output::Json => println!("{}", serde_json::to_string(value).expect("JSON")),
        Output::Text => print_text(value, 0),
    }
}

fn print_text(value: &serde_json::Value, indent: usize) {
    let pad = " ".repeat(indent);
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                // Amounts are shown in tenge, so the label loses its unit suffix.
                let label = key.strip_suffix("_tiyn").unwrap_or(key);
                match value {
                    // Absent fields (`code: null` on a committed transaction) say nothing.
                    serde_json::Value::Null => {}
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                        println!("{pad}{label}:");
                        print_text(value, indent + 2);
                    }
                    _ => println!("{pad}{label}: {}", scalar(key, value)),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                match item {
                    serde_json::Value::Object(_) => {
                        println!("{pad}-");
                        print_text(item, indent + 2);
                    }
                    _ => println!("{pad}- {}", scalar("", item)),
                }
            }
        }
        other => println!("{pad}{}", scalar("", other)),
    }
}

/// Text output shows amounts in tenge with two decimals.
fn scalar(key: &str, value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) if key.ends_with("_tiyn") => n.as_u64().map_or_else(
            || n.to_string(),
            |tiyn| format!("{} tenge", Amount::from_tiyn(tiyn)),
        ),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Fetches a bundle and writes its bytes to `--out`. With a genesis file the bundle received is
/// verified here and what it proves is printed; without, what the node says it proves is printed
/// without `valid` (it is not evidence until `tenge verify` has checked it).
async fn fetch_proof(node: &str, command: ProofCommand, genesis: Option<&Path>) -> Outcome {
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
        Failure::with_code(3, format!("the node sent a bundle that is not hex: {e}"))
    })?;
    let bundle = tenge_proof::ProofBundle::from_bytes(&bytes).map_err(|e| {
        Failure::with_code(
            3,
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
struct Expectations {
    /// The account or earmark it must be about.
    id: Option<String>,
    min_height: Option<u64>,
}

fn read_genesis(path: &Path) -> Result<tenge_types::Genesis, Failure> {
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
        code: 1,
        message: format!("INVALID ({check}): {error}"),
        json: Some(json!({
            "valid": false,
            "kind": bundle.claim.kind(),
            "check": check,
            "error": error,
            "exit_code": 1,
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
fn verify_bundle(file: &Path, genesis_file: &Path, expect: &Expectations) -> Outcome {
    let genesis = read_genesis(genesis_file)?;
    let bytes = read_limited(file, tenge_proof::MAX_BUNDLE_BYTES)?;
    let bundle = tenge_proof::ProofBundle::from_bytes(&bytes).map_err(|e| Failure {
        code: 2,
        message: format!(
            "{} is not a readable, canonical proof bundle: {e}",
            file.display()
        ),
        json: Some(json!({
            "valid": false,
            "check": "unreadable",
            "error": e.to_string(),
            "exit_code": 2,
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
            code: 2,
            message: format!(
                "{} is larger than a proof bundle can be ({limit} bytes)",
                file.display()
            ),
            json: Some(json!({
                "valid": false,
                "check": "unreadable",
                "error": format!("larger than {limit} bytes"),
                "exit_code": 2,
            })),
        });
    }
    Ok(bytes)
}

fn amount(text: &str) -> Result<Amount, Failure> {
    text.parse()
        .map_err(|e| Failure::input(format!("bad amount: {e}")))
}

/// An account: its hex id, or the path of a key file (public or secret) whose account it is.
fn account_id(text: &str) -> Result<AccountId, Failure> {
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
fn public_key(field: &str, text: &str) -> Result<PublicKey, Failure> {
    tenge_cli::keys::public_key(text).map_err(|e| Failure::input(format!("{field}: {e}")))
}

fn key(path: &Path) -> Result<Keypair, Failure> {
    read_key_file(path).map_err(|e| Failure::input(e.to_string()))
}

fn keys(paths: &[PathBuf]) -> Result<Vec<Keypair>, Failure> {
    if paths.is_empty() {
        return Err(Failure::input("at least one --key is needed"));
    }
    paths.iter().map(|p| key(p)).collect()
}

fn terms(purpose: &str, payees: &[String]) -> Result<EarmarkTerms, Failure> {
    let mut approved_payees = payees
        .iter()
        .map(|p| account_id(p))
        .collect::<Result<Vec<_>, _>>()?;
    approved_payees.sort();
    approved_payees.dedup();
    let terms = EarmarkTerms {
        purpose: purpose.to_string(),
        approved_payees,
    };
    terms
        .validate()
        .map_err(|e| Failure::input(format!("bad earmark: {e}")))?;
    Ok(terms)
}

/// What the node says about chain and accounts, for building transactions.
struct Context {
    client: Client,
    chain_id: ChainId,
}

impl Context {
    async fn new(node: &str) -> Result<Context, Failure> {
        let client = client(node);
        let status = client.status().await?;
        let chain_id = ChainId::new(&status.chain_id).map_err(|e| Failure {
            code: 3,
            message: format!("node reports a bad chain id: {e}"),
            json: None,
        })?;
        Ok(Context { client, chain_id })
    }

    async fn sequence(&self, account: &AccountId) -> Result<u64, Failure> {
        match self.client.account(account).await {
            Ok(view) => Ok(view.sequence),
            Err(ClientError::Api(detail)) if detail.status == 404 => Ok(0),
            Err(error) => Err(error.into()),
        }
    }

    async fn central_bank(&self) -> Result<AccountId, Failure> {
        let supply = self.client.supply().await?;
        account_id(&supply.central_bank)
    }

    async fn transaction(
        &self,
        sender: AccountId,
        payload: Payload,
    ) -> Result<Transaction, Failure> {
        let expires_in = EXPIRES_IN_MS.get().copied().unwrap_or(600_000);
        Ok(Transaction {
            chain_id: self.chain_id.clone(),
            sender,
            sequence: self.sequence(&sender).await?,
            expires_at_ms: TimestampMs(TimestampMs::now().0.saturating_add(expires_in)),
            payload,
        })
    }

    /// Signs, submits and (unless told not to) waits for the block outcome. The sequence came
    /// from the committed state of the node we talk to, which may be a block behind: if the node
    /// says the sequence is taken by a pending transaction (409 conflict) or already used (103),
    /// the CLI waits for the pending one, takes the sequence again, signs again and resubmits,
    /// a few times at most (issue N1).
    async fn send(
        &self,
        mut transaction: Transaction,
        signers: &[Keypair],
        wait: &WaitArgs,
    ) -> Outcome {
        let refs: Vec<&Keypair> = signers.iter().collect();
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let signed = tenge_crypto::sign_transaction(transaction.clone(), &refs);
            let submitted = self.client.submit(&signed).await;
            let detail = match submitted {
                Err(ClientError::Api(detail)) if attempt < ATTEMPTS => detail,
                other => {
                    let outcome = self.after_submit(&signed, other, wait).await;
                    // Accepted by a node that was behind, and its sequence then used by another
                    // transaction: it can never commit, so sign it again with the next sequence.
                    let superseded = matches!(&outcome, Err(Failure { json: Some(v), .. })
                        if v["superseded"] == true);
                    if superseded && attempt < ATTEMPTS {
                        transaction.sequence = self.sequence(&transaction.sender).await?;
                        continue;
                    }
                    return outcome;
                }
            };
            let conflict = detail.status == 409 && detail.kind == "conflict";
            let used = detail.code == Some(RejectionCode::SequenceAlreadyUsed.code());
            if !conflict && !used {
                return self
                    .after_submit(&signed, Err(ClientError::Api(detail)), wait)
                    .await;
            }
            if let Some(pending) = pending_hash(&detail.message) {
                // Whatever its outcome, once it is final the sequence has moved on.
                let _ = self
                    .client
                    .wait_final(&pending, Duration::from_secs(wait.timeout_seconds))
                    .await;
            }
            let sequence = self.sequence(&transaction.sender).await?;
            transaction.sequence = sequence.max(transaction.sequence + u64::from(conflict));
        }
        unreachable!("the last attempt returns")
    }

    async fn submit(&self, signed: &SignedTransaction, wait: &WaitArgs) -> Outcome {
        let submitted = self.client.submit(signed).await;
        self.after_submit(signed, submitted, wait).await
    }

    /// Reports a submission's answer, and unless told not to waits for the block outcome.
    async fn after_submit(
        &self,
        signed: &SignedTransaction,
        submitted: Result<HashValue, ClientError>,
        wait: &WaitArgs,
    ) -> Outcome {
        let hash = match submitted {
            Ok(hash) => hash,
            // Refused at the door with a rejection code: report it in the same shape as a
            // rejection in a block.
            Err(ClientError::Api(detail)) if detail.kind == "rejected" => {
                let value = json!({
                    "hash": signed.hash().to_hex(), "status": "rejected", "height": null,
                    "code": detail.code, "reason": detail.message,
                });
                return Err(Failure {
                    code: 1,
                    message: format!(
                        "rejected: {} ({}): {}",
                        detail.name.unwrap_or_default(),
                        detail.code.unwrap_or(0),
                        detail.message
                    ),
                    json: Some(value),
                });
            }
            Err(error) => return Err(error.into()),
        };
        if wait.no_wait {
            return Ok(json!({"hash": hash.to_hex(), "status": "pending"}));
        }
        final_outcome(&self.client, signed, &hash, wait.timeout_seconds).await
    }
}

/// The hash a 409 conflict names as the pending transaction holding the sequence.
fn pending_hash(message: &str) -> Option<HashValue> {
    let rest = message.split("pending transaction ").nth(1)?;
    rest.get(..64)?.parse().ok()
}

/// Waits until the transaction is committed or rejected in a block. A transaction that this node
/// no longer knows while its sender's sequence has moved past it lost its sequence number to
/// another transaction (sent elsewhere, or through a node that was behind): it can never commit,
/// so that is reported as a rejection (103) at once instead of waiting out the timeout (N1).
async fn final_outcome(
    client: &Client,
    signed: &SignedTransaction,
    hash: &HashValue,
    timeout_seconds: u64,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_seconds);
    let timed_out = || Failure {
        code: 4,
        message: format!("transaction {hash} not final after {timeout_seconds} s"),
        json: Some(json!({"hash": hash.to_hex(), "status": "unknown", "height": null})),
    };
    let view = loop {
        match client.transaction(hash).await {
            Ok(view) if view.status != "pending" => break view,
            Ok(_) => {}
            Err(ClientError::Api(detail)) if detail.status == 404 => {
                let sender = &signed.transaction.sender;
                let used = match client.account(sender).await {
                    Ok(account) => account.sequence > signed.transaction.sequence,
                    Err(_) => false,
                };
                // Read once more: it may have committed between the two reads.
                let again = client.transaction(hash).await;
                if let Ok(view) = again {
                    if view.status != "pending" {
                        break view;
                    }
                } else if used {
                    let sequence = signed.transaction.sequence;
                    let reason = format!(
                        "sequence {sequence} was used by another transaction of the sender; this \
                         one can never commit"
                    );
                    return Err(Failure {
                        code: 1,
                        message: format!("rejected: SequenceAlreadyUsed (103): {reason}"),
                        json: Some(json!({
                            "hash": hash.to_hex(), "status": "rejected", "height": null,
                            "code": 103, "reason": reason, "superseded": true,
                        })),
                    });
                }
            }
            Err(ClientError::Api(_)) => {}
            Err(error) => return Err(error.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(timed_out());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let value = json!({
        "hash": view.hash, "status": view.status, "height": view.height, "code": view.code, "reason": view.reason,
    });
    if view.status == "committed" {
        Ok(value)
    } else {
        let name = view.name.unwrap_or_default();

        Err(Failure {
            code: 1,
            message: format!(
                "rejected in block {}: {name} ({}): {}",
                view.height.unwrap_or(0),
                view.code.unwrap_or(0),
                view.reason.unwrap_or_default()
            ),
            json: Some(value),
        })
    }
}

async fn run(cli: Cli) -> Outcome {
    let _ = EXPIRES_IN_MS.set(cli.expires_in);
    if let Some(path) = &cli.ca_cert {
        let tls = tenge_client::tls::client_config(path)
            .map_err(|e| Failure::input(format!("--ca-cert: {e}")))?;
        let _ = TLS.set(tls);
    }
    match cli.command {
        Command::Keygen { out } => {
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
        Command::Genesis(args) => genesis(args),
        Command::Devnet(DevnetCommand::Init(args)) => {
            let file = devnet::init(&args.dir, &devnet_options(&args)).map_err(Failure::input)?;
            Ok(serde_json::to_value(file).expect("JSON"))
        }
        Command::Devnet(DevnetCommand::Up(args)) => devnet_up(args).await,
        Command::Issue(args) => issue(&cli.node, args).await,
        Command::Sign {
            file,
            key: key_path,
            expect_hash,
        } => {
            let mut signed = read_transaction_file(&file)?;
            let signer = key(&key_path)?;
            // Security review M9: a file edited after someone signed it no longer matches its
            // signatures; refuse it rather than add a signature to altered content.
            let hash = signed.hash();
            for existing in &signed.signatures {
                if !tenge_crypto::verify_strict(&hash, &existing.public_key, &existing.signature) {
                    return Err(Failure {
                        code: 1,
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
                    code: 1,
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
        Command::Submit { file, wait } => {
            let signed = read_transaction_file(&file)?;
            let context = Context::new(&cli.node).await?;
            context.submit(&signed, &wait).await
        }
        Command::Redeem {
            amount: text,
            key: key_path,
            wait,
        } => {
            let signer = key(&key_path)?;
            let context = Context::new(&cli.node).await?;
            let tx = context
                .transaction(
                    signer.account_id(),
                    Payload::Redeem(Redeem {
                        amount: amount(&text)?,
                    }),
                )
                .await?;
            context.send(tx, &[signer], &wait).await
        }
        Command::Transfer {
            to,
            amount: text,
            key: key_path,
            wait,
        } => {
            let signer = key(&key_path)?;
            let payload = Payload::Transfer(Transfer {
                to: account_id(&to)?,
                amount: amount(&text)?,
            });
            let context = Context::new(&cli.node).await?;
            let tx = context.transaction(signer.account_id(), payload).await?;
            context.send(tx, &[signer], &wait).await
        }
        Command::Bank(BankCommand::Register {
            name,
            bank_key,
            keys: officer_keys,
            wait,
        }) => {
            let bank = public_key("--bank-key", &bank_key)?;
            let officers = keys(&officer_keys)?;
            let context = Context::new(&cli.node).await?;
            let payload = Payload::RegisterBank(RegisterBank { key: bank, name });
            let tx = context
                .transaction(context.central_bank().await?, payload)
                .await?;
            let mut outcome = context.send(tx, &officers, &wait).await?;
            outcome["id"] = json!(AccountId::for_key(&bank).to_hex());
            Ok(outcome)
        }
        Command::Wallet(WalletCommand::Open {
            tier,
            owner_key,
            key: bank_key,
            wait,
        }) => {
            let owner = public_key("--owner-key", &owner_key)?;
            let bank = key(&bank_key)?;
            let context = Context::new(&cli.node).await?;
            let tx = context
                .transaction(
                    bank.account_id(),
                    Payload::OpenWallet(OpenWallet { key: owner, tier }),
                )
                .await?;
            let mut outcome = context.send(tx, &[bank], &wait).await?;
            outcome["id"] = json!(AccountId::for_key(&owner).to_hex());
            Ok(outcome)
        }
        Command::Freeze(args) => freeze(&cli.node, args, true).await,
        Command::Unfreeze(args) => freeze(&cli.node, args, false).await,
        Command::Earmark(command) => earmark(&cli.node, command).await,
        Command::Policy(PolicyCommand::Show) => {
            let policy = client(&cli.node).policy().await?;
            Ok(serde_json::to_value(policy).expect("JSON"))
        }
        Command::Policy(PolicyCommand::Set {
            file,
            effective_height,
            keys: officer_keys,
            wait,
        }) => {
            let officers = keys(&officer_keys)?;
            let context = Context::new(&cli.node).await?;
            let current = context.client.policy().await?.current.params;
            let params = read_policy_file(&file, current)?;
            let payload = Payload::SetPolicy(SetPolicy {
                effective_height: Height(effective_height),
                params,
            });
            let tx = context
                .transaction(context.central_bank().await?, payload)
                .await?;
            context.send(tx, &officers, &wait).await
        }
        Command::Account { id, key: key_path } => {
            let id = match (id, key_path) {
                (Some(id), None) => account_id(&id)?,
                (None, Some(path)) => AccountId::for_key(
                    &tenge_cli::keys::read_public_key(&path).map_err(Failure::input)?,
                ),
                _ => return Err(Failure::input("give an account id or --key FILE, not both")),
            };
            Ok(serde_json::to_value(client(&cli.node).account(&id).await?).expect("JSON"))
        }
        Command::Supply => {
            Ok(serde_json::to_value(client(&cli.node).supply().await?).expect("JSON"))
        }
        Command::Proof { genesis, what } => fetch_proof(&cli.node, what, genesis.as_deref()).await,
        Command::Verify {
            file,
            genesis,
            expect_id,
            min_height,
        } => verify_bundle(
            &file,
            &genesis,
            &Expectations {
                id: expect_id,
                min_height,
            },
        ),
        Command::Tx { hash } => {
            let hash: HashValue = hash
                .parse()
                .map_err(|e| Failure::input(format!("bad transaction hash: {e}")))?;
            Ok(serde_json::to_value(client(&cli.node).transaction(&hash).await?).expect("JSON"))
        }
        Command::Block { height } => {
            let client = client(&cli.node);
            let block = match height {
                Some(height) => client.block(height).await?,
                None => client.latest_block().await?,
            };
            Ok(serde_json::to_value(block).expect("JSON"))
        }
        Command::Status => {
            Ok(serde_json::to_value(client(&cli.node).status().await?).expect("JSON"))
        }
        Command::Bench(args) => bench(args).await,
    }
}

async fn bench(args: BenchArgs) -> Outcome {
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
                let role = client
                    .account(&k.account_id())
                    .await
                    .map(|a| a.role)
                    .unwrap_or_default();
                if role == "commercial_bank" && bank.is_none() {
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
        .map_err(|e| Failure::with_code(3, e))?;
    Ok(serde_json::to_value(report).expect("JSON"))
}

fn devnet_options(args: &DevnetArgs) -> DevnetOptions {
    DevnetOptions {
        validators: args.validators,
        observers: args.observers,
        base_port: args.base_port,
        ..DevnetOptions::default()
    }
}

async fn issue(node: &str, args: IssueArgs) -> Outcome {
    let payload = Payload::Issue(Issue {
        to: account_id(&args.to)?,
        amount: amount(&args.amount)?,
    });
    let context = Context::new(node).await?;
    let tx = context
        .transaction(context.central_bank().await?, payload)
        .await?;
    if args.unsigned {
        let out = args
            .out
            .ok_or_else(|| Failure::input("--unsigned needs --out FILE"))?;
        let signed = SignedTransaction {
            transaction: tx,
            signatures: vec![],
        };
        write_transaction_file(&out, &signed)?;
        return Ok(
            json!({"hash": signed.hash().to_hex(), "file": out.display().to_string(), "signatures": 0}),
        );
    }
    let officers = keys(&args.keys)?;
    context.send(tx, &officers, &args.wait).await
}

async fn freeze(node: &str, args: FreezeArgs, freeze: bool) -> Outcome {
    let account = account_id(&args.account)?;
    let signers = keys(&args.keys)?;
    let payload = if freeze {
        Payload::Freeze(Freeze {
            account,
            reason: args.reason,
        })
    } else {
        Payload::Unfreeze(Unfreeze {
            account,
            reason: args.reason,
        })
    };
    let context = Context::new(node).await?;
    // One key: a bank acting on its wallet; several: officers for the central bank.
    let sender = if signers.len() == 1 {
        signers[0].account_id()
    } else {
        context.central_bank().await?
    };
    let tx = context.transaction(sender, payload).await?;
    context.send(tx, &signers, &args.wait).await
}

async fn earmark(node: &str, command: EarmarkCommand) -> Outcome {
    let context = Context::new(node).await?;
    match command {
        EarmarkCommand::Issue {
            to,
            amount: text,
            purpose,
            payees,
            keys: officer_keys,
            wait,
        } => {
            let officers = keys(&officer_keys)?;
            let payload = Payload::IssueEarmarked(IssueEarmarked {
                to: account_id(&to)?,
                amount: amount(&text)?,
                terms: terms(&purpose, &payees)?,
            });
            let tx = context
                .transaction(context.central_bank().await?, payload)
                .await?;
            let earmark = EarmarkId(tx.hash().0);
            let mut outcome = context.send(tx, &officers, &wait).await?;
            outcome["earmark"] = json!(earmark.to_hex());
            Ok(outcome)
        }
        EarmarkCommand::Transfer {
            to,
            amount: text,
            purpose,
            payees,
            key: key_path,
            wait,
        } => {
            let signer = key(&key_path)?;
            let payload = Payload::TransferEarmarked(TransferEarmarked {
                to: account_id(&to)?,
                amount: amount(&text)?,
                terms: terms(&purpose, &payees)?,
            });
            let tx = context.transaction(signer.account_id(), payload).await?;
            let earmark = EarmarkId(tx.hash().0);
            let mut outcome = context.send(tx, &[signer], &wait).await?;
            outcome["earmark"] = json!(earmark.to_hex());
            Ok(outcome)
        }
        EarmarkCommand::Spend {
            earmark,
            to,
            amount: text,
            key: key_path,
            wait,
        } => {
            let signer = key(&key_path)?;
            let earmark: EarmarkId = earmark
                .parse()
                .map_err(|e| Failure::input(format!("bad earmark id: {e}")))?;
            let payload = Payload::SpendEarmarked(SpendEarmarked {
                earmark,
                to: account_id(&to)?,
                amount: amount(&text)?,
            });
            let tx = context.transaction(signer.account_id(), payload).await?;
            context.send(tx, &[signer], &wait).await
        }
    }
}

fn read_transaction_file(path: &Path) -> Result<SignedTransaction, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
    let signed: SignedTransaction = serde_json::from_str(&text).map_err(|e| {
        Failure::input(format!("{} is not a transaction file: {e}", path.display()))
    })?;
    Ok(signed)
}

fn write_transaction_file(path: &Path, signed: &SignedTransaction) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(signed).expect("JSON") + "\n";
    std::fs::write(path, text)
        .map_err(|e| Failure::input(format!("cannot write {}: {e}", path.display())))
}

/// Policy file: TOML with amounts in tenge; omitted fields keep `current`'s values.
fn read_policy_file(path: &Path, current: PolicyParams) -> Result<PolicyParams, Failure> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tier {
        holding_limit: String,
        per_transaction_limit: String,
        daily_outflow_limit: String,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        supply_ceiling: Option<String>,
        epoch_duration_ms: Option<u64>,
        issuance_cap_per_epoch: Option<String>,
        bank_quota_per_epoch: Option<String>,
        wallet_tiers: Option<Vec<Tier>>,
        max_transaction_lifetime_ms: Option<u64>,
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::input(format!("cannot read {}: {e}", path.display())))?;
    let file: File = toml::from_str(&text)
        .map_err(|e| Failure::input(format!("policy file {}: {e}", path.display())))?;
    let limit = |text: &str| {
        if text == "unlimited" {
            Ok(Amount::MAX)
        } else {
            amount(text)
        }
    };
    let mut params = current;
    if let Some(v) = file.supply_ceiling {
        params.supply_ceiling = amount(&v)?;
    }
    if let Some(v) = file.epoch_duration_ms {
        params.epoch_duration_ms = v;
    }
    if let Some(v) = file.max_transaction_lifetime_ms {
        params.max_transaction_lifetime_ms = v;
    }
    if let Some(v) = file.issuance_cap_per_epoch {
        params.issuance_cap_per_epoch = amount(&v)?;
    }
    if let Some(v) = file.bank_quota_per_epoch {
        params.bank_quota_per_epoch = amount(&v)?;
    }
    if let Some(tiers) = file.wallet_tiers {
        params.wallet_tiers = tiers
            .iter()
            .map(|t| {
                Ok(tenge_types::WalletTierLimits {
                    holding_limit: limit(&t.holding_limit)?,
                    per_transaction_limit: limit(&t.per_transaction_limit)?,
                    daily_outflow_limit: limit(&t.daily_outflow_limit)?,
                })
            })
            .collect::<Result<_, Failure>>()?;
    }
    params
        .validate()
        .map_err(|e| Failure::input(format!("policy file {}: {e}", path.display())))?;
    Ok(params)
}

fn genesis(args: GenesisArgs) -> Outcome {
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

async fn devnet_up(args: DevnetArgs) -> Outcome {
    let file = if args.dir.join("devnet.json").exists() {
        devnet::read(&args.dir).map_err(Failure::input)?
    } else {
        devnet::init(&args.dir, &devnet_options(&args)).map_err(Failure::input)?
    };
    let tenged = tenged_binary(args.tenged.clone())?;
    let mut children = Vec::new();
    for node in file.validators.iter().chain(&file.observers) {
        let log_path = node.config.with_file_name("node.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Failure::input(format!("cannot create {}: {e}", log_path.display())))?;
        let child = std::process::Command::new(&tenged)
            .arg("--config")
            .arg(&node.config)
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
            code: 3,
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
