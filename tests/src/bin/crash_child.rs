//! Commits blocks of the crash workload to a RocksDB store in a loop, printing
//! `committed HEIGHT STATE_ROOT` after each synced commit returns. The crash test kills it with
//! SIGKILL at random instants and checks that nothing it printed was lost.

use std::io::Write;
use std::path::PathBuf;

use tenge_ledger::{Ledger, verify_signatures};
use tenge_storage::{BlockCommit, RocksStore, Store};
use tenge_tests::workload;
use tenge_types::Round;

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: crash-child DATA_DIR"),
    );
    let net = workload::network();
    let store = RocksStore::open(&dir).expect("open store");
    let genesis_ledger = Ledger::from_genesis(&net.genesis).expect("genesis");
    let genesis_block = tenge_types::Block {
        header: genesis_ledger.head().clone(),
        transactions: vec![],
    };
    store
        .initialize(
            net.genesis.hash(),
            &genesis_block,
            &genesis_ledger.state().entries(),
        )
        .expect("initialise store");
    let head = store
        .head()
        .expect("read head")
        .expect("initialised store has a head");
    let entries = store.state_entries().expect("read state");
    let mut ledger = Ledger::from_stored(net.genesis.chain_id.clone(), head.block.header, entries)
        .expect("stored state matches its head");
    let mut stdout = std::io::stdout();
    loop {
        let height = ledger.head().height.0 + 1;
        let txs = workload::transactions(&net, &ledger, height);
        let valid = verify_signatures(&txs, 1);
        let executed = ledger.build_block(
            &[],
            Round(height),
            workload::block_time(&net, height),
            txs,
            &valid,
        );
        assert!(
            executed.execution.receipts.iter().all(|r| r.is_applied()),
            "workload transactions apply"
        );
        store
            .commit_block(&BlockCommit {
                block: &executed.block,
                certificate: format!("certificate-{height}").as_bytes(),
                receipts: &executed.execution.receipts,
                changes: &executed.execution.delta.entries,
            })
            .expect("commit");
        ledger.commit(&executed);
        writeln!(stdout, "committed {height} {}", ledger.state().root()).expect("stdout");
        stdout.flush().expect("stdout");
    }
}
