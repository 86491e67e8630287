//! The README's five-minute walkthrough, run as written against a devnet started with
//! `tenge devnet up` (default ports), then checked through the API.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tenge_api::views::AccountRole;
use tenge_tests::cluster::binary;

/// The shell block under "## Five-minute walkthrough" in README.md.
fn walkthrough() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme
        .split("## Five-minute walkthrough")
        .nth(1)
        .expect("walkthrough section");
    let block = section.split("```sh").nth(1).expect("shell block");
    block.split("```").next().expect("closed block").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let tenge = binary("tenge");
    let bin_dir = tenge.parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut devnet = Command::new(&tenge)
        .args(["devnet", "up", "--dir", "devnet"])
        .current_dir(dir.path())
        .env("PATH", &path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the "devnet running" message (the banks are funded by then).
    let stderr = devnet.stderr.take().unwrap();
    let (ready_sender, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("devnet running") {
                let _ = ready_sender.send(());
            }
        }
    });
    ready
        .recv_timeout(Duration::from_secs(120))
        .expect("devnet came up");

    let script = format!("set -euxo pipefail\n{}", walkthrough());
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walkthrough failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("WalletHoldingLimitExceeded (401)"),
        "no policy rejection shown:\n{stderr}"
    );
    assert!(stdout.contains("refused by policy"));

    // The state the walkthrough should have produced, on a validator and on the observer.
    let alice = tenge_crypto::read_key_file(&dir.path().join("alice.key"))
        .unwrap()
        .account_id();
    for api in ["http://127.0.0.1:8100", "http://127.0.0.1:8104"] {
        let client = tenge_api::Client::new(api);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let account = client.account(&alice).await;
            if let Ok(account) = account {
                assert_eq!(account.balance_tiyn, 150_025, "{api}");
                assert_eq!(account.role, AccountRole::Wallet);
                assert_eq!(account.tier, Some(4));
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{api} never showed Alice's wallet"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let supply = tenge_api::Client::new("http://127.0.0.1:8100")
        .supply()
        .await
        .unwrap();
    // 10,000,000 to each bank at startup, 1,000,000 and 250,000 in the walkthrough, 500 redeemed.
    assert_eq!(supply.issued_tiyn, (20_000_000 + 1_250_000) * 100);
    assert_eq!(supply.redeemed_tiyn, 500 * 100);
    assert_eq!(
        supply.outstanding_tiyn,
        supply.issued_tiyn - supply.redeemed_tiyn
    );

    // Ctrl-C stops every node.
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(devnet.id() as i32, libc::SIGINT) };
    let status = devnet.wait().unwrap();
    assert!(status.success(), "devnet up exited with {status}");
    assert!(
        tenge_api::Client::new("http://127.0.0.1:8100")
            .status()
            .await
            .is_err(),
        "a node survived Ctrl-C"
    );
}
