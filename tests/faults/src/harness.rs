//! Running one fault test: skip where the machine cannot, one lab at a time, a tokio runtime
//! whose threads live in the lab's hub namespace, and the steps every scenario shares.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tenge_api::views::TransactionStatus;

use crate::checker::{Summary, check, eventually};
use crate::cluster::FaultCluster;
use crate::lab::{self, Lab};
use crate::workload::Workload;

pub const VALIDATORS: usize = 4;
pub const OBSERVERS: usize = 1;

/// `TENGE_FAULTS=short` (the default, for CI) or `full`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    Short,
    Full,
}

/// What one run of a test does; printed at its start. `TENGE_FAULTS_SEED` replays the random
/// choices (which validator, how much loss) of an earlier run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub length: Length,
    pub seed: u64,
    /// How long a partition, loss or crash lasts in each cycle.
    pub fault_hold: Duration,
    /// How long a SIGSTOP lasts.
    pub pause_hold: Duration,
    /// How many times the fault is applied and healed.
    pub cycles: usize,
    /// The validator a single-node fault targets in the first cycle; the next cycles take the
    /// next validators ([`Settings::victim_in_cycle`]).
    pub victim: usize,
    /// For random loss: each packet between nodes is dropped with this probability, in percent.
    pub loss_percent: u8,
    /// Transfers the workload offers per second.
    pub transfers_per_second: u32,
    /// Transactions acknowledged after the last heal that must commit before the check.
    pub after_heal_transactions: usize,
    /// A backstop: every wait inside a scenario has its own, shorter deadline.
    pub scenario_limit: Duration,
}

impl Settings {
    pub fn from_env() -> Settings {
        let length = match std::env::var("TENGE_FAULTS").as_deref() {
            Err(_) | Ok("short") => Length::Short,
            Ok("full") => Length::Full,
            Ok(other) => panic!("TENGE_FAULTS={other}: expected `short` or `full`"),
        };
        let seed = match std::env::var("TENGE_FAULTS_SEED") {
            Ok(text) => text
                .parse()
                .unwrap_or_else(|_| panic!("TENGE_FAULTS_SEED={text}: not a number")),
            Err(_) => lab::random_u64(),
        };
        let (fault_hold, pause_hold, cycles, after_heal_transactions) = match length {
            Length::Short => (Duration::from_secs(8), Duration::from_secs(10), 1, 20),
            Length::Full => (Duration::from_secs(30), Duration::from_secs(30), 3, 200),
        };
        Settings {
            length,
            seed,
            fault_hold,
            pause_hold,
            cycles,
            victim: (seed % VALIDATORS as u64) as usize,
            loss_percent: 10 + ((seed / 4) % 11) as u8,
            transfers_per_second: 20,
            after_heal_transactions,
            scenario_limit: match length {
                Length::Short => Duration::from_secs(150),
                Length::Full => Duration::from_secs(900),
            },
        }
    }
}

impl Settings {
    /// The validator a single-node fault targets in cycle `cycle` (from 1).
    pub fn victim_in_cycle(&self, cycle: usize) -> usize {
        (self.victim + cycle - 1) % VALIDATORS
    }
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `scenario` on a fresh 4-validator, 1-observer devnet in a fresh lab, or prints why it
/// cannot and returns (the test then passes: CI machines without root skip it).
pub fn run<F, Fut>(test: &str, scenario: F)
where
    F: FnOnce(FaultCluster, Settings) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    static UNAVAILABLE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if let Some(reason) = UNAVAILABLE.get_or_init(lab::unavailable_reason) {
        eprintln!("{test}: SKIPPED: {reason}");
        return;
    }
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    lab::sweep_stale();
    let settings = Settings::from_env();
    let started = Instant::now();
    let lab = Arc::new(Lab::create(VALIDATORS + OBSERVERS).unwrap_or_else(|e| panic!("lab: {e}")));
    eprintln!(
        "{test}: {:?}, seed {} (TENGE_FAULTS_SEED replays it), first victim validator-{}, {}% \
         loss, lab {} on 10.213.{}.0/24",
        settings.length,
        settings.seed,
        settings.victim + 1,
        settings.loss_percent,
        lab.prefix,
        lab.subnet
    );
    let hub = lab.hub();
    // Probe once on a thread of our own, so that a failure is a message, not a runtime abort.
    let probe = hub.clone();
    std::thread::spawn(move || Lab::enter_hub(&probe))
        .join()
        .expect("probe thread")
        .unwrap_or_else(|e| panic!("cannot enter the hub namespace: {e}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || Lab::enter_hub(&hub).expect("enter the hub namespace"))
        .build()
        .expect("tokio runtime");
    let cluster = FaultCluster::init(lab.clone(), VALIDATORS, OBSERVERS);
    let limit = settings.scenario_limit;
    // The scenario runs on the runtime's threads (never on this one, which stays in the root
    // namespace), so every socket it opens is on the lab's bridge.
    let outcome = runtime.block_on(async move {
        tokio::spawn(tokio::time::timeout(limit, scenario(cluster, settings))).await
    });
    runtime.shutdown_timeout(Duration::from_secs(10));
    match outcome {
        Ok(Ok(())) => eprintln!("{test}: passed in {:.1?}", started.elapsed()),
        Ok(Err(_)) => panic!("{test}: did not finish within {limit:?}"),
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("{test}: {error}"),
        },
    }
    // `lab` drops here, or while unwinding: namespaces and anything left in them go.
}

/// A devnet under a workload, between faults.
pub struct Run {
    pub test: &'static str,
    pub cluster: FaultCluster,
    pub workload: Workload,
    pub settings: Settings,
}

impl Run {
    /// Starts every node, waits for the first block, funds the banks and starts the workload;
    /// returns once transfers commit.
    pub async fn start(test: &'static str, mut cluster: FaultCluster, settings: Settings) -> Run {
        cluster.start_all();
        let nodes = &cluster;
        for i in cluster.all_indices() {
            let up = eventually(Duration::from_secs(60), move || async move {
                (nodes.height(i).await? >= 1).then_some(())
            })
            .await;
            if up.is_none() {
                panic!(
                    "{} did not reach height 1 within 60 s{}",
                    cluster.nodes[i].name,
                    cluster.logs_tail(25)
                );
            }
        }
        let workload = Workload::start(&cluster, 0, settings.transfers_per_second).await;
        let run = Run {
            test,
            cluster,
            workload,
            settings,
        };
        run.wait_commits_since(Instant::now(), 10, "warm-up").await;
        run
    }

    /// Waits until `count` transactions acknowledged at or after `since` are committed (the
    /// last of them on node 0, the rest follow from sequence order); returns the height of the
    /// last.
    pub async fn wait_commits_since(&self, since: Instant, count: usize, what: &str) -> u64 {
        let enough = eventually(Duration::from_secs(60), move || async move {
            let acknowledged = self.workload.acknowledged_since(since);
            (acknowledged.len() >= count).then(|| acknowledged[count - 1].hash)
        })
        .await;
        let Some((hash, _)) = enough else {
            panic!(
                "{what}: fewer than {count} transfers acknowledged within 60 s{}",
                self.cluster.logs_tail(25)
            );
        };
        match self
            .cluster
            .client(0)
            .wait_final(&hash, Duration::from_secs(60))
            .await
        {
            Ok(view) if view.status == TransactionStatus::Committed => {
                view.height.expect("committed at a height")
            }
            other => panic!(
                "{what}: transfer {hash} not committed within 60 s: {other:?}{}",
                self.cluster.logs_tail(25)
            ),
        }
    }

    /// Every node but `node`.
    pub fn others(&self, node: usize) -> Vec<usize> {
        self.cluster
            .all_indices()
            .into_iter()
            .filter(|&i| i != node)
            .collect()
    }

    /// Waits until every node of `nodes` is at least `blocks` above `from`; panics after
    /// `within`. Returns how long it took.
    pub async fn expect_progress(
        &self,
        nodes: &[usize],
        from: u64,
        blocks: u64,
        within: Duration,
        what: &str,
    ) -> Duration {
        let target = from + blocks;
        let reached = eventually(within, move || async move {
            let heights = self.cluster.heights(nodes).await;
            heights
                .iter()
                .all(|h| h.is_some_and(|h| h >= target))
                .then_some(())
        })
        .await;
        match reached {
            Some(((), took)) => took,
            None => panic!(
                "{what}: nodes {:?} not all at height {target} within {within:?} (at {:?}){}",
                nodes
                    .iter()
                    .map(|&i| self.cluster.nodes[i].name.as_str())
                    .collect::<Vec<_>>(),
                self.cluster.heights(nodes).await,
                self.cluster.logs_tail(25)
            ),
        }
    }

    /// How long `node` takes to reach `target`, or None if it does not within `within`.
    pub async fn time_to_height(
        &self,
        node: usize,
        target: u64,
        within: Duration,
    ) -> Option<Duration> {
        eventually(within, move || async move {
            (self.cluster.height(node).await? >= target).then_some(())
        })
        .await
        .map(|((), took)| took)
    }

    /// Holds a fault until `since + hold`: the fault's length, not a wait for a condition.
    pub async fn hold(&self, since: Instant, hold: Duration) {
        tokio::time::sleep_until((since + hold).into()).await;
    }

    /// After the last heal at `healed_at`, when the nodes were at most at `resumed_above`: waits
    /// for transfers acknowledged since to commit, stops the workload and runs the checker.
    pub async fn finish(self, healed_at: Instant, resumed_above: u64) -> Summary {
        self.wait_commits_since(
            healed_at,
            self.settings.after_heal_transactions,
            "after the heal",
        )
        .await;
        let Run {
            test,
            cluster,
            workload,
            ..
        } = self;
        let report = workload.stop().await;
        let summary = check(&cluster, &report, resumed_above).await;
        eprintln!(
            "{test}: checked {} acknowledged transfers, all committed once and alike on {} nodes \
             (the last at height {}), blocks 1..={} equal everywhere; refused or unanswered \
             submissions: {:?}",
            summary.acknowledged,
            cluster.len(),
            summary.last_commit_height,
            summary.compared_up_to,
            report.failures
        );
        summary
    }
}
