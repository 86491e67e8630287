//! L6: RocksDB's default write-ahead-log recovery (point in time) stops replaying at the first
//! damaged record and opens the database without what followed, so a validator would come back
//! with synced writes silently gone (blocks, safety data). A damaged record in the middle of the
//! log must instead stop the node with a corruption error.

use std::time::Duration;

use tenge_tests::byzantine;
use tenge_tests::cluster::{Cluster, wait_height};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l6_damaged_write_ahead_log_stops_the_node() {
    let mut cluster = Cluster::init(1, 0, 41_000);
    byzantine::use_free_ports(&mut cluster);
    cluster.start_validator(0);
    let client = cluster.client(0);
    wait_height(&cluster, &client, 20, Duration::from_secs(60)).await;
    cluster.kill_validator(0);

    // Damage 64 bytes in the middle of the largest log file.
    let db = cluster.validators[0].dir().join("data").join("db");
    let log = std::fs::read_dir(&db)
        .expect("database directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .max_by_key(|path| std::fs::metadata(path).map_or(0, |m| m.len()))
        .expect("a write-ahead log");
    let mut bytes = std::fs::read(&log).expect("read log");
    assert!(bytes.len() > 4_096, "log too small to damage its middle");
    let middle = bytes.len() / 2;
    for byte in &mut bytes[middle..middle + 64] {
        *byte ^= 0xa5;
    }
    std::fs::write(&log, &bytes).expect("write log");

    cluster.start_validator(0);
    let status = cluster.wait_validator_exit(0, Duration::from_secs(60));
    let text = cluster.validators[0].log();
    assert!(
        status.is_some_and(|s| !s.success()),
        "the node started on a damaged log ({status:?}):\n{}",
        cluster.logs_tail()
    );
    assert!(
        text.to_lowercase().contains("corrupt"),
        "the node did not say why it stopped:\n{}",
        cluster.logs_tail()
    );
}
