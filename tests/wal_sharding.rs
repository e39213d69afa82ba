//! Dynamic sharding with real processes: a receiver that answers slowly makes one shard too
//! few, the endpoint reshards up, and every sample still arrives exactly once, per series in
//! order (resharding drains the old shards before the new ones send).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use common::wal_agent::{self, Agent};
use common::{now_ms, wait_for_async};

/// Series the target exposes: 1000 samples/s at a 1 s interval.
const SERIES: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_receiver_raises_the_shard_count_and_nothing_is_lost_or_repeated() {
    let t = wal_agent::gauge_target("shard_test_series", SERIES).await;
    let r = wal_agent::receiver().await;
    // One shard sends 100 samples per ~150 ms: well under the 1000 samples/s scraped.
    r.set_delay(Some(Duration::from_millis(120)..Duration::from_millis(180)));
    let cfg = wal_agent::config(
        "wal",
        &[t.addr()],
        &r.url(),
        &[
            "queue_config: {min_shards: 1, max_shards: 8, max_samples_per_send: 100, batch_send_deadline: 100ms}",
        ],
    );
    let storage = tempfile::tempdir().unwrap();
    let mut a = Agent::start(&cfg, storage.path()).await;
    let start = now_ms();
    // The count is reconsidered every 10 s.
    let resharded = wait_for_async(Duration::from_secs(45), || async {
        a.metric("shoal_remote_write_shards").await > 1.0
    })
    .await;
    let shards = a.metric("shoal_remote_write_shards").await;
    let desired = a.metric("shoal_remote_write_shards_desired").await;
    assert!(
        resharded,
        "shards {shards}, desired {desired}:\n{}",
        a.daemon.log_tail(30)
    );
    assert!(a.daemon.log().contains("resharding remote write"));

    // Let the new shards catch up with everything scraped so far, then stop.
    r.set_delay(None);
    let until = now_ms();
    let caught_up = wait_for_async(Duration::from_secs(60), || async {
        r.samples()
            .iter()
            .filter(|s| s.labels.get("__name__").map(String::as_str) == Some("up"))
            .any(|s| s.timestamp > until)
    })
    .await;
    assert!(caught_up, "no catch-up:\n{}", a.daemon.log_tail(30));
    a.stop().await;

    let mut series: HashMap<BTreeMap<String, String>, Vec<i64>> = HashMap::new();
    for s in r.samples() {
        series.entry(s.labels).or_default().push(s.timestamp);
    }
    let up = series
        .iter()
        .find(|(k, _)| k.get("__name__").map(String::as_str) == Some("up"))
        .map(|(_, v)| v.clone())
        .expect("up arrived");
    assert!(up.first().is_some_and(|f| *f <= start + 2000), "{up:?}");
    let mut targets = 0;
    for (labels, ts) in &series {
        for w in ts.windows(2) {
            assert!(w[0] < w[1], "{labels:?}: {} then {}", w[0], w[1]);
        }
        if labels.get("__name__").map(String::as_str) == Some("shard_test_series") {
            targets += 1;
            assert_eq!(ts, &up, "{labels:?} has other scrapes than up");
        }
    }
    assert_eq!(targets, SERIES);
    eprintln!(
        "resharded to {shards} (desired {desired:.1}); {} scrapes, {} samples",
        up.len(),
        r.samples().len()
    );
}
