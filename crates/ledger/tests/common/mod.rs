//! A single-node harness: builds blocks from transactions, executes, commits, audits.
#![allow(dead_code)]

use tenge_crypto::Keypair;
use tenge_ledger::testkit::TestNetwork;
use tenge_ledger::{Ledger, verify_signatures};
use tenge_types::transaction::{OpenWallet, Transfer};
use tenge_types::{
    Account, AccountId, Amount, HashValue, Payload, PolicyParams, Receipt, Rejection, Round,
    SignedTransaction, TimestampMs,
};

pub struct Harness {
    pub net: TestNetwork,
    pub ledger: Ledger,
    pub time: TimestampMs,
    round: u64,
}

pub fn tenge(whole: u64) -> Amount {
    Amount::from_tenge(whole).unwrap()
}

impl Harness {
    pub fn new() -> Harness {
        Self::with_policy(PolicyParams::defaults())
    }

    pub fn with_policy(policy: PolicyParams) -> Harness {
        let net = TestNetwork::with_policy(2, 4, policy);
        let ledger = Ledger::from_genesis(&net.genesis).unwrap();
        let time = net.genesis.genesis_time;
        Harness {
            net,
            ledger,
            time,
            round: 0,
        }
    }

    /// Executes one block of `transactions`, commits it, audits the whole state.
    pub fn block(&mut self, transactions: Vec<SignedTransaction>) -> Vec<Receipt> {
        self.round += 1;
        self.time = TimestampMs(self.time.0 + 1_000);
        let valid = verify_signatures(&transactions, 2);
        let executed =
            self.ledger
                .build_block(&[], Round(self.round), self.time, transactions, &valid);
        // An independent re-execution of the finished block agrees with the proposer.
        let again = self
            .ledger
            .execute_block(&[], &executed.block, &valid)
            .unwrap();
        assert_eq!(again.state_root(), executed.execution.state_root());
        self.ledger.commit(&executed);
        self.ledger.audit().unwrap();
        executed.execution.receipts
    }

    pub fn one(&mut self, tx: SignedTransaction) -> Result<(), Rejection> {
        self.block(vec![tx]).remove(0).outcome
    }

    pub fn account(&self, id: &AccountId) -> Account {
        self.ledger
            .state()
            .account(id)
            .cloned()
            .expect("account exists")
    }

    pub fn sequence(&self, id: &AccountId) -> u64 {
        self.ledger.state().account(id).map_or(0, |a| a.sequence)
    }

    pub fn root(&self) -> HashValue {
        self.ledger.state().root()
    }

    /// Central-bank transaction with the next sequence, signed by the threshold of officers.
    pub fn officers(&self, payload: Payload) -> SignedTransaction {
        self.net
            .officers_sign(self.sequence(&self.net.central_bank()), payload)
    }

    /// Transaction from a single-key account with its next sequence.
    pub fn from(&self, key: &Keypair, payload: Payload) -> SignedTransaction {
        self.net
            .sign(key, self.sequence(&key.account_id()), payload)
    }

    pub fn bank_key(&self, index: usize) -> &Keypair {
        &self.net.banks[index]
    }

    pub fn issue(&mut self, bank: usize, amount: Amount) {
        let to = self.net.bank(bank);
        let tx = self.officers(Payload::Issue(tenge_types::transaction::Issue {
            to,
            amount,
        }));
        self.one(tx).expect("issuance applies");
    }

    /// Opens a wallet at bank `bank` with `tier` and returns its key.
    pub fn open_wallet(&mut self, bank: usize, tier: u8, label: &str) -> Keypair {
        let key = tenge_ledger::testkit::test_key(label);
        let tx = self.from(
            &self.net.banks[bank],
            Payload::OpenWallet(OpenWallet {
                key: key.public_key(),
                tier,
            }),
        );
        self.one(tx).expect("wallet opens");
        key
    }

    pub fn transfer(
        &mut self,
        from: &Keypair,
        to: AccountId,
        amount: Amount,
    ) -> Result<(), Rejection> {
        let tx = self.from(from, Payload::Transfer(Transfer { to, amount }));
        self.one(tx)
    }
}
