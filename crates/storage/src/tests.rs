//! The same contract checked on both stores.

use tenge_types::block::transactions_root;
use tenge_types::{
    Account, AccountId, Amount, Authentication, Block, BlockHeader, ChainId, Domain, HashValue,
    Height, PublicKey, Role, Round, Slotted, StateValue, TimestampMs,
};

use crate::{BlockCommit, MemoryStore, Store, StoreError};

fn block(height: u64, parent: HashValue) -> Block {
    Block {
        header: BlockHeader {
            chain_id: ChainId::new("tenge-test").unwrap(),
            height: Height(height),
            round: Round(height),
            parent_id: parent,
            timestamp: TimestampMs(height * 1000),
            transaction_count: 0,
            transactions_root: transactions_root(&[]),
            receipts_root: HashValue::ZERO,
            state_root: Domain::StateRoot.hash(&height.to_le_bytes()),
            epoch: 0,
            next_validators: None,
            above_epoch_end: false,
        },
        transactions: vec![],
    }
}

fn dummy_transaction(sequence: u64) -> tenge_types::SignedTransaction {
    tenge_types::SignedTransaction {
        transaction: tenge_types::Transaction {
            chain_id: ChainId::new("tenge-test").unwrap(),
            sender: AccountId([1; 32]),
            sequence,
            expires_at_ms: TimestampMs(1),
            payload: tenge_types::Payload::Redeem(tenge_types::transaction::Redeem {
                amount: Amount::from_tiyn(1),
            }),
        },
        signatures: vec![],
    }
}

fn account(seed: u8, balance: u64) -> Slotted<StateValue> {
    let mut account = Account::new(
        Authentication::Key(PublicKey([seed; 32])),
        Role::CommercialBank {
            name: format!("bank-{seed}"),
        },
        Height(0),
    );
    account.balance = Amount::from_tiyn(balance);
    Slotted {
        slot: u64::from(seed),
        value: StateValue::Account(account),
    }
}

fn exercise(store: &dyn Store) {
    let genesis_hash = Domain::Chain.hash(b"genesis");
    let genesis = block(0, genesis_hash);
    assert!(store.head().unwrap().is_none());
    assert!(matches!(
        store.commit_block(&BlockCommit {
            block: &block(1, genesis.id()),
            certificate: b"",
            receipts: &[],
            changes: &[]
        }),
        Err(StoreError::Uninitialised)
    ));
    store
        .initialize(genesis_hash, &genesis, &[account(1, 0)])
        .unwrap();
    // Initialising again with the same genesis is a no-op; with another is refused.
    store.initialize(genesis_hash, &genesis, &[]).unwrap();
    assert!(matches!(
        store.initialize(Domain::Chain.hash(b"other"), &genesis, &[]),
        Err(StoreError::WrongNetwork { .. })
    ));
    assert_eq!(store.head().unwrap().unwrap().block, genesis);

    let first = block(1, genesis.id());
    let tx = Domain::Transaction.hash(b"tx");
    let changes = [account(1, 500), account(2, 7)];
    // A commit that skips a height is refused and changes nothing.
    assert!(matches!(
        store.commit_block(&BlockCommit {
            block: &block(2, first.id()),
            certificate: b"qc",
            receipts: &[],
            changes: &changes
        }),
        Err(StoreError::OutOfOrder { .. })
    ));
    assert_eq!(store.state_entries().unwrap().len(), 1);

    store
        .commit_block(&BlockCommit {
            block: &first,
            certificate: b"qc-1",
            receipts: &[],
            changes: &changes,
        })
        .unwrap();
    let head = store.head().unwrap().unwrap();
    assert_eq!(head.block, first);
    assert_eq!(head.certificate, b"qc-1");
    assert_eq!(store.block(Height(0)).unwrap().unwrap(), genesis);
    assert_eq!(store.height_of_block(&first.id()).unwrap(), Some(Height(1)));
    assert_eq!(store.height_of_block(&HashValue([9; 32])).unwrap(), None);
    let mut entries = store.state_entries().unwrap();
    entries.sort_by_key(|e| e.slot);
    assert_eq!(entries, changes.to_vec());

    assert_eq!(store.safety_data().unwrap(), None);
    let pending = |height: u64, tag: u8| crate::PendingBlock {
        height: Height(height),
        id: HashValue([tag; 32]),
        bytes: vec![tag],
    };
    store
        .put_safety_data(b"round 5", Some(&pending(2, 20)))
        .unwrap();
    store
        .put_safety_data(b"round 6", Some(&pending(3, 30)))
        .unwrap();
    store.put_safety_data(b"round 6", None).unwrap();
    assert_eq!(store.safety_data().unwrap().unwrap(), b"round 6");
    assert_eq!(store.pending_blocks().unwrap(), vec![vec![20], vec![30]]);
    // Committing height 2 drops the pending block at height 2 and keeps the one at 3.
    let second = block(2, first.id());
    store
        .commit_block(&BlockCommit {
            block: &second,
            certificate: b"qc-2",
            receipts: &[],
            changes: &[],
        })
        .unwrap();
    assert_eq!(store.pending_blocks().unwrap(), vec![vec![30]]);
    assert_eq!(store.transaction(&tx).unwrap(), None);

    // M5: a block holds T' (a copy of a pending transaction T with other signature bytes, same
    // id), rejected for its signature, and U, rejected by a rule after its signatures verified.
    // T' says nothing about T: the index must not report T as rejected. U's outcome is its own.
    let forged = Domain::Transaction.hash(b"T");
    let authorised = Domain::Transaction.hash(b"U");
    let mut third = block(3, second.id());
    third.transactions = vec![dummy_transaction(1), dummy_transaction(2)];
    let rejected = |code| Err(tenge_types::Rejection::new(code, "test"));
    store
        .commit_block(&BlockCommit {
            block: &third,
            certificate: b"qc-3",
            receipts: &[
                tenge_types::Receipt {
                    transaction: forged,
                    outcome: rejected(tenge_types::RejectionCode::InvalidSignature),
                },
                tenge_types::Receipt {
                    transaction: authorised,
                    outcome: rejected(tenge_types::RejectionCode::InsufficientFunds),
                },
            ],
            changes: &[],
        })
        .unwrap();
    assert_eq!(
        store.transaction(&forged).unwrap(),
        None,
        "an unauthenticated copy's rejection was recorded as the transaction's outcome"
    );
    let record = store.transaction(&authorised).unwrap().unwrap();
    assert_eq!(record.index, 1);
    // A block view still finds the copy's rejection, under the signed transaction's digest.
    assert_eq!(
        crate::block_outcome(store, Height(3), 0, &third.transactions[0])
            .unwrap()
            .map(|r| r.code),
        Some(tenge_types::RejectionCode::InvalidSignature)
    );
    assert!(AccountId([0; 32]) < AccountId([1; 32]));

    // The blocks one certificate commits are one write: a run with a gap writes none of them,
    // not even the blocks before the gap.
    let fourth = block(4, third.id());
    let fifth = block(5, fourth.id());
    let commit = |block, certificate, changes| BlockCommit {
        block,
        certificate,
        receipts: &[],
        changes,
    };
    let early = [account(1, 100)];
    let late = [account(1, 50)];
    let sixth = block(6, fifth.id());
    assert!(matches!(
        store.commit_blocks(&[
            commit(&fourth, b"parent-qc-4", &early),
            commit(&sixth, b"qc-6", &late),
        ]),
        Err(StoreError::OutOfOrder {
            head: Height(4),
            found: Height(6)
        })
    ));
    assert_eq!(store.head().unwrap().unwrap().block, third);
    assert_eq!(store.block(Height(4)).unwrap(), None);
    assert_eq!(store.height_of_block(&fourth.id()).unwrap(), None);
    store
        .commit_blocks(&[
            commit(&fourth, b"parent-qc-4", &early),
            commit(&fifth, b"qc-5", &late),
        ])
        .unwrap();
    let head = store.head().unwrap().unwrap();
    assert_eq!((head.block, head.certificate), (fifth, b"qc-5".to_vec()));
    assert_eq!(store.block(Height(4)).unwrap(), Some(fourth));
    assert_eq!(
        store.certificate(Height(4)).unwrap().unwrap(),
        b"parent-qc-4"
    );
    // The later block's state change wins.
    let first_account = store
        .state_entries()
        .unwrap()
        .into_iter()
        .find(|e| e.slot == 1)
        .unwrap();
    assert_eq!(first_account, account(1, 50));
}

#[test]
fn memory_store_contract() {
    exercise(&MemoryStore::new());
}

#[cfg(feature = "rocksdb")]
#[test]
fn rocks_store_contract_and_reopen() {
    use crate::RocksStore;
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksStore::open(dir.path()).unwrap();
        exercise(&store);
    }
    let store = RocksStore::open(dir.path()).unwrap();
    let head = store.head().unwrap().unwrap();
    // Heights 4 and 5 were the last commit; height 3's dropped the pending block at height 3.
    assert_eq!(head.block.header.height, Height(5));
    assert_eq!(store.safety_data().unwrap().unwrap(), b"round 6");
    assert!(store.pending_blocks().unwrap().is_empty());
    assert_eq!(store.state_entries().unwrap().len(), 2);
}
