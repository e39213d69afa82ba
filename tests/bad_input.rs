//! Bad input from targets, receivers and config files. In every case shoal keeps
//! running, reports the failure (`up` = 0, `lastError` says why), and a healthy target
//! in the same run keeps being scraped and written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::time::Duration;

use common::samples::{dump, matching};
use common::shoal::{EXIT_TIMEOUT, check_config};
use common::target::gzip_zeros;
use common::{Receiver, Reply, Shoal, TargetServer, free_port, wait_for};
use serde_json::Value;

/// How long a case may take to show its outcome.
const CASE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bounds the shutdown flush when a receiver never answers (default 1m).
const FLUSH_DEADLINE_FLAG: &str = "--storage.remote.flush-deadline=5s";
/// The healthy target's only series.
const GOOD_BODY: &str = "# TYPE good_metric gauge\ngood_metric 7\n";

/// A config with a healthy job `good` and a job `bad` scraping `bad_addr` with the
/// extra per-job YAML `bad_extra` (indented as a scrape config key).
fn two_jobs(good_addr: &str, bad_addr: &str, bad_extra: &str, write_urls: &[String]) -> String {
    let mut rw = String::new();
    for url in write_urls {
        rw.push_str(&format!(
            "  - url: '{url}'\n    remote_timeout: 1s\n    queue_config: {{batch_send_deadline: 500ms}}\n"
        ));
    }
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: good
    static_configs:
      - targets: ['{good_addr}']
  - job_name: bad
{bad_extra}    static_configs:
      - targets: ['{bad_addr}']
remote_write:
{rw}"#
    )
}

/// Runs shoal with a healthy target and a bad one (`bad_addr`, job `bad`), waits until
/// the bad one is reported down with an error and the healthy one still arrives, then
/// stops shoal (exit 0). Returns the bad target as `/api/v1/targets` showed it.
async fn bad_target_case(bad_addr: &str, bad_extra: &str) -> Value {
    let good = TargetServer::start().await;
    good.set("/metrics", Reply::text(GOOD_BODY));
    let receiver = Receiver::start().await;
    let config = two_jobs(&good.addr(), bad_addr, bad_extra, &[receiver.url()]);
    let mut shoal = Shoal::start(&config).await;

    let down = shoal
        .wait_target(
            "bad",
            bad_addr,
            CASE_TIMEOUT,
            "health down with lastError",
            |t| t["health"] == "down" && t["lastError"].as_str().is_some_and(|e| !e.is_empty()),
        )
        .await;
    // The healthy job keeps going after the bad one failed.
    let good_before = matching(&receiver.samples(), &[("__name__", "good_metric")]).len();
    let arrived = wait_for(CASE_TIMEOUT, || {
        let s = receiver.samples();
        let up_zero = s
            .iter()
            .any(|s| s.has(&[("__name__", "up"), ("job", "bad")]) && s.value == 0.0);
        up_zero
            && matching(&s, &[("__name__", "good_metric"), ("job", "good")]).len()
                >= good_before + 2
    })
    .await;
    let samples = receiver.samples();
    assert!(
        arrived,
        "expected up{{job=\"bad\"}} = 0 and more good_metric samples; got:\n{}\nlog tail:\n{}",
        dump(&samples, 40),
        shoal.log_tail()
    );
    let good_target = shoal
        .target("good", &good.addr())
        .await
        .expect("good target listed");
    assert_eq!(good_target["health"], "up", "{good_target}");

    // The bad target contributes nothing but its synthetic series, and `up` is 0.
    for s in matching(&samples, &[("job", "bad")]) {
        assert!(
            s.name() == "up" || s.name().starts_with("scrape_"),
            "bad target leaked {s}"
        );
        if s.name() == "up" {
            assert_eq!(s.value, 0.0, "{s}");
        }
    }
    let (status, _) = shoal.get("/-/healthy").await;
    assert_eq!(status, 200);
    shoal.stop().await;
    down
}

/// Starts a target answering `/metrics` with `reply`; returns it (keep it alive).
async fn bad_server(reply: Reply) -> TargetServer {
    let bad = TargetServer::start().await;
    bad.set("/metrics", reply);
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_exposition() {
    let bad = bad_server(Reply::text("# TYPE m gauge\nm{a=\"1\" 1\nm{a=\"2\"} 2\n")).await;
    bad_target_case(&bad.addr(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_garbage() {
    // Fixed pseudo-random bytes (deterministic) after a start no exposition can have.
    let mut garbage = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR{{}}\xff\xfe\n".to_vec();
    garbage.extend((0u32..4096).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let bad = bad_server(Reply::bytes(garbage)).await;
    bad_target_case(&bad.addr(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_label_value() {
    let mut body = b"# TYPE m gauge\nm{a=\"".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    body.extend_from_slice(b"\"} 1\n");
    let bad = bad_server(Reply::bytes(body)).await;
    bad_target_case(&bad.addr(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_size_limit() {
    let mut body = String::from("# TYPE big gauge\n");
    for i in 0..2000 {
        body.push_str(&format!("big{{i=\"{i}\"}} {i}\n"));
    }
    let bad = bad_server(Reply::text(body)).await;
    bad_target_case(&bad.addr(), "    body_size_limit: 1KB\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb() {
    // 1 GiB of zeros in about 1 MiB of gzip; the limit must stop the inflation.
    let bomb = gzip_zeros(1024);
    let bad = bad_server(Reply::bytes(bomb).header("Content-Encoding", "gzip")).await;
    bad_target_case(&bad.addr(), "    body_size_limit: 1MB\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bomb_bounded_memory() {
    // Same bomb; shoal's peak resident memory stays far below what inflating it takes.
    let bad = bad_server(Reply::bytes(gzip_zeros(1024)).header("Content-Encoding", "gzip")).await;
    let good = bad_server(Reply::text(GOOD_BODY)).await;
    let receiver = Receiver::start().await;
    let config = two_jobs(
        &good.addr(),
        &bad.addr(),
        "    body_size_limit: 1MB\n",
        &[receiver.url()],
    );
    let mut shoal = Shoal::start(&config).await;
    shoal
        .wait_target("bad", &bad.addr(), CASE_TIMEOUT, "health down", |t| {
            t["health"] == "down"
        })
        .await;
    assert!(
        wait_for(CASE_TIMEOUT, || bad.hits("/metrics") >= 4).await,
        "target scraped repeatedly"
    );
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", shoal.pid())).unwrap_or_default();
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        peak_kb < 512 * 1024,
        "peak RSS {peak_kb} kB: the bomb was inflated in memory"
    );
    shoal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_slower_than_timeout() {
    let bad = bad_server(Reply::text(GOOD_BODY).delay(Duration::from_secs(5))).await;
    let down = bad_target_case(&bad.addr(), "    scrape_timeout: 300ms\n").await;
    let err = down["lastError"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        ["timeout", "timed out", "deadline"]
            .iter()
            .any(|w| err.contains(w)),
        "lastError should say the scrape timed out: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target() {
    // A port nobody listens on.
    let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    bad_target_case(&addr, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn target_answers_500() {
    let bad = bad_server(Reply::text("oops\n").status(500)).await;
    let down = bad_target_case(&bad.addr(), "").await;
    let err = down["lastError"].as_str().unwrap_or_default();
    assert!(
        err.contains("500"),
        "lastError should name the status: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_that_hangs() {
    let target = TargetServer::start().await;
    target.set("/metrics", Reply::text(GOOD_BODY));
    let healthy = Receiver::start().await;
    let hanging = Receiver::start().await;
    hanging.hang_all();
    let urls = [hanging.url(), healthy.url()];
    let config = two_jobs(&target.addr(), &target.addr(), "", &urls);
    let mut shoal = Shoal::start_with_args(&config, &[FLUSH_DEADLINE_FLAG]).await;

    // The healthy receiver keeps getting fresh samples while the other never answers.
    let arrived = wait_for(CASE_TIMEOUT, || {
        let s = healthy.samples();
        let mut ts: Vec<i64> = matching(&s, &[("__name__", "good_metric")])
            .iter()
            .map(|s| s.timestamp)
            .collect();
        ts.dedup();
        ts.len() >= 4
    })
    .await;
    assert!(
        arrived,
        "healthy receiver starved by the hanging one:\n{}",
        dump(&healthy.samples(), 20)
    );
    assert!(
        hanging.samples().is_empty(),
        "hanging receiver accepted samples"
    );
    // Shutdown is bounded by the flush deadline even though one queue cannot drain.
    shoal.sigint();
    let status = shoal.wait_exit(EXIT_TIMEOUT).await;
    assert!(
        status.success(),
        "exit {status}; log tail:\n{}",
        shoal.log_tail()
    );
}

/// Writes `yaml` to a temp file, runs `shoal check config` on it.
fn check(yaml: &str) -> (std::process::ExitStatus, String, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(&path, yaml).unwrap();
    let (status, out) = check_config(&path);
    (status, out, dir, path.display().to_string())
}

#[test]
fn check_config_accepts_a_valid_file() {
    let (status, out, _dir, _) = check(&common::basic_config(
        "127.0.0.1:9100",
        "http://127.0.0.1:9/api/v1/write",
    ));
    assert_eq!(status.code(), Some(0), "valid config refused: {out}");
}

#[test]
fn check_config_names_file_and_line() {
    // (case, config, lines where the error may be reported)
    let cases = [
        (
            "unknown key",
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
            &[5][..],
        ),
        (
            "bad duration",
            "global:\n  scrape_interval: 1 second\n",
            &[2],
        ),
        (
            "bad regex",
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [x]\n        regex: '(unclosed'\n",
            // The rule's line or the regex's line.
            &[4, 5],
        ),
        ("not yaml", "global: [\n", &[1, 2]),
    ];
    for (name, yaml, lines) in cases {
        let (status, out, _dir, path) = check(yaml);
        assert_eq!(
            status.code(),
            Some(1),
            "{name}: expected exit 1, output: {out}"
        );
        assert!(
            out.contains(&path) || out.contains("bad.yml"),
            "{name}: file not named: {out}"
        );
        let named_line = lines
            .iter()
            .any(|l| out.contains(&format!(":{l}")) || out.contains(&format!("line {l}")));
        assert!(named_line, "{name}: none of lines {lines:?} named: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_with_bad_config_is_refused_and_old_config_keeps_scraping() {
    let target = TargetServer::start().await;
    target.set("/metrics", Reply::text(GOOD_BODY));
    let receiver = Receiver::start().await;
    let config = two_jobs(&target.addr(), &target.addr(), "", &[receiver.url()]);
    let shoal = Shoal::start(&config).await;
    shoal
        .wait_target("good", &target.addr(), CASE_TIMEOUT, "health up", |t| {
            t["health"] == "up"
        })
        .await;

    shoal.write_config(&format!("{config}\nthis_key_does_not_exist: true\n"));
    let (status, body) = shoal.post("/-/reload").await;
    assert_eq!(status, 500, "bad reload accepted: {body}");
    assert!(
        body.contains("this_key_does_not_exist"),
        "reload error should name the problem: {body}"
    );
    shoal.sighup();

    // Still scraping both old jobs, still writing.
    let hits = target.hits("/metrics");
    assert!(
        wait_for(CASE_TIMEOUT, || target.hits("/metrics") >= hits + 4).await,
        "scraping stopped"
    );
    let before = receiver.samples().len();
    assert!(
        wait_for(CASE_TIMEOUT, || receiver.samples().len() > before).await,
        "writing stopped"
    );
    let pools: Vec<String> = shoal
        .active_targets()
        .await
        .iter()
        .filter_map(|t| t["scrapePool"].as_str().map(str::to_string))
        .collect();
    assert!(
        pools.contains(&"good".to_string()) && pools.contains(&"bad".to_string()),
        "{pools:?}"
    );
    let (status, _) = shoal.get("/-/healthy").await;
    assert_eq!(status, 200);
}
