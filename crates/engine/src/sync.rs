//! The range-sync shell around the driver: serving committed blocks to peers, asking a peer
//! when this node is behind (validators) or on every poll (observers), and handing what comes
//! back to `Replica::follow`.

use std::time::{Duration, Instant};

use tenge_consensus::Input;
use tenge_driver::Followed;
use tenge_network::{PublicKey, SyncReply};
use tenge_types::consensus::BlockWithParentQc;
use tenge_types::sync::{SyncRequest, SyncResponse};
use tracing::{debug, info, warn};

use crate::actor::Engine;
use crate::config::{STALL_SYNC_SECS, SYNC_REQUEST_TIMEOUT_SECS};
use crate::error::fatal;
use crate::ingress::EngineEvent;
use crate::verify::EngineHost;

impl Engine {
    pub(crate) fn serve_sync(&mut self, from: PublicKey, bytes: &[u8], reply: SyncReply) {
        let request = match SyncRequest::from_bytes(bytes) {
            Ok(request) => request,
            Err(error) => {
                self.penalize(from, format!("undecodable sync request: {error}"));
                return;
            }
        };
        let SyncRequest::Committed {
            after_height,
            max_blocks,
        } = request;
        let max_blocks = max_blocks.min(self.config.limits.sync_batch_blocks);
        let blocks = match tenge_driver::sync::serve(self.store.as_ref(), after_height, max_blocks)
        {
            Ok(blocks) => blocks,
            Err(error) => fatal("serving sync", error),
        };
        let head = self.ledger.read().expect("ledger lock").head().height;
        self.metrics.sync_served(blocks.len());
        reply.send(SyncResponse::Committed { blocks, head }.to_bytes());
    }

    /// Asks a peer for committed blocks when this node is behind (validators) or on every poll
    /// (observers).
    pub(crate) fn maybe_sync(&mut self) {
        if self.halted.is_some() {
            return;
        }
        if self
            .sync_in_flight
            .is_some_and(|sent| sent.elapsed() < Duration::from_secs(SYNC_REQUEST_TIMEOUT_SECS))
        {
            return;
        }
        let height = self.ledger.read().expect("ledger lock").head().height;
        let now = Instant::now();
        if self.stall_sync.0 != height {
            self.stall_sync = (height, now);
        }
        // A validator is behind when its certificates say so, when a validator of a later
        // epoch wrote to it, or when it committed nothing for a while: one that missed its
        // epoch's end hears from no certificate it can check (D82).
        let stalled = now.duration_since(self.stall_sync.1) >= Duration::from_secs(STALL_SYNC_SECS);
        let behind = match self.replica.consensus() {
            None => true,
            Some(consensus) => {
                consensus.high_qc().data.height.0 > height.0 + self.config.limits.sync_gap_blocks
                    || self.later_epoch_seen
                    || stalled
            }
        };
        if !behind {
            return;
        }
        let candidates = self.other_validators();
        if candidates.is_empty() {
            return;
        }
        // Prefer connected peers; rotate so a slow or faulty one is not asked forever.
        let connected: Vec<PublicKey> = candidates
            .iter()
            .copied()
            .filter(|k| self.connected.contains(k))
            .collect();
        let pool = if connected.is_empty() {
            &candidates
        } else {
            &connected
        };
        if stalled {
            // At most one request per `STALL_SYNC_SECS` while the height stays.
            self.stall_sync.1 = now;
        }
        self.sync_cursor = self.sync_cursor.wrapping_add(1);
        let peer = pool[self.sync_cursor % pool.len()];
        // Continue after blocks kept from an earlier, unproven response.
        let after_height = self.sync_buffer.after(height);
        let request = SyncRequest::Committed {
            after_height,
            max_blocks: self.config.limits.sync_batch_blocks,
        }
        .to_bytes();
        let network = self.network.clone();
        let events = self.events.clone();
        self.sync_in_flight = Some(Instant::now());
        self.metrics.sync_requested();
        self.runtime.spawn(async move {
            let result = match network.request(peer, request).await {
                Ok(bytes) => SyncResponse::from_bytes(&bytes)
                    .map_err(|e| format!("undecodable sync response: {e}")),
                Err(error) => Err(error.to_string()),
            };
            // A full queue drops the result: the request then counts as in flight until
            // `SYNC_REQUEST_TIMEOUT_SECS` and is sent again.
            let _ = events.try_send(EngineEvent::SyncResult { from: peer, result });
        });
    }

    /// A sync range failed its checks. With blocks kept from an earlier response in it, the
    /// fault may be the earlier peer's: both are dropped and nobody is penalised (L5).
    fn refuse_sync(&self, from: PublicKey, reason: &str, blame_peer: bool) {
        self.metrics.sync_answered("refused", 0);
        if !blame_peer {
            debug!(peer = %from.short(), %reason, "sync range does not chain onto kept blocks: both dropped");
            return;
        }
        warn!(peer = %from.short(), %reason, "sync response refused");
        self.penalize(from, format!("invalid sync response: {reason}"));
    }

    pub(crate) fn on_sync_result(&mut self, from: PublicKey, result: Result<SyncResponse, String>) {
        self.sync_in_flight = None;
        let SyncResponse::Committed { blocks, head } = match result {
            Ok(response) => response,
            Err(error) => {
                debug!(peer = %from.short(), %error, "sync request failed");
                self.metrics.sync_answered("failed", 0);
                return;
            }
        };
        self.peer_head = head;
        let mut host = EngineHost {
            verified: &mut self.verified,
            metrics: &self.metrics,
            threads: self.config.limits.verify_threads,
        };
        let followed = self
            .replica
            .follow(
                &mut self.verifier,
                &mut self.sync_buffer,
                blocks,
                self.config.limits.sync_signature_check,
                self.config.limits.verify_threads,
                &mut host,
            )
            .unwrap_or_else(|error| fatal("committing synced blocks", error));
        let (executed, parent_qcs, certificate, started) = match followed {
            Followed::Nothing => {
                // Nothing newer there: a later epoch's message that said otherwise is
                // forgotten until the next one.
                self.later_epoch_seen = false;
                self.metrics.sync_answered("empty", 0);
                return;
            }
            Followed::Kept { blocks, bytes } => {
                self.metrics.sync_answered("kept", 0);
                debug!(blocks, bytes, peer = %from.short(), "sync range kept until proven");
                self.maybe_sync();
                return;
            }
            Followed::TooLarge { blocks, bytes } => {
                self.metrics.sync_answered("refused", 0);
                warn!(blocks, bytes, peer = %from.short(), "unproven sync range too large: dropped");
                return;
            }
            Followed::Refused { reason, blame_peer } => {
                self.refuse_sync(from, &reason, blame_peer);
                return;
            }
            // The blocks are certified by a quorum: a different result here means this node's
            // execution disagrees with the validators'. The driver stopped following.
            Followed::Halted { reason, executed } => {
                self.committed(executed);
                self.halt(reason);
                return;
            }
            Followed::Committed {
                executed,
                parent_qcs,
                certificate,
                started,
            } => (executed, parent_qcs, certificate, started),
        };
        self.record_signers(parent_qcs.iter().chain([&certificate]));
        let count = executed.len();
        let last = executed
            .last()
            .zip(parent_qcs.last())
            .map(|(executed, parent_qc)| BlockWithParentQc {
                block: executed.block.clone(),
                parent_qc: parent_qc.clone(),
            });
        self.committed(executed);
        if let Some(started) = started {
            // The last block ended its epoch: peers, verifier and signers follow (D80).
            self.output(*started);
        }
        info!(blocks = count, peer = %from.short(), peer_head = %head, "synced");
        self.metrics.sync_answered("applied", count);
        if let Some(head_block) = last {
            let new_height = head_block.block.header.height;
            if self.replica.consensus().is_some() {
                self.input(Input::Synced {
                    head: Box::new(head_block),
                    certificate: Box::new(certificate),
                });
            }
            if head > new_height {
                self.maybe_sync();
            }
        }
        self.publish_status();
    }
}
