//! Checks of the verifier on bundles built by hand (the ledger's tests build them from real
//! state): each check is named, and no single-byte change of a valid bundle verifies.

use proptest::prelude::*;
use tenge_crypto::Keypair;
use tenge_types::commitment::AccountIndexLeaf;
use tenge_types::consensus::VoteData;
use tenge_types::{
    Authentication, Domain, GenesisValidator, MultisigPolicy, PolicyParams, Round, TimestampMs,
};

use super::*;

fn keys(seed: u8) -> Vec<Keypair> {
    (0..4u8)
        .map(|i| Keypair::from_secret([seed.wrapping_add(i); 32]))
        .collect()
}

fn make_genesis(name: &str, validators: &[Keypair]) -> Genesis {
    Genesis {
        chain_id: ChainId::new(name).unwrap(),
        genesis_time: TimestampMs(1_000_000),
        officers: MultisigPolicy::new(1, vec![Keypair::from_secret([90; 32]).public_key()])
            .unwrap(),
        policy: PolicyParams::defaults(),
        banks: vec![],
        validators: validators
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("v{i}"),
                consensus_key: k.public_key(),
                address: "/ip4/127.0.0.1/tcp/1".into(),
            })
            .collect(),
    }
}

fn header(
    chain: &ChainId,
    height: u64,
    round: u64,
    parent: HashValue,
    root: HashValue,
) -> BlockHeader {
    BlockHeader {
        chain_id: chain.clone(),
        height: Height(height),
        round: Round(round),
        parent_id: parent,
        timestamp: TimestampMs(1_000_000 + height * 1_000),
        transaction_count: 0,
        transactions_root: HashValue::ZERO,
        receipts_root: HashValue::ZERO,
        state_root: root,
        epoch: 0,
        next_validators: None,
        above_epoch_end: false,
    }
}

fn sign(data: VoteData, signers: &[(u16, &Keypair)], genesis_id: &HashValue) -> QuorumCertificate {
    let message = data.signing_hash(genesis_id);
    QuorumCertificate {
        data,
        signatures: signers
            .iter()
            .map(|(index, key)| (*index, key.sign(&message)))
            .collect(),
    }
}

/// A valid account bundle over a fabricated slot path, and its genesis and validator keys.
fn account_bundle() -> (ProofBundle, Genesis, Vec<Keypair>) {
    let validators = keys(1);
    let genesis = make_genesis("tenge-proof-test", &validators);
    let chain = genesis.chain_id.clone();
    let genesis_header = header(&chain, 0, 0, genesis.hash(), HashValue([5; 32]));
    let mut account = Account::new(
        Authentication::Key(Keypair::from_secret([40; 32]).public_key()),
        Role::Wallet {
            bank: AccountId([6; 32]),
            tier: 2,
        },
        Height(3),
    );
    account.balance = Amount::from_tiyn(10_025);
    account.sequence = 4;
    let path: Vec<HashValue> = (0..32u8).map(|i| Domain::StateNode.hash(&[i])).collect();
    let slot = 5;
    let slot_tree_root = slot_tree_root_from_path(
        slot,
        &state_leaf_hash(&StateValue::Account(account.clone())),
        &path,
    )
    .unwrap();
    let root = StateRootParts {
        slot_tree_root,
        next_slot: 9,
        account_index_root: AccountIndexLeaf {
            id: account.id,
            slot,
        }
        .hash(),
    };
    let proven = header(
        &chain,
        7,
        9,
        HashValue([8; 32]),
        state_root(
            &root.slot_tree_root,
            root.next_slot,
            &root.account_index_root,
        ),
    );
    let child = header(&chain, 8, 10, proven.id(), HashValue([9; 32]));
    let qc = sign(
        VoteData {
            block_id: child.id(),
            round: child.round,
            height: child.height,
            state_root: child.state_root,
            parent_id: proven.id(),
            parent_round: proven.round,
        },
        &[
            (0, &validators[0]),
            (1, &validators[1]),
            (3, &validators[3]),
        ],
        &genesis_header.id(),
    );
    let bundle = ProofBundle::new(
        ChainIdentity::new(&genesis, genesis_header),
        CommitProof {
            headers: vec![proven],
            commit_qc: qc,
        },
        Claim::Account {
            root,
            account: EntryProof {
                slot,
                value: account,
                path,
            },
        },
    );
    (bundle, genesis, validators)
}

fn failed_check(bundle: &ProofBundle, genesis: &Genesis) -> &'static str {
    verify(bundle, genesis)
        .expect_err("tampered bundle verified")
        .check()
}

#[test]
fn a_valid_bundle_verifies_and_reports_its_facts() {
    let (bundle, genesis, _) = account_bundle();
    let verified = verify(&bundle, &genesis).unwrap();
    assert_eq!((verified.height, verified.signers), (7, 3));
    let Facts::Account(facts) = &verified.facts else {
        panic!("not an account")
    };
    assert_eq!(
        (facts.balance_tiyn, facts.tier, facts.sequence),
        (10_025, Some(2), 4)
    );
    let json = serde_json::to_value(&verified).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["kind"], "account");
    assert_eq!(json["balance_tiyn"], 10_025);
    assert_eq!(json["signers"], 3);
    let back: Verified = serde_json::from_value(json).unwrap();
    assert_eq!(back, verified);
    let bytes = bundle.to_bytes();
    assert_eq!(ProofBundle::from_bytes(&bytes).unwrap(), bundle);
}

#[test]
fn each_tampering_names_its_check() {
    let (bundle, genesis, validators) = account_bundle();
    let genesis_id = bundle.chain.genesis_header.id();

    let mut t = bundle.clone();
    let Claim::Account { account, .. } = &mut t.claim else {
        unreachable!()
    };
    account.value.balance = Amount::from_tiyn(10_026);
    assert_eq!(failed_check(&t, &genesis), "root_mismatch");

    let mut t = bundle.clone();
    let Claim::Account { account, .. } = &mut t.claim else {
        unreachable!()
    };
    account.path[7].0[0] ^= 1;
    assert_eq!(failed_check(&t, &genesis), "root_mismatch");

    let mut t = bundle.clone();
    t.commit.commit_qc.signatures.pop();
    assert_eq!(failed_check(&t, &genesis), "quorum_short");

    let mut t = bundle.clone();
    let first = t.commit.commit_qc.signatures[0];
    t.commit.commit_qc.signatures.insert(1, first);
    assert_eq!(failed_check(&t, &genesis), "duplicate_signer");

    let mut t = bundle.clone();
    t.commit.commit_qc.signatures.swap(0, 1);
    assert_eq!(failed_check(&t, &genesis), "unsorted_signers");

    let mut t = bundle.clone();
    t.commit.commit_qc.signatures[2].0 = 9;
    assert_eq!(failed_check(&t, &genesis), "unknown_signer");

    // A signature by the right validator over another height's vote data.
    let mut t = bundle.clone();
    let mut other = t.commit.commit_qc.data.clone();
    other.height = Height(other.height.0 + 1);
    t.commit.commit_qc.signatures[1].1 = validators[1].sign(&other.signing_hash(&genesis_id));
    assert_eq!(failed_check(&t, &genesis), "bad_signature");

    let mut t = bundle.clone();
    t.commit.headers[0].round = Round(8);
    assert_eq!(failed_check(&t, &genesis), "header_not_committed");

    let mut t = bundle.clone();
    t.commit.headers.clear();
    assert_eq!(failed_check(&t, &genesis), "header_chain_broken");

    let other_genesis = make_genesis("tenge-other", &validators);
    assert_eq!(failed_check(&bundle, &other_genesis), "wrong_chain");

    let mut t = bundle.clone();
    t.chain.genesis_header.state_root.0[0] ^= 1;
    assert_eq!(failed_check(&t, &genesis), "bad_signature");

    let mut t = bundle.clone();
    t.chain.genesis_header.height = Height(1);
    assert_eq!(failed_check(&t, &genesis), "wrong_genesis_header");

    let mut t = bundle.clone();
    t.chain.validator_set.epoch = 1;
    assert_eq!(failed_check(&t, &genesis), "validator_set_mismatch");

    let mut t = bundle.clone();
    t.version = FORMAT_VERSION + 1;
    assert_eq!(failed_check(&t, &genesis), "unsupported_version");

    // The same keys under another genesis (a re-genesis) give signatures that do not verify.
    let mut regenesis = genesis.clone();
    regenesis.genesis_time = TimestampMs(2_000_000);
    let mut t = bundle.clone();
    t.chain = ChainIdentity::new(
        &regenesis,
        header(
            &regenesis.chain_id,
            0,
            0,
            regenesis.hash(),
            HashValue([5; 32]),
        ),
    );
    assert_eq!(failed_check(&t, &regenesis), "bad_signature");
}

#[test]
fn truncated_and_padded_files_do_not_decode() {
    let (bundle, _, _) = account_bundle();
    let bytes = bundle.to_bytes();
    assert!(ProofBundle::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(ProofBundle::from_bytes(&bytes[..10]).is_err());
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(ProofBundle::from_bytes(&padded).is_err());
    assert!(ProofBundle::from_bytes(&[]).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// No change of one byte, or of a few, turns a valid bundle into another valid one.
    #[test]
    fn no_byte_tampering_verifies(changes in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4)) {
        let (bundle, genesis, _) = account_bundle();
        let mut bytes = bundle.to_bytes();
        for (index, xor) in &changes {
            let at = index.index(bytes.len());
            bytes[at] ^= xor;
        }
        if bytes == bundle.to_bytes() {
            return Ok(()); // the changes cancelled out
        }
        if let Ok(tampered) = ProofBundle::from_bytes(&bytes) {
            prop_assert_ne!(&tampered, &bundle);
            prop_assert!(verify(&tampered, &genesis).is_err());
        }
    }
}

/// A chain of `n` headers after a genesis block of `genesis` (rounds = heights), each block's
/// QC from the signers given: `chain(from, to)` serves headers `from..=to` with the QC on the
/// block after `to`, which commits `to`.
struct TestChain {
    headers: Vec<BlockHeader>,
    genesis_id: HashValue,
}

impl TestChain {
    fn new(genesis: &Genesis, n: u64) -> TestChain {
        let chain = &genesis.chain_id;
        let mut headers = vec![header(chain, 0, 0, genesis.hash(), HashValue([5; 32]))];
        for height in 1..=n + 1 {
            let parent = headers.last().unwrap().id();
            headers.push(header(
                chain,
                height,
                height,
                parent,
                HashValue([height as u8; 32]),
            ));
        }
        TestChain {
            genesis_id: headers[0].id(),
            headers,
        }
    }

    fn serve(&self, from: u64, to: u64, signers: &[(u16, &Keypair)]) -> CommitProof {
        let child = &self.headers[to as usize + 1];
        let last = &self.headers[to as usize];
        CommitProof {
            headers: self.headers[from as usize..=to as usize].to_vec(),
            commit_qc: sign(
                VoteData {
                    block_id: child.id(),
                    round: child.round,
                    height: child.height,
                    state_root: child.state_root,
                    parent_id: last.id(),
                    parent_round: last.round,
                },
                signers,
                &self.genesis_id,
            ),
        }
    }
}

fn quorum(keys: &[Keypair]) -> Vec<(u16, &Keypair)> {
    vec![(0, &keys[0]), (2, &keys[2]), (3, &keys[3])]
}

#[test]
fn a_light_client_follows_certified_headers_from_genesis_and_a_checkpoint() {
    let validators = keys(1);
    let genesis = make_genesis("tenge-follow-test", &validators);
    let chain = TestChain::new(&genesis, 20);
    let mut client =
        LightClient::start(&genesis, &chain.serve(0, 3, &quorum(&validators))).unwrap();
    assert_eq!(client.head(), &chain.headers[3]);
    client
        .extend(&chain.serve(4, 4, &quorum(&validators)))
        .unwrap();
    client
        .extend(&chain.serve(5, 12, &quorum(&validators)))
        .unwrap();
    assert_eq!(client.head(), &chain.headers[12]);
    assert_eq!(client.verified(), (4 + 1 + 8, 3));
    assert_eq!(
        (client.epoch(), client.genesis_id()),
        (0, &chain.genesis_id)
    );

    // From a checkpoint: what lies between is never asked for.
    let mut client =
        LightClient::start(&genesis, &chain.serve(0, 1, &quorum(&validators))).unwrap();
    let checkpoint = chain.headers[15].id();
    client
        .jump(
            Height(15),
            &checkpoint,
            &chain.serve(15, 17, &quorum(&validators)),
        )
        .unwrap();
    assert_eq!(client.head(), &chain.headers[17]);
    let mut client =
        LightClient::start(&genesis, &chain.serve(0, 1, &quorum(&validators))).unwrap();
    let outsider = Keypair::from_secret([200; 32]);
    let refusals = [
        // Another block named at the height.
        (
            15,
            chain.headers[14].id(),
            chain.serve(15, 18, &quorum(&validators)),
            "checkpoint_mismatch",
        ),
        // The right block, with a forged certificate.
        (
            15,
            checkpoint,
            chain.serve(
                15,
                18,
                &[(0, &validators[0]), (1, &outsider), (3, &validators[3])],
            ),
            "bad_signature",
        ),
        // At or below the head: what lies below it is certified already.
        (
            1,
            chain.headers[1].id(),
            chain.serve(1, 3, &quorum(&validators)),
            "checkpoint_not_above_head",
        ),
    ];
    for (height, block, served, check) in refusals {
        let error = client.jump(Height(height), &block, &served).unwrap_err();
        assert_eq!(error.check(), check, "{error}");
        assert_eq!(
            client.head(),
            &chain.headers[1],
            "a refused jump moved the head"
        );
    }
}

#[test]
fn a_light_client_refuses_what_a_lying_node_serves_and_keeps_its_head() {
    let validators = keys(1);
    let genesis = make_genesis("tenge-follow-test", &validators);
    let chain = TestChain::new(&genesis, 20);
    let good = quorum(&validators);
    let start = chain.serve(0, 2, &good);

    // Another chain's genesis, or a genesis header with a changed field.
    let other = make_genesis("tenge-other-chain", &validators);
    let refused = LightClient::start(&other, &start).unwrap_err();
    assert_eq!(refused.check(), "wrong_genesis_header");
    let mut forged = start.clone();
    forged.headers[0].state_root = HashValue([77; 32]);
    forged.headers[1].parent_id = forged.headers[0].id();
    assert_eq!(
        LightClient::start(&genesis, &forged).unwrap_err().check(),
        "bad_signature"
    );

    let mut client = LightClient::start(&genesis, &start).unwrap();
    let head = client.head().clone();
    let outsider = Keypair::from_secret([200; 32]);
    let cases: Vec<(&str, CommitProof)> = vec![
        // A gap: the chain does not start at the head's child.
        ("does_not_extend_head", chain.serve(4, 6, &good)),
        // Too few signers, a signature by a key outside the set, a duplicate signer.
        ("quorum_short", chain.serve(3, 5, &good[..2])),
        (
            "bad_signature",
            chain.serve(
                3,
                5,
                &[(0, &validators[0]), (1, &outsider), (3, &validators[3])],
            ),
        ),
        (
            "duplicate_signer",
            chain.serve(
                3,
                5,
                &[
                    (0, &validators[0]),
                    (0, &validators[0]),
                    (3, &validators[3]),
                ],
            ),
        ),
        (
            "unsorted_signers",
            chain.serve(
                3,
                5,
                &[
                    (2, &validators[2]),
                    (0, &validators[0]),
                    (3, &validators[3]),
                ],
            ),
        ),
        (
            "unknown_signer",
            chain.serve(
                3,
                5,
                &[(0, &validators[0]), (2, &validators[2]), (9, &outsider)],
            ),
        ),
        ("header_chain_broken", {
            let mut chain = chain.serve(3, 5, &good);
            chain.headers.remove(1);
            chain
        }),
        ("header_not_committed", {
            // A certificate that commits block 6, served with headers up to 5.
            let mut served = chain.serve(3, 5, &good);
            served.commit_qc = chain.serve(6, 6, &good).commit_qc;
            served
        }),
        ("header_chain_broken", {
            let mut chain = chain.serve(3, 5, &good);
            chain.headers[2].chain_id = ChainId::new("tenge-other-chain").unwrap();
            chain
        }),
        (
            "header_chain_broken",
            CommitProof {
                headers: vec![],
                commit_qc: chain.serve(3, 3, &good).commit_qc,
            },
        ),
    ];
    for (check, served) in cases {
        let error = client.extend(&served).unwrap_err();
        assert_eq!(error.check(), check, "{error}");
        assert_eq!(
            client.head(),
            &head,
            "a refused chain moved the head ({check})"
        );
    }
    assert_eq!(client.verified().1, 1);
    client.extend(&chain.serve(3, 5, &good)).unwrap();
    assert_eq!(client.head(), &chain.headers[5]);
}

#[test]
fn header_chains_round_trip_and_oversized_ones_do_not_decode() {
    let validators = keys(1);
    let genesis = make_genesis("tenge-follow-test", &validators);
    let chain = TestChain::new(&genesis, 3);
    let served = chain.serve(0, 3, &quorum(&validators));
    let bytes = served.to_bytes();
    assert_eq!(CommitProof::from_bytes(&bytes).unwrap(), served);
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(CommitProof::from_bytes(&padded).is_err());
    // A well-formed chain over the size limit is refused for its size, before decoding.
    let mut long = served.clone();
    while long.to_bytes().len() <= MAX_HEADER_CHAIN_BYTES {
        long.headers
            .extend(served.headers.iter().cycle().take(1_000).cloned());
    }
    let error = CommitProof::from_bytes(&long.to_bytes()).unwrap_err();
    assert!(matches!(error, DecodeError::TooLarge { .. }), "{error}");
}

/// A certificate on `child` whose vote data commits `parent` when their rounds follow.
fn commit_qc(
    parent: &BlockHeader,
    child: &BlockHeader,
    signers: &[(u16, &Keypair)],
    start: &HashValue,
) -> QuorumCertificate {
    sign(
        VoteData {
            block_id: child.id(),
            round: child.round,
            height: child.height,
            state_root: child.state_root,
            parent_id: parent.id(),
            parent_round: parent.round,
        },
        signers,
        start,
    )
}

/// Epoch 0 of `genesis` ends at height 2 (block `end`, naming the set of `next`), committed
/// through one empty block of epoch 0 after it (the round after the end failed); epoch 1 goes
/// on from `end`.
struct EpochChain {
    genesis_header: BlockHeader,
    /// Heights 1, 2 (the end) and 3 (the suffix block), and the certificate of epoch 0's set.
    epoch0: CommitProof,
    end: BlockHeader,
    /// Heights 3 and 4 of epoch 1, certified by the next set.
    epoch1: CommitProof,
}

fn epoch_chain(genesis: &Genesis, next: &[Keypair]) -> EpochChain {
    let old = keys(1);
    let chain = &genesis.chain_id;
    let genesis_header = header(chain, 0, 0, genesis.hash(), HashValue([5; 32]));
    let first = header(chain, 1, 1, genesis_header.id(), HashValue([1; 32]));
    let mut end = header(chain, 2, 2, first.id(), HashValue([2; 32]));
    end.next_validators = Some(
        next.iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("w{i}"),
                consensus_key: k.public_key(),
                address: "/ip4/127.0.0.1/tcp/2".into(),
            })
            .collect(),
    );
    // Round 3 failed: the suffix block is of round 4, and the block after it of round 5.
    let suffix = suffix_header(chain, 3, 4, end.id(), HashValue([2; 32]));
    let above_suffix = suffix_header(chain, 4, 5, suffix.id(), HashValue([2; 32]));
    let epoch0 = CommitProof {
        headers: vec![first, end.clone(), suffix.clone()],
        commit_qc: commit_qc(&suffix, &above_suffix, &quorum(&old), &genesis_header.id()),
    };
    let mut e1 = header(chain, 3, 1, end.id(), HashValue([3; 32]));
    e1.epoch = 1;
    let mut e2 = header(chain, 4, 2, e1.id(), HashValue([4; 32]));
    e2.epoch = 1;
    let mut e3 = header(chain, 5, 3, e2.id(), HashValue([4; 32]));
    e3.epoch = 1;
    let epoch1 = CommitProof {
        headers: vec![e1, e2.clone()],
        commit_qc: commit_qc(&e2, &e3, &quorum(next), &end.id()),
    };
    EpochChain {
        genesis_header,
        epoch0,
        end,
        epoch1,
    }
}

#[test]
fn a_light_client_moves_to_the_next_set_at_an_epoch_end_and_refuses_the_old_one_after_it() {
    let genesis = make_genesis("tenge-epoch-test", &keys(1));
    let next = keys(50);
    let chain = epoch_chain(&genesis, &next);
    let mut start = chain.epoch0.clone();
    start.headers.insert(0, chain.genesis_header.clone());

    let mut client = LightClient::start(&genesis, &start).unwrap();
    assert_eq!(client.head(), &chain.end, "the head stops at the epoch end");
    assert_eq!(client.epoch(), 1);
    assert_eq!(
        client.validators(),
        &ValidatorSet::new(next.iter().map(Keypair::public_key).collect())
    );
    assert_eq!(client.members()[0].name, "w0");
    let after_end = client.clone();
    client.extend(&chain.epoch1).unwrap();
    assert_eq!(client.head(), chain.epoch1.headers.last().unwrap());

    // Epoch 1's chain signed by the old set (bound to either start) is refused.
    for start_id in [chain.genesis_header.id(), chain.end.id()] {
        let mut forged = chain.epoch1.clone();
        let e2 = forged.headers[1].clone();
        let mut e3 = header(&genesis.chain_id, 5, 3, e2.id(), HashValue([4; 32]));
        e3.epoch = 1;
        forged.commit_qc = commit_qc(&e2, &e3, &quorum(&keys(1)), &start_id);
        let mut refused = after_end.clone();
        let error = refused.extend(&forged).unwrap_err();
        assert_eq!(error.check(), "bad_signature", "{error}");
        assert_eq!(refused.head(), &chain.end);
    }

    // The old set cannot certify past its end: a block after the end that is not an empty
    // block of the ending epoch is not a suffix, so the certificate commits nothing.
    let mut past = start.clone();
    let loaded = past.headers.last_mut().unwrap();
    loaded.transaction_count = 1;
    let loaded = loaded.clone();
    let above = header(&genesis.chain_id, 4, 5, loaded.id(), HashValue([2; 32]));
    past.commit_qc = commit_qc(
        &loaded,
        &above,
        &quorum(&keys(1)),
        &chain.genesis_header.id(),
    );
    assert_eq!(
        LightClient::start(&genesis, &past).unwrap_err().check(),
        "header_not_committed"
    );
    // A header labelled with another epoch than its certificate's set is refused.
    let mut mislabelled = start.clone();
    mislabelled.headers[1].epoch = 1;
    for i in 2..mislabelled.headers.len() {
        mislabelled.headers[i].parent_id = mislabelled.headers[i - 1].id();
    }
    let last = mislabelled.headers.last().unwrap().clone();
    let above = header(&genesis.chain_id, 4, 5, last.id(), HashValue([2; 32]));
    mislabelled.commit_qc = commit_qc(&last, &above, &quorum(&keys(1)), &chain.genesis_header.id());
    assert_eq!(
        LightClient::start(&genesis, &mislabelled)
            .unwrap_err()
            .check(),
        "epoch_change"
    );
}

#[test]
fn a_bundle_after_an_epoch_change_verifies_from_the_genesis_and_not_with_the_change_cut_out() {
    let (template, _, _) = account_bundle();
    let genesis = make_genesis("tenge-proof-test", &keys(1));
    let next = keys(50);
    let chain = epoch_chain(&genesis, &next);
    // The account claim, proven against a block of epoch 1.
    let mut proven = header(
        &genesis.chain_id,
        3,
        1,
        chain.end.id(),
        template.commit.headers[0].state_root,
    );
    proven.epoch = 1;
    let mut child = header(&genesis.chain_id, 4, 2, proven.id(), HashValue([9; 32]));
    child.epoch = 1;
    let commit = CommitProof {
        headers: vec![proven.clone()],
        commit_qc: commit_qc(&proven, &child, &quorum(&next), &chain.end.id()),
    };
    let end = CommitProof {
        headers: chain.epoch0.headers[1..].to_vec(),
        commit_qc: chain.epoch0.commit_qc.clone(),
    };
    let bundle = ProofBundle::new(
        ChainIdentity::in_epoch(&genesis, chain.genesis_header.clone(), vec![end.clone()]),
        commit.clone(),
        template.claim.clone(),
    );
    let verified = verify(&bundle, &genesis).expect("verifies through the epoch change");
    assert_eq!(verified.validator_set_epoch, 1);
    assert_eq!(verified.height, 3);

    // With the change cut out, the certificate is the next set's: the genesis set refuses it.
    let cut = ProofBundle::new(
        ChainIdentity::new(&genesis, chain.genesis_header.clone()),
        commit.clone(),
        template.claim.clone(),
    );
    assert!(verify(&cut, &genesis).is_err());
    // Claiming the next set without the change that names it: a set mismatch.
    let mut claimed = cut.clone();
    claimed.chain.validator_set = bundle.chain.validator_set.clone();
    claimed.chain.validator_set.derivation = ValidatorSetDerivation::Genesis;
    assert_eq!(
        verify(&claimed, &genesis).unwrap_err().check(),
        "validator_set_mismatch"
    );
    // A "change" whose first header ends no epoch.
    let mut not_an_end = bundle.clone();
    not_an_end.chain.validator_set.derivation =
        ValidatorSetDerivation::EpochChanges(vec![CommitProof {
            headers: chain.epoch0.headers.clone(),
            commit_qc: chain.epoch0.commit_qc.clone(),
        }]);
    assert_eq!(
        verify(&not_an_end, &genesis).unwrap_err().check(),
        "epoch_change"
    );
}

/// A header of an empty block above an epoch's end, of the ending epoch (its suffix, D80).
fn suffix_header(
    chain: &ChainId,
    height: u64,
    round: u64,
    parent: HashValue,
    root: HashValue,
) -> BlockHeader {
    BlockHeader {
        above_epoch_end: true,
        ..header(chain, height, round, parent, root)
    }
}

/// The blocks above an epoch's end are certified, and when two of them have consecutive rounds
/// the 2-chain rule commits the lower one. Yet they are never committed: the next epoch goes on
/// from the end (D80). A bundle that presents one as proven is refused; one that proves the end
/// through them names the end's height as committed (review of D80, D83).
#[test]
fn a_block_above_an_epoch_end_is_never_proven_committed() {
    let (template, _, _) = account_bundle();
    let old = keys(1);
    let genesis = make_genesis("tenge-proof-test", &old);
    let chain = &genesis.chain_id;
    let root = template.commit.headers[0].state_root;
    let genesis_header = header(chain, 0, 0, genesis.hash(), HashValue([5; 32]));
    let mut end = header(chain, 1, 1, genesis_header.id(), root);
    end.next_validators = Some(genesis.validators.clone());
    // Round 2 failed: the suffix blocks are of rounds 3 and 4, and the certificate of round 4
    // commits the end through the first.
    let s1 = suffix_header(chain, 2, 3, end.id(), root);
    let s2 = suffix_header(chain, 3, 4, s1.id(), root);
    let qc = commit_qc(&s1, &s2, &quorum(&old), &genesis_header.id());
    let identity = ChainIdentity::new(&genesis, genesis_header.clone());
    let honest = ProofBundle::new(
        identity.clone(),
        CommitProof {
            headers: vec![end.clone(), s1.clone()],
            commit_qc: qc.clone(),
        },
        template.claim.clone(),
    );
    let verified = verify(&honest, &genesis).expect("the end is proven through its suffix");
    assert_eq!((verified.height, verified.committed_height), (1, 1));

    let forged = ProofBundle::new(
        identity,
        CommitProof {
            headers: vec![s1.clone()],
            commit_qc: qc.clone(),
        },
        template.claim.clone(),
    );
    assert_eq!(
        verify(&forged, &genesis).unwrap_err().check(),
        "header_not_committed"
    );
    // Nor can a light client take one as a checkpoint.
    let mut client = LightClient::start(
        &genesis,
        &CommitProof {
            headers: vec![genesis_header.clone()],
            commit_qc: commit_qc(&genesis_header, &end, &quorum(&old), &genesis_header.id()),
        },
    )
    .unwrap();
    let jumped = client.jump(
        s1.height,
        &s1.id(),
        &CommitProof {
            headers: vec![s1.clone()],
            commit_qc: qc,
        },
    );
    assert_eq!(jumped.unwrap_err().check(), "header_not_committed");
    assert_eq!(client.head(), &genesis_header);
}
