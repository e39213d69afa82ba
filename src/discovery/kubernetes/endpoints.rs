//! Role `endpoints`: one target per address and port of each Endpoints object, plus the
//! container ports of its pods that no endpoint port covers (Prometheus'
//! `discovery/kubernetes/endpoints.go`).

use std::sync::Arc;

use super::lookup::{Attach, Lookup};
use super::meta::{self, LabelMap, NAMESPACE, join_host_port, merge_into, put, put_meta};
use super::objects::{AddressInfo, ContainerInfo, EndpointsInfo, PodInfo, PortInfo};
use super::{pod, service};
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// Pods seen in this object, in order, with the endpoint ports that produced a target.
pub(crate) type SeenPods = Vec<(Arc<PodInfo>, Vec<i32>)>;

/// Records that `port` of `pod` produced a target.
pub(crate) fn see(seen: &mut SeenPods, pod: &Arc<PodInfo>, port: Option<i32>) {
    let i = match seen
        .iter()
        .position(|(p, _)| p.meta.namespace == pod.meta.namespace && p.meta.name == pod.meta.name)
    {
        Some(i) => i,
        None => {
            seen.push((pod.clone(), Vec::new()));
            seen.len() - 1
        }
    };
    if let (Some(port), Some((_, ports))) = (port, seen.get_mut(i)) {
        ports.push(port);
    }
}

/// Prometheus' `podLabels` of a pod an address refers to.
pub(crate) fn referenced_pod_labels(
    pod: &PodInfo,
    lookup: &dyn Lookup,
    attach: Attach,
) -> LabelMap {
    let mut ls = LabelMap::new();
    let owner = pod::owner(pod, lookup, attach);
    pod::pod_labels(&mut ls, pod, owner.as_deref(), attach);
    ls
}

/// Targets for the container ports of seen pods that no endpoint port covered.
pub(crate) fn uncovered_ports(
    seen: &SeenPods,
    lookup: &dyn Lookup,
    attach: Attach,
) -> Vec<LabelMap> {
    let mut out = Vec::new();
    for (pod, ports) in seen {
        if pod.pod_ip.is_empty() {
            continue;
        }
        let pod_labels = referenced_pod_labels(pod, lookup, attach);
        // Init containers too, as Prometheus (containers then init containers).
        for c in &pod.containers {
            for cp in &c.ports {
                if ports.contains(&cp.number) {
                    continue;
                }
                let mut t = LabelMap::new();
                put(
                    &mut t,
                    ADDRESS_LABEL,
                    &join_host_port(&pod.pod_ip, cp.number),
                );
                container_port_labels(&mut t, c, cp, &cp.protocol);
                merge_into(&mut t, pod_labels.clone());
                out.push(t);
            }
        }
    }
    out
}

/// The `pod_container_*` labels of a target on a container port (no `pod_container_id`:
/// Prometheus sets it only in the pod role).
pub(crate) fn container_port_labels(
    t: &mut LabelMap,
    c: &ContainerInfo,
    port: &PortInfo,
    protocol: &str,
) {
    put_meta(t, "pod_container_name", &c.name);
    put_meta(t, "pod_container_image", &c.image);
    put_meta(t, "pod_container_port_name", &port.name);
    put_meta(t, "pod_container_port_number", &port.number.to_string());
    put_meta(t, "pod_container_port_protocol", protocol);
    put_meta(
        t,
        "pod_container_init",
        if c.init { "true" } else { "false" },
    );
}

/// The container port an endpoint port lands on. Prometheus overwrites the labels for the
/// first matching port of each container in turn, init containers last, so the last
/// container with a match is the one that shows.
pub(crate) fn matching_container_port(
    pod: &PodInfo,
    number: i32,
) -> Option<(&ContainerInfo, &PortInfo)> {
    pod.containers
        .iter()
        .rev()
        .find_map(|c| c.ports.iter().find(|p| p.number == number).map(|p| (c, p)))
}

/// Merges the `node_*` labels of node `name` (when known) into a target, for
/// `attach_metadata: {node: true}`.
pub(crate) fn attach_node_labels(t: &mut LabelMap, lookup: &dyn Lookup, name: Option<&str>) {
    if let Some(n) = name.and_then(|n| lookup.node(n)) {
        let mut nl = LabelMap::new();
        meta::node_labels(&mut nl, Some(&n));
        merge_into(t, nl);
    }
}

/// The pod an address refers to, when it is a known pod.
pub(crate) fn resolve_pod(
    lookup: &dyn Lookup,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<Arc<PodInfo>> {
    if kind != "Pod" {
        return None;
    }
    lookup.pod(namespace, name)
}

/// The group of one Endpoints object.
pub(crate) fn build(eps: &EndpointsInfo, lookup: &dyn Lookup, attach: Attach) -> TargetGroup {
    let mut labels = LabelMap::new();
    put(&mut labels, NAMESPACE, &eps.meta.namespace);
    if let Some(svc) = lookup.service(&eps.meta.namespace, &eps.meta.name) {
        let mut s = LabelMap::new();
        service::service_labels(&mut s, &svc);
        merge_into(&mut labels, s);
    }
    meta::object_meta_labels(&mut labels, &eps.meta, "endpoints");
    if attach.namespace {
        meta::namespace_labels(
            &mut labels,
            lookup.namespace(&eps.meta.namespace).as_deref(),
        );
    }
    let mut targets = Vec::new();
    let mut seen = SeenPods::new();
    let mut add = |addr: &AddressInfo, port: &PortInfo, ready: &str| {
        let mut t = LabelMap::new();
        put(
            &mut t,
            ADDRESS_LABEL,
            &join_host_port(&addr.ip, port.number),
        );
        put_meta(&mut t, "endpoint_port_name", &port.name);
        put_meta(&mut t, "endpoint_port_protocol", &port.protocol);
        put_meta(&mut t, "endpoint_ready", ready);
        if let Some(r) = &addr.target_ref {
            put_meta(&mut t, "endpoint_address_target_kind", &r.kind);
            put_meta(&mut t, "endpoint_address_target_name", &r.name);
        }
        if let Some(n) = &addr.node_name {
            put_meta(&mut t, "endpoint_node_name", n);
        }
        put_meta(&mut t, "endpoint_hostname", &addr.hostname);
        if attach.node {
            let node_name = match (&addr.node_name, &addr.target_ref) {
                (Some(n), _) => Some(n.as_str()),
                (None, Some(r)) if r.kind == "Node" => Some(r.name.as_str()),
                _ => None,
            };
            attach_node_labels(&mut t, lookup, node_name);
        }
        let pod = addr
            .target_ref
            .as_ref()
            .and_then(|r| resolve_pod(lookup, &r.kind, &r.namespace, &r.name));
        let Some(pod) = pod else {
            targets.push(t);
            return;
        };
        see(&mut seen, &pod, Some(port.number));
        merge_into(&mut t, referenced_pod_labels(&pod, lookup, attach));
        if let Some((c, cp)) = matching_container_port(&pod, port.number) {
            // Prometheus takes the protocol of the endpoint port here.
            container_port_labels(&mut t, c, cp, &port.protocol);
        }
        targets.push(t);
    };
    for ss in &eps.subsets {
        for port in &ss.ports {
            for addr in &ss.addresses {
                add(addr, port, "true");
            }
            for addr in &ss.not_ready {
                add(addr, port, "false");
            }
        }
    }
    targets.extend(uncovered_ports(&seen, lookup, attach));
    super::meta::group(
        format!("endpoints/{}/{}", eps.meta.namespace, eps.meta.name),
        targets,
        &labels,
    )
}
