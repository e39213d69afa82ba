//! `kubernetes_sd_configs` against a local API server that speaks the list/watch protocol
//! (tests/common/kube_api.rs): exact label sets per role, as Prometheus' code produces them,
//! and the watch behaviour (410 Gone → relist, dropped watch → resume, selectors reach the
//! server, equal configs share one watch).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

#[path = "kubernetes/attach.rs"]
mod attach;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::kube_api::KubeApi;
use serde_json::{Value, json};
use shoal::config::KubernetesSdConfig;
use shoal::discovery::kubernetes::{KubernetesProvider, Registry};
use shoal::discovery::{
    CancelHandle, DiscoveryMetrics, Provider, SharedGroups, TargetGroup, cancel_pair,
};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

type Labels = BTreeMap<String, String>;

/// A sent group with its label sets as maps, for readable assertions.
#[derive(Clone, Debug)]
struct Group {
    source: String,
    targets: Vec<Labels>,
    labels: Labels,
}

impl From<&TargetGroup> for Group {
    fn from(g: &TargetGroup) -> Self {
        Group {
            source: g.source.clone(),
            targets: g.targets.iter().map(|t| t.to_map()).collect(),
            labels: g.labels.to_map(),
        }
    }
}

/// Parses one kubernetes_sd_configs entry through the real config loader.
fn sd_config(api: &KubeApi, body: &str) -> KubernetesSdConfig {
    let text = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - api_server: {}\n{}",
        api.url(),
        body.lines()
            .map(|l| format!("        {l}\n"))
            .collect::<String>()
    );
    let cfg = shoal::config::load_str(&text, Path::new("t.yml")).unwrap();
    cfg.scrape_configs[0].kubernetes_sd_configs[0].clone()
}

/// A running provider and the groups it sent last.
struct Discovery {
    rx: mpsc::Receiver<SharedGroups>,
    last: Option<Vec<Group>>,
    _cancel: CancelHandle,
}

impl Discovery {
    fn start(cfg: &KubernetesSdConfig, registry: &Registry) -> Discovery {
        let metrics = DiscoveryMetrics::default();
        let p = KubernetesProvider::new(cfg, registry, &metrics).unwrap();
        let (tx, rx) = mpsc::channel(16);
        let (handle, cancel) = cancel_pair();
        tokio::spawn(Box::new(p).run(tx, cancel));
        Discovery {
            rx,
            last: None,
            _cancel: handle,
        }
    }

    /// Waits until the latest send satisfies `cond`; panics with the last send otherwise.
    async fn until(&mut self, what: &str, cond: impl Fn(&[Group]) -> bool) -> Vec<Group> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(l) = &self.last
                && cond(l)
            {
                return l.clone();
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(g)) => self.last = Some(g.iter().map(|g| Group::from(&**g)).collect()),
                _ => panic!("timed out waiting for {what}; last: {:#?}", self.last),
            }
        }
    }
}

/// Every target with its group's labels merged in (target labels win), sorted.
fn flatten(groups: &[Group]) -> Vec<Labels> {
    let mut out: Vec<Labels> = groups
        .iter()
        .flat_map(|g| {
            g.targets.iter().map(|t| {
                let mut l = g.labels.clone();
                l.extend(t.clone());
                l
            })
        })
        .collect();
    out.sort();
    out
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| {
            let k = if k.starts_with("__") || *k == "instance" {
                k.to_string()
            } else {
                format!("__meta_kubernetes_{k}")
            };
            (k, v.to_string())
        })
        .collect()
}

fn assert_targets(groups: &[Group], mut want: Vec<Labels>) {
    want.sort();
    let got = flatten(groups);
    if got != want {
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if g != w {
                let missing: Vec<_> = w.iter().filter(|(k, v)| g.get(*k) != Some(v)).collect();
                let extra: Vec<_> = g.iter().filter(|(k, v)| w.get(*k) != Some(v)).collect();
                panic!(
                    "target {i} differs:\n  missing/different: {missing:?}\n  extra/different: {extra:?}"
                );
            }
        }
        panic!("{} targets, want {}: {got:#?}", got.len(), want.len());
    }
}

fn pod(ns: &str, name: &str, ip: &str, ready: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "labels": {"app.kubernetes.io/name": "web", "tier": ""},
            "annotations": {"prometheus.io/scrape": "true"},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-5d8f", "uid": "x", "controller": true},
                {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "y"}
            ],
            "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsV1": {"f:metadata": {}}}]
        },
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {"name": "app", "image": "web:1", "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"containerPort": 9090, "protocol": "UDP"}
                ], "env": [{"name": "X", "value": "big"}]},
                {"name": "sidecar", "image": "side:2"}
            ],
            "initContainers": [
                {"name": "init", "image": "init:3", "ports": [{"name": "i", "containerPort": 7000, "protocol": "TCP"}]}
            ]
        },
        "status": {
            "phase": "Running", "podIP": ip, "hostIP": "192.168.0.1",
            "podIPs": [{"ip": ip}, {"ip": "fd00::5"}],
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": ready}],
            "containerStatuses": [{"name": "app", "containerID": "containerd://abc", "image": "web:1", "imageID": "", "ready": true, "restartCount": 0}],
            "initContainerStatuses": []
        }
    })
}

/// Labels every target of `pod(...)` shares (pod-level labels).
fn pod_common(name: &str, ip: &str, ready: &str) -> Vec<(String, String)> {
    labels(&[
        ("namespace", "default"),
        ("pod_name", name),
        ("pod_ip", ip),
        ("pod_ready", ready),
        ("pod_phase", "Running"),
        ("pod_node_name", "node-1"),
        ("pod_host_ip", "192.168.0.1"),
        ("pod_uid", &format!("uid-{name}")),
        ("pod_label_app_kubernetes_io_name", "web"),
        ("pod_labelpresent_app_kubernetes_io_name", "true"),
        ("pod_labelpresent_tier", "true"),
        ("pod_annotation_prometheus_io_scrape", "true"),
        ("pod_annotationpresent_prometheus_io_scrape", "true"),
        ("pod_controller_kind", "ReplicaSet"),
        ("pod_controller_name", "web-5d8f"),
    ])
    .into_iter()
    .collect()
}

fn with(common: &[(String, String)], extra: &[(&str, &str)]) -> Labels {
    let mut l: Labels = common.iter().cloned().collect();
    l.extend(labels(extra));
    l
}

#[tokio::test]
async fn pod_role_targets_appear_change_and_disappear_with_prometheus_labels() {
    let api = KubeApi::start().await;
    api.apply("pods", pod("default", "web-1", "10.0.0.1", "True"));
    // No IP yet: no targets (Prometheus sends an empty group).
    api.apply("pods", {
        let mut p = pod("default", "pending", "", "False");
        p["status"].as_object_mut().unwrap().remove("podIPs");
        p
    });
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: pod"), &registry);
    let groups = d.until("pod targets", |g| !g.is_empty()).await;
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0].source, "pod/default/web-1");
    let c = pod_common("web-1", "10.0.0.1", "true");
    let cont = [
        ("pod_container_image", "web:1"),
        ("pod_container_name", "app"),
        ("pod_container_id", "containerd://abc"),
        ("pod_container_init", "false"),
    ];
    let want = |c: &[(String, String)]| {
        vec![
            with(
                c,
                &[
                    &cont[..],
                    &[
                        ("__address__", "10.0.0.1:8080"),
                        ("pod_container_port_name", "http"),
                        ("pod_container_port_number", "8080"),
                        ("pod_container_port_protocol", "TCP"),
                    ],
                ]
                .concat(),
            ),
            with(
                c,
                &[
                    &cont[..],
                    &[
                        ("__address__", "10.0.0.1:9090"),
                        ("pod_container_port_number", "9090"),
                        ("pod_container_port_protocol", "UDP"),
                    ],
                ]
                .concat(),
            ),
            with(
                c,
                &[
                    ("__address__", "10.0.0.1"),
                    ("pod_container_name", "sidecar"),
                    ("pod_container_image", "side:2"),
                    ("pod_container_init", "false"),
                ],
            ),
            with(
                c,
                &[
                    ("__address__", "10.0.0.1:7000"),
                    ("pod_container_name", "init"),
                    ("pod_container_image", "init:3"),
                    ("pod_container_init", "true"),
                    ("pod_container_port_name", "i"),
                    ("pod_container_port_number", "7000"),
                    ("pod_container_port_protocol", "TCP"),
                ],
            ),
        ]
    };
    assert_targets(&groups, want(&c));

    // Change: the pod becomes unready.
    api.apply("pods", pod("default", "web-1", "10.0.0.1", "False"));
    let groups = d
        .until("unready", |g| {
            flatten(g)
                .iter()
                .all(|t| t.get("__meta_kubernetes_pod_ready").map(String::as_str) == Some("false"))
                && !g.is_empty()
        })
        .await;
    assert_targets(&groups, want(&pod_common("web-1", "10.0.0.1", "false")));

    // Disappear.
    api.delete("pods", "default", "web-1");
    d.until("no pods", |g| g.is_empty()).await;
}

#[tokio::test]
async fn pod_role_attach_metadata_node_and_ipv6_portless() {
    let api = KubeApi::start().await;
    api.apply("nodes", node("node-1"));
    let mut p = pod("default", "v6", "fd00::7", "True");
    p["spec"]["containers"] = json!([{"name": "only", "image": "x"}]);
    p["spec"]["initContainers"] = json!([]);
    p["status"]["podIPs"] = json!([{"ip": "fd00::7"}]);
    api.apply("pods", p);
    let registry = Registry::default();
    let mut d = Discovery::start(
        &sd_config(&api, "role: pod\nattach_metadata: {node: true}"),
        &registry,
    );
    let groups = d.until("pod", |g| !g.is_empty()).await;
    let mut c: Labels = pod_common("v6", "fd00::7", "true").into_iter().collect();
    c.extend(labels(&[
        ("node_name", "node-1"),
        ("node_label_topology_kubernetes_io_zone", "z1"),
        ("node_labelpresent_topology_kubernetes_io_zone", "true"),
        ("node_annotation_node_alpha_kubernetes_io_ttl", "0"),
        (
            "node_annotationpresent_node_alpha_kubernetes_io_ttl",
            "true",
        ),
    ]));
    let c: Vec<(String, String)> = c.into_iter().collect();
    assert_targets(
        &groups,
        vec![with(
            &c,
            &[
                ("__address__", "fd00::7"),
                ("pod_container_name", "only"),
                ("pod_container_image", "x"),
                ("pod_container_init", "false"),
            ],
        )],
    );
}

#[tokio::test]
async fn pod_role_node_selectors_leave_out_pods_on_other_nodes() {
    let api = KubeApi::start().await;
    api.apply("nodes", node("node-1"));
    let mut other = node("node-2");
    other["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("z2");
    api.apply("nodes", other);
    api.apply("pods", pod("default", "on-1", "10.0.0.1", "True"));
    let mut on_2 = pod("default", "on-2", "10.0.0.2", "True");
    on_2["spec"]["nodeName"] = json!("node-2");
    api.apply("pods", on_2);
    let cfg = sd_config(
        &api,
        "role: pod\nattach_metadata: {node: true}\nselectors: [{role: node, label: topology.kubernetes.io/zone=z1}]",
    );
    let registry = Registry::default();
    let mut d = Discovery::start(&cfg, &registry);
    d.until("only the pod on node-1", |g| {
        names(g) == ["pod/default/on-1"]
    })
    .await;
    let nodes: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.plural == "nodes")
        .collect();
    assert!(!nodes.is_empty());
    assert!(
        nodes
            .iter()
            .all(|r| r.label_selector == "topology.kubernetes.io/zone=z1"),
        "{nodes:?}"
    );
    // The node joins the selection: its pod appears.
    let mut moved = node("node-2");
    moved["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("z1");
    api.apply("nodes", moved);
    d.until("both pods", |g| {
        names(g) == ["pod/default/on-1", "pod/default/on-2"]
    })
    .await;
}

fn node(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": "n-uid",
            "labels": {"topology.kubernetes.io/zone": "z1"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"providerID": "aws:///z1/i-1"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "ip-1.internal"},
                {"type": "InternalIP", "address": "10.1.0.1"},
                {"type": "InternalIP", "address": "10.1.0.2"},
                {"type": "ExternalIP", "address": "3.3.3.3"}
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "conditions": [
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-01-01T00:00:00Z"},
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Network-Unavailable", "status": "Unknown"}
            ],
            "images": [{"names": ["a-very-large-image-list"], "sizeBytes": 1}]
        }
    })
}

#[tokio::test]
async fn node_role_uses_kubelet_port_and_address_labels() {
    let api = KubeApi::start().await;
    api.apply("nodes", node("node-1"));
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: node"), &registry);
    let groups = d.until("node", |g| !g.is_empty()).await;
    assert_eq!(groups[0].source, "node/node-1");
    assert_targets(
        &groups,
        vec![labels(&[
            ("__address__", "10.1.0.1:10250"),
            ("instance", "node-1"),
            ("node_name", "node-1"),
            ("node_provider_id", "aws:///z1/i-1"),
            ("node_condition_ready", "true"),
            ("node_condition_memorypressure", "false"),
            ("node_condition_network_unavailable", "unknown"),
            ("node_label_topology_kubernetes_io_zone", "z1"),
            ("node_labelpresent_topology_kubernetes_io_zone", "true"),
            ("node_annotation_node_alpha_kubernetes_io_ttl", "0"),
            (
                "node_annotationpresent_node_alpha_kubernetes_io_ttl",
                "true",
            ),
            ("node_address_Hostname", "ip-1.internal"),
            ("node_address_InternalIP", "10.1.0.1"),
            ("node_address_ExternalIP", "3.3.3.3"),
        ])],
    );
    api.delete("nodes", "", "node-1");
    d.until("node gone", |g| g.is_empty()).await;
}

fn service(name: &str, ty: &str) -> Value {
    let mut spec = json!({"type": ty, "ports": [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
        {"port": 9090, "protocol": "TCP"}
    ]});
    match ty {
        "ExternalName" => spec["externalName"] = json!("db.example.com"),
        "LoadBalancer" => {
            spec["clusterIP"] = json!("10.96.0.11");
            spec["loadBalancerIP"] = json!("1.2.3.4");
        }
        _ => spec["clusterIP"] = json!("10.96.0.10"),
    }
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "uid": format!("s-{name}"),
            "labels": {"app": name}, "annotations": {"prometheus.io/port": "80"}},
        "spec": spec
    })
}

fn svc_common(name: &str) -> Vec<(String, String)> {
    labels(&[
        ("namespace", "default"),
        ("service_name", name),
        ("service_label_app", name),
        ("service_labelpresent_app", "true"),
        ("service_annotation_prometheus_io_port", "80"),
        ("service_annotationpresent_prometheus_io_port", "true"),
    ])
    .into_iter()
    .collect()
}

#[tokio::test]
async fn service_role_targets_per_port_and_type() {
    let api = KubeApi::start().await;
    api.apply("services", service("web", "ClusterIP"));
    api.apply("services", service("ext", "ExternalName"));
    api.apply("services", service("lb", "LoadBalancer"));
    // The addresses in status win over the deprecated spec.loadBalancerIP (Prometheus main,
    // after 3.14); entries without an IP are skipped.
    let mut lb2 = service("lb2", "LoadBalancer");
    lb2["spec"]["ports"] = json!([{"port": 443, "protocol": "TCP"}]);
    lb2["status"] = json!({"loadBalancer": {"ingress": [
        {"ip": "5.6.7.8"}, {"hostname": "x.elb.example"}, {"ip": "5.6.7.9"}
    ]}});
    api.apply("services", lb2);
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: service"), &registry);
    let groups = d.until("services", |g| g.len() == 4).await;
    let mut sources: Vec<_> = groups.iter().map(|g| g.source.clone()).collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            "svc/default/ext",
            "svc/default/lb",
            "svc/default/lb2",
            "svc/default/web"
        ]
    );
    let (w, e, l) = (svc_common("web"), svc_common("ext"), svc_common("lb"));
    assert_targets(
        &groups,
        vec![
            with(
                &w,
                &[
                    ("__address__", "web.default.svc:80"),
                    ("service_port_name", "http"),
                    ("service_port_number", "80"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "ClusterIP"),
                    ("service_cluster_ip", "10.96.0.10"),
                ],
            ),
            with(
                &w,
                &[
                    ("__address__", "web.default.svc:9090"),
                    ("service_port_number", "9090"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "ClusterIP"),
                    ("service_cluster_ip", "10.96.0.10"),
                ],
            ),
            with(
                &e,
                &[
                    ("__address__", "ext.default.svc:80"),
                    ("service_port_name", "http"),
                    ("service_port_number", "80"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "ExternalName"),
                    ("service_external_name", "db.example.com"),
                ],
            ),
            with(
                &e,
                &[
                    ("__address__", "ext.default.svc:9090"),
                    ("service_port_number", "9090"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "ExternalName"),
                    ("service_external_name", "db.example.com"),
                ],
            ),
            with(
                &l,
                &[
                    ("__address__", "lb.default.svc:80"),
                    ("service_port_name", "http"),
                    ("service_port_number", "80"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "LoadBalancer"),
                    ("service_cluster_ip", "10.96.0.11"),
                    ("service_loadbalancer_ip", "1.2.3.4"),
                ],
            ),
            with(
                &l,
                &[
                    ("__address__", "lb.default.svc:9090"),
                    ("service_port_number", "9090"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "LoadBalancer"),
                    ("service_cluster_ip", "10.96.0.11"),
                    ("service_loadbalancer_ip", "1.2.3.4"),
                ],
            ),
            with(
                &svc_common("lb2"),
                &[
                    ("__address__", "lb2.default.svc:443"),
                    ("service_port_number", "443"),
                    ("service_port_protocol", "TCP"),
                    ("service_type", "LoadBalancer"),
                    ("service_cluster_ip", "10.96.0.11"),
                    ("service_loadbalancer_ip", "5.6.7.8,5.6.7.9"),
                ],
            ),
        ],
    );
    api.delete("services", "default", "ext");
    d.until("ext gone", |g| g.len() == 3).await;
}

fn slice() -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "default", "uid": "es-1",
            "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}],
        "endpoints": [
            {"addresses": ["10.0.0.1"], "conditions": {"ready": true, "serving": true, "terminating": false},
             "hostname": "web-1", "nodeName": "node-1", "zone": "z1",
             "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default", "uid": "uid-web-1"}},
            {"addresses": ["10.0.0.9"], "conditions": {"ready": false},
             "targetRef": {"kind": "Node", "name": "node-1"}}
        ]
    })
}

#[tokio::test]
async fn endpointslice_role_labels_with_service_pod_and_node() {
    let api = KubeApi::start().await;
    api.apply("services", service("web", "ClusterIP"));
    api.apply("pods", pod("default", "web-1", "10.0.0.1", "True"));
    api.apply("nodes", node("node-1"));
    api.apply("endpointslices", slice());
    let registry = Registry::default();
    let mut d = Discovery::start(
        &sd_config(&api, "role: endpointslice\nattach_metadata: {node: true}"),
        &registry,
    );
    let groups = d.until("slice", |g| !g.is_empty()).await;
    assert_eq!(groups[0].source, "endpointslice/default/web-abc");
    let mut group: Labels = svc_common("web").into_iter().collect();
    group.extend(labels(&[
        ("endpointslice_address_type", "IPv4"),
        ("endpointslice_name", "web-abc"),
        ("endpointslice_label_kubernetes_io_service_name", "web"),
        (
            "endpointslice_labelpresent_kubernetes_io_service_name",
            "true",
        ),
    ]));
    let node_l = labels(&[
        ("node_name", "node-1"),
        ("node_label_topology_kubernetes_io_zone", "z1"),
        ("node_labelpresent_topology_kubernetes_io_zone", "true"),
        ("node_annotation_node_alpha_kubernetes_io_ttl", "0"),
        (
            "node_annotationpresent_node_alpha_kubernetes_io_ttl",
            "true",
        ),
    ]);
    let port = labels(&[
        ("endpointslice_port_name", "http"),
        ("endpointslice_port_protocol", "TCP"),
        ("endpointslice_port", "8080"),
        ("endpointslice_port_app_protocol", "http"),
    ]);
    let mut pod_l: Labels = pod_common("web-1", "10.0.0.1", "true")
        .into_iter()
        .collect();
    pod_l.remove("__meta_kubernetes_namespace");
    let mut t1 = group.clone();
    t1.extend(port.clone());
    t1.extend(node_l.clone());
    t1.extend(pod_l.clone());
    t1.extend(labels(&[
        ("__address__", "10.0.0.1:8080"),
        ("endpointslice_endpoint_conditions_ready", "true"),
        ("endpointslice_endpoint_conditions_serving", "true"),
        ("endpointslice_endpoint_conditions_terminating", "false"),
        ("endpointslice_endpoint_hostname", "web-1"),
        ("endpointslice_endpoint_node_name", "node-1"),
        ("endpointslice_endpoint_zone", "z1"),
        ("endpointslice_address_target_kind", "Pod"),
        ("endpointslice_address_target_name", "web-1"),
        ("pod_container_name", "app"),
        ("pod_container_image", "web:1"),
        ("pod_container_port_name", "http"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "false"),
    ]));
    let mut t2 = group.clone();
    t2.extend(port);
    t2.extend(node_l);
    t2.extend(labels(&[
        ("__address__", "10.0.0.9:8080"),
        ("endpointslice_endpoint_conditions_ready", "false"),
        ("endpointslice_address_target_kind", "Node"),
        ("endpointslice_address_target_name", "node-1"),
    ]));
    // The pod's container port 9090 is not covered by the slice: its own target.
    let mut t3 = group.clone();
    t3.extend(pod_l.clone());
    t3.extend(labels(&[
        ("__address__", "10.0.0.1:9090"),
        ("pod_container_name", "app"),
        ("pod_container_image", "web:1"),
        ("pod_container_port_number", "9090"),
        ("pod_container_port_protocol", "UDP"),
        ("pod_container_init", "false"),
    ]));
    // So is the init container's port.
    let mut t4 = group.clone();
    t4.extend(pod_l);
    t4.extend(labels(&[
        ("__address__", "10.0.0.1:7000"),
        ("pod_container_name", "init"),
        ("pod_container_image", "init:3"),
        ("pod_container_port_name", "i"),
        ("pod_container_port_number", "7000"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "true"),
    ]));
    assert_targets(&groups, vec![t1, t2, t3, t4]);

    // A change of the service shows on the slice's group.
    let mut s = service("web", "ClusterIP");
    s["metadata"]["labels"]["app"] = json!("web2");
    api.apply("services", s);
    d.until("service label", |g| {
        g.first().is_some_and(|g| {
            g.labels
                .get("__meta_kubernetes_service_label_app")
                .map(String::as_str)
                == Some("web2")
        })
    })
    .await;
    api.delete("endpointslices", "default", "web-abc");
    d.until("slice gone", |g| g.is_empty()).await;
}

#[tokio::test]
async fn endpointslice_role_skips_secondary_family_of_dual_stack_service() {
    let api = KubeApi::start().await;
    let mut svc = service("web", "ClusterIP");
    svc["spec"]["ipFamilyPolicy"] = json!("PreferDualStack");
    svc["spec"]["ipFamilies"] = json!(["IPv6", "IPv4"]);
    api.apply("services", svc);
    let mut v4 = slice();
    v4["endpoints"] = json!([{"addresses": ["10.0.0.9"]}]);
    api.apply("endpointslices", v4);
    let mut v6 = slice();
    v6["metadata"]["name"] = json!("web-v6");
    v6["addressType"] = json!("IPv6");
    v6["endpoints"] = json!([{"addresses": ["fd00::9"]}]);
    api.apply("endpointslices", v6);
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: endpointslice"), &registry);
    let groups = d.until("both slices", |g| g.len() == 2).await;
    // The IPv4 slice is the secondary family's: its group keeps its labels, no targets.
    let v4 = groups
        .iter()
        .find(|g| g.source == "endpointslice/default/web-abc")
        .unwrap();
    assert!(v4.targets.is_empty(), "{v4:#?}");
    assert_eq!(v4.labels["__meta_kubernetes_service_name"], "web");
    let mut want: Labels = svc_common("web").into_iter().collect();
    want.extend(labels(&[
        ("__address__", "[fd00::9]:8080"),
        ("endpointslice_address_type", "IPv6"),
        ("endpointslice_name", "web-v6"),
        ("endpointslice_label_kubernetes_io_service_name", "web"),
        (
            "endpointslice_labelpresent_kubernetes_io_service_name",
            "true",
        ),
        ("endpointslice_port_name", "http"),
        ("endpointslice_port_protocol", "TCP"),
        ("endpointslice_port", "8080"),
        ("endpointslice_port_app_protocol", "http"),
    ]));
    assert_targets(&groups, vec![want]);
}

fn endpoints() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "subsets": [{
            "addresses": [{"ip": "10.0.0.1", "nodeName": "node-1", "hostname": "h1",
                "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}],
            "notReadyAddresses": [{"ip": "10.0.0.2"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
        }]
    })
}

#[tokio::test]
async fn endpoints_role_labels() {
    let api = KubeApi::start().await;
    api.apply("services", service("web", "ClusterIP"));
    api.apply("pods", pod("default", "web-1", "10.0.0.1", "True"));
    api.apply("endpoints", endpoints());
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: endpoints"), &registry);
    let groups = d.until("endpoints", |g| !g.is_empty()).await;
    assert_eq!(groups[0].source, "endpoints/default/web");
    let mut group: Labels = svc_common("web").into_iter().collect();
    group.extend(labels(&[
        ("endpoints_name", "web"),
        ("endpoints_label_app", "web"),
        ("endpoints_labelpresent_app", "true"),
    ]));
    let mut pod_l: Labels = pod_common("web-1", "10.0.0.1", "true")
        .into_iter()
        .collect();
    pod_l.remove("__meta_kubernetes_namespace");
    let port = labels(&[
        ("endpoint_port_name", "http"),
        ("endpoint_port_protocol", "TCP"),
    ]);
    let mut t1 = group.clone();
    t1.extend(port.clone());
    t1.extend(pod_l.clone());
    t1.extend(labels(&[
        ("__address__", "10.0.0.1:8080"),
        ("endpoint_ready", "true"),
        ("endpoint_node_name", "node-1"),
        ("endpoint_hostname", "h1"),
        ("endpoint_address_target_kind", "Pod"),
        ("endpoint_address_target_name", "web-1"),
        ("pod_container_name", "app"),
        ("pod_container_image", "web:1"),
        ("pod_container_port_name", "http"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "false"),
    ]));
    let mut t2 = group.clone();
    t2.extend(port);
    t2.extend(labels(&[
        ("__address__", "10.0.0.2:8080"),
        ("endpoint_ready", "false"),
    ]));
    let mut t3 = group.clone();
    t3.extend(pod_l.clone());
    t3.extend(labels(&[
        ("__address__", "10.0.0.1:9090"),
        ("pod_container_name", "app"),
        ("pod_container_image", "web:1"),
        ("pod_container_port_number", "9090"),
        ("pod_container_port_protocol", "UDP"),
        ("pod_container_init", "false"),
    ]));
    // So is the init container's port.
    let mut t4 = group.clone();
    t4.extend(pod_l);
    t4.extend(labels(&[
        ("__address__", "10.0.0.1:7000"),
        ("pod_container_name", "init"),
        ("pod_container_image", "init:3"),
        ("pod_container_port_name", "i"),
        ("pod_container_port_number", "7000"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "true"),
    ]));
    assert_targets(&groups, vec![t1, t2, t3, t4]);
}

fn ingress() -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "site", "namespace": "default", "annotations": {"a/b": "c"}},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["secure.example.com"]}, {"hosts": ["*.internal.example.test"]}],
            "rules": [
                {"host": "secure.example.com", "http": {"paths": [
                    {"path": "/api", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}},
                    {"pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}
                ]}},
                {"host": "plain.example.com"},
                {"host": "admin.internal.example.test"},
                {"host": "a.b.internal.example.test"}
            ]
        }
    })
}

#[tokio::test]
async fn ingress_role_labels() {
    let api = KubeApi::start().await;
    api.apply("ingresses", ingress());
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: ingress"), &registry);
    let groups = d.until("ingress", |g| !g.is_empty()).await;
    assert_eq!(groups[0].source, "ingress/default/site");
    let g: Vec<(String, String)> = labels(&[
        ("namespace", "default"),
        ("ingress_name", "site"),
        ("ingress_class_name", "nginx"),
        ("ingress_annotation_a_b", "c"),
        ("ingress_annotationpresent_a_b", "true"),
    ])
    .into_iter()
    .collect();
    assert_targets(
        &groups,
        vec![
            with(
                &g,
                &[
                    ("__address__", "secure.example.com"),
                    ("ingress_scheme", "https"),
                    ("ingress_host", "secure.example.com"),
                    ("ingress_path", "/api"),
                ],
            ),
            with(
                &g,
                &[
                    ("__address__", "secure.example.com"),
                    ("ingress_scheme", "https"),
                    ("ingress_host", "secure.example.com"),
                    ("ingress_path", "/"),
                ],
            ),
            with(
                &g,
                &[
                    ("__address__", "plain.example.com"),
                    ("ingress_scheme", "http"),
                    ("ingress_host", "plain.example.com"),
                    ("ingress_path", "/"),
                ],
            ),
            // A wildcard TLS host covers exactly one more label (matchesHostnamePattern).
            with(
                &g,
                &[
                    ("__address__", "admin.internal.example.test"),
                    ("ingress_scheme", "https"),
                    ("ingress_host", "admin.internal.example.test"),
                    ("ingress_path", "/"),
                ],
            ),
            with(
                &g,
                &[
                    ("__address__", "a.b.internal.example.test"),
                    ("ingress_scheme", "http"),
                    ("ingress_host", "a.b.internal.example.test"),
                    ("ingress_path", "/"),
                ],
            ),
        ],
    );
}

fn names(groups: &[Group]) -> Vec<String> {
    let mut n: Vec<String> = groups.iter().map(|g| g.source.clone()).collect();
    n.sort();
    n
}

#[tokio::test]
async fn gone_410_relists_and_loses_no_update() {
    let api = KubeApi::start().await;
    api.apply("pods", pod("default", "a", "10.0.0.1", "True"));
    api.apply("pods", pod("default", "b", "10.0.0.2", "True"));
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: pod"), &registry);
    d.until("a and b", |g| {
        names(g) == ["pod/default/a", "pod/default/b"]
    })
    .await;
    assert!(common::wait_for(WAIT, || api.open_watches() == 1).await);
    // Changes the client never hears about as events: history is compacted and the watch
    // dropped, so resuming from its version gets 410 Gone and it must relist.
    api.pause_watches(true);
    api.delete("pods", "default", "a");
    api.apply("pods", pod("default", "c", "10.0.0.3", "True"));
    api.compact();
    api.drop_watches();
    api.pause_watches(false);
    d.until("b and c after relist", |g| {
        names(g) == ["pod/default/b", "pod/default/c"]
    })
    .await;
    assert!(api.gone_sent() >= 1, "no 410 was sent");
    assert!(api.count("list", "pods") >= 2, "no relist");
    // And the watch after the relist works.
    api.apply("pods", pod("default", "d", "10.0.0.4", "True"));
    d.until("d", |g| names(g).len() == 3).await;
}

#[tokio::test]
async fn dropped_watch_resumes_from_last_version() {
    let api = KubeApi::start().await;
    api.apply("pods", pod("default", "a", "10.0.0.1", "True"));
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: pod"), &registry);
    d.until("a", |g| names(g) == ["pod/default/a"]).await;
    assert!(common::wait_for(WAIT, || api.open_watches() == 1).await);
    api.pause_watches(true);
    api.apply("pods", pod("default", "b", "10.0.0.2", "True"));
    api.drop_watches();
    api.pause_watches(false);
    d.until("b after resume", |g| {
        names(g) == ["pod/default/a", "pod/default/b"]
    })
    .await;
    // Resumed, not relisted: the missed event came from the watch's history.
    assert_eq!(api.count("list", "pods"), 1);
    let watches: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.verb == "watch")
        .collect();
    assert!(watches.len() >= 2, "{watches:?}");
    assert!(watches.iter().all(|w| !w.resource_version.is_empty()));
}

#[tokio::test]
async fn selectors_and_namespaces_reach_the_server() {
    let api = KubeApi::start().await;
    let mut on_node = pod("team-a", "here", "10.0.0.1", "True");
    on_node["metadata"]["labels"]["tier"] = json!("front");
    api.apply("pods", on_node);
    let mut elsewhere = pod("team-a", "there", "10.0.0.2", "True");
    elsewhere["spec"]["nodeName"] = json!("node-2");
    elsewhere["metadata"]["labels"]["tier"] = json!("front");
    api.apply("pods", elsewhere);
    api.apply("pods", pod("team-b", "other-ns", "10.0.0.3", "True"));
    // SAFETY of the test: the variable is only read by this test's config load.
    unsafe { std::env::set_var("SHOAL_TEST_NODE_NAME", "node-1") };
    let cfg = sd_config(
        &api,
        "role: pod\nnamespaces: {names: [team-a]}\nselectors:\n  - role: pod\n    label: tier=front\n    field: spec.nodeName=${SHOAL_TEST_NODE_NAME}",
    );
    let registry = Registry::default();
    let mut d = Discovery::start(&cfg, &registry);
    d.until("only the pod on node-1", |g| {
        names(g) == ["pod/team-a/here"]
    })
    .await;
    let reqs = api.requests();
    assert!(!reqs.is_empty());
    for r in reqs.iter().filter(|r| r.plural == "pods") {
        assert_eq!(r.namespace.as_deref(), Some("team-a"), "{r:?}");
        assert_eq!(r.field_selector, "spec.nodeName=node-1", "{r:?}");
        assert_eq!(r.label_selector, "tier=front", "{r:?}");
    }
    // Paged lists: kube asks for chunks.
    assert!(reqs.iter().any(|r| r.verb == "list" && r.limit.is_some()));
}

#[tokio::test]
async fn list_is_chunked_with_continue() {
    let api = KubeApi::start().await;
    for i in 0..1201 {
        api.apply(
            "pods",
            pod(
                "default",
                &format!("p{i:04}"),
                &format!("10.1.{}.{}", i / 250, i % 250),
                "True",
            ),
        );
    }
    let registry = Registry::default();
    let mut d = Discovery::start(&sd_config(&api, "role: pod"), &registry);
    d.until("1201 pods", |g| g.len() == 1201).await;
    let lists: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.verb == "list")
        .collect();
    // Pages of 100 (bounds the decoded objects held at once): 12 x 100 + 1.
    assert_eq!(lists.len(), 13, "{lists:?}");
    assert_eq!(lists[0].limit, Some(100), "{lists:?}");
    assert!(lists[1].continue_token.contains(':'));
}

#[tokio::test]
async fn equal_configs_share_one_watch() {
    let api = KubeApi::start().await;
    api.apply("pods", pod("default", "a", "10.0.0.1", "True"));
    let yaml = format!(
        "scrape_configs:\n{}",
        ["one", "two"]
            .iter()
            .map(|j| format!("  - job_name: {j}\n    kubernetes_sd_configs:\n      - api_server: {}\n        role: pod\n", api.url()))
            .collect::<String>()
    );
    let cfg = shoal::config::load_str(&yaml, Path::new("t.yml")).unwrap();
    let manager = shoal::discovery::Manager::new(
        shoal::discovery::ManagerOptions {
            first_sync_wait: Duration::from_millis(100),
            update_interval: Duration::from_millis(100),
            ..Default::default()
        },
        DiscoveryMetrics::default(),
    );
    manager.apply_config(&cfg).unwrap();
    let mut rx = manager.subscribe();
    let ok = common::wait_for_async(WAIT, || {
        let done = rx
            .borrow_and_update()
            .values()
            .filter(|g| g.iter().map(|g| g.targets.len()).sum::<usize>() == 4)
            .count()
            == 2;
        async move { done }
    })
    .await;
    assert!(ok, "both jobs see the pod: {:?}", rx.borrow());
    assert_eq!(api.count("watch", "pods"), 1, "{:?}", api.requests());
    assert_eq!(api.count("list", "pods"), 1);
    // A reload that keeps one job keeps the watch.
    manager.apply_config(&cfg).unwrap();
    api.apply("pods", pod("default", "b", "10.0.0.2", "True"));
    let ok = common::wait_for_async(WAIT, || {
        let n = rx.borrow_and_update().get("two").map_or(0, |g| g.len());
        async move { n == 2 }
    })
    .await;
    assert!(ok);
    assert_eq!(api.count("watch", "pods"), 1);
}

#[test]
fn config_errors_match_prometheus() {
    let cases = [
        (
            "missing role",
            "- api_server: http://a\n",
            "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)",
        ),
        (
            "unknown role",
            "- role: pods\n",
            "unknown Kubernetes SD role \"pods\"",
        ),
        (
            "both servers",
            "- role: pod\n  api_server: http://a\n  kubeconfig_file: k.yml\n",
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "http without server",
            "- role: pod\n  bearer_token: x\n",
            "to use custom HTTP client configuration please provide the 'api_server' URL explicitly",
        ),
        (
            "http with kubeconfig",
            "- role: pod\n  kubeconfig_file: k.yml\n  tls_config: {insecure_skip_verify: true}\n",
            "cannot use a custom HTTP client configuration together with 'kubeconfig_file'",
        ),
        (
            "own ns with server",
            "- role: pod\n  api_server: http://a\n  namespaces: {own_namespace: true}\n",
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ),
        (
            "selector role",
            "- role: pod\n  selectors: [{role: service, label: a=b}]\n",
            "pod role supports only pod, node selectors",
        ),
        (
            "selector roles endpoints",
            "- role: endpoints\n  selectors: [{role: node}]\n",
            "endpoints role supports only pod, service, endpoints selectors",
        ),
        (
            "duplicate selector",
            "- role: endpointslice\n  selectors: [{role: pod}, {role: pod}]\n",
            "duplicated selector role: pod",
        ),
        (
            "unset variable",
            "- role: pod\n  selectors: [{role: pod, field: 'spec.nodeName=${SHOAL_SURELY_UNSET_VAR}'}]\n",
            "environment variable \"SHOAL_SURELY_UNSET_VAR\" used in a selector is empty or unset",
        ),
        (
            "unknown key",
            "- role: pod\n  rolee: x\n",
            "unknown field \"rolee\"",
        ),
        (
            "unknown attach_metadata key",
            "- role: pod\n  attach_metadata: {replicaset: true}\n",
            "unknown field \"replicaset\"",
        ),
    ];
    for (name, body, want) in cases {
        let text = format!(
            "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n{}",
            body.lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        );
        let err = shoal::config::load_str(&text, Path::new("t.yml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{name}: {err}");
        assert!(err.starts_with("t.yml:"), "{name}: no position: {err}");
        let line: usize = err
            .split(':')
            .nth(1)
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        assert!(line >= 3, "{name}: line {line}: {err}");
    }
    // A full valid entry round-trips its fields.
    let ok = "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: endpointslice\n        api_server: https://k8s:6443\n        authorization: {credentials_file: /var/run/token}\n        tls_config: {ca_file: /ca.crt}\n        namespaces: {names: [a, b]}\n        selectors: [{role: service, label: 'app in (x,y)'}]\n        attach_metadata: {node: true, namespace: true, deployment: true, job: true, cronjob: true}\n";
    let cfg = shoal::config::load_str(ok, Path::new("/etc/t.yml")).unwrap();
    let k = &cfg.scrape_configs[0].kubernetes_sd_configs[0];
    assert_eq!(k.namespaces.names, ["a", "b"]);
    let m = &k.attach_metadata;
    assert!(m.node && m.namespace && m.deployment && m.job && m.cronjob);
    // Prometheus accepts every attach_metadata key for every role; a role ignores those it
    // has no use for.
    let ignored = "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: node\n        attach_metadata: {node: true, namespace: true, deployment: true, job: true, cronjob: true}\n";
    shoal::config::load_str(ignored, Path::new("t.yml")).unwrap();
    assert_eq!(
        k.selector_for(shoal::config::KubernetesRole::Service),
        ("app in (x,y)", "")
    );
    assert_eq!(
        k.http.authorization.as_ref().unwrap().kind.as_deref(),
        Some("Bearer")
    );
}

#[tokio::test]
async fn unreachable_api_server_counts_watch_failures() {
    // A port that was free a moment ago: connections are refused.
    let port = common::free_port("127.0.0.1");
    let text = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - api_server: http://127.0.0.1:{port}\n        role: service\n"
    );
    let cfg = shoal::config::load_str(&text, Path::new("t.yml")).unwrap();
    let metrics = DiscoveryMetrics::default();
    let registry = Registry::default();
    let p = KubernetesProvider::new(
        &cfg.scrape_configs[0].kubernetes_sd_configs[0],
        &registry,
        &metrics,
    )
    .unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let (_handle, cancel) = cancel_pair();
    tokio::spawn(Box::new(p).run(tx, cancel));
    assert!(common::wait_for(WAIT, || metrics.kube_watch_failures("service") >= 1).await);
    // Nothing is sent before the first successful list.
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn api_server_bearer_token_file_and_kubeconfig_file() {
    let api = KubeApi::start().await;
    api.apply("services", service("web", "ClusterIP"));
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let registry = Registry::default();
    let cfg = sd_config(
        &api,
        &format!(
            "role: service\nauthorization: {{credentials_file: {}}}",
            token.display()
        ),
    );
    let mut d = Discovery::start(&cfg, &registry);
    d.until("service via api_server", |g| g.len() == 1).await;
    let auth: Vec<_> = api
        .requests()
        .into_iter()
        .map(|r| r.authorization)
        .collect();
    assert!(
        auth.iter().all(|a| a.as_deref() == Some("Bearer s3cret")),
        "{auth:?}"
    );
    // Without surrounding whitespace the file is handed to kube, which re-reads it.
    let rotating = dir.path().join("rotating");
    std::fs::write(&rotating, "r0tating").unwrap();
    let cfg = sd_config(
        &api,
        &format!(
            "role: service\nauthorization: {{credentials_file: {}}}",
            rotating.display()
        ),
    );
    let mut d = Discovery::start(&cfg, &registry);
    d.until("service via rotating token file", |g| g.len() == 1)
        .await;
    assert!(
        api.requests()
            .iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer r0tating"))
    );

    // The same server through a kubeconfig file (its current context, with a token).
    let kubeconfig = dir.path().join("kubeconfig.yml");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\nclusters:\n- name: c\n  cluster: {{server: '{}'}}\nusers:\n- name: u\n  user: {{token: from-kubeconfig}}\ncontexts:\n- name: test\n  context: {{cluster: c, user: u}}\n",
            api.url()
        ),
    )
    .unwrap();
    let text = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: service\n        kubeconfig_file: {}\n",
        kubeconfig.display()
    );
    let loaded = shoal::config::load_str(&text, Path::new("t.yml")).unwrap();
    let mut d = Discovery::start(
        &loaded.scrape_configs[0].kubernetes_sd_configs[0],
        &registry,
    );
    d.until("service via kubeconfig", |g| g.len() == 1).await;
    assert!(
        api.requests()
            .iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer from-kubeconfig"))
    );
}
