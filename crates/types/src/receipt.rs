//! Outcomes of transactions: applied, or rejected with a stable numbered code.
//!
//! Codes are part of the public interface (clients, the API, the CLI and the receipts root all
//! carry them). A code is never renumbered or reused; a new rule gets a new code.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::encode;
use crate::hash::{Domain, HashValue, merkle_root};

macro_rules! rejection_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, )*) => {
        /// Why a transaction was rejected. The numbers are stable; see docs/ledger.md.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u16)]
        pub enum RejectionCode {
            $( $(#[$doc])* $name = $code, )*
        }

        impl RejectionCode {
            pub const ALL: &'static [RejectionCode] = &[$(RejectionCode::$name,)*];

            pub const fn code(self) -> u16 {
                self as u16
            }

            pub const fn name(self) -> &'static str {
                match self {
                    $(RejectionCode::$name => stringify!($name),)*
                }
            }

            /// Whether a transaction rejected with this code in a block uses up its sequence
            /// number. 1xx codes (envelope, sequence, expiry, authentication) are decided before
            /// the sender is known to have signed this transaction: they consume nothing, or
            /// anyone could burn another account's sequence numbers. Every later code refuses a
            /// transaction its sender authorised: the sequence is consumed, so the same signed
            /// bytes can never apply later (security review M2).
            pub const fn consumes_sequence(self) -> bool {
                (self as u16) >= 200
            }

            pub fn from_code(code: u16) -> Option<RejectionCode> {
                match code {
                    $($code => Some(RejectionCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

rejection_codes! {
    // 1xx: the envelope and its authentication.
    /// The transaction names another chain.
    WrongChain = 101,
    /// The sender account does not exist.
    UnknownSender = 102,
    /// The sequence number was already used: a replay or a duplicate.
    SequenceAlreadyUsed = 103,
    /// The sequence number skips ahead of the sender's next one.
    SequenceTooHigh = 104,
    /// A signature does not verify (cofactored ed25519 with strict encodings, D11).
    InvalidSignature = 105,
    /// A signature is by a key that may not sign for the sender.
    SignerNotAuthorized = 106,
    /// Fewer distinct authorised signatures than the sender's threshold.
    NotEnoughSignatures = 107,
    /// The same key signed twice.
    DuplicateSigner = 108,
    /// The transaction breaks a structural limit (signature count, text length).
    MalformedTransaction = 109,
    /// The block's time is past the transaction's `expires_at_ms`.
    TransactionExpired = 110,
    /// `expires_at_ms` is further after the block's time than the policy's
    /// `max_transaction_lifetime_ms` allows.
    ExpiryTooFar = 111,

    // 2xx: roles and accounts.
    /// Only the central bank may do this.
    NotCentralBank = 201,
    /// Only a commercial bank may do this.
    NotCommercialBank = 202,
    /// The recipient account does not exist.
    UnknownRecipient = 203,
    /// Issuance goes to commercial banks only.
    RecipientNotCommercialBank = 204,
    /// An account with this key already exists.
    AccountAlreadyExists = 205,
    /// The public key is not a valid, strong ed25519 key.
    WeakPublicKey = 206,
    /// The wallet tier does not exist in the policy in force.
    UnknownWalletTier = 207,
    /// A bank may only act on wallets it opened.
    NotTheWalletsBank = 208,
    /// The central bank holds no money: it issues, and banks redeem.
    RecipientIsCentralBank = 209,
    /// Sender and recipient are the same account.
    SelfTransfer = 210,
    /// The central bank's own account cannot do this (send money, be frozen).
    CentralBankCannotDoThis = 211,
    /// The target account does not exist.
    UnknownAccount = 212,

    // 3xx: money.
    /// Amounts must be positive.
    ZeroAmount = 301,
    /// The sender's ordinary balance is below the amount.
    InsufficientFunds = 302,
    /// Outstanding supply would exceed the ceiling (the lowest one in force or scheduled).
    SupplyCeilingExceeded = 303,
    /// Issuance in this epoch would exceed the epoch cap.
    IssuanceExceedsEpochCap = 304,
    /// Issuance to this bank in this epoch would exceed its quota.
    IssuanceExceedsBankQuota = 305,

    // 4xx: wallet tiers.
    /// The recipient wallet would hold more than its tier allows.
    WalletHoldingLimitExceeded = 401,
    /// The amount is above the sending wallet's per-transaction limit.
    WalletTransactionLimitExceeded = 402,
    /// The sending wallet would exceed its daily outflow limit.
    WalletDailyOutflowLimitExceeded = 403,

    // 5xx: freezes.
    /// The sender is frozen.
    SenderFrozen = 501,
    /// The recipient is frozen.
    RecipientFrozen = 502,
    /// The account is already frozen.
    AlreadyFrozen = 503,
    /// The account is not frozen.
    NotFrozen = 504,
    /// The central bank froze the account: only the central bank (k-of-m) may lift the freeze.
    FrozenByCentralBank = 505,

    // 6xx: policy changes.
    /// A policy change must take effect at a future height, not before one already scheduled.
    PolicyNotInFuture = 601,
    /// The policy parameters are inconsistent.
    InvalidPolicy = 602,
    /// The policy history is full.
    PolicyHistoryFull = 603,

    // 7xx: earmarks.
    /// The purpose or payee list of an earmark is invalid.
    InvalidEarmarkTerms = 701,
    /// The earmark does not exist or is not held by the sender.
    UnknownEarmark = 702,
    /// The payee is not approved for this earmark.
    PayeeNotApproved = 703,
    /// The sender holds less under this earmark than the amount.
    InsufficientEarmarkedFunds = 704,
    /// The recipient already holds the most earmarks an account may hold.
    TooManyEarmarks = 705,
    /// An approved payee of a new earmark does not exist.
    UnknownPayee = 706,

    // 8xx: membership (validators and observers, issue 13).
    /// The key is already a validator's or an admitted observer's.
    MemberKeyInUse = 801,
    /// No observer admitted on chain has this key.
    UnknownObserver = 802,
    /// The chain already admits the most observers it may.
    TooManyObservers = 803,
    /// No validator in the set has this name.
    UnknownValidator = 804,
    /// Removing a validator would leave fewer than 4.
    TooFewValidators = 805,
    /// The validator set is at its largest.
    TooManyValidators = 806,
    /// A reconfiguration already changed the validator set in this block: one change per epoch.
    ReconfigurationPending = 807,
    /// The new key's proof of possession does not verify.
    InvalidProofOfPossession = 808,
    /// Another validator already has this name.
    ValidatorNameInUse = 809,
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

impl Serialize for RejectionCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.code())
    }
}

impl<'de> Deserialize<'de> for RejectionCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = u16::deserialize(deserializer)?;
        RejectionCode::from_code(code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rejection code {code}")))
    }
}

/// A rejection: the stable code, and a message for people naming the numbers involved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectionCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Rejection {}

/// The outcome of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub transaction: HashValue,
    pub outcome: Result<(), Rejection>,
}

impl Receipt {
    pub fn is_applied(&self) -> bool {
        self.outcome.is_ok()
    }

    /// Whether the outcome is the transaction's own: applied, or rejected after its sender's
    /// signatures verified. An id excludes signatures (D3), so a 1xx rejection (bad signature,
    /// used sequence, expiry...) may belong to a copy with other signature bytes that a leader
    /// put in a block: it must not be reported as the outcome of that id, nor evict a pending
    /// transaction with that id (security review M5).
    pub fn is_final_for_transaction(&self) -> bool {
        match &self.outcome {
            Ok(()) => true,
            Err(rejection) => rejection.code.consumes_sequence(),
        }
    }

    /// What the receipts root commits to: the transaction and its code (0 = applied). Messages
    /// are for people and are not part of consensus, so rewording one never forks the chain.
    pub fn commitment(&self) -> HashValue {
        let code: u16 = match &self.outcome {
            Ok(()) => 0,
            Err(rejection) => rejection.code.code(),
        };
        Domain::ReceiptsRoot.hash(&encode(&(self.transaction, code)))
    }
}

pub fn receipts_root(receipts: &[Receipt]) -> HashValue {
    let leaves: Vec<HashValue> = receipts.iter().map(Receipt::commitment).collect();
    merkle_root(Domain::ReceiptsRoot, &leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in RejectionCode::ALL {
            assert!(seen.insert(code.code()), "{code} is used twice");
            assert_eq!(RejectionCode::from_code(code.code()), Some(code));
            let bytes = encode(&code);
            assert_eq!(bcs::from_bytes::<RejectionCode>(&bytes).unwrap(), code);
        }
        assert_eq!(RejectionCode::from_code(0), None);
        assert!(bcs::from_bytes::<RejectionCode>(&encode(&999u16)).is_err());
    }

    #[test]
    fn receipts_root_commits_to_codes_not_messages() {
        let tx = Domain::Transaction.hash(b"tx");
        let rejected = |message: &str| Receipt {
            transaction: tx,
            outcome: Err(Rejection::new(RejectionCode::InsufficientFunds, message)),
        };
        let applied = Receipt {
            transaction: tx,
            outcome: Ok(()),
        };
        assert_eq!(
            receipts_root(&[rejected("a")]),
            receipts_root(&[rejected("b")])
        );
        assert_ne!(receipts_root(&[rejected("a")]), receipts_root(&[applied]));
    }
}
