//! Signature verification.
//!
//! The consensus rule (decision D11, review M1) is cofactored ed25519 verification with strict
//! encodings. A signature `(R, s)` by key `A` on message `M` is valid if and only if
//! - `s` is canonical (`s < l`, the order of the prime-order subgroup);
//! - `A` and `R` decode to curve points and are canonical encodings (re-encoding the point gives
//!   the same 32 bytes);
//! - neither `A` nor `R` is of small order (a point `P` with `[8]P = 0`);
//! - `[8](sB - R - kA) = 0`, where `k = SHA-512(R || A || M) mod l` and `B` is the base point.
//!
//! The equation is ZIP-215's (RFC 8032's cofactored check); the encodings are stricter than
//! ZIP-215's, so `A`, `R` and `s` each have exactly one valid encoding. Every signature of a
//! standard ed25519 signer is valid; a signature that ed25519-dalek's cofactorless
//! `verify_strict` accepts is valid here when its key is canonically encoded (the rule also
//! accepts `R + T`, `T` of small order, when `s` is computed over that `R`, which only the holder
//! of the secret key can do). Public keys are registered only if canonical and in the prime-order
//! subgroup (`check_public_key`), but the rule is defined, and tested, for every input.
//!
//! Batch verification gives the same verdict as the single rule for every input: items pass the
//! same checks on their encodings, then `[8] sum z_i (s_i B - R_i - k_i A_i) = 0` with
//! independent random 128-bit `z_i` holds exactly when every item's equation holds (up to a
//! probability of 2^-128 per batch); a failed batch is bisected down to small groups decided by
//! the single equation.

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};
use tenge_types::{Authentication, HashValue, PublicKey, Signature, TransactionSignature};

/// One signature to check.
#[derive(Clone, Copy, Debug)]
pub struct SignatureItem<'a> {
    pub message: &'a HashValue,
    pub public_key: &'a PublicKey,
    pub signature: &'a Signature,
}

/// Items per batch: the multiscalar multiplication gets cheaper per item up to a few hundred
/// items (measured on the 2-core machine: 17.7 us per signature at 64, 15.4 at 256). A failed
/// batch is bisected, so one bad signature costs about two batches' work, not 256 single checks.
const BATCH_SIZE: usize = 256;
/// Below this many items a failed batch is re-checked one by one.
const BISECT_BELOW: usize = 8;

/// True if the 255-bit y coordinate is below p = 2^255 - 19: the only canonical spellings.
fn y_is_canonical(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y >= p only for 2^255 - 19 ..= 2^255 - 1: low byte >= 0xed, all middle bytes 0xff, top 0x7f.
    !(y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed)
}

/// The point an encoding stands for, if the rule accepts it as a key or an `R`: it decodes, it is
/// canonical (re-encoding gives `bytes` back) and it is not of small order.
///
/// Canonical is checked on the bytes, without re-encoding (a field inversion): the decoder
/// reduces y modulo p and gives x the sign bit's parity, except that it accepts the sign bit
/// set on x = 0. So a decoded point re-encodes to `bytes` exactly when y < p and not (x = 0 and
/// the sign bit set). The only points with x = 0 are the identity and the point of order 2, both
/// of small order and refused anyway; so for the points that remain, canonical means y < p.
/// Tested against the definition (`point_decoding_follows_its_definition`).
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !y_is_canonical(bytes) {
        return None;
    }
    let point = CompressedEdwardsY(*bytes).decompress()?;
    if point.is_small_order() {
        return None;
    }
    Some(point)
}

/// [`decode_point`] for public keys, cached so that an account that signs often is decoded
/// once (a decompression costs about a third of a batched verification). Bounded; cleared when
/// full. It only saves work: the result is a deterministic function of the key's bytes.
fn decode_key(public_key: &PublicKey) -> Option<EdwardsPoint> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    const CAPACITY: usize = 1 << 18;
    static CACHE: OnceLock<RwLock<HashMap<PublicKey, EdwardsPoint>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RwLock::new(HashMap::new()));
    if let Some(point) = cache.read().expect("key cache lock").get(public_key) {
        return Some(*point);
    }
    let point = decode_point(&public_key.0)?;
    let mut cache = cache.write().expect("key cache lock");
    if cache.len() >= CAPACITY {
        cache.clear();
    }
    cache.insert(*public_key, point);
    Some(point)
}

/// A signature whose encodings the rule accepts, ready for the equation: `R`, `A`, `s` and
/// `k = SHA-512(R || A || M) mod l`.
struct Prepared {
    r: EdwardsPoint,
    a: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Every check of the rule except the equation; `None` if one fails (the signature is invalid).
/// The single rule and the batch both start here.
fn prepare(message: &[u8], public_key: &PublicKey, signature: &Signature) -> Option<Prepared> {
    let r_bytes: [u8; 32] = signature.0[..32].try_into().expect("32 bytes");
    let s_bytes: [u8; 32] = signature.0[32..].try_into().expect("32 bytes");
    let s = Scalar::from_canonical_bytes(s_bytes).into_option()?;
    let a = decode_key(public_key)?;
    let r = decode_point(&r_bytes)?;
    // The encodings are canonical, so these bytes are the only spellings of R and A.
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(r_bytes)
            .chain_update(public_key.0)
            .chain_update(message)
            .finalize()
            .into(),
    );
    Some(Prepared { r, a, s, k })
}

/// The single equation `[8](sB - R - kA) = 0`.
///
/// `[8]` maps every curve point into the subgroup of prime order l (the curve's group is the
/// product of that subgroup and the cyclic group of the eight torsion points). So the torsion
/// components of `R` and `A` drop out, and so does the choice of representative modulo l of any
/// scalar: `-k` below is `l - k`, which differs from `-k` as an integer by a multiple of l.
fn equation_holds(prepared: &Prepared) -> bool {
    let sb_minus_ka =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&-prepared.k, &prepared.a, &prepared.s);
    (sb_minus_ka - prepared.r).mul_by_cofactor().is_identity()
}

/// Ed25519 verification of a message of any length (RFC 8032 vectors in the tests).
fn verify_message(message: &[u8], public_key: &PublicKey, signature: &Signature) -> bool {
    prepare(message, public_key, signature).is_some_and(|prepared| equation_holds(&prepared))
}

/// The consensus rule (see the module documentation): canonical `s`, `A` and `R`, neither `A`
/// nor `R` of small order, and the cofactored equation `[8](sB - R - kA) = 0`. The name is kept
/// from the cofactorless `verify_strict` of ed25519-dalek that this crate used before (review
/// M1): the encodings are still strict; the equation is now cofactored.
pub fn verify_strict(message: &HashValue, public_key: &PublicKey, signature: &Signature) -> bool {
    verify_message(&message.0, public_key, signature)
}

/// Verifies many signatures, batching where possible; one result per item, equal to what
/// [`verify_strict`] says for that item, for every input.
pub fn verify_batch(items: &[SignatureItem<'_>]) -> Vec<bool> {
    let mut results = vec![false; items.len()];
    let mut start = 0;
    while start < items.len() {
        let end = (start + BATCH_SIZE).min(items.len());
        verify_chunk(&items[start..end], &mut results[start..end]);
        start = end;
    }
    results
}

fn verify_chunk(items: &[SignatureItem<'_>], results: &mut [bool]) {
    let mut indexes = Vec::with_capacity(items.len());
    let mut prepared = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        // An item that fails a check on its encodings is invalid: its result stays false.
        if let Some(checked) = prepare(&item.message.0, item.public_key, item.signature) {
            indexes.push(index);
            prepared.push(checked);
        }
    }
    verify_prepared(&indexes, &prepared, results);
}

/// Batch-verifies the prepared items at `indexes`; on failure, bisects down to small groups
/// whose items are decided by the single equation.
fn verify_prepared(indexes: &[usize], prepared: &[Prepared], results: &mut [bool]) {
    if indexes.is_empty() {
        return;
    }
    if indexes.len() < BISECT_BELOW {
        for (&index, item) in indexes.iter().zip(prepared) {
            results[index] = equation_holds(item);
        }
        return;
    }
    if batch_equation_holds(prepared) == Some(true) {
        for &index in indexes {
            results[index] = true;
        }
        return;
    }
    let half = indexes.len() / 2;
    verify_prepared(&indexes[..half], &prepared[..half], results);
    verify_prepared(&indexes[half..], &prepared[half..], results);
}

/// The batch equation `[8] sum z_i (R_i + k_i A_i - s_i B) = 0` (the negation of
/// `[8] sum z_i (s_i B - R_i - k_i A_i)`) with independent random 128-bit `z_i`; `None` if the
/// operating system gives no randomness (the caller then bisects down to the single equation).
///
/// Why it holds exactly when every item's single equation holds: let
/// `E_i = [8](s_i B - R_i - k_i A_i)`, which lies in the subgroup of prime order l; item i is
/// valid exactly when `E_i = 0`. The scalars below are reduced modulo l, which `[8]` makes
/// harmless (see [`equation_holds`]), so the computed point is `-sum z_i E_i`. If every
/// `E_i = 0` it is the identity. If some `E_j != 0`, then for any values of the other `z_i` at
/// most one value of `z_j` modulo l makes the sum zero (`E_j` generates the subgroup), and the
/// 2^128 possible `z_j` are distinct modulo l: the batch accepts with probability at most
/// 2^-128. Torsion components of `R_i` and `A_i` are multiplied out by `[8]` in both rules, so
/// no item needs a torsion check.
fn batch_equation_holds(prepared: &[Prepared]) -> Option<bool> {
    let mut randomness = vec![0u8; 16 * prepared.len()];
    getrandom::fill(&mut randomness).ok()?;
    let z: Vec<Scalar> = randomness
        .chunks_exact(16)
        .map(|bytes| Scalar::from(u128::from_le_bytes(bytes.try_into().expect("16 bytes"))))
        .collect();
    let b_coefficient: Scalar = prepared.iter().zip(&z).map(|(p, z)| z * p.s).sum();
    let scalars = std::iter::once(-b_coefficient)
        .chain(z.iter().copied())
        .chain(prepared.iter().zip(&z).map(|(p, z)| z * p.k));
    let points = std::iter::once(&ED25519_BASEPOINT_POINT)
        .chain(prepared.iter().map(|p| &p.r))
        .chain(prepared.iter().map(|p| &p.a));
    Some(
        EdwardsPoint::vartime_multiscalar_mul(scalars, points)
            .mul_by_cofactor()
            .is_identity(),
    )
}

/// [`verify_batch`] spread over `threads` OS threads (scoped: they end before this returns).
pub fn verify_parallel(items: &[SignatureItem<'_>], threads: usize) -> Vec<bool> {
    let threads = threads.max(1);
    if threads == 1 || items.len() < 2 * BATCH_SIZE {
        return verify_batch(items);
    }
    // Whole batches per thread, so that every batch is full.
    let batches = items.len().div_ceil(BATCH_SIZE);
    let per_thread = batches.div_ceil(threads) * BATCH_SIZE;
    let mut results = vec![false; items.len()];
    std::thread::scope(|scope| {
        for (chunk, out) in items.chunks(per_thread).zip(results.chunks_mut(per_thread)) {
            scope.spawn(move || out.copy_from_slice(&verify_batch(chunk)));
        }
    });
    results
}

/// Why a set of signatures does not authorise a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    #[error("key {0} may not sign for this account")]
    SignerNotAuthorized(PublicKey),
    #[error("key {0} signed more than once")]
    DuplicateSigner(PublicKey),
    #[error("{have} distinct authorised signatures; {need} are required")]
    NotEnoughSignatures { have: usize, need: usize },
    #[error("a signature does not verify")]
    InvalidSignature,
}

/// Checks that `signatures` authorise an account with `authentication`: every signer is
/// allowed, no signer repeats, there are at least `threshold` of them, and (checked last, so the
/// outcome does not depend on which node verified what) every signature is valid.
/// `all_signatures_valid` is the result of verifying every signature of the transaction.
pub fn check_authorization(
    authentication: &Authentication,
    signatures: &[TransactionSignature],
    all_signatures_valid: bool,
) -> Result<(), AuthorizationError> {
    for (index, signature) in signatures.iter().enumerate() {
        if !authentication.allows(&signature.public_key) {
            return Err(AuthorizationError::SignerNotAuthorized(
                signature.public_key,
            ));
        }
        if signatures[..index]
            .iter()
            .any(|earlier| earlier.public_key == signature.public_key)
        {
            return Err(AuthorizationError::DuplicateSigner(signature.public_key));
        }
    }
    let need = authentication.threshold();
    if signatures.len() < need {
        return Err(AuthorizationError::NotEnoughSignatures {
            have: signatures.len(),
            need,
        });
    }
    if !all_signatures_valid {
        return Err(AuthorizationError::InvalidSignature);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::traits::Identity;
    use tenge_types::MultisigPolicy;

    /// The group order l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const GROUP_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    type Item = (HashValue, PublicKey, Signature);

    fn signed(count: usize) -> Vec<Item> {
        (0..count)
            .map(|i| {
                let key = Keypair::from_secret([(i % 250) as u8 + 1; 32]);
                let message = tenge_types::Domain::Transaction.hash(&i.to_le_bytes());
                (message, key.public_key(), key.sign(&message))
            })
            .collect()
    }

    fn items(list: &[Item]) -> Vec<SignatureItem<'_>> {
        list.iter()
            .map(|(message, public_key, signature)| SignatureItem {
                message,
                public_key,
                signature,
            })
            .collect()
    }

    /// The single rule's verdict for every item.
    fn single(list: &[Item]) -> Vec<bool> {
        list.iter()
            .map(|(message, key, signature)| verify_strict(message, key, signature))
            .collect()
    }

    /// The rule written out from its definition, independently of the code under test:
    /// decoding with re-encoding, small order by multiplying by 8, the constant-time scalar
    /// multiplications, and RFC 8032's form of the equation `[8]sB = [8]R + [8]kA`.
    fn reference_rule(message: &[u8], public_key: &[u8; 32], signature: &[u8; 64]) -> bool {
        let decode = |bytes: [u8; 32]| {
            CompressedEdwardsY(bytes)
                .decompress()
                .filter(|p| p.compress().0 == bytes && !(Scalar::from(8u8) * p).is_identity())
        };
        let r_bytes: [u8; 32] = signature[..32].try_into().unwrap();
        let (Some(a), Some(r)) = (decode(*public_key), decode(r_bytes)) else {
            return false;
        };
        let Some(s) =
            Scalar::from_canonical_bytes(signature[32..].try_into().unwrap()).into_option()
        else {
            return false;
        };
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r_bytes)
                .chain_update(public_key)
                .chain_update(message)
                .finalize()
                .into(),
        );
        let eight = Scalar::from(8u8);
        eight * EdwardsPoint::mul_base(&s) == eight * r + eight * (k * a)
    }

    /// ed25519-dalek's cofactorless `verify_strict`, the rule before this one.
    fn dalek_verify_strict(message: &[u8], public_key: &[u8; 32], signature: &[u8; 64]) -> bool {
        ed25519_dalek::VerifyingKey::from_bytes(public_key).is_ok_and(|key| {
            key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                .is_ok()
        })
    }

    #[test]
    fn batch_accepts_good_signatures() {
        let list = signed(150);
        assert!(verify_batch(&items(&list)).iter().all(|ok| *ok));
        assert!(verify_parallel(&items(&list), 2).iter().all(|ok| *ok));
    }

    #[test]
    fn one_bad_signature_is_found_and_its_neighbours_kept() {
        let mut list = signed(600);
        list[70].2.0[5] ^= 1; // corrupt R
        list[140].0 = HashValue([0xee; 32]); // signature over another message
        list[599].2.0[40] ^= 1; // corrupt s
        for results in [
            verify_batch(&items(&list)),
            verify_parallel(&items(&list), 2),
        ] {
            for (index, ok) in results.iter().enumerate() {
                assert_eq!(*ok, ![70, 140, 599].contains(&index), "item {index}");
            }
        }
    }

    /// RFC 8032 section 7.1, TEST 1 to 3: (secret key, public key, message, signature).
    const RFC8032_VECTORS: [(&str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn rfc8032_test_vectors_verify() {
        use ed25519_dalek::Signer;
        for (secret, public, message, signature) in RFC8032_VECTORS {
            let secret: [u8; 32] = hex::decode(secret).unwrap().try_into().unwrap();
            let public = PublicKey(hex::decode(public).unwrap().try_into().unwrap());
            let message = hex::decode(message).unwrap();
            let signature = Signature(hex::decode(signature).unwrap().try_into().unwrap());
            // The hard-coded bytes are the vector: ed25519-dalek derives the same key and signature.
            let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
            assert_eq!(signing.verifying_key().to_bytes(), public.0);
            assert_eq!(signing.sign(&message).to_bytes(), signature.0);
            assert!(verify_message(&message, &public, &signature));
            assert!(reference_rule(&message, &public.0, &signature.0));
            // Another message, or one changed bit anywhere in the signature, is refused.
            let mut other = message.clone();
            other.push(0);
            assert!(!verify_message(&other, &public, &signature));
            for bit in (0..512).step_by(7) {
                let mut changed = signature;
                changed.0[bit / 8] ^= 1 << (bit % 8);
                assert!(!verify_message(&message, &public, &changed), "bit {bit}");
            }
        }
    }

    /// Signatures made by ed25519-dalek's ordinary signer with random keys verify under the rule,
    /// singly (messages of any length) and in batches (transaction hashes).
    #[test]
    fn ed25519_dalek_signatures_verify() {
        use ed25519_dalek::Signer;
        let mut list = Vec::new();
        for length in 0..300usize {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).unwrap();
            let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
            let public = PublicKey(signing.verifying_key().to_bytes());
            let mut message = vec![0u8; length];
            getrandom::fill(&mut message).unwrap();
            let signature = Signature(signing.sign(&message).to_bytes());
            assert!(verify_message(&message, &public, &signature));
            let hash = tenge_types::Domain::Transaction.hash(&message);
            list.push((hash, public, Signature(signing.sign(&hash.0).to_bytes())));
        }
        assert!(single(&list).iter().all(|ok| *ok));
        assert!(verify_batch(&items(&list)).iter().all(|ok| *ok));
        // Keypair signs with ed25519-dalek too.
        let key = Keypair::generate().unwrap();
        let message = HashValue([7; 32]);
        assert!(verify_strict(
            &message,
            &key.public_key(),
            &key.sign(&message)
        ));
    }

    /// s + l, as integers (s < l < 2^253, so no overflow past 2^256): the same point equation,
    /// not canonical.
    fn plus_group_order(signature: &Signature) -> Signature {
        let mut bytes = signature.0;
        let mut carry = 0u16;
        for (i, byte) in bytes[32..].iter_mut().enumerate() {
            let sum = u16::from(*byte) + u16::from(GROUP_ORDER[i]) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        Signature(bytes)
    }

    #[test]
    fn non_canonical_s_is_refused_by_both_paths() {
        let mut list = signed(3);
        list[1].2 = plus_group_order(&list[1].2);
        let (message, key, signature) = &list[1];
        assert!(!verify_strict(message, key, signature));
        assert_eq!(verify_batch(&items(&list)), vec![true, false, true]);
    }

    #[test]
    fn small_order_r_and_small_order_keys_are_refused_by_both_paths() {
        let mut list = signed(3);
        list[0].2.0[..32].copy_from_slice(&EIGHT_TORSION[1].compress().0);
        list[2].1 = PublicKey(EIGHT_TORSION[2].compress().0);
        for (message, key, signature) in [&list[0], &list[2]] {
            assert!(!verify_strict(message, key, signature));
        }
        assert_eq!(verify_batch(&items(&list)), vec![false, true, false]);
        // Signatures that satisfy the cofactored equation, refused only for the small order of
        // the key (which then "signs" every message) or of R.
        let mut list = signed(12);
        for param in 0..8 {
            for kind in [14, 15] {
                let item = crafted(kind, param as u64, param);
                assert!(cofactored_equation_holds(&item.0, &item.1, &item.2));
                assert!(!verify_strict(&item.0, &item.1, &item.2));
                list.push(item);
            }
        }
        let expected: Vec<bool> = (0..list.len()).map(|i| i < 12).collect();
        assert_eq!(verify_batch(&items(&list)), expected);
    }

    /// A signature with `R = T` of small order and `s = k·a`, `k = H(T || A || message)`.
    fn small_order_r_signature(
        a: &Scalar,
        torsion: &EdwardsPoint,
        message: &HashValue,
    ) -> (PublicKey, Signature) {
        let key = EdwardsPoint::mul_base(a).compress();
        let nonce = torsion.compress();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(nonce.as_bytes())
                .chain_update(key.as_bytes())
                .chain_update(message.0)
                .finalize()
                .into(),
        );
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(nonce.as_bytes());
        signature[32..].copy_from_slice((k * a).as_bytes());
        (PublicKey(key.0), Signature(signature))
    }

    /// The encoding `y = p + j`, 0 <= j < 19 (non-canonical), with a sign bit.
    fn y_above_p(j: u8, sign: bool) -> [u8; 32] {
        let mut bytes = [0xffu8; 32];
        bytes[0] = 0xed + j;
        bytes[31] = 0x7f | if sign { 0x80 } else { 0 };
        bytes
    }

    /// Encodings on the edges of the decoder: every y >= p, every y < 19 (the same points
    /// spelled canonically), both signs; the small-order points; points with torsion
    /// components; random bytes.
    fn edge_encodings() -> Vec<[u8; 32]> {
        let mut encodings = Vec::new();
        for j in 0..19u8 {
            for sign in [false, true] {
                encodings.push(y_above_p(j, sign));
                let mut small = [0u8; 32];
                small[0] = j;
                small[31] = if sign { 0x80 } else { 0 };
                encodings.push(small);
            }
        }
        for seed in 0..8u64 {
            let point = if seed == 0 {
                EdwardsPoint::identity()
            } else {
                EdwardsPoint::mul_base(&scalar(seed, 9))
            };
            for torsion in EIGHT_TORSION {
                let bytes = (point + torsion).compress().0;
                encodings.push(bytes);
                let mut flipped = bytes;
                flipped[31] ^= 0x80;
                encodings.push(flipped);
            }
        }
        for counter in 0..64u8 {
            let hash = Sha512::digest([counter]);
            encodings.push(hash[..32].try_into().unwrap());
        }
        encodings
    }

    /// `decode_point` is its definition: decompresses, re-encodes to the same bytes, not of
    /// small order. The edge cases occur: non-canonical encodings of points of large order
    /// (y = p + 3), which ed25519-dalek's `VerifyingKey::from_bytes` accepts, and a sign bit set
    /// on x = 0.
    #[test]
    fn point_decoding_follows_its_definition() {
        let definition = |bytes: [u8; 32]| {
            CompressedEdwardsY(bytes)
                .decompress()
                .filter(|p| p.compress().0 == bytes && !(Scalar::from(8u8) * p).is_identity())
        };
        let encodings = edge_encodings();
        for bytes in &encodings {
            assert_eq!(
                decode_point(bytes).map(|p| p.compress()),
                definition(*bytes).map(|p| p.compress()),
                "{}",
                hex::encode(bytes)
            );
        }
        let large_non_canonical = y_above_p(3, false);
        let point = CompressedEdwardsY(large_non_canonical)
            .decompress()
            .unwrap();
        assert!(!point.is_small_order());
        assert!(ed25519_dalek::VerifyingKey::from_bytes(&large_non_canonical).is_ok());
        assert!(decode_point(&large_non_canonical).is_none());
        let mut identity_signed = EdwardsPoint::identity().compress().0;
        identity_signed[31] |= 0x80;
        assert!(CompressedEdwardsY(identity_signed).decompress().is_some());
        assert!(decode_point(&identity_signed).is_none());
        // Some of the edge encodings are accepted, many refused.
        let accepted = encodings
            .iter()
            .filter(|b| decode_point(b).is_some())
            .count();
        assert!(
            accepted > 40 && accepted < encodings.len() - 40,
            "{accepted}"
        );
    }

    #[test]
    fn non_canonical_r_and_keys_are_refused_by_both_paths() {
        // R with y = p + 1 spells the identity non-canonically; y = p + 3 a point of large order.
        let mut list = signed(4);
        list[0].2.0[..32].copy_from_slice(&y_above_p(1, false));
        list[1].2.0[..32].copy_from_slice(&y_above_p(3, true));
        list[3].1 = PublicKey(y_above_p(4, false));
        for (message, key, signature) in [&list[0], &list[1], &list[3]] {
            assert!(!verify_strict(message, key, signature));
        }
        assert_eq!(verify_batch(&items(&list)), vec![false, false, true, false]);
    }

    /// A signature made from scalars: key `a·B + key_torsion`, nonce point `r·B + r_torsion`,
    /// `s = r + k·a + s_offset` with `k = H(R || A || message)`. With both torsions and the
    /// offset zero this is an honest signature; with torsions and no offset it satisfies the
    /// cofactored equation (`sB - R - kA = -r_torsion - k·key_torsion`, a torsion point) but not
    /// the cofactorless one unless that torsion point is zero.
    fn raw_signature_with(
        a: &Scalar,
        key_torsion: &EdwardsPoint,
        r: &Scalar,
        r_torsion: &EdwardsPoint,
        message: &HashValue,
        s_offset: &Scalar,
    ) -> (PublicKey, Signature) {
        let key = (EdwardsPoint::mul_base(a) + key_torsion).compress();
        let nonce = (EdwardsPoint::mul_base(r) + r_torsion).compress();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(nonce.as_bytes())
                .chain_update(key.as_bytes())
                .chain_update(message.0)
                .finalize()
                .into(),
        );
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(nonce.as_bytes());
        signature[32..].copy_from_slice((r + k * a + s_offset).as_bytes());
        (PublicKey(key.0), Signature(signature))
    }

    fn raw_signature(
        a: &Scalar,
        key_torsion: &EdwardsPoint,
        r: &Scalar,
        r_torsion: &EdwardsPoint,
        message: &HashValue,
    ) -> (PublicKey, Signature) {
        raw_signature_with(a, key_torsion, r, r_torsion, message, &Scalar::ZERO)
    }

    /// `[8](sB - kA - R) = 0`, computed directly (for the tests' own constructions).
    fn cofactored_equation_holds(
        message: &HashValue,
        public_key: &PublicKey,
        signature: &Signature,
    ) -> bool {
        let r_point = CompressedEdwardsY(signature.0[..32].try_into().unwrap())
            .decompress()
            .unwrap();
        let a_point = CompressedEdwardsY(public_key.0).decompress().unwrap();
        let s = Scalar::from_canonical_bytes(signature.0[32..].try_into().unwrap()).unwrap();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(&signature.0[..32])
                .chain_update(public_key.0)
                .chain_update(message.0)
                .finalize()
                .into(),
        );
        (EdwardsPoint::mul_base(&s) - k * a_point - r_point)
            .mul_by_cofactor()
            .is_identity()
    }

    /// A scalar from a seed and a label (test input only).
    fn scalar(seed: u64, label: u8) -> Scalar {
        let mut bytes = [0u8; 64];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8] = label;
        Scalar::from_bytes_mod_order_wide(&bytes) + Scalar::from(u64::from(label) + 1)
    }

    /// The order of a point of small order.
    fn small_order(point: &EdwardsPoint) -> usize {
        (1..=8)
            .find(|n| (Scalar::from(*n as u64) * point).is_identity())
            .expect("a point of small order")
    }

    /// Review M1: `R' = R + T` with T of small order, and `s` recomputed over `R'` by the key's
    /// holder. ed25519-dalek's cofactorless `verify_strict` refuses it, and the old batch
    /// accepted it in about 1/2, 1/4 and 1/8 of the batches for T of order 2, 4 and 8: the two
    /// rules disagreed. Under the cofactored rule it is valid, and the batch must say so too,
    /// whatever its random coefficients, in a batch of 9 honest signatures: 100 seeds for each
    /// order.
    #[test]
    fn m1_batch_and_single_verification_agree_on_torsioned_r() {
        let identity = EdwardsPoint::identity();
        let mut disagreements = Vec::new();
        for torsion in [EIGHT_TORSION[4], EIGHT_TORSION[2], EIGHT_TORSION[1]] {
            let order = small_order(&torsion);
            let mut disagree = 0;
            for seed in 0..100u64 {
                let mut list = signed(9);
                let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
                let a = scalar(seed, 1);
                let r = scalar(seed, 2);
                let (key, signature) = raw_signature(&a, &identity, &r, &torsion, &message);
                // The construction is the M1 one: the cofactorless rule refuses it.
                assert!(cofactored_equation_holds(&message, &key, &signature));
                assert!(!dalek_verify_strict(&message.0, &key.0, &signature.0));
                assert!(verify_strict(&message, &key, &signature));
                let position = (seed % 10) as usize;
                list.insert(position, (message, key, signature));
                let results = verify_batch(&items(&list));
                assert!(results.iter().all(|ok| *ok), "seed {seed}");
                if results != single(&list) {
                    disagree += 1;
                }
            }
            disagreements.push((order, disagree));
        }
        assert!(
            disagreements.iter().all(|(_, n)| *n == 0),
            "(order of T, seeds out of 100 where batch and single verdicts differ): \
             {disagreements:?}"
        );
    }

    /// A torsioned `R` with `s` recomputed consistently over it is accepted by the single rule,
    /// the batch and the parallel batch; with an `s` that does not satisfy the equation (the
    /// honest `s` for the `R` without torsion, or `s + 1`) it is refused by all three. Every
    /// torsion point, several seeds, in lists long enough for parallel batches and bisection.
    #[test]
    fn torsioned_r_is_valid_with_a_consistent_s_and_refused_with_another() {
        let identity = EdwardsPoint::identity();
        let mut list = signed(600);
        let mut expected = vec![true; list.len()];
        let mut position = 3;
        for seed in 0..21u64 {
            let torsion = EIGHT_TORSION[1 + (seed % 7) as usize];
            let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
            let (a, r) = (scalar(seed, 1), scalar(seed, 2));
            // Consistent: s = r + k'a with k' over R + T.
            let valid = raw_signature(&a, &identity, &r, &torsion, &message);
            // s + 1: [8](sB - R - kA) = [8]B.
            let off_by_one =
                raw_signature_with(&a, &identity, &r, &torsion, &message, &Scalar::ONE);
            // The honest signature over R with R + T put in its place: k changes with R's bytes.
            let (key, mut moved) = raw_signature(&a, &identity, &r, &identity, &message);
            moved.0[..32].copy_from_slice(&(EdwardsPoint::mul_base(&r) + torsion).compress().0);
            for ((key, signature), ok) in
                [(valid, true), (off_by_one, false), ((key, moved), false)]
            {
                assert_eq!(verify_strict(&message, &key, &signature), ok, "seed {seed}");
                assert_eq!(reference_rule(&message.0, &key.0, &signature.0), ok);
                list[position] = (message, key, signature);
                expected[position] = ok;
                position += 9;
            }
        }
        assert_eq!(single(&list), expected);
        assert_eq!(verify_batch(&items(&list)), expected);
        assert_eq!(verify_parallel(&items(&list), 2), expected);
        // The valid ones alone, in one batch that does not fail.
        let valid: Vec<Item> = list
            .iter()
            .zip(&expected)
            .filter(|(_, ok)| **ok)
            .map(|(item, _)| *item)
            .collect();
        assert!(verify_batch(&items(&valid)).iter().all(|ok| *ok));
    }

    /// A key with a torsion component (refused at registration, possible in a message): the
    /// batch gives the single rule's verdict. Under the cofactored rule the key's torsion is
    /// multiplied out, so its holder's signatures are valid with any torsion in `R`.
    #[test]
    fn torsioned_keys_get_single_rule_verdicts_in_batches() {
        for seed in 0..60u64 {
            let key_torsion = EIGHT_TORSION[[4, 2, 1][seed as usize % 3]];
            let r_torsion = EIGHT_TORSION[(seed % 8) as usize];
            let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
            let (a, r) = (scalar(seed, 3), scalar(seed, 4));
            let (key, signature) = raw_signature(&a, &key_torsion, &r, &r_torsion, &message);
            let (_, wrong) =
                raw_signature_with(&a, &key_torsion, &r, &r_torsion, &message, &Scalar::ONE);
            assert!(verify_strict(&message, &key, &signature));
            assert!(!verify_strict(&message, &key, &wrong));
            for (item, ok) in [
                ((message, key, signature), true),
                ((message, key, wrong), false),
            ] {
                let mut list = signed(9);
                list.insert(seed as usize % 10, item);
                let mut expected = vec![true; 10];
                expected[seed as usize % 10] = ok;
                assert_eq!(single(&list), expected, "seed {seed}");
                assert_eq!(verify_batch(&items(&list)), expected, "seed {seed}");
            }
        }
    }

    /// The batch equation itself (not only the verdicts, which bisection would correct): it
    /// holds for every batch of valid signatures, torsioned `R` and keys included, so such
    /// signatures cannot make batches fail and bisect; and it fails when one item is invalid.
    #[test]
    fn batch_equation_holds_for_valid_torsioned_items() {
        let prepare_all = |list: &[Item]| -> Vec<Prepared> {
            list.iter()
                .map(|(m, k, s)| prepare(&m.0, k, s).expect("encodings accepted"))
                .collect()
        };
        for seed in 0..100u64 {
            let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
            let mut list = signed(4);
            for i in 0..8u64 {
                let key_torsion = EIGHT_TORSION[((seed + i) % 8) as usize];
                let r_torsion = EIGHT_TORSION[((seed * 3 + i) % 8) as usize];
                let (a, r) = (scalar(seed, 10 + i as u8), scalar(seed, 20 + i as u8));
                let (key, signature) = raw_signature(&a, &key_torsion, &r, &r_torsion, &message);
                list.push((message, key, signature));
            }
            assert_eq!(batch_equation_holds(&prepare_all(&list)), Some(true));
            let (a, r) = (scalar(seed, 30), scalar(seed, 31));
            let torsion = EIGHT_TORSION[1 + (seed % 7) as usize];
            let (key, wrong) = raw_signature_with(
                &a,
                &EdwardsPoint::identity(),
                &r,
                &torsion,
                &message,
                &Scalar::ONE,
            );
            list.insert((seed % 12) as usize, (message, key, wrong));
            assert_eq!(batch_equation_holds(&prepare_all(&list)), Some(false));
        }
    }

    /// Errors that cancel in an unweighted sum (s + 1 in one item, s - 1 in another) are found:
    /// the random coefficients separate them.
    #[test]
    fn errors_that_cancel_without_random_coefficients_are_found() {
        let identity = EdwardsPoint::identity();
        for seed in 0..20u64 {
            let mut list = signed(14);
            let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
            let (a, r) = (scalar(seed, 5), scalar(seed, 6));
            let plus = raw_signature_with(&a, &identity, &r, &identity, &message, &Scalar::ONE);
            let minus = raw_signature_with(&a, &identity, &r, &identity, &message, &-Scalar::ONE);
            list.insert(2, (message, plus.0, plus.1));
            list.insert(11, (message, minus.0, minus.1));
            let mut expected = vec![true; 16];
            expected[2] = false;
            expected[11] = false;
            assert_eq!(single(&list), expected);
            assert_eq!(verify_batch(&items(&list)), expected);
        }
    }

    /// One test item of a given kind, made from a seed and a small parameter.
    fn crafted(kind: u8, seed: u64, param: usize) -> Item {
        let identity = EdwardsPoint::identity();
        let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
        let (a, r) = (scalar(seed, 1), scalar(seed, 2));
        let honest = || raw_signature(&a, &identity, &r, &identity, &message);
        let byte = (seed % 32) as usize;
        let (key, signature) = match kind {
            // Honest, and honest with one bit flipped in R, in s, or in the message.
            0..=3 => {
                let (key, mut signature) = honest();
                match kind {
                    1 => signature.0[byte] ^= 1 << param,
                    2 => signature.0[32 + byte] ^= 1 << param,
                    3 => {
                        let other = tenge_types::Domain::Transaction.hash(&[param as u8]);
                        return (other, key, signature);
                    }
                    _ => {}
                }
                (key, signature)
            }
            // R + T with s recomputed (review M1); T = identity gives an honest signature.
            4 => raw_signature(&a, &identity, &r, &EIGHT_TORSION[param], &message),
            // A key with a torsion component, any torsion in R; s off by one for a third.
            5 => {
                let offset = if seed.is_multiple_of(3) {
                    Scalar::ONE
                } else {
                    Scalar::ZERO
                };
                raw_signature_with(
                    &a,
                    &EIGHT_TORSION[param.max(1)],
                    &r,
                    &EIGHT_TORSION[(seed % 8) as usize],
                    &message,
                    &offset,
                )
            }
            // R of small order.
            6 => {
                let (key, mut signature) = honest();
                signature.0[..32].copy_from_slice(&EIGHT_TORSION[param].compress().0);
                (key, signature)
            }
            // A key of small order.
            7 => {
                let (_, signature) = honest();
                (PublicKey(EIGHT_TORSION[param].compress().0), signature)
            }
            // s + l: the same point equation, non-canonical s.
            8 => {
                let (key, signature) = honest();
                (key, plus_group_order(&signature))
            }
            // R + T with s off by one.
            9 => raw_signature_with(
                &a,
                &identity,
                &r,
                &EIGHT_TORSION[param.max(1)],
                &message,
                &Scalar::ONE,
            ),
            // The honest s, and R + T in place of R.
            10 => {
                let (key, mut signature) = honest();
                let moved = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[param.max(1)];
                signature.0[..32].copy_from_slice(&moved.compress().0);
                (key, signature)
            }
            // R or key replaced by an edge encoding (non-canonical, small order, torsioned,
            // random).
            11 | 12 => {
                let (mut key, mut signature) = honest();
                let encodings = edge_encodings();
                let bytes = encodings[(seed as usize) % encodings.len()];
                if kind == 11 {
                    signature.0[..32].copy_from_slice(&bytes);
                } else {
                    key = PublicKey(bytes);
                }
                (key, signature)
            }
            // A key of small order T with R = rB and s = r: `[8](sB - R - kT) = 0` for any
            // message. Refused only because the key is of small order.
            14 => {
                let key = PublicKey(EIGHT_TORSION[param].compress().0);
                let mut signature = [0u8; 64];
                signature[..32].copy_from_slice(EdwardsPoint::mul_base(&r).compress().as_bytes());
                signature[32..].copy_from_slice(r.as_bytes());
                (key, Signature(signature))
            }
            // R of small order T with s = k·a: `[8](sB - T - kA) = 0`. Refused only because R is
            // of small order.
            15 => small_order_r_signature(&a, &EIGHT_TORSION[param], &message),
            // R + T, s recomputed, then s + l.
            _ => {
                let (key, signature) =
                    raw_signature(&a, &identity, &r, &EIGHT_TORSION[param], &message);
                (key, plus_group_order(&signature))
            }
        };
        (message, key, signature)
    }

    /// Canonical encoding, by re-encoding.
    fn is_canonical(bytes: &[u8; 32]) -> bool {
        CompressedEdwardsY(*bytes)
            .decompress()
            .is_some_and(|p| p.compress().0 == *bytes)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// For any mix of honest, corrupted, torsioned, small-order and non-canonical signatures
        /// (with enough items that batches form and fail and are bisected), every per-item
        /// verdict of the batch routine is the single rule's verdict for that item, and the
        /// single rule is the reference written from the definition. Against the cofactorless
        /// rule: whatever it accepts with a canonical key is accepted, and whatever only the
        /// cofactored rule accepts has a torsion component in R or the key.
        #[test]
        fn batch_verdicts_equal_the_single_rule_for_every_item(
            kinds in proptest::collection::vec((0u8..16, proptest::prelude::any::<u64>(), 0usize..8), 0..48),
            honest in 0usize..40,
        ) {
            let mut list = signed(honest);
            for &(kind, seed, param) in &kinds {
                list.push(crafted(kind, seed, param));
            }
            // Spread the crafted items among the honest ones.
            let len = list.len();
            for (i, &(_, seed, _)) in kinds.iter().enumerate() {
                list.swap(honest + i, seed as usize % len);
            }
            let verdicts = single(&list);
            proptest::prop_assert_eq!(verify_batch(&items(&list)), verdicts.clone());
            for ((message, key, signature), ok) in list.iter().zip(&verdicts) {
                proptest::prop_assert_eq!(*ok, reference_rule(&message.0, &key.0, &signature.0));
                let cofactorless = dalek_verify_strict(&message.0, &key.0, &signature.0);
                if cofactorless && is_canonical(&key.0) {
                    proptest::prop_assert!(*ok);
                }
                if *ok && !cofactorless {
                    let point = |b: &[u8]| {
                        CompressedEdwardsY(b.try_into().unwrap()).decompress().unwrap()
                    };
                    proptest::prop_assert!(
                        !point(&key.0).is_torsion_free() || !point(&signature.0[..32]).is_torsion_free()
                    );
                }
            }
        }
    }

    #[test]
    fn authorization_rules() {
        let officers: Vec<Keypair> = (1..=3).map(|i| Keypair::from_secret([i; 32])).collect();
        let policy =
            MultisigPolicy::new(2, officers.iter().map(Keypair::public_key).collect()).unwrap();
        let auth = Authentication::Multisig(policy);
        let message = HashValue([1; 32]);
        let sig = |key: &Keypair| TransactionSignature {
            public_key: key.public_key(),
            signature: key.sign(&message),
        };
        let outsider = Keypair::from_secret([9; 32]);
        assert_eq!(
            check_authorization(&auth, &[sig(&officers[0]), sig(&officers[1])], true),
            Ok(())
        );
        assert_eq!(
            check_authorization(&auth, &[sig(&officers[0])], true),
            Err(AuthorizationError::NotEnoughSignatures { have: 1, need: 2 })
        );
        assert_eq!(
            check_authorization(&auth, &[sig(&officers[0]), sig(&officers[0])], true),
            Err(AuthorizationError::DuplicateSigner(
                officers[0].public_key()
            ))
        );
        assert_eq!(
            check_authorization(&auth, &[sig(&officers[0]), sig(&outsider)], true),
            Err(AuthorizationError::SignerNotAuthorized(
                outsider.public_key()
            ))
        );
        assert_eq!(
            check_authorization(&auth, &[sig(&officers[0]), sig(&officers[2])], false),
            Err(AuthorizationError::InvalidSignature)
        );
    }
}
