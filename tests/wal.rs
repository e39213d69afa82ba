//! The WAL between scrape and remote write, with real processes: receiver outages, a
//! `kill -9` during an outage, and a receiver that fails 30 % of requests. In each case
//! every scraped sample arrives exactly once, per series in timestamp order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::wal_agent::{self, Agent, EXIT_TIMEOUT, per_series, receiver};
use common::{Daemon, TargetServer, free_port, now_ms};
use rand::Rng;
use shoal::receiver::{Receiver, Reply};

/// Series the target exposes (plus shoal's synthetic ones).
const SERIES: usize = 40;
/// Scrape interval of the tests, in ms.
const INTERVAL_MS: i64 = 1000;

/// A target with `SERIES` gauges whose value is the scrape count.
async fn target() -> TargetServer {
    target_with(SERIES).await
}

/// A target with `series` gauges whose value is the scrape count.
async fn target_with(series: usize) -> TargetServer {
    wal_agent::gauge_target("wal_test_series", series).await
}

/// Small queue and WAL, so that backpressure and segment rotation happen in a short run.
fn config(target: &str, write_url: &str) -> String {
    wal_agent::config(
        "wal",
        &[target.to_string()],
        write_url,
        &[
            "name: wal-test",
            "queue_config: {capacity: 60, max_shards: 2, min_shards: 2, max_samples_per_send: 30, batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 1s}",
        ],
    )
}

/// Waits until the receiver holds a sample of `up` scraped at or after `ts`.
async fn wait_scraped_after(r: &Receiver, ts: i64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let newest = r
            .samples()
            .iter()
            .filter(|s| s.labels.get("__name__").map(String::as_str) == Some("up"))
            .map(|s| s.timestamp)
            .max();
        if newest.is_some_and(|t| t >= ts) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every series arrived in strictly increasing timestamp order (so no duplicate), and
/// every target series has exactly the scrapes of `up`. Returns `up`'s timestamps.
fn check_exactly_once_in_order(r: &Receiver) -> Vec<i64> {
    let series = per_series(r);
    let up_key = series
        .keys()
        .find(|k| k.get("__name__").map(String::as_str) == Some("up"))
        .cloned()
        .expect("up arrived");
    let up = series.get(&up_key).cloned().unwrap_or_default();
    let mut targets = 0;
    for (labels, ts) in &series {
        for w in ts.windows(2) {
            assert!(
                w[0] < w[1],
                "series {labels:?}: {} then {} (duplicate or out of order)",
                w[0],
                w[1]
            );
        }
        if labels.get("__name__").map(String::as_str) == Some("wal_test_series") {
            targets += 1;
            assert_eq!(ts, &up, "series {labels:?} has other scrapes than up");
        }
    }
    assert_eq!(targets, SERIES, "every target series arrived");
    up
}

/// No scrape is missing from `up` between `from` and `to` (ms).
fn assert_no_gap(up: &[i64], from: i64, to: i64) {
    let inside: Vec<i64> = up
        .iter()
        .copied()
        .filter(|t| (from..=to).contains(t))
        .collect();
    assert!(!inside.is_empty(), "no scrape between {from} and {to}");
    for w in inside.windows(2) {
        // Slot-aligned scrapes are INTERVAL_MS apart; allow one skipped slot under load.
        assert!(
            w[1] - w[0] <= 2 * INTERVAL_MS + INTERVAL_MS / 2,
            "gap of {} ms at {} (lost samples)",
            w[1] - w[0],
            w[0]
        );
    }
}

/// A long run of 503s: an outage until `clear_replies`.
fn outage() -> impl Iterator<Item = Reply> {
    std::iter::repeat_n(Reply::Status(503, "down".into()), 100_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_outage_loses_nothing() {
    let t = target().await;
    let r = receiver().await;
    let storage = tempfile::tempdir().unwrap();
    let mut a = Agent::start(&config(&t.addr(), &r.url()), storage.path()).await;
    assert!(wait_scraped_after(&r, now_ms(), Duration::from_secs(20)).await);
    let start = now_ms();
    r.push_replies(outage());
    // Long enough that the backlog exceeds the shard buffers many times (backpressure).
    tokio::time::sleep(Duration::from_secs(20)).await;
    let outage_end = now_ms();
    r.clear_replies();
    let caught_up = Instant::now();
    assert!(
        wait_scraped_after(&r, outage_end + 2 * INTERVAL_MS, Duration::from_secs(60)).await,
        "no catch-up:\n{}",
        a.daemon.log_tail(40)
    );
    let catch_up = caught_up.elapsed();
    a.stop().await;
    let up = check_exactly_once_in_order(&r);
    assert_no_gap(&up, start - 3 * INTERVAL_MS, outage_end + 2 * INTERVAL_MS);
    eprintln!(
        "outage of {} ms: {} samples, caught up in {catch_up:?}",
        outage_end - start,
        r.samples().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_not_listening_at_start_then_back() {
    let t = target().await;
    let port = free_port("127.0.0.1");
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let storage = tempfile::tempdir().unwrap();
    let mut a = Agent::start(&config(&t.addr(), &url), storage.path()).await;
    let start = now_ms();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let r = Receiver::start(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    let back = now_ms();
    assert!(wait_scraped_after(&r, back + 2 * INTERVAL_MS, Duration::from_secs(60)).await);
    a.stop().await;
    let up = check_exactly_once_in_order(&r);
    // The first scrape happened right after start: everything since arrived.
    assert!(up.first().is_some_and(|f| *f <= start + 2 * INTERVAL_MS));
    assert_no_gap(&up, start, back + 2 * INTERVAL_MS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_outage_then_restart_loses_nothing_and_duplicates_nothing() {
    let t = target().await;
    let r = receiver().await;
    let storage = tempfile::tempdir().unwrap();
    let cfg = config(&t.addr(), &r.url());
    let mut a = Agent::start(&cfg, storage.path()).await;
    assert!(wait_scraped_after(&r, now_ms() + INTERVAL_MS, Duration::from_secs(20)).await);
    let start = now_ms();
    r.push_replies(outage());
    // Several commit intervals pass in the outage, then the WAL holds ~6 scrapes.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let killed = now_ms();
    a.daemon.signal("KILL");
    a.daemon.wait_exit(EXIT_TIMEOUT).await;
    let mut b = Agent::start(&cfg, storage.path()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let back = now_ms();
    r.clear_replies();
    assert!(wait_scraped_after(&r, back + 2 * INTERVAL_MS, Duration::from_secs(60)).await);
    b.stop().await;
    let up = check_exactly_once_in_order(&r);
    // Everything the first process wrote (scrapes up to the kill) arrived.
    assert_no_gap(&up, start - 2 * INTERVAL_MS, killed - INTERVAL_MS);
    assert!(
        up.iter()
            .any(|t| *t >= killed - 2 * INTERVAL_MS && *t < killed),
        "the last scrapes before the kill are missing"
    );
    assert_no_gap(&up, back - 2 * INTERVAL_MS, back + 2 * INTERVAL_MS);
}

/// Issue 9: one scrape's record split across two sends, the first acknowledged and the
/// second refused; `kill -9`, restart: every sample once (the acknowledged part is not
/// sent again, the rest is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_split_across_sends_then_kill_9_sends_each_sample_once() {
    // 40 series + 5 synthetic = 45 samples per scrape; sends of 30, one shard.
    let t = target().await;
    let r = receiver().await;
    r.push_replies(std::iter::once(Reply::Accept).chain(outage()));
    let storage = tempfile::tempdir().unwrap();
    let cfg = wal_agent::config(
        "wal",
        &[t.addr()],
        &r.url(),
        &[
            "queue_config: {capacity: 60, max_shards: 1, min_shards: 1, max_samples_per_send: 30, min_backoff: 50ms, max_backoff: 200ms}",
        ],
    );
    let start = now_ms();
    let mut a = Agent::start(&cfg, storage.path()).await;
    // The acknowledged part of the first record is stored as a count past the position.
    let readers = storage.path().join("wal").join("readers");
    let split = common::wait_for(Duration::from_secs(20), || {
        std::fs::read_dir(&readers).is_ok_and(|d| {
            d.flatten().any(|e| {
                e.file_name().to_string_lossy().ends_with(".ack")
                    && std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with("v3 "))
            })
        })
    })
    .await;
    let files: Vec<String> = std::fs::read_dir(&readers)
        .map(|d| {
            d.flatten()
                .map(|e| {
                    format!(
                        "{:?}: {:?}",
                        e.file_name(),
                        std::fs::read_to_string(e.path())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        split,
        "no split recorded ({} samples received, positions {files:?}):\n{}",
        r.samples().len(),
        a.daemon.log_tail(40)
    );
    assert_eq!(r.samples().len(), 30, "the first send of 30 was accepted");
    let killed = now_ms();
    a.daemon.signal("KILL");
    a.daemon.wait_exit(EXIT_TIMEOUT).await;
    r.clear_replies();
    let mut b = Agent::start(&cfg, storage.path()).await;
    let back = now_ms();
    assert!(wait_scraped_after(&r, back + 2 * INTERVAL_MS, Duration::from_secs(60)).await);
    b.stop().await;
    let up = check_exactly_once_in_order(&r);
    assert!(
        up.first().is_some_and(|f| *f <= killed),
        "the first scrape arrived"
    );
    assert_no_gap(&up, start, back + 2 * INTERVAL_MS);
}

/// The independent check's scenario: 5 targets x 200 series at 1 s with the default
/// queue settings, the receiver gone (connections refused), `kill -9` in the middle of the
/// outage, restart, receiver back: every sample once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_refusing_connections_then_kill_9_sends_each_sample_once() {
    let mut targets = Vec::new();
    for _ in 0..5 {
        targets.push(target_with(200).await);
    }
    let addrs: Vec<String> = targets.iter().map(TargetServer::addr).collect();
    let r = receiver().await;
    let proxy = common::tcp_proxy::TcpProxy::start(r.addr()).await;
    let url = format!("http://{}/api/v1/write", proxy.addr());
    let storage = tempfile::tempdir().unwrap();
    let cfg = wal_agent::config("wal", &addrs, &url, &[]);
    // A disk bound far above the outage's backlog: nothing may be dropped.
    let mut a = Agent::start_opts(&cfg, storage.path(), "20s", "256MB").await;
    assert!(wait_scraped_after(&r, now_ms() + 2 * INTERVAL_MS, Duration::from_secs(30)).await);
    let start = now_ms();
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed = now_ms();
    a.daemon.signal("KILL");
    a.daemon.wait_exit(EXIT_TIMEOUT).await;
    let first_log = a.daemon.log_tail(30);
    let mut b = Agent::start_opts(&cfg, storage.path(), "20s", "256MB").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.restore().await;
    let back = now_ms();
    assert!(wait_scraped_after(&r, back + 2 * INTERVAL_MS, Duration::from_secs(60)).await);
    b.stop().await;
    // Per target: each series once per scrape of its `up`, in order.
    let series = per_series(&r);
    let up_of = |instance: &str| {
        series
            .iter()
            .find(|(k, _)| {
                k.get("__name__").map(String::as_str) == Some("up")
                    && k.get("instance").map(String::as_str) == Some(instance)
            })
            .map(|(_, ts)| ts.clone())
            .unwrap_or_default()
    };
    for (labels, ts) in &series {
        for w in ts.windows(2) {
            assert!(
                w[0] < w[1],
                "{labels:?}: {} then {} (duplicate)",
                w[0],
                w[1]
            );
        }
        if labels.get("__name__").map(String::as_str) == Some("wal_test_series") {
            let instance = labels.get("instance").cloned().unwrap_or_default();
            let up = up_of(&instance);
            let only_series: Vec<_> = ts.iter().filter(|t| !up.contains(t)).collect();
            let only_up: Vec<_> = up.iter().filter(|t| !ts.contains(t)).collect();
            assert!(
                only_series.is_empty() && only_up.is_empty(),
                "{labels:?}: scrapes only in the series {only_series:?}, only in up {only_up:?} (start {start}, killed {killed}, back {back})\nfirst run:\n{first_log}"
            );
        }
    }
    for addr in &addrs {
        let up = up_of(addr);
        assert_no_gap(&up, start, killed - INTERVAL_MS);
        assert_no_gap(&up, back, back + 2 * INTERVAL_MS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_failing_30_percent_at_random_gets_everything_once() {
    let t = target().await;
    let r = receiver().await;
    let mut rng = rand::rng();
    r.push_replies((0..100_000).map(|_| {
        if rng.random_bool(0.3) {
            Reply::Status(500, "random failure".into())
        } else {
            Reply::Accept
        }
    }));
    let storage = tempfile::tempdir().unwrap();
    let mut a = Agent::start(&config(&t.addr(), &r.url()), storage.path()).await;
    let start = now_ms();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let end = now_ms();
    a.stop().await;
    let up = check_exactly_once_in_order(&r);
    assert_no_gap(&up, start, end - INTERVAL_MS);
    assert!(
        r.request_count() > r.samples().len() / 60,
        "failures happened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_outage_keeps_the_backlog_for_the_next_start() {
    let t = target().await;
    let r = receiver().await;
    let storage = tempfile::tempdir().unwrap();
    let cfg = config(&t.addr(), &r.url());
    let mut a = Agent::start_with(&cfg, storage.path(), "2s").await;
    assert!(wait_scraped_after(&r, now_ms() + INTERVAL_MS, Duration::from_secs(20)).await);
    let start = now_ms();
    r.push_replies(outage());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let stopped = now_ms();
    let t0 = Instant::now();
    // The flush deadline passes with the receiver down: exit 0, backlog left in the WAL.
    a.stop().await;
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "stop took {:?}",
        t0.elapsed()
    );
    let before = r.samples().len();
    r.clear_replies();
    let mut b = Agent::start(&cfg, storage.path()).await;
    let back = now_ms();
    assert!(wait_scraped_after(&r, back + 2 * INTERVAL_MS, Duration::from_secs(60)).await);
    b.stop().await;
    assert!(r.samples().len() > before);
    let up = check_exactly_once_in_order(&r);
    assert_no_gap(&up, start - 2 * INTERVAL_MS, stopped - INTERVAL_MS);
}

/// Catch-up rate after an outage with the default queue_config (a measurement, not a
/// check: `cargo test --release --test wal catch_up -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn catch_up_rate() {
    let t = target_with(5000).await;
    let r = receiver().await;
    let storage = tempfile::tempdir().unwrap();
    let cfg = wal_agent::config("wal", &[t.addr()], &r.url(), &[]);
    let mut a = Agent::start(&cfg, storage.path()).await;
    assert!(wait_scraped_after(&r, now_ms(), Duration::from_secs(30)).await);
    r.push_replies(outage());
    tokio::time::sleep(Duration::from_secs(30)).await;
    let before = r.samples().len();
    let outage_end = now_ms();
    r.clear_replies();
    // From the first accepted request: the retry backoff (up to max_backoff) is not
    // the sending rate.
    assert!(
        r.wait_for_samples(before + 1, Duration::from_secs(30))
            .await
    );
    let t0 = Instant::now();
    let before = r.samples().len();
    assert!(wait_scraped_after(&r, outage_end, Duration::from_secs(300)).await);
    let took = t0.elapsed();
    let sent = r.samples().len() - before;
    a.stop().await;
    eprintln!(
        "catch-up: {sent} samples in {took:?} = {:.0} samples/s",
        sent as f64 / took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_storage_is_a_clear_start_up_error() {
    use std::os::unix::fs::PermissionsExt;
    let t = target().await;
    let r = receiver().await;
    let cfg = config(&t.addr(), &r.url());

    // `<storage.path>/wal` is a file: the WAL cannot be opened.
    let storage = tempfile::tempdir().unwrap();
    std::fs::write(storage.path().join("wal"), b"not a directory").unwrap();
    let mut a = spawn_agent(&cfg, storage.path());
    let status = a.wait_exit(EXIT_TIMEOUT).await;
    assert!(!status.success());
    let log = a.log();
    assert!(
        log.contains("write-ahead log") && log.contains("wal"),
        "{log}"
    );

    // A read-only directory (meaningless as root, who writes anyway).
    let ro = tempfile::tempdir().unwrap();
    std::fs::set_permissions(ro.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(ro.path().join("probe"), b"x").is_ok() {
        eprintln!("running as root: read-only case skipped");
        return;
    }
    let mut a = spawn_agent(&cfg, ro.path());
    let status = a.wait_exit(EXIT_TIMEOUT).await;
    assert!(!status.success());
    assert!(a.log().contains("not writable"), "{}", a.log());
}

/// Spawns shoal on `storage` without waiting for readiness.
fn spawn_agent(config_yaml: &str, storage: &Path) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("shoal.yml");
    std::fs::write(&config_path, config_yaml).unwrap();
    let args = vec![
        format!("--config.file={}", config_path.display()),
        format!("--web.listen-address=127.0.0.1:{}", free_port("127.0.0.1")),
        format!("--storage.path={}", storage.display()),
        "--storage.wal.enabled".to_string(),
    ];
    Daemon::spawn("shoal", &common::shoal::binary(), &args, dir)
}
