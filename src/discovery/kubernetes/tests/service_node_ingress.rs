//! Roles `service`, `node` and `ingress` (Prometheus' service.go `buildService`, node.go
//! `buildNode`, ingress.go `buildIngress`).

use super::pod::{default_namespace_labels, related};
use super::{Fake, Labels, check, ls, meta, union, with};
use crate::discovery::kubernetes::lookup::Attach;
use crate::discovery::kubernetes::objects::{IngressInfo, NodeInfo, PortInfo, ServiceInfo};
use crate::discovery::kubernetes::{ingress, node, service};

fn service_of(type_: &str) -> ServiceInfo {
    let port = |name: &str, number, protocol: &str| PortInfo {
        name: name.into(),
        number,
        protocol: protocol.into(),
    };
    ServiceInfo {
        meta: meta("default", "web", &[("app", "web")], &[("a/b", "")]),
        type_: type_.into(),
        cluster_ip: "10.96.0.10".into(),
        external_name: "db.example.test".into(),
        load_balancer_ip: "5.6.7.8,5.6.7.9".into(),
        ports: vec![port("http", 80, "TCP"), port("", 53, "UDP")],
        dual_stack_primary: None,
    }
}

#[test]
fn service_role_label_sets() {
    let group = ls(&[
        ("namespace", "default"),
        ("service_name", "web"),
        ("service_label_app", "web"),
        ("service_labelpresent_app", "true"),
        ("service_annotationpresent_a_b", "true"),
    ]);
    // Per port; `per_type` is what the type adds.
    let targets = |group: &Labels, per_type: &[(&str, &str)]| {
        let g = with(group, per_type);
        vec![
            with(
                &g,
                &[
                    ("__address__", "web.default.svc:80"),
                    ("service_port_name", "http"),
                    ("service_port_number", "80"),
                    ("service_port_protocol", "TCP"),
                ],
            ),
            with(
                &g,
                &[
                    ("__address__", "web.default.svc:53"),
                    ("service_port_number", "53"),
                    ("service_port_protocol", "UDP"),
                ],
            ),
        ]
    };
    let cluster = [
        ("service_type", "ClusterIP"),
        ("service_cluster_ip", "10.96.0.10"),
    ];
    let cases: Vec<(&str, ServiceInfo, Attach, Vec<Labels>)> = vec![
        (
            "ClusterIP",
            service_of("ClusterIP"),
            Attach::default(),
            targets(&group, &cluster),
        ),
        (
            "ExternalName: its name, no cluster IP",
            service_of("ExternalName"),
            Attach::default(),
            targets(
                &group,
                &[
                    ("service_type", "ExternalName"),
                    ("service_external_name", "db.example.test"),
                ],
            ),
        ),
        (
            "LoadBalancer",
            service_of("LoadBalancer"),
            Attach::default(),
            targets(
                &group,
                &[
                    ("service_type", "LoadBalancer"),
                    ("service_cluster_ip", "10.96.0.10"),
                    ("service_loadbalancer_ip", "5.6.7.8,5.6.7.9"),
                ],
            ),
        ),
        (
            "namespace",
            service_of("ClusterIP"),
            Attach {
                namespace: true,
                ..Attach::default()
            },
            targets(&union(&[&group, &default_namespace_labels()]), &cluster),
        ),
    ];
    let lookup = related();
    for (name, svc, attach, want) in cases {
        check(
            name,
            Some(service::build(&svc, &lookup, attach)),
            "svc/default/web",
            Some(want),
        );
    }
}

fn node_of(addresses: &[(&str, &str)]) -> NodeInfo {
    NodeInfo {
        meta: meta("", "n", &[], &[]),
        addresses: addresses
            .iter()
            .map(|(t, a)| (t.to_string(), a.to_string()))
            .collect(),
        kubelet_port: 10250,
        ..NodeInfo::default()
    }
}

#[test]
fn node_role_label_sets() {
    let full = NodeInfo {
        meta: meta(
            "",
            "node-1",
            &[("topology.kubernetes.io/zone", "z1")],
            &[("ttl", "0")],
        ),
        provider_id: "aws:///z1/i-1".into(),
        conditions: vec![
            ("ready".into(), "true".into()),
            ("network-unavailable".into(), "false".into()),
        ],
        ..node_of(&[
            ("Hostname", "ip-1.internal"),
            ("InternalIP", "10.1.0.1"),
            ("InternalIP", "10.1.0.2"),
            ("ExternalIP", "3.3.3.3"),
        ])
    };
    let full_labels = ls(&[
        ("__address__", "10.1.0.1:10250"),
        ("instance", "node-1"),
        ("node_name", "node-1"),
        ("node_provider_id", "aws:///z1/i-1"),
        ("node_condition_ready", "true"),
        ("node_condition_network_unavailable", "false"),
        ("node_label_topology_kubernetes_io_zone", "z1"),
        ("node_labelpresent_topology_kubernetes_io_zone", "true"),
        ("node_annotation_ttl", "0"),
        ("node_annotationpresent_ttl", "true"),
        // The first address of each type.
        ("node_address_Hostname", "ip-1.internal"),
        ("node_address_InternalIP", "10.1.0.1"),
        ("node_address_ExternalIP", "3.3.3.3"),
    ]);
    let bare = ls(&[("instance", "n"), ("node_name", "n")]);
    let cases: Vec<(&str, NodeInfo, Option<Labels>)> = vec![
        ("every label", full, Some(full_labels)),
        ("no address: no group", node_of(&[]), None),
        (
            "ExternalIP before Hostname",
            node_of(&[("Hostname", "h"), ("ExternalIP", "1.1.1.1")]),
            Some(with(
                &bare,
                &[
                    ("__address__", "1.1.1.1:10250"),
                    ("node_address_Hostname", "h"),
                    ("node_address_ExternalIP", "1.1.1.1"),
                ],
            )),
        ),
        (
            "Hostname last",
            node_of(&[("Hostname", "h")]),
            Some(with(
                &bare,
                &[("__address__", "h:10250"), ("node_address_Hostname", "h")],
            )),
        ),
        (
            "InternalIP before InternalDNS, IPv6 bracketed",
            node_of(&[("InternalDNS", "d"), ("InternalIP", "fd00::1")]),
            Some(with(
                &bare,
                &[
                    ("__address__", "[fd00::1]:10250"),
                    ("node_address_InternalDNS", "d"),
                    ("node_address_InternalIP", "fd00::1"),
                ],
            )),
        ),
        (
            "LegacyHostIP before Hostname",
            node_of(&[("LegacyHostIP", "2.2.2.2"), ("Hostname", "h")]),
            Some(with(
                &bare,
                &[
                    ("__address__", "2.2.2.2:10250"),
                    ("node_address_LegacyHostIP", "2.2.2.2"),
                    ("node_address_Hostname", "h"),
                ],
            )),
        ),
    ];
    for (name, n, want) in cases {
        let source = format!("node/{}", n.meta.name);
        check(name, node::build(&n), &source, want.map(|w| vec![w]));
    }
}

fn ingress_of(tls: &[&str], rules: Vec<(&str, Option<Vec<&str>>)>) -> IngressInfo {
    IngressInfo {
        meta: meta("default", "site", &[], &[("a/b", "c")]),
        class_name: Some("nginx".into()),
        tls_hosts: tls.iter().map(|h| h.to_string()).collect(),
        rules: rules
            .into_iter()
            .map(|(host, paths)| {
                let paths = paths.map(|p| p.into_iter().map(str::to_string).collect());
                (host.to_string(), paths)
            })
            .collect(),
    }
}

#[test]
fn ingress_role_label_sets() {
    let group = ls(&[
        ("namespace", "default"),
        ("ingress_name", "site"),
        ("ingress_class_name", "nginx"),
        ("ingress_annotation_a_b", "c"),
        ("ingress_annotationpresent_a_b", "true"),
    ]);
    let t = |group: &Labels, host: &str, scheme: &str, path: &str| {
        with(
            group,
            &[
                ("__address__", host),
                ("ingress_scheme", scheme),
                ("ingress_host", host),
                ("ingress_path", path),
            ],
        )
    };
    let wildcard = ["*.internal.example.test", "secure.example.test"];
    let (none, related) = (Fake::default(), related());
    let cases: Vec<(&str, IngressInfo, &Fake, Attach, Vec<Labels>)> = vec![
        (
            "paths, empty path is /, no http is /",
            ingress_of(
                &[],
                vec![
                    ("a.example.test", Some(vec!["/api", ""])),
                    ("b.example.test", None),
                ],
            ),
            &none,
            Attach::default(),
            vec![
                t(&group, "a.example.test", "http", "/api"),
                t(&group, "a.example.test", "http", "/"),
                t(&group, "b.example.test", "http", "/"),
            ],
        ),
        (
            "http with no paths: no targets",
            ingress_of(&[], vec![("a.example.test", Some(vec![]))]),
            &none,
            Attach::default(),
            vec![],
        ),
        (
            "TLS hosts, exact and wildcard (one label)",
            ingress_of(
                &wildcard,
                vec![
                    ("secure.example.test", None),
                    ("admin.internal.example.test", None),
                    ("a.b.internal.example.test", None),
                    ("internal.example.test", None),
                ],
            ),
            &none,
            Attach::default(),
            vec![
                t(&group, "secure.example.test", "https", "/"),
                t(&group, "admin.internal.example.test", "https", "/"),
                t(&group, "a.b.internal.example.test", "http", "/"),
                t(&group, "internal.example.test", "http", "/"),
            ],
        ),
        (
            "no host: no address (Prometheus then drops the target)",
            ingress_of(&[], vec![("", None)]),
            &none,
            Attach::default(),
            vec![with(
                &group,
                &[("ingress_scheme", "http"), ("ingress_path", "/")],
            )],
        ),
        (
            "namespace",
            ingress_of(&[], vec![("a.example.test", None)]),
            &related,
            Attach {
                namespace: true,
                ..Attach::default()
            },
            vec![t(
                &union(&[&group, &default_namespace_labels()]),
                "a.example.test",
                "http",
                "/",
            )],
        ),
    ];
    for (name, ing, lookup, attach, want) in cases {
        check(
            name,
            Some(ingress::build(&ing, lookup, attach)),
            "ingress/default/site",
            Some(want),
        );
    }
}
