//! The jobs shoal generates from Prometheus Operator objects, given to Debian's Prometheus:
//! both must find the same targets, with the same `scrapePool`, `scrapeUrl` and final
//! labels. This checks the target side of generation (relabelings, port selection, job
//! labels, params, probe and static targets) against the real thing; the generated YAML
//! itself is checked against the operator's golden files in `src/operator/generate/tests.rs`.
//!
//! Debian builds Prometheus without Kubernetes discovery, so each job's
//! `kubernetes_sd_configs` is replaced by a `file_sd_configs` holding what shoal's
//! Kubernetes discovery found for that job (`__address__` and `__meta_*` of its active and
//! dropped targets): from there on, relabeling and URLs are Prometheus' own.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::kube_api::KubeApi;
use common::prometheus::Prometheus;
use common::shoal::Shoal;
use common::{Receiver, Reply, TargetServer};
use serde_json::{Value, json};

const START: Duration = Duration::from_secs(90);

/// The pools the objects below generate.
const POOLS: [&str; 8] = [
    "serviceMonitor/apps/web/0",
    "serviceMonitor/apps/api/0",
    "serviceMonitor/other/any-web/0",
    "podMonitor/other/workers/0",
    "probe/apps/static",
    "probe/apps/sites",
    "scrapeConfig/apps/static",
    "scrapeConfig/apps/pods",
];

/// Job keys of Prometheus 3.x that Debian's Prometheus (2.42) refuses. None changes which
/// targets a job has or their labels; they choose how a scrape is parsed and stored.
const NEWER_KEYS: [&str; 13] = [
    "keep_dropped_targets",
    "scrape_protocols",
    "fallback_scrape_protocol",
    "enable_compression",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "scrape_native_histograms",
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
    "track_timestamps_staleness",
    "scrape_failure_log_file",
];

fn port_of(t: &TargetServer) -> u16 {
    t.addr().rsplit(':').next().unwrap().parse().unwrap()
}

/// Pods, Services, Endpoints, an EndpointSlice, an Ingress, Secrets and one object of
/// each kind in two namespaces, covering the roles and options the issue names.
fn objects(api: &KubeApi, web: u16, p_api: u16, worker: u16, prober: &str) {
    for (ns, team) in [("apps", "a"), ("other", "b")] {
        api.apply(
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": team}}}),
        );
    }
    let pod = |ns: &str, name: &str, labels: Value, port: u16, port_name: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "x:1",
                "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
                "hostIP": "10.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]}})
    };
    api.apply(
        "pods",
        pod(
            "apps",
            "web-0",
            json!({"app": "web", "team": "checkout"}),
            web,
            "metrics",
        ),
    );
    api.apply(
        "pods",
        pod("other", "api-0", json!({"app": "api"}), p_api, "web"),
    );
    api.apply(
        "pods",
        pod(
            "apps",
            "worker-0",
            json!({"app": "worker"}),
            worker,
            "metrics",
        ),
    );
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web", "component": "frontend"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.10",
                "ports": [{"name": "metrics", "port": web, "targetPort": web, "protocol": "TCP"}]}}),
    );
    api.apply(
        "endpoints",
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web", "component": "frontend"}},
            "subsets": [{"addresses": [{"ip": "127.0.0.1", "nodeName": "node-1",
                    "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "apps", "uid": "uid-web-0"}}],
                "ports": [{"name": "metrics", "port": web, "protocol": "TCP"}]}]}),
    );
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "other", "labels": {"app": "api"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.11",
                "ports": [{"name": "web", "port": 80, "targetPort": p_api, "protocol": "TCP"}]}}),
    );
    api.apply(
        "endpointslices",
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "api-x1", "namespace": "other",
                "labels": {"kubernetes.io/service-name": "api", "app": "api"}},
            "addressType": "IPv4",
            "ports": [{"name": "web", "port": p_api, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true},
                "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "api-0", "namespace": "other", "uid": "uid-api-0"}}]}),
    );
    api.apply(
        "ingresses",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "site", "namespace": "apps", "labels": {"app": "site"}},
            "spec": {"rules": [{"host": "site.example", "http": {"paths": [
                {"path": "/health", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
    );
    for (name, data) in [
        (
            "creds",
            json!({"user": "YWxpY2U=", "password": "czNjcjN0LXBhNTU="}),
        ),
        ("token", json!({"token": "dG9rZW4tdmFsdWU="})),
    ] {
        api.apply(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": "apps"}, "data": data}),
        );
    }
    // Endpoints role, port by name, jobLabel, targetLabels, podTargetLabels, relabelings,
    // basic auth from a Secret.
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "jobLabel": "component",
                "targetLabels": ["app"], "podTargetLabels": ["team"],
                "endpoints": [{"port": "metrics", "interval": "5s",
                    "basicAuth": {"username": {"name": "creds", "key": "user"}, "password": {"name": "creds", "key": "password"}},
                    "relabelings": [{"targetLabel": "source", "replacement": "operator"},
                        {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}]}]}}),
    );
    // EndpointSlice role by the object's choice, targetPort by number, matchNames, a
    // bearer token from a Secret.
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "api", "namespace": "apps"},
            "spec": {"serviceDiscoveryRole": "EndpointSlice",
                "selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "other"]}]},
                "namespaceSelector": {"matchNames": ["other"]},
                "endpoints": [{"targetPort": p_api, "interval": "5s",
                    "bearerTokenSecret": {"name": "token", "key": "token"}}]}}),
    );
    // Any namespace, a path and params, metric relabelings.
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "any-web", "namespace": "other"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "namespaceSelector": {"any": true},
                "endpoints": [{"port": "metrics", "path": "/other", "params": {"format": ["prometheus"], "x": ["1", "2"]},
                    "interval": "5s", "honorLabels": true,
                    "metricRelabelings": [{"sourceLabels": ["__name__"], "regex": "go_.*", "action": "drop"}]}]}}),
    );
    api.apply(
        "podmonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": "workers", "namespace": "other"},
            "spec": {"selector": {"matchLabels": {"app": "worker"}}, "namespaceSelector": {"any": true},
                "podTargetLabels": ["app"],
                "podMetricsEndpoints": [{"port": "metrics", "interval": "5s"}]}}),
    );
    api.apply(
        "probes",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe",
            "metadata": {"name": "static", "namespace": "apps"},
            "spec": {"prober": {"url": prober}, "module": "http_2xx", "interval": "5s",
                "params": [{"name": "debug", "values": ["true"]}],
                "targets": {"staticConfig": {"static": ["http://a.example", "b.example:8080"],
                    "labels": {"env": "test"},
                    "relabelingConfigs": [{"targetLabel": "probed", "replacement": "yes"}]}}}}),
    );
    api.apply(
        "probes",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe",
            "metadata": {"name": "sites", "namespace": "apps"},
            "spec": {"prober": {"url": prober, "path": "/probe"}, "module": "http_2xx", "interval": "5s",
                "targets": {"ingress": {"selector": {"matchLabels": {"app": "site"}}}}}}),
    );
    api.apply(
        "scrapeconfigs",
        json!({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig",
            "metadata": {"name": "static", "namespace": "apps"},
            "spec": {"scrapeInterval": "5s", "metricsPath": "/metrics",
                "staticConfigs": [{"targets": [format!("127.0.0.1:{web}")], "labels": {"site": "local"}}]}}),
    );
    api.apply(
        "scrapeconfigs",
        json!({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig",
            "metadata": {"name": "pods", "namespace": "apps"},
            "spec": {"scrapeInterval": "5s",
                "kubernetesSDConfigs": [{"role": "Pod", "namespaces": {"names": ["apps"]}}],
                "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_label_app"], "regex": "worker", "action": "keep"},
                    {"sourceLabels": ["__meta_kubernetes_pod_name"], "targetLabel": "pod"}]}}),
    );
}

/// (scrapePool, scrapeUrl, labels) of every active target of the generated pools.
type TargetKey = (String, String, BTreeMap<String, String>);

fn active_targets(data: &Value) -> BTreeSet<TargetKey> {
    data["activeTargets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| POOLS.contains(&t["scrapePool"].as_str().unwrap_or("")))
        .map(|t| {
            let labels = t["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect();
            (
                t["scrapePool"].as_str().unwrap_or("").to_string(),
                t["scrapeUrl"].as_str().unwrap_or("").to_string(),
                labels,
            )
        })
        .collect()
}

/// What discovery found per pool: `__address__` and the `__meta_*` labels of every active
/// and dropped target.
fn discovered(data: &Value) -> BTreeMap<String, Vec<serde_json::Map<String, Value>>> {
    let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for key in ["activeTargets", "droppedTargets"] {
        for t in data[key].as_array().into_iter().flatten() {
            let d = &t["discoveredLabels"];
            let pool = t["scrapePool"].as_str().or(d["job"].as_str()).unwrap_or("");
            let sd: serde_json::Map<String, Value> = d
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k == "__address__" || k.starts_with("__meta_"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            out.entry(pool.to_string()).or_default().push(sd);
        }
    }
    out
}

/// Shoal's displayed config made loadable by Debian's Prometheus 2.42: the generated jobs
/// only, without the job keys it does not know, Kubernetes discovery replaced by files in
/// `dir` holding what shoal discovered.
fn for_prometheus(
    shown_yaml: &str,
    found: &BTreeMap<String, Vec<serde_json::Map<String, Value>>>,
    dir: &std::path::Path,
) -> String {
    let cfg: serde_yaml_ng::Value = serde_yaml_ng::from_str(shown_yaml).expect("shown config");
    let mut jobs = Vec::new();
    for (i, job) in cfg["scrape_configs"]
        .as_sequence()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = job["job_name"].as_str().unwrap_or("");
        if !POOLS.contains(&name) {
            continue;
        }
        let mut job = job.clone();
        let Some(m) = job.as_mapping_mut() else {
            continue;
        };
        for k in NEWER_KEYS {
            m.remove(k);
        }
        let k8s = m
            .remove("kubernetes_sd_configs")
            .and_then(|v| v.as_sequence().map(Vec::len))
            .unwrap_or(0);
        if k8s > 0 {
            let groups: Vec<Value> = found
                .get(name)
                .into_iter()
                .flatten()
                .map(|sd| {
                    let mut labels = sd.clone();
                    let addr = labels.remove("__address__").unwrap_or_default();
                    json!({"targets": [addr], "labels": labels})
                })
                .collect();
            let file = dir.join(format!("job-{i}.json"));
            std::fs::write(&file, serde_json::to_string(&groups).unwrap()).unwrap();
            let sd: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&format!("- files: ['{}']", file.display())).unwrap();
            m.insert("file_sd_configs".into(), sd);
        }
        jobs.push(job);
    }
    let out = serde_yaml_ng::to_string(&json_like(jobs)).expect("yaml");
    format!("global:\n  scrape_interval: 5s\n  scrape_timeout: 5s\n{out}")
}

fn json_like(jobs: Vec<serde_yaml_ng::Value>) -> serde_yaml_ng::Value {
    let mut m = serde_yaml_ng::Mapping::new();
    m.insert(
        "scrape_configs".into(),
        serde_yaml_ng::Value::Sequence(jobs),
    );
    serde_yaml_ng::Value::Mapping(m)
}

/// Dropped targets per generated pool.
fn dropped_per_pool(data: &Value) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for t in data["droppedTargets"].as_array().into_iter().flatten() {
        let d = &t["discoveredLabels"];
        // Prometheus 2.42 has no `scrapePool` here and shows the labels as relabeling left
        // them: `job` is gone, the operator's first rule copied it to a temporary label.
        let pool = t["scrapePool"]
            .as_str()
            .or(d["job"].as_str())
            .or(d["__tmp_prometheus_job_name"].as_str())
            .unwrap_or("");
        if POOLS.contains(&pool) {
            *out.entry(pool.to_string()).or_default() += 1;
        }
    }
    out
}

fn diff(a: &BTreeSet<TargetKey>, b: &BTreeSet<TargetKey>) -> String {
    let only = |x: &BTreeSet<TargetKey>, y: &BTreeSet<TargetKey>| {
        x.difference(y)
            .map(|t| format!("  {t:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    format!(
        "only shoal:\n{}\nonly prometheus:\n{}",
        only(a, b),
        only(b, a)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_jobs_give_prometheus_the_same_targets_labels_and_urls() {
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let (web, api_t, worker, prober) = (
        TargetServer::start().await,
        TargetServer::start().await,
        TargetServer::start().await,
        TargetServer::start().await,
    );
    for t in [&web, &api_t, &worker] {
        t.set("/metrics", Reply::text("a 1\n"));
    }
    web.set("/other", Reply::text("a 1\n"));
    prober.set("/probe", Reply::text("probe_success 1\n"));
    objects(
        &api,
        port_of(&web),
        port_of(&api_t),
        port_of(&worker),
        &prober.addr(),
    );
    let cfg = format!(
        r#"global:
  scrape_interval: 5s
prometheus_operator:
  api_server: {api}
  namespace: apps
  service_monitor_selector: {{}}
  service_monitor_namespace_selector: {{}}
  pod_monitor_selector: {{}}
  pod_monitor_namespace_selector: {{}}
  probe_selector: {{}}
  scrape_config_selector: {{}}
remote_write:
  - url: {rw}
"#,
        api = api.url(),
        rw = receiver.url()
    );
    let mut shoal = Shoal::start(&cfg).await;
    // Every pool has its targets in shoal first.
    let seen = common::wait_for_async(START, || async {
        let (_, body) = shoal.get("/api/v1/targets").await;
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        let pools: BTreeSet<String> = active_targets(&v["data"])
            .into_iter()
            .map(|t| t.0)
            .collect();
        pools.len() == POOLS.len()
    })
    .await;
    let (_, ops) = shoal.get("/api/v1/operator").await;
    assert!(
        seen,
        "not every pool has targets; operator: {ops}\n{}",
        shoal.log_tail()
    );
    let (_, shown) = shoal.get("/api/v1/status/config").await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    let (_, targets) = shoal.get("/api/v1/targets").await;
    let found = discovered(&serde_json::from_str::<Value>(&targets).unwrap()["data"]);
    let sd_dir = tempfile::tempdir().unwrap();
    let prom_cfg = for_prometheus(
        shown["data"]["yaml"].as_str().unwrap(),
        &found,
        sd_dir.path(),
    );
    let Some(prom) = Prometheus::start_with_config(&prom_cfg).await else {
        shoal.stop().await;
        return;
    };
    // Prometheus applies discovery every 5 s: wait for the sets to meet.
    let deadline = std::time::Instant::now() + START;
    let (equal, ours, theirs, dropped) = loop {
        let (_, body) = shoal.get("/api/v1/targets").await;
        let ours_data = serde_json::from_str::<Value>(&body).unwrap()["data"].clone();
        let theirs_data = prom.api("/api/v1/targets", &[]).await;
        let (ours, theirs) = (active_targets(&ours_data), active_targets(&theirs_data));
        let dropped = (dropped_per_pool(&ours_data), dropped_per_pool(&theirs_data));
        let equal = ours == theirs && ours.len() >= POOLS.len() && dropped.0 == dropped.1;
        if equal || std::time::Instant::now() >= deadline {
            break (equal, ours, theirs, dropped);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        equal,
        "targets differ:\n{}\ndropped per pool (shoal, prometheus): {dropped:?}\n\
         config given to prometheus:\n{prom_cfg}\nprometheus log:\n{}",
        diff(&ours, &theirs),
        prom.log()
    );
    shoal.stop().await;
}
