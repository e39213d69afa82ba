//! Role `pod`: one target per container port, one portless target per container without
//! ports (Prometheus' `discovery/kubernetes/pod.go`).

use super::meta::{self, LabelMap, NAMESPACE, join_host_port, put, put_meta};
use super::objects::{NodeInfo, PodInfo};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// `pod/<namespace>/<name>`.
pub(crate) fn source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// Prometheus' `podLabels`: the pod-level labels also attached by endpoints and
/// endpointslice targets that point at a pod (no namespace: the group carries it).
pub(crate) fn pod_labels(ls: &mut LabelMap, pod: &PodInfo) {
    put_meta(ls, "pod_ip", &pod.pod_ip);
    put_meta(ls, "pod_ready", &pod.ready);
    put_meta(ls, "pod_phase", &pod.phase);
    put_meta(ls, "pod_node_name", &pod.node_name);
    put_meta(ls, "pod_host_ip", &pod.host_ip);
    put_meta(ls, "pod_uid", &pod.meta.uid);
    meta::object_meta_labels(ls, &pod.meta, "pod");
    if let Some((kind, name)) = &pod.controller {
        put_meta(ls, "pod_controller_kind", kind);
        put_meta(ls, "pod_controller_name", name);
    }
}

/// The group of one pod; `None` while it has no IP (Prometheus sends an empty group).
/// `node` is the pod's node when `attach_metadata.node` is on.
pub(crate) fn build(pod: &PodInfo, node: Option<&NodeInfo>) -> Option<TargetGroup> {
    if pod.pod_ip.is_empty() {
        return None;
    }
    let mut labels = LabelMap::new();
    pod_labels(&mut labels, pod);
    put(&mut labels, NAMESPACE, &pod.meta.namespace);
    meta::node_labels(&mut labels, node);
    let mut targets = Vec::new();
    for c in &pod.containers {
        let common = |t: &mut LabelMap| {
            put_meta(t, "pod_container_name", &c.name);
            put_meta(t, "pod_container_id", &c.id);
            put_meta(t, "pod_container_image", &c.image);
            put_meta(
                t,
                "pod_container_init",
                if c.init { "true" } else { "false" },
            );
        };
        if c.ports.is_empty() {
            let mut t = LabelMap::new();
            // The bare pod IP, unbracketed even for IPv6, as Prometheus sets it: relabel
            // rules written for Prometheus add the port (and any brackets) themselves.
            put(&mut t, ADDRESS_LABEL, &pod.pod_ip);
            common(&mut t);
            targets.push(t);
            continue;
        }
        for p in &c.ports {
            let mut t = LabelMap::new();
            put(
                &mut t,
                ADDRESS_LABEL,
                &join_host_port(&pod.pod_ip, p.number),
            );
            common(&mut t);
            put_meta(&mut t, "pod_container_port_number", &p.number.to_string());
            put_meta(&mut t, "pod_container_port_name", &p.name);
            put_meta(&mut t, "pod_container_port_protocol", &p.protocol);
            targets.push(t);
        }
    }
    Some(super::meta::group(
        source(&pod.meta.namespace, &pod.meta.name),
        targets,
        &labels,
    ))
}
