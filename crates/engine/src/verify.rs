//! The [`Host`] the engine hands to the driver: verdicts from the node's [`VerifiedSet`] (what
//! was verified at the edge or in an earlier block), the rest verified on the verification
//! threads; measurements into the metrics.

use std::time::Duration;

use tenge_driver::{Host, Position, VerifiedSet};
use tenge_types::{Round, SignedTransaction};

use crate::metrics::Metrics;

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
        self.verified.verdicts(transactions, self.threads)
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
