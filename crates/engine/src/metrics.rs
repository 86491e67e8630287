//! The node's metrics: one prometheus-client registry holding the engine's metrics, the API's
//! and libp2p's own (registered by `tenge-network`), rendered by `GET /metrics` in the
//! OpenMetrics text format (docs/decisions.md D49).
//!
//! Counters and histograms only ever go up, from the start of the process, so `rate()` and
//! `histogram_quantile()` work across scrapes. Levels that go up and down (height, round, peers,
//! mempool size, disk usage) are gauges read from the engine's published status at scrape time.

use std::path::PathBuf;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tenge_consensus::InvalidMessage;
use tenge_types::Round;
use tenge_types::consensus::ConsensusMessage;
use tokio::sync::watch;

use crate::{MempoolError, Status};

/// Commit latency buckets, in seconds (the ones `/metrics` has always had).
const COMMIT_LATENCY_BUCKETS: [f64; 8] = [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];
/// API request duration buckets, in seconds.
const API_DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    code: u16,
    name: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabels {
    epoch: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvalidLabels {
    kind: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceReasonLabels {
    source: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// An API request, for `tenge_api_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiRequestLabels {
    /// The route's path pattern (`/v1/accounts/:id`), or `unmatched`: never the raw path, so
    /// a client cannot create label values at will.
    pub route: String,
    pub method: String,
    pub status: u16,
}

/// An API route, for `tenge_api_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiRouteLabels {
    pub route: String,
    pub method: String,
}

fn api_duration_histogram() -> Histogram {
    Histogram::new(API_DURATION_BUCKETS)
}

/// Storage write latency: 0.25 ms to about 4 s.
fn storage_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

/// The kind of a consensus message, as a label value.
pub(crate) fn message_kind(message: &ConsensusMessage) -> &'static str {
    match message {
        ConsensusMessage::Proposal(_) => "proposal",
        ConsensusMessage::Vote(_) => "vote",
        ConsensusMessage::Timeout(_) => "timeout",
        ConsensusMessage::FetchRequest { .. } => "fetch_request",
        ConsensusMessage::FetchResponse { .. } => "fetch_response",
        ConsensusMessage::EpochEnd { .. } => "epoch_end",
    }
}

/// Why a message was refused, as a label value (a fixed set, never the message text).
fn invalid_reason(reason: &InvalidMessage) -> &'static str {
    match reason {
        InvalidMessage::UnknownAuthor(_) => "unknown_author",
        InvalidMessage::BadSignature(_) => "bad_signature",
        InvalidMessage::TooFewSigners { .. } => "too_few_signers",
        InvalidMessage::UnsortedSigners => "unsorted_signers",
        InvalidMessage::BadCertificateSignature => "bad_certificate_signature",
        InvalidMessage::WrongGenesis => "wrong_genesis",
        InvalidMessage::NotLeader { .. } => "not_leader",
        InvalidMessage::Inconsistent(_) => "inconsistent",
        InvalidMessage::TimeoutCertificateQc { .. } => "timeout_certificate_qc",
        InvalidMessage::Equivocation { .. } => "equivocation",
    }
}

fn mempool_reason(error: &MempoolError) -> &'static str {
    match error {
        MempoolError::Full(_) => "full",
        MempoolError::SequenceUsed { .. } => "sequence_used",
        MempoolError::SequenceTooFarAhead { .. } => "sequence_too_far_ahead",
        MempoolError::SequencePending { .. } => "sequence_pending",
    }
}

/// Every metric of a node. Built once at start; the registry is complete before the first scrape.
pub struct Metrics {
    registry: Registry,
    committed_blocks: Counter,
    committed_transactions: Counter,
    rejections: Family<RejectionLabels, Counter>,
    commit_latency: Histogram,
    qcs: Counter,
    tcs: Counter,
    round_timeouts: Counter,
    messages_received: Family<KindLabels, Counter>,
    messages_other_epoch: Family<DirectionLabels, Counter>,
    messages_sent: Family<KindLabels, Counter>,
    invalid_messages: Family<InvalidLabels, Counter>,
    proposals_refused: Family<ReasonLabels, Counter>,
    mempool_admitted: Family<SourceLabels, Counter>,
    mempool_refused: Family<SourceReasonLabels, Counter>,
    mempool_expired: Counter,
    sync_requests: Counter,
    sync_responses: Family<OutcomeLabels, Counter>,
    sync_blocks: Counter,
    sync_served_requests: Counter,
    sync_served_blocks: Counter,
    storage_commit: Histogram,
    storage_safety_write: Histogram,
    storage_block_bytes: Counter,
    api_requests: Family<ApiRequestLabels, Counter>,
    api_duration: Family<ApiRouteLabels, Histogram, fn() -> Histogram>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every engine and API metric in a new registry. The network adds its own
    /// through [`Metrics::registry_mut`] and the status gauges come with
    /// [`Metrics::register_status`], both before the registry is shared.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let r = &mut registry;
        let committed_blocks = Counter::default();
        r.register(
            "tenge_committed_blocks",
            "Blocks committed on this node (by consensus or range sync)",
            committed_blocks.clone(),
        );
        let committed_transactions = Counter::default();
        r.register(
            "tenge_committed_transactions",
            "Transactions applied in committed blocks",
            committed_transactions.clone(),
        );
        let rejections = Family::default();
        r.register(
            "tenge_rejections",
            "Transactions rejected in committed blocks, by code",
            rejections.clone(),
        );
        let commit_latency = Histogram::new(COMMIT_LATENCY_BUCKETS);
        r.register_with_unit(
            "tenge_commit_latency",
            "From a block's timestamp to its commit on this node",
            Unit::Seconds,
            commit_latency.clone(),
        );
        let qcs = Counter::default();
        r.register(
            "tenge_consensus_qcs",
            "Quorum certificates that raised this node's highest QC (formed here or received)",
            qcs.clone(),
        );
        let tcs = Counter::default();
        r.register(
            "tenge_consensus_tcs",
            "Rounds this node entered through a timeout certificate",
            tcs.clone(),
        );
        let round_timeouts = Counter::default();
        r.register(
            "tenge_consensus_round_timeouts",
            "Rounds whose timer fired on this node before the round ended",
            round_timeouts.clone(),
        );
        let messages_received = Family::default();
        r.register(
            "tenge_consensus_messages_received",
            "Consensus messages received from validators, by kind",
            messages_received.clone(),
        );
        let messages_other_epoch = Family::default();
        r.register(
            "tenge_consensus_messages_other_epoch",
            "Consensus messages set aside unchecked because their sender labelled them with an \
             earlier or later epoch than this node's (D82)",
            messages_other_epoch.clone(),
        );
        let messages_sent = Family::default();
        r.register(
            "tenge_consensus_messages_sent",
            "Consensus messages sent to each validator, by kind (a broadcast counts once per \
             validator)",
            messages_sent.clone(),
        );
        let invalid_messages = Family::default();
        r.register(
            "tenge_consensus_invalid_messages",
            "Consensus messages refused as invalid, by kind and reason",
            invalid_messages.clone(),
        );
        let proposals_refused = Family::default();
        r.register(
            "tenge_consensus_proposals_refused",
            "Proposed or fetched blocks refused, by reason (execution_failed: the block does not \
             execute to its header's roots or breaks a ledger rule)",
            proposals_refused.clone(),
        );
        let mempool_admitted = Family::default();
        r.register(
            "tenge_mempool_admitted_transactions",
            "Transactions taken into the mempool, by source (client, gossip)",
            mempool_admitted.clone(),
        );
        let mempool_refused = Family::default();
        r.register(
            "tenge_mempool_refused_transactions",
            "Transactions the mempool refused, by source and reason",
            mempool_refused.clone(),
        );
        let mempool_expired = Counter::default();
        r.register(
            "tenge_mempool_expired_transactions",
            "Transactions that left the mempool uncommitted after mempool_ttl_ms",
            mempool_expired.clone(),
        );
        let sync_requests = Counter::default();
        r.register(
            "tenge_sync_requests",
            "Range-sync requests this node sent",
            sync_requests.clone(),
        );
        let sync_responses = Family::default();
        r.register(
            "tenge_sync_responses",
            "Range-sync responses by outcome (applied, kept, empty, refused, failed)",
            sync_responses.clone(),
        );
        let sync_blocks = Counter::default();
        r.register(
            "tenge_sync_blocks",
            "Blocks committed through range sync",
            sync_blocks.clone(),
        );
        let sync_served_requests = Counter::default();
        r.register(
            "tenge_sync_served_requests",
            "Range-sync requests this node answered",
            sync_served_requests.clone(),
        );
        let sync_served_blocks = Counter::default();
        r.register(
            "tenge_sync_served_blocks",
            "Blocks this node sent in range-sync answers",
            sync_served_blocks.clone(),
        );
        let storage_commit = storage_histogram();
        r.register_with_unit(
            "tenge_storage_commit",
            "Time to write the blocks one certificate commits (one synced atomic batch; usually one block)",
            Unit::Seconds,
            storage_commit.clone(),
        );
        let storage_safety_write = storage_histogram();
        r.register_with_unit(
            "tenge_storage_safety_write",
            "Time to persist consensus safety data (a synced write before every vote or timeout)",
            Unit::Seconds,
            storage_safety_write.clone(),
        );
        let storage_block_bytes = Counter::default();
        r.register_with_unit(
            "tenge_storage_block",
            "Encoded bytes of the committed blocks written (state and index entries not counted)",
            Unit::Bytes,
            storage_block_bytes.clone(),
        );
        let api_requests = Family::default();
        r.register(
            "tenge_api_requests",
            "API requests answered, by route, method and status",
            api_requests.clone(),
        );
        let api_duration =
            Family::new_with_constructor(api_duration_histogram as fn() -> Histogram);
        r.register_with_unit(
            "tenge_api_request_duration",
            "Time to answer an API request (to the response head), by route and method",
            Unit::Seconds,
            api_duration.clone(),
        );
        Metrics {
            registry,
            committed_blocks,
            committed_transactions,
            rejections,
            commit_latency,
            qcs,
            tcs,
            round_timeouts,
            messages_received,
            messages_other_epoch,
            messages_sent,
            invalid_messages,
            proposals_refused,
            mempool_admitted,
            mempool_refused,
            mempool_expired,
            sync_requests,
            sync_responses,
            sync_blocks,
            sync_served_requests,
            sync_served_blocks,
            storage_commit,
            storage_safety_write,
            storage_block_bytes,
            api_requests,
            api_duration,
        }
    }

    /// For the network to register its metrics and libp2p's.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Adds the gauges read from the engine's status at every scrape, and the size of the
    /// database directory.
    pub fn register_status(&mut self, status: watch::Receiver<Status>, database_dir: PathBuf) {
        self.registry.register_collector(Box::new(StatusGauges {
            status,
            database_dir,
        }));
    }

    /// The whole registry in the OpenMetrics text format, ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    // ---- recording ---------------------------------------------------------------------------

    pub(crate) fn block_committed(
        &self,
        applied: u32,
        rejected: impl Iterator<Item = tenge_types::RejectionCode>,
        latency: Duration,
    ) {
        self.committed_blocks.inc();
        self.committed_transactions.inc_by(u64::from(applied));
        for code in rejected {
            self.rejections
                .get_or_create(&RejectionLabels {
                    code: code.code(),
                    name: code.name(),
                })
                .inc();
        }
        self.commit_latency.observe(latency.as_secs_f64());
    }

    /// After the store wrote the blocks one certificate commits (one synced write).
    pub(crate) fn blocks_written(&self, write: Duration, bytes: usize) {
        self.storage_commit.observe(write.as_secs_f64());
        self.storage_block_bytes.inc_by(bytes as u64);
    }

    pub(crate) fn safety_data_written(&self, write: Duration) {
        self.storage_safety_write.observe(write.as_secs_f64());
    }

    /// After the consensus core handled an input: a higher QC, a round entered by TC, a round
    /// timer that fired in its own round.
    pub(crate) fn consensus_moved(
        &self,
        before: tenge_driver::Position,
        after: tenge_driver::Position,
        timer_fired_for: Option<Round>,
    ) {
        if after.high_qc_round > before.high_qc_round {
            self.qcs.inc();
        }
        // A QC opens the round after it; a round beyond that was opened by a TC.
        if after.round > before.round && after.round > after.high_qc_round.saturating_next() {
            self.tcs.inc();
        }
        if timer_fired_for == Some(before.round) {
            self.round_timeouts.inc();
        }
    }

    pub(crate) fn message_received(&self, message: &ConsensusMessage) {
        self.messages_received
            .get_or_create(&KindLabels {
                kind: message_kind(message),
            })
            .inc();
    }

    pub(crate) fn message_of_other_epoch(&self, later: bool) {
        self.messages_other_epoch
            .get_or_create(&DirectionLabels {
                epoch: if later { "later" } else { "earlier" },
            })
            .inc();
    }

    pub(crate) fn messages_sent(&self, message: &ConsensusMessage, copies: usize) {
        self.messages_sent
            .get_or_create(&KindLabels {
                kind: message_kind(message),
            })
            .inc_by(copies as u64);
    }

    /// The core refused a message; `kind` is the kind of the message it was handling.
    pub(crate) fn message_refused(&self, kind: &'static str, reason: &InvalidMessage) {
        let reason = invalid_reason(reason);
        self.invalid_messages
            .get_or_create(&InvalidLabels { kind, reason })
            .inc();
        if kind == "proposal" {
            self.proposals_refused
                .get_or_create(&ReasonLabels { reason })
                .inc();
        }
    }

    pub(crate) fn block_failed_execution(&self) {
        self.proposals_refused
            .get_or_create(&ReasonLabels {
                reason: "execution_failed",
            })
            .inc();
    }

    pub(crate) fn mempool_insert(&self, source: &'static str, result: &Result<bool, MempoolError>) {
        match result {
            Ok(true) => {
                self.mempool_admitted
                    .get_or_create(&SourceLabels { source })
                    .inc();
            }
            // Already there: neither admitted again nor refused.
            Ok(false) => {}
            Err(error) => {
                self.mempool_refused
                    .get_or_create(&SourceReasonLabels {
                        source,
                        reason: mempool_reason(error),
                    })
                    .inc();
            }
        }
    }

    pub(crate) fn mempool_expired(&self, count: usize) {
        self.mempool_expired.inc_by(count as u64);
    }

    pub(crate) fn sync_requested(&self) {
        self.sync_requests.inc();
    }

    /// `outcome`: applied, kept, empty, refused or failed.
    pub(crate) fn sync_answered(&self, outcome: &'static str, blocks_applied: usize) {
        self.sync_responses
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        self.sync_blocks.inc_by(blocks_applied as u64);
    }

    pub(crate) fn sync_served(&self, blocks: usize) {
        self.sync_served_requests.inc();
        self.sync_served_blocks.inc_by(blocks as u64);
    }

    /// One API request answered.
    pub fn api_request(&self, route: &str, method: &str, status: u16, duration: Duration) {
        self.api_requests
            .get_or_create(&ApiRequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.api_duration
            .get_or_create(&ApiRouteLabels {
                route: route.to_string(),
                method: method.to_string(),
            })
            .observe(duration.as_secs_f64());
    }
}

/// Gauges taken from the last published status (and the database size) when scraped.
#[derive(Debug)]
struct StatusGauges {
    status: watch::Receiver<Status>,
    database_dir: PathBuf,
}

impl StatusGauges {
    /// Bytes of the files in the database directory (RocksDB keeps it flat: SST files, WAL,
    /// manifest). Read at each scrape: a few dozen `stat` calls.
    fn database_bytes(&self) -> u64 {
        std::fs::read_dir(&self.database_dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter_map(|entry| entry.metadata().ok())
                    .filter(std::fs::Metadata::is_file)
                    .map(|metadata| metadata.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    let metric_encoder = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    metric.encode(metric_encoder)
}

impl Collector for StatusGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let status = self.status.borrow().clone();
        let clamp = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let e = &mut encoder;
        gauge(
            e,
            "tenge_height",
            "Height of the committed head",
            None,
            clamp(status.height.0),
        )?;
        gauge(
            e,
            "tenge_round",
            "Current consensus round (0 for observers)",
            None,
            clamp(status.round.0),
        )?;
        gauge(
            e,
            "tenge_peers",
            "Connected peers",
            None,
            clamp(status.peers as u64),
        )?;
        gauge(
            e,
            "tenge_mempool_transactions",
            "Transactions waiting in the mempool",
            None,
            clamp(status.mempool_transactions as u64),
        )?;
        gauge(
            e,
            "tenge_syncing",
            "1 while a range-sync request is outstanding",
            None,
            i64::from(status.syncing),
        )?;
        gauge(
            e,
            "tenge_halted",
            "1 if the node halted (its execution disagreed with a certified block)",
            None,
            i64::from(status.halted.is_some()),
        )?;
        gauge(
            e,
            "tenge_storage_database",
            "Bytes of the files in the database directory",
            Some(&Unit::Bytes),
            clamp(self.database_bytes()),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, sample: &str) -> Option<f64> {
        text.lines()
            .find(|line| line.starts_with(sample) && line[sample.len()..].starts_with(' '))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse().ok())
    }

    #[test]
    fn names_kept_from_the_hand_written_page() {
        let metrics = Metrics::new();
        metrics.block_committed(
            3,
            [tenge_types::RejectionCode::InsufficientFunds].into_iter(),
            Duration::from_millis(150),
        );
        metrics.blocks_written(Duration::from_millis(2), 1_000);
        let text = metrics.render();
        assert_eq!(
            value(&text, "tenge_committed_transactions_total"),
            Some(3.0)
        );
        assert_eq!(value(&text, "tenge_committed_blocks_total"), Some(1.0));
        assert_eq!(
            value(&text, "tenge_commit_latency_seconds_bucket{le=\"0.2\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "tenge_commit_latency_seconds_bucket{le=\"0.1\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&text, "tenge_commit_latency_seconds_count"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "tenge_storage_block_bytes_total"),
            Some(1000.0)
        );
        let code = tenge_types::RejectionCode::InsufficientFunds;
        assert_eq!(
            value(
                &text,
                &format!(
                    "tenge_rejections_total{{code=\"{}\",name=\"{}\"}}",
                    code.code(),
                    code.name()
                )
            ),
            Some(1.0)
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_round_entered_by_timeout_certificate_is_told_from_one_entered_by_qc() {
        let metrics = Metrics::new();
        let at = |round, high_qc_round| tenge_driver::Position {
            round: Round(round),
            high_qc_round: Round(high_qc_round),
        };
        // A QC for round 4 opens round 5.
        metrics.consensus_moved(at(4, 3), at(5, 4), None);
        // Round 5 times out; a TC for round 5 opens round 6 with the high QC still at 4.
        metrics.consensus_moved(at(5, 4), at(5, 4), Some(Round(5)));
        metrics.consensus_moved(at(5, 4), at(6, 4), None);
        // A stale timer (for a round already left) is not a timeout.
        metrics.consensus_moved(at(6, 4), at(6, 4), Some(Round(5)));
        let text = metrics.render();
        assert_eq!(value(&text, "tenge_consensus_qcs_total"), Some(1.0));
        assert_eq!(value(&text, "tenge_consensus_tcs_total"), Some(1.0));
        assert_eq!(
            value(&text, "tenge_consensus_round_timeouts_total"),
            Some(1.0)
        );
    }
}
