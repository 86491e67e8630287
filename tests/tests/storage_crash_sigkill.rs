//! A process committing blocks to RocksDB is killed with SIGKILL at random instants, at least 50
//! times. After every kill: the store reopens, its state root equals a replay of its committed
//! blocks, committed blocks never change, and every block the child reported committed is there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tenge_ledger::{Ledger, verify_signatures};
use tenge_storage::{RocksStore, Store};
use tenge_tests::workload;
use tenge_types::{HashValue, Height};

const KILLS: usize = 60;

/// A small deterministic generator, so that a failure can be replayed.
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

/// A child's acknowledgement, `committed HEIGHT ROOT`: the height and the state root.
fn parse_commit(line: &str) -> (u64, String) {
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("committed"), "{line}");
    let height: u64 = parts.next().unwrap().parse().unwrap();
    let root = parts.next().unwrap().to_string();
    (height, root)
}

#[test]
fn sigkill_at_random_instants_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let net = workload::network();
    let mut replay = Ledger::from_genesis(&net.genesis).unwrap();
    let mut block_ids: Vec<HashValue> = vec![replay.head().id()];
    let mut reported: Option<(u64, String)> = None;
    let mut random = Lcg(0x7e46e);
    let mut kills_mid_commit_stream = 0;

    for kill in 0..KILLS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crash-child"))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Kill either after a random number of reported commits, or at a random instant.
        if random.below(3) == 0 {
            std::thread::sleep(Duration::from_millis(random.below(40)));
        } else {
            let wanted = 1 + random.below(15);
            let mut seen = 0;
            while seen < wanted {
                match lines_rx.recv_timeout(Duration::from_secs(60)) {
                    Ok(line) => {
                        reported = Some(parse_commit(&line));
                        seen += 1;
                    }
                    Err(_) => panic!("child stopped reporting commits"),
                }
            }
            // Let it run into the middle of its next commit.
            std::thread::sleep(Duration::from_micros(random.below(3_000)));
            kills_mid_commit_stream += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        // Every commit the child acknowledged counts, those read while waiting too (they were
        // once dropped, so on a machine slower than the kill's few milliseconds nothing was
        // left to read after the kill and the test saw no commits).
        for line in lines_rx.try_iter() {
            reported = Some(parse_commit(&line));
        }

        // Reopen: the store must open and hold at least what was reported.
        let store = RocksStore::open(dir.path())
            .unwrap_or_else(|e| panic!("kill {kill}: reopen failed: {e}"));
        let Some(head) = store.head().unwrap() else {
            assert!(
                reported.is_none(),
                "kill {kill}: commits were reported but the store is empty"
            );
            continue;
        };
        let head_height = head.block.header.height.0;
        if let Some((height, _)) = &reported {
            assert!(
                head_height >= *height,
                "kill {kill}: reported {height} committed, store holds {head_height}"
            );
        }
        // Rebuilding from stored state checks the state against the head's root.
        let reopened = Ledger::from_stored(
            net.genesis.chain_id.clone(),
            head.block.header.clone(),
            store.state_entries().unwrap(),
        )
        .unwrap_or_else(|e| panic!("kill {kill}: stored state does not match its head: {e}"));
        // Earlier blocks never change.
        for (height, id) in block_ids.iter().enumerate() {
            let stored = store
                .block(Height(height as u64))
                .unwrap()
                .expect("committed block present");
            assert_eq!(stored.id(), *id, "kill {kill}: block {height} changed");
        }
        // Replay the new blocks on an independent ledger.
        for height in replay.head().height.0 + 1..=head_height {
            let block = store.block(Height(height)).unwrap().expect("block present");
            let valid = verify_signatures(&block.transactions, 1);
            let execution = replay.execute_block(&[], &block, &valid).unwrap();
            replay.commit(&tenge_ledger::ExecutedBlock {
                block: block.clone(),
                execution,
            });
            block_ids.push(block.id());
            if let Some((reported_height, root)) = &reported
                && *reported_height == height
            {
                assert_eq!(
                    replay.state().root().to_hex(),
                    *root,
                    "kill {kill}: reported root differs"
                );
            }
        }
        assert_eq!(
            replay.state().root(),
            reopened.state().root(),
            "kill {kill}: replay differs from stored state"
        );
        replay.audit().unwrap();
        assert_eq!(
            store.certificate(Height(head_height)).unwrap().unwrap(),
            format!("certificate-{head_height}").into_bytes()
        );
        // The child's last transaction is indexed with its outcome.
        let last = head.block.transactions.last().unwrap();
        let record = store
            .transaction(&last.hash())
            .unwrap()
            .expect("transaction indexed");
        assert_eq!(record.height, Height(head_height));
        assert!(record.outcome.is_ok());
    }
    let (height, _) = reported.expect("the child committed something");
    assert!(height > 50, "only {height} blocks in {KILLS} runs");
    assert!(kills_mid_commit_stream >= 30);
}
