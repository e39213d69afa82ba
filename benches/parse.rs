//! Exposition parsing throughput: shoal's parser (text and OpenMetrics) against the
//! `prometheus-parse` crate, on a realistic 2000-series exposition shaped like
//! `shared/bench/gen_targets.py` (counters with 4 labels, histogram buckets, gauges) and on
//! a variant whose label values carry escapes.
//!
//! Run: cargo bench --bench parse -- --warm-up-time 1 --measurement-time 3
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "bench setup that fails must stop loudly; benches time real work"
)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shoal::exposition::{Entry, Format, Parser};

const SERIES: usize = 2000;

/// Seeded xorshift: the same exposition on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn upto(&mut self, n: u64) -> u64 {
        self.next() % (n + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One target's exposition; `escaped` puts `\"`, `\\` and `\n` in the handler values.
fn exposition(escaped: bool, openmetrics: bool) -> (String, usize) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut out = String::new();
    let mut n = 0;
    let handler = |i: usize| {
        if escaped {
            format!("/api/v1/\\\"item{i}\\\"\\\\x\\n")
        } else {
            format!("/api/v1/item{i}")
        }
    };
    let methods = ["GET", "POST", "PUT", "DELETE"];
    let codes = ["200", "201", "400", "404", "500"];
    out.push_str(
        "# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n",
    );
    let mut i = 0;
    while n < SERIES / 2 {
        let (h, m, c) = (handler(i % 40), methods[(i / 40) % 4], codes[(i / 160) % 5]);
        let v = rng.upto(10_000_000);
        out.push_str(&format!(
            "http_requests_total{{handler=\"{h}\",method=\"{m}\",code=\"{c}\",shard=\"{}\"}} {v}\n",
            i / 800
        ));
        n += 1;
        i += 1;
    }
    out.push_str("# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n");
    let buckets = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    let mut j = 0;
    while n < SERIES * 85 / 100 {
        let (h, shard) = (handler(j % 40), j / 40);
        let mut cum = 0;
        for b in buckets {
            cum += rng.upto(1000);
            out.push_str(&format!(
                "http_request_duration_seconds_bucket{{handler=\"{h}\",method=\"GET\",le=\"{b}\",shard=\"{shard}\"}} {cum}\n"
            ));
        }
        let sum = rng.unit() * 1e4;
        out.push_str(&format!(
            "http_request_duration_seconds_sum{{handler=\"{h}\",method=\"GET\",shard=\"{shard}\"}} {sum:.6}\n"
        ));
        out.push_str(&format!(
            "http_request_duration_seconds_count{{handler=\"{h}\",method=\"GET\",shard=\"{shard}\"}} {cum}\n"
        ));
        n += 14;
        j += 1;
    }
    out.push_str("# HELP app_queue_depth Queue depth.\n# TYPE app_queue_depth gauge\n");
    let mut k = 0;
    while n < SERIES {
        let v = rng.unit() * 100.0;
        out.push_str(&format!(
            "app_queue_depth{{queue=\"q{k}\",priority=\"{}\"}} {v:.3}\n",
            k % 3
        ));
        n += 1;
        k += 1;
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    (out, n)
}

/// The scrape loop's cache-hit path: boundaries, value, timestamp.
fn shoal_parse(body: &[u8], format: Format) -> usize {
    let mut parser = Parser::new(body, format);
    let mut samples = 0;
    while let Some(entry) = parser.next_entry().expect("valid exposition") {
        if let Entry::Sample(s) = entry {
            black_box((s.series, s.value, s.timestamp_ms));
            samples += 1;
        }
    }
    samples
}

/// The cache-miss path: also decode every label.
fn shoal_parse_with_labels(body: &[u8], format: Format) -> usize {
    let mut parser = Parser::new(body, format);
    let mut samples = 0;
    while let Some(entry) = parser.next_entry().expect("valid exposition") {
        if let Entry::Sample(s) = entry {
            black_box(s.name());
            for label in s.labels() {
                black_box(label);
            }
            samples += 1;
        }
    }
    samples
}

fn baseline_parse(body: &str) -> usize {
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("baseline parses");
    scrape.samples.len()
}

fn bench(c: &mut Criterion) {
    for (input, escaped) in [("realistic", false), ("escaped", true)] {
        let (text, n) = exposition(escaped, false);
        let (om, _) = exposition(escaped, true);
        assert_eq!(shoal_parse(text.as_bytes(), Format::PrometheusText), n);
        assert_eq!(shoal_parse(om.as_bytes(), Format::OpenMetrics), n);
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(text.len() as u64)),
            ("samples", Throughput::Elements(n as u64)),
        ] {
            let mut group = c.benchmark_group(format!("parse_{input}_{unit}"));
            group.throughput(throughput);
            group.bench_function(BenchmarkId::new("shoal_text", n), |b| {
                b.iter(|| shoal_parse(black_box(text.as_bytes()), Format::PrometheusText))
            });
            group.bench_function(BenchmarkId::new("shoal_openmetrics", n), |b| {
                b.iter(|| shoal_parse(black_box(om.as_bytes()), Format::OpenMetrics))
            });
            group.bench_function(BenchmarkId::new("shoal_text_with_labels", n), |b| {
                b.iter(|| {
                    shoal_parse_with_labels(black_box(text.as_bytes()), Format::PrometheusText)
                })
            });
            group.bench_function(BenchmarkId::new("prometheus_parse", n), |b| {
                b.iter(|| baseline_parse(black_box(&text)))
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
