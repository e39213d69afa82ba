//! Role `pod` (Prometheus' pod.go `buildPod`, `podLabels`).

use std::sync::Arc;

use super::{Fake, Labels, check, ls, meta, union, with};
use crate::discovery::kubernetes::lookup::Attach;
use crate::discovery::kubernetes::objects::{
    ContainerInfo, Meta, NodeInfo, OwnerInfo, PodInfo, PortInfo,
};
use crate::discovery::kubernetes::pod::{self, PodRelated};

fn port(name: &str, number: i32, protocol: &str) -> PortInfo {
    PortInfo {
        name: name.into(),
        number,
        protocol: protocol.into(),
    }
}

fn container(name: &str, image: &str, id: &str, init: bool, ports: Vec<PortInfo>) -> ContainerInfo {
    ContainerInfo {
        name: name.into(),
        image: image.into(),
        id: id.into(),
        init,
        ports,
    }
}

/// A pod of a ReplicaSet with two ports on `app`, a portless `sidecar` and an init
/// container with a port.
pub(super) fn web_pod() -> PodInfo {
    PodInfo {
        meta: meta(
            "default",
            "web-1",
            &[("app.kubernetes.io/name", "web"), ("tier", "")],
            &[("prometheus.io/scrape", "true")],
        ),
        controller: Some(("ReplicaSet".into(), "web-5d8f".into())),
        node_name: "node-1".into(),
        pod_ip: "10.0.0.1".into(),
        host_ip: "192.168.0.1".into(),
        phase: "Running".into(),
        ready: "true".into(),
        containers: vec![
            container(
                "app",
                "web:1",
                "containerd://abc",
                false,
                vec![port("http", 8080, "TCP"), port("", 9090, "UDP")],
            ),
            container("sidecar", "side:2", "", false, vec![]),
            container(
                "init",
                "init:3",
                "containerd://i",
                true,
                vec![port("i", 7000, "TCP")],
            ),
        ],
    }
}

/// The labels every target of `web_pod()` has in the pod role.
pub(super) fn web_pod_labels() -> Labels {
    ls(&[
        ("namespace", "default"),
        ("pod_name", "web-1"),
        ("pod_ip", "10.0.0.1"),
        ("pod_ready", "true"),
        ("pod_phase", "Running"),
        ("pod_node_name", "node-1"),
        ("pod_host_ip", "192.168.0.1"),
        ("pod_uid", "uid-web-1"),
        ("pod_label_app_kubernetes_io_name", "web"),
        ("pod_labelpresent_app_kubernetes_io_name", "true"),
        ("pod_labelpresent_tier", "true"),
        ("pod_annotation_prometheus_io_scrape", "true"),
        ("pod_annotationpresent_prometheus_io_scrape", "true"),
        ("pod_controller_kind", "ReplicaSet"),
        ("pod_controller_name", "web-5d8f"),
    ])
}

/// The targets of `web_pod()`, each with `common`.
fn web_targets(common: &Labels) -> Vec<Labels> {
    let app = [
        ("pod_container_name", "app"),
        ("pod_container_id", "containerd://abc"),
        ("pod_container_image", "web:1"),
        ("pod_container_init", "false"),
    ];
    vec![
        with(
            &with(common, &app),
            &[
                ("__address__", "10.0.0.1:8080"),
                ("pod_container_port_name", "http"),
                ("pod_container_port_number", "8080"),
                ("pod_container_port_protocol", "TCP"),
            ],
        ),
        with(
            &with(common, &app),
            &[
                ("__address__", "10.0.0.1:9090"),
                ("pod_container_port_number", "9090"),
                ("pod_container_port_protocol", "UDP"),
            ],
        ),
        // No ports: the bare IP, no port labels, no id before the container has a status.
        with(
            common,
            &[
                ("__address__", "10.0.0.1"),
                ("pod_container_name", "sidecar"),
                ("pod_container_image", "side:2"),
                ("pod_container_init", "false"),
            ],
        ),
        with(
            common,
            &[
                ("__address__", "10.0.0.1:7000"),
                ("pod_container_name", "init"),
                ("pod_container_id", "containerd://i"),
                ("pod_container_image", "init:3"),
                ("pod_container_init", "true"),
                ("pod_container_port_name", "i"),
                ("pod_container_port_number", "7000"),
                ("pod_container_port_protocol", "TCP"),
            ],
        ),
    ]
}

/// Node `node-1` as the node store holds it.
pub(super) fn node_1() -> NodeInfo {
    NodeInfo {
        meta: meta(
            "",
            "node-1",
            &[("topology.kubernetes.io/zone", "z1")],
            &[("node.alpha.kubernetes.io/ttl", "0")],
        ),
        provider_id: "aws:///z1/i-1".into(),
        addresses: vec![("InternalIP".into(), "10.1.0.1".into())],
        kubelet_port: 10250,
        conditions: vec![("ready".into(), "true".into())],
    }
}

/// What `attach_metadata.node` adds for `node_1()`: its name, labels and annotations only.
pub(super) fn node_1_labels() -> Labels {
    ls(&[
        ("node_name", "node-1"),
        ("node_label_topology_kubernetes_io_zone", "z1"),
        ("node_labelpresent_topology_kubernetes_io_zone", "true"),
        ("node_annotation_node_alpha_kubernetes_io_ttl", "0"),
        (
            "node_annotationpresent_node_alpha_kubernetes_io_ttl",
            "true",
        ),
    ])
}

/// Namespace `default` as the namespace store holds it.
pub(super) fn default_namespace() -> Meta {
    meta(
        "",
        "default",
        &[("empty", ""), ("team", "a")],
        &[("owner", "ops")],
    )
}

/// What `attach_metadata.namespace` adds for `default_namespace()` (no name label).
pub(super) fn default_namespace_labels() -> Labels {
    ls(&[
        ("namespace_labelpresent_empty", "true"),
        ("namespace_label_team", "a"),
        ("namespace_labelpresent_team", "true"),
        ("namespace_annotation_owner", "ops"),
        ("namespace_annotationpresent_owner", "true"),
    ])
}

fn owner(name: Option<&str>) -> Arc<OwnerInfo> {
    Arc::new(OwnerInfo {
        owner: name.map(str::to_string),
    })
}

/// Related objects of every kind for `web_pod()` and `job_pod()`.
pub(super) fn related() -> Fake {
    let mut f = Fake::default();
    f.nodes.insert("node-1".into(), Arc::new(node_1()));
    f.namespaces
        .insert("default".into(), Arc::new(default_namespace()));
    f.replica_sets
        .insert("default/web-5d8f".into(), owner(Some("web")));
    f.replica_sets.insert("default/bare".into(), owner(None));
    f.jobs
        .insert("default/backup-1".into(), owner(Some("backup")));
    f.jobs.insert("default/oneoff".into(), owner(None));
    f
}

/// `web_pod()` run by Job `job`.
fn job_pod(job: &str) -> PodInfo {
    PodInfo {
        controller: Some(("Job".into(), job.into())),
        ..web_pod()
    }
}

fn attach(keys: &[&str]) -> Attach {
    Attach {
        node: keys.contains(&"node"),
        namespace: keys.contains(&"namespace"),
        deployment: keys.contains(&"deployment"),
        job: keys.contains(&"job"),
        cronjob: keys.contains(&"cronjob"),
    }
}

/// A pod, where its lookups look, the attach keys, its targets (`None`: no group).
type Case<'a> = (&'a str, PodInfo, &'a Fake, Attach, Option<Vec<Labels>>);

#[test]
fn pod_role_label_sets() {
    let base = web_pod_labels();
    let job_base = |job: &str| {
        with(
            &base,
            &[("pod_controller_kind", "Job"), ("pod_controller_name", job)],
        )
    };
    let related = related();
    let empty = Fake::default();
    let bare_rs = PodInfo {
        controller: Some(("ReplicaSet".into(), "bare".into())),
        ..web_pod()
    };
    let v6 = PodInfo {
        pod_ip: "fd00::7".into(),
        containers: vec![
            container("only", "x", "", false, vec![port("m", 9100, "TCP")]),
            container("bare", "y", "", false, vec![]),
        ],
        ..web_pod()
    };
    let v6_common = with(&base, &[("pod_ip", "fd00::7")]);
    // Status fields not set yet, no controller: those labels are absent.
    let sparse = PodInfo {
        meta: meta("default", "sparse", &[], &[]),
        controller: None,
        host_ip: String::new(),
        phase: String::new(),
        ready: "unknown".into(),
        containers: vec![container("c", "i", "", false, vec![])],
        ..web_pod()
    };
    let sparse_labels = ls(&[
        ("namespace", "default"),
        ("pod_name", "sparse"),
        ("pod_ip", "10.0.0.1"),
        ("pod_ready", "unknown"),
        ("pod_node_name", "node-1"),
        ("pod_uid", "uid-sparse"),
        ("__address__", "10.0.0.1"),
        ("pod_container_name", "c"),
        ("pod_container_image", "i"),
        ("pod_container_init", "false"),
    ]);
    let cases: Vec<Case> = vec![
        (
            "containers, ports, init containers",
            web_pod(),
            &related,
            attach(&[]),
            Some(web_targets(&base)),
        ),
        (
            "no IP yet: no targets",
            PodInfo {
                pod_ip: String::new(),
                ..web_pod()
            },
            &related,
            attach(&[]),
            None,
        ),
        (
            "IPv6: host:port bracketed, a portless address bare",
            v6,
            &related,
            attach(&[]),
            Some(vec![
                with(
                    &v6_common,
                    &[
                        ("__address__", "[fd00::7]:9100"),
                        ("pod_container_name", "only"),
                        ("pod_container_image", "x"),
                        ("pod_container_init", "false"),
                        ("pod_container_port_name", "m"),
                        ("pod_container_port_number", "9100"),
                        ("pod_container_port_protocol", "TCP"),
                    ],
                ),
                with(
                    &v6_common,
                    &[
                        ("__address__", "fd00::7"),
                        ("pod_container_name", "bare"),
                        ("pod_container_image", "y"),
                        ("pod_container_init", "false"),
                    ],
                ),
            ]),
        ),
        (
            "empty fields absent",
            sparse,
            &related,
            attach(&[]),
            Some(vec![sparse_labels]),
        ),
        (
            "node",
            web_pod(),
            &related,
            attach(&["node"]),
            Some(web_targets(&union(&[&base, &node_1_labels()]))),
        ),
        (
            "node unknown: the pod is left out",
            web_pod(),
            &empty,
            attach(&["node"]),
            None,
        ),
        (
            "namespace",
            web_pod(),
            &related,
            attach(&["namespace"]),
            Some(web_targets(&union(&[&base, &default_namespace_labels()]))),
        ),
        (
            "namespace unknown",
            web_pod(),
            &empty,
            attach(&["namespace"]),
            Some(web_targets(&base)),
        ),
        (
            "deployment",
            web_pod(),
            &related,
            attach(&["deployment"]),
            Some(web_targets(&with(&base, &[("pod_deployment_name", "web")]))),
        ),
        (
            "deployment: replicaset unknown",
            web_pod(),
            &empty,
            attach(&["deployment"]),
            Some(web_targets(&base)),
        ),
        (
            "deployment: replicaset without one",
            bare_rs,
            &related,
            attach(&["deployment"]),
            Some(web_targets(&with(
                &base,
                &[("pod_controller_name", "bare")],
            ))),
        ),
        (
            "deployment off",
            web_pod(),
            &related,
            attach(&["job", "cronjob"]),
            Some(web_targets(&base)),
        ),
        (
            "job",
            job_pod("backup-1"),
            &related,
            attach(&["job"]),
            Some(web_targets(&with(
                &job_base("backup-1"),
                &[("pod_job_name", "backup-1")],
            ))),
        ),
        (
            "job: no watch needed",
            job_pod("backup-1"),
            &empty,
            attach(&["job"]),
            Some(web_targets(&with(
                &job_base("backup-1"),
                &[("pod_job_name", "backup-1")],
            ))),
        ),
        (
            "cronjob",
            job_pod("backup-1"),
            &related,
            attach(&["cronjob"]),
            Some(web_targets(&with(
                &job_base("backup-1"),
                &[("pod_cronjob_name", "backup")],
            ))),
        ),
        (
            "cronjob: job without one",
            job_pod("oneoff"),
            &related,
            attach(&["cronjob"]),
            Some(web_targets(&job_base("oneoff"))),
        ),
        (
            "cronjob: job unknown",
            job_pod("backup-1"),
            &empty,
            attach(&["cronjob"]),
            Some(web_targets(&job_base("backup-1"))),
        ),
        (
            "every key",
            job_pod("backup-1"),
            &related,
            attach(&["node", "namespace", "deployment", "job", "cronjob"]),
            Some(web_targets(&union(&[
                &with(
                    &job_base("backup-1"),
                    &[("pod_job_name", "backup-1"), ("pod_cronjob_name", "backup")],
                ),
                &node_1_labels(),
                &default_namespace_labels(),
            ]))),
        ),
    ];
    for (name, p, lookup, attach, want) in cases {
        let rel = PodRelated::of(&p, lookup, attach);
        let source = format!("pod/default/{}", p.meta.name);
        check(name, pod::build(&p, &rel, attach), &source, want);
    }
}

#[test]
fn related_objects_are_compared_by_allocation() {
    let f = related();
    let all = attach(&["node", "namespace", "deployment"]);
    let p = web_pod();
    let a = PodRelated::of(&p, &f, all);
    assert!(a.same_as(&PodRelated::of(&p, &f, all)));
    let mut changed = related();
    changed.nodes.insert("node-1".into(), Arc::new(node_1()));
    changed.namespaces = f.namespaces.clone();
    changed.replica_sets = f.replica_sets.clone();
    assert!(
        !a.same_as(&PodRelated::of(&p, &changed, all)),
        "a new node object"
    );
    assert!(!a.same_as(&PodRelated::default()));
}
