//! A local devnet: keys, genesis and node configs in one directory.
//!
//! Layout of DIR:
//! - `keys/officer-1.key` .. `officer-3.key` (central bank officers, threshold 2),
//!   `keys/bank-1.key`, `keys/bank-2.key`
//! - `genesis.json`
//! - `validator-N/`, `spare-N/` and `observer-N/`, each with `config.toml` and `node.key`
//! - `devnet.json`: `{"validators":[{"api":URL,"config":PATH}],"observers":[...],"spares":[...]}`
//!
//! Spares are validators that are not in the genesis: their nodes follow without voting until
//! officers add them (`tenge validators add`, issue 13).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tenge_crypto::{Keypair, read_key_file, write_key_file};
use tenge_types::{
    ChainId, Genesis, GenesisBank, GenesisValidator, MultisigPolicy, PolicyParams, TimestampMs,
};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevnetNode {
    pub api: String,
    pub config: PathBuf,
}

/// A spare validator: what `tenge validators add` needs to add it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevnetSpare {
    pub name: String,
    pub api: String,
    pub config: PathBuf,
    /// Its consensus key file (the proof of possession is signed with it).
    pub key: PathBuf,
    /// Where it listens for peers.
    pub address: String,
}

/// `devnet.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevnetFile {
    pub validators: Vec<DevnetNode>,
    pub observers: Vec<DevnetNode>,
    #[serde(default)]
    pub spares: Vec<DevnetSpare>,
}

#[derive(Clone, Debug)]
pub struct DevnetOptions {
    pub validators: usize,
    pub observers: usize,
    /// Validators with keys and configs but not in the genesis.
    pub spares: usize,
    /// Validator i listens for peers on `base_port + i` and serves its API on
    /// `base_port + 1000 + i`; observers follow the validators.
    pub base_port: u16,
    pub round_timeout_base_ms: u64,
}

impl Default for DevnetOptions {
    fn default() -> DevnetOptions {
        DevnetOptions {
            validators: 4,
            observers: 1,
            spares: 0,
            base_port: 7100,
            round_timeout_base_ms: 1_000,
        }
    }
}

pub const OFFICERS: usize = 3;
pub const OFFICER_THRESHOLD: u8 = 2;
pub const BANKS: usize = 2;

fn io(context: &str, path: &Path, error: impl std::fmt::Display) -> String {
    format!("{context} {}: {error}", path.display())
}

/// Reads a key file, or creates it if it does not exist.
fn key_at(path: &Path) -> Result<Keypair, String> {
    if path.exists() {
        return read_key_file(path).map_err(|e| e.to_string());
    }
    let key = Keypair::generate().map_err(|e| e.to_string())?;
    write_key_file(path, &key).map_err(|e| e.to_string())?;
    Ok(key)
}

/// Writes keys, genesis and configs. Keys already present are kept, so re-running is safe;
/// genesis and configs are rewritten only if `genesis.json` does not exist yet.
pub fn init(dir: &Path, options: &DevnetOptions) -> Result<DevnetFile, String> {
    if options.validators == 0 || options.validators > 64 {
        return Err("--validators must be between 1 and 64".into());
    }
    if options.spares > 64 {
        return Err("--spare-validators must be at most 64".into());
    }
    let keys_dir = dir.join("keys");
    std::fs::create_dir_all(&keys_dir).map_err(|e| io("cannot create", &keys_dir, e))?;
    let officers: Vec<Keypair> = (1..=OFFICERS)
        .map(|i| key_at(&keys_dir.join(format!("officer-{i}.key"))))
        .collect::<Result<_, _>>()?;
    let banks: Vec<Keypair> = (1..=BANKS)
        .map(|i| key_at(&keys_dir.join(format!("bank-{i}.key"))))
        .collect::<Result<_, _>>()?;
    let port = |offset: usize| -> Result<u16, String> {
        u16::try_from(usize::from(options.base_port) + offset)
            .map_err(|_| "--base-port too high for this many nodes".to_string())
    };
    let mut nodes = Vec::new();
    let voting = options.validators + options.spares;
    for i in 0..voting + options.observers {
        let (kind, number) = if i < options.validators {
            ("validator", i + 1)
        } else if i < voting {
            ("spare", i + 1 - options.validators)
        } else {
            ("observer", i + 1 - voting)
        };
        let node_dir = dir.join(format!("{kind}-{number}"));
        std::fs::create_dir_all(&node_dir).map_err(|e| io("cannot create", &node_dir, e))?;
        let key = key_at(&node_dir.join("node.key"))?;
        nodes.push((kind, number, node_dir, key, port(i)?, port(1_000 + i)?));
    }
    let genesis_path = dir.join("genesis.json");
    if !genesis_path.exists() {
        let genesis = Genesis {
            chain_id: ChainId::new("tenge-devnet").expect("valid chain id"),
            genesis_time: TimestampMs::now(),
            officers: MultisigPolicy::new(
                OFFICER_THRESHOLD,
                officers.iter().map(Keypair::public_key).collect(),
            )?,
            policy: PolicyParams::defaults(),
            banks: banks
                .iter()
                .enumerate()
                .map(|(i, key)| GenesisBank {
                    name: format!("bank-{}", i + 1),
                    key: key.public_key(),
                })
                .collect(),
            validators: nodes
                .iter()
                .filter(|node| node.0 == "validator")
                .map(|(_, number, _, key, p2p, _)| GenesisValidator {
                    name: format!("validator-{number}"),
                    consensus_key: key.public_key(),
                    address: format!("/ip4/127.0.0.1/tcp/{p2p}"),
                })
                .collect(),
        };
        genesis.validate()?;
        let text = serde_json::to_string_pretty(&genesis).expect("genesis serialises") + "\n";
        std::fs::write(&genesis_path, text).map_err(|e| io("cannot write", &genesis_path, e))?;
    }
    let observer_keys: Vec<String> = nodes
        .iter()
        .filter(|n| n.0 == "observer")
        .map(|n| n.3.public_key().to_hex())
        .collect();
    let mut file = DevnetFile {
        validators: Vec::new(),
        observers: Vec::new(),
        spares: Vec::new(),
    };
    for (kind, number, node_dir, _, p2p, api) in &nodes {
        // A spare runs as a validator whose key is in no epoch yet: it follows until added.
        let mode = if *kind == "observer" {
            "observer"
        } else {
            "validator"
        };
        let mut config = format!(
            "# tenge devnet node. See docs/operations.md for every field.\n\
             mode = \"{mode}\"\n\
             data_dir = \"data\"\n\
             key_file = \"node.key\"\n\
             genesis_file = \"../genesis.json\"\n\
             listen_address = \"/ip4/127.0.0.1/tcp/{p2p}\"\n\
             api_address = \"127.0.0.1:{api}\"\n\
             log_format = \"text\"\n\
             log_level = \"info\"\n\n\
             [consensus]\n\
             round_timeout_base_ms = {}\n",
            options.round_timeout_base_ms
        );
        if *kind != "observer" {
            for key in &observer_keys {
                config += &format!("\n[[peers]]\n# an observer of this devnet\nkey = \"{key}\"\n");
            }
        }
        let config_path = node_dir.join("config.toml");
        std::fs::write(&config_path, config).map_err(|e| io("cannot write", &config_path, e))?;
        let entry = DevnetNode {
            api: format!("http://127.0.0.1:{api}"),
            config: config_path,
        };
        match *kind {
            "validator" => file.validators.push(entry),
            "spare" => file.spares.push(DevnetSpare {
                name: format!("spare-{number}"),
                api: entry.api,
                config: entry.config,
                key: node_dir.join("node.key"),
                address: format!("/ip4/127.0.0.1/tcp/{p2p}"),
            }),
            _ => file.observers.push(entry),
        }
    }
    let devnet_path = dir.join("devnet.json");
    let text = serde_json::to_string_pretty(&file).expect("devnet file serialises") + "\n";
    std::fs::write(&devnet_path, text).map_err(|e| io("cannot write", &devnet_path, e))?;
    Ok(file)
}

/// Reads `devnet.json`.
pub fn read(dir: &Path) -> Result<DevnetFile, String> {
    let path = dir.join("devnet.json");
    let text = std::fs::read_to_string(&path).map_err(|e| io("cannot read", &path, e))?;
    serde_json::from_str(&text).map_err(|e| io("invalid", &path, e))
}
