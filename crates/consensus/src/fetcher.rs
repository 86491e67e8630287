//! Fetching blocks that are referenced (by a QC or as a parent) but not held.

use tenge_types::consensus::{BlockWithParentQc, ValidatorIndex};
use tenge_types::{BlockId, Height, Round};

use crate::block_tree::{Entry, Execution};
use crate::{Consensus, Effect, InvalidMessage};

/// A block referenced (by a QC or as a parent) but not held.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wanted {
    pub(crate) height: Height,
    /// Round of the last request: at most one request per block per round from `want`.
    pub(crate) asked_in_round: Round,
    pub(crate) attempts: u32,
}

/// Requests for one block before it is forgotten (a new reference revives it).
const MAX_FETCH_ATTEMPTS: u32 = 8;

impl Consensus {
    pub(crate) fn want(
        &mut self,
        id: BlockId,
        height: Height,
        from: ValidatorIndex,
        effects: &mut Vec<Effect>,
    ) {
        if self.blocks.contains_key(&id) || id == self.committed.block.id() {
            return;
        }
        let round = self.round;
        let attempt = match self.wanted.get_mut(&id) {
            // Asked already in this round: at most one request per block per round.
            Some(wanted) if wanted.asked_in_round == round => return,
            Some(wanted) => {
                wanted.asked_in_round = round;
                wanted.attempts += 1;
                wanted.attempts
            }
            None => {
                self.wanted.insert(
                    id,
                    Wanted {
                        height,
                        asked_in_round: round,
                        attempts: 1,
                    },
                );
                1
            }
        };
        self.fetch(id, height, from, attempt, effects);
    }

    pub(crate) fn fetch(
        &self,
        id: BlockId,
        height: Height,
        from: ValidatorIndex,
        attempt: u32,
        effects: &mut Vec<Effect>,
    ) {
        let behind = height
            .0
            .saturating_sub(self.committed.block.header.height.0);
        let count = behind.clamp(1, u64::from(self.config.fetch_batch)) as u16;
        let from = if from == self.me {
            // Ask someone else; round and attempt make successive retries rotate.
            let n = self.validators().len() as u64;
            let offset = (self.round.0 + u64::from(attempt)) % (n - 1).max(1);
            ((u64::from(self.me) + 1 + offset) % n) as ValidatorIndex
        } else {
            from
        };
        if from != self.me {
            effects.push(Effect::Fetch {
                from,
                block_id: id,
                count,
            });
        }
    }

    /// Retries outstanding fetches (on every round timer), from a rotating peer.
    pub(crate) fn refetch(&mut self, effects: &mut Vec<Effect>) {
        let committed_height = self.committed.block.header.height;
        self.wanted.retain(|_, wanted| {
            wanted.height > committed_height && wanted.attempts < MAX_FETCH_ATTEMPTS
        });
        // The newest first: fetching a block brings its missing ancestors along.
        let mut wanted: Vec<(Height, BlockId)> =
            self.wanted.iter().map(|(id, w)| (w.height, *id)).collect();
        wanted.sort_by(|a, b| b.cmp(a));
        for (height, id) in wanted.into_iter().take(4) {
            let entry = self.wanted.get_mut(&id).expect("listed above");
            entry.attempts += 1;
            entry.asked_in_round = self.round;
            let attempt = entry.attempts;
            self.fetch(id, height, self.me, attempt, effects);
        }
    }

    pub(crate) fn on_fetched(
        &mut self,
        from: ValidatorIndex,
        blocks: Vec<BlockWithParentQc>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), InvalidMessage> {
        let committed_height = self.committed.block.header.height;
        let mut lowest: Option<(BlockId, Height)> = None;
        for item in blocks {
            let id = item.block.id();
            if !self.wanted.contains_key(&id) {
                continue; // unasked-for blocks are ignored, not trusted
            }
            let header = &item.block.header;
            if header.parent_id != item.parent_qc.block_id()
                || !header.height.follows(item.parent_qc.data.height)
            {
                return Err(InvalidMessage::Inconsistent(
                    "fetched block does not match its parent QC".into(),
                ));
            }
            self.verifier.verify_qc(&item.parent_qc)?;
            self.wanted.remove(&id);
            let parent = (header.parent_id, item.parent_qc.data.height);
            self.blocks.insert(
                id,
                Entry {
                    block: item.block,
                    parent_qc: item.parent_qc,
                    timeout_certificate: None,
                    execution: Execution::Waiting,
                },
            );
            let (parent_id, parent_height) = parent;
            if parent_height > committed_height
                && !self.blocks.contains_key(&parent_id)
                && parent_id != self.committed.block.id()
            {
                self.wanted.insert(
                    parent_id,
                    Wanted {
                        height: parent_height,
                        asked_in_round: self.round,
                        attempts: 0,
                    },
                );
                lowest = Some((parent_id, parent_height));
            }
        }
        if let Some((id, height)) = lowest {
            self.fetch(id, height, from, 0, effects);
        }
        self.execute_ready(effects);
        self.try_commit(effects);
        Ok(())
    }
}
