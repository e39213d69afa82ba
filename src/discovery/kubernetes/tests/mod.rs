//! Table tests of the pure builders, role by role: each case compares the COMPLETE label
//! sets of every target (group labels merged in, as the scrape sees them) with what
//! Prometheus 3's `discovery/kubernetes/*.go` produces, so an extra label fails as surely as
//! a missing one. tests/kubernetes.rs checks the same end to end against an API server.

mod endpoints;
mod pod;
mod service_node_ingress;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::lookup::Lookup;
use super::objects::{Meta, NodeInfo, OwnerInfo, PodInfo, ServiceInfo};
use crate::discovery::TargetGroup;

/// One target's labels.
type Labels = BTreeMap<String, String>;

/// Related objects by `namespace/name` (`name` alone for nodes and namespaces).
#[derive(Default)]
struct Fake {
    pods: HashMap<String, Arc<PodInfo>>,
    services: HashMap<String, Arc<ServiceInfo>>,
    nodes: HashMap<String, Arc<NodeInfo>>,
    namespaces: HashMap<String, Arc<Meta>>,
    replica_sets: HashMap<String, Arc<OwnerInfo>>,
    jobs: HashMap<String, Arc<OwnerInfo>>,
}

fn at(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

impl Lookup for Fake {
    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<PodInfo>> {
        self.pods.get(&at(namespace, name)).cloned()
    }
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceInfo>> {
        self.services.get(&at(namespace, name)).cloned()
    }
    fn node(&self, name: &str) -> Option<Arc<NodeInfo>> {
        self.nodes.get(name).cloned()
    }
    fn namespace(&self, name: &str) -> Option<Arc<Meta>> {
        self.namespaces.get(name).cloned()
    }
    fn replica_set(&self, namespace: &str, name: &str) -> Option<Arc<OwnerInfo>> {
        self.replica_sets.get(&at(namespace, name)).cloned()
    }
    fn job(&self, namespace: &str, name: &str) -> Option<Arc<OwnerInfo>> {
        self.jobs.get(&at(namespace, name)).cloned()
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Object metadata in namespace `ns`; labels and annotations must be given sorted.
fn meta(ns: &str, name: &str, labels: &[(&str, &str)], annotations: &[(&str, &str)]) -> Meta {
    Meta {
        name: name.into(),
        namespace: ns.into(),
        uid: format!("uid-{name}"),
        labels: pairs(labels),
        annotations: pairs(annotations),
    }
}

/// A label set; names not starting with `__` (nor `instance`) get `__meta_kubernetes_`.
fn ls(p: &[(&str, &str)]) -> Labels {
    p.iter()
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

/// `base` plus `extra` (extra winning).
fn with(base: &Labels, extra: &[(&str, &str)]) -> Labels {
    let mut l = base.clone();
    l.extend(ls(extra));
    l
}

/// Union of label sets (later ones winning).
fn union(sets: &[&Labels]) -> Labels {
    sets.iter()
        .flat_map(|s| s.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A group's targets with its labels merged in (target labels win), sorted.
fn flat(g: &TargetGroup) -> Vec<Labels> {
    let group = g.labels.to_map();
    let mut out: Vec<Labels> = g
        .targets
        .iter()
        .map(|t| {
            let mut l = group.clone();
            l.extend(t.to_map());
            l
        })
        .collect();
    out.sort();
    out
}

/// Asserts `got` has source `source` and exactly the targets `want` (`None`: no group).
fn check(case: &str, got: Option<TargetGroup>, source: &str, want: Option<Vec<Labels>>) {
    let (got, mut want) = match (got, want) {
        (None, None) => return,
        (Some(g), Some(w)) => (g, w),
        (g, w) => panic!(
            "{case}: group {:?}, want one: {}",
            g.map(|g| g.source),
            w.is_some()
        ),
    };
    assert_eq!(got.source, source, "{case}");
    want.sort();
    let got = flat(&got);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let missing: Vec<_> = w.iter().filter(|(k, v)| g.get(*k) != Some(v)).collect();
        let extra: Vec<_> = g.iter().filter(|(k, v)| w.get(*k) != Some(v)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{case}: target {i}:\n  missing/different: {missing:?}\n  extra/different: {extra:?}"
        );
    }
    assert_eq!(got.len(), want.len(), "{case}: {got:#?}");
}

#[test]
fn fingerprint_tells_changes_apart() {
    use super::lookup::Attach;
    use super::pod::PodRelated;
    let p = pod::web_pod();
    let build = |p: &PodInfo| {
        super::pod::build(p, &PodRelated::default(), Attach::default()).expect("group")
    };
    let a = crate::discovery::share(vec![build(&p)]);
    let mut changed = p.clone();
    changed.ready = "false".into();
    let b = crate::discovery::share(vec![build(&changed)]);
    assert_eq!(super::fingerprint(&a), super::fingerprint(&a.clone()));
    assert_ne!(super::fingerprint(&a), super::fingerprint(&b));
    assert_ne!(super::fingerprint(&a), super::fingerprint(&[]));
}

#[test]
fn conversions_keep_what_labels_need() {
    use super::objects;
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s", "namespace": "ns"},
        "spec": {"type": "LoadBalancer", "loadBalancerIP": "1.2.3.4",
            "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv6", "IPv4"]},
        "status": {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "h"}, {"ip": "5.6.7.9"}]}}
    }))
    .expect("service");
    let s = objects::service(svc);
    assert_eq!(s.load_balancer_ip, "5.6.7.8,5.6.7.9");
    assert_eq!(s.dual_stack_primary.as_deref(), Some("IPv6"));
    let single: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s"},
        "spec": {"loadBalancerIP": "1.2.3.4", "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}
    }))
    .expect("service");
    let s = objects::service(single);
    assert_eq!(s.load_balancer_ip, "1.2.3.4");
    assert_eq!(s.dual_stack_primary, None);

    let owned = |kind: &str, owner_kind: &str, controller: bool| {
        serde_json::json!({"metadata": {"name": "x", "namespace": "ns", "ownerReferences": [
            {"apiVersion": "v1", "kind": "Other", "name": "first", "uid": "1", "controller": false},
            {"apiVersion": "v1", "kind": owner_kind, "name": format!("{kind}-owner"), "uid": "2", "controller": controller}
        ]}})
    };
    let rs = |v| objects::replica_set(serde_json::from_value(v).expect("replicaset"));
    let job = |v| objects::job(serde_json::from_value(v).expect("job"));
    let cases = [
        (
            "rs of a deployment",
            rs(owned("rs", "Deployment", true)),
            Some("rs-owner"),
        ),
        (
            "rs owner not controller",
            rs(owned("rs", "Deployment", false)),
            None,
        ),
        ("rs of another kind", rs(owned("rs", "Rollout", true)), None),
        (
            "job of a cronjob",
            job(owned("job", "CronJob", true)),
            Some("job-owner"),
        ),
        (
            "job of another kind",
            job(owned("job", "Workflow", true)),
            None,
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got.owner.as_deref(), want, "{name}");
    }

    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "n"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "PIDPressure", "status": "Unknown"}]}
    }))
    .expect("node");
    assert_eq!(
        objects::node(node).conditions,
        pairs(&[("ready", "true"), ("pidpressure", "unknown")])
    );
}
