//! The process's life: health and readiness, self-metrics, the targets API, reload by
//! SIGHUP and by `POST /-/reload`, log formats, and graceful exit that flushes.

mod common;

use std::time::Duration;

use common::samples::{dump, matching};
use common::shoal::EXIT_TIMEOUT;
use common::{Receiver, Reply, Shoal, TargetServer, basic_config, is_stale_nan, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);

/// `basic_config` plus a second job `extra` scraping `extra_addr`.
fn with_extra_job(target: &str, extra_addr: &str, write_url: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: test
    static_configs:
      - targets: ['{target}']
  - job_name: extra
    static_configs:
      - targets: ['{extra_addr}']
remote_write:
  - url: '{write_url}'
    queue_config: {{batch_send_deadline: 500ms}}
"#
    )
}

async fn gauge_target(body: &str) -> TargetServer {
    let t = TargetServer::start().await;
    t.set("/metrics", Reply::text(body.to_string()));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_ready_and_self_metrics() {
    let target = gauge_target("g 1\n").await;
    let receiver = Receiver::start().await;
    let mut shoal = Shoal::start(&basic_config(&target.addr(), &receiver.url())).await;

    assert_eq!(shoal.get("/-/healthy").await.0, 200);
    assert_eq!(shoal.get("/-/ready").await.0, 200);
    // Self-metrics appear once something was scraped and sent.
    shoal
        .wait_target("test", &target.addr(), TIMEOUT, "health up", |t| {
            t["health"] == "up"
        })
        .await;
    let (status, body) = shoal.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        body.lines().any(|l| l.starts_with("shoal_")),
        "no shoal_ metrics:\n{body}"
    );
    let parsed = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("/metrics is not valid text exposition: {e}\n{body}"));
    assert!(
        parsed
            .samples
            .iter()
            .any(|s| s.metric.starts_with("shoal_")),
        "{body}"
    );
    shoal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_api_has_the_prometheus_shape() {
    let target = gauge_target("g 1\n").await;
    let receiver = Receiver::start().await;
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: test
    static_configs:
      - targets: ['{target}', 'dropped.invalid:1']
    relabel_configs:
      - source_labels: [__address__]
        regex: 'dropped.*'
        action: drop
remote_write:
  - url: '{url}'
"#,
        target = target.addr(),
        url = receiver.url()
    );
    let shoal = Shoal::start(&config).await;
    let t = shoal
        .wait_target("test", &target.addr(), TIMEOUT, "scraped", |t| {
            t["health"] == "up"
        })
        .await;
    for key in [
        "discoveredLabels",
        "labels",
        "scrapePool",
        "scrapeUrl",
        "lastError",
        "lastScrape",
        "lastScrapeDuration",
        "health",
        "owner",
    ] {
        assert!(t.get(key).is_some(), "activeTarget lacks {key}: {t}");
    }
    assert_eq!(t["scrapeUrl"], target.url("/metrics"), "{t}");
    assert_eq!(t["labels"]["job"], "test", "{t}");
    assert_eq!(t["labels"]["instance"], target.addr(), "{t}");
    assert_eq!(t["discoveredLabels"]["__address__"], target.addr(), "{t}");
    assert_eq!(t["lastError"], "", "{t}");
    assert!(t["lastScrapeDuration"].as_f64().is_some(), "{t}");

    let (_, body) = shoal.get("/api/v1/targets").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    let dropped = v["data"]["droppedTargets"]
        .as_array()
        .expect("droppedTargets array");
    assert!(
        dropped
            .iter()
            .any(|d| d["discoveredLabels"]["__address__"] == "dropped.invalid:1"),
        "dropped target not listed: {body}"
    );
}

/// Starts shoal with job `test` only, rewrites the config to add job `extra`, reloads
/// with `reload`, and checks the new job is scraped and written.
async fn reload_adds_job(reload: impl AsyncFnOnce(&Shoal)) {
    let target = gauge_target("g 1\n").await;
    let extra = gauge_target("extra_metric 5\n").await;
    let receiver = Receiver::start().await;
    let mut shoal = Shoal::start(&basic_config(&target.addr(), &receiver.url())).await;
    shoal
        .wait_target("test", &target.addr(), TIMEOUT, "health up", |t| {
            t["health"] == "up"
        })
        .await;
    assert!(shoal.target("extra", &extra.addr()).await.is_none());

    shoal.write_config(&with_extra_job(
        &target.addr(),
        &extra.addr(),
        &receiver.url(),
    ));
    reload(&shoal).await;

    shoal
        .wait_target("extra", &extra.addr(), TIMEOUT, "health up", |t| {
            t["health"] == "up"
        })
        .await;
    let want = [("__name__", "extra_metric"), ("job", "extra")];
    let arrived = wait_for(TIMEOUT, || !matching(&receiver.samples(), &want).is_empty()).await;
    assert!(
        arrived,
        "extra job not written:\n{}",
        dump(&receiver.samples(), 30)
    );
    // The old job survived the reload.
    let hits = target.hits("/metrics");
    assert!(
        wait_for(TIMEOUT, || target.hits("/metrics") >= hits + 2).await,
        "old job stopped"
    );
    shoal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reload_adds_a_job() {
    reload_adds_job(async |shoal: &Shoal| shoal.sighup()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_reload_adds_a_job() {
    reload_adds_job(async |shoal: &Shoal| {
        let (status, body) = shoal.post("/-/reload").await;
        assert_eq!(status, 200, "reload refused: {body}");
    })
    .await;
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A config whose scrape job and remote-write endpoint both use `password`.
fn with_passwords(target: &str, write_url: &str, password: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: test
    basic_auth: {{username: scraper, password: {password}}}
    static_configs:
      - targets: ['{target}']
remote_write:
  - url: '{write_url}'
    basic_auth: {{username: writer, password: {password}}}
    queue_config: {{batch_send_deadline: 200ms}}
"#
    )
}

/// Rotating passwords by reload keeps the scrape loop and its cache and the remote-write
/// queue (Prometheus' reusable cache and `SetClient`): no staleness marker punches a hole
/// in the graphs, no sample is sent twice, and the new passwords are used from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rotation_writes_no_staleness_marker_and_no_sample_twice() {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", |n| {
        Reply::text(format!("# TYPE c counter\nc {n}\ng 1\n"))
    });
    let receiver = Receiver::start().await;
    let mut shoal = Shoal::start(&with_passwords(&target.addr(), &receiver.url(), "old")).await;
    let c = [("__name__", "c")];
    assert!(
        wait_for(TIMEOUT, || matching(&receiver.samples(), &c).len() >= 2).await,
        "not scraped and written:\n{}",
        shoal.log_tail()
    );
    shoal.write_config(&with_passwords(&target.addr(), &receiver.url(), "new"));
    let (status, body) = shoal.post("/-/reload").await;
    assert_eq!(status, 200, "reload refused: {body}");
    let written_with = |p: &str| {
        receiver
            .headers()
            .iter()
            .flatten()
            .any(|(k, v)| k == "authorization" && *v == basic("writer", p))
    };
    let rotated = wait_for(TIMEOUT, || {
        target.authorizations().last() == Some(&basic("scraper", "new")) && written_with("new")
    })
    .await;
    assert!(rotated, "new passwords not used:\n{}", shoal.log_tail());
    let after = matching(&receiver.samples(), &c).len();
    assert!(
        wait_for(TIMEOUT, || matching(&receiver.samples(), &c).len()
            >= after + 2)
        .await,
        "scraping stopped after the reload"
    );
    shoal.stop().await;
    assert!(target.authorizations().first() == Some(&basic("scraper", "old")));
    assert!(written_with("old"));
    let samples = receiver.samples();
    let stale: Vec<_> = samples.iter().filter(|s| is_stale_nan(s.value)).collect();
    assert!(stale.is_empty(), "staleness markers written: {stale:?}");
    let mut seen = std::collections::HashSet::new();
    for s in &samples {
        assert!(
            seen.insert((format!("{:?}", s.labels), s.timestamp)),
            "sent twice: {s:?}"
        );
    }
    // The loop kept its cache: the counter's values continue without a restart.
    let mut values: Vec<f64> = matching(&samples, &c).iter().map(|s| s.value).collect();
    values.sort_by(f64::total_cmp);
    let expected: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
    assert_eq!(values, expected, "{}", dump(&samples, 40));
}

/// A reload whose last component cannot be prepared (a remote-write CA file that does not
/// exist) changes nothing: no new job scraped, the old remote write kept, the old file
/// shown by `/api/v1/status/config`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_failing_in_remote_write_changes_nothing() {
    let target = gauge_target("g 1\n").await;
    let extra = gauge_target("extra_metric 5\n").await;
    let receiver = Receiver::start().await;
    let mut shoal = Shoal::start(&basic_config(&target.addr(), &receiver.url())).await;
    shoal
        .wait_target("test", &target.addr(), TIMEOUT, "health up", |t| {
            t["health"] == "up"
        })
        .await;
    let (_, config_before) = shoal.get("/api/v1/status/config").await;
    let broken = format!(
        "{}    tls_config: {{ca_file: /nonexistent/ca.pem}}\n",
        with_extra_job(&target.addr(), &extra.addr(), &receiver.url())
    );
    shoal.write_config(&broken);
    let (status, body) = shoal.post("/-/reload").await;
    assert_ne!(status, 200, "a reload with a missing CA file was accepted");
    assert!(body.contains("remote_write[0]"), "{body}");
    assert_eq!(shoal.get("/api/v1/status/config").await.1, config_before);
    // The old job still scrapes and writes; the new one never started.
    let hits = target.hits("/metrics");
    assert!(wait_for(TIMEOUT, || target.hits("/metrics") >= hits + 2).await);
    let written = receiver.samples().len();
    assert!(wait_for(TIMEOUT, || receiver.samples().len() > written).await);
    assert!(shoal.target("extra", &extra.addr()).await.is_none());
    assert_eq!(extra.hits("/metrics"), 0);
    shoal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_flushes_queued_samples() {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", |n| {
        Reply::text(format!("# TYPE c counter\nc {n}\n"))
    });
    let receiver = Receiver::start().await;
    // A send deadline far beyond the test: only the shutdown flush can deliver.
    let config = format!(
        "{}    queue_config: {{batch_send_deadline: 5m, max_samples_per_send: 100000}}\n",
        basic_config(&target.addr(), &receiver.url())
    );
    let mut shoal = Shoal::start(&config).await;
    assert!(
        wait_for(TIMEOUT, || target.hits("/metrics") >= 4).await,
        "target not scraped"
    );
    shoal
        .wait_target("test", &target.addr(), TIMEOUT, "scraped", |t| {
            t["health"] == "up"
        })
        .await;

    shoal.sigterm();
    let status = shoal.wait_exit(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit {status} after SIGTERM; log tail:\n{}",
        shoal.log_tail()
    );

    // Every completed scrape arrived: values 0..=k without a gap, k at most one
    // in-flight scrape short of the requests the target saw.
    let samples = receiver.samples();
    let mut values: Vec<f64> = matching(&samples, &[("__name__", "c")])
        .iter()
        .map(|s| s.value)
        .collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let expected: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
    assert_eq!(
        values,
        expected,
        "gap in flushed samples:\n{}",
        dump(&samples, 40)
    );
    let hits = target.hits("/metrics") as usize;
    assert!(
        values.len() + 1 >= hits,
        "{} of {hits} scrapes flushed",
        values.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_formats() {
    let target = gauge_target("g 1\n").await;
    let receiver = Receiver::start().await;
    let config = basic_config(&target.addr(), &receiver.url());

    let mut json = Shoal::start_with_args(&config, &["--log.format=json"]).await;
    json.stop().await;
    let log = json.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "nothing logged");
    for line in lines {
        let v: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(v.is_ok_and(|v| v.is_object()), "not a JSON object: {line}");
    }

    let mut logfmt = Shoal::start_with_args(&config, &["--log.format=logfmt"]).await;
    logfmt.stop().await;
    let log = logfmt.log();
    assert!(
        log.lines().any(|l| l.contains("level=")),
        "no logfmt level= field:\n{log}"
    );
}
