//! Security-review findings (shared/reviews/security-review-2026-11.md) that live in the ledger
//! and the policy: each test is named after its finding and failed before the fix.

mod common;

use common::{Harness, tenge};
use tenge_crypto::Keypair;
use tenge_ledger::{BlockError, SignatureCheck, verify_signatures};
use tenge_types::transaction::{
    Freeze, Issue, IssueEarmarked, SetPolicy, Transfer, TransferEarmarked, Unfreeze,
};
use tenge_types::{
    EarmarkTerms, Height, Payload, PolicyParams, RejectionCode, Round, Signature, TimestampMs,
};

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

    let frozen_wallet = h.account(&wallet.account_id());
    let lift = h.from(
        h.bank_key(0),
        Payload::Unfreeze(Unfreeze {
            account: wallet.account_id(),
            reason: "customer asked".into(),
        }),
    );
    let rejection = h
        .one(lift)
        .expect_err("a bank lifted a central-bank freeze");
    assert_eq!(rejection.code, RejectionCode::FrozenByCentralBank);
    assert_eq!(
        h.account(&wallet.account_id()),
        frozen_wallet,
        "the refused unfreeze changed the wallet"
    );
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

/// H1: a certified block may hold a transaction that the validators rejected for a bad signature
/// (a Byzantine leader put it there; the honest voters verified, rejected it and agreed on the
/// roots). A node that follows by range sync must reach the same roots, not halt.
#[test]
fn h1_range_sync_keeps_rejected_signatures_rejected() {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000_000));
    let bank_key = Keypair::from_secret(h.bank_key(0).secret_bytes());
    let follower = h.ledger.clone();

    // A transfer from the bank, correctly authorised but with garbage signature bytes.
    let mut forged = h.from(
        &bank_key,
        Payload::Transfer(Transfer {
            to: h.net.bank(1),
            amount: tenge(500_000),
        }),
    );
    forged.signatures[0].signature = Signature([7u8; 64]);
    let transactions = vec![forged];
    let valid = verify_signatures(&transactions, 2);
    assert_eq!(valid, vec![false]);
    let certified = h.ledger.build_block(
        &[],
        Round(100),
        TimestampMs(h.time.0 + 1_000),
        transactions,
        &valid,
    );
    assert_eq!(
        certified.execution.receipts[0]
            .outcome
            .as_ref()
            .unwrap_err()
            .code,
        RejectionCode::InvalidSignature
    );

    for check in [SignatureCheck::All, SignatureCheck::CertifiedReceipts] {
        let execution = follower
            .execute_certified(&[], &certified.block, check, 2)
            .expect("a range-syncing node must reproduce the certified block");
        assert_eq!(execution.state_root(), certified.execution.state_root());
        assert_eq!(execution.receipts_root, certified.execution.receipts_root);
    }
}

/// Issue 12 item 4: with `verify_signatures = "certified-receipts"` a follower takes signature
/// verdicts from the certified receipts root instead of verifying. Shown with a block whose
/// quorum accepted a transaction with a bad signature (which at most f Byzantine validators
/// cannot certify): the default mode verifies and refuses to follow it, the certified-receipts
/// mode reproduces the certified roots without a verdict of its own.
#[test]
fn certified_receipts_mode_takes_verdicts_from_the_certified_root() {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000_000));
    let bank_key = Keypair::from_secret(h.bank_key(0).secret_bytes());
    let follower = h.ledger.clone();
    let mut forged = h.from(
        &bank_key,
        Payload::Transfer(Transfer {
            to: h.net.bank(1),
            amount: tenge(500_000),
        }),
    );
    forged.signatures[0].signature = Signature([7u8; 64]);
    let certified = h.ledger.build_block(
        &[],
        Round(100),
        TimestampMs(h.time.0 + 1_000),
        vec![forged],
        &[true],
    );
    assert!(certified.execution.receipts[0].outcome.is_ok());

    let verified = follower.execute_certified(&[], &certified.block, SignatureCheck::All, 2);
    assert!(
        matches!(
            verified,
            Err(BlockError::StateRootMismatch { .. } | BlockError::ReceiptsRootMismatch { .. })
        ),
        "the default mode must verify every signature: {verified:?}"
    );
    let taken = follower
        .execute_certified(&[], &certified.block, SignatureCheck::CertifiedReceipts, 2)
        .expect("certified-receipts mode follows the certified verdicts");
    assert_eq!(taken.receipts_root, certified.execution.receipts_root);
    assert_eq!(taken.state_root(), certified.execution.state_root());
}

#[test]
fn signature_check_modes_parse_from_config_words() {
    for check in [SignatureCheck::All, SignatureCheck::CertifiedReceipts] {
        assert_eq!(check.as_str().parse::<SignatureCheck>(), Ok(check));
    }
    let error = "some".parse::<SignatureCheck>().unwrap_err();
    assert!(error.contains("certified-receipts"), "{error}");
}

/// M2: officers sign an issuance that the epoch cap refuses. Earlier, a rejected transaction
/// consumed nothing and had no expiry, so anyone holding its bytes (every bank has them through
/// sync) could resubmit it in a later epoch and mint. Now the rejection uses up the central
/// bank's sequence number, and after its expiry the bytes are refused as expired.
#[test]
fn m2_rejected_issuance_is_never_applied_later() {
    let mut policy = tenge_types::PolicyParams::defaults();
    policy.issuance_cap_per_epoch = tenge(1_000);
    policy.bank_quota_per_epoch = tenge(1_000);
    let mut h = Harness::with_policy(policy.clone());
    let epoch = policy.epoch_duration_ms;
    h.net.expires_at_ms = TimestampMs(h.time.0 + 2 * epoch);
    let issuance = h.officers(Payload::Issue(Issue {
        to: h.net.bank(0),
        amount: tenge(5_000),
    }));
    let rejection = h.one(issuance.clone()).unwrap_err();
    assert_eq!(rejection.code, RejectionCode::IssuanceExceedsEpochCap);
    let supply = h.ledger.state().global().outstanding();

    // In the next epoch the same bytes are replayed.
    h.time = TimestampMs(h.time.0 + epoch);
    let replay = h.one(issuance.clone()).unwrap_err();
    assert_eq!(replay.code, RejectionCode::SequenceAlreadyUsed);

    // After its expiry the bytes are refused as expired.
    h.time = TimestampMs(h.time.0 + epoch);
    let replay = h.one(issuance).unwrap_err();
    assert_eq!(replay.code, RejectionCode::TransactionExpired);
    assert_eq!(h.ledger.state().global().outstanding(), supply);
}

/// L8: policy edge cases. A change scheduled at u64::MAX would lock out every later change; a
/// change that drops wallet tiers strands the wallets of those tiers. Both are refused and
/// change nothing but the central bank's sequence.
#[test]
fn l8_policy_changes_cannot_lock_out_or_strand() {
    let mut h = Harness::new();
    let far = h.officers(Payload::SetPolicy(SetPolicy {
        effective_height: Height(u64::MAX),
        params: PolicyParams::defaults(),
    }));
    assert_eq!(
        h.one(far).unwrap_err().code,
        RejectionCode::PolicyNotInFuture
    );
    let mut fewer = PolicyParams::defaults();
    fewer.wallet_tiers.pop();
    let drop_tier = h.officers(Payload::SetPolicy(SetPolicy {
        effective_height: Height(100),
        params: fewer,
    }));
    assert_eq!(
        h.one(drop_tier).unwrap_err().code,
        RejectionCode::InvalidPolicy
    );
    // A normal change still goes through afterwards.
    let normal = h.officers(Payload::SetPolicy(SetPolicy {
        effective_height: Height(100),
        params: PolicyParams::defaults(),
    }));
    h.one(normal).unwrap();
}

/// L8: a genesis without validators is refused by validation instead of panicking later.
#[test]
fn l8_genesis_without_validators_is_refused() {
    let mut net = tenge_ledger::testkit::TestNetwork::new(1, 4);
    net.genesis.validators.clear();
    let error = net.genesis.validate().unwrap_err();
    assert!(error.contains("validators"), "{error}");
}

/// M4: unsolicited earmarks. Any wallet could send 64 one-tiyn earmarks to a victim, payable to
/// an account that does not exist: the victim could never clear them, and could never again
/// receive an earmark, not even the central bank's earmarked benefit payments. Now payees must
/// exist, and earmarks from others fill at most 48 of the 64 slots.
#[test]
fn m4_unsolicited_earmarks_cannot_block_central_bank_earmarks() {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000_000));
    let attacker_key = Keypair::from_secret(h.bank_key(0).secret_bytes());
    let victim = h.net.bank(1);
    let nobody = tenge_ledger::testkit::test_key("nobody").account_id();
    let earmark = |h: &Harness, payee| {
        h.from(
            &attacker_key,
            Payload::TransferEarmarked(TransferEarmarked {
                to: victim,
                amount: tenge_types::Amount::from_tiyn(1),
                terms: EarmarkTerms {
                    purpose: "spam".into(),
                    approved_payees: vec![payee],
                },
            }),
        )
    };
    // Payable to nobody: refused.
    let rejection = h.one(earmark(&h, nobody)).unwrap_err();
    assert_eq!(rejection.code, RejectionCode::UnknownPayee);
    // Payable to an existing account: as many as the attacker can get in.
    let payee = attacker_key.account_id();
    let mut placed = 0;
    for _ in 0..64 {
        if h.one(earmark(&h, payee)).is_ok() {
            placed += 1;
        }
    }
    assert!(
        placed < 64,
        "an account's every earmark slot was filled by one sender"
    );
    // The central bank's earmarked issuance still reaches the victim.
    let benefit = h.officers(Payload::IssueEarmarked(IssueEarmarked {
        to: victim,
        amount: tenge(100),
        terms: EarmarkTerms {
            purpose: "benefit".into(),
            approved_payees: vec![h.net.bank(0)],
        },
    }));
    h.one(benefit)
        .expect("unsolicited earmarks blocked the central bank's earmarked issuance");
}
