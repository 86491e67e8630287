//! Signature verification.
//!
//! The consensus rule is ed25519-dalek's `verify_strict`: canonical `s`, canonical and
//! non-small-order `R`, non-small-order key, cofactorless equation `R = sB - kA`. Batch
//! verification is a fast path that gives the same verdict for every input (review M1, decision
//! D11): an item enters a batch only if its key and its `R` are torsion-free (in the prime-order
//! subgroup), where the batch equation holds exactly when every item's strict equation holds;
//! every other item, and every item of a small group left by bisecting a failed batch, is decided
//! by `verify_strict` itself.

use curve25519_dalek::Scalar;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::VerifyingKey;
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
/// batch is bisected, so one bad signature costs about two batches' work, not 256 strict checks.
const BATCH_SIZE: usize = 256;
/// Below this many items a failed batch is re-checked one by one.
const BISECT_BELOW: usize = 8;

/// A decoded public key and whether it is torsion-free (may enter a batch).
#[derive(Clone, Copy)]
struct DecodedKey {
    key: VerifyingKey,
    torsion_free: bool,
}

/// Decoded public keys, so that an account that signs often is decompressed and checked for
/// torsion once (together they cost more than a batched verification). Bounded; cleared when
/// full. It only saves work: both are deterministic functions of the key's bytes.
fn decoded_key(public_key: &PublicKey) -> Option<DecodedKey> {
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    const CAPACITY: usize = 1 << 18;
    static CACHE: OnceLock<RwLock<HashMap<PublicKey, DecodedKey>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RwLock::new(HashMap::new()));
    if let Some(key) = cache.read().expect("key cache lock").get(public_key) {
        return Some(*key);
    }
    let key = VerifyingKey::from_bytes(&public_key.0).ok()?;
    let decoded = DecodedKey {
        key,
        torsion_free: is_torsion_free(&key.to_edwards()),
    };
    let mut cache = cache.write().expect("key cache lock");
    if cache.len() >= CAPACITY {
        cache.clear();
    }
    cache.insert(*public_key, decoded);
    Some(decoded)
}

/// True if `point` is in the prime-order subgroup: `[l]P = 0`, computed as `[l-1]P = -P` with
/// variable-time arithmetic (the inputs are public), which is faster than the constant-time
/// `EdwardsPoint::is_torsion_free`. Tested to agree with it.
fn is_torsion_free(point: &EdwardsPoint) -> bool {
    let l_minus_one = -Scalar::ONE;
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&l_minus_one, point, &Scalar::ZERO) == -point
}

/// The consensus rule: true if the signature is valid under `verify_strict`.
pub fn verify_strict(message: &HashValue, public_key: &PublicKey, signature: &Signature) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&public_key.0) else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(&message.0, &signature).is_ok()
}

/// Encodings of the points of small order (the eight torsion points), including the two
/// non-canonical spellings with the sign bit set on a point whose x is zero, which the decoder
/// accepts. An `R` among them is refused by `verify_strict`.
fn small_order_encodings() -> &'static [[u8; 32]] {
    static ENCODINGS: std::sync::OnceLock<Vec<[u8; 32]>> = std::sync::OnceLock::new();
    ENCODINGS.get_or_init(|| {
        let mut encodings = Vec::new();
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            let bytes = point.compress().0;
            encodings.push(bytes);
            let mut signed = bytes;
            signed[31] |= 0x80;
            if CompressedEdwardsY(signed).decompress() == Some(point) {
                encodings.push(signed);
            }
        }
        encodings
    })
}

/// True if the 255-bit y coordinate is below p = 2^255 - 19: the only canonical spellings.
fn y_is_canonical(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y >= p only for 2^255 - 19 ..= 2^255 - 1: low byte >= 0xed, all middle bytes 0xff, top 0x7f.
    !(y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed)
}

/// Why an item does not enter a batch.
enum Unbatchable {
    /// `verify_strict` refuses it: a check it makes failed.
    Refused,
    /// Not torsion-free: decided by `verify_strict` alone, never in a batch.
    Strict,
}

/// An item ready for the batch equation: `R`, `A`, `s` and `k = H(R || A || M)` as
/// `verify_strict` computes them.
struct Prepared {
    r: EdwardsPoint,
    a: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// The checks `verify_strict` makes before its equation, done on bytes where possible (`R` is
/// canonical and not of small order; `s` is canonical; the key decodes and is not of small
/// order; `R` decodes), then the torsion checks that make the batch equation exact: an item
/// whose key or `R` has a torsion component goes to `verify_strict`.
fn precheck(item: &SignatureItem<'_>) -> Result<Prepared, Unbatchable> {
    let r_bytes: [u8; 32] = item.signature.0[..32].try_into().expect("32 bytes");
    if !y_is_canonical(&r_bytes) || small_order_encodings().contains(&r_bytes) {
        return Err(Unbatchable::Refused);
    }
    let s_bytes: [u8; 32] = item.signature.0[32..].try_into().expect("32 bytes");
    let Some(s) = Scalar::from_canonical_bytes(s_bytes).into_option() else {
        return Err(Unbatchable::Refused);
    };
    let Some(DecodedKey { key, torsion_free }) = decoded_key(item.public_key) else {
        return Err(Unbatchable::Refused);
    };
    if key.is_weak() {
        return Err(Unbatchable::Refused);
    }
    let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
        return Err(Unbatchable::Refused);
    };
    if !torsion_free || !is_torsion_free(&r) {
        return Err(Unbatchable::Strict);
    }
    // verify_strict hashes the key's bytes as given (VerifyingKey keeps them).
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(r_bytes)
            .chain_update(item.public_key.0)
            .chain_update(item.message.0)
            .finalize()
            .into(),
    );
    Ok(Prepared {
        r,
        a: key.to_edwards(),
        s,
        k,
    })
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
        match precheck(item) {
            // Refused by verify_strict too: the result stays false.
            Err(Unbatchable::Refused) => {}
            Err(Unbatchable::Strict) => {
                results[index] = verify_strict(item.message, item.public_key, item.signature);
            }
            Ok(checked) => {
                indexes.push(index);
                prepared.push(checked);
            }
        }
    }
    verify_prepared(items, &indexes, &prepared, results);
}

/// Batch-verifies the prepared items at `indexes`; on failure, bisects down to small groups
/// that are re-checked with `verify_strict`.
fn verify_prepared(
    items: &[SignatureItem<'_>],
    indexes: &[usize],
    prepared: &[Prepared],
    results: &mut [bool],
) {
    if indexes.is_empty() {
        return;
    }
    if indexes.len() < BISECT_BELOW {
        for &index in indexes {
            let item = &items[index];
            results[index] = verify_strict(item.message, item.public_key, item.signature);
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
    verify_prepared(items, &indexes[..half], &prepared[..half], results);
    verify_prepared(items, &indexes[half..], &prepared[half..], results);
}

/// The batch equation `sum z_i (R_i + k_i A_i - s_i B) = 0` with independent random 128-bit
/// `z_i`; `None` if the operating system gives no randomness (the caller then bisects down to
/// `verify_strict`).
///
/// Why it agrees with `verify_strict` for prepared items: with `R_i` and `A_i` torsion-free,
/// each `D_i = R_i + k_i A_i - s_i B` lies in the subgroup of prime order l, and
/// `verify_strict` accepts item i exactly when `D_i = 0` (it compares encodings, and `R_i`'s
/// encoding is canonical). If every `D_i = 0` the equation holds. If some `D_j != 0`, then for
/// any values of the other `z_i` at most one value of `z_j` modulo l satisfies it, and the
/// 2^128 possible `z_j` are distinct modulo l: the equation holds with probability at most
/// 2^-128. A torsion component, which the cofactorless equation would see only through
/// `z_i` modulo 8, cannot occur (review M1).
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
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(prepared.iter().map(|p| p.r))
        .chain(prepared.iter().map(|p| p.a));
    Some(EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity())
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
    use curve25519_dalek::Scalar;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::traits::{Identity, IsIdentity};

    /// The group order l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const GROUP_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    use tenge_types::MultisigPolicy;

    fn signed(count: usize) -> Vec<(HashValue, PublicKey, Signature)> {
        (0..count)
            .map(|i| {
                let key = Keypair::from_secret([(i % 250) as u8 + 1; 32]);
                let message = tenge_types::Domain::Transaction.hash(&i.to_le_bytes());
                (message, key.public_key(), key.sign(&message))
            })
            .collect()
    }

    fn items(list: &[(HashValue, PublicKey, Signature)]) -> Vec<SignatureItem<'_>> {
        list.iter()
            .map(|(message, public_key, signature)| SignatureItem {
                message,
                public_key,
                signature,
            })
            .collect()
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

    #[test]
    fn non_canonical_s_is_refused_by_both_paths() {
        let mut list = signed(3);
        // s + l verifies under a lax rule but is not canonical.
        let s =
            curve25519_dalek::Scalar::from_canonical_bytes(list[1].2.0[32..].try_into().unwrap())
                .unwrap();
        let mut bytes = [0u8; 32];
        // Add l to s as integers (s < l < 2^253, so no overflow past 2^256).
        let mut carry = 0u16;
        for (i, byte) in bytes.iter_mut().enumerate() {
            let sum = u16::from(s.as_bytes()[i]) + u16::from(GROUP_ORDER[i]) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        list[1].2.0[32..].copy_from_slice(&bytes);
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
    }

    #[test]
    fn byte_prechecks_agree_with_point_arithmetic() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        // Every small-order encoding decodes to a small-order point; a strong point is not listed.
        for bytes in small_order_encodings() {
            assert!(
                CompressedEdwardsY(*bytes)
                    .decompress()
                    .unwrap()
                    .is_small_order()
            );
        }
        assert!(small_order_encodings().len() >= 8);
        let strong = Keypair::from_secret([3; 32]).public_key().0;
        assert!(!small_order_encodings().contains(&strong));
        // Canonical y: exactly the values below p.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!y_is_canonical(&p));
        let mut below = p;
        below[0] = 0xec;
        assert!(y_is_canonical(&below));
        let mut top = [0xffu8; 32];
        top[31] = 0xff; // sign bit set, y = 2^255 - 1
        assert!(!y_is_canonical(&top));
        assert!(y_is_canonical(&strong));
    }

    #[test]
    fn non_canonical_r_is_refused_by_both_paths() {
        // R with y = p + 1 spells the same point as y = 1 (the identity) non-canonically; build a
        // signature with that R and check both paths refuse it.
        let mut list = signed(2);
        let mut r = [0u8; 32];
        r[0] = 0xee;
        r[1..31].fill(0xff);
        r[31] = 0x7f;
        list[0].2.0[..32].copy_from_slice(&r);
        let (message, key, signature) = &list[0];
        assert!(!verify_strict(message, key, signature));
        assert_eq!(verify_batch(&items(&list)), vec![false, true]);
    }

    /// A signature made from scalars: key `a·B + key_torsion`, nonce point `r·B + r_torsion`,
    /// `s = r + k·a` with `k = H(R || A || message)`. With both torsions zero this is an honest
    /// signature; with a torsion it still passes a cofactored check (`[8](sB - kA - R) = 0`).
    fn raw_signature(
        a: &Scalar,
        key_torsion: &EdwardsPoint,
        r: &Scalar,
        r_torsion: &EdwardsPoint,
        message: &HashValue,
    ) -> (PublicKey, Signature) {
        use sha2::{Digest, Sha512};
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
        signature[32..].copy_from_slice((r + k * a).as_bytes());
        (PublicKey(key.0), Signature(signature))
    }

    /// `[8](sB - kA - R) = 0`: the cofactored rule (not ours), to show a crafted signature
    /// would pass it.
    fn cofactored_equation_holds(
        message: &HashValue,
        public_key: &PublicKey,
        signature: &Signature,
    ) -> bool {
        use sha2::{Digest, Sha512};
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

    /// Review M1: `R' = R + T` with T of small order, and `s` recomputed over `R'` (a cofactored
    /// check passes). verify_strict refuses it; the batch routine must refuse it too, whatever
    /// its random coefficients, in a batch of 9 honest signatures. 100 seeds for T of order 2, 4
    /// and 8. Before the fix the batch accepted it in about 1/2, 1/4 and 1/8 of the batches.
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
                // The construction is right: the cofactored equation holds, verify_strict
                // refuses.
                assert!(cofactored_equation_holds(&message, &key, &signature));
                assert!(!verify_strict(&message, &key, &signature));
                let position = (seed % 10) as usize;
                list.insert(position, (message, key, signature));
                let results = verify_batch(&items(&list));
                for (index, ok) in results.iter().enumerate() {
                    if index != position {
                        assert!(ok, "seed {seed}: valid item {index} refused");
                    }
                }
                if results[position] {
                    disagree += 1;
                }
            }
            disagreements.push((order, disagree));
        }
        assert!(
            disagreements.iter().all(|(_, n)| *n == 0),
            "(order of T, seeds out of 100 where the batch accepted what verify_strict refuses): \
             {disagreements:?}"
        );
    }

    /// A strict-valid signature by a key with a torsion component: R carries the torsion
    /// `-k·T` that `kA` brings, found by trying the eight torsion points for R. Such keys are
    /// refused at registration, but the verification rule is verify_strict's for any input.
    fn torsioned_key_signature(seed: u64, key_torsion: &EdwardsPoint) -> Option<Item> {
        let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
        let (a, r) = (scalar(seed, 3), scalar(seed, 4));
        EIGHT_TORSION
            .iter()
            .map(|t| raw_signature(&a, key_torsion, &r, t, &message))
            .find(|(key, signature)| verify_strict(&message, key, signature))
            .map(|(key, signature)| (message, key, signature))
    }

    type Item = (HashValue, PublicKey, Signature);

    /// One test item of a given kind, made from a seed and a small parameter.
    fn crafted(kind: u8, seed: u64, param: usize) -> Item {
        let identity = EdwardsPoint::identity();
        let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
        let (a, r) = (scalar(seed, 1), scalar(seed, 2));
        let honest = || raw_signature(&a, &identity, &r, &identity, &message);
        let (key, signature) = match kind {
            // Honest, and honest with one bit flipped in R, in s, or in the message.
            0..=3 => {
                let (key, mut signature) = honest();
                match kind {
                    1 => signature.0[param] ^= 1 << (seed % 8),
                    2 => signature.0[32 + param] ^= 1 << (seed % 8),
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
            // A key with a torsion component: strict-valid if possible, else an arbitrary R.
            5 => {
                let torsion = &EIGHT_TORSION[param.max(1)];
                if let Some(item) =
                    torsioned_key_signature(seed, torsion).filter(|_| seed.is_multiple_of(2))
                {
                    return item;
                }
                raw_signature(
                    &a,
                    torsion,
                    &r,
                    &EIGHT_TORSION[(seed % 8) as usize],
                    &message,
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
            _ => {
                let (key, signature) = honest();
                let mut carry = 0u16;
                let mut bytes = signature.0;
                for (i, byte) in bytes[32..].iter_mut().enumerate() {
                    let sum = u16::from(*byte) + u16::from(GROUP_ORDER[i]) + carry;
                    *byte = sum as u8;
                    carry = sum >> 8;
                }
                (key, Signature(bytes))
            }
        };
        (message, key, signature)
    }

    #[test]
    fn torsion_check_agrees_with_curve25519_dalek() {
        let mut points = vec![EdwardsPoint::identity()];
        points.extend((1..6u64).map(|seed| EdwardsPoint::mul_base(&scalar(seed, 5))));
        for point in points {
            for torsion in EIGHT_TORSION {
                let mixed = point + torsion;
                assert_eq!(is_torsion_free(&mixed), mixed.is_torsion_free());
                assert_eq!(is_torsion_free(&mixed), torsion.is_identity());
            }
        }
    }

    /// A key with a torsion component (refused at registration, possible in a message) must get
    /// verify_strict's verdict from the batch routine too, valid or not: such items are never
    /// batched, because the torsion of `kA` could cancel in the batch equation.
    #[test]
    fn torsioned_keys_get_verify_strict_verdicts_in_batches() {
        let identity = EdwardsPoint::identity();
        let mut valid_found = 0;
        for seed in 0..60u64 {
            let torsion = EIGHT_TORSION[[4, 2, 1][seed as usize % 3]];
            let message = tenge_types::Domain::Transaction.hash(&seed.to_le_bytes());
            let mut crafted = vec![{
                let (key, signature) = raw_signature(
                    &scalar(seed, 3),
                    &torsion,
                    &scalar(seed, 4),
                    &identity,
                    &message,
                );
                (message, key, signature)
            }];
            if let Some(valid) = torsioned_key_signature(seed, &torsion) {
                valid_found += 1;
                crafted.push(valid);
            }
            for item in crafted {
                let mut list = signed(9);
                list.insert(seed as usize % 10, item);
                let strict: Vec<bool> = list
                    .iter()
                    .map(|(m, k, s)| verify_strict(m, k, s))
                    .collect();
                assert_eq!(verify_batch(&items(&list)), strict, "seed {seed}");
            }
        }
        assert!(
            valid_found > 30,
            "{valid_found} strict-valid signatures by torsioned keys"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// For any mix of honest, corrupted, torsioned and small-order signatures (with enough
        /// items that batches form and fail and are bisected), every per-item verdict of the batch
        /// routine is verify_strict's verdict for that item.
        #[test]
        fn batch_verdicts_equal_verify_strict_for_every_item(
            kinds in proptest::collection::vec((0u8..9, proptest::prelude::any::<u64>(), 0usize..8), 0..48),
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
            let strict: Vec<bool> =
                list.iter().map(|(m, k, s)| verify_strict(m, k, s)).collect();
            proptest::prop_assert_eq!(verify_batch(&items(&list)), strict);
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
