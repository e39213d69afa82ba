//! The shoal binary with `kubernetes_sd_configs` against the local API server
//! (tests/common/kube_api.rs): pods are discovered, relabeled and really scraped; and
//! discovering 10,000 pods keeps the whole agent's peak RSS under 100 MiB.
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

use common::kube_api::KubeApi;
use common::shoal::Shoal;
use common::{Receiver, Reply, TargetServer, wait_for_async};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A pod shaped like a real one (labels, annotations, managedFields, env, status) whose
/// one container port is `port` on `ip`.
fn pod(name: &str, ip: &str, port: u16, scrape: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "apps", "uid": format!("uid-{name}"),
            "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": name,
                "pod-template-hash": "5d8f7c9b4", "team": "checkout", "tier": "frontend"},
            "annotations": {"prometheus.io/scrape": scrape.to_string(), "prometheus.io/port": port.to_string(),
                "kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f7c9b4",
                "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                 "time": "2026-11-01T10:00:00Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:team": {}},
                   "f:ownerReferences": {".": {}, "k:{\"uid\":\"rs-uid\"}": {}}},
                   "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {}, "f:image": {},
                     "f:imagePullPolicy": {}, "f:name": {}, "f:ports": {}, "f:resources": {}}}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "subresource": "status",
                 "time": "2026-11-01T10:00:05Z", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:hostIP": {},
                   "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}}
            ]
        },
        "spec": {
            "nodeName": "node-1", "serviceAccountName": "web", "restartPolicy": "Always",
            "containers": [{
                "name": "app", "image": "registry.example.com/web:1.2.3", "imagePullPolicy": "IfNotPresent",
                "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME",
                    "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]
            }],
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}}]}}]
        },
        "status": {
            "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.0.0.1",
            "startTime": "2026-11-01T10:00:00Z",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-01T10:00:05Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-01T10:00:05Z"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true,
                "image": "registry.example.com/web:1.2.3", "imageID": "registry.example.com/web@sha256:0123",
                "containerID": format!("containerd://{name}"), "state": {"running": {"startedAt": "2026-11-01T10:00:04Z"}}}]
        }
    })
}

fn config(api: &KubeApi, receiver: &Receiver, interval: &str) -> String {
    format!(
        r#"global:
  scrape_interval: {interval}
scrape_configs:
  - job_name: kube
    kubernetes_sd_configs:
      - role: pod
        api_server: {api}
        namespaces:
          names: [apps]
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        regex: "true"
        action: keep
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
remote_write:
  - url: {rw}
"#,
        api = api.url(),
        rw = receiver.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_pods_and_scrapes_them_through_relabeling() {
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let mut targets = Vec::new();
    for i in 0..3 {
        let t = TargetServer::start().await;
        t.set("/metrics", Reply::text(format!("up_from_pod {i}\n")));
        let port: u16 = t.addr().rsplit(':').next().unwrap().parse().unwrap();
        // The third pod is not annotated for scraping: relabeling drops it.
        api.apply("pods", pod(&format!("web-{i}"), "127.0.0.1", port, i < 2));
        targets.push(t);
    }
    let mut shoal = Shoal::start(&config(&api, &receiver, "1s")).await;
    for (i, target) in targets.iter().enumerate().take(2) {
        let port = target.addr().rsplit(':').next().unwrap().to_string();
        let t = shoal
            .wait_target("kube", &port, TIMEOUT, "scraped", |t| t["health"] == "up")
            .await;
        let d = &t["discoveredLabels"];
        assert_eq!(d["__meta_kubernetes_pod_name"], format!("web-{i}"), "{t}");
        assert_eq!(d["__meta_kubernetes_namespace"], "apps", "{t}");
        assert_eq!(
            d["__meta_kubernetes_pod_container_port_name"], "metrics",
            "{t}"
        );
        assert_eq!(
            d["__meta_kubernetes_pod_controller_kind"], "ReplicaSet",
            "{t}"
        );
        assert_eq!(d["__address__"], format!("127.0.0.1:{port}"), "{t}");
        assert_eq!(t["labels"]["pod"], format!("web-{i}"), "{t}");
        assert_eq!(t["labels"]["job"], "kube", "{t}");
    }
    assert_eq!(shoal.active_targets().await.len(), 2);
    // A deleted pod's target goes away.
    api.delete("pods", "apps", "web-0");
    let gone = wait_for_async(TIMEOUT, || async {
        shoal.active_targets().await.len() == 1
    })
    .await;
    assert!(gone, "web-0 still active; log:\n{}", shoal.log_tail());
    assert_eq!(api.count("watch", "pods"), 1, "one watch");
    shoal.stop().await;
}

/// A memory figure (`VmHWM:` peak, `VmRSS:` current) of a process, in KiB.
fn vm_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `shoal_discovery_targets{job="kube"}` from `/metrics`.
async fn discovered(shoal: &Shoal) -> u64 {
    let (_, body) = shoal.get("/metrics").await;
    body.lines()
        .find(|l| l.starts_with("shoal_discovery_targets{") && l.contains("job=\"kube\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// `cargo test --test kubernetes_agent -- --nocapture` prints the figures (debug build: about
/// 91 MiB, of which ~35 MiB is the debug binary's code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_pods_stay_under_100_mib() {
    const PODS: usize = 10_000;
    const SCRAPED: usize = 100;
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let target = TargetServer::start().await;
    target.set(
        "/metrics",
        Reply::text("some_metric 1\nother_metric{a=\"b\"} 2\n"),
    );
    let port: u16 = target.addr().rsplit(':').next().unwrap().parse().unwrap();
    for i in 0..PODS {
        api.apply(
            "pods",
            pod(
                &format!("web-{i:05}"),
                "127.0.0.1",
                port,
                i % (PODS / SCRAPED) == 0,
            ),
        );
    }
    let mut shoal = Shoal::start(&config(&api, &receiver, "5s")).await;
    let complete = wait_for_async(TIMEOUT, || async {
        discovered(&shoal).await == PODS as u64
    })
    .await;
    assert!(
        complete,
        "discovery incomplete: {}; log:\n{}",
        discovered(&shoal).await,
        shoal.log_tail()
    );
    let after_discovery = vm_kib(shoal.pid(), "VmRSS:");
    // Scraped: every kept pod has reported `up 1` (read from the receiver, not from
    // /api/v1/targets, whose 10,000 dropped targets would dominate the peak).
    let scraped = common::wait_for(TIMEOUT, || {
        let pods: std::collections::BTreeSet<String> = receiver
            .samples()
            .into_iter()
            .filter(|s| s.name() == "up" && s.value == 1.0)
            .filter_map(|s| s.get("pod").map(str::to_string))
            .collect();
        pods.len() == SCRAPED
    })
    .await;
    assert!(
        scraped,
        "not every kept pod was scraped; log:\n{}",
        shoal.log_tail()
    );
    // One more change after everything settled: a full rebuild at steady state.
    api.apply("pods", pod("web-extra", "127.0.0.1", port, true));
    let more = wait_for_async(TIMEOUT, || async {
        discovered(&shoal).await == PODS as u64 + 1
    })
    .await;
    assert!(more);
    let hwm = vm_kib(shoal.pid(), "VmHWM:");
    let rss = vm_kib(shoal.pid(), "VmRSS:");
    println!(
        "RssAnon {:.1} MiB, RssFile {:.1} MiB",
        vm_kib(shoal.pid(), "RssAnon:") as f64 / 1024.0,
        vm_kib(shoal.pid(), "RssFile:") as f64 / 1024.0
    );
    println!(
        "kubernetes discovery of {PODS} pods ({SCRAPED} scraped): VmHWM {:.1} MiB, VmRSS {:.1} MiB (after discovery {:.1} MiB)",
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0,
        after_discovery as f64 / 1024.0
    );
    assert!(hwm < 100 * 1024, "peak RSS {hwm} KiB is over 100 MiB");
    shoal.stop().await;
}
