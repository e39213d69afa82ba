//! Role `pod`: one target per container port, one portless target per container without
//! ports (Prometheus' `discovery/kubernetes/pod.go`).

use std::sync::Arc;

use super::lookup::{Attach, Lookup};
use super::meta::{self, LabelMap, NAMESPACE, join_host_port, put, put_meta};
use super::objects::{Meta, NodeInfo, OwnerInfo, PodInfo};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// The related objects a pod's group is built from, each `None` unless `attach_metadata`
/// asks for it and it is known.
#[derive(Debug, Default)]
pub(crate) struct PodRelated {
    /// The pod's node.
    pub node: Option<Arc<NodeInfo>>,
    /// The pod's namespace.
    pub namespace: Option<Arc<Meta>>,
    /// The pod's ReplicaSet or Job (see [`owner`]).
    pub owner: Option<Arc<OwnerInfo>>,
}

impl PodRelated {
    /// Looks up what `attach` asks for.
    pub(crate) fn of(pod: &PodInfo, lookup: &dyn Lookup, attach: Attach) -> PodRelated {
        PodRelated {
            node: attach.node.then(|| lookup.node(&pod.node_name)).flatten(),
            namespace: (attach.namespace)
                .then(|| lookup.namespace(&pod.meta.namespace))
                .flatten(),
            owner: owner(pod, lookup, attach),
        }
    }

    /// Whether both hold the same objects. The stores replace an object's `Arc` on every
    /// change, so the same allocations mean the same group.
    pub(crate) fn same_as(&self, other: &PodRelated) -> bool {
        same(&self.node, &other.node)
            && same(&self.namespace, &other.namespace)
            && same(&self.owner, &other.owner)
    }
}

fn same<T>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// `pod/<namespace>/<name>`.
pub(crate) fn source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// The object that names the pod's workload: its ReplicaSet (for `deployment`) or its Job
/// (for `cronjob`), when its controller is one and `attach` asks for it.
pub(crate) fn owner(pod: &PodInfo, lookup: &dyn Lookup, attach: Attach) -> Option<Arc<OwnerInfo>> {
    let (kind, name) = pod.controller.as_ref()?;
    match kind.as_str() {
        "ReplicaSet" if attach.deployment => lookup.replica_set(&pod.meta.namespace, name),
        "Job" if attach.cronjob => lookup.job(&pod.meta.namespace, name),
        _ => None,
    }
}

/// Prometheus' `podLabels`: the pod-level labels also attached by endpoints and
/// endpointslice targets that point at a pod (no namespace: the group carries it). `owner`
/// is [`owner`]'s answer.
pub(crate) fn pod_labels(
    ls: &mut LabelMap,
    pod: &PodInfo,
    owner: Option<&OwnerInfo>,
    attach: Attach,
) {
    put_meta(ls, "pod_ip", &pod.pod_ip);
    put_meta(ls, "pod_ready", &pod.ready);
    put_meta(ls, "pod_phase", &pod.phase);
    put_meta(ls, "pod_node_name", &pod.node_name);
    put_meta(ls, "pod_host_ip", &pod.host_ip);
    put_meta(ls, "pod_uid", &pod.meta.uid);
    meta::object_meta_labels(ls, &pod.meta, "pod");
    let Some((kind, name)) = &pod.controller else {
        return;
    };
    put_meta(ls, "pod_controller_kind", kind);
    put_meta(ls, "pod_controller_name", name);
    let owner = owner.and_then(|o| o.owner.as_deref());
    match kind.as_str() {
        "ReplicaSet" => {
            if let Some(d) = owner {
                put_meta(ls, "pod_deployment_name", d);
            }
        }
        "Job" => {
            if attach.job {
                put_meta(ls, "pod_job_name", name);
            }
            if let Some(c) = owner {
                put_meta(ls, "pod_cronjob_name", c);
            }
        }
        _ => {}
    }
}

/// The group of one pod; `None` (Prometheus sends an empty group) while it has no IP, and
/// with `attach_metadata.node` while its node is unknown: the node watch honours node
/// selectors, so such a pod runs on a node they leave out.
pub(crate) fn build(pod: &PodInfo, rel: &PodRelated, attach: Attach) -> Option<TargetGroup> {
    if pod.pod_ip.is_empty() || (attach.node && rel.node.is_none()) {
        return None;
    }
    let mut labels = LabelMap::new();
    pod_labels(&mut labels, pod, rel.owner.as_deref(), attach);
    put(&mut labels, NAMESPACE, &pod.meta.namespace);
    meta::node_labels(&mut labels, rel.node.as_deref());
    meta::namespace_labels(&mut labels, rel.namespace.as_deref());
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
