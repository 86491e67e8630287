//! What the node says about chain and accounts, for building transactions; the clients of this
//! run; sending a transaction and waiting for its final outcome.

use std::time::Duration;

use serde_json::json;
use tenge_client::views::{ErrorKind, TransactionStatus};
use tenge_client::{Client, ClientError};
use tenge_crypto::Keypair;
use tenge_types::{
    AccountId, ChainId, HashValue, Payload, RejectionCode, SignedTransaction, TimestampMs,
    Transaction,
};

use crate::args::WaitArgs;
use crate::exit::{Exit, Failure, Outcome};
use crate::input::account_id;

/// The TLS setup of this run's clients, from `--ca-cert`.
pub static TLS: std::sync::OnceLock<tenge_client::tls::ClientConfig> = std::sync::OnceLock::new();

/// A client of `node`, trusting the `--ca-cert` CA for HTTPS.
pub fn client(node: &str) -> Client {
    match TLS.get() {
        Some(tls) => Client::with_tls(node, tls.clone()),
        None => Client::new(node),
    }
}

/// The `--expires-in` of this run, in milliseconds.
pub static EXPIRES_IN_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// What the node says about chain and accounts, for building transactions.
pub struct Context {
    pub client: Client,
    pub chain_id: ChainId,
}

impl Context {
    pub async fn new(node: &str) -> Result<Context, Failure> {
        let client = client(node);
        let status = client.status().await?;
        let chain_id = ChainId::new(&status.chain_id).map_err(|e| Failure {
            exit: Exit::Unreachable,
            message: format!("node reports a bad chain id: {e}"),
            json: None,
        })?;
        Ok(Context { client, chain_id })
    }

    async fn sequence(&self, account: &AccountId) -> Result<u64, Failure> {
        match self.client.account(account).await {
            Ok(view) => Ok(view.sequence),
            Err(ClientError::Api(detail)) if detail.status == 404 => Ok(0),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn central_bank(&self) -> Result<AccountId, Failure> {
        let supply = self.client.supply().await?;
        account_id(&supply.central_bank)
    }

    pub async fn transaction(
        &self,
        sender: AccountId,
        payload: Payload,
    ) -> Result<Transaction, Failure> {
        let expires_in = EXPIRES_IN_MS.get().copied().unwrap_or(600_000);
        Ok(Transaction {
            chain_id: self.chain_id.clone(),
            sender,
            sequence: self.sequence(&sender).await?,
            expires_at_ms: TimestampMs(TimestampMs::now().0.saturating_add(expires_in)),
            payload,
        })
    }

    /// Signs, submits and (unless told not to) waits for the block outcome. The sequence came
    /// from the committed state of the node we talk to, which may be a block behind: if the node
    /// says the sequence is taken by a pending transaction (409 conflict) or already used (103),
    /// the CLI waits for the pending one, takes the sequence again, signs again and resubmits,
    /// a few times at most (issue N1).
    pub async fn send(
        &self,
        mut transaction: Transaction,
        signers: &[Keypair],
        wait: &WaitArgs,
    ) -> Outcome {
        let refs: Vec<&Keypair> = signers.iter().collect();
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            let signed = tenge_crypto::sign_transaction(transaction.clone(), &refs);
            let submitted = self.client.submit(&signed).await;
            let detail = match submitted {
                Err(ClientError::Api(detail)) if attempt < ATTEMPTS => detail,
                other => {
                    let outcome = self.after_submit(&signed, other, wait).await;
                    // Accepted by a node that was behind, and its sequence then used by another
                    // transaction: it can never commit, so sign it again with the next sequence.
                    let superseded = matches!(&outcome, Err(Failure { json: Some(v), .. })
                        if v["superseded"] == true);
                    if superseded && attempt < ATTEMPTS {
                        transaction.sequence = self.sequence(&transaction.sender).await?;
                        continue;
                    }
                    return outcome;
                }
            };
            let conflict = detail.status == 409 && detail.kind == ErrorKind::Conflict;
            let used = detail.code == Some(RejectionCode::SequenceAlreadyUsed.code());
            if !conflict && !used {
                return self
                    .after_submit(&signed, Err(ClientError::Api(detail)), wait)
                    .await;
            }
            if let Some(pending) = pending_hash(&detail.message) {
                // Whatever its outcome, once it is final the sequence has moved on.
                let _ = self
                    .client
                    .wait_final(&pending, Duration::from_secs(wait.timeout_seconds))
                    .await;
            }
            let sequence = self.sequence(&transaction.sender).await?;
            transaction.sequence = sequence.max(transaction.sequence + u64::from(conflict));
        }
        unreachable!("the last attempt returns")
    }

    pub async fn submit(&self, signed: &SignedTransaction, wait: &WaitArgs) -> Outcome {
        let submitted = self.client.submit(signed).await;
        self.after_submit(signed, submitted, wait).await
    }

    /// Reports a submission's answer, and unless told not to waits for the block outcome.
    async fn after_submit(
        &self,
        signed: &SignedTransaction,
        submitted: Result<HashValue, ClientError>,
        wait: &WaitArgs,
    ) -> Outcome {
        let hash = match submitted {
            Ok(hash) => hash,
            // Refused at the door with a rejection code: report it in the same shape as a
            // rejection in a block.
            Err(ClientError::Api(detail)) if detail.kind == ErrorKind::Rejected => {
                let value = json!({
                    "hash": signed.hash().to_hex(), "status": TransactionStatus::Rejected, "height": null,
                    "code": detail.code, "reason": detail.message,
                });
                return Err(Failure {
                    exit: Exit::Rejected,
                    message: format!(
                        "rejected: {} ({}): {}",
                        detail.name.unwrap_or_default(),
                        detail.code.unwrap_or(0),
                        detail.message
                    ),
                    json: Some(value),
                });
            }
            Err(error) => return Err(error.into()),
        };
        if wait.no_wait {
            return Ok(json!({"hash": hash.to_hex(), "status": TransactionStatus::Pending}));
        }
        final_outcome(&self.client, signed, &hash, wait.timeout_seconds).await
    }
}

/// The hash a 409 conflict names as the pending transaction holding the sequence.
fn pending_hash(message: &str) -> Option<HashValue> {
    let rest = message.split("pending transaction ").nth(1)?;
    rest.get(..64)?.parse().ok()
}

/// Waits until the transaction is committed or rejected in a block. A transaction that this node
/// no longer knows while its sender's sequence has moved past it lost its sequence number to
/// another transaction (sent elsewhere, or through a node that was behind): it can never commit,
/// so that is reported as a rejection (103) at once instead of waiting out the timeout (N1).
async fn final_outcome(
    client: &Client,
    signed: &SignedTransaction,
    hash: &HashValue,
    timeout_seconds: u64,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_seconds);
    let timed_out = || Failure {
        exit: Exit::NoFinalAnswer,
        message: format!("transaction {hash} not final after {timeout_seconds} s"),
        json: Some(json!({"hash": hash.to_hex(), "status": "unknown", "height": null})),
    };
    let view = loop {
        match client.transaction(hash).await {
            Ok(view) if view.status != TransactionStatus::Pending => break view,
            Ok(_) => {}
            Err(ClientError::Api(detail)) if detail.status == 404 => {
                let sender = &signed.transaction.sender;
                let used = match client.account(sender).await {
                    Ok(account) => account.sequence > signed.transaction.sequence,
                    Err(_) => false,
                };
                // Read once more: it may have committed between the two reads.
                let again = client.transaction(hash).await;
                if let Ok(view) = again {
                    if view.status != TransactionStatus::Pending {
                        break view;
                    }
                } else if used {
                    let sequence = signed.transaction.sequence;
                    let reason = format!(
                        "sequence {sequence} was used by another transaction of the sender; this \
                         one can never commit"
                    );
                    let code = RejectionCode::SequenceAlreadyUsed;
                    return Err(Failure {
                        exit: Exit::Rejected,
                        message: format!("rejected: {} ({}): {reason}", code.name(), code.code()),
                        json: Some(json!({
                            "hash": hash.to_hex(), "status": TransactionStatus::Rejected, "height": null,
                            "code": code.code(), "reason": reason, "superseded": true,
                        })),
                    });
                }
            }
            Err(ClientError::Api(_)) => {}
            Err(error) => return Err(error.into()),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(timed_out());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let value = json!({
        "hash": view.hash, "status": view.status, "height": view.height, "code": view.code, "reason": view.reason,
    });
    if view.status == TransactionStatus::Committed {
        Ok(value)
    } else {
        let name = view.name.unwrap_or_default();

        Err(Failure {
            exit: Exit::Rejected,
            message: format!(
                "rejected in block {}: {name} ({}): {}",
                view.height.unwrap_or(0),
                view.code.unwrap_or(0),
                view.reason.unwrap_or_default()
            ),
            json: Some(value),
        })
    }
}
