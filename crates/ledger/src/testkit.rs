//! A small network with deterministic keys, for tests, the simulator and benchmarks.

use tenge_crypto::{Keypair, sign_transaction};
use tenge_types::{
    AccountId, ChainId, Genesis, GenesisBank, GenesisValidator, MultisigPolicy, Payload,
    PolicyParams, SignedTransaction, TimestampMs, Transaction,
};

/// Keys of a test network: officers (2 of 3 by default), banks, validators.
pub struct TestNetwork {
    pub officers: Vec<Keypair>,
    pub threshold: u8,
    pub banks: Vec<Keypair>,
    pub validators: Vec<Keypair>,
    pub genesis: Genesis,
    /// The expiry of every transaction this network signs: genesis time plus the policy's
    /// longest lifetime unless a test sets another.
    pub expires_at_ms: TimestampMs,
}

/// A key derived from a label, so that runs are reproducible.
pub fn test_key(label: &str) -> Keypair {
    let digest = tenge_types::Domain::Account.hash(label.as_bytes());
    Keypair::from_secret(digest.0)
}

/// 1 Jan 2027 00:00 UTC: the genesis time of test networks.
pub const TEST_GENESIS_TIME: TimestampMs = TimestampMs(1_798_761_600_000);

impl TestNetwork {
    pub fn new(banks: usize, validators: usize) -> TestNetwork {
        Self::with_policy(banks, validators, PolicyParams::defaults())
    }

    pub fn with_policy(banks: usize, validators: usize, policy: PolicyParams) -> TestNetwork {
        let officers: Vec<Keypair> = (1..=3).map(|i| test_key(&format!("officer-{i}"))).collect();
        let threshold = 2;
        let banks: Vec<Keypair> = (1..=banks)
            .map(|i| test_key(&format!("bank-{i}")))
            .collect();
        let validators: Vec<Keypair> = (1..=validators)
            .map(|i| test_key(&format!("validator-{i}")))
            .collect();
        let expires_at_ms = TimestampMs(TEST_GENESIS_TIME.0 + policy.max_transaction_lifetime_ms);
        let genesis = Genesis {
            chain_id: ChainId::new("tenge-test").expect("valid"),
            genesis_time: TEST_GENESIS_TIME,
            officers: MultisigPolicy::new(
                threshold,
                officers.iter().map(Keypair::public_key).collect(),
            )
            .expect("valid officers"),
            policy,
            banks: banks
                .iter()
                .enumerate()
                .map(|(i, key)| GenesisBank {
                    name: format!("bank-{}", i + 1),
                    key: key.public_key(),
                })
                .collect(),
            validators: validators
                .iter()
                .enumerate()
                .map(|(i, key)| GenesisValidator {
                    name: format!("validator-{}", i + 1),
                    consensus_key: key.public_key(),
                    address: format!("/ip4/127.0.0.1/tcp/{}", 7100 + i),
                })
                .collect(),
        };
        TestNetwork {
            officers,
            threshold,
            banks,
            validators,
            genesis,
            expires_at_ms,
        }
    }

    pub fn central_bank(&self) -> AccountId {
        self.genesis.officers.account_id()
    }

    pub fn bank(&self, index: usize) -> AccountId {
        self.banks[index].account_id()
    }

    pub fn transaction(&self, sender: AccountId, sequence: u64, payload: Payload) -> Transaction {
        Transaction {
            chain_id: self.genesis.chain_id.clone(),
            sender,
            sequence,
            expires_at_ms: self.expires_at_ms,
            payload,
        }
    }

    /// A central-bank transaction signed by the first `threshold` officers.
    pub fn officers_sign(&self, sequence: u64, payload: Payload) -> SignedTransaction {
        let signers: Vec<&Keypair> = self.officers.iter().take(self.threshold as usize).collect();
        sign_transaction(
            self.transaction(self.central_bank(), sequence, payload),
            &signers,
        )
    }

    /// A transaction from a single-key account.
    pub fn sign(&self, key: &Keypair, sequence: u64, payload: Payload) -> SignedTransaction {
        sign_transaction(
            self.transaction(key.account_id(), sequence, payload),
            &[key],
        )
    }
}
