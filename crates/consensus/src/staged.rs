//! Persist, then speak: the single place where signed messages meet the safety data they depend
//! on. Every vote, timeout and proposal leaves the core through `Consensus::stage`, and the
//! caller can take it out of [`StagedMessages`] only by persisting that safety data first.

use tenge_types::consensus::BlockWithParentQc;
use tenge_types::{BlockId, Round};

use crate::{Consensus, Effect, Outgoing, SafetyData};

/// Where safety data goes: a synced write. With a vote goes the block voted for, so that a
/// certified block survives even if every validator that holds it crashes.
pub trait SafetyStorage {
    type Error;
    fn persist_safety_data(
        &mut self,
        data: &SafetyData,
        voted_block: Option<&BlockWithParentQc>,
    ) -> Result<(), Self::Error>;
}

/// Signed votes, timeouts or proposals, held back until the safety data they depend on is on
/// disk. The only way to the messages is [`StagedMessages::persist`].
#[derive(Debug)]
#[must_use = "signed messages must be persisted and sent"]
pub struct StagedMessages {
    safety: SafetyData,
    voted_block: Option<BlockWithParentQc>,
    outgoing: Vec<Outgoing>,
}

impl StagedMessages {
    /// Persists the safety data with `storage`, then hands over the messages to send.
    pub fn persist<S: SafetyStorage>(self, storage: &mut S) -> Result<Vec<Outgoing>, S::Error> {
        storage.persist_safety_data(&self.safety, self.voted_block.as_ref())?;
        Ok(self.outgoing)
    }

    /// The safety data that will be persisted (for inspection; the messages stay inside).
    pub fn safety_data(&self) -> &SafetyData {
        &self.safety
    }
}

/// The rounds of [`SafetyData`] that only ever grow: once persisted, none may be written lower
/// (a lower one would let the node sign again where it already signed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SafetyRounds {
    last_voted: Round,
    preferred: Round,
    one_chain: Round,
    highest_timeout: Round,
    last_proposed: Round,
}

impl SafetyRounds {
    pub(crate) fn of(safety: &SafetyData) -> SafetyRounds {
        SafetyRounds {
            last_voted: safety.last_voted_round,
            preferred: safety.preferred_round,
            one_chain: safety.one_chain_round,
            highest_timeout: safety.highest_timeout_round,
            last_proposed: safety.last_proposed_round,
        }
    }

    /// Asserts that no round is below its value in `earlier`; `what` names the check.
    pub(crate) fn assert_not_below(&self, earlier: &SafetyRounds, what: &str) {
        let pairs = [
            ("last_voted_round", self.last_voted, earlier.last_voted),
            ("preferred_round", self.preferred, earlier.preferred),
            ("one_chain_round", self.one_chain, earlier.one_chain),
            (
                "highest_timeout_round",
                self.highest_timeout,
                earlier.highest_timeout,
            ),
            (
                "last_proposed_round",
                self.last_proposed,
                earlier.last_proposed,
            ),
        ];
        for (field, now, before) in pairs {
            assert!(
                now >= before,
                "{what}: {field} went back from {before} to {now}"
            );
        }
    }
}

impl Consensus {
    /// Wraps signed messages with the safety data (and the certificates needed to resume) that
    /// must be on disk before they leave.
    pub(crate) fn stage(
        &mut self,
        mut safety: SafetyData,
        voted_block: Option<BlockId>,
        outgoing: Vec<Outgoing>,
    ) -> Effect {
        let rounds = SafetyRounds::of(&safety);
        rounds.assert_not_below(&self.staged_rounds, "staged safety data");
        self.staged_rounds = rounds;
        safety.high_qc = Some(self.high_qc.clone());
        safety.last_tc = self.last_tc.clone();
        let voted_block = voted_block.and_then(|id| self.block(&id));
        Effect::Signed(Box::new(StagedMessages {
            safety,
            voted_block,
            outgoing,
        }))
    }
}
