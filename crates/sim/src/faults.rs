//! Network faults: partitions (who cannot reach whom, and when), each seed's link faults
//! (drops, duplicates, delay spikes, reordering), and the plan of partitions and crashes for the
//! fault phase.

use std::collections::HashMap;

use tenge_types::consensus::ValidatorIndex;

use crate::config::{FaultSet, SimConfig};
use crate::rng::Rng;

/// The one message delay of runs without reordering.
pub const FIXED_DELAY_MS: u64 = 10;

#[derive(Clone, Copy, Debug)]
pub enum PartitionKind {
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

pub struct Partition {
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
    /// direction given (`to_observer`: the validator's answer). An observer the plan has no
    /// group for (the late observer, which starts after the faults it was planned with) is
    /// never cut.
    pub fn blocks_observer(
        &self,
        node: usize,
        observer: usize,
        to_observer: bool,
        now: u64,
    ) -> bool {
        if now < self.start || now >= self.end {
            return false;
        }
        let Some(&observer) = self.observer_groups.get(observer) else {
            return false;
        };
        let validator = self.groups[node];
        match self.kind {
            PartitionKind::Symmetric => validator != observer,
            PartitionKind::Asymmetric if to_observer => validator == 0 && observer == 1,
            PartitionKind::Asymmetric => observer == 0 && validator == 1,
            _ => false,
        }
    }

    /// Whether a message from node `from` to node `to` is cut; `leader` tells which nodes are
    /// the current round's leader.
    pub fn blocks(&self, from: usize, to: usize, now: u64, leader: &dyn Fn(usize) -> bool) -> bool {
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
pub struct NetworkFaults {
    drop: u64,
    duplicate: u64,
    spike: u64,
    /// Message delays are uniform in `min_delay_ms..=max_delay_ms` outside spikes.
    min_delay_ms: u64,
    max_delay_ms: u64,
}

impl NetworkFaults {
    /// Draws this seed's link faults among those `faults` allows.
    pub fn draw(rng: &mut Rng, faults: &FaultSet) -> NetworkFaults {
        NetworkFaults {
            drop: if faults.drop {
                *rng.pick(&[0, 20, 50, 100])
            } else {
                0
            },
            duplicate: if faults.duplicate {
                *rng.pick(&[0, 20, 50])
            } else {
                0
            },
            spike: if faults.delay {
                *rng.pick(&[0, 10, 30])
            } else {
                0
            },
            // Without reordering every message takes the same time, which makes latency
            // measurable in message delays.
            min_delay_ms: if faults.reorder { 1 } else { FIXED_DELAY_MS },
            max_delay_ms: if faults.reorder { 40 } else { FIXED_DELAY_MS },
        }
    }

    /// Delays of the copies of one message on a link the partitions leave open: none if it is
    /// dropped, two if duplicated, now and then a spike of up to `spike_max_ms`. Drops,
    /// duplicates and spikes happen only while `faulty` (before the heal).
    pub fn link_delays(&self, rng: &mut Rng, faulty: bool, spike_max_ms: u64) -> Vec<u64> {
        if faulty && rng.chance(self.drop) {
            return Vec::new();
        }
        let copies = if faulty && rng.chance(self.duplicate) {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                if faulty && rng.chance(self.spike) {
                    rng.between(1, spike_max_ms)
                } else {
                    rng.between(self.min_delay_ms, self.max_delay_ms)
                }
            })
            .collect()
    }
}

/// The fault phase's partitions and crashes, as `plan` draws them.
pub struct FaultPlan {
    pub partitions: Vec<Partition>,
    /// (observer, crash time, restart time), in the order they are to be scheduled.
    pub observer_outages: Vec<(usize, u64, u64)>,
    /// (node, crash time, restart time), in the order they are to be scheduled.
    pub outages: Vec<(usize, u64, u64)>,
}

/// Partitions and crashes during the fault phase, for nodes speaking for `node_validators` (one
/// entry per node, twins twice) and `observers` observers. Twins runs always include a partition
/// that separates each twin from its other half, the scenario in which twins can fork.
pub fn plan(
    rng: &mut Rng,
    config: &SimConfig,
    node_validators: &[ValidatorIndex],
    observers: usize,
) -> FaultPlan {
    let n = node_validators.len();
    let phase = config.fault_phase_ms;
    let mut partitions = Vec::new();
    if config.faults.partition || config.twins > 0 {
        let episodes = rng.between(1, 3);
        for _ in 0..episodes {
            let start = rng.below(phase);
            let end = (start + rng.between(300, 3_000)).min(phase);
            let kind = *rng.pick(&[
                PartitionKind::Symmetric,
                PartitionKind::Asymmetric,
                PartitionKind::Isolated,
                PartitionKind::IsolatedLeader,
                PartitionKind::Ring,
            ]);
            let groups = match kind {
                PartitionKind::Isolated => {
                    let victim = rng.below(n as u64) as usize;
                    (0..n).map(|i| usize::from(i == victim)).collect()
                }
                PartitionKind::Ring => {
                    let mut order: Vec<usize> = (0..n).collect();
                    for i in (1..n).rev() {
                        order.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                    let mut position = vec![0; n];
                    for (p, node) in order.iter().enumerate() {
                        position[*node] = p;
                    }
                    position
                }
                _ => (0..n).map(|_| rng.below(2) as usize).collect(),
            };
            let observer_groups = (0..observers).map(|_| rng.below(2) as usize).collect();
            partitions.push(Partition {
                start,
                end,
                kind,
                groups,
                observer_groups,
            });
        }
        if config.twins > 0 {
            // Split every twin pair across two groups; spread the others at random.
            let mut groups = vec![0; n];
            let mut seen: HashMap<ValidatorIndex, usize> = HashMap::new();
            for (i, validator) in node_validators.iter().enumerate() {
                groups[i] = match seen.get(validator) {
                    Some(first) => 1 - groups[*first],
                    None => {
                        seen.insert(*validator, i);
                        rng.below(2) as usize
                    }
                };
            }
            let start = rng.below(phase / 2);
            let observer_groups = (0..observers).map(|_| rng.below(2) as usize).collect();
            partitions.push(Partition {
                start,
                end: phase,
                kind: PartitionKind::Symmetric,
                groups,
                observer_groups,
            });
        }
    }
    let mut outages: Vec<(usize, u64, u64)> = Vec::new();
    if config.faults.crash {
        let crashes = rng.between(1, 3);
        for _ in 0..crashes {
            let node = rng.below(n as u64) as usize;
            let at = rng.below(phase);
            let down = rng.between(200, 3_000);
            outages.push((node, at, (at + down).min(phase)));
        }
        // One run in eight also stops the whole cluster at once and starts it again.
        if rng.chance(125) {
            let at = rng.below(phase);
            outages.extend((0..n).map(|node| (node, at, (at + 500).min(phase))));
        }
    }
    if let Some(at) = config.restart_all_at_ms {
        outages.extend((0..n).map(|node| (node, at, at + 500)));
    }
    let mut observer_outages = Vec::new();
    if config.faults.crash {
        // Each observer loses its process once in two runs.
        for observer in 0..observers {
            if rng.chance(500) {
                let at = rng.below(phase);
                let up = (at + rng.between(200, 3_000)).min(phase);
                observer_outages.push((observer, at, up));
            }
        }
    }
    FaultPlan {
        partitions,
        observer_outages,
        outages,
    }
}
