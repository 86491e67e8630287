//! Transactions: what a sender asks the ledger to do, and the signatures that authorise it.

use serde::{Deserialize, Serialize};

use crate::amount::Amount;
use crate::codec::{DecodeError, decode, encode};
use crate::hash::{Domain, HashValue};
use crate::ids::{AccountId, ChainId, EarmarkId, Height, PublicKey, Signature, TimestampMs};
use crate::policy::PolicyParams;
use crate::state::EarmarkTerms;

/// Most bytes a signed transaction may take on the wire.
pub const MAX_TRANSACTION_BYTES: usize = 32 * 1024;
/// Most signatures one transaction may carry (the largest multisig policy).
pub const MAX_SIGNATURES: usize = 16;
/// Longest free-text field (bank names, freeze reasons), in bytes.
pub const MAX_TEXT_BYTES: usize = 128;

/// Mint new tenge to a commercial bank. Central bank only, k-of-m officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub to: AccountId,
    pub amount: Amount,
}

/// A commercial bank burns tenge from its own balance; the central bank pays it out off-ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redeem {
    pub amount: Amount,
}

/// Move ordinary money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub to: AccountId,
    pub amount: Amount,
}

/// Admit a commercial bank. Central bank only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBank {
    pub key: PublicKey,
    pub name: String,
}

/// A bank opens a customer wallet with the KYC tier it has established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenWallet {
    pub key: PublicKey,
    pub tier: u8,
}

/// Stop an account from sending or receiving (court order, AML). The central bank may freeze any
/// account but its own; a bank may freeze the wallets it opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freeze {
    pub account: AccountId,
    pub reason: String,
}

/// Lift a freeze. Same authority as [`Freeze`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unfreeze {
    pub account: AccountId,
    pub reason: String,
}

/// Adopt new policy parameters from a future height. Central bank only, k-of-m officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetPolicy {
    pub effective_height: Height,
    pub params: PolicyParams,
}

/// Mint new tenge as earmarked money. Central bank only; counts against the same caps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEarmarked {
    pub to: AccountId,
    pub amount: Amount,
    pub terms: EarmarkTerms,
}

/// Send ordinary money that arrives earmarked for the approved payees only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferEarmarked {
    pub to: AccountId,
    pub amount: Amount,
    pub terms: EarmarkTerms,
}

/// Pay earmarked money to one of its approved payees, where it becomes ordinary money.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendEarmarked {
    pub earmark: EarmarkId,
    pub to: AccountId,
    pub amount: Amount,
}

/// Admit a commercial bank's observer node: validators let its key connect, from the block that
/// commits this, without a restart. Central bank only, k-of-m officers (issue 13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddObserver {
    pub key: PublicKey,
    pub name: String,
}

/// Remove an observer admitted on chain: validators drop its connections when this commits.
/// Central bank only, k-of-m officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveObserver {
    pub key: PublicKey,
}

/// Add a validator to the set. The block that commits it ends its epoch; the next epoch runs with
/// the new set (D77). Central bank only, k-of-m officers (issue 13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddValidator {
    pub validator: crate::GenesisValidator,
    /// The new key's signature over [`proof_of_possession_message`]: its holder can sign with it.
    pub proof_of_possession: Signature,
}

/// Remove a validator from the set, from the next epoch. Central bank only, k-of-m officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveValidator {
    pub name: String,
}

/// Replace a validator's consensus key (and so its network identity), from the next epoch.
/// Central bank only, k-of-m officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateValidatorKey {
    pub name: String,
    pub new_key: PublicKey,
    /// The new key's signature over [`proof_of_possession_message`].
    pub proof_of_possession: Signature,
}

/// What a validator key's holder signs to show that it holds it, for a reconfiguration on
/// `chain_id`: bound to the chain and the key, so that it proves nothing elsewhere.
pub fn proof_of_possession_message(chain_id: &ChainId, key: &PublicKey) -> HashValue {
    Domain::ProofOfPossession.hash(&crate::codec::encode(&(chain_id, key)))
}

/// What a transaction does. The variant order is part of the wire format: append only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Issue(Issue),
    Redeem(Redeem),
    Transfer(Transfer),
    RegisterBank(RegisterBank),
    OpenWallet(OpenWallet),
    Freeze(Freeze),
    Unfreeze(Unfreeze),
    SetPolicy(SetPolicy),
    IssueEarmarked(IssueEarmarked),
    TransferEarmarked(TransferEarmarked),
    SpendEarmarked(SpendEarmarked),
    AddObserver(AddObserver),
    RemoveObserver(RemoveObserver),
    AddValidator(AddValidator),
    RemoveValidator(RemoveValidator),
    RotateValidatorKey(RotateValidatorKey),
}

impl Payload {
    /// A stable name for logs, metrics and the API.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Issue(_) => "issue",
            Payload::Redeem(_) => "redeem",
            Payload::Transfer(_) => "transfer",
            Payload::RegisterBank(_) => "register_bank",
            Payload::OpenWallet(_) => "open_wallet",
            Payload::Freeze(_) => "freeze",
            Payload::Unfreeze(_) => "unfreeze",
            Payload::SetPolicy(_) => "set_policy",
            Payload::IssueEarmarked(_) => "issue_earmarked",
            Payload::TransferEarmarked(_) => "transfer_earmarked",
            Payload::SpendEarmarked(_) => "spend_earmarked",
            Payload::AddObserver(_) => "add_observer",
            Payload::RemoveObserver(_) => "remove_observer",
            Payload::AddValidator(_) => "add_validator",
            Payload::RemoveValidator(_) => "remove_validator",
            Payload::RotateValidatorKey(_) => "rotate_validator_key",
        }
    }
}

/// How many bytes ULEB128 takes for `value` (BCS lengths and enum variant indexes).
fn uleb128_len(value: usize) -> usize {
    let bits = usize::BITS - value.leading_zeros();
    (bits.max(1)).div_ceil(7) as usize
}

/// The signed part of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub chain_id: ChainId,
    pub sender: AccountId,
    /// Must equal the sender's next sequence number: replays and reorderings are refused.
    pub sequence: u64,
    /// Consensus time after which no block may apply the transaction (it is rejected with
    /// `TransactionExpired`). At most the policy's `max_transaction_lifetime_ms` after the block
    /// time: a signed transaction cannot wait for years to be replayed (security review M2).
    pub expires_at_ms: TimestampMs,
    pub payload: Payload,
}

impl Transaction {
    /// The transaction's id, and the message every signer signs.
    pub fn hash(&self) -> HashValue {
        Domain::Transaction.hash(&encode(self))
    }
}

/// One signature over a transaction's hash, with the key that made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionSignature {
    pub public_key: PublicKey,
    pub signature: Signature,
}

/// A transaction with its signatures: what clients submit and blocks carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTransaction {
    pub transaction: Transaction,
    pub signatures: Vec<TransactionSignature>,
}

impl SignedTransaction {
    /// The id of the transaction. Signatures are not part of it: the same transaction signed by
    /// a different set of officers is the same transaction.
    pub fn hash(&self) -> HashValue {
        self.transaction.hash()
    }

    /// The hash of the transaction *with* its signatures. Blocks commit to these, so that a block
    /// id fixes every signature byte: a relay that alters a signature changes the block id.
    /// Caches of verification results are keyed by it for the same reason.
    pub fn digest(&self) -> HashValue {
        Domain::SignedTransaction.hash(&encode(self))
    }

    /// [`hash`](Self::hash) and [`digest`](Self::digest) from one encoding: a BCS struct is the
    /// concatenation of its fields, so the transaction's bytes are a prefix of the signed
    /// transaction's bytes.
    pub fn hash_and_digest(&self) -> (HashValue, HashValue) {
        let mut bytes = encode(&self.transaction);
        let transaction_len = bytes.len();
        bcs::serialize_into(&mut bytes, &self.signatures)
            .expect("BCS encoding of a tenge type cannot fail");
        (
            Domain::Transaction.hash(&bytes[..transaction_len]),
            Domain::SignedTransaction.hash(&bytes),
        )
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// The length of [`to_bytes`](Self::to_bytes), counted without encoding. Admission and
    /// block selection ask it of every transaction, so the common payloads (transfer, issue,
    /// redeem) are counted field by field, as BCS lays them out; the others through the encoder.
    /// `encoded_len_counts_what_bcs_writes` holds the two to the same answer.
    pub fn encoded_len(&self) -> usize {
        // A fixed-size byte array is written as its bytes, an integer as its fixed width, an enum
        // as its variant index (ULEB128) and then its fields, a string or vector as its length
        // (ULEB128) and then its elements.
        const ID: usize = 32;
        const U64: usize = 8;
        const SIGNATURE: usize = 32 + 64;
        // Each with its one-byte variant index (Issue 0, Redeem 1, Transfer 2).
        let payload = match &self.transaction.payload {
            Payload::Issue(_) | Payload::Transfer(_) => 1 + ID + U64,
            Payload::Redeem(_) => 1 + U64,
            _ => {
                return bcs::serialized_size(self)
                    .expect("BCS encoding of a tenge type cannot fail");
            }
        };
        let chain = self.transaction.chain_id.0.len();
        let signatures = self.signatures.len();
        uleb128_len(chain)
            + chain
            + ID
            + U64
            + U64
            + payload
            + uleb128_len(signatures)
            + signatures * SIGNATURE
    }

    /// Decodes a transaction received from outside: size limit, canonical bytes, and the
    /// structural limits that need no ledger state.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTransaction, DecodeError> {
        let signed: SignedTransaction = decode("transaction", bytes, MAX_TRANSACTION_BYTES)?;
        signed
            .check_structure()
            .map_err(|reason| DecodeError::Malformed {
                what: "transaction",
                reason,
            })?;
        Ok(signed)
    }

    /// Limits that hold for every well-formed transaction regardless of state. A leader that
    /// proposes a transaction breaking them gets it rejected at execution like any other.
    pub fn check_structure(&self) -> Result<(), String> {
        if !self.transaction.chain_id.is_valid() {
            return Err(format!("invalid chain id {:?}", self.transaction.chain_id));
        }
        if self.signatures.is_empty() {
            return Err("transaction carries no signature".into());
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(format!(
                "transaction carries {} signatures; at most {MAX_SIGNATURES} are allowed",
                self.signatures.len()
            ));
        }
        let text_ok =
            |text: &str| text.len() <= MAX_TEXT_BYTES && !text.chars().any(char::is_control);
        match &self.transaction.payload {
            Payload::RegisterBank(register)
                if register.name.is_empty() || !text_ok(&register.name) =>
            {
                Err(format!(
                    "bank name must be 1 to {MAX_TEXT_BYTES} bytes without control characters"
                ))
            }
            Payload::AddObserver(add) if add.name.is_empty() || !text_ok(&add.name) => {
                Err(format!(
                    "observer name must be 1 to {MAX_TEXT_BYTES} bytes without control characters"
                ))
            }
            Payload::AddValidator(AddValidator { validator, .. })
                if validator.name.is_empty() || !text_ok(&validator.name) =>
            {
                Err(format!(
                    "validator name must be 1 to {MAX_TEXT_BYTES} bytes without control characters"
                ))
            }
            // Every node dials the validators of its epoch at these addresses (D80).
            Payload::AddValidator(AddValidator { validator, .. })
                if !text_ok(&validator.address)
                    || crate::PeerAddress::parse(&validator.address).is_err() =>
            {
                Err(format!(
                    "validator address must be a peer multiaddr (`/ip4/10.0.0.5/tcp/7100`) of at most {MAX_TEXT_BYTES} bytes"
                ))
            }
            Payload::RemoveValidator(RemoveValidator { name })
            | Payload::RotateValidatorKey(RotateValidatorKey { name, .. })
                if name.is_empty() || !text_ok(name) =>
            {
                Err(format!(
                    "validator name must be 1 to {MAX_TEXT_BYTES} bytes without control characters"
                ))
            }
            Payload::Freeze(Freeze { reason, .. }) | Payload::Unfreeze(Unfreeze { reason, .. })
                if !text_ok(reason) =>
            {
                Err(format!(
                    "reason must be at most {MAX_TEXT_BYTES} bytes without control characters"
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `encoded_len` counts the fast-path payloads by hand: it must equal the encoder's length
    /// for every payload kind, chain id length and signature count, including the lengths where
    /// ULEB128 takes a second byte (128) and a third (16,384).
    #[test]
    fn encoded_len_counts_what_bcs_writes() {
        let payloads = [
            Payload::Issue(Issue {
                to: AccountId([3; 32]),
                amount: Amount::from_tiyn(u64::MAX),
            }),
            Payload::Redeem(Redeem {
                amount: Amount::from_tiyn(1),
            }),
            Payload::Transfer(Transfer {
                to: AccountId([4; 32]),
                amount: Amount::from_tiyn(0),
            }),
            Payload::Freeze(Freeze {
                account: AccountId([5; 32]),
                reason: "r".repeat(130),
            }),
            Payload::SpendEarmarked(SpendEarmarked {
                earmark: EarmarkId([6; 32]),
                to: AccountId([7; 32]),
                amount: Amount::from_tiyn(9),
            }),
        ];
        let signature = TransactionSignature {
            public_key: PublicKey([8; 32]),
            signature: Signature([9; 64]),
        };
        for payload in payloads {
            for chain in [1, 10, 127, 128, 300, 16_384] {
                for signatures in [0, 1, 3, 127, 128, 200] {
                    let tx = SignedTransaction {
                        transaction: Transaction {
                            chain_id: ChainId("c".repeat(chain)),
                            sender: AccountId([1; 32]),
                            sequence: u64::MAX,
                            expires_at_ms: TimestampMs(42),
                            payload: payload.clone(),
                        },
                        signatures: vec![signature.clone(); signatures],
                    };
                    assert_eq!(
                        tx.encoded_len(),
                        tx.to_bytes().len(),
                        "{payload:?}, chain id of {chain} bytes, {signatures} signatures"
                    );
                }
            }
        }
    }

    fn sample() -> SignedTransaction {
        SignedTransaction {
            transaction: Transaction {
                chain_id: ChainId::new("tenge-test").unwrap(),
                sender: AccountId([1; 32]),
                sequence: 7,
                expires_at_ms: TimestampMs(1_000_000),
                payload: Payload::Transfer(Transfer {
                    to: AccountId([2; 32]),
                    amount: Amount::from_tiyn(150),
                }),
            },
            signatures: vec![TransactionSignature {
                public_key: PublicKey([3; 32]),
                signature: Signature([4; 64]),
            }],
        }
    }

    #[test]
    fn round_trips_through_canonical_bytes() {
        let tx = sample();
        assert_eq!(SignedTransaction::from_bytes(&tx.to_bytes()).unwrap(), tx);
    }

    #[test]
    fn hash_ignores_signatures_but_not_fields() {
        let tx = sample();
        let mut other_signature = tx.clone();
        other_signature.signatures[0].signature = Signature([5; 64]);
        assert_eq!(tx.hash(), other_signature.hash());
        let mut other_sequence = tx.clone();
        other_sequence.transaction.sequence += 1;
        assert_ne!(tx.hash(), other_sequence.hash());
    }

    #[test]
    fn hash_and_digest_from_one_encoding_match_the_separate_ones() {
        let mut tx = sample();
        for signatures in 0..3 {
            tx.signatures = vec![sample().signatures[0].clone(); signatures];
            assert_eq!(tx.hash_and_digest(), (tx.hash(), tx.digest()));
        }
        assert_ne!(tx.hash(), tx.digest());
    }

    #[test]
    fn refuses_structurally_bad_transactions() {
        let mut unsigned = sample();
        unsigned.signatures.clear();
        assert!(SignedTransaction::from_bytes(&unsigned.to_bytes()).is_err());

        let mut too_many = sample();
        too_many.signatures = vec![too_many.signatures[0].clone(); MAX_SIGNATURES + 1];
        assert!(SignedTransaction::from_bytes(&too_many.to_bytes()).is_err());

        let mut bad_chain = sample();
        bad_chain.transaction.chain_id = ChainId("UPPER".into());
        assert!(SignedTransaction::from_bytes(&bad_chain.to_bytes()).is_err());

        let mut long_name = sample();
        long_name.transaction.payload = Payload::RegisterBank(RegisterBank {
            key: PublicKey([1; 32]),
            name: "b".repeat(MAX_TEXT_BYTES + 1),
        });
        assert!(SignedTransaction::from_bytes(&long_name.to_bytes()).is_err());

        let oversized = vec![0u8; MAX_TRANSACTION_BYTES + 1];
        assert!(matches!(
            SignedTransaction::from_bytes(&oversized),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_payload_variant_is_refused() {
        let mut bytes = sample().to_bytes();
        // chain id (1 + 10 bytes), sender (32), sequence (8), expiry (8): the payload tag follows.
        let tag = 1 + 10 + 32 + 8 + 8;
        assert_eq!(bytes[tag], 2, "Transfer is variant 2");
        bytes[tag] = 200;
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
    }
}
