//! Identifiers and raw key material. Verification lives in `tenge-crypto`; these are just bytes.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hash::{Domain, HexParseError, parse_hex32};

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        crate::hash::hex_serde!($name);

        impl $name {
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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = HexParseError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                parse_hex32(text).map($name)
            }
        }
    };
}

hex_id!(
    /// An account: the domain-separated hash of its authentication (one ed25519 public key, or a
    /// k-of-m multisig policy). The id never changes; the keys behind it are stored in the account.
    AccountId
);
hex_id!(
    /// An ed25519 public key in its 32-byte compressed form. Not yet checked to be a valid or
    /// strong point: `tenge-crypto` does that.
    PublicKey
);
hex_id!(
    /// An earmark: the hash of the transaction that created it.
    EarmarkId
);

impl AccountId {
    /// The account of a single ed25519 key.
    pub fn for_key(key: &PublicKey) -> AccountId {
        AccountId(Domain::Account.hash(&key.0).0)
    }
}

/// An ed25519 signature (R || s), 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..4]))
    }
}

// serde derives arrays only up to 32 elements; a signature is a fixed 64-byte tuple, which BCS
// writes as 64 raw bytes with no length prefix.
impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        if serializer.is_human_readable() {
            return serializer.serialize_str(&hex::encode(self.0));
        }
        let mut tuple = serializer.serialize_tuple(64)?;
        for byte in &self.0 {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            let mut bytes = [0u8; 64];
            hex::decode_to_slice(&text, &mut bytes)
                .map_err(|_| de::Error::custom("signature is not 128 hexadecimal characters"))?;
            return Ok(Signature(bytes));
        }
        struct SignatureVisitor;
        impl<'de> Visitor<'de> for SignatureVisitor {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Signature, A::Error> {
                let mut bytes = [0u8; 64];
                for (index, byte) in bytes.iter_mut().enumerate() {
                    *byte = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(index, &self))?;
                }
                Ok(Signature(bytes))
            }
        }
        deserializer.deserialize_tuple(64, SignatureVisitor)
    }
}

/// The chain a transaction or block belongs to, e.g. `tenge-devnet`. Signed into every
/// transaction so that a transaction for one network can never be replayed on another.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChainId(pub(crate) String);

/// Why a text is not a chain id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "chain id `{0}` is invalid: use 1 to {max} characters from a-z, 0-9 and `-`",
    max = ChainId::MAX_LEN
)]
pub struct ChainIdError(pub String);

impl ChainId {
    pub const MAX_LEN: usize = 32;

    pub fn new(name: &str) -> Result<ChainId, ChainIdError> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(ChainId(name.to_owned()))
        } else {
            Err(ChainIdError(name.chars().take(64).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if this value could have been built by [`ChainId::new`]: decoders call it because
    /// serde builds the struct without going through `new`.
    pub fn is_valid(&self) -> bool {
        ChainId::new(&self.0).is_ok()
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({})", self.0)
    }
}

impl FromStr for ChainId {
    type Err = ChainIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ChainId::new(text)
    }
}

/// Height of a block in the committed chain; genesis is height 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Height(pub u64);

impl Height {
    pub const GENESIS: Height = Height(0);

    /// True if this height comes right after `previous` (never panics on peers' values).
    pub fn follows(self, previous: Height) -> bool {
        previous.0.checked_add(1) == Some(self.0)
    }

    pub fn next(self) -> Height {
        Height(self.0.checked_add(1).expect("height overflow"))
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A consensus round.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Round(pub u64);

impl Round {
    pub fn next(self) -> Round {
        Round(self.0.checked_add(1).expect("round overflow"))
    }

    /// The next round, or the same at `u64::MAX` (for values from peers: never panics).
    pub fn saturating_next(self) -> Round {
        Round(self.0.saturating_add(1))
    }

    /// True if this round comes right after `previous`.
    pub fn follows(self, previous: Round) -> bool {
        previous.0.checked_add(1) == Some(self.0)
    }
}

impl fmt::Display for Round {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Consensus time: milliseconds since the Unix epoch, as agreed in block headers. The only clock
/// the ledger and the monetary policy ever read.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct TimestampMs(pub u64);

impl TimestampMs {
    /// The wall clock: milliseconds since the Unix epoch (0 if the clock is before it). For the
    /// edges only (the engine's driver, the CLI, tools): the pure cores never read a clock, they
    /// receive time as an input.
    pub fn now() -> TimestampMs {
        TimestampMs(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| {
                    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, encode};

    #[test]
    fn signature_encodes_as_64_raw_bytes() {
        let signature = Signature([7; 64]);
        let bytes = encode(&signature);
        assert_eq!(bytes, vec![7; 64]);
        assert_eq!(
            decode::<Signature>("signature", &bytes, 64).unwrap(),
            signature
        );
        assert!(decode::<Signature>("signature", &bytes[..63], 64).is_err());
    }

    #[test]
    fn chain_id_rules() {
        assert!(ChainId::new("tenge-devnet").is_ok());
        assert!(ChainId::new("kz-mainnet-1").is_ok());
        for bad in ["", "Tenge", "tenge devnet", "тенге", &"a".repeat(33)] {
            assert!(ChainId::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn account_id_depends_on_key() {
        let a = AccountId::for_key(&PublicKey([1; 32]));
        let b = AccountId::for_key(&PublicKey([2; 32]));
        assert_ne!(a, b);
        assert_eq!(a.to_hex().parse::<AccountId>().unwrap(), a);
    }
}
