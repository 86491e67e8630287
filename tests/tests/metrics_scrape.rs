//! `GET /metrics` of real `tenged` processes under load (issue 14 item 3, fault model n = 4):
//! the page parses with a Prometheus text parser (`prometheus-parse`), every line of it is
//! understood, no counter or histogram count goes down from one scrape to the next, and
//! libp2p's own metrics are on the same page.

use std::collections::BTreeMap;
use std::time::Duration;

use prometheus_parse::{LineInfo, SampleType, Scrape};
use tenge_tests::byzantine::use_free_ports;
use tenge_tests::cluster::{Cluster, Load, wait_height};

const MINUTE: Duration = Duration::from_secs(60);

/// One scrape: its samples by `name{labels}`, with whether each one must never go down (a
/// counter, or a histogram's buckets, count and sum).
struct Page {
    text: String,
    samples: BTreeMap<String, (f64, bool)>,
}

impl Page {
    fn value(&self, sample: &str) -> Option<f64> {
        self.samples.get(sample).map(|(value, _)| *value)
    }

    /// The sum over every label set of `name`.
    fn total(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(key, _)| *key == name || key.starts_with(&format!("{name}{{")))
            .map(|(_, (value, _))| value)
            .sum()
    }
}

async fn scrape(api: &str) -> Page {
    let response = reqwest::get(format!("{api}/metrics"))
        .await
        .expect("metrics answer");
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let text = response.text().await.expect("metrics text");
    parse(text)
}

/// Parses a page with `prometheus-parse`, line by line (so that no line is silently skipped, as
/// its whole-page parser does with lines it does not understand) and whole.
fn parse(text: String) -> Page {
    assert_eq!(
        text.lines().last(),
        Some("# EOF"),
        "an OpenMetrics page ends with # EOF"
    );
    let scrape = Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).expect("parses");
    assert!(!scrape.samples.is_empty(), "no samples:\n{text}");
    assert!(
        scrape.docs.contains_key("tenge_committed_transactions"),
        "no HELP for tenge_committed_transactions"
    );
    let mut samples = BTreeMap::new();
    let mut monotonic = false;
    for line in text.lines() {
        match LineInfo::parse(line) {
            LineInfo::Type { sample_type, .. } => {
                monotonic = matches!(sample_type, SampleType::Counter | SampleType::Histogram);
            }
            LineInfo::Sample {
                metric_name,
                labels,
                value,
                ..
            } => {
                let value: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("value of `{line}` is not a number"));
                let key = match labels {
                    Some(labels) => format!("{metric_name}{{{labels}}}"),
                    None => metric_name.to_string(),
                };
                assert!(
                    samples.insert(key, (value, monotonic)).is_none(),
                    "sample twice: {line}"
                );
            }
            LineInfo::Doc { .. } => {}
            LineInfo::Empty => panic!("empty line in the page"),
            LineInfo::Ignored => assert!(
                line.starts_with("# UNIT ") || line == "# EOF",
                "line not understood by the parser: `{line}`"
            ),
        }
    }
    Page { text, samples }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_never_go_down_under_load_and_include_libp2p() {
    let mut cluster = Cluster::init(4, 0, 47_000);
    use_free_ports(&mut cluster);
    for i in 0..4 {
        cluster.start_validator(i);
    }
    wait_height(&cluster, &cluster.client(0), 1, MINUTE).await;
    let api = cluster.validators[0].api.clone();
    let mut load = Load::new(&cluster, 0).await;
    let mut pages = vec![scrape(&api).await];
    for _ in 0..4 {
        let last = load.burst(30).await.expect("transfers accepted");
        // Scrape while the burst is still being committed, then once it is.
        pages.push(scrape(&api).await);
        cluster
            .client(0)
            .wait_final(&last, MINUTE)
            .await
            .expect("final");
        pages.push(scrape(&api).await);
    }

    for pair in pages.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        for (key, (value, monotonic)) in &before.samples {
            if !monotonic {
                continue;
            }
            let now = after
                .value(key)
                .unwrap_or_else(|| panic!("{key} vanished from the page"));
            assert!(now >= *value, "{key} went down: {value} then {now}");
        }
    }
    let (first, last) = (&pages[0], pages.last().expect("pages"));
    // The load shows: commits, latencies, consensus, storage and API counters went up.
    for name in [
        "tenge_committed_transactions_total",
        "tenge_committed_blocks_total",
        "tenge_commit_latency_seconds_count",
        "tenge_consensus_qcs_total",
        "tenge_consensus_messages_sent_total",
        "tenge_consensus_messages_received_total",
        "tenge_mempool_admitted_transactions_total",
        "tenge_storage_commit_seconds_count",
        "tenge_storage_safety_write_seconds_count",
        "tenge_storage_block_bytes_total",
        "tenge_api_requests_total",
        "tenge_api_request_duration_seconds_count",
    ] {
        assert!(
            last.total(name) > first.total(name),
            "{name} did not grow under load: {} then {}",
            first.total(name),
            last.total(name)
        );
    }
    assert!(
        last.total("tenge_committed_transactions_total") >= 120.0,
        "{}",
        last.text
    );
    // Requests are labelled by route pattern and status.
    assert!(
        last.value(
            "tenge_api_requests_total{route=\"/v1/transactions\",method=\"POST\",status=\"202\"}"
        )
        .is_some_and(|count| count >= 120.0),
        "{}",
        last.text
    );
    // Levels are gauges read at the scrape.
    assert!(last.value("tenge_height").is_some_and(|h| h >= 1.0));
    assert_eq!(last.value("tenge_peers"), Some(3.0), "{}", last.text);
    assert!(
        last.value("tenge_storage_database_bytes")
            .is_some_and(|b| b > 0.0)
    );
    // libp2p's own metrics: connections, bandwidth, pings, on the same page.
    for name in [
        "libp2p_swarm_connections_established_total",
        "libp2p_bandwidth_bytes_total",
        "libp2p_ping_rtt_seconds_count",
    ] {
        assert!(last.total(name) > 0.0, "{name} missing:\n{}", last.text);
    }

    // Every metric the Grafana dashboard queries is on the page, except families that get
    // their first label set only when what they count happens (none of it does here).
    let only_when_it_happens = [
        "tenge_rejections_total",
        "tenge_consensus_proposals_refused_total",
        "tenge_consensus_invalid_messages_total",
        "tenge_mempool_refused_transactions_total",
        "tenge_sync_responses_total",
        "tenge_network_dial_failures_total",
        "tenge_network_dropped_messages_total",
        "libp2p_ping_failure_total",
    ];
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../config/grafana-dashboard.json"),
        )
        .expect("read the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("expr");
            for name in metric_names(expr) {
                queried += 1;
                if only_when_it_happens.contains(&name.as_str()) {
                    continue;
                }
                assert!(
                    last.samples
                        .keys()
                        .any(|key| key == &name || key.starts_with(&format!("{name}{{"))),
                    "the dashboard queries {name}, which is not on the page"
                );
            }
        }
    }
    assert!(queried > 30, "only {queried} metrics queried");
}

/// The metric names in a PromQL expression: words that start with `tenge_` or `libp2p_`.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("tenge_") || word.starts_with("libp2p_"))
        .map(str::to_string)
        .collect()
}
