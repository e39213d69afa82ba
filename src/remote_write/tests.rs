//! End-to-end tests of remote write against the decoding receiver on 127.0.0.1.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;

use super::*;
use crate::config::{PromDuration, QueueConfig, RemoteWriteConfig, Secret};
use crate::labels::Labels;
use crate::receiver::{Receiver, Reply};
use crate::relabel::RelabelConfig;
use crate::series::Series;

const WAIT: Duration = Duration::from_secs(10);

fn ms(n: u64) -> PromDuration {
    PromDuration(Duration::from_millis(n))
}

async fn receiver() -> Receiver {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Receiver::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// One shard, short deadlines and backoffs.
fn config(url: &str) -> RemoteWriteConfig {
    RemoteWriteConfig {
        url: url.to_owned(),
        remote_timeout: Some(ms(2_000)),
        queue_config: QueueConfig {
            capacity: 1_000,
            min_shards: 1,
            max_shards: 1,
            max_samples_per_send: 100,
            batch_send_deadline: ms(50),
            min_backoff: ms(10),
            max_backoff: ms(100),
            ..QueueConfig::default()
        },
        ..RemoteWriteConfig::default()
    }
}

struct Harness {
    rw: RemoteWrite,
    registry: Registry,
}

impl Harness {
    fn new(cfgs: &[RemoteWriteConfig], external: &[(&str, &str)]) -> Self {
        let mut registry = Registry::default();
        let metrics = RemoteWriteMetrics::new(&mut registry);
        let ext = external
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let rw = RemoteWrite::new(cfgs, &ext, metrics).unwrap();
        Self { rw, registry }
    }

    /// Sum of the samples of `metric` whose label text contains every `filters` entry.
    fn metric(&self, metric: &str, filters: &[&str]) -> f64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text.lines()
            .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with('{'))
            .filter(|l| filters.iter().all(|f| l.contains(f)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn dropped(&self, reason: &str) -> f64 {
        let r = format!("reason=\"{reason}\"");
        self.metric("shoal_remote_write_samples_dropped_total", &[&r])
    }
}

fn make_series(n: usize) -> Vec<Series> {
    (0..n)
        .map(|i| {
            let inst = format!("host{i}:9100");
            Series::new(Labels::from_pairs([
                ("__name__", "node_load1"),
                ("instance", inst.as_str()),
                ("job", "node"),
            ]))
        })
        .collect()
}

fn scrape(series: &[Series], ts: i64) -> Vec<Sample> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| Sample {
            series: s.clone(),
            timestamp: ts,
            value: i as f64 + ts as f64 / 1000.0,
        })
        .collect()
}

/// Polls `cond` until true or [`WAIT`]; false on timeout.
async fn eventually(cond: impl FnMut() -> bool) -> bool {
    crate::test_support::poll_until(WAIT, cond).await.is_some()
}

fn assert_no_duplicates(r: &Receiver) {
    let all = r.samples();
    let unique: HashSet<_> = all
        .iter()
        .map(|s| (format!("{:?}", s.labels), s.timestamp))
        .collect();
    assert_eq!(unique.len(), all.len(), "duplicates received");
}

#[tokio::test]
async fn sends_protocol_and_configured_headers() {
    let r = receiver().await;
    let mut cfg = config(&r.url());
    cfg.headers
        .insert("X-Scope-OrgID".into(), "tenant-1".into());
    cfg.http.bearer_token = Some(Secret::new("tok"));
    let h = Harness::new(&[cfg], &[]);
    h.rw.append(&scrape(&make_series(3), 1_000));
    assert!(r.wait_for_samples(3, WAIT).await);
    let headers = r.headers();
    let got = |n: &str| headers[0].get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(got("content-encoding"), "snappy");
    assert_eq!(got("content-type"), "application/x-protobuf");
    assert_eq!(got("x-prometheus-remote-write-version"), "0.1.0");
    assert_eq!(
        got("user-agent"),
        format!("shoal/{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(got("x-scope-orgid"), "tenant-1");
    assert_eq!(got("authorization"), "Bearer tok");
    assert_eq!(r.malformed_count(), 0);
    // The receiver records before the client sees the response.
    assert!(eventually(|| h.metric("shoal_remote_write_samples_sent_total", &[]) == 3.0).await);
    assert_eq!(
        h.metric("shoal_remote_write_requests_total", &["code=\"204\""]),
        1.0
    );
}

#[tokio::test]
async fn basic_auth_reads_password_file_per_request() {
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "one\n").unwrap();
    let mut cfg = config(&r.url());
    cfg.http.basic_auth = Some(crate::config::BasicAuth {
        username: "user".into(),
        password_file: Some(pw.to_string_lossy().into_owned()),
        ..Default::default()
    });
    let h = Harness::new(&[cfg], &[]);
    let series = make_series(1);
    h.rw.append(&scrape(&series, 1_000));
    assert!(r.wait_for_samples(1, WAIT).await);
    std::fs::write(&pw, "two").unwrap();
    h.rw.append(&scrape(&series, 2_000));
    assert!(r.wait_for_samples(2, WAIT).await);
    let auth: Vec<_> = r
        .headers()
        .iter()
        .map(|h| h.get("authorization").unwrap().to_str().unwrap().to_owned())
        .collect();
    // base64("user:one"), base64("user:two")
    assert_eq!(auth, vec!["Basic dXNlcjpvbmU=", "Basic dXNlcjp0d28="]);
}

#[tokio::test]
async fn batches_by_size() {
    let r = receiver().await;
    let mut cfg = config(&r.url());
    cfg.queue_config.max_samples_per_send = 10;
    cfg.queue_config.batch_send_deadline = PromDuration(Duration::from_secs(3600));
    let h = Harness::new(&[cfg], &[]);
    h.rw.append(&scrape(&make_series(30), 1_000));
    assert!(r.wait_for_samples(30, WAIT).await);
    assert_eq!(r.request_count(), 3);
    assert!(eventually(|| h.metric("shoal_remote_write_queue_length", &[]) == 0.0).await);
    // A partial batch waits for the (hour-long) deadline.
    h.rw.append(&scrape(&make_series(5), 2_000));
    assert_eq!(h.metric("shoal_remote_write_queue_length", &[]), 5.0);
    assert_eq!(r.request_count(), 3);
}

#[tokio::test]
async fn batches_by_deadline() {
    let r = receiver().await;
    let mut cfg = config(&r.url());
    cfg.queue_config.max_samples_per_send = 1_000;
    cfg.queue_config.batch_send_deadline = ms(100);
    let h = Harness::new(&[cfg], &[]);
    let start = crate::model::clock::monotonic_now();
    h.rw.append(&scrape(&make_series(5), 1_000));
    assert!(r.wait_for_samples(5, WAIT).await);
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(r.request_count(), 1);
}

#[tokio::test]
async fn retries_server_errors_without_loss_or_duplicates() {
    let r = receiver().await;
    r.push_replies([
        Reply::Status(500, "boom".into()),
        Reply::Status(503, "busy".into()),
        Reply::Status(500, "boom".into()),
    ]);
    let h = Harness::new(&[config(&r.url())], &[]);
    let series = make_series(20);
    h.rw.append(&scrape(&series, 1_000));
    assert!(r.wait_for_samples(20, WAIT).await);
    h.rw.append(&scrape(&series, 2_000));
    assert!(r.wait_for_samples(40, WAIT).await);
    assert_no_duplicates(&r);
    assert_eq!(r.samples().len(), 40);
    assert!(eventually(|| h.metric("shoal_remote_write_samples_sent_total", &[]) == 40.0).await);
    assert_eq!(
        h.metric("shoal_remote_write_samples_retried_total", &[]),
        60.0
    );
    assert_eq!(
        h.metric("shoal_remote_write_requests_total", &["code=\"500\""]),
        2.0
    );
}

#[tokio::test]
async fn client_errors_are_dropped_not_retried() {
    for (name, reply, retry_on_429) in [
        (
            "400",
            Reply::Status(400, "out of order sample".into()),
            false,
        ),
        (
            "429 without retry_on_http_429",
            Reply::TooManyRequests("1".into()),
            false,
        ),
    ] {
        let r = receiver().await;
        r.push_replies([reply]);
        let mut cfg = config(&r.url());
        cfg.queue_config.retry_on_http_429 = retry_on_429;
        let h = Harness::new(&[cfg], &[]);
        let series = make_series(5);
        h.rw.append(&scrape(&series, 1_000));
        assert!(
            eventually(|| h.dropped("http_4xx") == 5.0).await,
            "{name}: not dropped"
        );
        h.rw.append(&scrape(&series, 2_000));
        assert!(r.wait_for_samples(5, WAIT).await, "{name}");
        assert_eq!(r.request_count(), 2, "{name}");
        assert!(r.samples().iter().all(|s| s.timestamp == 2_000), "{name}");
        assert_eq!(
            h.metric("shoal_remote_write_samples_failed_total", &[]),
            5.0
        );
        assert_eq!(
            h.metric("shoal_remote_write_samples_retried_total", &[]),
            0.0
        );
    }
}

#[tokio::test]
async fn retries_429_when_enabled_honouring_retry_after() {
    let r = receiver().await;
    r.push_replies([Reply::TooManyRequests("1".into())]);
    let mut cfg = config(&r.url());
    cfg.queue_config.retry_on_http_429 = true;
    let h = Harness::new(&[cfg], &[]);
    let start = crate::model::clock::monotonic_now();
    h.rw.append(&scrape(&make_series(5), 1_000));
    assert!(r.wait_for_samples(5, WAIT).await);
    // The 1 s Retry-After replaced the 10 ms backoff.
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.request_count(), 2);
    assert_eq!(h.dropped("http_4xx"), 0.0);
    assert_no_duplicates(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_per_series_order_across_shards() {
    let r = receiver().await;
    r.set_delay(Some(Duration::ZERO..Duration::from_millis(50)));
    r.push_replies([
        Reply::Status(500, "x".into()),
        Reply::Accept,
        Reply::Status(502, "y".into()),
    ]);
    let mut cfg = config(&r.url());
    cfg.queue_config.min_shards = 4;
    cfg.queue_config.max_shards = 4;
    cfg.queue_config.max_samples_per_send = 7;
    let h = Harness::new(&[cfg], &[]);
    let series = make_series(20);
    for step in 1..=25 {
        h.rw.append(&scrape(&series, step * 1_000));
    }
    assert!(r.wait_for_samples(500, WAIT).await);
    assert_no_duplicates(&r);
    for s in &series {
        let ts: Vec<i64> = r
            .series(&s.labels().to_labels().to_map())
            .iter()
            .map(|p| p.0)
            .collect();
        let want: Vec<i64> = (1..=25).map(|i| i * 1_000).collect();
        assert_eq!(ts, want, "order of {}", s.labels());
    }
    assert_eq!(h.metric("shoal_remote_write_shards", &[]), 4.0);
}

#[tokio::test]
async fn full_queue_drops_and_counts_without_blocking() {
    let r = receiver().await;
    r.push_replies([Reply::Hang]);
    let mut cfg = config(&r.url());
    cfg.queue_config.capacity = 10;
    cfg.queue_config.max_samples_per_send = 5;
    cfg.remote_timeout = Some(PromDuration(Duration::from_secs(3600)));
    let h = Harness::new(&[cfg], &[]);
    let series = make_series(100);
    h.rw.append(&scrape(&series[..1], 1_000));
    // The first batch is now stuck in flight; the buffer is empty.
    assert!(eventually(|| r.request_count() == 1).await);
    h.rw.append(&scrape(&series, 2_000));
    assert_eq!(h.dropped("queue_full"), 90.0);
    assert_eq!(h.metric("shoal_remote_write_queue_length", &[]), 10.0);
    // Shutdown gives up on the hung request and counts everything left.
    h.rw.shutdown(Duration::from_millis(100)).await;
    assert_eq!(h.dropped("shutdown"), 11.0);
    assert_eq!(h.metric("shoal_remote_write_queue_length", &[]), 0.0);
    h.rw.append(&scrape(&series[..3], 3_000));
    assert_eq!(h.dropped("shutdown"), 14.0);
}

#[tokio::test]
async fn merges_external_labels() {
    let r = receiver().await;
    let h = Harness::new(&[config(&r.url())], &[("cluster", "ext"), ("replica", "a")]);
    let s = Series::new(Labels::from_pairs([
        ("__name__", "up"),
        ("cluster", "mine"),
    ]));
    h.rw.append(&[Sample {
        series: s,
        timestamp: 5,
        value: 1.0,
    }]);
    assert!(r.wait_for_samples(1, WAIT).await);
    let want: BTreeMap<String, String> =
        [("__name__", "up"), ("cluster", "mine"), ("replica", "a")]
            .into_iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
    assert_eq!(r.samples()[0].labels, want);
}

#[tokio::test]
async fn shutdown_flushes_within_timeout() {
    let r = receiver().await;
    let mut cfg = config(&r.url());
    cfg.queue_config.min_shards = 2;
    cfg.queue_config.max_shards = 2;
    cfg.queue_config.batch_send_deadline = PromDuration(Duration::from_secs(3600));
    let h = Harness::new(&[cfg], &[]);
    h.rw.append(&scrape(&make_series(50), 1_000));
    let start = crate::model::clock::monotonic_now();
    h.rw.shutdown(Duration::from_secs(5)).await;
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(r.samples().len(), 50);
    assert_eq!(h.dropped("shutdown"), 0.0);
    assert_eq!(h.metric("shoal_remote_write_shards", &[]), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_receiver_is_bounded_and_isolated() {
    let slow = receiver().await;
    slow.push_replies([Reply::Hang]);
    let fast = receiver().await;
    let mut slow_cfg = config(&slow.url());
    slow_cfg.remote_timeout = Some(ms(1_000));
    let h = Harness::new(&[slow_cfg, config(&fast.url())], &[]);
    let start = crate::model::clock::monotonic_now();
    h.rw.append(&scrape(&make_series(10), 1_000));
    assert!(fast.wait_for_samples(10, WAIT).await);
    assert!(
        start.elapsed() < Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    // The hung request times out and is retried on a new connection.
    assert!(slow.wait_for_samples(10, WAIT).await);
    assert!(start.elapsed() >= Duration::from_millis(1_000));
    assert_eq!(slow.request_count(), 2);
    assert_eq!(
        h.metric("shoal_remote_write_requests_total", &["code=\"error\""]),
        1.0
    );
}

#[tokio::test]
async fn write_relabel_drops_series() {
    let r = receiver().await;
    let mut cfg = config(&r.url());
    cfg.write_relabel_configs = vec![RelabelConfig {
        action: Some("drop".into()),
        source_labels: vec!["instance".into()],
        regex: Some("host[0-4]:.*".into()),
        ..RelabelConfig::default()
    }];
    let h = Harness::new(&[cfg], &[]);
    let series = make_series(10);
    h.rw.append(&scrape(&series, 1_000));
    h.rw.append(&scrape(&series, 2_000));
    h.rw.shutdown(Duration::from_secs(5)).await;
    assert_eq!(r.samples().len(), 10);
    assert!(
        r.samples()
            .iter()
            .all(|s| s.labels["instance"].as_str() >= "host5")
    );
    assert_eq!(h.dropped("relabel"), 10.0);
}

#[tokio::test]
async fn reload_keeps_unchanged_queues() {
    let a = receiver().await;
    let b = receiver().await;
    let c = receiver().await;
    let h = Harness::new(&[config(&a.url()), config(&b.url())], &[]);
    let before: Vec<_> = h.rw.queues.read().unwrap().clone();
    // Queued for b before the reload: the old queue flushes them.
    h.rw.append(&scrape(&make_series(3), 1_000));
    h.rw.apply_config(&[config(&a.url()), config(&c.url())], &BTreeMap::new())
        .unwrap();
    let after: Vec<_> = h.rw.queues.read().unwrap().clone();
    assert!(Arc::ptr_eq(&before[0], &after[0]));
    assert!(after[1].runs(&config(&c.url())));
    assert!(b.wait_for_samples(3, WAIT).await);
    h.rw.append(&scrape(&make_series(2), 2_000));
    assert!(c.wait_for_samples(2, WAIT).await);
    assert!(a.wait_for_samples(5, WAIT).await);
    // External labels changed: every queue is replaced.
    let ext: BTreeMap<_, _> = [("dc".to_owned(), "x".to_owned())].into();
    h.rw.apply_config(&[config(&a.url()), config(&c.url())], &ext)
        .unwrap();
    assert!(!Arc::ptr_eq(&after[0], &h.rw.queues.read().unwrap()[0]));
    // A bad config changes nothing.
    let mut bad = config(&a.url());
    bad.headers
        .insert("Content-Type".into(), "text/plain".into());
    assert!(h.rw.apply_config(&[bad], &ext).is_err());
    assert_eq!(h.rw.queues.read().unwrap().len(), 2);
}

/// A reload that changes only a password keeps the queue (no drain, no restart) and sends
/// with the new credentials from then on (Prometheus' `SetClient`); nothing is sent twice.
#[tokio::test]
async fn password_rotation_swaps_the_client_of_the_same_queue() {
    use crate::config::BasicAuth;
    let r = receiver().await;
    let with_password = |p: &str| {
        let mut cfg = config(&r.url());
        cfg.http.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: Some(Secret::new(p)),
            ..Default::default()
        });
        cfg
    };
    let h = Harness::new(&[with_password("old")], &[]);
    let series = make_series(4);
    h.rw.append(&scrape(&series, 1_000));
    assert!(r.wait_for_samples(4, WAIT).await);
    let before = h.rw.queues.read().unwrap()[0].clone();
    h.rw.apply_config(&[with_password("new")], &BTreeMap::new())
        .unwrap();
    let after = h.rw.queues.read().unwrap()[0].clone();
    assert!(Arc::ptr_eq(&before, &after), "the queue is kept");
    assert!(after.runs(&with_password("new")));
    h.rw.append(&scrape(&series, 2_000));
    assert!(r.wait_for_samples(8, WAIT).await);
    let auth: Vec<String> = r
        .headers()
        .iter()
        .filter_map(|hm| hm.get("authorization"))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let basic = |p: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("u:{p}"))
        )
    };
    assert_eq!(auth.first(), Some(&basic("old")));
    assert_eq!(auth.last(), Some(&basic("new")));
    assert_no_duplicates(&r);
    assert_eq!(r.samples().len(), 8);
}

/// A reload whose last entry cannot be prepared (its CA file is missing) changes nothing:
/// no queue started, none replaced, no client swapped.
#[tokio::test]
async fn a_reload_that_fails_to_prepare_changes_nothing() {
    let a = receiver().await;
    let b = receiver().await;
    let h = Harness::new(&[config(&a.url())], &[]);
    let before = h.rw.queues.read().unwrap()[0].clone();
    let mut rotated = config(&a.url());
    rotated.headers.insert("X-Team".into(), "t".into());
    let mut broken = config(&b.url());
    broken.http.tls_config = Some(crate::config::TlsConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    });
    let err =
        h.rw.apply_config(&[rotated, broken], &BTreeMap::new())
            .unwrap_err();
    assert!(err.to_string().contains("remote_write[1]"), "{err}");
    let now: Vec<_> = h.rw.queues.read().unwrap().clone();
    assert_eq!(now.len(), 1);
    assert!(Arc::ptr_eq(&before, &now[0]) && now[0].runs(&config(&a.url())));
}

/// Default queue settings start `min_shards` (1) shard, so a scrape's series travel in
/// one request: the first write holds every series, not just a shard's share.
#[tokio::test]
async fn default_queue_sends_a_scrape_in_one_request() {
    let r = receiver().await;
    let mut cfg = config(&r.url());
    cfg.queue_config = QueueConfig {
        batch_send_deadline: ms(50),
        ..QueueConfig::default()
    };
    let h = Harness::new(&[cfg], &[]);
    assert_eq!(h.metric("shoal_remote_write_shards", &[]), 1.0);
    h.rw.append(&scrape(&make_series(6), 1_000));
    assert!(r.wait_for_samples(6, WAIT).await);
    assert_eq!(r.request_count(), 1);
}

#[tokio::test]
async fn invalid_configs_are_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = "http://127.0.0.1:1/api/v1/write";
    let mut shards = config(url);
    shards.queue_config.min_shards = 5;
    let mut header = config(url);
    header.headers.insert("User-Agent".into(), "x".into());
    let mut proto = config(url);
    proto.protobuf_message = Some("io.prometheus.write.v2.Request".into());
    let mut relabel = config(url);
    relabel.write_relabel_configs = vec![RelabelConfig {
        action: Some("keep".into()),
        regex: Some("(".into()),
        ..RelabelConfig::default()
    }];
    let cases = [
        ("url", config("not a url")),
        ("scheme", config("ftp://x/")),
        ("shards", shards),
        ("reserved header", header),
        ("protobuf message", proto),
        ("relabel", relabel),
    ];
    for (name, cfg) in cases {
        let err = RemoteWrite::new(&[cfg], &BTreeMap::new(), RemoteWriteMetrics::unregistered());
        assert!(err.is_err(), "{name}");
    }
}

/// Two shards; one series' requests fail while the other's succeed, the queue is stopped
/// (flush deadline passed) and started again on the same WAL: every sample arrives once.
/// Before per-shard progress was stored, the restart sent the delivered shard's samples
/// again (the committed position waits for the slowest shard).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_ahead_of_another_is_not_resent_after_a_restart() {
    use crate::wal::{Wal, WalMetrics, WalOptions};
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        dir: dir.path().join("wal"),
        segment_size: 1 << 20,
        max_bytes: 1 << 30,
        fsync_interval: Duration::from_millis(50),
    };
    let mut cfg = config(&r.url());
    cfg.queue_config.min_shards = 2;
    cfg.queue_config.max_shards = 2;
    // One series on each shard of two.
    let all = make_series(64);
    let on = |shard: usize| {
        all.iter()
            .find(|s| wal_feed::shard_of_hash(s.wire_hash(), 2) == shard)
            .cloned()
            .unwrap()
    };
    let (ahead, behind) = (on(0), on(1));
    let behind_instance = behind.labels().get("instance").unwrap().to_owned();
    let pair = [ahead.clone(), behind.clone()];
    let start = |wal: Arc<Wal>| {
        let metrics = RemoteWriteMetrics::unregistered();
        RemoteWrite::with_wal(std::slice::from_ref(&cfg), &BTreeMap::new(), metrics, wal).unwrap()
    };
    let count = |r: &Receiver, s: &Series| {
        let want = s.labels().get("instance").unwrap();
        r.samples()
            .iter()
            .filter(|x| x.labels.get("instance").map(String::as_str) == Some(want))
            .count()
    };

    r.reject_label(Some(("instance", &behind_instance)));
    {
        let wal = Arc::new(
            Wal::open(opts.clone(), WalMetrics::unregistered())
                .unwrap()
                .0,
        );
        let rw = start(wal.clone());
        for ts in 1..=5 {
            wal.append(&scrape(&pair, ts * 1000)).unwrap();
        }
        assert!(eventually(|| count(&r, &ahead) == 5).await);
        // The behind shard keeps retrying: the flush deadline passes.
        rw.shutdown(Duration::from_millis(300)).await;
    }
    let readers = dir.path().join("wal").join("readers");
    let stored: Vec<String> = std::fs::read_dir(&readers)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(stored.iter().any(|t| t.starts_with("v3 ")), "{stored:?}");

    r.reject_label(None);
    let wal = Arc::new(Wal::open(opts, WalMetrics::unregistered()).unwrap().0);
    let rw = start(wal.clone());
    wal.append(&scrape(&pair, 6000)).unwrap();
    assert!(eventually(|| count(&r, &ahead) >= 6 && count(&r, &behind) >= 6).await);
    rw.shutdown(Duration::from_secs(5)).await;
    let want: Vec<i64> = (1..=6).map(|t| t * 1000).collect();
    for s in &pair {
        let ts: Vec<i64> = r
            .series(&s.labels().to_labels().to_map())
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(ts, want, "{}", s.labels());
    }
}

/// One scrape of 50 series, sends of 30: the first send is acknowledged, the second
/// refused until the flush deadline passes. The restarted queue sends the other 20 and
/// not the 30 again (the committed position cannot move inside the record; the stored
/// count says what was sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_split_across_sends_is_resumed_inside_the_record() {
    use crate::wal::{Wal, WalMetrics, WalOptions};
    let r = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        dir: dir.path().join("wal"),
        segment_size: 1 << 20,
        max_bytes: 1 << 30,
        fsync_interval: Duration::from_millis(50),
    };
    let mut cfg = config(&r.url());
    cfg.queue_config.max_samples_per_send = 30;
    let series = make_series(50);
    let start = |wal: Arc<Wal>| {
        let metrics = RemoteWriteMetrics::unregistered();
        RemoteWrite::with_wal(std::slice::from_ref(&cfg), &BTreeMap::new(), metrics, wal).unwrap()
    };
    r.push_replies(std::iter::once(Reply::Accept).chain(std::iter::repeat_n(
        Reply::Status(503, "down".into()),
        10_000,
    )));
    {
        let wal = Arc::new(
            Wal::open(opts.clone(), WalMetrics::unregistered())
                .unwrap()
                .0,
        );
        let rw = start(wal.clone());
        wal.append(&scrape(&series, 1000)).unwrap();
        assert!(eventually(|| r.samples().len() == 30 && r.rejected_requests().len() >= 2).await);
        rw.shutdown(Duration::from_millis(300)).await;
    }
    r.clear_replies();
    let wal = Arc::new(Wal::open(opts, WalMetrics::unregistered()).unwrap().0);
    let rw = start(wal.clone());
    wal.append(&scrape(&series, 2000)).unwrap();
    assert!(eventually(|| r.samples().len() >= 100).await);
    rw.shutdown(Duration::from_secs(5)).await;
    assert_no_duplicates(&r);
    assert_eq!(r.samples().len(), 100);
    for s in &series {
        let ts: Vec<i64> = r
            .series(&s.labels().to_labels().to_map())
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(ts, [1000, 2000], "{}", s.labels());
    }
}
