//! Role `node`: one target per node on its kubelet port (Prometheus'
//! `discovery/kubernetes/node.go`).

use super::meta::{self, LabelMap, join_host_port, put, put_meta, sanitize};
use super::objects::NodeInfo;
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// Address types in Prometheus' order of preference.
const PREFERRED: [&str; 6] = [
    "InternalIP",
    "InternalDNS",
    "ExternalIP",
    "ExternalDNS",
    "LegacyHostIP",
    "Hostname",
];

/// The group of one node; `None` when it has no address (Prometheus then sends nothing for
/// it and keeps what it had).
pub(crate) fn build(node: &NodeInfo) -> Option<TargetGroup> {
    let host = PREFERRED.iter().find_map(|want| {
        node.addresses
            .iter()
            .find(|(ty, _)| ty == want)
            .map(|(_, a)| a.as_str())
    })?;
    let mut labels = LabelMap::new();
    put_meta(&mut labels, "node_provider_id", &node.provider_id);
    // Since Prometheus 3.12: one label per condition, e.g. `node_condition_ready="true"`.
    for (ty, status) in &node.conditions {
        put_meta(
            &mut labels,
            &format!("node_condition_{}", sanitize(ty)),
            status,
        );
    }
    meta::object_meta_labels(&mut labels, &node.meta, "node");
    let mut t = LabelMap::new();
    put(
        &mut t,
        ADDRESS_LABEL,
        &join_host_port(host, node.kubelet_port),
    );
    put(&mut t, "instance", &node.meta.name);
    // The first address of each type.
    for (ty, addr) in node.addresses.iter().rev() {
        put(
            &mut t,
            sanitize(&format!("{}node_address_{ty}", meta::PREFIX)),
            addr,
        );
    }
    Some(super::meta::group(
        format!("node/{}", node.meta.name),
        vec![t],
        &labels,
    ))
}
