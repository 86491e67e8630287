//! [`EngineHandle`]: what the API holds to talk to a running engine. Client admission runs
//! here, on the API's threads: the cheap checks, then the signatures, then the engine thread.

use std::sync::{Arc, RwLock};

use tenge_ledger::Ledger;
use tenge_storage::Store as _;
use tenge_storage::{RocksStore, TransactionRecord};
use tenge_types::{Genesis, HashValue, SignedTransaction, TimestampMs};
use tokio::sync::{broadcast, oneshot, watch};

use crate::ingress::EngineEvent;
use crate::{CommitEvent, Counters, MempoolError, Metrics, Status, SubmitError, admission};

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    Pending,
    Committed(TransactionRecord),
    Unknown,
}

/// What the API holds to talk to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) events: std::sync::mpsc::SyncSender<EngineEvent>,
    pub ledger: Arc<RwLock<Ledger>>,
    pub store: Arc<RocksStore>,
    pub status: watch::Receiver<Status>,
    pub commits: broadcast::Sender<CommitEvent>,
    pub counters: Arc<Counters>,
    /// Every metric of the node, libp2p's included (`GET /metrics`).
    pub metrics: Arc<Metrics>,
    pub genesis: Arc<Genesis>,
    pub verify_threads: usize,
    /// Client signature checks run one batch at a time (each on `verify_threads` threads):
    /// concurrent submissions queue here instead of competing for the cores with consensus.
    pub verification: Arc<tokio::sync::Semaphore>,
}

impl EngineHandle {
    /// Whether a submission would be refused whole, answered before its body is decoded: the
    /// mempool is at the admission mark and no sender waits behind a gap, so nothing can come
    /// in (N3; [`submit`](Self::submit) says the same of each transaction).
    pub fn over_mark(&self) -> Option<SubmitError> {
        let waiting = self.counters.waiting();
        let mark = self
            .counters
            .admission_mark
            .load(std::sync::atomic::Ordering::Relaxed);
        let no_gaps = self
            .counters
            .senders_waiting_for_gap
            .read()
            .expect("gap set lock")
            .is_empty();
        (waiting >= mark && no_gaps).then_some(SubmitError::Mempool(MempoolError::Full(waiting)))
    }

    /// Admits client transactions: the cheap checks first (size, structure, chain, a dry run on
    /// the committed state), then the signatures of what passed, in a batch off the async
    /// threads, then the mempool. One result per transaction, in order.
    pub async fn submit(
        &self,
        transactions: Vec<SignedTransaction>,
    ) -> Vec<Result<HashValue, SubmitError>> {
        let now = TimestampMs::now();
        // Over the admission mark only a transaction that fills a sequence gap comes in (the
        // sender's next sequence, with later ones of the sender waiting in the mempool): without
        // it those could never leave. Everything else is refused before its signatures are
        // checked, a new sender's first transaction too (N3).
        let waiting = self.counters.waiting();
        let mark = self
            .counters
            .admission_mark
            .load(std::sync::atomic::Ordering::Relaxed);
        let crowded = waiting >= mark;

        let mut results: Vec<Option<Result<HashValue, SubmitError>>> =
            Vec::with_capacity(transactions.len());
        let mut passed = Vec::new();
        {
            let ledger = self.ledger.read().expect("ledger lock");
            let gaps = crowded.then(|| {
                self.counters
                    .senders_waiting_for_gap
                    .read()
                    .expect("gap set lock")
            });
            for tx in transactions {
                match admission::precheck(&ledger, &tx, now) {
                    Ok(readiness)
                        if gaps.as_ref().is_some_and(|gaps| {
                            readiness == admission::Readiness::Ahead
                                || !gaps.contains(&tx.transaction.sender)
                        }) =>
                    {
                        results.push(Some(Err(SubmitError::Mempool(MempoolError::Full(waiting)))));
                    }
                    Ok(_) => {
                        results.push(None);
                        passed.push(tx);
                    }
                    Err(admission::Refusal::Malformed(rejection))
                        if rejection.code == tenge_types::RejectionCode::WrongChain =>
                    {
                        results.push(Some(Err(SubmitError::WrongChain(
                            tx.transaction.chain_id.to_string(),
                        ))));
                    }
                    Err(
                        admission::Refusal::Malformed(rejection)
                        | admission::Refusal::Rejected(rejection),
                    ) => results.push(Some(Err(SubmitError::Rejected(rejection)))),
                }
            }
        }
        let threads = self.verify_threads;
        let Ok(turn) = self.verification.clone().acquire_owned().await else {
            return vec![Err(SubmitError::Stopped)];
        };
        let checked =
            tokio::task::spawn_blocking(move || tenge_ledger::check_transactions(passed, threads))
                .await;
        // The turn bounds the cores spent on checks; the wait for the engine below needs none.
        drop(turn);
        let Ok(checked) = checked else {
            return vec![Err(SubmitError::Stopped)];
        };
        let mut admitted = Vec::new();
        let mut verdicts = checked.into_iter();
        let mut waiting = Vec::new();
        for (index, slot) in results.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let checked = verdicts
                .next()
                .expect("one verdict per transaction that passed");
            if checked.valid {
                waiting.push(index);
                admitted.push(checked);
            } else {
                *slot = Some(Err(SubmitError::InvalidSignature));
            }
        }
        if !admitted.is_empty() {
            let (reply, answer) = oneshot::channel();
            let outcome = match self.events.try_send(EngineEvent::Submit {
                transactions: admitted,
                reply,
            }) {
                Ok(()) => answer
                    .await
                    .unwrap_or_else(|_| vec![Err(SubmitError::Stopped)]),
                Err(std::sync::mpsc::TrySendError::Full(_)) => vec![Err(SubmitError::Overloaded)],
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
                    vec![Err(SubmitError::Stopped)]
                }
            };
            let mut outcome = outcome.into_iter();
            let mut last = Err(SubmitError::Stopped);
            for index in waiting {
                // A refusal of the whole set (overloaded, stopped) answers every transaction.
                let result = outcome.next().unwrap_or_else(|| last.clone());
                last = result.clone();
                results[index] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect()
    }

    /// Pending in the mempool, committed (with outcome), or unknown to this node.
    pub async fn transaction_status(&self, hash: HashValue) -> TransactionStatus {
        if let Ok(Some(record)) = self.store.transaction(&hash) {
            return TransactionStatus::Committed(record);
        }
        let (reply, answer) = oneshot::channel();
        if self
            .events
            .try_send(EngineEvent::IsPending { hash, reply })
            .is_err()
        {
            return TransactionStatus::Unknown;
        }
        match answer.await {
            Ok(true) => TransactionStatus::Pending,
            _ => match self.store.transaction(&hash) {
                Ok(Some(record)) => TransactionStatus::Committed(record),
                _ => TransactionStatus::Unknown,
            },
        }
    }

    /// Asks the engine thread to stop; returns when it has.
    pub fn shutdown(&self) {
        let (reply, answer) = std::sync::mpsc::channel();
        if self.events.send(EngineEvent::Shutdown { reply }).is_ok() {
            // An error means the engine thread ended without answering: stopped all the same.
            let _ = answer.recv();
        }
    }
}
