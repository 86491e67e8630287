//! Observers admitted on chain (issue 13): who may admit and remove them, the keys they may
//! have, and that every refusal changes nothing but the sender's sequence.

mod common;

use common::{Harness, tenge};
use tenge_crypto::sign_transaction;
use tenge_ledger::testkit::test_key;
use tenge_types::transaction::{AddObserver, RemoveObserver};
use tenge_types::{ObserverEntry, Payload, PublicKey, RejectionCode, StateValue};

fn add(key: PublicKey, name: &str) -> Payload {
    Payload::AddObserver(AddObserver {
        key,
        name: name.into(),
    })
}

/// The state without the sender's account: what a refusal may not change.
fn state_but(h: &Harness, sender: &tenge_types::AccountId) -> Vec<StateValue> {
    h.ledger
        .state()
        .entries()
        .into_iter()
        .map(|entry| entry.value)
        .filter(|value| !matches!(value, StateValue::Account(a) if a.id == *sender))
        .collect()
}

#[test]
fn officers_admit_and_remove_an_observer() {
    let mut h = Harness::new();
    assert!(h.ledger.state().membership().observers.is_empty());
    assert_eq!(
        h.ledger.state().membership().validators,
        h.net.genesis.validators,
        "the genesis validators are the membership's"
    );
    let second = test_key("observer-b").public_key();
    let first = test_key("observer-a").public_key();
    h.one(h.officers(add(second, "bank-2"))).unwrap();
    h.one(h.officers(add(first, "bank-1"))).unwrap();
    let observers = &h.ledger.state().membership().observers;
    let mut expected = vec![
        ObserverEntry {
            key: second,
            name: "bank-2".into(),
        },
        ObserverEntry {
            key: first,
            name: "bank-1".into(),
        },
    ];
    expected.sort_by_key(|entry| entry.key);
    assert_eq!(*observers, expected, "kept in key order");

    h.one(h.officers(Payload::RemoveObserver(RemoveObserver { key: first })))
        .unwrap();
    let observers = &h.ledger.state().membership().observers;
    assert_eq!(observers.len(), 1);
    assert_eq!(observers[0].key, second);
    // A removed key may be admitted again.
    h.one(h.officers(add(first, "bank-1 again"))).unwrap();
    assert!(h.ledger.state().membership().observer(&first).is_some());
}

#[test]
fn only_the_central_bank_with_its_quorum_changes_observers() {
    let mut h = Harness::new();
    h.issue(0, tenge(10));
    let key = test_key("observer-a").public_key();
    let bank = h.net.bank(0);

    // A commercial bank cannot admit its own observer, nor remove another's.
    let before = state_but(&h, &bank);
    let by_bank = h.from(h.bank_key(0), add(key, "bank-1"));
    assert_eq!(
        h.one(by_bank).unwrap_err().code,
        RejectionCode::NotCentralBank
    );
    assert_eq!(state_but(&h, &bank), before);

    h.one(h.officers(add(key, "bank-1"))).unwrap();
    let before = state_but(&h, &bank);
    let by_bank = h.from(
        h.bank_key(0),
        Payload::RemoveObserver(RemoveObserver { key }),
    );
    assert_eq!(
        h.one(by_bank).unwrap_err().code,
        RejectionCode::NotCentralBank
    );
    assert_eq!(state_but(&h, &bank), before);

    // One officer of a 2-of-3 central bank is not enough.
    let central_bank = h.net.central_bank();
    let tx = h.net.transaction(
        central_bank,
        h.sequence(&central_bank),
        Payload::RemoveObserver(RemoveObserver { key }),
    );
    let entries = h.ledger.state().entries();
    let one_officer = sign_transaction(tx, &[&h.net.officers[0]]);
    assert_eq!(
        h.one(one_officer).unwrap_err().code,
        RejectionCode::NotEnoughSignatures
    );
    assert_eq!(h.ledger.state().entries(), entries, "nothing changed");
    assert!(h.ledger.state().membership().observer(&key).is_some());
}

#[test]
fn observer_keys_are_strong_and_unique() {
    let mut h = Harness::new();
    let central_bank = h.net.central_bank();
    let key = test_key("observer-a").public_key();
    h.one(h.officers(add(key, "bank-1"))).unwrap();

    let mut identity = [0u8; 32];
    identity[0] = 1;
    let refused = [
        (add(key, "twice"), RejectionCode::MemberKeyInUse),
        (
            add(h.net.validators[2].public_key(), "a validator"),
            RejectionCode::MemberKeyInUse,
        ),
        (
            add(PublicKey(identity), "small order"),
            RejectionCode::WeakPublicKey,
        ),
        (
            Payload::RemoveObserver(RemoveObserver {
                key: test_key("stranger").public_key(),
            }),
            RejectionCode::UnknownObserver,
        ),
    ];
    for (payload, code) in refused {
        let before = state_but(&h, &central_bank);
        let rejection = h.one(h.officers(payload)).unwrap_err();
        assert_eq!(rejection.code, code, "{rejection}");
        assert_eq!(
            state_but(&h, &central_bank),
            before,
            "{code}: state changed"
        );
    }
    assert_eq!(h.ledger.state().membership().observers.len(), 1);
}

#[test]
fn an_observer_name_is_checked_before_execution() {
    let h = Harness::new();
    for name in ["", "line\nbreak"] {
        let tx = h.officers(add(test_key("observer-a").public_key(), name));
        assert!(
            tx.check_structure().is_err(),
            "name {name:?} passed the structural check"
        );
    }
    let long = "x".repeat(tenge_types::transaction::MAX_TEXT_BYTES + 1);
    let tx = h.officers(add(test_key("observer-a").public_key(), &long));
    assert!(tx.check_structure().is_err());
}

/// Validators execute proposals on top of uncommitted ancestors: membership read through them
/// (the layered view) sees the ancestors' changes, and committing the chain gives the state
/// that executing it block by block gives.
#[test]
fn membership_changes_in_uncommitted_ancestors_are_seen() {
    let h = Harness::new();
    let key = test_key("observer-a").public_key();
    let central_bank = h.net.central_bank();
    let valid = |txs: &[tenge_types::SignedTransaction]| tenge_ledger::verify_signatures(txs, 1);
    let time = |n: u64| tenge_types::TimestampMs(h.time.0 + n * 1_000);

    let admit = vec![h.net.officers_sign(0, add(key, "bank-1"))];
    let parent = h.ledger.build_block(
        &[],
        tenge_types::Round(1),
        time(1),
        admit.clone(),
        &valid(&admit),
    );
    assert!(parent.execution.receipts[0].is_applied());
    assert!(
        h.ledger.state().membership().observers.is_empty(),
        "not committed yet"
    );

    // Above the uncommitted admission: admitting again is refused, removing is allowed.
    let again = vec![h.net.officers_sign(1, add(key, "again"))];
    let child = h.ledger.build_block(
        &[&parent],
        tenge_types::Round(2),
        time(2),
        again.clone(),
        &valid(&again),
    );
    let refused = child.execution.receipts[0].outcome.as_ref().unwrap_err();
    assert_eq!(refused.code, RejectionCode::MemberKeyInUse);

    let remove = vec![
        h.net
            .officers_sign(1, Payload::RemoveObserver(RemoveObserver { key })),
    ];
    let child = h.ledger.build_block(
        &[&parent],
        tenge_types::Round(2),
        time(2),
        remove.clone(),
        &valid(&remove),
    );
    assert!(child.execution.receipts[0].is_applied());

    let mut ledger = h.ledger.clone();
    ledger.commit(&parent);
    assert!(ledger.state().membership().observer(&key).is_some());
    ledger.commit(&child);
    assert!(ledger.state().membership().observers.is_empty());
    assert_eq!(ledger.state().account(&central_bank).unwrap().sequence, 2);
    ledger.audit().unwrap();
}
