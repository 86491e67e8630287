//! The server's bounds: the request limits, and the admission gates one router's handlers share.

/// Largest request body for a single transaction, in bytes (hex in JSON doubles it).
pub const MAX_TRANSACTION_BODY_BYTES: usize =
    2 * tenge_types::transaction::MAX_TRANSACTION_BYTES + 1024;
/// Largest request body for a batch of transactions.
pub const MAX_BATCH_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Most transactions in one batch submission.
pub const MAX_BATCH_TRANSACTIONS: usize = 20_000;
/// Batch submissions in progress at once; more are answered 503 at once. Their signature checks
/// wait for one another in the engine (`EngineHandle::submit`), so this bounds the memory held
/// by waiting batches, not the CPU (security review H7).
pub const MAX_CONCURRENT_BATCHES: usize = 64;
/// Event-stream subscribers at once; more are answered 503 (security review L1).
pub const MAX_EVENT_SUBSCRIBERS: usize = 256;
/// Proofs being built at once; more are answered 503 at once. Each one hashes paths and verifies
/// a quorum of signatures on a blocking thread, so this bounds the CPU a client can take.
pub const MAX_CONCURRENT_PROOFS: usize = 8;
/// Header chains being read at once (`GET /v1/headers`); more are answered 503 at once. Each
/// reads whole blocks from the store on a blocking thread; its own gate, so that light clients
/// cannot keep proofs waiting, nor proofs light clients.
pub const MAX_CONCURRENT_HEADER_CHAINS: usize = 2;

/// Admission gates shared by the handlers of one router.
pub(crate) struct Gates {
    pub(crate) batches: std::sync::Arc<tokio::sync::Semaphore>,
    pub(crate) subscribers: std::sync::Arc<tokio::sync::Semaphore>,
    pub(crate) proofs: std::sync::Arc<tokio::sync::Semaphore>,
    pub(crate) header_chains: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Gates {
    pub(crate) fn new() -> Gates {
        Gates {
            batches: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_BATCHES)),
            subscribers: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_EVENT_SUBSCRIBERS)),
            proofs: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_PROOFS)),
            header_chains: std::sync::Arc::new(tokio::sync::Semaphore::new(
                MAX_CONCURRENT_HEADER_CHAINS,
            )),
        }
    }
}
