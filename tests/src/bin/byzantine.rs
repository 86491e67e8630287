//! A Byzantine validator for multi-process tests (issue 10, scope item 4).
//!
//! It joins a running devnet with a listed validator's key, in place of that validator's
//! `tenged`, through the real network crate, and runs the real consensus core and ledger on an
//! in-memory store, so that it votes, times out, syncs and (unless its behaviour says otherwise)
//! proposes like an honest validator. One behaviour, chosen on the command line, bends that:
//!
//! - `bad-signature-proposals`: every block it leads carries a transfer signed with the sending
//!   bank's key and an issuance signed with two officers' keys, all with corrupted signature
//!   bytes. The roots are computed with `verify_signatures` verdicts, as honest validators do, so
//!   they vote for the block and the transactions are committed as rejected (review H1).
//! - `invalid-gossip`: garbage bytes, a transaction with 400 signatures, transactions for another
//!   chain, unsigned or over-signed transactions, batches over the length limit and frames over
//!   the size limit, on the gossip channel, without pause (review H2).
//! - `forged-certificates`: it withholds its own proposals so that honest validators time out,
//!   and relays every proposal, vote and timeout it receives from them with forged certificates
//!   attached: a bad `last_tc`, a high QC swapped under the signature, a forged parent QC or TC
//!   (review H4: the penalty must go to the relay, not to the author).
//! - `equivocating-proposals`: for each round it leads, many distinct valid blocks, each honest
//!   validator getting a different one first; after that, proposals for other rounds signed with
//!   its own key (review H5).
//! - `lying-sync`: answers range-sync and fetch requests with wrong blocks and certificates.
//! - `sync-flood`: range-sync requests for everything (after height 0, as many blocks as the
//!   encoding allows) to every peer, as fast as the network takes them (review H6).
//!
//! Misbehaviour that honest nodes penalise (gossip, forgeries, equivocation, spam) is paced in
//! the first half of the run, one penalty's worth every 5 s, below the ban threshold, so that
//! every kind reaches the honest nodes while they still talk to the harness (and each is checked
//! for whom it is charged to); in the second half it floods, until they ban it.
//!
//! It prints what it does, and every few seconds a `byzantine stats key=value ...` line that the
//! tests read. Usage:
//!
//! ```text
//! byzantine --behaviour NAME --key FILE --genesis FILE --listen MULTIADDR --duration-secs N
//!           [--peer HEXKEY[@MULTIADDR]]... [--round-timeout-base-ms N]
//! ```

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tenge_consensus::{
    Config, Consensus, Effect, Input, Outgoing, Recovery, SafetyData, SafetyStorage, Verifier,
};
use tenge_crypto::Keypair;
use tenge_driver::sync::{RangeBuffer, Received};
use tenge_driver::{Pipeline, VerifiedSet, write_blocks};
use tenge_ledger::{ExecutedBlock, LayeredView, Ledger, StateDelta};
use tenge_network::{
    Channel, NetworkClient, NetworkConfig, NetworkEvent, NetworkLimits, PeerConfig, PublicKey,
    SyncReply,
};
use tenge_policy::StateView;
use tenge_storage::{MemoryStore, Store};
use tenge_tests::byzantine::Behaviour;
use tenge_types::consensus::{
    BlockWithParentQc, ConsensusMessage, EpochMessage, Proposal, QuorumCertificate,
    StoredCertificates, TimeoutCertificate, ValidatorIndex, ValidatorSet, VoteData,
    proposal_signing_hash,
};
use tenge_types::sync::{CommittedBlock, SyncRequest, SyncResponse};
use tenge_types::transaction::{Issue, Transfer};
use tenge_types::{
    AccountId, Amount, Block, BlockId, ChainId, Domain, Genesis, HashValue, Height, Payload, Round,
    Signature, SignedTransaction, TimestampMs, Transaction, TransactionSignature, encode,
};
use tokio::sync::mpsc;

/// `message` as validators send it: labelled with its epoch, 0 here (D82).
fn labelled(message: &ConsensusMessage) -> Vec<u8> {
    EpochMessage {
        epoch: 0,
        message: message.clone(),
    }
    .to_bytes()
}

/// A validator this many blocks behind the highest certificate it has seen range-syncs (as
/// `tenged` does by default).
const SYNC_GAP_BLOCKS: u64 = 32;
/// Blocks asked for in one range-sync request, and most served in one answer.
const SYNC_BATCH_BLOCKS: u16 = 256;
/// A fetch answer stops growing past this many bytes (as `tenged`'s).
const FETCH_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Distinct blocks proposed for each round the equivocator leads.
const EQUIVOCATIONS_PER_ROUND: u64 = 40;
/// Concurrent range-sync requests the flooder keeps open to each peer.
const FLOOD_REQUESTS_PER_PEER: usize = 8;
/// Signatures on the gossiped transaction that no block can carry (review H2: about 38 KB).
const POISON_SIGNATURES: usize = 400;
/// Largest frame the harness sends: over every honest limit, so it can send oversized ones.
const HARNESS_MAX_MESSAGE_BYTES: usize = 40 * 1024 * 1024;

/// Counters printed as `byzantine stats name=value ...`.
#[derive(Default)]
struct Stats {
    counters: Mutex<BTreeMap<&'static str, u64>>,
}

impl Stats {
    fn add(&self, name: &'static str, amount: u64) {
        *self
            .counters
            .lock()
            .expect("stats lock")
            .entry(name)
            .or_default() += amount;
    }

    fn set(&self, name: &'static str, value: u64) {
        self.counters
            .lock()
            .expect("stats lock")
            .insert(name, value);
    }

    fn line(&self, behaviour: Behaviour) -> String {
        let counters = self.counters.lock().expect("stats lock");
        let mut line = format!("byzantine stats behaviour={}", behaviour.name());
        for (name, value) in counters.iter() {
            line += &format!(" {name}={value}");
        }
        line
    }
}

/// xorshift64*: garbage bytes and choices; nothing here needs more than that.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let millis = TimestampMs::now().0;
        Rng((millis ^ u64::from(std::process::id()).rotate_left(32)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next_u64() as u8).collect()
    }

    fn signature(&mut self) -> Signature {
        let mut bytes = [0u8; 64];
        bytes.copy_from_slice(&self.bytes(64));
        Signature(bytes)
    }
}

/// Paces misbehaviour that costs this node a penalty at honest nodes. A penalty is 10 points,
/// points halve every 10 s and 45 ban (`tenge_network`'s defaults), so one penalty per 3.7 s or
/// less often never leads to a ban: in the first half of the run the honest nodes keep talking
/// to the harness and every kind of misbehaviour is delivered, each checked for whom it is
/// charged to. In the second half there is no limit, until the honest nodes ban the harness.
struct Pacer {
    flood_from: Instant,
    next: Instant,
    interval: Duration,
}

/// One paced misbehaviour to every honest node this often.
const PACED_INTERVAL: Duration = Duration::from_secs(5);
/// One paced forgery to one honest validator, in turn, this often: each of the three gets one
/// every 6 s.
const PACED_FORGERY_INTERVAL: Duration = Duration::from_secs(2);

impl Pacer {
    fn new(duration: Duration, interval: Duration) -> Pacer {
        let now = Instant::now();
        Pacer {
            flood_from: now + duration / 2,
            next: now,
            interval,
        }
    }

    fn flooding(&self) -> bool {
        Instant::now() >= self.flood_from
    }

    /// Whether one paced misbehaviour may go out now (always, once flooding).
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        if self.flooding() {
            return true;
        }
        if now < self.next {
            return false;
        }
        self.next = now + self.interval;
        true
    }
}

struct Args {
    behaviour: Behaviour,
    key: PathBuf,
    genesis: PathBuf,
    listen: String,
    duration: Duration,
    peers: Vec<PeerConfig>,
    round_timeout_base_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut behaviour = None;
    let mut key = None;
    let mut genesis = None;
    let mut listen = None;
    let mut duration = None;
    let mut peers = Vec::new();
    let mut round_timeout_base_ms = Config::default().round_timeout_base_ms;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--behaviour" => {
                behaviour = Some(Behaviour::from_name(&value).ok_or(format!(
                    "unknown behaviour {value}; one of: {}",
                    Behaviour::ALL.map(Behaviour::name).join(", ")
                ))?)
            }
            "--key" => key = Some(PathBuf::from(value)),
            "--genesis" => genesis = Some(PathBuf::from(value)),
            "--listen" => listen = Some(value),
            "--duration-secs" => {
                let secs: u64 = value.parse().map_err(|e| format!("--duration-secs: {e}"))?;
                duration = Some(Duration::from_secs(secs));
            }
            "--round-timeout-base-ms" => {
                round_timeout_base_ms = value
                    .parse()
                    .map_err(|e| format!("--round-timeout-base-ms: {e}"))?
            }
            "--peer" => {
                let (key, address) = match value.split_once('@') {
                    Some((key, address)) => (key, Some(address.to_string())),
                    None => (value.as_str(), None),
                };
                let key: PublicKey = key.parse().map_err(|e| format!("--peer {value}: {e:?}"))?;
                peers.push(PeerConfig { key, address });
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        behaviour: behaviour.ok_or("--behaviour is required")?,
        key: key.ok_or("--key is required")?,
        genesis: genesis.ok_or("--genesis is required")?,
        listen: listen.ok_or("--listen is required")?,
        duration: duration.ok_or("--duration-secs is required")?,
        peers,
        round_timeout_base_ms,
    })
}

struct SafetyWriter<'a>(&'a MemoryStore);

impl SafetyStorage for SafetyWriter<'_> {
    type Error = tenge_storage::StoreError;
    fn persist_safety_data(
        &mut self,
        data: &SafetyData,
        voted_block: Option<&BlockWithParentQc>,
    ) -> Result<(), Self::Error> {
        let pending = voted_block.map(|voted| tenge_storage::PendingBlock {
            height: voted.block.header.height,
            id: voted.block.id(),
            bytes: encode(voted),
        });
        self.0.put_safety_data(&data.to_bytes(), pending.as_ref())
    }
}

/// What spawned tasks hand back to the harness's loop.
enum Internal {
    SyncResult {
        from: PublicKey,
        result: Result<SyncResponse, String>,
    },
}

/// The keys a Byzantine validator knows from the genesis and puts on corrupted signatures.
struct Victims {
    bank: AccountId,
    bank_key: PublicKey,
    other_bank: AccountId,
    central_bank: AccountId,
    officer_keys: Vec<PublicKey>,
}

struct Harness {
    behaviour: Behaviour,
    me: ValidatorIndex,
    keypair: Keypair,
    validators: ValidatorSet,
    chain_id: ChainId,
    genesis_id: BlockId,
    victims: Victims,
    consensus: Consensus,
    ledger: Ledger,
    store: MemoryStore,
    /// Executed blocks above the committed head: the node's own driver pipeline.
    pipeline: Pipeline,
    /// Digests of transactions whose signatures verified (the node's own set).
    verified: VerifiedSet,
    network: NetworkClient,
    genesis_qc: QuorumCertificate,
    timers: BinaryHeap<Reverse<(Instant, Round)>>,
    local: VecDeque<Input>,
    sync_verifier: Verifier,
    /// Unproven blocks kept from earlier sync responses (the driver's, as in `tenged`).
    sync_buffer: RangeBuffer,
    sync_in_flight: Option<Instant>,
    sync_cursor: usize,
    internal: mpsc::Sender<Internal>,
    connected: HashSet<PublicKey>,
    stats: Arc<Stats>,
    rng: Rng,
    /// Distinct bad-signature transactions (their amounts differ).
    bad_counter: u64,
    lies: u64,
    /// The last round proposal spam went out for.
    spam_round: Round,
    forgery_turn: u64,
    forgery_target: usize,
    pacer: Pacer,
}

impl Harness {
    fn validator_index(&self, key: &PublicKey) -> Option<ValidatorIndex> {
        self.validators
            .keys
            .iter()
            .position(|k| k == key)
            .map(|i| i as ValidatorIndex)
    }

    /// The other validators, in index order: the honest ones.
    fn honest_validators(&self) -> Vec<PublicKey> {
        let me = self.keypair.public_key();
        self.validators
            .keys
            .iter()
            .copied()
            .filter(|k| *k != me)
            .collect()
    }

    fn send(&self, to: PublicKey, channel: Channel, bytes: Vec<u8>) {
        let network = self.network.clone();
        tokio::spawn(async move {
            let _ = network.send(to, channel, bytes).await;
        });
    }

    fn send_consensus(&mut self, to: ValidatorIndex, message: ConsensusMessage) {
        if to == self.me {
            self.local.push_back(Input::Message { from: to, message });
            return;
        }
        if let Some(key) = self.validators.key(to).copied() {
            self.send(key, Channel::Consensus, labelled(&message));
        }
    }

    fn broadcast_consensus(&self, message: &ConsensusMessage) {
        let network = self.network.clone();
        let bytes = labelled(message);
        tokio::spawn(async move {
            let _ = network.broadcast(Channel::Consensus, bytes).await;
        });
    }

    // ---- the consensus driver (what `tenged`'s engine does, in memory) ---------------------

    fn input(&mut self, input: Input) {
        self.local.push_back(input);
        while let Some(input) = self.local.pop_front() {
            let effects = self.consensus.handle(TimestampMs::now(), input);
            for effect in effects {
                self.effect(effect);
            }
        }
    }

    fn effect(&mut self, effect: Effect) {
        match effect {
            Effect::Send { to, message } => self.send_consensus(to, message),
            Effect::Signed(staged) => {
                let outgoing = staged
                    .persist(&mut SafetyWriter(&self.store))
                    .expect("the memory store writes");
                for message in outgoing {
                    self.send_signed(message);
                }
            }
            Effect::ScheduleTimer { round, after_ms } => self.timers.push(Reverse((
                Instant::now() + Duration::from_millis(after_ms),
                round,
            ))),
            Effect::RequestPayload { round, parent_id } => {
                if let Some(block) = self.build(round, parent_id) {
                    self.local.push_back(Input::PayloadReady { round, block });
                }
            }
            Effect::ExecuteBlock { block } => {
                let block_id = block.id();
                let result = self.execute(block);
                if let Err(reason) = &result {
                    eprintln!("block {} refused: {reason}", block_id.short());
                }
                self.local
                    .push_back(Input::BlockExecuted { block_id, result });
            }
            Effect::Commit {
                blocks,
                certificate,
            } => self.commit(blocks, certificate),
            Effect::Fetch {
                from,
                block_id,
                count,
            } => self.send_consensus(from, ConsensusMessage::FetchRequest { block_id, count }),
            Effect::ServeFetch {
                to,
                block_id,
                count,
            } => self.serve_fetch(to, block_id, count),
            Effect::Evidence(evidence) => {
                eprintln!(
                    "equivocation evidence against validator {} in round {} ({})",
                    evidence.author, evidence.round, evidence.kind
                );
            }
            Effect::Invalid { .. } => self.stats.add("invalid_messages_received", 1),
            Effect::Halt { reason } => {
                eprintln!("the harness's consensus core halted: {reason}");
                self.stats.add("core_halted", 1);
            }
        }
    }

    /// A signed vote, timeout or proposal of this node, after its safety data is stored.
    fn send_signed(&mut self, outgoing: Outgoing) {
        let (to, message) = match outgoing {
            Outgoing::Send { to, message } => (Some(to), message),
            Outgoing::Broadcast { message } => (None, message),
        };
        if to == Some(self.me) {
            self.local.push_back(Input::Message {
                from: self.me,
                message,
            });
            return;
        }
        if let ConsensusMessage::Proposal(proposal) = &message {
            self.stats.add("rounds_led", 1);
            match self.behaviour {
                // A silent leader makes the honest validators time out, and their timeouts are
                // what the forger relays.
                Behaviour::ForgedCertificates => {
                    self.stats.add("proposals_withheld", 1);
                    return;
                }
                Behaviour::EquivocatingProposals => {
                    self.equivocate(proposal);
                    return;
                }
                _ => self.stats.add("proposals_sent", 1),
            }
        }
        match message {
            ConsensusMessage::Vote(_) => self.stats.add("votes_sent", 1),
            ConsensusMessage::Timeout(_) => self.stats.add("timeouts_sent", 1),
            _ => {}
        }
        match to {
            Some(to) => self.send_consensus(to, message),
            None => self.broadcast_consensus(&message),
        }
    }

    /// The executed, uncommitted blocks from the committed head to `parent_id`, oldest first.
    fn ancestors(&self, parent_id: BlockId) -> Option<Vec<&ExecutedBlock>> {
        self.pipeline.ancestors(self.ledger.head().id(), parent_id)
    }

    fn verdicts(&mut self, transactions: &[SignedTransaction]) -> Vec<bool> {
        self.verified.verdicts(transactions, 1)
    }

    /// Builds the block this node proposes: empty, or with the corrupted transactions.
    fn build(&mut self, round: Round, parent_id: BlockId) -> Option<Block> {
        let transactions = if self.behaviour == Behaviour::BadSignatureProposals {
            self.bad_signature_transactions(parent_id)?
        } else {
            Vec::new()
        };
        // Exactly the verdicts honest validators reach, so that they reproduce the roots.
        let valid = self.verdicts(&transactions);
        let block = self.pipeline.build(
            &self.ledger,
            0,
            round,
            parent_id,
            TimestampMs::now(),
            |_, _| (transactions, valid),
        )?;
        let executed = self.pipeline.get(&block.id()).expect("just built");
        if self.behaviour == Behaviour::BadSignatureProposals {
            for (tx, receipt) in block.transactions.iter().zip(&executed.execution.receipts) {
                let outcome = match &receipt.outcome {
                    Ok(()) => "applied".to_string(),
                    Err(rejection) => format!("{:?}", rejection.code),
                };
                eprintln!(
                    "bad-signature transaction {} kind={} outcome={outcome} block={} height={} round={}",
                    tx.hash().to_hex(),
                    tx.transaction.payload.kind(),
                    block.id().short(),
                    block.header.height,
                    round
                );
            }
            self.stats.add(
                "bad_signature_transactions",
                block.transactions.len() as u64,
            );
        }
        Some(block)
    }

    /// A transfer from a bank signed under the bank's key, and an issuance signed under two
    /// officers' keys, with signature bytes that do not verify: properly authorised, at the
    /// senders' next sequence numbers, so they fail only for their signatures.
    fn bad_signature_transactions(&mut self, parent_id: BlockId) -> Option<Vec<SignedTransaction>> {
        let (bank_sequence, central_bank_sequence) = {
            let ancestors = self.ancestors(parent_id)?;
            let deltas: Vec<&StateDelta> = ancestors.iter().map(|a| &a.execution.delta).collect();
            let view = LayeredView::new(self.ledger.state(), &deltas);
            let sequence = |id: &AccountId| view.account(id).map_or(0, |a| a.sequence);
            (
                sequence(&self.victims.bank),
                sequence(&self.victims.central_bank),
            )
        };
        self.bad_counter += 1;
        let expires_at_ms = TimestampMs(TimestampMs::now().0 + 600_000);
        let transfer = Transaction {
            chain_id: self.chain_id.clone(),
            sender: self.victims.bank,
            sequence: bank_sequence,
            expires_at_ms,
            payload: Payload::Transfer(Transfer {
                to: self.victims.other_bank,
                amount: Amount::from_tiyn(1_000 + self.bad_counter),
            }),
        };
        let transfer = SignedTransaction {
            transaction: transfer,
            signatures: vec![TransactionSignature {
                public_key: self.victims.bank_key,
                signature: self.rng.signature(),
            }],
        };
        let issue = Transaction {
            chain_id: self.chain_id.clone(),
            sender: self.victims.central_bank,
            sequence: central_bank_sequence,
            expires_at_ms,
            payload: Payload::Issue(Issue {
                to: self.victims.bank,
                amount: Amount::from_tiyn(100_000_000 + self.bad_counter),
            }),
        };
        let hash = issue.hash();
        let mut officers = self.victims.officer_keys.iter().copied();
        let issue = SignedTransaction {
            transaction: issue,
            signatures: vec![
                // A valid signature, but by this validator's key, under an officer's key.
                TransactionSignature {
                    public_key: officers.next()?,
                    signature: self.keypair.sign(&hash),
                },
                TransactionSignature {
                    public_key: officers.next()?,
                    signature: self.rng.signature(),
                },
            ],
        };
        Some(vec![transfer, issue])
    }

    fn execute(&mut self, block: Block) -> Result<(), String> {
        if self.pipeline.contains(&block.id()) {
            return Ok(());
        }
        let valid = self.verdicts(&block.transactions);
        self.pipeline.execute(&self.ledger, block, &valid)
    }

    fn commit(&mut self, blocks: Vec<BlockWithParentQc>, certificate: QuorumCertificate) {
        let committed = self
            .pipeline
            .take_committed(&blocks, &certificate, &[])
            .unwrap_or_else(|error| panic!("consensus committed a block never executed: {error}"));
        self.commit_run(committed);
        self.pipeline.prune(self.ledger.head().height);
    }

    /// Writes the blocks one certificate commits (one write), then commits them in memory.
    fn commit_run(&mut self, run: Vec<(ExecutedBlock, StoredCertificates)>) {
        write_blocks(&self.store, &run).expect("the memory store commits in order");
        for (executed, _) in &run {
            self.ledger.commit(executed);
        }
        self.stats.set("height", self.ledger.head().height.0);
    }

    // ---- range sync, to catch up after a ban --------------------------------------------------

    fn maybe_sync(&mut self) {
        if self
            .sync_in_flight
            .is_some_and(|sent| sent.elapsed() < Duration::from_secs(10))
        {
            return;
        }
        let height = self.ledger.head().height;
        if self.consensus.high_qc().data.height.0 <= height.0 + SYNC_GAP_BLOCKS {
            return;
        }
        let candidates: Vec<PublicKey> = self
            .honest_validators()
            .into_iter()
            .filter(|k| self.connected.contains(k))
            .collect();
        if candidates.is_empty() {
            return;
        }
        self.sync_cursor = self.sync_cursor.wrapping_add(1);
        let peer = candidates[self.sync_cursor % candidates.len()];
        let request = SyncRequest::Committed {
            after_height: self.sync_buffer.after(height),
            max_blocks: SYNC_BATCH_BLOCKS,
        }
        .to_bytes();
        let network = self.network.clone();
        let internal = self.internal.clone();
        self.sync_in_flight = Some(Instant::now());
        tokio::spawn(async move {
            let result = match network.request(peer, request).await {
                Ok(bytes) => SyncResponse::from_bytes(&bytes).map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            let _ = internal
                .send(Internal::SyncResult { from: peer, result })
                .await;
        });
    }

    fn on_sync_result(&mut self, from: PublicKey, result: Result<SyncResponse, String>) {
        self.sync_in_flight = None;
        let blocks = match result {
            Ok(SyncResponse::Committed { blocks, .. }) => blocks,
            Err(error) => {
                eprintln!("sync from {} failed: {error}", from.short());
                return;
            }
        };
        let head = self.ledger.head().clone();
        let (blocks, certificate) =
            match self
                .sync_buffer
                .receive(&mut self.sync_verifier, head.id(), head.height, blocks)
            {
                Received::Proven {
                    blocks,
                    certificate,
                } => (blocks, certificate),
                Received::Refused { reason, .. } => {
                    eprintln!("sync response from {} refused: {reason}", from.short());
                    return;
                }
                _ => return,
            };
        let count = blocks.len();
        let last = blocks.last().map(|item| BlockWithParentQc {
            block: item.block.clone(),
            parent_qc: item.certificates.parent_qc.clone(),
        });
        // In runs that end on a block with a commit certificate, each written in one piece.
        for run in tenge_driver::sync::runs(blocks) {
            match tenge_driver::sync::execute_run(
                &self.ledger,
                run,
                tenge_ledger::SignatureCheck::All,
                1,
            ) {
                Ok(executed) => self.commit_run(executed),
                Err(error) => {
                    eprintln!("{error}");
                    self.stats.add("sync_execution_failures", 1);
                    return;
                }
            }
        }
        self.stats.add("blocks_synced", count as u64);
        eprintln!(
            "synced {count} blocks from {}, now at height {}",
            from.short(),
            self.ledger.head().height
        );
        if let Some(head) = last {
            self.pipeline.prune(head.block.header.height);
            self.input(Input::Synced {
                head: Box::new(head),
                certificate: Box::new(certificate),
            });
        }
    }

    // ---- serving peers (honestly or not) ------------------------------------------------------

    fn serve_sync(&mut self, from: PublicKey, bytes: &[u8], reply: SyncReply) {
        let Ok(SyncRequest::Committed {
            after_height,
            max_blocks,
        }) = SyncRequest::from_bytes(bytes)
        else {
            return;
        };
        let real =
            tenge_driver::sync::serve(&self.store, after_height, max_blocks.min(SYNC_BATCH_BLOCKS))
                .unwrap_or_default();
        let head = self.ledger.head().height;
        if self.behaviour != Behaviour::LyingSync {
            reply.send(SyncResponse::Committed { blocks: real, head }.to_bytes());
            return;
        }
        let (lie, bytes) = self.sync_lie(after_height, real);
        self.stats.add("sync_lies", 1);
        eprintln!(
            "lying-sync: answered {} (after height {after_height}) with {lie}",
            from.short()
        );
        reply.send(bytes);
    }

    /// A QC on `data` with this node's real signature and garbage for the rest of a quorum.
    fn forged_qc(&mut self, data: VoteData) -> QuorumCertificate {
        let quorum = self.validators.quorum();
        let mine = self.keypair.sign(&data.signing_hash(&self.genesis_id));
        let mut signatures: Vec<(ValidatorIndex, Signature)> = (0..self.validators.len())
            .map(|i| i as ValidatorIndex)
            .filter(|i| *i != self.me)
            .take(quorum - 1)
            .map(|i| (i, self.rng.signature()))
            .collect();
        signatures.push((self.me, mine));
        signatures.sort_by_key(|(i, _)| *i);
        QuorumCertificate { data, signatures }
    }

    /// The commit certificate a block would need, forged.
    fn forged_commit_qc(&mut self, block: &Block) -> QuorumCertificate {
        let data = VoteData {
            block_id: Domain::Block.hash(&block.id().0),
            round: Round(block.header.round.0 + 1),
            height: block.header.height.next(),
            state_root: block.header.state_root,
            parent_id: block.id(),
            parent_round: block.header.round,
        };
        self.forged_qc(data)
    }

    /// One of several wrong answers to a range-sync request, in turn.
    fn sync_lie(
        &mut self,
        after: Height,
        mut real: Vec<CommittedBlock>,
    ) -> (&'static str, Vec<u8>) {
        self.lies += 1;
        let head = self.ledger.head().height;
        let response = |blocks: Vec<CommittedBlock>, head: Height| {
            SyncResponse::Committed { blocks, head }.to_bytes()
        };
        let kind = self.lies % 8;
        if real.is_empty() && kind >= 2 {
            // Nothing newer than the requester has: invent a block on top of its head.
            return match self.fabricated_on_head(after) {
                Some(block) => (
                    "a fabricated block on the requester's head that mints money, with a \
                     forged commit certificate",
                    response(vec![block], Height(after.0 + 1)),
                ),
                None => (
                    "no blocks and a head at u64::MAX",
                    response(vec![], Height(u64::MAX)),
                ),
            };
        }
        match kind {
            0 => {
                let length = (self.rng.next_u64() % 300) as usize;
                ("garbage bytes", self.rng.bytes(length))
            }
            1 => (
                "no blocks and a head at u64::MAX",
                response(vec![], Height(u64::MAX)),
            ),
            2 => {
                let last = real.last().expect("not empty");
                let forged = match &last.certificates.commit_qc {
                    Some(real_qc) => self.forged_qc(real_qc.data.clone()),
                    None => self.forged_commit_qc(&last.block.clone()),
                };
                real.last_mut().expect("not empty").certificates.commit_qc = Some(forged);
                (
                    "real blocks with a forged commit certificate",
                    response(real, head),
                )
            }
            3 => {
                real[0].block.header.timestamp.0 += 1;
                (
                    "a block altered under its certificates",
                    response(real, head),
                )
            }
            4 => {
                let first = real.remove(0);
                let mut block = first.block;
                let bad = self.bad_signature_transactions_on_head();
                block.transactions = bad;
                block.header.transaction_count = block.transactions.len() as u32;
                let digests: Vec<HashValue> = block
                    .transactions
                    .iter()
                    .map(SignedTransaction::digest)
                    .collect();
                block.header.transactions_root = tenge_types::block::transactions_root(&digests);
                let commit_qc = self.forged_commit_qc(&block);
                (
                    "a fabricated block with the real parent QC and a forged commit certificate",
                    response(
                        vec![CommittedBlock {
                            block,
                            certificates: StoredCertificates {
                                parent_qc: first.certificates.parent_qc,
                                commit_qc: Some(commit_qc),
                                commit_suffix: Vec::new(),
                            },
                        }],
                        head,
                    ),
                )
            }
            5 if real.len() >= 2 => {
                let qcs: Vec<QuorumCertificate> = real
                    .iter()
                    .map(|b| b.certificates.parent_qc.clone())
                    .collect();
                for (i, item) in real.iter_mut().enumerate() {
                    item.certificates.parent_qc = qcs[(i + 1) % qcs.len()].clone();
                }
                (
                    "parent certificates shifted by one block",
                    response(real, head),
                )
            }
            6 => {
                if let Some(last) = real.last_mut() {
                    last.certificates.commit_qc = None;
                }
                (
                    "no commit certificate on the last block",
                    response(real, head),
                )
            }
            _ if real.len() >= 2 => {
                real.remove(0);
                ("a gap: the first block left out", response(real, head))
            }
            _ => {
                real[0].certificates.parent_qc =
                    self.forged_qc(real[0].certificates.parent_qc.data.clone());
                ("a forged parent certificate", response(real, head))
            }
        }
    }

    /// Corrupted-signature transactions on the committed head (for fabricated sync answers).
    fn bad_signature_transactions_on_head(&mut self) -> Vec<SignedTransaction> {
        let head = self.ledger.head().id();
        self.bad_signature_transactions(head).unwrap_or_default()
    }

    /// A block on this node's head that takes corrupted signatures as valid (so it mints), if the
    /// requester is at this node's head.
    fn fabricated_on_head(&mut self, after: Height) -> Option<CommittedBlock> {
        if after != self.ledger.head().height {
            return None;
        }
        let transactions = self.bad_signature_transactions_on_head();
        let valid = vec![true; transactions.len()];
        let round = Round(self.consensus.round().0 + 1);
        let executed =
            self.ledger
                .build_block(&[], round, TimestampMs::now(), transactions, &valid);
        let block = executed.block;
        let head = self.ledger.head();
        let parent_qc = if self.consensus.high_qc().block_id() == head.id() {
            self.consensus.high_qc().clone()
        } else {
            let data = VoteData {
                block_id: head.id(),
                round: head.round,
                height: head.height,
                state_root: head.state_root,
                parent_id: head.parent_id,
                parent_round: Round(head.round.0.saturating_sub(1)),
            };
            self.forged_qc(data)
        };
        let commit_qc = self.forged_commit_qc(&block);
        Some(CommittedBlock {
            block,
            certificates: StoredCertificates {
                parent_qc,
                commit_qc: Some(commit_qc),
                commit_suffix: Vec::new(),
            },
        })
    }

    fn serve_fetch(&mut self, to: ValidatorIndex, block_id: BlockId, count: u16) {
        let mut blocks = tenge_storage::fetch_response(
            &self.store,
            |id| self.consensus.block(id),
            block_id,
            count,
            FETCH_RESPONSE_BYTES,
        );
        if self.behaviour != Behaviour::LyingSync {
            if !blocks.is_empty() {
                self.send_consensus(to, ConsensusMessage::FetchResponse { blocks });
            }
            return;
        }
        self.lies += 1;
        let lie = match self.lies % 3 {
            _ if blocks.is_empty() => "no blocks",
            0 => {
                for item in &mut blocks {
                    if let Some((_, signature)) = item.parent_qc.signatures.first_mut() {
                        *signature = self.rng.signature();
                    }
                }
                "parent certificates with a corrupted signature"
            }
            1 => {
                let other = self.consensus.high_qc().clone();
                for item in &mut blocks {
                    item.parent_qc = other.clone();
                }
                "parent certificates of another block"
            }
            _ => {
                for item in &mut blocks {
                    item.block.header.timestamp.0 += 1;
                }
                "altered blocks"
            }
        };
        self.stats.add("fetch_lies", 1);
        eprintln!("lying-sync: answered a fetch by validator {to} with {lie}");
        self.send_consensus(to, ConsensusMessage::FetchResponse { blocks });
    }

    // ---- forged certificates ------------------------------------------------------------------

    /// Relays an honest validator's message to every honest validator with forged certificates
    /// attached. Each forgery is detectable only as invalid content from this relay, so an honest
    /// node that charges anyone else for it frames the message's author (review H4).
    fn forge_relays(&mut self, message: &ConsensusMessage) {
        let mut forged: Vec<(&'static str, ConsensusMessage)> = Vec::new();
        match message {
            ConsensusMessage::Timeout(timeout) => {
                let mut far = timeout.clone();
                far.last_tc = Some(TimeoutCertificate {
                    round: Round(u64::MAX),
                    high_qc: self.genesis_qc.clone(),
                    signatures: Vec::new(),
                });
                forged.push((
                    "a timeout with an unsigned last_tc at round u64::MAX",
                    ConsensusMessage::Timeout(far),
                ));
                let mut garbage = timeout.clone();
                let next = self.consensus.round().max(timeout.round).saturating_next();
                garbage.last_tc = Some(TimeoutCertificate {
                    round: next,
                    high_qc: timeout.high_qc.clone(),
                    signatures: (0..self.validators.quorum() as ValidatorIndex)
                        .map(|i| (i, timeout.high_qc.round(), self.rng.signature()))
                        .collect(),
                });
                forged.push((
                    "a timeout with a last_tc of garbage signatures",
                    ConsensusMessage::Timeout(garbage),
                ));
                let mut swapped = timeout.clone();
                // Same round, so the timeout's own signature still verifies; the QC does not.
                swapped.high_qc.data.block_id =
                    Domain::Block.hash(&swapped.high_qc.data.block_id.0);
                forged.push((
                    "a timeout with its high QC swapped",
                    ConsensusMessage::Timeout(swapped),
                ));
            }
            ConsensusMessage::Vote(vote) => {
                let mut altered = vote.clone();
                altered.data.state_root = Domain::Block.hash(&altered.data.state_root.0);
                forged.push((
                    "a vote with its data altered",
                    ConsensusMessage::Vote(altered),
                ));
            }
            ConsensusMessage::Proposal(proposal) => {
                let mut bad_qc = proposal.clone();
                if let Some((_, signature)) = bad_qc.parent_qc.signatures.first_mut() {
                    *signature = self.rng.signature();
                }
                forged.push((
                    "a proposal with a forged parent QC",
                    ConsensusMessage::Proposal(bad_qc),
                ));
                let mut bad_tc = proposal.clone();
                bad_tc.timeout_certificate = Some(TimeoutCertificate {
                    round: Round(proposal.round().0.saturating_sub(1)),
                    high_qc: proposal.parent_qc.clone(),
                    signatures: (0..self.validators.quorum() as ValidatorIndex)
                        .map(|i| (i, proposal.parent_qc.round(), self.rng.signature()))
                        .collect(),
                });
                forged.push((
                    "a proposal with a forged TC",
                    ConsensusMessage::Proposal(bad_tc),
                ));
            }
            _ => {}
        }
        if forged.is_empty() {
            return;
        }
        if !self.pacer.flooding() {
            // One forgery per paced turn, every kind of message and forgery in turn, so that
            // each is delivered before the honest nodes ban this relay. (Timeouts come first
            // after every pause, so without the rotation they would be the only ones forged.)
            const TURNS: [(&str, usize); 6] = [
                ("timeout", 0),
                ("proposal", 0),
                ("vote", 0),
                ("timeout", 1),
                ("proposal", 1),
                ("timeout", 2),
            ];
            let (kind, variant) = TURNS[self.forgery_turn as usize % TURNS.len()];
            let votes_come_here = self
                .validators
                .leader(self.consensus.round().saturating_next())
                == self.me;
            // Votes reach this node only for the rounds before the ones it leads: skip the
            // vote's turn rather than wait for one.
            if kind == "vote" && !votes_come_here && !matches!(message, ConsensusMessage::Vote(_)) {
                self.forgery_turn += 1;
                return;
            }
            if message.kind() != kind || !self.pacer.allow() {
                return;
            }
            self.forgery_turn += 1;
            forged = vec![forged.swap_remove(variant.min(forged.len() - 1))];
        }
        let mut targets = self.honest_validators();
        if !self.pacer.flooding() {
            // Paced: one honest validator per turn, in turn.
            self.forgery_target += 1;
            let target = targets[self.forgery_target % targets.len()];
            targets = vec![target];
        }
        for target in &targets {
            for (_, message) in &forged {
                self.send(*target, Channel::Consensus, labelled(message));
                self.stats.add("forged_messages_sent", 1);
            }
        }
        let kinds: Vec<&str> = forged.iter().map(|(kind, _)| *kind).collect();
        let to: Vec<String> = targets.iter().map(|k| k.short()).collect();
        eprintln!(
            "forged-certificates: relayed {} to {}",
            kinds.join("; "),
            to.join(", ")
        );
    }

    // ---- equivocation -------------------------------------------------------------------------

    fn sign_proposal(
        &self,
        block: Block,
        parent_qc: &QuorumCertificate,
        timeout_certificate: Option<&TimeoutCertificate>,
        author: ValidatorIndex,
    ) -> Proposal {
        let round = block.header.round;
        Proposal {
            signature: self.keypair.sign(&proposal_signing_hash(
                &self.genesis_id,
                &block.id(),
                round,
                parent_qc,
                timeout_certificate,
            )),
            block,
            parent_qc: parent_qc.clone(),
            timeout_certificate: timeout_certificate.cloned(),
            author,
        }
    }

    /// Distinct, valid proposals for the round this node leads: the same parent and
    /// certificates, different block times. Each honest validator gets a different one first,
    /// then all the others. Paced, two per round (one conflict for each honest node); then as
    /// many as `EQUIVOCATIONS_PER_ROUND`. Outside its budget it proposes honestly.
    fn equivocate(&mut self, proposal: &Proposal) {
        let round = proposal.round();
        let count = if self.pacer.flooding() {
            EQUIVOCATIONS_PER_ROUND
        } else if self.pacer.allow() {
            2
        } else {
            1
        };
        let parent_id = proposal.block.header.parent_id;
        let mut variants = vec![proposal.clone()];
        for offset in 1..count {
            let time = TimestampMs(proposal.block.header.timestamp.0 + offset);
            let Some(block) =
                self.pipeline
                    .build(&self.ledger, 0, round, parent_id, time, |_, _| {
                        (Vec::new(), Vec::new())
                    })
            else {
                break;
            };
            variants.push(self.sign_proposal(
                block,
                &proposal.parent_qc,
                proposal.timeout_certificate.as_ref(),
                self.me,
            ));
        }
        let targets = self.honest_validators();
        for (k, target) in targets.iter().enumerate() {
            let first = k % variants.len();
            let order = std::iter::once(first).chain((0..variants.len()).filter(|i| *i != first));
            for i in order {
                let message = ConsensusMessage::Proposal(Box::new(variants[i].clone()));
                self.send(*target, Channel::Consensus, labelled(&message));
            }
        }
        if variants.len() > 1 {
            self.stats.add(
                "equivocating_proposals_sent",
                (variants.len() * targets.len()) as u64,
            );
            self.stats.add("rounds_equivocated", 1);
            eprintln!(
                "equivocating-proposals: {} distinct proposals for round {round} to each honest validator",
                variants.len()
            );
        } else {
            self.stats.add("proposals_sent", 1);
        }
    }

    /// Proposals for rounds this node does not lead, signed with its own key: as itself (not the
    /// leader), or as the round's leader (a signature that does not verify). Paced, one per
    /// turn; then two for every new round.
    fn spam_proposals(&mut self) {
        let round = self.consensus.round();
        let leader = self.validators.leader(round);
        if round <= self.spam_round || leader == self.me {
            return;
        }
        let flooding = self.pacer.flooding();
        if !flooding && !self.pacer.allow() {
            return;
        }
        self.spam_round = round;
        let parent_qc = self.consensus.high_qc().clone();
        let executed = {
            let Some(ancestors) = self.ancestors(parent_qc.block_id()) else {
                return;
            };
            self.ledger
                .build_block(&ancestors, round, TimestampMs::now(), Vec::new(), &[])
        };
        let block = executed.block;
        let as_me = self.sign_proposal(block.clone(), &parent_qc, None, self.me);
        let as_leader = self.sign_proposal(block, &parent_qc, None, leader);
        let spam = if flooding {
            vec![as_me, as_leader]
        } else if round.0.is_multiple_of(2) {
            vec![as_me]
        } else {
            vec![as_leader]
        };
        for target in self.honest_validators() {
            for proposal in &spam {
                let message = ConsensusMessage::Proposal(Box::new(proposal.clone()));
                self.send(target, Channel::Consensus, labelled(&message));
                self.stats.add("spam_proposals_sent", 1);
            }
        }
    }

    // ---- the loop -----------------------------------------------------------------------------

    fn on_network(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::Message {
                from,
                channel: Channel::Consensus,
                bytes,
            } => {
                let Some(index) = self.validator_index(&from) else {
                    return;
                };
                let Ok(EpochMessage { message, .. }) = EpochMessage::from_bytes(&bytes) else {
                    self.stats.add("undecodable_received", 1);
                    return;
                };
                if self.behaviour == Behaviour::ForgedCertificates && index != self.me {
                    self.forge_relays(&message);
                }
                self.input(Input::Message {
                    from: index,
                    message,
                });
            }
            // This node proposes no client transactions: gossip is not needed.
            NetworkEvent::Message { .. } => {}
            NetworkEvent::SyncRequest { from, bytes, reply } => {
                self.serve_sync(from, &bytes, reply)
            }
            NetworkEvent::PeerConnected(key) => {
                eprintln!("peer {} connected", key.short());
                self.connected.insert(key);
            }
            NetworkEvent::PeerDisconnected(key) => {
                eprintln!("peer {} disconnected", key.short());
                self.connected.remove(&key);
            }
        }
        self.stats
            .set("peers_connected", self.connected.len() as u64);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((deadline, round))) = self.timers.peek().copied() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            self.input(Input::RoundTimerFired { round });
        }
    }

    fn next_timer(&self) -> Instant {
        self.timers.peek().map_or(
            Instant::now() + Duration::from_secs(1),
            |Reverse((d, _))| *d,
        )
    }
}

// ---- behaviours that run beside consensus ------------------------------------------------------

/// Invalid transaction batches on the gossip channel to every target, without pause.
async fn invalid_gossip(
    network: NetworkClient,
    targets: Vec<PublicKey>,
    chain_id: ChainId,
    bank: AccountId,
    stats: Arc<Stats>,
    mut pacer: Pacer,
) {
    let throwaway: Vec<Keypair> = (0..POISON_SIGNATURES)
        .map(|_| Keypair::generate().expect("key generation"))
        .collect();
    let expires_at_ms = TimestampMs(TimestampMs::now().0 + 600_000);
    let transaction = |chain_id: &ChainId, sender: AccountId, sequence: u64| Transaction {
        chain_id: chain_id.clone(),
        sender,
        sequence,
        expires_at_ms,
        payload: Payload::Transfer(Transfer {
            to: bank,
            amount: Amount::from_tiyn(1),
        }),
    };
    // A random sender at sequence 0 with 400 valid signatures by throwaway keys (review H2).
    let signers: Vec<&Keypair> = throwaway.iter().collect();
    let nobody = throwaway[0].account_id();
    let poison = tenge_crypto::sign_transaction(transaction(&chain_id, nobody, 0), &signers);
    let other_chain = ChainId::new("tenge-elsewhere").expect("valid chain id");
    let wrong_chain =
        tenge_crypto::sign_transaction(transaction(&other_chain, nobody, 0), &signers[..1]);
    let unsigned = SignedTransaction {
        transaction: transaction(&chain_id, nobody, 0),
        signatures: Vec::new(),
    };
    let over_signed = tenge_crypto::sign_transaction(
        transaction(&chain_id, nobody, 1),
        &signers[..tenge_types::transaction::MAX_SIGNATURES + 1],
    );
    let too_long: Vec<SignedTransaction> = (0..2_001)
        .map(|i| tenge_crypto::sign_transaction(transaction(&chain_id, nobody, i), &signers[..1]))
        .collect();
    let batches: Vec<(&'static str, Vec<u8>)> = vec![
        ("400 signatures", encode(&vec![poison])),
        ("another chain", encode(&vec![wrong_chain])),
        ("no signature", encode(&vec![unsigned])),
        ("17 signatures", encode(&vec![over_signed])),
        ("2001 transactions", encode(&too_long)),
    ];
    eprintln!(
        "invalid-gossip: batches of {}, garbage bytes, and frames of 17 MiB",
        batches
            .iter()
            .map(|(kind, _)| *kind)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut rng = Rng::seeded();
    let mut turn = 0u64;
    loop {
        if !pacer.flooding() && !pacer.allow() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        turn += 1;
        // Paced: every kind in turn, oversized frames included. Flooding: mostly garbage and
        // batches, an oversized frame now and then (it is 17 MiB to each peer).
        let pick = if pacer.flooding() {
            if turn.is_multiple_of(100) {
                0
            } else if turn.is_multiple_of(2) {
                1
            } else {
                2
            }
        } else {
            [0, 1, 2, 2, 2, 2, 2][(turn % 7) as usize]
        };
        let (kind, bytes) = match pick {
            // Over the receiver's frame limit (16 MiB + 64 KiB).
            0 => ("a frame of 17 MiB", vec![0x5a; 17 * 1024 * 1024]),
            1 => {
                let length = 1 + (rng.next_u64() % 300) as usize;
                ("garbage bytes", rng.bytes(length))
            }
            _ => {
                let (kind, bytes) = &batches[(turn / 2) as usize % batches.len()];
                (*kind, bytes.clone())
            }
        };
        for target in &targets {
            if network
                .send(*target, Channel::Transactions, bytes.clone())
                .await
                .is_ok()
            {
                stats.add("gossip_batches_queued", 1);
            }
        }
        if !pacer.flooding() {
            eprintln!("invalid-gossip: sent {kind} to every peer");
        }
        // Paces the flood at about 100 rounds a second: the harness shares two cores with the
        // nodes it attacks, and a busy loop here would test the CPU, not the nodes' defences.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Range-sync requests for everything to every target, as fast as they are answered or refused.
async fn sync_flood(network: NetworkClient, targets: Vec<PublicKey>, stats: Arc<Stats>) {
    let request = SyncRequest::Committed {
        after_height: Height(0),
        max_blocks: u16::MAX,
    }
    .to_bytes();
    eprintln!(
        "sync-flood: {FLOOD_REQUESTS_PER_PEER} concurrent requests after height 0 for {} blocks to each of {} peers",
        u16::MAX,
        targets.len()
    );
    let mut tasks = Vec::new();
    for target in targets {
        for _ in 0..FLOOD_REQUESTS_PER_PEER {
            let network = network.clone();
            let stats = stats.clone();
            let request = request.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    stats.add("sync_requests_sent", 1);
                    match network.request(target, request.clone()).await {
                        Ok(bytes) => {
                            stats.add("sync_requests_answered", 1);
                            stats.add("sync_response_bytes", bytes.len() as u64);
                        }
                        Err(_) => {
                            stats.add("sync_requests_refused", 1);
                            // A refusal comes back at once; without a pause this loop would
                            // only burn the cores the nodes under test share.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let genesis: Genesis = serde_json::from_str(
        &std::fs::read_to_string(&args.genesis)
            .map_err(|e| format!("cannot read {}: {e}", args.genesis.display()))?,
    )
    .map_err(|e| format!("invalid genesis: {e}"))?;
    let keypair = tenge_crypto::read_key_file(&args.key)
        .map_err(|e| format!("cannot read key {}: {e}", args.key.display()))?;
    let validators =
        ValidatorSet::new(genesis.validators.iter().map(|v| v.consensus_key).collect());
    let me = validators
        .keys
        .iter()
        .position(|k| *k == keypair.public_key())
        .ok_or("the key is not a validator's in the genesis")? as ValidatorIndex;
    let ledger = Ledger::from_genesis(&genesis).map_err(|e| format!("genesis: {e}"))?;
    let genesis_block = Block {
        header: ledger.head().clone(),
        transactions: vec![],
    };
    let store = MemoryStore::new();
    store
        .initialize(genesis.hash(), &genesis_block, &ledger.state().entries())
        .map_err(|e| format!("store: {e}"))?;
    let genesis_qc = QuorumCertificate::genesis(&genesis_block);
    let consensus = Consensus::new(
        Config {
            round_timeout_base_ms: args.round_timeout_base_ms,
            ..Config::default()
        },
        me,
        Keypair::from_secret(keypair.secret_bytes()),
        validators.clone(),
        &genesis_block,
        Recovery {
            committed: BlockWithParentQc {
                block: genesis_block.clone(),
                parent_qc: genesis_qc.clone(),
            },
            commit_certificate: None,
            safety: SafetyData::default(),
            pending: Vec::new(),
        },
    );

    let mut peers = PeerConfig::genesis_validators(&genesis);
    peers.extend(args.peers.iter().cloned());
    let (network, mut events) = tenge_network::start(NetworkConfig {
        secret_key: keypair.secret_bytes(),
        listen_address: args.listen.clone(),
        peers,
        limits: NetworkLimits {
            max_message_bytes: HARNESS_MAX_MESSAGE_BYTES,
            ..NetworkLimits::default()
        },
    })
    .await
    .map_err(|e| format!("network: {e}"))?;

    let bank = genesis.banks.first().ok_or("the genesis has no bank")?;
    let other_bank = genesis.banks.get(1).unwrap_or(bank);
    let victims = Victims {
        bank: AccountId::for_key(&bank.key),
        bank_key: bank.key,
        other_bank: AccountId::for_key(&other_bank.key),
        central_bank: genesis.officers.account_id(),
        officer_keys: genesis.officers.keys.clone(),
    };
    let stats = Arc::new(Stats::default());
    let (internal, mut internal_events) = mpsc::channel(64);
    let mut others: Vec<PublicKey> = validators
        .keys
        .iter()
        .copied()
        .filter(|k| *k != keypair.public_key())
        .collect();
    others.extend(args.peers.iter().map(|p| p.key));
    let mut harness = Harness {
        behaviour: args.behaviour,
        me,
        validators: validators.clone(),
        chain_id: genesis.chain_id.clone(),
        genesis_id: genesis_block.id(),
        victims,
        consensus,
        ledger,
        store,
        pipeline: Pipeline::default(),
        verified: VerifiedSet::new(100_000),
        network: network.clone(),
        genesis_qc: genesis_qc.clone(),
        timers: BinaryHeap::new(),
        local: VecDeque::new(),
        sync_verifier: Verifier::new(validators, genesis_qc),
        sync_buffer: RangeBuffer::new(64 << 20),
        sync_in_flight: None,
        sync_cursor: 0,
        internal,
        connected: HashSet::new(),
        stats: stats.clone(),
        rng: Rng::seeded(),
        bad_counter: 0,
        lies: 0,
        spam_round: Round(0),
        forgery_turn: 0,
        forgery_target: 0,
        pacer: Pacer::new(
            args.duration,
            if args.behaviour == Behaviour::ForgedCertificates {
                PACED_FORGERY_INTERVAL
            } else {
                PACED_INTERVAL
            },
        ),
        keypair,
    };
    eprintln!(
        "byzantine validator {me} ({}) on {} for {:?}: {}",
        harness.keypair.public_key().short(),
        args.listen,
        args.duration,
        args.behaviour.name()
    );

    let mut background = Vec::new();
    match args.behaviour {
        Behaviour::InvalidGossip => background.push(tokio::spawn(invalid_gossip(
            network.clone(),
            others.clone(),
            harness.chain_id.clone(),
            harness.victims.bank,
            stats.clone(),
            Pacer::new(args.duration, PACED_INTERVAL),
        ))),
        Behaviour::SyncFlood => background.push(tokio::spawn(sync_flood(
            network.clone(),
            others.clone(),
            stats.clone(),
        ))),
        _ => {}
    }

    harness.input(Input::Start);
    let deadline = tokio::time::Instant::now() + args.duration;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut last_report = Instant::now();
    loop {
        let next_timer = tokio::time::Instant::from_std(harness.next_timer());
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            event = events.recv() => match event {
                Some(event) => harness.on_network(event),
                None => return Err("the network task stopped".into()),
            },
            Some(Internal::SyncResult { from, result }) = internal_events.recv() => {
                harness.on_sync_result(from, result);
            }
            _ = tokio::time::sleep_until(next_timer) => harness.fire_timers(),
            _ = tick.tick() => {
                harness.maybe_sync();
                if harness.behaviour == Behaviour::EquivocatingProposals {
                    harness.spam_proposals();
                }
                if last_report.elapsed() >= Duration::from_secs(2) {
                    last_report = Instant::now();
                    harness.stats.set("round", harness.consensus.round().0);
                    eprintln!("{}", harness.stats.line(harness.behaviour));
                }
            }
        }
    }
    for task in background {
        task.abort();
    }
    harness.stats.set("round", harness.consensus.round().0);
    eprintln!("{}", harness.stats.line(harness.behaviour));
    eprintln!("byzantine: {} done", args.behaviour.name());
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("byzantine: {error}");
            std::process::exit(2);
        }
    };
    if let Err(error) = run(args).await {
        eprintln!("byzantine: {error}");
        std::process::exit(1);
    }
}
