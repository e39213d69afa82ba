//! The real Prometheus (Debian's package) as the remote-write receiver: shoal scrapes a
//! local target with known series and Prometheus' HTTP API shows what arrived —
//! escaped label values, honor_labels clashes, external labels, special values and
//! staleness. Skipped outside CI when `prometheus` is not installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Prometheus, Reply, Shoal, TargetServer, wait_for_async};

const TIMEOUT: Duration = Duration::from_secs(30);

const EXPOSITION: &str = r#"# HELP esc Label values with escapes.
# TYPE esc gauge
esc{path="C:\\dir\\file",quote="say \"hi\"",nl="line1\nline2",utf8="żółw ✓"} 1
# TYPE clash gauge
clash{job="inner",instance="inner:1",other="x"} 2
# TYPE hist histogram
hist_bucket{le="0.5"} 1
hist_bucket{le="+Inf"} 3
hist_sum 4.5
hist_count 3
# TYPE c counter
c_total 12345.5
# TYPE special gauge
special{kind="nan"} NaN
special{kind="inf"} +Inf
special{kind="neginf"} -Inf
special{kind="big"} 1.5e+300
# TYPE ext gauge
ext{cluster="own"} 1
"#;

fn config(target: &str, vanish: &str, write_url: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
  external_labels:
    cluster: itest
scrape_configs:
  - job_name: plain
    static_configs:
      - targets: ['{target}']
  - job_name: honored
    honor_labels: true
    static_configs:
      - targets: ['{target}']
  - job_name: vanish
    metrics_path: /vanish
    static_configs:
      - targets: ['{vanish}']
remote_write:
  - url: '{write_url}'
    queue_config: {{batch_send_deadline: 500ms}}
"#
    )
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Waits until `/api/v1/series` for `matcher` returns something; returns it.
async fn series(prom: &Prometheus, shoal: &Shoal, matcher: &str) -> Vec<BTreeMap<String, String>> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let found = prom.series(matcher).await;
        if !found.is_empty() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no series for {matcher} in Prometheus; shoal log:\n{}\nprometheus log:\n{}",
            shoal.log_tail(),
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_labels_and_values_arrive_in_prometheus() {
    let Some(prom) = Prometheus::start().await else {
        return;
    };
    let target = TargetServer::start().await;
    target.set("/metrics", Reply::text(EXPOSITION));
    let vanish = TargetServer::start_on("127.0.0.2").await;
    vanish.set("/vanish", Reply::text("gone 1\n"));
    let mut shoal = Shoal::start(&config(&target.addr(), &vanish.addr(), &prom.write_url())).await;
    let instance = target.addr();
    let inst = instance.as_str();

    // Escapes in label values arrive decoded, byte for byte.
    let esc = series(&prom, &shoal, r#"esc{job="plain"}"#).await;
    assert_eq!(
        esc,
        vec![labels(&[
            ("__name__", "esc"),
            ("cluster", "itest"),
            ("instance", inst),
            ("job", "plain"),
            ("nl", "line1\nline2"),
            ("path", r"C:\dir\file"),
            ("quote", r#"say "hi""#),
            ("utf8", "żółw ✓"),
        ])]
    );

    // honor_labels: false keeps the target's labels as exported_*.
    let plain = series(&prom, &shoal, r#"clash{job="plain"}"#).await;
    assert_eq!(
        plain,
        vec![labels(&[
            ("__name__", "clash"),
            ("cluster", "itest"),
            ("exported_instance", "inner:1"),
            ("exported_job", "inner"),
            ("instance", inst),
            ("job", "plain"),
            ("other", "x"),
        ])]
    );
    // honor_labels: true lets the target's labels win.
    let honored = series(&prom, &shoal, r#"clash{other="x",job="inner"}"#).await;
    assert_eq!(
        honored,
        vec![labels(&[
            ("__name__", "clash"),
            ("cluster", "itest"),
            ("instance", "inner:1"),
            ("job", "inner"),
            ("other", "x"),
        ])]
    );
    // An external label does not override the series' own.
    let ext = series(&prom, &shoal, r#"ext{job="plain"}"#).await;
    assert_eq!(ext.len(), 1);
    assert_eq!(ext[0]["cluster"], "own", "{ext:?}");

    // Values, as Prometheus answers an instant query.
    let q = |promql: &'static str| prom.query_values(promql);
    let one = |v: Vec<(BTreeMap<String, String>, f64)>| -> f64 {
        assert_eq!(v.len(), 1, "{v:?}");
        v[0].1
    };
    assert_eq!(one(q(r#"clash{job="plain"}"#).await), 2.0);
    assert_eq!(one(q(r#"up{job="plain"}"#).await), 1.0);
    assert_eq!(one(q(r#"up{job="honored"}"#).await), 1.0);
    assert_eq!(one(q(r#"c_total{job="plain"}"#).await), 12345.5);
    assert_eq!(one(q(r#"hist_bucket{job="plain",le="+Inf"}"#).await), 3.0);
    assert_eq!(one(q(r#"hist_bucket{job="plain",le="0.5"}"#).await), 1.0);
    assert_eq!(one(q(r#"hist_sum{job="plain"}"#).await), 4.5);
    assert_eq!(
        one(q(r#"histogram_quantile(1, hist_bucket{job="plain"})"#).await),
        0.5
    );
    assert_eq!(one(q(r#"special{job="plain",kind="big"}"#).await), 1.5e300);
    assert_eq!(
        one(q(r#"special{job="plain",kind="inf"}"#).await),
        f64::INFINITY
    );
    assert_eq!(
        one(q(r#"special{job="plain",kind="neginf"}"#).await),
        f64::NEG_INFINITY
    );
    assert!(one(q(r#"special{job="plain",kind="nan"}"#).await).is_nan());
    assert!(!q(r#"scrape_samples_scraped{job="plain"}"#).await.is_empty());

    // Timestamps are on the scrape grid, within an interval or so of now.
    let ts = one(q(r#"timestamp(up{job="plain"})"#).await);
    let now = common::now_ms() as f64 / 1000.0;
    assert!(
        (now - ts).abs() < 10.0,
        "up timestamp {ts} far from now {now}"
    );

    // Staleness: a series that disappears from its target vanishes from queries at
    // once (without a marker it would linger for Prometheus' 5m lookback).
    series(&prom, &shoal, r#"gone{job="vanish"}"#).await;
    assert!(
        !prom.query(r#"gone{job="vanish"}"#).await.is_empty(),
        "gone not queryable yet"
    );
    vanish.set("/vanish", Reply::text("# nothing here now\n"));
    let vanished = wait_for_async(TIMEOUT, || async {
        prom.query(r#"gone{job="vanish"}"#).await.is_empty()
    })
    .await;
    assert!(
        vanished,
        "no staleness marker reached Prometheus; shoal log:\n{}",
        shoal.log_tail()
    );
    assert_eq!(one(q(r#"up{job="vanish"}"#).await), 1.0);

    shoal.stop().await;
}
