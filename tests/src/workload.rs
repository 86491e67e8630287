//! A deterministic workload: the transactions of block `h` are a function of `h` and the state.

use tenge_ledger::Ledger;
use tenge_ledger::testkit::TestNetwork;
use tenge_types::transaction::{Issue, Transfer};
use tenge_types::{Amount, Payload, SignedTransaction, TimestampMs};

/// Transactions per block of the crash workload.
pub const TRANSFERS_PER_BLOCK: u64 = 40;

/// The network the crash tests use: 2 banks, one validator (a genesis needs one; it signs nothing here).
pub fn network() -> TestNetwork {
    TestNetwork::new(2, 1)
}

/// Consensus time of block `height`.
pub fn block_time(net: &TestNetwork, height: u64) -> TimestampMs {
    TimestampMs(net.genesis.genesis_time.0 + height * 1_000)
}

/// The transactions of the block at `height` on top of `ledger`: an issuance to both banks every
/// fifth block, and transfers back and forth between the two banks.
pub fn transactions(net: &TestNetwork, ledger: &Ledger, height: u64) -> Vec<SignedTransaction> {
    let state = ledger.state();
    let sequence = |index: usize| state.account(&net.bank(index)).map_or(0, |a| a.sequence);
    let mut txs = Vec::new();
    if height % 5 == 1 {
        let cb_sequence = state.account(&net.central_bank()).map_or(0, |a| a.sequence);
        let amount = Amount::from_tenge(1_000).expect("fits");
        for (offset, bank) in [0, 1].into_iter().enumerate() {
            let to = net.bank(bank);
            let payload = Payload::Issue(Issue { to, amount });
            txs.push(net.officers_sign(cb_sequence + offset as u64, payload));
        }
    }
    let from = (height % 2) as usize;
    let to = net.bank(1 - from);
    let first = sequence(from);
    for i in 0..TRANSFERS_PER_BLOCK {
        let amount = Amount::from_tiyn(100 + (height * 7 + i) % 900);
        txs.push(net.sign(
            &net.banks[from],
            first + i,
            Payload::Transfer(Transfer { to, amount }),
        ));
    }
    txs
}
