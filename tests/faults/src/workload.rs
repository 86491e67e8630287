//! The transfer workload: the two devnet banks pay each other, one transaction at a time,
//! through the API of every node in turn, and every hash acknowledged with 202 is recorded.
//!
//! The transaction for a (bank, sequence) pair is a pure function of the pair: resubmitting
//! after a timeout, or to another node, sends the very same bytes, so the workload never creates
//! two transactions competing for one sequence. Whatever the network does, each acknowledged
//! transaction must therefore commit exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tenge_api::views::TransactionStatus;
use tenge_api::{Client, ClientError};
use tenge_crypto::Keypair;
use tenge_types::transaction::{Issue, Transfer};
use tenge_types::{AccountId, Amount, ChainId, HashValue, Payload, TimestampMs, Transaction};

use crate::cluster::{API_TIMEOUT, FaultCluster};

/// What each bank receives from the central bank before the transfers start.
pub const FUNDING_TENGE: u64 = 1_000_000;

/// A transaction some node answered 202 for.
#[derive(Clone, Debug)]
pub struct Acknowledged {
    pub hash: HashValue,
    /// 0 or 1: which bank sent it.
    pub bank: usize,
    pub sequence: u64,
    /// The node that acknowledged it first.
    pub node: usize,
    pub at: Instant,
}

/// Something the workload saw that can only be a node bug; the checker fails on any.
#[derive(Clone, Debug)]
pub struct Anomaly {
    pub node: usize,
    pub description: String,
}

#[derive(Default)]
struct Record {
    acknowledged: Vec<Acknowledged>,
    anomalies: Vec<Anomaly>,
    /// Refusals and failures by kind, for the report.
    failures: std::collections::BTreeMap<String, u64>,
}

/// What the workload did, once stopped.
#[derive(Debug)]
pub struct WorkloadReport {
    pub acknowledged: Vec<Acknowledged>,
    pub anomalies: Vec<Anomaly>,
    pub failures: std::collections::BTreeMap<String, u64>,
    pub banks: [AccountId; 2],
    pub funded_tiyn: u64,
}

pub struct Workload {
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    banks: [AccountId; 2],
    funded_tiyn: u64,
}

/// The signed transfer of `bank` at `sequence`: always the same bytes for the same pair.
fn transfer(
    chain_id: &ChainId,
    banks: &[Keypair; 2],
    bank: usize,
    sequence: u64,
    expires_at_ms: TimestampMs,
) -> tenge_types::SignedTransaction {
    let tx = Transaction {
        chain_id: chain_id.clone(),
        sender: banks[bank].account_id(),
        sequence,
        expires_at_ms,
        payload: Payload::Transfer(Transfer {
            to: banks[1 - bank].account_id(),
            amount: Amount::from_tiyn(100 + sequence % 900),
        }),
    };
    tenge_crypto::sign_transaction(tx, &[&banks[bank]])
}

/// A short name for a failed submission, for the report.
fn failure_kind(error: &ClientError) -> String {
    match error {
        ClientError::Unreachable { .. } => "unreachable".into(),
        ClientError::Api(detail) => match &detail.name {
            Some(name) => format!("{} {name}", detail.status),
            None => format!("{} {}", detail.status, detail.kind),
        },
        ClientError::Protocol { .. } => "protocol".into(),
    }
}

impl Workload {
    /// Funds both banks (officers 1 and 2 sign) through node `via`, waits for the issuances to
    /// commit, then starts submitting about `per_second` transfers a second.
    pub async fn start(cluster: &FaultCluster, via: usize, per_second: u32) -> Workload {
        let client = cluster.client(via).clone();
        let status = client.status().await.expect("status");
        let chain_id = ChainId::new(&status.chain_id).expect("chain id");
        let read = |name: &str| tenge_crypto::read_key_file(&cluster.key(name)).expect("key");
        let officers = [read("officer-1"), read("officer-2")];
        let banks = [read("bank-1"), read("bank-2")];
        let central_bank: AccountId = client
            .supply()
            .await
            .expect("supply")
            .central_bank
            .parse()
            .expect("central bank id");
        let cb_sequence = client
            .account(&central_bank)
            .await
            .map(|a| a.sequence)
            .unwrap_or(0);
        let expires_at_ms = tenge_tests::cluster::expiry_in_an_hour();
        let amount = Amount::from_tenge(FUNDING_TENGE).expect("fits");
        let mut last = None;
        for (i, bank) in banks.iter().enumerate() {
            let tx = Transaction {
                chain_id: chain_id.clone(),
                sender: central_bank,
                sequence: cb_sequence + i as u64,
                expires_at_ms,
                payload: Payload::Issue(Issue {
                    to: bank.account_id(),
                    amount,
                }),
            };
            let signed = tenge_crypto::sign_transaction(tx, &[&officers[0], &officers[1]]);
            last = Some(client.submit(&signed).await.expect("issuance accepted"));
        }
        let view = client
            .wait_final(&last.expect("two issuances"), Duration::from_secs(60))
            .await
            .expect("issuance final");
        assert_eq!(
            view.status,
            TransactionStatus::Committed,
            "funding: {view:?}"
        );
        let mut sequences = [0u64; 2];
        for (i, bank) in banks.iter().enumerate() {
            sequences[i] = client
                .account(&bank.account_id())
                .await
                .expect("bank account")
                .sequence;
        }
        let record = Arc::new(Mutex::new(Record::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<Client> = (0..cluster.len())
            .map(|i| cluster.client(i).clone())
            .collect();
        let bank_ids = [banks[0].account_id(), banks[1].account_id()];
        let task = tokio::spawn(submit_loop(
            clients,
            chain_id,
            banks,
            sequences,
            expires_at_ms,
            per_second,
            record.clone(),
            stop.clone(),
        ));
        Workload {
            record,
            stop,
            task,
            banks: bank_ids,
            funded_tiyn: 2 * amount.tiyn(),
        }
    }

    /// How many transactions were acknowledged at or after `since`.
    pub fn acknowledged_since(&self, since: Instant) -> Vec<Acknowledged> {
        let record = self.record.lock().expect("record");
        record
            .acknowledged
            .iter()
            .filter(|a| a.at >= since)
            .cloned()
            .collect()
    }

    pub fn acknowledged_count(&self) -> usize {
        self.record.lock().expect("record").acknowledged.len()
    }

    pub async fn stop(self) -> WorkloadReport {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("workload task");
        let record = std::mem::take(&mut *self.record.lock().expect("record"));
        WorkloadReport {
            acknowledged: record.acknowledged,
            anomalies: record.anomalies,
            failures: record.failures,
            banks: self.banks,
            funded_tiyn: self.funded_tiyn,
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn submit_loop(
    clients: Vec<Client>,
    chain_id: ChainId,
    banks: [Keypair; 2],
    mut sequences: [u64; 2],
    expires_at_ms: TimestampMs,
    per_second: u32,
    record: Arc<Mutex<Record>>,
    stop: Arc<AtomicBool>,
) {
    let mut pace = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = 0usize;
    let mut bank = 0usize;
    // Hashes already acknowledged, so that a resubmission acknowledged again is not counted twice.
    let mut seen = std::collections::HashSet::new();
    while !stop.load(Ordering::SeqCst) {
        pace.tick().await;
        let node = turn % clients.len();
        let client = &clients[node];
        let signed = transfer(&chain_id, &banks, bank, sequences[bank], expires_at_ms);
        let hash = signed.hash();
        let answer = tokio::time::timeout(API_TIMEOUT, client.submit(&signed)).await;
        let note_failure = |kind: String| {
            *record
                .lock()
                .expect("record")
                .failures
                .entry(kind)
                .or_default() += 1;
        };
        match answer {
            Ok(Ok(acknowledged)) => {
                if acknowledged != hash {
                    record.lock().expect("record").anomalies.push(Anomaly {
                        node,
                        description: format!("submitted {hash}, acknowledged as {acknowledged}"),
                    });
                }
                if seen.insert(hash) {
                    record
                        .lock()
                        .expect("record")
                        .acknowledged
                        .push(Acknowledged {
                            hash,
                            bank,
                            sequence: sequences[bank],
                            node,
                            at: Instant::now(),
                        });
                }
                sequences[bank] += 1;
                bank = 1 - bank;
            }
            Ok(Err(ClientError::Api(detail)))
                if detail.name.as_deref() == Some("SequenceAlreadyUsed") =>
            {
                // The ledger of this node is past the sequence: only our own transaction can
                // have used it (an earlier attempt that timed out yet got in).
                note_failure("409 SequenceAlreadyUsed".into());
                let view = tokio::time::timeout(API_TIMEOUT, client.transaction(&hash)).await;
                match view {
                    Ok(Ok(view)) if view.status == TransactionStatus::Committed => {
                        sequences[bank] += 1;
                        bank = 1 - bank;
                    }
                    Ok(Ok(view)) => {
                        record.lock().expect("record").anomalies.push(Anomaly {
                            node,
                            description: format!(
                                "bank-{} sequence {} is used, but its only transaction {hash} is \
                                 {view:?}",
                                bank + 1,
                                sequences[bank]
                            ),
                        });
                        sequences[bank] += 1;
                        bank = 1 - bank;
                    }
                    // Not known there (yet?): ask again, through the next node.
                    _ => {}
                }
            }
            // Refused or unanswered: the same bytes go to the next node.
            Ok(Err(error)) => note_failure(failure_kind(&error)),
            Err(_) => note_failure("timeout".into()),
        }
        turn += 1;
    }
}
