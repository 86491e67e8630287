//! A ledger with many funded tier-1 wallets, and blocks of signed transfers among them.

use tenge_crypto::Keypair;
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_ledger::{ExecutedBlock, Ledger, verify_signatures};
use tenge_types::transaction::{Issue, OpenWallet, Transfer};
use tenge_types::{Amount, Payload, Round, SignedTransaction, TimestampMs};

/// A ledger after setup, with the wallets' keys.
pub struct Fixture {
    pub net: TestNetwork,
    pub ledger: Ledger,
    pub wallets: Vec<Keypair>,
    /// Blocks executed so far (setup included): the next block's round and time derive from it.
    pub blocks: u64,
}

impl Fixture {
    /// Opens `wallets` tier-1 wallets at bank 1 and gives each 1,000 tenge.
    pub fn new(wallets: usize) -> Fixture {
        let net = TestNetwork::new(1, 1);
        let ledger = Ledger::from_genesis(&net.genesis).expect("genesis");
        let keys: Vec<Keypair> = (0..wallets)
            .map(|i| test_key(&format!("bench-wallet-{i}")))
            .collect();
        let mut fixture = Fixture {
            net,
            ledger,
            wallets: keys,
            blocks: 0,
        };
        let bank = Keypair::from_secret(fixture.net.banks[0].secret_bytes());
        let total = Amount::from_tenge(1_000 * wallets as u64).expect("fits");
        let issue = fixture.net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: bank.account_id(),
                amount: total,
            }),
        );
        fixture.run(vec![issue]);
        let opens: Vec<SignedTransaction> = fixture
            .wallets
            .iter()
            .enumerate()
            .map(|(i, key)| {
                fixture.net.sign(
                    &bank,
                    i as u64,
                    Payload::OpenWallet(OpenWallet {
                        key: key.public_key(),
                        tier: 1,
                    }),
                )
            })
            .collect();
        fixture.run(opens);
        let funding: Vec<SignedTransaction> = fixture
            .wallets
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let amount = Amount::from_tenge(1_000).expect("fits");
                fixture.net.sign(
                    &bank,
                    (wallets + i) as u64,
                    Payload::Transfer(Transfer {
                        to: key.account_id(),
                        amount,
                    }),
                )
            })
            .collect();
        fixture.run(funding);
        fixture
    }

    fn run(&mut self, txs: Vec<SignedTransaction>) {
        let executed = self.execute(txs);
        assert!(
            executed.execution.receipts.iter().all(|r| r.is_applied()),
            "setup transactions apply"
        );
        self.ledger.commit(&executed);
        self.blocks += 1;
    }

    /// Verifies and executes a block of transactions on the committed head (not committed).
    pub fn execute(&self, txs: Vec<SignedTransaction>) -> ExecutedBlock {
        let valid = verify_signatures(&txs, 2);
        self.execute_verified(txs, &valid)
    }

    /// Executes the next block with signature verdicts computed elsewhere.
    pub fn execute_verified(&self, txs: Vec<SignedTransaction>, valid: &[bool]) -> ExecutedBlock {
        let round = self.blocks + 1;
        let time = TimestampMs(self.net.genesis.genesis_time.0 + round * 1_000);
        self.ledger.build_block(&[], Round(round), time, txs, valid)
    }

    /// The `index`-th block of transfers after setup: every wallet sends 1 tiyn to the next one,
    /// `count` transfers in all (wallets may send more than once).
    pub fn transfers(&self, index: u64, count: usize) -> Vec<SignedTransaction> {
        let n = self.wallets.len();
        let per_wallet = count.div_ceil(n) as u64;
        (0..count)
            .map(|i| {
                let from = &self.wallets[i % n];
                let to = self.wallets[(i + 1) % n].account_id();
                let sequence = index * per_wallet + (i / n) as u64;
                self.net.sign(
                    from,
                    sequence,
                    Payload::Transfer(Transfer {
                        to,
                        amount: Amount::from_tiyn(1),
                    }),
                )
            })
            .collect()
    }
}
