//! Four validators and an observer (n = 4, f = 1), each in its own network namespace, under one
//! fault model per test while banks' transfers flow through every node's API in turn. After the
//! heal, the checker (`tenge_fault_tests::checker`) must find every acknowledged transfer
//! committed exactly once and alike everywhere, one block per height, supply conserved, nobody
//! halted and commits resumed.
//!
//! Run as root: `cargo test --release -p tenge-fault-tests` (`TENGE_FAULTS=full` for the long
//! version). Elsewhere every test prints why it cannot run and passes.

use std::time::{Duration, Instant};

use tenge_fault_tests::cluster::FaultCluster;
use tenge_fault_tests::harness::{Run, Settings, run};
use tenge_fault_tests::lab::Filter;

/// How long a healed node may take to catch up before the test calls it stuck. The N2 bound
/// (3 s) is asserted separately.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(60);

/// How long the three other validators may take for three blocks while one validator is down.
const PROGRESS_LIMIT: Duration = Duration::from_secs(30);

/// How long the test watches an isolated validator for N2 (`peers: 0`, `/ready` 503): a little
/// beyond the 10 s bound, so that a miss is measured rather than cut off.
const N2_WATCH: Duration = Duration::from_secs(15);

/// What can happen to one validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeFault {
    /// nft in its namespace drops every packet from and to the other nodes (its own sends fail
    /// at once; the others' time out).
    Isolated,
    /// The bridge forwards nothing from or to its port: silent both ways, as a pulled cable.
    CutAtBridge,
    /// nft drops every packet from the other nodes; what it sends still leaves.
    Deaf,
    /// SIGSTOP, then SIGCONT.
    Paused,
    /// SIGKILL, then a restart on the same data directory.
    Killed,
}

/// What the test saw of the faulty validator in one cycle.
#[derive(Debug, Default)]
struct Observed {
    /// From the cut until its status said `peers: 0`.
    peers_zero_after: Option<Duration>,
    /// From the cut until its `/ready` answered 503.
    unready_after: Option<Duration>,
    /// From the heal until it had the height the others had at the heal.
    caught_up_after: Option<Duration>,
    /// The others' height at the heal.
    heal_height: u64,
    /// The faulty validator's own height at the heal (None: it did not answer).
    own_height_at_heal: Option<u64>,
    /// Blocks and rounds the first honest validator went through during the fault.
    blocks_during: u64,
    rounds_during: u64,
}

fn apply(run: &mut Run, victim: usize, fault: NodeFault) {
    match fault {
        NodeFault::Isolated => run
            .cluster
            .lab
            .set_filter(victim, &Filter::Isolated)
            .expect("nft"),
        NodeFault::Deaf => run
            .cluster
            .lab
            .set_filter(victim, &Filter::Deaf)
            .expect("nft"),
        NodeFault::CutAtBridge => run.cluster.lab.cut_at_bridge(&[victim]).expect("nft"),
        NodeFault::Paused => run.cluster.pause(victim),
        NodeFault::Killed => run.cluster.kill(victim),
    }
}

fn heal(run: &mut Run, victim: usize, fault: NodeFault) {
    match fault {
        NodeFault::Isolated | NodeFault::Deaf => run.cluster.lab.clear_filter(victim).expect("nft"),
        NodeFault::CutAtBridge => run.cluster.lab.cut_at_bridge(&[]).expect("nft"),
        NodeFault::Paused => run.cluster.resume(victim),
        NodeFault::Killed => run.cluster.start(victim),
    }
}

/// Watches `node` until its status says `peers: 0` and `/ready` answers 503, or `watch` passes;
/// returns when each happened, counted from `cut`.
async fn watch_alone(
    cluster: &FaultCluster,
    node: usize,
    cut: Instant,
    watch: Duration,
) -> (Option<Duration>, Option<Duration>) {
    let (mut peers_zero, mut unready) = (None, None);
    while (peers_zero.is_none() || unready.is_none()) && cut.elapsed() < watch {
        if peers_zero.is_none() && cluster.status(node).await.is_some_and(|s| s.peers == 0) {
            peers_zero = Some(cut.elapsed());
        }
        if unready.is_none() && cluster.http_status(node, "/ready").await == Some(503) {
            unready = Some(cut.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (peers_zero, unready)
}

/// One validator suffers `fault` for each cycle's hold while the workload runs; the other three
/// must keep committing, and the victim must catch up after the heal. Returns what was seen of
/// the victim in each cycle, after the checker passed.
async fn single_validator_fault(
    test: &'static str,
    cluster: FaultCluster,
    settings: Settings,
    fault: NodeFault,
) -> Vec<Observed> {
    let mut run = Run::start(test, cluster, settings.clone()).await;
    let hold = match fault {
        NodeFault::Paused => settings.pause_hold,
        _ => settings.fault_hold,
    };
    let mut observed = Vec::new();
    let mut last_heal = (Instant::now(), 0);
    for cycle in 1..=settings.cycles {
        let victim = settings.victim_in_cycle(cycle);
        let others = run.others(victim);
        let honest: Vec<usize> = run
            .cluster
            .validator_indices()
            .into_iter()
            .filter(|&i| i != victim)
            .collect();
        if cycle > 1 {
            // The devnet is whole again before the next fault.
            run.wait_commits_since(last_heal.0, 20, "between cycles")
                .await;
        }
        let before = run.cluster.max_height(&others).await;
        let witness = run
            .cluster
            .status(honest[0])
            .await
            .expect("honest validator answers");
        apply(&mut run, victim, fault);
        let cut = Instant::now();
        let mut seen = Observed::default();
        if matches!(fault, NodeFault::Isolated | NodeFault::CutAtBridge) {
            (seen.peers_zero_after, seen.unready_after) =
                watch_alone(&run.cluster, victim, cut, N2_WATCH).await;
        }
        // f = 1: the other three validators are a quorum and commit on without the victim.
        run.expect_progress(
            &honest,
            before,
            3,
            PROGRESS_LIMIT,
            "three validators without the faulty one",
        )
        .await;
        run.hold(cut, hold).await;
        seen.heal_height = run.cluster.max_height(&others).await;
        if let Some(status) = run.cluster.status(honest[0]).await {
            seen.blocks_during = status.height.saturating_sub(witness.height);
            seen.rounds_during = status.round.saturating_sub(witness.round);
        }
        seen.own_height_at_heal = match fault {
            NodeFault::Paused | NodeFault::Killed => None,
            NodeFault::Isolated | NodeFault::CutAtBridge | NodeFault::Deaf => {
                run.cluster.height(victim).await
            }
        };
        heal(&mut run, victim, fault);
        let healed = Instant::now();
        seen.caught_up_after = run
            .time_to_height(victim, seen.heal_height, CATCH_UP_LIMIT)
            .await;
        eprintln!(
            "{test}: cycle {cycle}: validator-{} {fault:?} for {:.1?}; {seen:?}",
            victim + 1,
            healed - cut
        );
        if seen.caught_up_after.is_none() {
            panic!(
                "{test}: validator-{} did not reach height {} within {CATCH_UP_LIMIT:?} of the \
                 heal (at {:?}){}",
                victim + 1,
                seen.heal_height,
                run.cluster.height(victim).await,
                run.cluster.logs_tail(30)
            );
        }
        last_heal = (healed, seen.heal_height);
        observed.push(seen);
    }
    run.finish(last_heal.0, last_heal.1).await;
    observed
}

/// N2 (issue 10): a cut-off validator knows it, `peers: 0` and `/ready` 503 within 10 s, and
/// after the heal it is back at the others' height within 3 s.
fn assert_n2(test: &str, observed: &[Observed]) {
    let within =
        |d: Option<Duration>, seconds: u64| d.is_some_and(|d| d <= Duration::from_secs(seconds));
    for seen in observed {
        assert!(
            within(seen.peers_zero_after, 10) && within(seen.unready_after, 10),
            "{test}: N2: the cut-off validator did not report peers 0 and /ready 503 within 10 s: \
             {seen:?}"
        );
        assert!(
            within(seen.caught_up_after, 3),
            "{test}: N2: the healed validator was not back at height {} within 3 s: {seen:?}",
            seen.heal_height
        );
    }
}

/// (a) One validator cut off from every other node by nft in its namespace (its API still
/// answers the test), then healed; N2 holds.
#[test]
fn n4_isolated_validator() {
    const TEST: &str = "n4_isolated_validator";
    run(TEST, |cluster, settings| async move {
        let observed = single_validator_fault(TEST, cluster, settings, NodeFault::Isolated).await;
        assert_n2(TEST, &observed);
    });
}

/// (a') The same partition made at the bridge: every packet between the validator and the rest
/// vanishes silently in both directions, so dials time out on both sides; N2 holds.
#[test]
fn n4_validator_cut_at_bridge() {
    const TEST: &str = "n4_validator_cut_at_bridge";
    run(TEST, |cluster, settings| async move {
        let observed =
            single_validator_fault(TEST, cluster, settings, NodeFault::CutAtBridge).await;
        assert_n2(TEST, &observed);
    });
}

/// (b) The validators split 2|2 (the observer on validator 0's side; a different pairing in each
/// cycle): no side has a quorum, so nothing commits until the heal; then everything goes on.
#[test]
fn n4_split_2_2() {
    const TEST: &str = "n4_split_2_2";
    run(TEST, |cluster, settings| async move {
        let run = Run::start(TEST, cluster, settings.clone()).await;
        let all = run.cluster.all_indices();
        let ips = |side: &[usize]| {
            side.iter()
                .map(|&i| run.cluster.nodes[i].ip)
                .collect::<Vec<_>>()
        };
        let mut last_heal = (Instant::now(), 0);
        for cycle in 1..=settings.cycles {
            if cycle > 1 {
                run.wait_commits_since(last_heal.0, 20, "between cycles")
                    .await;
            }
            // Validator 0 with one of the other three, in turn; the observer (4) with them.
            let partner = 1 + (settings.seed as usize + cycle - 1) % 3;
            let side_a: Vec<usize> = vec![0, partner, 4];
            let side_b: Vec<usize> = (1..4).filter(|&i| i != partner).collect();
            for &i in &side_a {
                run.cluster
                    .lab
                    .set_filter(i, &Filter::Cut(ips(&side_b[..])))
                    .expect("nft");
            }
            for &i in &side_b {
                run.cluster
                    .lab
                    .set_filter(i, &Filter::Cut(ips(&side_a[..])))
                    .expect("nft");
            }
            let cut = Instant::now();
            // What was in flight at the cut settles within a round; after that, no side can
            // gather the three votes a certificate needs, so no node may go past the highest
            // block committed by then. (A node behind it may still fetch it from its own side.)
            run.hold(cut, Duration::from_secs(3)).await;
            let settled = run.cluster.heights(&all).await;
            let highest = |heights: &[Option<u64>]| heights.iter().flatten().copied().max();
            run.hold(cut, settings.fault_hold).await;
            let split_end = run.cluster.heights(&all).await;
            assert_eq!(
                highest(&settled),
                highest(&split_end),
                "{TEST}: blocks committed without a quorum during the split: heights {settled:?} \
                 3 s after the cut, {split_end:?} at its end{}",
                run.cluster.logs_tail(20)
            );
            run.cluster.lab.clear_all_filters().expect("nft");
            let healed = Instant::now();
            let stalled_at = split_end.iter().flatten().copied().max().unwrap_or(0);
            let took = run
                .expect_progress(
                    &all,
                    stalled_at,
                    2,
                    CATCH_UP_LIMIT,
                    "after the split healed",
                )
                .await;
            eprintln!(
                "{TEST}: cycle {cycle}: split {side_a:?} | {side_b:?} for {:.1?} at heights {split_end:?}; every node 2 \
                 blocks further {took:.1?} after the heal",
                healed - cut
            );
            last_heal = (healed, stalled_at);
        }
        run.finish(last_heal.0, last_heal.1).await;
    });
}

/// (c) One validator can send but not receive: the others still get its messages (for as long
/// as TCP keeps sending without acknowledgements), it gets nothing.
#[test]
fn n4_one_way() {
    run("n4_one_way", |cluster, settings| async move {
        single_validator_fault("n4_one_way", cluster, settings, NodeFault::Deaf).await;
    });
}

/// (d) Every node drops 10-20% of the packets from other nodes, at random (nft numgen); commits
/// go on through the loss, and every node is level after it.
#[test]
fn n4_random_loss() {
    const TEST: &str = "n4_random_loss";
    run(TEST, |cluster, settings| async move {
        let run = Run::start(TEST, cluster, settings.clone()).await;
        let all = run.cluster.all_indices();
        let validators = run.cluster.validator_indices();
        let loss = Filter::RandomLoss {
            percent: settings.loss_percent,
        };
        let mut last_heal = (Instant::now(), 0);
        for cycle in 1..=settings.cycles {
            if cycle > 1 {
                run.wait_commits_since(last_heal.0, 20, "between cycles")
                    .await;
            }
            let before = run.cluster.max_height(&all).await;
            for &i in &all {
                run.cluster.lab.set_filter(i, &loss).expect("nft");
            }
            let cut = Instant::now();
            let took = run
                .expect_progress(&validators, before, 2, PROGRESS_LIMIT, "under random loss")
                .await;
            run.hold(cut, settings.fault_hold).await;
            let during = run.cluster.max_height(&all).await;
            run.cluster.lab.clear_all_filters().expect("nft");
            let healed = Instant::now();
            let level = run
                .expect_progress(&all, during, 0, CATCH_UP_LIMIT, "level after the loss")
                .await;
            eprintln!(
                "{TEST}: cycle {cycle}: {}% loss for {:.1?}: 2 blocks in {took:.1?}, {} blocks in \
                 all; every node level {level:.1?} after",
                settings.loss_percent,
                healed - cut,
                during - before
            );
            last_heal = (healed, during);
        }
        run.finish(last_heal.0, last_heal.1).await;
    });
}

/// (e) One validator frozen with SIGSTOP for 10 s (its connections stay open), then SIGCONT.
#[test]
fn n4_sigstop() {
    run("n4_sigstop", |cluster, settings| async move {
        single_validator_fault("n4_sigstop", cluster, settings, NodeFault::Paused).await;
    });
}

/// (f) One validator killed with SIGKILL under load and restarted on the same data directory.
#[test]
fn n4_kill9_restart() {
    run("n4_kill9_restart", |cluster, settings| async move {
        single_validator_fault("n4_kill9_restart", cluster, settings, NodeFault::Killed).await;
    });
}
