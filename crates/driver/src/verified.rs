//! Which signed transactions were already verified, so that a transaction checked once (at
//! admission, in gossip, in an earlier proposal) is not checked again when a block carries it.
//! The node, the simulator and the test harness's Byzantine peer keep one each.

use std::collections::HashSet;

use tenge_ledger::verify_signatures;
use tenge_types::{HashValue, SignedTransaction};

/// Verified digests a generation holds by default (two generations are kept).
pub const VERIFIED_GENERATION: usize = 500_000;

/// Digests (`SignedTransaction::digest`: the signed bytes and the signatures) of transactions
/// whose signatures verified, in two generations so the set stays bounded: when the current one
/// is full it becomes the previous one, and the oldest is forgotten. Only valid verdicts are
/// kept, so a forged copy is checked (and refused) every time it shows up.
pub struct VerifiedSet {
    current: HashSet<HashValue>,
    previous: HashSet<HashValue>,
    generation: usize,
}

impl Default for VerifiedSet {
    fn default() -> VerifiedSet {
        VerifiedSet::new(VERIFIED_GENERATION)
    }
}

impl VerifiedSet {
    /// A set keeping between `generation` and twice that many digests.
    pub fn new(generation: usize) -> VerifiedSet {
        VerifiedSet {
            current: HashSet::new(),
            previous: HashSet::new(),
            generation: generation.max(1),
        }
    }

    /// Records a digest whose transaction verified.
    pub fn insert(&mut self, digest: HashValue) {
        if self.current.len() >= self.generation {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(digest);
    }

    pub fn contains(&self, digest: &HashValue) -> bool {
        self.current.contains(digest) || self.previous.contains(digest)
    }

    /// Whether each transaction's signatures verify, in order: known digests are valid, the
    /// others are verified now in one batch on `threads` threads, and the valid ones recorded.
    pub fn verdicts(&mut self, transactions: &[SignedTransaction], threads: usize) -> Vec<bool> {
        let digests: Vec<HashValue> = transactions.iter().map(SignedTransaction::digest).collect();
        let unknown: Vec<usize> = (0..transactions.len())
            .filter(|i| !self.contains(&digests[*i]))
            .collect();
        let mut valid = vec![true; transactions.len()];
        if !unknown.is_empty() {
            let batch: Vec<SignedTransaction> =
                unknown.iter().map(|i| transactions[*i].clone()).collect();
            let results = verify_signatures(&batch, threads);
            for (i, ok) in unknown.into_iter().zip(results) {
                valid[i] = ok;
                if ok {
                    self.insert(digests[i]);
                }
            }
        }
        valid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenge_ledger::testkit::TestNetwork;
    use tenge_types::transaction::Issue;
    use tenge_types::{Amount, Payload};

    fn issue(net: &TestNetwork, tiyn: u64) -> SignedTransaction {
        net.officers_sign(
            0,
            Payload::Issue(Issue {
                to: net.bank(0),
                amount: Amount::from_tiyn(tiyn),
            }),
        )
    }

    #[test]
    fn verdicts_are_remembered_for_valid_transactions_only() {
        let net = TestNetwork::new(1, 4);
        let good = issue(&net, 100);
        let mut forged = issue(&net, 200);
        // Another transaction's signatures: the forged copy must fail, and keep failing.
        forged.signatures = good.signatures.clone();
        let mut set = VerifiedSet::default();
        assert_eq!(
            set.verdicts(&[good.clone(), forged.clone()], 1),
            vec![true, false]
        );
        assert!(set.contains(&good.digest()));
        assert!(!set.contains(&forged.digest()));
        assert_eq!(set.verdicts(&[forged, good], 2), vec![false, true]);
    }

    #[test]
    fn the_set_keeps_two_generations_and_forgets_the_oldest() {
        let net = TestNetwork::new(1, 4);
        let digests: Vec<HashValue> = (1..=5).map(|i| issue(&net, i).digest()).collect();
        let mut set = VerifiedSet::new(2);
        for digest in &digests {
            set.insert(*digest);
        }
        // Generations of two: [1, 2] went when [3, 4] filled and 5 came in.
        assert!(!set.contains(&digests[0]) && !set.contains(&digests[1]));
        assert!(digests[2..].iter().all(|d| set.contains(d)));
    }
}
