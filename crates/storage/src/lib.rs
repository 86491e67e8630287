//! Durable storage of a tenge node: the [`Store`] trait, a RocksDB implementation for nodes and
//! an in-memory one for the simulator and tests.
//!
//! One committed block is one atomic, synced write: the block, its certificate, its receipts in
//! the transaction index, every state entry it changed, and the new head. A crash at any instant
//! leaves either the whole block or none of it, and a block whose commit returned is on disk.

mod memory;
#[cfg(feature = "rocksdb")]
mod rocks;

pub use memory::MemoryStore;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksStore;

use serde::{Deserialize, Serialize};
use tenge_types::consensus::{BlockWithParentQc, StoredCertificates};
use tenge_types::{Block, BlockId, HashValue, Height, Receipt, Rejection, Slotted, StateValue};

/// Storage failures. Every one is fatal to the node: it stops rather than run on a state it
/// cannot trust.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("database is corrupt: {0}")]
    Corrupt(String),
    #[error("database belongs to another network: genesis {found}, expected {expected}")]
    WrongNetwork {
        expected: HashValue,
        found: HashValue,
    },
    #[error("database schema version {found} is not the supported version {supported}")]
    Schema { found: u32, supported: u32 },
    #[error("commit of height {found} does not follow the stored head {head}")]
    OutOfOrder { head: Height, found: Height },
    #[error("database is not initialised")]
    Uninitialised,
}

/// Where a committed transaction is, and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionRecord {
    pub height: Height,
    pub index: u32,
    pub outcome: Result<(), Rejection>,
}

/// Everything one committed block writes.
pub struct BlockCommit<'a> {
    pub block: &'a Block,
    /// The certificate that committed the block (encoded by the consensus layer).
    pub certificate: &'a [u8],
    pub receipts: &'a [Receipt],
    /// State entries created or changed by the block.
    pub changes: &'a [Slotted<StateValue>],
}

/// An uncommitted block kept so that a certified block survives a crash of its voters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingBlock {
    pub height: Height,
    pub id: HashValue,
    pub bytes: Vec<u8>,
}

/// The committed head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHead {
    pub block: Block,
    pub certificate: Vec<u8>,
}

/// Durable storage of blocks, state and consensus safety data.
pub trait Store: Send + Sync {
    /// Writes the genesis block and state into an empty store, or checks that the store holds
    /// this network.
    fn initialize(
        &self,
        genesis_hash: HashValue,
        genesis_block: &Block,
        entries: &[Slotted<StateValue>],
    ) -> Result<(), StoreError>;

    /// The committed head, `None` if the store is empty.
    fn head(&self) -> Result<Option<StoredHead>, StoreError>;

    /// Every state entry, for rebuilding the ledger at start-up.
    fn state_entries(&self) -> Result<Vec<Slotted<StateValue>>, StoreError>;

    /// Commits consecutive blocks in one atomic, synced write: after a crash the store holds
    /// all of them or none. The first height must follow the head. A certificate that commits
    /// several blocks is stored with the last of them, so those blocks are written together
    /// (otherwise a crash between them leaves a head that no stored certificate proves).
    fn commit_blocks(&self, commits: &[BlockCommit<'_>]) -> Result<(), StoreError>;

    /// Commits one block atomically with a synced write. Its height must follow the head.
    fn commit_block(&self, commit: &BlockCommit<'_>) -> Result<(), StoreError> {
        self.commit_blocks(std::slice::from_ref(commit))
    }

    fn block(&self, height: Height) -> Result<Option<Block>, StoreError>;

    fn height_of_block(&self, id: &HashValue) -> Result<Option<Height>, StoreError>;

    fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError>;

    fn transaction(&self, hash: &HashValue) -> Result<Option<TransactionRecord>, StoreError>;

    /// Stores consensus safety data, and the uncommitted block being voted for if any, in one
    /// synced write: both are on disk when this returns.
    fn put_safety_data(
        &self,
        bytes: &[u8],
        pending_block: Option<&PendingBlock>,
    ) -> Result<(), StoreError>;

    fn safety_data(&self) -> Result<Option<Vec<u8>>, StoreError>;

    /// Uncommitted blocks this node voted for, above the committed head (encoded by the
    /// consensus layer). Committing a height deletes the pending blocks at or below it.
    fn pending_blocks(&self) -> Result<Vec<Vec<u8>>, StoreError>;
}

/// Checks that `commits` extend `head` height by height; returns the last height.
fn check_order(head: Height, commits: &[BlockCommit<'_>]) -> Result<Height, StoreError> {
    let mut expected = head;
    for commit in commits {
        let height = commit.block.header.height;
        if height != expected.next() {
            return Err(StoreError::OutOfOrder {
                head: expected,
                found: height,
            });
        }
        assert_eq!(commit.receipts.len(), commit.block.transactions.len());
        expected = height;
    }
    Ok(expected)
}

/// Answers a peer's fetch request: `block_id` and its ancestors, newest first, each with the
/// certificate of its parent, at most `count` blocks and (after the first) about `max_bytes`.
/// `recent` finds blocks consensus still holds; committed ones come from `store`. Stops at
/// genesis or at the first block found in neither.
pub fn fetch_response<S: Store + ?Sized>(
    store: &S,
    recent: impl Fn(&BlockId) -> Option<BlockWithParentQc>,
    block_id: BlockId,
    count: u16,
    max_bytes: usize,
) -> Vec<BlockWithParentQc> {
    let committed = |id: &BlockId| {
        let height = store.height_of_block(id).ok()??;
        if height.0 == 0 {
            return None;
        }
        let block = store.block(height).ok()??;
        let certificates =
            StoredCertificates::from_bytes(&store.certificate(height).ok()??).ok()?;
        Some(BlockWithParentQc {
            block,
            parent_qc: certificates.parent_qc,
        })
    };
    let mut blocks = Vec::new();
    let mut bytes = 0usize;
    let mut cursor = block_id;
    while blocks.len() < usize::from(count) && bytes < max_bytes {
        let Some(item) = recent(&cursor).or_else(|| committed(&cursor)) else {
            break;
        };
        if item.block.header.height.0 == 0 {
            break;
        }
        cursor = item.block.header.parent_id;
        bytes += tenge_types::encode(&item).len();
        blocks.push(item);
    }
    blocks
}

/// Where a receipt is indexed. A transaction's own outcome (applied, or rejected after its
/// signatures verified) under its id, where clients look it up; any other outcome (a 1xx
/// rejection, which may belong to a copy with other signature bytes) under the digest of the
/// signed transaction in the block, so that it never speaks for the id (security review M5) and
/// block views still find it.
pub fn index_key(block: &Block, index: usize, receipt: &Receipt) -> HashValue {
    if receipt.is_final_for_transaction() {
        receipt.transaction
    } else {
        block.transactions[index].digest()
    }
}

/// The outcome of `tx`, the transaction at `index` of the block at `height`, from the index:
/// `Ok(None)` if applied, the rejection otherwise.
pub fn block_outcome(
    store: &dyn Store,
    height: Height,
    index: usize,
    tx: &tenge_types::SignedTransaction,
) -> Result<Option<Rejection>, StoreError> {
    if let Some(record) = store.transaction(&tx.hash())?
        && record.height == height
        && record.index as usize == index
    {
        return Ok(record.outcome.err());
    }
    // Identical copies in one block share their digest and their (rejected) outcome.
    if let Some(record) = store.transaction(&tx.digest())?
        && record.height == height
    {
        return Ok(record.outcome.err());
    }
    Err(StoreError::Corrupt(format!(
        "no receipt for transaction {index} of block {height}"
    )))
}

/// Version of the on-disk layout; a change is a migration decision. 2: accounts record who froze
/// them (security review M3), which changes the encoding of every account. 3: state roots also
/// commit to the account index (decision D37), so every stored header and certificate of version
/// 2 carries roots this code cannot reproduce. There is no deployed chain yet, so an older data
/// directory is refused with `StoreError::Schema`, not migrated.
/// Version 4 (D75): state has a membership entry (the validators and the observers admitted on
/// chain), so the genesis state root, and every root and block id after it, differ from 3's.
pub const SCHEMA_VERSION: u32 = 5;

#[cfg(test)]
mod tests;
