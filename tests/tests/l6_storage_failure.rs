//! L6: a storage failure (here: the disk fills up under a running validator) stops the node with
//! its own exit status (4) and a message that names the storage, not as an empty "node halted"
//! with the status of a consensus halt (3), which sends operators to the wrong runbook.
//!
//! Needs root to mount a small tmpfs; prints why it skips otherwise.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tenge_tests::byzantine;
use tenge_tests::cluster::{Cluster, wait_height};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(at: &Path, size: &str) -> Option<Mount> {
    std::fs::create_dir_all(at).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(at.to_path_buf()))
}

/// Writes into `dir` until the file system is full.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("filler")).expect("filler file");
    let block = vec![0x5a_u8; 64 * 1024];
    while file.write_all(&block).is_ok() {}
    let _ = file.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l6_full_disk_stops_the_node_with_a_storage_exit_status() {
    let mut cluster = Cluster::init(1, 0, 42_000);
    byzantine::use_free_ports(&mut cluster);
    let data = cluster.validators[0].dir().join("data");
    let Some(_mount) = mount_tmpfs(&data, "64m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    cluster.start_validator(0);
    let client = cluster.client(0);
    wait_height(&cluster, &client, 3, Duration::from_secs(60)).await;
    fill(&data);

    let status = cluster.wait_validator_exit(0, Duration::from_secs(60));
    let log = cluster.validators[0].log();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(4),
        "a full disk did not stop the node with status 4:\n{}",
        cluster.logs_tail()
    );
    assert!(
        log.contains("fatal storage failure") && log.contains("failed on storage"),
        "the log does not name the storage failure:\n{}",
        cluster.logs_tail()
    );
}
