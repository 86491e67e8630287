//! Security-review findings (shared/reviews/security-review-2026-11.md) that live in the ledger
//! and the policy: each test is named after its finding and failed before the fix.

mod common;

use common::{Harness, tenge};
use tenge_crypto::Keypair;
use tenge_types::transaction::{Freeze, Transfer, Unfreeze};
use tenge_types::{Payload, RejectionCode};

/// M3: a freeze placed by the central bank (k-of-m officers, say under a court order) cannot be
/// lifted by the wallet's commercial bank; nothing changes when the bank tries. The central bank
/// can lift it, and a bank still lifts its own freezes.
#[test]
fn m3_bank_cannot_lift_central_bank_freeze() {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000_000));
    let wallet = h.open_wallet(0, 4, "wallet-w");
    let bank_key = Keypair::from_secret(h.bank_key(0).secret_bytes());
    let bank = bank_key.account_id();
    h.transfer(&bank_key, wallet.account_id(), tenge(1_000))
        .unwrap();

    let freeze = h.officers(Payload::Freeze(Freeze {
        account: wallet.account_id(),
        reason: "court order 17".into(),
    }));
    h.one(freeze).unwrap();
    let supply = h.ledger.state().global().outstanding();

    let root = h.root();
    let lift = h.from(
        h.bank_key(0),
        Payload::Unfreeze(Unfreeze {
            account: wallet.account_id(),
            reason: "customer asked".into(),
        }),
    );
    let rejection = h.one(lift).expect_err("a bank lifted a central-bank freeze");
    assert_eq!(rejection.code, RejectionCode::FrozenByCentralBank);
    assert_eq!(h.root(), root, "the refused unfreeze changed the state");
    assert!(h.account(&wallet.account_id()).is_frozen());
    let spend = h.from(
        &wallet,
        Payload::Transfer(Transfer {
            to: bank,
            amount: tenge(1),
        }),
    );
    assert_eq!(h.one(spend).unwrap_err().code, RejectionCode::SenderFrozen);
    assert_eq!(h.ledger.state().global().outstanding(), supply);

    // The central bank lifts its own freeze.
    let lift = h.officers(Payload::Unfreeze(Unfreeze {
        account: wallet.account_id(),
        reason: "order lifted".into(),
    }));
    h.one(lift).unwrap();
    assert!(!h.account(&wallet.account_id()).is_frozen());

    // A bank's own (AML) freeze: the bank lifts it, and so may the central bank.
    for lifter_is_bank in [true, false] {
        let freeze = h.from(
            h.bank_key(0),
            Payload::Freeze(Freeze {
                account: wallet.account_id(),
                reason: "aml".into(),
            }),
        );
        h.one(freeze).unwrap();
        let unfreeze = Payload::Unfreeze(Unfreeze {
            account: wallet.account_id(),
            reason: "cleared".into(),
        });
        let lift = if lifter_is_bank {
            h.from(h.bank_key(0), unfreeze)
        } else {
            h.officers(unfreeze)
        };
        h.one(lift).unwrap();
        assert!(!h.account(&wallet.account_id()).is_frozen());
    }
}

/// M3, escalation: the central bank may take over a bank's freeze; after that the bank can no
/// longer lift it.
#[test]
fn m3_central_bank_takes_over_a_bank_freeze() {
    let mut h = Harness::new();
    let wallet = h.open_wallet(0, 4, "wallet-w");
    let freeze = h.from(
        h.bank_key(0),
        Payload::Freeze(Freeze {
            account: wallet.account_id(),
            reason: "aml".into(),
        }),
    );
    h.one(freeze).unwrap();
    let escalate = h.officers(Payload::Freeze(Freeze {
        account: wallet.account_id(),
        reason: "court order 18".into(),
    }));
    h.one(escalate).unwrap();
    let lift = h.from(
        h.bank_key(0),
        Payload::Unfreeze(Unfreeze {
            account: wallet.account_id(),
            reason: "cleared".into(),
        }),
    );
    assert_eq!(
        h.one(lift).unwrap_err().code,
        RejectionCode::FrozenByCentralBank
    );
    assert!(h.account(&wallet.account_id()).is_frozen());
}
