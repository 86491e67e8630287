//! The ledger of the digital tenge: accounts and their state, deterministic execution of blocks
//! with the monetary policy enforced, and the state root that commits to the result.
//!
//! Pure: no I/O, no clock, no threads except the scoped ones signature verification may use.
//! [`Ledger`] holds the committed state; [`Ledger::execute_block`] executes a block on the
//! committed state plus the deltas of uncommitted ancestors (consensus executes before it votes,
//! on top of blocks not yet committed) and [`Ledger::commit`] makes one block's delta permanent.

mod account_index;
mod execute;
mod genesis;
mod proof;
mod state;
pub mod testkit;
pub mod tree;

pub use account_index::AccountIndex;
pub use execute::{
    BlockExecution, CheckedTransaction, check_transactions, execute, verify_signatures,
};
pub use genesis::{GenesisError, genesis_state};
pub use state::{CommittedState, LayeredView, StateDelta, StateLoadError, leaf_hash};
pub use tenge_policy::BlockContext;
pub use tenge_types::Slotted;

use tenge_policy::StateView;
use tenge_types::block::transactions_root;
use tenge_types::{
    Block, BlockHeader, ChainId, Genesis, GenesisValidator, HashValue, Height, Round,
    SignedTransaction, StateValue, TimestampMs,
};

/// How a node that follows certified blocks (range sync: observers, validators catching up)
/// learns which transaction signatures are valid. Config `verify_signatures`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureCheck {
    /// Verify every signature of every synced block (the default: trusts nothing but the
    /// certificates' signers being at most f Byzantine, and costs one verification per
    /// transaction, as on a validator).
    #[default]
    All,
    /// Take the verdicts that the certified receipts root proves (see
    /// [`Ledger::execute_certified`]); verify only a block whose receipts disagree.
    CertifiedReceipts,
}

impl SignatureCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureCheck::All => "all",
            SignatureCheck::CertifiedReceipts => "certified-receipts",
        }
    }
}

impl std::str::FromStr for SignatureCheck {
    type Err = String;
    fn from_str(value: &str) -> Result<SignatureCheck, String> {
        match value {
            "all" => Ok(SignatureCheck::All),
            "certified-receipts" => Ok(SignatureCheck::CertifiedReceipts),
            other => Err(format!("`{other}`: expected `all` or `certified-receipts`")),
        }
    }
}

/// Why a proposed block cannot follow its parent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block is for chain {found}, this node follows {expected}")]
    WrongChain { expected: ChainId, found: ChainId },
    #[error("block height {found} does not follow parent height {parent}")]
    WrongHeight { parent: Height, found: Height },
    #[error("block names parent {found}, expected {expected}")]
    WrongParent {
        expected: HashValue,
        found: HashValue,
    },
    #[error("block time {found} ms is before its parent's {parent} ms")]
    TimeBeforeParent { parent: u64, found: u64 },
    #[error("block is malformed: {0}")]
    Malformed(String),
    #[error("block claims state root {claimed}, execution gives {computed}")]
    StateRootMismatch {
        claimed: HashValue,
        computed: HashValue,
    },
    #[error("block claims receipts root {claimed}, execution gives {computed}")]
    ReceiptsRootMismatch {
        claimed: HashValue,
        computed: HashValue,
    },
    /// A block's epoch is the epoch of the state it executes on, or, above a block that ended
    /// its epoch and is not committed yet, still that block's epoch (D80).
    #[error(
        "block of epoch {found} on a parent of epoch {parent} and a state of epoch {state}: \
         neither the state's epoch nor its predecessor's suffix"
    )]
    WrongEpoch { parent: u64, state: u64, found: u64 },
    /// Blocks of an epoch above the block that ended it only carry that block's commit (D80).
    #[error(
        "block of epoch {epoch} follows the block that ended it, and carries {transactions} \
         transactions; it must be empty"
    )]
    EpochSuffixNotEmpty { epoch: u64, transactions: usize },
    /// A block is marked as above its epoch's end exactly when it is (D83).
    #[error("block's above-epoch-end mark is {found}; the chain says {expected}")]
    EpochSuffixMark { expected: bool, found: bool },
    #[error(
        "block's next validator set does not match its execution ({claimed} claimed, {computed} computed)"
    )]
    NextValidatorsMismatch {
        claimed: &'static str,
        computed: &'static str,
    },
}

/// An executed block that is not committed yet: what a child executes on top of.
#[derive(Clone, Debug)]
pub struct ExecutedBlock {
    pub block: Block,
    pub execution: BlockExecution,
}

/// The committed ledger and its head.
#[derive(Clone, Debug)]
pub struct Ledger {
    chain_id: ChainId,
    head: BlockHeader,
    state: CommittedState,
}

impl Ledger {
    /// The ledger at genesis, and the genesis block's header as its head.
    pub fn from_genesis(genesis: &Genesis) -> Result<Ledger, GenesisError> {
        let (state, head) = genesis_state(genesis)?;
        Ok(Ledger {
            chain_id: genesis.chain_id.clone(),
            head,
            state,
        })
    }

    /// A ledger rebuilt from stored entries at a committed head.
    pub fn from_stored(
        chain_id: ChainId,
        head: BlockHeader,
        entries: Vec<Slotted<StateValue>>,
    ) -> Result<Ledger, StateLoadError> {
        let state = CommittedState::from_entries(entries, &head.state_root, head.height)?;
        Ok(Ledger {
            chain_id,
            head,
            state,
        })
    }

    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    pub fn head(&self) -> &BlockHeader {
        &self.head
    }

    pub fn state(&self) -> &CommittedState {
        &self.state
    }

    /// The header a new block must follow, given its uncommitted ancestors (oldest first).
    fn parent_header<'a>(&'a self, ancestors: &'a [&'a ExecutedBlock]) -> &'a BlockHeader {
        ancestors
            .last()
            .map_or(&self.head, |parent| &parent.block.header)
    }

    fn check_ancestors(&self, ancestors: &[&ExecutedBlock]) {
        let mut parent = &self.head;
        for ancestor in ancestors {
            assert_eq!(
                ancestor.block.header.parent_id,
                parent.id(),
                "uncommitted ancestors do not form a chain from the committed head"
            );
            parent = &ancestor.block.header;
        }
    }

    /// Executes a proposed block on top of its uncommitted ancestors and checks every header
    /// field against the result. Returns the execution to vote on and later commit.
    pub fn execute_block(
        &self,
        ancestors: &[&ExecutedBlock],
        block: &Block,
        signatures_valid: &[bool],
    ) -> Result<BlockExecution, BlockError> {
        self.check_ancestors(ancestors);
        let parent = self.parent_header(ancestors);
        let header = &block.header;
        if header.chain_id != self.chain_id {
            return Err(BlockError::WrongChain {
                expected: self.chain_id.clone(),
                found: header.chain_id.clone(),
            });
        }
        if header.height != parent.height.next() {
            return Err(BlockError::WrongHeight {
                parent: parent.height,
                found: header.height,
            });
        }
        let parent_id = parent.id();
        if header.parent_id != parent_id {
            return Err(BlockError::WrongParent {
                expected: parent_id,
                found: header.parent_id,
            });
        }
        if header.timestamp < parent.timestamp {
            return Err(BlockError::TimeBeforeParent {
                parent: parent.timestamp.0,
                found: header.timestamp.0,
            });
        }
        block.check_structure().map_err(BlockError::Malformed)?;
        let state_epoch = self.state_epoch(ancestors);
        let in_suffix = header.epoch + 1 == state_epoch && parent.epoch == header.epoch;
        if header.epoch != state_epoch && !in_suffix {
            return Err(BlockError::WrongEpoch {
                parent: parent.epoch,
                state: state_epoch,
                found: header.epoch,
            });
        }
        if header.above_epoch_end != in_suffix {
            return Err(BlockError::EpochSuffixMark {
                expected: in_suffix,
                found: header.above_epoch_end,
            });
        }
        if in_suffix && !block.transactions.is_empty() {
            return Err(BlockError::EpochSuffixNotEmpty {
                epoch: header.epoch,
                transactions: block.transactions.len(),
            });
        }
        let execution = self.run(
            ancestors,
            header.height,
            header.timestamp,
            &block.transactions,
            signatures_valid,
        );
        if execution.state_root() != header.state_root {
            return Err(BlockError::StateRootMismatch {
                claimed: header.state_root,
                computed: execution.state_root(),
            });
        }
        if execution.receipts_root != header.receipts_root {
            return Err(BlockError::ReceiptsRootMismatch {
                claimed: header.receipts_root,
                computed: execution.receipts_root,
            });
        }
        let next_validators = self.next_validators(ancestors, &execution, state_epoch);
        if next_validators != header.next_validators {
            let describe = |set: &Option<Vec<GenesisValidator>>| {
                if set.is_some() { "a set" } else { "none" }
            };
            return Err(BlockError::NextValidatorsMismatch {
                claimed: describe(&header.next_validators),
                computed: describe(&next_validators),
            });
        }
        Ok(execution)
    }

    /// Executes a block that a verified commit certificate proves committed, on the committed
    /// head and `ancestors` (range sync: observers, and validators catching up). Every signature is verified
    /// here: a certified block may hold a transaction that the voters rejected for a bad
    /// signature (a Byzantine leader can put one there), and taking it as valid would give
    /// another state root and halt this node (security review H1; replaces decision D21).
    ///
    /// With [`SignatureCheck::CertifiedReceipts`] the block is first executed with every
    /// signature taken as valid. The header's receipts root is certified: honest voters executed
    /// the block with verified signatures and agreed on it, and a receipt records a signature
    /// rejection (code 103). If the optimistic receipts give the certified root, every verdict
    /// the voters reached is the one assumed (a collision aside), so nothing is verified; if not,
    /// the signatures are verified and the block executed again (D34).
    ///
    /// `ancestors` are the certified blocks of the same range executed before this one and not
    /// yet committed (a range is written in one piece per commit certificate).
    pub fn execute_certified(
        &self,
        ancestors: &[&ExecutedBlock],
        block: &Block,
        check: SignatureCheck,
        verify_threads: usize,
    ) -> Result<BlockExecution, BlockError> {
        if check == SignatureCheck::CertifiedReceipts {
            let assumed = vec![true; block.transactions.len()];
            match self.execute_block(ancestors, block, &assumed) {
                Err(
                    BlockError::ReceiptsRootMismatch { .. } | BlockError::StateRootMismatch { .. },
                ) => {}
                outcome => return outcome,
            }
        }
        let valid = verify_signatures(&block.transactions, verify_threads);
        self.execute_block(ancestors, block, &valid)
    }

    /// The epoch of the state a block on `ancestors` executes on: the epoch a block there
    /// belongs to, unless it is in the suffix of the epoch before (D80).
    pub fn state_epoch(&self, ancestors: &[&ExecutedBlock]) -> u64 {
        let deltas: Vec<&StateDelta> = ancestors.iter().map(|a| &a.execution.delta).collect();
        LayeredView::new(&self.state, &deltas).membership().epoch()
    }

    /// The validator set a block's execution starts, if it changed the set: the header's
    /// `next_validators`.
    fn next_validators(
        &self,
        ancestors: &[&ExecutedBlock],
        execution: &BlockExecution,
        state_epoch: u64,
    ) -> Option<Vec<GenesisValidator>> {
        let deltas: Vec<&StateDelta> = ancestors
            .iter()
            .map(|a| &a.execution.delta)
            .chain([&execution.delta])
            .collect();
        let view = LayeredView::new(&self.state, &deltas);
        let after = view.membership();
        (after.epoch() != state_epoch).then(|| after.validators.clone())
    }

    /// Builds a block from transactions on top of the ancestors, in the epoch of the state it
    /// executes on: executes them and fills in the header. A proposer's timestamp below the
    /// parent's is raised to it.
    pub fn build_block(
        &self,
        ancestors: &[&ExecutedBlock],
        round: Round,
        timestamp: TimestampMs,
        transactions: Vec<SignedTransaction>,
        signatures_valid: &[bool],
    ) -> ExecutedBlock {
        let epoch = self.state_epoch(ancestors);
        self.build_block_in_epoch(
            ancestors,
            epoch,
            round,
            timestamp,
            transactions,
            signatures_valid,
        )
    }

    /// [`build_block`](Self::build_block) for the consensus instance of `epoch`: a block of
    /// the epoch before the state's is an empty suffix block (D80), whatever it is given.
    pub fn build_block_in_epoch(
        &self,
        ancestors: &[&ExecutedBlock],
        epoch: u64,
        round: Round,
        timestamp: TimestampMs,
        transactions: Vec<SignedTransaction>,
        signatures_valid: &[bool],
    ) -> ExecutedBlock {
        self.check_ancestors(ancestors);
        let state_epoch = self.state_epoch(ancestors);
        let (transactions, signatures_valid) = if epoch < state_epoch {
            (Vec::new(), &[][..])
        } else {
            (transactions, signatures_valid)
        };
        let parent = self.parent_header(ancestors);
        let height = parent.height.next();
        let timestamp = timestamp.max(parent.timestamp);
        let execution = self.run(
            ancestors,
            height,
            timestamp,
            &transactions,
            signatures_valid,
        );
        let digests: Vec<HashValue> = transactions.iter().map(SignedTransaction::digest).collect();
        let header = BlockHeader {
            chain_id: self.chain_id.clone(),
            height,
            round,
            parent_id: parent.id(),
            timestamp,
            transaction_count: u32::try_from(transactions.len()).expect("block size is bounded"),
            transactions_root: transactions_root(&digests),
            receipts_root: execution.receipts_root,
            state_root: execution.state_root(),
            epoch,
            next_validators: self.next_validators(ancestors, &execution, state_epoch),
            above_epoch_end: epoch < state_epoch,
        };
        ExecutedBlock {
            block: Block {
                header,
                transactions,
            },
            execution,
        }
    }

    fn run(
        &self,
        ancestors: &[&ExecutedBlock],
        height: Height,
        timestamp: TimestampMs,
        transactions: &[SignedTransaction],
        signatures_valid: &[bool],
    ) -> BlockExecution {
        let deltas: Vec<&StateDelta> = ancestors.iter().map(|a| &a.execution.delta).collect();
        let view = LayeredView::new(&self.state, &deltas);
        let context = BlockContext { height, timestamp };
        execute(
            &view,
            &self.chain_id,
            context,
            transactions,
            signatures_valid,
        )
    }

    /// What would happen to `transaction` if it were the only one in the next block, at time
    /// `now`: the check a node makes before admitting a transaction to its mempool.
    pub fn dry_run(
        &self,
        transaction: &SignedTransaction,
        signatures_valid: bool,
        now: TimestampMs,
    ) -> Result<(), tenge_types::Rejection> {
        let context = BlockContext {
            height: self.head.height.next(),
            timestamp: now.max(self.head.timestamp),
        };
        let view = LayeredView::new(&self.state, &[]);
        execute::check(
            &view,
            &self.chain_id,
            context,
            transaction,
            signatures_valid,
        )
    }

    /// Makes a block executed on the committed head permanent.
    pub fn commit(&mut self, executed: &ExecutedBlock) {
        let header = &executed.block.header;
        assert_eq!(
            header.parent_id,
            self.head.id(),
            "committing a block that does not extend the head"
        );
        assert_eq!(header.height, self.head.height.next());
        assert_eq!(header.state_root, executed.execution.state_root());
        self.state.apply(&executed.execution.delta);
        self.head = header.clone();
    }

    /// The full O(state) audit of every invariant; tests, the simulator and start-up run it.
    pub fn audit(&self) -> Result<(), String> {
        self.state.audit(self.head.height)?;
        if self.state.root() != self.head.state_root {
            return Err("state root differs from the head's".into());
        }
        Ok(())
    }
}

/// Checks an account's inclusion proof against a state root: the entry's leaf, its slot, the
/// sibling hashes, the number of slots and the account index's root (both part of the root).
/// Offline verifiers use the bundles of `tenge-proof`, built on the same rules.
pub fn verify_account_proof(
    state_root: &HashValue,
    next_slot: u64,
    account_index_root: &HashValue,
    account: &tenge_types::Account,
    slot: u64,
    proof: &[HashValue],
) -> bool {
    let leaf = leaf_hash(&StateValue::Account(account.clone()));
    tree::root_from_proof(slot, &leaf, proof).is_some_and(|tree_root| {
        state::state_root(&tree_root, next_slot, account_index_root) == *state_root
    })
}
