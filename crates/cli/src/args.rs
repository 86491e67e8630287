//! The command line's arguments: every clap struct, and the parsers of values clap reads.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "tenge",
    version,
    about = "The digital tenge: keys, devnet, transactions, queries"
)]
pub struct Cli {
    /// The node to talk to.
    #[arg(
        long,
        global = true,
        default_value = "http://127.0.0.1:8100",
        env = "TENGE_NODE"
    )]
    pub node: String,
    /// PEM file of the CA certificate(s) to trust for an `https://` node (only these, no system
    /// roots).
    #[arg(long, global = true, env = "TENGE_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// How long a transaction built by this command stays valid: `30s`, `10m`, `2h`, `1d` (at
    /// most the policy's `max_transaction_lifetime_ms`). After it, no block applies it.
    #[arg(long, global = true, default_value = "10m", value_parser = parse_duration_ms)]
    pub expires_in: u64,
    #[command(subcommand)]
    pub command: Command,
}

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

/// `HEIGHT:BLOCK_ID`: a height and a block id of 64 hex digits.
fn parse_checkpoint(text: &str) -> Result<(u64, String), String> {
    let (height, id) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not HEIGHT:BLOCK_ID"))?;
    let height: u64 = height
        .parse()
        .map_err(|_| format!("{height:?} is not a block height"))?;
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{id:?} is not a block id of 64 hex digits"));
    }
    Ok((height, id.to_ascii_lowercase()))
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// The validator set: epoch, quorum, and each validator with the last height it signed;
    /// with a subcommand, a change of the set (officers sign).
    Validators {
        #[command(subcommand)]
        change: Option<ValidatorsCommand>,
    },
    /// Observer nodes admitted on chain: validators let their keys connect (issue 13).
    #[command(subcommand)]
    Observers(ObserversCommand),
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
    /// Follow the chain as a light client: fetch headers and commit certificates from the node
    /// (which is not trusted), verify each against the genesis file, and print the certified
    /// head, its epoch and validator set. Exit 1 if the node serves anything that does not
    /// verify, naming the failed check.
    Follow {
        /// The network's genesis file, obtained out of band.
        #[arg(long)]
        genesis: PathBuf,
        /// Start from a block this operator trusts instead of the genesis block, as
        /// HEIGHT:BLOCK_ID (the id in 64 hex digits, e.g. from `tenge follow` on another node).
        #[arg(long, value_name = "HEIGHT:BLOCK_ID", value_parser = parse_checkpoint)]
        checkpoint: Option<(u64, String)>,
        /// Stop once caught up with the node's head and print it; without, keep following and
        /// print each new certified head.
        #[arg(long)]
        once: bool,
        /// How long to wait between questions once caught up: `1s`, `30s`, `5m`.
        #[arg(long, default_value = "1s", value_parser = parse_duration_ms)]
        interval: u64,
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
pub struct BenchArgs {
    /// A devnet directory (its validators, officers and bank-1 are used).
    #[arg(long, conflicts_with = "nodes")]
    pub devnet: Option<PathBuf>,
    /// Validator API URLs, comma-separated (with --key files instead of --devnet).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    /// Key files: one commercial bank's, and officers' if the bank needs issuance (repeat).
    #[arg(long = "key")]
    pub keys: Vec<PathBuf>,
    /// Transactions per second to submit.
    #[arg(long)]
    pub rate: u64,
    /// Length of the measured window, in seconds.
    #[arg(long)]
    pub duration: u64,
    /// Wallets sending the transfers.
    #[arg(long, default_value_t = 1000)]
    pub accounts: usize,
}

#[derive(Args)]
pub struct WaitArgs {
    /// Return once the node accepts the transaction, without waiting for finality.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for finality, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout_seconds: u64,
}

/// In `tenge genesis`, KEY is a public key: 64 hex characters, a public-key file (`tenge keygen`
/// writes NAME.pub), or a secret key file of which only the public key is read.
#[derive(Args)]
pub struct GenesisArgs {
    #[arg(long, default_value = "tenge-devnet")]
    pub chain_id: String,
    /// An officer's public key, KEY (repeat for each officer).
    #[arg(
        long = "officer-key",
        visible_alias = "officer",
        value_name = "KEY",
        required = true
    )]
    pub officer_keys: Vec<String>,
    /// Officer signatures required.
    #[arg(long)]
    pub threshold: u8,
    /// A bank: NAME=KEY (repeat).
    #[arg(long = "bank", value_name = "NAME=KEY")]
    pub banks: Vec<String>,
    /// A validator: NAME=KEY@MULTIADDR (repeat). MULTIADDR is where the other validators dial
    /// it: /ip4/ADDRESS/tcp/PORT, /ip6/ADDRESS/tcp/PORT or /dns4|dns6|dns/HOST/tcp/PORT.
    #[arg(long = "validator", value_name = "NAME=KEY@MULTIADDR", required = true)]
    pub validators: Vec<String>,
    /// Policy parameters (TOML); defaults if absent.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Subcommand)]
pub enum DevnetCommand {
    /// Write keys, genesis and node configs.
    Init(DevnetArgs),
    /// Init if needed, start every node, fund the banks, wait for Ctrl-C.
    Up(DevnetArgs),
}

#[derive(Args)]
pub struct DevnetArgs {
    #[arg(long)]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 4)]
    pub validators: usize,
    #[arg(long, default_value_t = 1)]
    pub observers: usize,
    /// Also write keys and configs for N validators not in the genesis, listed under `spares`
    /// in devnet.json: `up` starts them, and they follow without voting until officers add
    /// them with `tenge validators add`.
    #[arg(long = "spare-validators", default_value_t = 0, value_name = "N")]
    pub spares: usize,
    /// Validator i uses peer port BASE+i and API port BASE+1000+i.
    #[arg(long, default_value_t = 7100)]
    pub base_port: u16,
    /// The `tenged` binary (default: next to this `tenge`, then PATH).
    #[arg(long)]
    pub tenged: Option<PathBuf>,
}

#[derive(Args)]
pub struct IssueArgs {
    #[arg(long)]
    pub to: String,
    #[arg(long)]
    pub amount: String,
    #[command(flatten)]
    pub officers: OfficerArgs,
}

/// Who signs a central-bank transaction: k officers at once (`--key`, repeated), or nobody yet
/// (`--unsigned --out FILE`, then `tenge sign` by each officer and `tenge submit`).
#[derive(Args)]
pub struct OfficerArgs {
    /// An officer's key file (repeat: k officers sign).
    #[arg(long = "key")]
    pub keys: Vec<PathBuf>,
    /// Write the transaction to --out unsigned, for officers to sign one by one.
    #[arg(long)]
    pub unsigned: bool,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Subcommand)]
pub enum ValidatorsCommand {
    /// Add a validator (officers sign). It joins the set of the epoch after the block that
    /// carries this; its node, started beforehand with its key, follows until then.
    Add {
        /// A name for people, unique in the set.
        #[arg(long)]
        name: String,
        /// The new validator's consensus key: its secret key file (the proof of possession is
        /// signed with it), or its public key (hex or public-key file) with
        /// --proof-of-possession.
        #[arg(long, value_name = "KEY")]
        validator_key: String,
        /// Where its node listens for peers, as a multiaddr (`/ip4/10.0.0.5/tcp/7100`).
        #[arg(long)]
        address: String,
        /// From `tenge validators prove-key`, when --validator-key is a public key.
        #[arg(long, value_name = "HEX")]
        proof_of_possession: Option<String>,
        #[command(flatten)]
        officers: OfficerArgs,
    },
    /// Remove a validator (officers sign): the next epoch's set does not have it.
    Remove {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        officers: OfficerArgs,
    },
    /// Rotate a validator's consensus key (officers sign): from the next epoch it signs with
    /// the new key; restart its node with the new key file.
    RotateKey {
        #[arg(long)]
        name: String,
        /// The new key: its secret key file, or its public key with --proof-of-possession.
        #[arg(long, value_name = "KEY")]
        new_validator_key: String,
        /// From `tenge validators prove-key`, when --new-validator-key is a public key.
        #[arg(long, value_name = "HEX")]
        proof_of_possession: Option<String>,
        #[command(flatten)]
        officers: OfficerArgs,
    },
    /// Offline: sign the proof that you hold a validator key, for the officers who add or
    /// rotate it.
    ProveKey {
        /// The secret key file.
        #[arg(long, value_name = "FILE")]
        validator_key: PathBuf,
        /// The chain the proof is for.
        #[arg(long)]
        chain_id: String,
    },
}

#[derive(Subcommand)]
pub enum ObserversCommand {
    /// The observers admitted on chain, in key order.
    List,
    /// Admit an observer (officers sign): when this commits, validators let its key connect,
    /// without a restart.
    Add {
        /// The observer's node key: 64 hex characters or a key file (public or secret; only the
        /// public key is used).
        #[arg(long, value_name = "KEY")]
        observer_key: String,
        /// A name for people, such as the bank's; by default `observer-` and the key's first
        /// eight hex digits.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        officers: OfficerArgs,
    },
    /// Remove an observer admitted on chain (officers sign): when this commits, validators
    /// close its connections and refuse new ones.
    Remove {
        #[arg(long, value_name = "KEY")]
        observer_key: String,
        #[command(flatten)]
        officers: OfficerArgs,
    },
}

#[derive(Subcommand)]
pub enum BankCommand {
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
pub enum WalletCommand {
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
pub struct FreezeArgs {
    #[arg(long)]
    pub account: String,
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Officer key files (central bank) or one bank key file.
    #[arg(long = "key", required = true)]
    pub keys: Vec<PathBuf>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Subcommand)]
pub enum EarmarkCommand {
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
pub enum PolicyCommand {
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
pub enum ProofCommand {
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
