//! A light client (`tenge follow`, decision D78): the certified head of a chain, followed from
//! its genesis file (or a checkpoint its operator trusts) by headers and certificates alone.
//!
//! A node serves header chains (`GET /v1/headers?from=H`): the headers from height H up to a
//! block B and a QC that commits B under the 2-chain rule, the same [`CommitProof`] a proof
//! bundle carries. The client takes a chain only if its first header is the child of the head it
//! already holds (or, at the start, the genesis block of its genesis file; or the checkpoint),
//! the headers chain by parent id and height, and the QC holds a quorum of valid signatures of
//! the validator set, bound to this chain's genesis block. The node is not trusted: a chain
//! that fails any check is refused and the head does not move.
//!
//! A chain is certified by the set of the client's epoch: the genesis set, until a committed
//! header ends the epoch. That header names the next set, and the client's head stops there; the
//! next chain is checked against the next set, bound to that header's id (D80). A chain that
//! reaches past an epoch end carries only the empty blocks that commit it.

use tenge_types::consensus::ValidatorSet;
use tenge_types::{BlockHeader, BlockId, ChainId, Genesis, GenesisValidator, HashValue, Height};

use crate::{
    CommitProof, EpochSet, VerifyError, check_genesis_header, verify_certificate, verify_commit,
};

/// Why a header chain was refused. `check()` names the failed check for scripts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FollowError {
    /// The certificate or the headers failed a check a proof bundle's commit proof also passes.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(
        "the chain starts at height {found_height} on parent {found_parent}; the certified head is block {head} at height {head_height}"
    )]
    DoesNotExtend {
        head: BlockId,
        head_height: Height,
        found_parent: BlockId,
        found_height: Height,
    },
    #[error(
        "the checkpoint at height {height} is not above the certified head at height {head_height}"
    )]
    CheckpointNotAbove { height: Height, head_height: Height },
    #[error("the header at height {height} is block {found}; the trusted checkpoint is {expected}")]
    CheckpointMismatch {
        height: Height,
        expected: BlockId,
        found: BlockId,
    },
}

impl FollowError {
    /// A stable snake_case name of the failed check.
    pub fn check(&self) -> &'static str {
        match self {
            FollowError::Verify(error) => error.check(),
            FollowError::DoesNotExtend { .. } => "does_not_extend_head",
            FollowError::CheckpointNotAbove { .. } => "checkpoint_not_above_head",
            FollowError::CheckpointMismatch { .. } => "checkpoint_mismatch",
        }
    }
}

/// The header a chain starts with; a chain without one is broken.
fn first_header(chain: &CommitProof) -> Result<&BlockHeader, FollowError> {
    Ok(chain
        .headers
        .first()
        .ok_or_else(|| VerifyError::HeaderChainBroken("no header".into()))?)
}

/// The certified head of one chain, as far as this client has verified it.
#[derive(Clone, Debug)]
pub struct LightClient {
    chain_id: ChainId,
    /// The genesis block's id.
    genesis_id: HashValue,
    /// The set that certifies the blocks after the head, and the block its signatures are
    /// bound to.
    set: EpochSet,
    head: BlockHeader,
    headers_verified: u64,
    certificates_verified: u64,
}

impl LightClient {
    /// A client at the genesis block of `genesis`, given the chain a node serves from height 0:
    /// its first header must be a height-0 header of this genesis, and the rest must extend it
    /// up to a committed block. Returns the client at that block.
    pub fn start(genesis: &Genesis, chain: &CommitProof) -> Result<LightClient, FollowError> {
        let first = first_header(chain)?;
        check_genesis_header(first, genesis)?;
        let mut client = LightClient {
            chain_id: genesis.chain_id.clone(),
            genesis_id: first.id(),
            set: EpochSet::genesis(genesis, first)?,
            head: first.clone(),
            headers_verified: 0,
            certificates_verified: 0,
        };
        client.accept(chain)?;
        Ok(client)
    }

    /// Moves to a checkpoint the operator trusts, given the chain a node serves from its height:
    /// the first header must be the checkpoint block, and the chain must be certified like any
    /// other. Headers between the current head and the checkpoint are never fetched. A checkpoint
    /// at or below the head is refused: the head is already certified past it, and its id could
    /// not be checked against the headers skipped.
    pub fn jump(
        &mut self,
        height: Height,
        block: &BlockId,
        chain: &CommitProof,
    ) -> Result<(), FollowError> {
        if height <= self.head.height {
            return Err(FollowError::CheckpointNotAbove {
                height,
                head_height: self.head.height,
            });
        }
        let first = first_header(chain)?;
        if first.height != height || first.id() != *block {
            return Err(FollowError::CheckpointMismatch {
                height,
                expected: *block,
                found: first.id(),
            });
        }
        self.accept(chain)
    }

    /// Extends the certified head by `chain`, whose first header must be the head's child.
    pub fn extend(&mut self, chain: &CommitProof) -> Result<(), FollowError> {
        let first = first_header(chain)?;
        if first.parent_id != self.head.id() || !first.height.follows(self.head.height) {
            return Err(FollowError::DoesNotExtend {
                head: self.head.id(),
                head_height: self.head.height,
                found_parent: first.parent_id,
                found_height: first.height,
            });
        }
        self.accept(chain)
    }

    /// The checks every chain passes, then the move: nothing changes unless all pass.
    fn accept(&mut self, chain: &CommitProof) -> Result<(), FollowError> {
        verify_certificate(&chain.commit_qc, &self.set.validators, &self.set.start)?;
        let (_, top) = verify_commit(chain, &self.chain_id)?;
        self.set.check_labels(chain)?;
        // A committed epoch end moves the client to the set it names; the empty headers after
        // it only carried its commit.
        let mut set = self.set.clone();
        if top.ends_epoch() {
            set.enter(top)?;
        }
        // The head only rises: `extend` and `jump` take chains that start above it, and `start`'s
        // chain starts at it.
        self.head = top.clone();
        self.set = set;
        self.headers_verified += chain.headers.len() as u64;
        self.certificates_verified += 1;
        Ok(())
    }

    /// The highest header proven committed.
    pub fn head(&self) -> &BlockHeader {
        &self.head
    }

    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    pub fn genesis_id(&self) -> &HashValue {
        &self.genesis_id
    }

    /// The epoch whose validator set certifies the blocks after the head (0: the genesis set).
    pub fn epoch(&self) -> u64 {
        self.set.number
    }

    /// That epoch's validator set.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set.validators
    }

    /// Its validators with their names and addresses, in index order.
    pub fn members(&self) -> &[GenesisValidator] {
        &self.set.members
    }

    /// Headers checked so far, and certificates whose signatures were verified.
    pub fn verified(&self) -> (u64, u64) {
        (self.headers_verified, self.certificates_verified)
    }
}
