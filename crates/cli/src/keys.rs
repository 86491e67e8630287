//! Public keys on the command line: 64 hex characters, a public-key file (`tenge keygen` writes
//! one beside each secret key file), or a secret key file of which only the public key is used.
//! Whoever only names a key (the central bank writing a genesis, a bank opening a wallet) never
//! needs the secret behind it (issue 14 item 9).
//!
//! Public-key file format (JSON, one object): `{"type":"tenge-ed25519-public-key",
//! "public_key":HEX}`. A file holding only the 64 hex characters is read too.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tenge_types::PublicKey;

pub const PUBLIC_KEY_FILE_TYPE: &str = "tenge-ed25519-public-key";
const SECRET_KEY_FILE_TYPE: &str = "tenge-ed25519-secret-key";
/// A key file is a few hundred bytes; anything much larger is not one (and is not read whole).
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PublicKeyFile {
    #[serde(rename = "type")]
    kind: String,
    public_key: String,
}

/// Either kind of key file, to tell them apart before reading further.
#[derive(Deserialize)]
struct AnyKeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    public_key: Option<String>,
}

/// Parses 64 hex characters as a public key and checks that it is a usable ed25519 key (a valid
/// point outside the small-order subgroup), as the ledger will at genesis.
pub fn parse_public_key_hex(text: &str) -> Result<PublicKey, String> {
    let key: PublicKey = text
        .parse()
        .map_err(|e| format!("`{text}` is not a public key (64 hex characters): {e}"))?;
    tenge_crypto::check_public_key(&key).map_err(|e| format!("`{text}`: {e}"))?;
    Ok(key)
}

/// A public key given as 64 hex characters or as the path of a key file (public or secret).
/// A secret key file is read with all its checks (owner-only mode, public part matching the
/// secret); only its public key is kept.
pub fn public_key(text: &str) -> Result<PublicKey, String> {
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return parse_public_key_hex(text);
    }
    let path = Path::new(text);
    if !path.exists() {
        return Err(format!(
            "`{text}` is neither a public key (64 hex characters) nor an existing key file"
        ));
    }
    read_public_key(path)
}

/// The public key in a key file: a public-key file, a file of 64 hex characters, or a secret
/// key file.
pub fn read_public_key(path: &Path) -> Result<PublicKey, String> {
    let shown = path.display();
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read key file {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read key file {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(format!(
            "{shown} is larger than a key file can be ({MAX_KEY_FILE_BYTES} bytes)"
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("{shown} is not a key file: not UTF-8 text"))?
        .trim();
    if !text.starts_with('{') {
        return parse_public_key_hex(text).map_err(|e| format!("{shown}: {e}"));
    }
    let any: AnyKeyFile =
        serde_json::from_str(text).map_err(|e| format!("{shown} is not a tenge key file: {e}"))?;
    match any.kind.as_deref() {
        Some(SECRET_KEY_FILE_TYPE) => tenge_crypto::read_key_file(path)
            .map(|keypair| keypair.public_key())
            .map_err(|e| e.to_string()),
        Some(PUBLIC_KEY_FILE_TYPE) => {
            let file: PublicKeyFile = serde_json::from_str(text)
                .map_err(|e| format!("{shown} is not a tenge public-key file: {e}"))?;
            parse_public_key_hex(&file.public_key).map_err(|e| format!("{shown}: public_key {e}"))
        }
        Some(other) => Err(format!(
            "{shown} is not a tenge key file: type is `{other}`, expected \
             `{PUBLIC_KEY_FILE_TYPE}` or `{SECRET_KEY_FILE_TYPE}`"
        )),
        None if any.public_key.is_some() => Err(format!(
            "{shown} is not a tenge key file: it has no `type` (`{PUBLIC_KEY_FILE_TYPE}`)"
        )),
        None => Err(format!("{shown} is not a tenge key file: no public_key")),
    }
}

/// Where `tenge keygen --out FILE` puts the public key: FILE with the extension `pub`
/// (`officer.key` -> `officer.pub`, `node` -> `node.pub`).
pub fn public_key_path(secret_path: &Path) -> Result<PathBuf, String> {
    let public = secret_path.with_extension("pub");
    if public == secret_path {
        return Err(format!(
            "{}: a secret key file must not end in `.pub` (its public key goes there)",
            secret_path.display()
        ));
    }
    Ok(public)
}

/// Writes a public-key file (mode 0644: it is meant to be sent to others). Never overwrites.
pub fn write_public_key_file(path: &Path, key: &PublicKey) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let text = serde_json::to_string_pretty(&PublicKeyFile {
        kind: PUBLIC_KEY_FILE_TYPE.into(),
        public_key: key.to_hex(),
    })
    .expect("public-key file serialises")
        + "\n";
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                format!(
                    "{} already exists; refusing to overwrite it",
                    path.display()
                )
            } else {
                format!("cannot write {}: {e}", path.display())
            }
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use tenge_crypto::{Keypair, write_key_file};

    fn strong_key() -> Keypair {
        Keypair::from_secret([7; 32])
    }

    #[test]
    fn hex_public_and_secret_files_give_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = strong_key();
        let secret = dir.path().join("officer.key");
        write_key_file(&secret, &key).unwrap();
        let public = public_key_path(&secret).unwrap();
        assert_eq!(public, dir.path().join("officer.pub"));
        write_public_key_file(&public, &key.public_key()).unwrap();
        let bare = dir.path().join("bare.txt");
        std::fs::write(&bare, format!("{}\n", key.public_key().to_hex())).unwrap();
        for text in [
            key.public_key().to_hex(),
            secret.display().to_string(),
            public.display().to_string(),
            bare.display().to_string(),
        ] {
            assert_eq!(public_key(&text).unwrap(), key.public_key(), "{text}");
        }
        let mode = std::fs::metadata(&public).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // Never overwritten.
        let again = write_public_key_file(&public, &Keypair::from_secret([8; 32]).public_key());
        assert!(again.unwrap_err().contains("already exists"));
        assert_eq!(
            public_key(&public.display().to_string()).unwrap(),
            key.public_key()
        );
    }

    #[test]
    fn bad_keys_and_files_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let valid = strong_key().public_key().to_hex();
        let cases = [
            ("zz".repeat(32), "neither a public key"),
            ("00".repeat(32), "is weak"),
            ("abc".to_string(), "neither a public key"),
            (dir.path().join("absent").display().to_string(), "neither"),
            (write("short.pub", "abcd"), "not a public key"),
            (
                write("other.pub", r#"{"type":"ssh-key","public_key":"00"}"#),
                "type is `ssh-key`",
            ),
            (
                write("untyped.pub", &format!(r#"{{"public_key":"{valid}"}}"#)),
                "no `type`",
            ),
            (
                write(
                    "extra.pub",
                    &format!(r#"{{"type":"{PUBLIC_KEY_FILE_TYPE}","public_key":"{valid}","x":1}}"#),
                ),
                "unknown field",
            ),
            (write("binary.pub", "\u{0}\u{1}"), "not a public key"),
        ];
        for (text, expected) in cases {
            let error = public_key(&text).expect_err(&text);
            assert!(error.contains(expected), "{text}: {error}");
        }
        let huge = dir.path().join("huge.pub");
        std::fs::write(&huge, vec![b' '; (MAX_KEY_FILE_BYTES + 2) as usize]).unwrap();
        assert!(
            public_key(&huge.display().to_string())
                .unwrap_err()
                .contains("larger than a key file")
        );
    }

    #[test]
    fn a_secret_key_file_open_to_others_is_still_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("bank.key");
        write_key_file(&secret, &strong_key()).unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = public_key(&secret.display().to_string()).unwrap_err();
        assert!(error.contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_pub_secret_path_is_refused() {
        assert!(public_key_path(Path::new("a.pub")).is_err());
        assert_eq!(
            public_key_path(Path::new("dir/node")).unwrap(),
            Path::new("dir/node.pub")
        );
    }
}
