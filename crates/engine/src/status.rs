//! What the engine publishes for the API and for operators without a round trip: the
//! [`Status`], the [`CommitEvent`]s, the [`Counters`] the admission reads, and the stall report.

use std::collections::HashSet;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use tenge_consensus::Consensus;
use tenge_types::{BlockId, HashValue, Height, Round, TimestampMs};
use tracing::warn;

use crate::Mode;
use crate::actor::Engine;
use crate::config::{GAPS_REFRESH_MS, STALL_REPORT_SECS};

/// The node's state, for the API and for operators.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    pub mode: Mode,
    pub chain_id: String,
    pub height: Height,
    pub block_id: BlockId,
    pub state_root: HashValue,
    pub block_time: TimestampMs,
    pub round: Round,
    pub peers: usize,
    pub syncing: bool,
    pub mempool_transactions: usize,
    /// Set when the node stopped: it found its execution disagreeing with a certified state.
    pub halted: Option<String>,
    /// The highest committed height this node knows of, at least `height`. A validator takes it
    /// from the highest quorum certificate it has seen (signed by a quorum: no single peer can
    /// raise it); an observer from the head the peer it last synced from reported (unsigned, but
    /// replaced at every poll). For `GET /ready?max_blocks_behind=N`.
    pub known_height: Height,
    /// For each validator (in index order), the highest height of a quorum certificate this
    /// node committed with that validator's signature in it: a validator far below the others
    /// is not signing (down, cut off, or refusing). `None` until this node has committed a
    /// certificate it signed since the node started.
    pub last_signed: Vec<Option<Height>>,
}

/// A committed block, announced to API subscribers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CommitEvent {
    pub height: Height,
    pub block_id: BlockId,
    pub state_root: HashValue,
    pub timestamp: TimestampMs,
    pub transactions: u32,
    pub applied: u32,
}

/// Levels the engine thread shares with the API without a round trip.
#[derive(Debug, Default)]
pub struct Counters {
    /// Transactions in the mempool, as of the engine's last loop.
    pub mempool_transactions: std::sync::atomic::AtomicUsize,
    /// Transactions in peers' gossip batches that wait for their checks (as the batches say).
    pub gossip_waiting: std::sync::atomic::AtomicUsize,
    /// Bytes of those batches (bounded: more are dropped).
    pub gossip_waiting_bytes: std::sync::atomic::AtomicUsize,
    /// The admission mark as of the engine's last loop ([`tenge_driver::admission::AdmissionMark`]).
    pub admission_mark: std::sync::atomic::AtomicUsize,
    /// Senders whose pending transactions wait for an earlier sequence that the node does not
    /// hold, as of the engine's last look (refreshed while the mempool is near the admission
    /// mark). Over the mark, only a transaction that fills such a gap is admitted (N3).
    pub senders_waiting_for_gap: RwLock<std::collections::HashSet<tenge_types::AccountId>>,
}

impl Counters {
    /// What counts against the admission mark: the mempool and the peers' transactions that
    /// wait for their checks on the way to it.
    pub fn waiting(&self) -> usize {
        self.mempool_transactions
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_add(
                self.gossip_waiting
                    .load(std::sync::atomic::Ordering::Relaxed),
            )
    }
}

impl Engine {
    /// Notes who signed certificates of committed blocks (`Status::last_signed`).
    pub(crate) fn record_signers<'a>(
        &mut self,
        certificates: impl IntoIterator<Item = &'a tenge_types::consensus::QuorumCertificate>,
    ) {
        for certificate in certificates {
            for (index, _) in &certificate.signatures {
                if let Some(last) = self.last_signed.get_mut(usize::from(*index)) {
                    *last = (*last).max(Some(certificate.data.height));
                }
            }
        }
    }

    /// Logs the consensus state when nothing has committed for a while: the first thing an
    /// operator looks at when a node falls behind.
    pub(crate) fn report_stall(&mut self) {
        let height = self.ledger.read().expect("ledger lock").head().height;
        let now = Instant::now();
        match self.progress {
            Some((last, since)) if last == height => {
                if now.duration_since(since) >= Duration::from_secs(STALL_REPORT_SECS) {
                    let summary = self
                        .replica
                        .consensus()
                        .map_or_else(|| "observer".to_string(), Consensus::summary);
                    warn!(%height, peers = self.connected.len(), %summary, "no commit for {STALL_REPORT_SECS} s");
                    self.progress = Some((height, now));
                }
            }
            _ => self.progress = Some((height, now)),
        }
    }

    /// The highest committed height known (see `Status::known_height`). A validator's high QC
    /// commits its parent when the two rounds follow each other (2-chain rule); one that commits
    /// nothing tells no committed height.
    fn known_height(&self, committed: tenge_types::Height) -> tenge_types::Height {
        let learned = match self.replica.consensus() {
            Some(consensus) => {
                let certified = &consensus.high_qc().data;
                match certified.commits() {
                    Some(_) => tenge_types::Height(certified.height.0.saturating_sub(1)),
                    None => committed,
                }
            }
            None => self.peer_head,
        };
        learned.max(committed)
    }

    pub(crate) fn publish_status(&mut self) {
        let ledger = self.ledger.read().expect("ledger lock");
        let header = ledger.head();
        let status = Status {
            mode: self.config.mode,
            chain_id: self.config.genesis.chain_id.to_string(),
            height: header.height,
            block_id: header.id(),
            state_root: header.state_root,
            block_time: header.timestamp,
            round: self.replica.consensus().map_or(Round(0), Consensus::round),
            peers: self.connected.len(),
            syncing: self.sync_in_flight.is_some(),
            mempool_transactions: self.replica.mempool().len(),
            halted: self.halted.clone(),
            known_height: self.known_height(header.height),
            last_signed: self.last_signed.clone(),
        };
        drop(ledger);
        self.status.send_replace(status);
    }

    /// Refreshes the senders whose transactions wait behind a gap, which the API's admission
    /// reads over the mark (N3): every `GAPS_REFRESH_MS` while the mempool is at least half the
    /// admission mark (a scan of the pending senders), and cleared once below it.
    pub(crate) fn publish_gaps(&mut self, now: Instant, mark: usize) {
        if now.duration_since(self.gaps_published) < Duration::from_millis(GAPS_REFRESH_MS) {
            return;
        }
        self.gaps_published = now;
        let near_mark = self.replica.mempool().len() * 2 >= mark;
        let gaps = if near_mark {
            let ledger = self.ledger.read().expect("ledger lock");
            self.replica.mempool().senders_waiting_for_gap(|sender| {
                ledger.state().account(sender).map_or(0, |a| a.sequence)
            })
        } else {
            HashSet::new()
        };
        let mut published = self
            .counters
            .senders_waiting_for_gap
            .write()
            .expect("gap set lock");
        if near_mark || !published.is_empty() {
            *published = gaps;
        }
    }
}
