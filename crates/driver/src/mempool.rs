//! The mempool: signature-checked transactions waiting for a block.
//!
//! Deduplicated by transaction id, ordered per sender by sequence number, bounded in size. A
//! transaction whose sequence number is already used on the committed ledger is refused at the
//! door and evicted after every commit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use tenge_types::block::MAX_BLOCK_BYTES;
use tenge_types::{AccountId, HashValue, SignedTransaction};

/// Why the mempool refused a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("mempool full: {0} transactions are waiting; try again shortly")]
    Full(usize),
    #[error("sequence {sequence} was already used; the sender's next is {next}")]
    SequenceUsed { sequence: u64, next: u64 },
    #[error("sequence {sequence} is more than {window} ahead of the sender's next ({next})")]
    SequenceTooFarAhead {
        sequence: u64,
        next: u64,
        window: u64,
    },
    /// Another transaction of the same sender with the same sequence is waiting: only one of
    /// them can ever commit, so the second is refused at once rather than accepted and lost.
    #[error(
        "sequence {sequence} is taken by pending transaction {pending}; wait for it, or use the \
         next free sequence"
    )]
    SequencePending { sequence: u64, pending: HashValue },
}

/// How much of a block the mempool may fill: a transaction count and encoded bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockBudget {
    pub transactions: usize,
    pub bytes: usize,
}

/// Bytes of transactions in one block: the block limit less room for the header and for the
/// certificates a proposal carries (a QC and a TC, about 100 bytes per validator each), so that
/// every proposal fits a network message (security review H3).
pub const BLOCK_TRANSACTION_BYTES: usize = MAX_BLOCK_BYTES - 256 * 1024;

impl Default for BlockBudget {
    fn default() -> BlockBudget {
        BlockBudget {
            transactions: 10_000,
            bytes: BLOCK_TRANSACTION_BYTES,
        }
    }
}

/// How far ahead of the committed sequence a sender may queue transactions.
pub const SEQUENCE_WINDOW: u64 = 1_000;

#[derive(Default)]
pub struct Mempool {
    max: usize,
    transactions: HashMap<HashValue, SignedTransaction>,
    by_sender: BTreeMap<AccountId, BTreeMap<u64, HashValue>>,
    /// Admission order with times, for expiry.
    arrivals: std::collections::VecDeque<(Instant, HashValue)>,
    /// Where the next selection starts among the senders (turns rotate, L3).
    rotation: std::cell::Cell<usize>,
    insertions: u64,
}

impl Mempool {
    pub fn new(max: usize) -> Mempool {
        Mempool {
            max,
            ..Mempool::default()
        }
    }

    pub fn len(&self) -> usize {
        self.transactions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
    }

    pub fn contains(&self, hash: &HashValue) -> bool {
        self.transactions.contains_key(hash)
    }

    /// Admits a transaction whose signatures were verified, arrived at `now` (the owner's
    /// clock: the simulator's is simulated). `next_sequence` is the sender's next sequence on the
    /// committed ledger. Returns false if it was already there.
    pub fn insert(
        &mut self,
        tx: SignedTransaction,
        next_sequence: u64,
        now: Instant,
    ) -> Result<bool, MempoolError> {
        let hash = tx.hash();
        self.insert_hashed(tx, hash, next_sequence, now)
    }

    /// [`insert`](Self::insert) with the transaction's hash already computed (`tx.hash()`).
    pub fn insert_hashed(
        &mut self,
        tx: SignedTransaction,
        hash: HashValue,
        next_sequence: u64,
        now: Instant,
    ) -> Result<bool, MempoolError> {
        debug_assert_eq!(hash, tx.hash());
        if self.transactions.contains_key(&hash) {
            return Ok(false);
        }
        let sequence = tx.transaction.sequence;
        if sequence < next_sequence {
            return Err(MempoolError::SequenceUsed {
                sequence,
                next: next_sequence,
            });
        }
        if sequence >= next_sequence + SEQUENCE_WINDOW {
            return Err(MempoolError::SequenceTooFarAhead {
                sequence,
                next: next_sequence,
                window: SEQUENCE_WINDOW,
            });
        }
        if self.transactions.len() >= self.max {
            return Err(MempoolError::Full(self.transactions.len()));
        }
        let queue = self.by_sender.entry(tx.transaction.sender).or_default();
        // Another transaction with the same sender and sequence (a different payload): keep the
        // first and say so; accepting the second would hand its sender a hash that can never
        // commit (issue N1).
        if let Some(pending) = queue.get(&sequence) {
            return Err(MempoolError::SequencePending {
                sequence,
                pending: *pending,
            });
        }
        queue.insert(sequence, hash);
        self.transactions.insert(hash, tx);
        self.insertions += 1;
        self.arrivals.push_back((now, hash));
        Ok(true)
    }

    /// Drops transactions that waited longer than `ttl` at `now` (for example behind a sequence
    /// gap that was never filled): their senders see them as unknown and can submit again.
    pub fn expire(&mut self, ttl: Duration, now: Instant) -> usize {
        let mut expired = 0;
        while let Some((arrived, hash)) = self.arrivals.front().copied() {
            if now.saturating_duration_since(arrived) < ttl {
                break;
            }
            self.arrivals.pop_front();
            if let Some(tx) = self.transactions.remove(&hash) {
                expired += 1;
                if let Some(queue) = self.by_sender.get_mut(&tx.transaction.sender) {
                    queue.remove(&tx.transaction.sequence);
                    if queue.is_empty() {
                        self.by_sender.remove(&tx.transaction.sender);
                    }
                }
            }
        }
        // Keep the arrival list from growing with entries removed by commits.
        if self.arrivals.len() > 2 * self.transactions.len() + 1_024 {
            let transactions = &self.transactions;
            self.arrivals
                .retain(|(_, hash)| transactions.contains_key(hash));
        }
        expired
    }

    /// Transactions for a block, within `budget`: for each sender the run of consecutive
    /// sequence numbers starting at its next one, skipping transactions already in uncommitted
    /// ancestor blocks (`excluded`). `next_sequence` reads the committed ledger. Senders take
    /// turns, one transaction each per pass, starting one sender further on every call: a sender
    /// with a long queue cannot crowd out the others (review L3). Each sender's transactions keep
    /// their sequence order.
    pub fn select(
        &self,
        budget: BlockBudget,
        excluded: &HashSet<HashValue>,
        next_sequence: impl Fn(&AccountId) -> u64,
    ) -> Vec<SignedTransaction> {
        // Each sender's ready run, at most what the block could take.
        let mut runs: Vec<Vec<&SignedTransaction>> = Vec::new();
        for (sender, queue) in &self.by_sender {
            let mut expected = next_sequence(sender);
            let mut run = Vec::new();
            for (&sequence, hash) in queue.range(expected..) {
                if run.len() >= budget.transactions {
                    break;
                }
                if excluded.contains(hash) {
                    expected = sequence + 1;
                    continue;
                }
                if sequence != expected {
                    break;
                }
                run.push(&self.transactions[hash]);
                expected += 1;
            }
            if !run.is_empty() {
                runs.push(run);
            }
        }
        let mut chosen = Vec::new();
        if runs.is_empty() {
            return chosen;
        }
        let first = self.rotation.get() % runs.len();
        self.rotation.set(first + 1);
        let mut bytes = 0usize;
        let longest = runs.iter().map(Vec::len).max().unwrap_or(0);
        for pass in 0..longest {
            for turn in 0..runs.len() {
                let Some(tx) = runs[(first + turn) % runs.len()].get(pass) else {
                    continue;
                };
                if chosen.len() >= budget.transactions {
                    return chosen;
                }
                let size = tx.encoded_len();
                if bytes + size > budget.bytes {
                    return chosen;
                }
                bytes += size;
                chosen.push((*tx).clone());
            }
        }
        chosen
    }

    /// Whether a block could take anything now: some sender's earliest pending transaction is
    /// its next sequence on the committed ledger. A mempool of transactions that all wait behind
    /// gaps has nothing to propose.
    pub fn has_ready(&self, next_sequence: impl Fn(&AccountId) -> u64) -> bool {
        self.by_sender.iter().any(|(sender, queue)| {
            queue
                .first_key_value()
                .is_some_and(|(first, _)| *first <= next_sequence(sender))
        })
    }

    /// How many transactions were ever inserted: a change says the mempool may hold something
    /// new.
    pub fn insertions(&self) -> u64 {
        self.insertions
    }

    /// Senders whose earliest pending transaction is ahead of their next sequence on the
    /// committed ledger: none of their transactions can go into a block until one fills the gap.
    pub fn senders_waiting_for_gap(
        &self,
        next_sequence: impl Fn(&AccountId) -> u64,
    ) -> HashSet<AccountId> {
        self.by_sender
            .iter()
            .filter(|(sender, queue)| {
                queue
                    .first_key_value()
                    .is_some_and(|(first, _)| *first > next_sequence(sender))
            })
            .map(|(sender, _)| *sender)
            .collect()
    }

    /// Drops what a committed block settled: each transaction whose receipt is its own outcome,
    /// and any whose sequence the ledger has moved past. A receipt that is not the
    /// transaction's own (a copy with forged signature bytes shares the id of a pending
    /// transaction, review M5) evicts nothing: that transaction stays until its sequence is
    /// passed.
    pub fn remove_settled(
        &mut self,
        receipts: &[tenge_types::Receipt],
        next_sequence: impl Fn(&AccountId) -> u64,
    ) {
        let settled: Vec<HashValue> = receipts
            .iter()
            .filter(|r| r.is_final_for_transaction())
            .map(|r| r.transaction)
            .collect();
        self.remove_committed(&settled, next_sequence);
    }

    /// Drops committed transactions and any whose sequence the ledger has moved past.
    fn remove_committed(
        &mut self,
        committed: &[HashValue],
        next_sequence: impl Fn(&AccountId) -> u64,
    ) {
        let mut touched = HashSet::new();
        for hash in committed {
            if let Some(tx) = self.transactions.remove(hash) {
                touched.insert(tx.transaction.sender);
                if let Some(queue) = self.by_sender.get_mut(&tx.transaction.sender) {
                    queue.remove(&tx.transaction.sequence);
                }
            }
        }
        for sender in touched {
            let next = next_sequence(&sender);
            if let Some(queue) = self.by_sender.get_mut(&sender) {
                let stale: Vec<u64> = queue.range(..next).map(|(s, _)| *s).collect();
                for sequence in stale {
                    if let Some(hash) = queue.remove(&sequence) {
                        self.transactions.remove(&hash);
                    }
                }
                if queue.is_empty() {
                    self.by_sender.remove(&sender);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Instant {
        Instant::now()
    }
    use tenge_ledger::testkit::{TestNetwork, test_key};
    use tenge_types::transaction::Transfer;
    use tenge_types::{Amount, Payload};

    fn transfer(
        net: &TestNetwork,
        sender: &tenge_crypto::Keypair,
        sequence: u64,
    ) -> SignedTransaction {
        let payload = Payload::Transfer(Transfer {
            to: net.bank(1),
            amount: Amount::from_tiyn(1 + sequence),
        });
        net.sign(sender, sequence, payload)
    }

    fn budget(transactions: usize) -> BlockBudget {
        BlockBudget {
            transactions,
            bytes: BLOCK_TRANSACTION_BYTES,
        }
    }

    #[test]
    fn orders_by_sender_and_sequence_and_stops_at_gaps() {
        let net = TestNetwork::new(2, 0);
        let (a, b) = (test_key("a"), test_key("b"));
        let mut pool = Mempool::new(100);
        for sequence in [2, 0, 1, 4] {
            assert!(pool.insert(transfer(&net, &a, sequence), 0, now()).unwrap());
        }
        assert!(pool.insert(transfer(&net, &b, 5), 5, now()).unwrap());
        assert!(
            !pool.insert(transfer(&net, &a, 0), 0, now()).unwrap(),
            "duplicate"
        );
        let next = |id: &AccountId| if *id == b.account_id() { 5 } else { 0 };
        let chosen = pool.select(budget(10), &HashSet::new(), next);
        let picked: Vec<(AccountId, u64)> = chosen
            .iter()
            .map(|tx| (tx.transaction.sender, tx.transaction.sequence))
            .collect();
        // a: 0, 1, 2 (4 waits for 3); b: 5.
        assert_eq!(picked.len(), 4);
        assert!(picked.contains(&(a.account_id(), 2)) && !picked.contains(&(a.account_id(), 4)));
        assert!(picked.contains(&(b.account_id(), 5)));
        // Excluding what an ancestor block already holds continues after it.
        let excluded: HashSet<HashValue> = chosen
            .iter()
            .filter(|tx| tx.transaction.sender == a.account_id())
            .map(|tx| tx.hash())
            .collect();
        assert!(
            pool.select(budget(10), &excluded, next)
                .iter()
                .all(|tx| tx.transaction.sender == b.account_id())
        );
    }

    #[test]
    fn a_mempool_of_gapped_transactions_has_nothing_ready() {
        let net = TestNetwork::new(2, 0);
        let a = test_key("a");
        let mut pool = Mempool::new(100);
        assert!(!pool.has_ready(|_| 0));
        assert!(pool.insert(transfer(&net, &a, 2), 0, now()).unwrap());
        assert!(!pool.has_ready(|_| 0), "2 waits for 0 and 1");
        assert!(pool.has_ready(|_| 2));
        let before = pool.insertions();
        assert!(pool.insert(transfer(&net, &a, 0), 0, now()).unwrap());
        assert_eq!(pool.insertions(), before + 1);
        assert!(pool.has_ready(|_| 0));
    }

    #[test]
    fn n3_senders_waiting_for_gap_are_those_whose_first_pending_sequence_is_ahead() {
        let net = TestNetwork::new(2, 0);
        let (a, b, c) = (test_key("a"), test_key("b"), test_key("c"));
        let mut pool = Mempool::new(100);
        // a holds 1 and 2 but not 0; b holds 3, its next; c holds 6 and 7, its next is 5.
        for (key, sequence, next) in [(&a, 1, 0), (&a, 2, 0), (&b, 3, 3), (&c, 6, 5), (&c, 7, 5)] {
            assert!(
                pool.insert(transfer(&net, key, sequence), next, now())
                    .unwrap()
            );
        }
        let next = |id: &AccountId| match id {
            id if *id == b.account_id() => 3,
            id if *id == c.account_id() => 5,
            _ => 0,
        };
        let gaps = pool.senders_waiting_for_gap(next);
        assert_eq!(gaps, [a.account_id(), c.account_id()].into_iter().collect());
        // Once a's 0 arrives, a no longer waits.
        assert!(pool.insert(transfer(&net, &a, 0), 0, now()).unwrap());
        assert_eq!(
            pool.senders_waiting_for_gap(next),
            [c.account_id()].into_iter().collect()
        );
    }

    #[test]
    fn refuses_stale_far_and_overflowing_transactions() {
        let net = TestNetwork::new(2, 0);
        let a = test_key("a");
        let mut pool = Mempool::new(2);
        assert_eq!(
            pool.insert(transfer(&net, &a, 3), 5, now()),
            Err(MempoolError::SequenceUsed {
                sequence: 3,
                next: 5
            })
        );
        assert!(matches!(
            pool.insert(transfer(&net, &a, 5 + SEQUENCE_WINDOW), 5, now()),
            Err(MempoolError::SequenceTooFarAhead { .. })
        ));
        pool.insert(transfer(&net, &a, 5), 5, now()).unwrap();
        pool.insert(transfer(&net, &a, 6), 5, now()).unwrap();
        assert_eq!(
            pool.insert(transfer(&net, &a, 7), 5, now()),
            Err(MempoolError::Full(2))
        );
    }

    #[test]
    fn old_transactions_expire() {
        let net = TestNetwork::new(2, 0);
        let a = test_key("a");
        let mut pool = Mempool::new(10);
        let arrived = now();
        pool.insert(transfer(&net, &a, 3), 0, arrived).unwrap();
        let ttl = Duration::from_secs(60);
        assert_eq!(pool.expire(ttl, arrived + Duration::from_secs(59)), 0);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.expire(ttl, arrived + ttl), 1);
        assert!(pool.is_empty());
        assert!(pool.select(budget(10), &HashSet::new(), |_| 3).is_empty());
    }

    #[test]
    fn commits_evict_included_and_stale_transactions() {
        let net = TestNetwork::new(2, 0);
        let a = test_key("a");
        let mut pool = Mempool::new(10);
        let txs: Vec<SignedTransaction> = (0..4).map(|s| transfer(&net, &a, s)).collect();
        for tx in &txs {
            pool.insert(tx.clone(), 0, now()).unwrap();
        }
        // Block committed sequences 0 and 1; the ledger's next is now 3 (2 came another way).
        pool.remove_committed(&[txs[0].hash(), txs[1].hash()], |_| 3);
        assert_eq!(pool.len(), 1);
        assert!(pool.contains(&txs[3].hash()));
    }

    /// H3: the largest transactions a wallet may send (earmarked transfers with a 128-byte
    /// purpose and 64 payees, about 2.4 KB each), 10,000 of them from 10 wallets: the selection
    /// for a block must fit a block and so a proposal message.
    #[test]
    fn h3_block_selection_has_a_byte_budget() {
        use tenge_types::block::MAX_BLOCK_BYTES;
        use tenge_types::transaction::TransferEarmarked;
        use tenge_types::{EarmarkTerms, encode};
        let net = TestNetwork::new(2, 0);
        let mut payees: Vec<AccountId> = (0..64u8)
            .map(|i| test_key(&format!("payee-{i}")).account_id())
            .collect();
        payees.sort();
        let terms = EarmarkTerms {
            purpose: "p".repeat(128),
            approved_payees: payees,
        };
        let mut pool = Mempool::new(20_000);
        for wallet in 0..10 {
            let key = test_key(&format!("wallet-{wallet}"));
            for sequence in 0..1_000 {
                let payload = Payload::TransferEarmarked(TransferEarmarked {
                    to: net.bank(1),
                    amount: Amount::from_tiyn(1),
                    terms: terms.clone(),
                });
                pool.insert(net.sign(&key, sequence, payload), 0, now())
                    .unwrap();
            }
        }
        let chosen = pool.select(BlockBudget::default(), &HashSet::new(), |_| 0);
        let bytes: usize = chosen.iter().map(|tx| encode(tx).len()).sum();
        assert!(!chosen.is_empty());
        assert!(
            bytes <= BLOCK_TRANSACTION_BYTES,
            "{} transactions of {bytes} bytes selected for one block (at most {MAX_BLOCK_BYTES})",
            chosen.len()
        );
    }

    /// N1: a second transaction with a pending (sender, sequence) can never commit; the mempool
    /// refuses it and names the pending one, so that the client learns it at once instead of
    /// being handed a hash that ends up unknown.
    #[test]
    fn n1_second_transaction_for_a_pending_sequence_is_refused_with_the_pending_hash() {
        let net = TestNetwork::new(2, 0);
        let a = test_key("a");
        let mut pool = Mempool::new(100);
        let first = transfer(&net, &a, 0);
        assert!(pool.insert(first.clone(), 0, now()).unwrap());
        let mut second = transfer(&net, &a, 0);
        second.transaction.payload = Payload::Transfer(Transfer {
            to: net.bank(0),
            amount: Amount::from_tiyn(99),
        });
        assert_ne!(second.hash(), first.hash());
        assert_eq!(
            pool.insert(second, 0, now()),
            Err(MempoolError::SequencePending {
                sequence: 0,
                pending: first.hash()
            })
        );
        assert_eq!(pool.len(), 1);
        // The same transaction again is no conflict.
        assert_eq!(pool.insert(first, 0, now()), Ok(false));
    }

    /// L3: selection walked senders in account-id order and took each one's whole run (up to
    /// 1,000 transactions), so a low id with a long queue filled the block and higher ids
    /// waited. Now every sender with a ready transaction gets one before anyone gets a second.
    #[test]
    fn l3_every_ready_sender_gets_a_turn_before_anyone_gets_a_second() {
        let net = TestNetwork::new(2, 0);
        let mut keys: Vec<tenge_crypto::Keypair> =
            (0..3).map(|i| test_key(&format!("fair-{i}"))).collect();
        keys.sort_by_key(|k| k.account_id());
        let (low, middle, high) = (&keys[0], &keys[1], &keys[2]);
        let mut pool = Mempool::new(2_000);
        for sequence in 0..900 {
            pool.insert(transfer(&net, low, sequence), 0, now())
                .unwrap();
        }
        pool.insert(transfer(&net, middle, 0), 0, now()).unwrap();
        pool.insert(transfer(&net, high, 0), 0, now()).unwrap();
        pool.insert(transfer(&net, high, 1), 0, now()).unwrap();
        let chosen = pool.select(budget(100), &HashSet::new(), |_| 0);
        let count = |key: &tenge_crypto::Keypair| {
            chosen
                .iter()
                .filter(|tx| tx.transaction.sender == key.account_id())
                .count()
        };
        assert_eq!(chosen.len(), 100);
        assert_eq!((count(middle), count(high), count(low)), (1, 2, 97));
        // Each sender's transactions stay in sequence order.
        for key in [low, high] {
            let sequences: Vec<u64> = chosen
                .iter()
                .filter(|tx| tx.transaction.sender == key.account_id())
                .map(|tx| tx.transaction.sequence)
                .collect();
            assert!(
                sequences.windows(2).all(|w| w[1] == w[0] + 1),
                "{sequences:?}"
            );
        }
    }
}
