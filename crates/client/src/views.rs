//! The JSON shapes of the API. Amounts are integer tiyn in fields ending `_tiyn`; ids and hashes
//! are lowercase hex.
//!
//! Protocol values (a transaction's status, an error's kind, a role, ...) are enums written as
//! their snake_case names. Their fields are declared `value_type = String` to the OpenAPI
//! derive: an inline enum with a field description would be wrapped in a `oneOf`; tenge-api's
//! `openapi` module adds each enum's values to the plain string field instead.

use serde::{Deserialize, Serialize};
use tenge_types::consensus::StoredCertificates;
use tenge_types::{
    Account, Block, FreezeAuthority, PolicyChange, Rejection, Role, TransactionSignature,
};

/// `as_str()` (the value's name on the wire, the same string serde writes), `Display` giving that
/// name, and `ALL` (every value, for tests and documentation).
macro_rules! wire_names {
    ($name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name on the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What kind of problem an API error reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A malformed request (bad hex, bad query, undecodable body).
    BadRequest,
    /// No such transaction, account, block, file or route.
    NotFound,
    /// The route exists but not with this HTTP method.
    MethodNotAllowed,
    /// The body has the wrong content type.
    UnsupportedMediaType,
    /// The body is over the route's limit.
    PayloadTooLarge,
    /// A business rule refused the transaction; the error carries the stable rejection code.
    Rejected,
    /// Another transaction with the same sequence is pending: not a rejection, retry later.
    Conflict,
    /// The node cannot take the request now (overloaded, full, halted, stopping); retry.
    Unavailable,
    /// A bug or a storage failure on the node.
    Internal,
}

wire_names!(ErrorKind {
    BadRequest => "bad_request",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    UnsupportedMediaType => "unsupported_media_type",
    PayloadTooLarge => "payload_too_large",
    Rejected => "rejected",
    Conflict => "conflict",
    Unavailable => "unavailable",
    Internal => "internal",
});

/// Where a transaction is: waiting in a mempool, or in a committed block (applied or rejected).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    Pending,
    Committed,
    Rejected,
}

wire_names!(TransactionStatus {
    Pending => "pending",
    Committed => "committed",
    Rejected => "rejected",
});

/// What a committed block did with one of its transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TransactionOutcome {
    Applied,
    Rejected,
}

wire_names!(TransactionOutcome {
    Applied => "applied",
    Rejected => "rejected",
});

/// An account's role, without its details (those are `tier`, `bank` and `name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountRole {
    CentralBank,
    CommercialBank,
    Wallet,
}

wire_names!(AccountRole {
    CentralBank => "central_bank",
    CommercialBank => "commercial_bank",
    Wallet => "wallet",
});

impl From<&Role> for AccountRole {
    fn from(role: &Role) -> AccountRole {
        match role {
            Role::CentralBank => AccountRole::CentralBank,
            Role::CommercialBank { .. } => AccountRole::CommercialBank,
            Role::Wallet { .. } => AccountRole::Wallet,
        }
    }
}

/// Who froze an account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrozenBy {
    CentralBank,
    CommercialBank,
}

wire_names!(FrozenBy {
    CentralBank => "central_bank",
    CommercialBank => "commercial_bank",
});

impl From<FreezeAuthority> for FrozenBy {
    fn from(authority: FreezeAuthority) -> FrozenBy {
        match authority {
            FreezeAuthority::CentralBank => FrozenBy::CentralBank,
            FreezeAuthority::CommercialBank => FrozenBy::CommercialBank,
        }
    }
}

/// What a node does: takes part in consensus, or follows and checks committed blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeMode {
    Validator,
    Observer,
}

wire_names!(NodeMode {
    Validator => "validator",
    Observer => "observer",
});

/// The one error shape of the API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// HTTP status, repeated for clients that only see the body.
    pub status: u16,
    /// What kind of problem: `bad_request`, `not_found`, `rejected`, `payload_too_large`,
    /// `unavailable`, `internal`.
    #[schema(value_type = String)]
    pub kind: ErrorKind,
    pub message: String,
    /// For `rejected`: the stable rejection code and its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    pub hash: String,
}

/// One transaction's answer in a batch submission: its hash if admitted, else why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransactionView {
    pub hash: String,
    /// `pending`, `committed` or `rejected`.
    #[schema(value_type = String)]
    pub status: TransactionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EarmarkHoldingView {
    pub earmark: String,
    pub purpose: String,
    pub amount_tiyn: u64,
    pub approved_payees: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountView {
    pub id: String,
    /// Ordinary money.
    pub balance_tiyn: u64,
    /// Earmarked money, all earmarks together.
    pub earmarked_tiyn: u64,
    pub earmarks: Vec<EarmarkHoldingView>,
    pub sequence: u64,
    /// `central_bank`, `commercial_bank` or `wallet`.
    #[schema(value_type = String)]
    pub role: AccountRole,
    /// The wallet tier (null for banks and the central bank).
    pub tier: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub frozen: bool,
    /// Who froze the account (`central_bank` or `commercial_bank`), when it is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub frozen_by: Option<FrozenBy>,
    /// Keys that sign for the account, and how many must.
    pub keys: Vec<String>,
    pub threshold: u8,
}

impl AccountView {
    pub fn new(account: &Account, earmarks: Vec<EarmarkHoldingView>) -> AccountView {
        let (keys, threshold) = match &account.authentication {
            tenge_types::Authentication::Key(key) => (vec![key.to_hex()], 1),
            tenge_types::Authentication::Multisig(policy) => (
                policy.keys.iter().map(|k| k.to_hex()).collect(),
                policy.threshold,
            ),
        };
        let (tier, bank, name) = match &account.role {
            Role::Wallet { bank, tier } => (Some(*tier), Some(bank.to_hex()), None),
            Role::CommercialBank { name } => (None, None, Some(name.clone())),
            Role::CentralBank => (None, None, None),
        };
        AccountView {
            id: account.id.to_hex(),
            balance_tiyn: account.balance.tiyn(),
            earmarked_tiyn: account.earmarked_total().tiyn(),
            earmarks,
            sequence: account.sequence,
            role: AccountRole::from(&account.role),
            tier,
            bank,
            name,
            frozen: account.is_frozen(),
            frozen_by: account.frozen.map(FrozenBy::from),
            keys,
            threshold,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplyView {
    /// The central bank's (multisig) account.
    pub central_bank: String,
    pub issued_tiyn: u64,
    pub redeemed_tiyn: u64,
    pub outstanding_tiyn: u64,
    pub ceiling_tiyn: u64,
    pub epoch: u64,
    pub epoch_issued_tiyn: u64,
    pub epoch_cap_tiyn: u64,
    pub height: u64,
}

/// A proof bundle (`GET /v1/proofs/...`): its canonical bytes in hex (what `tenge verify` reads)
/// and what it proves, as `tenge verify --output json` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofView {
    pub bundle_hex: String,
    pub bundle_bytes: usize,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub verified: tenge_proof::Verified,
}

/// Certified headers for a light client (`GET /v1/headers/{from}`, `tenge follow`): the headers
/// from height `from` up to a committed block and the QC that commits it, as the canonical bytes
/// of a `tenge_proof::CommitProof` in hex. The node is not trusted: the client checks every
/// header and signature against its genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HeaderChainView {
    /// The first height asked for.
    pub from: u64,
    /// This node's committed height when it answered.
    pub head: u64,
    /// How many headers `chain_hex` holds (none: nothing committed at or above `from` yet).
    pub headers: usize,
    /// The chain's canonical bytes in hex; `null` when `headers` is 0.
    pub chain_hex: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// The version in force at the current height.
    #[schema(value_type = Object)]
    pub current: PolicyChange,
    /// Every version ever adopted, including scheduled ones.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<PolicyChange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockTransactionView {
    pub hash: String,
    pub sender: String,
    pub sequence: u64,
    pub kind: String,
    #[schema(value_type = Vec<Object>)]
    pub signatures: Vec<TransactionSignature>,
    /// `applied` or `rejected`.
    #[schema(value_type = String)]
    pub outcome: TransactionOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockView {
    pub height: u64,
    pub id: String,
    pub parent_id: String,
    pub round: u64,
    pub timestamp_ms: u64,
    pub transaction_count: u32,
    pub transactions_root: String,
    pub receipts_root: String,
    pub state_root: String,
    pub transactions: Vec<BlockTransactionView>,
    /// The QC on the parent, and for the last block of a commit the QC that committed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub certificates: Option<StoredCertificates>,
}

impl BlockView {
    pub fn new(
        block: &Block,
        outcomes: Vec<Option<Rejection>>,
        certificates: Option<StoredCertificates>,
    ) -> BlockView {
        let header = &block.header;
        BlockView {
            height: header.height.0,
            id: block.id().to_hex(),
            parent_id: header.parent_id.to_hex(),
            round: header.round.0,
            timestamp_ms: header.timestamp.0,
            transaction_count: header.transaction_count,
            transactions_root: header.transactions_root.to_hex(),
            receipts_root: header.receipts_root.to_hex(),
            state_root: header.state_root.to_hex(),
            transactions: block
                .transactions
                .iter()
                .zip(outcomes)
                .map(|(tx, rejection)| BlockTransactionView {
                    hash: tx.hash().to_hex(),
                    sender: tx.transaction.sender.to_hex(),
                    sequence: tx.transaction.sequence,
                    kind: tx.transaction.payload.kind().to_string(),
                    signatures: tx.signatures.clone(),
                    outcome: if rejection.is_some() {
                        TransactionOutcome::Rejected
                    } else {
                        TransactionOutcome::Applied
                    },
                    code: rejection.as_ref().map(|r| r.code.code()),
                    reason: rejection.map(|r| r.message),
                })
                .collect(),
            certificates,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidatorView {
    pub index: u16,
    pub name: String,
    pub consensus_key: String,
    pub address: String,
    /// The highest height of a certificate this node committed with the validator's signature
    /// in it, since the node started; null if none yet. Far below the others: the validator
    /// is not signing.
    pub last_signed_height: Option<u64>,
}

/// The validator set in force: its epoch, the signatures a certificate needs, and each
/// validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidatorSetView {
    /// The validator set's epoch: 0 at genesis, one more for each change committed on chain.
    pub epoch: u64,
    /// Signatures a certificate needs: n - f.
    pub quorum: usize,
    /// Faulty validators the set tolerates: the largest f with 3f + 1 <= n.
    pub max_faulty: usize,
    pub validators: Vec<ValidatorView>,
}

/// An observer admitted on chain (issue 13): validators let its key connect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObserverView {
    pub name: String,
    /// Its network key, hex.
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusView {
    #[schema(value_type = String)]
    pub mode: NodeMode,
    pub chain_id: String,
    pub height: u64,
    pub block_id: String,
    pub state_root: String,
    pub block_time_ms: u64,
    pub round: u64,
    pub peers: usize,
    pub syncing: bool,
    pub mempool_transactions: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halted: Option<String>,
}

/// The transaction hashes of a block, split by outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BlockHashesView {
    pub height: u64,
    pub timestamp_ms: u64,
    pub applied: Vec<String>,
    pub rejected: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` (used in messages and `Display`) and serde (the wire) must name every value alike,
    /// and every wire name must read back as its value.
    fn names_agree<T>(all: &[T], as_str: fn(T) -> &'static str)
    where
        T: Copy + std::fmt::Debug + PartialEq + Serialize + for<'de> Deserialize<'de> + ToString,
    {
        for &value in all {
            let wire = serde_json::to_value(value).expect("serialises");
            assert_eq!(wire, serde_json::Value::from(as_str(value)), "{value:?}");
            assert_eq!(value.to_string(), as_str(value), "{value:?}");
            let back: T = serde_json::from_value(wire).expect("deserialises");
            assert_eq!(back, value);
        }
    }

    #[test]
    fn wire_names_are_the_serde_names() {
        names_agree(ErrorKind::ALL, ErrorKind::as_str);
        names_agree(TransactionStatus::ALL, TransactionStatus::as_str);
        names_agree(TransactionOutcome::ALL, TransactionOutcome::as_str);
        names_agree(AccountRole::ALL, AccountRole::as_str);
        names_agree(FrozenBy::ALL, FrozenBy::as_str);
        names_agree(NodeMode::ALL, NodeMode::as_str);
    }

    #[test]
    fn roles_and_freeze_authorities_keep_the_ledger_names() {
        let wallet = Role::Wallet {
            bank: tenge_types::AccountId([1; 32]),
            tier: 2,
        };
        let bank = Role::CommercialBank {
            name: "Halyk".into(),
        };
        for role in [Role::CentralBank, bank, wallet] {
            assert_eq!(AccountRole::from(&role).as_str(), role.name());
        }
        for authority in [
            FreezeAuthority::CentralBank,
            FreezeAuthority::CommercialBank,
        ] {
            assert_eq!(FrozenBy::from(authority).as_str(), authority.as_str());
        }
    }

    /// A value this client does not know is an error, not a silent default: a server that adds
    /// an error kind or a status must be noticed.
    #[test]
    fn an_unknown_name_does_not_parse() {
        assert!(serde_json::from_str::<TransactionStatus>("\"unknown\"").is_err());
        assert!(serde_json::from_str::<ErrorKind>("\"Rejected\"").is_err());
    }
}
