//! Proof bundles at 10^6 accounts: time to build a claim and encode the bundle (p50, p99), bundle
//! sizes, offline verification time, and what the account index (D37) costs to build, to hold
//! and to update. `cargo bench --workspace --bench proofs` (set TENGE_PROOF_BENCH_ACCOUNTS for
//! another size). Prints one line per measurement.

use std::hint::black_box;
use std::time::{Duration, Instant};

use tenge_crypto::Keypair;
use tenge_ledger::testkit::TestNetwork;
use tenge_ledger::{AccountIndex, CommittedState, genesis_state};
use tenge_proof::{ChainIdentity, CommitProof, ProofBundle, verify};
use tenge_types::commitment::AccountIndexLeaf;
use tenge_types::consensus::{QuorumCertificate, VoteData};
use tenge_types::{
    Account, AccountId, Amount, Authentication, BlockHeader, Domain, Height, PublicKey, Role,
    Round, Slotted, StateValue, TimestampMs,
};

const SAMPLES: usize = 20_000;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    let p50 = percentile(&mut samples, 0.50);
    let p99 = percentile(&mut samples, 0.99);
    println!(
        "{what}: p50 {:.1} us, p99 {:.1} us ({} samples)",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        samples.len()
    );
}

/// A pseudo-random 32-byte value (SHA-256 of the counter): spread like real account ids.
fn bytes(label: &[u8], i: u64) -> [u8; 32] {
    Domain::Account.hash_parts(&[label, &i.to_le_bytes()]).0
}

fn main() {
    let accounts: u64 = std::env::var("TENGE_PROOF_BENCH_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let net = TestNetwork::new(1, 4);
    let (genesis_state, genesis_header) = genesis_state(&net.genesis).expect("genesis");
    let bank = net.bank(0);

    // Genesis entries plus `accounts` wallets with 1 tenge each (keys stand in for real ones:
    // building state does not check them).
    let mut entries = genesis_state.entries();
    let first_slot = entries.len() as u64;
    let mut ids = Vec::with_capacity(accounts as usize);
    for (slot, i) in (first_slot..).zip(0..accounts) {
        let mut account = Account::new(
            Authentication::Key(PublicKey(bytes(b"key", i))),
            Role::Wallet { bank, tier: 1 },
            Height(1),
        );
        account.balance = Amount::from_tiyn(100);
        ids.push(account.id);
        entries.push(Slotted {
            slot,
            value: StateValue::Account(account),
        });
    }
    let started = Instant::now();
    let state = CommittedState::build(entries).expect("state");
    println!(
        "state of {} accounts built (slot tree and account index) in {:.2} s",
        state.account_count(),
        started.elapsed().as_secs_f64()
    );
    let leaves: Vec<AccountIndexLeaf> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| AccountIndexLeaf {
            id: *id,
            slot: i as u64,
        })
        .collect();
    let started = Instant::now();
    let index = AccountIndex::from_leaves(leaves);
    println!(
        "account index of {} leaves built alone in {:.2} s",
        index.len(),
        started.elapsed().as_secs_f64()
    );
    drop(index);

    // A header over this state and a certificate committing it.
    let header = BlockHeader {
        chain_id: net.genesis.chain_id.clone(),
        height: Height(1_000),
        round: Round(1_200),
        parent_id: Domain::Block.hash(b"parent"),
        timestamp: TimestampMs(net.genesis.genesis_time.0 + 3_600_000),
        transaction_count: 0,
        transactions_root: Domain::TransactionsRoot.hash(b"none"),
        receipts_root: Domain::ReceiptsRoot.hash(b"none"),
        state_root: state.root(),
        epoch: 0,
        next_validators: None,
        above_epoch_end: false,
    };
    let data = VoteData {
        block_id: Domain::Block.hash(b"child"),
        round: Round(1_201),
        height: Height(1_001),
        state_root: state.root(),
        parent_id: header.id(),
        parent_round: header.round,
    };
    let message = data.signing_hash(&genesis_header.id());
    let qc = QuorumCertificate {
        data,
        signatures: net
            .validators
            .iter()
            .take(3)
            .enumerate()
            .map(|(i, key): (usize, &Keypair)| (i as u16, key.sign(&message)))
            .collect(),
    };
    let chain = ChainIdentity::new(&net.genesis, genesis_header);
    let bundle = |claim| {
        ProofBundle::new(
            chain.clone(),
            CommitProof {
                headers: vec![header.clone()],
                commit_qc: qc.clone(),
            },
            claim,
        )
    };

    // Generation: claim from the state, bundle assembled and encoded (what the API does after
    // reading the header and the certificate from the store).
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut size = 0;
    for i in 0..SAMPLES as u64 {
        let id = ids[(bytes(b"pick", i)[0] as u64 * 7919 + i * 104_729) as usize % ids.len()];
        let started = Instant::now();
        let bytes = bundle(state.account_claim(&id)).to_bytes();
        samples.push(started.elapsed());
        size = black_box(bytes).len();
    }
    report("account proof generation", samples);
    println!("account bundle size: {size} bytes");

    let mut samples = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES as u64 {
        let id = AccountId(bytes(b"absent", i));
        let started = Instant::now();
        let bytes = bundle(state.account_claim(&id)).to_bytes();
        samples.push(started.elapsed());
        size = black_box(bytes).len();
    }
    report("absence proof generation", samples);
    println!("absence bundle size: {size} bytes");

    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let bytes = bundle(state.supply_claim()).to_bytes();
        samples.push(started.elapsed());
        size = black_box(bytes).len();
    }
    report("supply proof generation", samples);
    println!("supply bundle size: {size} bytes (genesis policy history)");

    // Offline verification: decode and verify (3 signatures, two paths).
    let account_bytes = bundle(state.account_claim(&ids[12_345])).to_bytes();
    let absence_bytes = bundle(state.account_claim(&AccountId([7; 32]))).to_bytes();
    for (what, bytes) in [("account", &account_bytes), ("absence", &absence_bytes)] {
        let mut samples = Vec::with_capacity(2_000);
        for _ in 0..2_000 {
            let started = Instant::now();
            let decoded = ProofBundle::from_bytes(bytes).expect("decodes");
            verify(&decoded, &net.genesis).expect("verifies");
            samples.push(started.elapsed());
        }
        report(&format!("{what} bundle decode + verify"), samples);
    }

    // What creating accounts costs the index: the root of a block creating 100 accounts, as an
    // executed block computes it (committed trie untouched), then inserting them at commit.
    let mut samples = Vec::new();
    let mut index = AccountIndex::from_leaves(
        ids.iter()
            .enumerate()
            .map(|(i, id)| AccountIndexLeaf {
                id: *id,
                slot: i as u64,
            })
            .collect(),
    );
    for block in 0..200u64 {
        let created: Vec<AccountIndexLeaf> = (0..100u64)
            .map(|i| AccountIndexLeaf {
                id: AccountId(bytes(b"new", block * 100 + i)),
                slot: accounts + block * 100 + i,
            })
            .collect();
        let started = Instant::now();
        let root = index.root_with(&created);
        index.insert(&created);
        samples.push(started.elapsed());
        assert_eq!(root, index.root());
    }
    report(
        "account index: root and insert of 100 new accounts",
        samples,
    );
}
