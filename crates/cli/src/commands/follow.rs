//! `tenge follow`: a light client (D78). Headers and commit certificates are fetched from a node
//! that is not trusted and checked by `tenge_proof::LightClient` against the genesis file; what
//! is printed is only what verified.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tenge_client::views::HeaderChainView;
use tenge_client::{Client, ClientError};
use tenge_proof::{CommitProof, FollowError, LightClient, MAX_HEADER_CHAIN_BYTES};
use tenge_types::{BlockId, Genesis, Height};

use crate::args::Output;
use crate::commands::proofs::read_genesis;
use crate::context::client;
use crate::exit::{Exit, Failure, Outcome};

/// Follows `node` from the genesis (or `checkpoint`) to its head. With `once`, returns the
/// certified head when caught up; without, prints each new head and goes on (transient node
/// errors are reported and retried; a chain that does not verify ends the run with exit 1).
pub async fn follow(
    node: &str,
    genesis: &Path,
    checkpoint: Option<(u64, String)>,
    once: bool,
    interval: Duration,
    output: Output,
) -> Outcome {
    let genesis = read_genesis(genesis)?;
    let checkpoint = checkpoint
        .map(|(height, id)| {
            id.parse::<BlockId>()
                .map(|id| (Height(height), id))
                .map_err(|e| Failure::input(format!("--checkpoint: {e}")))
        })
        .transpose()?;
    let client = client(node);
    let mut light = loop {
        match start(&client, &genesis, checkpoint).await {
            Ok(started) => break started,
            Err(Step::Wait(failure)) if !once => waiting(&failure, interval).await,
            Err(Step::Wait(failure) | Step::Stop(failure)) => return Err(failure),
        }
    };
    let mut printed = None;
    loop {
        let node_head = match advance(&client, &mut light).await {
            // Moved: ask for what follows at once.
            Ok((true, _)) => continue,
            Ok((false, head)) => head,
            Err(Step::Stop(failure)) => return Err(failure),
            Err(Step::Wait(failure)) if once => return Err(failure),
            Err(Step::Wait(failure)) => {
                waiting(&failure, interval).await;
                continue;
            }
        };
        // Caught up with what the node serves.
        let view = head_view(&light, node_head);
        if once {
            return Ok(view);
        }
        if printed != Some(light.head().height) {
            printed = Some(light.head().height);
            crate::output::print(output, &view);
        }
        tokio::time::sleep(interval).await;
    }
}

/// Why a step did not move the head: the node was not ready or not reachable (worth asking
/// again), or it served something that does not verify (never).
enum Step {
    Wait(Failure),
    Stop(Failure),
}

async fn waiting(failure: &Failure, interval: Duration) {
    eprintln!(
        "tenge: {}; asking again in {} ms",
        failure.message,
        interval.as_millis()
    );
    tokio::time::sleep(interval).await;
}

/// The client at the genesis block, moved to the checkpoint if there is one.
async fn start(
    client: &Client,
    genesis: &Genesis,
    checkpoint: Option<(Height, BlockId)>,
) -> Result<LightClient, Step> {
    // With a checkpoint, only the genesis block is needed from height 0 (its id is bound into
    // every signature): the shortest chain that reaches a commit certificate.
    let limit = checkpoint.map(|_| 1);
    let (chain, _) = fetch(client, 0, limit).await?;
    let chain = chain.ok_or_else(|| {
        Step::Wait(Failure::with_exit(
            Exit::Unreachable,
            "the node serves no headers from the genesis block yet",
        ))
    })?;
    let mut light = LightClient::start(genesis, &chain).map_err(refused)?;
    if let Some((height, block)) = checkpoint {
        let (chain, _) = fetch(client, height.0, None).await?;
        let chain = chain.ok_or_else(|| {
            Step::Wait(Failure::with_exit(
                Exit::Unreachable,
                format!("the node has not committed the checkpoint's height {height} yet"),
            ))
        })?;
        light.jump(height, &block, &chain).map_err(refused)?;
    }
    Ok(light)
}

/// One chain above the head, verified: whether the head moved (the node had something above
/// it), and the node's head.
async fn advance(client: &Client, light: &mut LightClient) -> Result<(bool, u64), Step> {
    let from = light.head().height.next();
    let (chain, node_head) = fetch(client, from.0, None).await?;
    match chain {
        Some(chain) => {
            light.extend(&chain).map_err(refused)?;
            Ok((true, node_head))
        }
        None => Ok((false, node_head)),
    }
}

/// The chain the node serves from `from` (`None` above its head) and its head.
async fn fetch(
    client: &Client,
    from: u64,
    limit: Option<usize>,
) -> Result<(Option<CommitProof>, u64), Step> {
    let view: HeaderChainView = client.headers(from, limit).await.map_err(|e| {
        let answered = matches!(&e, ClientError::Api(detail) if detail.status < 500);
        let failure = Failure::from(e);
        // A 4xx is this client's mistake; anything else may pass.
        if answered {
            Step::Stop(failure)
        } else {
            Step::Wait(failure)
        }
    })?;
    let Some(chain_hex) = view.chain_hex else {
        return Ok((None, view.head));
    };
    // Bytes that are not a chain verify no more than a forged chain does.
    let wrong = |reason: String| {
        let message = format!("the node sent a header chain that {reason}");
        Step::Stop(Failure {
            exit: Exit::Rejected,
            json: Some(json!({"valid": false, "check": "undecodable", "error": message})),
            message,
        })
    };
    if chain_hex.len() > 2 * MAX_HEADER_CHAIN_BYTES {
        return Err(wrong(format!(
            "is {} hex digits, over the limit of {}",
            chain_hex.len(),
            2 * MAX_HEADER_CHAIN_BYTES
        )));
    }
    let bytes = hex::decode(&chain_hex).map_err(|e| wrong(format!("is not hex: {e}")))?;
    let chain =
        CommitProof::from_bytes(&bytes).map_err(|e| wrong(format!("does not decode: {e}")))?;
    Ok((Some(chain), view.head))
}

/// A chain that failed verification: exit 1, naming the check.
fn refused(error: FollowError) -> Step {
    Step::Stop(Failure {
        exit: Exit::Rejected,
        message: format!(
            "the node served headers that do not verify ({}): {error}",
            error.check()
        ),
        json: Some(json!({
            "valid": false,
            "check": error.check(),
            "error": error.to_string(),
        })),
    })
}

/// The certified head, and the epoch and validator set that certify the blocks after it.
fn head_view(light: &LightClient, node_head: u64) -> serde_json::Value {
    let head = light.head();
    let validators = light.validators();
    let (headers, certificates) = light.verified();
    json!({
        "chain_id": light.chain_id().to_string(),
        "height": head.height.0,
        "block_id": head.id().to_hex(),
        "state_root": head.state_root.to_hex(),
        "block_time_ms": head.timestamp.0,
        "epoch": light.epoch(),
        "quorum": validators.quorum(),
        "validators": light
            .members()
            .iter()
            .enumerate()
            .map(|(index, v)| json!({
                "index": index,
                "name": v.name,
                "consensus_key": v.consensus_key.to_hex(),
            }))
            .collect::<Vec<_>>(),
        "headers_verified": headers,
        "certificates_verified": certificates,
        // What the node says of itself: not verified, and only a hint of how far behind it keeps
        // this client.
        "node_reported_head": node_head,
    })
}
