//! Unit tests of the pure builders' edge cases; full label sets per role are checked
//! against a local API server in tests/kubernetes.rs.

use std::sync::Arc;

use super::lookup::{Attach, Lookup};
use super::objects::{
    ContainerInfo, Meta, NodeInfo, OwnerInfo, PodInfo, PortInfo, ServiceInfo, SliceEndpoint,
    SliceInfo, SlicePort, TargetRef,
};
use super::pod::PodRelated;
use super::{endpointslice, fingerprint, node, pod};

struct NoRelated;

impl Lookup for NoRelated {
    fn pod(&self, _: &str, _: &str) -> Option<Arc<PodInfo>> {
        None
    }
    fn service(&self, _: &str, _: &str) -> Option<Arc<ServiceInfo>> {
        None
    }
    fn node(&self, _: &str) -> Option<Arc<NodeInfo>> {
        None
    }
    fn namespace(&self, _: &str) -> Option<Arc<Meta>> {
        None
    }
    fn replica_set(&self, _: &str, _: &str) -> Option<Arc<OwnerInfo>> {
        None
    }
    fn job(&self, _: &str, _: &str) -> Option<Arc<OwnerInfo>> {
        None
    }
}

fn meta(name: &str) -> Meta {
    Meta {
        name: name.into(),
        namespace: "ns".into(),
        ..Meta::default()
    }
}

#[test]
fn pod_without_ip_has_no_group() {
    let p = PodInfo {
        meta: meta("p"),
        containers: vec![ContainerInfo {
            name: "c".into(),
            ..ContainerInfo::default()
        }],
        ..PodInfo::default()
    };
    assert!(pod::build(&p, &PodRelated::default(), Attach::default()).is_none());
    let with_ip = PodInfo {
        pod_ip: "10.0.0.1".into(),
        ..p
    };
    let g = pod::build(&with_ip, &PodRelated::default(), Attach::default()).unwrap();
    assert_eq!(g.source, "pod/ns/p");
    assert_eq!(g.targets.len(), 1);
    assert_eq!(g.targets[0].get("__address__").unwrap(), "10.0.0.1");
}

#[test]
fn node_address_preference_and_missing_address() {
    let mut n = NodeInfo {
        meta: meta("n"),
        kubelet_port: 10250,
        ..NodeInfo::default()
    };
    n.meta.namespace.clear();
    assert!(node::build(&n).is_none(), "no address: nothing");
    let cases = [
        (
            vec![("Hostname", "h"), ("ExternalIP", "1.1.1.1")],
            "1.1.1.1:10250",
        ),
        (vec![("Hostname", "h")], "h:10250"),
        (
            vec![("InternalDNS", "d"), ("InternalIP", "fd00::1")],
            "[fd00::1]:10250",
        ),
        (
            vec![("LegacyHostIP", "2.2.2.2"), ("Hostname", "h")],
            "2.2.2.2:10250",
        ),
    ];
    for (addrs, want) in cases {
        n.addresses = addrs
            .iter()
            .map(|(t, a)| (t.to_string(), a.to_string()))
            .collect();
        let g = node::build(&n).unwrap();
        assert_eq!(g.targets[0].get("__address__").unwrap(), want, "{addrs:?}");
    }
}

#[test]
fn endpointslice_port_without_number_and_unknown_pod() {
    let s = SliceInfo {
        meta: meta("s"),
        address_type: "IPv4".into(),
        ports: vec![SlicePort::default()],
        endpoints: vec![SliceEndpoint {
            addresses: vec!["10.0.0.1".into()],
            target_ref: Some(TargetRef {
                kind: "Pod".into(),
                name: "gone".into(),
                namespace: "ns".into(),
            }),
            topology: [("kubernetes.io/hostname".to_string(), "n1".to_string())].into(),
            ..SliceEndpoint::default()
        }],
    };
    let g = endpointslice::build(&s, &NoRelated, Attach::default());
    assert_eq!(g.targets.len(), 1);
    let t = &g.targets[0];
    assert_eq!(t.get("__address__").unwrap(), "10.0.0.1");
    assert!(t.get("__meta_kubernetes_endpointslice_port").is_none());
    assert_eq!(
        t.get("__meta_kubernetes_endpointslice_endpoint_topology_kubernetes_io_hostname")
            .unwrap(),
        "n1"
    );
    assert_eq!(
        t.get("__meta_kubernetes_endpointslice_endpoint_topology_present_kubernetes_io_hostname")
            .unwrap(),
        "true"
    );
    assert!(
        t.get("__meta_kubernetes_pod_name").is_none(),
        "unknown pod: no pod labels"
    );
}

#[test]
fn fingerprint_tells_changes_apart() {
    let p = PodInfo {
        meta: meta("p"),
        pod_ip: "10.0.0.1".into(),
        containers: vec![ContainerInfo {
            name: "c".into(),
            ports: vec![PortInfo {
                name: "m".into(),
                number: 80,
                protocol: "TCP".into(),
            }],
            ..ContainerInfo::default()
        }],
        ..PodInfo::default()
    };
    let a = crate::discovery::share(vec![
        pod::build(&p, &PodRelated::default(), Attach::default()).unwrap(),
    ]);
    let mut changed = p.clone();
    changed.ready = "true".into();
    let b = crate::discovery::share(vec![
        pod::build(&changed, &PodRelated::default(), Attach::default()).unwrap(),
    ]);
    assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    assert_ne!(fingerprint(&a), fingerprint(&b));
    assert_ne!(fingerprint(&a), fingerprint(&[]));
}
