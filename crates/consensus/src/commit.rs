//! Committing: the 2-chain commit rule, range sync, and halting on a conflicting certified chain.

use tenge_types::Height;
use tenge_types::consensus::{BlockWithParentQc, QuorumCertificate};

use crate::block_tree::Execution;
use crate::{Consensus, Effect};

impl Consensus {
    /// Remembers `qc` as the one to commit with if it commits a block above the committed round
    /// and is newer than the one already waiting.
    pub(crate) fn note_commit(&mut self, qc: &QuorumCertificate) {
        // The 2-chain commit rule of Jolteon (Gelashvili et al., "Jolteon and Ditto", FC 2022),
        // as in Aptos `safety_rules_2chain.rs` `construct_ledger_info_2chain`: a certified block
        // whose parent is one round older commits the parent and its ancestors (`commits()`).
        if let Some((_, parent_round)) = qc.data.commits()
            && parent_round > self.committed_round
            && self
                .pending_commit
                .as_ref()
                .is_none_or(|pending| pending.round() < qc.round())
        {
            self.pending_commit = Some(qc.clone());
        }
    }

    /// Halts if a quorum certified a block this node could not execute; says whether it did.
    pub(crate) fn halt_if_certified_block_failed(
        &mut self,
        qc: &QuorumCertificate,
        effects: &mut Vec<Effect>,
    ) -> bool {
        if self
            .blocks
            .get(&qc.block_id())
            .is_some_and(|entry| entry.execution == Execution::Failed)
        {
            // A quorum certified a block this node could not execute: its execution differs
            // from the validators'. Following on would be guessing.
            let reason = format!(
                "block {} at height {} is certified but failed to execute here",
                qc.block_id().short(),
                qc.data.height
            );
            self.halt(reason, effects);
            return true;
        }
        false
    }

    /// Stops the node for good: safety is broken beyond what the protocol tolerates.
    fn halt(&mut self, reason: String, effects: &mut Vec<Effect>) {
        self.halted = Some(reason.clone());
        effects.push(Effect::Halt { reason });
    }

    pub(crate) fn try_commit(&mut self, effects: &mut Vec<Effect>) {
        let Some(qc) = self.pending_commit.clone() else {
            return;
        };
        let Some((commit_id, commit_round)) = qc.data.commits() else {
            return;
        };
        if commit_round <= self.committed_round {
            self.pending_commit = None;
            return;
        }
        // Collect the chain from the block to commit down to the committed head.
        let head_id = self.committed.block.id();
        let mut chain = Vec::new();
        let mut cursor = commit_id;
        while cursor != head_id {
            let Some(entry) = self.blocks.get(&cursor) else {
                let height = Height(qc.data.height.0.saturating_sub(1));
                let hint = qc.signatures.first().map_or(self.me, |(signer, _)| *signer);
                self.want(cursor, height, hint, effects);
                return;
            };
            if entry.execution != Execution::Done {
                return; // commit once executed
            }
            if entry.block.header.height <= self.committed.block.header.height {
                // A certified chain that does not extend our committed head: more than f
                // validators are faulty. Stop loudly rather than follow either chain.
                let reason = format!(
                    "certified block {} at height {} conflicts with committed block {} at height {}",
                    commit_id.short(),
                    qc.data.height.0.saturating_sub(1),
                    head_id.short(),
                    self.committed.block.header.height
                );
                self.halt(reason, effects);
                return;
            }
            chain.push(cursor);
            cursor = entry.block.header.parent_id;
        }
        chain.reverse();
        let blocks: Vec<BlockWithParentQc> = chain
            .iter()
            .map(|id| {
                let entry = &self.blocks[id];
                BlockWithParentQc {
                    block: entry.block.clone(),
                    parent_qc: entry.parent_qc.clone(),
                }
            })
            .collect();
        let head = blocks
            .last()
            .expect("commit round above the committed round")
            .clone();
        self.committed_round = head.block.header.round;
        self.committed = head;
        self.pending_commit = None;
        self.prune();
        effects.push(Effect::Commit {
            blocks,
            certificate: qc,
        });
    }

    pub(crate) fn on_synced(
        &mut self,
        head: BlockWithParentQc,
        certificate: QuorumCertificate,
        effects: &mut Vec<Effect>,
    ) {
        if head.block.header.height <= self.committed.block.header.height {
            return;
        }
        if self.verifier.verify_qc(&certificate).is_err()
            || certificate.data.commits() != Some((head.block.id(), head.block.header.round))
        {
            return;
        }
        self.committed_round = head.block.header.round;
        self.committed = head;
        if self.pending_commit.as_ref().is_some_and(|qc| {
            qc.data
                .commits()
                .is_none_or(|(_, round)| round <= self.committed_round)
        }) {
            self.pending_commit = None;
        }
        self.prune();
        self.process_qc(&certificate, self.me, effects);
        self.execute_ready(effects);
        self.try_propose(effects);
    }
}
