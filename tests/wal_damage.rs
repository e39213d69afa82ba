//! A damaged WAL on disk, with real processes: the agent writes a backlog while the receiver
//! is down, stops, a segment in the middle gets a flipped byte and the last segment loses
//! its tail; the restarted agent starts, logs and counts both, and sends the rest exactly
//! once, per series in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::wal_agent::{self, Agent, per_series};
use common::{now_ms, wait_for, wait_for_async};
use shoal::receiver::Reply;

/// Series the target exposes: a 32 KiB segment (the agent's disk bound of 256 KB / 8)
/// then holds about four scrapes, and the whole backlog stays under the bound.
const SERIES: usize = 300;

fn config(target: &str, write_url: &str) -> String {
    wal_agent::config(
        "wal",
        &[target.to_string()],
        write_url,
        &[
            "queue_config: {max_samples_per_send: 500, batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 500ms}",
        ],
    )
}

/// Segment files of the WAL in `storage`, oldest first.
fn segments(storage: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(storage.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_corrupted_segments_are_skipped_and_the_rest_sent_once() {
    let t = wal_agent::gauge_target("damage_test_series", SERIES).await;
    let r = wal_agent::receiver().await;
    r.push_replies(std::iter::repeat_n(
        Reply::Status(503, "down".into()),
        1_000_000,
    ));
    let storage = tempfile::tempdir().unwrap();
    let cfg = config(&t.addr(), &r.url());

    // A backlog of several segments.
    let mut a = Agent::start_with(&cfg, storage.path(), "1s").await;
    let enough = wait_for(Duration::from_secs(60), || {
        segments(storage.path()).len() >= 4
    })
    .await;
    assert!(enough, "segments: {:?}", segments(storage.path()));
    a.stop().await;
    let before_restart = now_ms();

    let segs = segments(storage.path());
    let middle = &segs[segs.len() / 2];
    let last = segs.last().unwrap();
    let middle_len = std::fs::metadata(middle).unwrap().len();
    let last_len = std::fs::metadata(last).unwrap().len();
    assert!(
        middle_len > 1000 && last_len > 1000,
        "{middle_len} {last_len}"
    );
    // A flipped byte in the middle of a segment: a checksum error there.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(middle)
        .unwrap();
    let mut byte = [0u8];
    f.read_exact_at(&mut byte, middle_len / 2).unwrap();
    f.write_all_at(&[byte[0] ^ 0x5a], middle_len / 2).unwrap();
    // A torn last record.
    let f = OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(last_len - 7).unwrap();
    drop(f);

    r.clear_replies();
    let mut a = Agent::start_with(&cfg, storage.path(), "20s").await;
    let log = a.daemon.log();
    assert!(
        log.contains("torn record") && log.contains("damaged"),
        "damage not logged:\n{log}"
    );
    let caught_up = wait_for_async(Duration::from_secs(60), || async {
        let newest = r
            .samples()
            .iter()
            .filter(|s| s.labels.get("__name__").map(String::as_str) == Some("up"))
            .map(|s| s.timestamp)
            .max();
        newest.is_some_and(|ts| ts > before_restart + 2000)
    })
    .await;
    assert!(caught_up, "no catch-up:\n{}", a.daemon.log_tail(40));
    let corruptions = a.metric("shoal_wal_corruptions_total").await;
    a.stop().await;
    assert!(corruptions >= 2.0, "corruptions counted: {corruptions}");

    // Exactly once and in order, per series; what was readable before the damage arrived.
    let series = per_series(&r);
    let up = series
        .iter()
        .find(|(k, _)| k.get("__name__").map(String::as_str) == Some("up"))
        .map(|(_, v)| v.clone())
        .expect("up arrived");
    for (labels, ts) in &series {
        for w in ts.windows(2) {
            assert!(w[0] < w[1], "{labels:?}: {} then {}", w[0], w[1]);
        }
    }
    let from_backlog = up.iter().filter(|t| **t < before_restart).count();
    assert!(
        from_backlog >= 2,
        "the undamaged backlog was sent: {from_backlog} scrapes"
    );
    eprintln!(
        "{} segments, {} scrapes of up received ({from_backlog} from before the restart), corruptions {corruptions}",
        segs.len(),
        up.len()
    );
}
