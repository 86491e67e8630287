//! The synchronous parts of a node that the tokio engine and the seeded simulator share, so
//! that the simulator runs the code the node runs (issue 11). Nothing here does I/O of its own:
//! it works on a [`Store`] it is given.
//!
//! - [`SafetyWriter`]: consensus safety data (and the block a vote is for) persisted before a
//!   signed message leaves, on any store.
//! - [`recover`]: the consensus state a validator starts from, read back from its store, with
//!   the rule that a data directory whose safety data is missing does not vote (review M11).
//! - [`admission`]: the checks every transaction passes before a mempool, cheap ones before
//!   signatures, and the admission mark that follows the chain.
//! - [`Mempool`]: verified transactions waiting for a block, per sender in sequence order,
//!   and the block's selection from them.
//! - [`Pipeline`]: blocks from execution to commit (build as leader, execute before a vote,
//!   hand over what consensus committed, to be written ([`write_blocks`]) before the in-memory
//!   ledger takes it).
//! - [`VerifiedSet`]: which transactions' signatures were already verified.
//! - [`Replica`]: one node between an input and what to do about it: the consensus core's
//!   effects carried out on the pieces above, the store [`open`]ed and its head proven at start.

pub mod admission;
pub mod epoch;
pub mod mempool;
pub mod pipeline;
pub mod replica;
pub mod sync;
pub mod verified;

pub use epoch::Epoch;
pub use mempool::{BlockBudget, Mempool, MempoolError};
pub use pipeline::{CommitError, Pipeline, write_blocks};
pub use replica::{DriverError, Followed, Host, Opened, Output, Position, Replica, open};
pub use verified::VerifiedSet;

use tenge_consensus::{Recovery, SafetyData, SafetyStorage};
use tenge_storage::{PendingBlock, Store, StoreError, StoredHead};
use tenge_types::consensus::{BlockWithParentQc, QuorumCertificate, StoredCertificates};
use tenge_types::{Block, DecodeError, Height, Round};

/// Persists what consensus signs through a store's synced safety-data write.
pub struct SafetyWriter<'a, S: Store + ?Sized>(pub &'a S);

impl<S: Store + ?Sized> SafetyStorage for SafetyWriter<'_, S> {
    type Error = StoreError;

    fn persist_safety_data(
        &mut self,
        data: &SafetyData,
        voted_block: Option<&BlockWithParentQc>,
    ) -> Result<(), StoreError> {
        let pending = voted_block.map(|voted| PendingBlock {
            height: voted.block.header.height,
            id: voted.block.id(),
            bytes: tenge_types::encode(voted),
        });
        self.0.put_safety_data(&data.to_bytes(), pending.as_ref())
    }
}

/// Why a validator's consensus state cannot be recovered from its store.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what} do not decode: {error}")]
    Corrupt {
        what: &'static str,
        error: DecodeError,
    },
    /// A store with blocks always has safety data, written at the first start: without it the
    /// votes this validator signed are forgotten, and it could sign against them (M11).
    #[error(
        "the store holds blocks up to height {height} but no consensus safety data: this \
         validator may have voted before; start it only with a voting floor above any round it \
         may have voted in"
    )]
    SafetyDataMissing { height: Height },
}

/// The consensus state a validator starts from: its committed head (`head`, as the store holds
/// it) with the certificates stored with it, its safety data, and the blocks it persisted with
/// its votes. A first start (no safety data, nothing but genesis) writes empty safety data, so
/// that a later start after range sync alone is not taken for a lost data directory. Without
/// safety data above genesis it refuses unless `voting_floor` is set (D36).
pub fn recover(
    store: &(impl Store + ?Sized),
    genesis_block: &Block,
    head: &StoredHead,
    voting_floor: Round,
) -> Result<Recovery, RecoveryError> {
    let height = head.block.header.height;
    let (parent_qc, commit_certificate) = if height.0 == 0 {
        (QuorumCertificate::genesis(genesis_block), None)
    } else {
        let certificates = StoredCertificates::from_bytes(&head.certificate).map_err(|error| {
            RecoveryError::Corrupt {
                what: "the head's certificates",
                error,
            }
        })?;
        (certificates.parent_qc, certificates.commit_qc)
    };
    let safety = match store.safety_data()? {
        Some(bytes) => SafetyData::from_bytes(&bytes).map_err(|error| RecoveryError::Corrupt {
            what: "the safety data",
            error,
        })?,
        None if height.0 > 0 && voting_floor.0 == 0 => {
            return Err(RecoveryError::SafetyDataMissing { height });
        }
        None => {
            let fresh = SafetyData::default();
            store.put_safety_data(&fresh.to_bytes(), None)?;
            fresh
        }
    };
    let pending = store
        .pending_blocks()?
        .iter()
        .map(|bytes| tenge_types::codec::decode_trusted("pending block", bytes))
        .collect::<Result<Vec<BlockWithParentQc>, _>>()
        .map_err(|error| RecoveryError::Corrupt {
            what: "the pending blocks",
            error,
        })?;
    Ok(Recovery {
        committed: BlockWithParentQc {
            block: head.block.clone(),
            parent_qc,
        },
        commit_certificate,
        safety,
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_ledger::Ledger;
    use tenge_ledger::testkit::TestNetwork;
    use tenge_storage::MemoryStore;

    /// A store initialised at genesis, with its genesis block.
    fn genesis_store() -> (MemoryStore, Block) {
        let net = TestNetwork::new(1, 4);
        let ledger = Ledger::from_genesis(&net.genesis).expect("genesis");
        let block = Block {
            header: ledger.head().clone(),
            transactions: vec![],
        };
        let store = MemoryStore::new();
        store
            .initialize(net.genesis.hash(), &block, &ledger.state().entries())
            .expect("initialise");
        (store, block)
    }

    /// A head one block above genesis, its certificates naming the genesis QC.
    fn head_above_genesis(genesis: &Block) -> StoredHead {
        let mut block = genesis.clone();
        block.header.height = Height(1);
        block.header.parent_id = genesis.id();
        let certificates = StoredCertificates {
            parent_qc: QuorumCertificate::genesis(genesis),
            commit_qc: None,
            commit_suffix: Vec::new(),
        };
        StoredHead {
            block,
            certificate: certificates.to_bytes(),
        }
    }

    #[test]
    fn a_first_start_writes_empty_safety_data() {
        let (store, genesis) = genesis_store();
        let head = store.head().unwrap().unwrap();
        assert_eq!(store.safety_data().unwrap(), None);
        let recovery = recover(&store, &genesis, &head, Round(0)).expect("recovers");
        assert_eq!(recovery.safety, SafetyData::default());
        assert_eq!(recovery.committed.block.id(), genesis.id());
        assert_eq!(recovery.commit_certificate, None);
        assert!(recovery.pending.is_empty());
        assert_eq!(
            store.safety_data().unwrap(),
            Some(SafetyData::default().to_bytes()),
            "written, so a later start after range sync alone is not taken for a lost data dir"
        );
    }

    #[test]
    fn m11_blocks_without_safety_data_do_not_vote_without_a_floor() {
        let (store, genesis) = genesis_store();
        let head = head_above_genesis(&genesis);
        let refused = recover(&store, &genesis, &head, Round(0));
        assert!(
            matches!(
                refused,
                Err(RecoveryError::SafetyDataMissing { height }) if height == Height(1)
            ),
            "{refused:?}"
        );
        assert_eq!(store.safety_data().unwrap(), None, "nothing written");

        // An operator's floor makes starting safe: empty safety data is written then.
        let recovery = recover(&store, &genesis, &head, Round(1_000)).expect("recovers");
        assert_eq!(recovery.safety, SafetyData::default());
        assert_eq!(
            recovery.committed.parent_qc,
            QuorumCertificate::genesis(&genesis)
        );
        assert!(store.safety_data().unwrap().is_some());
    }

    #[test]
    fn what_the_writer_persists_is_what_a_restart_recovers() {
        let (store, genesis) = genesis_store();
        let voted = BlockWithParentQc {
            block: head_above_genesis(&genesis).block,
            parent_qc: QuorumCertificate::genesis(&genesis),
        };
        let safety = SafetyData {
            last_voted_round: Round(7),
            preferred_round: Round(5),
            one_chain_round: Round(6),
            ..SafetyData::default()
        };
        SafetyWriter(&store)
            .persist_safety_data(&safety, Some(&voted))
            .expect("persist");
        let head = store.head().unwrap().unwrap();
        let recovery = recover(&store, &genesis, &head, Round(0)).expect("recovers");
        assert_eq!(recovery.safety, safety);
        assert_eq!(recovery.pending.len(), 1);
        assert_eq!(recovery.pending[0].block.id(), voted.block.id());
    }

    #[test]
    fn damaged_records_are_refused_naming_the_record() {
        let (store, genesis) = genesis_store();
        store.put_safety_data(&[0xff; 3], None).unwrap();
        let head = store.head().unwrap().unwrap();
        let error = recover(&store, &genesis, &head, Round(0)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the safety data do not decode"),
            "{error}"
        );

        let (store, genesis) = genesis_store();
        let mut head = head_above_genesis(&genesis);
        head.certificate = vec![1, 2, 3];
        let error = recover(&store, &genesis, &head, Round(0)).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the head's certificates do not decode"),
            "{error}"
        );
    }
}
