//! Epochs as a node runs them (D80): the block an epoch starts from and the validators that
//! certify its blocks, found from the committed state and the headers that ended epochs.
//!
//! An epoch's consensus instance treats its start block as its genesis: the genesis block for
//! epoch 0, and for epoch k the block that ended epoch k - 1, whose header names epoch k's set.
//! The committed [`Membership`](tenge_types::Membership) records where the current epoch and the
//! one before it started, so nothing is scanned.

use tenge_consensus::Verifier;
use tenge_ledger::Ledger;
use tenge_storage::{Store, StoreError};
use tenge_types::consensus::{QuorumCertificate, ValidatorSet};
use tenge_types::{Block, Genesis, GenesisValidator, Height};

/// One epoch: its number, the block it starts from, and its validators in index order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    pub number: u64,
    pub start: Block,
    pub validators: Vec<GenesisValidator>,
}

impl Epoch {
    /// Epoch 0: the genesis block and the genesis validators.
    pub fn genesis(genesis: &Genesis, genesis_block: &Block) -> Epoch {
        Epoch {
            number: 0,
            start: genesis_block.clone(),
            validators: genesis.validators.clone(),
        }
    }

    /// The epoch a committed block that ended its epoch starts; `None` for any other block.
    pub fn started_by(block: &Block) -> Option<Epoch> {
        let validators = block.header.next_validators.clone()?;
        Some(Epoch {
            number: block.header.next_epoch(),
            start: block.clone(),
            validators,
        })
    }

    /// The validators' consensus keys, in index order.
    pub fn set(&self) -> ValidatorSet {
        ValidatorSet::new(self.validators.iter().map(|v| v.consensus_key).collect())
    }

    /// A verifier of this epoch's messages and certificates: its set, bound to its start block.
    pub fn verifier(&self) -> Verifier {
        Verifier::new(self.set(), QuorumCertificate::genesis(&self.start))
    }
}

/// Why an epoch's start cannot be found in a store.
#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the committed state says epoch {epoch} started at height {height}, {problem}")]
    Missing {
        epoch: u64,
        height: Height,
        problem: &'static str,
    },
}

/// The epoch whose start block is at `height` (the genesis epoch at height 0), read from the
/// store.
fn starting_at<S: Store + ?Sized>(
    store: &S,
    genesis: &Genesis,
    genesis_block: &Block,
    epoch: u64,
    height: Height,
) -> Result<Epoch, EpochError> {
    if epoch == 0 {
        return Ok(Epoch::genesis(genesis, genesis_block));
    }
    let missing = |problem| EpochError::Missing {
        epoch,
        height,
        problem,
    };
    let block = store
        .block(height)?
        .ok_or_else(|| missing("and the store has no block there"))?;
    let started = Epoch::started_by(&block).ok_or_else(|| missing("but that block ends none"))?;
    if started.number != epoch {
        return Err(missing("but that block starts another epoch"));
    }
    Ok(started)
}

/// The epoch consensus runs on top of `ledger`'s committed head: the one its state is in.
pub fn current<S: Store + ?Sized>(
    store: &S,
    genesis: &Genesis,
    genesis_block: &Block,
    ledger: &Ledger,
) -> Result<Epoch, EpochError> {
    let membership = ledger.state().membership();
    starting_at(
        store,
        genesis,
        genesis_block,
        membership.epoch(),
        membership.changed_at(),
    )
}

/// The epoch whose validators certified `ledger`'s committed head: the current one, or the one
/// before when the head ended it.
pub fn of_head<S: Store + ?Sized>(
    store: &S,
    genesis: &Genesis,
    genesis_block: &Block,
    ledger: &Ledger,
) -> Result<Epoch, EpochError> {
    if !ledger.head().ends_epoch() {
        return current(store, genesis, genesis_block, ledger);
    }
    let membership = ledger.state().membership();
    let epoch = membership.epoch() - 1;
    let start = match epoch {
        0 => Height::GENESIS,
        _ => *membership
            .epoch_ends
            .get(membership.epoch_ends.len().wrapping_sub(2))
            .ok_or(EpochError::Missing {
                epoch,
                height: Height::GENESIS,
                problem: "but the state lists fewer epoch ends",
            })?,
    };
    starting_at(store, genesis, genesis_block, epoch, start)
}
