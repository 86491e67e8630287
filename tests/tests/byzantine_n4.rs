//! One Byzantine validator of four (fault model n = 4, f = 1): the `byzantine` harness takes the
//! place of validator 4, beside three honest `tenged` validators and two observers (one verifies
//! every signature, one takes verdicts from certified receipts roots, D34), while a transfer
//! workload runs through the API. For each behaviour (issue 10, scope item 4), for
//! `TENGE_BYZANTINE_SECS` (20 s unless set; the acceptance runs use 60):
//!
//! - every honest validator's height grows in every 10 s window;
//! - no honest node (validators and observer) reports `halted` in `GET /v1/status`;
//! - no honest node bans an honest peer (the network crate logs `peer banned` with the peer's
//!   short key; the only key allowed there is the harness's);
//! - every node agrees on the block at every height up to the lowest common height;
//! - and the behaviour demonstrably reached the honest nodes (its own evidence per test).
//!
//! The tests take a lock so that only one cluster runs at a time on the two cores.

use std::path::Path;
use std::time::{Duration, Instant};

use tenge_api::Client;
use tenge_api::views::{StatusView, TransactionOutcome};
use tenge_tests::byzantine::{self, Behaviour, Harness};
use tenge_tests::cluster::{Cluster, Load, assert_same_chain, height, wait_height};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MINUTE: Duration = Duration::from_secs(60);
/// The liveness rule: every honest validator commits within every window this long.
const WINDOW: Duration = Duration::from_secs(10);
/// Validator 4 (index 3) is the Byzantine one.
const BYZANTINE: usize = 3;
const HONEST_VALIDATORS: usize = 3;

/// A finished run: the cluster (still up), the harness (exited) and what was seen.
struct Outcome {
    cluster: Cluster,
    harness: Harness,
    /// Honest nodes: the three validators, then the observer.
    honest: Vec<(String, Client)>,
    harness_key: String,
    /// (short key, name) of every honest node.
    honest_keys: Vec<(String, String)>,
}

impl Outcome {
    /// Every honest node, the observer included, reaches the height of the lowest running honest
    /// validator, none is halted, and all agree on every block up to the lowest common height,
    /// which is returned.
    async fn assert_all_agree(&self) -> u64 {
        let mut top = u64::MAX;
        for (_, client) in self.honest.iter().take(HONEST_VALIDATORS) {
            top = top.min(height(client).await.expect("validator answers"));
        }
        for (_, client) in &self.honest {
            wait_height(&self.cluster, client, top, MINUTE).await;
        }
        let mut common = u64::MAX;
        for (name, status) in statuses(&self.honest).await {
            let status = status.unwrap_or_else(|| panic!("{name} does not answer"));
            assert!(
                status.halted.is_none(),
                "{name} halted: {:?}\n{}",
                status.halted,
                self.logs()
            );
            common = common.min(status.height);
        }
        let clients: Vec<Client> = self.honest.iter().map(|(_, c)| c.clone()).collect();
        assert_same_chain(&clients, common).await;
        common
    }

    /// No honest node banned an honest peer. Returns the bans of the harness, as readable lines.
    fn assert_no_honest_bans(&self, what: &str) -> Vec<String> {
        let mut honest_banned = Vec::new();
        let mut harness_bans = Vec::new();
        for (name, log) in self.honest_logs() {
            for (peer, line) in byzantine::bans(&log) {
                match self.honest_keys.iter().find(|(key, _)| *key == peer) {
                    Some((_, banned)) => {
                        honest_banned.push(format!("{name} banned {banned}: {line}"))
                    }
                    None => harness_bans.push(format!("{name} banned {peer}")),
                }
            }
        }
        assert!(
            honest_banned.is_empty(),
            "honest nodes were banned by honest peers under {what}:\n{}\n{}",
            honest_banned.join("\n"),
            self.logs()
        );
        harness_bans
    }

    /// Penalties the honest nodes gave honest peers, as readable lines.
    fn honest_penalties(&self) -> Vec<String> {
        let mut found = Vec::new();
        for (name, log) in self.honest_logs() {
            for (peer, line) in byzantine::penalties(&log) {
                if let Some((_, penalised)) = self.honest_keys.iter().find(|(key, _)| *key == peer)
                {
                    found.push(format!("{name} penalised {penalised}: {line}"));
                }
            }
        }
        found
    }

    fn logs(&self) -> String {
        format!(
            "{}\n--- harness ---\n{}",
            self.cluster.logs_tail(),
            self.harness.log_tail(30)
        )
    }

    /// The logs of the honest nodes, by name.
    fn honest_logs(&self) -> Vec<(String, String)> {
        self.cluster
            .validators
            .iter()
            .take(HONEST_VALIDATORS)
            .chain(&self.cluster.observers)
            .zip(&self.honest)
            .map(|(node, (name, _))| (name.clone(), byzantine::strip_ansi(&node.log())))
            .collect()
    }

    /// Penalties the honest nodes gave the harness.
    fn harness_penalties(&self) -> Vec<String> {
        self.cluster
            .validators
            .iter()
            .take(HONEST_VALIDATORS)
            .chain(&self.cluster.observers)
            .flat_map(|node| byzantine::penalties(&node.log()))
            .filter(|(peer, _)| *peer == self.harness_key)
            .map(|(_, line)| line)
            .collect()
    }
}

async fn statuses(honest: &[(String, Client)]) -> Vec<(String, Option<StatusView>)> {
    let mut all = Vec::new();
    for (name, client) in honest {
        all.push((name.clone(), client.status().await.ok()));
    }
    all
}

/// Starts the cluster and the harness, runs the workload for the behaviour's duration, and
/// asserts what every behaviour must leave intact.
async fn run(behaviour: Behaviour) -> Outcome {
    let seconds = byzantine::behaviour_seconds();
    let began = Instant::now();
    let mut cluster = Cluster::init(4, 2, 40_000);
    byzantine::use_free_ports(&mut cluster);
    // The second observer takes signature verdicts from certified receipts roots (D34).
    cluster.observers[1].env.push((
        "TENGE_VERIFY_SIGNATURES".into(),
        "certified-receipts".into(),
    ));
    for i in 0..HONEST_VALIDATORS {
        cluster.start_validator(i);
    }
    cluster.start_observer(0);
    cluster.start_observer(1);
    let mut honest: Vec<(String, Client)> = (0..HONEST_VALIDATORS)
        .map(|i| (format!("validator-{}", i + 1), cluster.client(i)))
        .collect();
    honest.push(("observer-1".to_string(), cluster.observer_client(0)));
    honest.push((
        "observer-2 (certified-receipts)".to_string(),
        cluster.observer_client(1),
    ));
    let honest_keys: Vec<(String, String)> = cluster
        .validators
        .iter()
        .take(HONEST_VALIDATORS)
        .chain(&cluster.observers)
        .zip(&honest)
        .map(|(node, (name, _))| (byzantine::node_key(node).short(), name.clone()))
        .collect();
    let harness_key = byzantine::node_key(&cluster.validators[BYZANTINE]).short();

    // Three honest validators are a quorum: they fund the workload before the harness joins.
    wait_height(&cluster, &cluster.client(0), 2, MINUTE).await;
    let mut load = Load::new(&cluster, 0).await;
    let mut harness = Harness::start(
        Path::new(env!("CARGO_BIN_EXE_byzantine")),
        &cluster,
        BYZANTINE,
        behaviour,
        seconds,
    );
    let attack_began = Instant::now();
    let attack_start_height = height(&honest[0].1).await.unwrap_or(0);
    let windows = seconds.div_ceil(WINDOW.as_secs());
    let mut window_report = Vec::new();
    for window in 0..windows {
        let end =
            attack_began + Duration::from_secs(((window + 1) * WINDOW.as_secs()).min(seconds));
        let start_heights: Vec<Option<u64>> = {
            let mut heights = Vec::new();
            for (_, client) in honest.iter().take(HONEST_VALIDATORS) {
                heights.push(height(client).await);
            }
            heights
        };
        let mut last: Vec<Option<u64>> = start_heights.clone();
        // The workload paces the polling: a burst of transfers, then every honest node's status.
        while Instant::now() < end {
            load.burst(10).await;
            for (i, (name, status)) in statuses(&honest).await.into_iter().enumerate() {
                if let Some(status) = &status {
                    assert!(
                        status.halted.is_none(),
                        "{name} halted under {}: {:?}{}",
                        behaviour.name(),
                        status.halted,
                        cluster.logs_tail()
                    );
                    if i < HONEST_VALIDATORS {
                        last[i] = Some(status.height);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for i in 0..HONEST_VALIDATORS {
            let grew = matches!((start_heights[i], last[i]), (Some(a), Some(b)) if b > a);
            assert!(
                grew,
                "validator-{} did not commit in window {window} of {} under {}: height {:?} -> {:?}{}\n--- harness ---\n{}",
                i + 1,
                windows,
                behaviour.name(),
                start_heights[i],
                last[i],
                cluster.logs_tail(),
                harness.log_tail(30)
            );
        }
        window_report.push(format!("{start_heights:?}->{last:?}"));
    }

    let attack_blocks = height(&honest[0].1)
        .await
        .unwrap_or(0)
        .saturating_sub(attack_start_height);
    let attack_rate = attack_blocks as f64 / attack_began.elapsed().as_secs_f64();

    // The harness stops by itself at the end of its behaviour.
    let status = harness.wait(Duration::from_secs(30)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "the harness did not end cleanly ({status:?}):\n{}",
        harness.log_tail(40)
    );

    let outcome = Outcome {
        cluster,
        harness,
        honest,
        harness_key,
        honest_keys,
    };
    let common = outcome.assert_all_agree().await;
    let harness_bans = outcome.assert_no_honest_bans(behaviour.name());
    // Penalties of honest peers are not failures by themselves (they decay), but they are what
    // a ban starts from: print them with the run's summary.
    let honest_penalties = outcome.honest_penalties();
    eprintln!(
        "{}: {seconds} s of misbehaviour, {:.0} s in all; {attack_blocks} blocks committed \
         meanwhile ({attack_rate:.1}/s); heights per window {}; common height {common}; harness banned {} times ({}); {} penalties of the harness; {} penalties of \
         honest peers{}{}\n{}",
        behaviour.name(),
        began.elapsed().as_secs_f64(),
        window_report.join(" "),
        harness_bans.len(),
        harness_bans.join(", "),
        outcome.harness_penalties().len(),
        honest_penalties.len(),
        if honest_penalties.is_empty() {
            ""
        } else {
            ":\n"
        },
        honest_penalties.join("\n"),
        outcome
            .harness
            .log()
            .lines()
            .rev()
            .find(|l| l.starts_with("byzantine stats"))
            .unwrap_or("no stats from the harness")
    );
    outcome
}

/// A block the harness built with corrupted-signature transactions, as its log tells.
struct CorruptedBlock {
    height: u64,
    short_id: String,
    hashes: Vec<String>,
}

fn corrupted_blocks(harness_log: &str) -> Vec<CorruptedBlock> {
    let mut blocks: Vec<CorruptedBlock> = Vec::new();
    for line in harness_log
        .lines()
        .filter(|l| l.starts_with("bad-signature transaction "))
    {
        let hash = line.split_whitespace().nth(2).expect("hash").to_string();
        let short_id = byzantine::log_field(line, "block")
            .expect("block")
            .to_string();
        let height = byzantine::log_field(line, "height")
            .and_then(|h| h.parse().ok())
            .expect("height");
        match blocks.last_mut() {
            Some(last) if last.short_id == short_id => last.hashes.push(hash),
            _ => blocks.push(CorruptedBlock {
                height,
                short_id,
                hashes: vec![hash],
            }),
        }
    }
    blocks
}

/// The harness's corrupted blocks that every honest node committed (the chains agree, so the
/// first validator's view stands for all).
async fn committed_corrupted_blocks(outcome: &Outcome) -> Vec<CorruptedBlock> {
    let log = outcome.harness.log();
    let mut committed = Vec::new();
    for block in corrupted_blocks(&log) {
        let view = outcome.honest[0].1.block(block.height).await;
        if view.is_ok_and(|v| v.id.starts_with(&block.short_id)) {
            committed.push(block);
        }
    }
    committed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_bad_signature_proposals_cannot_halt_or_ban_honest_nodes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let outcome = run(Behaviour::BadSignatureProposals).await;
    // The harness led blocks holding correctly authorised transactions with corrupted
    // signatures, rejected for their signatures alone (review H1's scenario)...
    let log = outcome.harness.log();
    let proposed = corrupted_blocks(&log);
    assert!(
        !proposed.is_empty(),
        "the harness never led a block:\n{}",
        outcome.logs()
    );
    assert!(
        log.lines()
            .filter(|l| l.starts_with("bad-signature transaction "))
            .all(|l| l.contains("outcome=InvalidSignature")),
        "the corrupted transactions failed for something else than their signatures:\n{log}"
    );
    // ...the honest validators certified and committed them, and the observer, which follows
    // by range sync, committed the same blocks (`run` checked every node's chain) ...
    let committed = committed_corrupted_blocks(&outcome).await;
    assert!(
        !committed.is_empty(),
        "none of the harness's {} corrupted blocks was committed:\n{}",
        proposed.len(),
        outcome.logs()
    );
    for block in &committed {
        for (name, client) in &outcome.honest {
            let view = client.block(block.height).await.expect("block");
            assert!(
                view.id.starts_with(&block.short_id),
                "{name} at {}",
                block.height
            );
            for hash in &block.hashes {
                assert!(
                    view.transactions.iter().any(|t| t.hash == *hash),
                    "{name}: block {} lacks {hash}",
                    block.height
                );
            }
        }
    }
    // ...and the corrupted issuances minted nothing anywhere: the supply is what the workload
    // issued (two banks funded with 1,000,000 tenge each).
    for (name, client) in &outcome.honest {
        let supply = client.supply().await.expect("supply");
        assert_eq!(
            supply.outstanding_tiyn,
            2 * 1_000_000 * 100,
            "{name}: {supply:?}"
        );
    }
    eprintln!(
        "bad-signature-proposals: {} corrupted blocks proposed, {} committed on every node",
        proposed.len(),
        committed.len()
    );
}

/// What the API says of the corrupted transactions in committed blocks: they were rejected
/// (code 105), not applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_bad_signature_transactions_are_reported_rejected() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let outcome = run(Behaviour::BadSignatureProposals).await;
    let committed = committed_corrupted_blocks(&outcome).await;
    assert!(!committed.is_empty(), "no corrupted block was committed");
    let mut wrong = Vec::new();
    for block in &committed {
        for (name, client) in &outcome.honest {
            let view = client.block(block.height).await.expect("block");
            let hashes = client.block_hashes(block.height).await.expect("hashes");
            for hash in &block.hashes {
                let tx = view
                    .transactions
                    .iter()
                    .find(|t| t.hash == *hash)
                    .expect("in the block");
                if tx.outcome != TransactionOutcome::Rejected || tx.code != Some(105) {
                    wrong.push(format!(
                        "{name}: GET /v1/blocks/{} says {hash} ({}) is {} (code {:?})",
                        block.height, tx.kind, tx.outcome, tx.code
                    ));
                }
                if !hashes.rejected.contains(hash) {
                    wrong.push(format!(
                        "{name}: GET /v1/blocks/{}/hashes lists {hash} as applied",
                        block.height
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong reports, the first ones:\n{}",
        wrong.len(),
        wrong[..wrong.len().min(8)].join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_invalid_gossip_cannot_halt_or_ban_honest_nodes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let outcome = run(Behaviour::InvalidGossip).await;
    assert!(outcome.harness.stat("gossip_batches_queued") > 0);
    assert!(
        !outcome.harness_penalties().is_empty(),
        "no honest node penalised the invalid gossip:\n{}",
        outcome.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_forged_certificates_cannot_halt_or_ban_honest_nodes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let outcome = run(Behaviour::ForgedCertificates).await;
    assert!(outcome.harness.stat("forged_messages_sent") > 0);
    assert!(
        !outcome.harness_penalties().is_empty(),
        "no honest node charged the forger:\n{}",
        outcome.logs()
    );
    // Review H4: a forgery attached to an honest validator's message is charged to the relay.
    // Honest peers draw no penalty at all in a run without faults, so any penalty of one here
    // is a forgery charged to its victim.
    let framed = outcome.honest_penalties();
    assert!(
        framed.is_empty(),
        "honest validators were charged for the forger's relays:\n{}",
        framed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_equivocating_proposals_cannot_halt_or_ban_honest_nodes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let outcome = run(Behaviour::EquivocatingProposals).await;
    assert!(
        outcome.harness.stat("equivocating_proposals_sent") > 0,
        "the harness never led a round:\n{}",
        outcome.logs()
    );
    let evidence = outcome
        .honest_logs()
        .iter()
        .filter(|(_, log)| {
            log.lines()
                .any(|l| l.contains("equivocation evidence") && l.contains("author=3"))
        })
        .count();
    assert!(
        evidence > 0,
        "no honest validator recorded the equivocation:\n{}",
        outcome.logs()
    );
}

/// Blocks an honest validator is kept behind before it restarts in the lying-sync test: fewer
/// than `tenged`'s `sync_gap_blocks` (32), so that it catches up by fetching the blocks the
/// proposals it receives build on, from their proposer, the harness among them.
const CATCH_UP_GAP_BLOCKS: u64 = 8;
/// Restarts at most, until the harness has answered one of the restarted validator's fetches.
const CATCH_UP_RESTARTS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_lying_sync_cannot_halt_or_ban_honest_nodes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut outcome = run(Behaviour::LyingSync).await;
    // The observer asks every validator in turn for blocks; the harness lied to it.
    assert!(
        outcome.harness.stat("sync_lies") + outcome.harness.stat("fetch_lies") > 0,
        "nobody asked the harness for blocks:\n{}",
        outcome.logs()
    );

    // Validators ask for blocks only when they fall behind: stop one, and restart it a few
    // blocks behind, while the harness lies again. The harness and the two other honest
    // validators are a quorum meanwhile (it votes honestly), so the chain goes on without the
    // stopped one. Whether the restarted validator asks the harness depends on whose proposal
    // reaches it first, so this is tried a few times.
    let began = Instant::now();
    let liar = Harness::start(
        Path::new(env!("CARGO_BIN_EXE_byzantine")),
        &outcome.cluster,
        BYZANTINE,
        Behaviour::LyingSync,
        300,
    );
    let reference = outcome.honest[0].1.clone();
    let now = height(&reference).await.expect("validator-1 answers");
    let deadline = Instant::now() + MINUTE;
    while liar.reported_height() < now {
        assert!(
            Instant::now() < deadline,
            "the harness did not catch up to height {now}:\n{}",
            liar.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let restarted = 2;
    let lied_to_restarted = |liar: &Harness| {
        liar.log()
            .lines()
            .filter(|l| {
                l.starts_with(&format!(
                    "lying-sync: answered a fetch by validator {restarted}"
                ))
            })
            .count()
    };
    let mut restarts = 0;
    while restarts < CATCH_UP_RESTARTS && lied_to_restarted(&liar) == 0 {
        outcome.cluster.stop_validator(restarted);
        let stopped_at = height(&reference).await.expect("validator-1 answers");
        wait_height(
            &outcome.cluster,
            &reference,
            stopped_at + CATCH_UP_GAP_BLOCKS,
            2 * MINUTE,
        )
        .await;
        outcome.cluster.start_validator(restarted);
        let target = height(&reference).await.expect("validator-1 answers");
        wait_height(
            &outcome.cluster,
            &outcome.honest[restarted].1,
            target,
            MINUTE,
        )
        .await;
        restarts += 1;
    }
    let common = outcome.assert_all_agree().await;
    let harness_bans = outcome.assert_no_honest_bans("lying-sync while a validator catches up");
    let restarted_log = byzantine::strip_ansi(&outcome.cluster.validators[restarted].log());
    let charged: Vec<&str> = restarted_log
        .lines()
        .filter(|l| l.contains("sync response refused") || l.contains("peer penalised"))
        .collect();
    eprintln!(
        "lying-sync, catching up: validator-{} restarted {restarts} times {CATCH_UP_GAP_BLOCKS} \
         blocks behind and caught up each time; common height {common}; {:.0} s; the harness \
         answered {} of its fetches with lies; harness bans: {}; what the restarted validator \
         refused or penalised:\n{}\n{}",
        restarted + 1,
        began.elapsed().as_secs_f64(),
        lied_to_restarted(&liar),
        harness_bans.join(", "),
        charged.join("\n"),
        liar.log()
            .lines()
            .filter(|l| l.starts_with("lying-sync"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byzantine_sync_flood_cannot_halt_or_ban_honest_nodes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let outcome = run(Behaviour::SyncFlood).await;
    assert!(
        outcome.harness.stat("sync_requests_sent") > 0,
        "the harness sent no sync request:\n{}",
        outcome.logs()
    );
}
