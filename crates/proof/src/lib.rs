//! Proof bundles: one canonical (BCS) file that proves a fact about tenge state at a committed
//! height to anyone holding the genesis file, offline.
//!
//! A bundle holds
//! - the chain's identity: chain id, genesis hash, the genesis block's header (every consensus
//!   signature is bound to its id, decision D27) and the identity of the validator set that
//!   signed (epoch and set hash), with the chain of epoch ends that leads to it from the genesis
//!   set (D80);
//! - a commit proof: the header whose state root the fact is proven against, the headers after it
//!   up to a block B, and a quorum certificate whose vote data commits B under the 2-chain rule
//!   (the certified block's parent is B and its round is B's round + 1, `VoteData::commits`);
//!   a QC on a block alone does not show that the block committed;
//! - a claim: the state entries (account, global counters, policy, earmark), their slot-tree
//!   paths, account-index paths for absence, and the parts of the state root.
//!
//! [`verify`] checks all of it against a [`Genesis`] and returns what is proven, or names the
//! check that failed. It assumes what consensus assumes: at most f of the 3f + 1 validators are
//! Byzantine, so a certificate with 2f + 1 signatures holds f + 1 honest voters, each of which
//! executed the block and voted only for the state root it computed.

mod follow;

use std::collections::BTreeSet;

pub use follow::{FollowError, LightClient};
use serde::{Deserialize, Serialize};
use tenge_crypto::verify_strict;
use tenge_types::commitment::{
    AccountIndexPath, IndexLookup, account_index_root_from_path, slot_tree_root_from_path,
    state_leaf_hash, state_root,
};
use tenge_types::consensus::{QuorumCertificate, ValidatorSet, commits_through};
use tenge_types::{
    Account, AccountId, Amount, BlockHeader, ChainId, DecodeError, Earmark, EarmarkId, Genesis,
    GenesisValidator, GlobalState, HashValue, Height, PolicyState, Role, StateValue, decode,
    encode,
};

/// The bundle format this code writes and reads; it refuses numbers it does not know. Version 2
/// has headers with epochs and the chain of epoch ends (D80); version 3 headers mark the blocks
/// above an epoch's end (D83).
pub const FORMAT_VERSION: u16 = 3;
/// Largest bundle accepted: a policy history at its cap (1,000 changes) fits with room to spare.
pub const MAX_BUNDLE_BYTES: usize = 4 * 1024 * 1024;
/// Largest header chain accepted from a node: [`MAX_HEADER_CHAIN`] headers of a few hundred
/// bytes each and a certificate, with room to spare.
pub const MAX_HEADER_CHAIN_BYTES: usize = 1024 * 1024;
/// Most headers between the proven one and the committed one. A node commits in chains of a few
/// blocks; range sync stores a commit certificate at least every 256 + 256 blocks.
pub const MAX_HEADER_CHAIN: usize = 1_024;

/// One proof: who the chain is, that a header committed, and what its state holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProofBundle {
    pub version: u16,
    pub chain: ChainIdentity,
    pub commit: CommitProof,
    pub claim: Claim,
}

/// The chain a bundle is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainIdentity {
    pub chain_id: ChainId,
    /// `Genesis::hash()` of the genesis file.
    pub genesis_hash: HashValue,
    /// The genesis block's header (height 0, parent id = the genesis hash). Its id is bound into
    /// every vote signature, so a header that is not the real one makes every signature fail.
    pub genesis_header: BlockHeader,
    pub validator_set: ValidatorSetIdentity,
}

/// The validator set whose quorum signed the commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSetIdentity {
    /// 0: the genesis set. Validator-set changes will number later epochs.
    pub epoch: u64,
    /// `ValidatorSet::hash()` of the set.
    pub validators_hash: HashValue,
    /// How the set follows from the genesis set.
    pub derivation: ValidatorSetDerivation,
}

/// How a verifier gets from the genesis validator set to the set that signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValidatorSetDerivation {
    /// The set is the genesis set (epoch 0).
    Genesis,
    /// The set of epoch `k` follows from the genesis set through `k` epoch ends (D80): the i-th
    /// is the block that ended epoch i, committed by a certificate of epoch i's set (its commit
    /// proof starts with that block's header, which names the next set). Cut one out, and the
    /// next is signed by a set the verifier does not have.
    EpochChanges(Vec<CommitProof>),
}

/// The most epoch changes a bundle carries (each a few kilobytes; the bundle limit holds them).
pub const MAX_EPOCH_CHANGES: usize = 512;

/// A header, its descendants up to a committed block, and the certificate that commits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitProof {
    /// The header the claim is proven against first; each next one names the previous as its
    /// parent; the last is the block the certificate commits. Committing a block commits all
    /// its ancestors.
    pub headers: Vec<BlockHeader>,
    /// A QC whose vote data names the last header as its parent, one round earlier.
    pub commit_qc: QuorumCertificate,
}

/// The parts of a state root (see `tenge_types::commitment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRootParts {
    pub slot_tree_root: HashValue,
    pub next_slot: u64,
    pub account_index_root: HashValue,
}

/// A state entry with its slot and its slot-tree path (32 sibling hashes, leaf level first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryProof<T> {
    pub slot: u64,
    pub value: T,
    pub path: Vec<HashValue>,
}

/// What a bundle proves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Claim {
    /// An account and everything it holds.
    Account {
        root: StateRootParts,
        account: EntryProof<Account>,
    },
    /// No account has this id.
    Absence {
        root: StateRootParts,
        id: AccountId,
        path: AccountIndexPath,
    },
    /// The global counters and the policy history (for the ceiling and the epoch cap).
    Supply {
        root: StateRootParts,
        global: EntryProof<GlobalState>,
        policy: EntryProof<PolicyState>,
    },
    /// An earmark and the account holding what is left of it.
    Earmark {
        root: StateRootParts,
        earmark: EntryProof<Earmark>,
        holder: EntryProof<Account>,
    },
}

impl Claim {
    pub fn kind(&self) -> &'static str {
        match self {
            Claim::Account { .. } => "account",
            Claim::Absence { .. } => "absence",
            Claim::Supply { .. } => "supply",
            Claim::Earmark { .. } => "earmark",
        }
    }

    fn root(&self) -> &StateRootParts {
        match self {
            Claim::Account { root, .. }
            | Claim::Absence { root, .. }
            | Claim::Supply { root, .. }
            | Claim::Earmark { root, .. } => root,
        }
    }
}

impl ChainIdentity {
    /// The identity of the chain `genesis` starts, whose genesis block has `genesis_header`,
    /// with the genesis validator set (epoch 0).
    pub fn new(genesis: &Genesis, genesis_header: BlockHeader) -> ChainIdentity {
        ChainIdentity::in_epoch(genesis, genesis_header, Vec::new())
    }

    /// The same, with the set of the epoch that `epoch_ends` (the commit proofs of the blocks
    /// that ended epochs 0, 1, ..., in order) lead to.
    pub fn in_epoch(
        genesis: &Genesis,
        genesis_header: BlockHeader,
        epoch_ends: Vec<CommitProof>,
    ) -> ChainIdentity {
        let (epoch, validators) = match epoch_ends.last().and_then(|end| end.headers.first()) {
            Some(end) => (
                end.next_epoch(),
                ValidatorSet::new(
                    end.next_validators
                        .iter()
                        .flatten()
                        .map(|v| v.consensus_key)
                        .collect(),
                ),
            ),
            None => (
                0,
                ValidatorSet::new(genesis.validators.iter().map(|v| v.consensus_key).collect()),
            ),
        };
        let derivation = if epoch_ends.is_empty() {
            ValidatorSetDerivation::Genesis
        } else {
            ValidatorSetDerivation::EpochChanges(epoch_ends)
        };
        ChainIdentity {
            chain_id: genesis.chain_id.clone(),
            genesis_hash: genesis.hash(),
            genesis_header,
            validator_set: ValidatorSetIdentity {
                epoch,
                validators_hash: validators.hash(),
                derivation,
            },
        }
    }
}

impl CommitProof {
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a header chain as a node serves it (`GET /v1/headers`): size-limited, canonical
    /// BCS, no trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<CommitProof, DecodeError> {
        decode("header chain", bytes, MAX_HEADER_CHAIN_BYTES)
    }
}

impl ProofBundle {
    /// A bundle of the current format.
    pub fn new(chain: ChainIdentity, commit: CommitProof, claim: Claim) -> ProofBundle {
        ProofBundle {
            version: FORMAT_VERSION,
            chain,
            commit,
            claim,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a bundle file: size-limited, canonical BCS, no trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<ProofBundle, DecodeError> {
        decode("proof bundle", bytes, MAX_BUNDLE_BYTES)
    }

    /// The header the claim is proven against.
    pub fn proven_header(&self) -> Option<&BlockHeader> {
        self.commit.headers.first()
    }
}

/// The check a bundle failed. `check()` is the stable name printed by `tenge verify`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("bundle format version {found}; this verifier reads version {FORMAT_VERSION}")]
    UnsupportedVersion { found: u16 },
    #[error(
        "bundle is for chain `{found}` with genesis {found_hash}, the genesis file is `{expected}` with genesis {expected_hash}"
    )]
    WrongChain {
        expected: ChainId,
        expected_hash: HashValue,
        found: ChainId,
        found_hash: HashValue,
    },
    #[error("the genesis header is not a height-0 header of this genesis")]
    WrongGenesisHeader,
    #[error(
        "the bundle names validator set {found} (epoch {epoch}); the genesis set is {expected}"
    )]
    ValidatorSetMismatch {
        epoch: u64,
        expected: HashValue,
        found: HashValue,
    },
    #[error("signer {0} is not in the validator set")]
    UnknownSigner(u16),
    #[error("signer {0} appears more than once in the certificate")]
    DuplicateSigner(u16),
    #[error("certificate signers are not in increasing order")]
    UnsortedSigners,
    #[error("the certificate has {have} signers; a quorum is {need}")]
    QuorumShort { have: usize, need: usize },
    #[error("the signature of validator {0} does not verify over the certificate's vote data")]
    BadSignature(u16),
    #[error("the headers do not form a chain: {0}")]
    HeaderChainBroken(String),
    /// An epoch change that does not move to the next set: its first header does not end the
    /// epoch it is certified in, or a header claims an epoch its certificate's set is not of.
    #[error("epoch change: {0}")]
    EpochChange(String),
    #[error(
        "the certificate does not commit the last header (2-chain rule: its block must be the header's child, one round later)"
    )]
    HeaderNotCommitted,
    #[error("the state root {computed} built from the claim differs from the header's {expected}")]
    RootMismatch {
        computed: HashValue,
        expected: HashValue,
    },
    #[error("malformed proof path: {0}")]
    MalformedPath(String),
    #[error("the claim is inconsistent: {0}")]
    InconsistentClaim(String),
}

impl VerifyError {
    /// A stable snake_case name of the failed check.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::UnsupportedVersion { .. } => "unsupported_version",
            VerifyError::WrongChain { .. } => "wrong_chain",
            VerifyError::WrongGenesisHeader => "wrong_genesis_header",
            VerifyError::ValidatorSetMismatch { .. } => "validator_set_mismatch",
            VerifyError::UnknownSigner(_) => "unknown_signer",
            VerifyError::DuplicateSigner(_) => "duplicate_signer",
            VerifyError::UnsortedSigners => "unsorted_signers",
            VerifyError::QuorumShort { .. } => "quorum_short",
            VerifyError::BadSignature(_) => "bad_signature",
            VerifyError::HeaderChainBroken(_) => "header_chain_broken",
            VerifyError::EpochChange(_) => "epoch_change",
            VerifyError::HeaderNotCommitted => "header_not_committed",
            VerifyError::RootMismatch { .. } => "root_mismatch",
            VerifyError::MalformedPath(_) => "malformed_path",
            VerifyError::InconsistentClaim(_) => "inconsistent_claim",
        }
    }
}

/// What a valid bundle proves, in the shape `tenge verify --output json` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub valid: bool,
    pub chain_id: String,
    pub height: u64,
    pub block_id: String,
    pub state_root: String,
    /// Consensus time of the proven block, in ms since the Unix epoch.
    pub block_time_ms: u64,
    /// Height of the block the certificate commits (the proven one or a later one).
    pub committed_height: u64,
    /// Validators whose signatures on the commit certificate verified.
    pub signers: usize,
    pub validator_set_epoch: u64,
    #[serde(flatten)]
    pub facts: Facts,
}

/// The proven fields, by kind (`kind` in JSON). Amounts are integer tiyn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Facts {
    Account(AccountFacts),
    Absence { account: String },
    Supply(SupplyFacts),
    Earmark(EarmarkFacts),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFacts {
    pub account: String,
    pub role: String,
    /// The wallet's bank (wallets only).
    pub bank: Option<String>,
    /// KYC tier (wallets only).
    pub tier: Option<u8>,
    pub balance_tiyn: u64,
    pub earmarked_tiyn: u64,
    /// Earmarked money by earmark (`earmarked_tiyn` is their sum).
    pub earmarks: Vec<EarmarkHoldingFacts>,
    pub frozen: bool,
    pub frozen_by: Option<String>,
    pub sequence: u64,
    pub created_at: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarmarkHoldingFacts {
    pub earmark: String,
    pub amount_tiyn: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplyFacts {
    pub issued_tiyn: u64,
    pub redeemed_tiyn: u64,
    pub outstanding_tiyn: u64,
    pub ceiling_tiyn: u64,
    /// Issuance epoch of the proven block's time.
    pub epoch: u64,
    pub epoch_issued_tiyn: u64,
    pub epoch_cap_tiyn: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarmarkFacts {
    pub earmark: String,
    pub purpose: String,
    pub funder: String,
    pub holder: String,
    pub allocated_tiyn: u64,
    pub spent_tiyn: u64,
    pub remaining_tiyn: u64,
    pub approved_payees: Vec<String>,
    pub created_at: u64,
}

/// Checks a bundle against a genesis, offline: chain, validator set, the certificate's
/// signatures (a quorum of distinct genesis validators), that it commits the last header, that
/// the headers chain to the proven one, and that the claim hashes to the proven state root.
pub fn verify(bundle: &ProofBundle, genesis: &Genesis) -> Result<Verified, VerifyError> {
    if bundle.version != FORMAT_VERSION {
        return Err(VerifyError::UnsupportedVersion {
            found: bundle.version,
        });
    }
    let chain = &bundle.chain;
    let genesis_hash = genesis.hash();
    if chain.chain_id != genesis.chain_id || chain.genesis_hash != genesis_hash {
        return Err(VerifyError::WrongChain {
            expected: genesis.chain_id.clone(),
            expected_hash: genesis_hash,
            found: chain.chain_id.clone(),
            found_hash: chain.genesis_hash,
        });
    }
    let genesis_header = &chain.genesis_header;
    check_genesis_header(genesis_header, genesis)?;
    let mut epoch = EpochSet::genesis(genesis, genesis_header)?;
    let set = &chain.validator_set;
    if let ValidatorSetDerivation::EpochChanges(ends) = &set.derivation {
        if ends.is_empty() || ends.len() > MAX_EPOCH_CHANGES {
            return Err(VerifyError::EpochChange(format!(
                "{} epoch changes; 1 to {MAX_EPOCH_CHANGES} are allowed",
                ends.len()
            )));
        }
        for end in ends {
            epoch.change(end, &genesis.chain_id)?;
        }
    }
    if set.epoch != epoch.number || set.validators_hash != epoch.validators.hash() {
        return Err(VerifyError::ValidatorSetMismatch {
            epoch: set.epoch,
            expected: epoch.validators.hash(),
            found: set.validators_hash,
        });
    }
    let signers = verify_certificate(&bundle.commit.commit_qc, &epoch.validators, &epoch.start)?;
    let (header, committed) = verify_commit(&bundle.commit, &genesis.chain_id)?;
    epoch.check_labels(&bundle.commit)?;
    let facts = verify_claim(&bundle.claim, header)?;
    Ok(Verified {
        valid: true,
        chain_id: genesis.chain_id.to_string(),
        height: header.height.0,
        block_id: header.id().to_hex(),
        state_root: header.state_root.to_hex(),
        block_time_ms: header.timestamp.0,
        committed_height: committed.height.0,
        signers,
        validator_set_epoch: set.epoch,
        facts,
    })
}

/// A height-0 header of this genesis: its parent id is the genesis hash. (Its id is bound into
/// every signature, so a header with any other field changed makes every certificate fail.)
fn check_genesis_header(header: &BlockHeader, genesis: &Genesis) -> Result<(), VerifyError> {
    if header.parent_id != genesis.hash()
        || header.height != Height::GENESIS
        || header.round.0 != 0
        || header.chain_id != genesis.chain_id
    {
        return Err(VerifyError::WrongGenesisHeader);
    }
    Ok(())
}

fn genesis_validator_set(genesis: &Genesis) -> Result<ValidatorSet, VerifyError> {
    if genesis.validators.is_empty() || genesis.validators.len() > Genesis::MAX_VALIDATORS {
        return Err(VerifyError::WrongGenesisHeader);
    }
    Ok(ValidatorSet::new(
        genesis.validators.iter().map(|v| v.consensus_key).collect(),
    ))
}

/// Signers known, distinct, sorted, a quorum, every signature valid. Returns the signer count.
fn verify_certificate(
    qc: &QuorumCertificate,
    validators: &ValidatorSet,
    genesis_id: &HashValue,
) -> Result<usize, VerifyError> {
    let mut seen = BTreeSet::new();
    for (signer, _) in &qc.signatures {
        if validators.key(*signer).is_none() {
            return Err(VerifyError::UnknownSigner(*signer));
        }
        if !seen.insert(*signer) {
            return Err(VerifyError::DuplicateSigner(*signer));
        }
    }
    if !qc.signatures.windows(2).all(|pair| pair[0].0 < pair[1].0) {
        return Err(VerifyError::UnsortedSigners);
    }
    let need = validators.quorum();
    if qc.signatures.len() < need {
        return Err(VerifyError::QuorumShort {
            have: qc.signatures.len(),
            need,
        });
    }
    let message = qc.data.signing_hash(genesis_id);
    for (signer, signature) in &qc.signatures {
        let key = validators.key(*signer).expect("checked above");
        if !verify_strict(&message, key, signature) {
            return Err(VerifyError::BadSignature(*signer));
        }
    }
    Ok(qc.signatures.len())
}

/// The headers chain by parent id and height, and the certificate commits the last one, or,
/// when a header ends its epoch, commits it through the empty headers of that epoch after it
/// (D80). Returns the proven (first) header and the highest committed one (that epoch end, or
/// the last).
fn verify_commit<'a>(
    commit: &'a CommitProof,
    chain_id: &ChainId,
) -> Result<(&'a BlockHeader, &'a BlockHeader), VerifyError> {
    let (Some(first), Some(last)) = (commit.headers.first(), commit.headers.last()) else {
        return Err(VerifyError::HeaderChainBroken("no header".into()));
    };
    if commit.headers.len() > MAX_HEADER_CHAIN {
        return Err(VerifyError::HeaderChainBroken(format!(
            "{} headers; at most {MAX_HEADER_CHAIN}",
            commit.headers.len()
        )));
    }
    for header in &commit.headers {
        if header.chain_id != *chain_id {
            return Err(VerifyError::HeaderChainBroken(format!(
                "header at height {} is for chain {}",
                header.height, header.chain_id
            )));
        }
    }
    for pair in commit.headers.windows(2) {
        if pair[1].parent_id != pair[0].id() || !pair[1].height.follows(pair[0].height) {
            return Err(VerifyError::HeaderChainBroken(format!(
                "header at height {} does not extend the one at height {}",
                pair[1].height, pair[0].height
            )));
        }
    }
    let end = commit.headers.iter().position(BlockHeader::ends_epoch);
    let (committed, suffix) = match end {
        Some(end) => commit.headers.split_at(end + 1),
        None => (&commit.headers[..], &[][..]),
    };
    let top = committed.last().expect("at least the first header");
    // Blocks above an epoch's end are never committed (D83): none may be proven or passed as
    // committed, whatever a certificate says of it.
    if committed.iter().any(|header| header.above_epoch_end) {
        return Err(VerifyError::HeaderNotCommitted);
    }
    let data = &commit.commit_qc.data;
    if !commits_through(&commit.commit_qc, top, suffix) || !data.height.follows(last.height) {
        return Err(VerifyError::HeaderNotCommitted);
    }
    Ok((first, top))
}

/// A validator set as a verifier walks from the genesis through epoch changes: its epoch, its
/// keys, and the id of the block its signatures are bound to (the genesis block, then each
/// epoch's start).
#[derive(Clone, Debug)]
pub(crate) struct EpochSet {
    pub(crate) number: u64,
    pub(crate) validators: ValidatorSet,
    /// The validators with their names and addresses, in index order.
    pub(crate) members: Vec<GenesisValidator>,
    pub(crate) start: HashValue,
}

impl EpochSet {
    pub(crate) fn genesis(
        genesis: &Genesis,
        genesis_header: &BlockHeader,
    ) -> Result<EpochSet, VerifyError> {
        Ok(EpochSet {
            number: 0,
            validators: genesis_validator_set(genesis)?,
            members: genesis.validators.clone(),
            start: genesis_header.id(),
        })
    }

    /// Moves to the next epoch through `end`: a commit proof, certified by this set, whose first
    /// header ends this epoch and names the next set.
    pub(crate) fn change(
        &mut self,
        end: &CommitProof,
        chain_id: &ChainId,
    ) -> Result<(), VerifyError> {
        verify_certificate(&end.commit_qc, &self.validators, &self.start)?;
        let (first, top) = verify_commit(end, chain_id)?;
        self.check_labels(end)?;
        if first != top {
            return Err(VerifyError::EpochChange(format!(
                "the change's first header, at height {}, does not end epoch {}",
                first.height, self.number
            )));
        }
        self.enter(first)
    }

    /// Enters the epoch a verified, committed header of this epoch starts.
    pub(crate) fn enter(&mut self, end: &BlockHeader) -> Result<(), VerifyError> {
        let next = end.next_validators.as_ref().ok_or_else(|| {
            VerifyError::EpochChange(format!("the header at height {} ends no epoch", end.height))
        })?;
        if next.is_empty() || next.len() > Genesis::MAX_VALIDATORS {
            return Err(VerifyError::EpochChange(format!(
                "the next set has {} validators",
                next.len()
            )));
        }
        self.number += 1;
        self.validators = ValidatorSet::new(next.iter().map(|v| v.consensus_key).collect());
        self.members = next.clone();
        self.start = end.id();
        Ok(())
    }

    /// Every header a certificate of this set commits is of this epoch (the suffix after an
    /// epoch end too): a header labelled with another epoch is refused.
    pub(crate) fn check_labels(&self, commit: &CommitProof) -> Result<(), VerifyError> {
        match commit.headers.iter().find(|h| h.epoch != self.number) {
            Some(header) => Err(VerifyError::EpochChange(format!(
                "the header at height {} is of epoch {}; its certificate's set is of epoch {}",
                header.height, header.epoch, self.number
            ))),
            None => Ok(()),
        }
    }
}

/// Checks that an entry's path leads to the claimed slot-tree root. The claimed parts already
/// hash to the header's state root, so a path to another slot-tree root is a root mismatch.
fn check_entry<T: Clone>(
    entry: &EntryProof<T>,
    wrap: impl Fn(T) -> StateValue,
    root: &StateRootParts,
    header_root: &HashValue,
    what: &str,
) -> Result<(), VerifyError> {
    if entry.slot >= root.next_slot {
        return Err(VerifyError::MalformedPath(format!(
            "{what} in slot {} past the {} slots in use",
            entry.slot, root.next_slot
        )));
    }
    let leaf = state_leaf_hash(&wrap(entry.value.clone()));
    let computed = slot_tree_root_from_path(entry.slot, &leaf, &entry.path).ok_or_else(|| {
        VerifyError::MalformedPath(format!("{what} path has {} hashes", entry.path.len()))
    })?;
    if computed != root.slot_tree_root {
        return Err(VerifyError::RootMismatch {
            computed: state_root(&computed, root.next_slot, &root.account_index_root),
            expected: *header_root,
        });
    }
    Ok(())
}

fn verify_claim(claim: &Claim, header: &BlockHeader) -> Result<Facts, VerifyError> {
    let root = claim.root();
    let combined = state_root(
        &root.slot_tree_root,
        root.next_slot,
        &root.account_index_root,
    );
    let expected = &header.state_root;
    if combined != *expected {
        return Err(VerifyError::RootMismatch {
            computed: combined,
            expected: *expected,
        });
    }
    match claim {
        Claim::Account { root, account } => {
            check_entry(account, StateValue::Account, root, expected, "account")?;
            Ok(Facts::Account(account_facts(&account.value)))
        }
        Claim::Absence { root, id, path } => {
            let (computed, lookup) = account_index_root_from_path(id, path)
                .map_err(|e| VerifyError::MalformedPath(e.to_string()))?;
            if computed != root.account_index_root {
                return Err(VerifyError::RootMismatch {
                    computed: state_root(&root.slot_tree_root, root.next_slot, &computed),
                    expected: *expected,
                });
            }
            match lookup {
                IndexLookup::Absent => Ok(Facts::Absence {
                    account: id.to_hex(),
                }),
                IndexLookup::Present { slot } => Err(VerifyError::InconsistentClaim(format!(
                    "account {id} exists (slot {slot}): the path proves presence, not absence"
                ))),
            }
        }
        Claim::Supply {
            root,
            global,
            policy,
        } => {
            check_entry(
                global,
                StateValue::Global,
                root,
                expected,
                "global counters",
            )?;
            check_entry(policy, StateValue::Policy, root, expected, "policy")?;
            supply_facts(&global.value, &policy.value, header)
        }
        Claim::Earmark {
            root,
            earmark,
            holder,
        } => {
            check_entry(earmark, StateValue::Earmark, root, expected, "earmark")?;
            check_entry(holder, StateValue::Account, root, expected, "holder")?;
            earmark_facts(&earmark.value, &holder.value)
        }
    }
}

fn account_facts(account: &Account) -> AccountFacts {
    let (bank, tier) = match &account.role {
        Role::Wallet { bank, tier } => (Some(bank.to_hex()), Some(*tier)),
        _ => (None, None),
    };
    let earmarked_tiyn = account
        .earmarked
        .iter()
        .fold(0u64, |sum, h| sum.saturating_add(h.amount.tiyn()));
    AccountFacts {
        account: account.id.to_hex(),
        role: account.role.name().to_string(),
        bank,
        tier,
        balance_tiyn: account.balance.tiyn(),
        earmarked_tiyn,
        earmarks: account
            .earmarked
            .iter()
            .map(|h| EarmarkHoldingFacts {
                earmark: h.earmark.to_hex(),
                amount_tiyn: h.amount.tiyn(),
            })
            .collect(),
        frozen: account.frozen.is_some(),
        frozen_by: account.frozen.map(|a| a.as_str().to_string()),
        sequence: account.sequence,
        created_at: account.created_at.0,
    }
}

fn supply_facts(
    global: &GlobalState,
    policy: &PolicyState,
    header: &BlockHeader,
) -> Result<Facts, VerifyError> {
    let inconsistent = |what: &str| VerifyError::InconsistentClaim(what.to_string());
    let outstanding = global
        .issued
        .checked_sub(global.redeemed)
        .ok_or_else(|| inconsistent("redeemed exceeds issued"))?;
    let first = policy
        .history
        .first()
        .ok_or_else(|| inconsistent("empty policy history"))?;
    if first.effective_height != Height::GENESIS {
        return Err(inconsistent("policy history does not start at genesis"));
    }
    let params = &policy.active_at(header.height).params;
    let epoch = header
        .timestamp
        .0
        .saturating_sub(global.genesis_time.0)
        .checked_div(params.epoch_duration_ms)
        .ok_or_else(|| inconsistent("epoch duration of zero"))?;
    Ok(Facts::Supply(SupplyFacts {
        issued_tiyn: global.issued.tiyn(),
        redeemed_tiyn: global.redeemed.tiyn(),
        outstanding_tiyn: outstanding.tiyn(),
        ceiling_tiyn: params.supply_ceiling.tiyn(),
        epoch,
        epoch_issued_tiyn: global.epoch_issuance.in_period(epoch).tiyn(),
        epoch_cap_tiyn: params.issuance_cap_per_epoch.tiyn(),
    }))
}

fn earmark_facts(earmark: &Earmark, holder: &Account) -> Result<Facts, VerifyError> {
    if holder.id != earmark.holder {
        return Err(VerifyError::InconsistentClaim(format!(
            "the account shown is {}, the earmark's holder is {}",
            holder.id, earmark.holder
        )));
    }
    let remaining = earmarked_in(holder, &earmark.id);
    let spent = earmark
        .original_amount
        .checked_sub(remaining)
        .ok_or_else(|| {
            VerifyError::InconsistentClaim("the holder has more than was earmarked".into())
        })?;
    Ok(Facts::Earmark(EarmarkFacts {
        earmark: earmark.id.to_hex(),
        purpose: earmark.terms.purpose.clone(),
        funder: earmark.funder.to_hex(),
        holder: earmark.holder.to_hex(),
        allocated_tiyn: earmark.original_amount.tiyn(),
        spent_tiyn: spent.tiyn(),
        remaining_tiyn: remaining.tiyn(),
        approved_payees: earmark
            .terms
            .approved_payees
            .iter()
            .map(|p| p.to_hex())
            .collect(),
        created_at: earmark.created_at.0,
    }))
}

/// The holder's money under one earmark (a linear scan: a bundle's holdings are not trusted to
/// be sorted until the root matched, and there are at most 64).
fn earmarked_in(holder: &Account, earmark: &EarmarkId) -> Amount {
    holder
        .earmarked
        .iter()
        .find(|h| h.earmark == *earmark)
        .map_or(Amount::ZERO, |h| h.amount)
}

#[cfg(test)]
mod tests;
