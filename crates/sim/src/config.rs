//! How a run is set up: what each Byzantine validator does, which faults are injected, and the
//! run's parameters, with the parsing of their command-line names.

use tenge_consensus::Config;

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
    /// Honest in consensus; asks every other validator for ranges as fast as it likes, with
    /// odd and garbled requests among them, as the Byzantine harness's `sync-flood` does. Each
    /// validator's own network limits (the node's peer book: a request rate per requester, no
    /// penalty) refuse what is over the rate; an honest requester must never be refused.
    SyncFlood,
}

impl Behavior {
    pub fn is_byzantine(self) -> bool {
        self != Behavior::Honest
    }

    /// The behaviours `--byzantine-behaviours` chooses from, by name (twins have `--twins`).
    pub const SELECTABLE: [(&'static str, Behavior); 9] = [
        ("silent", Behavior::Silent),
        ("garbage", Behavior::Garbage),
        ("equivocator", Behavior::Equivocator),
        ("double-voter", Behavior::DoubleVoter),
        ("bad-signatures", Behavior::BadSignatures),
        ("lying-sync", Behavior::LyingSync),
        ("forged-certificates", Behavior::ForgedCertificates),
        ("proposal-flood", Behavior::ProposalFlood),
        ("sync-flood", Behavior::SyncFlood),
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
    /// Validator machines no genesis lists, running from the start and following the chain
    /// until an epoch names them.
    pub spares: usize,
    /// Validator-set changes the central bank submits (a spare added first when there is one,
    /// then rotations and removals drawn from the seed); see [`crate::reconfiguration`].
    pub changes: usize,
    /// An observer with an empty store that starts only at the heal, after the epoch changes of
    /// the fault phase, and must catch up with the committed chain and then follow it.
    pub late_observer: bool,
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
            spares: 0,
            changes: 0,
            late_observer: false,
            consensus: Config {
                round_timeout_base_ms: 1_000,
                round_timeout_max_ms: 8_000,
                max_clock_skew_ms: 2_000,
                fetch_batch: 64,
                ..Config::default()
            },
        }
    }

    /// Reconfiguration across the run (`--reconfigure`): one spare, added first, then four
    /// rotations or removals, and a late observer.
    pub fn with_reconfiguration(mut self) -> SimConfig {
        self.spares = 1;
        self.changes = 5;
        self.late_observer = true;
        self
    }

    /// Whether the run changes the validator set.
    pub fn reconfigures(&self) -> bool {
        self.changes > 0
    }

    /// What each validator does, by validator index. Byzantine validators: a random subset; the
    /// first `twins` of them are twin pairs.
    pub fn draw_behaviours(&self, rng: &mut Rng) -> Vec<Behavior> {
        let n = self.validators;
        let byzantine = self.byzantine.max(self.twins).min(n);
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut behaviors = vec![Behavior::Honest; n];
        for (k, &v) in order.iter().take(byzantine).enumerate() {
            behaviors[v] = if k < self.twins {
                Behavior::Twin
            } else {
                *rng.pick(&self.behaviours)
            };
        }
        behaviors
    }
}
