//! The outage check, scaled down for CI: many targets, the receiver down for 30 s,
//! then back. Every sample arrives exactly once, per series in timestamp order, and the
//! agent's RSS stays flat during the outage (the backlog waits on disk, not in memory).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common::target::Reply as TargetReply;
use common::wal_agent::{self, Agent};
use common::{TargetServer, now_ms, wait_for_async};
use shoal::receiver::Reply;

const TARGETS: usize = 10;
const SERIES: usize = 200;
const OUTAGE: Duration = Duration::from_secs(30);
/// RSS growth allowed during the outage: generous (allocator noise, scrape buffers), far
/// below what keeping the backlog in memory would take.
const MAX_RSS_GROWTH_KIB: u64 = 24 * 1024;

/// Resident set size of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_of_many_targets_loses_nothing_and_memory_stays_flat() {
    let mut targets = Vec::new();
    for t in 0..TARGETS {
        let server = TargetServer::start().await;
        server.set_fn("/metrics", move |n| {
            let body: String = (0..SERIES)
                .map(|i| format!("outage_test_series{{t=\"{t}\",i=\"{i}\"}} {n}\n"))
                .collect();
            TargetReply::text(body)
        });
        targets.push(server);
    }
    let r = wal_agent::receiver().await;
    let addrs: Vec<String> = targets.iter().map(TargetServer::addr).collect();
    let cfg = wal_agent::config(
        "outage",
        &addrs,
        &r.url(),
        &["queue_config: {max_backoff: 1s}"],
    );
    let storage = tempfile::tempdir().unwrap();
    let mut a = Agent::start_opts(&cfg, storage.path(), "30s", "1GB").await;
    let pid = a.daemon.pid();
    let up_after = |ts: i64| {
        let r = &r;
        async move {
            r.samples()
                .iter()
                .filter(|s| s.labels.get("__name__").map(String::as_str) == Some("up"))
                .any(|s| s.timestamp > ts)
        }
    };
    let t0 = now_ms();
    assert!(wait_for_async(Duration::from_secs(30), || up_after(t0 + 2000)).await);

    r.push_replies(std::iter::repeat_n(
        Reply::Status(503, "down".into()),
        1_000_000,
    ));
    let outage_start = now_ms();
    // Sampled once a second; the first few seconds fill the shard buffers (bounded).
    let started = Instant::now();
    let mut rss = Vec::new();
    while started.elapsed() < OUTAGE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss.push(rss_kib(pid));
    }
    // The lag shows the backlog while nothing gets acknowledged.
    let lag = a.metric("shoal_wal_reader_lag_samples").await;
    let outage_end = now_ms();
    r.clear_replies();
    assert!(
        lag >= (TARGETS * SERIES * 10) as f64,
        "reader lag {lag} after {OUTAGE:?} of outage"
    );
    let back = Instant::now();
    assert!(
        wait_for_async(Duration::from_secs(120), || up_after(outage_end + 1000)).await,
        "no catch-up:\n{}",
        a.daemon.log_tail(30)
    );
    let catch_up = back.elapsed();
    let dropped = a.metric("shoal_wal_samples_dropped_total").await;
    a.stop().await;
    assert_eq!(dropped, 0.0, "samples dropped in the wal");

    let mut series: HashMap<BTreeMap<String, String>, Vec<i64>> = HashMap::new();
    for s in r.samples() {
        series.entry(s.labels).or_default().push(s.timestamp);
    }
    let mut checked = 0;
    for (labels, ts) in &series {
        for w in ts.windows(2) {
            assert!(w[0] < w[1], "{labels:?}: {} then {}", w[0], w[1]);
        }
        if labels.get("__name__").map(String::as_str) != Some("outage_test_series") {
            continue;
        }
        checked += 1;
        // The same scrapes as that target's `up`.
        let up = series
            .iter()
            .find(|(k, _)| {
                k.get("__name__").map(String::as_str) == Some("up")
                    && k.get("instance") == labels.get("instance")
            })
            .map(|(_, v)| v)
            .expect("up of the target");
        assert_eq!(ts, up, "{labels:?} has other scrapes than its up");
        // Scrapes during the outage were kept (a loaded CI machine may skip a slot now
        // and then; that shows in `up` too, so it is not a loss).
        let during = ts
            .iter()
            .filter(|t| (outage_start..outage_end).contains(*t))
            .count();
        assert!(
            during as u64 >= OUTAGE.as_secs() / 2,
            "{labels:?}: {during} scrapes during the outage"
        );
    }
    assert_eq!(checked, TARGETS * SERIES);

    let settled = rss.get(5).copied().unwrap_or_default();
    let max = rss.iter().copied().max().unwrap_or_default();
    eprintln!(
        "outage {OUTAGE:?}: lag {lag} samples at its end, {} samples received, caught up in {catch_up:?}; RSS KiB during the outage: {rss:?}",
        r.samples().len()
    );
    assert!(
        max.saturating_sub(settled) <= MAX_RSS_GROWTH_KIB,
        "RSS grew from {settled} to {max} KiB during the outage"
    );
}
