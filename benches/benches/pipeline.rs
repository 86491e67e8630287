//! The single-node pipeline on blocks of 10,000 signed transfers: batch signature verification,
//! policy and execution, and the synced RocksDB commit; and each stage on its own.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tenge_benches::fixture::Fixture;
use tenge_crypto::{Keypair, SignatureItem, verify_batch, verify_strict};
use tenge_ledger::verify_signatures;
use tenge_storage::{BlockCommit, RocksStore, Store};
use tenge_types::{Block, Domain, HashValue, SignedTransaction};

const BLOCK: usize = 10_000;
const WALLETS: usize = 10_000;

fn primitives(c: &mut Criterion) {
    let mut group = c.benchmark_group("primitives");
    let bytes = [7u8; 200];
    group.bench_function("sha256_200_bytes", |b| {
        b.iter(|| Domain::Transaction.hash(black_box(&bytes)))
    });
    let key = Keypair::from_secret([1; 32]);
    let message = HashValue([2; 32]);
    let signature = key.sign(&message);
    let public_key = key.public_key();
    group.bench_function("ed25519_sign", |b| b.iter(|| key.sign(black_box(&message))));
    group.bench_function("ed25519_verify_strict", |b| {
        b.iter(|| assert!(verify_strict(black_box(&message), &public_key, &signature)))
    });
    let keys: Vec<Keypair> = (0..64u8).map(|i| Keypair::from_secret([i; 32])).collect();
    let signed: Vec<_> = keys
        .iter()
        .map(|k| (k.public_key(), k.sign(&message)))
        .collect();
    let items: Vec<SignatureItem<'_>> = signed
        .iter()
        .map(|(public_key, signature)| SignatureItem {
            message: &message,
            public_key,
            signature,
        })
        .collect();
    group.throughput(Throughput::Elements(64));
    group.bench_function("ed25519_batch_of_64", |b| {
        b.iter(|| assert!(verify_batch(black_box(&items)).iter().all(|ok| *ok)))
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let fixture = Fixture::new(WALLETS);
    let mut group = c.benchmark_group("pipeline_10k_transfers");
    group.throughput(Throughput::Elements(BLOCK as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.warm_up_time(Duration::from_secs(1));

    let block = fixture.transfers(0, BLOCK);
    group.bench_function("verify_only_2_threads", |b| {
        b.iter(|| verify_signatures(black_box(&block), 2))
    });
    group.bench_function("verify_only_1_thread", |b| {
        b.iter(|| verify_signatures(black_box(&block), 1))
    });
    let valid = vec![true; BLOCK];
    group.bench_function("execute_only", |b| {
        b.iter(|| {
            let round = fixture.blocks + 1;
            let time = tenge_types::TimestampMs(fixture.net.genesis.genesis_time.0 + round * 1_000);
            let executed = fixture.ledger.build_block(
                &[],
                tenge_types::Round(round),
                time,
                block.clone(),
                &valid,
            );
            assert_eq!(executed.execution.applied_count(), BLOCK);
            executed
        })
    });

    // The whole pipeline commits, so every iteration needs a new block: it is signed in the
    // untimed setup.
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = RocksStore::open(dir.path()).expect("open store");
    let genesis = tenge_ledger::Ledger::from_genesis(&fixture.net.genesis).expect("genesis");
    let genesis_block = Block {
        header: genesis.head().clone(),
        transactions: vec![],
    };
    store
        .initialize(
            fixture.net.genesis.hash(),
            &genesis_block,
            &fixture.ledger.state().entries(),
        )
        .expect("init");
    // The fixture's setup blocks are already in its state; store them as one synthetic step by
    // restarting the stored chain at the fixture's head.
    let mut head_block = genesis_block;
    let fixture = std::cell::RefCell::new(fixture);
    let mut next = 0u64;
    let mut commit = |executed: tenge_ledger::ExecutedBlock| {
        let mut fixture = fixture.borrow_mut();
        assert_eq!(executed.execution.applied_count(), BLOCK);
        let mut stored = executed.block.clone();
        stored.header.height = head_block.header.height.next();
        stored.header.parent_id = head_block.id();
        store
            .commit_block(&BlockCommit {
                block: &stored,
                certificate: b"",
                receipts: &executed.execution.receipts,
                changes: &executed.execution.delta.entries,
            })
            .expect("commit");
        fixture.ledger.commit(&executed);
        fixture.blocks += 1;
        head_block = stored;
    };
    group.bench_function("verify_execute_commit", |b| {
        b.iter_batched(
            || {
                next += 1;
                fixture.borrow().transfers(next - 1, BLOCK)
            },
            |txs| {
                let executed = fixture.borrow().execute(txs);
                commit(executed);
            },
            BatchSize::PerIteration,
        )
    });
    // As a node runs it: signatures of the next block are checked (on both cores) while the
    // current one executes and commits, as gossip is verified on other threads than the engine's.
    group.bench_function("verify_execute_commit_pipelined", |b| {
        b.iter_custom(|iters| {
            let blocks: Vec<Vec<SignedTransaction>> = (0..iters)
                .map(|_| {
                    next += 1;
                    fixture.borrow().transfers(next - 1, BLOCK)
                })
                .collect();
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                let (verified, arrivals) = std::sync::mpsc::sync_channel(1);
                scope.spawn(move || {
                    for txs in blocks {
                        let valid = verify_signatures(&txs, 2);
                        if verified.send((txs, valid)).is_err() {
                            return;
                        }
                    }
                });
                for (txs, valid) in arrivals {
                    let executed = fixture.borrow().execute_verified(txs, &valid);
                    commit(executed);
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, primitives, pipeline);
criterion_main!(benches);
