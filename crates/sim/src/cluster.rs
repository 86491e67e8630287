//! The simulated cluster: the event loop, delivery through the network's faults, nodes and
//! observers started, crashed and restarted, and the verdict.

use std::cmp::Reverse;
use std::collections::HashMap;

use tenge_consensus::Input;
use tenge_ledger::testkit::{TestNetwork, test_key};
use tenge_types::consensus::{ConsensusMessage, ValidatorIndex, ValidatorSet};
use tenge_types::sync::SyncRequest;
use tenge_types::{Domain, Height, PublicKey, SignedTransaction, encode};

use crate::checker::Checker;
use crate::config::{Behavior, SimConfig};
use crate::faults::{self, NetworkFaults, Partition};
use crate::liveness::Liveness;
use crate::node::{Action, Node, Recipient};
use crate::observer::{Observer, ObserverAction};
use crate::reconfiguration::{self, Plan};
use crate::report::SeedReport;
use crate::rng::Rng;
use crate::schedule::{Event, Queue, Wire};
use crate::workload::{CLIENT_TICK_MS, Client, sim_policy};

/// How often an observer asks for new blocks (the engine's `observer_poll_ms`).
const OBSERVER_POLL_MS: u64 = 200;
/// How often a validator node sees whether it is behind (the engine's `VALIDATOR_PERIOD_MS`).
const NODE_SYNC_TICK_MS: u64 = 250;
/// The late observer starts once this many epochs have ended, or this long after the heal if
/// the changes the rules let through end fewer.
const LATE_OBSERVER_AFTER_EPOCHS: u64 = 3;
const LATE_OBSERVER_LATEST_MS: u64 = 10_000;
/// An unanswered sync request is given up after this.
const SYNC_PATIENCE_MS: u64 = 2_000;
/// A `sync-flood` validator sends a request to every other validator this often: 100 a second
/// to each, five times the node's limit per requester.
const FLOOD_INTERVAL_MS: u64 = 10;

struct Cluster {
    config: SimConfig,
    rng: Rng,
    now: u64,
    queue: Queue,
    nodes: Vec<Node>,
    observers: Vec<Observer>,
    /// The late observer's index among `observers`, and the epoch and height the chain was at
    /// when it started.
    late_observer: Option<usize>,
    late_observer_started: Option<(u64, u64)>,
    genesis: tenge_types::Genesis,
    checker: Checker,
    partitions: Vec<Partition>,
    faults: NetworkFaults,
    heal_at: u64,
    liveness: Liveness,
    client: Client,
    evidence: usize,
    /// Sync responses observers refused (lies and garbled answers).
    sync_refusals: u64,
    /// Consensus messages honest validators refused as invalid.
    refused_messages: u64,
    /// Gossip batches for which a receiver would penalise the sender.
    gossip_penalties: u64,
    /// Observers' keys: with every key of every validator identity, who may ask a node for
    /// ranges.
    observer_keys: Vec<PublicKey>,
    requesters: Vec<PublicKey>,
    /// The latest epoch any node started.
    epochs: u64,
    /// `sync-flood` requests answered and refused by the receiving node's limits.
    flood_requests: (u64, u64),
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
        let identities = reconfiguration::identities(n, config.spares);
        let genesis_set =
            ValidatorSet::new(genesis.validators.iter().map(|v| v.consensus_key).collect());

        let mut behaviors = config.draw_behaviours(&mut rng);
        // Spares are honest: the Byzantine stay at most f of any set the changes make.
        behaviors.extend(std::iter::repeat_n(Behavior::Honest, config.spares));
        let mut nodes = Vec::new();
        for (identity, behavior) in behaviors.iter().enumerate() {
            let copies = if *behavior == Behavior::Twin { 2 } else { 1 };
            for _ in 0..copies {
                let skew = if config.faults.skew {
                    rng.between(0, 1_000) as i64 - 500
                } else {
                    0
                };
                let keys = identities[identity]
                    .keys
                    .iter()
                    .map(|key| tenge_crypto::Keypair::from_secret(key.secret_bytes()))
                    .collect();
                nodes.push(Node::new(
                    identity,
                    *behavior,
                    keys,
                    genesis_set.clone(),
                    skew,
                    rng.fork(),
                ));
            }
        }
        let faults = NetworkFaults::draw(&mut rng, &config.faults);
        let heal_at = config.fault_phase_ms;
        let node_count = nodes.len();
        let plan = if config.reconfigures() {
            let byzantine = behaviors.iter().map(|b| b.is_byzantine()).collect();
            Plan::draw(&mut rng, config.spares, config.changes, byzantine)
        } else {
            Plan::none()
        };
        let observer_count = config.observers + usize::from(config.late_observer);
        let observer_keys: Vec<PublicKey> = (0..observer_count)
            .map(|o| test_key(&format!("sim-observer-{}", o + 1)).public_key())
            .collect();
        let requesters = identities
            .iter()
            .flat_map(|identity| identity.keys.iter().map(|key| key.public_key()))
            .chain(observer_keys.iter().copied())
            .collect();
        let mut cluster = Cluster {
            rng,
            now: 0,
            queue: Queue::default(),
            nodes,
            observers: (0..observer_count).map(|_| Observer::new()).collect(),
            late_observer: config.late_observer.then_some(config.observers),
            late_observer_started: None,
            checker: Checker::new(&genesis),
            genesis,
            partitions: Vec::new(),
            faults,
            heal_at,
            liveness: Liveness::new(&config, node_count, observer_count),
            client: Client::new(net, plan, identities),
            evidence: 0,
            sync_refusals: 0,
            refused_messages: 0,
            gossip_penalties: 0,
            observer_keys,
            requesters,
            epochs: 0,
            flood_requests: (0, 0),
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
        self.queue.push(time, event);
    }

    /// Plans the fault phase's partitions and crashes ([`faults::plan`]) and queues the crashes
    /// and restarts: the observers' first, then the nodes'.
    fn plan_faults(&mut self) {
        let node_validators: Vec<ValidatorIndex> = self
            .nodes
            .iter()
            .map(|node| node.identity as ValidatorIndex)
            .collect();
        // The late observer has no outage and no partition group: it joins late, with faults of
        // its own only on its links.
        let plan = faults::plan(
            &mut self.rng,
            &self.config,
            &node_validators,
            self.config.observers,
        );
        self.partitions = plan.partitions;
        for (observer, at, up) in plan.observer_outages {
            self.schedule_at(at, Event::ObserverCrash { observer });
            self.schedule_at(up, Event::ObserverRestart { observer });
        }
        for (node, down_at, up_at) in plan.outages {
            self.schedule_at(down_at, Event::Crash { node });
            self.schedule_at(up_at, Event::Restart { node });
        }
    }

    fn run(&mut self) {
        for node in 0..self.nodes.len() {
            self.start_node(node);
        }
        for observer in 0..self.observers.len() {
            if Some(observer) != self.late_observer {
                self.start_observer(observer);
            }
            self.schedule(OBSERVER_POLL_MS, Event::ObserverTick { observer });
        }
        for node in 0..self.nodes.len() {
            self.schedule(NODE_SYNC_TICK_MS, Event::NodeSyncTick { node });
        }
        self.schedule(CLIENT_TICK_MS, Event::Client);
        for node in 0..self.nodes.len() {
            if self.nodes[node].behavior == Behavior::SyncFlood {
                self.schedule(FLOOD_INTERVAL_MS, Event::FloodTick { node });
            }
        }
        let deadline = self.heal_at + self.config.liveness_bound_ms;
        while let Some(next) = self.queue.pop() {
            if next.time > deadline {
                break;
            }
            self.now = next.time;
            self.events += 1;
            if self.now >= self.heal_at {
                self.liveness
                    .note_heal_heights(&self.nodes, &self.observers);
                if self.liveness.reached(&self.nodes, &self.observers) {
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
                    from_key,
                    wire: Wire::Consensus,
                    bytes,
                    ..
                } => self.deliver(to, &from_key, &bytes),
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
                    self.maybe_start_late_observer();
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
                    let from = self.observer_keys[observer];
                    let answer = match self.nodes[to].serve_sync(self.now, &from, &bytes) {
                        Ok(answer) => answer,
                        // An honest observer polls far below the node's rate per requester:
                        // a flood from another peer must never crowd it out.
                        Err(_) => {
                            if self.honest(to) {
                                self.checker.violation(format!(
                                    "sync: honest node {to} refused observer {observer}'s request"
                                ));
                            }
                            None
                        }
                    };
                    if let Some(response) = answer {
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
                Event::FloodTick { node } => {
                    self.flood(node);
                    if self.now + FLOOD_INTERVAL_MS < self.heal_at {
                        self.schedule(FLOOD_INTERVAL_MS, Event::FloodTick { node });
                    }
                }
                Event::FloodRequest {
                    to,
                    from_node,
                    bytes,
                } => {
                    let from = self.nodes[from_node].network_key();
                    // What it is answered is thrown away: the flood is the attack.
                    match self.nodes[to].serve_sync(self.now, &from, &bytes) {
                        Ok(_) => self.flood_requests.0 += 1,
                        Err(_) => self.flood_requests.1 += 1,
                    }
                }
                Event::ObserverRestart { observer } => {
                    if !self.observers[observer].is_up() {
                        self.start_observer(observer);
                    }
                }
                Event::NodeSyncTick { node } => {
                    self.node_sync_tick(node);
                    self.schedule(NODE_SYNC_TICK_MS, Event::NodeSyncTick { node });
                }
                Event::NodeSyncRequest {
                    to,
                    from_node,
                    incarnation,
                    bytes,
                } => self.serve_node_sync(to, from_node, incarnation, &bytes),
                Event::NodeSyncResponse {
                    node,
                    incarnation,
                    bytes,
                } => {
                    if self.nodes[node].incarnation == incarnation {
                        let actions = self.nodes[node].on_sync_response(self.now, &bytes);
                        for action in actions {
                            self.act(node, action);
                        }
                    }
                }
            }
        }
        if self.now >= self.heal_at {
            self.liveness
                .note_heal_heights(&self.nodes, &self.observers);
        }
        self.liveness
            .check(&self.nodes, &self.observers, &mut self.checker);
    }

    fn honest(&self, node: usize) -> bool {
        !self.nodes[node].behavior.is_byzantine()
    }

    fn start_node(&mut self, node: usize) {
        let (genesis, consensus) = (self.genesis.clone(), self.config.consensus.clone());
        let requesters = self.requesters.clone();
        if let Err(violation) = self.nodes[node].start(self.now, &genesis, &consensus, &requesters)
        {
            if self.honest(node) {
                self.checker.violation(format!("node {node}: {violation}"));
            }
            return;
        }
        self.input(node, Input::Start);
    }

    fn start_observer(&mut self, observer: usize) {
        let genesis = self.genesis.clone();
        if let Err(violation) = self.observers[observer].start(&genesis) {
            self.checker
                .violation(format!("observer {observer}: {violation}"));
        }
    }

    /// A `sync-flood` validator's burst: one request to every other validator node, through the
    /// link's faults. A quarter are random bytes (some over the request size limit); the rest
    /// ask for ranges anywhere up to past the head, up to the most blocks a request can name.
    fn flood(&mut self, node: usize) {
        if !self.nodes[node].is_up() {
            return;
        }
        let head = self.nodes[node].committed_height();
        for to in (0..self.nodes.len()).filter(|to| *to != node) {
            let bytes = if self.rng.chance(250) {
                let length = self.rng.between(0, 2_000) as usize;
                (0..length).map(|_| self.rng.next_u64() as u8).collect()
            } else {
                SyncRequest::Committed {
                    after_height: Height(self.rng.below(head + 50)),
                    max_blocks: *self.rng.pick(&[1, 64, u16::MAX]),
                }
                .to_bytes()
            };
            for delay in self.link_delays() {
                self.schedule(
                    delay,
                    Event::FloodRequest {
                        to,
                        from_node: node,
                        bytes: bytes.clone(),
                    },
                );
            }
        }
    }

    /// Starts the late observer, with an empty store and only the genesis, once
    /// [`LATE_OBSERVER_AFTER_EPOCHS`] epochs have ended (at the latest [`LATE_OBSERVER_LATEST_MS`]
    /// after the heal). From then it
    /// must catch up with everything committed so far, across every epoch change, and commit
    /// `liveness_blocks` more (D84).
    fn maybe_start_late_observer(&mut self) {
        let Some(observer) = self.late_observer else {
            return;
        };
        if self.late_observer_started.is_some()
            || (self.checker.epoch() < LATE_OBSERVER_AFTER_EPOCHS
                && self.now < self.heal_at + LATE_OBSERVER_LATEST_MS)
        {
            return;
        }
        let height = self.checker.highest_committed().0;
        self.late_observer_started = Some((self.checker.epoch(), height));
        self.start_observer(observer);
        self.liveness.observer_starts_at(observer, height);
    }

    /// A validator node's periodic check: if it is behind ([`Node::sync_request`]), it asks
    /// another validator of its epoch for the blocks after its head.
    fn node_sync_tick(&mut self, node: usize) {
        let Some(request) = self.nodes[node].sync_request(self.now, SYNC_PATIENCE_MS) else {
            return;
        };
        let me = self.nodes[node].identity;
        let set = self.nodes[node].validators().clone();
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|other| {
                let other_node = &self.nodes[*other];
                other_node.identity != me && set.keys.iter().any(|key| other_node.holds(key))
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let to = *self.rng.pick(&candidates);
        let incarnation = self.nodes[node].incarnation;
        // Partitions cut range sync as they cut consensus messages, except the isolated
        // leader's, which is defined over consensus rounds.
        if self.now < self.heal_at
            && self
                .partitions
                .iter()
                .any(|p| p.blocks(node, to, self.now, &|_| false))
        {
            return;
        }
        for delay in self.link_delays() {
            self.schedule(
                delay,
                Event::NodeSyncRequest {
                    to,
                    from_node: node,
                    incarnation,
                    bytes: request.clone(),
                },
            );
        }
    }

    /// Node `to` answers node `from_node`'s range request through its network limits, as it
    /// answers an observer's.
    fn serve_node_sync(&mut self, to: usize, from_node: usize, incarnation: u64, bytes: &[u8]) {
        let from = self.nodes[from_node].network_key();
        let answer = match self.nodes[to].serve_sync(self.now, &from, bytes) {
            Ok(answer) => answer,
            // A requester asks once per tick at most: an honest one must never be refused.
            Err(_) => {
                if self.honest(to) && self.honest(from_node) {
                    self.checker.violation(format!(
                        "sync: honest node {to} refused honest node {from_node}'s request"
                    ));
                }
                None
            }
        };
        let Some(response) = answer else { return };
        if self.now < self.heal_at
            && self
                .partitions
                .iter()
                .any(|p| p.blocks(to, from_node, self.now, &|_| false))
        {
            return;
        }
        for delay in self.link_delays() {
            self.schedule(
                delay,
                Event::NodeSyncResponse {
                    node: from_node,
                    incarnation,
                    bytes: response.clone(),
                },
            );
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
                suffix,
            } => self
                .checker
                .on_commit(index, previous_head, &blocks, &certificate, &suffix),
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

    /// Delays of the copies of one message on a link the partitions leave open
    /// ([`NetworkFaults::link_delays`]): faulty only before the heal, spikes of up to twice the
    /// base round timeout.
    fn link_delays(&mut self) -> Vec<u64> {
        let faulty = self.now < self.heal_at;
        let spike_max_ms = 2 * self.config.consensus.round_timeout_base_ms;
        self.faults.link_delays(&mut self.rng, faulty, spike_max_ms)
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
            Action::Send { .. } => unreachable!("a node puts its messages on the wire labelled"),
            Action::Transmit {
                to,
                from_key,
                bytes,
            } => {
                let recipients: Vec<usize> = match to {
                    Recipient::Key(key) => (0..self.nodes.len())
                        .filter(|i| *i != node && self.nodes[*i].holds(&key))
                        .collect(),
                    Recipient::Others => (0..self.nodes.len()).filter(|i| *i != node).collect(),
                };
                for to in recipients {
                    self.transmit(node, to, from_key, Wire::Consensus, bytes.clone());
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
                suffix,
            } => {
                if self.honest(node) {
                    for item in &blocks {
                        if let Some(proposed) = self.proposed_at.get(&item.block.id()) {
                            self.commit_latency.0 += self.now - proposed;
                            self.commit_latency.1 += 1;
                        }
                    }
                    self.checker
                        .on_commit(node, previous_head, &blocks, &certificate, &suffix);
                }
            }
            Action::Signed {
                key,
                epoch,
                message,
            } => {
                if self.honest(node) {
                    self.checker.on_signed(&key, epoch, &message);
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
            Action::EpochStarted { epoch } => self.epochs = self.epochs.max(epoch),
            Action::SyncRefused => {
                if self.honest(node) {
                    self.sync_refusals += 1;
                }
            }
        }
    }

    /// Puts a message on the simulated wire, through the faults in force.
    fn transmit(
        &mut self,
        from_node: usize,
        to: usize,
        from_key: PublicKey,
        wire: Wire,
        bytes: Vec<u8>,
    ) {
        if from_node == to {
            self.schedule(
                0,
                Event::Deliver {
                    to,
                    from_node,
                    from_key,
                    wire,
                    bytes,
                },
            );
            return;
        }
        if self.now < self.heal_at {
            // The current round: the highest any running honest validator is in, in the latest
            // epoch; its leader's key.
            let leader_key = (0..self.nodes.len())
                .filter(|n| self.honest(*n))
                .filter_map(|n| {
                    let consensus = self.nodes[n].running.as_ref()?.replica.consensus()?;
                    let set = consensus.validators();
                    let leader = set.key(set.leader(consensus.round())).copied();
                    Some(((self.nodes[n].epoch, consensus.round()), leader))
                })
                .max_by_key(|(position, _)| *position)
                .and_then(|(_, leader)| leader);
            let leader = |node: usize| leader_key.is_some_and(|key| self.nodes[node].holds(&key));
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
                    from_key,
                    wire,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    fn deliver(&mut self, to: usize, from_key: &PublicKey, bytes: &[u8]) {
        let actions = self.nodes[to].receive(self.now, from_key, bytes);
        for action in actions {
            self.act(to, action);
        }
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

    /// The client keeps one transaction in flight per sender ([`Client::due`]). It reads
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
        let submissions = self.client.due(&ledger, self.now);
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
            let from_key = self.nodes[node].network_key();
            for to in (0..self.nodes.len()).filter(|to| *to != node) {
                self.transmit(node, to, from_key, Wire::Gossip, bytes.clone());
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
            flood_requests: self.flood_requests,
            refused_messages: self.refused_messages,
            gossip_penalties: self.gossip_penalties,
            outcomes: self.checker.outcomes.clone(),
            simulated_ms: self.now,
            events: self.events,
            mean_commit_latency_ms: self.commit_latency.0 as f64
                / self.commit_latency.1.max(1) as f64,
            epochs: self.epochs.max(self.checker.epoch()),
            late_observer_from: self.late_observer_started,
        }
    }
}
