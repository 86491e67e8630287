//! The same blocks committed to a RocksDB store and to an in-memory store reload to the same
//! state root, equal to the root the ledger computed.

use tenge_ledger::{Ledger, verify_signatures};
use tenge_storage::{BlockCommit, MemoryStore, RocksStore, Store};
use tenge_tests::workload;
use tenge_types::{Block, Round};

fn reload(store: &dyn Store, chain: &tenge_types::ChainId) -> Ledger {
    let head = store.head().unwrap().unwrap();
    Ledger::from_stored(
        chain.clone(),
        head.block.header,
        store.state_entries().unwrap(),
    )
    .unwrap()
}

#[test]
fn rocksdb_and_memory_stores_reload_to_the_same_root() {
    let net = workload::network();
    let dir = tempfile::tempdir().unwrap();
    let rocks = RocksStore::open(dir.path()).unwrap();
    let memory = MemoryStore::new();
    let mut ledger = Ledger::from_genesis(&net.genesis).unwrap();
    let genesis_block = Block {
        header: ledger.head().clone(),
        transactions: vec![],
    };
    for store in [&rocks as &dyn Store, &memory] {
        store
            .initialize(
                net.genesis.hash(),
                &genesis_block,
                &ledger.state().entries(),
            )
            .unwrap();
    }
    for height in 1..=12 {
        let txs = workload::transactions(&net, &ledger, height);
        let valid = verify_signatures(&txs, 2);
        let executed = ledger.build_block(
            &[],
            Round(height),
            workload::block_time(&net, height),
            txs,
            &valid,
        );
        for store in [&rocks as &dyn Store, &memory] {
            store
                .commit_block(&BlockCommit {
                    block: &executed.block,
                    certificate: b"",
                    receipts: &executed.execution.receipts,
                    changes: &executed.execution.delta.entries,
                })
                .unwrap();
        }
        ledger.commit(&executed);
    }
    let from_rocks = reload(&rocks, &net.genesis.chain_id);
    let from_memory = reload(&memory, &net.genesis.chain_id);
    assert_eq!(from_rocks.state().root(), ledger.state().root());
    assert_eq!(from_memory.state().root(), ledger.state().root());
    assert_eq!(from_rocks.head(), ledger.head());
    from_rocks.audit().unwrap();
}
