//! An in-memory store with the same semantics as the RocksDB one: for the simulator and tests.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use tenge_types::{Block, HashValue, Height, Slotted, StateKey, StateValue};

use crate::{BlockCommit, PendingBlock, Store, StoreError, StoredHead, TransactionRecord};

#[derive(Default, Clone)]
struct Inner {
    genesis: Option<HashValue>,
    blocks: BTreeMap<Height, Block>,
    block_ids: HashMap<HashValue, Height>,
    certificates: BTreeMap<Height, Vec<u8>>,
    state: HashMap<StateKey, Slotted<StateValue>>,
    transactions: HashMap<HashValue, TransactionRecord>,
    safety: Option<Vec<u8>>,
    pending: BTreeMap<(Height, HashValue), Vec<u8>>,
}

/// Everything in memory; every write is "synced" the moment it returns, so a simulated crash
/// keeps exactly what a RocksDB node would keep.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("memory store lock poisoned")
    }

    /// A copy of everything stored, as a disk would keep it across a crash.
    pub fn snapshot(&self) -> MemoryStore {
        MemoryStore {
            inner: Mutex::new(self.lock().clone()),
        }
    }
}

fn put_entries(inner: &mut Inner, entries: &[Slotted<StateValue>]) {
    for entry in entries {
        inner.state.insert(entry.value.key(), entry.clone());
    }
}

fn put_block(inner: &mut Inner, block: &Block, certificate: &[u8]) {
    let height = block.header.height;
    inner.blocks.insert(height, block.clone());
    inner.block_ids.insert(block.id(), height);
    inner.certificates.insert(height, certificate.to_vec());
}

impl Store for MemoryStore {
    fn initialize(
        &self,
        genesis_hash: HashValue,
        genesis_block: &Block,
        entries: &[Slotted<StateValue>],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(found) = inner.genesis {
            if found != genesis_hash {
                return Err(StoreError::WrongNetwork {
                    expected: genesis_hash,
                    found,
                });
            }
            return Ok(());
        }
        put_entries(&mut inner, entries);
        put_block(&mut inner, genesis_block, &[]);
        inner.genesis = Some(genesis_hash);
        Ok(())
    }

    fn head(&self) -> Result<Option<StoredHead>, StoreError> {
        let inner = self.lock();
        Ok(inner
            .blocks
            .last_key_value()
            .map(|(height, block)| StoredHead {
                block: block.clone(),
                certificate: inner.certificates[height].clone(),
            }))
    }

    fn state_entries(&self) -> Result<Vec<Slotted<StateValue>>, StoreError> {
        Ok(self.lock().state.values().cloned().collect())
    }

    fn commit_blocks(&self, commits: &[BlockCommit<'_>]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let head = *inner
            .blocks
            .last_key_value()
            .ok_or(StoreError::Uninitialised)?
            .0;
        let last = crate::check_order(head, commits)?;
        for commit in commits {
            let height = commit.block.header.height;
            put_entries(&mut inner, commit.changes);
            for (index, receipt) in commit.receipts.iter().enumerate() {
                inner.transactions.insert(
                    crate::index_key(commit.block, index, receipt),
                    TransactionRecord {
                        height,
                        index: index as u32,
                        outcome: receipt.outcome.clone(),
                    },
                );
            }
            put_block(&mut inner, commit.block, commit.certificate);
        }
        inner
            .pending
            .retain(|(pending_height, _), _| *pending_height > last);
        Ok(())
    }

    fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        Ok(self.lock().blocks.get(&height).cloned())
    }

    fn height_of_block(&self, id: &HashValue) -> Result<Option<Height>, StoreError> {
        Ok(self.lock().block_ids.get(id).copied())
    }

    fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().certificates.get(&height).cloned())
    }

    fn transaction(&self, hash: &HashValue) -> Result<Option<TransactionRecord>, StoreError> {
        Ok(self.lock().transactions.get(hash).cloned())
    }

    fn put_safety_data(
        &self,
        bytes: &[u8],
        pending_block: Option<&PendingBlock>,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.safety = Some(bytes.to_vec());
        if let Some(block) = pending_block {
            inner
                .pending
                .insert((block.height, block.id), block.bytes.clone());
        }
        Ok(())
    }

    fn pending_blocks(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(self.lock().pending.values().cloned().collect())
    }

    fn safety_data(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().safety.clone())
    }
}
