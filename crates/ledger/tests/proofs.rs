//! Proof bundles from real ledger state: built by the ledger, checked by `tenge-proof`'s offline
//! verifier. Every tampering the issue lists is refused with its check named; absence is proven
//! only for the height it was proven at; random tamperings of random bundles never verify.

mod common;

use common::{Harness, tenge};
use proptest::prelude::*;
use tenge_crypto::Keypair;
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_ledger::{ExecutedBlock, Ledger, genesis_state};
use tenge_proof::{ChainIdentity, Claim, CommitProof, Facts, ProofBundle, verify};
use tenge_types::consensus::{QuorumCertificate, VoteData};
use tenge_types::transaction::IssueEarmarked;
use tenge_types::{AccountId, EarmarkTerms, Payload, Round, TimestampMs};

/// A child of the head (not committed) and a QC on it by `signers` validators: it commits the head.
fn commit_qc(
    net: &TestNetwork,
    ledger: &Ledger,
    signers: &[usize],
) -> (ExecutedBlock, QuorumCertificate) {
    child_qc(net, ledger, signers, 1)
}

/// A child `round_gap` rounds after the head and a QC on it: with a gap above 1 the QC certifies
/// the child (and that it extends the head) but commits nothing.
fn child_qc(
    net: &TestNetwork,
    ledger: &Ledger,
    signers: &[usize],
    round_gap: u64,
) -> (ExecutedBlock, QuorumCertificate) {
    let head = ledger.head();
    let child = ledger.build_block(
        &[],
        Round(head.round.0 + round_gap),
        TimestampMs(head.timestamp.0 + 1_000),
        vec![],
        &[],
    );
    let genesis_id = genesis_state(&net.genesis).unwrap().1.id();
    let data = VoteData {
        block_id: child.block.id(),
        round: child.block.header.round,
        height: child.block.header.height,
        state_root: child.block.header.state_root,
        parent_id: head.id(),
        parent_round: head.round,
    };
    let message = data.signing_hash(&genesis_id);
    let qc = QuorumCertificate {
        data,
        signatures: signers
            .iter()
            .map(|&i| (i as u16, net.validators[i].sign(&message)))
            .collect(),
    };
    (child, qc)
}

fn chain(net: &TestNetwork) -> ChainIdentity {
    ChainIdentity::new(&net.genesis, genesis_state(&net.genesis).unwrap().1)
}

/// A bundle of `claim` at the harness's head, committed by a QC of validators 0, 1, 2.
fn bundle(h: &Harness, claim: Claim) -> ProofBundle {
    let (_, qc) = commit_qc(&h.net, &h.ledger, &[0, 1, 2]);
    ProofBundle::new(
        chain(&h.net),
        CommitProof {
            headers: vec![h.ledger.head().clone()],
            commit_qc: qc,
        },
        claim,
    )
}

fn check(bundle: &ProofBundle, net: &TestNetwork) -> &'static str {
    verify(bundle, &net.genesis)
        .expect_err("a tampered bundle verified")
        .check()
}

/// Bank 0 has money, a tier-2 wallet got 100.25 tenge.
fn funded() -> (Harness, Keypair) {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000_000));
    let wallet = h.open_wallet(0, 2, "alice");
    let bank = Keypair::from_secret(h.bank_key(0).secret_bytes());
    h.transfer(
        &bank,
        wallet.account_id(),
        tenge_types::Amount::from_tiyn(10_025),
    )
    .unwrap();
    (h, wallet)
}

#[test]
fn account_and_supply_bundles_verify_with_the_proven_fields() {
    let (h, wallet) = funded();
    let proof = bundle(&h, h.ledger.state().account_claim(&wallet.account_id()));
    let verified = verify(
        &ProofBundle::from_bytes(&proof.to_bytes()).unwrap(),
        &h.net.genesis,
    )
    .unwrap();
    assert_eq!(verified.height, h.ledger.head().height.0);
    assert_eq!(verified.signers, 3);
    assert_eq!(verified.state_root, h.ledger.head().state_root.to_hex());
    let Facts::Account(account) = verified.facts else {
        panic!("not an account proof")
    };
    assert_eq!(account.balance_tiyn, 10_025);
    assert_eq!(account.tier, Some(2));
    assert!(!account.frozen);

    let supply = verify(&bundle(&h, h.ledger.state().supply_claim()), &h.net.genesis).unwrap();
    let Facts::Supply(supply) = supply.facts else {
        panic!("not a supply proof")
    };
    let global = h.ledger.state().global();
    assert_eq!(supply.issued_tiyn, global.issued.tiyn());
    assert_eq!(supply.outstanding_tiyn, tenge(1_000_000).tiyn());
    assert_eq!(
        supply.ceiling_tiyn,
        h.net.genesis.policy.supply_ceiling.tiyn()
    );
    assert_eq!(supply.epoch_issued_tiyn, tenge(1_000_000).tiyn());
}

/// Every tampering of the acceptance list, on a real bundle, names its check.
#[test]
fn each_listed_tampering_is_refused_with_its_check() {
    let (mut h, wallet) = funded();
    let before = h.ledger.head().clone();
    let (_, earlier_qc) = commit_qc(&h.net, &h.ledger, &[0, 1, 2, 3]);
    // One more block, so that the head has a neighbour.
    h.block(vec![]);
    let good = bundle(&h, h.ledger.state().account_claim(&wallet.account_id()));
    verify(&good, &h.net.genesis).unwrap();

    let mut t = good.clone();
    let Claim::Account { account, .. } = &mut t.claim else {
        unreachable!()
    };
    account.value.balance = tenge_types::Amount::from_tiyn(10_024);
    assert_eq!(check(&t, &h.net), "root_mismatch", "one tiyn changed");

    let mut t = good.clone();
    let Claim::Account { account, .. } = &mut t.claim else {
        unreachable!()
    };
    account.path[3].0[31] ^= 0x01;
    assert_eq!(check(&t, &h.net), "root_mismatch", "one path hash flipped");

    let mut t = good.clone();
    t.commit.commit_qc.signatures.truncate(2);
    assert_eq!(
        check(&t, &h.net),
        "quorum_short",
        "signatures cut below quorum"
    );

    let mut t = good.clone();
    let copy = t.commit.commit_qc.signatures[1];
    t.commit.commit_qc.signatures[2] = copy;
    assert_eq!(
        check(&t, &h.net),
        "duplicate_signer",
        "one signature duplicated"
    );

    let mut t = good.clone();
    t.commit.commit_qc.signatures[0] = earlier_qc.signatures[0];
    assert_eq!(
        check(&t, &h.net),
        "bad_signature",
        "a signature from another height"
    );

    let mut t = good.clone();
    t.commit.headers[0] = before.clone();
    assert_eq!(
        check(&t, &h.net),
        "header_not_committed",
        "header swapped for its neighbour"
    );

    let other = TestNetwork::new(3, 4);
    assert_eq!(
        check(&good, &other),
        "wrong_chain",
        "the genesis of another devnet"
    );

    let bytes = good.to_bytes();
    assert!(
        ProofBundle::from_bytes(&bytes[..bytes.len() / 2]).is_err(),
        "truncated"
    );
}

/// A block in the middle of a committed chain is proven by the headers up to the committed one.
#[test]
fn a_header_chain_carries_the_commit_back() {
    let (mut h, wallet) = funded();
    let claim = h.ledger.state().account_claim(&wallet.account_id());
    let proven = h.ledger.head().clone();
    h.block(vec![]);
    let next = h.ledger.head().clone();
    let (_, qc) = commit_qc(&h.net, &h.ledger, &[1, 2, 3]);
    let mut proof = ProofBundle::new(
        chain(&h.net),
        CommitProof {
            headers: vec![proven.clone(), next.clone()],
            commit_qc: qc,
        },
        claim,
    );
    let verified = verify(&proof, &h.net.genesis).unwrap();
    assert_eq!(verified.height, proven.height.0);
    assert_eq!(verified.committed_height, next.height.0);
    // Without the link the certificate commits nothing the claim is about.
    proof.commit.headers.remove(1);
    assert_eq!(check(&proof, &h.net), "header_not_committed");
    proof.commit.headers = vec![next.clone(), proven];
    assert_eq!(check(&proof, &h.net), "header_chain_broken");
}

/// A quorum certificate on a child of the header after a failed round (a TC between them) shows
/// that the child extends it, not that it committed (2-chain rule, `VoteData::commits`).
#[test]
fn a_certificate_without_the_2_chain_rule_proves_no_commit() {
    let (h, wallet) = funded();
    let (_, qc) = child_qc(&h.net, &h.ledger, &[0, 1, 2, 3], 2);
    assert_eq!(qc.data.parent_id, h.ledger.head().id());
    let proof = ProofBundle::new(
        chain(&h.net),
        CommitProof {
            headers: vec![h.ledger.head().clone()],
            commit_qc: qc,
        },
        h.ledger.state().account_claim(&wallet.account_id()),
    );
    assert_eq!(check(&proof, &h.net), "header_not_committed");
}

/// Absence holds at the height it was proven at, and only there.
#[test]
fn absence_is_proven_at_its_height_only() {
    let (mut h, _) = funded();
    let newcomer = test_key("not-yet");
    let id = newcomer.account_id();
    let absent = bundle(&h, h.ledger.state().account_claim(&id));
    assert!(matches!(absent.claim, Claim::Absence { .. }));
    let proven = verify(&absent, &h.net.genesis).unwrap();
    let absent_height = proven.height;
    assert_eq!(
        proven.facts,
        Facts::Absence {
            account: id.to_hex()
        }
    );

    // The account is created at a later height.
    let bank = Keypair::from_secret(h.bank_key(0).secret_bytes());
    h.one(h.from(
        &bank,
        Payload::OpenWallet(tenge_types::transaction::OpenWallet {
            key: newcomer.public_key(),
            tier: 3,
        }),
    ))
    .unwrap();
    assert!(h.ledger.head().height.0 > absent_height);
    // The old bundle still says only "absent at the old height".
    let old = verify(&absent, &h.net.genesis).unwrap();
    assert_eq!(old.height, absent_height);
    // Presented against the new head it proves nothing.
    let mut moved = absent.clone();
    let (_, qc) = commit_qc(&h.net, &h.ledger, &[0, 1, 2]);
    moved.commit = CommitProof {
        headers: vec![h.ledger.head().clone()],
        commit_qc: qc,
    };
    assert_eq!(check(&moved, &h.net), "root_mismatch");
    // The new state proves the account, and an absence path for it cannot be made to verify.
    let now = bundle(&h, h.ledger.state().account_claim(&id));
    assert!(matches!(
        verify(&now, &h.net.genesis).unwrap().facts,
        Facts::Account(ref a) if a.tier == Some(3)
    ));
    let mut forged = bundle(&h, h.ledger.state().account_claim(&id));
    if let Claim::Account { root, .. } = forged.claim.clone() {
        forged.claim = Claim::Absence {
            root,
            id,
            path: h.ledger.state().account_index_path(&id),
        };
    }
    assert_eq!(check(&forged, &h.net), "inconsistent_claim");
    // A neighbour's path shown for the new id does not lead to the root either.
    if let Claim::Absence { path, .. } = &mut forged.claim {
        let neighbour = AccountId([0x5a; 32]);
        *path = h.ledger.state().account_index_path(&neighbour);
    }
    assert!(verify(&forged, &h.net.genesis).is_err());
}

#[test]
fn earmark_bundle_shows_allocated_spent_and_remaining() {
    let mut h = Harness::new();
    let bank = h.net.bank(0);
    let payee = h.net.bank(1);
    let issue = h.officers(Payload::IssueEarmarked(IssueEarmarked {
        to: bank,
        amount: tenge(500),
        terms: EarmarkTerms {
            purpose: "school-meals-2027/almaty".into(),
            approved_payees: vec![payee],
        },
    }));
    h.one(issue).unwrap();
    let earmark = h.account(&bank).earmarked[0].earmark;
    let verified = verify(
        &bundle(&h, h.ledger.state().earmark_claim(&earmark).unwrap()),
        &h.net.genesis,
    )
    .unwrap();
    let Facts::Earmark(facts) = verified.facts else {
        panic!("not an earmark proof")
    };
    assert_eq!(facts.purpose, "school-meals-2027/almaty");
    assert_eq!(
        (facts.allocated_tiyn, facts.spent_tiyn, facts.remaining_tiyn),
        (tenge(500).tiyn(), 0, tenge(500).tiyn())
    );
    assert_eq!(facts.approved_payees, vec![payee.to_hex()]);
    assert_eq!(facts.holder, bank.to_hex());
}

fn random_bundle(
    wallets: usize,
    transfers: &[(usize, usize, u64)],
    kind: u8,
    probe: [u8; 32],
) -> (Harness, ProofBundle) {
    let mut h = Harness::new();
    h.issue(0, tenge(1_000_000));
    let keys: Vec<Keypair> = (0..wallets)
        .map(|i| h.open_wallet(0, 1, &format!("w{i}")))
        .collect();
    let bank = Keypair::from_secret(h.bank_key(0).secret_bytes());
    for key in &keys {
        h.transfer(&bank, key.account_id(), tenge(1_000)).unwrap();
    }
    for &(from, to, tiyn) in transfers {
        let (from, to) = (&keys[from % wallets], &keys[to % wallets]);
        let _ = h.transfer(from, to.account_id(), tenge_types::Amount::from_tiyn(tiyn));
    }
    let state = h.ledger.state();
    let claim = match kind % 3 {
        0 => state.account_claim(&keys[probe[0] as usize % wallets].account_id()),
        1 => state.account_claim(&AccountId(probe)),
        _ => state.supply_claim(),
    };
    let proof = bundle(&h, claim);
    (h, proof)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random tamperings (1 to 3 bytes changed anywhere) of random bundles: none verifies, save
    /// an absence bundle re-aimed at another absent id (a true fact).
    #[test]
    fn random_tamperings_of_random_bundles_never_verify(
        wallets in 1usize..6,
        transfers in prop::collection::vec((0usize..6, 0usize..6, 1u64..50_000), 0..6),
        kind in any::<u8>(),
        probe in any::<[u8; 32]>(),
        changes in prop::collection::vec(prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4), 16),
    ) {
        let (h, proof) = random_bundle(wallets, &transfers, kind, probe);
        prop_assert!(verify(&proof, &h.net.genesis).is_ok());
        let original = proof.to_bytes();
        for change in &changes {
            let mut bytes = original.clone();
            for (index, xor) in change {
                let at = index.index(bytes.len());
                bytes[at] ^= xor;
            }
            if bytes == original {
                continue;
            }
            let Ok(tampered) = ProofBundle::from_bytes(&bytes) else {
                continue;
            };
            if verify(&tampered, &h.net.genesis).is_err() {
                continue;
            }
            // The one change that may still verify is no forgery: an absence path proves absence
            // for every id whose walk it is, so the bundle may be re-aimed at another id that
            // truly holds no account (the verifier reports which id it proved).
            let (Claim::Absence { id: original_id, .. }, Claim::Absence { id: other, .. }) =
                (&proof.claim, &tampered.claim)
            else {
                return Err(TestCaseError::fail("a tampered bundle verified"));
            };
            let mut restored = tampered.clone();
            if let Claim::Absence { id, .. } = &mut restored.claim {
                *id = *original_id;
            }
            prop_assert_eq!(&restored, &proof, "a tampered bundle verified");
            prop_assert!(h.ledger.state().account(other).is_none());
        }
    }
}

/// Accounts created by executed but uncommitted ancestors count in a block's account-index root
/// (the pipeline executes up to a few blocks ahead of the commit); a second ledger executing the
/// committed blocks one by one, and a rebuild from the entries, agree on every root.
#[test]
fn accounts_created_in_uncommitted_ancestors_give_the_same_roots() {
    let net = TestNetwork::new(2, 4);
    let mut pipelined = Ledger::from_genesis(&net.genesis).unwrap();
    let mut follower = Ledger::from_genesis(&net.genesis).unwrap();
    let bank = &net.banks[0];
    let open = |sequence: u64, label: &str| {
        net.sign(
            bank,
            sequence,
            Payload::OpenWallet(tenge_types::transaction::OpenWallet {
                key: test_key(label).public_key(),
                tier: 1,
            }),
        )
    };
    let time = |n: u64| TimestampMs(net.genesis.genesis_time.0 + n * 1_000);
    let b1 = pipelined.build_block(
        &[],
        Round(1),
        time(1),
        vec![open(0, "p1"), open(1, "p2")],
        &[true, true],
    );
    let b2 = pipelined.build_block(&[&b1], Round(2), time(2), vec![open(2, "p3")], &[true]);
    let b3 = pipelined.build_block(&[&b1, &b2], Round(3), time(3), vec![], &[]);
    let b4 = pipelined.build_block(
        &[&b1, &b2, &b3],
        Round(4),
        time(4),
        vec![open(3, "p4")],
        &[true],
    );
    let roots: Vec<_> = [&b1, &b2, &b3, &b4]
        .iter()
        .map(|b| b.execution.delta.account_index_root)
        .collect();
    assert_eq!(
        roots[1], roots[2],
        "a block creating no account keeps its parent's index root"
    );
    assert_ne!(roots[0], roots[1]);
    for executed in [&b1, &b2, &b3, &b4] {
        pipelined.commit(executed);
        let valid = vec![true; executed.block.transactions.len()];
        let again = follower
            .execute_block(&[], &executed.block, &valid)
            .unwrap();
        assert_eq!(again.state_root(), executed.execution.state_root());
        assert_eq!(
            again.delta.account_index_root,
            executed.execution.delta.account_index_root
        );
        follower.commit(&ExecutedBlock {
            block: executed.block.clone(),
            execution: again,
        });
    }
    pipelined.audit().unwrap();
    follower.audit().unwrap();
    let rebuilt = tenge_ledger::CommittedState::build(pipelined.state().entries()).unwrap();
    assert_eq!(rebuilt.root(), pipelined.state().root());
    let p4 = test_key("p4").account_id();
    let claim = pipelined.state().account_claim(&p4);
    assert!(matches!(claim, Claim::Account { .. }));
}
