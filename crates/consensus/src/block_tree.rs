//! The uncommitted blocks this node holds, with their execution state.

use std::collections::HashSet;

use tenge_types::consensus::{BlockWithParentQc, QuorumCertificate, TimeoutCertificate};
use tenge_types::{Block, BlockId, Height};

use crate::{Consensus, Effect};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Execution {
    Waiting,
    Running,
    Done,
    Failed,
}

pub(crate) struct Entry {
    pub(crate) block: Block,
    pub(crate) parent_qc: QuorumCertificate,
    pub(crate) timeout_certificate: Option<TimeoutCertificate>,
    pub(crate) execution: Execution,
}

impl Consensus {
    /// A block this node holds uncommitted (or its committed head), with its parent's QC.
    pub fn block(&self, id: &BlockId) -> Option<BlockWithParentQc> {
        if self.committed.block.id() == *id {
            return Some(self.committed.clone());
        }
        self.blocks.get(id).map(|entry| BlockWithParentQc {
            block: entry.block.clone(),
            parent_qc: entry.parent_qc.clone(),
        })
    }

    pub(crate) fn is_executed(&self, id: &BlockId) -> bool {
        *id == self.committed.block.id()
            || self
                .blocks
                .get(id)
                .is_some_and(|e| e.execution == Execution::Done)
    }

    pub(crate) fn on_executed(
        &mut self,
        block_id: BlockId,
        result: Result<(), String>,
        effects: &mut Vec<Effect>,
    ) {
        let Some(entry) = self.blocks.get_mut(&block_id) else {
            return;
        };
        entry.execution = if result.is_ok() {
            Execution::Done
        } else {
            Execution::Failed
        };
        if result.is_ok() {
            self.execute_ready(effects);
            self.try_vote(block_id, effects);
            self.try_commit(effects);
            self.try_propose(effects);
        }
    }

    /// Asks for execution of every block whose parent is executed.
    pub(crate) fn execute_ready(&mut self, effects: &mut Vec<Effect>) {
        let mut ready: Vec<(Height, BlockId)> = self
            .blocks
            .iter()
            .filter(|(_, entry)| entry.execution == Execution::Waiting)
            .filter(|(_, entry)| self.is_executed(&entry.block.header.parent_id))
            .map(|(id, entry)| (entry.block.header.height, *id))
            .collect();
        ready.sort();
        for (_, id) in ready {
            let entry = self.blocks.get_mut(&id).expect("listed above");
            entry.execution = Execution::Running;
            effects.push(Effect::ExecuteBlock {
                block: entry.block.clone(),
            });
        }
        // Blocks waiting on a parent nobody referenced yet (e.g. recovered after a restart
        // whose parent was fetched, not voted for): fetch the parent.
        let committed_height = self.committed.block.header.height;
        let mut orphans: Vec<(Height, BlockId)> = self
            .blocks
            .values()
            .filter(|entry| entry.execution == Execution::Waiting)
            .map(|entry| (entry.parent_qc.data.height, entry.block.header.parent_id))
            .filter(|(height, parent)| {
                *height > committed_height && !self.blocks.contains_key(parent)
            })
            .collect();
        orphans.sort();
        orphans.dedup();
        for (height, parent) in orphans {
            self.want(parent, height, self.me, effects);
        }
    }

    /// Drops blocks that can no longer commit: at or below the committed height, or off the
    /// committed chain.
    pub(crate) fn prune(&mut self) {
        let head_id = self.committed.block.id();
        let head_height = self.committed.block.header.height;
        let mut keep: HashSet<BlockId> = HashSet::new();
        let mut ids: Vec<(Height, BlockId)> = self
            .blocks
            .iter()
            .filter(|(_, e)| e.block.header.height > head_height)
            .map(|(id, e)| (e.block.header.height, *id))
            .collect();
        ids.sort();
        for (height, id) in ids {
            let parent = self.blocks[&id].block.header.parent_id;
            // Keep blocks on the committed chain, and blocks whose parent is still unknown above
            // the head (it may yet connect); drop only blocks known to be on another branch.
            let parent_unknown_above =
                !self.blocks.contains_key(&parent) && height.0 > head_height.0 + 1;
            if parent == head_id || keep.contains(&parent) || parent_unknown_above {
                keep.insert(id);
            }
        }
        self.blocks.retain(|id, _| keep.contains(id));
        self.signed.retain_from(self.committed_round);
    }
}
