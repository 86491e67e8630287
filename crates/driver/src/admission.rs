//! Admission: what every transaction passes before it enters a mempool, whoever sent it (a client
//! through the API, or a peer through gossip). Cheap checks come first, against the committed
//! state, and only what passes them has its signatures verified: an anonymous client or a faulty
//! peer cannot make a node verify signatures of transactions that could never apply (security
//! review H2, H7).

use tenge_ledger::{CheckedTransaction, Ledger, check_transactions};
use tenge_types::transaction::MAX_TRANSACTION_BYTES;
use tenge_types::{Rejection, RejectionCode, SignedTransaction, TimestampMs};

/// Why a transaction did not pass the cheap checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Broken whatever the state: oversized, malformed, or for another chain. An honest node
    /// never relays such a transaction, so a peer that does is penalised.
    Malformed(Rejection),
    /// Would be rejected on the committed state (unknown sender, sequence used, keys not
    /// authorised, a policy rule). Honest peers may see another state: dropped, no penalty.
    Rejected(Rejection),
}

/// How a transaction that passed the cheap checks stands against the committed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Its sequence is the sender's next: a block can take it now.
    Next,
    /// Its sequence is ahead of the sender's next: it waits for earlier ones in flight.
    Ahead,
}

/// The cheap checks, in order: encoded size, structure and chain (state-free), then a dry run on
/// the committed state with the signatures taken as valid. A sequence number ahead of the next
/// passes (as `Readiness::Ahead`): the sender may have earlier ones in flight.
pub fn precheck(
    ledger: &Ledger,
    tx: &SignedTransaction,
    now: TimestampMs,
) -> Result<Readiness, Refusal> {
    let size = tx.encoded_len();
    if size > MAX_TRANSACTION_BYTES {
        return Err(Refusal::Malformed(Rejection::new(
            RejectionCode::MalformedTransaction,
            format!("transaction is {size} bytes; at most {MAX_TRANSACTION_BYTES} are allowed"),
        )));
    }
    tx.check_structure().map_err(|reason| {
        Refusal::Malformed(Rejection::new(RejectionCode::MalformedTransaction, reason))
    })?;
    if tx.transaction.chain_id != *ledger.chain_id() {
        return Err(Refusal::Malformed(Rejection::new(
            RejectionCode::WrongChain,
            format!(
                "transaction is for chain {}, this is {}",
                tx.transaction.chain_id,
                ledger.chain_id()
            ),
        )));
    }
    match ledger.dry_run(tx, true, now) {
        Ok(()) => Ok(Readiness::Next),
        Err(rejection) if rejection.code == RejectionCode::SequenceTooHigh => Ok(Readiness::Ahead),
        Err(rejection) => Err(Refusal::Rejected(rejection)),
    }
}

/// What a gossip batch from a peer gave: the transactions to offer to the mempool, and why the
/// peer should be penalised, if it should.
#[derive(Debug, Default)]
pub struct GossipVerdict {
    pub admitted: Vec<CheckedTransaction>,
    /// Transactions no honest node relays (malformed, wrong chain, bad signatures).
    pub malformed: usize,
    pub bad_signatures: usize,
    /// Transactions that would not apply on this node's committed state (no penalty).
    pub stale: usize,
}

impl GossipVerdict {
    pub fn penalty(&self) -> Option<String> {
        match (self.malformed, self.bad_signatures) {
            (0, 0) => None,
            (malformed, bad) => Some(format!(
                "gossip with {malformed} malformed transactions and {bad} with invalid signatures"
            )),
        }
    }
}

/// Most transactions in one gossip batch.
pub const GOSSIP_BATCH: usize = 2_000;
/// Most bytes of a gossip batch accepted from a peer.
pub const MAX_GOSSIP_BYTES: usize = 16 * 1024 * 1024;

/// Decodes a gossip batch off the wire, with the size and length limits every node applies. An
/// error is the sender's fault (no honest node sends it).
pub fn decode_gossip(bytes: &[u8]) -> Result<Vec<SignedTransaction>, String> {
    let transactions: Vec<SignedTransaction> =
        tenge_types::decode("transaction batch", bytes, MAX_GOSSIP_BYTES)
            .map_err(|error| format!("undecodable transaction batch: {error}"))?;
    if transactions.len() > GOSSIP_BATCH {
        return Err("transaction batch too long".into());
    }
    Ok(transactions)
}

/// Checks a decoded gossip batch: cheap checks against the committed state first, then the
/// signatures of what passed, in a batch (without holding the ledger's lock).
pub fn check_gossip(
    ledger: &std::sync::RwLock<Ledger>,
    transactions: Vec<SignedTransaction>,
    now: TimestampMs,
    threads: usize,
) -> GossipVerdict {
    let (mut verdict, passed) = {
        let ledger = ledger.read().expect("ledger lock");
        precheck_gossip(&ledger, transactions, now)
    };
    verify_gossip(&mut verdict, passed, threads);
    verdict
}

/// [`check_gossip`] on a ledger without a lock (the simulator's).
pub fn check_gossip_on(
    ledger: &Ledger,
    transactions: Vec<SignedTransaction>,
    now: TimestampMs,
    threads: usize,
) -> GossipVerdict {
    let (mut verdict, passed) = precheck_gossip(ledger, transactions, now);
    verify_gossip(&mut verdict, passed, threads);
    verdict
}

fn precheck_gossip(
    ledger: &Ledger,
    transactions: Vec<SignedTransaction>,
    now: TimestampMs,
) -> (GossipVerdict, Vec<SignedTransaction>) {
    let mut verdict = GossipVerdict::default();
    let passed = transactions
        .into_iter()
        .filter(|tx| match precheck(ledger, tx, now) {
            Ok(_) => true,
            Err(Refusal::Malformed(_)) => {
                verdict.malformed += 1;
                false
            }
            Err(Refusal::Rejected(_)) => {
                verdict.stale += 1;
                false
            }
        })
        .collect();
    (verdict, passed)
}

fn verify_gossip(verdict: &mut GossipVerdict, passed: Vec<SignedTransaction>, threads: usize) {
    for checked in check_transactions(passed, threads) {
        if checked.valid {
            verdict.admitted.push(checked);
        } else {
            verdict.bad_signatures += 1;
        }
    }
}

/// How much waiting work the admission mark allows: about this long of what the chain commits.
pub const ADMISSION_QUEUE: std::time::Duration = std::time::Duration::from_secs(3);
/// The mark never falls below this (a quiet chain, or one starting up, commits little).
pub const ADMISSION_FLOOR: usize = 5_000;
/// The commits the rate is measured over.
pub const RATE_WINDOW: std::time::Duration = std::time::Duration::from_secs(3);

/// The admission mark, following the chain (N3): client transactions are refused (503) while
/// the mempool holds about `ADMISSION_QUEUE` of what the chain committed over the last
/// `RATE_WINDOW`, at least `ADMISSION_FLOOR` and at most the configured ceiling
/// (`mempool_admission_max_txs`). A fixed count means seconds of queue on a slow machine and
/// too little on a fast one: what is admitted waits about `ADMISSION_QUEUE` at most for its
/// block. One second throttled a 10,000 tx/s load that the chain carried (its pipeline holds
/// about 0.6 s, and a slow round doubles that), and two still did on a noisy machine, where
/// the clients' back-offs then put seconds on the tail; three match the old fixed mark at that
/// rate and still shrink when the chain slows (D58).
#[derive(Debug, Default)]
pub struct AdmissionMark {
    /// (when, transactions) of each commit within the window, oldest first.
    commits: std::collections::VecDeque<(std::time::Instant, u64)>,
    in_window: u64,
}

impl AdmissionMark {
    /// Counts a committed block's transactions.
    pub fn record(&mut self, at: std::time::Instant, transactions: u64) {
        self.commits.push_back((at, transactions));
        self.in_window += transactions;
        self.forget_before(at);
    }

    fn forget_before(&mut self, now: std::time::Instant) {
        while let Some(&(at, transactions)) = self.commits.front() {
            if now.saturating_duration_since(at) <= RATE_WINDOW {
                break;
            }
            self.commits.pop_front();
            self.in_window -= transactions;
        }
    }

    /// The mark at `now`, for a configured ceiling.
    pub fn mark(&mut self, now: std::time::Instant, ceiling: usize) -> usize {
        self.forget_before(now);
        let per_second = self.in_window as f64 / RATE_WINDOW.as_secs_f64();
        let queue = (per_second * ADMISSION_QUEUE.as_secs_f64()) as usize;
        queue.max(ADMISSION_FLOOR).min(ceiling)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::RwLock;

    use super::*;
    use crate::mempool::{BlockBudget, Mempool};
    use tenge_crypto::{Keypair, sign_transaction};
    use tenge_ledger::testkit::{TestNetwork, test_key};
    use tenge_types::transaction::{Issue, Transfer};
    use tenge_types::{Amount, Payload, Round};

    #[test]
    fn gossip_that_does_not_decode_within_the_limits_is_the_senders_fault() {
        let net = TestNetwork::new(1, 4);
        let tx = net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tiyn(100),
            }),
        );
        let batch = |count: usize| tenge_types::encode(&vec![tx.clone(); count]);

        let full = decode_gossip(&batch(GOSSIP_BATCH)).expect("a full batch decodes");
        assert_eq!(full.len(), GOSSIP_BATCH);
        assert_eq!(full[0], tx);

        let refusals = [
            ("random bytes", vec![0x13, 0x37, 0x00, 0xff, 0x42]),
            // A length prefix claiming ~2^28 transactions, with nothing behind it.
            ("a length no bytes back", vec![0xff, 0xff, 0xff, 0x7f]),
            ("trailing bytes", [batch(1), vec![0]].concat()),
            ("a truncated batch", batch(2)[..batch(2).len() - 1].to_vec()),
        ];
        for (what, bytes) in refusals {
            let error = decode_gossip(&bytes).expect_err(what);
            assert!(
                error.starts_with("undecodable transaction batch"),
                "{what}: {error}"
            );
        }
        assert_eq!(
            decode_gossip(&batch(GOSSIP_BATCH + 1)).expect_err("one over the batch limit"),
            "transaction batch too long"
        );
        let oversized = vec![0u8; MAX_GOSSIP_BYTES + 1];
        assert!(decode_gossip(&oversized).is_err(), "over the byte limit");
    }

    #[test]
    fn n3_the_admission_mark_is_a_queue_of_recent_commits_between_floor_and_ceiling() {
        let start = std::time::Instant::now();
        let second = std::time::Duration::from_secs(1);
        let mut mark = AdmissionMark::default();
        assert_eq!(
            mark.mark(start, 30_000),
            ADMISSION_FLOOR,
            "nothing committed yet"
        );
        assert_eq!(
            mark.mark(start, 1_000),
            1_000,
            "the ceiling wins over the floor"
        );
        // 12,000 transactions a second for three seconds.
        for tick in 0..30 {
            mark.record(start + second * tick / 10, 1_200);
        }
        let now = start + second * 3;
        let expected = (12_000.0 * ADMISSION_QUEUE.as_secs_f64()) as usize;
        assert_eq!(mark.mark(now, 100_000), expected);
        assert_eq!(mark.mark(now, 10_000), 10_000);
        // The chain stops committing: the window empties and the floor is left.
        assert_eq!(
            mark.mark(now + RATE_WINDOW + second, 30_000),
            ADMISSION_FLOOR
        );
    }

    /// H2: a listed peer gossips a transaction that no block can carry: a random sender,
    /// sequence 0, 400 valid signatures by throwaway keys (about 38 KB, over the 32 KiB a block
    /// allows per transaction). It must not reach the mempool, the peer is penalised, and what
    /// the mempool then gives a leader always makes a well-formed block.
    #[test]
    fn h2_gossip_refuses_transactions_no_block_can_carry() {
        let net = TestNetwork::new(2, 4);
        let ledger = RwLock::new(tenge_ledger::Ledger::from_genesis(&net.genesis).unwrap());
        let throwaway: Vec<Keypair> = (0..400)
            .map(|i| test_key(&format!("throwaway-{i}")))
            .collect();
        let signers: Vec<&Keypair> = throwaway.iter().collect();
        let poison = sign_transaction(
            net.transaction(
                test_key("nobody").account_id(),
                0,
                Payload::Transfer(Transfer {
                    to: net.bank(1),
                    amount: Amount::from_tiyn(1),
                }),
            ),
            &signers,
        );
        assert!(poison.encoded_len() > MAX_TRANSACTION_BYTES);
        let honest = net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tiyn(100),
            }),
        );
        let now = net.genesis.genesis_time;
        let verdict = check_gossip(&ledger, vec![poison.clone(), honest.clone()], now, 2);
        assert!(
            verdict.admitted.iter().all(|c| c.tx != poison),
            "a transaction no block can carry was admitted from gossip"
        );
        assert!(
            verdict.penalty().is_some(),
            "the relaying peer goes unpunished"
        );
        assert!(verdict.admitted.iter().any(|c| c.tx == honest));

        // Whatever was admitted, the leader's block is well formed.
        let mut pool = Mempool::new(100);
        for checked in verdict.admitted {
            pool.insert(checked.tx, 0, std::time::Instant::now())
                .unwrap();
        }
        let transactions = pool.select(BlockBudget::default(), &HashSet::new(), |_| 0);
        let valid = vec![true; transactions.len()];
        let ledger = ledger.read().unwrap();
        let executed = ledger.build_block(&[], Round(1), now, transactions, &valid);
        executed
            .block
            .check_structure()
            .expect("the mempool gave a leader a block its peers refuse");
    }
}
