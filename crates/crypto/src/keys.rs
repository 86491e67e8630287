//! ed25519 key pairs and the public-key strength check.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use tenge_types::{AccountId, HashValue, PublicKey, Signature};

/// Why a key is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("public key {0} is not a valid ed25519 point encoding")]
    NotAPoint(PublicKey),
    #[error("public key {0} is not in canonical encoding")]
    NonCanonical(PublicKey),
    #[error("public key {0} is weak: it has a small-order component")]
    Weak(PublicKey),
    #[error("operating system random source failed: {0}")]
    Randomness(String),
}

/// Accepts only keys a signature by which means something: a canonical encoding of a point in the
/// prime-order subgroup. Small-order keys can "sign" nearly any message (the verification rule
/// refuses them too). A key `A + T` with a torsion component `T` signs with the secret key of
/// `A` (the cofactored rule multiplies `T` out), so refusing it keeps one registrable public key
/// per secret key. Both are refused whenever an account or a validator is registered, so every
/// key the ledger ever checks against is strong.
pub fn check_public_key(key: &PublicKey) -> Result<(), KeyError> {
    let verifying = VerifyingKey::from_bytes(&key.0).map_err(|_| KeyError::NotAPoint(*key))?;
    let point = verifying.to_edwards();
    if point.compress().0 != key.0 {
        return Err(KeyError::NonCanonical(*key));
    }
    if verifying.is_weak() || !point.is_torsion_free() {
        return Err(KeyError::Weak(*key));
    }
    Ok(())
}

/// A signing key with its public half.
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Keypair, KeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|error| KeyError::Randomness(error.to_string()))?;
        Ok(Keypair::from_secret(secret))
    }

    /// A key from its 32 secret bytes (tests and the simulator derive these from a seed).
    pub fn from_secret(secret: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// The account of this single key.
    pub fn account_id(&self) -> AccountId {
        AccountId::for_key(&self.public_key())
    }

    /// Signs a domain-separated hash (a transaction id, a vote digest, ...).
    pub fn sign(&self, message: &HashValue) -> Signature {
        Signature(self.signing.sign(&message.0).to_bytes())
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public_key().short())
    }
}

/// Signs a transaction with each of `signers` (one for an ordinary account, k officers for the
/// central bank).
pub fn sign_transaction(
    transaction: tenge_types::Transaction,
    signers: &[&Keypair],
) -> tenge_types::SignedTransaction {
    let hash = transaction.hash();
    tenge_types::SignedTransaction {
        transaction,
        signatures: signers
            .iter()
            .map(|signer| tenge_types::TransactionSignature {
                public_key: signer.public_key(),
                signature: signer.sign(&hash),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;

    #[test]
    fn generated_keys_are_strong_and_distinct() {
        let a = Keypair::generate().unwrap();
        let b = Keypair::generate().unwrap();
        assert_ne!(a.public_key(), b.public_key());
        check_public_key(&a.public_key()).unwrap();
    }

    #[test]
    fn refuses_small_order_keys() {
        for point in EIGHT_TORSION {
            let key = PublicKey(point.compress().0);
            assert!(check_public_key(&key).is_err(), "{key}");
        }
    }

    #[test]
    fn refuses_mixed_order_keys() {
        let strong = Keypair::from_secret([9; 32]).public_key();
        let point = curve25519_dalek::edwards::CompressedEdwardsY(strong.0)
            .decompress()
            .unwrap();
        let mixed = PublicKey((point + EIGHT_TORSION[1]).compress().0);
        assert_eq!(check_public_key(&mixed), Err(KeyError::Weak(mixed)));
    }

    #[test]
    fn refuses_non_points_and_non_canonical_encodings() {
        // y = 2 is not on the curve for either sign of x.
        let mut bytes = [0u8; 32];
        bytes[0] = 2;
        assert!(matches!(
            check_public_key(&PublicKey(bytes)),
            Err(KeyError::NotAPoint(_))
        ));
        // y = p (= 0 mod p) encodes the same point as y = 0 but is not canonical. The point with
        // y = 0 has order 4, so this key is refused either way; what matters is that it is.
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(check_public_key(&PublicKey(p)).is_err());
    }

    #[test]
    fn signatures_are_deterministic() {
        let key = Keypair::from_secret([1; 32]);
        let message = HashValue([5; 32]);
        assert_eq!(key.sign(&message), key.sign(&message));
        assert_ne!(key.sign(&message), key.sign(&HashValue([6; 32])));
    }
}
