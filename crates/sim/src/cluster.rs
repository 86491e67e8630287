//! The simulated cluster: event loop, network faults, crashes, the client, and the verdict.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use tenge_consensus::{Config, Input, Verifier};
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_types::consensus::{ConsensusMessage, QuorumCertificate, ValidatorIndex, ValidatorSet};
use tenge_types::policy::PolicyParams;
use tenge_types::state::EarmarkTerms;
use tenge_types::transaction::{
    Freeze, Issue, IssueEarmarked, OpenWallet, Redeem, SetPolicy, Transfer, TransferEarmarked,
    Unfreeze,
};
use tenge_types::{Amount, Block, Domain, HashValue, Payload, Round, SignedTransaction, encode};

use crate::checker::Checker;
use crate::node::{Action, Node, Target};
use crate::observer::{Observer, ObserverAction};
use crate::rng::Rng;

/// What a validator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behavior {
    Honest,
    /// Sends nothing.
    Silent,
    /// Sends random, corrupted and oversized bytes half the time.
    Garbage,
    /// As leader, sends different valid blocks to different validators.
    Equivocator,
    /// Signs a second, conflicting vote for every vote.
    DoubleVoter,
    /// One of two nodes sharing a validator key, each otherwise honest.
    Twin,
    /// As leader, puts a copy of a pending transaction with a forged signature before the real
    /// one in its blocks (the Byzantine harness's bad-signature proposals): every honest node
    /// must reject the copy alike and still apply the real one (review H1, M5). In half its
    /// blocks it executes the copy as if its signature verified: honest nodes must not vote
    /// for a block that applies what its sender never signed.
    BadSignatures,
    /// Honest in consensus; answers range-sync requests with lies (garbage, forged or missing
    /// commit certificates, altered blocks and transactions, shifted parent certificates, ranges
    /// off the requester's head), as the Byzantine harness's `lying-sync` does.
    LyingSync,
    /// Withholds its own proposals and relays every proposal, vote and timeout it receives with
    /// forged certificates attached (a parent QC, TC, high QC or signature spoiled), under its
    /// own name, as the Byzantine harness's `forged-certificates` does (review H4).
    ForgedCertificates,
    /// For each round it leads, several distinct valid blocks, each validator getting a
    /// different one first, then proposals for later rounds signed with its key, as the
    /// Byzantine harness's `equivocating-proposals` does (review H5).
    ProposalFlood,
}

impl Behavior {
    pub fn is_byzantine(self) -> bool {
        self != Behavior::Honest
    }

    /// The behaviours `--byzantine-behaviours` chooses from, by name (twins have `--twins`).
    pub const SELECTABLE: [(&'static str, Behavior); 8] = [
        ("silent", Behavior::Silent),
        ("garbage", Behavior::Garbage),
        ("equivocator", Behavior::Equivocator),
        ("double-voter", Behavior::DoubleVoter),
        ("bad-signatures", Behavior::BadSignatures),
        ("lying-sync", Behavior::LyingSync),
        ("forged-certificates", Behavior::ForgedCertificates),
        ("proposal-flood", Behavior::ProposalFlood),
    ];

    /// `all`, or a comma-separated list of [`Behavior::SELECTABLE`] names.
    pub fn parse_list(text: &str) -> Result<Vec<Behavior>, String> {
        if text == "all" {
            return Ok(Behavior::SELECTABLE.iter().map(|(_, b)| *b).collect());
        }
        let mut list = Vec::new();
        for name in text.split(',').map(str::trim) {
            let Some((_, behaviour)) = Behavior::SELECTABLE.iter().find(|(n, _)| *n == name) else {
                let known: Vec<&str> = Behavior::SELECTABLE.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown behaviour `{name}`; known: all, {}",
                    known.join(", ")
                ));
            };
            if !list.contains(behaviour) {
                list.push(*behaviour);
            }
        }
        Ok(list)
    }
}

/// Which faults a run injects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSet {
    pub drop: bool,
    pub duplicate: bool,
    pub reorder: bool,
    pub delay: bool,
    pub partition: bool,
    pub crash: bool,
    pub skew: bool,
}

impl FaultSet {
    pub const NAMES: [&'static str; 7] = [
        "drop",
        "duplicate",
        "reorder",
        "delay",
        "partition",
        "crash",
        "skew",
    ];

    pub fn all() -> FaultSet {
        FaultSet {
            drop: true,
            duplicate: true,
            reorder: true,
            delay: true,
            partition: true,
            crash: true,
            skew: true,
        }
    }

    /// `all`, `none`, or a comma-separated list of [`FaultSet::NAMES`].
    pub fn parse(text: &str) -> Result<FaultSet, String> {
        match text {
            "all" => return Ok(FaultSet::all()),
            "none" => return Ok(FaultSet::default()),
            _ => {}
        }
        let mut set = FaultSet::default();
        for name in text.split(',') {
            match name.trim() {
                "drop" => set.drop = true,
                "duplicate" => set.duplicate = true,
                "reorder" => set.reorder = true,
                "delay" => set.delay = true,
                "partition" => set.partition = true,
                "crash" => set.crash = true,
                "skew" => set.skew = true,
                other => {
                    return Err(format!(
                        "unknown fault `{other}`; known: all, none, {}",
                        FaultSet::NAMES.join(", ")
                    ));
                }
            }
        }
        Ok(set)
    }
}

/// How a run is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub validators: usize,
    /// Byzantine validators (twins included); default f.
    pub byzantine: usize,
    /// Validators run as twin pairs (two nodes, one key).
    pub twins: usize,
    /// What the Byzantine validators that are not twins do: each picks one of these.
    pub behaviours: Vec<Behavior>,
    /// Observers: follow by range sync, never vote; checked like honest validators.
    pub observers: usize,
    pub faults: FaultSet,
    /// Faults happen in `[0, fault_phase_ms)` of simulated time; then the network heals.
    pub fault_phase_ms: u64,
    /// After healing, every honest node must commit `liveness_blocks` new blocks within this.
    pub liveness_bound_ms: u64,
    pub liveness_blocks: u64,
    /// Stop every node at this time and start them all 500 ms later (besides `faults.crash`).
    pub restart_all_at_ms: Option<u64>,
    pub consensus: Config,
}

impl SimConfig {
    pub fn new(validators: usize) -> SimConfig {
        SimConfig {
            validators,
            byzantine: (validators - 1) / 3,
            twins: 0,
            behaviours: Behavior::SELECTABLE.iter().map(|(_, b)| *b).collect(),
            observers: 0,
            faults: FaultSet::all(),
            fault_phase_ms: 6_000,
            liveness_bound_ms: 120_000,
            liveness_blocks: 10,
            restart_all_at_ms: None,
            consensus: Config {
                round_timeout_base_ms: 1_000,
                round_timeout_max_ms: 8_000,
                max_clock_skew_ms: 2_000,
                fetch_batch: 64,
                ..Config::default()
            },
        }
    }
}

/// One run's verdict.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    pub violations: Vec<String>,
    /// Height of the agreed chain at the end.
    pub committed_blocks: u64,
    /// Digest of every node's committed chain (for determinism checks).
    pub chains_digest: HashValue,
    pub evidence: usize,
    /// Sync responses observers refused (lies and garbled answers).
    pub sync_refusals: u64,
    /// Consensus messages honest validators refused as invalid.
    pub refused_messages: u64,
    /// Gossip batches for which a receiver would penalise the sender.
    pub gossip_penalties: u64,
    /// Committed transactions per kind: (applied, refused with a code).
    pub outcomes: std::collections::BTreeMap<&'static str, (u64, u64)>,
    pub simulated_ms: u64,
    pub events: u64,
    /// Mean time from a block's proposal to its commit at an honest node.
    pub mean_commit_latency_ms: f64,
}

/// What a message between validators carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wire {
    Consensus,
    /// A batch of client transactions (the network's transactions channel).
    Gossip,
}

enum Event {
    Deliver {
        to: usize,
        /// The sending node, and the validator it speaks for.
        from_node: usize,
        from: ValidatorIndex,
        wire: Wire,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        incarnation: u64,
        round: Round,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Client,
    /// An observer's poll: it asks a validator for blocks if it is not waiting for an answer.
    ObserverTick {
        observer: usize,
    },
    SyncRequest {
        to: usize,
        observer: usize,
        incarnation: u64,
        bytes: Vec<u8>,
    },
    SyncResponse {
        observer: usize,
        incarnation: u64,
        bytes: Vec<u8>,
    },
    ObserverCrash {
        observer: usize,
    },
    ObserverRestart {
        observer: usize,
    },
}

struct Scheduled {
    time: u64,
    sequence: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.sequence) == (other.time, other.sequence)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.sequence).cmp(&(other.time, other.sequence))
    }
}

#[derive(Clone, Copy, Debug)]
enum PartitionKind {
    /// Two groups that cannot talk.
    Symmetric,
    /// Group A cannot reach group B; B still reaches A.
    Asymmetric,
    /// One random node cut off both ways.
    Isolated,
    /// Whichever validator leads the current round is cut off both ways.
    IsolatedLeader,
    /// Each node talks only to its two ring neighbours.
    Ring,
}

struct Partition {
    start: u64,
    end: u64,
    kind: PartitionKind,
    /// Group of each node (0 or 1) for the group kinds; ring order for `Ring`.
    groups: Vec<usize>,
    /// Group of each observer (0 or 1) in the symmetric and asymmetric kinds; observers are
    /// not cut by the other kinds, which are defined over validators.
    observer_groups: Vec<usize>,
}

impl Partition {
    /// Whether a sync message between validator node `node` and `observer` is cut, in the
    /// direction given (`to_observer`: the validator's answer).
    fn blocks_observer(&self, node: usize, observer: usize, to_observer: bool, now: u64) -> bool {
        if now < self.start || now >= self.end {
            return false;
        }
        let (validator, observer) = (self.groups[node], self.observer_groups[observer]);
        match self.kind {
            PartitionKind::Symmetric => validator != observer,
            PartitionKind::Asymmetric if to_observer => validator == 0 && observer == 1,
            PartitionKind::Asymmetric => observer == 0 && validator == 1,
            _ => false,
        }
    }

    /// Whether a message from node `from` to node `to` is cut; `leader` tells which nodes are
    /// the current round's leader.
    fn blocks(&self, from: usize, to: usize, now: u64, leader: &dyn Fn(usize) -> bool) -> bool {
        if now < self.start || now >= self.end || from == to {
            return false;
        }
        match self.kind {
            PartitionKind::IsolatedLeader => leader(from) || leader(to),
            PartitionKind::Symmetric => self.groups[from] != self.groups[to],
            PartitionKind::Asymmetric => self.groups[from] == 0 && self.groups[to] == 1,
            PartitionKind::Isolated => self.groups[from] != self.groups[to],
            PartitionKind::Ring => {
                let n = self.groups.len();
                let (a, b) = (self.groups[from], self.groups[to]);
                !((a + 1) % n == b || (b + 1) % n == a)
            }
        }
    }
}

/// Per-seed network fault parameters (per mille).
struct NetworkFaults {
    drop: u64,
    duplicate: u64,
    spike: u64,
    /// Message delays are uniform in `min_delay_ms..=max_delay_ms` outside spikes.
    min_delay_ms: u64,
    max_delay_ms: u64,
}

/// The client: a few senders with one outstanding transaction each.
struct Client {
    net: TestNetwork,
    /// (sender label, next payload), resubmitted until committed.
    outstanding: HashMap<usize, (SignedTransaction, u64)>,
}

const CLIENT_TICK_MS: u64 = 40;
/// The one message delay of runs without reordering.
pub const FIXED_DELAY_MS: u64 = 10;
const RESUBMIT_MS: u64 = 1_500;
/// How often an observer asks for new blocks (the engine's `observer_poll_ms`).
const OBSERVER_POLL_MS: u64 = 200;
/// An unanswered sync request is given up after this.
const SYNC_PATIENCE_MS: u64 = 2_000;

struct Cluster {
    config: SimConfig,
    rng: Rng,
    now: u64,
    sequence: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<Node>,
    observers: Vec<Observer>,
    /// Committed height of each observer at the heal (or its first restart after).
    observer_height_at_heal: Vec<Option<u64>>,
    genesis: tenge_types::Genesis,
    validators: ValidatorSet,
    verifier: Verifier,
    checker: Checker,
    partitions: Vec<Partition>,
    faults: NetworkFaults,
    heal_at: u64,
    /// Committed height of each honest node at the heal (or its first restart after).
    height_at_heal: Vec<Option<u64>>,
    client: Client,
    evidence: usize,
    /// Sync responses observers refused (lies and garbled answers).
    sync_refusals: u64,
    /// Consensus messages honest validators refused as invalid.
    refused_messages: u64,
    /// Gossip batches for which a receiver would penalise the sender.
    gossip_penalties: u64,
    events: u64,
    /// When each block was first proposed by an honest leader.
    proposed_at: HashMap<tenge_types::BlockId, u64>,
    /// Sum of (commit time - proposal time) over honest nodes' commits, and their count.
    commit_latency: (u64, u64),
}

/// Runs one seed to its verdict.
pub fn run_seed(seed: u64, config: &SimConfig) -> SeedReport {
    let mut cluster = Cluster::new(seed, config.clone());
    cluster.run();
    cluster.report(seed)
}

impl Cluster {
    fn new(seed: u64, config: SimConfig) -> Cluster {
        let mut rng = Rng::new(seed);
        let n = config.validators;
        let net = TestNetwork::with_policy(2, n, sim_policy());
        let genesis = net.genesis.clone();
        let validators =
            ValidatorSet::new(genesis.validators.iter().map(|v| v.consensus_key).collect());
        let genesis_ledger = tenge_ledger::Ledger::from_genesis(&genesis).expect("genesis");
        let genesis_block = Block {
            header: genesis_ledger.head().clone(),
            transactions: vec![],
        };
        let verifier = Verifier::new(
            validators.clone(),
            QuorumCertificate::genesis(&genesis_block),
        );

        // Byzantine validators: a random subset; the first `twins` of them are twin pairs.
        let byzantine = config.byzantine.max(config.twins).min(n);
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut behaviors = vec![Behavior::Honest; n];
        for (k, &v) in order.iter().take(byzantine).enumerate() {
            behaviors[v] = if k < config.twins {
                Behavior::Twin
            } else {
                *rng.pick(&config.behaviours)
            };
        }
        let mut nodes = Vec::new();
        for (v, behavior) in behaviors.iter().enumerate() {
            let copies = if *behavior == Behavior::Twin { 2 } else { 1 };
            for _ in 0..copies {
                let skew = if config.faults.skew {
                    rng.between(0, 1_000) as i64 - 500
                } else {
                    0
                };
                let key = test_key(&format!("validator-{}", v + 1));
                nodes.push(Node::new(
                    v as ValidatorIndex,
                    *behavior,
                    key,
                    skew,
                    rng.fork(),
                ));
            }
        }
        let faults = NetworkFaults {
            drop: if config.faults.drop {
                *rng.pick(&[0, 20, 50, 100])
            } else {
                0
            },
            duplicate: if config.faults.duplicate {
                *rng.pick(&[0, 20, 50])
            } else {
                0
            },
            spike: if config.faults.delay {
                *rng.pick(&[0, 10, 30])
            } else {
                0
            },
            // Without reordering every message takes the same time, which makes latency
            // measurable in message delays.
            min_delay_ms: if config.faults.reorder {
                1
            } else {
                FIXED_DELAY_MS
            },
            max_delay_ms: if config.faults.reorder {
                40
            } else {
                FIXED_DELAY_MS
            },
        };
        let heal_at = config.fault_phase_ms;
        let node_count = nodes.len();
        let mut cluster = Cluster {
            rng,
            now: 0,
            sequence: 0,
            queue: BinaryHeap::new(),
            nodes,
            observers: (0..config.observers).map(|_| Observer::new()).collect(),
            observer_height_at_heal: vec![None; config.observers],
            checker: Checker::new(&genesis),
            genesis,
            validators,
            verifier,
            partitions: Vec::new(),
            faults,
            heal_at,
            height_at_heal: vec![None; node_count],
            client: Client {
                net,
                outstanding: HashMap::new(),
            },
            evidence: 0,
            sync_refusals: 0,
            refused_messages: 0,
            gossip_penalties: 0,
            events: 0,
            proposed_at: HashMap::new(),
            commit_latency: (0, 0),
            config,
        };
        cluster.plan_faults();
        cluster
    }

    fn schedule(&mut self, after_ms: u64, event: Event) {
        self.schedule_at(self.now + after_ms, event);
    }

    /// Queues `event` at simulated time `time`; events at the same time run in the order queued.
    fn schedule_at(&mut self, time: u64, event: Event) {
        self.sequence += 1;
        self.queue.push(Reverse(Scheduled {
            time,
            sequence: self.sequence,
            event,
        }));
    }

    /// Partitions and crashes during the fault phase. Twins runs always include a partition that
    /// separates each twin from its other half, the scenario in which twins can fork.
    fn plan_faults(&mut self) {
        let n = self.nodes.len();
        let phase = self.config.fault_phase_ms;
        if self.config.faults.partition || self.config.twins > 0 {
            let episodes = self.rng.between(1, 3);
            for _ in 0..episodes {
                let start = self.rng.below(phase);
                let end = (start + self.rng.between(300, 3_000)).min(phase);
                let kind = *self.rng.pick(&[
                    PartitionKind::Symmetric,
                    PartitionKind::Asymmetric,
                    PartitionKind::Isolated,
                    PartitionKind::IsolatedLeader,
                    PartitionKind::Ring,
                ]);
                let groups = match kind {
                    PartitionKind::Isolated => {
                        let victim = self.rng.below(n as u64) as usize;
                        (0..n).map(|i| usize::from(i == victim)).collect()
                    }
                    PartitionKind::Ring => {
                        let mut order: Vec<usize> = (0..n).collect();
                        for i in (1..n).rev() {
                            order.swap(i, self.rng.below(i as u64 + 1) as usize);
                        }
                        let mut position = vec![0; n];
                        for (p, node) in order.iter().enumerate() {
                            position[*node] = p;
                        }
                        position
                    }
                    _ => (0..n).map(|_| self.rng.below(2) as usize).collect(),
                };
                let observer_groups = (0..self.observers.len())
                    .map(|_| self.rng.below(2) as usize)
                    .collect();
                self.partitions.push(Partition {
                    start,
                    end,
                    kind,
                    groups,
                    observer_groups,
                });
            }
            if self.config.twins > 0 {
                // Split every twin pair across two groups; spread the others at random.
                let mut groups = vec![0; n];
                let mut seen: HashMap<ValidatorIndex, usize> = HashMap::new();
                for (i, node) in self.nodes.iter().enumerate() {
                    groups[i] = match seen.get(&node.validator) {
                        Some(first) => 1 - groups[*first],
                        None => {
                            seen.insert(node.validator, i);
                            self.rng.below(2) as usize
                        }
                    };
                }
                let start = self.rng.below(phase / 2);
                let observer_groups = (0..self.observers.len())
                    .map(|_| self.rng.below(2) as usize)
                    .collect();
                self.partitions.push(Partition {
                    start,
                    end: phase,
                    kind: PartitionKind::Symmetric,
                    groups,
                    observer_groups,
                });
            }
        }
        let mut outages: Vec<(usize, u64, u64)> = Vec::new();
        if self.config.faults.crash {
            let crashes = self.rng.between(1, 3);
            for _ in 0..crashes {
                let node = self.rng.below(n as u64) as usize;
                let at = self.rng.below(phase);
                let down = self.rng.between(200, 3_000);
                outages.push((node, at, (at + down).min(phase)));
            }
            // One run in eight also stops the whole cluster at once and starts it again.
            if self.rng.chance(125) {
                let at = self.rng.below(phase);
                outages.extend((0..n).map(|node| (node, at, (at + 500).min(phase))));
            }
        }
        if let Some(at) = self.config.restart_all_at_ms {
            outages.extend((0..n).map(|node| (node, at, at + 500)));
        }
        if self.config.faults.crash {
            // Each observer loses its process once in two runs.
            for observer in 0..self.observers.len() {
                if self.rng.chance(500) {
                    let at = self.rng.below(phase);
                    let up = (at + self.rng.between(200, 3_000)).min(phase);
                    self.schedule_at(at, Event::ObserverCrash { observer });
                    self.schedule_at(up, Event::ObserverRestart { observer });
                }
            }
        }
        for (node, down_at, up_at) in outages {
            self.schedule_at(down_at, Event::Crash { node });
            self.schedule_at(up_at, Event::Restart { node });
        }
    }

    fn run(&mut self) {
        for node in 0..self.nodes.len() {
            self.start_node(node);
        }
        for observer in 0..self.observers.len() {
            self.start_observer(observer);
            self.schedule(OBSERVER_POLL_MS, Event::ObserverTick { observer });
        }
        self.schedule(CLIENT_TICK_MS, Event::Client);
        let deadline = self.heal_at + self.config.liveness_bound_ms;
        while let Some(Reverse(next)) = self.queue.pop() {
            if next.time > deadline {
                break;
            }
            self.now = next.time;
            self.events += 1;
            if self.now >= self.heal_at {
                self.note_heal_heights();
                if self.liveness_reached() {
                    break;
                }
            }
            if self.events > 3_000_000 {
                self.checker.violation("event budget exhausted".into());
                break;
            }
            match next.event {
                Event::Deliver {
                    to,
                    from,
                    wire: Wire::Consensus,
                    bytes,
                    ..
                } => self.deliver(to, from, bytes),
                Event::Deliver {
                    to,
                    from_node,
                    wire: Wire::Gossip,
                    bytes,
                    ..
                } => self.deliver_gossip(to, from_node, &bytes),
                Event::Timer {
                    node,
                    incarnation,
                    round,
                } => {
                    if self.nodes[node].incarnation == incarnation {
                        self.input(node, Input::RoundTimerFired { round });
                    }
                }
                Event::Crash { node } => self.nodes[node].crash(),
                Event::Restart { node } => {
                    if !self.nodes[node].is_up() {
                        self.start_node(node);
                    }
                }
                Event::Client => {
                    self.client_tick();
                    self.schedule(CLIENT_TICK_MS, Event::Client);
                }
                Event::ObserverTick { observer } => {
                    self.observer_tick(observer);
                    self.schedule(OBSERVER_POLL_MS, Event::ObserverTick { observer });
                }
                Event::SyncRequest {
                    to,
                    observer,
                    incarnation,
                    bytes,
                } => {
                    if let Some(response) = self.nodes[to].serve_sync(&bytes) {
                        for delay in self.sync_delays(to, observer, true) {
                            self.schedule(
                                delay,
                                Event::SyncResponse {
                                    observer,
                                    incarnation,
                                    bytes: response.clone(),
                                },
                            );
                        }
                    }
                }
                Event::SyncResponse {
                    observer,
                    incarnation,
                    bytes,
                } => {
                    if self.observers[observer].incarnation == incarnation {
                        let actions = self.observers[observer].on_response(&bytes);
                        for action in actions {
                            self.observer_act(observer, action);
                        }
                    }
                }
                Event::ObserverCrash { observer } => self.observers[observer].crash(),
                Event::ObserverRestart { observer } => {
                    if !self.observers[observer].is_up() {
                        self.start_observer(observer);
                    }
                }
            }
        }
        self.note_heal_heights();
        self.check_liveness();
    }

    fn honest(&self, node: usize) -> bool {
        !self.nodes[node].behavior.is_byzantine()
    }

    fn start_node(&mut self, node: usize) {
        let (genesis, validators, consensus) = (
            self.genesis.clone(),
            self.validators.clone(),
            self.config.consensus.clone(),
        );
        if let Err(violation) = self.nodes[node].start(&genesis, &validators, &consensus) {
            if self.honest(node) {
                self.checker.violation(format!("node {node}: {violation}"));
            }
            return;
        }
        self.input(node, Input::Start);
    }

    fn start_observer(&mut self, observer: usize) {
        let (genesis, validators) = (self.genesis.clone(), self.validators.clone());
        if let Err(violation) = self.observers[observer].start(&genesis, &validators) {
            self.checker
                .violation(format!("observer {observer}: {violation}"));
        }
    }

    /// An observer asks a random validator for the blocks after its head.
    fn observer_tick(&mut self, observer: usize) {
        let Some(request) = self.observers[observer].request(self.now, SYNC_PATIENCE_MS) else {
            return;
        };
        let to = self.rng.below(self.nodes.len() as u64) as usize;
        let incarnation = self.observers[observer].incarnation;
        for delay in self.sync_delays(to, observer, false) {
            self.schedule(
                delay,
                Event::SyncRequest {
                    to,
                    observer,
                    incarnation,
                    bytes: request.clone(),
                },
            );
        }
    }

    /// The checker's index of an observer: after every validator node.
    fn observer_index(&self, observer: usize) -> usize {
        self.nodes.len() + observer
    }

    fn observer_act(&mut self, observer: usize, action: ObserverAction) {
        let index = self.observer_index(observer);
        match action {
            ObserverAction::Committed {
                previous_head,
                blocks,
                certificate,
            } => self.checker.on_commit(
                index,
                previous_head,
                &blocks,
                &certificate,
                &mut self.verifier,
            ),
            ObserverAction::Halted(reason) => self.checker.violation(format!(
                "halt: observer {observer} (node {index}) stopped: {reason}"
            )),
            ObserverAction::AuditFailed(error) => self.checker.violation(format!(
                "ledger: observer {observer} (node {index}) audit failed: {error}"
            )),
            ObserverAction::Refused => self.sync_refusals += 1,
        }
    }

    /// Delays of the copies of a sync message between validator node `node` and `observer`
    /// (none if dropped or cut): the symmetric and asymmetric partitions (D62), then the link's
    /// faults.
    fn sync_delays(&mut self, node: usize, observer: usize, to_observer: bool) -> Vec<u64> {
        let now = self.now;
        if self
            .partitions
            .iter()
            .any(|p| p.blocks_observer(node, observer, to_observer, now))
        {
            return Vec::new();
        }
        self.link_delays()
    }

    /// Delays of the copies of one message on a link the partitions leave open: none if it is
    /// dropped, two if duplicated, now and then a spike of up to twice the base round timeout.
    /// Drops, duplicates and spikes happen only before the heal.
    fn link_delays(&mut self) -> Vec<u64> {
        let faulty = self.now < self.heal_at;
        if faulty && self.rng.chance(self.faults.drop) {
            return Vec::new();
        }
        let copies = if faulty && self.rng.chance(self.faults.duplicate) {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                if faulty && self.rng.chance(self.faults.spike) {
                    self.rng
                        .between(1, 2 * self.config.consensus.round_timeout_base_ms)
                } else {
                    self.rng
                        .between(self.faults.min_delay_ms, self.faults.max_delay_ms)
                }
            })
            .collect()
    }

    fn note_heal_heights(&mut self) {
        if self.now < self.heal_at {
            return;
        }
        for observer in 0..self.observers.len() {
            if self.observer_height_at_heal[observer].is_none() && self.observers[observer].is_up()
            {
                self.observer_height_at_heal[observer] =
                    Some(self.observers[observer].committed_height());
            }
        }
        for node in 0..self.nodes.len() {
            if self.honest(node) && self.height_at_heal[node].is_none() && self.nodes[node].is_up()
            {
                self.height_at_heal[node] = Some(self.nodes[node].committed_height());
            }
        }
    }

    fn liveness_reached(&self) -> bool {
        let observers = (0..self.observers.len()).all(|observer| {
            self.observer_height_at_heal[observer].is_some_and(|start| {
                self.observers[observer].committed_height() >= start + self.config.liveness_blocks
            })
        });
        observers
            && (0..self.nodes.len())
                .filter(|n| self.honest(*n))
                .all(|node| {
                    self.height_at_heal[node].is_some_and(|start| {
                        self.nodes[node].committed_height() >= start + self.config.liveness_blocks
                    })
                })
    }

    fn check_liveness(&mut self) {
        for observer in 0..self.observers.len() {
            let start = self.observer_height_at_heal[observer].unwrap_or(0);
            let height = self.observers[observer].committed_height();
            if height < start + self.config.liveness_blocks {
                self.checker.violation(format!(
                    "liveness: observer {observer} synced {} blocks in the {} ms after the network healed (from height {start}), fewer than {}",
                    height.saturating_sub(start),
                    self.config.liveness_bound_ms,
                    self.config.liveness_blocks
                ));
            }
        }
        for node in 0..self.nodes.len() {
            if !self.honest(node) {
                continue;
            }
            let start = self.height_at_heal[node].unwrap_or(0);
            let height = self.nodes[node].committed_height();
            if height < start + self.config.liveness_blocks {
                self.checker.violation(format!(
                    "liveness: node {node} committed {} blocks in the {} ms after the network healed (from height {start}), fewer than {}",
                    height.saturating_sub(start),
                    self.config.liveness_bound_ms,
                    self.config.liveness_blocks
                ));
            }
        }
    }

    fn input(&mut self, node: usize, input: Input) {
        let actions = self.nodes[node].input(self.now, input);
        for action in actions {
            self.act(node, action);
        }
    }

    fn act(&mut self, node: usize, action: Action) {
        let incarnation = self.nodes[node].incarnation;
        match action {
            Action::Send { target, bytes } => {
                let from = self.nodes[node].validator;
                let recipients: Vec<usize> = match target {
                    Target::Validator(v) => (0..self.nodes.len())
                        .filter(|i| self.nodes[*i].validator == v)
                        .collect(),
                    Target::Others => (0..self.nodes.len()).filter(|i| *i != node).collect(),
                };
                for to in recipients {
                    self.transmit(node, to, from, Wire::Consensus, bytes.clone());
                }
            }
            Action::Timer { round, after_ms } => self.schedule(
                after_ms,
                Event::Timer {
                    node,
                    incarnation,
                    round,
                },
            ),
            Action::Committed {
                previous_head,
                blocks,
                certificate,
            } => {
                if self.honest(node) {
                    for item in &blocks {
                        if let Some(proposed) = self.proposed_at.get(&item.block.id()) {
                            self.commit_latency.0 += self.now - proposed;
                            self.commit_latency.1 += 1;
                        }
                    }
                    self.checker.on_commit(
                        node,
                        previous_head,
                        &blocks,
                        &certificate,
                        &mut self.verifier,
                    );
                }
            }
            Action::Signed(message) => {
                if self.honest(node) {
                    let author = self.nodes[node].validator;
                    self.checker.on_signed(author, &message);
                    if let ConsensusMessage::Proposal(proposal) = &message {
                        self.proposed_at
                            .entry(proposal.block.id())
                            .or_insert(self.now);
                    }
                }
            }
            Action::Halted(reason) => {
                if self.honest(node) {
                    self.checker
                        .violation(format!("halt: honest node {node} stopped: {reason}"));
                }
            }
            Action::Evidence => self.evidence += 1,
            Action::Invalid => {
                if self.honest(node) {
                    self.refused_messages += 1;
                }
            }
            Action::AuditFailed(error) => {
                if self.honest(node) {
                    self.checker
                        .violation(format!("ledger: node {node} audit failed: {error}"));
                }
            }
        }
    }

    /// Puts a message on the simulated wire, through the faults in force.
    fn transmit(
        &mut self,
        from_node: usize,
        to: usize,
        from: ValidatorIndex,
        wire: Wire,
        bytes: Vec<u8>,
    ) {
        if from_node == to {
            self.schedule(
                0,
                Event::Deliver {
                    to,
                    from_node,
                    from,
                    wire,
                    bytes,
                },
            );
            return;
        }
        if self.now < self.heal_at {
            // The current round: the highest any running honest node is in.
            let round = (0..self.nodes.len())
                .filter(|n| self.honest(*n))
                .filter_map(|n| {
                    let running = self.nodes[n].running.as_ref()?;
                    Some(running.replica.consensus()?.round())
                })
                .max()
                .unwrap_or_default();
            let leader_validator = self.validators.leader(round);
            let leader = |node: usize| self.nodes[node].validator == leader_validator;
            if self
                .partitions
                .iter()
                .any(|p| p.blocks(from_node, to, self.now, &leader))
            {
                return;
            }
        }
        for delay in self.link_delays() {
            self.schedule(
                delay,
                Event::Deliver {
                    to,
                    from_node,
                    from,
                    wire,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    fn deliver(&mut self, to: usize, from: ValidatorIndex, bytes: Vec<u8>) {
        if !self.nodes[to].is_up() {
            return;
        }
        // The receiving side decodes untrusted bytes with limits, as the real network edge does.
        let Ok(message) = ConsensusMessage::from_bytes(&bytes) else {
            return;
        };
        self.input(to, Input::Message { from, message });
    }

    /// A gossip batch reaches a node. A real node penalises a sender of invalid gossip; an
    /// honest node must never have cause to penalise an honest one.
    fn deliver_gossip(&mut self, to: usize, from_node: usize, bytes: &[u8]) {
        if !self.nodes[to].is_up() {
            return;
        }
        let penalise = self.nodes[to].on_gossip(self.now, bytes);
        if penalise {
            self.gossip_penalties += 1;
            if self.honest(to) && self.honest(from_node) {
                self.checker.violation(format!(
                    "penalty: honest node {to} would penalise honest node {from_node} for its gossip"
                ));
            }
        }
    }

    /// The client keeps one transaction in flight per sender: the central bank (k-of-m officers)
    /// and the two banks, each running through every kind of transaction ([`workload`]). It reads
    /// sequence numbers from the most advanced honest node.
    fn client_tick(&mut self) {
        let reference = (0..self.nodes.len())
            .filter(|n| self.honest(*n) && self.nodes[*n].is_up())
            .max_by_key(|n| (self.nodes[*n].committed_height(), Reverse(*n)));
        let Some(reference) = reference else { return };
        let ledger = self.nodes[reference]
            .running
            .as_ref()
            .expect("up")
            .replica
            .ledger();
        let net = &self.client.net;
        let senders = [net.central_bank(), net.bank(0), net.bank(1)];
        let mut submissions = Vec::new();
        for (sender, account) in senders.iter().enumerate() {
            let next = ledger.state().account(account).map_or(0, |a| a.sequence);
            let stale = match self.client.outstanding.get(&sender) {
                Some((tx, sent_at)) if tx.transaction.sequence == next => {
                    self.now >= sent_at + RESUBMIT_MS
                }
                _ => true,
            };
            if !stale {
                continue;
            }
            let tx = match self.client.outstanding.get(&sender) {
                Some((tx, _)) if tx.transaction.sequence == next => tx.clone(),
                _ => {
                    let payload = workload(net, sender, next, ledger.head().height);
                    if sender == 0 {
                        net.officers_sign(next, payload)
                    } else {
                        net.sign(&net.banks[sender - 1], next, payload)
                    }
                }
            };
            self.client
                .outstanding
                .insert(sender, (tx.clone(), self.now));
            submissions.push(tx);
        }
        drop(ledger);
        let mut admitted: Vec<Vec<SignedTransaction>> = vec![Vec::new(); self.nodes.len()];
        for tx in submissions {
            // To two random nodes, as a client would try more than one.
            for _ in 0..2 {
                let node = self.rng.below(self.nodes.len() as u64) as usize;
                if self.nodes[node].submit(self.now, &tx) {
                    admitted[node].push(tx.clone());
                }
            }
        }
        // What a node admitted from a client goes to every other validator in one batch, as
        // the engine gossips at the end of its loop's turn.
        for (node, transactions) in admitted.into_iter().enumerate() {
            if transactions.is_empty() {
                continue;
            }
            let Some(bytes) = self.nodes[node].gossip_bytes(&transactions) else {
                continue;
            };
            let from = self.nodes[node].validator;
            for to in (0..self.nodes.len()).filter(|to| *to != node) {
                self.transmit(node, to, from, Wire::Gossip, bytes.clone());
            }
        }
    }

    fn report(&self, seed: u64) -> SeedReport {
        let mut chains = Vec::new();
        for node in &self.nodes {
            chains.push(encode(&node.committed));
        }
        for observer in &self.observers {
            chains.push(encode(&observer.committed));
        }
        SeedReport {
            seed,
            violations: self.checker.violations.clone(),
            committed_blocks: self.checker.highest_committed().0,
            chains_digest: Domain::Chain.hash(&encode(&chains)),
            evidence: self.evidence,
            sync_refusals: self.sync_refusals,
            refused_messages: self.refused_messages,
            gossip_penalties: self.gossip_penalties,
            outcomes: self.checker.outcomes.clone(),
            simulated_ms: self.now,
            events: self.events,
            mean_commit_latency_ms: self.commit_latency.0 as f64
                / self.commit_latency.1.max(1) as f64,
        }
    }
}

/// The run's monetary policy: the defaults with limits small enough that the workload reaches
/// them within a run (an epoch of one minute, the least allowed), so that the policy refuses
/// issuance in most runs and the checker can see that no limit is ever passed.
pub fn sim_policy() -> PolicyParams {
    let mut policy = PolicyParams::defaults();
    policy.epoch_duration_ms = PolicyParams::MIN_EPOCH_DURATION_MS;
    policy.issuance_cap_per_epoch = tenge(SIM_ISSUANCE_CAP_TENGE);
    policy.bank_quota_per_epoch = tenge(SIM_BANK_QUOTA_TENGE);
    policy
}

const SIM_ISSUANCE_CAP_TENGE: u64 = 6_000;
const SIM_BANK_QUOTA_TENGE: u64 = 4_000;

fn tenge(amount: u64) -> Amount {
    Amount::from_tenge(amount).expect("fits")
}

/// The `sequence`-th transaction of a sender: 0 is the central bank (signed by k of m officers),
/// 1 and 2 are the banks. Every kind of transaction comes round: issuance (plain and earmarked),
/// freezes and their lifting, policy changes, transfers (plain and earmarked), wallets and
/// payments to them, redemption. Many are refused by the rules (a frozen bank, a spent quota,
/// an earmark a bank does not hold): a refusal is a receipt with a code, and the rule is checked.
fn workload(net: &TestNetwork, sender: usize, sequence: u64, head: tenge_types::Height) -> Payload {
    let bank = |index: u64| net.bank(index as usize % 2);
    if sender == 0 {
        let payees = {
            let mut payees = vec![net.bank(0), net.bank(1)];
            payees.sort();
            payees
        };
        return match sequence % 8 {
            1 => Payload::IssueEarmarked(IssueEarmarked {
                to: bank(sequence),
                amount: tenge(700),
                terms: EarmarkTerms {
                    purpose: "school-meals".into(),
                    approved_payees: payees,
                },
            }),
            2 => Payload::Freeze(Freeze {
                account: net.bank(1),
                reason: "simulated investigation".into(),
            }),
            3 => Payload::Unfreeze(Unfreeze {
                account: net.bank(1),
                reason: "investigation closed".into(),
            }),
            5 => {
                // Alternates the issuance cap, effective some blocks on (past any resubmission).
                let mut params = sim_policy();
                if sequence % 16 == 5 {
                    params.issuance_cap_per_epoch = tenge(SIM_ISSUANCE_CAP_TENGE * 2 / 3);
                }
                Payload::SetPolicy(SetPolicy {
                    effective_height: tenge_types::Height(head.0 + 40),
                    params,
                })
            }
            // 0, 4, 6, 7: 1,000 to 2,500 tenge, enough to reach the cap and the quotas.
            n => Payload::Issue(Issue {
                to: bank(sequence),
                amount: tenge(1_000 + 500 * (n % 4)),
            }),
        };
    }
    let me = sender - 1;
    let other = net.bank(1 - me);
    let wallet = |n: u64| test_key(&format!("sim-wallet-{me}-{n}"));
    match sequence % 6 {
        0 | 1 => Payload::Transfer(Transfer {
            to: other,
            amount: Amount::from_tiyn(100 + sequence % 1_000),
        }),
        2 => Payload::OpenWallet(OpenWallet {
            key: wallet(sequence / 6).public_key(),
            tier: 1,
        }),
        3 => Payload::Transfer(Transfer {
            to: wallet(sequence / 6).account_id(),
            amount: Amount::from_tiyn(5_000),
        }),
        4 => Payload::Redeem(Redeem {
            amount: Amount::from_tiyn(300),
        }),
        _ => Payload::TransferEarmarked(TransferEarmarked {
            to: other,
            amount: Amount::from_tiyn(200),
            terms: EarmarkTerms {
                purpose: "school-meals".into(),
                approved_payees: {
                    let mut payees = vec![net.bank(0), net.bank(1)];
                    payees.sort();
                    payees
                },
            },
        }),
    }
}
