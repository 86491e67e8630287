//! Blocks: an ordered batch of signed transactions and a header committing to their effects.

use serde::{Deserialize, Serialize};

use crate::codec::{DecodeError, decode, encode};
use crate::genesis::GenesisValidator;
use crate::hash::{Domain, HashValue, merkle_root};
use crate::ids::{ChainId, Height, Round, TimestampMs};
use crate::transaction::{MAX_TRANSACTION_BYTES, SignedTransaction};

/// Most transactions one block may carry.
pub const MAX_BLOCK_TRANSACTIONS: usize = 20_000;
/// Most bytes an encoded block may take.
pub const MAX_BLOCK_BYTES: usize = 16 * 1024 * 1024;

/// The hash of a block header: the block's id.
pub type BlockId = HashValue;

/// What a block commits to. The state and receipts roots are the proposer's result of executing
/// the block on its parent's state; every validator re-executes and votes only if it gets the
/// same roots, so a quorum certificate certifies the post-execution state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: ChainId,
    pub height: Height,
    /// Consensus round in which the block was proposed (0 for genesis).
    pub round: Round,
    pub parent_id: BlockId,
    /// Consensus time, chosen by the proposer, never below the parent's.
    pub timestamp: TimestampMs,
    pub transaction_count: u32,
    /// Merkle root of the signed transactions' digests (signatures included), in block order.
    pub transactions_root: HashValue,
    /// Merkle root of the receipts' commitments, in block order.
    pub receipts_root: HashValue,
    /// Root of the ledger state after executing this block.
    pub state_root: HashValue,
    /// The epoch whose validators certify this block (0 from genesis; D80).
    pub epoch: u64,
    /// Set on the block that ends its epoch: the validator set of the next epoch, in index
    /// order, as the block's execution left it. Any node (a light client too) learns the next
    /// set from the header, certified by the current one.
    pub next_validators: Option<Vec<GenesisValidator>>,
    /// Set on the empty blocks of an epoch above the block that ended it (its suffix, D80).
    /// They only carry that block's commit and are never committed themselves, though the
    /// 2-chain rule may certify one as committed: marked, no proof can present one as a
    /// committed block (D83).
    pub above_epoch_end: bool,
}

impl BlockHeader {
    pub fn id(&self) -> BlockId {
        Domain::Block.hash(&encode(self))
    }

    /// Whether this block ends its epoch.
    pub fn ends_epoch(&self) -> bool {
        self.next_validators.is_some()
    }

    /// The epoch of the blocks that follow this one in the committed chain.
    pub fn next_epoch(&self) -> u64 {
        self.epoch + u64::from(self.ends_epoch())
    }
}

/// A header and its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub transactions: Vec<SignedTransaction>,
}

impl Block {
    pub fn id(&self) -> BlockId {
        self.header.id()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Block, DecodeError> {
        let block: Block = decode("block", bytes, MAX_BLOCK_BYTES)?;
        block
            .check_structure()
            .map_err(|reason| DecodeError::Malformed {
                what: "block",
                reason,
            })?;
        Ok(block)
    }

    /// Checks that need no state: counts, the transactions root, sizes of its transactions.
    /// Individual transactions that are malformed are not a block error: they are executed and
    /// rejected with a code, so that a block's validity never depends on a node's local limits.
    pub fn check_structure(&self) -> Result<(), String> {
        if self.transactions.len() > MAX_BLOCK_TRANSACTIONS {
            return Err(format!(
                "{} transactions; at most {MAX_BLOCK_TRANSACTIONS} are allowed",
                self.transactions.len()
            ));
        }
        if self.header.transaction_count as usize != self.transactions.len() {
            return Err(format!(
                "header counts {} transactions, block carries {}",
                self.header.transaction_count,
                self.transactions.len()
            ));
        }
        if !self.header.chain_id.is_valid() {
            return Err("invalid chain id".into());
        }
        // One encoding per transaction gives both its size and its digest.
        let mut digests = Vec::with_capacity(self.transactions.len());
        for (index, tx) in self.transactions.iter().enumerate() {
            let bytes = encode(tx);
            if bytes.len() > MAX_TRANSACTION_BYTES {
                return Err(format!(
                    "transaction {index} is over {MAX_TRANSACTION_BYTES} bytes"
                ));
            }
            digests.push(Domain::SignedTransaction.hash(&bytes));
        }
        if transactions_root(&digests) != self.header.transactions_root {
            return Err("transactions root does not match the transactions".into());
        }
        Ok(())
    }

    pub fn transactions_root(&self) -> HashValue {
        transactions_root(
            &self
                .transactions
                .iter()
                .map(SignedTransaction::digest)
                .collect::<Vec<_>>(),
        )
    }
}

pub fn transactions_root(hashes: &[HashValue]) -> HashValue {
    merkle_root(Domain::TransactionsRoot, hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_block() -> Block {
        let mut header = BlockHeader {
            chain_id: ChainId::new("tenge-test").unwrap(),
            height: Height(1),
            round: Round(1),
            parent_id: HashValue::ZERO,
            timestamp: TimestampMs(1_000),
            transaction_count: 0,
            transactions_root: HashValue::ZERO,
            receipts_root: HashValue::ZERO,
            state_root: HashValue::ZERO,
            epoch: 0,
            next_validators: None,
            above_epoch_end: false,
        };
        header.transactions_root = transactions_root(&[]);
        Block {
            header,
            transactions: vec![],
        }
    }

    #[test]
    fn round_trips_and_checks_roots() {
        let block = empty_block();
        assert_eq!(Block::from_bytes(&block.to_bytes()).unwrap(), block);
        let mut wrong_root = block.clone();
        wrong_root.header.transactions_root = HashValue([9; 32]);
        assert!(Block::from_bytes(&wrong_root.to_bytes()).is_err());
        let mut wrong_count = block.clone();
        wrong_count.header.transaction_count = 1;
        assert!(Block::from_bytes(&wrong_count.to_bytes()).is_err());
    }

    #[test]
    fn id_commits_to_every_header_field() {
        let block = empty_block();
        let mut later = block.header.clone();
        later.timestamp = TimestampMs(1_001);
        assert_ne!(block.id(), later.id());
        let mut other_state = block.header.clone();
        other_state.state_root = HashValue([1; 32]);
        assert_ne!(block.id(), other_state.id());
    }
}
