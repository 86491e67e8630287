//! What a seed reports: its verdict and counts, the line printed for it, and the committed
//! transactions per kind summed over many seeds.

use std::collections::BTreeMap;

use tenge_types::HashValue;

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
    /// `sync-flood` requests answered and refused by the receiving node's network limits.
    pub flood_requests: (u64, u64),
    /// Consensus messages honest validators refused as invalid.
    pub refused_messages: u64,
    /// Gossip batches for which a receiver would penalise the sender.
    pub gossip_penalties: u64,
    /// Committed transactions per kind: (applied, refused with a code).
    pub outcomes: BTreeMap<&'static str, (u64, u64)>,
    pub simulated_ms: u64,
    pub events: u64,
    /// Mean time from a block's proposal to its commit at an honest node.
    pub mean_commit_latency_ms: f64,
    /// The latest epoch the run reached (0: the validator set never changed).
    pub epochs: u64,
    /// The epoch and height the chain was at when the late observer started, if there is one.
    pub late_observer_from: Option<(u64, u64)>,
}

impl SeedReport {
    /// The line printed for this seed (for a failing seed, or every seed with `--verbose`).
    pub fn summary(&self) -> String {
        let status = if self.violations.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        format!(
            "seed {}: {status}, committed {}, epochs {}{}, evidence {}, refused messages {}, gossip penalties {}, sync refusals {}, \
             sync flood answered/refused {}/{}, {} events, {} ms simulated, commit latency {:.1} ms",
            self.seed,
            self.committed_blocks,
            self.epochs,
            match self.late_observer_from {
                Some((epoch, height)) =>
                    format!(", late observer from epoch {epoch} height {height}"),
                None => String::new(),
            },
            self.evidence,
            self.refused_messages,
            self.gossip_penalties,
            self.sync_refusals,
            self.flood_requests.0,
            self.flood_requests.1,
            self.events,
            self.simulated_ms,
            self.mean_commit_latency_ms
        )
    }
}

/// Committed transactions per kind over `reports`: (applied, refused with a code).
fn outcome_counts(reports: &[SeedReport]) -> BTreeMap<&'static str, (u64, u64)> {
    let mut outcomes: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for report in reports {
        for (kind, (applied, refused)) in &report.outcomes {
            let total = outcomes.entry(*kind).or_default();
            total.0 += applied;
            total.1 += refused;
        }
    }
    outcomes
}

/// The line that sums `reports`' epoch changes: how many seeds changed the validator set, how
/// many epochs they reached, and after how many epoch changes late observers joined.
pub fn epochs_line(reports: &[SeedReport]) -> String {
    let changed = reports.iter().filter(|r| r.epochs > 0).count();
    let epochs: u64 = reports.iter().map(|r| r.epochs).sum();
    let most = reports.iter().map(|r| r.epochs).max().unwrap_or(0);
    let late: Vec<u64> = reports
        .iter()
        .filter_map(|r| r.late_observer_from.map(|(epoch, _)| epoch))
        .collect();
    let mut line = format!(
        "epochs: {changed} of {} seeds changed the validator set, {epochs} epoch changes in all, at most {most} in one seed",
        reports.len()
    );
    if !late.is_empty() {
        let after_three = late.iter().filter(|e| **e >= 3).count();
        line += &format!(
            "; late observers joined in {} seeds, {after_three} of them after 3 or more epoch changes",
            late.len()
        );
    }
    line
}

/// The line that sums `reports`' committed transactions by kind (applied/refused).
pub fn outcomes_line(reports: &[SeedReport]) -> String {
    let kinds: Vec<String> = outcome_counts(reports)
        .iter()
        .map(|(kind, (applied, refused))| format!("{kind} {applied}/{refused}"))
        .collect();
    format!(
        "committed transactions by kind (applied/refused): {}",
        kinds.join(", ")
    )
}
