//! The canonical encoding: BCS, with a size limit on every decode and a re-encoding check.
//!
//! BCS has exactly one valid encoding per value, and its decoder already refuses trailing bytes,
//! non-minimal length prefixes, out-of-range booleans and option tags, and unsorted map keys.
//! [`decode`] adds the two things the wire needs on top: a byte limit checked before any parsing,
//! and a final comparison of the re-encoded value with the bytes received, so that no value can
//! ever be accepted in two spellings (a defence in depth against a decoder bug).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest single value we will ever decode: a block of transactions at its size limit.
pub const MAX_ENCODED_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting BCS may decode (our types nest only a few levels).
const MAX_CONTAINER_DEPTH: usize = 32;

/// Why bytes could not be decoded into a value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what}: {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("{what}: malformed canonical encoding: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("{what}: bytes are not the canonical encoding of the value they decode to")]
    NonCanonical { what: &'static str },
}

/// Canonical bytes of a value. Encoding our own types cannot fail: they contain no maps with
/// non-serialisable keys and nest far less than BCS's limit.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    bcs::to_bytes(value).expect("BCS encoding of a tenge type cannot fail")
}

/// Length of [`encode`]'s bytes, counted without writing them.
pub fn encoded_size<T: Serialize + ?Sized>(value: &T) -> usize {
    bcs::serialized_size(value).expect("BCS encoding of a tenge type cannot fail")
}

/// Decodes untrusted bytes: refuses more than `limit` bytes, trailing bytes, non-canonical
/// encodings, and nesting deeper than our types need.
pub fn decode<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    limit: usize,
) -> Result<T, DecodeError> {
    let limit = limit.min(MAX_ENCODED_BYTES);
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit,
        });
    }
    let value: T = bcs::from_bytes_with_limit(bytes, MAX_CONTAINER_DEPTH).map_err(|error| {
        DecodeError::Malformed {
            what,
            reason: error.to_string(),
        }
    })?;
    if encode(&value) != bytes {
        return Err(DecodeError::NonCanonical { what });
    }
    Ok(value)
}

/// Decodes bytes this node wrote itself (its own database). A failure is corruption, and the
/// caller treats it as fatal; the size check is still applied.
pub fn decode_trusted<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    if bytes.len() > MAX_ENCODED_BYTES {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            limit: MAX_ENCODED_BYTES,
        });
    }
    bcs::from_bytes_with_limit(bytes, MAX_CONTAINER_DEPTH).map_err(|error| DecodeError::Malformed {
        what,
        reason: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        flag: bool,
        items: Vec<u16>,
        note: Option<String>,
    }

    fn sample() -> Sample {
        Sample {
            flag: true,
            items: vec![1, 2, 300],
            note: Some("x".into()),
        }
    }

    #[test]
    fn round_trips() {
        let bytes = encode(&sample());
        assert_eq!(decode::<Sample>("sample", &bytes, 1024).unwrap(), sample());
    }

    #[test]
    fn refuses_oversized_input_before_parsing() {
        let bytes = encode(&sample());
        let error = decode::<Sample>("sample", &bytes, bytes.len() - 1).unwrap_err();
        assert!(matches!(error, DecodeError::TooLarge { .. }), "{error}");
    }

    #[test]
    fn refuses_trailing_bytes() {
        let mut bytes = encode(&sample());
        bytes.push(0);
        assert!(matches!(
            decode::<Sample>("sample", &bytes, 1024),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn refuses_non_canonical_spellings() {
        let bytes = encode(&sample());
        // A boolean other than 0 or 1.
        let mut bad_bool = bytes.clone();
        bad_bool[0] = 2;
        assert!(decode::<Sample>("sample", &bad_bool, 1024).is_err());
        // A vector length written as a two-byte ULEB128 (0x83 0x00 instead of 0x03).
        let mut long_length = vec![bytes[0], 0x83, 0x00];
        long_length.extend_from_slice(&bytes[2..]);
        assert!(decode::<Sample>("sample", &long_length, 1024).is_err());
        // A truncated value.
        assert!(decode::<Sample>("sample", &bytes[..bytes.len() - 1], 1024).is_err());
    }

    #[test]
    fn refuses_a_huge_length_prefix_without_allocating_it() {
        // flag, then a vector claiming 2^31-1 elements with none present.
        let bytes = [1u8, 0xff, 0xff, 0xff, 0xff, 0x07];
        assert!(decode::<Sample>("sample", &bytes, 1024).is_err());
    }
}
