//! A typed client of the node API, used by the CLI, the load generator and the tests.

use std::time::Duration;

use tenge_types::{AccountId, HashValue, SignedTransaction};

use crate::views::*;

/// Largest answer read from a node: a block view of the largest block (16 MiB, in hex and JSON)
/// fits; a node that sends more is cut off rather than read into memory.
pub const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;

/// Why a call to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("node {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{}", describe(.0))]
    Api(ErrorDetail),
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
}

fn describe(detail: &ErrorDetail) -> String {
    match (&detail.code, &detail.name) {
        (Some(code), Some(name)) => format!("rejected: {name} ({code}): {}", detail.message),
        _ => format!("{} ({}): {}", detail.kind, detail.status, detail.message),
    }
}

/// An error with its chain of causes: reqwest's own message ("error sending request") hides
/// the reason that matters (connection refused, an untrusted certificate, a non-TLS server).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}

/// How long an idle connection is kept for the next request.
const POOL_IDLE: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client of `base`. `https://` nodes are refused (no trusted roots): use [`Client::with_tls`].
    pub fn new(base: &str) -> Client {
        Client::with_tls(
            base,
            crate::tls::client_config_with_roots(rustls::RootCertStore::empty()),
        )
    }

    /// A client that speaks HTTPS trusting what `tls` trusts (see [`crate::tls::client_config`]).
    pub fn with_tls(base: &str, tls: rustls::ClientConfig) -> Client {
        // Other reqwest clients in this process (tests, the load generator) need a default.
        crate::tls::install_default_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(16)
            // Under the node's header read timeout (5 s by default), which closes idle
            // connections: one is dropped here before the node closes it under a request.
            .pool_idle_timeout(POOL_IDLE)
            .tls_backend_preconfigured(tls)
            .build()
            .expect("HTTP client builds");
        Client {
            base: base.trim_end_matches('/').to_string(),
            http,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Reads a node's answer (at most [`MAX_RESPONSE_BYTES`]) as `T`, or its error body.
    async fn answer<T: serde::de::DeserializeOwned>(
        &self,
        response: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, ClientError> {
        let response = response.map_err(|e| ClientError::Unreachable {
            url: self.base.clone(),
            reason: with_causes(&e),
        })?;
        let status = response.status();
        let too_large = || ClientError::Protocol {
            url: self.base.clone(),
            reason: format!("the answer is over {MAX_RESPONSE_BYTES} bytes"),
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        // Read in chunks, so that a node that sends without end is cut off at the limit.
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.base.clone(),
                reason: with_causes(&e),
            })?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
                url: self.base.clone(),
                reason: e.to_string(),
            })
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(ClientError::Api(body.error)),
                Err(_) => Err(ClientError::Protocol {
                    url: self.base.clone(),
                    reason: format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&bytes)
                            .chars()
                            .take(200)
                            .collect::<String>()
                    ),
                }),
            }
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        // A node closes a kept-alive connection left idle for its header read timeout; a
        // request sent on it as it closes is never read. A read is safe to send again, once,
        // on a new connection (a timeout is not retried: the node did not answer in time).
        let response = match self.http.get(&url).send().await {
            Err(error) if error.is_request() && !error.is_timeout() => {
                self.http.get(&url).send().await
            }
            response => response,
        };
        self.answer(response).await
    }

    pub async fn submit(&self, tx: &SignedTransaction) -> Result<HashValue, ClientError> {
        let response: SubmitResponse = self
            .answer(
                self.http
                    .post(format!("{}/v1/transactions", self.base))
                    .header("content-type", "application/octet-stream")
                    .body(tx.to_bytes())
                    .send()
                    .await,
            )
            .await?;
        response.hash.parse().map_err(|_| ClientError::Protocol {
            url: self.base.clone(),
            reason: "bad hash".into(),
        })
    }

    /// Submits many transactions in one request; one result per transaction.
    pub async fn submit_batch(
        &self,
        transactions: &[SignedTransaction],
    ) -> Result<Vec<BatchItem>, ClientError> {
        self.answer(
            self.http
                .post(format!("{}/v1/transactions/batch", self.base))
                .header("content-type", "application/octet-stream")
                .body(tenge_types::encode(transactions))
                .send()
                .await,
        )
        .await
    }

    pub async fn transaction(&self, hash: &HashValue) -> Result<TransactionView, ClientError> {
        self.get(&format!("/v1/transactions/{hash}")).await
    }

    pub async fn account(&self, id: &AccountId) -> Result<AccountView, ClientError> {
        self.get(&format!("/v1/accounts/{id}")).await
    }

    pub async fn block(&self, height: u64) -> Result<BlockView, ClientError> {
        self.get(&format!("/v1/blocks/{height}")).await
    }

    pub async fn block_hashes(&self, height: u64) -> Result<BlockHashesView, ClientError> {
        self.get(&format!("/v1/blocks/{height}/hashes")).await
    }

    pub async fn latest_block(&self) -> Result<BlockView, ClientError> {
        self.get("/v1/blocks/latest").await
    }

    pub async fn supply(&self) -> Result<SupplyView, ClientError> {
        self.get("/v1/supply").await
    }

    /// A proof bundle of an account (or of its absence) at the node's committed head.
    pub async fn account_proof(&self, id: &AccountId) -> Result<ProofView, ClientError> {
        self.get(&format!("/v1/proofs/accounts/{id}")).await
    }

    /// A proof bundle of the supply at the node's committed head.
    pub async fn supply_proof(&self) -> Result<ProofView, ClientError> {
        self.get("/v1/proofs/supply").await
    }

    /// A proof bundle of an earmark at the node's committed head.
    pub async fn earmark_proof(
        &self,
        id: &tenge_types::EarmarkId,
    ) -> Result<ProofView, ClientError> {
        self.get(&format!("/v1/proofs/earmarks/{id}")).await
    }

    /// Certified headers from height `from` (see [`HeaderChainView`]), past `limit` headers only
    /// as far as the first commit certificate.
    pub async fn headers(
        &self,
        from: u64,
        limit: Option<usize>,
    ) -> Result<HeaderChainView, ClientError> {
        match limit {
            Some(limit) => self.get(&format!("/v1/headers/{from}?limit={limit}")).await,
            None => self.get(&format!("/v1/headers/{from}")).await,
        }
    }

    pub async fn policy(&self) -> Result<PolicyView, ClientError> {
        self.get("/v1/policy").await
    }

    pub async fn validators(&self) -> Result<ValidatorSetView, ClientError> {
        self.get("/v1/validators").await
    }

    pub async fn observers(&self) -> Result<Vec<ObserverView>, ClientError> {
        self.get("/v1/observers").await
    }

    pub async fn status(&self) -> Result<StatusView, ClientError> {
        self.get("/v1/status").await
    }

    /// Waits until the transaction is committed or rejected in a block, or `timeout` passes.
    pub async fn wait_final(
        &self,
        hash: &HashValue,
        timeout: Duration,
    ) -> Result<TransactionView, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.transaction(hash).await {
                Ok(view) if view.status != TransactionStatus::Pending => return Ok(view),
                Ok(_) | Err(ClientError::Api(_)) => {}
                Err(error) => return Err(error),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Protocol {
                    url: self.base.clone(),
                    reason: format!("transaction {hash} not final after {timeout:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
