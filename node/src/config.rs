//! The node's configuration: a TOML file, with `TENGE_*` environment variables overriding it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tenge_engine::{Mode, SignatureCheck};

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Environment {
        name: String,
        value: String,
        reason: String,
    },
    #[error("config: {0}")]
    Invalid(String),
}

/// Environment variables that override config fields: (variable, field as `section.key`).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("TENGE_MODE", "mode"),
    ("TENGE_DATA_DIR", "data_dir"),
    ("TENGE_KEY_FILE", "key_file"),
    ("TENGE_GENESIS_FILE", "genesis_file"),
    ("TENGE_LISTEN_ADDRESS", "listen_address"),
    ("TENGE_API_ADDRESS", "api_address"),
    ("TENGE_API_TLS_CERT_FILE", "api_tls_cert_file"),
    ("TENGE_API_TLS_KEY_FILE", "api_tls_key_file"),
    ("TENGE_LOG_FORMAT", "log_format"),
    ("TENGE_LOG_LEVEL", "log_level"),
    ("TENGE_VERIFY_SIGNATURES", "verify_signatures"),
    ("TENGE_VOTING_FLOOR_ROUND", "consensus.voting_floor_round"),
    ("TENGE_MEMPOOL_MAX_TXS", "limits.mempool_max_txs"),
];

/// A peer besides the genesis validators (typically an observer a validator accepts).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// The peer's ed25519 public key, hex.
    pub key: String,
    /// A multiaddr to dial it at, if this node should dial.
    #[serde(default)]
    pub address: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsensusSection {
    pub round_timeout_base_ms: u64,
    pub round_timeout_max_ms: u64,
    pub max_clock_skew_ms: u64,
    pub fetch_batch_blocks: u16,
    /// A validator never signs at or below this round (0: no floor). Set after its data dir
    /// was lost or restored from a backup (docs/operations.md; security review M11).
    pub voting_floor_round: u64,
}

impl Default for ConsensusSection {
    fn default() -> ConsensusSection {
        let defaults = tenge_consensus::Config::default();
        ConsensusSection {
            round_timeout_base_ms: defaults.round_timeout_base_ms,
            round_timeout_max_ms: defaults.round_timeout_max_ms,
            max_clock_skew_ms: defaults.max_clock_skew_ms,
            fetch_batch_blocks: defaults.fetch_batch,
            voting_floor_round: defaults.voting_floor_round.0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub mempool_max_txs: usize,
    /// Client submissions are refused (503) while the mempool holds this many transactions
    /// (at most `mempool_max_txs`: a larger value acts as that).
    pub mempool_admission_max_txs: usize,
    pub block_max_txs: usize,
    pub verify_threads: usize,
    pub sync_batch_blocks: u16,
    pub observer_poll_ms: u64,
    pub max_message_bytes: usize,
    pub messages_per_second_per_peer: u32,
    pub peer_ban_seconds: u64,
}

impl Default for LimitsSection {
    fn default() -> LimitsSection {
        let engine = tenge_engine::EngineLimits::default();
        let network = tenge_network::NetworkLimits::default();
        LimitsSection {
            mempool_max_txs: engine.mempool_max_txs,
            mempool_admission_max_txs: engine.mempool_admission_max_txs,
            block_max_txs: engine.block_max_txs,
            verify_threads: engine.verify_threads,
            sync_batch_blocks: engine.sync_batch_blocks,
            observer_poll_ms: engine.observer_poll_ms,
            max_message_bytes: network.max_message_bytes,
            messages_per_second_per_peer: network.consensus_messages_per_second_per_peer,
            peer_ban_seconds: network.ban_seconds,
        }
    }
}

/// `config.toml`. Relative paths are relative to the file's directory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub mode: Mode,
    /// Where RocksDB and the node's state live.
    pub data_dir: PathBuf,
    /// The node's secret key file (mode 0600).
    pub key_file: PathBuf,
    pub genesis_file: PathBuf,
    /// Peer-to-peer listen address (multiaddr).
    pub listen_address: String,
    /// HTTP API listen address (`host:port`).
    pub api_address: String,
    /// PEM certificate chain (leaf first) for serving the API over HTTPS; with
    /// `api_tls_key_file`, both or neither (neither: plain HTTP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tls_cert_file: Option<PathBuf>,
    /// PEM private key of `api_tls_cert_file` (mode 0600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_tls_key_file: Option<PathBuf>,
    #[serde(default = "default_log_format")]
    pub log_format: String,
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// How blocks taken by range sync have their signatures checked: `all` (default) or
    /// `certified-receipts` (verdicts proven by the certified receipts root; D34).
    #[serde(default)]
    pub verify_signatures: SignatureCheck,
    #[serde(default)]
    pub peers: Vec<PeerEntry>,
    #[serde(default)]
    pub consensus: ConsensusSection,
    #[serde(default)]
    pub limits: LimitsSection,
}

fn default_log_format() -> String {
    "text".into()
}

fn default_log_level() -> String {
    "info".into()
}

impl NodeConfig {
    /// The API's certificate and key files, if it serves HTTPS.
    pub fn tls_files(&self) -> Option<(&Path, &Path)> {
        Some((
            self.api_tls_cert_file.as_deref()?,
            self.api_tls_key_file.as_deref()?,
        ))
    }

    /// Reads the file, applies `TENGE_*` overrides from `environment`, resolves relative paths
    /// against the file's directory, and validates.
    pub fn load(
        path: &Path,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: NodeConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        config.apply_environment(environment)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in [
            Some(&mut config.data_dir),
            Some(&mut config.key_file),
            Some(&mut config.genesis_file),
            config.api_tls_cert_file.as_mut(),
            config.api_tls_key_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn apply_environment(
        &mut self,
        environment: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let invalid = |name: &str, value: &str, reason: &str| ConfigError::Environment {
            name: name.into(),
            value: value.into(),
            reason: reason.into(),
        };
        if let Some(value) = environment("TENGE_MODE") {
            self.mode = match value.as_str() {
                "validator" => Mode::Validator,
                "observer" => Mode::Observer,
                _ => {
                    return Err(invalid(
                        "TENGE_MODE",
                        &value,
                        "expected `validator` or `observer`",
                    ));
                }
            };
        }
        let strings: [(&str, &mut String); 4] = [
            ("TENGE_LISTEN_ADDRESS", &mut self.listen_address),
            ("TENGE_API_ADDRESS", &mut self.api_address),
            ("TENGE_LOG_FORMAT", &mut self.log_format),
            ("TENGE_LOG_LEVEL", &mut self.log_level),
        ];
        for (name, field) in strings {
            if let Some(value) = environment(name) {
                *field = value;
            }
        }
        let paths: [(&str, &mut PathBuf); 3] = [
            ("TENGE_DATA_DIR", &mut self.data_dir),
            ("TENGE_KEY_FILE", &mut self.key_file),
            ("TENGE_GENESIS_FILE", &mut self.genesis_file),
        ];
        for (name, field) in paths {
            if let Some(value) = environment(name) {
                *field = PathBuf::from(value);
            }
        }
        let optional_paths: [(&str, &mut Option<PathBuf>); 2] = [
            ("TENGE_API_TLS_CERT_FILE", &mut self.api_tls_cert_file),
            ("TENGE_API_TLS_KEY_FILE", &mut self.api_tls_key_file),
        ];
        for (name, field) in optional_paths {
            if let Some(value) = environment(name) {
                *field = Some(PathBuf::from(value));
            }
        }
        if let Some(value) = environment("TENGE_VOTING_FLOOR_ROUND") {
            self.consensus.voting_floor_round = value
                .parse()
                .map_err(|_| invalid("TENGE_VOTING_FLOOR_ROUND", &value, "not a round number"))?;
        }
        if let Some(value) = environment("TENGE_VERIFY_SIGNATURES") {
            self.verify_signatures = value
                .parse()
                .map_err(|reason: String| invalid("TENGE_VERIFY_SIGNATURES", &value, &reason))?;
        }
        if let Some(value) = environment("TENGE_MEMPOOL_MAX_TXS") {
            self.limits.mempool_max_txs = value
                .parse()
                .map_err(|_| invalid("TENGE_MEMPOOL_MAX_TXS", &value, "not a number"))?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(ConfigError::Invalid(format!(
                "log_format `{}`: expected `text` or `json`",
                self.log_format
            )));
        }
        if self.api_address.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "api_address `{}` is not host:port",
                self.api_address
            )));
        }
        if self.api_tls_cert_file.is_some() != self.api_tls_key_file.is_some() {
            return Err(ConfigError::Invalid(
                "api_tls_cert_file and api_tls_key_file go together: set both (HTTPS) or neither"
                    .into(),
            ));
        }
        if let Err(reason) = tenge_network::check_listen_address(&self.listen_address) {
            return Err(ConfigError::Invalid(format!(
                "listen_address {reason} (a multiaddr like /ip4/127.0.0.1/tcp/7100)"
            )));
        }
        for peer in &self.peers {
            if let Some(address) = &peer.address
                && let Err(reason) = tenge_network::check_address(address)
            {
                return Err(ConfigError::Invalid(format!("peers: address {reason}")));
            }
        }
        let c = &self.consensus;
        if c.round_timeout_base_ms == 0 || c.round_timeout_max_ms < c.round_timeout_base_ms {
            return Err(ConfigError::Invalid("consensus.round_timeout_base_ms must be positive and not above round_timeout_max_ms".into()));
        }
        if c.fetch_batch_blocks == 0 {
            return Err(ConfigError::Invalid(
                "consensus.fetch_batch_blocks must be positive".into(),
            ));
        }
        let l = &self.limits;
        if l.mempool_admission_max_txs == 0 {
            return Err(ConfigError::Invalid(
                "limits: mempool_admission_max_txs must be positive".into(),
            ));
        }
        if l.mempool_max_txs == 0
            || l.block_max_txs == 0
            || l.block_max_txs > tenge_types::block::MAX_BLOCK_TRANSACTIONS
        {
            return Err(ConfigError::Invalid(format!(
                "limits: mempool_max_txs must be positive and block_max_txs between 1 and {}",
                tenge_types::block::MAX_BLOCK_TRANSACTIONS
            )));
        }
        if l.verify_threads == 0 || l.sync_batch_blocks == 0 || l.messages_per_second_per_peer == 0
        {
            return Err(ConfigError::Invalid("limits: verify_threads, sync_batch_blocks and messages_per_second_per_peer must be positive".into()));
        }
        for peer in &self.peers {
            if peer.key.parse::<tenge_types::PublicKey>().is_err() {
                return Err(ConfigError::Invalid(format!(
                    "peer key `{}` is not 64 hex characters",
                    peer.key
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
mode = "validator"
data_dir = "data"
key_file = "node.key"
genesis_file = "../genesis.json"
listen_address = "/ip4/127.0.0.1/tcp/7100"
api_address = "127.0.0.1:8100"

[consensus]
round_timeout_base_ms = 500

[limits]
mempool_max_txs = 1000
"#;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn loads_resolves_paths_and_applies_environment() {
        let (dir, path) = write(SAMPLE);
        let config = NodeConfig::load(&path, |_| None).unwrap();
        assert_eq!(config.mode, Mode::Validator);
        assert_eq!(config.data_dir, dir.path().join("data"));
        assert_eq!(config.consensus.round_timeout_base_ms, 500);
        assert_eq!(
            config.consensus.round_timeout_max_ms,
            tenge_consensus::Config::default().round_timeout_max_ms
        );
        assert_eq!(config.limits.mempool_max_txs, 1000);
        let env = |name: &str| match name {
            "TENGE_MODE" => Some("observer".to_string()),
            "TENGE_API_ADDRESS" => Some("127.0.0.1:9999".to_string()),
            "TENGE_DATA_DIR" => Some("/var/lib/tenge".to_string()),
            "TENGE_VERIFY_SIGNATURES" => Some("certified-receipts".to_string()),
            "TENGE_VOTING_FLOOR_ROUND" => Some("1200".to_string()),
            _ => None,
        };
        assert_eq!(config.verify_signatures, SignatureCheck::All);
        let config = NodeConfig::load(&path, env).unwrap();
        assert_eq!(config.verify_signatures, SignatureCheck::CertifiedReceipts);
        assert_eq!(config.consensus.voting_floor_round, 1200);
        assert_eq!(config.mode, Mode::Observer);
        let wrong = |name: &str| (name == "TENGE_VERIFY_SIGNATURES").then(|| "some".to_string());
        let error = NodeConfig::load(&path, wrong).unwrap_err().to_string();
        assert!(error.contains("TENGE_VERIFY_SIGNATURES"), "{error}");
        assert_eq!(config.api_address, "127.0.0.1:9999");
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/tenge"));
    }

    #[test]
    fn tls_files_resolve_like_the_other_paths_and_come_from_the_environment() {
        let (dir, path) = write(&format!(
            "api_tls_cert_file = \"tls/api.crt\"\napi_tls_key_file = \"/etc/tenge/api.key\"\n{SAMPLE}"
        ));
        let config = NodeConfig::load(&path, |_| None).unwrap();
        assert_eq!(
            config.tls_files(),
            Some((
                dir.path().join("tls/api.crt").as_path(),
                Path::new("/etc/tenge/api.key")
            ))
        );
        let env = |name: &str| match name {
            "TENGE_API_TLS_CERT_FILE" => Some("/srv/a.crt".to_string()),
            "TENGE_API_TLS_KEY_FILE" => Some("/srv/a.key".to_string()),
            _ => None,
        };
        let (_dir, plain) = write(SAMPLE);
        let config = NodeConfig::load(&plain, env).unwrap();
        assert_eq!(
            config.tls_files(),
            Some((Path::new("/srv/a.crt"), Path::new("/srv/a.key")))
        );
        assert_eq!(
            NodeConfig::load(&plain, |_| None).unwrap().tls_files(),
            None
        );
    }

    #[test]
    fn example_configs_in_the_repository_are_valid() {
        for name in ["validator.toml", "observer.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../config")
                .join(name);
            let config =
                NodeConfig::load(&path, |_| None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.data_dir, PathBuf::from("/var/lib/tenge"));
        }
    }

    #[test]
    fn refuses_bad_configs_with_the_specific_problem() {
        let cases = [
            (
                SAMPLE.replace("mode = \"validator\"", "mode = \"leader\""),
                "invalid",
            ),
            (
                SAMPLE.replace(
                    "api_address = \"127.0.0.1:8100\"",
                    "api_address = \"localhost\"",
                ),
                "api_address",
            ),
            (
                SAMPLE.replace("round_timeout_base_ms = 500", "round_timeout_base_ms = 0"),
                "round_timeout_base_ms",
            ),
            (format!("{SAMPLE}\nsurprise = 1\n"), "surprise"),
            (
                format!("verify_signatures = \"some\"\n{SAMPLE}"),
                "verify_signatures",
            ),
            (
                SAMPLE.replace(
                    "listen_address = \"/ip4/127.0.0.1/tcp/7100\"",
                    "listen_address = \"127.0.0.1:7100\"",
                ),
                "multiaddr",
            ),
            (
                format!("api_tls_cert_file = \"api.crt\"\n{SAMPLE}"),
                "both (HTTPS) or neither",
            ),
        ];
        for (text, expected) in cases {
            let (_dir, path) = write(&text);
            let error = NodeConfig::load(&path, |_| None).unwrap_err().to_string();
            assert!(error.contains(expected), "`{expected}` not in: {error}");
        }
        let (_dir, path) = write(SAMPLE);
        let error = NodeConfig::load(&path, |name| {
            (name == "TENGE_MODE").then(|| "boss".to_string())
        })
        .unwrap_err();
        assert!(error.to_string().contains("TENGE_MODE"));
        assert!(
            NodeConfig::load(Path::new("/nonexistent/config.toml"), |_| None)
                .unwrap_err()
                .to_string()
                .contains("cannot read")
        );
    }
}
