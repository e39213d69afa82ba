//! `prometheus_operator` against the local API server: ServiceMonitor, Probe and
//! ScrapeConfig objects become scraped targets with the operator's labels, Secrets are used
//! (and rotated) without ever being shown, bad objects are reported while the rest run,
//! and objects appear and disappear without a restart.
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

/// Objects must take effect within this (the issue's bound).
const WITHIN: Duration = Duration::from_secs(10);
const START: Duration = Duration::from_secs(60);

const PASSWORD: &str = "s3cr3t-pa55";
const PASSWORD_B64: &str = "czNjcjN0LXBhNTU=";
const ROTATED_B64: &str = "cjB0YXRlZC1wYTU1";

fn port_of(t: &TargetServer) -> u16 {
    t.addr().rsplit(':').next().unwrap().parse().unwrap()
}

fn objects(api: &KubeApi, web: u16) {
    api.apply(
        "namespaces",
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"team": "a"}}}),
    );
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web", "component": "frontend"}},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.10",
                "ports": [{"name": "metrics", "port": web, "targetPort": web, "protocol": "TCP"}]}}),
    );
    api.apply(
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "apps", "uid": "uid-web-0", "labels": {"app": "web", "team": "checkout"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "web:1",
                "ports": [{"name": "metrics", "containerPort": web, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "hostIP": "10.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}]}}),
    );
    api.apply(
        "endpoints",
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
            "subsets": [{"addresses": [{"ip": "127.0.0.1", "nodeName": "node-1",
                    "targetRef": {"kind": "Pod", "name": "web-0", "namespace": "apps", "uid": "uid-web-0"}}],
                "ports": [{"name": "metrics", "port": web, "protocol": "TCP"}]}]}),
    );
    api.apply(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "creds", "namespace": "apps"},
            "data": {"user": "YWxpY2U=", "password": PASSWORD_B64}}),
    );
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "web", "namespace": "apps", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "jobLabel": "component",
                "targetLabels": ["app"], "podTargetLabels": ["team"],
                "endpoints": [{"port": "metrics", "interval": "1s",
                    "basicAuth": {"username": {"name": "creds", "key": "user"}, "password": {"name": "creds", "key": "password"}},
                    "relabelings": [{"targetLabel": "source", "replacement": "operator"}]}]}}),
    );
    // Rejected until its Secret appears.
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "late", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "endpoints": [{"port": "metrics", "interval": "1s", "path": "/late",
                    "bearerTokenSecret": {"name": "late-token", "key": "token"}}]}}),
    );
    // Invalid regex (RE2 refuses it): rejected, the others run.
    api.apply(
        "podmonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": "bad-regex", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "podMetricsEndpoints": [{"port": "metrics",
                    "relabelings": [{"sourceLabels": ["__address__"], "regex": "([a-z", "action": "keep"}]}]}}),
    );
    // Unknown port: accepted, selects no target (as with the operator), and is warned about.
    api.apply(
        "podmonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": "no-port", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                "podMetricsEndpoints": [{"port": "nope", "interval": "1s"}]}}),
    );
    // A different namespace, not selected (no namespace selector: own namespace only).
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "elsewhere", "namespace": "other"},
            "spec": {"selector": {}, "endpoints": [{"port": "metrics"}]}}),
    );
}

fn config(api: &KubeApi, receiver: &Receiver) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: file-job
    static_configs:
      - targets: []
prometheus_operator:
  api_server: {api}
  namespace: apps
  service_monitor_selector: {{}}
  pod_monitor_selector: {{}}
  probe_selector: {{}}
  scrape_config_selector: {{}}
remote_write:
  - url: {rw}
"#,
        api = api.url(),
        rw = receiver.url()
    )
}

async fn operator_object(shoal: &Shoal, kind: &str, name: &str) -> Option<Value> {
    let (_, body) = shoal.get("/api/v1/operator").await;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["objects"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == kind && o["name"] == name)
        .cloned()
}

async fn wait_state(shoal: &Shoal, kind: &str, name: &str, state: &str) -> Value {
    let ok = wait_for_async(WITHIN, || async {
        operator_object(shoal, kind, name)
            .await
            .is_some_and(|o| o["state"] == state)
    })
    .await;
    let seen = operator_object(shoal, kind, name).await;
    assert!(
        ok,
        "{kind} {name} not {state}: {seen:?}\n{}",
        shoal.log_tail()
    );
    seen.unwrap_or_default()
}

/// Every API answer and the log, for the "secrets are never shown" check.
async fn everything_shown(shoal: &Shoal) -> String {
    let mut all = shoal.log();
    for path in [
        "/api/v1/targets",
        "/api/v1/status/config",
        "/api/v1/operator",
        "/api/v1/cluster",
        "/api/v1/cluster/targets",
        "/",
        "/metrics",
    ] {
        all.push_str(&shoal.get(path).await.1);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_become_targets_with_the_operators_labels_and_secrets_stay_hidden() {
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let web = TargetServer::start().await;
    web.set("/metrics", Reply::text("web_up 1\n"));
    web.set("/late", Reply::text("late_up 1\n"));
    let prober = TargetServer::start().await;
    prober.set("/probe", Reply::text("probe_success 1\n"));
    prober.set("/metrics", Reply::text("static_up 1\n"));
    objects(&api, port_of(&web));
    api.apply(
        "probes",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe",
            "metadata": {"name": "blackbox", "namespace": "apps"},
            "spec": {"prober": {"url": prober.addr()}, "module": "http_2xx", "interval": "1s",
                "params": [{"name": "debug", "values": ["true"]}],
                "targets": {"staticConfig": {"static": ["example.com"], "labels": {"site": "public"}}}}}),
    );
    api.apply(
        "scrapeconfigs",
        json!({"apiVersion": "monitoring.coreos.com/v1alpha1", "kind": "ScrapeConfig",
            "metadata": {"name": "static", "namespace": "apps"},
            "spec": {"scrapeInterval": "1s", "staticConfigs": [{"targets": [prober.addr()], "labels": {"env": "test"}}]}}),
    );
    let mut shoal = Shoal::start(&config(&api, &receiver)).await;

    let web_port = port_of(&web).to_string();
    let t = shoal
        .wait_target("serviceMonitor/apps/web/0", &web_port, START, "up", |t| {
            t["health"] == "up"
        })
        .await;
    let want = json!({
        "instance": format!("127.0.0.1:{web_port}"), "job": "frontend", "namespace": "apps",
        "service": "web", "pod": "web-0", "container": "app", "endpoint": "metrics",
        "app": "web", "team": "checkout", "source": "operator"
    });
    assert_eq!(t["labels"], want, "{t}");
    assert_eq!(
        t["scrapeUrl"],
        format!("http://127.0.0.1:{web_port}/metrics"),
        "{t}"
    );
    assert!(
        web.authorizations()
            .iter()
            .any(|a| a == "Basic YWxpY2U6czNjcjN0LXBhNTU="),
        "basic auth from the Secret: {:?}",
        web.authorizations()
    );

    let p = shoal
        .wait_target("probe/apps/blackbox", "example.com", START, "up", |t| {
            t["health"] == "up"
        })
        .await;
    assert_eq!(
        p["labels"],
        json!({"instance": "example.com", "job": "probe/apps/blackbox", "namespace": "apps", "site": "public"}),
        "{p}"
    );
    let url = p["scrapeUrl"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("http://{}/probe?", prober.addr())),
        "{url}"
    );
    for q in ["module=http_2xx", "debug=true", "target=example.com"] {
        assert!(url.contains(q), "{url} lacks {q}");
    }
    let s = shoal
        .wait_target(
            "scrapeConfig/apps/static",
            &prober.addr(),
            START,
            "up",
            |t| t["health"] == "up",
        )
        .await;
    assert_eq!(
        s["labels"],
        json!({"instance": prober.addr(), "job": "scrapeConfig/apps/static", "env": "test"}),
        "{s}"
    );

    // Bad objects are reported, each with its reason; the file's job is untouched.
    let late = wait_state(&shoal, "ServiceMonitor", "late", "rejected").await;
    assert_eq!(late["category"], "missing_secret", "{late}");
    assert!(
        late["reason"].as_str().unwrap().contains("late-token"),
        "{late}"
    );
    let bad = wait_state(&shoal, "PodMonitor", "bad-regex", "rejected").await;
    assert_eq!(bad["category"], "invalid", "{bad}");
    wait_state(&shoal, "PodMonitor", "no-port", "accepted").await;
    // Accepted as the operator does, but reported: no discovered pod has that port.
    let warned = wait_for_async(WITHIN, || async {
        operator_object(&shoal, "PodMonitor", "no-port")
            .await
            .is_some_and(|o| {
                o["warnings"][0].as_str().is_some_and(|w| {
                    w.contains("podMonitor/apps/no-port/0")
                        && w.contains(r#"port "nope""#)
                        && w.contains(r#""metrics""#)
                })
            })
    })
    .await;
    assert!(
        warned,
        "{:?}",
        operator_object(&shoal, "PodMonitor", "no-port").await
    );
    let fine = operator_object(&shoal, "ServiceMonitor", "web")
        .await
        .unwrap();
    assert!(fine.get("warnings").is_none(), "{fine}");
    let (_, page) = shoal.get("/").await;
    assert!(page.contains("no discovered target has port"), "{page}");
    assert!(
        operator_object(&shoal, "ServiceMonitor", "elsewhere")
            .await
            .is_none()
    );
    let (_, config_yaml) = shoal.get("/api/v1/status/config").await;
    assert!(config_yaml.contains("file-job"), "{config_yaml}");
    assert!(
        config_yaml.contains("serviceMonitor/apps/web/0"),
        "{config_yaml}"
    );
    let (_, metrics) = shoal.get("/metrics").await;
    assert!(
        metrics.contains(r#"shoal_operator_objects{kind="ServiceMonitor",state="rejected"} 1"#),
        "{metrics}"
    );

    // Nothing secret anywhere: not in clear, not in base64, not the user name.
    let shown = everything_shown(&shoal).await;
    for secret in [PASSWORD, PASSWORD_B64, "YWxpY2U6", "alice"] {
        assert!(!shown.contains(secret), "{secret:?} shown");
    }

    // Rotation: the next scrapes use the new password, no restart.
    api.apply(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "creds", "namespace": "apps"},
            "data": {"user": "YWxpY2U=", "password": ROTATED_B64}}),
    );
    let rotated = wait_for_async(WITHIN, || async {
        web.authorizations()
            .iter()
            .any(|a| a == "Basic YWxpY2U6cjB0YXRlZC1wYTU1")
    })
    .await;
    assert!(rotated, "rotated password not used\n{}", shoal.log_tail());

    // The missing Secret appears: the object is accepted and scraped.
    api.apply(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "late-token", "namespace": "apps"}, "data": {"token": "dDBrZW4teHl6"}}),
    );
    wait_state(&shoal, "ServiceMonitor", "late", "accepted").await;
    let late_up = wait_for_async(WITHIN, || async {
        web.authorizations().iter().any(|a| a == "Bearer t0ken-xyz")
    })
    .await;
    assert!(late_up, "late monitor not scraping\n{}", shoal.log_tail());

    // A deleted object's job goes away.
    api.delete("scrapeconfigs", "apps", "static");
    let gone = wait_for_async(WITHIN, || async {
        shoal
            .target("scrapeConfig/apps/static", &prober.addr())
            .await
            .is_none()
    })
    .await;
    assert!(gone, "scrapeConfig job still there\n{}", shoal.log_tail());
    let shown = everything_shown(&shoal).await;
    for secret in ["t0ken-xyz", "dDBrZW4teHl6", "r0tated-pa55", ROTATED_B64] {
        assert!(!shown.contains(secret), "{secret:?} shown");
    }
    shoal.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_whose_crd_is_missing_is_reported_and_the_others_run() {
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let web = TargetServer::start().await;
    web.set("/metrics", Reply::text("web_up 1\n"));
    api.set_installed("scrapeconfigs", false);
    api.set_installed("probes", false);
    objects(&api, port_of(&web));
    let mut shoal = Shoal::start(&config(&api, &receiver)).await;
    shoal
        .wait_target(
            "serviceMonitor/apps/web/0",
            &port_of(&web).to_string(),
            START,
            "up",
            |t| t["health"] == "up",
        )
        .await;
    let reported = wait_for_async(WITHIN, || async {
        let (_, body) = shoal.get("/api/v1/operator").await;
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["kinds"].as_array().is_some_and(|k| {
            k.iter()
                .any(|k| k["kind"] == "ScrapeConfig" && k["state"] == "not installed")
        })
    })
    .await;
    assert!(reported, "{}", shoal.get("/api/v1/operator").await.1);
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

/// The sum of a metric's samples in `/metrics`.
async fn metric_sum(shoal: &Shoal, name: &str) -> f64 {
    let (_, body) = shoal.get("/metrics").await;
    body.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// 2,000 ServiceMonitors, each selecting one of 2,000 Services of 5 pods: 2,000 jobs and
/// 10,000 scraped targets. A measurement, not run by `cargo test` (it takes minutes in a
/// debug build): `cargo test --release --test operator -- --ignored --nocapture` prints
/// the figures and checks the 150 MiB goal (README "Performance").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run in release with --ignored"]
async fn two_thousand_service_monitors_over_ten_thousand_pods_stay_under_150_mib() {
    const MONITORS: usize = 2_000;
    const PODS_PER_SERVICE: usize = 5;
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let target = TargetServer::start().await;
    target.set("/metrics", Reply::text("some_metric 1\n"));
    let port = port_of(&target);
    for s in 0..MONITORS {
        let app = format!("svc-{s:04}");
        let mut addresses = Vec::new();
        for p in 0..PODS_PER_SERVICE {
            let pod = format!("{app}-{p}");
            api.apply(
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod, "namespace": "apps", "uid": format!("uid-{pod}"),
                        "labels": {"app": app, "pod-template-hash": "5d8f7c9b4"}},
                    "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "web:1",
                        "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
                    "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "10.0.0.1"}}),
            );
            addresses.push(json!({"ip": "127.0.0.1", "nodeName": "node-1",
                "targetRef": {"kind": "Pod", "name": pod, "namespace": "apps"}}));
        }
        api.apply(
            "services",
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": app, "namespace": "apps", "labels": {"app": app}},
                "spec": {"type": "ClusterIP", "ports": [{"name": "metrics", "port": port}]}}),
        );
        api.apply(
            "endpoints",
            json!({"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": app, "namespace": "apps", "labels": {"app": app}},
                "subsets": [{"addresses": addresses, "ports": [{"name": "metrics", "port": port}]}]}),
        );
        api.apply(
            "servicemonitors",
            json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": {"name": app, "namespace": "apps", "labels": {"team": "a"}},
                "spec": {"selector": {"matchLabels": {"app": app}},
                    "endpoints": [{"port": "metrics", "interval": "60s"}]}}),
        );
    }
    let mut shoal = Shoal::start(&config(&api, &receiver)).await;
    // Every pod scraped: read from the receiver, not from shoal's API or /metrics, whose
    // answers (2,000 jobs) would dominate the peak being measured.
    let all = common::wait_for(Duration::from_secs(300), || {
        let pods: std::collections::BTreeSet<String> = receiver
            .samples()
            .into_iter()
            .filter(|s| s.name() == "up" && s.value == 1.0)
            .filter_map(|s| s.get("pod").map(str::to_string))
            .collect();
        pods.len() == MONITORS * PODS_PER_SERVICE
    })
    .await;
    assert!(all, "not every pod was scraped; log:\n{}", shoal.log_tail());
    let hwm = vm_kib(shoal.pid(), "VmHWM:");
    let rss = vm_kib(shoal.pid(), "VmRSS:");
    println!(
        "RssAnon {:.1} MiB, RssFile {:.1} MiB, threads {}",
        vm_kib(shoal.pid(), "RssAnon:") as f64 / 1024.0,
        vm_kib(shoal.pid(), "RssFile:") as f64 / 1024.0,
        vm_kib(shoal.pid(), "Threads:")
    );
    let accepted = metric_sum(
        &shoal,
        "shoal_operator_objects{kind=\"ServiceMonitor\",state=\"accepted\"}",
    )
    .await;
    println!(
        "{MONITORS} ServiceMonitors ({accepted} accepted), {} targets: VmHWM {:.1} MiB, VmRSS {:.1} MiB",
        MONITORS * PODS_PER_SERVICE,
        hwm as f64 / 1024.0,
        rss as f64 / 1024.0
    );
    assert!(hwm < 150 * 1024, "peak RSS {hwm} KiB is over 150 MiB");
    shoal.stop().await;
}

/// The other roles and selectors: a ServiceMonitor on the EndpointSlice role (the block's
/// default) by targetPort number in a `matchNames` namespace, a PodMonitor over any
/// namespace, and a Probe of ingress targets; objects read from every namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpointslice_role_target_port_any_namespace_and_ingress_probes() {
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let api_target = TargetServer::start().await;
    api_target.set("/metrics", Reply::text("a 1\n"));
    let worker = TargetServer::start().await;
    worker.set("/metrics", Reply::text("w 1\n"));
    let prober = TargetServer::start().await;
    prober.set("/probe", Reply::text("probe_success 1\n"));
    let (p_api, p_worker) = (port_of(&api_target), port_of(&worker));
    for (ns, team) in [("apps", "a"), ("other", "b")] {
        api.apply(
            "namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": team}}}),
        );
    }
    let pod = |ns: &str, name: &str, app: &str, port: u16, port_name: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": {"app": app}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "x:1",
                "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "10.0.0.1"}})
    };
    api.apply("pods", pod("other", "api-0", "api", p_api, "web"));
    api.apply(
        "pods",
        pod("apps", "worker-0", "worker", p_worker, "metrics"),
    );
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "other", "labels": {"app": "api"}},
            "spec": {"type": "ClusterIP", "ports": [{"name": "web", "port": 80, "targetPort": p_api}]}}),
    );
    api.apply(
        "endpointslices",
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "api-x1", "namespace": "other", "labels": {"kubernetes.io/service-name": "api"}},
            "addressType": "IPv4",
            "ports": [{"name": "web", "port": p_api, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": true},
                "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": "api-0", "namespace": "other"}}]}),
    );
    api.apply(
        "ingresses",
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "site", "namespace": "apps", "labels": {"app": "site"}},
            "spec": {"rules": [{"host": "site.example", "http": {"paths": [
                {"path": "/health", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}}),
    );
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "api", "namespace": "apps"},
            "spec": {"selector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "other"]}]},
                "namespaceSelector": {"matchNames": ["other"]},
                "endpoints": [{"targetPort": p_api, "interval": "1s"}]}}),
    );
    api.apply(
        "podmonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
            "metadata": {"name": "workers", "namespace": "other"},
            "spec": {"selector": {"matchLabels": {"app": "worker"}}, "namespaceSelector": {"any": true},
                "podMetricsEndpoints": [{"port": "metrics", "interval": "1s"}]}}),
    );
    api.apply(
        "probes",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe",
            "metadata": {"name": "sites", "namespace": "apps"},
            "spec": {"prober": {"url": prober.addr()}, "module": "http_2xx", "interval": "1s",
                "targets": {"ingress": {"selector": {"matchLabels": {"app": "site"}}}}}}),
    );
    let cfg = format!(
        r#"global:
  scrape_interval: 1s
prometheus_operator:
  api_server: {api}
  namespace: apps
  service_discovery_role: endpointslice
  service_monitor_selector: {{}}
  service_monitor_namespace_selector: {{}}
  pod_monitor_selector: {{}}
  pod_monitor_namespace_selector: {{matchLabels: {{team: b}}}}
  probe_selector: {{}}
remote_write:
  - url: {rw}
"#,
        api = api.url(),
        rw = receiver.url()
    );
    let mut shoal = Shoal::start(&cfg).await;
    let a = shoal
        .wait_target(
            "serviceMonitor/apps/api/0",
            &p_api.to_string(),
            START,
            "up",
            |t| t["health"] == "up",
        )
        .await;
    assert_eq!(
        a["labels"],
        json!({"instance": format!("127.0.0.1:{p_api}"), "job": "api", "namespace": "other",
            "service": "api", "pod": "api-0", "container": "app", "endpoint": p_api.to_string()}),
        "{a}"
    );
    assert_eq!(
        a["discoveredLabels"]["__meta_kubernetes_endpointslice_name"], "api-x1",
        "{a}"
    );
    let w = shoal
        .wait_target(
            "podMonitor/other/workers/0",
            &p_worker.to_string(),
            START,
            "up",
            |t| t["health"] == "up",
        )
        .await;
    assert_eq!(
        w["labels"],
        json!({"instance": format!("127.0.0.1:{p_worker}"), "job": "other/workers",
            "namespace": "apps", "pod": "worker-0", "container": "app", "endpoint": "metrics"}),
        "{w}"
    );
    let p = shoal
        .wait_target("probe/apps/sites", "site.example", START, "up", |t| {
            t["health"] == "up"
        })
        .await;
    assert_eq!(
        p["labels"],
        json!({"instance": "http://site.example/health", "job": "probe/apps/sites",
            "namespace": "apps", "ingress": "site"}),
        "{p}"
    );
    assert!(
        p["scrapeUrl"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://{}/probe?", prober.addr())),
        "{p}"
    );
    shoal.stop().await;
}
