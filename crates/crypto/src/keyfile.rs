//! Key files: a secret key on disk, readable by its owner only.
//!
//! Format (JSON, one object): `{"type":"tenge-ed25519-secret-key","public_key":HEX,
//! "secret_key":HEX}`. The public key is stored so that a truncated or edited file is caught
//! (it must match the secret) and so that an operator can read it without tools.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::keys::Keypair;

const KEY_FILE_TYPE: &str = "tenge-ed25519-secret-key";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: String,
    public_key: String,
    secret_key: String,
}

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("key file {path} is not a tenge key file: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("key file {path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
}

/// Reads a secret key, refusing a file that group or others could read.
pub fn read_key_file(path: &Path) -> Result<Keypair, KeyFileError> {
    let read_error = |source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    };
    let metadata = fs::metadata(path).map_err(read_error)?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(read_error)?;
    let malformed = |reason: String| KeyFileError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    if file.kind != KEY_FILE_TYPE {
        return Err(malformed(format!(
            "type is `{}`, expected `{KEY_FILE_TYPE}`",
            file.kind
        )));
    }
    let mut secret = [0u8; 32];
    hex::decode_to_slice(&file.secret_key, &mut secret)
        .map_err(|_| malformed("secret_key is not 64 hex characters".into()))?;
    let keypair = Keypair::from_secret(secret);
    if keypair.public_key().to_hex() != file.public_key {
        return Err(malformed(
            "public_key does not belong to secret_key (file damaged or edited)".into(),
        ));
    }
    Ok(keypair)
}

/// Writes a new key file with mode 0600. Never overwrites an existing file.
pub fn write_key_file(path: &Path, keypair: &Keypair) -> Result<(), KeyFileError> {
    let file = KeyFile {
        kind: KEY_FILE_TYPE.into(),
        public_key: keypair.public_key().to_hex(),
        secret_key: hex::encode(keypair.secret_bytes()),
    };
    let text = serde_json::to_string_pretty(&file).expect("key file serialises") + "\n";
    let mut handle = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyFileError::Exists {
                    path: path.to_owned(),
                }
            } else {
                KeyFileError::Write {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
    handle
        .write_all(text.as_bytes())
        .and_then(|()| handle.sync_all())
        .map_err(|source| KeyFileError::Write {
            path: path.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_then_reads_back_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("officer.key");
        let key = Keypair::from_secret([4; 32]);
        write_key_file(&path, &key).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_key_file(&path).unwrap().public_key(), key.public_key());
        assert!(matches!(
            write_key_file(&path, &key),
            Err(KeyFileError::Exists { .. })
        ));
    }

    #[test]
    fn refuses_a_key_readable_by_others() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("open.key");
        write_key_file(&path, &Keypair::from_secret([4; 32])).unwrap();
        for mode in [0o640, 0o604, 0o644] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            assert!(
                matches!(read_key_file(&path), Err(KeyFileError::TooOpen { .. })),
                "{mode:o}"
            );
        }
    }

    #[test]
    fn refuses_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = Keypair::from_secret([4; 32]);
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            fs::write(&path, text).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            path
        };
        let other_public = Keypair::from_secret([5; 32]).public_key().to_hex();
        let secret = hex::encode(key.secret_bytes());
        let cases = [
            write("not-json", "hello"),
            write(
                "wrong-type",
                &format!(r#"{{"type":"x","public_key":"{other_public}","secret_key":"{secret}"}}"#),
            ),
            write(
                "mismatch",
                &format!(
                    r#"{{"type":"{KEY_FILE_TYPE}","public_key":"{other_public}","secret_key":"{secret}"}}"#
                ),
            ),
            write(
                "short-secret",
                &format!(
                    r#"{{"type":"{KEY_FILE_TYPE}","public_key":"{other_public}","secret_key":"abcd"}}"#
                ),
            ),
        ];
        for path in cases {
            assert!(
                matches!(read_key_file(&path), Err(KeyFileError::Malformed { .. })),
                "{}",
                path.display()
            );
        }
        assert!(matches!(
            read_key_file(&dir.path().join("missing")),
            Err(KeyFileError::Read { .. })
        ));
    }
}
