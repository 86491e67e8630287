//! The JSON shapes of the API. Amounts are integer tiyn in fields ending `_tiyn`; ids and hashes
//! are lowercase hex.

use serde::{Deserialize, Serialize};
use tenge_types::consensus::StoredCertificates;
use tenge_types::{Account, Block, PolicyChange, Rejection, Role, TransactionSignature};

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
    pub kind: String,
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
    pub status: String,
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
    pub role: String,
    /// The wallet tier (null for banks and the central bank).
    pub tier: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub frozen: bool,
    /// Who froze the account (`central_bank` or `commercial_bank`), when it is frozen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen_by: Option<String>,
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
            role: account.role.name().to_string(),
            tier,
            bank,
            name,
            frozen: account.is_frozen(),
            frozen_by: account
                .frozen
                .map(|authority| authority.as_str().to_string()),
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
    pub outcome: String,
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
                        "rejected"
                    } else {
                        "applied"
                    }
                    .to_string(),
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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusView {
    pub mode: String,
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
