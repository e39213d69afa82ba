//! Roles `endpoints` and `endpointslice` (Prometheus' endpoints.go `buildEndpoints`,
//! endpointslice.go `buildEndpointSlice`).

use std::sync::Arc;

use super::pod::{default_namespace_labels, node_1_labels, related, web_pod, web_pod_labels};
use super::{Fake, Labels, check, flat, ls, meta, union, with};
use crate::discovery::kubernetes::lookup::Attach;
use crate::discovery::kubernetes::objects::{
    AddressInfo, ContainerInfo, EndpointsInfo, PodInfo, PortInfo, ServiceInfo, SliceEndpoint,
    SliceInfo, SlicePort, SubsetInfo, TargetRef,
};
use crate::discovery::kubernetes::{endpoints, endpointslice};

fn web_service(dual_stack_primary: Option<&str>) -> ServiceInfo {
    ServiceInfo {
        meta: meta(
            "default",
            "web",
            &[("app", "web")],
            &[("prometheus.io/port", "80")],
        ),
        type_: "ClusterIP".into(),
        cluster_ip: "10.96.0.10".into(),
        ports: vec![PortInfo {
            name: "http".into(),
            number: 80,
            protocol: "TCP".into(),
        }],
        dual_stack_primary: dual_stack_primary.map(str::to_string),
        ..ServiceInfo::default()
    }
}

/// The service labels endpoints and endpointslice groups carry: no type, IPs or ports.
fn web_service_labels() -> Labels {
    ls(&[
        ("namespace", "default"),
        ("service_name", "web"),
        ("service_label_app", "web"),
        ("service_labelpresent_app", "true"),
        ("service_annotation_prometheus_io_port", "80"),
        ("service_annotationpresent_prometheus_io_port", "true"),
    ])
}

/// `related()` with the service and `pod` (as `web-1`) in it.
fn lookup_with(pod: PodInfo, dual_stack_primary: Option<&str>) -> Fake {
    let mut f = related();
    f.pods.insert("default/web-1".into(), Arc::new(pod));
    f.services.insert(
        "default/web".into(),
        Arc::new(web_service(dual_stack_primary)),
    );
    f
}

/// `web_pod()` with one more container that also listens on 8080 (unnamed, UDP): the last
/// matching container is the one Prometheus labels a target on 8080 with.
fn pod_with_duplicate_port() -> PodInfo {
    let mut p = web_pod();
    p.containers.push(ContainerInfo {
        name: "dup".into(),
        image: "dup:1".into(),
        id: "containerd://d".into(),
        init: false,
        ports: vec![PortInfo {
            name: String::new(),
            number: 8080,
            protocol: "UDP".into(),
        }],
    });
    p
}

fn target_ref(kind: &str, name: &str) -> Option<TargetRef> {
    Some(TargetRef {
        kind: kind.into(),
        name: name.into(),
        namespace: if kind == "Pod" {
            "default".into()
        } else {
            String::new()
        },
    })
}

/// Pod labels on targets that point at `web_pod()` (the group carries the namespace).
fn pod_labels() -> Labels {
    let mut l = web_pod_labels();
    l.remove("__meta_kubernetes_namespace");
    l
}

/// The targets of `web_pod()`'s container ports no endpoint port covers.
fn uncovered(common: &Labels) -> Vec<Labels> {
    vec![
        with(
            common,
            &[
                ("__address__", "10.0.0.1:9090"),
                ("pod_container_name", "app"),
                ("pod_container_image", "web:1"),
                ("pod_container_port_number", "9090"),
                ("pod_container_port_protocol", "UDP"),
                ("pod_container_init", "false"),
            ],
        ),
        with(
            common,
            &[
                ("__address__", "10.0.0.1:7000"),
                ("pod_container_name", "init"),
                ("pod_container_image", "init:3"),
                ("pod_container_port_name", "i"),
                ("pod_container_port_number", "7000"),
                ("pod_container_port_protocol", "TCP"),
                ("pod_container_init", "true"),
            ],
        ),
    ]
}

fn web_endpoints() -> EndpointsInfo {
    let port = |name: &str, number| PortInfo {
        name: String::from(name),
        number,
        protocol: "TCP".into(),
    };
    EndpointsInfo {
        meta: meta(
            "default",
            "web",
            &[("app", "web")],
            &[("endpoints.kubernetes.io/last-change-trigger-time", "t")],
        ),
        subsets: vec![
            SubsetInfo {
                addresses: vec![AddressInfo {
                    ip: "10.0.0.1".into(),
                    hostname: "h1".into(),
                    node_name: Some("node-1".into()),
                    target_ref: target_ref("Pod", "web-1"),
                }],
                not_ready: vec![AddressInfo {
                    ip: "10.0.0.2".into(),
                    ..AddressInfo::default()
                }],
                ports: vec![port("http", 8080)],
            },
            SubsetInfo {
                addresses: vec![AddressInfo {
                    ip: "10.0.0.9".into(),
                    target_ref: target_ref("Node", "node-1"),
                    ..AddressInfo::default()
                }],
                not_ready: vec![],
                ports: vec![port("metrics", 9100)],
            },
        ],
    }
}

/// Expected targets of `web_endpoints()`: the group's labels, what `attach` adds where,
/// and the container labels of the target on 8080.
fn endpoints_targets(
    group: &Labels,
    node: &Labels,
    pod: &Labels,
    on_8080: &[(&str, &str)],
) -> Vec<Labels> {
    let port = ls(&[
        ("endpoint_port_name", "http"),
        ("endpoint_port_protocol", "TCP"),
    ]);
    let pod_target = union(&[group, &port, node, pod]);
    let mut out = vec![
        with(
            &with(&pod_target, on_8080),
            &[
                ("__address__", "10.0.0.1:8080"),
                ("endpoint_ready", "true"),
                ("endpoint_node_name", "node-1"),
                ("endpoint_hostname", "h1"),
                ("endpoint_address_target_kind", "Pod"),
                ("endpoint_address_target_name", "web-1"),
            ],
        ),
        // Not ready, no target: no pod or node labels.
        with(
            &union(&[group, &port]),
            &[
                ("__address__", "10.0.0.2:8080"),
                ("endpoint_ready", "false"),
            ],
        ),
        // A node address: node labels from the reference, no endpoint_node_name.
        with(
            &union(&[group, node]),
            &[
                ("__address__", "10.0.0.9:9100"),
                ("endpoint_port_name", "metrics"),
                ("endpoint_port_protocol", "TCP"),
                ("endpoint_ready", "true"),
                ("endpoint_address_target_kind", "Node"),
                ("endpoint_address_target_name", "node-1"),
            ],
        ),
    ];
    out.extend(uncovered(&union(&[group, pod])));
    out
}

#[test]
fn endpoints_role_label_sets() {
    let svc = web_service_labels();
    let own = ls(&[
        ("endpoints_name", "web"),
        ("endpoints_label_app", "web"),
        ("endpoints_labelpresent_app", "true"),
        (
            "endpoints_annotation_endpoints_kubernetes_io_last_change_trigger_time",
            "t",
        ),
        (
            "endpoints_annotationpresent_endpoints_kubernetes_io_last_change_trigger_time",
            "true",
        ),
    ]);
    let group = union(&[&svc, &own]);
    let none = Labels::new();
    let app_8080 = [
        ("pod_container_name", "app"),
        ("pod_container_image", "web:1"),
        ("pod_container_port_name", "http"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "false"),
    ];
    // The last matching container wins whole: its empty port name is absent, and the
    // protocol is the endpoint port's (TCP), not the container port's (UDP).
    let dup_8080 = [
        ("pod_container_name", "dup"),
        ("pod_container_image", "dup:1"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "false"),
    ];
    let mut no_service = lookup_with(web_pod(), None);
    no_service.services.clear();
    let cases: Vec<(&str, Fake, Attach, Vec<Labels>)> = vec![
        (
            "plain",
            lookup_with(web_pod(), None),
            Attach::default(),
            endpoints_targets(&group, &none, &pod_labels(), &app_8080),
        ),
        (
            "service unknown",
            no_service,
            Attach::default(),
            endpoints_targets(
                &union(&[&ls(&[("namespace", "default")]), &own]),
                &none,
                &pod_labels(),
                &app_8080,
            ),
        ),
        (
            "last matching container",
            lookup_with(pod_with_duplicate_port(), None),
            Attach::default(),
            endpoints_targets(&group, &none, &pod_labels(), &dup_8080),
        ),
        (
            "node",
            lookup_with(web_pod(), None),
            Attach {
                node: true,
                ..Attach::default()
            },
            endpoints_targets(&group, &node_1_labels(), &pod_labels(), &app_8080),
        ),
        (
            "namespace",
            lookup_with(web_pod(), None),
            Attach {
                namespace: true,
                ..Attach::default()
            },
            endpoints_targets(
                &union(&[&group, &default_namespace_labels()]),
                &none,
                &pod_labels(),
                &app_8080,
            ),
        ),
        (
            "deployment",
            lookup_with(web_pod(), None),
            Attach {
                deployment: true,
                ..Attach::default()
            },
            endpoints_targets(
                &group,
                &none,
                &with(&pod_labels(), &[("pod_deployment_name", "web")]),
                &app_8080,
            ),
        ),
    ];
    for (name, lookup, attach, want) in cases {
        let g = endpoints::build(&web_endpoints(), &lookup, attach);
        check(name, Some(g), "endpoints/default/web", Some(want));
    }
}

fn web_slice(address_type: &str) -> SliceInfo {
    SliceInfo {
        meta: meta(
            "default",
            "web-abc",
            &[("kubernetes.io/service-name", "web")],
            &[],
        ),
        address_type: address_type.into(),
        ports: vec![SlicePort {
            name: Some("http".into()),
            port: Some(8080),
            protocol: Some("TCP".into()),
            app_protocol: Some("http".into()),
        }],
        endpoints: vec![
            SliceEndpoint {
                addresses: vec!["10.0.0.1".into()],
                ready: Some(true),
                serving: Some(true),
                terminating: Some(false),
                hostname: Some("web-1".into()),
                node_name: Some("node-1".into()),
                zone: Some("z1".into()),
                target_ref: target_ref("Pod", "web-1"),
                topology: Default::default(),
            },
            SliceEndpoint {
                addresses: vec!["10.0.0.9".into()],
                ready: Some(false),
                target_ref: target_ref("Node", "node-1"),
                topology: [("kubernetes.io/hostname".to_string(), "node-1".to_string())].into(),
                ..SliceEndpoint::default()
            },
        ],
    }
}

fn slice_group() -> Labels {
    union(&[
        &web_service_labels(),
        &ls(&[
            ("endpointslice_address_type", "IPv4"),
            ("endpointslice_name", "web-abc"),
            ("endpointslice_label_kubernetes_io_service_name", "web"),
            (
                "endpointslice_labelpresent_kubernetes_io_service_name",
                "true",
            ),
        ]),
    ])
}

fn slice_targets(
    group: &Labels,
    node: &Labels,
    pod: &Labels,
    on_8080: &[(&str, &str)],
) -> Vec<Labels> {
    let port = ls(&[
        ("endpointslice_port_name", "http"),
        ("endpointslice_port_protocol", "TCP"),
        ("endpointslice_port", "8080"),
        ("endpointslice_port_app_protocol", "http"),
    ]);
    let mut out = vec![
        with(
            &with(&union(&[group, &port, node, pod]), on_8080),
            &[
                ("__address__", "10.0.0.1:8080"),
                ("endpointslice_endpoint_conditions_ready", "true"),
                ("endpointslice_endpoint_conditions_serving", "true"),
                ("endpointslice_endpoint_conditions_terminating", "false"),
                ("endpointslice_endpoint_hostname", "web-1"),
                ("endpointslice_endpoint_node_name", "node-1"),
                ("endpointslice_endpoint_zone", "z1"),
                ("endpointslice_address_target_kind", "Pod"),
                ("endpointslice_address_target_name", "web-1"),
            ],
        ),
        with(
            &union(&[group, &port, node]),
            &[
                ("__address__", "10.0.0.9:8080"),
                ("endpointslice_endpoint_conditions_ready", "false"),
                ("endpointslice_address_target_kind", "Node"),
                ("endpointslice_address_target_name", "node-1"),
                (
                    "endpointslice_endpoint_topology_kubernetes_io_hostname",
                    "node-1",
                ),
                (
                    "endpointslice_endpoint_topology_present_kubernetes_io_hostname",
                    "true",
                ),
            ],
        ),
    ];
    out.extend(uncovered(&union(&[group, pod])));
    out
}

#[test]
fn endpointslice_role_label_sets() {
    let group = slice_group();
    let none = Labels::new();
    let app_8080 = [
        ("pod_container_name", "app"),
        ("pod_container_image", "web:1"),
        ("pod_container_port_name", "http"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "TCP"),
        ("pod_container_init", "false"),
    ];
    // As for endpoints, but the protocol is the container port's here.
    let dup_8080 = [
        ("pod_container_name", "dup"),
        ("pod_container_image", "dup:1"),
        ("pod_container_port_number", "8080"),
        ("pod_container_port_protocol", "UDP"),
        ("pod_container_init", "false"),
    ];
    let cases: Vec<(&str, Fake, Attach, Vec<Labels>)> = vec![
        (
            "plain",
            lookup_with(web_pod(), None),
            Attach::default(),
            slice_targets(&group, &none, &pod_labels(), &app_8080),
        ),
        (
            "last matching container",
            lookup_with(pod_with_duplicate_port(), None),
            Attach::default(),
            slice_targets(&group, &none, &pod_labels(), &dup_8080),
        ),
        (
            "node",
            lookup_with(web_pod(), None),
            Attach {
                node: true,
                ..Attach::default()
            },
            slice_targets(&group, &node_1_labels(), &pod_labels(), &app_8080),
        ),
        (
            "namespace",
            lookup_with(web_pod(), None),
            Attach {
                namespace: true,
                ..Attach::default()
            },
            slice_targets(
                &union(&[&group, &default_namespace_labels()]),
                &none,
                &pod_labels(),
                &app_8080,
            ),
        ),
        (
            "deployment",
            lookup_with(web_pod(), None),
            Attach {
                deployment: true,
                ..Attach::default()
            },
            slice_targets(
                &group,
                &none,
                &with(&pod_labels(), &[("pod_deployment_name", "web")]),
                &app_8080,
            ),
        ),
        (
            "dual stack, primary family",
            lookup_with(web_pod(), Some("IPv4")),
            Attach::default(),
            slice_targets(&group, &none, &pod_labels(), &app_8080),
        ),
    ];
    for (name, lookup, attach, want) in cases {
        let g = endpointslice::build(&web_slice("IPv4"), &lookup, attach);
        check(name, Some(g), "endpointslice/default/web-abc", Some(want));
    }

    // The secondary family's slice of a dual-stack service: its group labels, no targets.
    let g = endpointslice::build(
        &web_slice("IPv4"),
        &lookup_with(web_pod(), Some("IPv6")),
        Attach::default(),
    );
    assert!(g.targets.is_empty(), "{:?}", flat(&g));
    assert_eq!(g.labels.to_map(), group);
}

#[test]
fn endpointslice_port_without_number_and_unknown_pod() {
    let s = SliceInfo {
        meta: meta("ns", "s", &[], &[]),
        address_type: "IPv4".into(),
        ports: vec![SlicePort::default()],
        endpoints: vec![SliceEndpoint {
            addresses: vec!["10.0.0.1".into()],
            target_ref: Some(TargetRef {
                kind: "Pod".into(),
                name: "gone".into(),
                namespace: "ns".into(),
            }),
            ..SliceEndpoint::default()
        }],
    };
    let g = endpointslice::build(&s, &Fake::default(), Attach::default());
    // No port: the bare address, no port labels; an unknown pod: no pod labels.
    let want = ls(&[
        ("__address__", "10.0.0.1"),
        ("namespace", "ns"),
        ("endpointslice_address_type", "IPv4"),
        ("endpointslice_name", "s"),
        ("endpointslice_address_target_kind", "Pod"),
        ("endpointslice_address_target_name", "gone"),
    ]);
    check("portless", Some(g), "endpointslice/ns/s", Some(vec![want]));
}
