//! WAL throughput: appending 2000-sample scrape batches of realistic series (shaped like
//! `/work/shared/bench/gen_targets.py` output plus `job`/`instance`, 500 series per
//! target), and replaying them with a reader.
//!
//! Run: `cargo bench --bench wal`
//! `append/samples` and `replay/samples` report samples/s; `append/bytes` reports MB/s
//! written to segments (page cache: the fsync thread runs every second as in production).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "bench setup that fails must stop loudly; benches time real work"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod common;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shoal::series::Sample;
use shoal::wal::{StartAt, Wal, WalMetrics, WalOptions};

const BATCH: usize = 2000;
/// Batches written before the replay benchmark: 1M samples.
const REPLAY_BATCHES: usize = 500;

/// One scrape of every target at `ts`: values change, series repeat (steady state).
fn fill(batch: &mut [Sample], ts: i64) {
    for (i, s) in batch.iter_mut().enumerate() {
        s.timestamp = ts;
        s.value = ((i as i64 * 7919 + ts) % 100_000) as f64 * 1.5;
    }
}

fn options(dir: &std::path::Path) -> WalOptions {
    WalOptions {
        segment_size: 64 << 20,
        max_bytes: 1 << 30,
        fsync_interval: Duration::from_secs(1),
        ..WalOptions::new(dir)
    }
}

fn bench(c: &mut Criterion) {
    let series = common::series(BATCH);
    let mut batch: Vec<Sample> = series
        .iter()
        .map(|s| Sample {
            series: s.clone(),
            timestamp: 0,
            value: 0.0,
        })
        .collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(options(dir.path()), WalMetrics::unregistered()).expect("open wal");
    let mut ts = 1_763_780_000_000i64;
    fill(&mut batch, ts);
    wal.append(&batch).expect("append");
    let before = wal.head().offset;
    ts += 15_000;
    fill(&mut batch, ts);
    wal.append(&batch).expect("append");
    let per_batch = wal.head().offset - before;
    eprintln!(
        "{BATCH} samples -> {per_batch} bytes per batch in steady state ({:.2} bytes/sample)",
        per_batch as f64 / BATCH as f64
    );

    let mut g = c.benchmark_group("wal_append");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("samples", |b| {
        b.iter(|| {
            ts += 15_000;
            fill(&mut batch, ts);
            wal.append(black_box(&batch)).expect("append");
        })
    });
    g.throughput(Throughput::Bytes(per_batch));
    g.bench_function("bytes", |b| {
        b.iter(|| {
            ts += 15_000;
            fill(&mut batch, ts);
            wal.append(black_box(&batch)).expect("append");
        })
    });
    g.finish();
    drop(wal);

    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::open(options(dir.path()), WalMetrics::unregistered()).expect("open wal");
    for _ in 0..REPLAY_BATCHES {
        ts += 15_000;
        fill(&mut batch, ts);
        wal.append(&batch).expect("append");
    }
    let wal = Arc::new(wal);
    let readers = AtomicU64::new(0);
    let mut out = Vec::with_capacity(BATCH * 2);
    let mut g = c.benchmark_group("wal_replay");
    g.sample_size(20);
    g.throughput(Throughput::Elements((BATCH * REPLAY_BATCHES) as u64));
    g.bench_function("samples", |b| {
        b.iter_batched(
            || {
                let id = format!("r{}", readers.fetch_add(1, Ordering::Relaxed));
                wal.reader(&id, StartAt::Oldest).expect("reader")
            },
            |mut r| {
                let mut n = 0;
                loop {
                    out.clear();
                    r.read(&mut out, BATCH).expect("read");
                    if out.is_empty() {
                        break;
                    }
                    n += out.len();
                }
                assert_eq!(n, BATCH * REPLAY_BATCHES);
                r
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
