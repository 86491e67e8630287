//! Epoch changes through the driver (issue 13, D80): four validators' replicas, each on its own
//! store, exchange their messages in process; officers rotate one validator's consensus key, and
//! the block that executes the rotation ends epoch 0. Checked: every replica starts epoch 1 at
//! that block, the rotated validator signs with its new key, blocks of epoch 1 are certified by
//! the new set and name their epoch, a vote under the old key is refused, the stores agree, the
//! epoch-ending block's stored certificate commits it (through its empty suffix when the round
//! after it failed), and a replica reopened from its store resumes in epoch 1.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tenge_consensus::{Config, Consensus, Input, Outgoing};
use tenge_crypto::Keypair;
use tenge_driver::replica::Identity;
use tenge_driver::{BlockBudget, Epoch, Host, Mempool, Opened, Output, Replica, open, recover};
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_storage::{MemoryStore, Store};
use tenge_types::consensus::{
    ConsensusMessage, StoredCertificates, ValidatorIndex, Vote, commits_through,
};
use tenge_types::transaction::{RotateValidatorKey, proof_of_possession_message};
use tenge_types::{BlockId, Height, Payload, Round, SignedTransaction, TimestampMs};

const BUDGET: BlockBudget = BlockBudget {
    transactions: 100,
    bytes: 1 << 20,
};

/// The clock the cluster shares, and signatures verified one at a time.
struct Clock(TimestampMs);

impl Host for Clock {
    fn now(&mut self) -> TimestampMs {
        self.0
    }

    fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool> {
        tenge_ledger::verify_signatures(transactions, 1)
    }
}

struct Node {
    store: Arc<MemoryStore>,
    replica: Replica<MemoryStore>,
    keys: Vec<Keypair>,
    timer: Option<Round>,
    epochs: Vec<(u64, Option<ValidatorIndex>)>,
    /// The epoch of every vote this node signed.
    votes: Vec<u64>,
}

/// Opens (or reopens) a validator's replica on its store, in the epoch the store is in.
fn start(net: &TestNetwork, store: Arc<MemoryStore>, keys: Vec<Keypair>) -> (Node, Epoch) {
    start_with(net, store, keys, Config::default())
}

/// [`start`] with the operator's consensus configuration.
fn start_with(
    net: &TestNetwork,
    store: Arc<MemoryStore>,
    keys: Vec<Keypair>,
    config: Config,
) -> (Node, Epoch) {
    let Opened {
        genesis_block,
        head,
        ledger,
        epoch,
    } = open(store.as_ref(), &net.genesis).expect("opens");
    let recovery = recover(store.as_ref(), &genesis_block, &head, Round(0)).expect("recovers");
    let set = epoch.set();
    let (me, key) = keys
        .iter()
        .find_map(|key| {
            let index = set.keys.iter().position(|k| *k == key.public_key())?;
            Some((index as ValidatorIndex, key))
        })
        .expect("a member of the epoch");
    let consensus = Consensus::new(
        config.clone(),
        me,
        Keypair::from_secret(key.secret_bytes()),
        set,
        &epoch.start,
        recovery,
    );
    let replica = Replica::new(
        Some((me, consensus)),
        Arc::new(RwLock::new(ledger)),
        store.clone(),
        Mempool::new(100),
    )
    .with_identity(Identity {
        keys: keys
            .iter()
            .map(|k| Keypair::from_secret(k.secret_bytes()))
            .collect(),
        config,
    });
    let node = Node {
        store,
        replica,
        keys,
        timer: None,
        epochs: Vec::new(),
        votes: Vec::new(),
    };
    (node, epoch)
}

struct Cluster {
    net: TestNetwork,
    nodes: Vec<Node>,
    /// (to node, from validator, message); validator i runs on node i throughout (a rotation
    /// keeps indices).
    queue: VecDeque<(usize, ValidatorIndex, ConsensusMessage)>,
    clock: Clock,
    /// Messages the network loses.
    drop: Box<dyn FnMut(&ConsensusMessage) -> bool>,
}

impl Cluster {
    fn new(rotated: &Keypair) -> Cluster {
        Cluster::with_configs(rotated, |_| Config::default())
    }

    /// Validator i started with `config(i)`.
    fn with_configs(rotated: &Keypair, config: impl Fn(usize) -> Config) -> Cluster {
        let net = TestNetwork::new(1, 4);
        let nodes = (0..4)
            .map(|i| {
                let mut keys = vec![Keypair::from_secret(net.validators[i].secret_bytes())];
                if i == 3 {
                    keys.push(Keypair::from_secret(rotated.secret_bytes()));
                }
                start_with(&net, Arc::new(MemoryStore::new()), keys, config(i)).0
            })
            .collect();
        Cluster {
            net,
            nodes,
            queue: VecDeque::new(),
            clock: Clock(TimestampMs(
                tenge_ledger::testkit::TEST_GENESIS_TIME.0 + 1_000,
            )),
            drop: Box::new(|_| false),
        }
    }

    fn input(&mut self, node: usize, input: Input) {
        let mut out = Vec::new();
        self.nodes[node]
            .replica
            .handle(input, &mut self.clock, &mut out)
            .expect("memory store");
        for output in out {
            self.output(node, output);
        }
    }

    fn output(&mut self, node: usize, output: Output) {
        let me = self.nodes[node].replica.me();
        if let Output::Signed {
            outgoing:
                Outgoing::Send {
                    message: ConsensusMessage::Vote(_),
                    ..
                },
            ..
        } = &output
        {
            let epoch = self.nodes[node].replica.consensus().unwrap().epoch();
            self.nodes[node].votes.push(epoch);
        }
        match output {
            Output::Send { to, message } => {
                self.queue
                    .push_back((usize::from(to), me.unwrap(), message))
            }
            Output::Signed { to_self: true, .. } => {}
            Output::Signed { outgoing, .. } => match outgoing {
                Outgoing::Send { to, message } => {
                    self.queue
                        .push_back((usize::from(to), me.unwrap(), message))
                }
                Outgoing::Broadcast { message } => {
                    for to in (0..self.nodes.len()).filter(|to| *to != node) {
                        self.queue.push_back((to, me.unwrap(), message.clone()));
                    }
                }
            },
            Output::Timer { round, .. } => self.nodes[node].timer = Some(round),
            Output::PayloadWanted { round, parent_id } => {
                let now = self.clock.0;
                if let Some(block) = self.nodes[node]
                    .replica
                    .build(now, round, parent_id, BUDGET)
                {
                    self.input(node, Input::PayloadReady { round, block });
                }
            }
            Output::EpochStarted { epoch, me } => {
                self.nodes[node].epochs.push((epoch.number, me));
                self.nodes[node].timer = None;
            }
            Output::Halted(reason) => panic!("node {node} halted: {reason}"),
            _ => {}
        }
    }

    /// Runs until every node's committed height reaches `height`: messages first, round
    /// timers when none is in flight.
    fn run_to(&mut self, height: u64) {
        for _ in 0..200_000 {
            if self
                .nodes
                .iter()
                .all(|n| n.replica.ledger().head().height.0 >= height)
            {
                return;
            }
            self.clock.0.0 += 5;
            match self.queue.pop_front() {
                Some((to, from, message)) => {
                    if !(self.drop)(&message) {
                        self.input(to, Input::Message { from, message });
                    }
                }
                None => {
                    for node in 0..self.nodes.len() {
                        if let Some(round) = self.nodes[node].timer.take() {
                            self.input(node, Input::RoundTimerFired { round });
                        }
                    }
                }
            }
        }
        let states: Vec<String> = self
            .nodes
            .iter()
            .map(|n| {
                format!(
                    "h{} epochs {:?} {}",
                    n.replica.ledger().head().height,
                    n.epochs,
                    n.replica.consensus().map_or("-".into(), |c| c.summary())
                )
            })
            .collect();
        panic!("the cluster did not reach height {height}: {states:#?}");
    }

    fn offer(&mut self, tx: &SignedTransaction) {
        for node in &mut self.nodes {
            let accepted = node
                .replica
                .offer(tx.clone(), tx.hash(), Instant::now())
                .expect("admitted");
            assert!(accepted);
        }
    }

    fn block_ids(&self, node: usize) -> Vec<BlockId> {
        let store = &self.nodes[node].store;
        let head = store.head().unwrap().unwrap().block.header.height.0;
        (0..=head)
            .map(|h| store.block(Height(h)).unwrap().unwrap().id())
            .collect()
    }
}

fn rotation(net: &TestNetwork, new_key: &Keypair) -> SignedTransaction {
    net.officers_sign(
        0,
        Payload::RotateValidatorKey(RotateValidatorKey {
            name: "validator-4".into(),
            new_key: new_key.public_key(),
            proof_of_possession: new_key.sign(&proof_of_possession_message(
                &net.genesis.chain_id,
                &new_key.public_key(),
            )),
        }),
    )
}

/// The block that ended epoch 0 and its stored certificates.
fn epoch_end(store: &MemoryStore) -> (tenge_types::Block, StoredCertificates) {
    let head = store.head().unwrap().unwrap().block.header.height.0;
    (1..=head)
        .find_map(|h| {
            let block = store.block(Height(h)).unwrap().unwrap();
            block.header.ends_epoch().then(|| {
                let certificates =
                    StoredCertificates::from_bytes(&store.certificate(Height(h)).unwrap().unwrap())
                        .unwrap();
                (block, certificates)
            })
        })
        .expect("an epoch ended")
}

/// What must hold after the rotation, whichever way the epoch-ending block was committed.
/// `restarted`: a node reopened in epoch 1, which saw no epoch start.
fn check_rotation(
    cluster: &mut Cluster,
    new_key: &Keypair,
    restarted: Option<usize>,
) -> (tenge_types::Block, StoredCertificates) {
    let ids = cluster.block_ids(0);
    for node in 1..4 {
        let other = cluster.block_ids(node);
        let common = ids.len().min(other.len());
        assert_eq!(ids[..common], other[..common], "node {node} disagrees");
    }
    for (node, state) in cluster.nodes.iter().enumerate() {
        let started = if restarted == Some(node) {
            vec![]
        } else {
            vec![(1, Some(node as ValidatorIndex))]
        };
        assert_eq!(state.epochs, started, "node {node}'s epochs");
        assert_eq!(state.replica.consensus().unwrap().epoch(), 1);
    }
    let (end, certificates) = epoch_end(&cluster.nodes[0].store);
    assert_eq!(end.header.epoch, 0);
    let next = end.header.next_validators.clone().expect("ends epoch 0");
    assert_eq!(next[3].consensus_key, new_key.public_key());
    assert_eq!(end.transactions.len(), 1, "the rotation itself");
    let commit_qc = certificates
        .commit_qc
        .clone()
        .expect("stored with its commit");
    assert!(commits_through(
        &commit_qc,
        &end.header,
        &certificates.commit_suffix
    ));

    // Epoch 1's blocks name it, and their certificates verify against the new set only.
    let epoch = Epoch::started_by(&end).unwrap();
    let mut verifier = epoch.verifier();
    let store = &cluster.nodes[0].store;
    let head = store.head().unwrap().unwrap();
    assert!(head.block.header.height > end.header.height);
    for h in end.header.height.0 + 1..=head.block.header.height.0 {
        let block = store.block(Height(h)).unwrap().unwrap();
        assert_eq!(block.header.epoch, 1, "block at height {h}");
    }
    let head_certificates = StoredCertificates::from_bytes(&head.certificate).unwrap();
    let head_qc = head_certificates.commit_qc.unwrap();
    verifier
        .verify_qc(&head_qc)
        .expect("epoch 1's set certifies");
    assert!(
        Epoch::genesis(
            &cluster.net.genesis,
            &cluster.nodes[0].store.block(Height(0)).unwrap().unwrap()
        )
        .verifier()
        .verify_qc(&head_qc)
        .is_err(),
        "the genesis set does not certify epoch 1"
    );
    (end, certificates)
}

#[test]
fn a_rotated_key_signs_the_next_epoch_and_the_old_key_is_refused() {
    let new_key = test_key("validator-4-rotated");
    let mut cluster = Cluster::new(&new_key);
    for node in 0..4 {
        cluster.input(node, Input::Start);
    }
    let tx = rotation(&cluster.net, &new_key);
    cluster.offer(&tx);
    cluster.run_to(4);
    let end_height = epoch_end(&cluster.nodes[0].store).0.header.height.0;
    cluster.run_to(end_height + 5);
    let (_, certificates) = check_rotation(&mut cluster, &new_key, None);
    assert!(certificates.commit_suffix.is_empty(), "committed directly");

    // Validator 3 signed epoch 1's certificates with the new key.
    let store = cluster.nodes[0].store.clone();
    let head = store.head().unwrap().unwrap();
    let qc = StoredCertificates::from_bytes(&head.certificate)
        .unwrap()
        .commit_qc
        .unwrap();
    // A vote under the old key, in epoch 1's domain, is refused as a bad signature.
    let old_key = &cluster.net.validators[3];
    let data = qc.data.clone();
    let genesis_id = cluster.nodes[0].replica.consensus().unwrap().genesis_id();
    let forged = Vote {
        data: data.clone(),
        author: 3,
        signature: old_key.sign(&data.signing_hash(&genesis_id)),
    };
    let mut out = Vec::new();
    cluster.nodes[0]
        .replica
        .handle(
            Input::Message {
                from: 3,
                message: ConsensusMessage::Vote(forged),
            },
            &mut cluster.clock,
            &mut out,
        )
        .unwrap();
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Invalid { from: 3, .. })),
        "the old key's vote is refused: {out:?}"
    );

    // Reopened from its store, a replica resumes in epoch 1 and the chain goes on with it.
    let keys: Vec<Keypair> = cluster.nodes[3]
        .keys
        .iter()
        .map(|k| Keypair::from_secret(k.secret_bytes()))
        .collect();
    let (restarted, epoch) = start(&cluster.net, cluster.nodes[3].store.clone(), keys);
    assert_eq!(epoch.number, 1);
    assert_eq!(restarted.replica.me(), Some(3));
    cluster.nodes[3] = restarted;
    cluster.input(3, Input::Start);
    let height = cluster.nodes[0].replica.ledger().head().height.0;
    cluster.run_to(height + 3);
    check_rotation(&mut cluster, &new_key, Some(3));

    follow_by_range_sync(&cluster);
}

/// A voting floor set after lost safety data holds for the rounds of the epoch it was set in:
/// rounds start again in every epoch, and the node signed nothing in the next one, whose safety
/// data it wrote fresh (review of D80). Validator 0 starts with a floor no round of epoch 0
/// reaches: the other three carry epoch 0 to its end, and validator 0 votes in epoch 1.
#[test]
fn a_voting_floor_holds_for_the_epoch_it_was_set_in_only() {
    let new_key = test_key("validator-4-rotated");
    let mut cluster = Cluster::with_configs(&new_key, |i| Config {
        voting_floor_round: Round(if i == 0 { 1_000_000 } else { 0 }),
        ..Config::default()
    });
    for node in 0..4 {
        cluster.input(node, Input::Start);
    }
    cluster.offer(&rotation(&cluster.net, &new_key));
    cluster.run_to(4);
    let end_height = epoch_end(&cluster.nodes[0].store).0.header.height.0;
    cluster.run_to(end_height + 5);
    check_rotation(&mut cluster, &new_key, None);
    let votes = &cluster.nodes[0].votes;
    assert!(!votes.contains(&0), "voted under its floor in epoch 0");
    assert!(votes.contains(&1), "no vote in epoch 1: {votes:?}");
    assert!(cluster.nodes[1].votes.contains(&1));
}

/// An observer with an empty store follows the cluster by range sync across the epoch's end:
/// each answer stops at the end, the verifier switches to epoch 1's set there, and the observer
/// ends with every block the validators hold. An end served without its commit certificate is
/// refused.
fn follow_by_range_sync(cluster: &Cluster) {
    use tenge_driver::Followed;
    use tenge_driver::sync::{RangeBuffer, serve};
    use tenge_ledger::SignatureCheck;

    let source = &cluster.nodes[0].store;
    let target = cluster.block_ids(0);
    let end_height = epoch_end(source).0.header.height;

    // A lying server strips the end's commit certificate.
    let store = Arc::new(MemoryStore::new());
    let opened = open(store.as_ref(), &cluster.net.genesis).unwrap();
    let mut observer = Replica::new(
        None,
        Arc::new(RwLock::new(opened.ledger)),
        store.clone(),
        Mempool::new(0),
    );
    let mut verifier = opened.epoch.verifier();
    let mut stripped = serve(source.as_ref(), Height(0), 64).unwrap();
    for item in &mut stripped {
        if item.block.header.ends_epoch() {
            item.certificates.commit_qc = None;
        }
    }
    // Signatures all verified, one thread; following reads no clock.
    let follow = |observer: &mut Replica<MemoryStore>,
                  verifier: &mut tenge_consensus::Verifier,
                  buffer: &mut RangeBuffer,
                  answer| {
        observer
            .follow(
                verifier,
                buffer,
                answer,
                SignatureCheck::All,
                1,
                &mut Clock(TimestampMs(0)),
            )
            .unwrap()
    };
    let refused = follow(
        &mut observer,
        &mut verifier,
        &mut RangeBuffer::new(1 << 20),
        stripped,
    );
    assert!(
        matches!(&refused, Followed::Refused { reason, blame_peer: true } if reason.contains("without its commit certificate")),
        "{refused:?}"
    );
    assert_eq!(
        store.head().unwrap().unwrap().block.header.height,
        Height(0)
    );

    let mut buffer = RangeBuffer::new(1 << 20);
    let mut epochs = Vec::new();
    for _ in 0..100 {
        let head = observer.ledger().head().height;
        if head.0 + 1 >= target.len() as u64 {
            break;
        }
        let answer = serve(source.as_ref(), buffer.after(head), 64).unwrap();
        match follow(&mut observer, &mut verifier, &mut buffer, answer) {
            Followed::Committed {
                executed, started, ..
            } => {
                if let Some(Output::EpochStarted { epoch, me }) = started.map(|s| *s) {
                    assert_eq!(executed.last().unwrap().block.header.height, end_height);
                    epochs.push((epoch.number, me));
                }
            }
            other => panic!("an honest range is followed: {other:?}"),
        }
    }
    assert_eq!(
        epochs,
        vec![(1, None)],
        "epoch 1 started once, as an observer"
    );
    let ids: Vec<BlockId> = (0..target.len() as u64)
        .map(|h| store.block(Height(h)).unwrap().unwrap().id())
        .collect();
    assert_eq!(ids, target, "the observer holds the validators' chain");
    // Reopened, it is in epoch 1.
    assert_eq!(
        open(store.as_ref(), &cluster.net.genesis)
            .unwrap()
            .epoch
            .number,
        1
    );
}

#[test]
fn an_epoch_end_whose_next_round_fails_is_committed_through_its_empty_suffix() {
    let new_key = test_key("validator-4-rotated");
    let mut cluster = Cluster::new(&new_key);
    // Every vote in the round after the epoch-ending block's is lost: its child gets no QC in
    // time, so the block can only be committed through a later, empty block.
    let mut end_round: Option<Round> = None;
    cluster.drop = Box::new(move |message| match message {
        ConsensusMessage::Proposal(proposal) if proposal.block.header.ends_epoch() => {
            end_round.get_or_insert(proposal.block.header.round);
            false
        }
        ConsensusMessage::Vote(vote) => end_round.is_some_and(|r| vote.data.round == r.next()),
        _ => false,
    });
    for node in 0..4 {
        cluster.input(node, Input::Start);
    }
    let tx = rotation(&cluster.net, &new_key);
    cluster.offer(&tx);
    cluster.run_to(4);
    let end_height = epoch_end(&cluster.nodes[0].store).0.header.height.0;
    cluster.run_to(end_height + 4);
    let (end, certificates) = check_rotation(&mut cluster, &new_key, None);
    assert!(
        !certificates.commit_suffix.is_empty(),
        "committed through the suffix"
    );
    for header in &certificates.commit_suffix {
        assert_eq!(header.epoch, 0);
        assert_eq!(header.transaction_count, 0);
    }
    // The suffix's blocks were never stored: epoch 1 starts right above the epoch's end.
    let above = cluster.nodes[0]
        .store
        .block(end.header.height.next())
        .unwrap()
        .unwrap();
    assert_eq!(above.header.parent_id, end.id());
    assert_eq!(above.header.epoch, 1);
}
