//! The cluster benchmark: for each rate of a sweep, a fresh release devnet (4 validators and
//! 1 observer as separate processes, RocksDB with synced commits, every policy check on) takes
//! open-loop signed transfers from `tenge bench`; the table, raw results and a
//! throughput-versus-latency plot go to docs/performance/.
//!
//! ```text
//! cargo build --release --workspace && cargo bench --workspace --bench cluster
//! TENGE_BENCH_RATES=2000,8000 TENGE_BENCH_SECONDS=60 cargo bench --workspace --bench cluster
//! TENGE_BENCH_REPLOT=1 cargo bench --workspace --bench cluster   # redraw the plot from cluster.json
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tenge_benches::plot::{Chart, Series};
use tenge_cli::bench::{BenchOptions, BenchReport};
use tenge_cli::devnet::{DevnetOptions, init};

fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let path = dir.join(name);
    if !path.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--workspace", "--bins"])
            .status()
            .expect("cargo build");
        assert!(status.success(), "building the binaries failed");
    }
    path
}

fn run_rate(rate: u64, seconds: u64, accounts: usize, base_port: u16) -> BenchReport {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = DevnetOptions {
        validators: 4,
        observers: 1,
        base_port,
        round_timeout_base_ms: 1_000,
        spares: 0,
    };
    let file = init(dir.path(), &options).expect("devnet");
    let mut children: Vec<Child> = file
        .validators
        .iter()
        .chain(&file.observers)
        .map(|node| {
            let log = std::fs::File::create(node.config.with_file_name("node.log")).expect("log");
            Command::new(binary("tenged"))
                .arg("--config")
                .arg(&node.config)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("tenged")
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let report = runtime.block_on(async {
        let first = tenge_api::Client::new(&file.validators[0].api);
        for _ in 0..300 {
            if first.status().await.map(|s| s.height >= 1).unwrap_or(false) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let read = |name: &str| {
            tenge_crypto::read_key_file(&dir.path().join("keys").join(name)).expect("key")
        };
        tenge_cli::bench::run(BenchOptions {
            nodes: file.validators.iter().map(|n| n.api.clone()).collect(),
            officers: vec![read("officer-1.key"), read("officer-2.key")],
            bank: read("bank-1.key"),
            rate,
            duration_s: seconds,
            accounts,
        })
        .await
        .expect("bench run")
    });
    for child in &mut children {
        // SAFETY: kill(2) on our own children.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    }
    for child in &mut children {
        let _ = child.wait();
    }
    report
}

/// Transactions per second committed inside the measured window (the drain excluded).
fn in_window(report: &BenchReport) -> f64 {
    let windows = report.timeline.len().max(1) as f64;
    let sum: f64 = report.timeline.iter().map(|w| w.committed_tps).sum();
    (sum / windows).round()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores} x {cpu}")
}

/// The throughput-versus-latency chart: one (committed tx/s in the window, p50 ms, p99 ms) per
/// rate.
fn chart(points: &[(f64, f64, f64)]) -> Chart {
    Chart {
        title: "tenge: 4 validators + 1 observer, 2 cores".into(),
        x_label: "committed tx/s".into(),
        y_label: "latency ms".into(),
        series: vec![
            Series {
                name: "p50".into(),
                color: [31, 119, 180],
                points: points.iter().map(|p| (p.0, p.1)).collect(),
            },
            Series {
                name: "p99".into(),
                color: [214, 39, 40],
                points: points.iter().map(|p| (p.0, p.2)).collect(),
            },
        ],
    }
}

/// Redraws `cluster.png` from the results in `cluster.json` (no cluster is run).
fn replot(out: &Path) {
    let text = std::fs::read_to_string(out.join("cluster.json")).expect("read cluster.json");
    let results: Vec<serde_json::Value> = serde_json::from_str(&text).expect("cluster.json");
    let number = |v: &serde_json::Value| v.as_f64().expect("a number in cluster.json");
    let points: Vec<(f64, f64, f64)> = results
        .iter()
        .map(|result| {
            let report = &result["report"];
            let windows = report["timeline"].as_array().expect("timeline");
            let sum: f64 = windows.iter().map(|w| number(&w["committed_tps"])).sum();
            (
                (sum / windows.len().max(1) as f64).round(),
                number(&report["latency_ms"]["p50"]),
                number(&report["latency_ms"]["p99"]),
            )
        })
        .collect();
    let png = chart(&points).png(900, 560).expect("render the chart");
    std::fs::write(out.join("cluster.png"), png).expect("write plot");
    eprintln!("redrew {}", out.join("cluster.png").display());
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/performance");
    if std::env::var_os("TENGE_BENCH_REPLOT").is_some() {
        replot(&out);
        return;
    }
    let rates: Vec<u64> = std::env::var("TENGE_BENCH_RATES")
        .unwrap_or_else(|_| "1000,2000,4000,6000,8000,10000,12000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("rate"))
        .collect();
    let seconds: u64 = std::env::var("TENGE_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let accounts: usize = std::env::var("TENGE_BENCH_ACCOUNTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let mut results = Vec::new();
    for (i, rate) in rates.iter().enumerate() {
        eprintln!("cluster bench: {rate} tx/s for {seconds} s");
        let report = run_rate(*rate, seconds, accounts, 43_000 + (i as u16) * 20);
        eprintln!("  {}", serde_json::to_string(&report).expect("JSON"));
        results.push((*rate, report));
    }
    std::fs::create_dir_all(&out).expect("output directory");
    let mut table = format!(
        "# Cluster benchmark\n\nMachine: {}. 4 validators + 1 observer as separate `tenged` processes on loopback, \
         RocksDB with a synced write per block, every policy check on; `tenge bench` (open loop, {accounts} \
         tier-1 wallets, transfers signed before the window) on the same machine. {seconds} s per rate, a fresh \
         devnet per rate. Reproduce: `cargo build --release --workspace && cargo bench --workspace --bench cluster`.\n\n\
         \"committed tx/s\" is `tps` of the report (everything committed, drain included, over the window length); \
         \"in window\" counts only commits that happened inside the window: when it falls behind the offered rate, \
         the cluster is saturated and a queue is building.\n\n\
         | offered tx/s | committed tx/s | in window tx/s | committed | rejected | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|\n",
        machine()
    );
    for (rate, r) in &results {
        table += &format!(
            "| {rate} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.tps,
            in_window(r),
            r.committed,
            r.rejected,
            r.latency_ms.p50,
            r.latency_ms.p95,
            r.latency_ms.p99,
            r.latency_ms.max
        );
    }
    std::fs::write(out.join("cluster.md"), table).expect("write table");
    std::fs::write(
        out.join("cluster.json"),
        serde_json::to_string_pretty(
            &results
                .iter()
                .map(|(rate, r)| serde_json::json!({"rate": rate, "report": r}))
                .collect::<Vec<_>>(),
        )
        .expect("JSON"),
    )
    .expect("write json");
    let points: Vec<(f64, f64, f64)> = results
        .iter()
        .map(|(_, r)| (in_window(r), r.latency_ms.p50, r.latency_ms.p99))
        .collect();
    let png = chart(&points).png(900, 560).expect("render the chart");
    std::fs::write(out.join("cluster.png"), png).expect("write plot");
    eprintln!("wrote {}", out.display());
}
