//! Validator-set changes in the ledger (issue 13, D70, D77): who may make them, the keys they may
//! bring, one change per block, and the epoch count each change moves. (The switch of consensus
//! to the new set at the commit of the changing block is the engine's, not tested here.)

mod common;

use common::{Harness, tenge};
use tenge_crypto::{Keypair, sign_transaction};
use tenge_ledger::testkit::test_key;
use tenge_types::transaction::{
    AddObserver, AddValidator, RemoveValidator, RotateValidatorKey, proof_of_possession_message,
};
use tenge_types::{GenesisValidator, Membership, Payload, PublicKey, RejectionCode, StateValue};

fn proof(h: &Harness, key: &Keypair) -> tenge_types::Signature {
    key.sign(&proof_of_possession_message(
        &h.net.genesis.chain_id,
        &key.public_key(),
    ))
}

fn add(h: &Harness, name: &str) -> Payload {
    let key = test_key(name);
    Payload::AddValidator(AddValidator {
        validator: GenesisValidator {
            name: name.into(),
            consensus_key: key.public_key(),
            address: "/ip4/10.0.0.9/tcp/7100".into(),
        },
        proof_of_possession: proof(h, &key),
    })
}

fn rotate(h: &Harness, name: &str, new_key: &Keypair) -> Payload {
    Payload::RotateValidatorKey(RotateValidatorKey {
        name: name.into(),
        new_key: new_key.public_key(),
        proof_of_possession: proof(h, new_key),
    })
}

fn remove(name: &str) -> Payload {
    Payload::RemoveValidator(RemoveValidator { name: name.into() })
}

fn membership(h: &Harness) -> Membership {
    h.ledger.state().membership().clone()
}

fn names(h: &Harness) -> Vec<String> {
    membership(h)
        .validators
        .iter()
        .map(|v| v.name.clone())
        .collect()
}

#[test]
fn officers_add_rotate_and_remove_validators_one_epoch_each() {
    let mut h = Harness::new();
    assert_eq!(
        (membership(&h).epoch(), membership(&h).changed_at().0),
        (0, 0)
    );

    h.one(h.officers(add(&h, "validator-5"))).unwrap();
    let after_add = membership(&h);
    assert_eq!(
        names(&h),
        [
            "validator-1",
            "validator-2",
            "validator-3",
            "validator-4",
            "validator-5"
        ]
    );
    assert_eq!(after_add.epoch(), 1);
    assert_eq!(after_add.changed_at(), h.ledger.head().height);
    assert_eq!(
        after_add.validators[4].consensus_key,
        test_key("validator-5").public_key()
    );

    let new_key = test_key("validator-2-rotated");
    h.one(h.officers(rotate(&h, "validator-2", &new_key)))
        .unwrap();
    let after_rotate = membership(&h);
    assert_eq!(after_rotate.epoch(), 2);
    assert_eq!(
        after_rotate
            .validator("validator-2")
            .unwrap()
            .1
            .consensus_key,
        new_key.public_key()
    );
    assert_eq!(after_rotate.validators.len(), 5);

    h.one(h.officers(remove("validator-5"))).unwrap();
    assert_eq!(membership(&h).epoch(), 3);
    assert_eq!(names(&h).len(), 4);
    assert!(membership(&h).validator("validator-5").is_none());
    // A rotated-out key is free again: it may come back (with its proof of possession).
    h.one(h.officers(rotate(&h, "validator-2", &h.net.validators[1])))
        .unwrap();
    assert_eq!(membership(&h).epoch(), 4);
}

#[test]
fn only_the_central_bank_with_its_quorum_changes_validators() {
    let mut h = Harness::new();
    h.issue(0, tenge(10));
    let before = membership(&h);

    let by_bank = h.from(h.bank_key(0), add(&h, "validator-5"));
    assert_eq!(
        h.one(by_bank).unwrap_err().code,
        RejectionCode::NotCentralBank
    );
    let by_bank = h.from(h.bank_key(0), remove("validator-1"));
    assert_eq!(
        h.one(by_bank).unwrap_err().code,
        RejectionCode::NotCentralBank
    );

    let central_bank = h.net.central_bank();
    let entries = h.ledger.state().entries();
    let tx = h.net.transaction(
        central_bank,
        h.sequence(&central_bank),
        add(&h, "validator-5"),
    );
    let one_officer = sign_transaction(tx, &[&h.net.officers[0]]);
    assert_eq!(
        h.one(one_officer).unwrap_err().code,
        RejectionCode::NotEnoughSignatures
    );
    assert_eq!(h.ledger.state().entries(), entries, "nothing changed");
    assert_eq!(membership(&h), before, "the set is unchanged");
}

#[test]
fn new_validator_keys_are_strong_unique_and_held() {
    let mut h = Harness::new();
    let observer = test_key("observer-a").public_key();
    h.one(h.officers(Payload::AddObserver(AddObserver {
        key: observer,
        name: "bank-1".into(),
    })))
    .unwrap();

    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = {
        let Payload::AddValidator(mut add) = add(&h, "validator-5") else {
            unreachable!()
        };
        add.validator.consensus_key = PublicKey(identity);
        Payload::AddValidator(add)
    };
    let another_validators = {
        let Payload::AddValidator(mut add) = add(&h, "validator-5") else {
            unreachable!()
        };
        add.validator.consensus_key = h.net.validators[2].public_key();
        add.proof_of_possession = proof(&h, &h.net.validators[2]);
        Payload::AddValidator(add)
    };
    let an_observers = Payload::RotateValidatorKey(RotateValidatorKey {
        name: "validator-1".into(),
        new_key: observer,
        proof_of_possession: proof(&h, &test_key("observer-a")),
    });
    let held_by_old_key = Payload::RotateValidatorKey(RotateValidatorKey {
        name: "validator-1".into(),
        new_key: test_key("validator-1-new").public_key(),
        // The old key signs for the new one: nobody is shown to hold the new key.
        proof_of_possession: h.net.validators[0].sign(&proof_of_possession_message(
            &h.net.genesis.chain_id,
            &test_key("validator-1-new").public_key(),
        )),
    });
    let other_chain = Payload::RotateValidatorKey(RotateValidatorKey {
        name: "validator-1".into(),
        new_key: test_key("validator-1-new").public_key(),
        proof_of_possession: test_key("validator-1-new").sign(&proof_of_possession_message(
            &tenge_types::ChainId::new("tenge-another-chain").unwrap(),
            &test_key("validator-1-new").public_key(),
        )),
    });
    let cases = [
        (weak, RejectionCode::WeakPublicKey),
        (another_validators, RejectionCode::MemberKeyInUse),
        (an_observers, RejectionCode::MemberKeyInUse),
        (held_by_old_key, RejectionCode::InvalidProofOfPossession),
        (other_chain, RejectionCode::InvalidProofOfPossession),
    ];
    let central_bank = h.net.central_bank();
    // Everything but the central bank's account, whose sequence a rejection consumes.
    let entries = |h: &Harness| -> Vec<StateValue> {
        h.ledger
            .state()
            .entries()
            .into_iter()
            .map(|entry| entry.value)
            .filter(|value| !matches!(value, StateValue::Account(a) if a.id == central_bank))
            .collect()
    };
    for (payload, code) in cases {
        let before = entries(&h);
        let rejection = h.one(h.officers(payload)).unwrap_err();
        assert_eq!(rejection.code, code, "{rejection}");
        let after = entries(&h);
        assert_eq!(after, before, "{code}: only the sequence moved");
    }
    assert_eq!(membership(&h).epoch(), 0);
}

/// D80: the block whose execution changes the set names the next set in its header; above it,
/// blocks of its epoch are empty; any other epoch label is refused, and so is a header that
/// hides or invents a change. Each refusal changes nothing.
#[test]
fn blocks_name_their_epoch_and_an_epochs_end_is_followed_by_an_empty_suffix() {
    use tenge_ledger::BlockError;
    use tenge_types::{Round, TimestampMs};

    let mut h = Harness::new();
    h.issue(0, tenge(10));
    let new_key = test_key("validator-3-rotated");
    let rotation = h.officers(rotate(&h, "validator-3", &new_key));
    let transfer = h.from(
        h.bank_key(0),
        Payload::Transfer(tenge_types::transaction::Transfer {
            to: h.net.bank(1),
            amount: tenge(1),
        }),
    );
    let time = |s: u64| TimestampMs(h.time.0 + s * 1_000);
    let end = h
        .ledger
        .build_block(&[], Round(10), time(1), vec![rotation], &[true]);
    assert_eq!(end.block.header.epoch, 0);
    let next = end
        .block
        .header
        .next_validators
        .clone()
        .expect("ends epoch 0");
    assert_eq!(next[2].consensus_key, new_key.public_key());
    h.ledger
        .execute_block(&[], &end.block, &[true])
        .expect("the proposer's block executes");
    let entries = h.ledger.state().entries();

    // A header that hides the change is refused.
    let mut hidden = end.block.clone();
    hidden.header.next_validators = None;
    assert!(matches!(
        h.ledger.execute_block(&[], &hidden, &[true]),
        Err(BlockError::NextValidatorsMismatch {
            claimed: "none",
            computed: "a set"
        })
    ));
    // So is one that invents a change where there is none.
    let plain = h.ledger.build_block(&[], Round(10), time(1), vec![], &[]);
    let mut invented = plain.block.clone();
    invented.header.next_validators = Some(next.clone());
    assert!(matches!(
        h.ledger.execute_block(&[], &invented, &[]),
        Err(BlockError::NextValidatorsMismatch {
            claimed: "a set",
            computed: "none"
        })
    ));
    // A block of an epoch the state is not in.
    let mut ahead = plain.block.clone();
    ahead.header.epoch = 1;
    assert!(matches!(
        h.ledger.execute_block(&[], &ahead, &[]),
        Err(BlockError::WrongEpoch {
            parent: 0,
            state: 0,
            found: 1
        })
    ));

    // Above the end, epoch 0's blocks are built empty whatever they are given, and execute.
    let suffix = h.ledger.build_block_in_epoch(
        &[&end],
        0,
        Round(11),
        time(2),
        vec![transfer.clone()],
        &[true],
    );
    assert!(suffix.block.transactions.is_empty());
    assert_eq!(suffix.block.header.epoch, 0);
    assert_eq!(suffix.block.header.next_validators, None);
    h.ledger
        .execute_block(&[&end], &suffix.block, &[])
        .expect("an empty suffix block executes");
    // It is marked as above the end, and must be: unmarked, it is refused (D83).
    assert!(suffix.block.header.above_epoch_end);
    let mut unmarked = suffix.block.clone();
    unmarked.header.above_epoch_end = false;
    assert!(matches!(
        h.ledger.execute_block(&[&end], &unmarked, &[]),
        Err(BlockError::EpochSuffixMark {
            expected: true,
            found: false
        })
    ));
    // One that carries a transaction is refused before it runs.
    let mut loaded = suffix.block.clone();
    loaded.transactions = vec![transfer.clone()];
    loaded.header.transaction_count = 1;
    loaded.header.transactions_root = loaded.transactions_root();
    assert!(matches!(
        h.ledger.execute_block(&[&end], &loaded, &[true]),
        Err(BlockError::EpochSuffixNotEmpty {
            epoch: 0,
            transactions: 1
        })
    ));
    // Epoch 1 starts on the end block with transactions again; epoch 2 is refused there.
    let first = h
        .ledger
        .build_block(&[&end], Round(1), time(2), vec![transfer], &[true]);
    assert_eq!(first.block.header.epoch, 1);
    assert!(!first.block.header.above_epoch_end);
    assert_eq!(first.block.transactions.len(), 1);
    let mut marked = first.block.clone();
    marked.header.above_epoch_end = true;
    assert!(matches!(
        h.ledger.execute_block(&[&end], &marked, &[true]),
        Err(BlockError::EpochSuffixMark {
            expected: false,
            found: true
        })
    ));
    h.ledger
        .execute_block(&[&end], &first.block, &[true])
        .expect("epoch 1's first block executes");
    let mut skipped = first.block.clone();
    skipped.header.epoch = 2;
    assert!(matches!(
        h.ledger.execute_block(&[&end], &skipped, &[true]),
        Err(BlockError::WrongEpoch {
            parent: 0,
            state: 1,
            found: 2
        })
    ));
    assert_eq!(h.ledger.state().entries(), entries, "nothing committed");
}

/// Every node dials a validator of its epoch at its address (D80): one no node could dial is
/// malformed, and changes nothing.
#[test]
fn a_new_validator_needs_an_address_peers_can_dial() {
    let mut h = Harness::new();
    for address in [
        "/ip4/10.0.0.5/udp/7100",
        "/ip4/10.0.0.5",
        "/unix/tmp/socket",
        "validator-5.example:7100",
    ] {
        let Payload::AddValidator(mut add) = add(&h, "validator-5") else {
            unreachable!()
        };
        add.validator.address = address.into();
        let rejection = h.one(h.officers(Payload::AddValidator(add))).unwrap_err();
        assert_eq!(
            rejection.code,
            RejectionCode::MalformedTransaction,
            "{address}"
        );
        assert!(rejection.message.contains("peer multiaddr"), "{rejection}");
        assert_eq!(membership(&h).validators.len(), 4);
        assert_eq!(membership(&h).epoch(), 0);
    }
    h.one(h.officers(add(&h, "validator-5"))).unwrap();
    assert_eq!(membership(&h).validators.len(), 5);
}
