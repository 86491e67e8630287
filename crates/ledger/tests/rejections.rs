//! One case per rejection code: the input that triggers it, and proof that it changed nothing.

mod common;

use common::{Harness, tenge};
use tenge_crypto::{Keypair, sign_transaction};
use tenge_ledger::testkit::test_key;
use tenge_types::transaction::{
    AddObserver, AddValidator, Freeze, Issue, IssueEarmarked, OpenWallet, Redeem, RegisterBank,
    RemoveObserver, RemoveValidator, RotateValidatorKey, SetPolicy, SpendEarmarked, Transfer,
    TransferEarmarked, Unfreeze, proof_of_possession_message,
};
use tenge_types::{
    AccountId, Amount, ChainId, EarmarkId, EarmarkTerms, Height, Membership, Payload, PolicyParams,
    PublicKey, RejectionCode, SignedTransaction, StateValue, TimestampMs,
};

type Setup = fn(&mut Harness) -> SignedTransaction;

/// Adding the validator `name` (its key from the name), with a valid proof of possession.
fn add_validator(h: &Harness, name: &str) -> Payload {
    let key = test_key(name);
    Payload::AddValidator(AddValidator {
        validator: tenge_types::GenesisValidator {
            name: name.into(),
            consensus_key: key.public_key(),
            address: "/ip4/10.0.0.9/tcp/7100".into(),
        },
        proof_of_possession: key.sign(&proof_of_possession_message(
            &h.net.genesis.chain_id,
            &key.public_key(),
        )),
    })
}

fn transfer(to: AccountId, amount: Amount) -> Payload {
    Payload::Transfer(Transfer { to, amount })
}

fn terms(payees: Vec<AccountId>) -> EarmarkTerms {
    let mut payees = payees;
    payees.sort();
    EarmarkTerms {
        purpose: "school-meals-2027".into(),
        approved_payees: payees,
    }
}

/// A funded bank 0 with a tier-4 wallet holding 100,000 tenge.
fn funded_wallet(h: &mut Harness) -> Keypair {
    h.issue(0, tenge(1_000_000));
    let wallet = h.open_wallet(0, 4, "wallet-a");
    h.transfer(
        &h.bank_key(0).clone_key(),
        wallet.account_id(),
        tenge(100_000),
    )
    .unwrap();
    wallet
}

trait CloneKey {
    fn clone_key(&self) -> Keypair;
}
impl CloneKey for Keypair {
    fn clone_key(&self) -> Keypair {
        Keypair::from_secret(self.secret_bytes())
    }
}

fn small_policy() -> PolicyParams {
    let mut policy = PolicyParams::defaults();
    policy.supply_ceiling = tenge(1_000);
    policy.issuance_cap_per_epoch = tenge(600);
    policy.bank_quota_per_epoch = tenge(400);
    policy
}

/// An earmark of 500 tenge held by bank 1, payable to bank 0 only.
fn earmark_at_bank_1(h: &mut Harness) -> EarmarkId {
    let to = h.net.bank(1);
    let payee = h.net.bank(0);
    let tx = h.officers(Payload::IssueEarmarked(IssueEarmarked {
        to,
        amount: tenge(500),
        terms: terms(vec![payee]),
    }));
    let id = EarmarkId(tx.hash().0);
    h.one(tx).unwrap();
    id
}

fn cases() -> Vec<(RejectionCode, Setup)> {
    use RejectionCode::*;
    vec![
        (WrongChain, |h| {
            let mut tx = h
                .net
                .transaction(h.net.bank(0), 0, transfer(h.net.bank(1), tenge(1)));
            tx.chain_id = ChainId::new("other-chain").unwrap();
            sign_transaction(tx, &[h.bank_key(0)])
        }),
        (UnknownSender, |h| {
            let stranger = test_key("stranger");
            h.net.sign(&stranger, 0, transfer(h.net.bank(0), tenge(1)))
        }),
        (SequenceAlreadyUsed, |h| {
            // A replay of an applied transaction.
            h.issue(0, tenge(10));
            let tx = h.from(h.bank_key(0), transfer(h.net.bank(1), tenge(1)));
            h.one(tx.clone()).unwrap();
            tx
        }),
        (SequenceTooHigh, |h| {
            h.net
                .sign(h.bank_key(0), 5, transfer(h.net.bank(1), tenge(1)))
        }),
        (InvalidSignature, |h| {
            h.issue(0, tenge(10));
            let mut tx = h.from(h.bank_key(0), transfer(h.net.bank(1), tenge(1)));
            tx.signatures[0].signature.0[40] ^= 1;
            tx
        }),
        (SignerNotAuthorized, |h| {
            let tx = h
                .net
                .transaction(h.net.bank(0), 0, transfer(h.net.bank(1), tenge(1)));
            sign_transaction(tx, &[h.bank_key(1)])
        }),
        (NotEnoughSignatures, |h| {
            let tx = h.net.transaction(
                h.net.central_bank(),
                0,
                Payload::Issue(Issue {
                    to: h.net.bank(0),
                    amount: tenge(1),
                }),
            );
            sign_transaction(tx, &[&h.net.officers[0]])
        }),
        (DuplicateSigner, |h| {
            let tx = h.net.transaction(
                h.net.central_bank(),
                0,
                Payload::Issue(Issue {
                    to: h.net.bank(0),
                    amount: tenge(1),
                }),
            );
            sign_transaction(tx, &[&h.net.officers[0], &h.net.officers[0]])
        }),
        (MalformedTransaction, |h| {
            h.officers(Payload::RegisterBank(RegisterBank {
                key: test_key("new-bank").public_key(),
                name: String::new(),
            }))
        }),
        (NotCentralBank, |h| {
            h.from(
                h.bank_key(0),
                Payload::Issue(Issue {
                    to: h.net.bank(0),
                    amount: tenge(1),
                }),
            )
        }),
        (NotCommercialBank, |h| {
            let wallet = funded_wallet(h);
            h.from(&wallet, Payload::Redeem(Redeem { amount: tenge(1) }))
        }),
        (UnknownRecipient, |h| {
            h.issue(0, tenge(10));
            h.from(h.bank_key(0), transfer(AccountId([7; 32]), tenge(1)))
        }),
        (RecipientNotCommercialBank, |h| {
            let wallet = h.open_wallet(0, 1, "wallet-a");
            h.officers(Payload::Issue(Issue {
                to: wallet.account_id(),
                amount: tenge(1),
            }))
        }),
        (AccountAlreadyExists, |h| {
            h.officers(Payload::RegisterBank(RegisterBank {
                key: h.bank_key(1).public_key(),
                name: "again".into(),
            }))
        }),
        (WeakPublicKey, |h| {
            // The identity point: a small-order key that "signs" nearly anything.
            let mut identity = [0u8; 32];
            identity[0] = 1;
            h.from(
                h.bank_key(0),
                Payload::OpenWallet(OpenWallet {
                    key: PublicKey(identity),
                    tier: 1,
                }),
            )
        }),
        (UnknownWalletTier, |h| {
            h.from(
                h.bank_key(0),
                Payload::OpenWallet(OpenWallet {
                    key: test_key("w").public_key(),
                    tier: 9,
                }),
            )
        }),
        (NotTheWalletsBank, |h| {
            let wallet = h.open_wallet(0, 1, "wallet-a");
            h.from(
                h.bank_key(1),
                Payload::Freeze(Freeze {
                    account: wallet.account_id(),
                    reason: "aml".into(),
                }),
            )
        }),
        (RecipientIsCentralBank, |h| {
            h.issue(0, tenge(10));
            h.from(h.bank_key(0), transfer(h.net.central_bank(), tenge(1)))
        }),
        (SelfTransfer, |h| {
            h.issue(0, tenge(10));
            h.from(h.bank_key(0), transfer(h.net.bank(0), tenge(1)))
        }),
        (CentralBankCannotDoThis, |h| {
            h.officers(transfer(h.net.bank(0), tenge(1)))
        }),
        (UnknownAccount, |h| {
            h.officers(Payload::Freeze(Freeze {
                account: AccountId([3; 32]),
                reason: "court".into(),
            }))
        }),
        (ZeroAmount, |h| {
            h.issue(0, tenge(10));
            h.from(h.bank_key(0), transfer(h.net.bank(1), Amount::ZERO))
        }),
        (InsufficientFunds, |h| {
            h.issue(0, tenge(10));
            h.from(
                h.bank_key(0),
                transfer(h.net.bank(1), Amount::from_tiyn(1_001)),
            )
        }),
        (SupplyCeilingExceeded, |h| {
            *h = Harness::with_policy(small_policy());
            h.issue(0, tenge(400));
            h.issue(1, tenge(200)); // epoch cap now used up
            h.officers(Payload::Issue(Issue {
                to: h.net.bank(1),
                amount: tenge(401),
            }))
        }),
        (IssuanceExceedsEpochCap, |h| {
            *h = Harness::with_policy(small_policy());
            h.issue(0, tenge(400));
            h.officers(Payload::Issue(Issue {
                to: h.net.bank(1),
                amount: tenge(201),
            }))
        }),
        (IssuanceExceedsBankQuota, |h| {
            *h = Harness::with_policy(small_policy());
            h.issue(0, tenge(300));
            h.officers(Payload::Issue(Issue {
                to: h.net.bank(0),
                amount: tenge(101),
            }))
        }),
        (WalletHoldingLimitExceeded, |h| {
            let wallet = funded_wallet(h); // holds 100,000; tier 4 holds at most 700,000
            h.from(h.bank_key(0), transfer(wallet.account_id(), tenge(600_001)))
        }),
        (WalletTransactionLimitExceeded, |h| {
            let wallet = funded_wallet(h); // tier 4: at most 140,000 per transaction
            h.transfer(
                &h.bank_key(0).clone_key(),
                wallet.account_id(),
                tenge(100_000),
            )
            .unwrap();
            h.from(&wallet, transfer(h.net.bank(0), tenge(140_001)))
        }),
        (WalletDailyOutflowLimitExceeded, |h| {
            let wallet = funded_wallet(h); // tier 4: at most 350,000 a day
            h.transfer(
                &h.bank_key(0).clone_key(),
                wallet.account_id(),
                tenge(300_000),
            )
            .unwrap();
            h.transfer(&wallet, h.net.bank(0), tenge(140_000)).unwrap();
            h.transfer(&wallet, h.net.bank(0), tenge(140_000)).unwrap();
            h.from(&wallet, transfer(h.net.bank(0), tenge(70_001)))
        }),
        (SenderFrozen, |h| {
            let wallet = funded_wallet(h);
            let freeze = h.officers(Payload::Freeze(Freeze {
                account: wallet.account_id(),
                reason: "court order 17".into(),
            }));
            h.one(freeze).unwrap();
            h.from(&wallet, transfer(h.net.bank(0), tenge(1)))
        }),
        (RecipientFrozen, |h| {
            let wallet = funded_wallet(h);
            let freeze = h.from(
                h.bank_key(0),
                Payload::Freeze(Freeze {
                    account: wallet.account_id(),
                    reason: "aml".into(),
                }),
            );
            h.one(freeze).unwrap();
            h.from(h.bank_key(0), transfer(wallet.account_id(), tenge(1)))
        }),
        (AlreadyFrozen, |h| {
            let freeze = h.officers(Payload::Freeze(Freeze {
                account: h.net.bank(1),
                reason: "x".into(),
            }));
            h.one(freeze).unwrap();
            h.officers(Payload::Freeze(Freeze {
                account: h.net.bank(1),
                reason: "x".into(),
            }))
        }),
        (FrozenByCentralBank, |h| {
            let wallet = h.open_wallet(0, 4, "wallet-f");
            let freeze = h.officers(Payload::Freeze(Freeze {
                account: wallet.account_id(),
                reason: "court order".into(),
            }));
            h.one(freeze).unwrap();
            h.from(
                h.bank_key(0),
                Payload::Unfreeze(Unfreeze {
                    account: wallet.account_id(),
                    reason: "x".into(),
                }),
            )
        }),
        (TransactionExpired, |h| {
            h.net.expires_at_ms = TimestampMs(h.time.0 + 500);
            h.officers(Payload::Issue(Issue {
                to: h.net.bank(0),
                amount: tenge(1),
            }))
        }),
        (ExpiryTooFar, |h| {
            let lifetime = PolicyParams::defaults().max_transaction_lifetime_ms;
            h.net.expires_at_ms = TimestampMs(h.time.0 + 2_000 + lifetime);
            h.officers(Payload::Issue(Issue {
                to: h.net.bank(0),
                amount: tenge(1),
            }))
        }),
        (UnknownPayee, |h| {
            h.issue(0, tenge(1_000));
            let to = h.net.bank(1);
            h.from(
                h.bank_key(0),
                Payload::TransferEarmarked(TransferEarmarked {
                    to,
                    amount: tenge(1),
                    terms: terms(vec![AccountId([0xAB; 32])]),
                }),
            )
        }),
        (NotFrozen, |h| {
            h.officers(Payload::Unfreeze(Unfreeze {
                account: h.net.bank(1),
                reason: "x".into(),
            }))
        }),
        (PolicyNotInFuture, |h| {
            let height = h.ledger.head().height.next();
            h.officers(Payload::SetPolicy(SetPolicy {
                effective_height: height,
                params: PolicyParams::defaults(),
            }))
        }),
        (InvalidPolicy, |h| {
            let mut params = PolicyParams::defaults();
            params.epoch_duration_ms = 1;
            h.officers(Payload::SetPolicy(SetPolicy {
                effective_height: Height(100),
                params,
            }))
        }),
        (PolicyHistoryFull, |h| {
            let change = |h: &Harness, sequence| {
                h.net.officers_sign(
                    sequence,
                    Payload::SetPolicy(SetPolicy {
                        effective_height: Height(1_000_000),
                        params: PolicyParams::defaults(),
                    }),
                )
            };
            let full = tenge_types::PolicyState::MAX_HISTORY as u64 - 1;
            let batch: Vec<SignedTransaction> =
                (0..full).map(|sequence| change(h, sequence)).collect();
            assert!(h.block(batch).iter().all(|r| r.is_applied()));
            change(h, full)
        }),
        (InvalidEarmarkTerms, |h| {
            h.officers(Payload::IssueEarmarked(IssueEarmarked {
                to: h.net.bank(0),
                amount: tenge(1),
                terms: terms(vec![]),
            }))
        }),
        (UnknownEarmark, |h| {
            h.from(
                h.bank_key(1),
                Payload::SpendEarmarked(SpendEarmarked {
                    earmark: EarmarkId([1; 32]),
                    to: h.net.bank(0),
                    amount: tenge(1),
                }),
            )
        }),
        (PayeeNotApproved, |h| {
            let earmark = earmark_at_bank_1(h);
            let wallet = h.open_wallet(0, 1, "not-a-payee");
            h.from(
                h.bank_key(1),
                Payload::SpendEarmarked(SpendEarmarked {
                    earmark,
                    to: wallet.account_id(),
                    amount: tenge(1),
                }),
            )
        }),
        (InsufficientEarmarkedFunds, |h| {
            let earmark = earmark_at_bank_1(h);
            h.from(
                h.bank_key(1),
                Payload::SpendEarmarked(SpendEarmarked {
                    earmark,
                    to: h.net.bank(0),
                    amount: tenge(501),
                }),
            )
        }),
        (TooManyEarmarks, |h| {
            h.issue(0, tenge(1_000));
            let payee = vec![h.net.bank(0)];
            let to = h.net.bank(1);
            let sequence = h.sequence(&h.net.bank(0));
            let batch: Vec<SignedTransaction> = (0..tenge_types::Account::MAX_EARMARKS_FROM_OTHERS
                as u64)
                .map(|i| {
                    h.net.sign(
                        h.bank_key(0),
                        sequence + i,
                        Payload::TransferEarmarked(TransferEarmarked {
                            to,
                            amount: tenge(1),
                            terms: terms(payee.clone()),
                        }),
                    )
                })
                .collect();
            assert!(h.block(batch).iter().all(|r| r.is_applied()));
            h.from(
                h.bank_key(0),
                Payload::TransferEarmarked(TransferEarmarked {
                    to,
                    amount: tenge(1),
                    terms: terms(payee),
                }),
            )
        }),
        (MemberKeyInUse, |h| {
            // A validator's key cannot also be an observer's.
            h.officers(Payload::AddObserver(AddObserver {
                key: h.net.validators[0].public_key(),
                name: "bank-1-observer".into(),
            }))
        }),
        (UnknownObserver, |h| {
            h.officers(Payload::RemoveObserver(RemoveObserver {
                key: test_key("never-admitted").public_key(),
            }))
        }),
        (UnknownValidator, |h| {
            h.officers(Payload::RemoveValidator(RemoveValidator {
                name: "validator-9".into(),
            }))
        }),
        (TooFewValidators, |h| {
            // The test network has 4 validators, the fewest a set may have.
            h.officers(Payload::RemoveValidator(RemoveValidator {
                name: "validator-1".into(),
            }))
        }),
        (TooManyValidators, |h| {
            // One change per block: 124 blocks to grow the set from 4 to 128.
            for i in 0..tenge_types::Genesis::MAX_VALIDATORS - 4 {
                let add = add_validator(h, &format!("spare-{i}"));
                h.one(h.officers(add)).unwrap();
            }
            let add = add_validator(h, "one-too-many");
            h.officers(add)
        }),
        (InvalidProofOfPossession, |h| {
            // Signed by another key than the one added: nobody is shown to hold the new key.
            let Payload::AddValidator(mut add) = add_validator(h, "validator-5") else {
                unreachable!()
            };
            add.proof_of_possession = test_key("someone-else").sign(&proof_of_possession_message(
                &h.net.genesis.chain_id,
                &add.validator.consensus_key,
            ));
            h.officers(Payload::AddValidator(add))
        }),
        (ValidatorNameInUse, |h| {
            let Payload::AddValidator(mut add) = add_validator(h, "validator-5") else {
                unreachable!()
            };
            add.validator.name = "validator-2".into();
            h.officers(Payload::AddValidator(add))
        }),
        (TooManyObservers, |h| {
            let mut admitted = 0;
            while admitted < Membership::MAX_OBSERVERS {
                let sequence = h.sequence(&h.net.central_bank());
                let batch: Vec<_> = (0..100.min(Membership::MAX_OBSERVERS - admitted))
                    .map(|i| {
                        h.net.officers_sign(
                            sequence + i as u64,
                            Payload::AddObserver(AddObserver {
                                key: test_key(&format!("observer-{}", admitted + i)).public_key(),
                                name: format!("observer-{}", admitted + i),
                            }),
                        )
                    })
                    .collect();
                admitted += batch.len();
                assert!(h.block(batch).iter().all(|r| r.is_applied()));
            }
            h.officers(Payload::AddObserver(AddObserver {
                key: test_key("one-too-many").public_key(),
                name: "one-too-many".into(),
            }))
        }),
    ]
}

#[test]
fn every_rejection_code_has_a_triggering_input_that_changes_nothing() {
    let mut covered = std::collections::BTreeSet::new();
    for (expected, setup) in cases() {
        let mut h = Harness::new();
        let tx = setup(&mut h);
        let sender = tx.transaction.sender;
        let mut unchanged = h.ledger.state().entries();
        let height = h.ledger.head().height;
        let outcome = h.one(tx);
        let rejection = outcome.expect_err(&format!("{expected} should be rejected"));
        assert_eq!(rejection.code, expected, "{expected}: got {rejection}");
        assert!(!rejection.message.is_empty());
        // A rejection changes nothing, except that a transaction its sender authorised uses up
        // its sequence number (M2).
        if expected.consumes_sequence() {
            for entry in &mut unchanged {
                if let StateValue::Account(account) = &mut entry.value
                    && account.id == sender
                {
                    account.sequence += 1;
                }
            }
        }
        assert_eq!(
            h.ledger.state().entries(),
            unchanged,
            "{expected}: a rejected transaction changed the state"
        );
        assert_eq!(h.ledger.head().height, height.next());
        covered.insert(expected);
    }
    // One change of the validator set per block: the second of a block is refused, and the
    // block leaves the state as the first alone (and the second's used sequence) would.
    let mut h = Harness::new();
    let mut alone = Harness::new();
    let sequence = h.sequence(&h.net.central_bank());
    let first = h
        .net
        .officers_sign(sequence, add_validator(&h, "validator-5"));
    let second = h.net.officers_sign(
        sequence + 1,
        Payload::RotateValidatorKey(RotateValidatorKey {
            name: "validator-1".into(),
            new_key: test_key("validator-1-new").public_key(),
            proof_of_possession: test_key("validator-1-new").sign(&proof_of_possession_message(
                &h.net.genesis.chain_id,
                &test_key("validator-1-new").public_key(),
            )),
        }),
    );
    let receipts = h.block(vec![first.clone(), second]);
    assert!(receipts[0].is_applied(), "{receipts:?}");
    let rejection = receipts[1].outcome.clone().unwrap_err();
    assert_eq!(
        rejection.code,
        RejectionCode::ReconfigurationPending,
        "{rejection}"
    );
    assert!(alone.block(vec![first])[0].is_applied());
    let mut expected = alone.ledger.state().entries();
    for entry in &mut expected {
        if let StateValue::Account(account) = &mut entry.value
            && account.id == h.net.central_bank()
        {
            account.sequence += 1;
        }
    }
    assert_eq!(h.ledger.state().entries(), expected);
    covered.insert(RejectionCode::ReconfigurationPending);
    let all: std::collections::BTreeSet<_> = RejectionCode::ALL.iter().copied().collect();
    let missing: Vec<_> = all.difference(&covered).collect();
    assert!(missing.is_empty(), "codes without a test case: {missing:?}");
}
