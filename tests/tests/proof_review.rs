//! Review of the proof commands: `tenge proof` never prints a `valid` it did not check, `tenge
//! verify --expect-id / --min-height`, `tenge verify` reads at most the bundle limit (not all of
//! `/dev/zero`), a non-UTF-8 `--out` path does not panic, and `/v1/proofs/*` answers 503 beyond
//! its concurrency bound instead of queueing without limit.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use tenge_engine::EngineLimits;
use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, binary, wait_height};

fn tenge(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(binary("tenge"))
        .args(args)
        .env_remove("TENGE_NODE")
        .output()
        .expect("run tenge")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(output)))
}

#[test]
fn verify_reads_at_most_the_bundle_limit() {
    let cluster = Cluster::init(1, 0, 44_000);
    let genesis = cluster.dir.path().join("genesis.json");
    // 1 GiB of address space: reading /dev/zero whole runs out of it at once.
    let output = unsafe {
        Command::new(binary("tenge"))
            .args([
                os("verify"),
                os("/dev/zero"),
                os("--genesis"),
                genesis.as_os_str(),
            ])
            .pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 1 << 30,
                    rlim_max: 1 << 30,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
            .output()
            .expect("run tenge")
    };
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("larger than a proof bundle can be"),
        "{}",
        describe(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_prints_valid_only_after_checking_and_verify_checks_id_and_height() {
    let mut cluster = Cluster::init(1, 0, 45_000);
    use_free_ports(&mut cluster);
    cluster.start_validator(0);
    wait_height(&cluster, &cluster.client(0), 1, Duration::from_secs(60)).await;
    let node = cluster.validators[0].api.clone();
    let genesis = cluster.dir.path().join("genesis.json");
    let work = tempfile::tempdir().unwrap();
    let bank_key = cluster.key("bank-1");
    let bank_id = tenge_crypto::read_key_file(&bank_key)
        .unwrap()
        .account_id()
        .to_hex();
    let base = [os("--node"), os(&node), os("--output"), os("json")];

    // Without --genesis: what the node says, without `valid`.
    let supply_file = work.path().join("supply.proof");
    let said = tenge(
        &[
            &base[..],
            &[
                os("proof"),
                os("supply"),
                os("--out"),
                supply_file.as_os_str(),
            ],
        ]
        .concat(),
    );
    assert_eq!(said.status.code(), Some(0), "{}", describe(&said));
    let said = json(&said);
    assert!(said.get("valid").is_none(), "{said}");
    assert!(
        said["note"].as_str().unwrap().contains("not verified"),
        "{said}"
    );

    // With --genesis: verified here. A non-UTF-8 --out path is fine too.
    let account_file = work
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bank-\xff.proof"));
    let checked = tenge(
        &[
            &base[..],
            &[
                os("proof"),
                os("account"),
                bank_key.as_os_str(),
                os("--out"),
                account_file.as_os_str(),
                os("--genesis"),
                genesis.as_os_str(),
            ],
        ]
        .concat(),
    );
    assert_eq!(checked.status.code(), Some(0), "{}", describe(&checked));
    let checked = json(&checked);
    assert_eq!(checked["valid"], true, "{checked}");
    assert_eq!(checked["account"], bank_id.as_str(), "{checked}");
    let height = checked["height"].as_u64().unwrap();

    let verify = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            os("--output"),
            os("json"),
            os("verify"),
            file.as_os_str(),
            os("--genesis"),
            genesis.as_os_str(),
        ];
        args.extend(extra.iter().map(|a| os(a)));
        tenge(&args)
    };
    let expected = verify(
        &account_file,
        &["--expect-id", &bank_id, "--min-height", &height.to_string()],
    );
    assert_eq!(expected.status.code(), Some(0), "{}", describe(&expected));
    // The key file names the same account.
    let by_key = verify(&account_file, &["--expect-id", bank_key.to_str().unwrap()]);
    assert_eq!(by_key.status.code(), Some(0), "{}", describe(&by_key));

    let other = "5a".repeat(32);
    for (file, extra, check) in [
        (
            &account_file,
            vec!["--expect-id", other.as_str()],
            "expect_id",
        ),
        (
            &supply_file,
            vec!["--expect-id", other.as_str()],
            "expect_id",
        ),
        (
            &account_file,
            vec!["--min-height", "1000000000"],
            "min_height",
        ),
    ] {
        let refused = verify(file, &extra);
        assert_eq!(
            refused.status.code(),
            Some(1),
            "{extra:?}: {}",
            describe(&refused)
        );
        let answer = json(&refused);
        assert_eq!(answer["valid"], false, "{answer}");
        assert_eq!(answer["check"], check, "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_beyond_the_concurrency_bound_are_answered_503() {
    let mut net = tenge_ledger::testkit::TestNetwork::new(2, 1);
    net.genesis.genesis_time = tenge_types::TimestampMs::now();
    let node = tenge_tests::api_node::serve_validator(&net, EngineLimits::default()).await;
    let (url, engine) = (node.url.clone(), node.engine.clone());
    let client = tenge_api::Client::new(&url);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while client.status().await.map_or(true, |s| s.height < 1) {
        assert!(std::time::Instant::now() < deadline, "no block committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every proof waits for the ledger's read lock while this thread holds it for writing.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, is_held) = std::sync::mpsc::channel::<()>();
    let ledger = engine.ledger.clone();
    let holder = std::thread::spawn(move || {
        let _guard = ledger.write().unwrap();
        held.send(()).unwrap();
        let _ = released.recv();
    });
    is_held.recv().unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let slots = tenge_api::server::MAX_CONCURRENT_PROOFS;
    let waiting: Vec<_> = (0..slots)
        .map(|_| tokio::spawn(http.get(format!("{url}/v1/proofs/supply")).send()))
        .collect();
    // Once every slot is taken, the next request is refused at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let response = http
            .get(format!("{url}/v1/proofs/supply"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let status = match &response {
            Ok(response) => response.status().as_u16().to_string(),
            Err(error) => error.to_string(),
        };
        if status == "503" {
            break response.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no 503 while {slots} proofs wait: {status}"
        );
    };
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["kind"], "unavailable", "{body}");
    // The API still answers other routes while the proofs wait.
    assert!(client.status().await.is_ok());
    release.send(()).unwrap();
    holder.join().unwrap();
    // The waiting proofs complete (a probe may have taken a slot before they all arrived, and
    // then one of them was refused instead).
    let mut answered = 0;
    for request in waiting {
        let status = request.await.unwrap().unwrap().status().as_u16();
        assert!(status == 200 || status == 503, "{status}");
        answered += usize::from(status == 200);
    }
    assert!(
        answered >= slots - 1,
        "{answered} of {slots} proofs answered"
    );
}
