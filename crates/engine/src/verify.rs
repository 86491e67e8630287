//! Signature verdicts for the driver: which signed transactions were already verified (at the
//! edge, or in an earlier block), and the [`Host`] the engine hands to the driver.

use std::collections::HashSet;
use std::time::Duration;

use tenge_driver::{Host, Position};
use tenge_ledger::verify_signatures;
use tenge_types::{HashValue, Round, SignedTransaction};

use crate::config::VERIFIED_GENERATION_DIGESTS;
use crate::metrics::Metrics;

/// Verified signed-transaction digests, in two generations so the set stays bounded.
#[derive(Default)]
pub(crate) struct VerifiedSet {
    current: HashSet<HashValue>,
    previous: HashSet<HashValue>,
}

impl VerifiedSet {
    pub(crate) fn insert(&mut self, digest: HashValue) {
        if self.current.len() >= VERIFIED_GENERATION_DIGESTS {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(digest);
    }

    fn contains(&self, digest: &HashValue) -> bool {
        self.current.contains(digest) || self.previous.contains(digest)
    }
}

/// The engine's side of the driver: signature verdicts from the verified set, the rest verified
/// now (batched, on the verification threads); measurements into the metrics.
pub(crate) struct EngineHost<'a> {
    pub(crate) verified: &'a mut VerifiedSet,
    pub(crate) metrics: &'a Metrics,
    pub(crate) threads: usize,
}

impl Host for EngineHost<'_> {
    /// The wall clock, read for each input the driver hands the core.
    fn now(&mut self) -> tenge_types::TimestampMs {
        tenge_types::TimestampMs::now()
    }

    fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool> {
        let digests: Vec<HashValue> = transactions.iter().map(SignedTransaction::digest).collect();
        let unknown: Vec<usize> = (0..transactions.len())
            .filter(|i| !self.verified.contains(&digests[*i]))
            .collect();
        let mut valid = vec![true; transactions.len()];
        if !unknown.is_empty() {
            let batch: Vec<SignedTransaction> =
                unknown.iter().map(|i| transactions[*i].clone()).collect();
            let results = verify_signatures(&batch, self.threads);
            for (i, ok) in unknown.into_iter().zip(results) {
                valid[i] = ok;
                if ok {
                    self.verified.insert(digests[i]);
                }
            }
        }
        valid
    }

    fn safety_written(&mut self, elapsed: Duration) {
        self.metrics.safety_data_written(elapsed);
    }

    fn blocks_written(&mut self, elapsed: Duration, bytes: usize) {
        self.metrics.blocks_written(elapsed, bytes);
    }

    fn moved(&mut self, before: Position, after: Position, timer: Option<Round>) {
        self.metrics.consensus_moved(before, after, timer);
    }
}
