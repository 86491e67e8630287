//! Four validators and an observer as real processes on loopback (fault model: n = 4, f = 1).
//! The tests take a lock so that only one cluster runs at a time on the two cores.

use std::time::Duration;

use tenge_api::views::{NodeMode, TransactionStatus};
use tenge_tests::cluster::{Cluster, Load, assert_same_chain, height, wait_height};

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_and_an_observer_agree_on_every_block() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let cluster = Cluster::start(4, 1, 21_000);
    wait_height(&cluster, &cluster.client(0), 1, MINUTE).await;
    let mut load = Load::new(&cluster, 0).await;
    let last = load.burst(40).await.expect("transfers accepted");
    let view = cluster
        .client(1)
        .wait_final(&last, MINUTE)
        .await
        .expect("final");
    assert_eq!(view.status, TransactionStatus::Committed);
    let target = view.height.expect("height") + 2;
    for client in cluster.running_clients() {
        wait_height(&cluster, &client, target, MINUTE).await;
    }
    assert_same_chain(&cluster.running_clients(), target).await;
    // The transactions are in the blocks, identically everywhere.
    let block = cluster
        .observer_client(0)
        .block(view.height.unwrap())
        .await
        .unwrap();
    assert!(block.transaction_count > 0);
    let supply = cluster.observer_client(0).supply().await.unwrap();
    assert_eq!(supply.outstanding_tiyn, 2 * 1_000_000 * 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validator_killed_under_load_catches_up_after_restart() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(4, 0, 22_000);
    wait_height(&cluster, &cluster.client(0), 1, MINUTE).await;
    let mut load = Load::new(&cluster, 0).await;
    load.burst(20).await;
    cluster.kill_validator(3);
    let before = height(&cluster.client(0)).await.expect("height");
    // The other three keep committing under load.
    for _ in 0..10 {
        load.burst(10).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let during = wait_height(&cluster, &cluster.client(0), before + 5, MINUTE).await;
    cluster.start_validator(3);
    wait_height(&cluster, &cluster.client(3), during, MINUTE).await;
    let last = load.burst(10).await.expect("accepted");
    let view = cluster.client(0).wait_final(&last, MINUTE).await.unwrap();
    let target = view.height.unwrap();
    for i in 0..4 {
        wait_height(&cluster, &cluster.client(i), target, MINUTE).await;
    }
    assert_same_chain(
        &(0..4).map(|i| cluster.client(i)).collect::<Vec<_>>(),
        target,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_four_stopped_means_no_commits_then_progress_resumes() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(4, 0, 23_000);
    wait_height(&cluster, &cluster.client(0), 2, MINUTE).await;
    let mut load = Load::new(&cluster, 0).await;
    cluster.stop_validator(2);
    cluster.stop_validator(3);
    // Let in-flight commits settle, then nothing may commit without a quorum.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stalled: Vec<u64> = vec![
        height(&cluster.client(0)).await.unwrap(),
        height(&cluster.client(1)).await.unwrap(),
    ];
    load.burst(10).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let still: Vec<u64> = vec![
        height(&cluster.client(0)).await.unwrap(),
        height(&cluster.client(1)).await.unwrap(),
    ];
    assert_eq!(stalled, still, "blocks committed without a quorum");
    assert_same_chain(
        &[cluster.client(0), cluster.client(1)],
        still.iter().copied().min().unwrap(),
    )
    .await;
    // Restarted, the four make progress with no manual step.
    cluster.start_validator(2);
    cluster.start_validator(3);
    let resumed = still.iter().copied().max().unwrap() + 3;
    for i in 0..4 {
        wait_height(
            &cluster,
            &cluster.client(i),
            resumed,
            Duration::from_secs(120),
        )
        .await;
    }
    // The transfers sent while stalled were kept and committed; new ones commit too.
    load.resync().await;
    let last = load.burst(5).await.expect("accepted");
    let view = cluster.client(0).wait_final(&last, MINUTE).await.unwrap();
    assert_eq!(view.status, TransactionStatus::Committed, "{view:?}");
    let target = view.height.unwrap();
    for i in 0..4 {
        wait_height(&cluster, &cluster.client(i), target, MINUTE).await;
    }
    assert_same_chain(
        &(0..4).map(|i| cluster.client(i)).collect::<Vec<_>>(),
        target,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_started_late_with_an_empty_data_dir_catches_up() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::init(4, 1, 24_000);
    for i in 0..4 {
        cluster.start_validator(i);
    }
    wait_height(&cluster, &cluster.client(0), 1, MINUTE).await;
    let mut load = Load::new(&cluster, 0).await;
    for _ in 0..5 {
        load.burst(20).await;
    }
    let target = wait_height(&cluster, &cluster.client(0), 20, MINUTE).await;
    assert!(!cluster.observers[0].dir().join("data").exists());
    cluster.start_observer(0);
    let observer = cluster.observer_client(0);
    wait_height(&cluster, &observer, target, MINUTE).await;
    assert_same_chain(&[cluster.client(0), observer.clone()], target).await;
    assert_eq!(observer.status().await.unwrap().mode, NodeMode::Observer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_validators_restarted_at_once_resume_from_disk() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut cluster = Cluster::start(4, 0, 25_000);
    wait_height(&cluster, &cluster.client(0), 1, MINUTE).await;
    let mut load = Load::new(&cluster, 0).await;
    load.burst(20).await;
    let before = wait_height(&cluster, &cluster.client(0), 5, MINUTE).await;
    for i in 0..4 {
        cluster.kill_validator(i);
    }
    for i in 0..4 {
        cluster.start_validator(i);
    }
    // Back from disk at the height they had, then onwards.
    // Blocks voted before the crash commit first; once every validator is past them, the load
    // reads where the banks stand.
    let mut resumed = 0;
    for i in 0..4 {
        resumed = resumed.max(wait_height(&cluster, &cluster.client(i), before + 3, MINUTE).await);
    }
    wait_height(&cluster, &cluster.client(0), resumed, MINUTE).await;
    load.resync().await;
    let last = load.burst(10).await.expect("accepted after restart");
    let view = cluster.client(0).wait_final(&last, MINUTE).await.unwrap();
    assert_eq!(view.status, TransactionStatus::Committed, "{view:?}");
    let target = view.height.unwrap().max(resumed);
    for i in 0..4 {
        wait_height(&cluster, &cluster.client(i), target, MINUTE).await;
    }
    assert_same_chain(
        &(0..4).map(|i| cluster.client(i)).collect::<Vec<_>>(),
        target,
    )
    .await;
}
