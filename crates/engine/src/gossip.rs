//! Client transactions: admitted into the replica's mempool (validators) or passed on
//! (observers), then sent to the other validators once per turn of the loop.

use std::time::Instant;

use tenge_driver::admission::GOSSIP_BATCH;
use tenge_ledger::CheckedTransaction;
use tenge_network::{Channel, PublicKey};
use tenge_types::{HashValue, encode};

use crate::actor::Engine;
use crate::error::best_effort;
use crate::{Mode, SubmitError};

impl Engine {
    /// A client transaction whose signatures verified: refused while the node is halted,
    /// otherwise into the mempool (validators) or passed on (observers), and queued for gossip.
    pub(crate) fn admit_client(
        &mut self,
        checked: CheckedTransaction,
    ) -> Result<HashValue, SubmitError> {
        if let Some(reason) = &self.halted {
            return Err(SubmitError::Halted(reason.clone()));
        }
        debug_assert!(checked.valid, "only verified transactions reach the engine");
        let CheckedTransaction {
            tx, hash, digest, ..
        } = checked;
        self.verified.insert(digest);
        match self.config.mode {
            Mode::Observer => {
                // Observers hold no mempool: they pass transactions on to the validators. (Keeping
                // them in a mempool broke the N1 CLI sequence through an observer and was
                // reverted: D58.) What they pass on counts against their admission mark until
                // the sender's sequence passes it or it expires (D65).
                self.forwarded.insert(
                    hash,
                    (
                        tx.transaction.sender,
                        tx.transaction.sequence,
                        Instant::now(),
                    ),
                );
                self.gossip.push(tx);
                Ok(hash)
            }
            Mode::Validator => {
                let inserted = self.replica.offer(tx.clone(), hash, Instant::now());
                self.metrics.mempool_insert("client", &inserted);
                if inserted? {
                    self.gossip.push(tx);
                }
                Ok(hash)
            }
        }
    }

    /// Every validator's network key but this node's own.
    pub(crate) fn other_validators(&self) -> Vec<PublicKey> {
        let me = self.config.key.public_key();
        self.validators
            .keys
            .iter()
            .copied()
            .filter(|k| *k != me)
            .collect()
    }

    /// Sends the client transactions admitted since the last turn of the loop to the other
    /// validators. Holding them for a timer (10 ms, to send fewer, larger batches) was tried and
    /// put the 10,000 tx/s point's median up by about 400 ms: a transaction that reaches the
    /// leader late can miss a proposal and wait a round (D58).
    pub(crate) fn flush_gossip(&mut self) {
        if self.gossip.is_empty() {
            return;
        }
        let targets = self.other_validators();
        for batch in self.gossip.chunks(GOSSIP_BATCH) {
            // A slice encodes exactly as the `Vec` peers decode.
            let bytes = encode(batch);
            let network = self.network.clone();
            let targets = targets.clone();
            self.runtime.spawn(async move {
                for target in targets {
                    best_effort(
                        network
                            .send(target, Channel::Transactions, bytes.clone())
                            .await,
                    );
                }
            });
        }
        self.gossip.clear();
    }
}
