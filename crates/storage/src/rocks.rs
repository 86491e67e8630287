//! The RocksDB store.

use std::path::Path;

use rocksdb::{ColumnFamilyDescriptor, DB, Options, WriteBatch, WriteOptions};
use tenge_types::codec::decode_trusted;
use tenge_types::{Block, HashValue, Height, Slotted, StateKey, StateValue, encode};

use crate::{
    BlockCommit, PendingBlock, SCHEMA_VERSION, Store, StoreError, StoredHead, TransactionRecord,
};

/// Column families. Keys of `blocks` and `certificates` are big-endian heights so that they sort.
const BLOCKS: &str = "blocks";
const BLOCK_IDS: &str = "block_ids";
const CERTIFICATES: &str = "certificates";
const ACCOUNTS: &str = "accounts";
const EARMARKS: &str = "earmarks";
const POLICY: &str = "policy";
const TRANSACTIONS: &str = "transactions";
const SAFETY: &str = "safety";
const PENDING: &str = "pending_blocks";
const METADATA: &str = "metadata";
const COLUMN_FAMILIES: [&str; 10] = [
    PENDING,
    BLOCKS,
    BLOCK_IDS,
    CERTIFICATES,
    ACCOUNTS,
    EARMARKS,
    POLICY,
    TRANSACTIONS,
    SAFETY,
    METADATA,
];

const KEY_SCHEMA: &[u8] = b"schema_version";
const KEY_GENESIS: &[u8] = b"genesis_hash";
const KEY_HEAD: &[u8] = b"head_height";
const KEY_SAFETY: &[u8] = b"safety_data";
const KEY_GLOBAL: &[u8] = b"global";
const KEY_POLICY: &[u8] = b"policy";
const KEY_MEMBERSHIP: &[u8] = b"membership";

/// A RocksDB database with one column family per kind of record.
pub struct RocksStore {
    db: DB,
}

fn database(error: rocksdb::Error) -> StoreError {
    StoreError::Database(error.into_string())
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

fn height_key(height: Height) -> [u8; 8] {
    height.0.to_be_bytes()
}

/// Options of one column family. Accounts and the transaction index take one small random key
/// per changed account or committed transaction: their memtables are kept small (4 MiB) so that
/// a skiplist insert walks cache-resident nodes (with the default 64 MiB, inserts into these two
/// families were 12% of a loaded devnet's CPU; see docs/performance.md).
fn family_options(name: &str) -> Options {
    let mut options = Options::default();
    options.set_compression_type(rocksdb::DBCompressionType::Lz4);
    if name == ACCOUNTS || name == TRANSACTIONS {
        options.set_write_buffer_size(4 << 20);
        options.set_target_file_size_base(16 << 20);
        options.set_max_bytes_for_level_base(64 << 20);
    }
    options
}

impl RocksStore {
    /// Opens (creating if needed) the database in `path`.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // Refuse to run on a database RocksDB finds damaged rather than silently drop data.
        options.set_paranoid_checks(true);
        // Every write is synced, so the log holds only acknowledged writes, except possibly a
        // torn last record (a crash mid-write, never acknowledged). Replay tolerates that tail
        // but refuses damage anywhere else: the default (point in time) stops at the first bad
        // record and opens without everything after it, and a validator came back at height 0
        // with its safety data gone (review L6, tests/tests/l6_wal_corruption.rs).
        options.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        // Small families (safety data, pending blocks, metadata) rarely fill a memtable, and a
        // log file stays until every family in it is flushed: without a bound, logs pile up
        // (368 files, 4 GB after 5 million transactions) and a restart replays all of them.
        options.set_max_total_wal_size(256 << 20);
        // Compactions run at low CPU priority: on a loaded node they would otherwise take the
        // cores from consensus in bursts (a 2 s compaction showed up as a 2 s commit stall).
        // Writes still slow down if compaction falls behind (level-0 triggers).
        let mut env = rocksdb::Env::new().map_err(database)?;
        env.lower_thread_pool_cpu_priority();
        options.set_env(&env);
        let families = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, family_options(name)));
        let db = DB::open_cf_descriptors(&options, path, families).map_err(database)?;
        let store = RocksStore { db };
        match store.get(METADATA, KEY_SCHEMA)? {
            None => {}
            Some(bytes) => {
                let found = u32::from_le_bytes(
                    bytes
                        .as_slice()
                        .try_into()
                        .map_err(|_| corrupt("schema version", "not 4 bytes"))?,
                );
                if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
            }
        }
        Ok(store)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn get(&self, family: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get_cf(self.cf(family), key).map_err(database)
    }

    fn head_height(&self) -> Result<Option<Height>, StoreError> {
        self.get(METADATA, KEY_HEAD)?
            .map(|bytes| {
                bytes
                    .as_slice()
                    .try_into()
                    .map(|b| Height(u64::from_be_bytes(b)))
                    .map_err(|_| corrupt("head height", "not 8 bytes"))
            })
            .transpose()
    }

    fn put_entries(&self, batch: &mut WriteBatch, entries: &[Slotted<StateValue>]) {
        // In key order: the memtable's skip list inserts sorted runs much faster than random
        // keys (measured: random-order inserts were a tenth of a validator's CPU under load).
        let mut sorted: Vec<&Slotted<StateValue>> = entries.iter().collect();
        sorted.sort_unstable_by_key(|entry| entry.value.key());
        for entry in sorted {
            let bytes = encode(entry);
            match &entry.value {
                StateValue::Account(account) => {
                    batch.put_cf(self.cf(ACCOUNTS), account.id.0, bytes)
                }
                StateValue::Earmark(earmark) => {
                    batch.put_cf(self.cf(EARMARKS), earmark.id.0, bytes)
                }
                StateValue::Global(_) => batch.put_cf(self.cf(POLICY), KEY_GLOBAL, bytes),
                StateValue::Policy(_) => batch.put_cf(self.cf(POLICY), KEY_POLICY, bytes),
                StateValue::Membership(_) => batch.put_cf(self.cf(POLICY), KEY_MEMBERSHIP, bytes),
            }
        }
    }

    fn put_block(&self, batch: &mut WriteBatch, block: &Block, certificate: &[u8]) {
        let height = height_key(block.header.height);
        batch.put_cf(self.cf(BLOCKS), height, block.to_bytes());
        batch.put_cf(self.cf(BLOCK_IDS), block.id().0, height);
        batch.put_cf(self.cf(CERTIFICATES), height, certificate);
        batch.put_cf(self.cf(METADATA), KEY_HEAD, height);
    }
}

impl Store for RocksStore {
    fn initialize(
        &self,
        genesis_hash: HashValue,
        genesis_block: &Block,
        entries: &[Slotted<StateValue>],
    ) -> Result<(), StoreError> {
        if let Some(stored) = self.get(METADATA, KEY_GENESIS)? {
            let found = HashValue(
                stored
                    .as_slice()
                    .try_into()
                    .map_err(|_| corrupt("genesis hash", "not 32 bytes"))?,
            );
            if found != genesis_hash {
                return Err(StoreError::WrongNetwork {
                    expected: genesis_hash,
                    found,
                });
            }
            return Ok(());
        }
        assert_eq!(genesis_block.header.height, Height::GENESIS);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(METADATA), KEY_SCHEMA, SCHEMA_VERSION.to_le_bytes());
        self.put_entries(&mut batch, entries);
        self.put_block(&mut batch, genesis_block, &[]);
        // The genesis hash goes last in the same batch: its presence means initialisation
        // completed.
        batch.put_cf(self.cf(METADATA), KEY_GENESIS, genesis_hash.0);
        self.db.write_opt(batch, &synced()).map_err(database)
    }

    fn head(&self) -> Result<Option<StoredHead>, StoreError> {
        let Some(height) = self.head_height()? else {
            return Ok(None);
        };
        let block = self
            .block(height)?
            .ok_or_else(|| corrupt("head", format!("block {height} is missing")))?;
        let certificate = self
            .certificate(height)?
            .ok_or_else(|| corrupt("head", format!("certificate {height} is missing")))?;
        Ok(Some(StoredHead { block, certificate }))
    }

    fn state_entries(&self) -> Result<Vec<Slotted<StateValue>>, StoreError> {
        let mut entries = Vec::new();
        for family in [POLICY, ACCOUNTS, EARMARKS] {
            for item in self
                .db
                .iterator_cf(self.cf(family), rocksdb::IteratorMode::Start)
            {
                let (key, value) = item.map_err(database)?;
                let entry: Slotted<StateValue> =
                    decode_trusted("state entry", &value).map_err(|e| corrupt(family, e))?;
                let entry_key = entry.value.key();
                let expected_key: &[u8] = match &entry_key {
                    StateKey::Account(id) => &id.0,
                    StateKey::Earmark(id) => &id.0,
                    StateKey::Global => KEY_GLOBAL,
                    StateKey::Policy => KEY_POLICY,
                    StateKey::Membership => KEY_MEMBERSHIP,
                };
                if *key != *expected_key {
                    return Err(corrupt(family, "entry stored under another key"));
                }
                entries.push(entry);
            }
        }
        Ok(entries)
    }

    fn commit_blocks(&self, commits: &[BlockCommit<'_>]) -> Result<(), StoreError> {
        let head = self.head_height()?.ok_or(StoreError::Uninitialised)?;
        let last = crate::check_order(head, commits)?;
        if commits.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for commit in commits {
            let height = commit.block.header.height;
            self.put_entries(&mut batch, commit.changes);
            let mut receipts: Vec<(HashValue, TransactionRecord)> = commit
                .receipts
                .iter()
                .enumerate()
                .map(|(index, receipt)| {
                    (
                        crate::index_key(commit.block, index, receipt),
                        TransactionRecord {
                            height,
                            index: index as u32,
                            outcome: receipt.outcome.clone(),
                        },
                    )
                })
                .collect();
            receipts.sort_unstable_by_key(|(key, _)| *key);
            for (key, record) in receipts {
                batch.put_cf(self.cf(TRANSACTIONS), key.0, encode(&record));
            }
            // Later puts in a batch win: the head and the state entries end as the last block's.
            self.put_block(&mut batch, commit.block, commit.certificate);
        }
        // Pending blocks are keyed height || id: everything up to the last height goes. (Point
        // deletes: there are only a few, and range tombstones would slow every later read.)
        // The previous commit deleted every pending block at or below the old head, so the scan
        // starts there instead of walking the tombstones of all earlier deletes; a full scan
        // every 1,024 heights drops anything stored below the head after its commit.
        let pending = self.cf(PENDING);
        let from = height_key(head);
        let full_scan = (head.0 + 1..=last.0).any(|h| h.is_multiple_of(1_024));
        let mode = if full_scan {
            rocksdb::IteratorMode::Start
        } else {
            rocksdb::IteratorMode::From(&from, rocksdb::Direction::Forward)
        };
        for item in self.db.iterator_cf(pending, mode) {
            let (key, _) = item.map_err(database)?;
            let stored_height = u64::from_be_bytes(
                key[..8]
                    .try_into()
                    .map_err(|_| corrupt("pending block key", "short"))?,
            );
            if stored_height > last.0 {
                break;
            }
            batch.delete_cf(pending, key);
        }
        self.db.write_opt(batch, &synced()).map_err(database)
    }

    fn block(&self, height: Height) -> Result<Option<Block>, StoreError> {
        self.get(BLOCKS, &height_key(height))?
            .map(|bytes| decode_trusted("block", &bytes).map_err(|e| corrupt("block", e)))
            .transpose()
    }

    fn height_of_block(&self, id: &HashValue) -> Result<Option<Height>, StoreError> {
        self.get(BLOCK_IDS, &id.0)?
            .map(|bytes| {
                bytes
                    .as_slice()
                    .try_into()
                    .map(|b| Height(u64::from_be_bytes(b)))
                    .map_err(|_| corrupt("block id index", "not 8 bytes"))
            })
            .transpose()
    }

    fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(CERTIFICATES, &height_key(height))
    }

    fn transaction(&self, hash: &HashValue) -> Result<Option<TransactionRecord>, StoreError> {
        self.get(TRANSACTIONS, &hash.0)?
            .map(|bytes| {
                decode_trusted("transaction record", &bytes).map_err(|e| corrupt("transaction", e))
            })
            .transpose()
    }

    fn put_safety_data(
        &self,
        bytes: &[u8],
        pending_block: Option<&PendingBlock>,
    ) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(SAFETY), KEY_SAFETY, bytes);
        if let Some(block) = pending_block {
            let mut key = [0u8; 40];
            key[..8].copy_from_slice(&height_key(block.height));
            key[8..].copy_from_slice(&block.id.0);
            batch.put_cf(self.cf(PENDING), key, &block.bytes);
        }
        self.db.write_opt(batch, &synced()).map_err(database)
    }

    fn pending_blocks(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        self.db
            .iterator_cf(self.cf(PENDING), rocksdb::IteratorMode::Start)
            .map(|item| item.map(|(_, value)| value.to_vec()).map_err(database))
            .collect()
    }

    fn safety_data(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(SAFETY, KEY_SAFETY)
    }
}
