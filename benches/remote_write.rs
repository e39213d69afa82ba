//! Remote-write encoding: one 2000-sample batch (the default `max_samples_per_send`) of
//! series shaped like `/work/shared/bench/gen_targets.py` output plus `job`/`instance`,
//! encoded to a `WriteRequest` and snappy-compressed, with reused buffers.
//!
//! Run: `cargo bench --bench remote_write`
//! `samples` reports samples/s (ns per sample = 1e9 / rate); `bytes` reports MB/s of
//! uncompressed protobuf produced.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "bench setup that fails must stop loudly; benches time real work"
)]

use std::collections::BTreeMap;
use std::hint::black_box;

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shoal::remote_write::encode::{Encoder, ExternalLabels};
use shoal::series::{Sample, Series};

const BATCH: usize = 2000;

fn samples(series: &[Series]) -> Vec<Sample> {
    series
        .iter()
        .enumerate()
        .map(|(i, s)| Sample {
            series: s.clone(),
            timestamp: 1_763_780_000_000 + i as i64,
            value: (i * 7919 % 100_000) as f64 * 1.5,
        })
        .collect()
}

fn encode_batch(enc: &mut Encoder, batch: &[Sample]) -> usize {
    enc.clear();
    for s in batch {
        enc.push(s.series.labels(), s.timestamp, s.value);
    }
    match enc.finish() {
        Ok(body) => body.len(),
        Err(_) => 0,
    }
}

fn bench(c: &mut Criterion) {
    let batch = samples(&common::series(BATCH));
    let external: BTreeMap<String, String> = [
        ("cluster".to_owned(), "prod-eu-1".to_owned()),
        ("replica".to_owned(), "shoal-0".to_owned()),
    ]
    .into();
    for (name, ext) in [
        ("plain", ExternalLabels::default()),
        ("external_labels", ExternalLabels::new(&external)),
    ] {
        let mut enc = Encoder::new(ext);
        let compressed = encode_batch(&mut enc, &batch);
        let raw = enc.request_bytes().len();
        eprintln!(
            "{name}: {BATCH} samples -> {raw} bytes protobuf, {compressed} bytes snappy ({:.1}x)",
            raw as f64 / compressed.max(1) as f64
        );

        let mut g = c.benchmark_group(format!("remote_write_encode/{name}"));
        g.throughput(Throughput::Elements(BATCH as u64));
        g.bench_function("samples", |b| {
            b.iter(|| black_box(encode_batch(&mut enc, black_box(&batch))))
        });
        g.throughput(Throughput::Bytes(raw as u64));
        g.bench_function("bytes", |b| {
            b.iter(|| black_box(encode_batch(&mut enc, black_box(&batch))))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
