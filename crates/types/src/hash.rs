//! SHA-256 over canonical bytes, with a distinct domain per kind of value.
//!
//! Every hash starts with a 32-byte prefix that is itself the SHA-256 of the domain's name
//! (`TENGE::Tx`, `TENGE::Block`, ...). Fixed-length prefixes make the domains prefix-free, so a
//! transaction hash can never equal a vote hash and a signature over one can never be replayed as
//! the other.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HashValue(pub [u8; 32]);

/// Serde for 32-byte values: a hex string in human-readable formats (JSON, TOML), 32 raw bytes
/// in BCS.
macro_rules! hex_serde {
    ($name:ident) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                if serializer.is_human_readable() {
                    serializer.serialize_str(&hex::encode(self.0))
                } else {
                    self.0.serialize(serializer)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                if deserializer.is_human_readable() {
                    let text = <String as serde::Deserialize>::deserialize(deserializer)?;
                    crate::hash::parse_hex32(&text)
                        .map($name)
                        .map_err(serde::de::Error::custom)
                } else {
                    <[u8; 32] as serde::Deserialize>::deserialize(deserializer).map($name)
                }
            }
        }
    };
}
pub(crate) use hex_serde;

hex_serde!(HashValue);

impl HashValue {
    pub const ZERO: HashValue = HashValue([0; 32]);
    pub const LENGTH: usize = 32;

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first four bytes in hex, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashValue({})", self.short())
    }
}

impl fmt::Display for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why a text is not a 32-byte hex value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not 64 hexadecimal characters (32 bytes)")]
pub struct HexParseError {
    pub text: String,
}

pub(crate) fn parse_hex32(text: &str) -> Result<[u8; 32], HexParseError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| HexParseError {
        text: text.chars().take(80).collect(),
    })?;
    Ok(bytes)
}

impl FromStr for HashValue {
    type Err = HexParseError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_hex32(text).map(HashValue)
    }
}

/// The hashing domains. Adding one is a format decision: give it a new name, never reuse one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    Transaction,
    SignedTransaction,
    Block,
    TransactionsRoot,
    ReceiptsRoot,
    StateLeaf,
    StateNode,
    StateRoot,
    Account,
    Multisig,
    Earmark,
    Vote,
    Timeout,
    Proposal,
    Chain,
    AccountIndexLeaf,
    AccountIndexNode,
    ValidatorSet,
    ProofOfPossession,
}

impl Domain {
    pub const ALL: [Domain; 19] = [
        Domain::Transaction,
        Domain::SignedTransaction,
        Domain::Block,
        Domain::TransactionsRoot,
        Domain::ReceiptsRoot,
        Domain::StateLeaf,
        Domain::StateNode,
        Domain::StateRoot,
        Domain::Account,
        Domain::Multisig,
        Domain::Earmark,
        Domain::Vote,
        Domain::Timeout,
        Domain::Proposal,
        Domain::Chain,
        Domain::AccountIndexLeaf,
        Domain::AccountIndexNode,
        Domain::ValidatorSet,
        Domain::ProofOfPossession,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Domain::Transaction => "TENGE::Tx",
            Domain::SignedTransaction => "TENGE::SignedTx",
            Domain::Block => "TENGE::Block",
            Domain::TransactionsRoot => "TENGE::TxRoot",
            Domain::ReceiptsRoot => "TENGE::ReceiptRoot",
            Domain::StateLeaf => "TENGE::StateLeaf",
            Domain::StateNode => "TENGE::StateNode",
            Domain::StateRoot => "TENGE::StateRoot",
            Domain::Account => "TENGE::Account",
            Domain::Multisig => "TENGE::Multisig",
            Domain::Earmark => "TENGE::Earmark",
            Domain::Vote => "TENGE::Vote",
            Domain::Timeout => "TENGE::Timeout",
            Domain::Proposal => "TENGE::Proposal",
            Domain::Chain => "TENGE::Chain",
            Domain::AccountIndexLeaf => "TENGE::AccountIndexLeaf",
            Domain::AccountIndexNode => "TENGE::AccountIndexNode",
            Domain::ValidatorSet => "TENGE::ValidatorSet",
            Domain::ProofOfPossession => "TENGE::ProofOfPossession",
        }
    }

    /// A hasher that has already absorbed this domain's 32-byte prefix.
    pub fn hasher(self) -> Sha256 {
        static PREFIXED: OnceLock<Vec<Sha256>> = OnceLock::new();
        let prefixed = PREFIXED.get_or_init(|| {
            Domain::ALL
                .iter()
                .map(|domain| {
                    let prefix = Sha256::digest(domain.name().as_bytes());
                    let mut hasher = Sha256::new();
                    hasher.update(prefix);
                    hasher
                })
                .collect()
        });
        prefixed[self as usize].clone()
    }

    /// The domain-separated hash of raw bytes.
    pub fn hash(self, bytes: &[u8]) -> HashValue {
        let mut hasher = self.hasher();
        hasher.update(bytes);
        finish(hasher)
    }

    /// The domain-separated hash of several byte strings in a row. The caller must make the
    /// concatenation unambiguous (fixed-length parts, or canonical encodings).
    pub fn hash_parts(self, parts: &[&[u8]]) -> HashValue {
        let mut hasher = self.hasher();
        for part in parts {
            hasher.update(part);
        }
        finish(hasher)
    }
}

pub fn finish(hasher: Sha256) -> HashValue {
    HashValue(hasher.finalize().into())
}

/// Binary Merkle root over a list of leaf hashes (an odd node is paired with [`HashValue::ZERO`]).
/// The leaf count is mixed into the root so that lists of different lengths never collide.
pub fn merkle_root(domain: Domain, leaves: &[HashValue]) -> HashValue {
    let count = (leaves.len() as u64).to_le_bytes();
    if leaves.is_empty() {
        return domain.hash_parts(&[&count]);
    }
    let mut level: Vec<HashValue> = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let right = pair.get(1).copied().unwrap_or(HashValue::ZERO);
                domain.hash_parts(&[&pair[0].0, &right.0])
            })
            .collect();
    }
    domain.hash_parts(&[&count, &level[0].0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for domain in Domain::ALL {
            assert_eq!(
                Domain::ALL[domain as usize],
                domain,
                "ALL is in declaration order"
            );
            assert!(seen.insert(domain.hash(b"same bytes")), "{domain:?}");
        }
    }

    #[test]
    fn hash_is_sha256_of_prefix_then_bytes() {
        let prefix = Sha256::digest(b"TENGE::Tx");
        let mut expected = Sha256::new();
        expected.update(prefix);
        expected.update(b"abc");
        assert_eq!(
            Domain::Transaction.hash(b"abc").0,
            <[u8; 32]>::from(expected.finalize())
        );
    }

    #[test]
    fn merkle_root_depends_on_order_and_count() {
        let a = Domain::Transaction.hash(b"a");
        let b = Domain::Transaction.hash(b"b");
        let root = |leaves: &[HashValue]| merkle_root(Domain::TransactionsRoot, leaves);
        assert_ne!(root(&[a, b]), root(&[b, a]));
        assert_ne!(root(&[a]), root(&[a, HashValue::ZERO]));
        assert_ne!(root(&[]), root(&[HashValue::ZERO]));
        assert_eq!(root(&[a, b]), root(&[a, b]));
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let value = Domain::Block.hash(b"x");
        assert_eq!(value.to_hex().parse::<HashValue>().unwrap(), value);
        assert!("00".parse::<HashValue>().is_err());
        assert!("zz".repeat(32).parse::<HashValue>().is_err());
    }
}
