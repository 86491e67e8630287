//! Consensus messages and certificates: what validators sign and send (2-chain HotStuff).
//!
//! Signatures here are over domain-separated hashes (`TENGE::Proposal`, `TENGE::Vote`,
//! `TENGE::Timeout`), so none can be replayed as another kind, and every signed hash starts with
//! the id of the network's genesis block, so none can be replayed on another network run by the
//! same keys (a re-genesis, or a testnet sharing keys with production). Verification lives in
//! `tenge-consensus`; these are the data and their canonical encodings.

use serde::{Deserialize, Serialize};

use crate::block::{Block, BlockHeader, BlockId};
use crate::codec::{DecodeError, decode, encode};
use crate::hash::{Domain, HashValue};
use crate::ids::{Height, PublicKey, Round, Signature};

/// Position of a validator in the validator set (the genesis order).
pub type ValidatorIndex = u16;

/// Most bytes a consensus message may take (a proposal carries a full block).
pub const MAX_CONSENSUS_MESSAGE_BYTES: usize = crate::block::MAX_BLOCK_BYTES + 64 * 1024;

/// The validator set: public keys in index order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSet {
    pub keys: Vec<PublicKey>,
}

impl ValidatorSet {
    pub fn new(keys: Vec<PublicKey>) -> ValidatorSet {
        assert!(
            !keys.is_empty() && keys.len() <= usize::from(u16::MAX),
            "validator set size"
        );
        ValidatorSet { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Faults tolerated: the largest f with 3f + 1 <= n.
    pub fn max_faulty(&self) -> usize {
        (self.keys.len() - 1) / 3
    }

    /// Signatures a certificate needs: n - f (2f + 1 when n = 3f + 1).
    pub fn quorum(&self) -> usize {
        self.keys.len() - self.max_faulty()
    }

    pub fn key(&self, index: ValidatorIndex) -> Option<&PublicKey> {
        self.keys.get(usize::from(index))
    }

    /// Identifies the set: the hash of its keys in index order. Proof bundles name the set that
    /// signed their certificate by it.
    pub fn hash(&self) -> HashValue {
        Domain::ValidatorSet.hash(&encode(self))
    }

    /// Round-robin leader of a round.
    pub fn leader(&self, round: Round) -> ValidatorIndex {
        (round.0 % self.keys.len() as u64) as ValidatorIndex
    }
}

/// What a vote certifies: a block, where it sits, and the state its execution produced.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VoteData {
    pub block_id: BlockId,
    pub round: Round,
    pub height: Height,
    pub state_root: HashValue,
    pub parent_id: BlockId,
    pub parent_round: Round,
}

impl VoteData {
    /// What a vote signs, on the network whose genesis block is `genesis_id`. The genesis block's
    /// id commits to the genesis hash (its parent id), so the signature is bound to the chain.
    pub fn signing_hash(&self, genesis_id: &BlockId) -> HashValue {
        Domain::Vote.hash(&encode(&(genesis_id, self)))
    }

    /// The block this certificate commits under the 2-chain rule: a certified block whose
    /// parent is one round earlier commits the parent.
    pub fn commits(&self) -> Option<(BlockId, Round)> {
        (self.round.follows(self.parent_round) && self.round.0 > 0)
            .then_some((self.parent_id, self.parent_round))
    }
}

/// One validator's vote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub data: VoteData,
    pub author: ValidatorIndex,
    pub signature: Signature,
}

/// A quorum of votes on the same [`VoteData`]: signatures sorted by author, no repeats.
/// The genesis certificate has no signatures and certifies the genesis block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumCertificate {
    pub data: VoteData,
    pub signatures: Vec<(ValidatorIndex, Signature)>,
}

impl QuorumCertificate {
    /// The certificate of the genesis block (round 0), which every node trusts by construction.
    pub fn genesis(genesis_block: &Block) -> QuorumCertificate {
        QuorumCertificate {
            data: VoteData {
                block_id: genesis_block.id(),
                round: Round(0),
                height: genesis_block.header.height,
                state_root: genesis_block.header.state_root,
                parent_id: genesis_block.header.parent_id,
                parent_round: Round(0),
            },
            signatures: Vec::new(),
        }
    }

    pub fn is_genesis(&self) -> bool {
        self.data.round == Round(0) && self.signatures.is_empty()
    }

    pub fn block_id(&self) -> BlockId {
        self.data.block_id
    }

    pub fn round(&self) -> Round {
        self.data.round
    }

    pub fn hash(&self) -> HashValue {
        Domain::Vote.hash_parts(&[b"certificate", &encode(self)])
    }
}

/// What a timeout signs: the round given up and the round of the signer's highest QC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutData {
    pub round: Round,
    pub high_qc_round: Round,
}

impl TimeoutData {
    /// What a timeout signs, on the network whose genesis block is `genesis_id`.
    pub fn signing_hash(&self, genesis_id: &BlockId) -> HashValue {
        Domain::Timeout.hash(&encode(&(genesis_id, self)))
    }
}

/// A validator gives up on a round and shows the highest QC it knows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeout {
    pub round: Round,
    pub high_qc: QuorumCertificate,
    /// The sender's latest TC, if it entered its round by one: lets a node that missed it catch
    /// up to the round (not signed: a TC proves itself).
    pub last_tc: Option<TimeoutCertificate>,
    pub author: ValidatorIndex,
    pub signature: Signature,
}

impl Timeout {
    pub fn data(&self) -> TimeoutData {
        TimeoutData {
            round: self.round,
            high_qc_round: self.high_qc.round(),
        }
    }
}

/// A quorum of timeouts for one round. Each signer signed `(round, its own high-QC round)`; the
/// certificate carries the highest of those QCs, so the next leader can extend it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutCertificate {
    pub round: Round,
    pub high_qc: QuorumCertificate,
    /// (signer, the high-QC round it signed, signature), sorted by signer, no repeats.
    pub signatures: Vec<(ValidatorIndex, Round, Signature)>,
}

impl TimeoutCertificate {
    /// The highest QC round any signer reported: a proposal after this TC must extend a QC at
    /// least this high.
    pub fn highest_qc_round(&self) -> Round {
        self.signatures
            .iter()
            .map(|(_, round, _)| *round)
            .max()
            .unwrap_or(Round(0))
    }
}

/// What a leader signs for a proposal on the network whose genesis block is `genesis_id`: the
/// block, the round, and the certificates it carries (so that no relay can swap a certificate
/// without breaking the signature).
pub fn proposal_signing_hash(
    genesis_id: &BlockId,
    block_id: &BlockId,
    round: Round,
    parent_qc: &QuorumCertificate,
    timeout_certificate: Option<&TimeoutCertificate>,
) -> HashValue {
    let tc = timeout_certificate.map(encode);
    Domain::Proposal.hash(&encode(&(
        genesis_id,
        block_id,
        round,
        parent_qc.hash(),
        tc.map(|bytes| Domain::Timeout.hash(&bytes)),
    )))
}

/// A leader's proposal: the block, the QC on its parent, and after a failed round the TC that
/// let the leader skip it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub block: Block,
    pub parent_qc: QuorumCertificate,
    pub timeout_certificate: Option<TimeoutCertificate>,
    pub author: ValidatorIndex,
    pub signature: Signature,
}

impl Proposal {
    pub fn round(&self) -> Round {
        self.block.header.round
    }
}

/// A block with the certificate on its parent, as kept in the block tree and served to peers
/// that fetch missing ancestors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockWithParentQc {
    pub block: Block,
    pub parent_qc: QuorumCertificate,
}

/// The certificates stored with each committed block: the QC on its parent (from its proposal)
/// and, for the last block of a commit, the QC that committed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCertificates {
    pub parent_qc: QuorumCertificate,
    pub commit_qc: Option<QuorumCertificate>,
    /// For a block that ended its epoch and was committed through blocks above it (D80): their
    /// headers, from its child up to the block `commit_qc` commits. Empty otherwise.
    pub commit_suffix: Vec<BlockHeader>,
}

/// The most suffix headers a commit proof carries: an epoch's end is committed within a few
/// rounds, unless the validators fail that many in a row.
pub const MAX_COMMIT_SUFFIX: usize = 64;

/// Whether `certificate` commits `block`: directly under the 2-chain rule, or, for a block that
/// ends its epoch, through `suffix`, the headers of the empty blocks of the same epoch from its
/// child up to the block the certificate commits (D80). A block above an epoch's end is never
/// committed (D83). Signatures are not checked here.
pub fn commits_through(
    certificate: &QuorumCertificate,
    block: &BlockHeader,
    suffix: &[BlockHeader],
) -> bool {
    if block.above_epoch_end {
        return false;
    }
    if !suffix.is_empty() && (!block.ends_epoch() || suffix.len() > MAX_COMMIT_SUFFIX) {
        return false;
    }
    let mut top = block;
    for header in suffix {
        let extends = header.parent_id == top.id()
            && header.height == top.height.next()
            && header.epoch == block.epoch
            && header.transaction_count == 0
            && header.above_epoch_end
            && !header.ends_epoch();
        if !extends {
            return false;
        }
        top = header;
    }
    certificate.data.commits() == Some((top.id(), top.round))
}

impl StoredCertificates {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<StoredCertificates, DecodeError> {
        crate::codec::decode_trusted("stored certificates", bytes)
    }
}

/// Everything validators send each other about consensus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsensusMessage {
    // Boxed so that small messages stay small in memory; the encoding is the same.
    Proposal(Box<Proposal>),
    Vote(Vote),
    Timeout(Box<Timeout>),
    /// Ask for `count` blocks ending at `block_id` (it and its ancestors, newest first).
    FetchRequest {
        block_id: BlockId,
        count: u16,
    },
    /// The blocks asked for, newest first; may be fewer than asked.
    FetchResponse {
        blocks: Vec<BlockWithParentQc>,
    },
    /// The certificate that committed the end of the sender's epoch, sent to the epoch's other
    /// validators as the sender starts the next: one that has not seen it yet commits the
    /// end and follows (D80). It proves itself; one that does not verify here is of another
    /// epoch and is ignored.
    EpochEnd {
        certificate: QuorumCertificate,
    },
}

/// A consensus message as validators' processes send it: labelled with the epoch of the
/// instance that sent it (D82). Its signatures are bound to that epoch's start block, so a node
/// in another epoch can check none of them. It sets the message aside without blaming the
/// sender, and one that sees a later epoch knows it is behind. The label is not trusted: a
/// wrong one only makes the message set aside, or checked and refused like any bad message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochMessage {
    pub epoch: u64,
    pub message: ConsensusMessage,
}

impl EpochMessage {
    pub fn to_bytes(&self) -> Vec<u8> {
        EpochMessage::encode(self.epoch, &self.message)
    }

    /// The bytes of `EpochMessage { epoch, message }` without taking the message: BCS encodes a
    /// struct as its fields in order, as it does a tuple. Sending a proposal then copies no block.
    pub fn encode(epoch: u64, message: &ConsensusMessage) -> Vec<u8> {
        encode(&(epoch, message))
    }

    /// Decodes a message from a peer with [`ConsensusMessage::from_bytes`]'s checks.
    pub fn from_bytes(bytes: &[u8]) -> Result<EpochMessage, DecodeError> {
        let message: EpochMessage =
            decode("consensus message", bytes, MAX_CONSENSUS_MESSAGE_BYTES)?;
        message.message.check_blocks()?;
        Ok(message)
    }
}

impl ConsensusMessage {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a message from a peer: size-limited, canonical, every block structurally valid.
    pub fn from_bytes(bytes: &[u8]) -> Result<ConsensusMessage, DecodeError> {
        let message: ConsensusMessage =
            decode("consensus message", bytes, MAX_CONSENSUS_MESSAGE_BYTES)?;
        message.check_blocks()?;
        Ok(message)
    }

    fn check_blocks(&self) -> Result<(), DecodeError> {
        let blocks: Vec<&Block> = match self {
            ConsensusMessage::Proposal(proposal) => vec![&proposal.block],
            ConsensusMessage::FetchResponse { blocks } => blocks.iter().map(|b| &b.block).collect(),
            _ => vec![],
        };
        for block in blocks {
            block
                .check_structure()
                .map_err(|reason| DecodeError::Malformed {
                    what: "consensus message",
                    reason,
                })?;
        }
        Ok(())
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ConsensusMessage::Proposal(_) => "proposal",
            ConsensusMessage::Vote(_) => "vote",
            ConsensusMessage::Timeout(_) => "timeout",
            ConsensusMessage::FetchRequest { .. } => "fetch_request",
            ConsensusMessage::FetchResponse { .. } => "fetch_response",
            ConsensusMessage::EpochEnd { .. } => "epoch_end",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_sizes() {
        let set = |n: usize| ValidatorSet::new(vec![PublicKey([0; 32]); n]);
        assert_eq!((set(1).max_faulty(), set(1).quorum()), (0, 1));
        assert_eq!((set(4).max_faulty(), set(4).quorum()), (1, 3));
        assert_eq!((set(5).max_faulty(), set(5).quorum()), (1, 4));
        assert_eq!((set(7).max_faulty(), set(7).quorum()), (2, 5));
        assert_eq!(set(4).leader(Round(6)), 2);
    }

    #[test]
    fn commit_rule_needs_consecutive_rounds() {
        let data = |round, parent_round| VoteData {
            block_id: HashValue([1; 32]),
            round: Round(round),
            height: Height(3),
            state_root: HashValue::ZERO,
            parent_id: HashValue([2; 32]),
            parent_round: Round(parent_round),
        };
        assert_eq!(data(5, 4).commits(), Some((HashValue([2; 32]), Round(4))));
        assert_eq!(data(5, 3).commits(), None);
        assert_eq!(data(0, 0).commits(), None);
    }

    #[test]
    fn garbage_and_oversized_messages_are_refused() {
        assert!(ConsensusMessage::from_bytes(&[0xff, 0x00, 0x13]).is_err());
        assert!(ConsensusMessage::from_bytes(&[]).is_err());
        let request = ConsensusMessage::FetchRequest {
            block_id: HashValue([3; 32]),
            count: 5,
        };
        assert_eq!(
            ConsensusMessage::from_bytes(&request.to_bytes()).unwrap(),
            request
        );
        let mut trailing = request.to_bytes();
        trailing.push(0);
        assert!(ConsensusMessage::from_bytes(&trailing).is_err());

        let labelled = EpochMessage {
            epoch: 3,
            message: request.clone(),
        };
        assert_eq!(
            EpochMessage::from_bytes(&labelled.to_bytes()).unwrap(),
            labelled
        );
        let derived = bcs::to_bytes(&labelled).unwrap();
        assert_eq!(EpochMessage::encode(3, &request), derived);
        // The label is a prefix, not a message: an unlabelled message is refused.
        assert!(EpochMessage::from_bytes(&request.to_bytes()).is_err());
        let mut trailing = labelled.to_bytes();
        trailing.push(0);
        assert!(EpochMessage::from_bytes(&trailing).is_err());
    }

    #[test]
    fn signing_hashes_are_domain_separated() {
        let data = VoteData {
            block_id: HashValue([1; 32]),
            round: Round(1),
            height: Height(1),
            state_root: HashValue::ZERO,
            parent_id: HashValue::ZERO,
            parent_round: Round(0),
        };
        let timeout = TimeoutData {
            round: Round(1),
            high_qc_round: Round(0),
        };
        let genesis = HashValue([7; 32]);
        assert_ne!(data.signing_hash(&genesis), timeout.signing_hash(&genesis));
        assert_ne!(
            proposal_signing_hash(
                &genesis,
                &data.block_id,
                Round(1),
                &QuorumCertificate {
                    data: data.clone(),
                    signatures: vec![]
                },
                None
            ),
            data.signing_hash(&genesis)
        );
    }

    #[test]
    fn signing_hashes_are_bound_to_the_genesis() {
        let data = VoteData {
            block_id: HashValue([1; 32]),
            round: Round(1),
            height: Height(1),
            state_root: HashValue::ZERO,
            parent_id: HashValue::ZERO,
            parent_round: Round(0),
        };
        let timeout = TimeoutData {
            round: Round(1),
            high_qc_round: Round(0),
        };
        let qc = QuorumCertificate {
            data: data.clone(),
            signatures: vec![],
        };
        let (g1, g2) = (HashValue([7; 32]), HashValue([8; 32]));
        assert_ne!(data.signing_hash(&g1), data.signing_hash(&g2));
        assert_ne!(timeout.signing_hash(&g1), timeout.signing_hash(&g2));
        assert_ne!(
            proposal_signing_hash(&g1, &data.block_id, Round(1), &qc, None),
            proposal_signing_hash(&g2, &data.block_id, Round(1), &qc, None)
        );
    }
}
