//! `tenge bench`: an open-loop load generator.
//!
//! It prepares funded tier-1 wallets, signs every transfer before the measured window (signing
//! would otherwise compete with the nodes for the same cores), then submits at a fixed rate,
//! spread over the validators, whatever the cluster does. Latency runs from each transaction's
//! scheduled send time to the moment its block is announced as committed, so a stalled cluster
//! shows up as latency, not as a lower send rate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tenge_client::Client;
use tenge_client::views::TransactionStatus;
use tenge_crypto::{Keypair, sign_transaction};
use tenge_types::transaction::{Issue, OpenWallet, Transfer};
use tenge_types::{AccountId, Amount, ChainId, HashValue, Payload, SignedTransaction, Transaction};

pub struct BenchOptions {
    /// Validator APIs to submit to (round-robin); events are read from the first.
    pub nodes: Vec<String>,
    /// Officer keys (k of m) for issuance if the bank needs money.
    pub officers: Vec<Keypair>,
    /// The bank that opens and funds the wallets.
    pub bank: Keypair,
    pub rate: u64,
    pub duration_s: u64,
    pub accounts: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BenchReport {
    pub submitted: u64,
    pub committed: u64,
    pub rejected: u64,
    pub tps: f64,
    pub latency_ms: Latency,
    /// From the moment a node accepted a transaction (its 202) to its commit: what a client
    /// that was let in waits, retries before it excluded.
    pub admitted_latency_ms: Latency,
    /// Transactions a node answered with 503 (full: retry later), counted per answer.
    pub throttled: u64,
    /// The run in 10-second windows: a run that degrades shows it here.
    pub timeline: Vec<Window>,
    /// Why transactions were refused for good (not 503), with how many: the answer's status,
    /// kind and rejection name, or the request's failure.
    #[serde(default)]
    pub refusals: std::collections::BTreeMap<String, u64>,
    /// Transactions whose request did not get through, by reason (they were sent again).
    #[serde(default)]
    pub unreachable: std::collections::BTreeMap<String, u64>,
}

/// Counts a final refusal under its reason.
fn count_refusal(
    refusals: &Mutex<std::collections::BTreeMap<String, u64>>,
    reason: String,
    n: u64,
) {
    *refusals.lock().expect("lock").entry(reason).or_default() += n;
}

/// One 10-second window of the measured run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Window {
    /// Seconds from the start of the run to the start of the window.
    pub start_s: u64,
    /// Transactions committed during the window (by commit time), per second.
    pub committed_tps: f64,
    /// Latency of the transactions scheduled during the window.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Load transactions stay valid for six hours: longer than any run, within the default policy.
fn bench_expiry() -> tenge_types::TimestampMs {
    tenge_types::TimestampMs(tenge_types::TimestampMs::now().0 + 6 * 3_600_000)
}

/// The first and the longest wait before a refused (503) batch is sent again.
const RETRY_FIRST: Duration = Duration::from_millis(200);
const RETRY_LAST: Duration = Duration::from_millis(3_200);

/// A wallet that had a transaction refused with 503. Like a client, it sends nothing more until
/// its back-off is over, and then its waiting transactions in sequence order: a client does not
/// send sequence s + 1 while s is refused (a bench that did would leave sequence gaps that no
/// block can take, and measure its own retry timers instead of the cluster, N3).
struct Held {
    /// Scheduled indexes of the wallet's transactions not yet admitted, in sequence order.
    waiting: std::collections::BTreeSet<usize>,
    /// When the waiting transactions go out; `None` while they are out.
    until: Option<Instant>,
    backoff: Duration,
    /// After a refusal only the first waiting transaction goes out, as a probe: a client retries
    /// its one refused transaction, it does not resend everything it has queued meanwhile.
    probe: bool,
}

impl Held {
    /// What goes out now: the first waiting transaction after a refusal, else all of them.
    fn take_ready(&mut self) -> Vec<usize> {
        self.until = None;
        if self.probe {
            self.waiting.pop_first().into_iter().collect()
        } else {
            std::mem::take(&mut self.waiting).into_iter().collect()
        }
    }
}

/// Updates the held wallets after an answer: `sent` went out, `busy` of them were refused with
/// 503. A refused transaction holds its wallet (the back-off doubles from `RETRY_FIRST` to
/// `RETRY_LAST`, spread by up to a quarter so that held wallets do not come back together); a
/// held wallet whose transactions all got in is free again, or sends what waited meanwhile.
fn hold(
    held: &mut HashMap<usize, Held>,
    sent: &[usize],
    busy: &[usize],
    wallets: usize,
    now: Instant,
) {
    let mut refused_wallets = std::collections::BTreeSet::new();
    for &i in busy {
        let wallet = held.entry(i % wallets).or_insert(Held {
            waiting: std::collections::BTreeSet::new(),
            until: None,
            backoff: Duration::ZERO,
            probe: true,
        });
        wallet.waiting.insert(i);
        refused_wallets.insert(i % wallets);
    }
    for &w in &refused_wallets {
        let wallet = held.get_mut(&w).expect("inserted above");
        // A wallet already waiting out a back-off keeps it.
        if wallet.until.is_none() {
            wallet.backoff = if wallet.backoff.is_zero() {
                RETRY_FIRST
            } else {
                (wallet.backoff * 2).min(RETRY_LAST)
            };
            let spread = wallet.backoff / 4 * (w % 256) as u32 / 255;
            wallet.until = Some(now + wallet.backoff + spread);
            wallet.probe = true;
        }
    }
    let answered: std::collections::BTreeSet<usize> = sent.iter().map(|i| i % wallets).collect();
    for w in answered.difference(&refused_wallets) {
        if let Some(wallet) = held.get_mut(w)
            && wallet.until.is_none()
        {
            if wallet.waiting.is_empty() {
                held.remove(w);
            } else {
                wallet.until = Some(now);
                wallet.probe = false;
            }
        }
    }
}

/// Transactions per submission request.
const BATCH: usize = 2_000;
/// Submission requests in flight at once.
const IN_FLIGHT: usize = 64;

struct Context {
    clients: Vec<Client>,
    chain_id: ChainId,
}

impl Context {
    fn tx(&self, sender: AccountId, sequence: u64, payload: Payload) -> Transaction {
        Transaction {
            chain_id: self.chain_id.clone(),
            sender,
            sequence,
            expires_at_ms: bench_expiry(),
            payload,
        }
    }

    /// Submits in batches and waits until the last one is final.
    async fn submit_and_wait(&self, transactions: &[SignedTransaction]) -> Result<(), String> {
        let mut last = None;
        for (i, chunk) in transactions.chunks(BATCH).enumerate() {
            let client = &self.clients[i % self.clients.len()];
            let results = client
                .submit_batch(chunk)
                .await
                .map_err(|e| e.to_string())?;
            for (tx, result) in chunk.iter().zip(results) {
                if let Some(error) = result.error {
                    return Err(format!(
                        "setup transaction {} refused: {}",
                        tx.hash(),
                        error.message
                    ));
                }
            }
            last = chunk.last().map(SignedTransaction::hash);
        }
        if let Some(hash) = last {
            let view = self.clients[0]
                .wait_final(&hash, Duration::from_secs(120))
                .await
                .map_err(|e| e.to_string())?;
            if view.status != TransactionStatus::Committed {
                return Err(format!(
                    "setup transaction {hash} {}: {}",
                    view.status,
                    view.reason.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Signs `count` transfers: transaction i moves 1 tiyn from wallet i mod N to the next wallet,
/// with sequence i / N. Spread over the machine's cores.
fn sign_all(context_chain: &ChainId, wallets: &[Keypair], count: usize) -> Vec<SignedTransaction> {
    let n = wallets.len();
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let mut out: Vec<Option<SignedTransaction>> = vec![None; count];
    let per = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for (chunk_index, chunk) in out.chunks_mut(per).enumerate() {
            scope.spawn(move || {
                for (offset, slot) in chunk.iter_mut().enumerate() {
                    let i = chunk_index * per + offset;
                    let from = &wallets[i % n];
                    let tx = Transaction {
                        chain_id: context_chain.clone(),
                        sender: from.account_id(),
                        sequence: (i / n) as u64,
                        expires_at_ms: bench_expiry(),
                        payload: Payload::Transfer(Transfer {
                            to: wallets[(i + 1) % n].account_id(),
                            amount: Amount::from_tiyn(1),
                        }),
                    };
                    *slot = Some(sign_transaction(tx, &[from]));
                }
            });
        }
    });
    out.into_iter().map(|tx| tx.expect("signed")).collect()
}

/// Follows `/v1/events` and records when each transaction's block was announced.
async fn follow_commits(
    client: Client,
    base: String,
    seen: Arc<Mutex<HashMap<HashValue, (Instant, bool)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let http = reqwest::Client::new();
    let Ok(mut response) = http.get(format!("{base}/v1/events")).send().await else {
        return;
    };
    let mut buffer = String::new();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let chunk = match tokio::time::timeout(Duration::from_millis(500), response.chunk()).await {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(_) => return,
            Err(_) => continue,
        };
        let arrived = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let Ok(commit) = serde_json::from_str::<serde_json::Value>(data) else {
                continue;
            };
            if commit["transactions"].as_u64().unwrap_or(0) == 0 {
                continue;
            }
            let Some(height) = commit["height"].as_u64() else {
                continue;
            };
            if let Ok(hashes) = client.block_hashes(height).await {
                let mut seen = seen.lock().expect("lock");
                for (list, applied) in [(&hashes.applied, true), (&hashes.rejected, false)] {
                    for hash in list {
                        if let Ok(hash) = hash.parse() {
                            seen.entry(hash).or_insert((arrived, applied));
                        }
                    }
                }
            }
        }
    }
}

pub async fn run(options: BenchOptions) -> Result<BenchReport, String> {
    if options.nodes.is_empty()
        || options.rate == 0
        || options.duration_s == 0
        || options.accounts < 2
    {
        return Err(
            "bench needs nodes, --rate and --duration above zero and at least 2 --accounts".into(),
        );
    }
    let clients: Vec<Client> = options.nodes.iter().map(|url| Client::new(url)).collect();
    let status = clients[0].status().await.map_err(|e| e.to_string())?;
    let chain_id = ChainId::new(&status.chain_id).map_err(|e| e.to_string())?;
    let context = Context {
        clients: clients.clone(),
        chain_id: chain_id.clone(),
    };
    let bank = options.bank.account_id();
    let n = options.accounts;
    let per_wallet = Amount::from_tenge(100).expect("fits");

    // 1. Money for the bank, if it lacks it.
    let needed = Amount::from_tenge(100 * n as u64 + 1_000).expect("fits");
    let balance = clients[0]
        .account(&bank)
        .await
        .map(|a| a.balance_tiyn)
        .unwrap_or(0);
    if balance < needed.tiyn() {
        let supply = clients[0].supply().await.map_err(|e| e.to_string())?;
        let central_bank: AccountId = supply
            .central_bank
            .parse()
            .map_err(|_| "bad central bank id")?;
        let sequence = clients[0]
            .account(&central_bank)
            .await
            .map(|a| a.sequence)
            .unwrap_or(0);
        let officers: Vec<&Keypair> = options.officers.iter().collect();
        if officers.is_empty() {
            return Err("the bank needs money and no officer keys were given".into());
        }
        let tx = sign_transaction(
            context.tx(
                central_bank,
                sequence,
                Payload::Issue(Issue {
                    to: bank,
                    amount: needed,
                }),
            ),
            &officers,
        );
        context.submit_and_wait(&[tx]).await?;
    }
    // 2. Wallets: opened, then funded.
    eprintln!("bench: opening and funding {n} wallets");
    let wallets: Vec<Keypair> = (0..n)
        .map(|_| Keypair::generate().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let mut sequence = clients[0]
        .account(&bank)
        .await
        .map(|a| a.sequence)
        .map_err(|e| e.to_string())?;
    // One bank transaction per wallet, with consecutive sequence numbers from `sequence`.
    let per_wallet_from_bank = |sequence: u64, payload: &dyn Fn(&Keypair) -> Payload| {
        wallets
            .iter()
            .enumerate()
            .map(|(i, w)| {
                sign_transaction(
                    context.tx(bank, sequence + i as u64, payload(w)),
                    &[&options.bank],
                )
            })
            .collect::<Vec<SignedTransaction>>()
    };
    let opens = per_wallet_from_bank(sequence, &|w| {
        Payload::OpenWallet(OpenWallet {
            key: w.public_key(),
            tier: 1,
        })
    });
    context.submit_and_wait(&opens).await?;
    sequence += n as u64;
    let funding = per_wallet_from_bank(sequence, &|w| {
        Payload::Transfer(Transfer {
            to: w.account_id(),
            amount: per_wallet,
        })
    });
    context.submit_and_wait(&funding).await?;

    // 3. Every transfer of the run, signed before the window.
    let count = (options.rate * options.duration_s) as usize;
    eprintln!("bench: signing {count} transfers");
    let transactions = Arc::new(sign_all(&chain_id, &wallets, count));
    let index: HashMap<HashValue, usize> = transactions
        .iter()
        .enumerate()
        .map(|(i, tx)| (tx.hash(), i))
        .collect();

    // 4. Open-loop submission, commits followed on the first node's event stream.
    // Sized up front: growing a map of millions of entries would stall the follower mid-run
    // and show up as latency that the cluster did not cause.
    let seen: Arc<Mutex<HashMap<HashValue, (Instant, bool)>>> = Arc::new(Mutex::new(
        HashMap::with_capacity(count + count / 8 + 1_024),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = tokio::spawn(follow_commits(
        clients[0].clone(),
        options.nodes[0].clone(),
        seen.clone(),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let throttled = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let admitted: Arc<Mutex<HashMap<HashValue, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let held: Arc<Mutex<HashMap<usize, Held>>> = Arc::new(Mutex::new(HashMap::new()));
    let refusals: Arc<Mutex<std::collections::BTreeMap<String, u64>>> = Arc::default();
    let unreachable: Arc<Mutex<std::collections::BTreeMap<String, u64>>> = Arc::default();
    let limiter = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let start = Instant::now() + Duration::from_millis(100);
    let scheduled = |i: usize| start + Duration::from_secs_f64(i as f64 / options.rate as f64);
    let give_up = start + Duration::from_secs(options.duration_s + 10);
    let mut sent = 0usize;
    let mut next_node = 0usize;
    let mut last_progress = Instant::now();
    eprintln!(
        "bench: {} tx/s for {} s over {} nodes",
        options.rate,
        options.duration_s,
        clients.len()
    );
    loop {
        let now = Instant::now();
        let due = if now < start {
            0
        } else {
            (((now - start).as_secs_f64() * options.rate as f64) as usize + 1).min(count)
        };
        // What goes out this turn: newly due transactions of wallets that are not held, then
        // every held wallet's waiting transactions whose back-off is over, in sequence order.
        let mut ready = Vec::new();
        {
            let mut held = held.lock().expect("lock");
            for i in sent..due {
                match held.get_mut(&(i % n)) {
                    Some(wallet) => {
                        wallet.waiting.insert(i);
                    }
                    None => ready.push(i),
                }
            }
            sent = due;
            if now >= give_up {
                let left: usize = held.values().map(|w| w.waiting.len()).sum();
                refused.fetch_add(left as u64, std::sync::atomic::Ordering::Relaxed);
                count_refusal(
                    &refusals,
                    "still refused (503) at the end".into(),
                    left as u64,
                );
                held.clear();
            }
            for wallet in held.values_mut() {
                if wallet.until.is_some_and(|until| until <= now) {
                    ready.extend(wallet.take_ready());
                }
            }
        }
        for chunk in ready.chunks(BATCH) {
            let client = clients[next_node % clients.len()].clone();
            next_node += 1;
            let chunk = chunk.to_vec();
            let permit = limiter.clone().acquire_owned().await.expect("semaphore");
            let transactions = transactions.clone();
            let (refused, throttled) = (refused.clone(), throttled.clone());
            let (admitted, held) = (admitted.clone(), held.clone());
            let (refusals, unreachable) = (refusals.clone(), unreachable.clone());
            tokio::spawn(async move {
                let _permit = permit;
                let batch: Vec<SignedTransaction> =
                    chunk.iter().map(|&i| transactions[i].clone()).collect();
                let answer = client.submit_batch(&batch).await;
                let answered = Instant::now();
                let busy: Vec<usize> = match answer {
                    Ok(results) => {
                        let mut busy = Vec::new();
                        let mut accepted = Vec::new();
                        for ((&i, tx), result) in chunk.iter().zip(&batch).zip(&results) {
                            match &result.error {
                                Some(error) if error.status == 503 => busy.push(i),
                                Some(error) => {
                                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    let reason = format!(
                                        "{} {} {}",
                                        error.status,
                                        error.kind,
                                        error.name.as_deref().unwrap_or_default()
                                    );
                                    count_refusal(&refusals, reason.trim_end().to_string(), 1);
                                }
                                None => accepted.push(tx.hash()),
                            }
                        }
                        let mut admitted = admitted.lock().expect("lock");
                        for hash in accepted {
                            admitted.insert(hash, answered);
                        }
                        busy
                    }
                    Err(tenge_client::ClientError::Api(detail)) if detail.status == 503 => {
                        chunk.clone()
                    }
                    // A request that did not get through (a connection reset under load) is
                    // sent again like a refused one: dropping it would leave its wallets with
                    // sequence gaps for the rest of the run. A copy that did get in is answered
                    // as a duplicate, or its sequence as used once it commits.
                    Err(tenge_client::ClientError::Unreachable { reason, .. }) => {
                        count_refusal(
                            &unreachable,
                            reason.chars().take(160).collect(),
                            chunk.len() as u64,
                        );
                        chunk.clone()
                    }
                    Err(error) => {
                        refused.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        let reason: String = format!("request failed: {error}")
                            .chars()
                            .take(80)
                            .collect();
                        count_refusal(&refusals, reason, chunk.len() as u64);
                        return;
                    }
                };
                throttled.fetch_add(busy.len() as u64, std::sync::atomic::Ordering::Relaxed);
                if answered >= give_up {
                    refused.fetch_add(busy.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    count_refusal(
                        &refusals,
                        "still refused (503) at the end".into(),
                        busy.len() as u64,
                    );
                    return;
                }
                hold(&mut held.lock().expect("lock"), &chunk, &busy, n, answered);
            });
        }
        if now - last_progress >= Duration::from_secs(1) {
            last_progress = now;
            let committed = seen.lock().expect("lock").len();
            eprintln!(
                "bench: t={:>4.1}s submitted {sent} committed {committed} refused {} throttled {}",
                start.elapsed().as_secs_f64(),
                refused.load(std::sync::atomic::Ordering::Relaxed),
                throttled.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
        let answered_all = limiter.available_permits() == IN_FLIGHT;
        if sent >= count
            && answered_all
            && (now >= give_up || held.lock().expect("lock").is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 5. Wait for the tail: until everything is final, or nothing moves for 10 s.
    let mut last_count = 0;
    let mut last_change = Instant::now();
    loop {
        let done = seen.lock().expect("lock").len()
            + refused.load(std::sync::atomic::Ordering::Relaxed) as usize;
        if done >= count || last_change.elapsed() > Duration::from_secs(10) {
            break;
        }
        if done != last_count {
            last_count = done;
            last_change = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = follower.await;

    let seen = seen.lock().expect("lock");
    let admitted = admitted.lock().expect("lock");
    let mut admitted_latencies = Vec::new();
    let mut latencies = Vec::new();
    let (mut committed, mut rejected) = (0u64, refused.load(std::sync::atomic::Ordering::Relaxed));
    let windows = (options.duration_s.div_ceil(10) as usize).max(1);
    let mut committed_in = vec![0u64; windows];
    let mut latencies_in: Vec<Vec<f64>> = vec![Vec::new(); windows];
    for (hash, (at, applied)) in seen.iter() {
        let Some(&i) = index.get(hash) else { continue };
        if *applied {
            committed += 1;
            let latency = at.saturating_duration_since(scheduled(i)).as_secs_f64() * 1_000.0;
            latencies.push(latency);
            if let Some(accepted) = admitted.get(hash) {
                admitted_latencies
                    .push(at.saturating_duration_since(*accepted).as_secs_f64() * 1_000.0);
            }
            let sent_window = ((i as u64 / options.rate) / 10) as usize;
            latencies_in[sent_window.min(windows - 1)].push(latency);
            // Commits after the last window (the drain) count in the total only.
            let commit_window = (at.saturating_duration_since(start).as_secs() / 10) as usize;
            if let Some(count) = committed_in.get_mut(commit_window) {
                *count += 1;
            }
        } else {
            rejected += 1;
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    admitted_latencies.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let summary = |values: &[f64]| Latency {
        p50: round(percentile(values, 50.0)),
        p95: round(percentile(values, 95.0)),
        p99: round(percentile(values, 99.0)),
        max: round(values.last().copied().unwrap_or(0.0)),
    };
    Ok(BenchReport {
        submitted: count as u64,
        committed,
        rejected,
        tps: round(committed as f64 / options.duration_s as f64),
        latency_ms: summary(&latencies),
        admitted_latency_ms: summary(&admitted_latencies),
        throttled: throttled.load(std::sync::atomic::Ordering::Relaxed),
        timeline: committed_in
            .iter()
            .zip(&mut latencies_in)
            .enumerate()
            .map(|(w, (count, window_latencies))| {
                let start_s = 10 * w as u64;
                let span = options.duration_s.saturating_sub(start_s).clamp(1, 10);
                window_latencies.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
                Window {
                    start_s,
                    committed_tps: round(*count as f64 / span as f64),
                    p50_ms: round(percentile(window_latencies, 50.0)),
                    p99_ms: round(percentile(window_latencies, 99.0)),
                }
            })
            .collect(),
        refusals: refusals.lock().expect("lock").clone(),
        unreachable: unreachable.lock().expect("lock").clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const WALLETS: usize = 10;

    #[test]
    fn a_refused_transaction_holds_its_wallet_and_later_ones_wait_behind_it() {
        let mut held = HashMap::new();
        let now = Instant::now();
        // Wallet 3 sent sequence 0 (index 3) and sequence 1 (index 13); the first was refused.
        hold(&mut held, &[3, 13, 4], &[3], WALLETS, now);
        let wallet = &held[&3];
        assert_eq!(wallet.waiting.iter().copied().collect::<Vec<_>>(), vec![3]);
        assert_eq!(wallet.backoff, RETRY_FIRST);
        let until = wallet.until.expect("backing off");
        assert!(until >= now + RETRY_FIRST && until <= now + RETRY_FIRST * 5 / 4);
        assert!(
            !held.contains_key(&4),
            "a wallet with nothing refused is not held"
        );
    }

    #[test]
    fn after_a_refusal_only_the_first_waiting_transaction_goes_out() {
        let mut held = HashMap::new();
        let now = Instant::now();
        hold(&mut held, &[3, 13, 23], &[3, 13, 23], WALLETS, now);
        let wallet = held.get_mut(&3).expect("held");
        assert_eq!(wallet.take_ready(), vec![3]);
        assert_eq!(
            wallet.waiting.iter().copied().collect::<Vec<_>>(),
            vec![13, 23]
        );
        assert_eq!(wallet.until, None, "the probe is out");
    }

    #[test]
    fn a_wallet_refused_again_backs_off_longer_up_to_the_last_wait() {
        let mut held = HashMap::new();
        let now = Instant::now();
        let mut expected = RETRY_FIRST;
        for round in 0..8 {
            if let Some(wallet) = held.get_mut(&1) {
                // Its waiting transactions went out again.
                let wallet: &mut Held = wallet;
                wallet.waiting.clear();
                wallet.until = None;
            }
            hold(&mut held, &[1], &[1], WALLETS, now);
            assert_eq!(held[&1].backoff, expected, "round {round}");
            expected = (expected * 2).min(RETRY_LAST);
        }
        assert_eq!(held[&1].backoff, RETRY_LAST);
    }

    #[test]
    fn a_held_wallet_whose_retry_got_in_is_free_or_sends_what_waited() {
        let mut held = HashMap::new();
        let now = Instant::now();
        hold(&mut held, &[2, 5], &[2, 5], WALLETS, now);
        // Both retries go out; meanwhile wallet 5 got a new transaction (index 15).
        for wallet in held.values_mut() {
            wallet.waiting.clear();
            wallet.until = None;
        }
        held.get_mut(&5).expect("held").waiting.insert(15);
        held.get_mut(&5).expect("held").waiting.insert(25);
        hold(&mut held, &[2, 5], &[], WALLETS, now);
        assert!(!held.contains_key(&2), "nothing waits: free again");
        assert_eq!(held[&5].until, Some(now), "what waited goes out at once");
        assert_eq!(held.get_mut(&5).expect("held").take_ready(), vec![15, 25]);
    }

    #[test]
    fn a_refusal_while_backing_off_joins_the_queue_without_resetting_the_wait() {
        let mut held = HashMap::new();
        let now = Instant::now();
        hold(&mut held, &[7], &[7], WALLETS, now);
        let until = held[&7].until;
        // A later transaction of the same wallet, sent before the refusal was known, is refused.
        hold(
            &mut held,
            &[17],
            &[17],
            WALLETS,
            now + Duration::from_millis(50),
        );
        assert_eq!(held[&7].until, until);
        assert_eq!(
            held[&7].waiting.iter().copied().collect::<Vec<_>>(),
            vec![7, 17]
        );
    }
}
