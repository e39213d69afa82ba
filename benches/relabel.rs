//! Relabeling cost per label set.
//!
//! Run: `cargo bench --bench relabel`
//! (one group: `cargo bench --bench relabel -- kubernetes_target`)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "bench setup that fails must stop loudly; benches time real work"
)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use shoal::labels::Labels;
use shoal::relabel::{RelabelConfig, Rules};

/// A typical kubernetes-pods job: 10 rules.
const K8S_RULES: &str = r#"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
  regex: "true"
  action: keep
- source_labels: [__meta_kubernetes_pod_phase]
  regex: Succeeded|Failed
  action: drop
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme]
  regex: (https?)
  target_label: __scheme__
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
  regex: (.+)
  target_label: __metrics_path__
- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
  regex: (.+?)(?::\d+)?;(\d+)
  replacement: $1:$2
  target_label: __address__
- regex: __meta_kubernetes_pod_label_(.+)
  action: labelmap
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
- source_labels: [__meta_kubernetes_pod_name]
  target_label: pod
- source_labels: [__meta_kubernetes_pod_container_name]
  target_label: container
- source_labels: [__meta_kubernetes_pod_name, __meta_kubernetes_pod_container_port_name]
  separator: ":"
  target_label: instance
"#;

/// A metric_relabel_configs chain: drop noisy families, drop two labels.
const METRIC_RULES: &str = r#"
- source_labels: [__name__]
  regex: go_gc_.*|go_memstats_.*|process_.*|scrape_.*
  action: drop
- regex: pod_template_hash|controller_revision_hash
  action: labeldrop
"#;

fn k8s_target() -> Labels {
    Labels::from_pairs([
        ("__address__", "10.132.183.40:80"),
        ("__metrics_path__", "/metrics"),
        ("__scheme__", "http"),
        ("__scrape_interval__", "15s"),
        ("__scrape_timeout__", "10s"),
        ("job", "kubernetes-pods"),
        ("__meta_kubernetes_namespace", "payments"),
        ("__meta_kubernetes_pod_name", "checkout-7f9c6d5b8-x2k4q"),
        ("__meta_kubernetes_pod_ip", "10.132.183.40"),
        (
            "__meta_kubernetes_pod_node_name",
            "gke-prod-main-n2s8-2-14d53341-9hkr",
        ),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_ready", "true"),
        (
            "__meta_kubernetes_pod_uid",
            "4c586419-7f6c-448d-aeec-ca4fa5b05e60",
        ),
        ("__meta_kubernetes_pod_container_name", "checkout"),
        ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
        ("__meta_kubernetes_pod_container_port_number", "8080"),
        ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
        (
            "__meta_kubernetes_pod_controller_name",
            "checkout-7f9c6d5b8",
        ),
        ("__meta_kubernetes_pod_label_app", "checkout"),
        ("__meta_kubernetes_pod_label_version", "v1.42.0"),
        ("__meta_kubernetes_pod_label_pod_template_hash", "7f9c6d5b8"),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            "true",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_port",
            "8080",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_path",
            "/internal/metrics",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scheme",
            "http",
        ),
    ])
}

fn series(name: &str) -> Labels {
    Labels::from_pairs([
        ("__name__", name),
        ("job", "kubernetes-pods"),
        ("instance", "checkout-7f9c6d5b8-x2k4q:http-metrics"),
        ("namespace", "payments"),
        ("pod_template_hash", "7f9c6d5b8"),
        ("method", "GET"),
        ("code", "200"),
        ("handler", "/api/v1/checkout"),
    ])
}

fn compile(yaml: &str) -> Rules {
    let cfgs: Vec<RelabelConfig> = serde_yaml_ng::from_str(yaml).expect("bench rules parse");
    Rules::compile(&cfgs).expect("bench rules compile")
}

fn bench(c: &mut Criterion) {
    let k8s = compile(K8S_RULES);
    let target = k8s_target();
    assert_eq!(target.len(), 25);
    let out = k8s.process_labels(&target).expect("target kept");
    assert_eq!(out.get("__address__"), Some("10.132.183.40:8080"));
    assert_eq!(out.get("app"), Some("checkout"));

    let mut g = c.benchmark_group("kubernetes_target");
    g.bench_function("process", |b| {
        b.iter_batched_ref(
            || target.to_builder(),
            |lb| black_box(k8s.process(lb)),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("to_builder_process_build", |b| {
        b.iter(|| black_box(k8s.process_labels(black_box(&target))))
    });
    g.finish();

    let metric = compile(METRIC_RULES);
    let kept = series("http_requests_total");
    let dropped = series("go_memstats_alloc_bytes");
    assert!(metric.process_labels(&dropped).is_none());
    assert_eq!(metric.process_labels(&kept).map(|l| l.len()), Some(7));

    let mut g = c.benchmark_group("metric_relabel");
    for (name, labels) in [("kept", &kept), ("dropped", &dropped)] {
        g.bench_function(name, |b| {
            b.iter_batched_ref(
                || labels.to_builder(),
                |lb| black_box(metric.process(lb)),
                BatchSize::SmallInput,
            )
        });
    }
    g.bench_function("kept_to_builder_process_build", |b| {
        b.iter(|| black_box(metric.process_labels(black_box(&kept))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
