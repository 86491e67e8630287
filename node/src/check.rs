//! Operator commands that look at a node's configuration without starting it:
//! `tenged --check-config` and `tenged config show`.

use std::path::{Path, PathBuf};

use tenge_engine::Mode;

use crate::config::{ENVIRONMENT, NodeConfig};

/// What `--check-config` found wrong, with the field it concerns.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

/// Everything a start would need, checked without starting: the genesis file, the key file
/// (readable, mode 0600, a validator of the genesis when `mode = "validator"`), and a data dir
/// this user can write. Returns what was checked, one line each, or the first problem.
pub fn check(config: &NodeConfig) -> Result<Vec<String>, Problem> {
    let mut checked = Vec::new();
    let genesis = crate::read_genesis(&config.genesis_file).map_err(|reason| Problem {
        field: "genesis_file",
        reason,
    })?;
    checked.push(format!(
        "genesis_file: chain {}, {} validators, genesis hash {}",
        genesis.chain_id,
        genesis.validators.len(),
        genesis.hash().short()
    ));
    let key = tenge_crypto::read_key_file(&config.key_file).map_err(|e| Problem {
        field: "key_file",
        reason: e.to_string(),
    })?;
    let public = key.public_key();
    let index = genesis
        .validators
        .iter()
        .position(|v| v.consensus_key == public);
    match (config.mode, index) {
        (Mode::Validator, None) => {
            return Err(Problem {
                field: "key_file",
                reason: format!(
                    "key {} is not a validator in the genesis, but mode = \"validator\"",
                    public.short()
                ),
            });
        }
        (Mode::Validator, Some(i)) => checked.push(format!(
            "key_file: validator {} ({}), public key {}",
            i + 1,
            genesis.validators[i].name,
            public.short()
        )),
        (Mode::Observer, _) => checked.push(format!(
            "key_file: observer key {} (the validators must list it in their [[peers]])",
            public.short()
        )),
    }
    checked.push(check_data_dir(&config.data_dir)?);
    checked.push(format!(
        "addresses: p2p {}, api {}",
        config.listen_address, config.api_address
    ));
    if let Some((certificate, key)) = config.tls_files() {
        tenge_api::tls::server_config(certificate, key).map_err(|e| Problem {
            field: match &e {
                tenge_api::tls::TlsError::NoKey { .. } => "api_tls_key_file",
                tenge_api::tls::TlsError::Read { path, .. } if path == key => "api_tls_key_file",
                _ => "api_tls_cert_file",
            },
            reason: e.to_string(),
        })?;
        checked.push(format!(
            "api_tls_cert_file: {} and its key load: the API serves HTTPS",
            certificate.display()
        ));
    }
    Ok(checked)
}

/// The data dir exists and is writable, or can be created.
fn check_data_dir(dir: &Path) -> Result<String, Problem> {
    let problem = |reason: String| Problem {
        field: "data_dir",
        reason,
    };
    if dir.exists() {
        if !dir.is_dir() {
            return Err(problem(format!("{} is not a directory", dir.display())));
        }
        let probe = dir.join(format!(".tenged-check-{}", std::process::id()));
        std::fs::write(&probe, b"")
            .map_err(|e| problem(format!("{} is not writable: {e}", dir.display())))?;
        let _ = std::fs::remove_file(&probe);
        let database = dir.join("db").join("CURRENT").exists();
        Ok(format!(
            "data_dir: {} writable, {}",
            dir.display(),
            if database {
                "holds a database (not opened: a running node may hold it)"
            } else {
                "no database yet (created at the first start)"
            }
        ))
    } else {
        let parent = existing_ancestor(dir)
            .ok_or_else(|| problem(format!("no existing parent of {}", dir.display())))?;
        let probe = parent.join(format!(".tenged-check-{}", std::process::id()));
        std::fs::write(&probe, b"").map_err(|e| {
            problem(format!(
                "{} does not exist and {} is not writable: {e}",
                dir.display(),
                parent.display()
            ))
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(format!(
            "data_dir: {} does not exist yet (created at the first start)",
            dir.display()
        ))
    }
}

fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|p| p.as_os_str().is_empty() || p.is_dir())
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
}

/// The effective configuration as TOML, every field with where its value came from: the file,
/// an environment variable, or the default. The config holds no secret (the key is in its own
/// file), so everything is shown.
pub fn show(
    path: &Path,
    config: &NodeConfig,
    environment: impl Fn(&str) -> Option<String>,
) -> String {
    let file: toml::Table = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or_default();
    let effective = toml::Table::try_from(config).expect("the config serialises");
    let source = |section: Option<&str>, key: &str| -> String {
        let dotted = match section {
            Some(section) => format!("{section}.{key}"),
            None => key.to_string(),
        };
        if let Some((name, _)) = ENVIRONMENT
            .iter()
            .find(|(name, field)| *field == dotted && environment(name).is_some())
        {
            return format!("from {name}");
        }
        let in_file = match section {
            Some(section) => file
                .get(section)
                .and_then(toml::Value::as_table)
                .is_some_and(|t| t.contains_key(key)),
            None => file.contains_key(key),
        };
        if in_file {
            format!("from {}", path.display())
        } else {
            "default".to_string()
        }
    };
    let mut text = String::new();
    let mut sections = Vec::new();
    for (key, value) in &effective {
        match value {
            toml::Value::Table(table) => sections.push((key, table)),
            toml::Value::Array(items) if key == "peers" => {
                text += &format!("# peers: {} ({})\n", items.len(), source(None, key));
            }
            value => text += &format!("{key} = {value}  # {}\n", source(None, key)),
        }
    }
    for (name, table) in sections {
        text += &format!("\n[{name}]\n");
        for (key, value) in table {
            text += &format!("{key} = {value}  # {}\n", source(Some(name), key));
        }
    }
    if let Some(toml::Value::Array(peers)) = effective.get("peers") {
        for peer in peers {
            text += &format!("\n[[peers]]\n{}", toml::to_string(peer).unwrap_or_default());
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_names_the_source_of_every_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "mode = \"validator\"\ndata_dir = \"data\"\nkey_file = \"node.key\"\n\
             genesis_file = \"genesis.json\"\nlisten_address = \"/ip4/127.0.0.1/tcp/7100\"\n\
             api_address = \"127.0.0.1:8100\"\n[limits]\nblock_max_txs = 500\n",
        )
        .unwrap();
        let env = |name: &str| (name == "TENGE_LOG_LEVEL").then(|| "debug".to_string());
        let config = NodeConfig::load(&path, env).unwrap();
        let text = show(&path, &config, env);
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
                .to_string()
        };
        assert!(line("mode = ").ends_with(&format!("from {}", path.display())));
        assert!(line("log_level = \"debug\"").ends_with("from TENGE_LOG_LEVEL"));
        assert!(line("log_format = ").ends_with("default"));
        assert!(line("block_max_txs = 500").contains("from "));
        assert!(line("mempool_max_txs = ").ends_with("default"));
        assert!(line("voting_floor_round = 0").ends_with("default"));
    }

    #[test]
    fn check_names_the_field_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let missing = NodeConfig {
            genesis_file: dir.path().join("nowhere.json"),
            ..sample(dir.path())
        };
        assert_eq!(check(&missing).unwrap_err().field, "genesis_file");
        let mut file = std::fs::File::create(dir.path().join("a-file")).unwrap();
        std::io::Write::write_all(&mut file, b"x").unwrap();
        assert_eq!(
            check_data_dir(&dir.path().join("a-file"))
                .unwrap_err()
                .field,
            "data_dir"
        );
        assert!(check_data_dir(&dir.path().join("new").join("data")).is_ok());
    }

    fn sample(dir: &Path) -> NodeConfig {
        let path = dir.join("config.toml");
        std::fs::write(
            &path,
            "mode = \"validator\"\ndata_dir = \"data\"\nkey_file = \"node.key\"\n\
             genesis_file = \"genesis.json\"\nlisten_address = \"/ip4/127.0.0.1/tcp/7100\"\n\
             api_address = \"127.0.0.1:8100\"\n",
        )
        .unwrap();
        NodeConfig::load(&path, |_| None).unwrap()
    }
}
