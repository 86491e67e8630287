//! One message per author, round and kind; a second, different one is evidence.

use std::collections::HashMap;
use std::collections::hash_map::Entry as MapEntry;

use tenge_types::consensus::{ConsensusMessage, Proposal, Timeout, ValidatorIndex, Vote};
use tenge_types::{Block, HashValue, Round, encode};

use crate::{Consensus, Effect, Evidence};

const MAX_EVIDENCE: usize = 1_024;

/// The kinds of message a validator signs once per round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignedKind {
    Proposal,
    Vote,
    Timeout,
}

impl SignedKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            SignedKind::Proposal => "proposal",
            SignedKind::Vote => "vote",
            SignedKind::Timeout => "timeout",
        }
    }
}

/// What [`Consensus::record_signed`] made of a signed, verified message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signing {
    /// The author's first message of this kind for the round: use it.
    First,
    /// The same message again (a resend): nothing new.
    Repeat,
    /// A different message for a round the author already signed one in: evidence only, never
    /// stored, executed or counted.
    Conflict,
    /// Below the committed round: neither kept nor used.
    Stale,
}

/// The first message an author signed for a round.
pub(crate) struct SignedRecord {
    pub(crate) digest: HashValue,
    /// The message as evidence (see [`Evidence`]), until a conflicting one is reported.
    pub(crate) evidence: Vec<u8>,
    /// A conflicting message was seen and reported: later ones are dropped unverified.
    pub(crate) equivocated: bool,
}

/// Kept per (author, round) to use one message per author and round and to detect equivocation;
/// pruned below the oldest round a message is still accepted for.
#[derive(Default)]
pub(crate) struct Signed {
    pub(crate) proposals: HashMap<(ValidatorIndex, Round), SignedRecord>,
    pub(crate) votes: HashMap<(ValidatorIndex, Round), SignedRecord>,
    pub(crate) timeouts: HashMap<(ValidatorIndex, Round), SignedRecord>,
}

impl Signed {
    fn map(&mut self, kind: SignedKind) -> &mut HashMap<(ValidatorIndex, Round), SignedRecord> {
        match kind {
            SignedKind::Proposal => &mut self.proposals,
            SignedKind::Vote => &mut self.votes,
            SignedKind::Timeout => &mut self.timeouts,
        }
    }

    pub(crate) fn retain_from(&mut self, round: Round) {
        for map in [&mut self.proposals, &mut self.votes, &mut self.timeouts] {
            map.retain(|(_, r), _| *r >= round);
        }
    }
}

/// A proposal as evidence: its header stands for the block (see [`Evidence`]).
pub(crate) fn proposal_evidence(proposal: &Proposal) -> Vec<u8> {
    encode(&ConsensusMessage::Proposal(Box::new(Proposal {
        block: Block {
            header: proposal.block.header.clone(),
            transactions: Vec::new(),
        },
        parent_qc: proposal.parent_qc.clone(),
        timeout_certificate: proposal.timeout_certificate.clone(),
        author: proposal.author,
        signature: proposal.signature,
    })))
}

pub(crate) fn vote_evidence(vote: &Vote) -> Vec<u8> {
    encode(&ConsensusMessage::Vote(vote.clone()))
}

/// A timeout as evidence, without its unsigned `last_tc`.
pub(crate) fn timeout_evidence(timeout: &Timeout) -> Vec<u8> {
    encode(&ConsensusMessage::Timeout(Box::new(Timeout {
        round: timeout.round,
        high_qc: timeout.high_qc.clone(),
        last_tc: None,
        author: timeout.author,
        signature: timeout.signature,
    })))
}

impl Consensus {
    /// Remembers the first message each validator signed of each kind per round, and tells the
    /// caller whether this one may be used. A second, different one is reported as evidence
    /// once per (author, round, kind). `evidence` encodes the message, and is called only when
    /// it is kept or reported.
    pub(crate) fn record_signed(
        &mut self,
        kind: SignedKind,
        author: ValidatorIndex,
        round: Round,
        digest: HashValue,
        evidence: impl FnOnce() -> Vec<u8>,
        effects: &mut Vec<Effect>,
    ) -> Signing {
        if round < self.committed_round {
            return Signing::Stale;
        }
        match self.signed.map(kind).entry((author, round)) {
            MapEntry::Vacant(vacant) => {
                vacant.insert(SignedRecord {
                    digest,
                    evidence: evidence(),
                    equivocated: false,
                });
                Signing::First
            }
            MapEntry::Occupied(first) if first.get().digest == digest => Signing::Repeat,
            MapEntry::Occupied(mut first) => {
                let first = first.get_mut();
                if !first.equivocated {
                    first.equivocated = true;
                    let found = Evidence {
                        author,
                        round,
                        kind: kind.name(),
                        first: std::mem::take(&mut first.evidence),
                        second: evidence(),
                    };
                    if self.evidence.len() < MAX_EVIDENCE {
                        self.evidence.push(found.clone());
                    }
                    effects.push(Effect::Evidence(found));
                }
                Signing::Conflict
            }
        }
    }
}
