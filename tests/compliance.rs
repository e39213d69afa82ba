//! The Prometheus remote-write sender compliance suite (legacy 1.0 cases of
//! prometheus/compliance `remote_write/cases`), replayed against shoal.
//!
//! Like the suite, each case runs shoal with `scrape_interval: 1s`, job `test`, one
//! target and one remote write; sends SIGINT after ~10 s (sooner once what the case
//! looks for has arrived), asserts exit status 0, then checks every sample received.
//! On top of each case's own checks, every series of every case must come with labels
//! sorted by name, no repeated name, no empty value and a `__name__` (as on the wire).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::samples::{
    assert_wire_labels_valid, count_with_value, dump, matching, wire_label_problem,
};
use common::{
    Receiver, RecordedSample, Reply, Shoal, TargetServer, basic_config, is_stale_nan, now_ms,
    wait_for,
};

/// How long the suite lets each sender run.
const RUN_TIME: Duration = Duration::from_secs(10);

/// Runs shoal against `target` and `receiver` until `done` holds on what arrived (or
/// [`RUN_TIME`]), stops it with SIGINT, asserts exit 0 and returns every accepted sample.
async fn run(
    target: &TargetServer,
    receiver: &Receiver,
    done: impl Fn(&[RecordedSample]) -> bool,
) -> Vec<RecordedSample> {
    run_config(
        &basic_config(&target.addr(), &receiver.url()),
        receiver,
        done,
    )
    .await
}

/// Like [`run`], with a config of the caller's.
async fn run_config(
    config: &str,
    receiver: &Receiver,
    done: impl Fn(&[RecordedSample]) -> bool,
) -> Vec<RecordedSample> {
    let mut shoal = Shoal::start(config).await;
    // Whether `done` held only shortens the run; the checks after the run decide.
    wait_for(RUN_TIME, || done(&receiver.samples())).await;
    shoal.stop().await;
    let samples = receiver.samples();
    assert_wire_labels_valid(&samples);
    samples
}

/// `done` predicate: at least `n` samples match `want`.
fn at_least(
    n: usize,
    want: &'static [(&'static str, &'static str)],
) -> impl Fn(&[RecordedSample]) -> bool {
    move |s| matching(s, want).len() >= n
}

/// What promhttp (client_golang) answers: text 0.0.4 with its full content type, gzip
/// when asked (shoal asks), and `# HELP name ` with an empty help string.
fn promhttp(body: impl Into<String>) -> Reply {
    Reply::text(body)
        .content_type(Some(PROMHTTP_CONTENT_TYPE))
        .gzip()
}

/// What the suite's `staticHandler` answers: the bytes as written (its bodies start with
/// an empty line) and the content type Go's `http` sniffs for them.
fn static_reply(body: &str) -> Reply {
    Reply::text(format!("\n{body}")).content_type(Some("text/plain; charset=utf-8"))
}

const PROMHTTP_CONTENT_TYPE: &str =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

/// A target answering `/metrics` with `reply` every time.
async fn target_with(reply: Reply) -> TargetServer {
    let target = TargetServer::start().await;
    target.set("/metrics", reply);
    target
}

/// `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it (client_golang's format):
/// exponent form, with a sign and at least two digits, when the decimal exponent is
/// below -4 or at least 6 (`1.76378e+12`), plain decimal otherwise.
fn go_float(v: f64) -> String {
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{v}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// The suite's `now` gauge: the current time in milliseconds, as whole seconds * 1000.
fn now_gauge(_: u64) -> Reply {
    let ms = (now_ms() / 1000 * 1000) as f64;
    promhttp(format!(
        "# HELP now \n# TYPE now gauge\nnow {}\n",
        go_float(ms)
    ))
}

/// A constant gauge named `gauge` with value 42, as client_golang exposes it.
fn gauge_42() -> Reply {
    promhttp("# HELP gauge \n# TYPE gauge gauge\ngauge 42\n")
}

/// The series every scrape adds about itself.
const SYNTHETIC: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// Asserts the scrape failed every time: every `up{job="test"}` is 0 (at least one
/// arrived) and nothing but the synthetic series was sent.
fn assert_scrape_failed(samples: &[RecordedSample]) {
    let ups = count_with_value(samples, &[("__name__", "up"), ("job", "test")], 0.0);
    assert!(ups > 0, "found zero samples for up{{job=\"test\"}}");
    for s in samples {
        assert!(
            SYNTHETIC.contains(&s.name()),
            "{s}: only synthetic series expected from a failed scrape"
        );
    }
    count_with_value(samples, &[("__name__", "scrape_samples_scraped")], 0.0);
}

/// The label names of `s`, in wire order.
fn names(s: &RecordedSample) -> Vec<&str> {
    s.labels.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter() {
    let target = TargetServer::start().await;
    // Served, then incremented: the n-th scrape sees n.
    target.set_fn("/metrics", |n| {
        promhttp(format!(
            "# HELP counter \n# TYPE counter counter\ncounter {}\n",
            go_float(n as f64)
        ))
    });
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "counter")])).await;

    let counters = matching(&samples, &[("__name__", "counter")]);
    assert!(
        !counters.is_empty(),
        "found zero samples for {{__name__=\"counter\"}}"
    );
    for (i, s) in counters.iter().enumerate() {
        assert_eq!(
            s.value,
            i as f64,
            "counter sample #{i} out of sequence:\n{}",
            dump(&samples, 50)
        );
    }
}

/// The suite's Gauge (its "Basic" case): `now{job="test"}` within 1% of its timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauge() {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", now_gauge);
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "now")])).await;

    assert_now_near_timestamp(&samples, &[("__name__", "now"), ("job", "test")]);
}

/// Every sample matching `want` has a value within 1% of its timestamp; at least one.
fn assert_now_near_timestamp(samples: &[RecordedSample], want: &[(&str, &str)]) {
    let nows = matching(samples, want);
    assert!(!nows.is_empty(), "found zero samples for {want:?}");
    for s in nows {
        let (ts, v) = (s.timestamp as f64, s.value);
        assert!(
            ((ts - v) / ts).abs() <= 0.01,
            "{s}: timestamp {ts} not within 1% of value {v}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histogram() {
    let target = target_with(promhttp(
        "# HELP histogram \n# TYPE histogram histogram\n\
         histogram_bucket{le=\"1\"} 1\nhistogram_bucket{le=\"2\"} 2\n\
         histogram_bucket{le=\"+Inf\"} 2\nhistogram_sum 3\nhistogram_count 2\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(
        &target,
        &receiver,
        at_least(3, &[("__name__", "histogram_count")]),
    )
    .await;

    let le1 = count_with_value(
        &samples,
        &[("__name__", "histogram_bucket"), ("le", "1")],
        1.0,
    );
    let le2 = count_with_value(
        &samples,
        &[("__name__", "histogram_bucket"), ("le", "2")],
        2.0,
    );
    let inf = count_with_value(
        &samples,
        &[("__name__", "histogram_bucket"), ("le", "+Inf")],
        2.0,
    );
    let sum = count_with_value(&samples, &[("__name__", "histogram_sum")], 3.0);
    let count = count_with_value(&samples, &[("__name__", "histogram_count")], 2.0);
    assert!(count > 0, "found zero samples for histogram_count");
    assert_eq!(
        (le1, le2, inf, sum),
        (count, count, count, count),
        "{}",
        dump(&samples, 40)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary() {
    let target = target_with(promhttp(
        "# HELP summary \n# TYPE summary summary\n\
         summary{quantile=\"0.5\"} 2\nsummary{quantile=\"0.9\"} 3\n\
         summary{quantile=\"0.99\"} 3\nsummary_sum 6\nsummary_count 3\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(
        &target,
        &receiver,
        at_least(3, &[("__name__", "summary_count")]),
    )
    .await;

    let p50 = count_with_value(
        &samples,
        &[("__name__", "summary"), ("quantile", "0.5")],
        2.0,
    );
    let p90 = count_with_value(
        &samples,
        &[("__name__", "summary"), ("quantile", "0.9")],
        3.0,
    );
    let p99 = count_with_value(
        &samples,
        &[("__name__", "summary"), ("quantile", "0.99")],
        3.0,
    );
    let sum = count_with_value(&samples, &[("__name__", "summary_sum")], 6.0);
    let count = count_with_value(&samples, &[("__name__", "summary_count")], 3.0);
    assert!(count > 0, "found zero samples for summary_count");
    assert_eq!(
        (p50, p90, p99, sum),
        (count, count, count, count),
        "{}",
        dump(&samples, 40)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up() {
    let target = target_with(gauge_42()).await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "up")])).await;

    let addr = target.addr();
    let want = [
        ("__name__", "up"),
        ("instance", addr.as_str()),
        ("job", "test"),
    ];
    let ups = count_with_value(&samples, &want, 1.0);
    assert!(ups > 0, "found zero samples for {want:?}");
    // Every `up` is that one series: nothing else is named up.
    for s in matching(&samples, &[("__name__", "up")]) {
        assert_eq!(names(s), ["__name__", "instance", "job"], "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid() {
    let target = target_with(static_reply(
        "# this is not valid prometheus\n1234notvali}{ 444\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "up")])).await;

    assert_scrape_failed(&samples);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_label() {
    let target = target_with(gauge_42()).await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "gauge")])).await;

    let gauges = count_with_value(&samples, &[("__name__", "gauge"), ("job", "test")], 42.0);
    assert!(gauges > 0, "found zero samples for gauge{{job=\"test\"}}");
    for s in &samples {
        assert_eq!(s.get("job"), Some("test"), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_label() {
    let target = target_with(gauge_42()).await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "gauge")])).await;

    let gauges = count_with_value(&samples, &[("__name__", "gauge")], 42.0);
    assert!(gauges > 0, "found zero samples for gauge");
    let pattern = regex::Regex::new(r"^127\.0\.0\.1:\d+$").unwrap();
    for s in &samples {
        let instance = s
            .get("instance")
            .unwrap_or_else(|| panic!("label 'instance' not found on {s}"));
        assert!(
            pattern.is_match(instance),
            "instance {instance:?} of {s} is not 127.0.0.1:PORT"
        );
        assert_eq!(instance, target.addr(), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_labels() {
    let target = target_with(static_reply(
        "# HELP test A gauge\n# TYPE test gauge\ntest{b=\"2\",a=\"1\"} 1.0\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "test")])).await;

    for s in &samples {
        assert!(
            names(s).is_sorted(),
            "labels of {s} are not sorted on the wire"
        );
    }
    let tests = count_with_value(
        &samples,
        &[("__name__", "test"), ("a", "1"), ("b", "2")],
        1.0,
    );
    assert!(tests > 0, "found zero samples for test{{a=\"1\",b=\"2\"}}");
    for s in matching(&samples, &[("__name__", "test")]) {
        assert_eq!(names(s), ["__name__", "a", "b", "instance", "job"], "{s}");
    }
}

/// A repeated label name fails the scrape: no `test` series, `up` is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_labels() {
    let target = target_with(static_reply(
        "# HELP test A gauge\n# TYPE test gauge\ntest{a=\"1\",a=\"1\"} 1.0\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "up")])).await;

    // `run` already checked that no series repeats a label name on the wire.
    let tests = matching(&samples, &[("__name__", "test"), ("a", "1")]);
    assert!(
        tests.is_empty(),
        "found samples for test{{a=\"1\"}}, none expected: {tests:?}"
    );
    assert_scrape_failed(&samples);
}

/// An empty label value means "no such label": the series arrives without `a`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_labels() {
    let target = target_with(static_reply(
        "# HELP test A gauge\n# TYPE test gauge\ntest{a=\"\"} 1.0\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "test")])).await;

    // `run` already checked that no value is empty on the wire.
    let tests = count_with_value(&samples, &[("__name__", "test")], 1.0);
    assert!(tests > 0, "found zero samples for {{__name__=\"test\"}}");
    for s in matching(&samples, &[("__name__", "test")]) {
        assert_eq!(names(s), ["__name__", "instance", "job"], "{s}");
    }
}

/// A series without a name fails the scrape: nothing with `label="value"`, `up` is 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn name_label() {
    let target = target_with(static_reply(
        "# HELP test A gauge\n# TYPE test gauge\n{label=\"value\"} 1.0\n",
    ))
    .await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "up")])).await;

    // `run` already checked that every series has a `__name__`.
    let found = matching(&samples, &[("label", "value")]);
    assert!(
        found.is_empty(),
        "found samples for {{label=\"value\"}}: {found:?}"
    );
    assert_scrape_failed(&samples);
}

const JOB_ORIGINAL: &str = "# HELP test A gauge\n# TYPE test gauge\ntest{job=\"original\"} 1.0\n";

/// honor_labels false (the default): the target's `job` becomes `exported_job`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels() {
    let target = target_with(static_reply(JOB_ORIGINAL)).await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "test")])).await;

    let found = count_with_value(
        &samples,
        &[
            ("__name__", "test"),
            ("exported_job", "original"),
            ("job", "test"),
        ],
        1.0,
    );
    assert!(
        found > 0,
        "found zero samples for test{{exported_job=\"original\"}}:\n{}",
        dump(&samples, 20)
    );
    for s in matching(&samples, &[("__name__", "test")]) {
        assert_eq!(
            names(s),
            ["__name__", "exported_job", "instance", "job"],
            "{s}"
        );
    }
}

// Not in the suite: honor_labels true keeps the target's `job` and adds no
// `exported_job`; labels the target does not set (instance) still come from the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honor_labels_true_keeps_the_targets_labels() {
    let target = target_with(static_reply(JOB_ORIGINAL)).await;
    let receiver = Receiver::start().await;
    let config = basic_config(&target.addr(), &receiver.url()).replace(
        "  - job_name: test\n",
        "  - job_name: test\n    honor_labels: true\n",
    );
    let samples = run_config(&config, &receiver, at_least(3, &[("__name__", "test")])).await;

    let addr = target.addr();
    let found = count_with_value(
        &samples,
        &[
            ("__name__", "test"),
            ("instance", addr.as_str()),
            ("job", "original"),
        ],
        1.0,
    );
    assert!(found > 0, "found zero samples for test{{job=\"original\"}}");
    assert!(
        samples.iter().all(|s| s.get("exported_job").is_none()),
        "exported_job with honor_labels: true"
    );
    // The synthetic series keep the target's job.
    let ups = count_with_value(&samples, &[("__name__", "up"), ("job", "test")], 1.0);
    assert!(ups > 0, "found zero samples for up{{job=\"test\"}}");
}

/// A series exposed on the first scrape only gets exactly one staleness marker, with its
/// labels, after its sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staleness() {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", |n| {
        let body = if n == 0 {
            "# HELP stale \n# TYPE stale gauge\nstale 0\n"
        } else {
            ""
        };
        promhttp(body)
    });
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, |s: &[RecordedSample]| {
        s.iter()
            .any(|s| s.name() == "stale" && is_stale_nan(s.value))
    })
    .await;

    let stale = matching(&samples, &[("__name__", "stale"), ("job", "test")]);
    let (markers, values): (Vec<&RecordedSample>, Vec<&RecordedSample>) =
        stale.into_iter().partition(|s| is_stale_nan(s.value));
    assert!(
        !markers.is_empty(),
        "found no staleness markers for stale{{job=\"test\"}}:\n{}",
        dump(&samples, 30)
    );
    assert_eq!(markers.len(), 1, "one marker expected: {markers:?}");
    assert_eq!(values.len(), 1, "the series was exposed once: {values:?}");
    assert_eq!(values[0].value, 0.0);
    assert_eq!(markers[0].labels, values[0].labels);
    assert!(
        markers[0].timestamp > values[0].timestamp,
        "marker {} not after the sample {}",
        markers[0],
        values[0]
    );
    // Only the stale series gets a marker: the target is still up.
    for s in &samples {
        assert!(s.name() == "stale" || !s.value.is_nan(), "{s}");
    }
}

/// Every sample's timestamp lies strictly between the start of the case (before shoal
/// starts) and its end (after shoal exited), as the suite requires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamp() {
    let start = now_ms();
    let target = target_with(gauge_42()).await;
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "gauge")])).await;
    let end = now_ms();

    for s in &samples {
        assert!(
            s.timestamp > start && s.timestamp < end,
            "{s}: timestamp not in ({start}, {end})"
        );
    }
    let gauges = count_with_value(&samples, &[("__name__", "gauge")], 42.0);
    assert!(gauges > 0, "found zero samples for gauge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers() {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", now_gauge);
    let receiver = Receiver::start().await;
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "now")])).await;

    let headers = receiver.headers();
    assert!(!headers.is_empty(), "no write requests received");
    assert_eq!(
        headers.len(),
        receiver.request_count(),
        "headers not recorded for every request"
    );
    assert_eq!(
        receiver.malformed_count(),
        0,
        "requests with wrong headers or body"
    );
    let user_agent = format!("shoal/{}", env!("CARGO_PKG_VERSION"));
    let want = [
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
        ("user-agent", user_agent.as_str()),
    ];
    for (i, h) in headers.iter().enumerate() {
        for (name, value) in want {
            let got: Vec<&str> = h
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(got, [value], "request #{i}, header {name}: {h:?}");
        }
    }
    assert_now_near_timestamp(&samples, &[("__name__", "now")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering() {
    let target = TargetServer::start().await;
    // client_golang sorts the series by label value, as strings.
    let mut values: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    values.sort();
    let mut body = String::from("# HELP test \n# TYPE test gauge\n");
    for i in values {
        body.push_str(&format!("test{{i=\"{i}\"}} 1\n"));
    }
    target.set("/metrics", promhttp(body));
    let receiver = Receiver::start().await;
    // Each write waits 0-5 s at random, to tempt the sender into reordering.
    receiver.set_random_delay(Duration::from_secs(5));
    let samples = run(&target, &receiver, at_least(3000, &[("__name__", "test")])).await;

    let mut last: HashMap<String, i64> = HashMap::new();
    for s in &samples {
        let key = s.series_key();
        let prev = last.get(&key).copied().unwrap_or(0);
        assert!(
            prev < s.timestamp,
            "{s} arrived after a sample at {prev} of the same series"
        );
        last.insert(key, s.timestamp);
    }
    let tests = count_with_value(&samples, &[("__name__", "test")], 1.0);
    assert!(tests > 0, "found zero samples for test");
}

/// The suite's Retries500 / Retries400, with shoal's default queue settings: the first
/// write is answered with `status`; the suite decodes it and takes the timestamp of its
/// (last) `now` sample. Returns that rejected write and every accepted sample.
async fn first_write_rejected_now(status: u16) -> (Vec<RecordedSample>, Vec<RecordedSample>) {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", now_gauge);
    let receiver = Receiver::start().await;
    receiver.reject_next(1, status);
    let samples = run(&target, &receiver, at_least(3, &[("__name__", "now")])).await;
    let rejected = receiver.rejected_requests();
    assert_eq!(rejected.len(), 1, "exactly the first write is rejected");
    let first = rejected.into_iter().next().unwrap_or_default();
    (first, samples)
}

/// The timestamp the suite picks from the rejected write: its last `now` sample.
/// The suite uses -1 when there is none, which fails Retries500: the first write must
/// carry the scraped series, not just synthetic ones.
fn picked_timestamp(first: &[RecordedSample]) -> i64 {
    let ts = matching(first, &[("__name__", "now")])
        .last()
        .map(|s| s.timestamp);
    ts.unwrap_or_else(|| {
        panic!(
            "the first write holds no `now` sample, so the suite's Retries500 would \
             fail:\n{}",
            dump(first, 20)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_500() {
    let (first, samples) = first_write_rejected_now(500).await;
    let ts = picked_timestamp(&first);
    let nows = matching(&samples, &[("__name__", "now")]);
    assert!(
        nows.iter().any(|s| s.timestamp == ts),
        "failed to find the sample at {ts} that should have been retried:\n{}",
        dump(&samples, 30)
    );
    // Stricter than the suite: the whole rejected write arrives again, unchanged.
    for r in &first {
        assert!(
            samples.iter().any(|s| s == r),
            "{r} of the rejected write was not resent"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_400() {
    let (first, samples) = first_write_rejected_now(400).await;
    let ts = picked_timestamp(&first);
    let nows = matching(&samples, &[("__name__", "now")]);
    assert!(
        !nows.iter().any(|s| s.timestamp == ts),
        "found the sample at {ts} that should not have been retried"
    );
    // Stricter than the suite: nothing of the rejected write arrives.
    for r in &first {
        assert!(
            !samples.iter().any(|s| s == r),
            "{r} was resent after a 400"
        );
    }
}

/// Rejects the first write with `status` and returns the values of a counter that
/// counts scrapes (the n-th scrape sees n), in the order they were accepted.
/// `queue_config` is extra YAML for that mapping, if any.
///
/// With one shard the first write carries the first scrape (value 0), so a retry shows
/// as an unbroken 0, 1, 2, ... and a drop as a sequence without 0.
async fn first_write_rejected(status: u16, queue_config: Option<&str>) -> Vec<f64> {
    let target = TargetServer::start().await;
    target.set_fn("/metrics", |n| {
        Reply::text(format!("# TYPE counter counter\ncounter {n}\n"))
    });
    let receiver = Receiver::start().await;
    receiver.reject_next(1, status);
    let mut config = basic_config(&target.addr(), &receiver.url());
    let extra = queue_config.map(|q| format!(", {q}")).unwrap_or_default();
    config.push_str(&format!("    queue_config: {{max_shards: 1{extra}}}\n"));
    let samples = run_config(&config, &receiver, at_least(3, &[("__name__", "counter")])).await;
    let values: Vec<f64> = matching(&samples, &[("__name__", "counter")])
        .iter()
        .map(|s| s.value)
        .collect();
    assert!(
        !values.is_empty(),
        "no counter sample accepted after the first write:\n{}",
        dump(&samples, 30)
    );
    values
}

fn assert_resent(values: &[f64], resent: bool) {
    if resent {
        let expected: Vec<f64> = (0..values.len()).map(|i| i as f64).collect();
        assert_eq!(
            values, expected,
            "the rejected first write was not retried in order"
        );
    } else {
        assert!(
            !values.contains(&0.0),
            "the rejected first write was sent again: {values:?}"
        );
    }
}

// Not in the legacy suite: the retried write keeps its place in the series' order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_500_keep_order() {
    assert_resent(&first_write_rejected(500, None).await, true);
}

// Not in the legacy suite: 429 follows Prometheus' `retry_on_http_429` (default false:
// dropped like other 4xx; true: retried like 5xx).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_429_default_drops() {
    assert_resent(&first_write_rejected(429, None).await, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_429_when_enabled() {
    assert_resent(
        &first_write_rejected(429, Some("retry_on_http_429: true")).await,
        true,
    );
}

/// The wire check itself: each way a series can be malformed is caught.
#[test]
fn wire_label_check_catches_each_problem() {
    let l = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    type Case = (&'static str, Vec<(String, String)>, Option<&'static str>);
    let cases: &[Case] = &[
        ("valid", l(&[("__name__", "up"), ("a", "1")]), None),
        (
            "unsorted",
            l(&[("__name__", "up"), ("b", "1"), ("a", "1")]),
            Some("not sorted"),
        ),
        (
            "repeated",
            l(&[("__name__", "up"), ("a", "1"), ("a", "1")]),
            Some("repeated"),
        ),
        (
            "empty value",
            l(&[("__name__", "up"), ("a", "")]),
            Some("empty value"),
        ),
        ("no name", l(&[("a", "1")]), Some("__name__")),
    ];
    for (name, labels, want) in cases {
        let got = wire_label_problem(labels);
        match want {
            None => assert_eq!(got, None, "{name}"),
            Some(w) => assert!(
                got.as_deref().is_some_and(|g| g.contains(w)),
                "{name}: {got:?}"
            ),
        }
    }
}

#[test]
fn go_float_matches_strconv() {
    let cases = [
        (0.0, "0"),
        (42.0, "42"),
        (999_999.0, "999999"),
        (1_000_000.0, "1e+06"),
        (1_763_780_000_000.0, "1.76378e+12"),
        (0.5, "0.5"),
        (0.00001, "1e-05"),
    ];
    for (v, want) in cases {
        assert_eq!(go_float(v), want, "{v}");
    }
}
