//! Role `endpointslice`: one target per address and port of each EndpointSlice, plus the
//! container ports of its pods that no slice port covers (Prometheus'
//! `discovery/kubernetes/endpointslice.go`, discovery.k8s.io/v1).

use super::endpoints::{
    SeenPods, attach_node_labels, container_port_labels, matching_container_port,
    referenced_pod_labels, resolve_pod, see, uncovered_ports,
};
use super::lookup::{Attach, Lookup};
use super::meta::{self, LabelMap, NAMESPACE, join_host_port, merge_into, put, put_meta, sanitize};
use super::objects::{SliceEndpoint, SliceInfo, SlicePort};
use super::service;
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// The label naming an EndpointSlice's service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// The group of one EndpointSlice.
pub(crate) fn build(slice: &SliceInfo, lookup: &dyn Lookup, attach: Attach) -> TargetGroup {
    let ns = &slice.meta.namespace;
    let mut labels = LabelMap::new();
    put(&mut labels, NAMESPACE, ns);
    put_meta(
        &mut labels,
        "endpointslice_address_type",
        &slice.address_type,
    );
    meta::object_meta_labels(&mut labels, &slice.meta, "endpointslice");
    let svc = slice
        .meta
        .label(SERVICE_NAME_LABEL)
        .and_then(|name| lookup.service(ns, name));
    if let Some(svc) = &svc {
        let mut s = LabelMap::new();
        service::service_labels(&mut s, svc);
        merge_into(&mut labels, s);
    }
    if attach.namespace {
        meta::namespace_labels(&mut labels, lookup.namespace(ns).as_deref());
    }
    let source = format!("endpointslice/{ns}/{}", slice.meta.name);
    // Prometheus' nonPrimaryIPFamilySlice (3.11+): a dual-stack service's slice of its
    // secondary family would repeat the primary's targets, so its group stays empty.
    if svc
        .as_ref()
        .and_then(|s| s.dual_stack_primary.as_deref())
        .is_some_and(|primary| primary != slice.address_type)
    {
        return super::meta::group(source, Vec::new(), &labels);
    }
    let mut targets = Vec::new();
    let mut seen = SeenPods::new();
    let mut add = |addr: &str, ep: &SliceEndpoint, port: &SlicePort| {
        let mut t = LabelMap::new();
        let a = match port.port {
            Some(p) => join_host_port(addr, p),
            None => addr.to_string(),
        };
        put(&mut t, ADDRESS_LABEL, &a);
        if let Some(n) = &port.name {
            put_meta(&mut t, "endpointslice_port_name", n);
        }
        if let Some(p) = &port.protocol {
            put_meta(&mut t, "endpointslice_port_protocol", p);
        }
        if let Some(p) = port.port {
            put_meta(&mut t, "endpointslice_port", &p.to_string());
        }
        if let Some(p) = &port.app_protocol {
            put_meta(&mut t, "endpointslice_port_app_protocol", p);
        }
        for (name, v) in [
            ("endpointslice_endpoint_conditions_ready", ep.ready),
            ("endpointslice_endpoint_conditions_serving", ep.serving),
            (
                "endpointslice_endpoint_conditions_terminating",
                ep.terminating,
            ),
        ] {
            if let Some(v) = v {
                put_meta(&mut t, name, bool_str(v));
            }
        }
        if let Some(h) = &ep.hostname {
            put_meta(&mut t, "endpointslice_endpoint_hostname", h);
        }
        if let Some(r) = &ep.target_ref {
            put_meta(&mut t, "endpointslice_address_target_kind", &r.kind);
            put_meta(&mut t, "endpointslice_address_target_name", &r.name);
        }
        if let Some(n) = &ep.node_name {
            put_meta(&mut t, "endpointslice_endpoint_node_name", n);
        }
        if let Some(z) = &ep.zone {
            put_meta(&mut t, "endpointslice_endpoint_zone", z);
        }
        for (k, v) in &ep.topology {
            let ln = sanitize(k);
            put_meta(&mut t, &format!("endpointslice_endpoint_topology_{ln}"), v);
            put_meta(
                &mut t,
                &format!("endpointslice_endpoint_topology_present_{ln}"),
                "true",
            );
        }
        if attach.node {
            let node_name = match &ep.target_ref {
                Some(r) if r.kind == "Node" => Some(r.name.as_str()),
                _ => ep.node_name.as_deref(),
            };
            attach_node_labels(&mut t, lookup, node_name);
        }
        let pod = ep
            .target_ref
            .as_ref()
            .and_then(|r| resolve_pod(lookup, &r.kind, &r.namespace, &r.name));
        let Some(pod) = pod else {
            targets.push(t);
            return;
        };
        see(&mut seen, &pod, port.port);
        merge_into(&mut t, referenced_pod_labels(&pod, lookup, attach));
        if let Some((c, cp)) = port
            .port
            .and_then(|number| matching_container_port(&pod, number))
        {
            // Here Prometheus takes the container port's protocol.
            container_port_labels(&mut t, c, cp, &cp.protocol);
        }
        targets.push(t);
    };
    for ep in &slice.endpoints {
        for port in &slice.ports {
            for addr in &ep.addresses {
                add(addr, ep, port);
            }
        }
    }
    targets.extend(uncovered_ports(&seen, lookup, attach));
    super::meta::group(source, targets, &labels)
}
