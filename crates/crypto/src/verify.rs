//! Signature verification.
//!
//! The consensus rule is ed25519-dalek's `verify_strict`: canonical `s`, canonical and
//! non-small-order `R`, non-small-order key, cofactorless equation. Batch verification is a fast
//! path only. Before an item enters a batch we apply every cheap check `verify_strict` makes
//! (encodings, small order); a batch that fails is re-checked item by item with `verify_strict`,
//! so an honest signature is never refused and a batch failure never refuses a good neighbour.
//!
//! One difference remains and is documented in docs/decisions.md: a crafted signature whose `R`
//! carries a torsion component fails `verify_strict` but passes the cofactorless batch equation
//! for about half of the random coefficients. Honest signers never produce such an `R`; the
//! consequence is bounded to admission decisions (see the decision record).

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::VerifyingKey;
use tenge_types::{Authentication, HashValue, PublicKey, Signature, TransactionSignature};

/// One signature to check.
#[derive(Clone, Copy, Debug)]
pub struct SignatureItem<'a> {
    pub message: &'a HashValue,
    pub public_key: &'a PublicKey,
    pub signature: &'a Signature,
}

/// Items per batch: large enough to amortise the multiscalar multiplication, small enough that
/// one bad signature costs only this many strict re-checks.
const BATCH_SIZE: usize = 64;

/// The consensus rule: true if the signature is valid under `verify_strict`.
pub fn verify_strict(message: &HashValue, public_key: &PublicKey, signature: &Signature) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&public_key.0) else {
        return false;
    };
    let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
    key.verify_strict(&message.0, &signature).is_ok()
}

/// The checks `verify_strict` makes before its equation, for the batch path: `R` decodes, is
/// canonical and is not of small order; `s` is canonical; the key is not of small order.
fn prechecks(item: &SignatureItem<'_>) -> Option<(VerifyingKey, ed25519_dalek::Signature)> {
    let key = VerifyingKey::from_bytes(&item.public_key.0).ok()?;
    if key.is_weak() {
        return None;
    }
    let r_bytes: [u8; 32] = item.signature.0[..32].try_into().expect("32 bytes");
    let r = CompressedEdwardsY(r_bytes).decompress()?;
    if r.is_small_order() || r.compress().0 != r_bytes {
        return None;
    }
    let s_bytes: [u8; 32] = item.signature.0[32..].try_into().expect("32 bytes");
    curve25519_dalek::Scalar::from_canonical_bytes(s_bytes).into_option()?;
    Some((key, ed25519_dalek::Signature::from_bytes(&item.signature.0)))
}

/// Verifies many signatures, batching where possible; one result per item, equal to what
/// [`verify_strict`] says for every signature an honest signer can produce.
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
    let mut messages: Vec<&[u8]> = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut keys = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        // An item failing a precheck fails verify_strict too: it stays false.
        if let Some((key, signature)) = prechecks(item) {
            indexes.push(index);
            messages.push(&item.message.0);
            signatures.push(signature);
            keys.push(key);
        }
    }
    if indexes.is_empty() {
        return;
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        for index in indexes {
            results[index] = true;
        }
    } else {
        for index in indexes {
            let item = &items[index];
            results[index] = verify_strict(item.message, item.public_key, item.signature);
        }
    }
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

    /// The group order l = 2^252 + 27742317777372353535851937790883648493, little-endian.
    const GROUP_ORDER: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    use tenge_types::MultisigPolicy;

    fn signed(count: usize) -> Vec<(HashValue, PublicKey, Signature)> {
        (0..count)
            .map(|i| {
                let key = Keypair::from_secret([i as u8 + 1; 32]);
                let message = HashValue([i as u8; 32]);
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
        let mut list = signed(150);
        list[70].2.0[5] ^= 1; // corrupt R
        list[140].0 = HashValue([0xee; 32]); // signature over another message
        for results in [
            verify_batch(&items(&list)),
            verify_parallel(&items(&list), 2),
        ] {
            for (index, ok) in results.iter().enumerate() {
                assert_eq!(*ok, index != 70 && index != 140, "item {index}");
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
