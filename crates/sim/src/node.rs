//! One simulated node: the consensus core, the ledger and a store, and what it does with the
//! core's effects. Byzantine behaviours ([`byzantine`]) rewrite what the node sends.

mod byzantine;

use std::sync::{Arc, RwLock};

use tenge_consensus::{Config, Consensus, Input, Outgoing, Verifier};
use tenge_crypto::Keypair;
use tenge_driver::replica::Identity;
use tenge_driver::sync::RangeBuffer;
use tenge_driver::{BlockBudget, Followed, Host, Mempool, Output, Replica, VerifiedSet};
use tenge_ledger::{SignatureCheck, verify_signatures};
use tenge_storage::{MemoryStore, Store};
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, EpochMessage, QuorumCertificate, StoredCertificates,
    ValidatorIndex, ValidatorSet,
};
use tenge_types::sync::{SyncRequest, SyncResponse};
use tenge_types::{
    Block, BlockHeader, BlockId, Genesis, Height, Round, SignedTransaction, TimestampMs,
};

use tenge_network::{NetworkLimits, PeerBook, SyncAdmission};
use tenge_types::PublicKey;

use crate::config::Behavior;
use crate::rng::Rng;
use byzantine::forged_copy;

/// Debug tracing of every input and effect to stderr: `TENGE_SIM_TRACE=1` (short lines) or
/// `TENGE_SIM_TRACE=2` (whole values). Use with a single seed.
fn trace_level() -> u8 {
    static LEVEL: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LEVEL.get_or_init(|| {
        std::env::var("TENGE_SIM_TRACE")
            .ok()
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    })
}

/// Most transactions a simulated leader puts in a block.
const MAX_BLOCK_TRANSACTIONS: usize = 16;
/// Transactions a simulated mempool holds at most.
const MEMPOOL_MAX_TRANSACTIONS: usize = 10_000;
/// A validator asks a peer for committed blocks when its certificates show it this many blocks
/// behind (the engine's default `sync_gap_blocks`).
const SYNC_GAP_BLOCKS: u64 = 32;
/// A validator that committed nothing for this long asks a peer, at most once per this long
/// (the engine's `STALL_SYNC_SECS`, D82).
const STALL_SYNC_MS: u64 = 3_000;
/// Unproven blocks a syncing node keeps (L5).
const KEPT_MAX_BYTES: usize = 64 << 20;

/// Where a message goes, in the numbering of the sender's epoch. (A message to the node itself
/// never leaves it: the driver hands it back to its core at once, as in `tenged`.)
pub enum Target {
    Validator(ValidatorIndex),
    /// Every node but the sender (its twin included).
    Others,
}

/// Whom a message on the wire is for.
pub enum Recipient {
    /// The nodes holding this key (two for a twin pair).
    Key(PublicKey),
    /// Every other node.
    Others,
}

/// What the cluster must do for a node.
pub enum Action {
    /// A consensus message as the node's behaviour writes it (bytes of a [`ConsensusMessage`],
    /// or whatever a Byzantine node sends instead), not yet on the wire: [`Node::seal`] labels it
    /// with the epoch the node is in when it leaves, as `tenged` does (D82).
    Send {
        target: Target,
        bytes: Vec<u8>,
    },
    /// A labelled message on the wire, from the node's key in its epoch.
    Transmit {
        to: Recipient,
        from_key: PublicKey,
        bytes: Vec<u8>,
    },
    Timer {
        round: Round,
        after_ms: u64,
    },
    /// Committed blocks: (head before, blocks, certificate), for the checker.
    Committed {
        previous_head: BlockId,
        blocks: Vec<tenge_types::consensus::BlockWithParentQc>,
        certificate: QuorumCertificate,
        suffix: Vec<tenge_types::BlockHeader>,
    },
    /// A message this node signed (after persisting) with `key` in `epoch`, for the
    /// double-signing check.
    Signed {
        key: PublicKey,
        epoch: u64,
        message: ConsensusMessage,
    },
    Halted(String),
    Evidence,
    /// The core refused a message as invalid (what a real node penalises its sender for).
    Invalid,
    AuditFailed(String),
    /// An epoch started at this node.
    EpochStarted {
        epoch: u64,
    },
    /// A range-sync answer failed its checks (a lying or garbled peer): refused, nothing kept.
    SyncRefused,
}

/// The parts of a node lost in a crash.
pub struct Running {
    /// The node itself, as `tenged` runs it (tenge_driver): consensus core, ledger, executed
    /// blocks, mempool, store.
    pub replica: Replica<MemoryStore>,
    /// The digests (signatures included) of transactions whose signatures verified.
    verified: VerifiedSet,
    /// The node's network limits on sync requests (`tenge_network`'s peer book, as `tenged`
    /// applies them): a request rate and pending replies per requester. Process state: a restart
    /// starts it afresh.
    sync_peers: PeerBook,
    /// Range sync as the engine runs it for a validator: the current epoch's verifier, blocks
    /// kept until proven, when the outstanding request left, whether a validator of a later
    /// epoch wrote, and since when the committed height stands still (D82).
    verifier: Verifier,
    buffer: RangeBuffer,
    sync_sent: Option<u64>,
    later_epoch_seen: bool,
    stall: (Height, u64),
}

/// A sync request the node's network limits refused (over the requester's rate or size).
#[derive(Debug, PartialEq, Eq)]
pub struct SyncRefused;

/// A peer book with the node's default network limits, listing everyone who may ask it for
/// ranges (every validator and observer).
fn peer_book(requesters: &[PublicKey], at: std::time::Instant) -> PeerBook {
    let mut book = PeerBook::new(NetworkLimits::default());
    for key in requesters {
        let id = tenge_network::peer_id(key).expect("simulated keys are valid");
        book.insert(id, *key, None, at);
    }
    book
}

/// The simulator's side of the driver: signatures verified on one thread, valid verdicts kept
/// (the node's [`VerifiedSet`]). Its clock stands still while the node handles one input:
/// simulated time moves between events only.
pub struct Verdicts<'a> {
    pub verified: &'a mut VerifiedSet,
    pub now: TimestampMs,
}

impl Host for Verdicts<'_> {
    fn now(&mut self) -> TimestampMs {
        self.now
    }

    fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool> {
        self.verified.verdicts(transactions, 1)
    }
}

pub struct Node {
    /// The validator machine this node is ([`crate::reconfiguration::identities`]); a twin
    /// pair is two nodes of one identity.
    pub identity: usize,
    pub behavior: Behavior,
    /// Every key the identity may sign with: its first, then its rotation keys. It signs with
    /// the one the current epoch's set names, if any.
    keys: Vec<Keypair>,
    /// What survives a crash.
    pub store: Arc<MemoryStore>,
    pub running: Option<Running>,
    /// Incremented at every restart; timers and local inputs of an earlier life are dropped.
    pub incarnation: u64,
    pub clock_skew_ms: i64,
    rng: Rng,
    /// Committed block ids by height, as this node committed them (durability check).
    pub committed: Vec<BlockId>,
    /// Simulated time 0 on the mempool's clock (only differences are ever read).
    clock_origin: std::time::Instant,
    /// The epoch this node is in, its validators and its index among them: what its messages
    /// are labelled with, whom a validator index names, and which key it signs with. From its
    /// store at start, moved on when the driver's `EpochStarted` is handled, so that the effects
    /// of the ending epoch that come before it still speak for that epoch.
    pub epoch: u64,
    set: ValidatorSet,
    me: Option<ValidatorIndex>,
}

pub use tenge_driver::Opened;

/// The blocks of a range-sync commit with the certificates on their parents, as the checker takes
/// them: `Followed::Committed` hands the two over side by side.
pub fn with_parent_qcs(
    executed: Vec<tenge_ledger::ExecutedBlock>,
    parent_qcs: Vec<QuorumCertificate>,
) -> Vec<BlockWithParentQc> {
    executed
        .into_iter()
        .zip(parent_qcs)
        .map(|(executed, parent_qc)| BlockWithParentQc {
            block: executed.block,
            parent_qc,
        })
        .collect()
}

/// The headers a stored block's commit certificate commits it through, when it ended its epoch
/// (D80): what the checker needs to see that the certificate commits it.
pub fn stored_suffix(store: &MemoryStore, height: Height) -> Vec<BlockHeader> {
    let bytes = store
        .certificate(height)
        .expect("store reads")
        .expect("a committed block's certificates are stored");
    StoredCertificates::from_bytes(&bytes)
        .expect("certificates this node stored decode")
        .commit_suffix
}

/// Opens a node's store at start, as `tenged` does (`tenge_driver::open`: initialised with the
/// genesis or checked against it, the ledger rebuilt from the stored state, the stored head
/// proven committed by its certificates, L6 and D61), then checks durability: `committed` holds
/// the block ids the node committed before (by height), and any of them missing or changed is a
/// violation. On success it is replaced by what the store holds.
pub fn open(
    store: &MemoryStore,
    genesis: &Genesis,
    committed: &mut Vec<BlockId>,
) -> Result<Opened, String> {
    let opened = tenge_driver::open(store, genesis)
        .map_err(|e| format!("durability: the store does not open: {e}"))?;
    let height = opened.head.block.header.height.0 as usize;
    // Durability: everything committed before the crash is still there, unchanged.
    if height + 1 < committed.len() {
        return Err(format!(
            "durability: store holds height {height}, {} were committed",
            committed.len() - 1
        ));
    }
    for (h, id) in committed.iter().enumerate() {
        let stored = store
            .block(tenge_types::Height(h as u64))
            .expect("store reads")
            .map(|b| b.id());
        if stored != Some(*id) {
            return Err(format!(
                "durability: block at height {h} changed or vanished after restart"
            ));
        }
    }
    *committed = (0..=height as u64)
        .map(|h| {
            store
                .block(tenge_types::Height(h))
                .expect("store reads")
                .expect("committed block stored")
                .id()
        })
        .collect();
    Ok(opened)
}

impl Node {
    pub fn new(
        identity: usize,
        behavior: Behavior,
        keys: Vec<Keypair>,
        genesis_set: ValidatorSet,
        clock_skew_ms: i64,
        rng: Rng,
    ) -> Node {
        Node {
            identity,
            behavior,
            keys,
            store: Arc::new(MemoryStore::new()),
            running: None,
            incarnation: 0,
            clock_skew_ms,
            rng,
            committed: Vec::new(),
            clock_origin: std::time::Instant::now(),
            epoch: 0,
            set: genesis_set,
            me: None,
        }
    }

    /// Whether `key` is one of this node's.
    pub fn holds(&self, key: &PublicKey) -> bool {
        self.keys.iter().any(|k| k.public_key() == *key)
    }

    /// This node's index in its current epoch, if it is a validator of it.
    pub fn me(&self) -> Option<ValidatorIndex> {
        self.me.filter(|_| self.is_up())
    }

    /// The key it signs with in its current epoch, if it is a validator of it.
    fn signing_key(&self) -> Option<&Keypair> {
        let key = self.set.key(self.me()?)?;
        self.keys.iter().find(|k| k.public_key() == *key)
    }

    /// The key a Byzantine behaviour signs its own messages with: only ever called on a message
    /// the node just signed as a validator of its epoch.
    fn signer(&self) -> &Keypair {
        self.signing_key()
            .expect("a node that signed is a validator of its epoch")
    }

    /// The key it speaks with: its signing key, or its first key when it is no validator.
    pub fn network_key(&self) -> PublicKey {
        self.signing_key().unwrap_or(&self.keys[0]).public_key()
    }

    /// What the checker is told of a message this node signed.
    fn signed(&self, message: ConsensusMessage) -> Action {
        Action::Signed {
            key: self.network_key(),
            epoch: self.epoch,
            message,
        }
    }

    /// The validators of its current epoch.
    pub fn validators(&self) -> &ValidatorSet {
        &self.set
    }

    /// Puts the messages in `actions[from..]` on the wire: labelled with the epoch the node is
    /// in now, addressed by key in that epoch's numbering (an index the epoch has not is dropped,
    /// as the engine drops it). BCS encodes `(epoch, message)` as the two one after the other,
    /// as [`EpochMessage::encode`] does, so a Byzantine node's garbage is labelled alike.
    fn seal(&self, actions: &mut Vec<Action>, from: usize) {
        let from_key = self.network_key();
        let sealed: Vec<Action> = actions
            .drain(from..)
            .filter_map(|action| match action {
                Action::Send { target, bytes } => {
                    let to = match target {
                        Target::Validator(v) => Recipient::Key(*self.set.key(v)?),
                        Target::Others => Recipient::Others,
                    };
                    let mut labelled = tenge_types::encode(&self.epoch);
                    labelled.extend_from_slice(&bytes);
                    Some(Action::Transmit {
                        to,
                        from_key,
                        bytes: labelled,
                    })
                }
                other => Some(other),
            })
            .collect();
        actions.extend(sealed);
    }

    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// This node's clock: simulated time counts from the genesis time, plus the node's skew.
    pub fn local_time(&self, now: u64) -> TimestampMs {
        let since_genesis = now.saturating_add_signed(self.clock_skew_ms);
        TimestampMs(tenge_ledger::testkit::TEST_GENESIS_TIME.0 + since_genesis)
    }

    /// Starts (or restarts) from the store. Returns a durability violation if the store lost
    /// committed blocks.
    pub fn start(
        &mut self,
        now: u64,
        genesis: &Genesis,
        config: &Config,
        requesters: &[PublicKey],
    ) -> Result<(), String> {
        let Opened {
            genesis_block,
            head,
            ledger,
            epoch,
        } = open(&self.store, genesis, &mut self.committed)?;
        let validators = epoch.set();
        // A validator of the stored epoch runs its instance; any other key follows without
        // voting until an epoch names it (a spare, a removed validator), as in `tenged`.
        let member = self.keys.iter().find_map(|key| {
            let index = validators
                .keys
                .iter()
                .position(|k| *k == key.public_key())?;
            Some((index as ValidatorIndex, key))
        });
        let consensus = match member {
            Some((me, key)) => {
                // The node's own recovery (tenge_driver), M11's rule included.
                let recovery = tenge_driver::recover(
                    self.store.as_ref(),
                    &genesis_block,
                    &head,
                    config.voting_floor_round,
                )
                .map_err(|e| format!("durability: consensus state does not recover: {e}"))?;
                let signer = Keypair::from_secret(key.secret_bytes());
                Some((
                    me,
                    Consensus::new(
                        config.clone(),
                        me,
                        signer,
                        validators.clone(),
                        &epoch.start,
                        recovery,
                    ),
                ))
            }
            None => None,
        };
        let identity = Identity {
            keys: self
                .keys
                .iter()
                .map(|key| Keypair::from_secret(key.secret_bytes()))
                .collect(),
            config: config.clone(),
        };
        self.incarnation += 1;
        self.epoch = epoch.number;
        self.set = validators;
        self.me = member.map(|(me, _)| me);
        let height = head.block.header.height;
        self.running = Some(Running {
            replica: Replica::new(
                consensus,
                Arc::new(RwLock::new(ledger)),
                self.store.clone(),
                Mempool::new(MEMPOOL_MAX_TRANSACTIONS),
            )
            .with_identity(identity),
            verified: VerifiedSet::default(),
            sync_peers: peer_book(requesters, self.clock_origin),
            verifier: epoch.verifier(),
            buffer: RangeBuffer::new(KEPT_MAX_BYTES),
            sync_sent: None,
            later_epoch_seen: false,
            stall: (height, now),
        });
        Ok(())
    }

    pub fn crash(&mut self) {
        self.running = None;
    }

    pub fn committed_height(&self) -> u64 {
        self.committed.len() as u64 - 1
    }

    /// A client hands this node a transaction at simulated time `now`: the node's admission
    /// checks it (cheap checks, then signatures), then the mempool takes it or refuses it, as in
    /// the engine. True if the mempool took it: the node then gossips it to the validators.
    pub fn submit(&mut self, now: u64, tx: &SignedTransaction) -> bool {
        let local = self.local_time(now);
        let Some(running) = self.running.as_mut() else {
            return false;
        };
        let hash = tx.hash();
        if running.replica.mempool().contains(&hash) {
            return false;
        }
        // The node's admission: cheap checks against the committed state before signatures.
        if tenge_driver::admission::precheck(&running.replica.ledger(), tx, local).is_err() {
            return false;
        }
        let valid = running.verified.verdicts(std::slice::from_ref(tx), 1)[0];
        if valid {
            let arrived = self.clock_origin + std::time::Duration::from_millis(now);
            // Refusals (a used or pending sequence, a full mempool) drop it, as for a client.
            return running
                .replica
                .offer(tx.clone(), hash, arrived)
                .unwrap_or(false);
        }
        false
    }

    /// The bytes of a gossip batch of `transactions` this node sends to the other validators:
    /// the batch itself, or nothing (silent), or invalid gossip (garbage: as the Byzantine
    /// harness's `invalid-gossip`, review H2).
    pub fn gossip_bytes(&mut self, transactions: &[SignedTransaction]) -> Option<Vec<u8>> {
        match self.behavior {
            Behavior::Silent => None,
            Behavior::Garbage => Some(self.invalid_gossip(transactions)),
            _ => Some(tenge_types::encode(transactions)),
        }
    }

    /// A gossip batch from validator `from`, as untrusted bytes: decoded with the limits every
    /// node applies, checked as the engine checks it (`tenge_driver::admission`: cheap checks on
    /// the committed state, then signatures), and what passes offered to the mempool. Returns
    /// whether a real node would penalise the sender.
    pub fn on_gossip(&mut self, now: u64, bytes: &[u8]) -> bool {
        let local = self.local_time(now);
        let Some(running) = self.running.as_mut() else {
            return false;
        };
        let transactions = match tenge_driver::admission::decode_gossip(bytes) {
            Ok(transactions) => transactions,
            Err(_) => return true,
        };
        let verdict = tenge_driver::admission::check_gossip_on(
            &running.replica.ledger(),
            transactions,
            local,
            1,
        );
        let penalise = verdict.penalty().is_some();
        let arrived = self.clock_origin + std::time::Duration::from_millis(now);
        for checked in verdict.admitted {
            running.verified.insert(checked.digest);
            // Gossip is best effort: a full mempool or a used sequence just drops it.
            let _ = running.replica.offer(checked.tx, checked.hash, arrived);
        }
        penalise
    }

    /// Feeds one input to the core and turns its effects into actions.
    pub fn input(&mut self, now: u64, input: Input) -> Vec<Action> {
        let local = self.local_time(now);
        if self.running.is_none() {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if self.behavior == Behavior::ForgedCertificates
            && let Input::Message { from, message } = &input
            && let Some(forged) = self.forge_certificates(*from, message)
        {
            // Relayed to everyone else under this node's name: the fault is the relay's.
            actions.push(Action::Send {
                target: Target::Others,
                bytes: forged.to_bytes(),
            });
            self.seal(&mut actions, 0);
        }
        self.handle(now, local, input, &mut actions);
        actions
    }

    /// A consensus message off the wire from the node holding `from_key`, as the engine takes
    /// it (D82): from a validator of this node's epoch only, and labelled with that epoch. A
    /// message of another epoch is set aside unchecked and unblamed; one of a later epoch tells
    /// this node it is behind, and its next sync tick asks a peer.
    pub fn receive(&mut self, now: u64, from_key: &PublicKey, bytes: &[u8]) -> Vec<Action> {
        let Some(running) = self.running.as_mut() else {
            return Vec::new();
        };
        // The receiving side decodes untrusted bytes with limits, as the real network edge does.
        let Ok(EpochMessage { epoch, message }) = EpochMessage::from_bytes(bytes) else {
            return Vec::new();
        };
        let Some(from) = self.set.keys.iter().position(|k| k == from_key) else {
            return Vec::new();
        };
        if epoch != self.epoch {
            if epoch > self.epoch {
                running.later_epoch_seen = true;
            }
            return Vec::new();
        }
        if running.replica.consensus().is_none() {
            return Vec::new();
        }
        self.input(
            now,
            Input::Message {
                from: from as ValidatorIndex,
                message,
            },
        )
    }

    /// The range request to send now, if any: as the engine's `maybe_sync`, a validator asks
    /// when its certificates show it far behind, when a validator of a later epoch wrote to it,
    /// or when it committed nothing for [`STALL_SYNC_MS`] (then at most once per that long); a
    /// node that is no validator of its epoch asks on every tick. One request at a time, given
    /// up after `patience_ms`.
    pub fn sync_request(&mut self, now: u64, patience_ms: u64) -> Option<Vec<u8>> {
        let running = self
            .running
            .as_mut()
            .filter(|r| r.replica.halted().is_none())?;
        if running
            .sync_sent
            .is_some_and(|sent| now < sent + patience_ms)
        {
            return None;
        }
        let height = running.replica.ledger().head().height;
        if running.stall.0 != height {
            running.stall = (height, now);
        }
        let stalled = now >= running.stall.1 + STALL_SYNC_MS;
        let behind = match running.replica.consensus() {
            None => true,
            Some(consensus) => {
                consensus.high_qc().data.height.0 > height.0 + SYNC_GAP_BLOCKS
                    || running.later_epoch_seen
                    || stalled
            }
        };
        if !behind {
            return None;
        }
        if stalled {
            running.stall.1 = now;
        }
        running.sync_sent = Some(now);
        Some(
            SyncRequest::Committed {
                after_height: running.buffer.after(height),
                max_blocks: crate::observer::SYNC_BATCH_BLOCKS,
            }
            .to_bytes(),
        )
    }

    /// A peer's answer to its range request, as untrusted bytes: followed as the engine follows
    /// it (`Replica::follow`: proven by certificates, re-executed with every signature checked,
    /// committed in runs), then, for a validator, handed to its core as `Synced`.
    pub fn on_sync_response(&mut self, now: u64, bytes: &[u8]) -> Vec<Action> {
        let local = self.local_time(now);
        let mut actions = Vec::new();
        let Some(running) = self
            .running
            .as_mut()
            .filter(|r| r.replica.halted().is_none())
        else {
            return actions;
        };
        running.sync_sent = None;
        let Ok(SyncResponse::Committed { blocks, .. }) = SyncResponse::from_bytes(bytes) else {
            actions.push(Action::SyncRefused);
            return actions;
        };
        let followed = running
            .replica
            .follow(
                &mut running.verifier,
                &mut running.buffer,
                blocks,
                SignatureCheck::All,
                1,
                &mut Verdicts {
                    verified: &mut running.verified,
                    now: local,
                },
            )
            .expect("memory store commits in order");
        let (executed, parent_qcs, certificate, started) = match followed {
            Followed::Nothing => {
                running.later_epoch_seen = false;
                return actions;
            }
            Followed::Kept { .. } | Followed::TooLarge { .. } => return actions,
            Followed::Refused { .. } => {
                actions.push(Action::SyncRefused);
                return actions;
            }
            Followed::Halted { reason, executed } => {
                self.committed
                    .extend(executed.iter().map(|executed| executed.block.id()));
                actions.push(Action::Halted(reason));
                return actions;
            }
            Followed::Committed {
                executed,
                parent_qcs,
                certificate,
                started,
            } => (executed, parent_qcs, certificate, started),
        };
        let previous_head = *self.committed.last().expect("genesis is committed");
        self.committed
            .extend(executed.iter().map(|executed| executed.block.id()));
        if let Err(error) = running.replica.ledger().audit() {
            actions.push(Action::AuditFailed(error));
        }
        let blocks = with_parent_qcs(executed, parent_qcs);
        let head = blocks.last().expect("a commit is not empty").clone();
        actions.push(Action::Committed {
            previous_head,
            blocks,
            certificate: certificate.clone(),
            suffix: stored_suffix(self.store.as_ref(), head.block.header.height),
        });
        if let Some(started) = started {
            self.output(now, local, *started, &mut actions);
        }
        if self
            .running
            .as_ref()
            .is_some_and(|r| r.replica.consensus().is_some())
        {
            self.handle(
                now,
                local,
                Input::Synced {
                    head: Box::new(head),
                    certificate: Box::new(certificate),
                },
                &mut actions,
            );
        }
        actions
    }

    /// Hands one input to the node's driver and turns what it must do into actions.
    fn handle(&mut self, now: u64, local: TimestampMs, input: Input, actions: &mut Vec<Action>) {
        let running = self.running.as_mut().expect("node is up");
        let trace = trace_level() > 0;
        if trace {
            eprintln!(
                "[{now}] v{} <- {}",
                self.identity,
                match &input {
                    Input::Message { from, message } => format!("{} from {from}", message.kind()),
                    other => format!("{other:?}")
                        .chars()
                        .take(if trace_level() > 1 { 100000 } else { 80 })
                        .collect(),
                }
            );
        }
        let mut outputs = Vec::new();
        running
            .replica
            .handle(
                input,
                &mut Verdicts {
                    verified: &mut running.verified,
                    now: local,
                },
                &mut outputs,
            )
            .expect("memory store writes");
        if trace {
            if let Some(consensus) = running.replica.consensus() {
                eprintln!("      == {}", consensus.summary());
            }
            for output in &outputs {
                eprintln!(
                    "      -> {}",
                    format!("{output:?}")
                        .chars()
                        .take(if trace_level() > 1 { 100000 } else { 120 })
                        .collect::<String>()
                );
            }
        }
        for output in outputs {
            // Labelled with the epoch in force when each leaves: an epoch's last messages (its
            // `EpochEnd`) before the next one starts.
            let from = actions.len();
            self.output(now, local, output, actions);
            self.seal(actions, from);
        }
    }

    fn output(&mut self, now: u64, local: TimestampMs, output: Output, actions: &mut Vec<Action>) {
        match output {
            Output::Send { to, message } => actions.push(Action::Send {
                target: Target::Validator(to),
                bytes: message.to_bytes(),
            }),
            Output::Signed {
                outgoing: Outgoing::Send { message, .. },
                to_self: true,
            } => actions.push(self.signed(message)),
            Output::Signed { outgoing, .. } => self.send_signed(local, outgoing, actions),
            Output::Timer { round, after_ms } => actions.push(Action::Timer { round, after_ms }),
            // The simulated leader proposes at once, whatever its mempool holds.
            Output::PayloadWanted { round, parent_id } => {
                if let Some(block) = self.build(local, round, parent_id, 0) {
                    self.handle(now, local, Input::PayloadReady { round, block }, actions);
                }
            }
            Output::BlockRefused { .. } => {}
            Output::Committed {
                executed,
                blocks,
                certificate,
                suffix,
            } => {
                let previous_head = *self.committed.last().expect("genesis is committed");
                self.committed
                    .extend(executed.iter().map(|executed| executed.block.id()));
                if let Err(error) = self.running().replica.ledger().audit() {
                    actions.push(Action::AuditFailed(error));
                }
                actions.push(Action::Committed {
                    previous_head,
                    blocks,
                    certificate,
                    suffix,
                });
            }
            Output::Evidence(_) => actions.push(Action::Evidence),
            Output::Invalid { .. } => actions.push(Action::Invalid),
            Output::Halted(reason) => actions.push(Action::Halted(reason)),
            Output::EpochStarted { epoch, me } => {
                // Messages and certificates of the new epoch are checked against its set from
                // here on, and its own are labelled with it (D80, D82).
                self.epoch = epoch.number;
                self.set = epoch.set();
                self.me = me;
                if let Some(running) = self.running.as_mut() {
                    running.verifier = epoch.verifier();
                    running.later_epoch_seen = false;
                }
                actions.push(Action::EpochStarted {
                    epoch: epoch.number,
                });
            }
        }
    }

    fn running(&self) -> &Running {
        self.running.as_ref().expect("node is up")
    }

    fn consensus(&self) -> &Consensus {
        self.running()
            .replica
            .consensus()
            .expect("a simulated validator runs a consensus core")
    }

    /// Builds and executes a block on `parent_id` from the mempool, through the driver; a
    /// `BadSignatures` leader slips a transaction with a forged signature in first, and in half
    /// its blocks executes it as if the signature verified (a block that applies a transaction
    /// its sender never signed: honest validators must find the state they compute differs, and
    /// not vote).
    fn build(
        &mut self,
        local: TimestampMs,
        round: Round,
        parent_id: BlockId,
        timestamp_offset: u64,
    ) -> Option<Block> {
        let now = TimestampMs(local.0 + timestamp_offset);
        let budget = BlockBudget {
            transactions: MAX_BLOCK_TRANSACTIONS,
            bytes: tenge_driver::mempool::BLOCK_TRANSACTION_BYTES,
        };
        if self.behavior != Behavior::BadSignatures {
            let replica = &mut self.running.as_mut().expect("node is up").replica;
            return replica.build(now, round, parent_id, budget);
        }
        let claim_valid = self.rng.chance(500);
        let replica = &mut self.running.as_mut().expect("node is up").replica;
        replica.build_with(now, round, parent_id, |mempool, in_ancestors, state| {
            let mut transactions = mempool.select(budget, in_ancestors, |id| {
                state.account(id).map_or(0, |a| a.sequence)
            });
            // Every mempool transaction was verified on entry.
            let mut valid = vec![true; transactions.len()];
            if let Some(forged) = transactions.first().and_then(forged_copy) {
                // Either the honest verdict (the block stays valid, the copy rejected) or a lie.
                let verdict = claim_valid || verify_signatures(std::slice::from_ref(&forged), 1)[0];
                valid.insert(0, verdict);
                transactions.insert(0, forged);
            }
            (transactions, valid)
        })
    }

    /// Answers a range-sync request from `from` (untrusted bytes) at simulated time `now`, as
    /// `tenged` does: the network's limits first (the request's size, then the requester's rate
    /// in the node's peer book: refused without penalty, `Err`), then the driver's `serve` from
    /// the store. A `LyingSync` validator answers with a lie instead (as the Byzantine harness's
    /// `lying-sync` does), a silent one and a node that is down not at all (`Ok(None)`).
    pub fn serve_sync(
        &mut self,
        now: u64,
        from: &PublicKey,
        request: &[u8],
    ) -> Result<Option<Vec<u8>>, SyncRefused> {
        let at = self.clock_origin + std::time::Duration::from_millis(now);
        let Some(running) = self.running.as_mut() else {
            return Ok(None);
        };
        if request.len() > NetworkLimits::default().max_sync_request_bytes {
            return Err(SyncRefused);
        }
        let requester = tenge_network::peer_id(from).expect("simulated keys are valid");
        match running.sync_peers.admit_sync_request(&requester, at) {
            SyncAdmission::Admitted { .. } => {}
            SyncAdmission::Refused { .. } | SyncAdmission::Unlisted => return Err(SyncRefused),
        }
        // Answered at once: the reply's slot is free again.
        running.sync_peers.sync_reply_done(&requester);
        Ok(self.answer_sync(request))
    }

    fn answer_sync(&mut self, request: &[u8]) -> Option<Vec<u8>> {
        let SyncRequest::Committed {
            after_height,
            max_blocks,
        } = SyncRequest::from_bytes(request).ok()?;
        let head = self.running.as_ref()?.replica.ledger().head().height;
        if self.behavior == Behavior::Silent {
            return None;
        }
        let blocks = tenge_driver::sync::serve(
            self.store.as_ref(),
            after_height,
            max_blocks.min(crate::observer::SYNC_BATCH_BLOCKS),
        )
        .expect("memory store reads");
        if self.behavior == Behavior::LyingSync {
            return Some(self.sync_lie(blocks, head));
        }
        Some(SyncResponse::Committed { blocks, head }.to_bytes())
    }

    /// Sends a persisted, signed message, as this node's behaviour dictates.
    fn send_signed(&mut self, local: TimestampMs, message: Outgoing, actions: &mut Vec<Action>) {
        let (target, message) = match message {
            Outgoing::Send { to, message } => (Target::Validator(to), message),
            Outgoing::Broadcast { message } => (Target::Others, message),
        };
        actions.push(self.signed(message.clone()));
        match self.behavior {
            Behavior::Honest
            | Behavior::Twin
            | Behavior::BadSignatures
            | Behavior::LyingSync
            | Behavior::SyncFlood => actions.push(Action::Send {
                target,
                bytes: message.to_bytes(),
            }),
            _ => self.send_misbehaving(local, target, message, actions),
        }
    }
}
