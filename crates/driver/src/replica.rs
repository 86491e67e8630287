//! One node between "an input arrived" and "what to do about it", as `tenged` and the simulator
//! both run it (issue 11, D66): the store opened and the head proven at start ([`open`]), the
//! consensus core's effects carried out ([`Replica::handle`]): safety data persisted before a
//! signed message leaves, blocks built from the mempool and executed, committed runs written in
//! one synced write before the in-memory ledger and the mempool take them, ancestor fetches
//! answered. What a shell does with the result ([`Output`]: messages to send, timers to set,
//! blocks committed) is its own: the tokio engine sends over libp2p and publishes to the API,
//! the simulator puts the bytes on its seeded network and hands commits to its checker.
//!
//! Nothing here reads a clock or does I/O except through the [`Store`] it is given; the time of
//! each input comes from the [`Host`]'s clock. (Durations handed to the host for metrics are
//! measured here; they change nothing.)

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use tenge_consensus::{
    Config, Consensus, Effect, Evidence, Input, InvalidMessage, Outgoing, Recovery, SafetyData,
    SafetyStorage, Verifier,
};
use tenge_crypto::Keypair;
use tenge_ledger::{ExecutedBlock, GenesisError, Ledger, SignatureCheck, StateLoadError};
use tenge_storage::{Store, StoreError, StoredHead};
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, QuorumCertificate, StoredCertificates, ValidatorIndex,
};
use tenge_types::sync::CommittedBlock;
use tenge_types::{
    Block, BlockHeader, BlockId, Genesis, HashValue, Height, Round, SignedTransaction, TimestampMs,
};

use crate::epoch::{Epoch, EpochError};
use crate::mempool::{BlockBudget, Mempool};
use crate::pipeline::{CommitError, Pipeline, write_blocks};
use crate::sync::{RangeBuffer, Received};

/// Most bytes of blocks an answer to an ancestor fetch carries (at least one block), within a
/// consensus message's limit.
pub const FETCH_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// A store opened at start: the genesis block, the stored head, the ledger rebuilt from it and
/// the epoch consensus runs on top of it.
pub struct Opened {
    pub genesis_block: Block,
    pub head: StoredHead,
    pub ledger: Ledger,
    pub epoch: Epoch,
}

/// Why a node's store cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("genesis: {0}")]
    Genesis(#[from] GenesisError),
    #[error("stored state: {0}")]
    State(#[from] StateLoadError),
    #[error("the initialised store has no head")]
    NoHead,
    #[error("epochs: {0}")]
    Epoch(#[from] EpochError),
    /// Every write ends on a block stored with the certificate that commits it (D61): a head
    /// without one is a damaged store, never a state to vote or serve from (L6).
    #[error("head block {block} at height {height} is not proven committed: {reason}")]
    Unproven {
        block: String,
        height: Height,
        reason: String,
    },
}

/// Opens a node's store at start: initialised with the genesis (or checked against it), the
/// ledger rebuilt from the stored state, and the stored head proven committed by the
/// certificates of its epoch's validators, as a synced range is (L6).
pub fn open<S: Store + ?Sized>(store: &S, genesis: &Genesis) -> Result<Opened, OpenError> {
    let genesis_ledger = Ledger::from_genesis(genesis)?;
    let genesis_block = Block {
        header: genesis_ledger.head().clone(),
        transactions: vec![],
    };
    store.initialize(
        genesis.hash(),
        &genesis_block,
        &genesis_ledger.state().entries(),
    )?;
    let head = store.head()?.ok_or(OpenError::NoHead)?;
    let ledger = Ledger::from_stored(
        genesis.chain_id.clone(),
        head.block.header.clone(),
        store.state_entries()?,
    )?;
    let certified_by = crate::epoch::of_head(store, genesis, &genesis_block, &ledger)?;
    crate::sync::prove_head(&certified_by, &head).map_err(|reason| OpenError::Unproven {
        block: head.block.id().short(),
        height: head.block.header.height,
        reason,
    })?;
    let epoch = crate::epoch::current(store, genesis, &genesis_block, &ledger)?;
    Ok(Opened {
        genesis_block,
        head,
        ledger,
        epoch,
    })
}

/// What the shell provides: the clock, signature verdicts (a thread pool and a cache in the
/// node, one at a time in the simulator) and, optionally, places to record measurements.
pub trait Host {
    /// The time to hand the core with the next input: read for each input, so that one that
    /// waited behind a long execution is not given the time from before it.
    fn now(&mut self) -> TimestampMs;
    /// Whether each transaction's signatures verify, in order.
    fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool>;
    /// Safety data was written (a synced write) in `elapsed`.
    fn safety_written(&mut self, _elapsed: Duration) {}
    /// A committed run of `bytes` was written (one synced write) in `elapsed`.
    fn blocks_written(&mut self, _elapsed: Duration, _bytes: usize) {}
    /// The core handled an input: where it stood before and after, and the round of the timer
    /// that fired, if the input was one.
    fn moved(&mut self, _before: Position, _after: Position, _timer: Option<Round>) {}
}

/// The consensus core's position, before and after it handles an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub round: Round,
    pub high_qc_round: Round,
}

impl Position {
    fn of(consensus: &Consensus) -> Position {
        Position {
            round: consensus.round(),
            high_qc_round: consensus.high_qc().round(),
        }
    }
}

/// What the shell must do after [`Replica::handle`], in order.
#[derive(Debug)]
pub enum Output {
    /// Send a message that carries no new signature of this node (fetch requests and answers).
    Send {
        to: ValidatorIndex,
        message: ConsensusMessage,
    },
    /// A message this node signed, sent only after its safety data was written. One addressed
    /// to this node itself was already handed back to its core (`to_self`): the shell sends the
    /// others.
    Signed { outgoing: Outgoing, to_self: bool },
    /// Call back with [`Input::RoundTimerFired`] after `after_ms` milliseconds.
    Timer { round: Round, after_ms: u64 },
    /// This node leads `round`: when the shell decides (at once, or once the mempool has
    /// something), [`Replica::build`] a block on `parent_id` and hand it in with
    /// [`Input::PayloadReady`].
    PayloadWanted { round: Round, parent_id: BlockId },
    /// A proposed block failed execution: this node does not vote for it.
    BlockRefused { block_id: BlockId, reason: String },
    /// Blocks made permanent, in order: written to the store, then to the ledger, their
    /// transactions out of the mempool. `certificate` is the QC that commits the last.
    Committed {
        executed: Vec<ExecutedBlock>,
        blocks: Vec<BlockWithParentQc>,
        certificate: QuorumCertificate,
        /// When the last block ended its epoch and `certificate` commits it through empty
        /// blocks above it: their headers (D80).
        suffix: Vec<BlockHeader>,
    },
    /// The last block committed ended its epoch: the next one started, with this node as
    /// validator `me` of it (`None`: it follows the chain without voting). Messages of the epoch
    /// before are not accepted any more; the shell updates its peers and verifiers.
    EpochStarted {
        epoch: Epoch,
        me: Option<ValidatorIndex>,
    },
    /// A validator signed two conflicting messages.
    Evidence(Evidence),
    /// A `kind` message from `from` was invalid: the shell may penalise the peer that sent it.
    Invalid {
        from: ValidatorIndex,
        kind: &'static str,
        reason: InvalidMessage,
    },
    /// Safety is broken beyond what the protocol tolerates, or certified blocks do not
    /// re-execute here: this node stops following the chain.
    Halted(String),
}

/// What a range-sync answer came to ([`Replica::follow`]).
#[derive(Debug)]
pub enum Followed {
    /// Nothing above what this node already has or keeps.
    Nothing,
    /// Chains onto the head but nothing in it is proven yet: kept (L5); ask for what follows.
    Kept { blocks: usize, bytes: usize },
    /// Unproven, and more than a node keeps: dropped.
    TooLarge { blocks: usize, bytes: usize },
    /// Failed its checks; `blame_peer` is false when blocks kept from an earlier answer were
    /// part of it.
    Refused { reason: String, blame_peer: bool },
    /// Proven, re-executed and committed: the blocks in order, each block's parent QC, and the
    /// certificate that commits the last. `started` is [`Output::EpochStarted`] when the last
    /// block ended its epoch: the verifier was switched to the next one's.
    Committed {
        executed: Vec<ExecutedBlock>,
        parent_qcs: Vec<QuorumCertificate>,
        certificate: QuorumCertificate,
        started: Option<Box<Output>>,
    },
    /// Certified blocks did not re-execute here: this node halted. `executed` holds the runs
    /// committed before the one that failed.
    Halted {
        reason: String,
        executed: Vec<ExecutedBlock>,
    },
}

/// A storage failure while carrying out effects: fatal for the node (it must not speak or go on
/// from a state it could not persist).
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("persisting safety data: {0}")]
    SafetyData(StoreError),
    #[error("committing blocks: {0}")]
    Commit(StoreError),
    #[error(transparent)]
    NotExecuted(#[from] CommitError),
}

/// What a validator needs to run the consensus instance of each new epoch: its keys (the one in
/// the set signs; a rotated key's successor may wait here for its epoch) and its settings.
pub struct Identity {
    pub keys: Vec<Keypair>,
    pub config: Config,
}

/// One node's synchronous core: the consensus core (none for an observer), the committed
/// ledger, the executed blocks above it, the mempool, and the store they are persisted in.
pub struct Replica<S: Store + ?Sized> {
    consensus: Option<Consensus>,
    me: Option<ValidatorIndex>,
    /// A validator's keys and settings, for the next epoch's instance; none for an observer.
    identity: Option<Identity>,
    /// Set when an epoch started during the input being handled: the old instance's remaining
    /// effects are dropped.
    epoch_started: bool,
    ledger: Arc<RwLock<Ledger>>,
    store: Arc<S>,
    pipeline: Pipeline,
    mempool: Mempool,
    /// Inputs this node produced for itself (executions, messages to itself), handled before
    /// [`handle`](Self::handle) returns.
    local: VecDeque<Input>,
    halted: Option<String>,
}

impl<S: Store + ?Sized> Replica<S> {
    /// A replica on an opened store: validator `me` with its consensus core, or an observer
    /// (neither). `ledger` is shared with readers (the API); only the replica writes it.
    pub fn new(
        consensus: Option<(ValidatorIndex, Consensus)>,
        ledger: Arc<RwLock<Ledger>>,
        store: Arc<S>,
        mempool: Mempool,
    ) -> Replica<S> {
        Replica {
            me: consensus.as_ref().map(|(me, _)| *me),
            consensus: consensus.map(|(_, consensus)| consensus),
            ledger,
            store,
            pipeline: Pipeline::new(),
            mempool,
            local: VecDeque::new(),
            halted: None,
            identity: None,
            epoch_started: false,
        }
    }

    /// Gives a validator its keys and settings, to run each later epoch it is a member of.
    pub fn with_identity(mut self, identity: Identity) -> Replica<S> {
        self.identity = Some(identity);
        self
    }

    /// The validator index of this node in the current epoch, if it is a member.
    pub fn me(&self) -> Option<ValidatorIndex> {
        self.me
    }

    pub fn consensus(&self) -> Option<&Consensus> {
        self.consensus.as_ref()
    }

    pub fn ledger(&self) -> RwLockReadGuard<'_, Ledger> {
        self.ledger.read().expect("ledger lock")
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn mempool_mut(&mut self) -> &mut Mempool {
        &mut self.mempool
    }

    /// Offers a verified transaction to the mempool, against its sender's committed sequence:
    /// whether the mempool took it (`Ok(false)`: it held it already), or why not.
    pub fn offer(
        &mut self,
        tx: SignedTransaction,
        hash: HashValue,
        arrived: Instant,
    ) -> Result<bool, crate::MempoolError> {
        let next = self
            .ledger()
            .state()
            .account(&tx.transaction.sender)
            .map_or(0, |a| a.sequence);
        self.mempool.insert_hashed(tx, hash, next, arrived)
    }

    /// Why this node stopped, if it did.
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    /// Stops this node: it handles no further input.
    pub fn halt(&mut self, reason: String) {
        self.local.clear();
        self.halted.get_or_insert(reason);
    }

    /// Hands `input` to the consensus core and carries out its effects, and those of every
    /// input they produce for this node, until none is left. What the shell must do is appended
    /// to `out`. Nothing happens once halted, or without a consensus core (an observer); a halt
    /// stops the effects of the same input that come after it.
    pub fn handle(
        &mut self,
        input: Input,
        host: &mut impl Host,
        out: &mut Vec<Output>,
    ) -> Result<(), DriverError> {
        self.local.push_back(input);
        while let Some(input) = self.local.pop_front() {
            let Some(consensus) = self.consensus.as_mut().filter(|_| self.halted.is_none()) else {
                self.local.clear();
                break;
            };
            let kind = match &input {
                Input::Message { message, .. } => message.kind(),
                _ => "none",
            };
            let timer = match &input {
                Input::RoundTimerFired { round } => Some(*round),
                _ => None,
            };
            let before = Position::of(consensus);
            let effects = consensus.handle(host.now(), input);
            host.moved(before, Position::of(consensus), timer);
            for effect in effects {
                self.effect(kind, effect, host, out)?;
                // Not signing, not committing, not sending is always safe; a halted node must
                // not go on following a chain it found broken, and the instance of an epoch
                // that ended has nothing more to say.
                if self.halted.is_some() || std::mem::take(&mut self.epoch_started) {
                    break;
                }
            }
        }
        Ok(())
    }

    fn effect(
        &mut self,
        kind: &'static str,
        effect: Effect,
        host: &mut impl Host,
        out: &mut Vec<Output>,
    ) -> Result<(), DriverError> {
        match effect {
            Effect::Send { to, message } => self.send(to, message, out),
            Effect::Signed(staged) => {
                let started = Instant::now();
                let outgoing = staged
                    .persist(&mut crate::SafetyWriter(self.store.as_ref()))
                    .map_err(DriverError::SafetyData)?;
                host.safety_written(started.elapsed());
                for outgoing in outgoing {
                    let to_self = match &outgoing {
                        Outgoing::Send { to, message } if Some(*to) == self.me => {
                            self.local.push_back(Input::Message {
                                from: *to,
                                message: message.clone(),
                            });
                            true
                        }
                        _ => false,
                    };
                    out.push(Output::Signed { outgoing, to_self });
                }
            }
            Effect::ScheduleTimer { round, after_ms } => {
                out.push(Output::Timer { round, after_ms })
            }
            Effect::RequestPayload { round, parent_id } => {
                out.push(Output::PayloadWanted { round, parent_id })
            }
            Effect::ExecuteBlock { block } => {
                let block_id = block.id();
                let result = self.execute(block, host);
                if let Err(reason) = &result {
                    out.push(Output::BlockRefused {
                        block_id,
                        reason: reason.clone(),
                    });
                }
                self.local
                    .push_back(Input::BlockExecuted { block_id, result });
            }
            Effect::Commit {
                mut blocks,
                certificate,
            } => {
                // An epoch ends at the block that changed the validator set: blocks above it
                // are empty and of the ending epoch, so they only carry its commit (D80).
                let end = blocks
                    .iter()
                    .position(|item| item.block.header.ends_epoch());
                let suffix: Vec<BlockHeader> = match end {
                    Some(end) => blocks
                        .split_off(end + 1)
                        .into_iter()
                        .map(|item| item.block.header)
                        .collect(),
                    None => Vec::new(),
                };
                let run = self
                    .pipeline
                    .take_committed(&blocks, &certificate, &suffix)?;
                let executed = self.commit_run(run, host)?;
                let started = end.map(|_| blocks.last().expect("the epoch's end").clone());
                let certificate_for_peers = certificate.clone();
                out.push(Output::Committed {
                    executed,
                    blocks,
                    certificate,
                    suffix,
                });
                if let Some(start) = started {
                    self.start_epoch(start, Some(certificate_for_peers), out)?;
                }
            }
            Effect::Fetch {
                from,
                block_id,
                count,
            } => self.send(
                from,
                ConsensusMessage::FetchRequest { block_id, count },
                out,
            ),
            Effect::ServeFetch {
                to,
                block_id,
                count,
            } => {
                let blocks = self.serve_fetch(block_id, count);
                if !blocks.is_empty() {
                    self.send(to, ConsensusMessage::FetchResponse { blocks }, out);
                }
            }
            Effect::Evidence(evidence) => out.push(Output::Evidence(evidence)),
            Effect::Invalid { from, reason } => out.push(Output::Invalid { from, kind, reason }),
            Effect::Halt { reason } => {
                self.halt(reason.clone());
                out.push(Output::Halted(reason));
            }
        }
        Ok(())
    }

    /// Starts the epoch that the committed block `start` begins (D80): the instance of the epoch
    /// that ended is dropped with what it held (executed blocks above `start`, inputs it made
    /// for itself), and, if one of this node's keys is in the new set, a new instance starts
    /// from `start` with fresh safety data, written first. Otherwise the node follows without
    /// voting.
    ///
    /// The ending epoch's other validators are sent `certificate`, which committed `start`: one
    /// that missed it would otherwise wait for a quorum that has moved on.
    fn start_epoch(
        &mut self,
        start: BlockWithParentQc,
        certificate: Option<QuorumCertificate>,
        out: &mut Vec<Output>,
    ) -> Result<(), DriverError> {
        let epoch = Epoch::started_by(&start.block).expect("the block ends its epoch");
        if let (Some(ending), Some(certificate)) = (&self.consensus, certificate) {
            for to in 0..ending.validators().len() as ValidatorIndex {
                if Some(to) != self.me {
                    out.push(Output::Send {
                        to,
                        message: ConsensusMessage::EpochEnd {
                            certificate: certificate.clone(),
                        },
                    });
                }
            }
        }
        self.pipeline.clear();
        self.local.clear();
        self.epoch_started = true;
        self.consensus = None;
        self.me = None;
        let set = epoch.set();
        let member = self.identity.as_ref().and_then(|identity| {
            identity.keys.iter().find_map(|key| {
                let index = set.keys.iter().position(|k| *k == key.public_key())?;
                Some((index as ValidatorIndex, key, identity.config.clone()))
            })
        });
        if let Some((me, key, mut config)) = member {
            // The operator's voting floor speaks of the rounds of the epoch the node started
            // in, after lost safety data (M11). Rounds start again here, and nothing was signed
            // in this epoch: its safety data is written fresh just below.
            config.voting_floor_round = Round(0);
            let safety = SafetyData {
                epoch: epoch.number,
                ..SafetyData::default()
            };
            crate::SafetyWriter(self.store.as_ref())
                .persist_safety_data(&safety, None)
                .map_err(DriverError::SafetyData)?;
            let recovery = Recovery {
                committed: start.clone(),
                commit_certificate: None,
                safety,
                pending: Vec::new(),
            };
            let signer = Keypair::from_secret(key.secret_bytes());
            self.consensus = Some(Consensus::new(
                config,
                me,
                signer,
                set,
                &start.block,
                recovery,
            ));
            self.me = Some(me);
            self.local.push_back(Input::Start);
        }
        out.push(Output::EpochStarted { epoch, me: self.me });
        Ok(())
    }

    fn send(&mut self, to: ValidatorIndex, message: ConsensusMessage, out: &mut Vec<Output>) {
        if Some(to) == self.me {
            self.local.push_back(Input::Message { from: to, message });
        } else {
            out.push(Output::Send { to, message });
        }
    }

    /// This node's block for `round` on `parent_id`, built and executed: the mempool's
    /// transactions within `budget` that the uncommitted ancestors do not already carry.
    /// `None` if the parent is not executed here.
    pub fn build(
        &mut self,
        now: TimestampMs,
        round: Round,
        parent_id: BlockId,
        budget: BlockBudget,
    ) -> Option<Block> {
        self.build_with(now, round, parent_id, |mempool, in_ancestors, state| {
            let transactions = mempool.select(budget, in_ancestors, |id| {
                state.account(id).map_or(0, |a| a.sequence)
            });
            // Every mempool transaction was verified on entry.
            let valid = vec![true; transactions.len()];
            (transactions, valid)
        })
    }

    /// A block built and executed with the transactions (and their signature verdicts)
    /// `choose` picks from the mempool, given those in the uncommitted ancestors and the
    /// committed state (see [`Pipeline::build`]).
    pub fn build_with(
        &mut self,
        now: TimestampMs,
        round: Round,
        parent_id: BlockId,
        choose: impl FnOnce(
            &Mempool,
            &HashSet<HashValue>,
            &tenge_ledger::CommittedState,
        ) -> (Vec<SignedTransaction>, Vec<bool>),
    ) -> Option<Block> {
        let epoch = self.consensus.as_ref()?.epoch();
        let ledger = self.ledger.read().expect("ledger lock");
        let mempool = &self.mempool;
        self.pipeline.build(
            &ledger,
            epoch,
            round,
            parent_id,
            now,
            |in_ancestors, state| choose(mempool, in_ancestors, state),
        )
    }

    /// Executes a proposed block on its parent (once: an executed block is kept until commit).
    fn execute(&mut self, block: Block, host: &mut impl Host) -> Result<(), String> {
        if self.pipeline.contains(&block.id()) {
            return Ok(());
        }
        let valid = host.verdicts(&block.transactions);
        let ledger = self.ledger.read().expect("ledger lock");
        self.pipeline.execute(&ledger, block, &valid)
    }

    /// Makes a run of committed blocks permanent: one atomic, synced write of the whole run
    /// (its last block carries the certificate that commits it, D61), then the in-memory ledger
    /// and the mempool, block by block; executed blocks at or below the new head are dropped.
    /// The one commit path of consensus commits and range sync alike.
    pub fn commit_run(
        &mut self,
        run: Vec<(ExecutedBlock, StoredCertificates)>,
        host: &mut impl Host,
    ) -> Result<Vec<ExecutedBlock>, DriverError> {
        let started = Instant::now();
        let bytes = write_blocks(self.store.as_ref(), &run).map_err(DriverError::Commit)?;
        host.blocks_written(started.elapsed(), bytes);
        let mut committed = Vec::with_capacity(run.len());
        for (executed, _) in run {
            // The write lock only for the commit itself: the API reads the ledger meanwhile.
            self.ledger.write().expect("ledger lock").commit(&executed);
            let ledger = self.ledger.read().expect("ledger lock");
            let state = ledger.state();
            self.mempool
                .remove_settled(&executed.execution.receipts, |id| {
                    state.account(id).map_or(0, |a| a.sequence)
                });
            drop(ledger);
            committed.push(executed);
        }
        let head = self.ledger.read().expect("ledger lock").head().height;
        self.pipeline.prune(head);
        Ok(committed)
    }

    /// Follows the chain by range sync (an observer, or a validator that fell behind): checks a
    /// peer's answer against the committed head with the blocks kept from earlier answers in
    /// front ([`RangeBuffer::receive`]: proven by certificates, or kept until proven, L5), then
    /// re-executes each proven run, signatures included (`check`, review H1), and commits it
    /// through [`commit_run`](Self::commit_run). Certified blocks that do not re-execute here
    /// halt this node: it never follows silently.
    pub fn follow(
        &mut self,
        verifier: &mut Verifier,
        buffer: &mut RangeBuffer,
        blocks: Vec<CommittedBlock>,
        check: SignatureCheck,
        verify_threads: usize,
        host: &mut impl Host,
    ) -> Result<Followed, DriverError> {
        // An answer to a request sent before this node halted: it follows nothing more.
        if self.halted.is_some() {
            return Ok(Followed::Nothing);
        }
        let (head_id, head_height) = {
            let ledger = self.ledger();
            (ledger.head().id(), ledger.head().height)
        };
        let (blocks, certificate) = match buffer.receive(verifier, head_id, head_height, blocks) {
            Received::Nothing => return Ok(Followed::Nothing),
            Received::Kept { blocks, bytes } => return Ok(Followed::Kept { blocks, bytes }),
            Received::TooLarge { blocks, bytes } => {
                return Ok(Followed::TooLarge { blocks, bytes });
            }
            Received::Refused { reason, blame_peer } => {
                return Ok(Followed::Refused { reason, blame_peer });
            }
            Received::Proven {
                blocks,
                certificate,
            } => (blocks, certificate),
        };
        let parent_qcs: Vec<QuorumCertificate> = blocks
            .iter()
            .map(|item| item.certificates.parent_qc.clone())
            .collect();
        let mut executed = Vec::with_capacity(blocks.len());
        // In runs that end on a block with a commit certificate; each run is written in one
        // piece, so the stored head always carries the certificate that proves it (L6).
        for run in crate::sync::runs(blocks) {
            let result = crate::sync::execute_run(&self.ledger(), run, check, verify_threads);
            match result {
                Ok(run) => executed.extend(self.commit_run(run, host)?),
                // Certified by a quorum, yet a different result here: this node's execution
                // disagrees with the validators'.
                Err(reason) => {
                    self.halt(reason.clone());
                    return Ok(Followed::Halted { reason, executed });
                }
            }
        }
        // A range ends at an epoch's end (`RangeBuffer::receive`): the next epoch starts here,
        // and its blocks are checked against its set.
        let mut started = None;
        if let (Some(last), Some(parent_qc)) = (executed.last(), parent_qcs.last())
            && last.block.header.ends_epoch()
        {
            let start = BlockWithParentQc {
                block: last.block.clone(),
                parent_qc: parent_qc.clone(),
            };
            let mut out = Vec::new();
            self.start_epoch(start, None, &mut out)?;
            self.epoch_started = false;
            if let Some(Output::EpochStarted { epoch, .. }) = out.first() {
                *verifier = epoch.verifier();
            }
            started = out.pop().map(Box::new);
        }
        Ok(Followed::Committed {
            executed,
            parent_qcs,
            certificate,
            started,
        })
    }

    /// Answers a peer's ancestor fetch from the executed blocks the core holds and the store.
    pub fn serve_fetch(&self, block_id: BlockId, count: u16) -> Vec<BlockWithParentQc> {
        tenge_storage::fetch_response(
            self.store.as_ref(),
            |id| self.consensus.as_ref().and_then(|c| c.block(id)),
            block_id,
            count,
            FETCH_RESPONSE_BYTES,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_consensus::{Config, SafetyData};
    use tenge_crypto::Keypair;
    use tenge_ledger::testkit::TestNetwork;
    use tenge_storage::MemoryStore;
    use tenge_types::consensus::ValidatorSet;
    use tenge_types::transaction::Issue;
    use tenge_types::{Amount, Payload};

    /// Verdicts computed one at a time, nothing cached; the clock a test sets.
    struct Verify(TimestampMs);

    impl Host for Verify {
        fn now(&mut self) -> TimestampMs {
            self.0
        }

        fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool> {
            tenge_ledger::verify_signatures(transactions, 1)
        }
    }

    const BUDGET: BlockBudget = BlockBudget {
        transactions: 100,
        bytes: 1 << 20,
    };

    /// A one-validator network (a quorum of one commits alone) and its replica, opened on a
    /// fresh memory store as a node opens its data dir.
    fn single_validator() -> (TestNetwork, Arc<MemoryStore>, Replica<MemoryStore>) {
        let net = TestNetwork::new(1, 1);
        let validators = ValidatorSet::new(vec![net.validators[0].public_key()]);
        let store = Arc::new(MemoryStore::new());
        let Opened {
            genesis_block,
            head,
            ledger,
            ..
        } = open(store.as_ref(), &net.genesis).expect("opens");
        let recovery =
            crate::recover(store.as_ref(), &genesis_block, &head, Round(0)).expect("recovers");
        let consensus = Consensus::new(
            Config::default(),
            0,
            Keypair::from_secret(net.validators[0].secret_bytes()),
            validators,
            &genesis_block,
            recovery,
        );
        let replica = Replica::new(
            Some((0, consensus)),
            Arc::new(RwLock::new(ledger)),
            store.clone(),
            Mempool::new(100),
        );
        (net, store, replica)
    }

    /// Runs the replica as a shell would, proposing at once whenever asked, until the ledger
    /// reaches `height`. Returns every output, and checks on the way that each signed message
    /// left only after the safety data covering it was in the store.
    fn run_to(replica: &mut Replica<MemoryStore>, store: &MemoryStore, height: u64) -> Vec<Output> {
        let mut all = Vec::new();
        let mut inputs = vec![Input::Start];
        let mut now = TimestampMs(1_000);
        for _ in 0..1_000 {
            if replica.ledger().head().height.0 >= height {
                return all;
            }
            let input = inputs.pop().unwrap_or(Input::RoundTimerFired {
                round: replica.consensus().unwrap().round(),
            });
            now.0 += 10;
            let mut out = Vec::new();
            replica
                .handle(input, &mut Verify(now), &mut out)
                .expect("memory store");
            for output in &out {
                if let Output::Signed { outgoing, .. } = output {
                    let message = match outgoing {
                        Outgoing::Send { message, .. } | Outgoing::Broadcast { message } => message,
                    };
                    if let ConsensusMessage::Vote(vote) = message {
                        let stored = SafetyData::from_bytes(
                            &store.safety_data().unwrap().expect("safety data stored"),
                        )
                        .unwrap();
                        assert!(
                            stored.last_voted_round >= vote.data.round,
                            "a vote for round {} left without its safety data stored",
                            vote.data.round
                        );
                    }
                }
                if let Output::PayloadWanted { round, parent_id } = output {
                    let block = replica
                        .build(now, *round, *parent_id, BUDGET)
                        .expect("parent executed");
                    inputs.push(Input::PayloadReady {
                        round: *round,
                        block,
                    });
                }
            }
            all.extend(out);
        }
        panic!("the single validator did not reach height {height}");
    }

    #[test]
    fn a_single_validator_commits_through_the_driver_and_the_store_holds_what_the_ledger_holds() {
        let (net, store, mut replica) = single_validator();
        let issue = net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tiyn(500),
            }),
        );
        assert_eq!(
            replica.offer(issue.clone(), issue.hash(), Instant::now()),
            Ok(true)
        );
        let outputs = run_to(&mut replica, &store, 3);

        // Its own votes went to itself, never out.
        assert!(outputs.iter().any(|o| matches!(
            o,
            Output::Signed {
                outgoing: Outgoing::Send { to: 0, .. },
                to_self: true
            }
        )));
        assert!(!outputs.iter().any(|o| matches!(o, Output::Send { .. })));
        // What the ledger committed is in the store, each run ending on its certificate.
        let committed: Vec<&ExecutedBlock> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Committed { executed, .. } => Some(executed),
                _ => None,
            })
            .flatten()
            .collect();
        let head = replica.ledger().head().clone();
        assert_eq!(committed.last().unwrap().block.header, head);
        let stored = store.head().unwrap().unwrap();
        assert_eq!(stored.block.id(), head.id());
        assert!(
            StoredCertificates::from_bytes(&stored.certificate)
                .unwrap()
                .commit_qc
                .is_some()
        );
        // The issuance was proposed, committed, applied and settled out of the mempool.
        assert!(
            committed
                .iter()
                .any(|e| e.block.transactions == vec![issue.clone()])
        );
        assert_eq!(
            replica
                .ledger()
                .state()
                .account(&net.bank(0))
                .unwrap()
                .balance,
            Amount::from_tiyn(500)
        );
        assert!(replica.mempool().is_empty());
        // Reopened, the store gives back the same head, proven.
        let reopened = open(store.as_ref(), &net.genesis).expect("reopens");
        assert_eq!(reopened.ledger.head().id(), head.id());
        assert_eq!(
            reopened.ledger.state().root(),
            replica.ledger().state().root()
        );
    }

    #[test]
    fn a_halted_replica_handles_nothing_more() {
        let (_net, store, mut replica) = single_validator();
        replica.halt("certified blocks did not re-execute".into());
        let mut out = Vec::new();
        replica
            .handle(Input::Start, &mut Verify(TimestampMs(1_000)), &mut out)
            .unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(
            store.safety_data().unwrap(),
            Some(SafetyData::default().to_bytes())
        );
        assert_eq!(
            replica.halted(),
            Some("certified blocks did not re-execute")
        );
    }

    #[test]
    fn a_halted_replica_follows_nothing_more() {
        // A validator commits three blocks; an observer that halted meanwhile is then handed
        // the whole proven range: it must not take it.
        let (net, store, mut validator) = single_validator();
        run_to(&mut validator, &store, 3);
        let served = crate::sync::serve(store.as_ref(), Height(0), 64).unwrap();
        assert!(served.len() >= 3);
        let validators = ValidatorSet::new(vec![net.validators[0].public_key()]);
        let observer_store = Arc::new(MemoryStore::new());
        let opened = open(observer_store.as_ref(), &net.genesis).unwrap();
        let mut observer = Replica::new(
            None,
            Arc::new(RwLock::new(opened.ledger)),
            observer_store.clone(),
            Mempool::new(0),
        );
        let mut verifier = Verifier::new(
            validators,
            QuorumCertificate::genesis(&opened.genesis_block),
        );
        let follow = |observer: &mut Replica<MemoryStore>, verifier: &mut Verifier| {
            observer
                .follow(
                    verifier,
                    &mut RangeBuffer::new(1 << 20),
                    served.clone(),
                    SignatureCheck::All,
                    1,
                    &mut Verify(TimestampMs(0)),
                )
                .unwrap()
        };

        observer.halt("certified blocks did not re-execute".into());
        assert!(matches!(
            follow(&mut observer, &mut verifier),
            Followed::Nothing
        ));
        assert_eq!(observer.ledger().head().height, Height(0));
        assert_eq!(
            observer_store.head().unwrap().unwrap().block.header.height,
            Height(0)
        );

        // The same range, to an observer that did not halt, is followed to the head.
        let observer_store = Arc::new(MemoryStore::new());
        let opened = open(observer_store.as_ref(), &net.genesis).unwrap();
        let mut observer = Replica::new(
            None,
            Arc::new(RwLock::new(opened.ledger)),
            observer_store,
            Mempool::new(0),
        );
        let Followed::Committed { executed, .. } = follow(&mut observer, &mut verifier) else {
            panic!("a proven range is followed");
        };
        assert_eq!(
            executed.last().unwrap().block.id(),
            validator.ledger().head().id()
        );
    }

    #[test]
    fn an_observer_replica_ignores_consensus_inputs() {
        let (net, store, replica) = single_validator();
        let ledger = Arc::new(RwLock::new(
            tenge_ledger::Ledger::from_genesis(&net.genesis).unwrap(),
        ));
        drop(replica);
        let mut observer = Replica::new(None, ledger, store, Mempool::new(0));
        let mut out = Vec::new();
        observer
            .handle(Input::Start, &mut Verify(TimestampMs(1_000)), &mut out)
            .unwrap();
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(observer.ledger().head().height, Height(0));
    }

    #[test]
    fn a_store_of_another_network_does_not_open() {
        let net = TestNetwork::new(1, 4);
        let store = MemoryStore::new();
        open(&store, &net.genesis).expect("a fresh store opens");
        // Another network's genesis on the same store: refused, naming the store.
        let other = TestNetwork::new(2, 4);
        let error = open(&store, &other.genesis).err().expect("refused");
        assert!(
            matches!(error, OpenError::Store(StoreError::WrongNetwork { .. })),
            "{error}"
        );
    }
}
