//! Verification of consensus messages and certificates against the validator set.

use std::collections::HashSet;

use tenge_crypto::{SignatureItem, verify_batch, verify_strict};
use tenge_types::consensus::{
    Proposal, QuorumCertificate, Timeout, TimeoutCertificate, TimeoutData, ValidatorIndex,
    ValidatorSet, Vote, proposal_signing_hash,
};
use tenge_types::{BlockId, HashValue, Round};

/// Why a message or certificate is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidMessage {
    #[error("author {0} is not a validator")]
    UnknownAuthor(ValidatorIndex),
    #[error("bad signature by validator {0}")]
    BadSignature(ValidatorIndex),
    #[error("certificate has {have} signers; {need} are required")]
    TooFewSigners { have: usize, need: usize },
    #[error("certificate signers are not sorted and distinct")]
    UnsortedSigners,
    #[error("certificate has a bad signature")]
    BadCertificateSignature,
    #[error("the genesis certificate does not certify this network's genesis block")]
    WrongGenesis,
    #[error("proposal for round {round} is by {author}, the leader is {leader}")]
    NotLeader {
        round: Round,
        author: ValidatorIndex,
        leader: ValidatorIndex,
    },
    #[error("proposal is inconsistent: {0}")]
    Inconsistent(String),
    #[error("timeout certificate's QC round {qc} is not its highest reported round {reported}")]
    TimeoutCertificateQc { qc: Round, reported: Round },
    /// A second, different message signed by `author` for a round it already signed one in.
    /// Only the first is used; the sender is charged for delivering the second.
    #[error("validator {author} signed a second, different {kind} for round {round}")]
    Equivocation {
        author: ValidatorIndex,
        round: Round,
        kind: &'static str,
    },
}

/// Verifies messages, remembering certificates already verified.
///
/// Every signature is checked over a hash that starts with the genesis block's id (the block the
/// genesis QC certifies), so messages signed for another network fail here even when the same
/// keys run both.
pub struct Verifier {
    validators: ValidatorSet,
    genesis_qc: QuorumCertificate,
    verified: HashSet<HashValue>,
}

/// Certificates remembered as verified before the cache is cleared.
const VERIFIED_CACHE: usize = 4_096;

impl Verifier {
    pub fn new(validators: ValidatorSet, genesis_qc: QuorumCertificate) -> Verifier {
        Verifier {
            validators,
            genesis_qc,
            verified: HashSet::new(),
        }
    }

    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// The id of this network's genesis block, which every consensus signature is bound to.
    pub fn genesis_id(&self) -> BlockId {
        self.genesis_qc.block_id()
    }

    fn key(&self, author: ValidatorIndex) -> Result<&tenge_types::PublicKey, InvalidMessage> {
        self.validators
            .key(author)
            .ok_or(InvalidMessage::UnknownAuthor(author))
    }

    fn remember(&mut self, hash: HashValue) {
        if self.verified.len() >= VERIFIED_CACHE {
            self.verified.clear();
        }
        self.verified.insert(hash);
    }

    /// Checks signers (sorted, distinct, known, a quorum) then all signatures in one batch.
    fn check_signers(
        &self,
        signers: impl Iterator<Item = ValidatorIndex> + Clone,
    ) -> Result<(), InvalidMessage> {
        let mut previous: Option<ValidatorIndex> = None;
        let mut count = 0;
        for signer in signers {
            self.key(signer)?;
            if previous.is_some_and(|p| p >= signer) {
                return Err(InvalidMessage::UnsortedSigners);
            }
            previous = Some(signer);
            count += 1;
        }
        let need = self.validators.quorum();
        if count < need {
            return Err(InvalidMessage::TooFewSigners { have: count, need });
        }
        Ok(())
    }

    pub fn verify_qc(&mut self, qc: &QuorumCertificate) -> Result<(), InvalidMessage> {
        if qc.is_genesis() {
            return if *qc == self.genesis_qc {
                Ok(())
            } else {
                Err(InvalidMessage::WrongGenesis)
            };
        }
        let hash = qc.hash();
        if self.verified.contains(&hash) {
            return Ok(());
        }
        self.check_signers(qc.signatures.iter().map(|(signer, _)| *signer))?;
        let message = qc.data.signing_hash(&self.genesis_id());
        let items: Vec<SignatureItem<'_>> = qc
            .signatures
            .iter()
            .map(|(signer, signature)| SignatureItem {
                message: &message,
                public_key: &self.validators.keys[usize::from(*signer)],
                signature,
            })
            .collect();
        if !verify_batch(&items).iter().all(|ok| *ok) {
            return Err(InvalidMessage::BadCertificateSignature);
        }
        self.remember(hash);
        Ok(())
    }

    pub fn verify_tc(&mut self, tc: &TimeoutCertificate) -> Result<(), InvalidMessage> {
        self.verify_qc(&tc.high_qc)?;
        if tc.high_qc.round() != tc.highest_qc_round() {
            return Err(InvalidMessage::TimeoutCertificateQc {
                qc: tc.high_qc.round(),
                reported: tc.highest_qc_round(),
            });
        }
        self.check_signers(tc.signatures.iter().map(|(signer, _, _)| *signer))?;
        let genesis_id = self.genesis_id();
        let messages: Vec<HashValue> = tc
            .signatures
            .iter()
            .map(|(_, high_qc_round, _)| {
                TimeoutData {
                    round: tc.round,
                    high_qc_round: *high_qc_round,
                }
                .signing_hash(&genesis_id)
            })
            .collect();
        let items: Vec<SignatureItem<'_>> = tc
            .signatures
            .iter()
            .zip(&messages)
            .map(|((signer, _, signature), message)| SignatureItem {
                message,
                public_key: &self.validators.keys[usize::from(*signer)],
                signature,
            })
            .collect();
        if !verify_batch(&items).iter().all(|ok| *ok) {
            return Err(InvalidMessage::BadCertificateSignature);
        }
        Ok(())
    }

    pub fn verify_vote(&self, vote: &Vote) -> Result<(), InvalidMessage> {
        let key = self.key(vote.author)?;
        if verify_strict(
            &vote.data.signing_hash(&self.genesis_id()),
            key,
            &vote.signature,
        ) {
            Ok(())
        } else {
            Err(InvalidMessage::BadSignature(vote.author))
        }
    }

    pub fn verify_timeout(&mut self, timeout: &Timeout) -> Result<(), InvalidMessage> {
        let key = *self.key(timeout.author)?;
        if !verify_strict(
            &timeout.data().signing_hash(&self.genesis_id()),
            &key,
            &timeout.signature,
        ) {
            return Err(InvalidMessage::BadSignature(timeout.author));
        }
        self.verify_qc(&timeout.high_qc)
    }

    /// The proposal's signature, leader, internal consistency and certificates.
    pub fn verify_proposal(&mut self, proposal: &Proposal) -> Result<(), InvalidMessage> {
        let round = proposal.round();
        let leader = self.validators.leader(round);
        if proposal.author != leader {
            return Err(InvalidMessage::NotLeader {
                round,
                author: proposal.author,
                leader,
            });
        }
        let key = *self.key(proposal.author)?;
        let block_id = proposal.block.id();
        if !verify_strict(
            &proposal_signing_hash(
                &self.genesis_id(),
                &block_id,
                round,
                &proposal.parent_qc,
                proposal.timeout_certificate.as_ref(),
            ),
            &key,
            &proposal.signature,
        ) {
            return Err(InvalidMessage::BadSignature(proposal.author));
        }
        let header = &proposal.block.header;
        let qc = &proposal.parent_qc;
        if header.parent_id != qc.block_id() {
            return Err(InvalidMessage::Inconsistent(
                "parent id is not the QC's block".into(),
            ));
        }
        if !header.height.follows(qc.data.height) {
            return Err(InvalidMessage::Inconsistent(
                "height does not follow the QC's block".into(),
            ));
        }
        if round <= qc.round() {
            return Err(InvalidMessage::Inconsistent(
                "round does not exceed the QC's round".into(),
            ));
        }
        match &proposal.timeout_certificate {
            Some(tc) if !round.follows(tc.round) => {
                return Err(InvalidMessage::Inconsistent(
                    "TC is not for the previous round".into(),
                ));
            }
            None if !round.follows(qc.round()) => {
                return Err(InvalidMessage::Inconsistent(
                    "round skips ahead without a TC".into(),
                ));
            }
            _ => {}
        }
        self.verify_qc(qc)?;
        if let Some(tc) = &proposal.timeout_certificate {
            self.verify_tc(tc)?;
        }
        Ok(())
    }
}
