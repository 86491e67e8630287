//! The checker, run once the faults are healed and the workload stopped:
//! - every acknowledged transaction is committed, on every node, at the same height and index,
//!   and appears exactly once in the chain;
//! - every node has the same block at every height (id, parent, state root, transactions), and
//!   the blocks chain by parent id;
//! - supply is conserved: issued - redeemed = outstanding, equal everywhere, equal to what the
//!   test issued, and all of it with the two banks that only paid each other;
//! - nobody halted: no `halted` in any status, `/health` 200 everywhere;
//! - commits resumed after the last fault: a transaction acknowledged after the heal committed
//!   above the height the nodes had at the heal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tenge_api::Client;
use tenge_api::views::{BlockView, TransactionOutcome, TransactionStatus, TransactionView};
use tenge_types::HashValue;

use crate::cluster::FaultCluster;
use crate::workload::WorkloadReport;

/// What the checker saw, for the test's report line.
#[derive(Debug)]
pub struct Summary {
    pub acknowledged: usize,
    /// Heights compared block by block on every node.
    pub compared_up_to: u64,
    pub last_commit_height: u64,
}

/// Polls `probe` every 100 ms until it returns Some, or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Some((value, start.elapsed()));
        }
        if start.elapsed() >= timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn views(client: Client, hashes: Vec<HashValue>) -> Vec<Result<TransactionView, String>> {
    let mut views = Vec::with_capacity(hashes.len());
    for hash in hashes {
        views.push(client.transaction(&hash).await.map_err(|e| e.to_string()));
    }
    views
}

async fn blocks(client: Client, up_to: u64) -> Result<Vec<BlockView>, String> {
    let mut blocks = Vec::with_capacity(up_to as usize);
    for height in 1..=up_to {
        blocks.push(
            client
                .block(height)
                .await
                .map_err(|e| format!("block {height}: {e}"))?,
        );
    }
    Ok(blocks)
}

fn fail(cluster: &FaultCluster, problems: &[String]) -> ! {
    panic!(
        "{} problems:\n  {}\n{}",
        problems.len(),
        problems
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  "),
        cluster.logs_tail(25)
    )
}

/// Checks everything the module describes; panics with every problem found and the logs.
/// `resumed_above` is the highest height any node had when the last fault was healed.
pub async fn check(cluster: &FaultCluster, report: &WorkloadReport, resumed_above: u64) -> Summary {
    let mut problems: Vec<String> = report
        .anomalies
        .iter()
        .map(|a| {
            format!(
                "workload via {}: {}",
                cluster.nodes[a.node].name, a.description
            )
        })
        .collect();
    let nodes = cluster.all_indices();
    let reference = 0;

    // 1. Every acknowledged sequence is used on the reference node's ledger.
    let mut highest = [None::<u64>; 2];
    for ack in &report.acknowledged {
        highest[ack.bank] = highest[ack.bank].max(Some(ack.sequence));
    }
    let client = cluster.client(reference);
    let settled = eventually(Duration::from_secs(90), move || async move {
        for (bank, id) in report.banks.iter().enumerate() {
            if let Some(sequence) = highest[bank] {
                let account = client.account(id).await.ok()?;
                if account.sequence <= sequence {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
    if settled.is_none() {
        let pending: Vec<String> = report
            .acknowledged
            .iter()
            .rev()
            .take(10)
            .map(|a| format!("bank-{} #{} {}", a.bank + 1, a.sequence, a.hash))
            .collect();
        problems.push(format!(
            "acknowledged transactions not final on {} after 90 s (last: {pending:?})",
            cluster.nodes[reference].name
        ));
        fail(cluster, &problems);
    }

    // 2. Their outcomes on every node, once every node has the block of the last.
    let hashes: Vec<HashValue> = report.acknowledged.iter().map(|a| a.hash).collect();
    let reference_views = views(client.clone(), hashes.clone()).await;
    let height = reference_views
        .iter()
        .filter_map(|v| v.as_ref().ok().and_then(|v| v.height))
        .max()
        .unwrap_or(0);
    for &i in &nodes {
        let reached = eventually(Duration::from_secs(60), move || async move {
            (cluster.height(i).await? >= height).then_some(())
        })
        .await;
        if reached.is_none() {
            problems.push(format!(
                "{} did not reach height {height} within 60 s (at {:?})",
                cluster.nodes[i].name,
                cluster.height(i).await
            ));
        }
    }
    if !problems.is_empty() {
        fail(cluster, &problems);
    }
    let tasks: Vec<_> = nodes
        .iter()
        .map(|&i| tokio::spawn(views(cluster.client(i).clone(), hashes.clone())))
        .collect();
    let mut by_node = Vec::new();
    for task in tasks {
        by_node.push(task.await.expect("views task"));
    }
    for (n, ack) in report.acknowledged.iter().enumerate() {
        let expected = match &reference_views[n] {
            Ok(view) if view.status == TransactionStatus::Committed => view,
            other => {
                problems.push(format!(
                    "acknowledged bank-{} #{} {} (by {}) is not committed on {}: {other:?}",
                    ack.bank + 1,
                    ack.sequence,
                    ack.hash,
                    cluster.nodes[ack.node].name,
                    cluster.nodes[reference].name
                ));
                continue;
            }
        };
        for &i in &nodes {
            match &by_node[i][n] {
                Ok(view)
                    if view.status == expected.status
                        && view.height == expected.height
                        && view.index == expected.index => {}
                other => problems.push(format!(
                    "{} says {other:?} for {}, {} says {expected:?}",
                    cluster.nodes[i].name, ack.hash, cluster.nodes[reference].name
                )),
            }
        }
    }

    // 3. One block per height, the same everywhere, chained; each transaction in it once. Up to
    // the lowest tip of all, which is at least the height of the last acknowledged transaction.
    let common = cluster
        .heights(&nodes)
        .await
        .into_iter()
        .map(|h| h.unwrap_or(0))
        .min()
        .unwrap_or(0)
        .max(height);
    let tasks: Vec<_> = nodes
        .iter()
        .map(|&i| tokio::spawn(blocks(cluster.client(i).clone(), common)))
        .collect();
    let mut chains = Vec::new();
    for (task, &i) in tasks.into_iter().zip(&nodes) {
        match task.await.expect("blocks task") {
            Ok(chain) => chains.push(chain),
            Err(e) => {
                problems.push(format!("{}: {e}", cluster.nodes[i].name));
                fail(cluster, &problems);
            }
        }
    }
    let digest = |b: &BlockView| {
        (
            b.height,
            b.id.clone(),
            b.parent_id.clone(),
            b.state_root.clone(),
            b.transactions
                .iter()
                .map(|t| (t.hash.clone(), t.outcome))
                .collect::<Vec<_>>(),
        )
    };
    for (k, chain) in chains.iter().enumerate() {
        for (h, block) in chain.iter().enumerate() {
            if h > 0 && block.parent_id != chain[h - 1].id {
                problems.push(format!(
                    "{}: block {} has parent {}, block {} is {}",
                    cluster.nodes[nodes[k]].name,
                    block.height,
                    block.parent_id,
                    h,
                    chain[h - 1].id
                ));
            }
            if digest(block) != digest(&chains[0][h]) {
                problems.push(format!(
                    "{} and {} differ at height {}: {} vs {}",
                    cluster.nodes[nodes[k]].name,
                    cluster.nodes[nodes[0]].name,
                    block.height,
                    block.id,
                    chains[0][h].id
                ));
            }
        }
    }
    let mut places: HashMap<&str, Vec<(u64, usize, TransactionOutcome)>> = HashMap::new();
    for block in &chains[0] {
        for (index, tx) in block.transactions.iter().enumerate() {
            places
                .entry(tx.hash.as_str())
                .or_default()
                .push((block.height, index, tx.outcome));
        }
    }
    for (hash, found) in &places {
        if found.len() > 1 {
            problems.push(format!(
                "transaction {hash} is in the chain {} times: {found:?}",
                found.len()
            ));
        }
    }
    for (n, ack) in report.acknowledged.iter().enumerate() {
        let hash = ack.hash.to_string();
        let found = places.get(hash.as_str()).cloned().unwrap_or_default();
        let expected = reference_views[n]
            .as_ref()
            .ok()
            .and_then(|v| Some((v.height?, v.index? as usize, TransactionOutcome::Applied)));
        if found.len() != 1 || expected != Some(found[0]) {
            problems.push(format!(
                "acknowledged {hash}: in blocks at {found:?}, its view says {expected:?}"
            ));
        }
    }

    // 4. Supply conserved, everywhere the same; the banks hold all of it.
    for &i in &nodes {
        let client = cluster.client(i);
        match client.supply().await {
            Ok(supply) => {
                if supply.issued_tiyn.checked_sub(supply.redeemed_tiyn)
                    != Some(supply.outstanding_tiyn)
                    || supply.issued_tiyn != report.funded_tiyn
                    || supply.redeemed_tiyn != 0
                {
                    problems.push(format!(
                        "{}: supply {supply:?}, the test issued {} and redeemed nothing",
                        cluster.nodes[i].name, report.funded_tiyn
                    ));
                }
            }
            Err(e) => problems.push(format!("{}: supply: {e}", cluster.nodes[i].name)),
        }
        let mut held = 0u64;
        for bank in &report.banks {
            match client.account(bank).await {
                Ok(account) => held += account.balance_tiyn + account.earmarked_tiyn,
                Err(e) => problems.push(format!("{}: account {bank}: {e}", cluster.nodes[i].name)),
            }
        }
        if held != report.funded_tiyn {
            problems.push(format!(
                "{}: the banks hold {held} tiyn together, {} were issued to them",
                cluster.nodes[i].name, report.funded_tiyn
            ));
        }
    }

    // 5. Nobody halted.
    for &i in &nodes {
        match cluster.status(i).await {
            Some(status) if status.halted.is_none() => {}
            other => problems.push(format!("{}: status {other:?}", cluster.nodes[i].name)),
        }
        let health = cluster.http_status(i, "/health").await;
        if health != Some(200) {
            problems.push(format!("{}: /health {health:?}", cluster.nodes[i].name));
        }
    }

    // 6. Commits resumed after the last fault.
    if height <= resumed_above {
        problems.push(format!(
            "the last acknowledged transaction committed at {height}, not above {resumed_above} \
             (the height at the last heal)"
        ));
    }
    if !problems.is_empty() {
        fail(cluster, &problems);
    }
    Summary {
        acknowledged: report.acknowledged.len(),
        compared_up_to: common,
        last_commit_height: height,
    }
}
