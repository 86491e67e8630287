//! Carrying out what the driver asks ([`Output`]): messages sent, timers set, this node's
//! proposals built, commits announced, penalties, the halt.

use std::time::{Duration, Instant};

use tenge_consensus::{Input, Outgoing};
use tenge_driver::Output;
use tenge_ledger::ExecutedBlock;
use tenge_network::{Channel, PublicKey};
use tenge_types::consensus::{ConsensusMessage, EpochMessage, ValidatorIndex};
use tenge_types::{BlockId, Round, StateValue, TimestampMs};
use tracing::{debug, error, info, warn};

use crate::CommitEvent;
use crate::actor::Engine;
use crate::error::{best_effort, fatal};
use crate::start::admitted_peers;
use crate::verify::EngineHost;

impl Engine {
    /// Hands an input to the driver and does what it asks.
    pub(crate) fn input(&mut self, input: Input) {
        let mut outputs = Vec::new();
        let mut host = EngineHost {
            verified: &mut self.verified,
            metrics: &self.metrics,
            threads: self.config.limits.verify_threads,
        };
        if let Err(error) = self.replica.handle(input, &mut host, &mut outputs) {
            fatal("carrying out consensus effects", error);
        }
        for output in outputs {
            self.output(output);
        }
    }

    pub(crate) fn output(&mut self, output: Output) {
        match output {
            Output::Send { to, message } => self.send(to, message),
            // Handed back to this node's core by the driver already.
            Output::Signed { to_self: true, .. } => {}
            Output::Signed {
                outgoing: Outgoing::Send { to, message },
                ..
            } => self.send(to, message),
            Output::Signed {
                outgoing: Outgoing::Broadcast { message },
                ..
            } => {
                // Validators only: observers follow by range sync and drop consensus messages,
                // so sending them is wasted bandwidth (L4).
                let bytes = self.labelled(&message);
                let network = self.network.clone();
                let targets = self.other_validators();
                self.metrics.messages_sent(&message, targets.len());
                self.runtime.spawn(async move {
                    for to in targets {
                        best_effort(network.send(to, Channel::Consensus, bytes.clone()).await);
                    }
                });
            }
            Output::Timer { round, after_ms } => {
                self.timers.push(std::cmp::Reverse((
                    Instant::now() + Duration::from_millis(after_ms),
                    round,
                )));
            }
            Output::PayloadWanted { round, parent_id } => {
                // Nothing a block could carry (an empty mempool, or one whose transactions all
                // wait behind sequence gaps) and nothing waiting to be committed: wait a little
                // for transactions instead of filling the chain (and the disk) with empty
                // blocks, hundreds a second with a mempool of gapped transactions (N3).
                if !self.mempool_has_ready() && !self.uncommitted_transactions(parent_id) {
                    let due = Instant::now()
                        + Duration::from_millis(self.config.limits.empty_block_interval_ms);
                    self.payload_due = Some((round, parent_id, due));
                    self.payload_checked = self.replica.mempool().insertions();
                } else {
                    self.propose(round, parent_id);
                }
            }
            Output::BlockRefused { block_id, reason } => {
                warn!(block = %block_id.short(), %reason, "block refused");
                self.metrics.block_failed_execution();
            }
            Output::Committed {
                executed,
                blocks,
                certificate,
                ..
            } => {
                self.record_signers(
                    blocks
                        .iter()
                        .map(|block| &block.parent_qc)
                        .chain([&certificate]),
                );
                self.committed(executed);
            }
            Output::Evidence(evidence) => {
                warn!(author = evidence.author, round = %evidence.round, kind = evidence.kind, "equivocation evidence");
            }
            Output::Invalid { from, kind, reason } => {
                self.metrics.message_refused(kind, &reason);
                if let Some(key) = self.validators.key(from).copied() {
                    self.penalize(key, reason.to_string());
                }
            }
            Output::Halted(reason) => self.halt(reason),
            Output::EpochStarted { epoch, me } => {
                // Messages and certificates of the new epoch are checked against its set from
                // here on; its validators were listed as peers when the block committed (D80).
                info!(epoch = epoch.number, validators = epoch.validators.len(), member = ?me, "epoch started");
                self.epoch = epoch.number;
                self.later_epoch_seen = false;
                let set = epoch.set();
                *self.consensus_keys.write().expect("validator keys lock") = set
                    .keys
                    .iter()
                    .chain(&self.validators.keys)
                    .copied()
                    .collect();
                self.validators = set;
                self.verifier = epoch.verifier();
                self.last_signed = vec![None; self.validators.len()];
            }
        }
    }

    /// Builds this node's block for `round` and hands it to the core.
    fn propose(&mut self, round: Round, parent_id: BlockId) {
        self.payload_due = None;
        let budget = crate::mempool::BlockBudget {
            transactions: self.config.limits.block_max_txs,
            bytes: crate::mempool::BLOCK_TRANSACTION_BYTES,
        };
        if let Some(block) = self
            .replica
            .build(TimestampMs::now(), round, parent_id, budget)
        {
            self.input(Input::PayloadReady { round, block });
        }
    }

    /// True if an uncommitted ancestor (up to `parent_id`) carries transactions: it needs
    /// children to commit, so the next block goes out at once, empty or not.
    fn uncommitted_transactions(&self, parent_id: BlockId) -> bool {
        let head = self.replica.ledger().head().id();
        self.replica
            .pipeline()
            .ancestors(head, parent_id)
            .is_some_and(|chain| chain.iter().any(|b| !b.block.transactions.is_empty()))
    }

    fn mempool_has_ready(&self) -> bool {
        let ledger = self.replica.ledger();
        let state = ledger.state();
        self.replica
            .mempool()
            .has_ready(|id| state.account(id).map_or(0, |a| a.sequence))
    }

    /// Builds a delayed proposal once a block could carry something or the wait is over. The
    /// mempool is looked into again only after an insertion.
    pub(crate) fn maybe_propose_due(&mut self) {
        let Some((_, _, due)) = self.payload_due else {
            return;
        };
        let insertions = self.replica.mempool().insertions();
        let inserted = insertions != self.payload_checked;
        self.payload_checked = insertions;
        if let Some((round, parent_id, _)) = self.payload_due
            && ((inserted && self.mempool_has_ready()) || Instant::now() >= due)
        {
            self.propose(round, parent_id);
        }
    }

    /// `message` as it goes out: labelled with the epoch this node is in (D82). An epoch's last
    /// messages (its `EpochEnd`) leave before `Output::EpochStarted` moves the label on.
    fn labelled(&self, message: &ConsensusMessage) -> Vec<u8> {
        EpochMessage::encode(self.epoch, message)
    }

    /// Sends a message to another validator (the driver keeps those to this node).
    fn send(&mut self, to: ValidatorIndex, message: ConsensusMessage) {
        let Some(key) = self.validators.key(to).copied() else {
            return;
        };
        self.metrics.messages_sent(&message, 1);
        let bytes = self.labelled(&message);
        let network = self.network.clone();
        self.runtime.spawn(async move {
            best_effort(network.send(key, Channel::Consensus, bytes).await);
        });
    }

    /// Reports a peer that sent something invalid, from a task of its own: the engine thread
    /// does not wait for the network.
    pub(crate) fn penalize(&self, peer: PublicKey, reason: String) {
        let network = self.network.clone();
        self.runtime.spawn(async move {
            best_effort(network.penalize(peer, reason).await);
        });
    }

    /// Lists the peers the committed state admits (D75, D80): a validator lets the admitted
    /// observers connect and drops those removed; every node dials the current validators.
    /// Versioned by the committed height, so that lists handed to the network from separate
    /// tasks cannot undo a newer one.
    pub(crate) fn admit_peers(&self) {
        let (height, peers) = {
            let ledger = self.replica.ledger();
            (
                ledger.head().height,
                admitted_peers(
                    ledger.state(),
                    self.config.mode,
                    &self.config.key.public_key(),
                ),
            )
        };
        info!(%height, peers = peers.len(), "peers admitted on chain");
        let network = self.network.clone();
        self.runtime.spawn(async move {
            best_effort(network.admit(height.0, peers).await);
        });
    }

    pub(crate) fn halt(&mut self, reason: String) {
        error!(%reason, "HALTED: this node stops following the chain; investigate before restarting");
        self.replica.halt(reason.clone());
        self.halted = Some(reason);
        self.publish_status();
    }

    /// Blocks the driver made permanent (store, ledger, mempool): the admission mark, the
    /// metrics and the subscribers hear of each, in order.
    pub(crate) fn committed(&mut self, executed: Vec<ExecutedBlock>) {
        let membership_changed = executed.iter().any(|executed| {
            executed
                .execution
                .delta
                .entries
                .iter()
                .any(|entry| matches!(entry.value, StateValue::Membership(_)))
        });
        for executed in executed {
            let header = &executed.block.header;
            self.admission
                .record(Instant::now(), u64::from(header.transaction_count));
            let applied = executed.execution.applied_count() as u32;
            self.metrics.block_committed(
                applied,
                executed
                    .execution
                    .receipts
                    .iter()
                    .filter_map(|receipt| receipt.outcome.as_ref().err().map(|r| r.code)),
                Duration::from_millis(TimestampMs::now().0.saturating_sub(header.timestamp.0)),
            );
            best_effort(self.commits.send(CommitEvent {
                height: header.height,
                block_id: executed.block.id(),
                state_root: header.state_root,
                timestamp: header.timestamp,
                transactions: header.transaction_count,
                applied,
            }));
            debug!(height = %header.height, transactions = header.transaction_count, "committed");
        }
        if membership_changed {
            self.admit_peers();
        }
        // Once per committed run: what this observer passed on and the chain has since settled.
        if !self.forwarded.is_empty() {
            let ledger = self.replica.ledger();
            let state = ledger.state();
            self.forwarded.retain(|_, (sender, sequence, _)| {
                *sequence >= state.account(sender).map_or(0, |a| a.sequence)
            });
        }
        self.publish_status();
    }
}
