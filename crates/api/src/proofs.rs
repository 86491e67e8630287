//! Proof bundles served from the committed head (`GET /v1/proofs/...`).
//!
//! The claim (entries and paths) is taken under the ledger's read lock, together with the head it
//! belongs to; the headers and the commit certificate are then read from the store, where
//! committed blocks never change. The engine writes each block to the store before it moves the
//! ledger's head, so the store holds the head block and, once the commit in flight is written,
//! the block whose certificate commits it. Only the head's state is kept in memory (decision D7:
//! entries are overwritten in place), so proofs are of the committed head only.

use std::time::Duration;

use tenge_engine::EngineHandle;
use tenge_proof::{ChainIdentity, CommitProof, MAX_HEADER_CHAIN, ProofBundle};
use tenge_storage::Store;
use tenge_types::consensus::{QuorumCertificate, StoredCertificates};
use tenge_types::{AccountId, BlockHeader, EarmarkId, Height};

use crate::views::HeaderChainView;

/// What to prove.
#[derive(Clone, Copy, Debug)]
pub enum ProofRequest {
    Account(AccountId),
    Supply,
    Earmark(EarmarkId),
}

/// Why no bundle was built.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// Attempts to find the commit certificate of the head before answering 503; between attempts
/// the engine finishes writing the commit in flight.
const ATTEMPTS: u32 = 100;
const RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// A bundle proving `request` at the committed head. Blocking (it hashes paths, takes the
/// ledger's read lock and may wait for the commit in flight): run it on a blocking thread.
pub fn build(engine: &EngineHandle, request: ProofRequest) -> Result<ProofBundle, ProofError> {
    let internal = |e: tenge_storage::StoreError| ProofError::Internal(e.to_string());
    let genesis_header = engine
        .store
        .block(Height::GENESIS)
        .map_err(internal)?
        .ok_or_else(|| ProofError::Internal("the genesis block is not stored".into()))?
        .header;
    for _ in 0..ATTEMPTS {
        let (head, claim, epoch_ends) = {
            let ledger = engine
                .ledger
                .read()
                .map_err(|_| ProofError::Internal("ledger lock poisoned".into()))?;
            let state = ledger.state();
            let epoch_ends = state.membership().epoch_ends.clone();
            let claim = match request {
                ProofRequest::Account(id) => state.account_claim(&id),
                ProofRequest::Supply => state.supply_claim(),
                ProofRequest::Earmark(id) => state
                    .earmark_claim(&id)
                    .ok_or_else(|| ProofError::NotFound(format!("earmark {id} does not exist")))?,
            };
            (ledger.head().clone(), claim, epoch_ends)
        };
        if head.height == Height::GENESIS {
            return Err(ProofError::Unavailable(
                "no block has committed yet; a proof needs a commit certificate".into(),
            ));
        }
        if let Some(commit) = commit_proof(engine, &head)? {
            // The set that certified the head follows from the genesis set through the epoch
            // ends before it (D80).
            let ends = epoch_ends
                .iter()
                .take(usize::try_from(head.epoch).unwrap_or(usize::MAX))
                .map(|height| epoch_end(engine, *height))
                .collect::<Result<Vec<_>, _>>()?;
            let chain = ChainIdentity::in_epoch(&engine.genesis, genesis_header.clone(), ends);
            return Ok(ProofBundle::new(chain, commit, claim));
        }
        std::thread::sleep(RETRY_INTERVAL);
    }
    Err(ProofError::Unavailable(
        "the head's commit certificate is not stored yet; retry".into(),
    ))
}

/// The head's header and its descendants in the store up to the first block stored with a commit
/// certificate (usually the head itself: the last block of every commit carries one), or `None`
/// if that block is not written yet. Only certificates are read for the head, never its block.
fn commit_proof(
    engine: &EngineHandle,
    head: &tenge_types::BlockHeader,
) -> Result<Option<CommitProof>, ProofError> {
    let internal = |e: String| ProofError::Internal(e);
    let mut headers = vec![head.clone()];
    let mut height = head.height;
    loop {
        if let Some((commit_qc, suffix)) = stored_commit(engine, height)? {
            headers.extend(suffix);
            return Ok(Some(CommitProof { headers, commit_qc }));
        }
        if headers.len() >= MAX_HEADER_CHAIN {
            return Ok(None);
        }
        height = height.next();
        let Some(block) = engine
            .store
            .block(height)
            .map_err(|e| internal(e.to_string()))?
        else {
            return Ok(None);
        };
        headers.push(block.header);
    }
}

/// Most headers a header chain holds once it reaches a commit certificate (a client may ask for
/// fewer).
pub const HEADERS_PER_CHAIN: usize = 256;
/// A header chain stops growing past this many bytes of transactions read with its blocks (the
/// store keeps whole blocks), once it reaches a commit certificate.
const BLOCK_BYTES_PER_CHAIN: usize = 8 * 1024 * 1024;

/// The certified headers from height `from` (`GET /v1/headers/{from}`, `tenge follow`): up to
/// the last stored block with a commit certificate within `limit` headers (at most
/// [`HEADERS_PER_CHAIN`]; further if none is that close, up to `MAX_HEADER_CHAIN`). Above the
/// head: no chain. Blocking (store reads, and it may wait for the commit in flight): run it on
/// a blocking thread.
pub fn header_chain(
    engine: &EngineHandle,
    from: Height,
    limit: usize,
) -> Result<HeaderChainView, ProofError> {
    for _ in 0..ATTEMPTS {
        let head = engine
            .ledger
            .read()
            .map_err(|_| ProofError::Internal("ledger lock poisoned".into()))?
            .head()
            .height;
        if from > head {
            return Ok(HeaderChainView {
                from: from.0,
                head: head.0,
                headers: 0,
                chain_hex: None,
            });
        }
        if head == Height::GENESIS {
            return Err(ProofError::Unavailable(
                "no block has committed yet; a header chain needs a commit certificate".into(),
            ));
        }
        match chain_from(engine, from, limit.min(HEADERS_PER_CHAIN))? {
            Scan::Chain(chain) => {
                return Ok(HeaderChainView {
                    from: from.0,
                    head: head.0,
                    headers: chain.headers.len(),
                    chain_hex: Some(hex_string(&chain.to_bytes())),
                });
            }
            // The commit in flight is being written: its certificate comes with it.
            Scan::EndOfStore => std::thread::sleep(RETRY_INTERVAL),
            Scan::NoCertificate => {
                return Err(ProofError::Unavailable(format!(
                    "no commit certificate is stored within {MAX_HEADER_CHAIN} blocks of height {from}"
                )));
            }
        }
    }
    Err(ProofError::Unavailable(
        "no commit certificate is stored yet above this height; retry".into(),
    ))
}

/// The commit proof of the block that ended an epoch, at `height`: its header, the empty headers
/// its certificate commits it through, and that certificate.
fn epoch_end(engine: &EngineHandle, height: Height) -> Result<CommitProof, ProofError> {
    let missing =
        || ProofError::Internal(format!("the epoch end at height {height} is not stored"));
    let block = engine
        .store
        .block(height)
        .map_err(|e| ProofError::Internal(e.to_string()))?
        .ok_or_else(missing)?;
    let (commit_qc, suffix) = stored_commit(engine, height)?.ok_or_else(missing)?;
    let mut headers = vec![block.header];
    headers.extend(suffix);
    Ok(CommitProof { headers, commit_qc })
}

/// The commit certificate stored with the block at `height`, if it is the last of its commit,
/// with the headers it commits that block through (an epoch's end, D80; usually none).
fn stored_commit(
    engine: &EngineHandle,
    height: Height,
) -> Result<Option<(QuorumCertificate, Vec<BlockHeader>)>, ProofError> {
    let certificates = engine
        .store
        .certificate(height)
        .map_err(|e| ProofError::Internal(e.to_string()))?
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| StoredCertificates::from_bytes(&bytes))
        .transpose()
        .map_err(|e| ProofError::Internal(format!("certificates of block {height}: {e}")))?;
    Ok(certificates.and_then(|c| c.commit_qc.map(|qc| (qc, c.commit_suffix))))
}

/// What a scan of the store from a height found.
enum Scan {
    /// Headers up to the last block with a commit certificate within the limits.
    Chain(CommitProof),
    /// No certificate before the end of the store (the commit in flight brings one).
    EndOfStore,
    /// No certificate within `MAX_HEADER_CHAIN` blocks.
    NoCertificate,
}

/// Stored headers from `from` to the last block with a commit certificate within the limits.
fn chain_from(engine: &EngineHandle, from: Height, limit: usize) -> Result<Scan, ProofError> {
    let internal = |e: String| ProofError::Internal(e);
    let mut headers = Vec::new();
    let mut committed = None;
    let mut bytes = 0;
    let mut height = from;
    let mut end_of_store = false;
    while headers.len() < MAX_HEADER_CHAIN {
        let Some(block) = engine
            .store
            .block(height)
            .map_err(|e| internal(e.to_string()))?
        else {
            end_of_store = true;
            break;
        };
        bytes += block
            .transactions
            .iter()
            .map(|tx| tx.encoded_len())
            .sum::<usize>();
        let ends_epoch = block.header.ends_epoch();
        headers.push(block.header);
        if let Some((commit_qc, suffix)) = stored_commit(engine, height)? {
            committed = Some((headers.len(), commit_qc, suffix));
            // A chain never crosses an epoch's end: what follows is certified by the next set,
            // which the client learns from this header (D80).
            if ends_epoch || headers.len() >= limit || bytes >= BLOCK_BYTES_PER_CHAIN {
                break;
            }
        }
        height = height.next();
    }
    Ok(match committed {
        Some((len, commit_qc, suffix)) => {
            headers.truncate(len);
            headers.extend(suffix);
            Scan::Chain(CommitProof { headers, commit_qc })
        }
        None if end_of_store => Scan::EndOfStore,
        None => Scan::NoCertificate,
    })
}

/// The bundle with what it proves, checked by the same verifier `tenge verify` runs.
pub fn view(
    engine: &EngineHandle,
    bundle: &ProofBundle,
) -> Result<crate::views::ProofView, ProofError> {
    let verified = tenge_proof::verify(bundle, &engine.genesis).map_err(|e| {
        ProofError::Internal(format!(
            "built a bundle that does not verify ({}): {e}",
            e.check()
        ))
    })?;
    let bytes = bundle.to_bytes();
    Ok(crate::views::ProofView {
        bundle_bytes: bytes.len(),
        bundle_hex: hex_string(&bytes),
        verified,
    })
}

fn hex_string(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}
